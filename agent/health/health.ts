/**
 * The `health` payload (DESIGN.md §3; schemas/health.schema.json): the box (CPU load, memory, the disk of
 * the store, temperature where the board has a sensor), the event-loop delay of the agent's threads, and
 * the agent's own counters, given by the caller: capture packets, bytes and drops (kernel and interface,
 * restarts, the kernel buffer, TCP gaps), traffic, parse anomalies, outbox depth, evictions, and what the
 * in-memory tables had to let go of (devices past the inventory's cap, findings evicted from the engine's
 * table), so that a flood that filled them is visible to the operator.
 *
 * The system part is read from /proc, /sys and statfs(2) with asynchronous file reads only (probes.ts):
 * health shares its event loop with the rest of the agent, and systeminformation's shell-outs (execSync
 * of df and friends) stalled that loop 55–400 ms per sample (issue 8, issue 10). No probe spawns a process.
 *
 * Health owns a monitor of its own thread's event-loop delay (loop.ts), started by the constructor;
 * the agent calls stop() at shutdown. The capture thread measures its own loop and hands it over in
 * HealthCounters.captureLoop.
 */
import type { Config } from "../config/types.js";
import { EventLoopMonitor, type LoopDelay } from "./loop.js";
import { HeapWatch, readPeakRss, type HeapFigures, type ProcessMemory } from "./memory.js";
import { isoFromDate } from "../util/time.js";
import {
  CpuLoad,
  DEFAULT_ROOTS,
  readDisk,
  readLoadAverage1m,
  readMemory,
  readTemperatureC,
  type DiskInfo,
  type MemoryInfo,
} from "./probes.js";

export type { LoopDelay } from "./loop.js";

/** The capture's counters. drops = kernelDrops + interfaceDrops; the rest is optional (older callers). */
export interface CaptureHealth {
  packets: number;
  bytes: number;
  /** Frames the sensor did not see: the kernel's drops (its capture buffer was full) plus the NIC's. */
  drops: number;
  /** Dropped by the kernel because the capture buffer was full (pcap_stats ps_drop). */
  kernelDrops?: number;
  /** Dropped by the interface or its driver before the kernel saw them (pcap_stats ps_ifdrop). */
  interfaceDrops?: number;
  /** How often the capture source was restarted (the capture child exited, the interface went away). */
  restarts?: number;
  /** The kernel capture buffer, in bytes. */
  bufferBytes?: number;
  /** TCP flows that had at least one sequence gap, and the bytes missing in those gaps. */
  gaps?: GapsHealth;
}

export interface GapsHealth {
  flows: number;
  bytes: number;
}

export interface TrafficHealth {
  tcpFlows: number;
  dicomFlows: number;
  associations: number;
  dimseMessages: number;
}

export interface OutboxHealth {
  depth: number;
  evicted: number;
  bytes: number;
  pruned?: number;
}

export interface HealthCounters {
  capture: CaptureHealth;
  anomalies: number;
  outbox: OutboxHealth;
  /** The publisher's own view (connected, published, …), or null. */
  publisher: Record<string, unknown> | null;
  /** Inventory.size, and Inventory.devicesDropped: new hosts not tracked because the table was full. */
  inventory?: InventoryHealth;
  /** The findings held in memory, and FindingsEngine.evicted: findings dropped from memory by its cap. */
  findings?: FindingsHealth;
  /** What the sensor saw of the traffic, as in the report's stats. */
  traffic?: TrafficHealth;
  /**
   * The capture thread's event-loop delay since the previous health record (it measures its own loop),
   * or null before its first sample. Absent when capture runs in the agent's own thread.
   */
  captureLoop?: LoopDelay | null;
  /** The capture thread's heap (it samples its own), or null; absent when capture runs in this thread. */
  captureHeap?: HeapFigures | null;
}

export interface InventoryHealth {
  devices: number;
  devicesDropped: number;
}

export interface FindingsHealth {
  count: number;
  evicted: number;
}

export interface HealthPayload {
  messageId: string;
  site: string;
  sensor: string;
  time: string;
  uptimeSeconds: number;
  system: {
    /** Percent of all CPUs' time spent working since the previous record (0–100). */
    loadPercent: number | null;
    /** The kernel's 1-minute load average (/proc/loadavg). */
    loadAverage1m: number | null;
    memory: MemoryInfo | null;
    disk: DiskInfo | null;
    /** The CPU/SoC temperature in °C; null where the board has no sensor (most VMs, some boards). */
    temperatureC: number | null;
  };
  capture: CaptureHealth;
  anomalies: number;
  outbox: OutboxHealth;
  publisher: Record<string, unknown> | null;
  /** Present when the caller gives it (optional in the schema: older sensors do not send it). */
  inventory?: InventoryHealth;
  findings?: FindingsHealth;
  traffic?: TrafficHealth;
  /** Event-loop delay since the previous record: this (main) thread's, and the capture thread's. */
  eventLoop?: { main: LoopDelay | null; capture: LoopDelay | null };
  /** The agent process's own memory: resident set, its peak, each thread's heap. */
  process?: ProcessMemory;
}

export interface HealthOptions {
  sensor: Config["sensor"];
  /** The store's database file: the disk reported is the filesystem holding it. */
  storePath: string;
  counters: () => HealthCounters;
  /** Where procfs and sysfs are mounted; tests point them at fixture trees. Defaults "/proc", "/sys". */
  procRoot?: string;
  sysRoot?: string;
  /** The first record's CPU load is sampled over this window inside collect() (0: null); default 200 ms. */
  cpuSampleMs?: number;
  /** A probe that has not answered by then counts as unavailable (null); default 2000 ms. */
  probeTimeoutMs?: number;
}

