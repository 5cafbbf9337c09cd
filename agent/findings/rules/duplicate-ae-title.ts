/**
 * dicom.duplicate-ae-title: one AE title used from several IP addresses, as calling AE (a client's own title,
 * seen from several client addresses) or as called AE (an SCP's own title, seen accepted on several server
 * addresses). DICOM nodes find each other by AE title: a C-MOVE destination (PS3.4 C.4.2) and a storage
 * commitment N-EVENT-REPORT (PS3.4 J.3) go to the address configured for a title, so with two holders one of
 * them gets the other's images; and an SCP that allows callers by title (not address) accepts whoever copies
 * a title: impersonation.
 *
 * Severity: medium. Low when the title is a toolkit's default (data/default-ae-titles.json: ECHOSCU,
 * STORESCU, STORESCP, ORTHANC, ...): every lab has DCMTK's tools run from several hosts with their defaults,
 * and a title nobody chose is a tool left at its default rather than somebody posing as a node; it is still
 * reported, because those defaults break C-MOVE the same way. Expected, hence not raised: every address using
 * the title is one policy.knownAeTitles lists it for (a cluster the site describes).
 *
 * What counts as a use:
 * - calling: any association request, whatever its outcome (the client used the title);
 * - called: an accepted association only (a reject says the title is not the server's), and not when the
 *   title is a probe value or the service is known to accept any called AE title (it accepted a probe):
 *   then acceptance says nothing about the server's name.
 * The associations of recognised scanners are left out (their titles are borrowed defaults).
 *
 * Hosts, not addresses, are counted (hostCount): with one MAC, an IPv4 and an IPv6 address are one dual-stack
 * host, and addresses used one after the other are one host that changed address (DHCP).
 *
 * Bounded: MAX_TITLES titles (the oldest forgotten), MAX_ADDRESSES addresses per title; uses from addresses
 * past that are counted, not listed (at most MAX_TRACKED × 16 small records, a few MiB, whatever the traffic). One finding per title; it is announced again only when a new address is
 * listed, so a flood of uses does not storm.
 * Points to: AE allowlists (DESIGN.md §5).
 */
import type { AssociationObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { isoFromMicros as iso } from "../../util/time.js";
import { BoundedMap } from "../bounded.js";
import type { Severity } from "../severity.js";
import { MAX_TRACKED, type AssociationEvent, type Rule, type RuleContext } from "./context.js";
import { aeKey, defaultAeTable, probeCalledAE } from "./tables.js";

const MAX_TITLES = MAX_TRACKED / 2;
const MAX_ADDRESSES = 16;

interface Use {
  ip: string;
  mac: string | null;
  device: string;
  calling: boolean;
  called: boolean;
  first: number;
  last: number;
}

interface Title {
  uses: Map<string, Use>;
  /** Uses from addresses beyond the MAX_ADDRESSES listed ones. */
  notListed: number;
}

/** The most intervals [first, last] in use at one time (a sweep over their ends). */
function maxOverlap(uses: Use[]): number {
  const edges = uses.flatMap((u) => [
    { t: u.first, d: 1 },
    { t: u.last, d: -1 },
  ]);
  // Starts before ends at the same instant: two uses at one moment overlap.
  edges.sort((a, b) => a.t - b.t || b.d - a.d);
  let depth = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (depth += e.d));
  return most;
}

/**
 * Distinct hosts among the uses. Uses without a MAC are a host each. Per MAC: an IPv4 and an IPv6 address
 * are one dual-stack host (the larger of the two families' counts), and addresses of one family whose
 * periods of use do not overlap are one host that changed address (a DHCP lease renewed elsewhere, a
 * device re-addressed), so each family counts the most addresses in use at one time. Two addresses of one
 * family in use at the same time with one MAC stay two: that is how hosts behind a router look.
 */
function hostCount(uses: Use[]): number {
  const byMac = new Map<string, { v4: Use[]; v6: Use[] }>();
  let hosts = 0;
  for (const u of uses) {
    if (!u.mac) {
      hosts++;
      continue;
    }
    const m = byMac.get(u.mac) ?? { v4: [], v6: [] };
    (u.ip.includes(":") ? m.v6 : m.v4).push(u);
    byMac.set(u.mac, m);
  }
  for (const m of byMac.values()) hosts += Math.max(maxOverlap(m.v4), maxOverlap(m.v6));
  return hosts;
}

