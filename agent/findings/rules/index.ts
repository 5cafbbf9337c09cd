/**
 * The rules, in routing order: the engine hands each observation to the rules that handle it in this order,
 * and settles them in this order at finish(). The order is part of the behaviour:
 * - scanner first: it marks the associations it attributes to a scanner (AssociationEvent.scanner), which
 *   cleartext, vulnerable-implementation and duplicate-ae-title then leave alone;
 * - duplicate-ae-title before any-ae-accepted: each asks the other (a title an address calls with is its own
 *   name; a service that accepted a probe value answers to any title), and the answers are those of the
 *   associations seen before, plus this one's calling title;
 * - new-device before risky-service (a new device is announced before its risky ports), risky-service
 *   before default-port (one connection's findings), then port-outside-profile (the same connection judged
 *   against the vendor's profile: the general findings about a port come before the device-specific one);
 * - the remote-access rules (issue 11) before os: a host observation's service finding comes before the
 *   OS findings it makes worse;
 * - baseline after scanner (it learns only from associations the scanner rule left to the site) and after the
 *   rules of the association's own findings;
 * - at finish(): scanner's silent associations, then C-MOVEs, then port 104, then the ports of devices whose
 *   model became known after their ports answered (port-outside-profile), then malformed PDUs.
 * Hits raised in one observation keep this order in the findings list (the report sorts by severity only).
 */
import { AeScanRule } from "./ae-scan.js";
import { AnyAeAcceptedRule } from "./any-ae-accepted.js";
import { BulkQueryRule } from "./bulk-query.js";
import { CleartextCredentialsRule } from "./cleartext-credentials.js";
import { CleartextRule } from "./cleartext.js";
import type { Rule, RuleContext } from "./context.js";
import { BaselineRule } from "./baseline.js";
import { DefaultPortRule } from "./default-port.js";
import { DuplicateAeTitles } from "./duplicate-ae-title.js";
import { EchoSweepRule } from "./echo-sweep.js";
import { ExternalPeerRule } from "./external-peer.js";
import { MalformedRule } from "./malformed.js";
import { NewDeviceRule } from "./new-device.js";
import { PortOutsideProfileRule } from "./port-outside-profile.js";
import { RiskyServiceRule } from "./risky-service.js";
import { ScannerRules } from "./scanner.js";
import { TlsWeakRule } from "./tls-weak.js";
import { OsRules } from "./os.js";
import { SmbV1Rule } from "./smbv1.js";
import { RdpWeakSecurityRule } from "./rdp-weak-security.js";
import { VncRules } from "./vnc.js";
import { CleartextLoginRule } from "./cleartext-login.js";
import { RemoteAccessExternalRule } from "./remote-access-external.js";
import { UnknownMoveDestinationRule } from "./unknown-move-destination.js";
import { VulnerableImplementationRule } from "./vulnerable-implementation.js";

export type { AssociationEvent, Rule, RuleContext } from "./context.js";

/** A fresh set of the catalogue's rules (each with its own state) over one context. */
export function defaultRules(ctx: RuleContext): Rule[] {
  const duplicates: DuplicateAeTitles = new DuplicateAeTitles(ctx, (server) => anyAe.promiscuous(server));
  const anyAe: AnyAeAcceptedRule = new AnyAeAcceptedRule(ctx, (ip, ae) => duplicates.usedAsCalling(ip, ae));
  return [
    new ScannerRules(ctx),
    new AeScanRule(ctx),
    new EchoSweepRule(ctx),
    new ExternalPeerRule(ctx),
    new CleartextCredentialsRule(ctx),
    new CleartextRule(ctx),
    new VulnerableImplementationRule(ctx),
    duplicates,
    anyAe,
    new UnknownMoveDestinationRule(ctx),
    new NewDeviceRule(ctx),
    new RiskyServiceRule(ctx),
    new DefaultPortRule(ctx),
    // After the port rules above: a port judged against the device's vendor profile (issue 13).
    new PortOutsideProfileRule(ctx),
    new BulkQueryRule(ctx),
    new TlsWeakRule(ctx),
    new SmbV1Rule(ctx),
    new RdpWeakSecurityRule(ctx),
    new VncRules(ctx),
    new CleartextLoginRule(ctx),
    new RemoteAccessExternalRule(ctx),
    new OsRules(ctx),
    new BaselineRule(ctx),
    new MalformedRule(ctx),
  ];
}
