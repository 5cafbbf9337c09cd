import test from "ava";
import { TcpReassembler } from "../../agent/reassembly/tcp.js";
import type { ConnectionFactory } from "../../agent/reassembly/types.js";
import { AnomalyCounter } from "../../agent/util/anomaly.js";
import {
  Conversation,
  Recorder,
  TCP_ACK,
  TCP_SYN,
  feed,
  pattern,
  setup,
  type ConnRecord,
} from "./builder.js";

const C: [string, number] = ["10.0.0.1", 40000];
const S: [string, number] = ["10.0.0.2", 104];

function bytesOf(...parts: Uint8Array[]): number[] {
  return parts.flatMap((p) => [...p]);
}

function only(conns: ConnRecord[]): ConnRecord {
  if (conns.length !== 1) throw new Error(`expected one connection, got ${conns.length}`);
  return conns[0] as ConnRecord;
}

test("in-order conversation: views delivered, nothing copied, FIN closes", (t) => {
  const { r, rec, counters } = setup();
  const cv = new Conversation(C, S);
  const a = pattern(0, 100);
  const b = pattern(100, 50);
  const c = pattern(0, 70, 7);
  let ts = 1_000_000;
  for (const s of [cv.syn(), cv.synAck(), cv.ack(0), cv.data(0, a), cv.data(0, b), cv.data(1, c)])
    feed(r, s, ts++);
  feed(r, cv.fin(0), ts++);
  t.is(rec.conns[0]?.closed, null, "one FIN does not close");
  feed(r, cv.fin(1), ts++);
  const k = only(rec.conns);
  t.deepEqual(k.bytes[0], bytesOf(a, b));
  t.deepEqual(k.bytes[1], bytesOf(c));
  t.is(k.closed, "fin");
  t.deepEqual(k.handshakes, ["syn-ack"]);
  t.true(k.info.handshakeSeen);
  t.deepEqual(k.info.client, { ip: "10.0.0.1", port: 40000, mac: null });
  t.deepEqual(k.info.server, { ip: "10.0.0.2", port: 104, mac: null });
  t.is(k.info.flow, "10.0.0.1:40000-10.0.0.2:104");
  t.is(k.info.startMicros, 1_000_000);
  t.is(counters.bytesCopied, 0);
  const st = r.stats();
  t.is(st.tcpFlows, 1);
  t.is(st.active, 0);
  t.is(st.closedFin, 1);
  t.is(st.deliveredBytes, 220);
  t.deepEqual(rec.errors, []);
});

test("out-of-order segments are copied, held and flushed when the hole fills", (t) => {
  const { r, rec, counters } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  const segs = [0, 1, 2, 3].map((i) => cv.data(0, pattern(i * 10, 10)));
  feed(r, segs[2]!, 3);
  feed(r, segs[3]!, 4);
  feed(r, segs[1]!, 5);
  t.deepEqual(rec.conns[0]?.bytes[0], [], "nothing before the hole fills");
  t.is(r.stats().bufferedBytes, 30);
  feed(r, segs[0]!, 6);
  t.deepEqual(rec.conns[0]?.bytes[0], bytesOf(pattern(0, 40)));
  t.is(counters.bytesCopied, 30);
  t.is(r.stats().bufferedBytes, 0);
  t.is(r.stats().outOfOrderSegments, 3);
  t.deepEqual(
    rec.conns[0]?.events[0].map((e) => e[0]),
    ["data", "data", "data", "data"],
  );
});

test("duplicates and retransmissions are dropped", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  const s1 = cv.data(0, pattern(0, 20));
  const s2 = cv.data(0, pattern(20, 20));
  const s3 = cv.data(0, pattern(40, 20));
  for (const s of [s1, s1, s3, s3, s2, s2, s1, s3]) feed(r, s, 2);
  t.deepEqual(rec.conns[0]?.bytes[0], bytesOf(pattern(0, 60)));
  t.is(r.stats().duplicateBytes, 5 * 20); // s1 twice, s2 once, s3 twice (once while held)
});

