/**
 * Issue 9: interrupted transfers. A DIMSE command whose command set arrived whole is reported whatever
 * happens to its data set afterwards (an A-ABORT from either side, an A-RELEASE, a gap, the TCP connection
 * reset, closed or gone idle), and its record's `dataset` says whether the data set completed, how many
 * bytes came and why it stopped. An association ended by the TCP connection (neither released nor
 * aborted) is "incomplete" with a transportEnd. Byte-built conversations through the real DIMSE layer.
 */
import test from "ava";
import fc from "fast-check";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import { guardObservation } from "../../../agent/observations/guard.js";
import type { Observation } from "../../../agent/observations/types.js";
import type { CloseReason, Direction } from "../../../agent/reassembly/types.js";
import type { AssociationState, DimseMessageRecord } from "../../../agent/report/types.js";
import * as b from "./builders.js";
import { STORE_INSTANCE, storeConversation, T0, type Turn } from "./conversation.js";
import { connectionInfo, Harness } from "./harness.js";

/** A CT data set of about 5 KB: equipment attributes, then pixel data (7FE0,0010) OB. */
const PIXELS = 4800;
const DATASET = Buffer.concat([
  b.ctDataset(STORE_INSTANCE),
  Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0]),
  Buffer.from(Uint32Array.of(PIXELS).buffer),
  Buffer.alloc(PIXELS, 0x33),
]);
/** Data set fragments per P-DATA-TF (PS3.8 §9.3.5.1), each PDU one PDV. */
const FRAGMENT = 1000;
const DATA_PDUS = b.fragments(3, false, DATASET, FRAGMENT).map((p) => b.pdataTf([p]));
const [RQ, AC, ECHO, ECHO_RSP] = storeConversation().map((t) => t.bytes);
const STORE_CMD = b.pdataTf([b.pdv(3, true, true, b.cStoreRq(2, b.CT_IMAGE_STORAGE, STORE_INSTANCE))]);
const STORE_RSP = b.pdataTf([b.pdv(3, true, true, b.cStoreRsp(2, b.CT_IMAGE_STORAGE, STORE_INSTANCE))]);

/** RQ, AC, C-ECHO and its response, the C-STORE-RQ command and its first `dataPdus` data set PDUs. */
function opening(dataPdus: number): Turn[] {
  return [
    { dir: 0, bytes: RQ!, ts: T0 },
    { dir: 1, bytes: AC!, ts: T0 + 1000 },
    { dir: 0, bytes: ECHO!, ts: T0 + 2000 },
    { dir: 1, bytes: ECHO_RSP!, ts: T0 + 3000 },
    { dir: 0, bytes: Buffer.concat([STORE_CMD, ...DATA_PDUS.slice(0, dataPdus)]), ts: T0 + 4000 },
  ];
}

/** Feeds the turns cut at `cuts` (offsets into their concatenation), then closes for `reason`. */
function run(
  turns: Turn[],
  reason: CloseReason = "fin",
  cuts: number[] = [],
  by: Direction | null = null,
): Harness {
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  const sorted = [...cuts].sort((x, y) => x - y);
  let base = 0;
  for (const t of turns) {
    let p = 0;
    for (const c of sorted) {
      if (c <= base + p || c >= base + t.bytes.length) continue;
      // A fresh copy, scribbled over after the call: a parser keeping a view past the call fails.
      const chunk = Buffer.from(t.bytes.subarray(p, c - base));
      h.conn.data(t.dir, chunk, 0, chunk.length, t.ts);
      chunk.fill(0xaa);
      p = c - base;
    }
    const rest = Buffer.from(t.bytes.subarray(p));
    if (rest.length > 0) h.conn.data(t.dir, rest, 0, rest.length, t.ts);
    rest.fill(0xaa);
    base += t.bytes.length;
  }
  h.conn.close(reason, T0 + 99_000, by);
  return h;
}

function record(h: Harness): AssociationState {
  const as = h.associations();
  if (as.length !== 1) throw new Error(`${as.length} associations`);
  return as[0]!.record;
}

function store(h: Harness): DimseMessageRecord | undefined {
  return record(h).messages.find((m) => m.command === "C-STORE-RQ");
}

const view = (h: Harness): string =>
  JSON.stringify({ o: h.observations, a: h.anomalies.records(), s: h.stats });

