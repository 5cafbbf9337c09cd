/**
 * Issue 9: the cost of hostile traffic. A P-DATA-TF flood of tiny PDUs without a command is one
 * dimse.data-without-command per PDU on one flow; counting a repeat must be O(1) and build nothing: the
 * first report returns an AnomalyTally (util/anomaly.ts), repeats are hit() on it, and the counts stay
 * exact. (scripts/bench/floods.ts measures the throughput.)
 */
import test from "ava";
import fc from "fast-check";
import type { PdvConsumer, PdvReset } from "../../../agent/dicom/types.js";
import {
  AnomalyCounter,
  FlowAnomalies,
  firstReport,
  type AnomalyCode,
  type AnomalyFlow,
  type AnomalyLayer,
  type AnomalySink,
  type AnomalyTally,
} from "../../../agent/util/anomaly.js";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import * as b from "../ul/builders.js";
import { at } from "../../helpers/flow.js";
import { T0 } from "../ul/conversation.js";
import { connectionInfo, Harness } from "../ul/harness.js";

test("AnomalyCounter.tally: the first report makes the row, hit() counts repeats; rows in first-seen order", (t) => {
  const c = new AnomalyCounter();
  const f1 = at("10.0.0.1:40000-10.0.0.2:104");
  const x = c.tally("ul.resync", "ul", f1, "first detail");
  c.anomaly("ul.resync-failed", "ul", null, "b");
  x.hit();
  x.hit();
  c.anomaly("ul.resync", "ul", f1, "a later detail is not kept");
  t.is(c.total, 5);
  const client = { ip: "10.0.0.1", port: 40000 };
  const server = { ip: "10.0.0.2", port: 104 };
  t.deepEqual(c.records(), [
    { code: "ul.resync", flow: f1.flow, layer: "ul", detail: "first detail", count: 4, client, server },
    { code: "ul.resync-failed", flow: "", layer: "ul", detail: "b", count: 1, client: null, server: null },
  ]);
  // Records are plain data (JSON of the report), not the counting rows.
  t.deepEqual(Object.keys(c.records()[0]!).sort(), [
    "client",
    "code",
    "count",
    "detail",
    "flow",
    "layer",
    "server",
  ]);
});

test("AnomalyCounter: capped rows fold into one overflow row, tallies included", (t) => {
  const c = new AnomalyCounter(2);
  const f = (i: number) => at(`10.0.0.1:${40000 + i}-10.0.0.2:104`);
  c.anomaly("ul.resync", "ul", f(1), "");
  c.anomaly("ul.resync", "ul", f(2), "");
  const over = c.tally("ul.resync", "ul", f(3), "");
  over.hit();
  c.anomaly("dimse.pc-id-mismatch", "dimse", f(4), "");
  t.is(c.total, 5);
  const rows = c.records();
  t.deepEqual(
    rows.map((r) => [r.code, r.count]),
    [
      ["ul.resync", 1],
      ["ul.resync", 1],
      ["anomaly-rows-capped", 3],
    ],
  );
});

/** A sink recording which of its methods were called. */
class Spy implements AnomalySink {
  readonly counter = new AnomalyCounter();
  anomalyCalls = 0;
  tallyCalls = 0;
  anomaly(code: AnomalyCode, layer: AnomalyLayer, flow: AnomalyFlow | null, detail: string): void {
    this.anomalyCalls++;
    this.counter.anomaly(code, layer, flow, detail);
  }
  tally(code: AnomalyCode, layer: AnomalyLayer, flow: AnomalyFlow | null, detail: string): AnomalyTally {
    this.tallyCalls++;
    return this.counter.tally(code, layer, flow, detail);
  }
}

test("firstReport and FlowAnomalies: the sink's tally when it has one, else the same call again", (t) => {
  const spy = new Spy();
  const flow = at("[fd00::1]:40000-[fd00::2]:104");
  const f = new FlowAnomalies(spy, "dimse", flow);
  t.false(f.repeat("dimse.pc-id-mismatch"));
  f.report("dimse.pc-id-mismatch", "detail");
  for (let i = 0; i < 1000; i++) t.true(f.repeat("dimse.pc-id-mismatch"));
  f.report("dimse.pc-id-mismatch", "another");
  t.is(spy.tallyCalls, 1);
  t.is(spy.anomalyCalls, 0);
  t.deepEqual(spy.counter.records(), [
    {
      code: "dimse.pc-id-mismatch",
      flow: "[fd00::1]:40000-[fd00::2]:104",
      layer: "dimse",
      detail: "detail",
      count: 1002,
      client: { ip: "fd00::1", port: 40000 },
      server: { ip: "fd00::2", port: 104 },
    },
  ]);
  // A sink without tally(): every repeat is forwarded, with the detail built for the first one.
  const details: string[] = [];
  const plain: AnomalySink = { anomaly: (_c, _l, _f, d) => void details.push(d) };
  const tally = firstReport(plain, "ul.resync", "ul", flow, "built once");
  tally.hit();
  tally.hit();
  t.deepEqual(details, ["built once", "built once", "built once"]);
  t.true(details.every((d) => d === details[0]));
});

/** RQ, AC, then `n` P-DATA-TF PDUs of 12 bytes each: one empty data PDV, last fragment, no command. */
function flood(n: number): Buffer {
  const one = b.pdataTf([b.pdv(1, false, true, Buffer.alloc(0))]);
  return Buffer.concat(Array.from({ length: n }, () => one));
}

