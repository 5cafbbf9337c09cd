/**
 * Issue 9: the order a SPAN port delivers segments in, and the time stamps a capture gives them, never
 * invent or split a connection. FINs ahead of the last data are held like out-of-order data (RFC 9293
 * §3.10.7.4: a FIN takes effect when the stream reaches it); a segment after the idle timeout continues
 * its connection; capture time running backwards is an anomaly, not an expiry; a RST says who sent it.
 */
import test from "ava";
import { Conversation, TCP_SYN, feed, pattern, setup, type ConnRecord, type Seg } from "./builder.js";
import { CLIENT_TO_SERVER, SERVER_TO_CLIENT } from "../../agent/reassembly/types.js";

const C: [string, number] = ["10.0.0.1", 40000];
const S: [string, number] = ["10.0.0.2", 104];

function only(conns: ConnRecord[]): ConnRecord {
  if (conns.length !== 1) throw new Error(`expected one connection, got ${conns.length}`);
  return conns[0] as ConnRecord;
}

function codes(records: { code: string; count: number }[], code: string): number {
  return records.filter((a) => a.code === code).reduce((n, a) => n + a.count, 0);
}

/** Every ordering of a list (small lists only). */
function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

// ── FIN before the last data ──────────────────────────────────────────────────────────────────────

test("a FIN ahead of its direction's last data is held; the data arrives, then the connection closes", (t) => {
  const { r, rec, anomalies } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  feed(r, cv.data(0, pattern(0, 10)), 3);
  const last = cv.data(0, pattern(10, 10)); // the release request, reordered behind the FINs
  feed(r, cv.fin(0), 4);
  feed(r, cv.fin(1), 5);
  const k = only(rec.conns);
  t.is(k.closed, null, "both FINs seen, but not the bytes before the client's");
  t.is(r.stats().lingering, 1);
  t.is(r.stats().active, 0);
  feed(r, last, 6);
  t.is(k.closed, "fin");
  t.is(k.closeTs, 6);
  t.is(k.closeSide, CLIENT_TO_SERVER);
  t.deepEqual(k.events[0], [
    ["data", 0, 10],
    ["data", 10, 10],
  ]);
  t.deepEqual(k.bytes[0], [...pattern(0, 20)]);
  t.is(r.stats().gaps, 0);
  t.is(r.stats().closedFin, 1);
  t.is(r.stats().finsAhead, 1);
  t.is(codes(anomalies.records(), "tcp.gap"), 0);
  t.deepEqual(rec.errors, []);
});

test("both FINs before the last data of both directions: every order of the four segments", (t) => {
  let orders = 0;
  for (const order of permutations(["c-data", "s-data", "c-fin", "s-fin"])) {
    const { r, rec } = setup();
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1);
    feed(r, cv.synAck(), 2);
    feed(r, cv.data(0, pattern(0, 7)), 3);
    feed(r, cv.data(1, pattern(0, 9, 1)), 4);
    const segs: Record<string, Seg> = {
      "c-data": cv.data(0, pattern(7, 5)),
      "s-data": cv.data(1, pattern(9, 4, 1)),
    };
    segs["c-fin"] = cv.fin(0);
    segs["s-fin"] = cv.fin(1);
    let ts = 10;
    for (const name of order) feed(r, segs[name]!, ts++);
    const k = only(rec.conns);
    const what = order.join(",");
    t.is(k.closed, "fin", what);
    t.is(k.closeTs, 13, `${what}: closed by the last of the four`);
    t.is(k.closeSide, order.indexOf("c-fin") < order.indexOf("s-fin") ? 0 : 1, what);
    t.deepEqual(k.bytes[0], [...pattern(0, 12)], what);
    t.deepEqual(k.bytes[1], [...pattern(0, 13, 1)], what);
    t.is(r.stats().gaps, 0, what);
    t.is(r.stats().bufferedBytes, 0, what);
    t.deepEqual(rec.errors, [], what);
    orders++;
  }
  t.is(orders, 24);
});

