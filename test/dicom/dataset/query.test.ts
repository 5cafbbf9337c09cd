/**
 * The walker's query mode: the shape of a C-FIND-RQ Identifier (PS3.4 C.4.1.1.3, C.6) - its level and how
 * many keys restrict the match - without ever keeping a key's value. Canary: "CANARY^QUERY".
 */
import test from "ava";
import fc from "fast-check";
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import {
  DatasetWalker,
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  IMPLICIT_VR_LITTLE_ENDIAN,
} from "../../../agent/dicom/dataset/walker.js";
import type { QueryInfo } from "../../../agent/dicom/types.js";
import { deflateRawSync } from "node:zlib";
import { dataset, splitAt, type DsElement, type Encoding } from "../dimse/builders.js";
import { at } from "../../helpers/flow.js";

const TS: Record<Encoding, string> = {
  implicit: IMPLICIT_VR_LITTLE_ENDIAN,
  "explicit-le": EXPLICIT_VR_LITTLE_ENDIAN,
  "explicit-be": EXPLICIT_VR_BIG_ENDIAN,
};
const ENCODINGS: Encoding[] = ["implicit", "explicit-le", "explicit-be"];
const CANARY = "CANARY^QUERY";
const CANARY_ID = "CANARY-PID-77";

const charset: DsElement = { tag: 0x00080005, vr: "CS", value: "ISO_IR 100" };
const level = (l: string): DsElement => ({ tag: 0x00080052, vr: "CS", value: l });
const patientName = (v: string): DsElement => ({ tag: 0x00100010, vr: "PN", value: v });
const patientId = (v: string): DsElement => ({ tag: 0x00100020, vr: "LO", value: v });
const studyUid = (v: string): DsElement => ({ tag: 0x0020000d, vr: "UI", value: v });

/** findscu -P -k QueryRetrieveLevel=PATIENT -k PatientName -k PatientID="*" (with a character set). */
const universal = (): DsElement[] => [charset, level("PATIENT"), patientName(""), patientId("*")];
/** findscu -S -k QueryRetrieveLevel=STUDY -k PatientName=CANARY^QUERY -k StudyInstanceUID. */
const specific = (): DsElement[] => [
  level("STUDY"),
  patientName(CANARY),
  patientId(""),
  studyUid(""),
  { tag: 0x00200010, vr: "SH", value: "" },
];

interface Walked {
  query: QueryInfo | null;
  anomalies: AnomalyCounter;
  counters: Counters;
  walker: DatasetWalker;
  attrs: unknown;
}

function walkQuery(pieces: Buffer[], ts: string | null, walker?: DatasetWalker): Walked {
  const anomalies = new AnomalyCounter();
  const counters: Counters = { bytesCopied: 0 };
  const w = walker ?? new DatasetWalker(anomalies, counters);
  w.begin(ts, at("10.0.0.1:1000-10.0.0.2:104"), true);
  for (const p of pieces) w.push(p, 0, p.length);
  const attrs = w.end();
  return { query: w.queryInfo(), anomalies, counters, walker: w, attrs };
}

/**
 * Whether any Buffer or value the walker holds after the walk has a piece (3 bytes or more) of a canary:
 * header carries hold header bytes only, the value buffer only the level.
 */
function keepsCanary(w: DatasetWalker): boolean {
  const parts: string[] = [];
  for (const v of Object.values(w as unknown as Record<string, unknown>)) {
    if (Buffer.isBuffer(v)) parts.push(v.toString("latin1"));
    else parts.push(JSON.stringify(v) ?? "");
  }
  const held = parts.join("|");
  for (const c of [CANARY, CANARY_ID])
    for (let i = 0; i + 3 <= c.length; i++) if (held.includes(c.slice(i, i + 3))) return true;
  return false;
}