test("a tiny-PDU flood: exact counts, one row, one tally made per code, no anomaly call per PDU", (t) => {
  const spy = new Spy();
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler({ ...ctx, anomalies: spy }));
  h.feed(0, b.associateRq(), T0);
  h.feed(1, b.associateAc(), T0 + 1);
  const n = 20_000;
  const bytes = flood(n);
  // In segment-sized views, cut anywhere.
  for (let p = 0; p < bytes.length; p += 1448)
    h.conn.data(0, bytes, p, Math.min(bytes.length, p + 1448), T0 + 2);
  h.conn.close("fin", T0 + 3);
  t.deepEqual(
    spy.counter.records().map((r) => [r.code, r.layer, r.count]),
    [["dimse.data-without-command", "dimse", n]],
  );
  t.is(spy.counter.total, n);
  t.is(spy.tallyCalls, 1);
  t.is(spy.anomalyCalls, 0);
  t.deepEqual(h.associations()[0]!.record.messages, []);
});

test("a flood of malformed PDUs counts each anomaly exactly, with the first one's detail", (t) => {
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  h.feed(0, b.associateRq(), T0);
  h.feed(1, b.associateAc(), T0 + 1);
  // P-DATA-TFs whose one PDV item claims more than the PDU holds (ul.pdv-exceeds-pdu), each a new length.
  const bad = (i: number): Buffer => b.pdataTf([b.pdv(1, false, true, Buffer.alloc(2), 100 + i)]);
  const n = 5000;
  h.feed(0, Buffer.concat(Array.from({ length: n }, (_, i) => bad(i))), T0 + 2);
  h.conn.close("fin", T0 + 3);
  const rows = h.anomalies.records();
  t.deepEqual(
    rows.map((r) => [r.code, r.count]),
    [["ul.pdv-exceeds-pdu", n]],
  );
  t.is(rows[0]!.detail, "PDV item length 100 exceeds the 4 bytes left in the P-DATA-TF");
});

/** The DIMSE assembler without its flood fast path (no strayData): every PDV goes through pdvBegin. */
class Plain implements PdvConsumer {
  constructor(private readonly a: DimseAssembler) {}
  pdvBegin(pcId: number, isCommand: boolean, isLast: boolean, valueLength: number, ts: number): void {
    this.a.pdvBegin(pcId, isCommand, isLast, valueLength, ts);
  }
  pdvData(buf: Buffer, start: number, end: number): void {
    this.a.pdvData(buf, start, end);
  }
  pdvEnd(): void {
    this.a.pdvEnd();
  }
  reset(reason: PdvReset): void {
    this.a.reset(reason);
  }
}

test("the flood fast path gives exactly what the ordinary states give, on any mix and any cuts", (t) => {
  const stray = (len: number, pc: number, last: boolean, items: number): Buffer =>
    b.pdataTf(Array.from({ length: items }, () => b.pdv(pc, false, last, Buffer.alloc(len, 0x5a))));
  const pieces = fc.oneof(
    // Identical stray PDUs (periodic), varied ones, a few malformed or other PDUs in between.
    fc
      .tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 9 }))
      .map(([n, len]) => Buffer.concat(Array.from({ length: n }, () => stray(len, 1, true, 1)))),
    fc
      .tuple(
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 127 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 3 }),
      )
      .map(([len, pc, last, items]) => stray(len, 2 * pc + 1, last, items)),
    fc.constant(b.pdataTf([b.pdv(1, true, true, b.cEchoRq(7))])),
    fc.constant(b.pdataTf([b.pdv(1, true, true, b.cStoreRq(8, b.CT_IMAGE_STORAGE, "1.2.3"))])),
    fc.constant(b.pdataTf([b.pdv(2, false, true, Buffer.alloc(4))])), // even context ID
    fc.constant(b.pdataTf([b.pdv(1, false, true, Buffer.alloc(4), 90)])), // item past the PDU
    fc.constant(b.pdataTf([Buffer.from([0, 0, 0, 2, 1, 0x06])])), // reserved bits in the header
    fc.constant(b.pdu(4, Buffer.alloc(3))), // too short for a PDV item
  );
  fc.assert(
    fc.property(
      fc.array(pieces, { minLength: 1, maxLength: 12 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 20000 }), { maxLength: 10 }),
      fc.constantFrom("none", "release", "abort", "after-release"),
      (parts, cuts, ending) => {
        const run = (fast: boolean): string => {
          const h = new Harness(connectionInfo(), (ctx) =>
            fast ? new DimseAssembler(ctx) : new Plain(new DimseAssembler(ctx)),
          );
          h.feed(0, b.associateRq(), T0);
          h.feed(1, b.associateAc(), T0 + 1);
          let stream = Buffer.concat(parts);
          if (ending === "after-release") {
            h.feed(0, b.releaseRq(), T0 + 2);
            h.feed(1, b.releaseRp(), T0 + 3);
          }
          if (ending === "release") stream = Buffer.concat([stream, b.releaseRq()]);
          h.feed(
            0,
            stream,
            T0 + 4,
            [...cuts].sort((x, y) => x - y),
          );
          if (ending === "abort") h.feed(1, b.abort(2, 0), T0 + 5);
          h.conn.close("fin", T0 + 6);
          return JSON.stringify([h.observations, h.anomalies.records(), h.anomalies.total, h.stats]);
        };
        return run(true) === run(false);
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});
