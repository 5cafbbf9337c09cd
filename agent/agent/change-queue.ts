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
 * Records per message. A record crosses as a structured clone, and the main thread commits a message as
 * one batch: a few dozen keep both small (the main thread's garbage per batch too). The rest waits for the next ack.
 */
export const MAX_BATCH = 64;

/** Where the queue finds the current record of an id when it sends it; null once it is gone from memory. */
export interface ChangeLookup {
  device(id: string): DeviceRecord | null;
  finding(id: string): FindingRecord | null;
}

/**
 * The changes waiting for the main thread, with the flow control above. Only ids wait: the record is
 * looked up when its batch is taken, so it is the newest state and costs nothing while it waits. Holding
 * the records themselves (a finding's evidence, times and title, 3-4 kB each) was 28 MiB of the capture
 * thread's heap when a flood kept 8 192 waiting. A finding evicted from the engine's memory before its
 * change was taken is not sent: that is counted with the dropped changes.
 */
export class ChangeQueue {
  private readonly devices = new Set<string>();
  private readonly findings = new Set<string>();
  private awaitingAck = false;
  private dropped = 0;

  constructor(
    private readonly lookup: ChangeLookup,
    private readonly max = MAX_UNSENT,
    private readonly batch = MAX_BATCH,
  ) {}

  device(id: string): void {
    this.keep(this.devices, id);
  }

  finding(id: string): void {
    this.keep(this.findings, id);
  }

  /** Something waits and nothing is in flight. */
  get ready(): boolean {
    return !this.awaitingAck && this.size > 0;
  }

  get size(): number {
    return this.devices.size + this.findings.size;
  }

  /** A batch was taken and not acknowledged yet. */
  get inFlight(): boolean {
    return this.awaitingAck;
  }

  /**
   * The batch to post (then in flight until ack), at most `batch` records, oldest first; null when nothing
   * waits or one is in flight. At stop too: the worker drains the queue batch by batch (capture-worker.ts).
   */
  take(): { devices: DeviceRecord[]; findings: FindingRecord[] } | null {
    if (this.awaitingAck || this.size === 0) return null;
    const devices = this.drain(this.devices, this.batch, (id) => this.lookup.device(id));
    const findings = this.drain(this.findings, this.batch - devices.length, (id) => this.lookup.finding(id));
    this.awaitingAck = true;
    return { devices, findings };
  }

  private drain<T>(ids: Set<string>, limit: number, find: (id: string) => T | null): T[] {
    const out: T[] = [];
    for (const id of ids) {
      if (out.length >= limit) break;
      ids.delete(id);
      const r = find(id);
      if (r === null) this.dropped++;
      else out.push(r);
    }
    return out;
  }

  ack(): void {
    this.awaitingAck = false;
  }

  /** Changes dropped (cap reached, or gone from memory before they were taken) since the last call. */
  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }

  private keep(ids: Set<string>, id: string): void {
    if (ids.has(id)) return;
    if (this.size >= this.max) this.dropped++;
    else ids.add(id);
  }
}
