import test from "ava";
import fc from "fast-check";
import * as b from "./builders.js";
import { RecordingConsumer } from "./harness.js";
import {
  MAX_ASSOCIATION_PDU,
  MAX_P_DATA_PDU,
  NEED_MORE,
  NOT_PLAUSIBLE,
  PduFramer,
  plausiblePduHeader,
  STRONG,
  WEAK,
  type PduSink,
} from "../../../agent/dicom/ul/framer.js";

class Sink implements PduSink {
  readonly pdus: string[] = [];
  readonly consumer = new RecordingConsumer();
  readonly anomalies: [string, string][] = [];
  synced_ = 0;
  notDicomCalls: boolean[] = [];
  answerNotDicom = true;

  pdu(type: number, buf: Buffer, start: number, end: number): void {
    this.pdus.push(`${type}:${buf.toString("hex", start, end)}`);
  }
  pdata(): RecordingConsumer {
    this.pdus.push("4");
    return this.consumer;
  }
  synced(): void {
    this.synced_++;
  }
  notDicom(atStart: boolean): boolean {
    this.notDicomCalls.push(atStart);
    return this.answerNotDicom;
  }
  anomaly(code: string, detail: string): void {
    this.anomalies.push([code, detail]);
  }
  codes(): string[] {
    return this.anomalies.map((a) => a[0]);
  }
}

function framer(atStart = true): { f: PduFramer; s: Sink; counters: { bytesCopied: number } } {
  const s = new Sink();
  const counters = { bytesCopied: 0 };
  return { f: new PduFramer(s, counters, atStart), s, counters };
}

function feedCuts(f: PduFramer, bytes: Buffer, cuts: number[]): void {
  let p = 0;
  for (const c of [...cuts].sort((x, y) => x - y)) {
    if (c <= p || c >= bytes.length) continue;
    const chunk = Buffer.from(bytes.subarray(p, c));
    f.data(chunk, 0, chunk.length, 0);
    chunk.fill(0x55);
    p = c;
  }
  const last = Buffer.from(bytes.subarray(p));
  f.data(last, 0, last.length, 0);
}

const stream = Buffer.concat([
  b.associateRq(),
  b.pdataTf([
    b.pdv(1, true, false, Buffer.from("abc")),
    b.pdv(1, true, true, Buffer.from("defgh")),
    b.pdv(1, false, false, Buffer.alloc(0)),
  ]),
  b.pdataTf([b.pdv(3, false, true, Buffer.alloc(40, 7))]),
  b.releaseRq(),
]);

test("PDVs stream to the consumer with their flags and values; association PDUs arrive whole", (t) => {
  const { f, s, counters } = framer();
  f.data(stream, 0, stream.length, 0);
  t.is(s.synced_, 1);
  t.deepEqual(
    s.pdus.map((p) => p.slice(0, 2)),
    ["1:", "4", "4", "5:"],
  );
  t.deepEqual(s.consumer.log, [
    "begin 1 C 3",
    "end 3",
    "begin 1 CL 5",
    "end 5",
    "begin 1 D 0",
    "end 0",
    "begin 3 DL 40",
    "end 40",
  ]);
  t.deepEqual(s.anomalies, []);
  t.is(counters.bytesCopied, 0);
});

test("every split offset and byte-at-a-time give the same PDUs and PDVs", (t) => {
  const ref = framer();
  ref.f.data(stream, 0, stream.length, 0);
  for (let k = 1; k < stream.length; k++) {
    const x = framer();
    feedCuts(x.f, stream, [k]);
    t.deepEqual(
      [x.s.pdus, x.s.consumer.pdvs, x.s.anomalies],
      [ref.s.pdus, ref.s.consumer.pdvs, ref.s.anomalies],
      `cut ${k}`,
    );
  }
  const one = framer();
  feedCuts(
    one.f,
    stream,
    Array.from({ length: stream.length }, (_, i) => i),
  );
  t.deepEqual(one.s.consumer.pdvs, ref.s.consumer.pdvs);
  t.deepEqual(one.s.pdus, ref.s.pdus);
});

test("PDV longer than the rest of the P-DATA-TF: anomaly, consumer reset, next PDU fine", (t) => {
  const { f, s } = framer();
  const bad = b.pdataTf([
    b.pdv(1, true, true, Buffer.from("abcd")),
    b.pdv(1, true, true, Buffer.from("xy"), 50),
  ]);
  const all = Buffer.concat([b.associateRq(), bad, b.pdataTf([b.pdv(1, true, true, Buffer.from("ok"))])]);
  f.data(all, 0, all.length, 0);
  t.deepEqual(s.codes(), ["ul.pdv-exceeds-pdu"]);
  t.deepEqual(s.consumer.log, ["begin 1 CL 4", "end 4", "reset framing-lost", "begin 1 CL 2", "end 2"]);
});

