/**
 * Capture f of the publish benchmark: tshark reads it without TCP, checksum or DICOM errors and sees one
 * association and one C-ECHO per client host, and `dicomtap analyze` reports the devices and findings
 * the manifest's plan promises (every client a new, vulnerable, cleartext device; external ones an
 * external peer), at the pace the generator was asked for.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { defaultConfig } from "../../agent/config/config.js";
import { DEFAULTS, ensureCapture, type Manifest } from "../../scripts/bench/generate.js";
import { percentiles } from "../../scripts/bench/publish.js";
import { requires } from "../helpers/requires.js";

const test = requires("tshark");

const dir = mkdtempSync(join(tmpdir(), "dicomtap-bench-f-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function tshark(m: Manifest, filter: string, fields: string[]): string[] {
  const args = ["-r", m.file, "-n", "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"];
  args.push("-o", "dicom.tag_tree:TRUE", "-d", "tcp.port==104,dicom", "-Y", filter, "-T", "fields");
  for (const f of fields) args.push("-e", f);
  const out = execFileSync("tshark", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return out.split("\n").filter((l) => l !== "");
}

const HOSTS = 23;
const RATE = 50;

test("shape f: tshark decodes one clean association per host, analyze reports the planned findings", async (t) => {
  const m = ensureCapture({ ...DEFAULTS, shape: "f", hosts: HOSTS, rate: RATE, dir, seed: 3 });
  const plan = m.findingsPlan!;
  t.is(readFileSync(m.file).length, m.fileBytes);
  t.is(plan.hosts, HOSTS);
  // Every fourth client is external: hosts 4, 8, ..., 20.
  t.is(plan.externalHosts, 5);
  t.is(m.associations, HOSTS);
  // Associations start 1/RATE s apart; the last one lasts under a second.
  t.true(plan.captureSeconds >= (HOSTS - 1) / RATE && plan.captureSeconds < (HOSTS - 1) / RATE + 1);

  const bad =
    "tcp.analysis.flags || tcp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed || _ws.expert.severity >= warning";
  t.deepEqual(tshark(m, bad, ["frame.number"]), []);
  // One pass over the DICOM frames; each PDU of capture f travels in a frame of its own.
  const frames = tshark(m, "dicom", [
    "ip.src",
    "dicom.pdu.type",
    "dicom.userinfo.version",
    "dicom.tag.value.16u",
  ]).map((l) => l.split("\t"));
  const ofType = (type: number): string[][] => frames.filter((f) => Number(f[1]) === type);
  const rq = ofType(1);
  t.is(rq.length, HOSTS);
  t.is(new Set(rq.map((f) => f[0])).size, HOSTS, "one association per distinct client");
  t.true(rq.every((f) => f[2] === "OFFIS_DCMTK_365"));
  t.is(ofType(2).length, HOSTS);
  t.is(ofType(6).length, HOSTS);
  // Command field (0000,0100), the first US of the command set: C-ECHO-RQ 0x0030 = 48, C-ECHO-RSP
  // 0x8030 = 32816 (PS3.7 §E.1).
  const commands = ofType(4).map((f) => (f[3] ?? "").split(",")[0]);
  t.is(commands.filter((c) => c === "48").length, HOSTS);
  t.is(commands.filter((c) => c === "32816").length, HOSTS);

  const { report } = await analyzeFiles([m.file], { config: defaultConfig() });
  t.is(report.stats.associations, HOSTS);
  t.is(report.stats.anomalies, 0);
  t.is(report.devices.length, plan.devices);
  t.is(report.findings.length, plan.findings);
  const byRule = new Map<string, number>();
  for (const f of report.findings) byRule.set(f.rule, (byRule.get(f.rule) ?? 0) + 1);
  t.deepEqual(Object.fromEntries([...byRule].sort()), {
    "dicom.cleartext": HOSTS,
    "dicom.default-port": 1,
    "dicom.external-peer": plan.externalHosts,
    "dicom.vulnerable-implementation": HOSTS,
    "inventory.new-device": HOSTS + 1,
  });
  // The latency of the benchmark is measured from firstSeen, the capture time of the triggering packet.
  const start = plan.firstPacketMicros / 1000;
  for (const f of report.findings) {
    const at = Date.parse(f.firstSeen) - start;
    t.true(at >= 0 && at <= plan.captureSeconds * 1000, `${f.rule} firstSeen ${f.firstSeen}`);
  }
});

test("percentiles are nearest-rank", (t) => {
  t.is(percentiles([]), null);
  const xs = Array.from({ length: 200 }, (_, i) => 200 - i);
  t.deepEqual(percentiles(xs), { n: 200, p50: 100, p90: 180, p99: 198, max: 200, min: 1 });
  t.like(percentiles([7]), { p50: 7, p99: 7 });
});
