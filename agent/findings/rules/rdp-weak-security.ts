/**
 * net.rdp-weak-security (issue 11): an RDP server selected Standard RDP Security ([MS-RDPBCGR] 2.2.1.2.1:
 * selectedProtocol PROTOCOL_RDP, or no RDP_NEG_RSP at all from an old server) — RC4 with a server key
 * nobody verifies, the session open to interception, and the login screen reachable before any
 * authentication (what BlueKeep needs) — or TLS without Network Level Authentication (CredSSP), which
 * still shows the login screen to anyone. High for Standard RDP Security, medium for TLS without NLA.
 * Points to: role-based access / VPN (DESIGN.md §5).
 */
import type { HostObservation } from "../../observations/types.js";
import { rdpSecurity } from "../../inventory/host.js";
import type { Rule, RuleContext } from "./context.js";
import { serviceEnds } from "./host-events.js";

export class RdpWeakSecurityRule implements Rule {
  readonly ids = ["net.rdp-weak-security"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onHost(o: HostObservation): void {
    const e = o.event;
    if (e.kind !== "rdp-confirm" || e.failureCode !== null) return;
    const security = rdpSecurity(e.selectedProtocol);
    if (security !== "standard" && security !== "tls") return;
    const ends = serviceEnds(o);
    if (ends === null) return;
    this.ctx.hit({
      rule: "net.rdp-weak-security",
      severity: security === "standard" ? "high" : "medium",
      device: this.ctx.id(ends.server),
      peer: null,
      key: String(ends.server.port),
      title:
        security === "standard"
          ? `RDP on ${ends.server.ip} port ${ends.server.port} uses Standard RDP Security (no TLS, no Network Level Authentication)`
          : `RDP on ${ends.server.ip} port ${ends.server.port} without Network Level Authentication (TLS only)`,
      ts: o.tsMicros,
      flow: ends.flow,
      counts: { sessions: 1 },
      details: { port: ends.server.port, security, selectedProtocol: e.selectedProtocol },
      signature: security,
    });
  }
}
