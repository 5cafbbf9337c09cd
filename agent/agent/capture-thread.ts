/**
 * The main thread's handle on the capture worker (capture-worker.ts): starts it, relays its changes and
 * logs, keeps its latest counters for health, and stops it so that everything it learned arrives first.
 */
import { Worker } from "node:worker_threads";
import type { CaptureTool } from "../capture/live.js";
import type { BaselineDocument } from "../baseline/types.js";
import type { Config } from "../config/types.js";
import type { DeviceRecord, FindingRecord } from "../report/types.js";
import type { CaptureWorkerCounters, CaptureWorkerData, FromWorker, ToWorker } from "./capture-worker.js";

export interface CaptureThreadOptions {
  config: Config;
  restored: DeviceRecord[];
  tickMs: number;
  onChanges: (devices: DeviceRecord[], findings: FindingRecord[]) => void;
  /** The stored baseline to carry on (issue 13), and where its document goes when it moved. */
  baseline?: BaselineDocument | null;
  /** Default BASELINE_MS. */
  baselineMs?: number;
  onBaseline?: (doc: BaselineDocument) => void;
  log: (m: string) => void;
  /** Called when the worker died (an error it did not catch): the agent must stop, systemd restarts it. */
  onFatal: (why: string) => void;
}

/**
 * V8's own options, which a worker refuses (ERR_WORKER_INVALID_EXEC_ARGV: they are per process). The heap
 * limits among them, which bin/dicomtap.js and the unit pass, reach the worker as its resourceLimits.
 */
const V8_OPTION =
  /^--(max[-_]old[-_]space[-_]size|max[-_]semi[-_]space[-_]size|max[-_]young[-_]generation[-_]size|stack[-_]size|expose[-_]gc|optimize[-_]for[-_]size|single[-_]threaded[-_]gc|gc[-_]interval|no[-_]opt|jitless)(=|$)/;

/**
 * The worker inherits Node's flags, but not the ones that describe the main script (`node
 * --input-type=module -e CODE`: tests, one-liners) nor V8's own options: either would make the worker
 * refuse to start, and with it `dicomtap run` on an interface.
 */
export function workerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (V8_OPTION.test(a)) continue;
    if (a.startsWith("--input-type=")) continue;
    if (a === "--input-type" || a === "-e" || a === "--eval" || a === "-p" || a === "--print") {
      i++;
      continue;
    }
    if (/^(-e|--eval|-p|--print)=/.test(a)) continue;
    out.push(a);
  }
  return out;
}

/**
 * How long stop() waits for the worker's next word before it terminates the thread. The worker hands its
 * devices and findings over in acknowledged batches at stop (capture-worker.ts), so each message re-arms
 * the wait; STOP_LIMIT_MS bounds the whole stop, within the unit's TimeoutStopSec (20 s).
 */
const STOP_TIMEOUT_MS = 5000;
const STOP_LIMIT_MS = 15_000;

/**
 * How often the capture thread sends the baseline document when it moved (issue 13): every few minutes,
 * not per change; a crash loses at most this much learning, which the window's days make up for.
 */
export const BASELINE_MS = 5 * 60_000;

export class CaptureThread {
  private readonly worker: Worker;
  private latestCounters: CaptureWorkerCounters | null = null;
  private lastHeardMs = Date.now();
  private stopped: Promise<void> | null = null;
  private resolveStopped: (() => void) | null = null;
  private exited = false;
  /** Re-arms the stop timeout (set while stopping). */
  private stopAlive: (() => void) | null = null;

  constructor(private readonly o: CaptureThreadOptions) {
    const tool = o.config.capture.tool;
    const data: CaptureWorkerData = {
      config: o.config,
      restored: o.restored,
      baseline: o.baseline ?? null,
      baselineMs: o.baselineMs ?? BASELINE_MS,
      tickMs: o.tickMs,
      ...(tool !== "auto" ? { tool: tool satisfies CaptureTool } : {}),
    };
    this.worker = new Worker(new URL("./capture-worker.js", import.meta.url), {
      workerData: data,
      execArgv: workerExecArgv(process.execArgv),
      // The capture thread's own heap, within the memory budget (agent/pipeline/pipeline.ts): its tables
      // are capped well below this; the limits make V8 collect before it grows, as bin/dicomtap.js does.
      resourceLimits: { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 3 },
    });
    this.worker.on("message", (m: FromWorker) => this.message(m));

    this.worker.on("error", (e) => {
      this.o.log(`capture thread failed: ${e.stack ?? e.message}`);
      this.o.onFatal(e.message);
    });
    this.worker.on("exit", (code) => {
      this.exited = true;
      this.resolveStopped?.();
      if (this.stopped === null) this.o.onFatal(`capture thread exited (${code})`);
    });
  }

  /** The worker's latest counters (every 250 ms), null before the first. */
  get counters(): CaptureWorkerCounters | null {
    return this.latestCounters;
  }

  /** Milliseconds since the worker last said anything (the watchdog wants it alive, not just us). */
  silentForMs(): number {
    return Date.now() - this.lastHeardMs;
  }

  /** Asks for every device and finding (counts and lastSeen move without a change event). */
  sync(): void {
    this.send({ t: "sync" });
  }

  /** Starts a new event-loop delay window (after each health record). */
  loopReset(): void {
    this.send({ t: "loop-reset" });
  }

  /** Stops capture; resolves once every change and the final counters have been relayed. */
  stop(): Promise<void> {
    if (this.stopped !== null) return this.stopped;
    this.stopped = new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      const start = Date.now();
      const expire = (): void => {
        this.o.log(
          `capture thread did not stop (silent ${STOP_TIMEOUT_MS} ms, or ${STOP_LIMIT_MS} ms in all): terminated`,
        );
        void this.worker.terminate();
      };
      let timer = setTimeout(expire, STOP_TIMEOUT_MS);
      this.stopAlive = () => {
        clearTimeout(timer);
        timer = setTimeout(
          expire,
          Math.min(STOP_TIMEOUT_MS, Math.max(0, start + STOP_LIMIT_MS - Date.now())),
        );
      };
      this.resolveStopped = () => {
        clearTimeout(timer);
        this.stopAlive = null;
        resolve();
      };
      this.send({ t: "stop" });
    });
    return this.stopped;
  }

  private send(m: ToWorker): void {
    if (!this.exited) this.worker.postMessage(m);
  }

  private message(m: FromWorker): void {
    this.lastHeardMs = Date.now();
    this.stopAlive?.();
    switch (m.t) {
      case "changes":
        this.o.onChanges(m.devices, m.findings);
        // Handled (committed, or kept for the next flush): the worker may send what it gathered since.
        this.send({ t: "ack" });
        break;
      case "counters":
        this.latestCounters = m.c;
        break;
      case "baseline":
        this.o.onBaseline?.(m.doc);
        break;
      case "log":
        this.o.log(m.m);
        break;
      case "stopped":
        // The exit event follows once the worker's port is closed; everything before it has arrived.
        break;
    }
  }
}