test("PDV item length below 2, a P-DATA-TF too short for a PDV, trailing bytes after PDVs", (t) => {
  const { f, s } = framer();
  const all = Buffer.concat([
    b.associateRq(),
    b.pdataTf([b.pdv(1, true, true, Buffer.alloc(0), 1)]),
    b.pdu(4, Buffer.alloc(0)),
    b.pdu(4, Buffer.from([0, 0, 0, 2])),
    b.pdataTf([b.pdv(1, true, true, Buffer.from("z")), Buffer.from([9, 9, 9])]),
    b.releaseRp(),
  ]);
  f.data(all, 0, all.length, 0);
  t.deepEqual(s.codes(), [
    "ul.pdv-too-short",
    "ul.invalid-pdu-length",
    "ul.invalid-pdu-length",
    "ul.pdv-exceeds-pdu",
  ]);
  t.is(s.pdus.at(-1)!.slice(0, 2), "6:");
});

test("reserved bits: PDU header byte, message control header, even presentation context ID", (t) => {
  const { f, s } = framer();
  const v = b.pdv(2, true, true, Buffer.from("q"));
  v[5] = 0x07;
  const all = Buffer.concat([
    b.associateRq(),
    b.pdu(4, v, { reserved: 1 }),
    b.pdu(5, Buffer.alloc(4), { reserved: 9 }),
  ]);
  f.data(all, 0, all.length, 0);
  t.deepEqual(s.codes(), [
    "ul.nonzero-reserved",
    "ul.nonzero-reserved",
    "ul.pc-id-invalid",
    "ul.nonzero-reserved",
  ]);
});

test("fixed-size PDUs with a wrong length are reported and still framed", (t) => {
  const { f, s } = framer();
  const all = Buffer.concat([b.associateRq(), b.pdu(5, Buffer.alloc(6)), b.releaseRp()]);
  f.data(all, 0, all.length, 0);
  t.deepEqual(s.codes(), ["ul.invalid-pdu-length"]);
  t.deepEqual(
    s.pdus.map((p) => p.slice(0, 2)),
    ["1:", "5:", "6:"],
  );
});

test("an association PDU above the cap is skipped without buffering", (t) => {
  const { f, s, counters } = framer();
  const head = b.pdu(1, Buffer.alloc(0), { length: MAX_ASSOCIATION_PDU + 10 });
  f.data(b.associateRq(), 0, b.associateRq().length, 0);
  f.data(head, 0, head.length, 0);
  const zeros = Buffer.alloc(64 * 1024);
  let left = MAX_ASSOCIATION_PDU + 10;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    f.data(zeros, 0, n, 0);
    left -= n;
  }
  const rp = b.releaseRp();
  f.data(rp, 0, rp.length, 0);
  t.deepEqual(s.codes(), ["ul.pdu-too-large"]);
  t.is(s.pdus.at(-1)!.slice(0, 2), "6:");
  t.is(counters.bytesCopied, 0);
});

test("an insane PDU length or unknown PDU type loses the framing: anomaly, then resync", (t) => {
  for (const bad of [
    b.pdu(4, Buffer.alloc(0), { length: MAX_P_DATA_PDU + 1 }),
    b.pdu(0x09, Buffer.alloc(4)),
  ]) {
    const { f, s } = framer();
    const all = Buffer.concat([b.associateRq(), bad, Buffer.alloc(100, 0xff), b.releaseRq()]);
    f.data(all, 0, all.length, 0);
    t.is(s.codes()[0], bad[0] === 4 ? "ul.invalid-pdu-length" : "ul.unknown-pdu-type");
    t.is(s.codes()[1], "ul.resync");
    t.is(s.pdus.at(-1)!.slice(0, 2), "5:");
  }
});

test("detection at stream start: not a PDU header → notDicom(true) and the direction is dead", (t) => {
  const { f, s } = framer(true);
  const http = Buffer.from("GET / HTTP/1.1\r\n\r\n");
  f.data(http, 0, 1, 0); // one byte: "G" is no PDU type, decided at once
  t.deepEqual(s.notDicomCalls, [true]);
  t.true(f.isDead);
  f.data(b.associateRq(), 0, 80, 0);
  t.deepEqual(s.pdus, []);
  // A type byte and nothing else: wait for more before judging.
  const w = framer(true);
  w.f.data(Buffer.from([1]), 0, 1, 0);
  t.deepEqual(w.s.notDicomCalls, []);
  w.f.data(Buffer.from([0, 0, 0, 0, 0x44, 0, 1]), 0, 7, 0);
  t.is(w.s.synced_, 1);
});

