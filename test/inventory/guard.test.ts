import test from "ava";
import { readFileSync } from "node:fs";
import { guardObservation, GuardError } from "../../agent/observations/guard.js";
import type { Observation } from "../../agent/observations/types.js";
import { anomaly, assoc, connection, dimse, ep, equipment, equipmentAttrs, msg, tlsObs } from "./build.js";

const canaries = JSON.parse(readFileSync("test/fixtures/patient-canaries.json", "utf8")) as Record<
  string,
  string
>;
const values = Object.entries(canaries)
  .filter(([k]) => k !== "comment" && k !== "userIdentityUsername")
  .map(([, v]) => v);

/** Adds patient attributes where a buggy decoder might have put them. */
function poison<T extends object>(o: T): T {
  return Object.assign(o, {
    patientName: canaries.patientName,
    PatientID: canaries.patientId,
    dataset: { PatientBirthDate: canaries.patientBirthDate, AccessionNumber: canaries.accessionNumber },
  });
}

test("extra fields at every level are dropped; allowed fields survive unchanged", (t) => {
  const a = ep("10.1.0.5", 50001);
  const b = ep("10.1.0.10", 104);
  const clean: Observation[] = [
    connection(a, b),
    assoc(a, b, {
      userIdentity: { type: 2, username: canaries.userIdentityUsername!, passcodePresent: true },
    }),
    dimse(a, b, 0, msg("C-FIND-RQ", { sopClassUid: "1.2.840.10008.5.1.4.1.2.2.1" })),
    equipment(a, b, equipmentAttrs()),
    tlsObs(a, b, "TLS 1.2", {
      subject: "CN=x",
      issuer: "CN=x",
      notBefore: "a",
      notAfter: "b",
      selfSigned: true,
    }),
    anomaly(a, b, "ul.invalid-pdu-length"),
  ];
  for (const o of clean) {
    const copy = structuredClone(o);
    t.deepEqual(guardObservation(copy), o, o.kind);
    const dirty = structuredClone(o) as unknown as Record<string, unknown>;
    poison(dirty);
    if (o.kind === "association") {
      const rec = dirty.record as Record<string, unknown>;
      poison(rec);
      poison((rec.messages as object[])[0] ?? {});
      poison(rec.userIdentity as object);
      (rec.userIdentity as Record<string, unknown>).passcode = canaries.userIdentityPasscode;
      poison(rec.requestor as object);
    }
    if (o.kind === "dimse") poison(dirty.message as object);
    if (o.kind === "equipment") poison(dirty.attributes as object);
    if (o.kind === "anomaly") dirty.detail = `patient ${canaries.patientName}`;
    const out = JSON.stringify(guardObservation(dirty as unknown as Observation));
    for (const v of values) t.false(out.includes(v), `${o.kind} leaks ${v}`);
  }
});

test("Person-Name-shaped equipment values are dropped; wrong types become null", (t) => {
  const a = ep("10.1.0.5", 50001);
  const b = ep("10.1.0.10", 104);
  const o = equipment(
    a,
    b,
    equipmentAttrs({
      stationName: canaries.patientName!,
      softwareVersions: ["V1", canaries.referringPhysicianName!],
    }),
  );
  (o.attributes as unknown as Record<string, unknown>).manufacturer = { name: canaries.patientName };
  const g = guardObservation(o);
  t.is(g.kind, "equipment");
  if (g.kind !== "equipment") return;
  t.is(g.attributes.stationName, null);
  t.is(g.attributes.manufacturer, null);
  t.deepEqual(g.attributes.softwareVersions, ["V1"]);
  t.is(g.attributes.modality, "CT");
});

test("long strings are capped; usernames are kept only for username types; unknown kinds are refused", (t) => {
  const a = ep("10.1.0.5", 50001);
  const b = ep("10.1.0.10", 104);
  const o = assoc(a, b, {
    calling: "X".repeat(10_000),
    userIdentity: { type: 5, username: "token-bearer", passcodePresent: false },
  });
  const g = guardObservation(o);
  if (g.kind !== "association") return t.fail();
  t.is(g.record.callingAE!.length, 128);
  t.is(g.record.userIdentity?.username, null);
  t.throws(
    () => guardObservation({ kind: "patient", name: canaries.patientName } as unknown as Observation),
    { instanceOf: GuardError },
  );
});
