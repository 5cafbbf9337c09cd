/**
 * `dicomtap run` (DESIGN.md §3, issue 4): the agent. Capture (live through tcpdump, or a replayed file)
 * → pipeline → inventory and findings → store → publisher, plus periodic health. Everything is built and
 * started here, explicitly, in one place (DESIGN.md §6, principle 7).
 *
 * The capture path never waits for the broker: inventory and findings call Store.upsertDevice/
 * upsertFinding synchronously (one SQLite transaction each) and the publisher drains the outbox on its
 * own, later, on the event loop.
 *
 * Inventory announces a device only when a visible field changes and the findings engine a finding only
 * when it is new or its key evidence changes, so counts and lastSeen move on without a message. At the
 * end of a replay and at a clean stop every device and finding is stored once more: what changed since
 * (counts, lastSeen) is published once, and the published state equals the report `analyze` prints.
 *
 * Restarts (reboot, crash, upgrade): inventory starts from the devices the store kept (no device is
 * announced as new again), and the store merges the findings the engine raises anew with the ones it
 * kept (earlier firstSeen, counts added; Store.upsertFinding), so the console never sees one go back.
 *
 * The baseline (issue 13) survives restarts too: the stored document is taken up at start (its window keeps
 * its start, so a window still open goes on learning and a closed one stays frozen), and saved — which
 * publishes it, retained, on `baseline` — every few minutes when it moved and at stop (BaselineSaver). An
 * approved one is also the policy from that start on (baseline/policy.ts effectiveConfig).
 */
import { createReadStream } from "node:fs";
import { PcapStreamParser, readCaptureFile } from "../capture/file.js";
import type { PacketSink } from "../capture/types.js";
import type { Config } from "../config/types.js";
import { Health, type HealthCounters } from "../health/health.js";
import type { Pipeline } from "../pipeline/pipeline.js";
import { Publisher } from "../publish/publisher.js";
import type { DeviceRecord, FindingRecord } from "../report/types.js";
import { Store } from "../store/store.js";
import { BASELINE_MS, CaptureThread } from "./capture-thread.js";
import { effectiveConfig } from "../baseline/policy.js";
import type { BaselineDocument } from "../baseline/types.js";
import { BaselineError, validateBaseline } from "../baseline/validate.js";
import { SensorCore, type SensorCounters } from "./sensor.js";
import { SystemdNotifier } from "./sdnotify.js";
import { signalled } from "../util/signals.js";

export interface RunOptions {
  config: Config;
  /** A pcap/pcapng file to replay instead of live capture; the agent stops when it is done. */
  replay?: string;
  /** "file": as fast as it reads (default); "capture": paced by the packets' timestamps. */
  replaySpeed?: "file" | "capture";
  /** The agent's version for status; default "0.0.0". */
  version?: string;
  /** Resolves when the agent should stop (live mode); default SIGINT or SIGTERM. */
  until?: Promise<void>;
  /** Print-mode output and diagnostics; defaults stdout and stderr. */
  out?: { write(line: string): unknown };
  log?: (msg: string) => void;
  /** After a replay, how long to wait for the outbox to drain before stopping; default 30 s. */
  drainTimeoutMs?: number;
  /** Reconnect backoff of the publisher (tests shorten it). */
  backoff?: { initialMs: number; maxMs: number };
  /** How often a moved baseline is saved and published; default BASELINE_MS (tests shorten it). */
  baselineMs?: number;
}

/** The read buffer of `run --replay` (see its use). */
const REPLAY_CHUNK_SIZE = 1 << 20;

/** How often changes are committed to the store, and live mode ticks housekeeping. */
const TICK_MS = 250;
/** Device and finding changes held before they are committed early (see PendingChanges). */
const MAX_PENDING = 256;
/** The watchdog is fed only while the capture thread speaks: a hung capture must restart the agent. */
const CAPTURE_SILENCE_MS = 10_000;

