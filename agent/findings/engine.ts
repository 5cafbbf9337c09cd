/**
 * The findings engine (DESIGN.md §5, issue 3): routes observations to the rules (rules/, one module per rule
 * id, in the order of rules/index.ts) and keeps one finding per (rule, device, peer, key), counting repeats.
 * A finding is announced through onChange once when new and again ("changed") only when its severity rises
 * or its key evidence (the rule's signature: AE titles, CVE list, TLS problems, ...) changes — a repeat that
 * only bumps the count is not news. The findings held are capped (MAX_FINDINGS).
 *
 * Parsing never decides policy; the rules are where policy lives, with thresholds and lists from the config
 * (config.policy). Rule ids are stable; see catalogue.ts for the catalogue and remediations. A rule that
 * throws costs only the one observation it was handling: the engine catches it and counts an anomaly of
 * layer "findings" naming the rule (issue 10), and the other rules still see the observation.
 *
 * Order with the inventory: call inventory.observe(o) before engine.observe(o). The engine derives device
 * ids through the inventory (the same ids either way) and notices new devices by the inventory's size,
 * so a swapped order only delays inventory.new-device to the next observation or finish().
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/types.js";
import { CidrSet } from "../config/cidr.js";
import type { DeviceRecord, FindingRecord } from "../report/types.js";
import type { Observation } from "../observations/types.js";
import type { Inventory } from "../inventory/inventory.js";
import { isoFromMicros as iso } from "../util/time.js";
import type { AnomalyCode, AnomalyFlow, AnomalySink } from "../util/anomaly.js";
import { formatFlow } from "../util/flow.js";
import { RULES, type Evidence, type Hit, type RuleId } from "./catalogue.js";
import { compareSeverity, severityRank } from "./severity.js";
import type { AssociationEvent, Rule, RuleContext } from "./rules/context.js";
import { MAX_LIST, MAX_TRACKED, trimAe } from "./rules/context.js";
import { defaultRules } from "./rules/index.js";
import { BaselineRule } from "./rules/baseline.js";
import { serviceEnds } from "./rules/host-events.js";

export { RULES, type Evidence, type Hit, type RuleId } from "./catalogue.js";
export type { Severity } from "./severity.js";
export { HEADER_RESERVED_CODE } from "./rules/scanner.js";

const MAX_FLOWS = 10;
/**
 * Findings kept in memory. Keys carry peer-controlled values (addresses, C-MOVE destinations), so hostile
 * traffic could otherwise grow the table without bound; each finding has already been announced through
 * onChange (and stored) when it is evicted. Eviction prefers the oldest info/low finding.
 */
export const MAX_FINDINGS = 2048;

/** The anomaly code counted when a rule throws (layer "findings"; the detail names the rule). */
export const RULE_FAILED: AnomalyCode = "findings.rule-failed";

function pushCapped<T>(list: T[], v: T, cap: number): boolean {
  if (list.includes(v)) return false;
  list.push(v);
  if (list.length > cap) list.shift();
  return true;
}

interface FindingState {
  record: FindingRecord & { key: string; evidence: Evidence };
  signature: string;
}

/** The rules that have each handler, in routing order (so routing does not ask every rule each time). */
interface Routes {
  tick: Rule[];
  onEndpoints: Rule[];
  onConnection: Rule[];
  onAssociation: Rule[];
  onDimse: Rule[];
  onTls: Rule[];
  onHost: Rule[];
  onAnomaly: Rule[];
  onNewDevice: Rule[];
  finish: Rule[];
}

/** The connection an observation was made on, for the anomaly a failing rule costs; null when none. */
function connectionOf(o: Observation): AnomalyFlow | null {
  switch (o.kind) {
    case "anomaly":
      return o.client && o.server ? { flow: o.flow, client: o.client, server: o.server } : null;
    case "association":
    case "connection":
    case "dimse":
    case "tls":
      return { flow: formatFlow(o.client, o.server), client: o.client, server: o.server };
    case "host": {
      const ends = serviceEnds(o);
      return ends && { flow: ends.flow, client: ends.client, server: ends.server };
    }
    default:
      return null;
  }
}