test("partial and full overlaps deliver only new bytes", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  const base = cv.seq[0];
  const at = (off: number, n: number) => ({ ...cv.data(0, pattern(off, n)), seq: (base + off) >>> 0 });
  feed(r, at(0, 100), 2); // [0,100) in order
  feed(r, at(50, 100), 3); // partial overlap in order: [100,150) new
  feed(r, at(200, 50), 4); // held [200,250)
  feed(r, at(300, 20), 5); // held [300,320)
  feed(r, at(180, 100), 6); // overlaps held [200,250) on both sides: holds [180,200) and [250,280)
  feed(r, at(210, 20), 7); // fully inside held data
  t.is(r.stats().bufferedBytes, 50 + 20 + 20 + 30);
  feed(r, at(140, 200), 8); // covers everything held and more: in order up to 340
  t.deepEqual(rec.conns[0]?.bytes[0], bytesOf(pattern(0, 340)));
  t.is(r.stats().bufferedBytes, 0);
  feed(r, at(0, 400), 9); // retransmission reaching past: only [340,400) is new
  t.deepEqual(rec.conns[0]?.bytes[0], bytesOf(pattern(0, 400)));
  t.deepEqual(rec.errors, []);
});

test("sequence numbers wrap around 2^32, in order and out of order", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S, 0xffffffff - 95, 0xfffffff0);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  const segs = [0, 1, 2, 3, 4].map((i) => cv.data(0, pattern(i * 40, 40)));
  t.true(segs[2]!.seq > segs[3]!.seq, "the stream crosses 2^32");
  for (const i of [0, 1, 3, 4, 2]) feed(r, segs[i]!, 3);
  const back = [0, 1, 2].map((i) => cv.data(1, pattern(i * 30, 30, 1)));
  for (const i of [2, 0, 1]) feed(r, back[i]!, 4);
  feed(r, cv.fin(0), 5);
  feed(r, cv.fin(1), 6);
  const k = only(rec.conns);
  t.deepEqual(k.bytes[0], bytesOf(pattern(0, 200)));
  t.deepEqual(k.bytes[1], bytesOf(pattern(0, 90, 1)));
  t.is(k.closed, "fin");
  t.is(r.stats().gaps, 0);
});

test("a lost segment becomes a gap when the wait for it after both FINs runs out", (t) => {
  const { r, rec, anomalies } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  const segs = [0, 1, 2, 3].map((i) => cv.data(0, pattern(i * 25, 25)));
  feed(r, segs[0]!, 3);
  feed(r, segs[2]!, 4);
  feed(r, segs[3]!, 5);
  feed(r, cv.fin(0), 6);
  feed(r, cv.fin(1), 7);
  const k = only(rec.conns);
  // Both FINs are in but segment 1 is not: the connection waits for it (a SPAN port may still bring it).
  t.is(k.closed, null);
  t.deepEqual(k.events[0], [["data", 0, 25]]);
  t.is(r.stats().lingering, 1);
  r.expire(7 + 30_000_000); // closedLingerMicros later the hole is given up
  t.deepEqual(k.events[0], [
    ["data", 0, 25],
    ["gap", 25, 25],
    ["data", 50, 25],
    ["data", 75, 25],
  ]);
  t.deepEqual(k.bytes[0], bytesOf(pattern(0, 25), pattern(50, 50)));
  t.is(k.closed, "fin");
  t.is(k.closeSide, 0, "the client's FIN came first");
  t.is(k.closeTs, 7, "the close carries the time of the connection's last packet, not of the sweep");
  t.true(anomalies.records().some((a) => a.code === "tcp.gap" && a.layer === "reassembly"));
  t.is(r.stats().bufferedBytes, 0);
  t.is(r.stats().finsAhead, 1);
});