test("detection mid-stream: a weak P-DATA candidate is confirmed by the next header in the chain", (t) => {
  const { f, s } = framer(false);
  // Two PDVs: the first alone does not reach the PDU end, so the arithmetic cannot confirm it.
  const p1 = b.pdataTf([
    b.pdv(1, false, false, Buffer.alloc(3000, 0x20)),
    b.pdv(1, false, false, Buffer.alloc(4, 0x20)),
  ]);
  const p2 = b.pdataTf([b.pdv(1, false, true, Buffer.alloc(10, 0x21))]);
  const tail = Buffer.concat([Buffer.alloc(37, 0x80), p1, p2]);
  // Chunks end inside p1, so p1 alone is a weak candidate; p2's header where p1's length points confirms.
  feedCuts(f, tail, [500, 1500]);
  t.is(s.synced_, 1);
  t.deepEqual(s.consumer.log, ["begin 1 DL 10", "end 10"]);
  t.deepEqual(s.anomalies, []);
  t.deepEqual(plausiblePduHeader(tail, 37, 500), WEAK);
  t.deepEqual(plausiblePduHeader(tail, 37, tail.length), STRONG);
  t.deepEqual(plausiblePduHeader(tail, 37, 45), NEED_MORE);
  t.deepEqual(plausiblePduHeader(tail, 38, tail.length), NOT_PLAUSIBLE);
});

test("the detection budget gives up on a stream without PDU headers", (t) => {
  const { f, s } = framer(false);
  const junk = Buffer.alloc(100 * 1024, 0x41);
  f.data(junk, 0, junk.length, 0);
  t.deepEqual(s.notDicomCalls, [false]);
  t.true(f.isDead);
});

test("gaps: inside a PDV (framing kept), exactly at a PDU end (kept), beyond (resync)", (t) => {
  const { f, s } = framer();
  const rq = b.associateRq();
  f.data(rq, 0, rq.length, 0);
  const p = b.pdataTf([b.pdv(1, false, true, Buffer.alloc(100, 1))]);
  const rp = b.releaseRp();
  f.data(p, 0, 30, 0);
  f.gap(20, 0);
  f.data(p, 50, p.length, 0); // rest of the PDV, skipped, then a header
  f.data(rp, 0, rp.length, 0);
  f.data(p, 0, 30, 0);
  f.gap(p.length - 30, 0); // ends exactly at the PDU end
  f.data(rp, 0, rp.length, 0);
  t.deepEqual(s.anomalies, []);
  t.deepEqual(
    s.pdus.map((x) => x.slice(0, 2)),
    ["1:", "4", "6:", "4", "6:"],
  );
  t.deepEqual(s.consumer.log, ["begin 1 DL 100", "reset gap", "begin 1 DL 100", "reset gap"]);
  f.gap(5, 0); // between PDUs: unknown what was lost
  const junk = Buffer.from([0x99, 0x98, 0x97]);
  f.data(junk, 0, junk.length, 0);
  f.data(rp, 0, rp.length, 0);
  t.deepEqual(s.anomalies, [["ul.resync", "resynchronised on a PDU header after skipping 3 bytes"]]);
});

test("random and mutated streams never throw; copies and buffering stay bounded", (t) => {
  const base = Buffer.concat([stream, b.associateAc(), b.associateRj(1, 1, 1), b.abort(0, 0)]);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 20 }),
      fc.uniqueArray(fc.integer({ min: 1, max: base.length - 1 }), { maxLength: 30 }),
      fc.boolean(),
      (mutations, cuts, atStart) => {
        const bytes = Buffer.from(base);
        for (const [at, v] of mutations) bytes[at] = v;
        const { f, s, counters } = framer(atStart);
        feedCuts(f, bytes, cuts);
        f.gap(17, 0);
        feedCuts(f, bytes, cuts);
        // Association PDUs straddling chunks are copied once; plus a few header bytes per chunk.
        return counters.bytesCopied <= 2 * bytes.length + 64 * (cuts.length + 2) && s.anomalies.length < 2000;
      },
    ),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, atStart) => {
      const { f } = framer(atStart);
      const buf = Buffer.from(bytes);
      f.data(buf, 0, buf.length, 0);
      f.gap(3, 0);
      f.data(buf, 0, buf.length, 0);
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});
