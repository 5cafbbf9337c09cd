/**
 * No patient data and no passcode leave the appliance (DESIGN.md §1). The lab's DICOM files carry fake
 * patient data from test/fixtures/patient-canaries.json, and the identity scene sends a real passcode on
 * the wire; none of those strings may appear in a report, the readable summary, a log line, a published
 * message or a stored row. The username is reported by design (issue 2), so it is not a canary.
 */
import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { analyzeWithoutLeaks, replayWithoutLeaks } from "./leaks.js";

const canaries = JSON.parse(readFileSync("test/fixtures/patient-canaries.json", "utf8")) as Record<
  string,
  string
>;
const SECRET_KEYS = [
  "patientName",
  "patientId",
  "patientBirthDate",
  "accessionNumber",
  "studyDescription",
  "seriesDescription",
  "referringPhysicianName",
  "otherPatientIds",
  "userIdentityPasscode",
];
const secrets = SECRET_KEYS.map((k) => canaries[k]!).filter((v) => typeof v === "string" && v.length > 0);
// Other spellings too: a leak need not keep the DICOM formatting. (Single name components are not
// needles: the lab's InstitutionName, a device attribute, is "CANARY GENERAL HOSPITAL" on purpose.)
const needles = [
  ...secrets,
  ...secrets.filter((s) => s.includes("^")).map((s) => s.replaceAll("^", " ")),
  ...secrets.map((s) => Buffer.from(s, "latin1").toString("hex")),
  ...secrets.map((s) => Buffer.from(s, "latin1").toString("base64")),
];
const captures = [
  "samples/imaging-room.pcap",
  ...readdirSync("test/fixtures/lab")
    .filter((f) => f.endsWith(".pcap"))
    .map((f) => join("test/fixtures/lab", f)),
];

function leaks(text: string): string[] {
  const lower = text.toLowerCase();
  return needles.filter((n) => lower.includes(n.toLowerCase()));
}

test("the fixtures really carry the canaries on the wire", (t) => {
  const all = Buffer.concat(captures.map((f) => readFileSync(f))).toString("latin1");
  for (const key of ["patientName", "patientId", "userIdentityPasscode"]) {
    t.true(all.includes(canaries[key]!), `${key} is not in any capture, so this test would prove nothing`);
  }
});

test("analyze: no canary in the JSON report, the summary or the diagnostics", (t) => {
  const json = analyzeWithoutLeaks(t, captures, leaks);
  t.true(json.includes('"userIdentity"'));
});

test("run --replay: no canary in published messages, logs or the store's database file", async (t) => {
  await replayWithoutLeaks(t, captures, leaks);
});

test("the baseline: no canary in the published baseline message or the stored document", async (t) => {
  // replayWithoutLeaks checks every published line and every file of the store; the baseline must be among
  // them for that to prove anything about it (issue 13).
  const out = await replayWithoutLeaks(t, captures, leaks);
  const baseline = out.filter((l) => (JSON.parse(l) as { topic: string }).topic.endsWith("/baseline"));
  t.true(baseline.length > 0, "the baseline was published");
  const doc = (JSON.parse(baseline.at(-1)!) as { payload: { baseline: { services: unknown[] } } }).payload
    .baseline;
  t.true(doc.services.length > 0, "and it holds the lab's services");
  t.deepEqual(leaks(baseline.join("\n")), []);
});