export async function runAgent(opts: RunOptions): Promise<void> {
  const { config } = opts;
  const log = opts.log ?? ((m: string) => process.stderr.write(`dicomtap run: ${m}\n`));
  const store = new Store({
    path: config.store.path,
    maxBytes: config.store.maxBytes,
    site: config.sensor.site,
    sensor: config.sensor.id,
  });
  const pending = new PendingChanges(store, log);
  const flush = (): void => void pending.flush();
  const toStore = {
    device: (d: DeviceRecord) => pending.device(d),
    finding: (f: FindingRecord) => pending.finding(f),
  };
  // A restart (reboot, crash, upgrade) must not take every known device for a new one: inventory starts
  // from the devices the store kept. Findings are not restored into the engine; the store merges what the
  // engine raises again with what it kept (Store.upsertFinding), so no finding goes back.
  const restored = store.devices();
  // The stored baseline carries on; an approved one is the policy too (the rules read config.policy).
  const baseline = new BaselineSaver(store, log);
  const stored = baseline.restore();
  const sensorConfig = effectiveConfig(config, stored);
  if (stored !== null)
    log(
      `baseline ${stored.status} restored from ${config.store.path}` +
        (stored.status === "approved" ? ": its policy is in force" : ""),
    );
  const baselineMs = opts.baselineMs ?? BASELINE_MS;

  // Where the sensor's counters come from: the replay's core in this thread, or the capture thread's
  // latest report.
  let sensorCounters: () => SensorCounters | null = () => null;
  let captureCounters: () => HealthCounters["capture"] = () => ({ packets: 0, bytes: 0, drops: 0 });
  let captureLoop: () => HealthCounters["captureLoop"] = () => null;
  let captureHeap: () => HealthCounters["captureHeap"] = () => null;
  let afterHealth = (): void => {};

  const health = new Health({
    sensor: config.sensor,
    storePath: config.store.path,
    counters: () => {
      const s = sensorCounters();
      const counters: HealthCounters = {
        capture: captureCounters(),
        anomalies: s?.anomalies ?? 0,
        ...(s ? { inventory: s.inventory, findings: s.findings, traffic: s.traffic } : {}),
        captureLoop: captureLoop(),
        captureHeap: captureHeap(),
        outbox: {
          depth: store.depth(),
          evicted: store.evicted(),
          bytes: store.bytes(),
          pruned: store.pruned(),
        },
        publisher: { ...publisher.health() },
      };
      afterHealth();
      return counters;
    },
  });
  const publisher: Publisher = new Publisher({
    store,
    sensor: config.sensor,
    broker: config.broker,
    version: opts.version ?? "0.0.0",
    health: { intervalMs: config.health.intervalSeconds * 1000, collect: () => health.collect() },
    log: (event, detail) => log(`publish ${event} ${JSON.stringify(detail)}`),
    ...(opts.out ? { out: opts.out } : {}),
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
  });

  publisher.start();
  try {
    if (opts.replay !== undefined) {
      const core = new SensorCore(sensorConfig, toStore, restored, stored);
      if (core.restoredCount > 0) log(`restored ${core.restoredCount} devices from ${config.store.path}`);
      const pipeline = core.pipeline;
      sensorCounters = () => core.counters();
      captureCounters = () => ({
        packets: pipeline.packets,
        bytes: pipeline.bytes,
        drops: 0,
        gaps: pipeline.gaps(),
      });
      // Changes reach the store (and the broker) while the replay runs, not only at its end: the file
      // reader yields between chunks, the paced replay between packets.
      let baselineMark = core.baselineMark();
      const saveBaseline = (): void => {
        const mark = core.baselineMark();
        if (mark === baselineMark) return;
        baselineMark = mark;
        const doc = core.baseline();
        if (doc !== null) baseline.save(doc);
      };
      let lastBaseline = Date.now();
      const replayFlush = setInterval(() => {
        flush();
        if (Date.now() - lastBaseline >= baselineMs) {
          lastBaseline = Date.now();
          saveBaseline();
        }
      }, TICK_MS);
      let summary;
      try {
        summary =
          opts.replaySpeed === "capture"
            ? await replayPaced(opts.replay, pipeline)
            : await readCaptureFile(opts.replay, pipeline, {
                counters: pipeline.counters,
                // The agent's memory budget (pipeline.ts) holds a store and an outbox beside the pipeline;
                // two read buffers of 1 MiB instead of analyze's 4 MiB leave it room, at a pace no sensor
                // needs more than.
                chunkSize: REPLAY_CHUNK_SIZE,
              });
      } finally {
        clearInterval(replayFlush);
      }
      if (summary.error !== null) log(`${opts.replay}: ${summary.error.code}: ${summary.error.detail}`);
      core.finish();
      core.syncAll();
      flush();
      saveBaseline();
      // Health last, once connected, so the replay's final counters reach the broker (health is QoS 0
      // and dropped while disconnected).
      if (config.broker !== null) await waitDrained(store, publisher, opts.drainTimeoutMs ?? 30_000, log);
      publisher.publishHealth(await health.collect());
    } else {
      await runLive();
    }
    // At the end, what the store still refuses cannot wait for a later tick: say so (non-zero exit).
    if (pending.size > 0) {
      throw new Error(
        `store ${config.store.path}: ${pending.size} device/finding changes could not be written (${pending.lastError ?? "?"})`,
      );
    }
  } finally {
    await publisher.stop();
    health.stop();
    store.close();
  }

  /**
   * Live capture in its own thread (capture-thread.ts); this thread commits its changes every TICK_MS,
   * publishes, samples health and feeds systemd. At stop, the capture thread hands over everything it
   * learned before the store is flushed and the publisher stops, so nothing is lost at SIGTERM.
   */
  async function runLive(): Promise<void> {
    let fatal: ((why: string) => void) | null = null;
    const failed = new Promise<never>((_, reject) => {
      fatal = (why) => reject(new Error(`capture thread: ${why}`));
    });
    failed.catch(() => {});
    const capture = new CaptureThread({
      config: sensorConfig,
      restored,
      baseline: stored,
      baselineMs,
      onBaseline: (doc) => baseline.save(doc),
      tickMs: TICK_MS,
      onChanges: (devices, findings) => {
        for (const d of devices) pending.device(d);
        for (const f of findings) pending.finding(f);
      },
      log,
      onFatal: (why) => fatal?.(why),
    });
    sensorCounters = () => capture.counters?.sensor ?? null;
    captureCounters = () => {
      const c = capture.counters;
      if (c === null) return { packets: 0, bytes: 0, drops: 0 };
      return {
        packets: c.sensor.packets,
        bytes: c.sensor.bytes,
        drops: c.capture.kernelDrops + c.capture.interfaceDrops,
        kernelDrops: c.capture.kernelDrops,
        interfaceDrops: c.capture.interfaceDrops,
        restarts: c.capture.restarts,
        bufferBytes: c.capture.bufferBytes,
        gaps: c.sensor.gaps,
      };
    };
    captureLoop = () => capture.counters?.loop ?? null;
    captureHeap = () => capture.counters?.heap ?? null;
    afterHealth = () => capture.loopReset();

    // Under systemd/dicomtap.service (Type=notify): ready once capture is started (it waits for a
    // missing interface on its own, which health reports); WATCHDOG=1 while both threads are alive.
    // A no-op outside systemd.
    const notifier = new SystemdNotifier();
    notifier.ready(`capturing on ${config.capture.interface}`);
    notifier.startWatchdog(() => capture.silentForMs() < CAPTURE_SILENCE_MS);
    let lastSync = Date.now();
    const tick = setInterval(() => {
      flush();
      // Counts and lastSeen move without a change event: store them once per health interval.
      if (Date.now() - lastSync >= config.health.intervalSeconds * 1000) {
        lastSync = Date.now();
        capture.sync();
      }
    }, TICK_MS);
    try {
      await Promise.race([opts.until ?? signalled(), failed]);
    } finally {
      notifier.stopping();
      clearInterval(tick);
      await capture.stop();
      flush();
      await notifier.close();
    }
    // The last word: the final counters (the capture child's drops at exit, everything parsed).
    publisher.publishHealth(await health.collect());
  }
}

