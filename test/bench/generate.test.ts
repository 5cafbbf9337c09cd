/**
 * The benchmark's capture generator makes valid traffic: tshark reads a small capture of each shape
 * without a TCP analysis flag (no bad seq/ack), without a checksum error and without a malformed or
 * warning-level DICOM item, and decodes the associations and C-STOREs the manifest counts.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureCapture, DEFAULTS, type Manifest } from "../../scripts/bench/generate.js";
import { UID } from "../../scripts/bench/dicom.js";
import { requires } from "../helpers/requires.js";

const test = requires("tshark");

function tshark(m: Manifest, filter: string, fields: string[]): string[] {
  const args = ["-r", m.file, "-n", "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"];
  args.push("-o", "dicom.tag_tree:TRUE");
  for (const p of m.serverPorts) args.push("-d", `tcp.port==${p.toString()},dicom`);
  args.push("-Y", filter, "-T", "fields");
  for (const f of fields) args.push("-e", f);
  const out = execFileSync("tshark", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return out.split("\n").filter((l) => l !== "");
}

const dir = mkdtempSync(join(tmpdir(), "dicomtap-bench-test-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

// JPEG fragments are left out of the expert-info check: tshark 4.0 parses the bytes of an encapsulated
// pixel-data fragment as if they were data elements (PS3.5 §A.4 says they are opaque), so it flags
// random fragment bytes and the next PDV on that context. That is tshark's error, not the generator's.
const BAD =
  "tcp.analysis.flags || tcp.checksum.status == 0 || ip.checksum.status == 0 || " +
  "((_ws.malformed || _ws.expert.severity >= warning) && !(dicom.pdv.ctx == 3 || dicom.pdv.ctx == 5))";

for (const shape of ["a", "b"] as const) {
  test(`shape ${shape}: tshark decodes every association and C-STORE without errors`, (t) => {
    const m = ensureCapture({ ...DEFAULTS, shape, sizeBytes: 3 << 20, count: 12, dir, seed: 7 });
    t.true(m.packets > 100);
    t.is(readFileSync(m.file).length, m.fileBytes);
    t.deepEqual(tshark(m, BAD, ["frame.number"]), []);

    const rq = tshark(m, "dicom.pdu.type == 1", ["dicom.assoc.ae.calling", "dicom.assoc.ae.called"]);
    t.is(rq.length, m.associations);
    t.is(tshark(m, "dicom.pdu.type == 2", ["frame.number"]).length, m.associations);
    t.is(tshark(m, "dicom.pdu.type == 6", ["frame.number"]).length, m.associations);

    // Command field (0000,0100), the first US value of a command set: C-STORE-RQ 0x0001, C-STORE-RSP
    // 0x8001 (PS3.7 §E.1). tshark shows element values only with dicom.tag_tree on.
    const commands = tshark(m, "dicom.pdv.flags == 0x03", ["dicom.tag.value.16u"]).map(
      (l) => l.split(",")[0],
    );
    t.is(commands.filter((c) => c === "1").length, m.cStores);
    // Responses on the JPEG contexts are lost to the tshark error described above.
    t.true(commands.filter((c) => c === "32769").length > 0);

    // Several transfer syntaxes are in use, as the benchmark promises.
    t.true(Object.keys(m.transferSyntaxes).length >= (shape === "a" ? 3 : 2));
    t.true(Object.keys(m.transferSyntaxes).every((ts) => (Object.values(UID) as string[]).includes(ts)));
  });
}

test("generation is deterministic for a seed and cached", (t) => {
  const opts = { ...DEFAULTS, shape: "b" as const, count: 5, seed: 9 };
  const a = ensureCapture({ ...opts, dir: join(dir, "x") });
  const b = ensureCapture({ ...opts, dir: join(dir, "y") });
  t.deepEqual(readFileSync(a.file), readFileSync(b.file));
  const again = ensureCapture({ ...opts, dir: join(dir, "x") });
  t.is(again.generatedSeconds, a.generatedSeconds);
});