export class DuplicateAeTitles implements Rule {
  readonly ids = ["dicom.duplicate-ae-title"] as const;
  private readonly titles = new BoundedMap<string, Title>(MAX_TITLES);

  constructor(
    private readonly ctx: RuleContext,
    /** Whether an SCP service accepted a probe value, so answers to any title (rules/any-ae-accepted.ts). */
    private readonly promiscuous: (server: Endpoint) => boolean,
  ) {}

  onAssociation(a: AssociationEvent): void {
    // A scanner's titles are borrowed defaults, not the name of a node.
    if (a.scanner) return;
    this.association(a.o, a.flow, a.calling, a.called, a.accepted && !this.promiscuous(a.o.server));
  }

  /**
   * Records the titles of one association. `calledIsOwn`: the server accepted it and its called title says
   * something about the server's name (see the file comment).
   */
  private association(
    o: AssociationObservation,
    flow: string,
    calling: string | null,
    called: string | null,
    calledIsOwn: boolean,
  ): void {
    if (calling) this.use(calling, o.client, "calling", o.tsMicros, flow);
    if (called && calledIsOwn && !probeCalledAE(called))
      this.use(called, o.server, "called", o.tsMicros, flow);
  }

  /** Whether `ip` was seen calling with this title (so the title is that host's own name). */
  usedAsCalling(ip: string, ae: string): boolean {
    return this.titles.get(ae.trim())?.uses.get(ip)?.calling ?? false;
  }

  private use(aeRaw: string, ep: Endpoint, role: "calling" | "called", ts: number, flow: string): void {
    const ae = aeRaw.trim();
    let title = this.titles.get(ae);
    if (!title) {
      title = { uses: new Map(), notListed: 0 };
      this.titles.set(ae, title);
    }
    let u = title.uses.get(ep.ip);
    if (!u) {
      if (title.uses.size >= MAX_ADDRESSES) title.notListed++;
      else {
        u = {
          ip: ep.ip,
          mac: ep.mac,
          device: this.ctx.id(ep),
          calling: false,
          called: false,
          first: ts,
          last: ts,
        };
        title.uses.set(ep.ip, u);
      }
    }
    if (u) {
      if (role === "calling") u.calling = true;
      else u.called = true;
      if (ts > u.last) u.last = ts;
      if (ts < u.first) u.first = ts;
      if (!u.mac && ep.mac) u.mac = ep.mac;
    }
    if (title.uses.size < 2) return;
    const uses = [...title.uses.values()];
    const hosts = hostCount(uses);
    if (hosts < 2) return;
    const policy = this.ctx.config.policy.knownAeTitles;
    const expected = (ip: string): boolean => policy[ip]?.some((a) => aeKey(a) === aeKey(ae)) ?? false;
    if (uses.every((x) => expected(x.ip)) && title.notListed === 0) return;
    const def = defaultAeTable().get(aeKey(ae));
    const severity: Severity = def ? "low" : "medium";
    const roles = [...new Set(uses.flatMap((x) => [x.calling ? "calling" : "", x.called ? "called" : ""]))]
      .filter((r) => r !== "")
      .sort();
    const shown = uses.slice(0, 3).map((x) => x.ip);
    this.ctx.hit({
      rule: "dicom.duplicate-ae-title",
      severity,
      device: null,
      peer: null,
      key: ae,
      title:
        `AE title "${ae}" is used by ${hosts} hosts (${shown.join(", ")}${uses.length > 3 ? ", ..." : ""})` +
        (def ? `: the default AE title of ${def.toolkit}` : ""),
      ts,
      flow,
      aeTitles: [ae],
      counts: { uses: 1 },
      details: {
        aeTitle: ae,
        roles,
        hosts,
        addresses: uses.map((x) => ({
          ip: x.ip,
          device: x.device,
          roles: [...(x.calling ? ["calling"] : []), ...(x.called ? ["called"] : [])],
          expected: expected(x.ip),
          firstSeen: iso(x.first),
          lastSeen: iso(x.last),
        })),
        addressCount: uses.length,
        usesFromAddressesNotListed: title.notListed,
        ...(def ? { reason: `default AE title of ${def.toolkit}`, defaultSource: def.source } : {}),
      },
      // A new address listed is news; more uses from listed ones, or from addresses past the list, are counted.
      signature: uses.map((x) => x.ip).join(","),
    });
  }
}
