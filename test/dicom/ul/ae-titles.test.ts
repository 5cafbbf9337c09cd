/**
 * Issue 9: AE titles as real modalities send them (blank, lower case, control characters, trailing NULs
 * instead of spaces, leading spaces) are decoded leniently (padding trimmed, control characters shown as
 * "?") and flagged with an anomaly, never a reason to drop or mis-decode the association.
 * PS3.8 §9.3.2 Table 9-11 (16 bytes, space padded, leading/trailing spaces not significant), PS3.5 §6.2 AE.
 */
import test from "ava";
import fc from "fast-check";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import { decodeAeTitle } from "../../../agent/dicom/ul/pdu.js";
import * as b from "./builders.js";
import { T0, type Turn } from "./conversation.js";
import { connectionInfo, Harness } from "./harness.js";

/** A 16-byte AE field given byte for byte (no padding added). */
function field(bytes: number[] | string): string {
  const buf = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : Buffer.from(bytes);
  if (buf.length !== 16) throw new Error(`AE field of ${buf.length} bytes`);
  return buf.toString("latin1");
}

/** RQ with the given calling AE field, AC echoing it, C-ECHO and its response, release. */
function conversation(callingField: string, calledField = "PACS            "): Turn[] {
  const rq = b.associateRq({ callingAE: callingField, calledAE: calledField });
  const ac = b.associateAc({ callingAE: callingField, calledAE: calledField });
  return [
    { dir: 0, bytes: rq, ts: T0 },
    { dir: 1, bytes: ac, ts: T0 + 1 },
    { dir: 0, bytes: b.pdataTf([b.pdv(1, true, true, b.cEchoRq(1))]), ts: T0 + 2 },
    { dir: 1, bytes: b.pdataTf([b.pdv(1, true, true, b.cEchoRsp(1))]), ts: T0 + 3 },
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 4 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 5 },
  ];
}

function run(turns: Turn[], cut = -1): Harness {
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  let base = 0;
  for (const t of turns) {
    if (cut > base && cut < base + t.bytes.length) {
      h.feed(t.dir, Buffer.from(t.bytes.subarray(0, cut - base)), t.ts);
      h.feed(t.dir, Buffer.from(t.bytes.subarray(cut - base)), t.ts);
    } else h.feed(t.dir, t.bytes, t.ts);
    base += t.bytes.length;
  }
  h.conn.close("fin", T0 + 10);
  return h;
}

const CASES: [string, string, string | null, string[]][] = [
  ["space padded (the standard)", "CT_SCANNER      ", "CT_SCANNER", []],
  ["blank", " ".repeat(16), null, ["ul.ae-title-blank"]],
  ["all NULs", "\0".repeat(16), null, ["ul.ae-title-blank"]],
  ["lower case", "ct_scanner      ", "ct_scanner", ["ul.ae-title-lower-case"]],
  ["control characters", "CT\x01SCAN\x1b        ", "CT?SCAN?", ["ul.ae-title-invalid"]],
  ["trailing NULs instead of spaces", "CT_SCANNER\0\0\0\0\0\0", "CT_SCANNER", ["ul.ae-title-nul-padded"]],
  ["NULs and spaces mixed at the end", "CT_SCANNER \0 \0\0\0", "CT_SCANNER", ["ul.ae-title-nul-padded"]],
  ["leading spaces", "   CT_SCANNER   ", "CT_SCANNER", ["ul.ae-title-leading-spaces"]],
  [
    "a NUL inside",
    "CT\0SCANNER\0\0\0\0\0\0",
    "CT?SCANNER",
    ["ul.ae-title-invalid", "ul.ae-title-nul-padded"],
  ],
  ["bytes outside ISO 646", "CT\xe9\xff            ", "CT??", ["ul.ae-title-invalid"]],
  ["backslash", "CT\\1            ", "CT?1", ["ul.ae-title-invalid"]],
  [
    "all at once",
    " mr\x7f1\0\0\0\0\0\0\0\0\0\0\0",
    "mr?1",
    ["ul.ae-title-invalid", "ul.ae-title-nul-padded", "ul.ae-title-leading-spaces", "ul.ae-title-lower-case"],
  ],
];

