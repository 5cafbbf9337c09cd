/**
 * dicom.cleartext-credentials: a user identity negotiation (PS3.7 D.3.3.7) carrying a secret crossed the
 * wire in clear — a passcode (type 2, or any type with a secondary field) is high; a Kerberos ticket (3),
 * SAML assertion (4) or JSON web token (5) medium. Raised whatever the association's outcome: the secret
 * was sent. A username alone (type 1) is no secret and raises nothing.
 * Points to: TLS (DESIGN.md §5).
 */
import type { AssociationEvent, Rule, RuleContext } from "./context.js";

export class CleartextCredentialsRule implements Rule {
  readonly ids = ["dicom.cleartext-credentials"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onAssociation(a: AssociationEvent): void {
    const { o } = a;
    const ui = o.record.userIdentity;
    if (!ui || !(ui.passcodePresent || ui.type >= 3)) return;
    const kind =
      ui.type === 2 || ui.passcodePresent
        ? "passcode"
        : ui.type === 3
          ? "Kerberos ticket"
          : ui.type === 4
            ? "SAML assertion"
            : "JSON web token";
    this.ctx.hit({
      rule: "dicom.cleartext-credentials",
      severity: kind === "passcode" ? "high" : "medium",
      device: a.server,
      peer: a.client,
      key: `type-${ui.type}`,
      title: `A user identity ${kind} was sent in clear from ${o.client.ip} to ${o.server.ip}`,
      ts: a.ts,
      flow: a.flow,
      aeTitles: [a.calling, a.called],
      counts: { associations: 1 },
      details: { userIdentityType: ui.type, passcodePresent: ui.passcodePresent },
    });
  }
}
