/**
 * net.vnc-no-auth and net.vnc (issue 11): a VNC server (RFB, RFC 6143) seen on the wire. Offering or
 * using security type 1 (None, RFC 6143 §7.2.1) lets anyone on the network take the screen and keyboard:
 * high. VNC with a password (type 2, a DES challenge that an eavesdropper can brute-force offline, and no
 * encryption of the session) on the imaging network: medium.
 * Points to: close unneeded ports / VPN (DESIGN.md §5).
 */
import type { HostObservation } from "../../observations/types.js";
import type { Rule, RuleContext } from "./context.js";
import { serviceEnds } from "./host-events.js";

export class VncRules implements Rule {
  readonly ids = ["net.vnc-no-auth", "net.vnc"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onHost(o: HostObservation): void {
    const e = o.event;
    const ends = serviceEnds(o);
    if (ends === null) return;
    // The server's offer (RFB 3.7+), or the type chosen (by the client, or imposed by an RFB 3.3 server).
    const types = e.kind === "rfb-security" ? e.offered : e.kind === "rfb-chosen" ? [e.type] : null;
    if (types === null || types.length === 0) return;
    const noAuth = types.includes(1);
    const device = this.ctx.id(ends.server);
    const key = String(ends.server.port);
    // A server already known to offer None stays that finding: a client that picks a password does not
    // make it a lesser one.
    if (!noAuth && this.ctx.evidence("net.vnc-no-auth", device, null, key) !== undefined) return;
    if (noAuth)
      this.ctx.hit({
        rule: "net.vnc-no-auth",
        severity: "high",
        device,
        peer: null,
        key,
        title: `VNC without authentication on ${ends.server.ip} port ${ends.server.port}`,
        ts: o.tsMicros,
        flow: ends.flow,
        details: {
          port: ends.server.port,
          ...(e.kind === "rfb-security" ? { offered: e.offered } : { chosen: 1 }),
        },
        signature: key,
      });
    else
      this.ctx.hit({
        rule: "net.vnc",
        severity: "medium",
        device,
        peer: null,
        key,
        title: `VNC offered on ${ends.server.ip} port ${ends.server.port} (security types ${types.join(", ")})`,
        ts: o.tsMicros,
        flow: ends.flow,
        details: { port: ends.server.port, securityTypes: types },
        signature: key,
      });
  }
}