for (const [name, raw, expected, codes] of CASES) {
  test(`calling AE ${name}: decoded as ${JSON.stringify(expected)}, flagged, association kept`, (t) => {
    const h = run(conversation(field(raw)));
    const [a, ...more] = h.associations();
    t.is(more.length, 0);
    const r = a!.record;
    t.is(r.callingAE, expected);
    t.is(r.calledAE, "PACS");
    t.is(r.outcome, "accepted");
    t.true(r.released);
    t.deepEqual(
      r.messages.map((m) => m.command),
      ["C-ECHO-RQ", "C-ECHO-RSP"],
    );
    // Reported once, from the A-ASSOCIATE-RQ; the AC's echo of the same field is not reported again.
    t.deepEqual(h.codes(), codes);
    for (const row of h.anomalies.records()) t.is(row.count, 1);
    const eq = h.observations.find((o) => o.kind === "dimse");
    t.is(eq?.kind === "dimse" ? eq.callingAE : undefined, expected);
  });
}

test("the called AE title is decoded by the same rules", (t) => {
  const h = run(conversation(field("CT_SCANNER      "), field("pacs\0\0\0\0\0\0\0\0\0\0\0\0")));
  t.is(h.associations()[0]!.record.calledAE, "pacs");
  t.deepEqual(h.codes(), ["ul.ae-title-nul-padded", "ul.ae-title-lower-case"]);
  const detail = h.anomalies.records().map((r) => r.detail);
  t.true(detail.every((d) => d.startsWith("called AE title")));
});

test("lenient AE titles: every cut of the association gives the same records", (t) => {
  const turns = conversation(field(" mr\x7f1\0\0\0\0\0\0\0\0\0\0\0"));
  const total = turns.reduce((n, x) => n + x.bytes.length, 0);
  const view = (h: Harness): string => JSON.stringify([h.observations, h.anomalies.records(), h.stats]);
  const expected = view(run(turns));
  for (let k = 1; k < total; k++) {
    const v = view(run(turns, k));
    if (v !== expected) {
      t.is(v, expected, `cut at ${k}`);
      return;
    }
  }
  t.pass();
});

/** The lenient decoding, written out: trim trailing NUL/space and leading space, anything unprintable "?". */
function reference(f: Buffer): string {
  let e = 16;
  while (e > 0 && (f[e - 1] === 0 || f[e - 1] === 0x20)) e--;
  let s = 0;
  while (s < e && f[s] === 0x20) s++;
  let out = "";
  for (let i = s; i < e; i++) {
    const c = f[i]!;
    out += c < 0x20 || c > 0x7e || c === 0x5c ? "?" : String.fromCharCode(c);
  }
  return out;
}

test("any 16 bytes of AE title: decoded as the reference says, never a control byte out, association kept", (t) => {
  // Bytes drawn mostly from what modalities send (letters, digits, space, NUL) plus anything.
  const byte = fc.oneof(
    fc.constantFrom(0x00, 0x20, 0x41, 0x61, 0x31, 0x5f, 0x5c, 0x7f, 0xe9),
    fc.integer({ min: 0, max: 255 }),
  );
  fc.assert(
    fc.property(fc.array(byte, { minLength: 16, maxLength: 16 }), (bytes) => {
      const f = Buffer.from(bytes);
      const issues: string[] = [];
      const title = decodeAeTitle(f, 0, { issue: (c) => issues.push(c) }, "calling");
      if (title !== reference(f)) return false;
      for (let i = 0; i < title.length; i++) {
        const c = title.charCodeAt(i);
        if (c < 0x20 || c > 0x7e) return false;
      }
      if ((title === "") !== issues.includes("ul.ae-title-blank")) return false;
      const h = run(conversation(f.toString("latin1")));
      const as = h.associations();
      return as.length === 1 && as[0]!.record.callingAE === (title === "" ? null : title);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
