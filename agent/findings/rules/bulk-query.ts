/**
 * dicom.bulk-query: C-FIND used to harvest the archive — one query with universal matching at PATIENT or
 * STUDY level (every key empty or "*", PS3.4 C.2.2.2.3: the answer lists every patient or study), one query
 * answered with many matches (policy.thresholds.bulkQueryMatches), or many patient/study queries from one
 * client to one server within the window (bulkQueryFinds, bulkQueryWindowSeconds).
 * Points to: access control (DESIGN.md §5).
 */
import type { DimseObservation } from "../../observations/types.js";
import { isPatientOrStudyFind, MODALITY_WORKLIST_FIND } from "../../dicom/sop.js";
import { formatFlow } from "../../util/flow.js";
import { BoundedMap, windowOf, type Window } from "../bounded.js";
import { MAX_TRACKED, trimAe, type Rule, type RuleContext } from "./context.js";

export class BulkQueryRule implements Rule {
  readonly ids = ["dicom.bulk-query"] as const;
  private readonly finds = new BoundedMap<string, Window>(MAX_TRACKED);
  /** Matches counted per query (flow#message id) until its final response. */
  private readonly matches = new BoundedMap<string, number>(MAX_TRACKED);

  constructor(private readonly ctx: RuleContext) {}

  onDimse(o: DimseObservation): void {
    const m = o.message;
    const t = this.ctx.config.policy.thresholds;
    if (m.command === "C-FIND-RQ" && o.direction === 0) {
      const flow = formatFlow(o.client, o.server);
      this.universalQuery(o, flow);
      if (!isPatientOrStudyFind(m.sopClassUid)) return;
      const key = `${o.client.ip}>${o.server.ip}`;
      const w = windowOf(this.finds, key);
      w.push(o.tsMicros, "", o.server.ip, t.bulkQueryWindowSeconds * 1e6, t.bulkQueryFinds * 2);
      if (w.events.length >= t.bulkQueryFinds)
        this.ctx.hit({
          rule: "dicom.bulk-query",
          severity: "medium",
          device: this.ctx.id(o.client),
          peer: this.ctx.id(o.server),
          key: "volume",
          title: `${o.client.ip} sent ${w.events.length} patient/study C-FINDs to ${o.server.ip} within ${t.bulkQueryWindowSeconds} s`,
          ts: o.tsMicros,
          flow,
          aeTitles: [trimAe(o.callingAE), trimAe(o.calledAE)],
          counts: { finds: 1 },
          signature: "volume",
        });
    } else if (m.command === "C-FIND-RSP" && o.direction === 1) {
      const flow = formatFlow(o.client, o.server);
      const key = `${flow}#${m.messageIdBeingRespondedTo ?? ""}`;
      // Pending (0xFF00, 0xFF01) responses each carry one match (PS3.4 C.4.1.1.4); the final one ends the query.
      if (m.status === 0xff00 || m.status === 0xff01) {
        const n = (this.matches.get(key) ?? 0) + 1;
        this.matches.set(key, n);
        if (n === t.bulkQueryMatches)
          this.ctx.hit({
            rule: "dicom.bulk-query",
            severity: "medium",
            device: this.ctx.id(o.client),
            peer: this.ctx.id(o.server),
            key: "matches",
            title: `One C-FIND from ${o.client.ip} returned at least ${n} matches from ${o.server.ip} (broad or universal matching)`,
            ts: o.tsMicros,
            flow,
            aeTitles: [trimAe(o.callingAE), trimAe(o.calledAE)],
            counts: { queries: 1 },
            details: { matchesInOneQuery: n },
            signature: "matches",
          });
      } else this.matches.delete(key);
    }
  }

  /**
   * One C-FIND-RQ with universal matching (PS3.4 C.2.2.2.3) at the PATIENT or STUDY level: every key empty
   * or "*", so the answer lists every patient or study the SCP holds. The level decides, not the information
   * model (a vendor's private Q/R model at those levels leaks as much); only Modality Worklist is left out,
   * where modalities routinely ask for the whole worklist (PS3.4 Annex K) and which has no Query/Retrieve
   * Level anyway.
   */
  private universalQuery(o: DimseObservation, flow: string): void {
    const q = o.query;
    if (!q || q.matchingKeys !== 0 || o.message.sopClassUid === MODALITY_WORKLIST_FIND) return;
    const level = q.level?.trim().toUpperCase() ?? "";
    if (level !== "PATIENT" && level !== "STUDY") return;
    const external = !this.ctx.isInternal(o.client.ip) || !this.ctx.isInternal(o.server.ip);
    const calling = trimAe(o.callingAE);
    const called = trimAe(o.calledAE);
    this.ctx.hit({
      rule: "dicom.bulk-query",
      severity: external ? "high" : "medium",
      device: this.ctx.id(o.client),
      peer: this.ctx.id(o.server),
      key: "universal",
      title: `${o.client.ip}${calling ? ` (${calling})` : ""} sent a C-FIND with universal matching at ${level} level to ${o.server.ip}${external ? " across the network boundary" : ""}`,
      ts: o.tsMicros,
      flow,
      aeTitles: [calling, called],
      counts: { universalQueries: 1 },
      details: {
        queryRetrieveLevel: level,
        sopClassUid: o.message.sopClassUid,
        keys: q.keys,
        matchingKeys: q.matchingKeys,
        callingAE: calling,
        calledAE: called,
        external,
      },
      signature: `universal|${level}|${external ? "external" : "internal"}`,
    });
  }
}