for (const enc of ENCODINGS) {
  test(`universal patient-level query: keys counted, none matching (${enc})`, (t) => {
    const r = walkQuery([dataset(universal(), enc)], TS[enc]);
    t.deepEqual(r.query, { level: "PATIENT", keys: 2, matchingKeys: 0 });
    t.is(r.attrs, null, "an Identifier names no equipment");
    t.is(r.anomalies.total, 0);
    t.is(r.counters.bytesCopied, 0);
  });

  test(`a specific key makes the query matching, its value is never kept (${enc})`, (t) => {
    const r = walkQuery([dataset(specific(), enc)], TS[enc]);
    t.deepEqual(r.query, { level: "STUDY", keys: 4, matchingKeys: 1 });
    t.false(JSON.stringify(r.query).includes("CANARY"));
    t.false(keepsCanary(r.walker));
  });

  test(`split at every offset gives the same query info and keeps no value (${enc})`, (t) => {
    for (const [els, want] of [
      [universal(), { level: "PATIENT", keys: 2, matchingKeys: 0 }],
      [specific(), { level: "STUDY", keys: 4, matchingKeys: 1 }],
    ] as const) {
      const buf = dataset([...els], enc);
      const anomalies = new AnomalyCounter();
      const counters: Counters = { bytesCopied: 0 };
      const w = new DatasetWalker(anomalies, counters);
      for (let i = 1; i < buf.length; i++) {
        for (const cuts of [[i], [i, i + 1, i + 3]]) {
          const r = walkQuery(splitAt(buf, cuts), TS[enc], w);
          t.deepEqual(r.query, want, `split at ${cuts.join(",")}`);
          t.false(keepsCanary(w), `split at ${cuts.join(",")}`);
        }
      }
      t.is(anomalies.total, 0);
      const copiedPerWalk = counters.bytesCopied / (2 * (buf.length - 1));
      // Only header carries (at most 12 bytes) and the level (at most 16) are ever copied.
      t.true(copiedPerWalk <= 28, `copied ${copiedPerWalk} per walk`);
    }
  });

  test(`byte-by-byte: only header bytes and the level are copied (${enc})`, (t) => {
    const buf = dataset(specific(), enc);
    const pieces: Buffer[] = [];
    for (let i = 0; i < buf.length; i++) pieces.push(buf.subarray(i, i + 1));
    const r = walkQuery(pieces, TS[enc]);
    t.deepEqual(r.query, { level: "STUDY", keys: 4, matchingKeys: 1 });
    // Five 8-byte element headers carried byte by byte, and the level "STUDY " collected: nothing else.
    t.is(r.counters.bytesCopied, 5 * 8 + 6);
    t.false(keepsCanary(r.walker));
  });

  test(`transfer syntax unknown: detected, same info (${enc})`, (t) => {
    t.deepEqual(walkQuery([dataset(universal(), enc)], null).query, {
      level: "PATIENT",
      keys: 2,
      matchingKeys: 0,
    });
  });

  test(`sequence keys: empty items are universal, anything inside matches (${enc})`, (t) => {
    const seq = (items: DsElement[][], undefinedItems: boolean): DsElement => ({
      tag: 0x00081110, // Referenced Study Sequence
      vr: "SQ",
      undefinedLength: true,
      undefinedItems,
      items,
    });
    const base = [level("STUDY"), studyUid("")];
    const q = (s: DsElement): QueryInfo | null =>
      walkQuery([dataset([...base.slice(0, 1), s, ...base.slice(1)], enc)], TS[enc]).query;
    t.deepEqual(q(seq([[]], true)), { level: "STUDY", keys: 2, matchingKeys: 0 });
    t.deepEqual(q(seq([[{ tag: 0x00081150, vr: "UI", value: "" }]], true)), {
      level: "STUDY",
      keys: 2,
      matchingKeys: 0,
    });
    t.deepEqual(q(seq([[{ tag: 0x00081150, vr: "UI", value: "1.2.3" }]], true)), {
      level: "STUDY",
      keys: 2,
      matchingKeys: 1,
    });
    // A defined-length item is looked at as bytes: its element headers make it "matching" (never a
    // false universal), while an empty sequence of defined length is empty.
    t.is(q(seq([[{ tag: 0x00081150, vr: "UI", value: "" }]], false))?.matchingKeys, 1);
    t.is(q({ tag: 0x00081110, vr: "SQ", items: [] })?.matchingKeys, 0);
  });
}

test("wildcards and padding are universal; any other byte restricts (PS3.4 C.2.2.2.4)", (t) => {
  const m = (v: string): number | undefined =>
    walkQuery([dataset([level("PATIENT"), patientName(v)], "explicit-le")], EXPLICIT_VR_LITTLE_ENDIAN).query
      ?.matchingKeys;
  for (const v of ["", "*", "**", "?", "????", "*\\*", " * "]) t.is(m(v), 0, JSON.stringify(v));
  for (const v of ["CANARY*", "*Q*", "A", "-", "0"]) t.is(m(v), 1, JSON.stringify(v));
});

