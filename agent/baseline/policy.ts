/**
 * An approved baseline becomes the policy (issue 13) without anyone copying it into the config by hand:
 * - knownAeTitles: each service's called AE title under its device's address, and each peer's calling AE
 *   title under the peer's address (the titles each address was seen using, PS3.8 §7.1.1.3–4);
 * - allowedPeers: every peer address of every service, as a /32 (IPv4) or /128 (IPv6) CIDR;
 * - approvedPorts: the ports each device listened on with real sessions (the server sent data: a port that
 *   only answered a scan's SYN is not approved);
 * - services: the per-service peer lists with their operations.
 *
 * Merge with the config file: a union. The config's entries are kept as written and the baseline's are
 * added (titles and ports per address, CIDRs, peers per service); where both describe the same service
 * (ip, port, AE title), the config's entry wins, since a person wrote it. Nothing the config allows is taken
 * away by an approved baseline; to narrow a policy, edit the baseline before approving it.
 *
 * Only an approved document counts: a learned one drives the departures (rules/baseline.ts), not the policy.
 */
import type { Config, PolicyService } from "../config/types.js";
import type { BaselineDocument } from "./types.js";

/** The policy keys an approved baseline provides. */
export type BaselinePolicy = Pick<
  Config["policy"],
  "knownAeTitles" | "allowedPeers" | "approvedPorts" | "services"
>;

/** The policy an approved baseline stands for (empty lists for any other status). */
export function baselinePolicy(doc: BaselineDocument): BaselinePolicy {
  const out: BaselinePolicy = { knownAeTitles: {}, allowedPeers: [], approvedPorts: {}, services: [] };
  if (doc.status !== "approved") return out;
  const titles = new Map<string, Set<string>>();
  const title = (ip: string, ae: string | null): void => {
    if (ae === null) return;
    const set = titles.get(ip) ?? new Set<string>();
    set.add(ae);
    titles.set(ip, set);
  };
  const peers = new Set<string>();
  for (const s of doc.services) {
    title(s.ip, s.aeTitle);
    for (const p of s.peers) {
      title(p.ip, p.aeTitle);
      peers.add(p.ip);
    }
    out.services.push({
      ip: s.ip,
      port: s.port,
      aeTitle: s.aeTitle,
      peers: s.peers.map((p) => ({
        ip: p.ip,
        aeTitle: p.aeTitle,
        operations: p.operations.map((u) => u.operation),
      })),
    });
  }
  for (const [ip, set] of titles) out.knownAeTitles[ip] = [...set].sort();
  out.allowedPeers = [...peers].map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`));
  for (const d of doc.devices) {
    const ports = d.listening.filter((l) => l.sessions > 0).map((l) => l.port);
    if (ports.length > 0) out.approvedPorts[d.ip] = ports.sort((a, b) => a - b);
  }
  return out;
}

/** The union of the config's policy and an approved baseline's (see the file comment). */
export function mergePolicy(config: Config["policy"], base: BaselinePolicy): Config["policy"] {
  const union = <T>(a: readonly T[] = [], b: readonly T[] = []): T[] => [...new Set([...a, ...b])];
  const byIp = <T>(a: Record<string, T[]>, b: Record<string, T[]>): Record<string, T[]> => {
    const out: Record<string, T[]> = {};
    for (const ip of new Set([...Object.keys(a), ...Object.keys(b)])) out[ip] = union(a[ip], b[ip]);
    return out;
  };
  const key = (s: PolicyService): string => `${s.ip}|${s.port}|${s.aeTitle ?? ""}`;
  const written = new Set(config.services.map(key));
  return {
    ...config,
    knownAeTitles: byIp(config.knownAeTitles, base.knownAeTitles),
    // An empty config list means "no allowlist": the baseline's peers then make one.
    allowedPeers: union(config.allowedPeers, base.allowedPeers),
    approvedPorts: byIp(config.approvedPorts, base.approvedPorts),
    services: [...config.services, ...base.services.filter((s) => !written.has(key(s)))],
  };
}

/**
 * The config the agent and `analyze` run with: the file's, with an approved baseline's policy merged in;
 * the file's unchanged for any other document (or none).
 */
export function effectiveConfig(config: Config, doc: BaselineDocument | null): Config {
  if (doc === null || doc.status !== "approved") return config;
  return { ...config, policy: mergePolicy(config.policy, baselinePolicy(doc)) };
}
