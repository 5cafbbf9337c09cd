/**
 * The baseline in the agent's store (issue 13): migration, saved and published by `dicomtap run --replay`,
 * restored at the next start with its window (so a window still open keeps learning, and traffic after it
 * departs), and the `dicomtap baseline export|import|approve` round trip on that store.
 */
import test from "ava";
import Ajv2020 from "ajv/dist/2020.js";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAgent } from "../../agent/agent/run.js";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import { validateConfig } from "../../agent/config/config.js";
import { SCHEMA_VERSION, Store } from "../../agent/store/store.js";
import { runCli } from "../helpers/cli.js";
import { shiftPcap } from "../helpers/shift-pcap.js";

const lab = (name: string): string => join("test", "fixtures", "lab", name);
const DAY = 86_400;
const ajv = new Ajv2020.default({ strict: true, allowUnionTypes: true, allErrors: true });
const checkSchema = ajv.compile(JSON.parse(readFileSync("schemas/baseline.schema.json", "utf8")) as object);

interface Line {
  topic: string;
  qos: number;
  retain: boolean;
  payload: Record<string, unknown>;
}

async function replay(
  config: ReturnType<typeof validateConfig>,
  file: string,
): Promise<{ lines: Line[]; logs: string[] }> {
  const out: string[] = [];
  const logs: string[] = [];
  await runAgent({
    config,
    replay: file,
    out: { write: (l: string) => out.push(l) },
    log: (m) => logs.push(m),
  });
  return { lines: out.map((l) => JSON.parse(l) as Line), logs };
}

test("store: migration adds the baseline table; saved, unchanged, conflict; one retained message", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-baseline-store-"));
  const store = new Store({ path: join(dir, "s.db"), maxBytes: 16 << 20, site: "lab", sensor: "s1" });
  t.is(store.schemaVersion(), SCHEMA_VERSION);
  t.is(store.baseline(), null);
  const base: BaselineDocument = {
    version: 1,
    site: "lab",
    sensor: "s1",
    status: "learning",
    window: { start: "2026-11-25T17:53:27.307912Z", end: null, days: 14 },
    approved: null,
    internal: ["10.0.0.0/8"],
    services: [],
    devices: [],
    truncated: { services: 0, peers: 0, devices: 0 },
  };
  const a = store.putBaseline(base, { ifRevision: null });
  t.is(a.outcome, "saved");
  t.true(a.published);
  t.is(store.putBaseline(base, { ifRevision: a.revision }).outcome, "unchanged");
  t.is(store.putBaseline({ ...base, status: "learned" }, { ifRevision: null }).outcome, "conflict");
  const b = store.putBaseline({ ...base, status: "learned" }, { ifRevision: a.revision });
  t.is(b.outcome, "saved");
  t.is(b.revision, a.revision + 1);
  const rows = store.peek(100).filter((r) => r.topic === "dicomtap/v1/lab/s1/baseline");
  t.is(rows.length, 1, "the newer retained message superseded the older");
  t.true(rows[0]!.retain);
  t.is(rows[0]!.qos, 1);
  const msg = JSON.parse(rows[0]!.payload) as { revision: number; baseline: BaselineDocument };
  t.true(checkSchema(msg), ajv.errorsText(checkSchema.errors));
  t.is(msg.revision, b.revision);
  t.is(msg.baseline.status, "learned");
  store.close();
});

