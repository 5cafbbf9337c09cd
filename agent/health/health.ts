/**
 * The `health` payload (DESIGN.md §3; schemas/health.schema.json): the box (load, memory, the disk of
 * the store, temperature where the board has a sensor) from systeminformation, and the agent's own
 * counters, given by the caller: capture packets, bytes and kernel drops, parse anomalies, outbox depth,
 * evictions, and what the in-memory tables had to let go of (devices past the inventory's cap, findings
 * evicted from the engine's table), so that a flood that filled them is visible to the operator.
 *
 * Only the calls named here are made: si.networkInterfaces() is deliberately not used (it probes every
 * interface, including the capture one, and adds nothing a health message needs).
 */
import { realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import si from "systeminformation";
import type { Config } from "../config/types.js";

export interface HealthCounters {
  capture: { packets: number; bytes: number; drops: number };
  anomalies: number;
  outbox: { depth: number; evicted: number; bytes: number; pruned?: number };
  /** The publisher's own view (connected, published, …), or null. */
  publisher: Record<string, unknown> | null;
  /** Inventory.size, and Inventory.devicesDropped: new hosts not tracked because the table was full. */
  inventory?: InventoryHealth;
  /** The findings held in memory, and FindingsEngine.evicted: findings dropped from memory by its cap. */
  findings?: FindingsHealth;
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
    loadPercent: number | null;
    loadAverage1m: number | null;
    memory: { totalBytes: number; usedBytes: number; availableBytes: number } | null;
    disk: { mount: string; sizeBytes: number; usedBytes: number; availableBytes: number } | null;
    /** The CPU/SoC temperature in °C; null where the board has no sensor (most VMs, some boards). */
    temperatureC: number | null;
  };
  capture: { packets: number; bytes: number; drops: number };
  anomalies: number;
  outbox: { depth: number; evicted: number; bytes: number; pruned?: number };
  publisher: Record<string, unknown> | null;
  /** Present when the caller gives it (optional in the schema: older sensors do not send it). */
  inventory?: InventoryHealth;
  findings?: FindingsHealth;
}

export interface HealthOptions {
  sensor: Config["sensor"];
  /** The store's database file: the disk reported is the filesystem holding it. */
  storePath: string;
  counters: () => HealthCounters;
}

const finite = (n: unknown): number | null => (typeof n === "number" && Number.isFinite(n) ? n : null);

export class Health {
  private readonly startedMs = Date.now();

  constructor(private readonly o: HealthOptions) {}

  /** One health payload. Each system probe may fail on its own; its part is then null. */
  async collect(now = new Date()): Promise<HealthPayload> {
    const [load, mem, fs, temp] = await Promise.all([
      si.currentLoad().catch(() => null),
      si.mem().catch(() => null),
      si.fsSize().catch(() => null),
      si.cpuTemperature().catch(() => null),
    ]);
    const c = this.o.counters();
    const time = now.toISOString();
    const { site, id } = this.o.sensor;
    return {
      messageId: `${site}/${id}/health/${time}`,
      site,
      sensor: id,
      time,
      uptimeSeconds: Math.round((Date.now() - this.startedMs) / 1000),
      system: {
        loadPercent: finite(load?.currentLoad),
        loadAverage1m: finite(load?.avgLoad),
        memory: mem ? { totalBytes: mem.total, usedBytes: mem.used, availableBytes: mem.available } : null,
        disk: fs ? this.storeDisk(fs) : null,
        temperatureC: finite(temp?.main),
      },
      capture: { ...c.capture },
      anomalies: c.anomalies,
      outbox: { ...c.outbox },
      publisher: c.publisher,
      ...(c.inventory
        ? { inventory: { devices: c.inventory.devices, devicesDropped: c.inventory.devicesDropped } }
        : {}),
      ...(c.findings ? { findings: { count: c.findings.count, evicted: c.findings.evicted } } : {}),
    };
  }

  /** The filesystem whose mount point is the longest prefix of the store's directory. */
  private storeDisk(
    list: Array<{ mount: string; size: number; used: number; available: number }>,
  ): HealthPayload["system"]["disk"] {
    let dir = resolve(dirname(this.o.storePath));
    try {
      dir = realpathSync(dir);
    } catch {
      // not created yet: the lexical path is the best guess
    }
    let best: (typeof list)[number] | null = null;
    for (const f of list) {
      const m = f.mount;
      const under = dir === m || dir.startsWith(m.endsWith("/") ? m : m + "/");
      if (under && (!best || m.length > best.mount.length)) best = f;
    }
    return best
      ? { mount: best.mount, sizeBytes: best.size, usedBytes: best.used, availableBytes: best.available }
      : null;
  }
}