export class FindingsEngine {
  /**
   * A finding appeared or changed visibly. `f` is the engine's own record, not a copy: read it (or copy
   * it) and never change it; a consumer that keeps it until later sees the counts of then, which is what
   * a queue of changes waiting to be stored wants. A copy per change was a second CVE list and evidence
   * per waiting change: about 28 MiB of the capture thread's heap under the association flood (issue 9).
   */
  onChange?: (f: FindingRecord, change: "new" | "changed") => void;
  /**
   * Where a failing rule is counted as an anomaly (the pipeline's anomaly counter, so it reaches the report
   * and health). Without one the failures are only counted in ruleFailures.
   */
  anomalies?: AnomalySink;
  /** Observations a rule threw on (each also an anomaly through `anomalies`). */
  ruleFailures = 0;

  private readonly byKey = new Map<string, FindingState>();
  /** The same findings by their record id (record(id): the capture thread looks a change up when it sends it). */
  private readonly byId = new Map<string, FindingState>();
  /** Findings dropped from memory by the MAX_FINDINGS cap (see evictOne). */
  evicted = 0;
  /** The capture gaps of the association being judged, while its hits are raised. */
  private gaps: { count: number; bytes: number } | null = null;
  private readonly internal: CidrSet;
  private knownDevices = 0;
  /**
   * New devices not seen speaking DICOM (issue 11: hosts listed from their system's traffic, class
   * "other"): they are handed to onNewDevice when they first do, not before (a DHCP renewal is no new DICOM
   * device, and a laptop's SMB port is no imaging device's). Bounded (MAX_TRACKED, oldest forgotten).
   */
  private readonly notYetDicom = new Set<string>();
  private readonly routes: Routes;
  /** The baseline rule (issue 13), if the rules have one: its learner is the site's baseline. */
  readonly baseline: BaselineRule | null;

  constructor(
    readonly config: Config,
    readonly inventory: Inventory,
    private readonly maxFindings = MAX_FINDINGS,
    /** The rules, in routing order; the catalogue's (rules/index.ts) unless a test brings its own. */
    makeRules: (ctx: RuleContext) => Rule[] = defaultRules,
  ) {
    this.internal = new CidrSet(config.networks.internal);
    const ctx: RuleContext = {
      config,
      inventory,
      id: (ep) => this.inventory.idFor(ep),
      isInternal: (ip) => this.internal.has(ip),
      hit: (h) => this.hit(h),
      evidence: (rule, device, peer, key) =>
        this.byKey.get(mapKeyOf(rule, device, peer, key))?.record.evidence,
    };
    const rules = makeRules(ctx);
    this.baseline = rules.find((r): r is BaselineRule => r instanceof BaselineRule) ?? null;
    const having = (h: keyof Routes): Rule[] => rules.filter((r) => typeof r[h] === "function");
    this.routes = {
      tick: having("tick"),
      onEndpoints: having("onEndpoints"),
      onConnection: having("onConnection"),
      onAssociation: having("onAssociation"),
      onDimse: having("onDimse"),
      onTls: having("onTls"),
      onHost: having("onHost"),
      onAnomaly: having("onAnomaly"),
      onNewDevice: having("onNewDevice"),
      finish: having("finish"),
    };
  }

  /** The findings held in memory (cheap, for health; findings() copies them all). */
  get size(): number {
    return this.byKey.size;
  }

  /** Copies of every finding held (the report's, a test's: theirs to keep and change). */
  findings(): FindingRecord[] {
    return [...this.byKey.values()].map((s) => structuredClone(s.record));
  }

  /** The engine's own record of a finding held in memory (as onChange gives it: read, never change), or null. */
  record(id: string): FindingRecord | null {
    return this.byId.get(id)?.record ?? null;
  }

  /** The engine's own records, as onChange gives them (read, never change): a sync announces them all. */
  *records(): IterableIterator<FindingRecord> {
    for (const s of this.byKey.values()) yield s.record;
  }

