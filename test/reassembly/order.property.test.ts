/**
 * Properties of issue 9's orderings: FINs anywhere among a connection's segments (as a SPAN port may
 * forward them), with and without loss, and capture time that jumps ahead by more than the idle timeout
 * or runs backwards. Whatever the order and the stamps: one connection per conversation, the streams
 * exactly (or data and gaps adding up to them), a FIN close that says which side closed first.
 */
import test from "ava";
import fc from "fast-check";
import type { Direction } from "../../agent/reassembly/types.js";
import { Conversation, feed, setup, type ConnRecord, type Seg } from "./builder.js";

interface Gen {
  isn: [number, number];
  streams: [Uint8Array, Uint8Array];
  /** Segment boundaries per direction, as fractions of the stream. */
  cuts: [number[], number[]];
  /** Sort keys for the data segments (then the two FINs), and which segments are lost. */
  keys: number[];
  lost: boolean[];
}

const frac = fc.nat({ max: 999_999 }).map((n) => n / 1e6);
const genArb: fc.Arbitrary<Gen> = fc.record({
  isn: fc.tuple(
    fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0xffffffff - 500, max: 0xffffffff })),
    fc.integer({ min: 0, max: 0xffffffff }),
  ),
  streams: fc.tuple(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ maxLength: 400 })),
  cuts: fc.tuple(fc.array(frac, { maxLength: 12 }), fc.array(frac, { maxLength: 12 })),
  keys: fc.array(frac, { minLength: 40, maxLength: 40 }),
  lost: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
});

function client(i: number): [string, number] {
  return [`10.3.${i >> 8}.${i & 0xff}`, 41000 + i];
}

/**
 * The segments of one conversation (handshake first, then data and both FINs in the order of `keys`), with
 * the FIN that comes first in that order. `loss` drops the segments `lost` marks (never a FIN).
 */
function segments(g: Gen, i: number, loss: boolean): { segs: Seg[]; firstFin: Direction } {
  const cv = new Conversation(client(i), ["10.3.255.1", 104], g.isn[0], g.isn[1]);
  const head = [cv.syn(), cv.synAck()];
  const body: Array<{ seg: Seg; key: number; lost: boolean; fin: Direction | -1 }> = [];
  let k = 0;
  for (const dir of [0, 1] as const) {
    const s = g.streams[dir];
    const pts = [...new Set(g.cuts[dir].map((c) => Math.floor(c * s.length)))]
      .filter((x) => x > 0 && x < s.length)
      .sort((a, b) => a - b);
    let prev = 0;
    for (const p of [...pts, s.length]) {
      if (p > prev) {
        body.push({
          seg: cv.data(dir, s.subarray(prev, p)),
          key: g.keys[k % 40]!,
          lost: g.lost[k % 40]!,
          fin: -1,
        });
        k++;
      }
      prev = p;
    }
  }
  for (const dir of [0, 1] as const)
    body.push({ seg: cv.fin(dir), key: g.keys[k++ % 40]!, lost: false, fin: dir });
  body.sort((a, b) => a.key - b.key);
  const firstFin = body.find((b) => b.fin !== -1)!.fin as Direction;
  return { segs: [...head, ...body.filter((b) => !(loss && b.lost)).map((b) => b.seg)], firstFin };
}

function record(rec: { conns: ConnRecord[] }, i: number): ConnRecord | undefined {
  return rec.conns.find((c) => c.info.client.port === 41000 + i);
}

/** Interleaves the conversations' segment lists, each kept in its own order. */
function interleave(lists: Seg[][], picks: number[]): Seg[] {
  const pos = lists.map(() => 0);
  const out: Seg[] = [];
  for (let n = 0; ; n++) {
    const live = lists.map((l, i) => (pos[i]! < l.length ? i : -1)).filter((i) => i >= 0);
    if (live.length === 0) return out;
    const i = live[(picks[n % Math.max(1, picks.length)] ?? 0) % live.length]!;
    out.push(lists[i]![pos[i]!++]!);
  }
}

