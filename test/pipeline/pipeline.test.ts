/**
 * End-to-end properties of the parsing pipeline driven by frames: the same DICOM stream gives the same
 * associations and messages whatever the segmentation, the order of segments on the wire, and
 * retransmitted duplicates; hostile frames never throw.
 */
import test from "ava";
import fc from "fast-check";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type { AssociationRecord } from "../../agent/report/types.js";
import { storeConversation } from "../dicom/ul/conversation.js";
import { sessionFrames, type Frame } from "./session.js";

function run(frames: Frame[]): Pipeline {
  const p = new Pipeline();
  for (const f of frames) p.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  p.finish();
  return p;
}

/**
 * Records without their times, messages in a canonical order. Reordering frames legitimately changes which
 * packet carried an event, and the order in which messages of the two directions complete: a delayed
 * segment of a request can complete it after the response was seen.
 */
function canonical(records: AssociationRecord[]): unknown {
  const key = (m: AssociationRecord["messages"][number]) =>
    (m.messageId ?? m.messageIdBeingRespondedTo ?? 0) * 2 + (m.command.endsWith("-RSP") ? 1 : 0);
  return records.map(({ start: _s, end: _e, messages, ...rest }) => ({
    ...rest,
    messages: [...messages].sort((a, b) => key(a) - key(b)),
  }));
}

const baseline = run(sessionFrames(storeConversation()));

test("a store conversation over TCP gives one released association with its messages", (t) => {
  const records = baseline.associations();
  t.is(records.length, 1);
  const a = records[0]!;
  t.is(a.client, "10.20.0.1:40123");
  t.is(a.server, "10.20.0.2:104");
  t.is(a.callingAE, "CT_SCANNER");
  t.is(a.calledAE, "PACS");
  t.is(a.outcome, "accepted");
  t.true(a.released);
  t.deepEqual(
    a.messages.map((m) => m.command),
    ["C-ECHO-RQ", "C-ECHO-RSP", "C-STORE-RQ", "C-STORE-RSP"],
  );
  const s = baseline.stats();
  t.is(s.tcpFlows, 1);
  t.is(s.dicomFlows, 1);
  t.is(s.associations, 1);
  t.is(s.dimseMessages, 4);
  t.is(s.anomalies, 0, JSON.stringify(baseline.anomalyCounter.records()));
});

test("any segmentation, reordering within a window and duplication gives the same records", (t) => {
  const expected = canonical(baseline.associations());
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 1460 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 60 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (sizes, swaps, dups) => {
        let i = 0;
        const frames = sessionFrames(storeConversation(), { segmentSize: () => sizes[i++ % sizes.length]! });
        // Reorder segments of one direction within a small window (a reordering path); messages are
        // listed in capture order, so swapping across directions would legitimately change the list.
        for (const s of swaps) {
          const a = 3 + (s % Math.max(1, frames.length - 6));
          const b = Math.min(frames.length - 4, a + 1 + (s % 3));
          if (frames[a]!.data[29] === frames[b]!.data[29]) [frames[a], frames[b]] = [frames[b]!, frames[a]!];
        }
        for (const d of dups) {
          const k = 3 + (d % Math.max(1, frames.length - 6));
          frames.splice(k + 1, 0, frames[k]!);
        }
        const p = run(frames);
        t.deepEqual(canonical(p.associations()), expected);
      },
    ),
    { numRuns: 150 },
  );
});

test("random and mutated frames never throw and keep counters consistent", (t) => {
  const frames = sessionFrames(storeConversation(), { segmentSize: () => 97 });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 30 }),
      fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }),
      (mutations, junk) => {
        const copy = frames.map((f) => ({ data: Buffer.from(f.data), tsMicros: f.tsMicros }));
        for (const [fi, off, v] of mutations) {
          const f = copy[fi % copy.length]!;
          f.data[off % f.data.length] = v;
        }
        for (const j of junk) copy.push({ data: Buffer.from(j), tsMicros: copy.at(-1)!.tsMicros + 1 });
        const p = run(copy);
        const s = p.stats();
        t.is(s.packets, copy.length);
        t.true(s.associations >= p.associations().length);
        // The packet boundary catches whatever a stage throws, so "never throws" is only seen here.
        const thrown = p.anomalyCounter.records().filter((a) => a.code === "internal.exception");
        t.deepEqual(thrown, []);
      },
    ),
    { numRuns: 300 },
  );
});

test("expire() from the agent's timer survives a stage that throws while connections close", (t) => {
  // A downstream stage that fails on the association record: emitted when the idle connection closes.
  const p = new Pipeline({
    observations: {
      observe(o) {
        if (o.kind === "association") throw new Error("downstream failed");
      },
    },
  });
  const frames = sessionFrames(storeConversation()).slice(0, 6); // open, not torn down
  for (const f of frames) p.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  t.deepEqual(p.anomalyCounter.records(), []);
  t.notThrows(() => p.expire(frames.at(-1)!.tsMicros + 3_600_000_000));
  t.deepEqual(
    p.anomalyCounter.records().map((a) => [a.code, a.layer]),
    [["internal.exception", "reassembly"]],
  );
});
