import test from "ava";
import fc from "fast-check";
import { TcpPacket } from "../../agent/decode/types.js";
import { connectionKey } from "../../agent/reassembly/tcp.js";
import type { Direction } from "../../agent/reassembly/types.js";
import { Conversation, feed, setup, type ConnRecord, type Seg } from "./builder.js";

/** One generated connection: two random byte streams cut into segments plus overlapping retransmissions. */
interface GenConn {
  isn: [number, number];
  streams: [Uint8Array, Uint8Array];
  /** [dir, offset, length, dropped, order key] */
  segs: Array<[Direction, number, number, boolean, number]>;
  v6: boolean;
}

const isnArb = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.integer({ min: 0xffffffff - 3000, max: 0xffffffff }), // streams that cross 2^32
);

function connArb(dropRate: number): fc.Arbitrary<GenConn> {
  const stream = fc.uint8Array({ minLength: 0, maxLength: 1500, size: "max" });
  // Cut points as fractions so they scale with the stream; extras are retransmissions with other bounds.
  // (Uniform integers scaled down: fc.double favours 0 and 1, which would leave streams uncut.)
  const frac = fc.nat({ max: 999_999 }).map((n) => n / 1e6);
  const cuts = fc.array(frac, { maxLength: 25, size: "max" });
  const extras = fc.array(fc.tuple(fc.constantFrom<Direction>(0, 1), frac, frac), {
    maxLength: 8,
    size: "max",
  });
  return fc
    .record({
      isn: fc.tuple(isnArb, isnArb),
      s0: stream,
      s1: stream,
      c0: cuts,
      c1: cuts,
      extras,
      v6: fc.boolean(),
      rand: fc.array(frac, { minLength: 128, maxLength: 128 }),
    })
    .map(({ isn, s0, s1, c0, c1, extras, v6, rand }) => {
      let k = 0;
      const next = (): number => rand[k++ % rand.length] ?? 0;
      const segs: GenConn["segs"] = [];
      const cutInto = (dir: Direction, len: number, cs: number[]): void => {
        const pts = [...new Set(cs.map((c) => Math.floor(c * len)))]
          .filter((x) => x > 0 && x < len)
          .sort((a, b) => a - b);
        let prev = 0;
        for (const p of [...pts, len]) {
          if (p > prev) segs.push([dir, prev, p - prev, next() < dropRate, next()]);
          prev = p;
        }
      };
      cutInto(0, s0.length, c0);
      cutInto(1, s1.length, c1);
      for (const [dir, a, b] of extras) {
        const len = dir === 0 ? s0.length : s1.length;
        const from = Math.floor(Math.min(a, b) * len);
        const to = Math.floor(Math.max(a, b) * len);
        if (to > from) segs.push([dir, from, to - from, next() < dropRate, next()]);
      }
      // Duplicates: every third segment is sent twice.
      for (let i = 0; i < segs.length; i += 3) {
        const s = segs[i];
        if (s !== undefined) segs.push([s[0], s[1], s[2], s[3], next()]);
      }
      segs.sort((x, y) => x[4] - y[4]);
      return {
        isn: [isn[0], isn[1]] as [number, number],
        streams: [s0, s1] as [Uint8Array, Uint8Array],
        segs,
        v6,
      };
    });
}

function addr(i: number, server: boolean, v6: boolean): string | Uint8Array {
  if (!v6) return server ? "10.1.0.1" : `10.2.${i >> 8}.${i & 0xff}`;
  const a = new Uint8Array(16);
  a[0] = 0xfd;
  a[14] = server ? 0xff : i >> 8;
  a[15] = server ? 0x01 : i & 0xff;
  return a;
}

