/**
 * The baseline (issue 13): while the learning window is open (policy.learning.days of capture time from the
 * first observation), the site's clinical traffic is folded into a BaselineLearner; after it, departures from
 * what was learned are findings (baseline.new-peer, baseline.new-service, baseline.new-operation).
 * Clinical traffic: accepted associations that the scanner rule (which runs first) did not attribute to a
 * scanner and whose called AE title is no generic probe value, TLS connections to DICOM ports, and the TCP
 * sessions that show which ports are used.
 * Points to: allowlists, firewall (DESIGN.md §5).
 */
import { BaselineLearner } from "../../baseline/learner.js";
import type { ConnectionObservation, DimseObservation, TlsObservation } from "../../observations/types.js";
import { formatFlow } from "../../util/flow.js";
import type { AssociationEvent, Rule, RuleContext } from "./context.js";
import { probeCalledAE } from "./tables.js";

const DAY_MICROS = 86_400_000_000;

export class BaselineRule implements Rule {
  readonly ids = ["baseline.new-peer", "baseline.new-service", "baseline.new-operation"] as const;
  readonly learner: BaselineLearner;
  /** Capture time the learning window opened (micros; 0 until the first observation). */
  windowStart = 0;
  /** Learning stopped for good: the window closed, or an approved baseline was loaded. */
  private frozen = false;

  constructor(private readonly ctx: RuleContext) {
    this.learner = new BaselineLearner((ip) => ctx.isInternal(ip));
  }

  /** Whether traffic at `ts` is still learned. */
  learning(ts: number): boolean {
    if (this.frozen) return false;
    if (this.windowStart === 0) this.windowStart = ts;
    const days = this.ctx.config.policy.learning.days;
    if (ts - this.windowStart < days * DAY_MICROS) return true;
    this.frozen = true;
    return false;
  }

  /** The learning window's end (micros), or null while it has no start. */
  windowEnd(): number | null {
    return this.windowStart === 0
      ? null
      : this.windowStart + this.ctx.config.policy.learning.days * DAY_MICROS;
  }

  /** Stops learning (an approved baseline was loaded, or the stored one had closed its window). */
  freeze(): void {
    this.frozen = true;
  }

  get closed(): boolean {
    return this.frozen;
  }

  onConnection(o: ConnectionObservation): void {
    if (this.learning(o.tsMicros)) this.learner.connection(o);
  }

  onDimse(o: DimseObservation): void {
    if (this.learning(o.tsMicros)) this.learner.dimse(o, formatFlow(o.client, o.server));
  }

  onAssociation(a: AssociationEvent): void {
    if (!this.learning(a.ts)) return;
    const u = a.o.record.userIdentity;
    const clinical = a.accepted && !a.scanner && probeCalledAE(a.called) === null;
    this.learner.association(
      {
        client: a.o.client,
        server: a.o.server,
        flow: a.flow,
        start: a.o.record.startMicros,
        ts: a.ts,
        calling: a.calling,
        called: a.called,
        credentials: u !== null && (u.passcodePresent || u.username !== null),
      },
      clinical,
    );
  }

  onTls(o: TlsObservation): void {
    if (this.learning(o.tsMicros)) this.learner.tls(o, this.ctx.inventory.isDicomDevice(o.server));
  }
}
