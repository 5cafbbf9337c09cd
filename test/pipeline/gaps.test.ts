/**
 * Issue 8 and 9: under loss the sensor stays right. A capture that misses segments (kernel drops, a lossy
 * mirror port) shows one association per connection with what could be decoded, never a second,
 * invented one; the association and the findings raised from it say how much was missing.
 */
import test from "ava";
import fc from "fast-check";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { Analysis } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import { defaultConfig } from "../../agent/config/config.js";
import { storeConversation } from "../dicom/ul/conversation.js";
import { sessionFrames, type Frame } from "./session.js";

function run(frames: Frame[]): { p: Pipeline; analysis: Analysis } {
  const analysis = new Analysis(defaultConfig());
  const p = new Pipeline({ observations: analysis });
  for (const f of frames) p.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  p.finish();
  analysis.findings.finish(p.nowMicros);
  return { p, analysis };
}

const base = sessionFrames(storeConversation(), { segmentSize: () => 200 });
const baseline = run(base).p.associations()[0]!;
const baseCommands = baseline.messages.map((m) => m.command);

test("every single lost segment: one association, no invented one, and the gap on its record", (t) => {
  // Frames 0-2 are the handshake; the last ones are the FIN teardown.
  for (let k = 3; k < base.length - 4; k++) {
    const { p } = run(base.filter((_, i) => i !== k));
    const as = p.associations();
    t.is(
      as.length,
      1,
      `frame ${k} lost: ${as.map((a) => a.messages.map((m) => m.command).join(",")).join(" | ")}`,
    );
    const a = as[0]!;
    t.true(a.captureGaps.count >= 1 && a.captureGaps.bytes > 0, `frame ${k}`);
    // Health's view: one flow with a gap, as many bytes missing as the association counts.
    t.deepEqual(p.gaps(), { flows: 1, bytes: a.captureGaps.bytes }, `frame ${k}`);
    // What was decoded is a part of what was sent, in the same order per direction.
    const rq = a.messages.filter((m) => m.command.endsWith("-RQ")).map((m) => m.command);
    t.deepEqual(
      rq,
      baseCommands.filter((c) => c.endsWith("-RQ")).filter((c) => rq.includes(c)),
    );
  }
  t.deepEqual(baseline.captureGaps, { count: 0, bytes: 0 });
});

test("any set of lost segments: never more than one association on the connection", (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 3, max: base.length - 5 }), { minLength: 1, maxLength: 8 }),
      (lost) => {
        const { p } = run(base.filter((_, i) => !lost.includes(i)));
        return p.associations().length <= 1;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test("findings raised from an association with holes carry the gap in their evidence", (t) => {
  // Lose a segment in the middle of the C-STORE data.
  const k = Math.floor(base.length / 2);
  const { analysis } = run(base.filter((_, i) => i !== k));
  const cleartext = analysis.findings.findings().find((f) => f.rule === "dicom.cleartext");
  t.truthy(cleartext);
  const counts = (cleartext!.evidence as { counts: Record<string, number> }).counts;
  t.true((counts.captureGaps ?? 0) >= 1, JSON.stringify(counts));
  t.true((counts.captureGapBytes ?? 0) > 0);
  const whole = run(base)
    .analysis.findings.findings()
    .find((f) => f.rule === "dicom.cleartext")!;
  t.is((whole.evidence as { counts: Record<string, number> }).counts.captureGaps, undefined);
});
