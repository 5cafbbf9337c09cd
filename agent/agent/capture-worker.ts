/**
 * The capture thread of `dicomtap run` (issue 8): live capture → SensorCore, in a worker of its own.
 *
 * Why a thread: the agent's main thread commits to SQLite, talks MQTT, samples health and collects the
 * garbage of all of that. When the same event loop also read the capture pipe, each of those stalls was
 * a burst the kernel ring had to hold, and lost when it could not. Here the loop does nothing but read
 * the capture child's pipe, parse, and post what changed; the worker has its own V8 heap, so the main
 * thread's garbage collection does not pause it either.
 *
 *   main thread                                   capture worker
 *   ──────────                                    ──────────────
 *   { t: "sync" }        every health interval ─►  announce every device and finding
 *   { t: "loop-reset" }  after each health     ─►  restart the event-loop delay and heap windows
 *   { t: "stop" }        at SIGTERM            ─►  stop the child, finish, announce everything, "stopped"
 *   { t: "ack" }         changes handled       ─►  the next changes may go
 *                       ◄─ { t: "changes", devices, findings }  (coalesced for CHANGE_MS, one unacknowledged)
 *                       ◄─ { t: "counters", c }                 (every tick, tickMs)
 *                       ◄─ { t: "baseline", doc }               (every baselineMs when it moved, and at stop)
 *                       ◄─ { t: "log", m } · { t: "stopped" }
 */
import { parentPort, workerData } from "node:worker_threads";
import { LiveCapture, type CaptureTool, type LiveCaptureHealth } from "../capture/live.js";
import type { BaselineDocument } from "../baseline/types.js";
import type { Config } from "../config/types.js";
import { EventLoopMonitor, type LoopDelay } from "../health/loop.js";
import { HeapWatch, type HeapFigures } from "../health/memory.js";
import type { DeviceRecord, FindingRecord } from "../report/types.js";
import { ChangeQueue } from "./change-queue.js";
import { SensorCore, type SensorCounters } from "./sensor.js";

export interface CaptureWorkerData {
  config: Config;
  restored: DeviceRecord[];
  /** The stored baseline (issue 13), taken up at start: its window and tables carry on. */
  baseline: BaselineDocument | null;
  /** How often the baseline document is sent when it moved (it is sent at stop too). */
  baselineMs: number;
  /** Housekeeping period (idle flows, settling judgements), and how often the counters are sent. */
  tickMs: number;
  tool?: CaptureTool;
}

export interface CaptureWorkerCounters {
  sensor: SensorCounters;
  capture: LiveCaptureHealth & { bufferBytes: number; tool: CaptureTool };
  /** The worker's event-loop delay since the last loop-reset; null before any sample. */
  loop: LoopDelay | null;
  /** The worker's heap (its own V8 isolate) since the last loop-reset. */
  heap: HeapFigures;
}

export type ToWorker = { t: "sync" } | { t: "stop" } | { t: "loop-reset" } | { t: "ack" };
export type FromWorker =
  | { t: "changes"; devices: DeviceRecord[]; findings: FindingRecord[] }
  | { t: "counters"; c: CaptureWorkerCounters }
  | { t: "baseline"; doc: BaselineDocument }
  | { t: "log"; m: string }
  | { t: "stopped" };

/** Changes wait this long to travel together: a burst (a scan) is one message, not thousands. */
const CHANGE_MS = 20;

