/**
 * Golden tests: the whole pipeline (analyzeFiles) on real captures, judged by the findings.
 * - third-party captures in ../shared/captures (nmap dicom-ping, go-netdicom requests);
 * - real nmap dicom-ping and dicom-brute against storescp and Orthanc, and dcmtk's echoscu with the same
 *   AE titles, captured here by test/findings/nmap-capture.sh in a throw-away network namespace (root);
 * - ordinary clinical traffic of the lab (scripts/lab/run): the committed test/fixtures/lab captures when
 *   present, else made now in a temp dir (root).
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Analysis, analyzeFiles } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import { readCaptureFile } from "../../agent/capture/file.js";
import { defaultConfig } from "../../agent/config/config.js";
import { guardObservation } from "../../agent/observations/guard.js";
import type { Observation } from "../../agent/observations/types.js";
import type { FindingRecord, Report } from "../../agent/report/types.js";
import { requires } from "../helpers/requires.js";

const nmapTest = requires("root", "netns", "tcpdump", "nmap", "dcmtk", "orthanc");

const RANK: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const shared = (name: string): string => join("..", "shared", "captures", name);

async function report(...paths: string[]): Promise<Report> {
  const r = await analyzeFiles(paths);
  for (const f of r.files) if (f.error) throw new Error(`${f.path}: ${f.error}`);
  return r.report;
}

function above(findings: FindingRecord[], severity: string, except: string[] = []): string[] {
  return findings
    .filter((f) => RANK[f.severity]! > RANK[severity]! && !except.includes(f.rule))
    .map((f) => `${f.rule}: ${f.title}`);
}

/** Only when the committed lab captures are missing, which is a broken checkout: a failure, not a skip. */
function needRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error("test/fixtures/lab captures are missing, and remaking them (scripts/lab/run) needs root");
}

test("nmap dicom-ping (third-party capture) is dicom.scanner; nmap's borrowed DCMTK identity is not a vulnerable stack", async (t) => {
  const r = await report(shared("nmap_dicom_ping_synthetic.pcap"));
  const s = r.findings.filter((f) => f.rule === "dicom.scanner");
  t.is(s.length, 1);
  t.regex(s[0]!.title, /nmap dicom-ping/);
  t.deepEqual(
    r.findings.filter((f) => f.rule === "dicom.vulnerable-implementation"),
    [],
  );
  t.deepEqual(above(r.findings, "low", ["dicom.scanner"]), []);
});

test("go-netdicom requests (tapirx captures): toolkit recognised, nothing above low", async (t) => {
  for (const name of [
    "tapirx_dicom_arq_1_find_testclient.pcap",
    "tapirx_dicom_arq_2_get_testclient.pcap",
    "tapirx_dicom_arq_3_find_bogus_local.pcap",
    "tapirx_dicom_arq_4_get_bogus_local.pcap",
  ]) {
    const r = await report(shared(name));
    t.deepEqual(above(r.findings, "low"), [], name);
    const client = r.devices.find((d) => d.roles.includes("SCU"));
    t.deepEqual((client?.toolkit as { name: string } | undefined)?.name, "go-netdicom", name);
  }
});

