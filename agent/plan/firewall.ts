/**
 * The plan's firewall layer as one ordered rule list: the nftables renderer (render-nft.ts) writes it rule
 * for rule, and `plan --check` (check.ts) evaluates it with decide(), so the check applies exactly what the
 * kernel will (issue 13, "Check before applying"). The namespace test loads the rendered rules into a real
 * kernel and compares it with decide().
 *
 * Evaluated in order, first match wins, for a new TCP connection (src → dst:dport):
 *   1. established, related: accept (never evaluated here: --check judges each connection by its first
 *      packet, which is what the kernel judges too);
 *   2. exception: a listed outside peer to its server (and port): accept;
 *   3. external: a source outside the internal networks to a protected internal server: drop (step 1);
 *   4. closed: a port to close (step 2): drop;
 *   5. allow: a listed peer to a DICOM service port (steps 3 and 4): accept;
 *   6. service: any other source to a DICOM service port: drop;
 *   7. everything else: accept. Flows the baseline never saw (a new workstation's HTTP, a backup, a
 *      protocol the sensor does not decode) are not broken by a plan that knew nothing of them: the plan
 *      closes what it has evidence about, and the baseline's departure findings report the rest.
 * Only TCP is judged: the baseline is made of TCP connections, so UDP and ICMP are left as they are.
 */
import { BlockList, isIP } from "node:net";
import { CidrSet } from "../config/cidr.js";
import type { Plan, PlanException } from "./types.js";

export type Verdict = "accept" | "drop";
export type RuleKind = "exception" | "external" | "closed" | "allow" | "service" | "default";

export interface Decision {
  verdict: Verdict;
  rule: RuleKind;
  /** One line for people. */
  reason: string;
}

export interface Connection {
  src: string;
  dst: string;
  dport: number;
}

/** The plan's firewall, by address family: what each rule of the list matches. */
export interface FirewallModel {
  internal: { v4: string[]; v6: string[] };
  exceptions: PlanException[];
  /** Internal servers closed to outside sources. */
  protect: { v4: string[]; v6: string[] };
  /** "IP port" pairs to drop. */
  closed: { v4: [string, number][]; v6: [string, number][] };
  /** "src dst port" triples to accept. */
  allow: { v4: [string, string, number][]; v6: [string, string, number][] };
  /** "dst port" pairs where any source not allowed is dropped. */
  services: { v4: [string, number][]; v6: [string, number][] };
}

/** 4 or 6; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is IPv6 on the wire, and nftables sees it so. */
export function family(ip: string): 4 | 6 {
  return isIP(ip) === 4 ? 4 : 6;
}

function split<T>(items: T[], ipOf: (t: T) => string): { v4: T[]; v6: T[] } {
  return { v4: items.filter((t) => family(ipOf(t)) === 4), v6: items.filter((t) => family(ipOf(t)) === 6) };
}

function uniq<T extends unknown[]>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = t.join(" ");
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function firewallModel(plan: Plan): FirewallModel {
  const closed = uniq(plan.portsToClose.map((c): [string, number] => [c.ip, c.port]));
  const allow = uniq(
    plan.allowlists.flatMap((s) =>
      s.peers
        .filter((p) => family(p.ip) === family(s.ip))
        .map((p): [string, string, number] => [p.ip, s.ip, s.port]),
    ),
  );
  const services = uniq(plan.allowlists.map((s): [string, number] => [s.ip, s.port]));
  return {
    internal: split(plan.internal, (c) => c.split("/")[0]!),
    exceptions: plan.exceptions,
    protect: split(plan.exposure.protect, (ip) => ip),
    closed: split(closed, (t) => t[0]),
    allow: split(allow, (t) => t[1]),
    services: split(services, (t) => t[0]),
  };
}

/** decide() over a model, with its CIDR sets built once (a replay asks for every connection of a capture). */
export class Firewall {
  private readonly internal: CidrSet;
  private readonly internal4 = new BlockList();
  private readonly internal6 = new BlockList();
  private readonly exceptions: { peers: CidrSet; e: PlanException }[];
  private readonly protect: Set<string>;
  private readonly closed: Set<string>;
  private readonly allow: Set<string>;
  private readonly services: Set<string>;

  constructor(readonly model: FirewallModel) {
    this.internal = new CidrSet([...model.internal.v4, ...model.internal.v6]);
    for (const c of model.internal.v4) {
      const [a, p] = c.split("/");
      this.internal4.addSubnet(a!, p === undefined ? 32 : Number(p), "ipv4");
    }
    for (const c of model.internal.v6) {
      const [a, p] = c.split("/");
      this.internal6.addSubnet(a!, p === undefined ? 128 : Number(p), "ipv6");
    }
    this.exceptions = model.exceptions.map((e) => ({ peers: new CidrSet([e.peer]), e }));
    this.protect = new Set([...model.protect.v4, ...model.protect.v6]);
    this.closed = new Set([...model.closed.v4, ...model.closed.v6].map((t) => t.join(" ")));
    this.allow = new Set([...model.allow.v4, ...model.allow.v6].map((t) => t.join(" ")));
    this.services = new Set([...model.services.v4, ...model.services.v6].map((t) => t.join(" ")));
  }

  /** The verdict of the rule list for a new TCP connection. */
  decide(c: Connection): Decision {
    for (const { peers, e } of this.exceptions)
      if (family(e.server) === family(c.src) && e.server === c.dst && (e.port === null || e.port === c.dport))
        if (peers.has(c.src))
          return { verdict: "accept", rule: "exception", reason: `plan exception: ${e.reason}` };
    // The internal test is the nft set's: by address family, so a mapped address is judged as IPv6.
    if (this.protect.has(c.dst) && !this.internalSameFamily(c.src))
      return {
        verdict: "drop",
        rule: "external",
        reason: "source outside the internal networks, to an internal server (step 1)",
      };
    if (this.closed.has(`${c.dst} ${c.dport}`))
      return { verdict: "drop", rule: "closed", reason: "port to close (step 2)" };
    if (this.allow.has(`${c.src} ${c.dst} ${c.dport}`))
      return { verdict: "accept", rule: "allow", reason: "allowlisted peer of this DICOM service" };
    if (this.services.has(`${c.dst} ${c.dport}`))
      return {
        verdict: "drop",
        rule: "service",
        reason: "source not allowlisted for this DICOM service port (steps 3 and 4)",
      };
    return { verdict: "accept", rule: "default", reason: "not covered by the plan: left open" };
  }

  /**
   * The nft sets' test: an IPv4 source against the IPv4 networks, an IPv6 source (an IPv4-mapped one too:
   * nftables compares its 128 bits) against the IPv6 networks only.
   */
  private internalSameFamily(ip: string): boolean {
    if (family(ip) === 4) return this.internal4.check(ip, "ipv4");
    return this.internal6.check(ip, "ipv6");
  }

  /** Whether the internal networks hold the address (for reports). */
  isInternal(ip: string): boolean {
    return this.internal.has(ip);
  }
}