test("a lost tail before the FIN is a gap up to the FIN", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.data(0, pattern(0, 10)), 2);
  cv.data(0, pattern(10, 15)); // lost
  feed(r, cv.fin(0), 3);
  feed(r, cv.fin(1), 4);
  t.is(rec.conns[0]?.closed, null, "waiting for the bytes before the client's FIN");
  r.finish(5);
  t.deepEqual(rec.conns[0]?.events[0], [
    ["data", 0, 10],
    ["gap", 10, 15],
  ]);
  t.is(rec.conns[0]?.closed, "fin", "both FINs were seen: a FIN close, not end-of-capture");
});

test("the per-direction cap skips the hole and reports it", (t) => {
  const { r, rec, anomalies } = setup({ maxBufferedPerDirection: 300 });
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  const segs = [0, 1, 2, 3, 4, 5].map((i) => cv.data(0, pattern(i * 100, 100)));
  for (const i of [1, 2, 3]) feed(r, segs[i]!, 2);
  t.is(r.stats().bufferedBytes, 300);
  t.deepEqual(rec.conns[0]?.events[0], []);
  feed(r, segs[4]!, 3); // 400 > 300: give up on segment 0
  t.deepEqual(rec.conns[0]?.events[0], [
    ["gap", 0, 100],
    ["data", 100, 100],
    ["data", 200, 100],
    ["data", 300, 100],
    ["data", 400, 100],
  ]);
  t.is(r.stats().bufferedBytes, 0);
  feed(r, segs[0]!, 4); // too late: a retransmission of skipped bytes is dropped
  feed(r, segs[5]!, 5);
  t.deepEqual(rec.conns[0]?.bytes[0], bytesOf(pattern(100, 500)));
  t.true(anomalies.records().some((a) => a.code === "tcp.ooo-cap-exceeded"));
});

test("the segment-count cap bounds many tiny held segments", (t) => {
  const { r, rec } = setup({ maxSegmentsPerDirection: 4 });
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  const segs = Array.from({ length: 8 }, (_, i) => cv.data(0, pattern(i * 2, 1)));
  // Every other byte missing: no two held segments touch.
  for (let i = 1; i < 8; i++) feed(r, { ...segs[i]!, seq: (segs[0]!.seq + 2 * i) >>> 0 }, 2);
  t.true(rec.conns[0]!.events[0].some((e) => e[0] === "gap"));
  t.true(r.stats().bufferedSegments <= 4);
  feed(r, cv.fin(0), 3);
  feed(r, cv.fin(1), 3);
  t.true(r.stats().bufferedSegments <= 4, "a connection waiting after its FINs keeps the same caps");
  r.finish(4);
  t.is(r.stats().bufferedBytes, 0);
  t.is(rec.conns[0]?.closed, "fin");
});

test("the total segment cap bounds tiny held segments spread over many connections", (t) => {
  // 40 connections each holding 5 one-byte pieces stay under every per-direction cap and far under the
  // byte caps; only the total count of held pieces stops them from adding up.
  const { r, rec } = setup({ maxSegmentsTotal: 50 });
  let ts = 1;
  for (let k = 0; k < 40; k++) {
    const cv = new Conversation([`10.0.1.${k + 1}`, 40000], S);
    feed(r, cv.syn(), ts++);
    const first = cv.seq[0];
    for (let i = 1; i <= 5; i++) {
      feed(r, { ...cv.data(0, pattern(i, 1)), seq: (first + 2 * i) >>> 0 }, ts++);
      t.true(r.stats().bufferedSegments <= 50);
    }
  }
  t.is(r.stats().bufferedSegments, 50);
  t.is(r.stats().bufferedBytes, 50);
  // The connection that goes over the cap gives up its own holes first: the first ten keep theirs.
  t.deepEqual(rec.conns[0]!.events[0], []);
  t.true(rec.conns[39]!.events[0].some((e) => e[0] === "gap"));
  r.finish(ts);
  t.is(r.stats().bufferedSegments, 0);
  t.deepEqual(rec.errors, []);
});