test("FINs ahead of data split at every byte and delivered in reverse: the whole stream, no gap", (t) => {
  const stream = pattern(0, 40);
  for (let cut = 1; cut < stream.length; cut++) {
    const { r, rec } = setup();
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1);
    feed(r, cv.synAck(), 2);
    const a = cv.data(0, stream.subarray(0, cut));
    const b = cv.data(0, stream.subarray(cut));
    feed(r, cv.fin(1), 3);
    feed(r, cv.fin(0), 4);
    feed(r, b, 5);
    t.is(rec.conns[0]?.closed, null, `cut ${cut}`);
    feed(r, a, 6);
    const k = only(rec.conns);
    t.is(k.closed, "fin", `cut ${cut}`);
    t.is(k.closeSide, SERVER_TO_CLIENT, "the server's FIN came first");
    t.deepEqual(k.bytes[0], [...stream], `cut ${cut}`);
    t.is(r.stats().gaps, 0);
  }
});

test("a hole before a FIN that is never filled: the gap, then the close, when the wait runs out", (t) => {
  const { r, rec, anomalies } = setup({ closedLingerMicros: 2_000_000 });
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1_000_000);
  feed(r, cv.synAck(), 1_000_001);
  feed(r, cv.data(0, pattern(0, 10)), 1_000_002);
  const hole = cv.data(0, pattern(10, 6)); // never captured (until much too late)
  feed(r, cv.data(0, pattern(16, 4)), 1_000_003);
  feed(r, cv.fin(0), 1_000_004);
  feed(r, cv.fin(1), 1_000_005);
  feed(r, cv.ack(0), 1_000_006); // the last ACK changes nothing
  const k = only(rec.conns);
  t.is(k.closed, null);
  r.expire(2_500_000);
  t.is(k.closed, null, "still within closedLingerMicros");
  // Capture time moves on with another connection's packets: the wait runs out without an expire() call.
  const other = new Conversation(["10.0.0.9", 40009], S);
  feed(r, other.syn(), 3_100_000);
  t.is(k.closed, "fin");
  t.is(k.closeTs, 1_000_006, "the time of the connection's last packet");
  t.deepEqual(k.events[0], [
    ["data", 0, 10],
    ["gap", 10, 6],
    ["data", 16, 4],
  ]);
  t.is(codes(anomalies.records(), "tcp.gap"), 1);
  t.is(r.stats().bufferedBytes, 0);
  // It lingers as closed: the retransmitted hole, too late, starts nothing.
  feed(r, hole, 3_100_001);
  t.is(rec.conns.length, 2);
  t.deepEqual(rec.errors, []);
});

test("a FIN ahead of a hole that the caps give up closes at once; a RST closes it too, saying who", (t) => {
  {
    const { r, rec, anomalies } = setup({ maxBufferedPerDirection: 20 });
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1);
    feed(r, cv.synAck(), 2);
    cv.data(0, pattern(0, 5)); // lost
    const ahead = cv.data(0, pattern(5, 15));
    const more = cv.data(0, pattern(20, 10));
    feed(r, cv.fin(0), 3);
    feed(r, cv.fin(1), 4);
    feed(r, ahead, 5);
    t.is(rec.conns[0]?.closed, null, "15 bytes held, under the cap of 20");
    feed(r, more, 6); // 25 > 20: the hole is given up, the stream reaches the FIN
    const k = only(rec.conns);
    t.is(k.closed, "fin");
    t.deepEqual(k.events[0], [
      ["gap", 0, 5],
      ["data", 5, 15],
      ["data", 20, 10],
    ]);
    t.is(codes(anomalies.records(), "tcp.ooo-cap-exceeded"), 1);
  }
  {
    const { r, rec } = setup();
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1);
    feed(r, cv.synAck(), 2);
    cv.data(1, pattern(0, 8)); // lost
    feed(r, cv.fin(1), 3);
    feed(r, cv.fin(0), 4);
    feed(r, cv.rst(1), 5);
    const k = only(rec.conns);
    t.is(k.closed, "rst");
    t.is(k.closeSide, SERVER_TO_CLIENT);
    t.deepEqual(k.events[1], [["gap", 0, 8]]);
  }
});