/**
 * The agent's side of the stored baseline (issue 13). It writes only over the revision it read at start or
 * wrote last: `dicomtap baseline import` or `approve` while the agent runs changes the stored revision, and
 * then the agent leaves the store's document alone (it says so once) and goes on judging with the baseline
 * it has in memory until its next start, which takes the new document up (and an approved one's policy).
 * A failed write (disk full) is logged and tried again at the next save.
 */
export class BaselineSaver {
  private revision: number | null = null;
  private yielded = false;
  private warnedSize = false;
  private failing = false;

  constructor(
    private readonly store: Store,
    private readonly log: (msg: string) => void,
  ) {}

  /** The stored document if it is valid (an invalid one is logged and learned over); notes its revision. */
  restore(): BaselineDocument | null {
    const row = this.store.baseline();
    this.revision = row?.revision ?? null;
    if (row === null) return null;
    try {
      return validateBaseline(row.document);
    } catch (e) {
      const why = e instanceof BaselineError ? e.problems.join("; ") : String(e);
      this.log(`stored baseline is not valid (${why}): learning a new one`);
      return null;
    }
  }

  save(doc: BaselineDocument): void {
    if (this.yielded) return;
    let r;
    try {
      r = this.store.putBaseline(doc, { ifRevision: this.revision });
    } catch (e) {
      if (!this.failing)
        this.log(`baseline not saved (${e instanceof Error ? e.message : String(e)}); retried`);
      this.failing = true;
      return;
    }
    this.failing = false;
    if (r.outcome === "conflict") {
      this.yielded = true;
      this.log(
        "the stored baseline was changed (dicomtap baseline import or approve) while this agent ran: it is kept, " +
          "and taken up at the agent's next start",
      );
      return;
    }
    if (r.outcome !== "saved") return;
    this.revision = r.revision;
    if (!r.published && !this.warnedSize) {
      this.warnedSize = true;
      this.log("baseline too large to publish as one message: kept in the store (dicomtap baseline export)");
    }
  }
}