test("a handler that throws while its connection closes leaves the table and the caps consistent", (t) => {
  // The recorder's handlers, except that gap() throws while `failGap` is set.
  const rec = new Recorder();
  let failGap = false;
  const factory: ConnectionFactory = {
    open(info) {
      const h = rec.open(info)!;
      return {
        data: (dir, buf, start, end, ts) => h.data(dir, buf, start, end, ts),
        gap: (dir, length, ts) => {
          if (failGap) throw new Error("handler failed");
          h.gap(dir, length, ts);
        },
        close: (reason, ts) => h.close(reason, ts),
      };
    },
  };
  const r = new TcpReassembler(
    factory,
    {},
    { anomalies: new AnomalyCounter(), counters: { bytesCopied: 0 } },
  );
  const b = new Conversation(["10.0.0.3", 40001], S);
  feed(r, b.syn(), 1);
  feed(r, b.fin(0), 2);
  feed(r, b.fin(1), 3);
  t.is(r.stats().lingering, 1);
  // a holds data behind a hole; closing it sends a gap marker first, and that throws.
  const a = new Conversation(C, S);
  feed(r, a.syn(), 4);
  a.data(0, pattern(0, 10)); // lost
  feed(r, a.data(0, pattern(10, 10)), 5);
  t.is(r.stats().bufferedSegments, 1);
  failGap = true;
  // A new SYN on a's tuple closes the old a; the packet boundary (here: the test) catches the throw.
  t.throws(() => feed(r, new Conversation(C, S, 9000).syn(), 6), { message: "handler failed" });
  failGap = false;
  t.is(r.stats().bufferedBytes, 0);
  t.is(r.stats().bufferedSegments, 0);
  t.is(r.stats().lingering, 1, "b still lingers");
  // The same tuple again: the old a is out of the table, so this is a connection of its own.
  const a2 = new Conversation(C, S, 20000);
  feed(r, a2.syn(), 7);
  feed(r, a2.data(0, pattern(0, 5)), 8);
  t.is(r.stats().lingering, 1, "b still lingers");
  t.deepEqual(rec.conns.at(-1)!.bytes[0], [...pattern(0, 5)]);
  r.expire(100_000_000);
  t.is(r.stats().lingering, 0, "b is forgotten in time");
  t.is(r.stats().active, 1, "a2 is open");
  t.deepEqual(rec.errors, []);
});

test("the total cap skips holes across connections", (t) => {
  const { r, rec } = setup({ maxBufferedTotal: 250 });
  const a = new Conversation(C, S);
  const b = new Conversation(["10.0.0.3", 40001], S);
  feed(r, a.syn(), 1);
  feed(r, b.syn(), 1);
  a.data(0, pattern(0, 100)); // lost
  b.data(0, pattern(0, 100)); // lost
  feed(r, a.data(0, pattern(100, 100)), 2);
  feed(r, a.data(0, pattern(200, 100)), 3);
  t.is(r.stats().bufferedBytes, 200);
  feed(r, b.data(0, pattern(100, 100)), 4); // 300 > 250: b's own hole goes first
  t.true(r.stats().bufferedBytes <= 250);
  t.deepEqual(rec.conns[1]?.events[0], [
    ["gap", 0, 100],
    ["data", 100, 100],
  ]);
  feed(r, b.data(0, pattern(200, 10)), 5);
  const b3 = b.data(0, pattern(210, 10));
  feed(r, b.data(0, pattern(220, 100)), 6); // b holds 100 again: 300 > 250, b's hole is skipped
  t.true(r.stats().bufferedBytes <= 250);
  feed(r, b3, 7);
  feed(r, { ...b.data(0, pattern(0, 0)), seq: b.seq[0] + 100, payload: pattern(420, 200) }, 8);
  // b now holds 200 beyond a hole; with a's 200 that is 400: b's hole goes, then a's if needed.
  t.true(r.stats().bufferedBytes <= 250);
  t.deepEqual(rec.errors, []);
});