nmapTest(
  "real nmap dicom-ping/dicom-brute against storescp and Orthanc is dicom.scanner; echoscu is not",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "dicomtap-nmap-"));
    try {
      execFileSync("test/findings/nmap-capture.sh", [dir], { stdio: "pipe", timeout: 120_000 });
      const r = await report(join(dir, "nmap.pcap"));
      const s = r.findings.filter((f) => f.rule === "dicom.scanner");
      t.is(s.length, 1, JSON.stringify(r.findings.map((f) => f.title)));
      t.is(s[0]!.severity, "high");
      t.regex(s[0]!.title, /nmap dicom-brute/);
      t.true((s[0]!.evidence as { calledAETitlesTried: number }).calledAETitlesTried >= 6);
      t.deepEqual(
        r.findings.filter((f) => f.rule === "dicom.vulnerable-implementation"),
        [],
        "only nmap's fake DCMTK 3.6.2 requested",
      );
      t.deepEqual(
        r.findings.filter((f) => f.rule === "dicom.malformed"),
        [],
      );
      // storescp (its own title is STORESCP) accepted nmap's probe ANY-SCP: it accepts any called AE title.
      t.deepEqual(
        r.findings.filter((f) => f.rule === "dicom.any-ae-accepted").map((f) => `${f.key}:${f.severity}`),
        ["probe:high"],
      );
      const e = await report(join(dir, "echoscu.pcap"));
      t.deepEqual(
        e.findings.filter((f) => f.rule === "dicom.scanner" || f.rule === "dicom.ae-scan"),
        [],
      );
      // A true finding added by issue 9: echoscu's default called AE ANY-SCP, accepted by storescp, shows
      // (whoever sends it) that storescp answers to any called AE title. Orthanc, called ORTHANC, raises nothing.
      const any = e.findings.filter((f) => f.rule === "dicom.any-ae-accepted");
      t.deepEqual(
        any.map((f) => `${f.key}:${f.severity}`),
        ["probe:high"],
      );
      t.like(any[0]!.evidence, { probe: { calledAE: "ANY-SCP", callingAE: "ECHOSCU" }, ports: [104] });
      t.deepEqual(above(e.findings, "low", ["dicom.vulnerable-implementation", "dicom.any-ae-accepted"]), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("ordinary lab traffic (echo, store, query/retrieve, abort) raises nothing above low but the stack's CVEs", async (t) => {
  const scenes = ["echo", "store", "qr", "abort", "reject", "ipv6", "impaired-store", "impaired-qr"];
  const committed = scenes.map((s) => join("test", "fixtures", "lab", `${s}.pcap`));
  let dir: string | null = null;
  let paths = committed;
  if (!committed.every((p) => existsSync(p))) {
    needRoot();
    dir = mkdtempSync(join(tmpdir(), "dicomtap-lab-"));
    execFileSync("scripts/lab/run", [dir, "--scenes", "echo,store,qr,abort,reject,ipv6"], {
      stdio: "pipe",
      timeout: 280_000,
    });
    paths = scenes.filter((s) => !s.startsWith("impaired")).map((s) => join(dir!, `${s}.pcap`));
  }
  try {
    for (const p of paths) {
      const r = await report(p);
      t.true(r.stats.associations > 0, p);
      // DCMTK 3.6.7 (the lab's stack) has known CVEs: a finding about the software, not about the traffic.
      // The qr scene's first findscu is a universal patient-level query (scripts/lab/run): bulk-query.
      const qr = p.endsWith("qr.pcap");
      t.deepEqual(
        above(r.findings, "low", ["dicom.vulnerable-implementation", ...(qr ? ["dicom.bulk-query"] : [])]),
        [],
        p,
      );
      if (qr) t.deepEqual(universalQueries(r), ["medium VIEWER1>ORTHANC PATIENT 2/0"], p);
      if (!p.includes("reject"))
        t.true(
          r.findings.some((f) => f.rule === "dicom.cleartext" && f.severity === "low"),
          p,
        );
    }
    const all = await report(...paths);
    const archive = all.devices.find((d) => d.aeTitles.includes("ORTHANC"));
    t.is(archive?.class, "archive");
    t.is((archive?.toolkit as { name: string } | undefined)?.name, "DCMTK");
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

const lab = (name: string): string => join("test", "fixtures", "lab", name);

/** The dicom.bulk-query findings for universal matching, as "severity CALLING>CALLED LEVEL keys/matching". */
function universalQueries(r: Report): string[] {
  return r.findings
    .filter((f) => f.rule === "dicom.bulk-query" && f.title.includes("universal matching at"))
    .map((f) => {
      const e = f.evidence as { callingAE: string; calledAE: string; queryRetrieveLevel: string };
      const n = f.evidence as { keys: number; matchingKeys: number };
      return `${f.severity} ${e.callingAE}>${e.calledAE} ${e.queryRetrieveLevel} ${n.keys}/${n.matchingKeys}`;
    });
}

test("the lab's findscu queries: the universal one is seen as such, the one on a patient ID is not", async (t) => {
  const seen: string[] = [];
  const analysis = new Analysis(defaultConfig());
  const sink = {
    observe(o: Observation): void {
      const clean = guardObservation(o);
      if (clean.kind === "dimse" && clean.message.command === "C-FIND-RQ")
        seen.push(`${clean.calledAE} ${clean.message.sopClassUid} ${JSON.stringify(clean.query)}`);
      analysis.observe(o);
    },
  };
  const pipeline = new Pipeline({ observations: sink });
  await readCaptureFile(lab("qr.pcap"), pipeline, { counters: pipeline.counters });
  pipeline.finish();
  // findscu -P -k QueryRetrieveLevel=PATIENT -k PatientName -k PatientID; then
  // findscu -S -k QueryRetrieveLevel=STUDY -k PatientID=<canary> -k StudyInstanceUID -k StudyDescription
  //   -k AccessionNumber -k ModalitiesInStudy (scripts/lab/run).
  t.deepEqual(seen, [
    'ORTHANC 1.2.840.10008.5.1.4.1.2.1.1 {"level":"PATIENT","keys":2,"matchingKeys":0}',
    'ORTHANC 1.2.840.10008.5.1.4.1.2.2.1 {"level":"STUDY","keys":5,"matchingKeys":1}',
  ]);
  const canaries = JSON.parse(readFileSync("test/fixtures/patient-canaries.json", "utf8")) as Record<
    string,
    string
  >;
  for (const [k, v] of Object.entries(canaries)) if (k !== "comment") t.false(seen.join().includes(v), k);
  for (const p of [lab("qr.pcap"), lab("impaired-qr.pcap"), join("samples", "imaging-room.pcap")]) {
    const r = await report(p);
    t.deepEqual(universalQueries(r), ["medium VIEWER1>ORTHANC PATIENT 2/0"], p);
  }
});

test("the lab's cleartext passcode is dicom.cleartext-credentials (high), without the username or passcode", async (t) => {
  const r = await report(lab("identity.pcap"));
  const f = r.findings.filter((x) => x.rule === "dicom.cleartext-credentials");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "high");
  t.is(f[0]!.device, r.devices.find((d) => d.ip === "10.77.0.20")!.id);
  t.false(/canary/i.test(JSON.stringify(f)));
});

test("the imaging-room sample: devices classed and no patient data in devices or findings", async (t) => {
  const r = await report(join("samples", "imaging-room.pcap"));
  const pacs = r.devices.find((d) => d.ip === "10.77.0.20")!;
  t.is(pacs.class, "archive");
  t.deepEqual(pacs.aeTitles, ["ARCHIVE", "ORTHANC", "STORE_BE"]);
  t.deepEqual(pacs.listeningPorts, [104, 4242, 11112]);
  t.regex(pacs.id, /^mac-[0-9a-f]{12}-10\.77\.0\.20$/);
  t.is(pacs.modality, null, "a PACS is not the equipment of the images it holds");
  const mod = r.devices.find((d) => d.ip === "10.77.0.10")!;
  t.true((mod.equipmentSeen as unknown[]).length >= 2, "several equipment identities seen in what it sent");
  t.deepEqual(
    above(r.findings, "low", [
      "dicom.vulnerable-implementation",
      "dicom.cleartext-credentials",
      "dicom.bulk-query",
    ]),
    [],
  );
  t.deepEqual(universalQueries(r), ["medium VIEWER1>ORTHANC PATIENT 2/0"]);
  const canaries = JSON.parse(readFileSync("test/fixtures/patient-canaries.json", "utf8")) as Record<
    string,
    string
  >;
  const out = JSON.stringify({ devices: r.devices, findings: r.findings });
  for (const [k, v] of Object.entries(canaries)) if (k !== "comment") t.false(out.includes(v), `${k} leaked`);
});