test("a whole transfer: dataset complete with its size; commands without a data set say null", (t) => {
  const h = run([
    ...opening(DATA_PDUS.length),
    { dir: 1, bytes: STORE_RSP, ts: T0 + 5000 },
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 6000 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 7000 },
  ]);
  t.deepEqual(h.codes(), []);
  const r = record(h);
  t.is(r.outcome, "accepted");
  t.true(r.released);
  t.is(r.transportEnd, null);
  t.deepEqual(
    r.messages.map((m) => [m.command, m.dataset]),
    [
      ["C-ECHO-RQ", null],
      ["C-ECHO-RSP", null],
      ["C-STORE-RQ", { complete: true, bytes: DATASET.length, stopped: null }],
      ["C-STORE-RSP", null],
    ],
  );
});

test("the requestor aborts mid-dataset: the C-STORE-RQ is reported, incomplete, stopped by the abort", (t) => {
  const h = run([...opening(2), { dir: 0, bytes: b.abort(0, 0), ts: T0 + 5000 }]);
  const r = record(h);
  t.is(r.outcome, "aborted");
  t.deepEqual(r.abort, { source: 0, reason: 0 });
  t.is(r.transportEnd, null);
  t.deepEqual(store(h)?.dataset, { complete: false, bytes: 2 * FRAGMENT, stopped: "aborted" });
  t.is(h.stats.dimseMessages, 3);
  // Reported before the association, so its record lists the interrupted message when it is observed.
  const kinds = h.observations.map((o) => (o.kind === "dimse" ? o.message.command : o.kind));
  t.deepEqual(kinds, ["C-ECHO-RQ", "C-ECHO-RSP", "C-STORE-RQ", "equipment", "association"]);
  // Equipment read from the part that came is still reported.
  const eq = h.observations.find((o) => o.kind === "equipment");
  t.is(eq?.kind === "equipment" ? eq.attributes.modality : null, "CT");
  t.deepEqual(h.codes(), []);
});

test("the acceptor aborts while the requestor streams: what was in flight is counted, then it stops", (t) => {
  const h = run([
    ...opening(1),
    { dir: 1, bytes: b.abort(2, 0), ts: T0 + 5000 },
    // Sent before the A-ABORT reached the requestor.
    { dir: 0, bytes: Buffer.concat(DATA_PDUS.slice(1, 3)), ts: T0 + 5001 },
  ]);
  const r = record(h);
  t.is(r.outcome, "aborted");
  t.deepEqual(r.abort, { source: 2, reason: 0 });
  t.deepEqual(store(h)?.dataset, { complete: false, bytes: FRAGMENT, stopped: "aborted" });
  t.is(r.messages.filter((m) => m.command === "C-STORE-RQ").length, 1);
  t.deepEqual(h.codes(), ["ul.pdu-after-association-end"]);
});

for (const [reason, stopped] of [
  ["rst", "reset"],
  ["fin", "connection-closed"],
  ["idle", "idle"],
  ["evicted", "evicted"],
  ["end-of-capture", "end-of-capture"],
] as const) {
  test(`the connection ends (${reason}) mid-dataset: stopped "${stopped}", association incomplete with its transport end`, (t) => {
    const h = run(opening(3), reason);
    const r = record(h);
    t.is(r.outcome, "incomplete");
    t.not(r.acceptor, null);
    t.false(r.released);
    t.is(r.abort, null);
    t.deepEqual(r.transportEnd, { reason, side: null });
    t.deepEqual(store(h)?.dataset, { complete: false, bytes: 3 * FRAGMENT, stopped });
    t.deepEqual(h.codes(), []);
  });
}

test("the side that ended the connection, when the reassembler names it, is mapped to the association's roles", (t) => {
  t.deepEqual(record(run(opening(1), "rst", [], 0)).transportEnd, { reason: "rst", side: "requestor" });
  t.deepEqual(record(run(opening(1), "rst", [], 1)).transportEnd, { reason: "rst", side: "acceptor" });
  // Picked up mid-stream with the roles guessed the other way round: the requestor is who sent the RQ.
  const h = new Harness(connectionInfo({ handshakeSeen: false }), (ctx) => new DimseAssembler(ctx));
  h.feed(1, RQ!, T0);
  h.feed(0, AC!, T0 + 1);
  h.conn.close("fin", T0 + 2, 1);
  t.deepEqual(record(h).transportEnd, { reason: "fin", side: "requestor" });
});