  observe(o: Observation): void {
    const routes = this.routes;
    // Anything later than a silent association proves the capture went on past it (rules/scanner.ts).
    for (const r of routes.tick) {
      try {
        r.tick!(o.tsMicros);
      } catch (err) {
        this.failed(r, o, err);
      }
    }
    switch (o.kind) {
      case "connection":
        for (const r of routes.onConnection) {
          try {
            r.onConnection!(o);
          } catch (err) {
            this.failed(r, o, err);
          }
        }
        break;
      case "association": {
        // A finding raised from an association the capture saw with holes says so in its evidence
        // (counts.captureGaps, counts.captureGapBytes): what it lacks may be why (issue 8).
        this.gaps = o.record.captureGaps.bytes > 0 ? o.record.captureGaps : null;
        try {
          this.endpoints(o);
          const rec = o.record;
          const a: AssociationEvent = {
            o,
            flow: formatFlow(o.client, o.server),
            ts: o.tsMicros,
            calling: trimAe(rec.callingAE),
            called: trimAe(rec.calledAE),
            client: this.inventory.idFor(o.client),
            server: this.inventory.idFor(o.server),
            accepted:
              rec.outcome !== "rejected" && (rec.acceptor !== null || o.midStream || rec.messages.length > 0),
            rejected: rec.outcome === "rejected",
            scanner: false,
          };
          for (const r of routes.onAssociation) {
            try {
              r.onAssociation!(a);
            } catch (err) {
              this.failed(r, o, err);
            }
          }
        } finally {
          this.gaps = null;
        }
        break;
      }
      case "dimse":
        this.endpoints(o);
        for (const r of routes.onDimse) {
          try {
            r.onDimse!(o);
          } catch (err) {
            this.failed(r, o, err);
          }
        }
        break;
      case "tls":
        for (const r of routes.onTls) {
          try {
            r.onTls!(o);
          } catch (err) {
            this.failed(r, o, err);
          }
        }
        break;
      case "host":
        for (const r of routes.onHost) {
          try {
            r.onHost!(o);
          } catch (err) {
            this.failed(r, o, err);
          }
        }
        break;
      case "anomaly":
        for (const r of routes.onAnomaly) {
          try {
            r.onAnomaly!(o);
          } catch (err) {
            this.failed(r, o, err);
          }
        }
        break;
      case "equipment":
        break;
    }
    this.newDevices(o.tsMicros, o);
  }

  /**
   * End of capture (or a periodic tick): settles rules that wait for later evidence. Only what has waited
   * at least `settleMicros` of capture time is settled: 0 (the default) settles everything, as at the end
   * of a capture; a live tick should pass some seconds, so that a C-MOVE whose sub-association has not
   * started yet, or a port-104 connection whose association has not shown a message yet, is not judged early.
   */
  finish(tsMicros: number, settleMicros = 0): void {
    for (const r of this.routes.finish) {
      try {
        r.finish!(tsMicros, settleMicros);
      } catch (err) {
        this.failed(r, null, err);
      }
    }
    this.newDevices(tsMicros, null);
  }

  // ---- routing ----

  private endpoints(o: Observation & { kind: "association" | "dimse" }): void {
    if (this.notYetDicom.size > 0) this.nowDicom(o);
    for (const r of this.routes.onEndpoints) {
      try {
        r.onEndpoints!(o);
      } catch (err) {
        this.failed(r, o, err);
      }
    }
  }

  /** inventory.new-device and the checks that wait for a DICOM device to appear (onNewDevice). */
  private newDevices(ts: number, o: Observation | null): void {
    if (this.inventory.size <= this.knownDevices) return;
    // Only the new devices' records: building them all each time made a capture of n new hosts cost n².
    const fresh = this.inventory.devicesSince(this.knownDevices);
    this.knownDevices = this.inventory.size;
    for (const d of fresh) {
      if (this.inventory.isDicomDevice(d)) this.newDevice(d, ts, o);
      else {
        if (this.notYetDicom.size >= MAX_TRACKED)
          this.notYetDicom.delete(this.notYetDicom.values().next().value as string);
        this.notYetDicom.add(d.id);
      }
    }
  }

  /** Ends of an association or message that waited in notYetDicom: they speak DICOM now. */
  private nowDicom(o: Observation & { kind: "association" | "dimse" }): void {
    for (const ep of [o.client, o.server]) {
      const id = this.inventory.idFor(ep);
      if (!this.notYetDicom.delete(id)) continue;
      const d = this.inventory.device(id);
      if (d) this.newDevice(d, o.tsMicros, o);
    }
  }

  private newDevice(d: DeviceRecord, ts: number, o: Observation | null): void {
    for (const r of this.routes.onNewDevice) {
      try {
        r.onNewDevice!(d, ts);
      } catch (err) {
        this.failed(r, o, err);
      }
    }
  }

  /**
   * A rule threw: the observation is lost to that rule only. Counted as an anomaly of layer "findings"
   * whose detail names the rule and the error's name (never its message, which might quote traffic).
   */
  private failed(rule: Rule, o: Observation | null, err: unknown): void {
    this.ruleFailures++;
    const name = err instanceof Error ? err.name : "error";
    this.anomalies?.anomaly(
      RULE_FAILED,
      "findings",
      o ? connectionOf(o) : null,
      `${rule.ids.join(" ")}: ${name}`,
    );
  }

