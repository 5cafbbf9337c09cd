/**
 * Issue 9 through the whole pipeline, from Ethernet frames: a DICOM association whose release PDUs a
 * SPAN port forwards after the FINs is still released; one packet more than the idle timeout late, or
 * stamped far from its neighbours, never splits the association or invents a second one.
 */
import test from "ava";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type { AssociationRecord } from "../../agent/report/types.js";
import { storeConversation } from "../dicom/ul/conversation.js";
import { sessionFrames, type Frame } from "../pipeline/session.js";

function run(frames: Frame[]): Pipeline {
  const p = new Pipeline();
  for (const f of frames) p.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  p.finish();
  return p;
}

function anomalies(p: Pipeline, code: string): number {
  return p.anomalyCounter
    .records()
    .filter((a) => a.code === code)
    .reduce((n, a) => n + a.count, 0);
}

/** Capture order is the order given; the stamps follow it, one millisecond apart (as a capture would). */
function restamp(frames: Frame[]): Frame[] {
  const t0 = frames[0]!.tsMicros;
  return frames.map((f, i) => ({ data: f.data, tsMicros: t0 + i * 1000 }));
}

const base = sessionFrames(storeConversation(), { segmentSize: () => 300 });
// The last frames are [.., A-RELEASE-RQ, A-RELEASE-RP, FIN client, FIN server, ACK].
const FIN_C = base.length - 3;
const baseline = run(restamp(base)).associations()[0]!;

function same(t: import("ava").ExecutionContext, a: AssociationRecord | undefined, what: string): void {
  t.truthy(a, what);
  t.is(a!.outcome, baseline.outcome, what);
  t.is(a!.released, true, what);
  t.deepEqual(
    a!.messages.map((m) => m.command),
    baseline.messages.map((m) => m.command),
    what,
  );
  t.deepEqual(a!.captureGaps, { count: 0, bytes: 0 }, what);
}

test("the baseline association is released", (t) => {
  t.is(baseline.released, true);
  t.is(baseline.outcome, "accepted");
  t.true(baseline.messages.length >= 4);
});

test("both FINs moved ahead of each of the last data segments: still one association, released", (t) => {
  const fins = base.slice(FIN_C, FIN_C + 2);
  // Insert both FINs before frame k, for every k from the release PDUs back into the C-STORE response.
  for (let k = FIN_C - 1; k >= FIN_C - 4; k--) {
    const frames = [...base.slice(0, k), ...fins, ...base.slice(k, FIN_C), ...base.slice(FIN_C + 2)];
    const p = run(restamp(frames));
    const as = p.associations();
    t.is(as.length, 1, `FINs before frame ${k}`);
    same(t, as[0], `FINs before frame ${k}`);
    t.is(anomalies(p, "tcp.gap"), 0, `FINs before frame ${k}`);
  }
  // The two FINs in either order, and each alone ahead of both release PDUs.
  for (const order of [
    [fins[1]!, fins[0]!, base[FIN_C - 2]!, base[FIN_C - 1]!],
    [fins[0]!, base[FIN_C - 2]!, fins[1]!, base[FIN_C - 1]!],
    [base[FIN_C - 2]!, fins[1]!, base[FIN_C - 1]!, fins[0]!],
  ]) {
    const frames = [...base.slice(0, FIN_C - 2), ...order, ...base.slice(FIN_C + 2)];
    const p = run(restamp(frames));
    t.is(p.associations().length, 1);
    same(t, p.associations()[0], "reordered release");
  }
});

test("FINs ahead of a release response that never comes: one association, the gap on its record", (t) => {
  const frames = [
    ...base.slice(0, FIN_C - 1), // up to the A-RELEASE-RQ
    ...base.slice(FIN_C), // FINs and the last ACK; the A-RELEASE-RP is lost
  ];
  const p = run(restamp(frames));
  const as = p.associations();
  t.is(as.length, 1);
  t.is(as[0]!.released, false);
  t.is(as[0]!.captureGaps.count, 1);
  t.is(as[0]!.captureGaps.bytes, base[FIN_C - 1]!.data.length - 54);
});

test("a packet more than the idle timeout late continues the association: no second one", (t) => {
  // Everything after the A-ASSOCIATE-AC comes six minutes later (the default idle timeout is five).
  for (const from of [5, 6, 8, FIN_C - 2]) {
    const frames = restamp(base).map((f, i) =>
      i >= from ? { ...f, tsMicros: f.tsMicros + 360_000_000 } : f,
    );
    const p = run(frames);
    const as = p.associations();
    t.is(as.length, 1, `late from frame ${from}`);
    same(t, as[0], `late from frame ${from}`);
    t.true(as[0]!.end >= as[0]!.start, `late from frame ${from}`);
    t.is(anomalies(p, "tcp.resumed-after-idle"), 1);
  }
});

test("one packet stamped hours ahead, or time stepping back, never splits the association", (t) => {
  for (let k = 4; k < base.length - 1; k += 3) {
    const frames = restamp(base).map((f, i) =>
      i === k ? { ...f, tsMicros: f.tsMicros + 7_200_000_000 } : f,
    );
    const p = run(frames);
    t.is(p.associations().length, 1, `frame ${k} ahead`);
    same(t, p.associations()[0], `frame ${k} ahead`);
    t.is(anomalies(p, "capture.time-backwards"), 1, `frame ${k} ahead`);
  }
  for (let k = 4; k < base.length - 1; k += 3) {
    const frames = restamp(base).map((f, i) => (i >= k ? { ...f, tsMicros: f.tsMicros - 3_600_000_000 } : f));
    const p = run(frames);
    t.is(p.associations().length, 1, `time back an hour at frame ${k}`);
    same(t, p.associations()[0], `time back an hour at frame ${k}`);
    t.is(anomalies(p, "capture.time-backwards"), 1);
  }
});