test("an idle or closed connection after a whole exchange is also incomplete, not accepted", (t) => {
  const h = run([...opening(DATA_PDUS.length), { dir: 1, bytes: STORE_RSP, ts: T0 + 5000 }], "idle");
  const r = record(h);
  t.is(r.outcome, "incomplete");
  t.deepEqual(r.transportEnd, { reason: "idle", side: null });
  t.deepEqual(store(h)?.dataset, { complete: true, bytes: DATASET.length, stopped: null });
  // Never answered at all: incomplete as before, and the transport end says how it stopped.
  const q = run([{ dir: 0, bytes: RQ!, ts: T0 }], "rst");
  t.is(record(q).outcome, "incomplete");
  t.is(record(q).acceptor, null);
  t.deepEqual(record(q).transportEnd, { reason: "rst", side: null });
});

test("an A-RELEASE-RQ before the data set's last fragment: stopped by the release", (t) => {
  const h = run([
    ...opening(1),
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 5000 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 6000 },
  ]);
  const r = record(h);
  t.is(r.outcome, "accepted");
  t.true(r.released);
  t.is(r.transportEnd, null);
  t.deepEqual(store(h)?.dataset, { complete: false, bytes: FRAGMENT, stopped: "released" });
});

test("a capture gap inside the data set: stopped by the gap, the rest of the stream still read", (t) => {
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  for (const turn of opening(1)) h.feed(turn.dir, turn.bytes, turn.ts);
  h.conn.gap(0, DATA_PDUS[1]!.length + 10, T0 + 4500);
  h.feed(0, Buffer.concat(DATA_PDUS.slice(2)), T0 + 4600);
  h.feed(0, ECHO!, T0 + 4700);
  h.conn.close("fin", T0 + 5000);
  t.deepEqual(store(h)?.dataset, { complete: false, bytes: FRAGMENT, stopped: "gap" });
  t.deepEqual(
    record(h).messages.map((m) => m.command),
    ["C-ECHO-RQ", "C-ECHO-RSP", "C-STORE-RQ", "C-ECHO-RQ"],
  );
});

test("a command set that never completed is not reported", (t) => {
  const cmd = b.cStoreRq(2, b.CT_IMAGE_STORAGE, STORE_INSTANCE);
  const h = run([
    ...opening(0).slice(0, 4),
    { dir: 0, bytes: b.pdataTf([b.pdv(3, true, false, cmd.subarray(0, 20))]), ts: T0 + 4000 },
    { dir: 0, bytes: b.abort(0, 0), ts: T0 + 5000 },
  ]);
  t.deepEqual(
    record(h).messages.map((m) => m.command),
    ["C-ECHO-RQ", "C-ECHO-RSP"],
  );
});

test("every cut of an interrupted conversation gives the same records (abort, reset)", (t) => {
  const cases: [Turn[], CloseReason][] = [
    [[...opening(2), { dir: 0, bytes: b.abort(0, 0), ts: T0 + 5000 }], "fin"],
    [opening(3), "rst"],
  ];
  for (const [turns, reason] of cases) {
    const expected = view(run(turns, reason));
    const total = turns.reduce((n, x) => n + x.bytes.length, 0);
    for (let k = 1; k < total; k++) {
      const v = view(run(turns, reason, [k]));
      if (v !== expected) {
        t.is(v, expected, `${reason}: cut at ${k}`);
        return;
      }
    }
    t.true(expected.includes('"stopped"'));
  }
});

