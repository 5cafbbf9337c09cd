/**
 * Rules that depend on policy, each positive and negative on the same real lab captures
 * (test/fixtures/lab, made by scripts/lab/run): the default policy is the negative case, a stricter
 * config the positive one.
 */
import test from "ava";
import { join } from "node:path";
import { validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { FindingRecord } from "../../agent/report/types.js";

const lab = (name: string): string => join("test", "fixtures", "lab", name);
const sensor = { id: "lab", site: "test" };

async function findings(file: string, config?: Config): Promise<FindingRecord[]> {
  const r = await analyzeFiles([lab(file)], config ? { config } : {});
  t0(r.files[0]!.error);
  return r.report.findings;
}
function t0(error: string | null): void {
  if (error) throw new Error(error);
}
const rule = (fs: FindingRecord[], id: string): FindingRecord[] => fs.filter((f) => f.rule === id);

test("dicom.external-peer: none with the default internal networks; high when the PACS's peer is outside", async (t) => {
  t.deepEqual(rule(await findings("store.pcap"), "dicom.external-peer"), []);
  const fs = await findings(
    "store.pcap",
    validateConfig({ sensor, networks: { internal: ["10.77.0.20/32"] } }),
  );
  const f = rule(fs, "dicom.external-peer");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "high");
  t.is(f[0]!.key, "inbound");
  t.is(rule(fs, "dicom.cleartext")[0]?.severity, "high", "cleartext across the boundary is high");
});

test("dicom.external-peer: allowedPeers flags an internal peer outside the allowlist", async (t) => {
  const ok = validateConfig({ sensor, policy: { allowedPeers: ["10.77.0.0/24"] } });
  t.deepEqual(rule(await findings("echo.pcap", ok), "dicom.external-peer"), []);
  const strict = validateConfig({ sensor, policy: { allowedPeers: ["10.77.0.20/32"] } });
  const f = rule(await findings("echo.pcap", strict), "dicom.external-peer");
  t.deepEqual(
    f.map((x) => `${x.key}:${x.severity}`),
    ["not-allowed:medium"],
  );
});

test("dicom.any-ae-accepted: an AE policy for the PACS flags the titles it does not list", async (t) => {
  t.deepEqual(rule(await findings("echo.pcap"), "dicom.any-ae-accepted"), []);
  const all = validateConfig({
    sensor,
    policy: {
      knownAeTitles: {
        "10.77.0.20": ["ARCHIVE", "ORTHANC", "STORE_BE"],
        "10.77.0.10": ["ECHOSCU", "STORESCU", "FINDSCU", "MOVESCU", "GETSCU", "MODALITY1", "VIEWER1"],
      },
    },
  });
  const fs = await findings("echo.pcap", all);
  t.deepEqual(
    rule(fs, "dicom.any-ae-accepted").map((f) => f.title),
    [],
  );
  // Only the archive described: ORTHANC is not among its titles; the modality, not described, is not judged.
  const narrow = validateConfig({ sensor, policy: { knownAeTitles: { "10.77.0.20": ["ARCHIVE"] } } });
  t.deepEqual(
    rule(await findings("echo.pcap", narrow), "dicom.any-ae-accepted").map((f) => `${f.key}:${f.severity}`),
    ["called:medium"],
  );
  // The modality's address described with another title: MODALITY1 is unknown there.
  const archive = ["ARCHIVE", "ORTHANC"];
  const other = validateConfig({
    sensor,
    policy: { knownAeTitles: { "10.77.0.20": archive, "10.77.0.10": ["VIEWER1"] } },
  });
  t.deepEqual(
    rule(await findings("echo.pcap", other), "dicom.any-ae-accepted").map((f) => `${f.key}:${f.severity}`),
    ["calling:medium"],
  );
  // MODALITY1 is the title of another address: the archive accepted it from 10.77.0.10 all the same.
  const moved = validateConfig({
    sensor,
    policy: { knownAeTitles: { "10.77.0.20": archive, "10.77.0.99": ["MODALITY1"] } },
  });
  const f = rule(await findings("echo.pcap", moved), "dicom.any-ae-accepted");
  t.deepEqual(
    f.map((x) => `${x.key}:${x.severity}`),
    ["calling:medium"],
  );
  t.like(f[0]!.evidence, { lastUnknownCaller: { aeTitle: "MODALITY1", ip: "10.77.0.10" } });
});

test("dicom.unknown-move-destination: MODALITY1 answered the sub-association; a policy without it flags it", async (t) => {
  t.deepEqual(rule(await findings("qr.pcap"), "dicom.unknown-move-destination"), []);
  const policy = validateConfig({
    sensor,
    policy: { knownAeTitles: { "10.77.0.20": ["ORTHANC"], "10.77.0.10": ["VIEWER1"] } },
  });
  const f = rule(await findings("qr.pcap", policy), "dicom.unknown-move-destination");
  t.deepEqual(
    f.map((x) => x.key),
    ["MODALITY1"],
  );
  t.is(f[0]!.severity, "medium");
});

test("dicom.bulk-query: the lab's universal C-FIND is seen by its keys; by volume only at a threshold of one match", async (t) => {
  t.deepEqual(
    rule(await findings("qr.pcap"), "dicom.bulk-query").map((x) => `${x.key}:${x.severity}`),
    ["universal:medium"],
  );
  const low = validateConfig({ sensor, policy: { thresholds: { bulkQueryMatches: 1 } } });
  const f = rule(await findings("qr.pcap", low), "dicom.bulk-query");
  t.deepEqual(f.map((x) => x.key).sort(), ["matches", "universal"]);
});

test("dicom.ae-scan: one reject is not a burst; with a threshold of one it is", async (t) => {
  t.deepEqual(rule(await findings("reject.pcap"), "dicom.ae-scan"), []);
  const f = rule(
    await findings("reject.pcap", validateConfig({ sensor, policy: { thresholds: { aeScanRejects: 1 } } })),
    "dicom.ae-scan",
  );
  // One request rejected: a burst at this threshold, but of one identical request (a client retrying).
  t.deepEqual(
    f.map((x) => `${x.key}:${x.severity}`),
    ["rejects:low"],
  );
});