test("a new SYN on the tuple of a connection waiting after its FINs ends it and starts another", (t) => {
  const { r, rec } = setup();
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1);
  feed(r, cv.synAck(), 2);
  cv.data(0, pattern(0, 4)); // lost
  feed(r, cv.fin(0), 3);
  feed(r, cv.fin(1), 4);
  const again = new Conversation(C, S, 777_777);
  feed(r, again.syn(), 5);
  feed(r, again.data(0, pattern(0, 3, 5)), 6);
  t.is(rec.conns.length, 2);
  t.is(rec.conns[0]?.closed, "fin");
  t.deepEqual(rec.conns[0]?.events[0], [["gap", 0, 4]]);
  t.deepEqual(rec.conns[1]?.bytes[0], [...pattern(0, 3, 5)]);
  t.deepEqual(rec.errors, []);
});

test("a full table makes room from closing and dormant connections before evicting an open one", (t) => {
  const { r, rec, anomalies } = setup({ maxConnections: 3, idleMicros: 10_000_000 });
  const a = new Conversation(["10.0.0.3", 40001], S);
  const b = new Conversation(["10.0.0.4", 40002], S);
  const c = new Conversation(["10.0.0.5", 40003], S);
  feed(r, a.syn(), 1_000_000);
  a.data(0, pattern(0, 3)); // lost
  feed(r, a.fin(0), 1_000_001);
  feed(r, a.fin(1), 1_000_002); // a: closing
  feed(r, b.syn(), 1_000_003);
  feed(r, c.syn(), 12_000_000); // b goes dormant as capture time passes its idle timeout
  t.is(r.stats().dormant, 1);
  t.is(r.stats().lingering, 1);
  feed(r, new Conversation(["10.0.0.6", 40004], S).syn(), 12_000_001);
  t.is(rec.conns[0]?.closed, "fin", "the closing one goes first, as a FIN close with its gap");
  t.deepEqual(rec.conns[0]?.events[0], [["gap", 0, 3]]);
  t.is(rec.conns[1]?.closed, null);
  feed(r, new Conversation(["10.0.0.7", 40005], S).syn(), 12_000_002);
  t.is(rec.conns[1]?.closed, "idle", "then the dormant one, as the idle close it was due");
  t.is(rec.conns[2]?.closed, null);
  feed(r, new Conversation(["10.0.0.8", 40006], S).syn(), 12_000_003);
  t.is(rec.conns[2]?.closed, "evicted", "only then an open one");
  t.is(codes(anomalies.records(), "tcp.flow-table-full"), 1);
  t.deepEqual(rec.errors, []);
});

// ── Which side reset ──────────────────────────────────────────────────────────────────────────────

test("a RST tells the handler which direction sent it; FIN closes tell who closed first", (t) => {
  for (const dir of [0, 1] as const) {
    const { r, rec } = setup();
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1);
    feed(r, cv.synAck(), 2);
    feed(r, cv.data(0, pattern(0, 5)), 3);
    feed(r, cv.rst(dir), 4);
    const k = only(rec.conns);
    t.is(k.closed, "rst");
    t.is(k.closeSide, dir);
    t.is(k.closeTs, 4);
  }
  {
    // A RST answering a SYN: the server refused, and it is the server's RST.
    const { r, rec } = setup();
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1);
    feed(r, { ...cv.rst(1), flags: 0x14 }, 2);
    t.is(only(rec.conns).closeSide, SERVER_TO_CLIENT);
  }
  {
    const { r, rec } = setup();
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1);
    feed(r, cv.synAck(), 2);
    feed(r, cv.fin(1), 3);
    feed(r, cv.fin(0), 4);
    const k = only(rec.conns);
    t.is(k.closed, "fin");
    t.is(k.closeSide, SERVER_TO_CLIENT);
  }
  {
    // Idle, eviction and end of capture: nobody on the wire ended it.
    const { r, rec } = setup();
    feed(r, new Conversation(C, S).syn(), 1);
    r.finish(2);
    t.is(only(rec.conns).closed, "end-of-capture");
    t.is(only(rec.conns).closeSide, undefined);
  }
});

// ── Late segments and the idle timeout ────────────────────────────────────────────────────────────

