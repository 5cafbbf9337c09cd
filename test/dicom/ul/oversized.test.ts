/**
 * Issue 9: a first PDU declaring 4 GB (an A-ASSOCIATE-RQ or a P-DATA-TF header with length 0xFFFFFFF0)
 * made the whole flow "not DICOM". When the PDU type and reserved byte are right and the type's own fields
 * look right (framer.ts oversizedPduHeader), the length is an anomaly of a DICOM stream: the framer
 * resynchronises as it does mid-stream, and what can still be read is read.
 */
import test from "ava";
import fc from "fast-check";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import {
  MAX_ASSOCIATION_PDU,
  MAX_P_DATA_PDU,
  NEED_MORE,
  NOT_PLAUSIBLE,
  oversizedPduHeader,
  plausiblePduHeader,
  STRONG,
} from "../../../agent/dicom/ul/framer.js";
import * as b from "./builders.js";
import { T0, type Turn } from "./conversation.js";
import { connectionInfo, Harness } from "./harness.js";

const HUGE = 0xfffffff0;

/** A copy of `pdu` whose 4-byte PDU-length says `length`. */
function lying(pdu: Buffer, length = HUGE): Buffer {
  const c = Buffer.from(pdu);
  c.writeUInt32BE(length, 2);
  return c;
}

const ECHO = b.pdataTf([b.pdv(1, true, true, b.cEchoRq(1))]);
const ECHO_RSP = b.pdataTf([b.pdv(1, true, true, b.cEchoRsp(1))]);

/** The requestor's first PDU replaced by `first`; then AC, C-ECHO and its response, release. */
function conversation(first: Buffer): Turn[] {
  return [
    { dir: 0, bytes: first, ts: T0 },
    { dir: 1, bytes: b.associateAc({ callingAE: "CT_SCANNER", calledAE: "PACS" }), ts: T0 + 1 },
    { dir: 0, bytes: ECHO, ts: T0 + 2 },
    { dir: 1, bytes: ECHO_RSP, ts: T0 + 3 },
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 4 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 5 },
  ];
}

function run(turns: Turn[], cuts: number[] = []): Harness {
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  let base = 0;
  for (const t of turns) {
    let p = 0;
    for (const c of [...cuts].sort((x, y) => x - y)) {
      if (c <= base + p || c >= base + t.bytes.length) continue;
      h.conn.data(t.dir, Buffer.from(t.bytes.subarray(p, c - base)), 0, c - base - p, t.ts);
      p = c - base;
    }
    const rest = Buffer.from(t.bytes.subarray(p));
    if (rest.length > 0) h.conn.data(t.dir, rest, 0, rest.length, t.ts);
    base += t.bytes.length;
  }
  h.conn.close("fin", T0 + 10);
  return h;
}

test("oversizedPduHeader: only an absurd length on an otherwise right header", (t) => {
  const rq = b.associateRq();
  const pd = ECHO;
  t.is(oversizedPduHeader(lying(rq), 0, 74), STRONG);
  t.is(oversizedPduHeader(lying(rq, MAX_ASSOCIATION_PDU + 1), 0, 74), STRONG);
  t.is(oversizedPduHeader(rq, 0, rq.length), NOT_PLAUSIBLE); // a sane length is not this test's business
  t.is(oversizedPduHeader(lying(pd), 0, pd.length), STRONG);
  t.is(oversizedPduHeader(lying(pd, MAX_P_DATA_PDU), 0, pd.length), NOT_PLAUSIBLE);
  t.is(oversizedPduHeader(lying(b.associateAc()), 0, 74), STRONG);
  t.is(oversizedPduHeader(lying(b.abort(2, 1)), 0, 10), STRONG);
  t.is(oversizedPduHeader(lying(b.associateRj(1, 1, 7)), 0, 10), STRONG);
  // Release PDUs' bodies are all zero: not enough to call a stream DICOM.
  t.is(oversizedPduHeader(lying(b.releaseRq()), 0, 10), NOT_PLAUSIBLE);
  // Wrong protocol version, reserved byte, PDV header, abort source: not plausible.
  const v2 = lying(rq);
  v2.writeUInt16BE(2, 6);
  t.is(oversizedPduHeader(v2, 0, 74), NOT_PLAUSIBLE);
  t.is(oversizedPduHeader(lying(b.pdu(1, rq.subarray(6), { reserved: 1 })), 0, 74), NOT_PLAUSIBLE);
  const evenPc = lying(pd);
  evenPc[10] = 2;
  t.is(oversizedPduHeader(evenPc, 0, pd.length), NOT_PLAUSIBLE);
  t.is(oversizedPduHeader(lying(b.abort(1, 0)), 0, 10), NOT_PLAUSIBLE);
  // Too few bytes to decide: NEED_MORE, never a guess.
  for (let n = 1; n < 12; n++) {
    const v = oversizedPduHeader(lying(pd), 0, n);
    t.true(n >= 2 && lying(pd)[1] !== 0 ? v === NOT_PLAUSIBLE : v === NEED_MORE, `P-DATA-TF, ${n} bytes`);
  }
  t.is(oversizedPduHeader(lying(rq), 0, 7), NEED_MORE);
  t.is(oversizedPduHeader(Buffer.from("GET / HTTP/1.1"), 0, 14), NOT_PLAUSIBLE);
});