test("FINs anywhere among the segments: exactly the streams, a FIN close, nothing held, no gap", (t) => {
  let finsAhead = 0;
  fc.assert(
    fc.property(
      fc.array(genArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 50 }),
      (gens, picks) => {
        const { r, rec } = setup();
        const built = gens.map((g, i) => segments(g, i, false));
        let ts = 1;
        for (const s of interleave(
          built.map((b) => b.segs),
          picks,
        ))
          feed(r, s, ts++);
        for (let i = 0; i < gens.length; i++) {
          const k = record(rec, i);
          if (k === undefined || k.closed !== "fin" || k.closeSide !== built[i]!.firstFin) return false;
          for (const d of [0, 1] as const) {
            if (k.events[d].some((e) => e[0] === "gap")) return false;
            if (Buffer.compare(Buffer.from(k.bytes[d]), Buffer.from(gens[i]!.streams[d])) !== 0) return false;
          }
        }
        const st = r.stats();
        finsAhead += st.finsAhead;
        return (
          rec.errors.length === 0 &&
          rec.conns.length === gens.length &&
          st.active === 0 &&
          st.bufferedBytes === 0 &&
          st.bufferedSegments === 0 &&
          st.gaps === 0
        );
      },
    ),
    { numRuns: 300 },
  );
  t.true(finsAhead > 100, `FINs ahead of data in ${finsAhead} connections`);
});

test("FINs anywhere and segments lost: data and gaps add up to each stream, then a FIN close", (t) => {
  let gaps = 0;
  fc.assert(
    fc.property(
      fc.array(genArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 50 }),
      fc.record({
        maxBufferedPerDirection: fc.integer({ min: 0, max: 500 }),
        maxSegmentsPerDirection: fc.integer({ min: 1, max: 8 }),
        maxBufferedTotal: fc.integer({ min: 0, max: 1000 }),
      }),
      fc.boolean(),
      (gens, picks, limits, byExpiry) => {
        const { r, rec } = setup({ ...limits, closedLingerMicros: 1000 });
        let ts = 1;
        for (const s of interleave(
          gens.map((g, i) => segments(g, i, true).segs),
          picks,
        )) {
          feed(r, s, ts++);
          if (r.stats().bufferedBytes > limits.maxBufferedTotal) return false;
        }
        // The holes are given up when the wait runs out, or at the end of the capture.
        if (byExpiry) r.expire(ts + 1000);
        else r.finish(ts);
        gaps += r.stats().gaps;
        for (let i = 0; i < gens.length; i++) {
          const k = record(rec, i);
          if (k === undefined || k.closed !== "fin") return false;
          for (const d of [0, 1] as const) {
            const stream = gens[i]!.streams[d];
            let pos = 0;
            let b = 0;
            for (const [kind, off, len] of k.events[d]) {
              if (off !== pos) return false;
              if (kind === "data")
                for (let j = 0; j < len; j++) if (k.bytes[d][b++] !== stream[off + j]) return false;
              pos += len;
            }
            if (pos !== stream.length) return false;
          }
        }
        return rec.errors.length === 0 && r.stats().bufferedBytes === 0 && r.stats().lingering >= 0;
      },
    ),
    { numRuns: 300 },
  );
  t.true(gaps > 100, `${gaps} gaps`);
});

test("late packets (beyond the idle timeout) and time running backwards never split a connection", (t) => {
  const seen = { resumed: 0, backwards: 0 };
  // Steps between packets: ordinary, more than the idle timeout late, a little or far backwards.
  const stepArb = fc.oneof(
    fc.integer({ min: 0, max: 100_000 }),
    fc.constant(6_000_000),
    fc.integer({ min: -900_000, max: 0 }),
    fc.integer({ min: -3_600_000_000, max: -1_000_001 }),
  );
  fc.assert(
    fc.property(genArb, fc.array(stepArb, { minLength: 60, maxLength: 60 }), (g, steps) => {
      const { r, rec, anomalies } = setup({ idleMicros: 5_000_000, idleLingerMicros: 5_000_000 });
      const { segs, firstFin } = segments(g, 0, false);
      let ts = 10_000_000_000;
      let prev = Number.NaN;
      let backwards = 0;
      let late = 0;
      for (let n = 0; n < segs.length; n++) {
        let step = steps[n % steps.length]!;
        // At most three late steps: a connection waiting after its FINs gives up after 30 s of clock.
        if (step === 6_000_000 && ++late > 3) step = 0;
        ts += step;
        if (ts < prev - 1_000_000) backwards++;
        prev = ts;
        feed(r, segs[n]!, ts);
      }
      seen.resumed += r.stats().resumedAfterIdle;
      seen.backwards += backwards;
      const k = rec.conns[0];
      if (rec.conns.length !== 1 || k === undefined || k.closed !== "fin" || k.closeSide !== firstFin)
        return false;
      for (const d of [0, 1] as const) {
        if (Buffer.compare(Buffer.from(k.bytes[d]), Buffer.from(g.streams[d])) !== 0) return false;
      }
      const counted = anomalies.records().find((a) => a.code === "capture.time-backwards")?.count ?? 0;
      return rec.errors.length === 0 && counted === backwards && r.stats().timeBackwards === backwards;
    }),
    { numRuns: 300 },
  );
  t.true(seen.resumed > 50 && seen.backwards > 50, JSON.stringify(seen));
});
