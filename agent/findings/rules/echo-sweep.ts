/**
 * dicom.scanner by a C-ECHO sweep: one source opens verification-only associations (PS3.4 Annex A, the
 * Verification SOP Class) to many hosts within the echo-sweep window (policy.thresholds.echoSweep*), any
 * outcome — the way a scanner finds DICOM services. A PACS or a monitoring system that verifies its
 * configured nodes every few minutes also "sweeps", but it knows their AE titles, so every association is
 * accepted (low); a scanner guesses, and is refused (high).
 * Points to: firewall (DESIGN.md §5).
 */
import { VERIFICATION } from "../../dicom/sop.js";
import { BoundedMap, windowOf, type Window } from "../bounded.js";
import { MAX_LIST, MAX_TRACKED, type AssociationEvent, type Rule, type RuleContext } from "./context.js";

export class EchoSweepRule implements Rule {
  readonly ids = ["dicom.scanner"] as const;
  private readonly echoes = new BoundedMap<string, Window>(MAX_TRACKED);

  constructor(private readonly ctx: RuleContext) {}

  onAssociation(a: AssociationEvent): void {
    const { o, ts, accepted } = a;
    const pcs = o.record.presentationContexts;
    const verificationOnly = pcs.length > 0 && pcs.every((pc) => pc.abstractSyntax === VERIFICATION);
    if (!verificationOnly) return;
    const t = this.ctx.config.policy.thresholds;
    const w = windowOf(this.echoes, o.client.ip);
    w.push(ts, accepted ? "" : "refused", o.server.ip, t.echoSweepWindowSeconds * 1e6, t.echoSweepHosts * 8);
    const hosts = new Set(w.events.map((e) => e.target));
    if (hosts.size < t.echoSweepHosts) return;
    const refused = w.events.some((e) => e.label === "refused");
    this.ctx.hit({
      rule: "dicom.scanner",
      severity: refused ? "high" : "low",
      device: a.client,
      peer: null,
      key: "echo-sweep",
      title: refused
        ? `${o.client.ip} swept ${hosts.size} hosts with C-ECHO associations within ${t.echoSweepWindowSeconds} s, some of them refused`
        : `${o.client.ip} verified ${hosts.size} hosts with C-ECHO within ${t.echoSweepWindowSeconds} s, all accepted (a monitoring system, or a scanner that knows the AE titles)`,
      ts,
      flow: a.flow,
      aeTitles: [a.calling],
      counts: { associations: 1 },
      details: { hosts: [...hosts].slice(0, MAX_LIST), refused },
      signature: refused ? "echo-sweep" : "echo-sweep-accepted",
    });
  }
}