test("RST closes, flushing held data behind a gap", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  cv.data(0, pattern(0, 10)); // lost
  feed(r, cv.data(0, pattern(10, 10)), 3);
  feed(r, cv.rst(1), 4);
  const k = only(rec.conns);
  t.is(k.closed, "rst");
  t.deepEqual(k.events[0], [
    ["gap", 0, 10],
    ["data", 10, 10],
  ]);
  t.deepEqual(k.handshakes, ["syn-ack"]);
  t.is(r.stats().closedRst, 1);
  t.is(r.stats().bufferedBytes, 0);
});

test("a RST far outside its sender's window is ignored and reported; one in the window closes", (t) => {
  const { r, rec, anomalies } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  feed(r, cv.data(0, pattern(0, 10)), 3);
  const spoofed = cv.rst(0);
  feed(r, { ...spoofed, seq: (spoofed.seq + 0x40000000) >>> 0 }, 4);
  const k = only(rec.conns);
  t.is(k.closed, null);
  t.true(anomalies.records().some((a) => a.code === "tcp.rst-out-of-window"));
  feed(r, cv.data(0, pattern(10, 10)), 5);
  feed(r, cv.rst(0), 6);
  t.is(k.closed, "rst");
  t.deepEqual(k.events[0], [
    ["data", 0, 10],
    ["data", 10, 10],
  ]);
});

test("a RST answering a SYN is reported as a refused handshake", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, { ...cv.rst(1), flags: 0x14 }, 2); // RST+ACK, RFC 9293 §3.10.7.3
  const k = only(rec.conns);
  t.deepEqual(k.handshakes, ["rst"]);
  t.is(k.closed, "rst");
  t.true(k.info.handshakeSeen);
});

test("a SYN-ACK without the SYN fixes the roles", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  cv.syn(); // not captured
  feed(r, cv.synAck(), 1);
  feed(r, cv.data(0, pattern(0, 5)), 2);
  const k = only(rec.conns);
  t.deepEqual(k.handshakes, ["syn-ack"]);
  t.true(k.info.handshakeSeen);
  t.is(k.info.client.port, 40000);
  t.deepEqual(k.bytes[0], [...pattern(0, 5)]);
});

test("mid-stream pick-up guesses the client by the higher port", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S, 77777, 0xfffffff0);
  cv.syn();
  cv.synAck();
  feed(r, cv.data(1, pattern(0, 40)), 10); // first packet seen goes server → client
  feed(r, cv.data(0, pattern(0, 30, 3)), 11);
  feed(r, cv.data(1, pattern(40, 40)), 12);
  const k = only(rec.conns);
  t.false(k.info.handshakeSeen);
  t.deepEqual(k.handshakes, ["mid-stream"]);
  t.is(k.info.client.port, 40000);
  t.is(k.info.server.port, 104);
  t.deepEqual(k.bytes[1], bytesOf(pattern(0, 80)));
  t.deepEqual(k.bytes[0], bytesOf(pattern(0, 30, 3)));
});

test("mid-stream pick-up with equal ports takes the lower address as client", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(["10.0.0.9", 104], ["10.0.0.4", 104]);
  feed(r, cv.data(0, pattern(0, 4)), 1);
  const k = only(rec.conns);
  t.is(k.info.client.ip, "10.0.0.4");
  t.is(k.info.flow, "10.0.0.4:104-10.0.0.9:104");
  t.deepEqual(k.bytes[1], [...pattern(0, 4)]);
});

test("pure ACKs, FINs and RSTs of unknown connections start nothing", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.ack(0), 1);
  feed(r, cv.fin(1), 2);
  feed(r, cv.rst(0), 3);
  t.is(rec.conns.length, 0);
  t.is(r.stats().strayPackets, 3);
});

test("SYN carrying data: the SYN takes one sequence number", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  const syn = { ...cv.syn(), payload: pattern(0, 12) };
  cv.seq[0] = (cv.seq[0] + 12) >>> 0;
  feed(r, syn, 1);
  feed(r, cv.synAck(), 2);
  feed(r, cv.data(0, pattern(12, 8)), 3);
  t.deepEqual(rec.conns[0]?.bytes[0], bytesOf(pattern(0, 20)));
});