test("a segment more than the idle timeout late continues its connection: no second one", (t) => {
  const { r, rec, anomalies } = setup({ idleMicros: 300_000_000 });
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1_000_000);
  feed(r, cv.synAck(), 1_000_001);
  feed(r, cv.data(0, pattern(0, 10)), 1_000_002);
  // Six minutes later the association goes on (a DICOM association may sit quiet that long).
  feed(r, cv.data(0, pattern(10, 10)), 361_000_000);
  feed(r, cv.data(1, pattern(0, 4, 3)), 361_000_001);
  const k = only(rec.conns);
  t.is(k.closed, null);
  t.deepEqual(k.bytes[0], [...pattern(0, 20)]);
  t.deepEqual(k.bytes[1], [...pattern(0, 4, 3)]);
  t.deepEqual(k.handshakes, ["syn-ack"]);
  t.is(codes(anomalies.records(), "tcp.resumed-after-idle"), 1);
  t.is(r.stats().resumedAfterIdle, 1);
  t.is(r.stats().active, 1);
  t.is(r.stats().dormant, 0);
  feed(r, cv.fin(0), 361_000_002);
  feed(r, cv.fin(1), 361_000_003);
  t.is(k.closed, "fin");
  t.deepEqual(rec.errors, []);
});

test("a late segment after other traffic put its connection to sleep resumes it, held data and all", (t) => {
  const { r, rec, anomalies } = setup({ idleMicros: 5_000_000, idleLingerMicros: 20_000_000 });
  const cv = new Conversation(C, S);
  const other = new Conversation(["10.0.0.9", 40009], S);
  feed(r, cv.syn(), 1_000_000);
  feed(r, cv.synAck(), 1_000_001);
  const late = cv.data(0, pattern(0, 10)); // the segment that comes late
  feed(r, cv.data(0, pattern(10, 10)), 1_000_002); // held behind it
  feed(r, other.syn(), 1_000_003);
  for (let s = 2; s <= 15; s++) feed(r, other.data(0, pattern(s, 1)), s * 1_000_000);
  t.is(r.stats().dormant, 1, "past the idle timeout while other traffic ran");
  t.is(rec.conns[0]?.closed, null);
  t.is(r.stats().bufferedBytes, 10, "a dormant connection keeps what it holds");
  feed(r, late, 15_000_001);
  const k = rec.conns[0]!;
  t.is(rec.conns.length, 2);
  t.is(k.closed, null);
  t.deepEqual(k.events[0], [
    ["data", 0, 10],
    ["data", 10, 10],
  ]);
  t.is(r.stats().gaps, 0);
  t.is(codes(anomalies.records(), "tcp.resumed-after-idle"), 1);
  t.deepEqual(rec.errors, []);
});

test("a dormant tuple reused far from its stream, or by a SYN, is a new connection and the old closes", (t) => {
  {
    const { r, rec } = setup({ idleMicros: 5_000_000 });
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1_000_000);
    feed(r, cv.data(0, pattern(0, 5)), 1_000_001);
    const far = cv.data(0, pattern(5, 5));
    feed(r, { ...far, seq: (far.seq + 0x40000000) >>> 0 }, 8_000_000);
    t.is(rec.conns.length, 2);
    t.is(rec.conns[0]?.closed, "idle");
    t.deepEqual(rec.conns[1]?.handshakes, ["mid-stream"]);
  }
  {
    const { r, rec } = setup({ idleMicros: 5_000_000 });
    const cv = new Conversation(C, S);
    feed(r, cv.syn(), 1_000_000);
    feed(r, cv.data(0, pattern(0, 5)), 1_000_001);
    const again = new Conversation(C, S, 555_555);
    feed(r, again.syn(), 8_000_000);
    t.is(rec.conns.length, 2);
    t.is(rec.conns[0]?.closed, "idle");
    t.is(rec.conns[0]?.closeTs, 8_000_000);
    t.deepEqual(rec.conns[1]?.handshakes, []);
    t.is(rec.conns[1]?.closed, null);
    t.deepEqual(rec.errors, []);
  }
});

test("a RST after the idle timeout closes the same connection as reset, by its sender", (t) => {
  const { r, rec } = setup({ idleMicros: 5_000_000 });
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1_000_000);
  feed(r, cv.synAck(), 1_000_001);
  feed(r, cv.data(0, pattern(0, 5)), 1_000_002);
  feed(r, cv.rst(1), 9_000_000);
  const k = only(rec.conns);
  t.is(k.closed, "rst");
  t.is(k.closeSide, SERVER_TO_CLIENT);
});