  // ---- the finding store ----

  private hit(h: Hit): void {
    const mapKey = mapKeyOf(h.rule, h.device, h.peer, h.key);
    let s = this.byKey.get(mapKey);
    const isNew = !s;
    if (!s) {
      const id = "f-" + createHash("sha256").update(mapKey).digest("hex").slice(0, 16);
      s = {
        record: {
          id,
          rule: h.rule,
          severity: h.severity,
          device: h.device,
          peer: h.peer,
          title: h.title,
          evidence: { flows: [], aeTitles: [], counts: {}, firstSeen: iso(h.ts), lastSeen: iso(h.ts) },
          remediation: RULES[h.rule],
          firstSeen: iso(h.ts),
          lastSeen: iso(h.ts),
          count: 0,
          key: h.key,
        },
        signature: "",
      };
      if (this.byKey.size >= this.maxFindings) this.evictOne();
      this.byKey.set(mapKey, s);
      this.byId.set(s.record.id, s);
    }
    const r = s.record;
    const ev = r.evidence;
    r.count++;
    const tsIso = iso(h.ts);
    if (tsIso > r.lastSeen) r.lastSeen = ev.lastSeen = tsIso;
    if (tsIso < r.firstSeen) r.firstSeen = ev.firstSeen = tsIso;
    const severityBefore = r.severity;
    const milder = compareSeverity(h.severity, r.severity) < 0;
    // Severity only rises: a finding does not flap down when a milder instance repeats.
    if (compareSeverity(h.severity, r.severity) > 0) {
      r.severity = h.severity;
      r.title = h.title;
    } else if (h.severity === r.severity) r.title = h.title;
    // Flows slide (the latest are the most useful to look up, and they are not part of the signature).
    if (h.flow) pushCapped(ev.flows, h.flow, MAX_FLOWS);
    // AE titles are part of the default signature, so they must not slide: once full, every new title
    // would shift the oldest out, change the signature and re-announce the finding, and a peer trying
    // thousands of AE titles would turn into thousands of "changed" messages. The list is frozen at the
    // cap and the rest only counted: the count changes the record, not the signature.
    for (const ae of h.aeTitles ?? []) {
      if (!ae || ev.aeTitles.includes(ae)) continue;
      if (ev.aeTitles.length < MAX_LIST) ev.aeTitles.push(ae);
      else ev.aeTitlesNotListed = (ev.aeTitlesNotListed ?? 0) + 1;
    }
    for (const [k, n] of Object.entries(h.counts ?? {})) ev.counts[k] = (ev.counts[k] ?? 0) + n;
    if (this.gaps !== null) {
      ev.counts.captureGaps = (ev.counts.captureGaps ?? 0) + this.gaps.count;
      ev.counts.captureGapBytes = (ev.counts.captureGapBytes ?? 0) + this.gaps.bytes;
    }
    if (h.details) Object.assign(ev, h.details);
    // A milder instance's own signature (e.g. "used" after "unused") describes what the record does not
    // show: keeping it would announce a change each time milder and worse instances alternate.
    const signature =
      milder && h.signature !== undefined
        ? s.signature
        : (h.signature ?? [...ev.aeTitles].sort().join(",") + "|" + r.title);
    const sigChanged = signature !== s.signature;
    s.signature = signature;
    if (!this.onChange) return;
    if (isNew) this.onChange(r, "new");
    else if (r.severity !== severityBefore || sigChanged) this.onChange(r, "changed");
  }

  /**
   * Drops the oldest finding of the lowest severity among the 256 oldest (an info/low one at once):
   * bounded work per call, and high findings outlive a flood of lesser ones.
   */
  private evictOne(): void {
    let victim: string | undefined;
    let victimRank = Infinity;
    let scanned = 0;
    for (const [k, st] of this.byKey) {
      const rank = severityRank(st.record.severity);
      if (rank < victimRank) {
        victim = k;
        victimRank = rank;
        if (rank <= severityRank("low")) break;
      }
      if (++scanned >= 256) break;
    }
    if (victim !== undefined) {
      const id = this.byKey.get(victim)?.record.id;
      if (id !== undefined) this.byId.delete(id);
      this.byKey.delete(victim);
      this.evicted++;
    }
  }
}

/** The key a finding is held under: one finding per (rule, device, peer, key). */
function mapKeyOf(rule: RuleId, device: string | null, peer: string | null, key: string): string {
  return `${rule}\u0000${device ?? ""}\u0000${peer ?? ""}\u0000${key}`;
}
