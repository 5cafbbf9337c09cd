/**
 * An approved baseline becomes the policy (issue 13): the policy rules judge the lab captures with a policy
 * derived from the baseline as they do with the same policy written by hand; a learned one is no policy.
 */
import test from "ava";
import { join } from "node:path";
import { baselinePolicy, effectiveConfig, mergePolicy } from "../../agent/baseline/policy.js";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import { validateConfig } from "../../agent/config/config.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { FindingRecord } from "../../agent/report/types.js";

const lab = (name: string): string => join("test", "fixtures", "lab", name);
const sensor = { id: "lab", site: "test" };
const POLICY_RULES = [
  "dicom.any-ae-accepted",
  "dicom.unknown-move-destination",
  "dicom.external-peer",
  "dicom.default-port",
  "dicom.probe-ae-accepted",
];
const policyFindings = (fs: FindingRecord[]): string[] =>
  fs
    .filter((f) => POLICY_RULES.includes(f.rule))
    .map((f) => `${f.rule} ${f.severity} ${f.title}`)
    .sort();

async function learned(files: string[]): Promise<BaselineDocument> {
  const r = await analyzeFiles(files.map(lab), { config: validateConfig({ sensor }) });
  return r.baseline!;
}

function approve(doc: BaselineDocument): BaselineDocument {
  return { ...doc, status: "approved", approved: { by: "alice", at: "2026-12-01T09:00:00Z", note: null } };
}

test("the policy of an approved baseline: titles by address, peers as host CIDRs, ports with sessions, services", async (t) => {
  const doc = approve(await learned(["echo.pcap", "qr.pcap"]));
  const p = baselinePolicy(doc);
  t.deepEqual(p.knownAeTitles, {
    "10.77.0.10": ["MODALITY1", "VIEWER1"],
    "10.77.0.20": ["ARCHIVE", "ORTHANC"],
  });
  t.deepEqual(p.allowedPeers.sort(), ["10.77.0.10/32", "10.77.0.20/32"]);
  t.deepEqual(p.approvedPorts, { "10.77.0.10": [11114], "10.77.0.20": [104, 4242] });
  const orthanc = p.services.find((s) => s.aeTitle === "ORTHANC")!;
  t.deepEqual(orthanc.peers, [
    { ip: "10.77.0.10", aeTitle: "MODALITY1", operations: ["C-ECHO", "C-MOVE", "C-STORE"] },
    { ip: "10.77.0.10", aeTitle: "VIEWER1", operations: ["C-FIND", "C-GET"] },
  ]);
  // A learned (not approved) baseline is no policy.
  t.deepEqual(baselinePolicy({ ...doc, status: "learned", approved: null }).allowedPeers, []);
  const config = validateConfig({ sensor });
  t.is(effectiveConfig(config, { ...doc, status: "learned", approved: null }), config);
});

test("merge with the config: a union, the config's service entries win", (t) => {
  const config = validateConfig({
    sensor,
    policy: {
      knownAeTitles: { "10.1.0.1": ["PACS"] },
      allowedPeers: ["10.2.0.0/16"],
      approvedPorts: { "10.1.0.1": [2762] },
      services: [{ ip: "10.1.0.1", port: 104, aeTitle: "PACS", peers: [] }],
    },
  }).policy;
  const merged = mergePolicy(config, {
    knownAeTitles: { "10.1.0.1": ["PACS", "PACS2"], "10.1.0.9": ["CT1"] },
    allowedPeers: ["10.1.0.9/32"],
    approvedPorts: { "10.1.0.1": [104] },
    services: [
      {
        ip: "10.1.0.1",
        port: 104,
        aeTitle: "PACS",
        peers: [{ ip: "10.1.0.9", aeTitle: "CT1", operations: [] }],
      },
      { ip: "10.1.0.1", port: 11112, aeTitle: "PACS", peers: [] },
    ],
  });
  t.deepEqual(merged.knownAeTitles, { "10.1.0.1": ["PACS", "PACS2"], "10.1.0.9": ["CT1"] });
  t.deepEqual(merged.allowedPeers, ["10.2.0.0/16", "10.1.0.9/32"]);
  t.deepEqual(merged.approvedPorts, { "10.1.0.1": [2762, 104] });
  t.deepEqual(
    merged.services.map((s) => `${s.port} ${s.peers.length}`),
    ["104 0", "11112 0"],
  );
});

test("dicom.any-ae-accepted and unknown-move-destination behave as with the same policy by hand", async (t) => {
  const doc = approve(await learned(["echo.pcap", "qr.pcap"]));
  const derived = effectiveConfig(validateConfig({ sensor }), doc);
  const byHand = validateConfig({
    sensor,
    policy: {
      knownAeTitles: { "10.77.0.10": ["MODALITY1", "VIEWER1"], "10.77.0.20": ["ARCHIVE", "ORTHANC"] },
      allowedPeers: ["10.77.0.10/32", "10.77.0.20/32"],
      approvedPorts: { "10.77.0.10": [11114], "10.77.0.20": [104, 4242] },
    },
  });
  // store.pcap calls STORE_BE, which the baseline (of echo and qr) never saw: the policy says so.
  for (const files of [["qr.pcap"], ["store.pcap"], ["echo.pcap", "reject.pcap"]]) {
    const a = await analyzeFiles(files.map(lab), { config: derived });
    const b = await analyzeFiles(files.map(lab), { config: byHand });
    t.deepEqual(policyFindings(a.report.findings), policyFindings(b.report.findings), files.join(" "));
  }
  const store = await analyzeFiles([lab("store.pcap")], { config: derived });
  t.true(
    policyFindings(store.report.findings).some((f) => f.startsWith("dicom.any-ae-accepted")),
    "STORE_BE is not among the archive's known titles",
  );
  // Without the policy, none of that.
  const none = await analyzeFiles([lab("store.pcap")], { config: validateConfig({ sensor }) });
  t.false(policyFindings(none.report.findings).some((f) => f.startsWith("dicom.any-ae-accepted")));
});