test("a first A-ASSOCIATE-RQ declaring 4 GB: an anomaly, not 'not DICOM'; the association carries on from the AC", (t) => {
  const h = run(conversation(lying(b.associateRq({ callingAE: "CT_SCANNER", calledAE: "PACS" }))));
  t.true(h.conn.isDicom);
  t.false(h.conn.isNotDicom);
  t.is(h.stats.dicomFlows, 1);
  t.true(h.codes().includes("ul.invalid-pdu-length"));
  t.false(h.codes().includes("ul.not-dicom-on-dicom-port"));
  const [a, ...more] = h.associations();
  t.is(more.length, 0);
  const r = a!.record;
  // The RQ is lost (its framing was), the AC echoes the AE titles (PS3.8 §9.3.3).
  t.true(a!.midStream);
  t.is(r.callingAE, "CT_SCANNER");
  t.is(r.calledAE, "PACS");
  t.is(r.outcome, "accepted");
  t.true(r.released);
  t.deepEqual(
    r.messages.map((m) => m.command),
    ["C-ECHO-RQ", "C-ECHO-RSP"],
  );
  const row = h.anomalies.records().find((x) => x.code === "ul.invalid-pdu-length")!;
  t.regex(row.detail, /^A-ASSOCIATE-RQ length 4294967280 is beyond any sane PDU/);
});

test("a first P-DATA-TF declaring 4 GB (after the RQ was missed): DICOM, and the next PDUs are read", (t) => {
  const turns: Turn[] = [
    { dir: 0, bytes: Buffer.concat([lying(ECHO), b.pdataTf([b.pdv(1, true, true, b.cEchoRq(2))])]), ts: T0 },
    { dir: 1, bytes: ECHO_RSP, ts: T0 + 1 },
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 2 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 3 },
  ];
  const h = run(turns);
  t.true(h.conn.isDicom);
  t.true(h.codes().includes("ul.invalid-pdu-length"));
  const [a] = h.associations();
  t.deepEqual(
    a!.record.messages.map((m) => [m.command, m.messageId ?? m.messageIdBeingRespondedTo]),
    [
      ["C-ECHO-RQ", 2],
      ["C-ECHO-RSP", 1],
    ],
  );
  t.true(a!.record.released);
});

test("an oversized but sane-looking first A-ASSOCIATE-RQ (above the association cap): skipped, not 'not DICOM'", (t) => {
  const rq = b.associateRq();
  const h = run(conversation(lying(rq, MAX_ASSOCIATION_PDU + 100)));
  t.true(h.conn.isDicom);
  t.true(h.codes().includes("ul.pdu-too-large"));
  t.is(h.associations().length, 1);
});

test("a first header that is wrong in more than its length stays 'not DICOM'", (t) => {
  const v2 = lying(b.associateRq());
  v2.writeUInt16BE(2, 6);
  for (const first of [v2, lying(b.releaseRq()), Buffer.from("\x01\x00\xff\xff\xff\xf0garbage-garbage")]) {
    const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
    h.feed(0, first, T0);
    h.feed(1, Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"), T0 + 1);
    h.conn.close("fin", T0 + 2);
    t.true(h.conn.isNotDicom, first.subarray(0, 8).toString("hex"));
    t.is(h.associations().length, 0);
    t.deepEqual(h.codes(), ["ul.not-dicom-on-dicom-port"]);
  }
});

test("a 4 GB first PDU: every cut of the conversation gives the same records", (t) => {
  for (const first of [lying(b.associateRq({ callingAE: "CT_SCANNER", calledAE: "PACS" })), lying(ECHO)]) {
    const turns = conversation(first);
    const total = turns.reduce((n, x) => n + x.bytes.length, 0);
    const view = (h: Harness): string => JSON.stringify([h.observations, h.anomalies.records(), h.stats]);
    const expected = view(run(turns));
    for (let k = 1; k < total; k++) {
      const v = view(run(turns, [k]));
      if (v !== expected) {
        t.is(v, expected, `cut at ${k}`);
        return;
      }
    }
    // Single-byte chunks, too.
    t.is(
      view(
        run(
          turns,
          Array.from({ length: total }, (_, i) => i + 1),
        ),
      ),
      expected,
    );
  }
});

test("random first PDU headers with absurd lengths and random bodies never throw and stay bounded", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: MAX_ASSOCIATION_PDU + 1, max: 0xffffffff }),
      fc.uint8Array({ maxLength: 200 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { maxLength: 5 }),
      (type, length, body, cuts) => {
        const first = b.pdu(type, Buffer.from(body), { length });
        const h = run(conversation(first), cuts);
        // Either judged DICOM (and the acceptor's side read) or not DICOM; never both, never a throw.
        if (h.conn.isDicom === h.conn.isNotDicom) return false;
        // Decided on its own header when it has 12 bytes; shorter, the next PDU's bytes complete it.
        const verdict = oversizedPduHeader(first, 0, first.length);
        if (verdict === STRONG && !h.conn.isDicom) return false;
        const decided = first.length >= 12 && plausiblePduHeader(first, 0, first.length) === NOT_PLAUSIBLE;
        if (decided && verdict === NOT_PLAUSIBLE && !h.conn.isNotDicom) return false;
        return h.associations().length <= 1 && h.anomalies.records().length < 20;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
