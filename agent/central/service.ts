/**
 * `dicomtap central` as one long-running service (issue 12): the parts that follow the sensors and keep the
 * store (the ingest from the broker, the lifecycle timer of staleness, risk expiry, retention and size cap)
 * and the HTTP server in front of the store, constructed by the caller and started here explicitly, in
 * order, and stopped in the reverse order (DESIGN.md §6 principle 7: nothing happens at import time).
 *
 * The parts are anything with start/stop/health (agent/central/ingest.ts's Ingest, lifecycle.ts's
 * Lifecycle), so the service depends only on what each must do. HTTP starts last (a console that answers
 * is a console whose store is being kept) and stops first (no action accepted while the rest shuts down).
 */
import type { CentralHttp } from "./http/server.js";

/** A part that runs until stopped: the ingest, the lifecycle timer. */
export interface ServicePart {
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  health(): unknown;
}

export interface CentralServiceOptions {
  http: CentralHttp;
  /** Started in this order before HTTP, stopped in the reverse order after it; names key health(). */
  parts: ReadonlyArray<readonly [name: string, part: ServicePart]>;
}

export class CentralService {
  private running: Array<readonly [string, ServicePart]> = [];
  private httpRunning = false;

  constructor(private readonly opts: CentralServiceOptions) {}

  /** Starts every part, then HTTP; when one fails, those already started are stopped and the error thrown. */
  async start(): Promise<void> {
    if (this.running.length > 0 || this.httpRunning) return;
    try {
      for (const entry of this.opts.parts) {
        await entry[1].start();
        this.running.push(entry);
      }
      await this.opts.http.start();
      this.httpRunning = true;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops HTTP first, then the parts in reverse order; closes nothing it was given (the store is the caller's). */
  async stop(): Promise<void> {
    if (this.httpRunning) await this.opts.http.stop();
    this.httpRunning = false;
    for (const [, part] of this.running.reverse()) await part.stop();
    this.running = [];
  }

  /** Each part's health by name, and the HTTP server's. */
  health(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, part] of this.opts.parts) out[name] = part.health();
    out.http = this.opts.http.health();
    return out;
  }
}
