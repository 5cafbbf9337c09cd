// The event-loop delay monitor: a blocked loop shows, take() starts a new window, stop() stops.
import test from "ava";
import { setTimeout as sleep } from "node:timers/promises";
import { EventLoopMonitor } from "../../agent/health/loop.js";

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the loop is blocked, as by a synchronous shell-out
  }
}

test("a loop blocked for 60 ms shows as a delay of at least 50 ms; take() resets the window", async (t) => {
  const m = new EventLoopMonitor();
  m.start();
  t.teardown(() => m.stop());
  await sleep(30);
  busyWait(60);
  await sleep(30);
  const first = m.take();
  t.truthy(first);
  t.true(first!.maxMs >= 50, JSON.stringify(first));
  t.true(first!.p50Ms <= first!.p99Ms && first!.p99Ms <= first!.maxMs);
  await sleep(50);
  const second = m.take();
  t.true(second === null || second.maxMs < first!.maxMs, JSON.stringify(second));
  // The timer's own 10 ms period is not delay: an idle loop reads close to 0.
  t.true(second === null || second.p50Ms < 5, JSON.stringify(second));
});

test("stopped, or before a sample, take() is null", async (t) => {
  const m = new EventLoopMonitor();
  t.is(m.take(), null, "never started");
  m.start();
  m.start(); // idempotent
  m.stop();
  m.stop();
  t.false(m.started);
  await sleep(30);
  t.is(m.take(), null);
});
