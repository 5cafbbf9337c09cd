/**
 * dicom.bulk-query (rules/bulk-query.ts): universal matching at patient/study level, many matches in one
 * query, many queries in a window; and the observation guard's query fields this rule relies on.
 */
import test from "ava";
import { validateConfig } from "../../agent/config/config.js";
import { guardObservation } from "../../agent/observations/guard.js";
import type { DimseObservation, Observation } from "../../agent/observations/types.js";
import { assoc, at, dimse, ep, msg, pc, STUDY_ROOT_FIND } from "../inventory/build.js";
import { Harness, pacs } from "./harness.js";

test("dicom.bulk-query: one query with many matches, or many queries", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { thresholds: { bulkQueryMatches: 50, bulkQueryFinds: 5 } },
  });
  const h = new Harness(config);
  const ws = ep("10.1.0.30", 50002);
  h.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND })));
  for (let i = 0; i < 49; i++)
    h.feed(dimse(ws, pacs(), 1, msg("C-FIND-RSP", { status: 0xff00, messageIdBeingRespondedTo: 1 })));
  t.deepEqual(h.rule("dicom.bulk-query"), []);
  h.feed(dimse(ws, pacs(), 1, msg("C-FIND-RSP", { status: 0xff00, messageIdBeingRespondedTo: 1 })));
  t.is(h.rule("dicom.bulk-query")[0]?.key, "matches");
  for (let i = 0; i < 4; i++)
    h.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND, messageId: i + 2 })));
  t.is(h.rule("dicom.bulk-query").find((f) => f.key === "volume")?.severity, "medium");
  const mwl = new Harness(config);
  for (let i = 0; i < 20; i++)
    mwl.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: "1.2.840.10008.5.1.4.31" })));
  t.deepEqual(mwl.rule("dicom.bulk-query"), [], "worklist queries are routine for modalities");
});

const PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1";

test("dicom.bulk-query: universal matching at patient/study level; specific keys, lower levels and worklists not", (t) => {
  const ws = ep("10.1.0.30", 50002);
  const find = (sopClassUid: string, query: DimseObservation["query"], from = ws): DimseObservation => ({
    ...dimse(from, pacs(), 0, msg("C-FIND-RQ", { sopClassUid }), {
      calling: "WS1",
      called: "PACS",
      ts: at(5),
    }),
    query,
  });
  const h = new Harness();
  // findscu -S -k QueryRetrieveLevel=STUDY -k PatientID=... -k StudyInstanceUID: a specific key.
  h.feed(find(STUDY_ROOT_FIND, { level: "STUDY", keys: 2, matchingKeys: 1 }));
  h.feed(find(STUDY_ROOT_FIND, { level: "SERIES", keys: 2, matchingKeys: 0 }));
  h.feed(find(STUDY_ROOT_FIND, null));
  h.feed(find("1.2.840.10008.5.1.4.31", { level: null, keys: 6, matchingKeys: 0 }));
  h.feed(find("1.2.840.10008.5.1.4.31", { level: "PATIENT", keys: 6, matchingKeys: 0 }));
  t.deepEqual(h.rule("dicom.bulk-query"), []);
  h.feed(find(PATIENT_ROOT_FIND, { level: "PATIENT", keys: 2, matchingKeys: 0 }));
  const f = h.rule("dicom.bulk-query");
  t.is(f.length, 1);
  t.is(f[0]!.key, "universal");
  t.is(f[0]!.severity, "medium");
  t.regex(f[0]!.title, /universal matching at PATIENT level/);
  t.like(f[0]!.evidence, {
    queryRetrieveLevel: "PATIENT",
    keys: 2,
    matchingKeys: 0,
    callingAE: "WS1",
    calledAE: "PACS",
    aeTitles: ["WS1", "PACS"],
    counts: { universalQueries: 1 },
    firstSeen: "2026-11-25T08:00:05.000000Z",
  });
  t.is(f[0]!.device, h.inventory.idFor(ws));
  // From outside the internal networks it is high.
  const outside = ep("203.0.113.7", 40000);
  h.feed(find(STUDY_ROOT_FIND, { level: "study", keys: 0, matchingKeys: 0 }, outside));
  const ext = h.rule("dicom.bulk-query").find((x) => x.device === h.inventory.idFor(outside));
  t.is(ext?.severity, "high");
  t.like(ext?.evidence, { queryRetrieveLevel: "STUDY", external: true });
  // A bare observation (replayed from a record) carries no query and raises nothing new.
  const before = h.engine.findings().length;
  h.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: PATIENT_ROOT_FIND, messageId: 9 })));
  t.is(h.engine.findings().length, before);
});

test("the observation guard keeps a query's counts and a level-shaped level only", (t) => {
  const o = {
    ...dimse(ep("10.1.0.30", 50002), pacs(), 0, msg("C-FIND-RQ", { sopClassUid: PATIENT_ROOT_FIND })),
    query: { level: "CANARY^QUERY", keys: 2, matchingKeys: 0, value: "CANARY^QUERY" },
  } as unknown as Observation;
  const clean = guardObservation(o);
  t.deepEqual(clean.kind === "dimse" ? clean.query : undefined, { level: null, keys: 2, matchingKeys: 0 });
  t.false(JSON.stringify(clean).includes("CANARY"));
  const ok = guardObservation({ ...o, query: { level: "STUDY", keys: 1, matchingKeys: 1 } } as Observation);
  t.deepEqual(ok.kind === "dimse" ? ok.query : undefined, { level: "STUDY", keys: 1, matchingKeys: 1 });
  const none = guardObservation(dimse(ep("10.1.0.30", 50002), pacs(), 0, msg("C-ECHO-RQ")));
  t.false(none.kind === "dimse" && "query" in none, "absent stays absent");
});

test("dicom.bulk-query over IPv6: the evidence spells the flow as the association record does (brackets)", (t) => {
  const h = new Harness();
  const ws = ep("fd77::30", 50002);
  const archive = ep("fd77::10", 104);
  h.feed({
    ...dimse(ws, archive, 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND }), {
      calling: "WS1",
      called: "PACS",
    }),
    query: { level: "STUDY", keys: 3, matchingKeys: 0 },
  });
  h.feed(assoc(ws, archive, { calling: "WS1", called: "PACS", pcs: [pc(1, STUDY_ROOT_FIND)] }));
  const flows = (rule: string): string[] =>
    h.rule(rule).flatMap((f) => (f.evidence as { flows: string[] }).flows);
  t.deepEqual(flows("dicom.bulk-query"), ["[fd77::30]:50002-[fd77::10]:104"]);
  t.deepEqual(flows("dicom.cleartext"), flows("dicom.bulk-query"));
});
