/**
 * `dicomtap central` as one long-running service (issue 12): the store, the ingest that follows the
 * sensors through the broker, the maintenance timer (staleness, risk expiry, retention and size cap) and
 * the HTTP server, constructed and started explicitly in that order and stopped in the reverse
 * (DESIGN.md §6 principle 7: nothing happens at import time).
 *
 * The parts are passed in, so the service depends only on what each must do: the ingest is anything with
 * start/stop/health (agent/central/ingest.ts's Ingest), the maintenance a function of the time (the
 * store's sweep and enforceRetention). The database handle is the one both the store and the HTTP
 * server use.
 */
import type { Db } from "./http/db.js";
import type { CentralHttp } from "./http/server.js";

/** A part that runs until stopped: the ingest. */
export interface ServicePart {
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  health(): unknown;
}

export interface CentralServiceOptions {
  db: Db;
  http: CentralHttp;
  ingest: ServicePart;
  /** Called every `maintenanceIntervalMs` and once at start; an error is logged, never fatal. */
  maintenance: (now: Date) => unknown;
  maintenanceIntervalMs?: number;
  log?: (line: string) => void;
  now?: () => Date;
}

export class CentralService {
  private timer: NodeJS.Timeout | null = null;
  private lastMaintenance: { at: string; result: unknown; error: string | null } | null = null;
  private started = false;
  private readonly log: (line: string) => void;
  private readonly now: () => Date;

  constructor(private readonly opts: CentralServiceOptions) {
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? (() => new Date());
  }

  /** Starts ingest, maintenance and HTTP; a part that fails to start stops those already started. */
  async start(): Promise<void> {
    if (this.started) return;
    await this.opts.ingest.start();
    try {
      this.maintain();
      this.timer = setInterval(() => this.maintain(), this.opts.maintenanceIntervalMs ?? 60_000);
      this.timer.unref();
      await this.opts.http.start();
    } catch (err) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      await this.opts.ingest.stop();
      throw err;
    }
    this.started = true;
  }

  /** Stops HTTP first (no new actions), then the timer and the ingest; closes nothing it was given. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.opts.http.stop();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.opts.ingest.stop();
  }

  health(): { ingest: unknown; http: unknown; maintenance: unknown } {
    return {
      ingest: this.opts.ingest.health(),
      http: this.opts.http.health(),
      maintenance: this.lastMaintenance,
    };
  }

  private maintain(): void {
    const now = this.now();
    try {
      const result = this.opts.maintenance(now);
      this.lastMaintenance = { at: now.toISOString(), result: result ?? null, error: null };
    } catch (err) {
      this.lastMaintenance = { at: now.toISOString(), result: null, error: (err as Error).message };
      this.log(`central: maintenance failed: ${(err as Error).message}`);
    }
  }
}
