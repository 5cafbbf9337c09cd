/**
 * The capture worker's device and finding changes on their way to the main thread (capture-worker.ts).
 */
import type { DeviceRecord, FindingRecord } from "../report/types.js";

/**
 * Flow control (issue 9): one "changes" message is in flight until the main thread acknowledges it; what
 * changes meanwhile waits here, coalesced by id. Without it a flood of new hosts, parsed faster than the
 * main thread commits to SQLite, queued messages in the main thread's port without bound (285 MiB of RSS
 * under the 50 000-association flood). The ids waiting are capped: past MAX_UNSENT, a change of an id
 * not already waiting is dropped and counted (the next sync announces that record again).
 */
export const MAX_UNSENT = 8192;

/**
 * Records per message. A record crosses as a structured clone of its own (a finding's CVE list is shared
 * in the worker, a copy of kilobytes in every record that crosses), and the main thread commits a message
 * as one batch: a few hundred keep both small. The rest waits for the next ack.
 */
export const MAX_BATCH = 256;

/** The changes waiting for the main thread, with the flow control above. */
export class ChangeQueue {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly findings = new Map<string, FindingRecord>();
  private awaitingAck = false;
  private dropped = 0;

  constructor(
    private readonly max = MAX_UNSENT,
    private readonly batch = MAX_BATCH,
  ) {}

  device(d: DeviceRecord): void {
    this.keep(this.devices, d.id, d);
  }

  finding(f: FindingRecord): void {
    this.keep(this.findings, f.id, f);
  }

  /** Something waits and nothing is in flight. */
  get ready(): boolean {
    return !this.awaitingAck && this.size > 0;
  }

  get size(): number {
    return this.devices.size + this.findings.size;
  }

  /**
   * The batch to post (then in flight until ack), at most `batch` records, oldest first; null when nothing
   * waits or one is in flight. `all` (at stop) takes everything, whatever is in flight.
   */
  take(all = false): { devices: DeviceRecord[]; findings: FindingRecord[] } | null {
    if ((this.awaitingAck && !all) || this.size === 0) return null;
    const limit = all ? Infinity : this.batch;
    const devices = ChangeQueue.drain(this.devices, limit);
    const findings = ChangeQueue.drain(this.findings, limit - devices.length);
    this.awaitingAck = true;
    return { devices, findings };
  }

  private static drain<T>(map: Map<string, T>, limit: number): T[] {
    const out: T[] = [];
    for (const [id, v] of map) {
      if (out.length >= limit) break;
      out.push(v);
      map.delete(id);
    }
    return out;
  }

  ack(): void {
    this.awaitingAck = false;
  }

  /** Changes dropped since the last call. */
  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }

  private keep<T>(map: Map<string, T>, id: string, v: T): void {
    if (!map.has(id) && this.size >= this.max) this.dropped++;
    else map.set(id, v);
  }
}
