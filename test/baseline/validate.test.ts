/** A baseline document that is not valid is refused whole, with every reason naming its key path. */
import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import { BaselineError, loadBaseline, validateBaseline } from "../../agent/baseline/validate.js";
import { validateConfig } from "../../agent/config/config.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";

async function doc(): Promise<BaselineDocument> {
  const r = await analyzeFiles([join("test", "fixtures", "lab", "qr.pcap")], {
    config: validateConfig({ sensor: { id: "lab", site: "test" } }),
  });
  return r.baseline!;
}

function reasons(raw: unknown): readonly string[] {
  try {
    validateBaseline(raw);
  } catch (e) {
    if (e instanceof BaselineError) return e.problems;
    throw e;
  }
  return [];
}

test("a learned document is valid, and so is its JSON round trip", async (t) => {
  const d = await doc();
  t.deepEqual(reasons(d), []);
  t.deepEqual(reasons(JSON.parse(JSON.stringify(d))), []);
});

test("shape: unknown keys, missing keys, wrong types and values, by key path", async (t) => {
  const d = structuredClone(await doc()) as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  d.extra = 1;
  delete d.truncated;
  d.status = "done";
  d.services[0].port = 70000;
  d.services[0].peers[0].operations[0].operation = "C-DELETE";
  d.devices[0].listening = "104";
  t.deepEqual([...reasons(d)].sort(), [
    "devices[0].listening: must be array",
    "extra: unknown key",
    'services[0].peers[0].operations[0].operation: must be one of "C-ECHO", "C-STORE", "C-FIND", "C-MOVE", "C-GET", "worklist", "storage-commitment", "mpps", "other"',
    "services[0].port: must be <= 65535",
    'status: must be one of "learning", "learned", "approved"',
    "truncated: is required",
  ]);
});

test("meaning: addresses, AE titles, duplicates, approval and times", async (t) => {
  const d = structuredClone(await doc());
  d.services[0]!.ip = "10.77.0.300";
  d.services[1]!.peers[0]!.aeTitle = "BAD\\AE";
  d.services[1]!.peers[1]!.lastSeen = "2000-01-01T00:00:00Z";
  d.services.push(structuredClone(d.services[1]!));
  d.status = "approved";
  d.devices[0]!.uses = ["10.77.0.20"];
  t.deepEqual(reasons(d), [
    'approved: is required when status is "approved" ({ "by", "at", "note" })',
    'services[0].ip: "10.77.0.300" is not an IP address',
    'services[1].peers[0].aeTitle: "BAD\\\\AE" is not an AE title (trimmed, 1 to 16 characters, no backslash or controls)',
    `services[1].peers[1].lastSeen: before firstSeen (${d.services[1]!.peers[1]!.firstSeen})`,
    `services[2]: the service ${d.services[2]!.ip}:${d.services[2]!.port} "${d.services[2]!.aeTitle}" is listed twice`,
    `services[2].peers[0].aeTitle: "BAD\\\\AE" is not an AE title (trimmed, 1 to 16 characters, no backslash or controls)`,
    `services[2].peers[1].lastSeen: before firstSeen (${d.services[2]!.peers[1]!.firstSeen})`,
    'devices[0].uses[0]: "10.77.0.20" is not IP:PORT ([IPv6]:PORT)',
  ]);
});

test("a file that is not JSON, or not there, is refused with the reason", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-baseline-"));
  writeFileSync(join(dir, "bad.json"), "{ not json");
  const e = t.throws(() => loadBaseline(join(dir, "bad.json")), { instanceOf: BaselineError });
  t.regex(e.problems[0]!, /bad\.json: not valid JSON/);
  const m = t.throws(() => loadBaseline(join(dir, "missing.json")), { instanceOf: BaselineError });
  t.regex(m.problems[0]!, /missing\.json: cannot read \(ENOENT\)/);
});
