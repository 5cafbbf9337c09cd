/**
 * CIDR parsing and matching for the policy of the config file (networks.internal, policy.allowedPeers).
 * Matching uses node:net's BlockList, which compares addresses numerically (so "10.0.0.1" and
 * "::ffff:10.0.0.1" are handled by the family given), rather than by string prefixes.
 */
import { BlockList, isIP } from "node:net";

export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

/** Parses "10.0.0.0/8", "fd00::/8" or a bare address (a /32 or /128). Returns a reason string on error. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return "is not a CIDR (bad address)";
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p)) return "is not a CIDR (bad prefix length)";
    prefix = Number(p);
    if (prefix > max) return `is not a CIDR (prefix longer than ${max})`;
  }
  return { address, prefix, family };
}

/** A set of CIDRs that answers "is this IP inside?" (IPv4-mapped IPv6 addresses count as IPv4). */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    let n = 0;
    for (const c of cidrs) {
      const parsed = parseCidr(c);
      if (typeof parsed === "string") throw new Error(`${JSON.stringify(c)} ${parsed}`);
      this.list.addSubnet(parsed.address, parsed.prefix, parsed.family === 4 ? "ipv4" : "ipv6");
      n++;
    }
    this.size = n;
  }

  has(ip: string): boolean {
    const family = isIP(ip);
    if (family === 4) return this.list.check(ip, "ipv4");
    if (family === 6) {
      // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 host it names.
      const m = /^::ffff:([0-9.]+)$/i.exec(ip);
      if (m && isIP(m[1]!) === 4) return this.list.check(m[1]!, "ipv4");
      return this.list.check(ip, "ipv6");
    }
    return false;
  }
}