/** Two windows of one health interval taken apart: the larger of each figure (p50 is approximate). */
function worstOf(a: LoopDelay | null, b: LoopDelay | null): LoopDelay | null {
  if (a === null || b === null) return a ?? b;
  return {
    p50Ms: Math.max(a.p50Ms, b.p50Ms),
    p99Ms: Math.max(a.p99Ms, b.p99Ms),
    maxMs: Math.max(a.maxMs, b.maxMs),
  };
}

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error("capture-worker.js runs as a worker thread of dicomtap run");
  const data = workerData as CaptureWorkerData;
  const { config } = data;
  const post = (m: FromWorker): void => port.postMessage(m);
  const log = (m: string): void => post({ t: "log", m });

  // Only ids wait in the queue; it looks the records up in the core when it sends them.
  const queue = new ChangeQueue({
    device: (id) => core.deviceRecord(id),
    finding: (id) => core.findingRecord(id),
  });
  let changeTimer: NodeJS.Timeout | null = null;
  const sendChanges = (): void => {
    if (changeTimer !== null) clearTimeout(changeTimer);
    changeTimer = null;
    const batch = queue.take();
    if (batch === null) return;
    post({ t: "changes", ...batch });
    const dropped = queue.takeDropped();
    if (dropped > 0)
      log(
        `main thread behind: ${dropped} device/finding changes dropped (sync resends what is still in memory)`,
      );
  };
  const changed = (): void => {
    if (changeTimer === null && queue.ready) changeTimer = setTimeout(sendChanges, CHANGE_MS);
  };
  const core = new SensorCore(
    config,
    {
      device: (d) => {
        queue.device(d.id);
        changed();
      },
      finding: (f) => {
        queue.finding(f.id);
        changed();
      },
    },
    data.restored,
    data.baseline,
  );
  // The baseline goes to the main thread (store, broker) every baselineMs when it moved, not on each
  // change: while learning it moves with every association, and the document is up to a few MiB.
  let baselineSent = core.baselineMark();
  const sendBaseline = (): void => {
    const mark = core.baselineMark();
    if (mark === baselineSent) return;
    const doc = core.baseline();
    if (doc === null) return;
    baselineSent = mark;
    post({ t: "baseline", doc });
  };
  const baselineTimer = setInterval(sendBaseline, data.baselineMs);
  /** Every device and finding queued by id (the queue looks each record up when it sends it). */
  const syncAll = (): void =>
    core.syncIds(
      (id) => queue.device(id),
      (id) => queue.finding(id),
    );
  if (core.restoredCount > 0) log(`restored ${core.restoredCount} devices from ${config.store.path}`);

  const bufferKiB = config.capture.bufferMiB * 1024;
  const live = new LiveCapture({
    interface: config.capture.interface,
    filter: config.capture.filter,
    snaplen: config.capture.snaplen,
    bufferKiB,
    sink: core.pipeline,
    counters: core.pipeline.counters,
    log,
    // Drop counters every few seconds, so health shows losses as they happen.
    statsIntervalMs: Math.min(5000, config.health.intervalSeconds * 1000),
    ...(data.tool !== undefined ? { tool: data.tool } : {}),
  });
  const tool = live.tool();
  if (tool === "tcpdump")
    log("capture helper not built (scripts/build-native): capturing through tcpdump, up to 1 s of latency");

  // The window runs from one health record to the next (loop-reset); counters show it so far.
  const loop = new EventLoopMonitor();
  loop.start();
  let window: LoopDelay | null = null;
  // Sampled on every tick (counters() peeks); its window, like the loop's, runs from one health record to the next.
  const heap = new HeapWatch();
  const counters = (): CaptureWorkerCounters => ({
    sensor: core.counters(),
    capture: { ...live.health(), bufferBytes: bufferKiB * 1024, tool },
    loop: (window = worstOf(window, loop.take())),
    heap: heap.peek(),
  });
  const sendCounters = (): void => post({ t: "counters", c: counters() });

  const tick = setInterval(() => {
    core.tick(Date.now() * 1000);
    sendCounters();
  }, data.tickMs);

  let stopping = false;
  /** Set once capture has stopped and every record is queued: the queue drains batch by batch, then "stopped". */
  let draining = false;
  const drain = (): void => {
    // The last word goes in the same acknowledged batches as the flood before it (MAX_BATCH records
    // each), not as one message: every device and finding at once (up to 4 096 records with their
    // evidence) was a structured clone of several MiB on each side, a short peak of the agent's RSS
    // (issue 9).
    if (queue.inFlight) return;
    if (queue.size > 0) return sendChanges();
    sendCounters();
    loop.stop();
    post({ t: "stopped" });
    port.close();
  };
  port.on("message", (m: ToWorker) => {
    if (m.t === "sync") {
      if (draining) return;
      syncAll();
      sendChanges();
    } else if (m.t === "ack") {
      queue.ack();
      if (draining) drain();
      else changed();
    } else if (m.t === "loop-reset") {
      window = null;
      heap.take();
    } else if (m.t === "stop" && !stopping) {
      stopping = true;
      clearInterval(tick);
      clearInterval(baselineTimer);
      // Final counters come from the child's exit lines, so stop it first, then say everything.
      void live.stop().then(() => {
        core.finish();
        sendBaseline();
        syncAll();
        if (changeTimer !== null) clearTimeout(changeTimer);
        changeTimer = null;
        draining = true;
        // A batch in flight is acknowledged first; its ack carries on the drain.
        if (!queue.inFlight) drain();
      });
    }
  });
  live.start();
  sendCounters();
}

main();