test("finish() closes a dormant connection as idle, at the time its timeout struck", (t) => {
  const { r, rec } = setup({ idleMicros: 5_000_000 });
  const cv = new Conversation(C, S);
  feed(r, cv.syn(), 1_000_000);
  r.expire(7_000_000);
  t.is(r.stats().dormant, 1);
  r.finish(8_000_000);
  t.is(only(rec.conns).closed, "idle");
  t.is(only(rec.conns).closeTs, 7_000_000);
  t.is(r.stats().dormant, 0);
});

test("expire() from the agent's clock closes at once what is silent past both limits", (t) => {
  const { r, rec } = setup({ idleMicros: 5_000_000, idleLingerMicros: 5_000_000 });
  feed(r, new Conversation(C, S).syn(), 1_000_000);
  r.expire(12_000_000);
  t.is(only(rec.conns).closed, "idle");
  t.is(r.stats().dormant, 0);
});

// ── Capture time running backwards ────────────────────────────────────────────────────────────────

test("capture time running backwards is an anomaly, never a split or an expiry", (t) => {
  const { r, rec, anomalies } = setup({ idleMicros: 5_000_000 });
  const cv = new Conversation(C, S);
  const T = 4_000_000_000;
  feed(r, cv.syn(), T);
  feed(r, cv.synAck(), T + 1);
  feed(r, cv.data(0, pattern(0, 5)), T + 2);
  // The clock was stepped back an hour: the next packets are stamped before the first.
  feed(r, cv.data(0, pattern(5, 5)), T - 3_600_000_000);
  feed(r, cv.data(0, pattern(10, 5)), T - 3_599_000_000);
  // Small inversions (merged capture queues) are ordinary.
  feed(r, cv.data(0, pattern(15, 5)), T - 3_599_500_000);
  const k = only(rec.conns);
  t.is(k.closed, null);
  t.deepEqual(k.bytes[0], [...pattern(0, 20)]);
  t.is(codes(anomalies.records(), "capture.time-backwards"), 1);
  t.is(r.stats().timeBackwards, 1);
  const row = anomalies.records().find((a) => a.code === "capture.time-backwards")!;
  t.is(row.layer, "capture");
  // Idle expiry runs on the largest time seen (T): every packet refreshed the connection at that clock,
  // so 4 s after T nothing has expired, though the packets themselves are stamped an hour earlier.
  r.expire(T + 4_000_000);
  t.is(r.stats().active, 1);
  t.is(r.stats().dormant, 0);
});

test("one packet stamped far ahead does not split the connections it jumped over", (t) => {
  const { r, rec, anomalies } = setup({ idleMicros: 5_000_000 });
  const a = new Conversation(C, S);
  const b = new Conversation(["10.0.0.7", 40007], S);
  feed(r, a.syn(), 10_000_000);
  feed(r, a.synAck(), 10_000_001);
  feed(r, a.data(0, pattern(0, 5)), 10_000_002);
  feed(r, b.syn(), 10_000_003);
  feed(r, b.data(0, pattern(0, 1)), 7_210_000_000); // two hours ahead: a goes dormant
  t.is(r.stats().dormant, 1);
  feed(r, a.data(0, pattern(5, 5)), 10_000_004); // back to the real time
  feed(r, a.data(1, pattern(0, 5)), 10_000_005);
  feed(r, a.fin(0), 10_000_006);
  feed(r, a.fin(1), 10_000_007);
  t.is(rec.conns.length, 2);
  const k = rec.conns[0]!;
  t.is(k.closed, "fin");
  t.deepEqual(k.bytes[0], [...pattern(0, 10)]);
  t.deepEqual(k.handshakes, ["syn-ack"]);
  t.is(codes(anomalies.records(), "capture.time-backwards"), 1);
  // b's own late packet resumed b; a's next packet resumed a.
  t.is(codes(anomalies.records(), "tcp.resumed-after-idle"), 2);
  t.is(rec.conns[1]?.closed, null);
  t.deepEqual(rec.errors, []);
});

test("a SYN retransmitted after its connection went dormant is its own, not a new connection", (t) => {
  const { r, rec } = setup({ idleMicros: 5_000_000 });
  const cv = new Conversation(C, S);
  const syn = cv.syn();
  feed(r, syn, 1_000_000);
  feed(r, { ...syn, flags: TCP_SYN }, 7_000_000);
  t.is(rec.conns.length, 1);
  t.is(rec.conns[0]?.closed, null);
});
