/**
 * dicom.any-ae-accepted: an SCP that accepted a called AE title that is not its own, or a calling AE title
 * that the site does not know for that caller (it does not check who calls: PS3.8 §9.3.4 gives it
 * A-ASSOCIATE-RJ reasons 3 and 7 for that). The probe-value case, the direct proof, is
 * rules/probe-ae-accepted.ts, of the same family; the two share this module's routing so that one
 * association is reported once.
 *
 * knownAeTitles says which AE titles each address uses; a site may describe only some of its devices (often
 * just the PACS), so a rule that treated every unlisted caller as unknown would raise a medium for each
 * modality of a site that listed only its archive. The calling check therefore judges only what the policy
 * speaks about:
 * - only servers whose own address has an entry: the site has described that SCP and what it should
 *   accept; for other SCPs nothing says which callers are theirs;
 * - a caller whose address has an entry must use one of the titles listed for that address (another
 *   title from a described host is a foreign application, or a misconfiguration);
 * - a caller whose address has no entry is judged only when it uses a title the policy gives to another
 *   address: an SCP that checks titles but not addresses then accepts an impersonator. Any other title
 *   from an undescribed host is not judged: the site has not said anything about it.
 * Points to: role-based access, AE allowlists (DESIGN.md §5).
 */
import type { Endpoint } from "../../reassembly/types.js";
import { formatEndpoint } from "../../util/flow.js";
import { BoundedMap } from "../bounded.js";
import { MAX_LIST, MAX_TRACKED, type AssociationEvent, type Rule, type RuleContext } from "./context.js";
import { ProbeAccepted } from "./probe-ae-accepted.js";

export class AnyAeAcceptedRule implements Rule {
  readonly ids = ["dicom.any-ae-accepted"] as const;
  private readonly knownAll = new Set<string>();
  /** Called AE titles accepted per SCP service (ip:port). */
  private readonly calledAccepted = new BoundedMap<string, Set<string>>(MAX_TRACKED);
  private readonly probes: ProbeAccepted;

  constructor(
    private readonly ctx: RuleContext,
    /** Whether an address was seen calling with this AE title (its own name): rules/duplicate-ae-title.ts. */
    ownCallingTitle: (ip: string, ae: string) => boolean,
  ) {
    for (const list of Object.values(ctx.config.policy.knownAeTitles))
      for (const ae of list) this.knownAll.add(ae);
    this.probes = new ProbeAccepted(ctx, ownCallingTitle);
  }

  /** Whether this SCP service accepted a probe value (so it answers to any called AE title). */
  promiscuous(server: Endpoint): boolean {
    return this.probes.promiscuous(server);
  }

  onAssociation(a: AssociationEvent): void {
    if (!a.accepted) return;
    const { o, flow, calling, called } = a;
    const policy = this.ctx.config.policy.knownAeTitles;
    const server = a.server;
    const own = policy[o.server.ip];
    if (called) {
      // Per listening port: one host often runs several AEs, each on its own port (an archive on 104 and
      // a second SCP on 11112); it is several called AE titles on one port that show "accepts anything".
      const service = formatEndpoint(o.server);
      let set = this.calledAccepted.get(service);
      if (!set) {
        set = new Set();
        this.calledAccepted.set(service, set);
      }
      if (set.size < 256) set.add(called);
      // With a policy for the server, any other called AE is foreign (medium). Without one, an SCP port
      // that accepted three or more different called AE titles may answer to anything (two happen:
      // aliases) — but archives such as dcm4chee-arc rightly serve several AE titles on one port, so it
      // stays low until the site lists the server's titles. Its signature is fixed: the number of titles
      // in its title grows with each one and is not news.
      const foreign = own ? !own.includes(called) : set.size >= 3;
      // A probe value (ANY-SCP) accepted is the direct proof, raised high with the probe as evidence
      // (rules/probe-ae-accepted.ts); the same association is not reported a second time here.
      const probed = this.probes.accepted(o, flow, calling, called);
      if (foreign && !probed)
        this.ctx.hit({
          rule: "dicom.any-ae-accepted",
          severity: own ? "medium" : "low",
          device: server,
          peer: null,
          key: "called",
          // The title names no peer-chosen value: it is part of the default signature, and a title per
          // guessed AE would re-announce the finding for each guess (the titles are in the evidence).
          title: own
            ? `${o.server.ip} accepted associations for called AE titles that are not its own`
            : `${o.server.ip} port ${o.server.port} accepted associations for ${set.size} different called AE titles`,
          ts: o.tsMicros,
          flow,
          // The whole set while it fits the evidence list (the finding starts at the third title); past
          // that only this association's title, so titles beyond the list are not counted again each time.
          aeTitles: own || set.size > MAX_LIST ? [called] : [...set],
          counts: { associations: 1 },
          details: own
            ? { configuredAETitles: own, lastForeignCalledAE: called }
            : { port: o.server.port, distinctCalledAETitles: set.size },
          ...(own ? {} : { signature: "several-called" }),
        });
    }
    if (!calling || !own) return;
    const callerTitles = policy[o.client.ip];
    const unknown = callerTitles ? !callerTitles.includes(calling) : this.knownAll.has(calling);
    if (unknown)
      this.ctx.hit({
        rule: "dicom.any-ae-accepted",
        severity: "medium",
        device: server,
        peer: null,
        key: "calling",
        title: `${o.server.ip} accepted unknown calling AE titles`,
        ts: o.tsMicros,
        flow,
        aeTitles: [calling],
        counts: { associations: 1 },
        details: {
          lastUnknownCaller: {
            aeTitle: calling,
            ip: o.client.ip,
            reason: callerTitles ? "not-listed-for-address" : "listed-for-another-address",
          },
        },
      });
  }
}
