/**
 * The part of the agent that sees packets: pipeline → guard → inventory and findings. It knows nothing of
 * the store, the broker or health: it announces device and finding changes through callbacks, and the
 * agent (agent/run.ts) decides where they go. Live capture runs it in a worker thread
 * (capture-worker.ts), so nothing that waits (SQLite commits, MQTT, health, their garbage) shares its
 * event loop or its heap; a replay runs it in the agent's own thread.
 */
import { baselineDocument } from "../baseline/document.js";
import type { BaselineDocument } from "../baseline/types.js";
import type { Config } from "../config/types.js";
import { Analysis } from "../pipeline/analyze.js";
import { Pipeline } from "../pipeline/pipeline.js";
import type { DeviceRecord, FindingRecord } from "../report/types.js";

/** How long live mode lets evidence arrive before settling a waiting judgement. */
const SETTLE_MICROS = 30_000_000;

export interface SensorCallbacks {
  device(d: DeviceRecord): void;
  /** The findings engine's own record (see FindingsEngine.onChange): read it, never change it. */
  finding(f: FindingRecord): void;
}

/** What the sensor counts, for health. Plain numbers: it crosses a thread boundary. */
export interface SensorCounters {
  packets: number;
  bytes: number;
  anomalies: number;
  traffic: { tcpFlows: number; dicomFlows: number; associations: number; dimseMessages: number };
  gaps: { flows: number; bytes: number };
  inventory: { devices: number; devicesDropped: number };
  findings: { count: number; evicted: number };
}

export class SensorCore {
  readonly analysis: Analysis;
  /** The agent keeps no report: association records are observed, then dropped (memory stays flat). */
  readonly pipeline: Pipeline;
  /** Devices taken from the store at start (known, not announced as new). */
  readonly restoredCount: number;

  constructor(
    private readonly config: Config,
    private readonly callbacks: SensorCallbacks,
    restored: readonly DeviceRecord[] = [],
    /** The baseline the store kept (issue 13): its window, tables and approval carry on. */
    baseline: BaselineDocument | null = null,
  ) {
    this.analysis = new Analysis(config);
    if (baseline !== null) this.analysis.findings.baseline?.load(baseline);
    this.restoredCount = this.analysis.inventory.restore(restored);
    this.analysis.inventory.onChange = (d) => callbacks.device(d);
    this.analysis.findings.onChange = (f) => callbacks.finding(f);
    this.pipeline = new Pipeline({ observations: this.analysis, maxReportAssociations: 0 });
    this.analysis.findings.anomalies = this.pipeline.anomalyCounter;
  }

  /**
   * Live housekeeping, by the wall clock (capture time moves with it on a live port): idle flows close,
   * and judgements that wait for later evidence (a C-MOVE's destination, whether port 104 is used) are
   * settled once they are SETTLE_MICROS old.
   */
  tick(nowMicros: number): void {
    this.pipeline.expire(nowMicros);
    this.analysis.findings.finish(nowMicros, SETTLE_MICROS);
  }

  /** End of capture: every connection closes, every waiting judgement is settled. */
  finish(): void {
    this.pipeline.finish();
    this.analysis.findings.finish(this.pipeline.nowMicros);
  }

  /** Announces the current state of every device and finding (counts and lastSeen move silently). */
  syncAll(): void {
    for (const d of this.analysis.inventory.devices()) this.callbacks.device(d);
    for (const f of this.analysis.findings.records()) this.callbacks.finding(f);
  }

  /**
   * The ids of every device and finding, for a sync whose records are built only when they are sent (the
   * capture worker's ChangeQueue): syncAll built all 2 048 device records of a full inventory every health
   * interval only for their ids, a few MiB of garbage each time, and the queue built them again.
   */
  syncIds(device: (id: string) => void, finding: (id: string) => void): void {
    for (const id of this.analysis.inventory.deviceIds()) device(id);
    for (const f of this.analysis.findings.records()) finding(f.id);
  }

  /** The current record of a device, or null (not tracked). */
  deviceRecord(id: string): DeviceRecord | null {
    return this.analysis.inventory.device(id) ?? null;
  }

  /** The findings engine's own record of a finding held in memory (read, never change), or null. */
  findingRecord(id: string): FindingRecord | null {
    return this.analysis.findings.record(id);
  }

  /** The baseline document as it stands now, or null (no baseline rule). */
  baseline(): BaselineDocument | null {
    const rule = this.analysis.findings.baseline;
    return rule === null ? null : baselineDocument(rule, this.config);
  }

  /**
   * Moves whenever the baseline document would: something learned, or the status changed (the window
   * closed). Building the document only to compare it would cost its size in garbage each time.
   */
  baselineMark(): string {
    const rule = this.analysis.findings.baseline;
    return rule === null ? "" : `${rule.changes}|${rule.status}|${rule.windowStart}`;
  }

  counters(): SensorCounters {
    const p = this.pipeline;
    const s = p.stats();
    return {
      packets: p.packets,
      bytes: p.bytes,
      anomalies: p.anomalyCounter.total,
      traffic: {
        tcpFlows: s.tcpFlows,
        dicomFlows: s.dicomFlows,
        associations: s.associations,
        dimseMessages: s.dimseMessages,
      },
      gaps: p.gaps(),
      inventory: {
        devices: this.analysis.inventory.size,
        devicesDropped: this.analysis.inventory.devicesDropped,
      },
      findings: { count: this.analysis.findings.size, evicted: this.analysis.findings.evicted },
    };
  }
}
