/**
 * DICOM over TLS with the NULL cipher between real DCMTK 3.6.7 peers (storescu/echoscu +pn against
 * storescp +pn: TLS_RSA_WITH_NULL_SHA), captured by scripts/lab/tls-null into test/fixtures/tls/null.pcap.
 * Golden: analyze decodes both associations from the TLS records' plaintext, reports the TLS observation's
 * suite and tls.weak high, and no patient data (which crosses this wire readable) reaches the report.
 * Live (root): the same script with a NULL and with DCMTK's default BCP 195 profile, made now; the
 * encrypted one raises nothing (no false alarm) and shows no DICOM.
 */
import test from "ava";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCaptureFile } from "../../agent/capture/file.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type { Observation, TlsObservation } from "../../agent/observations/types.js";
import type { Report } from "../../agent/report/types.js";
import { requires } from "../helpers/requires.js";

const rootTest = requires("root", "netns", "tcpdump", "dcmtk", "openssl");

const FIXTURE = "test/fixtures/tls/null.pcap";
const MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4";
const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";

async function tlsObservations(path: string): Promise<TlsObservation[]> {
  const out: TlsObservation[] = [];
  const p = new Pipeline({
    observations: { observe: (o: Observation) => (o.kind === "tls" ? out.push(o) : 0) },
  });
  await readCaptureFile(path, p, { counters: p.counters });
  p.finish();
  return out;
}

/** The association fields a person checks, in capture order. */
function associations(report: Report): unknown[] {
  return report.associations.map((a) => ({
    server: a.server,
    callingAE: a.callingAE,
    calledAE: a.calledAE,
    outcome: a.outcome,
    released: a.released,
    messages: a.messages.map((m) => `${m.command} ${m.sopClassUid ?? "-"} ${m.status ?? "-"}`),
  }));
}

const NULL_ASSOCIATIONS = [
  {
    server: "10.77.2.20:2762",
    callingAE: "MODALITY1",
    calledAE: "ARCHIVE",
    outcome: "accepted",
    released: true,
    messages: ["C-ECHO-RQ 1.2.840.10008.1.1 -", "C-ECHO-RSP 1.2.840.10008.1.1 0"],
  },
  {
    server: "10.77.2.20:2762",
    callingAE: "MODALITY1",
    calledAE: "ARCHIVE",
    outcome: "accepted",
    released: true,
    messages: [
      `C-STORE-RQ ${MR_IMAGE_STORAGE} -`,
      `C-STORE-RSP ${MR_IMAGE_STORAGE} 0`,
      `C-STORE-RQ ${CT_IMAGE_STORAGE} -`,
      `C-STORE-RSP ${CT_IMAGE_STORAGE} 0`,
    ],
  },
];

function checkNullReport(t: import("ava").ExecutionContext, report: Report): void {
  t.deepEqual(associations(report), NULL_ASSOCIATIONS);
  t.is(report.stats.dicomFlows, 2);
  t.is(report.stats.dimseMessages, 6);
  t.deepEqual(report.anomalies, []);
  const weak = report.findings.filter((f) => f.rule === "tls.weak");
  t.is(weak.length, 1, "one finding for the server");
  const f = weak[0]!;
  t.is(f.severity, "high");
  t.regex(f.device ?? "", /-10\.77\.2\.20$/);
  t.is(
    f.title,
    "Weak DICOM TLS on 10.77.2.20:2762: NULL cipher: DICOM readable on the wire (TLS_RSA_WITH_NULL_SHA)",
  );
  const ev = f.evidence as Record<string, unknown>;
  t.is(ev.cipherSuite, "TLS_RSA_WITH_NULL_SHA");
  t.is(ev.plaintextDicom, true);
  t.is((ev.flows as string[]).length, 2);
  t.is(f.count, 2);
  t.deepEqual(
    report.findings.filter((x) => x.rule === "dicom.malformed"),
    [],
  );
}

test("golden: DCMTK's NULL-cipher TLS decoded as DICOM, its suite reported, tls.weak high", async (t) => {
  const { report, files } = await analyzeFiles([FIXTURE]);
  t.is(files[0]!.error, null);
  checkNullReport(t, report);
  const tls = await tlsObservations(FIXTURE);
  t.is(tls.length, 2);
  for (const o of tls) {
    t.is(o.version, "TLS 1.2");
    t.is(o.cipherSuite, "TLS_RSA_WITH_NULL_SHA");
    t.is(o.cipherSuiteId, 0x0002);
    t.true(o.plaintext);
    t.true(o.plaintextDicom);
    t.false(o.handshakeFailure);
    t.is(o.server.ip, "10.77.2.20");
    t.is(o.certificate?.subject, "CN=pacs.lab");
    t.is(o.certificate?.issuer, "CN=dicomtap lab CA");
    t.false(o.certificate?.selfSigned);
    t.is(o.certificate?.keyType, "rsa");
    t.is(o.certificate?.keyBits, 2048);
  }
  const pacs = report.devices.find((d) => d.ip === "10.77.2.20") as unknown as {
    tlsServices: { port: number; version: string }[];
  };
  t.deepEqual(
    pacs.tlsServices.map((s) => `${s.port} ${s.version}`),
    ["2762 TLS 1.2"],
  );
});

test("privacy: the patient data readable on this wire never reaches the report", async (t) => {
  const canaries = JSON.parse(readFileSync("test/fixtures/patient-canaries.json", "utf8")) as Record<
    string,
    string
  >;
  const secrets = ["patientName", "patientId", "patientBirthDate", "accessionNumber", "studyDescription"].map(
    (k) => canaries[k]!,
  );
  const wire = readFileSync(FIXTURE).toString("latin1");
  for (const s of secrets) t.true(wire.includes(s), `${s} should be on the wire, or this proves nothing`);
  const { report } = await analyzeFiles([FIXTURE]);
  const out = JSON.stringify(report).toLowerCase();
  for (const s of secrets) t.false(out.includes(s.toLowerCase()), `report leaks ${s}`);
});

rootTest(
  "live: DCMTK NULL and BCP 195 profiles made now — NULL decoded and weak, BCP 195 silent",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "dicomtap-tlsnull-"));
    try {
      for (const profile of ["null", "bcp195-nd"]) {
        execFileSync("scripts/lab/tls-null", [dir, "--profile", profile], { stdio: "pipe", timeout: 90_000 });
      }
      const nul = await analyzeFiles([join(dir, "tls-null.pcap")]);
      checkNullReport(t, nul.report);

      const good = await analyzeFiles([join(dir, "tls-bcp195-nd.pcap")]);
      t.is(good.report.associations.length, 0, "encrypted DICOM is not decoded");
      t.deepEqual(
        good.report.findings.filter((f) => f.rule === "tls.weak" || f.rule === "dicom.malformed"),
        [],
        "a good configuration raises no TLS finding",
      );
      t.deepEqual(good.report.anomalies, []);
      const tls = await tlsObservations(join(dir, "tls-bcp195-nd.pcap"));
      t.is(tls.length, 2);
      for (const o of tls) {
        t.true(o.version === "TLS 1.2" || o.version === "TLS 1.3", String(o.version));
        t.regex(o.cipherSuite ?? "", /GCM|CHACHA20/);
        t.false(o.plaintext);
        t.false(o.handshakeFailure);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