/** The packets of all connections: each one's SYN, SYN-ACK, shuffled data, FINs; connections interleaved. */
function schedule(conns: GenConn[], interleave: number[]): Seg[] {
  const lists = conns.map((g, i) => {
    const cv = new Conversation(
      [addr(i, false, g.v6), 40000 + i],
      [addr(i, true, g.v6), 104],
      g.isn[0],
      g.isn[1],
    );
    const out: Seg[] = [cv.syn(), cv.synAck()];
    const base: [number, number] = [cv.seq[0], cv.seq[1]];
    for (const [dir, off, len, dropped] of g.segs) {
      if (dropped) continue;
      const s = cv.data(dir, g.streams[dir].subarray(off, off + len));
      out.push({ ...s, seq: (base[dir] + off) >>> 0 });
    }
    cv.seq = [(base[0] + g.streams[0].length) >>> 0, (base[1] + g.streams[1].length) >>> 0];
    out.push(cv.fin(0), cv.fin(1));
    return out;
  });
  const pos = lists.map(() => 0);
  const order: Seg[] = [];
  let k = 0;
  for (;;) {
    const live = lists.map((l, i) => (pos[i]! < l.length ? i : -1)).filter((i) => i >= 0);
    if (live.length === 0) break;
    const i = live[(interleave[k++ % Math.max(1, interleave.length)] ?? 0) % live.length]!;
    order.push(lists[i]![pos[i]!++]!);
  }
  return order;
}

function recordOf(conns: ConnRecord[], i: number): ConnRecord | undefined {
  return conns.find((c) => c.info.client.port === 40000 + i);
}

test("any permutation and duplication of a stream's segments delivers exactly the stream", (t) => {
  const seenA = { dup: 0, ooo: 0, delivered: 0 };
  fc.assert(
    fc.property(
      fc.array(connArb(0), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 64 }),
      (conns, interleave) => {
        const { r, rec } = setup();
        const order = schedule(conns, interleave);
        let ts = 1;
        for (const s of order) feed(r, s, ts++);
        if (rec.errors.length > 0) return false;
        for (let i = 0; i < conns.length; i++) {
          const k = recordOf(rec.conns, i);
          const g = conns[i]!;
          if (k === undefined || k.closed !== "fin") return false;
          for (const d of [0, 1] as const) {
            if (k.events[d].some((e) => e[0] === "gap")) return false;
            if (Buffer.compare(Buffer.from(k.bytes[d]), Buffer.from(g.streams[d])) !== 0) return false;
          }
        }
        const st = r.stats();
        seenA.dup += st.duplicateBytes;
        seenA.ooo += st.outOfOrderSegments;
        seenA.delivered += st.deliveredBytes;
        return (
          st.active === 0 && st.bufferedBytes === 0 && st.gaps === 0 && rec.conns.length === conns.length
        );
      },
    ),
    { numRuns: 300 },
  );
  // The generator must actually exercise reordering and overlap, or the property proves little.
  t.true(seenA.ooo > 1000 && seenA.dup > 10_000, JSON.stringify(seenA));
});

test("with random loss and small caps, data and gaps add up to the stream, data at the right offsets", (t) => {
  const seenB = { gaps: 0, capSkips: 0, ooo: 0 };
  fc.assert(
    fc.property(
      fc.array(connArb(0.25), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 64 }),
      fc.record({
        maxBufferedPerDirection: fc.integer({ min: 0, max: 3000 }),
        maxBufferedTotal: fc.integer({ min: 0, max: 5000 }),
        maxSegmentsPerDirection: fc.integer({ min: 1, max: 40 }),
      }),
      (conns, interleave, limits) => {
        const { r, rec, anomalies } = setup(limits);
        const order = schedule(conns, interleave);
        let ts = 1;
        for (const s of order) {
          feed(r, s, ts++);
          if (r.stats().bufferedBytes > limits.maxBufferedTotal) return false;
        }
        // Connections whose FINs came with bytes before them missing wait for those bytes until the end.
        r.finish(ts);
        seenB.gaps += r.stats().gaps;
        seenB.ooo += r.stats().outOfOrderSegments;
        seenB.capSkips += anomalies.records().filter((a) => a.code === "tcp.ooo-cap-exceeded").length;
        if (rec.errors.length > 0) return false;
        for (let i = 0; i < conns.length; i++) {
          const k = recordOf(rec.conns, i);
          const g = conns[i]!;
          if (k === undefined || k.closed !== "fin") return false;
          for (const d of [0, 1] as const) {
            const stream = g.streams[d];
            let pos = 0;
            let b = 0;
            for (const [kind, off, len] of k.events[d]) {
              if (off !== pos) return false;
              if (kind === "data") {
                for (let j = 0; j < len; j++) if (k.bytes[d][b++] !== stream[off + j]) return false;
              }
              pos += len;
            }
            if (pos !== stream.length) return false;
          }
        }
        return r.stats().bufferedBytes === 0;
      },
    ),
    { numRuns: 300 },
  );
  t.true(seenB.gaps > 100 && seenB.capSkips > 50 && seenB.ooo > 1000, JSON.stringify(seenB));
});