test.serial(
  "run --replay saves and publishes the baseline; the next start keeps its window and judges later traffic",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "dicomtap-baseline-agent-"));
    const path = join(dir, "agent.db");
    const config = validateConfig({ sensor: { id: "s1", site: "lab" }, store: { path } });

    const first = await replay(config, lab("echo.pcap"));
    const published = first.lines.filter((l) => l.topic === "dicomtap/v1/lab/s1/baseline");
    t.is(published.length, 1);
    t.true(published[0]!.retain);
    t.is(published[0]!.qos, 1);
    t.true(checkSchema(published[0]!.payload), ajv.errorsText(checkSchema.errors));
    const stored1 = new Store({ path, maxBytes: 16 << 20, site: "lab", sensor: "s1" });
    const doc1 = stored1.baseline()!.document;
    stored1.close();
    t.is(doc1.status, "learning");
    t.truthy(doc1.window.start);

    // A day later, still in the window: learned, and the window keeps its start.
    const second = await replay(config, shiftPcap(lab("store.pcap"), DAY));
    t.true(
      second.logs.some((l) => l.startsWith("baseline learning restored")),
      second.logs.join("\n"),
    );
    t.false(
      second.lines.some((l) =>
        String((l.payload.finding as { rule?: string } | undefined)?.rule).startsWith("baseline."),
      ),
    );
    const s2 = new Store({ path, maxBytes: 16 << 20, site: "lab", sensor: "s1" });
    const doc2 = s2.baseline()!.document;
    s2.close();
    t.is(doc2.window.start, doc1.window.start);
    t.true(doc2.services.some((s) => s.aeTitle === "STORE_BE"));

    // Past the window: departures, and the stored baseline is learned (frozen) with the same start.
    const third = await replay(config, shiftPcap(lab("qr.pcap"), 15 * DAY));
    const rules = new Set(
      third.lines
        .map((l) => (l.payload.finding as { rule?: string } | undefined)?.rule)
        .filter((r): r is string => r !== undefined && r.startsWith("baseline.")),
    );
    t.deepEqual([...rules].sort(), ["baseline.new-operation", "baseline.new-peer", "baseline.new-service"]);
    const s3 = new Store({ path, maxBytes: 16 << 20, site: "lab", sensor: "s1" });
    const doc3 = s3.baseline()!.document;
    s3.close();
    t.is(doc3.status, "learned");
    t.is(doc3.window.start, doc1.window.start);
    t.false(
      doc3.services.some((s) => s.peers.some((p) => p.aeTitle === "VIEWER1")),
      "departures are not learned",
    );

    // The CLI round trip on that store: export, a bad import refused (store unchanged), edit, import, approve.
    const exported = join(dir, "baseline.json");
    const ex = runCli(["baseline", "export", "--store", path, "--out", exported]);
    t.is(ex.status, 0, ex.stderr);
    t.deepEqual(JSON.parse(readFileSync(exported, "utf8")), doc3);
    const stdout = runCli(["baseline", "export", "--store", path]);
    t.deepEqual(JSON.parse(stdout.stdout), doc3);

    const bad = structuredClone(doc3) as BaselineDocument & { extra?: number };
    bad.services[0]!.port = 0;
    bad.extra = 1;
    writeFileSync(join(dir, "bad.json"), JSON.stringify(bad));
    const refused = runCli(["baseline", "import", join(dir, "bad.json"), "--store", path]);
    t.is(refused.status, 1);
    t.regex(refused.stderr, /refused, the store is not changed/);
    t.regex(refused.stderr, /services\[0\]\.port: must be >= 1/);
    t.regex(refused.stderr, /extra: unknown key/);
    t.deepEqual(JSON.parse(runCli(["baseline", "export", "--store", path]).stdout), doc3, "unchanged");

    // The reviewer removes the modality's C-ECHO peer on ORTHANC and imports the edit.
    const edited = structuredClone(doc3);
    edited.services = edited.services.filter((s) => s.aeTitle !== "ORTHANC");
    writeFileSync(join(dir, "edited.json"), JSON.stringify(edited));
    const imp = runCli(["baseline", "import", join(dir, "edited.json"), "--store", path]);
    t.is(imp.status, 0, imp.stderr);
    t.regex(imp.stdout, /next start/);
    const appr = runCli([
      "baseline",
      "approve",
      "--store",
      path,
      "--by",
      "alice",
      "--note",
      "reviewed with PACS admin",
    ]);
    t.is(appr.status, 0, appr.stderr);
    t.regex(appr.stdout, /next start/);
    const approved = JSON.parse(runCli(["baseline", "export", "--store", path]).stdout) as BaselineDocument;
    t.is(approved.status, "approved");
    t.is(approved.approved!.by, "alice");
    t.is(approved.approved!.note, "reviewed with PACS admin");
    t.false(approved.services.some((s) => s.aeTitle === "ORTHANC"));

    // The next start takes up the approved baseline and its policy: the archive's titles are known now,
    // so ORTHANC (removed in review) is a title the archive is not known by.
    const fourth = await replay(config, shiftPcap(lab("echo.pcap"), 30 * DAY));
    t.true(
      fourth.logs.some((l) => l.includes("baseline approved restored") && l.includes("policy is in force")),
    );
    const rules4 = fourth.lines
      .map((l) => l.payload.finding as { rule: string; title: string } | undefined)
      .filter((f) => f !== undefined)
      .map((f) => f.rule);
    t.true(rules4.includes("dicom.any-ae-accepted"), rules4.join(" "));
    t.true(rules4.includes("baseline.new-peer"), "ORTHANC is a service the approved baseline does not have");
    const s4 = new Store({ path, maxBytes: 16 << 20, site: "lab", sensor: "s1" });
    t.is(s4.baseline()!.document.status, "approved", "the agent does not undo an approval");
    s4.close();
  },
);

test("analyze --baseline judges captures against an exported baseline; a bad one is refused", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-baseline-analyze-"));
  const path = join(dir, "agent.db");
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ sensor: { id: "s1", site: "lab" }, store: { path } }),
  );
  // Learn from echo.pcap through the agent, export, judge qr.pcap with it (no shift needed: it is learned).
  const run = runCli(["run", "--config", join(dir, "config.json"), "--replay", lab("echo.pcap")]);
  t.is(run.status, 0, run.stderr);
  const doc = JSON.parse(runCli(["baseline", "export", "--store", path]).stdout) as BaselineDocument;
  const learned: BaselineDocument = {
    ...doc,
    status: "learned",
    window: { ...doc.window, end: doc.window.start },
  };
  writeFileSync(join(dir, "b.json"), JSON.stringify(learned));
  const r = runCli(["analyze", "--json", "-", "--baseline", join(dir, "b.json"), lab("qr.pcap")]);
  t.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { findings: { rule: string }[] };
  t.true(report.findings.some((f) => f.rule === "baseline.new-peer"));
  t.true(report.findings.some((f) => f.rule === "baseline.new-operation"));
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ ...learned, status: "approved" }));
  const bad = runCli(["analyze", "--baseline", join(dir, "bad.json"), lab("qr.pcap")]);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /dicomtap: baseline: approved: is required when status is "approved"/);
});