test("any prefix of a transfer, any end: the C-STORE-RQ is reported once when its command set came", (t) => {
  const full = Buffer.concat([STORE_CMD, ...DATA_PDUS]);
  const boundaries = [0];
  for (const p of [STORE_CMD, ...DATA_PDUS]) boundaries.push(boundaries.at(-1)! + p.length);
  const pduBoundary = (n: number): number => boundaries.filter((x) => x <= n).at(-1)!;
  const head = opening(0).slice(0, 4);
  const cmdEnd = STORE_CMD.length;
  const reasons: CloseReason[] = ["fin", "rst", "idle", "evicted", "end-of-capture"];
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: full.length }),
      fc.constantFrom(...reasons),
      fc.constantFrom("none", "abort-0", "abort-1", "release"),
      fc.uniqueArray(fc.integer({ min: 1, max: 9000 }), { maxLength: 6 }),
      (anyLen, reason, end, cuts) => {
        // What follows in the same direction needs the prefix to end on a PDU boundary (else it would be
        // read as the rest of that PDU); the other direction's PDUs and the connection's end do not.
        const len = end === "abort-0" || end === "release" ? pduBoundary(anyLen) : anyLen;
        const turns: Turn[] = [...head, { dir: 0, bytes: full.subarray(0, len), ts: T0 + 4000 }];
        if (end === "abort-0") turns.push({ dir: 0, bytes: b.abort(0, 0), ts: T0 + 5000 });
        if (end === "abort-1") turns.push({ dir: 1, bytes: b.abort(2, 1), ts: T0 + 5000 });
        if (end === "release") turns.push({ dir: 0, bytes: b.releaseRq(), ts: T0 + 5000 });
        const h = run(turns, reason, cuts);
        const stores = record(h).messages.filter((m) => m.command === "C-STORE-RQ");
        if (len < cmdEnd) return stores.length === 0;
        if (stores.length !== 1) return false;
        const d = stores[0]!.dataset!;
        // Whole PDUs only reach the data set: the bytes seen are what the prefix holds of it.
        const dataBytes = Math.max(0, len - cmdEnd - 12 * Math.ceil((len - cmdEnd) / (FRAGMENT + 12)));
        if (d.complete) return len === full.length && d.bytes === DATASET.length && d.stopped === null;
        const stopped =
          end === "abort-0" || end === "abort-1"
            ? "aborted"
            : end === "release"
              ? "released"
              : (({ fin: "connection-closed", rst: "reset" } as Record<string, string>)[reason] ?? reason);
        return d.stopped === stopped && d.bytes <= DATASET.length && d.bytes >= dataBytes - FRAGMENT;
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});

test("the guard keeps dataset and transportEnd, and only their allowed values", (t) => {
  const h = run(opening(2), "rst", [], 0);
  for (const o of h.observations) {
    const g = guardObservation(o);
    if (o.kind === "dimse" && g.kind === "dimse") t.deepEqual(g.message.dataset, o.message.dataset ?? null);
    if (o.kind === "association" && g.kind === "association") {
      t.deepEqual(g.record.transportEnd, { reason: "rst", side: "requestor" });
      t.deepEqual(
        g.record.messages.map((m) => m.dataset),
        o.record.messages.map((m) => m.dataset ?? null),
      );
    }
  }
  // Values outside the closed lists, or of the wrong type, do not pass.
  const forged = {
    kind: "dimse",
    tsMicros: 1,
    client: { ip: "10.0.0.1", port: 1, mac: null },
    server: { ip: "10.0.0.2", port: 104, mac: null },
    callingAE: null,
    calledAE: null,
    direction: 0,
    message: {
      command: "C-STORE-RQ",
      dataset: { complete: "yes", bytes: "DOE^JANE", stopped: "DOE^JANE", patientName: "DOE^JANE" },
    },
  } as unknown as Observation;
  const g = guardObservation(forged);
  t.deepEqual(g.kind === "dimse" ? g.message.dataset : undefined, {
    complete: false,
    bytes: 0,
    stopped: null,
  });
  t.false(JSON.stringify(g).includes("DOE"));
  const assoc = guardObservation({
    kind: "association",
    tsMicros: 1,
    client: { ip: "10.0.0.1", port: 1, mac: null },
    server: { ip: "10.0.0.2", port: 104, mac: null },
    midStream: false,
    record: { transportEnd: { reason: "DOE^JANE", side: "DOE^JANE" } },
  } as unknown as Observation);
  t.deepEqual(assoc.kind === "association" ? assoc.record.transportEnd : undefined, {
    reason: "end-of-capture",
    side: null,
  });
  // Records made without the new fields (replayed from records stored before them): absent stays absent.
  const old = guardObservation({
    kind: "association",
    tsMicros: 1,
    client: { ip: "10.0.0.1", port: 1, mac: null },
    server: { ip: "10.0.0.2", port: 104, mac: null },
    midStream: false,
    record: { messages: [{ command: "C-ECHO-RQ" }] },
  } as unknown as Observation);
  if (old.kind === "association") {
    t.false("transportEnd" in old.record);
    t.false("dataset" in old.record.messages[0]!);
  }
});
