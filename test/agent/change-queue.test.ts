/**
 * Issue 9: the capture worker sends one batch of changes at a time and holds the rest, coalesced and
 * capped, until the main thread acknowledges it (agent/agent/change-queue.ts).
 */
import test from "ava";
import { ChangeQueue } from "../../agent/agent/change-queue.js";
import type { DeviceRecord, FindingRecord } from "../../agent/report/types.js";

const device = (id: string, n = 0): DeviceRecord => ({ id, n }) as unknown as DeviceRecord;
const finding = (id: string): FindingRecord => ({ id }) as unknown as FindingRecord;

test("one batch in flight; what changes meanwhile waits, newest state per id, until the ack", (t) => {
  const q = new ChangeQueue();
  t.false(q.ready);
  t.is(q.take(), null);
  q.device(device("a"));
  q.finding(finding("f"));
  t.true(q.ready);
  const first = q.take()!;
  t.deepEqual(
    first.devices.map((d) => d.id),
    ["a"],
  );
  t.deepEqual(
    first.findings.map((f) => f.id),
    ["f"],
  );
  q.device(device("b", 1));
  q.device(device("b", 2));
  t.false(q.ready, "the first batch is not acknowledged");
  t.is(q.take(), null);
  q.ack();
  const second = q.take()!;
  t.deepEqual(second.devices, [device("b", 2)]);
  t.is(q.take(), null);
});

test("at stop the last batch goes whatever is in flight", (t) => {
  const q = new ChangeQueue();
  q.device(device("a"));
  q.take();
  q.device(device("b"));
  t.is(q.take(), null);
  t.deepEqual(
    q.take(true)!.devices.map((d) => d.id),
    ["b"],
  );
});

test("while the main thread is behind, waiting ids are capped: new ones are dropped and counted, waiting ones still update", (t) => {
  const q = new ChangeQueue(3);
  q.device(device("x"));
  q.take();
  for (let i = 0; i < 10; i++) q.device(device(`d${i}`));
  q.device(device("d0", 9));
  t.is(q.size, 3);
  t.is(q.takeDropped(), 7);
  t.is(q.takeDropped(), 0);
  q.ack();
  t.deepEqual(q.take()!.devices, [device("d0", 9), device("d1"), device("d2")]);
});

test("a batch holds at most `batch` records, oldest first; the rest goes after the ack, and at stop all at once", (t) => {
  const q = new ChangeQueue(100, 3);
  for (let i = 0; i < 5; i++) q.device(device(`d${i}`));
  q.finding(finding("f0"));
  t.deepEqual(
    q.take()!.devices.map((d) => d.id),
    ["d0", "d1", "d2"],
  );
  t.is(q.take(), null);
  q.ack();
  const next = q.take()!;
  t.deepEqual(
    [...next.devices, ...next.findings].map((r) => r.id),
    ["d3", "d4", "f0"],
  );
  for (let i = 0; i < 5; i++) q.device(device(`e${i}`));
  t.is(q.take(true)!.devices.length, 5);
});
