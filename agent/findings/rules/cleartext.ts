/**
 * dicom.cleartext: an accepted association runs without TLS (every association the sensor can read is in
 * clear; DICOM TLS, PS3.15 Annex B, shows only as a handshake). Low between internal addresses, high across
 * the network boundary. Not raised for a scanner's associations (AssociationEvent.scanner).
 * Points to: TLS, VPN (DESIGN.md §5).
 */
import type { AssociationEvent, Rule, RuleContext } from "./context.js";

export class CleartextRule implements Rule {
  readonly ids = ["dicom.cleartext"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onAssociation(a: AssociationEvent): void {
    if (!a.accepted || a.scanner) return;
    const { o } = a;
    const external = !this.ctx.isInternal(o.client.ip) || !this.ctx.isInternal(o.server.ip);
    this.ctx.hit({
      rule: "dicom.cleartext",
      severity: external ? "high" : "low",
      device: a.server,
      peer: a.client,
      key: "cleartext",
      title: external
        ? `DICOM in cleartext across the network boundary between ${o.client.ip} and ${o.server.ip}`
        : `DICOM in cleartext between ${o.client.ip} and ${o.server.ip}`,
      ts: a.ts,
      flow: a.flow,
      aeTitles: [a.calling, a.called],
      counts: { associations: 1, messages: o.record.messages.length },
    });
  }
}
