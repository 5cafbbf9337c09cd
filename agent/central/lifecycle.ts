/**
 * The central service's housekeeping timer (issue 12): every interval it resolves findings the sensors
 * stopped reporting and clears expired risk acceptances (CentralStore.sweep), then applies retention and
 * the size cap (CentralStore.enforceRetention). Ingest only writes what arrives; without this timer a
 * finding whose sensor went quiet would stay open for ever and the store would grow past its cap.
 *
 * A failure (a busy or full disk) is logged and counted, never thrown from the timer: the next tick tries
 * again. Several central instances on one store may each run it: both operations are idempotent.
 */
import type { CentralStore, RetentionResult, SweepResult } from "./store.js";

export interface LifecycleOptions {
  /** Between two runs; default 60 s. */
  intervalMs?: number;
  /** Diagnostics (counts only, never a record); default a JSON line on stderr. */
  log?: (event: string, detail: Record<string, unknown>) => void;
  /** The clock (tests move it); default the wall clock. */
  now?: () => Date;
}

export interface LifecycleHealth {
  runs: number;
  failures: number;
  lastRunAt: string | null;
  lastError: string | null;
  /** Totals since start. */
  resolved: number;
  riskExpired: number;
  evicted: number;
  overCap: boolean;
}

export class Lifecycle {
  private readonly intervalMs: number;
  private readonly log: (event: string, detail: Record<string, unknown>) => void;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | null = null;
  private readonly h: LifecycleHealth = {
    runs: 0,
    failures: 0,
    lastRunAt: null,
    lastError: null,
    resolved: 0,
    riskExpired: 0,
    evicted: 0,
    overCap: false,
  };

  constructor(
    private readonly store: CentralStore,
    opts: LifecycleOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.now = opts.now ?? (() => new Date());
    this.log =
      opts.log ??
      ((event, detail) =>
        process.stderr.write(JSON.stringify({ component: "central-lifecycle", event, ...detail }) + "\n"));
  }

  /**
   * Runs every interval, the first time one interval after start: a central that was down longer than
   * resolveAfterHours first takes what the broker kept for it (queued events, retained states, a few
   * seconds after ingest subscribed) before staleness is judged. Run at once, the sweep would resolve every
   * finding the central had not heard of while it was down, and the catch-up would reopen them.
   */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One sweep and retention pass; returns what they did, or null when the store refused. */
  runOnce(): { sweep: SweepResult; retention: RetentionResult } | null {
    const now = this.now();
    try {
      const sweep = this.store.sweep(now);
      const retention = this.store.enforceRetention(now);
      const evicted = Object.values(retention.evicted).reduce((a, b) => a + b, 0);
      this.h.runs++;
      this.h.lastRunAt = now.toISOString();
      this.h.resolved += sweep.resolved;
      this.h.riskExpired += sweep.riskExpired;
      this.h.evicted += evicted;
      if (retention.overCap && !this.h.overCap)
        this.log("over-cap", { bytes: retention.bytes, note: "only open findings and devices left" });
      this.h.overCap = retention.overCap;
      if (sweep.resolved + sweep.riskExpired + evicted > 0)
        this.log("swept", { ...sweep, evicted: retention.evicted, expired: retention.expired });
      return { sweep, retention };
    } catch (e) {
      this.h.failures++;
      this.h.lastError = e instanceof Error ? e.message : String(e);
      this.log("failed", { error: this.h.lastError });
      return null;
    }
  }

  health(): LifecycleHealth {
    return { ...this.h };
  }
}
