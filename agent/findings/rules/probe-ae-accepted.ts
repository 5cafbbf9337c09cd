/**
 * dicom.any-ae-accepted with the evidence on the wire: an SCP accepted an association whose called AE title
 * is a generic probe value (data/probe-ae-titles.json: "ANY-SCP", what nmap's dicom-ping and dicom-brute send
 * and what SCU toolkits send when nobody configured a title). No real service is called that, so the SCP
 * does not check the called AE title at all (PS3.8 §9.3.4 gives it A-ASSOCIATE-RJ reason 7,
 * called-AE-title-not-recognized, for that): anyone reaches it without knowing its title. High, because the
 * proof is direct, one association is enough and no policy is needed.
 * Not raised when the value is the SCP's own title: configured for its address in policy.knownAeTitles, or
 * used by that address as its calling AE title (a node's calling title is its own name).
 * A helper of rules/any-ae-accepted.ts, which routes the associations to it (one family, one rule id).
 * Points to: role-based access, AE allowlists (DESIGN.md §5).
 */
import type { AssociationObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { isoFromMicros as iso } from "../../util/time.js";
import { BoundedMap } from "../bounded.js";
import { formatEndpoint } from "../../util/flow.js";
import { MAX_LIST, MAX_TRACKED, type RuleContext } from "./context.js";
import { aeKey, probeCalledAE } from "./tables.js";

interface Probe {
  calledAE: string;
  callingAE: string | null;
  peer: string;
  service: string;
  time: string;
}

export class ProbeAccepted {
  /** Per SCP device: its first accepted probe (evidence that stays) and the ports that accepted one. */
  private readonly devices = new BoundedMap<string, { first: Probe; ports: number[] }>(MAX_TRACKED);
  /** SCP services (ip:port) that accepted a probe: their called AE titles prove nothing about their names. */
  private readonly services = new BoundedMap<string, true>(MAX_TRACKED);

  constructor(
    private readonly ctx: RuleContext,
    /** Whether an address was seen calling with this AE title (its own name). */
    private readonly ownCallingTitle: (ip: string, ae: string) => boolean,
  ) {}

  /** Judges an accepted association; true when it raised (its called AE was a probe value, not the SCP's). */
  accepted(o: AssociationObservation, flow: string, calling: string | null, called: string | null): boolean {
    const probe = probeCalledAE(called);
    if (!probe || !called) return false;
    const own = this.ctx.config.policy.knownAeTitles[o.server.ip];
    if (own?.some((a) => aeKey(a) === aeKey(called))) return false;
    if (this.ownCallingTitle(o.server.ip, called)) return false;
    const service = formatEndpoint(o.server);
    this.services.set(service, true);
    const device = this.ctx.id(o.server);
    const now: Probe = {
      calledAE: called,
      callingAE: calling,
      peer: formatEndpoint(o.client),
      service,
      time: iso(o.tsMicros),
    };
    let d = this.devices.get(device);
    if (!d) {
      d = { first: now, ports: [] };
      this.devices.set(device, d);
    }
    if (!d.ports.includes(o.server.port) && d.ports.length < MAX_LIST) d.ports.push(o.server.port);
    this.ctx.hit({
      rule: "dicom.any-ae-accepted",
      severity: "high",
      device,
      peer: null,
      key: "probe",
      title: `${o.server.ip} accepted an association addressed to "${probe.aeTitle}", a probe value: it accepts any called AE title`,
      ts: o.tsMicros,
      flow,
      aeTitles: [called],
      counts: { probesAccepted: 1 },
      details: {
        probe: d.first,
        lastProbe: now,
        ports: d.ports,
        probeUsedBy: probe.usedBy,
        probeSource: probe.source,
        configuredAETitles: own ?? null,
      },
      signature: `probe|${aeKey(called)}`,
    });
    return true;
  }

  /** Whether this SCP service accepted a probe value (so it answers to any called AE title). */
  promiscuous(server: Endpoint): boolean {
    return this.services.has(formatEndpoint(server));
  }
}
