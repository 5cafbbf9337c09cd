/**
 * dicom.external-peer: a DICOM peer outside config.networks.internal — inbound from outside (high when the
 * SCP accepted), outbound to outside, DICOM between two external addresses seen on this network, or an
 * internal caller missing from policy.allowedPeers when the site lists them. Rejected attempts count lower
 * than accepted associations.
 * Points to: firewall, VPN, allowlists (DESIGN.md §5).
 */
import { CidrSet } from "../../config/cidr.js";
import type { AssociationEvent, Rule, RuleContext } from "./context.js";

export class ExternalPeerRule implements Rule {
  readonly ids = ["dicom.external-peer"] as const;
  private readonly allowed: CidrSet;

  constructor(private readonly ctx: RuleContext) {
    this.allowed = new CidrSet(ctx.config.policy.allowedPeers);
  }

  onAssociation(a: AssociationEvent): void {
    const { o, accepted } = a;
    const cIn = this.ctx.isInternal(o.client.ip);
    const sIn = this.ctx.isInternal(o.server.ip);
    const base = {
      rule: "dicom.external-peer" as const,
      ts: o.tsMicros,
      flow: a.flow,
      aeTitles: [a.calling, a.called],
    };
    const counts = { associations: 1, accepted: accepted ? 1 : 0 };
    if (!cIn && sIn) {
      this.ctx.hit({
        ...base,
        severity: accepted ? "high" : "medium",
        device: this.ctx.id(o.server),
        peer: this.ctx.id(o.client),
        key: "inbound",
        title: accepted
          ? `${o.server.ip} accepted DICOM from external address ${o.client.ip}`
          : `External address ${o.client.ip} attempted DICOM to ${o.server.ip}`,
        counts,
      });
    } else if (cIn && !sIn) {
      this.ctx.hit({
        ...base,
        severity: accepted ? "medium" : "low",
        device: this.ctx.id(o.client),
        peer: this.ctx.id(o.server),
        key: "outbound",
        title: `${o.client.ip} ${accepted ? "sends" : "attempted"} DICOM to external address ${o.server.ip}`,
        counts,
      });
    } else if (!cIn && !sIn) {
      this.ctx.hit({
        ...base,
        severity: "low",
        device: this.ctx.id(o.server),
        peer: this.ctx.id(o.client),
        key: "both-external",
        title: `DICOM between external addresses ${o.client.ip} and ${o.server.ip} is visible on this network`,
        counts,
      });
    } else if (this.allowed.size > 0 && !this.allowed.has(o.client.ip)) {
      this.ctx.hit({
        ...base,
        severity: accepted ? "medium" : "low",
        device: this.ctx.id(o.server),
        peer: this.ctx.id(o.client),
        key: "not-allowed",
        title: `${o.client.ip} is not in the allowed peers but ${accepted ? "talks" : "attempted"} DICOM to ${o.server.ip}`,
        counts,
      });
    }
  }
}