/**
 * Device and finding changes waiting for the store. They are committed together every TICK_MS (and
 * before any sync or stop): a burst of findings (a scan) costs one SQLite commit, not one fsync each on
 * the capture path. A crash loses at most that window, as it loses the packets still in the kernel's
 * capture buffer.
 *
 * A failed commit (disk full, an SD card's I/O error, a database locked past busy_timeout) must neither
 * kill the agent (a thrown error in a timer would, and systemd gives up after a few restarts) nor lose
 * the changes: they stay here, keyed by id (so bounded by inventory's and the findings engine's own
 * caps, newest state winning), and the next flush tries again. The store rolls back all of a failed batch.
 */
export class PendingChanges {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly findings = new Map<string, FindingRecord>();
  /** The last write error while writes fail; null once a flush succeeds. */
  lastError: string | null = null;

  constructor(
    private readonly store: Store,
    private readonly log: (msg: string) => void,
  ) {}

  device(d: DeviceRecord): void {
    this.devices.set(d.id, d);
    this.bounded();
  }

  finding(f: FindingRecord): void {
    this.findings.set(f.id, f);
    this.bounded();
  }

  /**
   * A burst (a scan, a replay at file speed) commits at once past MAX_PENDING records instead of waiting
   * for the tick: each record carries its evidence (a vulnerable toolkit's CVE list is kilobytes), and
   * thousands of them would not fit the memory budget (agent/pipeline/pipeline.ts). While the store
   * refuses writes, they wait as before (bounded by the inventory's and the findings engine's caps).
   */
  private bounded(): void {
    if (this.size >= MAX_PENDING && this.lastError === null) this.flush();
  }

  get size(): number {
    return this.devices.size + this.findings.size;
  }

  /** Commits what waits in one transaction; false (logged once per outage) when the store refused it. */
  flush(): boolean {
    if (this.size === 0) return true;
    try {
      this.store.batch(() => {
        for (const d of this.devices.values()) this.store.upsertDevice(d);
        for (const f of this.findings.values()) this.store.upsertFinding(f);
      });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (this.lastError === null)
        this.log(`store write failed (${msg}); ${this.size} changes kept in memory, retried every tick`);
      this.lastError = msg;
      return false;
    }
    if (this.lastError !== null) this.log(`store writable again; ${this.size} kept changes stored`);
    this.lastError = null;
    this.devices.clear();
    this.findings.clear();
    return true;
  }
}

async function waitDrained(
  store: Store,
  publisher: Publisher,
  timeoutMs: number,
  log: (m: string) => void,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (store.depth() > 0 || !publisher.health().connected) {
    if (Date.now() > end) {
      log(`outbox not drained after ${timeoutMs} ms: ${store.depth()} messages kept for the next run`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Replay at capture speed: packets are released when as much wall time has passed since the first
 * packet as capture time did. The file is read in small chunks and the stream paused while the chunk's
 * packets wait, so memory stays bounded; the waiting packets are copies (counted in bytesCopied), since
 * the parser's views are valid only during its call.
 */
async function replayPaced(
  path: string,
  pipeline: Pipeline,
): Promise<{ error: { code: string; detail: string } | null }> {
  interface Held {
    buf: Buffer;
    ts: number;
    linktype: number;
    origLen: number;
  }
  const queue: Held[] = [];
  const collect: PacketSink = {
    packet(buf, start, end, tsMicros, linktype, origLen) {
      queue.push({ buf: Buffer.from(buf.subarray(start, end)), ts: tsMicros, linktype, origLen });
      pipeline.counters.bytesCopied += end - start;
    },
  };
  const parser = new PcapStreamParser(collect, { counters: pipeline.counters });
  let firstTs = -1;
  let wallStart = 0;
  const release = async (): Promise<void> => {
    for (let i = 0; i < queue.length; i++) {
      const p = queue[i] as Held;
      if (firstTs < 0) {
        firstTs = p.ts;
        wallStart = Date.now();
      }
      const due = wallStart + (p.ts - firstTs) / 1000 - Date.now();
      if (due > 1) await new Promise((r) => setTimeout(r, due));
      pipeline.packet(p.buf, 0, p.buf.length, p.ts, p.linktype, p.origLen);
    }
    queue.length = 0;
  };
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  for await (const chunk of stream) {
    parser.push(chunk as Buffer);
    await release();
    if (parser.error !== null) break;
  }
  stream.destroy();
  const summary = parser.end();
  await release();
  return { error: summary.error };
}