test("random packet structs never throw, never break the handler contract, and respect the caps", (t) => {
  const seenC = { flows: 0, delivered: 0, gaps: 0 };
  const fieldArb = fc.record({
    v6: fc.boolean(),
    a: fc.integer({ min: 0, max: 3 }),
    b: fc.integer({ min: 0, max: 3 }),
    sp: fc.constantFrom(104, 40000, 40001, 0, 65535),
    dp: fc.constantFrom(104, 40000, 40001, 0, 65535),
    seq: fc.oneof(
      fc.integer({ min: 0, max: 400 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.constantFrom(-1, 2 ** 40, NaN),
    ),
    flags: fc.integer({ min: 0, max: 0x3f }),
    payload: fc.uint8Array({ maxLength: 300 }),
    startDelta: fc.integer({ min: -3, max: 3 }),
    endDelta: fc.integer({ min: -3, max: 3 }),
    off6: fc.integer({ min: -20, max: 400 }),
    missing: fc.oneof(
      fc.constant(0),
      fc.integer({ min: -5, max: 2000 }),
      fc.constantFrom(NaN, Infinity, 2 ** 40),
    ),
    mac: fc.integer({ min: -2, max: 400 }),
    dt: fc.oneof(fc.integer({ min: 0, max: 2_000_000 }), fc.constantFrom(-5_000_000, 10_000_000_000, NaN)),
  });
  fc.assert(
    fc.property(
      fc.array(fieldArb, { maxLength: 200 }),
      fc.record({
        maxBufferedPerDirection: fc.integer({ min: 0, max: 1000 }),
        maxBufferedTotal: fc.integer({ min: 0, max: 2000 }),
        maxConnections: fc.integer({ min: 1, max: 5 }),
        idleMicros: fc.integer({ min: 0, max: 5_000_000 }),
        maxSegmentsPerDirection: fc.integer({ min: 1, max: 10 }),
        closedLingerMicros: fc.integer({ min: 0, max: 5_000_000 }),
      }),
      (fields, limits) => {
        const { r, rec } = setup(limits, (info) => info.id % 3 === 0);
        const p = new TcpPacket();
        let ts = 0;
        for (const f of fields) {
          const buf = Buffer.alloc(64 + f.payload.length);
          buf.set(f.payload, 64);
          for (let i = 0; i < 64; i++) buf[i] = (i * f.a + f.b) & 0xff;
          p.buf = buf;
          p.ipVersion = f.v6 ? 6 : 4;
          p.src4 = 0x0a000000 + f.a;
          p.dst4 = 0x0a000000 + f.b;
          p.src6 = f.off6;
          p.dst6 = f.a * 16;
          p.srcPort = f.sp;
          p.dstPort = f.dp;
          p.seq = f.seq;
          p.flags = f.flags;
          p.payloadStart = 64 + f.startDelta;
          p.payloadEnd = buf.length + f.endDelta;
          p.payloadMissing = f.missing;
          p.macSrc = f.mac;
          p.macDst = f.mac - 6;
          ts += f.dt;
          r.segment(p, ts);
          buf.fill(0xee);
          if (r.stats().bufferedBytes > limits.maxBufferedTotal) return false;
          const st = r.stats();
          if (st.active + st.lingering + st.dormant > limits.maxConnections) return false;
        }
        r.finish(ts);
        const st = r.stats();
        seenC.flows += st.tcpFlows;
        seenC.delivered += st.deliveredBytes;
        seenC.gaps += st.gaps;
        return (
          rec.errors.length === 0 &&
          st.active === 0 &&
          st.bufferedBytes === 0 &&
          rec.conns.every((c) => c.closed !== null || c.info.id % 3 === 0)
        );
      },
    ),
    { numRuns: 500 },
  );
  t.true(seenC.flows > 100 && seenC.delivered > 0 && seenC.gaps > 0, JSON.stringify(seenC));
});

test("table keys depend on a per-reassembler secret, so colliding tuples cannot be computed in advance", (t) => {
  // The same tuple hashed by three reassemblers: with a 32-bit seed, three equal keys would mean the hash
  // has no secret (chance about 2^-60 otherwise).
  const keys = [0, 1, 2].map((): number =>
    connectionKey(setup().r.hashSeed, 4, 0x0a000001, 0, 0, 0, 40000, 0x0a000002, 0, 0, 0, 104),
  );
  t.true(
    keys.every((k) => Number.isInteger(k) && k >= 0 && k < 2 ** 30),
    keys.join(","),
  );
  t.true(new Set(keys).size > 1, keys.join(","));
});

test("connections whose keys collide stay apart", (t) => {
  // Find two IPv4 tuples with the same table key of this reassembler (birthday search over the 30-bit key).
  const { r, rec } = setup();
  const seen = new Map<number, number>();
  let pair: [number, number] | null = null;
  for (let i = 0; i < 1 << 18 && pair === null; i++) {
    const addrA = 0x0a000000 + (i >> 8);
    const port = 1024 + (i & 0xff);
    const key = connectionKey(r.hashSeed, 4, addrA, 0, 0, 0, port, 0x0a010001, 0, 0, 0, 104);
    const j = seen.get(key);
    if (j !== undefined) pair = [j, i];
    else seen.set(key, i);
  }
  t.not(pair, null);
  const [i, j] = pair!;
  const ip = (n: number) => `10.0.${(n >> 8) >> 8}.${(n >> 8) & 0xff}`;
  const a = new Conversation([ip(i), 1024 + (i & 0xff)], ["10.1.0.1", 104]);
  const b = new Conversation([ip(j), 1024 + (j & 0xff)], ["10.1.0.1", 104]);
  const data = (n: number) => new Uint8Array(10).fill(n);
  feed(r, a.syn(), 1);
  feed(r, b.syn(), 2);
  feed(r, a.data(0, data(1)), 3);
  feed(r, b.data(0, data(2)), 4);
  feed(r, a.data(1, data(3)), 5);
  feed(r, b.fin(0), 6);
  feed(r, b.fin(1), 7);
  feed(r, a.data(0, data(4)), 8);
  t.is(rec.conns.length, 2);
  t.deepEqual(rec.conns[0]?.bytes[0], [...data(1), ...data(4)]);
  t.deepEqual(rec.conns[0]?.bytes[1], [...data(3)]);
  t.deepEqual(rec.conns[1]?.bytes[0], [...data(2)]);
  t.is(rec.conns[1]?.closed, "fin");
  r.expire(100_000_000); // forgets the lingering b, which shares a's bucket
  t.is(r.stats().lingering, 0);
  feed(r, a.data(0, data(5)), 100_000_001);
  t.is(rec.conns.length, 2, "a is still found after b left the chain");
  t.deepEqual(rec.conns[0]?.bytes[0], [...data(1), ...data(4), ...data(5)]);
  r.finish(100_000_002);
  t.is(r.stats().active, 0);
});