test("non-keys are not counted: group length, character set, Q/R view, timezone, private creators", (t) => {
  const els: DsElement[] = [
    { tag: 0x00080000, vr: "UL", value: Buffer.from([4, 0, 0, 0]) },
    charset,
    level("SERIES"),
    { tag: 0x00080053, vr: "CS", value: "CLASSIC" },
    { tag: 0x00080201, vr: "SH", value: "+0100" },
    { tag: 0x00090010, vr: "LO", value: "VENDOR" }, // private creator: not a key
    { tag: 0x00091010, vr: "LO", value: "" }, // private data element: a key
    { tag: 0x0020000e, vr: "UI", value: "" },
  ];
  const r = walkQuery([dataset(els, "explicit-le")], EXPLICIT_VR_LITTLE_ENDIAN);
  t.deepEqual(r.query, { level: "SERIES", keys: 2, matchingKeys: 0 });
});

test("no level, a long level, an empty Identifier", (t) => {
  t.deepEqual(walkQuery([dataset([patientId("")], "implicit")], IMPLICIT_VR_LITTLE_ENDIAN).query, {
    level: null,
    keys: 1,
    matchingKeys: 0,
  });
  const long = walkQuery([dataset([level("PATIENT".repeat(10))], "explicit-le")], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(long.query?.level, "PATIENTPATIENTPA", "capped at 16 bytes");
  t.deepEqual(walkQuery([Buffer.alloc(0)], IMPLICIT_VR_LITTLE_ENDIAN).query, {
    level: null,
    keys: 0,
    matchingKeys: 0,
  });
});

test("deflated Identifier: inflated and counted", (t) => {
  const raw = dataset(universal(), "explicit-le");
  const r = walkQuery([deflateRawSync(raw)], DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN);
  t.deepEqual(r.query, { level: "PATIENT", keys: 2, matchingKeys: 0 });
});

test("cut, malformed, capped or abandoned Identifiers give no query info (partial counts could lie)", (t) => {
  const buf = dataset(specific(), "explicit-le");
  // Cut inside the PatientName value.
  const cut = walkQuery([buf.subarray(0, 30)], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(cut.query, null);
  t.deepEqual(
    cut.anomalies.records().map((a) => a.code),
    ["dataset.truncated"],
  );
  t.false(JSON.stringify(cut.anomalies.records()).includes("CANARY"));
  // Tags out of order.
  const swapped = dataset([patientName(""), level("PATIENT")], "explicit-le");
  t.is(walkQuery([swapped], EXPLICIT_VR_LITTLE_ENDIAN).query, null);
  // The examine cap ends the walk quietly, and the counts with it.
  const many: DsElement[] = [level("PATIENT")];
  for (let i = 0; i < 40; i++) many.push({ tag: 0x00100100 + i * 2, vr: "LO", value: "*" });
  const anomalies = new AnomalyCounter();
  const capped = new DatasetWalker(anomalies, { bytesCopied: 0 }, { examineCap: 100 });
  t.is(walkQuery([dataset(many, "explicit-le")], EXPLICIT_VR_LITTLE_ENDIAN, capped).query, null);
  t.is(anomalies.total, 0);
  // Abandoned (a gap, an interleaved command).
  const w = new DatasetWalker(new AnomalyCounter(), { bytesCopied: 0 });
  w.begin(EXPLICIT_VR_LITTLE_ENDIAN, null, true);
  w.push(buf, 0, buf.length);
  w.abandon();
  t.is(w.queryInfo(), null);
  // The walker reused for an equipment walk reports no query.
  w.begin(EXPLICIT_VR_LITTLE_ENDIAN, null);
  w.push(buf, 0, buf.length);
  w.end();
  t.is(w.queryInfo(), null);
});

test("random and mutated Identifiers never throw, never keep the canary outside the level", (t) => {
  const base = dataset([...specific(), { tag: 0x00100030, vr: "DA", value: "19700101" }], "explicit-le");
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: base.length - 1 }), { maxLength: 6 }),
      fc.constantFrom<string | null>(EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, null),
      (flips, cuts, ts) => {
        const b = Buffer.from(base);
        for (const [i, v] of flips) b[i] = v;
        const r = walkQuery(splitAt(b, cuts), ts);
        const q = r.query;
        if (q !== null && (q.matchingKeys > q.keys || (q.level !== null && q.level.length > 16)))
          return false;
        return !JSON.stringify([q, r.anomalies.records()]).includes("CANARY");
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test("the canary patient ID of the lab never reaches query info", (t) => {
  const r = walkQuery(
    [dataset([level("STUDY"), patientId(CANARY_ID), studyUid("")], "implicit")],
    IMPLICIT_VR_LITTLE_ENDIAN,
  );
  t.deepEqual(r.query, { level: "STUDY", keys: 2, matchingKeys: 1 });
  t.false(keepsCanary(r.walker));
});
