/**
 * net.cleartext-login (issue 11): an FTP (RFC 959 USER/PASS) or Telnet login crossed the network in clear:
 * the password can be read by anyone on the path (the sensor itself never keeps it). High: the account
 * must be considered known. One finding per server port and client.
 * Points to: role-based access / encryption (DESIGN.md §5).
 */
import type { HostObservation } from "../../observations/types.js";
import type { Rule, RuleContext } from "./context.js";
import { serviceEnds } from "./host-events.js";

export class CleartextLoginRule implements Rule {
  readonly ids = ["net.cleartext-login"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onHost(o: HostObservation): void {
    const e = o.event;
    if (e.kind !== "ftp-login" && e.kind !== "telnet-login") return;
    const ends = serviceEnds(o);
    if (ends === null) return;
    const protocol = e.kind === "ftp-login" ? "FTP" : "Telnet";
    const accepted = e.kind === "ftp-login" ? e.accepted : null;
    this.ctx.hit({
      rule: "net.cleartext-login",
      severity: "high",
      device: this.ctx.id(ends.server),
      peer: this.ctx.id(ends.client),
      key: `${protocol}/${ends.server.port}`,
      title: `${protocol} login in clear from ${ends.client.ip} to ${ends.server.ip} port ${ends.server.port}${accepted === true ? " (accepted)" : ""}`,
      ts: o.tsMicros,
      flow: ends.flow,
      counts: { logins: 1 },
      details: { protocol, port: ends.server.port, accepted },
      // The protocol alone: whether one login was accepted does not change what the finding says.
      signature: protocol,
    });
  }
}
