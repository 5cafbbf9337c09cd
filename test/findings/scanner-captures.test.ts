/**
 * Golden tests on real scanner traffic (issue 9): the whole pipeline (analyzeFiles) on
 * - test/fixtures/scanner/*.pcap, made by scripts/lab/make-scanner-fixtures: nmap 7.93's dicom-ping and
 *   dicom-brute, nmap's dicom library as its forks ship it, DCMTK's echoscu guessing titles, and hosts
 *   sharing AE titles, against a real storescp (accepts any called AE title) and a real Orthanc (checks it);
 * - the third-party nmap capture in ../shared/captures;
 * - the lab's ordinary traffic (test/fixtures/lab, samples/), which must raise none of these rules.
 */
import test from "ava";
import { join } from "node:path";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { FindingRecord, Report } from "../../agent/report/types.js";

const fixture = (name: string): string => join("test", "fixtures", "scanner", name);

async function report(...paths: string[]): Promise<Report> {
  const r = await analyzeFiles(paths);
  for (const f of r.files) if (f.error) throw new Error(`${f.path}: ${f.error}`);
  return r.report;
}
const of = (r: Report, rule: string): FindingRecord[] => r.findings.filter((f) => f.rule === rule);
const keys = (r: Report, rule: string): string[] =>
  of(r, rule)
    .map((f) => `${f.key}:${f.severity}`)
    .sort();
const deviceIp = (r: Report, id: string | null): string | undefined => r.devices.find((d) => d.id === id)?.ip;

const SCANNER = "10.78.0.66";
const STORESCP = "10.78.0.20";
const ORTHANC = "10.78.0.21";

test("nmap dicom-ping + dicom-brute against storescp: any-ae-accepted high on storescp, dicom.scanner on nmap", async (t) => {
  const r = await report(fixture("nmap-storescp.pcap"));
  t.deepEqual(keys(r, "dicom.any-ae-accepted"), ["probe:high"]);
  const a = of(r, "dicom.any-ae-accepted")[0]!;
  t.is(deviceIp(r, a.device), STORESCP);
  t.like(a.evidence, {
    probe: { calledAE: "ANY-SCP", callingAE: "ECHOSCU", service: `${STORESCP}:11112` },
    ports: [11112],
  });
  t.regex(
    (a.evidence as { probe: { peer: string } }).probe.peer,
    new RegExp(`^${SCANNER.replace(/\./g, "\\.")}:\\d+$`),
  );
  t.deepEqual(keys(r, "dicom.scanner"), ["nmap:medium"]);
  const s = of(r, "dicom.scanner")[0]!;
  t.is(deviceIp(r, s.device), SCANNER);
  t.is(deviceIp(r, s.peer), STORESCP);
  t.regex(s.title, /nmap dicom-ping/);
  t.deepEqual(of(r, "dicom.vulnerable-implementation"), [], "nmap's borrowed DCMTK identity is no stack");
  t.deepEqual(of(r, "dicom.duplicate-ae-title"), []);
});

test("nmap dicom-brute against Orthanc: dicom.scanner (brute) and dicom.ae-scan, but no any-ae-accepted", async (t) => {
  const r = await report(fixture("nmap-orthanc.pcap"));
  t.deepEqual(
    of(r, "dicom.any-ae-accepted"),
    [],
    "Orthanc refuses ANY-SCP and accepts only ORTHANC, its own",
  );
  t.deepEqual(keys(r, "dicom.scanner"), ["nmap:high"]);
  const s = of(r, "dicom.scanner")[0]!;
  t.regex(s.title, /nmap dicom-brute from 10\.78\.0\.66 against 10\.78\.0\.21 \(9 called AE titles tried\)/);
  const ev = s.evidence as { reasons: string[]; calledAETitlesTried: number; counts: Record<string, number> };
  t.true(ev.reasons.some((x) => x.startsWith("called-AE brute force (A-ASSOCIATE-RJ reason 7")));
  t.is(ev.counts.associations, 10);
  t.is(ev.counts.accepted, 1, "ORTHANC, found by the brute force");
  t.deepEqual(keys(r, "dicom.ae-scan"), ["called-aes:high"]);
  t.is(deviceIp(r, of(r, "dicom.ae-scan")[0]!.device), SCANNER);
});

test("nmap's library as its forks ship it (zeroed reserved bytes) is known by its silence after the AC", async (t) => {
  const r = await report(fixture("nmap-fork-silent.pcap"));
  t.is(r.associations.length, 1);
  t.is(r.associations[0]!.released, false);
  t.deepEqual(keys(r, "dicom.scanner"), ["nmap:medium"]);
  const ev = of(r, "dicom.scanner")[0]!.evidence as { reasons: string[] };
  t.true(ev.reasons.includes("accepted, then left without a message, release or abort"));
  t.false(
    ev.reasons.some((x) => x.startsWith("non-zero reserved")),
    "no reserved byte to go by",
  );
  t.deepEqual(keys(r, "dicom.any-ae-accepted"), ["probe:high"]);
  t.deepEqual(of(r, "dicom.vulnerable-implementation"), []);
});