test("idle connections go dormant, then close by expire() and by the passage of capture time", (t) => {
  const { r, rec } = setup({ idleMicros: 5_000_000, idleLingerMicros: 5_000_000 });
  const a = new Conversation(C, S);
  const b = new Conversation(["10.0.0.5", 50000], S);
  feed(r, a.syn(), 1_000_000);
  feed(r, a.data(0, pattern(0, 3)), 1_000_001);
  feed(r, b.syn(), 2_000_000);
  r.expire(4_000_000);
  t.is(rec.conns[0]?.closed, null);
  r.expire(6_000_001);
  // Past the idle timeout: dormant, the handler still open in case the stream goes on.
  t.is(rec.conns[0]?.closed, null);
  t.is(r.stats().dormant, 1);
  t.is(r.stats().active, 1);
  r.expire(11_000_001);
  t.is(rec.conns[0]?.closed, "idle");
  t.is(rec.conns[0]?.closeTs, 6_000_001, "the close carries the time the idle timeout struck");
  t.is(rec.conns[1]?.closed, null, "b only went dormant");
  // No explicit expire(): later packets of another connection move capture time on.
  const c = new Conversation(["10.0.0.6", 50001], S);
  feed(r, c.syn(), 13_000_000);
  feed(r, c.data(0, pattern(0, 1)), 17_000_000);
  t.is(rec.conns[1]?.closed, "idle");
  t.is(r.stats().active, 1);
  t.is(r.stats().dormant, 0);
  t.is(r.stats().closedIdle, 2);
  // Long after the grace period the tuple is forgotten: its next data is a connection picked up mid-stream.
  feed(r, a.data(0, pattern(3, 3)), 17_000_001);
  t.is(rec.conns.length, 4);
  t.deepEqual(rec.conns[3]?.handshakes, ["mid-stream"]);
  t.deepEqual(rec.errors, []);
});

test("a full flow table evicts the least recently active connection", (t) => {
  const { r, rec, anomalies } = setup({ maxConnections: 2 });
  const a = new Conversation(C, S);
  const b = new Conversation(["10.0.0.3", 40001], S);
  const c = new Conversation(["10.0.0.4", 40002], S);
  feed(r, a.syn(), 1);
  feed(r, b.syn(), 2);
  feed(r, a.data(0, pattern(0, 5)), 3); // a is now more recent than b
  feed(r, c.syn(), 4);
  t.is(rec.conns[1]?.closed, "evicted");
  t.is(rec.conns[0]?.closed, null);
  t.is(r.stats().evicted, 1);
  t.is(r.stats().active, 2);
  t.true(
    anomalies
      .records()
      .some((x) => x.code === "tcp.flow-table-full" && x.flow === "10.0.0.3:40001-10.0.0.2:104"),
  );
  feed(r, a.data(0, pattern(5, 5)), 5);
  t.deepEqual(rec.conns[0]?.bytes[0], bytesOf(pattern(0, 10)));
});

test("closed connections linger: late packets start nothing, a new SYN does", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  const d = cv.data(0, pattern(0, 10));
  feed(r, d, 3);
  feed(r, cv.fin(0), 4);
  feed(r, cv.fin(1), 5);
  feed(r, cv.ack(0), 6);
  feed(r, d, 7);
  t.is(rec.conns.length, 1);
  t.is(r.stats().lingering, 1);
  const again = new Conversation(C, S, 999_999);
  feed(r, again.syn(), 8);
  feed(r, again.data(0, pattern(0, 3, 9)), 9);
  t.is(rec.conns.length, 2);
  t.deepEqual(rec.conns[1]?.bytes[0], [...pattern(0, 3, 9)]);
  r.expire(8 + 30_000_000);
  t.is(r.stats().lingering, 0);
});