const finite = (n: unknown): number | null => (typeof n === "number" && Number.isFinite(n) ? n : null);

/**
 * A probe's result, or null when it fails or hangs: a sysfs read can block in a driver (an I2C sensor),
 * and one stuck file must not hold the whole record back. The timer is cleared either way, so nothing
 * is left to keep the process alive.
 */
function bounded<T>(p: Promise<T | null>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), ms);
  });
  return Promise.race([p.catch(() => null), timeout]).finally(() => clearTimeout(timer));
}

function captureOf(c: CaptureHealth): CaptureHealth {
  const out: CaptureHealth = { packets: c.packets, bytes: c.bytes, drops: c.drops };
  if (c.kernelDrops !== undefined) out.kernelDrops = c.kernelDrops;
  if (c.interfaceDrops !== undefined) out.interfaceDrops = c.interfaceDrops;
  if (c.restarts !== undefined) out.restarts = c.restarts;
  if (c.bufferBytes !== undefined) out.bufferBytes = c.bufferBytes;
  if (c.gaps !== undefined) out.gaps = { flows: c.gaps.flows, bytes: c.gaps.bytes };
  return out;
}

const loopOf = (d: LoopDelay | null | undefined): LoopDelay | null =>
  d ? { p50Ms: d.p50Ms, p99Ms: d.p99Ms, maxMs: d.maxMs } : null;

const heapOf = (h: HeapFigures | null | undefined): HeapFigures | null =>
  h ? { usedBytes: h.usedBytes, totalBytes: h.totalBytes, peakUsedBytes: h.peakUsedBytes } : null;

/** How often this thread's heap is sampled between records (cheap: V8's counters, no heap walk). */
const HEAP_SAMPLE_MS = 250;

export class Health {
  private readonly startedMs = Date.now();
  private readonly procRoot: string;
  private readonly sysRoot: string;
  private readonly timeoutMs: number;
  private readonly cpu: CpuLoad;
  private readonly loop = new EventLoopMonitor();
  private readonly heap = new HeapWatch();
  /** Samples this thread's heap between records, so a record's peak covers its whole interval. */
  private readonly heapTimer: NodeJS.Timeout;

  constructor(private readonly o: HealthOptions) {
    this.procRoot = o.procRoot ?? DEFAULT_ROOTS.procRoot;
    this.sysRoot = o.sysRoot ?? DEFAULT_ROOTS.sysRoot;
    this.timeoutMs = o.probeTimeoutMs ?? 2000;
    this.cpu = new CpuLoad(this.procRoot, o.cpuSampleMs ?? 200);
    this.loop.start();
    this.heapTimer = setInterval(() => this.heap.sample(), HEAP_SAMPLE_MS).unref();
  }

  /** Stops the event-loop monitor (at the agent's shutdown). collect() still works; eventLoop.main is then null. */
  stop(): void {
    this.loop.stop();
    clearInterval(this.heapTimer);
  }

  /** One health payload. Each system probe may fail on its own; its part is then null. */
  async collect(now = new Date()): Promise<HealthPayload> {
    const t = this.timeoutMs;
    const [loadPercent, loadAverage1m, memory, disk, temperatureC, peakRssBytes] = await Promise.all([
      bounded(this.cpu.percent(), t + (this.o.cpuSampleMs ?? 200)),
      bounded(readLoadAverage1m(this.procRoot), t),
      bounded(readMemory(this.procRoot), t),
      bounded(readDisk(this.o.storePath, this.procRoot), t),
      bounded(readTemperatureC(this.sysRoot), t),
      bounded(readPeakRss(this.procRoot), t),
    ]);
    // Counters and the main loop's window are taken together, after the probes: this record's own cost
    // is in this record.
    const c = this.o.counters();
    const main = this.loop.started ? this.loop.take() : null;
    const time = isoFromDate(now);
    const { site, id } = this.o.sensor;
    const outbox: OutboxHealth = { depth: c.outbox.depth, evicted: c.outbox.evicted, bytes: c.outbox.bytes };
    if (c.outbox.pruned !== undefined) outbox.pruned = c.outbox.pruned;
    return {
      messageId: `${site}/${id}/health/${time}`,
      site,
      sensor: id,
      time,
      uptimeSeconds: Math.round((Date.now() - this.startedMs) / 1000),
      system: {
        loadPercent: finite(loadPercent),
        loadAverage1m: finite(loadAverage1m),
        memory,
        disk,
        temperatureC: finite(temperatureC),
      },
      capture: captureOf(c.capture),
      anomalies: c.anomalies,
      outbox,
      publisher: c.publisher,
      ...(c.inventory
        ? { inventory: { devices: c.inventory.devices, devicesDropped: c.inventory.devicesDropped } }
        : {}),
      ...(c.findings ? { findings: { count: c.findings.count, evicted: c.findings.evicted } } : {}),
      ...(c.traffic
        ? {
            traffic: {
              tcpFlows: c.traffic.tcpFlows,
              dicomFlows: c.traffic.dicomFlows,
              associations: c.traffic.associations,
              dimseMessages: c.traffic.dimseMessages,
            },
          }
        : {}),
      eventLoop: { main, capture: loopOf(c.captureLoop) },
      process: {
        rssBytes: process.memoryUsage.rss(),
        peakRssBytes,
        heap: { main: this.heap.take(), capture: heapOf(c.captureHeap) },
      },
    };
  }
}