test("nmap's library with its own identity (NMAP_NSE), refused by Orthanc: dicom.scanner by identity alone", async (t) => {
  const r = await report(fixture("nmap-nse-identity.pcap"));
  t.is(r.associations[0]!.requestor?.implementationVersionName, "NMAP_NSE");
  t.deepEqual(keys(r, "dicom.scanner"), ["nmap:medium"]);
  t.like(of(r, "dicom.scanner")[0]!.evidence, {
    implementationClassUid: "2.25.205477355541376756296906656564391676347",
    implementationVersionName: "NMAP_NSE",
  });
  t.deepEqual(of(r, "dicom.any-ae-accepted"), []);
});

test("silent associations from an unknown tool to two services: dicom.scanner silent-association (medium)", async (t) => {
  const r = await report(fixture("silent-probe.pcap"));
  t.deepEqual(keys(r, "dicom.scanner"), ["silent-association:medium"]);
  const s = of(r, "dicom.scanner")[0]!;
  t.is(deviceIp(r, s.device), SCANNER);
  t.like(s.evidence, {
    distinctServicesInWindow: 2,
    lastSilent: { callingAE: "PROBE", ended: { reason: "fin" } },
  });
  t.deepEqual(of(r, "dicom.any-ae-accepted"), [], "STORESCP and ARCHIVE are the services' own titles");
});

test("echoscu guessing six called AE titles on Orthanc: called-AE brute force and ae-scan", async (t) => {
  const r = await report(fixture("echoscu-guess.pcap"));
  t.deepEqual(keys(r, "dicom.scanner"), ["called-ae-brute:high"]);
  t.like(of(r, "dicom.scanner")[0]!.evidence, {
    reason: "called-AE brute force",
    rejectReason: 7,
    distinctTitlesRefused: 6,
    targets: [`${ORTHANC}:11112`],
  });
  t.deepEqual(keys(r, "dicom.ae-scan"), ["called-aes:high"]);
  t.deepEqual(of(r, "dicom.any-ae-accepted"), []);
});

test("AE titles shared by hosts: CT_SCANNER (calling) and ARCHIVE (called) medium, echoscu's default low", async (t) => {
  const r = await report(fixture("duplicate-ae.pcap"));
  t.deepEqual(keys(r, "dicom.duplicate-ae-title"), ["ARCHIVE:medium", "CT_SCANNER:medium", "ECHOSCU:low"]);
  const byKey = (k: string): { roles: string[]; addresses: { ip: string }[] } =>
    of(r, "dicom.duplicate-ae-title").find((f) => f.key === k)!.evidence as {
      roles: string[];
      addresses: { ip: string }[];
    };
  t.deepEqual(byKey("ARCHIVE").roles, ["called"]);
  t.deepEqual(
    byKey("ARCHIVE").addresses.map((a) => a.ip),
    ["10.78.0.20", "10.78.0.22"],
  );
  t.deepEqual(byKey("CT_SCANNER").roles, ["calling"]);
  t.deepEqual(
    byKey("CT_SCANNER").addresses.map((a) => a.ip),
    ["10.78.0.10", "10.78.0.11"],
  );
  t.like(byKey("ECHOSCU"), { reason: "default AE title of DCMTK echoscu (also nmap's dicom library)" });
  t.deepEqual(of(r, "dicom.scanner"), []);
  t.deepEqual(of(r, "dicom.any-ae-accepted"), []);
});

test("the third-party nmap capture (refused, reason 7): dicom.scanner, no any-ae-accepted", async (t) => {
  const r = await report(join("..", "shared", "captures", "nmap_dicom_ping_synthetic.pcap"));
  t.deepEqual(keys(r, "dicom.scanner"), ["nmap:medium"]);
  t.deepEqual(of(r, "dicom.any-ae-accepted"), []);
  t.deepEqual(of(r, "dicom.duplicate-ae-title"), []);
});

test("ordinary lab traffic raises none of these rules, file by file and in the imaging-room sample", async (t) => {
  const files = [
    "echo",
    "store",
    "qr",
    "abort",
    "reject",
    "identity",
    "ipv6",
    "impaired-store",
    "impaired-qr",
  ].map((s) => join("test", "fixtures", "lab", `${s}.pcap`));
  for (const p of [...files, join("samples", "imaging-room.pcap")]) {
    const r = await report(p);
    for (const rule of ["dicom.scanner", "dicom.any-ae-accepted", "dicom.duplicate-ae-title"])
      t.deepEqual(of(r, rule), [], `${p} ${rule}`);
  }
});