test("a SYN with a new sequence number on an open connection replaces it", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  const syn = cv.syn();
  feed(r, syn, 1);
  feed(r, syn, 2); // a retransmitted SYN (same ISN) changes nothing
  t.is(rec.conns.length, 1);
  const again = new Conversation(C, S, 123_456_789);
  feed(r, again.syn(), 3);
  t.is(rec.conns.length, 2);
  t.is(rec.conns[0]?.closed, "idle");
  t.is(r.stats().active, 1);
});

test("payload cut by the snap length becomes a gap, in order and out of order", (t) => {
  const { r, rec, anomalies } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.data(0, pattern(0, 10), 90), 2);
  const late = cv.data(0, pattern(100, 10), 90);
  feed(r, cv.data(0, pattern(200, 10), 90), 3);
  feed(r, late, 4);
  t.deepEqual(rec.conns[0]?.events[0], [
    ["data", 0, 10],
    ["gap", 10, 90],
    ["data", 100, 10],
    ["gap", 110, 90],
    ["data", 200, 10],
    ["gap", 210, 90],
  ]);
  t.true(anomalies.records().some((a) => a.code === "tcp.payload-not-captured"));
});

test("a connection the factory ignores is tracked but never buffered or delivered", (t) => {
  const { r, rec, counters } = setup({}, () => true);
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  cv.data(0, pattern(0, 10));
  feed(r, cv.data(0, pattern(10, 10)), 3);
  t.is(r.stats().bufferedBytes, 0);
  t.is(counters.bytesCopied, 0);
  t.is(r.stats().active, 1);
  feed(r, cv.fin(0), 4);
  feed(r, cv.fin(1), 5);
  t.is(r.stats().active, 0);
  t.is(r.stats().closedFin, 1);
  t.deepEqual(rec.conns[0]?.handshakes, ["syn-ack"]);
});

test("finish() closes everything as end-of-capture, held data behind gaps", (t) => {
  const { r, rec } = setup();
  const a = new Conversation(C, S);
  const b = new Conversation(["10.0.0.3", 40001], S);
  feed(r, a.syn(), 1);
  feed(r, b.syn(), 1);
  a.data(0, pattern(0, 10));
  feed(r, a.data(0, pattern(10, 10)), 2);
  r.finish(3);
  t.deepEqual(
    rec.conns.map((c) => c.closed),
    ["end-of-capture", "end-of-capture"],
  );
  t.deepEqual(rec.conns[0]?.events[0], [
    ["gap", 0, 10],
    ["data", 10, 10],
  ]);
  t.is(r.stats().active, 0);
  t.is(r.stats().bufferedBytes, 0);
});

test("IPv6 endpoints: bracketed flow, compressed addresses and MACs", (t) => {
  const { r, rec } = setup();
  const a6 = new Uint8Array(16);
  a6[15] = 1; // ::1
  const b6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x04]);
  const macA = Uint8Array.from([0x00, 0x1b, 0x21, 0xaa, 0xbb, 0x0c]);
  const macB = Uint8Array.from([0x02, 0, 0, 0, 0, 0xff]);
  const cv = new Conversation([a6, 50123], [b6, 104]);
  feed(r, { ...cv.syn(), macSrc: macA, macDst: macB }, 1);
  feed(r, cv.synAck(), 2);
  feed(r, cv.data(1, pattern(0, 9)), 3);
  const k = only(rec.conns);
  t.is(k.info.flow, "[::1]:50123-[2001:db8::104]:104");
  t.is(k.info.client.mac, "00:1b:21:aa:bb:0c");
  t.is(k.info.server.mac, "02:00:00:00:00:ff");
  t.deepEqual(k.bytes[1], [...pattern(0, 9)]);
});

test("a SYN arriving after its SYN-ACK belongs to the same connection", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  const syn = cv.syn();
  feed(r, cv.synAck(), 1);
  feed(r, { ...syn, flags: TCP_SYN }, 2);
  feed(r, cv.data(0, pattern(0, 5)), 3);
  t.is(rec.conns.length, 1);
  t.deepEqual(rec.conns[0]?.bytes[0], [...pattern(0, 5)]);
  t.is(TCP_ACK & syn.flags, 0);
});
