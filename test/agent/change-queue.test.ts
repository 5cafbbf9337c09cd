/**
 * Issue 9: the capture worker sends one batch of changes at a time and holds the rest, coalesced and
 * capped, until the main thread acknowledges it (agent/agent/change-queue.ts). Only ids wait; the records
 * are looked up when a batch is taken.
 */
import test from "ava";
import { ChangeQueue } from "../../agent/agent/change-queue.js";
import type { DeviceRecord, FindingRecord } from "../../agent/report/types.js";

/** The records "in memory", as the sensor core holds them; a test changes or removes them. */
class Memory {
  readonly devices = new Map<string, number>();
  readonly findings = new Set<string>();
  lookups = 0;
  queue(max?: number, batch?: number): ChangeQueue {
    return new ChangeQueue(
      {
        device: (id) => {
          this.lookups++;
          const n = this.devices.get(id);
          return n === undefined ? null : ({ id, n } as unknown as DeviceRecord);
        },
        finding: (id) => {
          this.lookups++;
          return this.findings.has(id) ? ({ id } as unknown as FindingRecord) : null;
        },
      },
      max,
      batch,
    );
  }
  device(q: ChangeQueue, id: string, n = 0): void {
    this.devices.set(id, n);
    q.device(id);
  }
  finding(q: ChangeQueue, id: string): void {
    this.findings.add(id);
    q.finding(id);
  }
}

const ids = (rs: { id: string }[]): string[] => rs.map((r) => r.id);

test("one batch in flight; what changes meanwhile waits, newest state per id, until the ack", (t) => {
  const m = new Memory();
  const q = m.queue();
  t.false(q.ready);
  t.is(q.take(), null);
  m.device(q, "a");
  m.finding(q, "f");
  t.true(q.ready);
  const first = q.take()!;
  t.deepEqual(ids(first.devices), ["a"]);
  t.deepEqual(ids(first.findings), ["f"]);
  m.device(q, "b", 1);
  m.device(q, "b", 2);
  t.is(q.size, 1, "one id waits for both changes");
  t.false(q.ready, "the first batch is not acknowledged");
  t.is(q.take(), null);
  q.ack();
  const second = q.take()!;
  t.deepEqual(second.devices, [{ id: "b", n: 2 } as unknown as DeviceRecord]);
  t.is(q.take(), null);
});

test("the record is looked up when its batch is taken, not when it changed: the newest state, no copy waiting", (t) => {
  const m = new Memory();
  const q = m.queue();
  m.device(q, "x", 1);
  t.is(m.lookups, 0, "nothing is looked up while the id waits");
  m.devices.set("x", 5);
  t.deepEqual(q.take()!.devices, [{ id: "x", n: 5 } as unknown as DeviceRecord]);
  t.is(m.lookups, 1);
});

test("a finding gone from memory before its batch is taken is not sent, and is counted as dropped", (t) => {
  const m = new Memory();
  const q = m.queue();
  m.finding(q, "kept");
  m.finding(q, "evicted");
  m.findings.delete("evicted");
  t.deepEqual(ids(q.take()!.findings), ["kept"]);
  t.is(q.takeDropped(), 1);
});

test("a batch stays in flight until acknowledged, at stop as before (the worker drains batch by batch)", (t) => {
  const m = new Memory();
  const q = m.queue();
  m.device(q, "a");
  t.false(q.inFlight);
  q.take();
  t.true(q.inFlight);
  m.device(q, "b");
  t.is(q.take(), null);
  q.ack();
  t.false(q.inFlight);
  t.deepEqual(ids(q.take()!.devices), ["b"]);
});

test("while the main thread is behind, waiting ids are capped: new ones are dropped and counted, waiting ones still update", (t) => {
  const m = new Memory();
  const q = m.queue(3);
  m.device(q, "x");
  q.take();
  for (let i = 0; i < 10; i++) m.device(q, `d${i}`);
  m.device(q, "d0", 9);
  t.is(q.size, 3);
  t.is(q.takeDropped(), 7);
  t.is(q.takeDropped(), 0);
  q.ack();
  t.deepEqual(q.take()!.devices, [
    { id: "d0", n: 9 },
    { id: "d1", n: 0 },
    { id: "d2", n: 0 },
  ] as unknown as DeviceRecord[]);
});

test("a batch holds at most `batch` records, oldest first; the rest goes after the ack", (t) => {
  const m = new Memory();
  const q = m.queue(100, 3);
  for (let i = 0; i < 5; i++) m.device(q, `d${i}`);
  m.finding(q, "f0");
  t.deepEqual(ids(q.take()!.devices), ["d0", "d1", "d2"]);
  t.is(q.take(), null);
  q.ack();
  const next = q.take()!;
  t.deepEqual([...ids(next.devices), ...ids(next.findings)], ["d3", "d4", "f0"]);
  for (let i = 0; i < 5; i++) m.device(q, `e${i}`);
  q.ack();
  t.deepEqual(ids(q.take()!.devices), ["e0", "e1", "e2"]);
});
