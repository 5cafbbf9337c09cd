/**
 * dicom.ae-scan: one source gets a burst of association rejects (A-ASSOCIATE-RJ), or tries many called AE
 * titles on one server, within the ae-scan window (policy.thresholds.aeScan*). Guessing AE titles is how
 * an attacker finds a way into an SCP that checks them; a modality retrying one rejected request is
 * misconfigured, not scanning, and stays low.
 * Points to: firewall, allowlists (DESIGN.md §5).
 */
import { formatEndpoint } from "../../util/flow.js";
import { BoundedMap, windowOf, type Window } from "../bounded.js";
import { MAX_LIST, MAX_TRACKED, type AssociationEvent, type Rule, type RuleContext } from "./context.js";

export class AeScanRule implements Rule {
  readonly ids = ["dicom.ae-scan"] as const;
  private readonly rejects = new BoundedMap<string, Window>(MAX_TRACKED);
  private readonly calledTried = new BoundedMap<string, Window>(MAX_TRACKED);

  constructor(private readonly ctx: RuleContext) {}

  onAssociation(a: AssociationEvent): void {
    if (!a.rejected) return;
    const { o, flow, ts, calling, called } = a;
    const t = this.ctx.config.policy.thresholds;
    // The label is the whole request (calling AE, called AE, server): a modality retrying one rejected
    // request every half minute is misconfigured, not scanning, and must not be reported as an attack.
    const w = windowOf(this.rejects, o.client.ip);
    const request = `${calling ?? ""}\u0000${called ?? ""}\u0000${formatEndpoint(o.server)}`;
    w.push(ts, request, o.server.ip, t.aeScanWindowSeconds * 1e6, t.aeScanRejects * 4);
    if (w.events.length >= t.aeScanRejects) {
      const distinct = new Set(w.events.map((e) => e.label)).size;
      const retries = distinct === 1;
      this.ctx.hit({
        rule: "dicom.ae-scan",
        severity: retries ? "low" : "high",
        device: a.client,
        peer: null,
        key: "rejects",
        title: retries
          ? `${o.client.ip} got ${w.events.length} association rejects within ${t.aeScanWindowSeconds} s, all for the same request (a misconfigured client retrying?)`
          : `${o.client.ip} got ${w.events.length} association rejects for ${distinct} different requests within ${t.aeScanWindowSeconds} s`,
        ts,
        flow,
        aeTitles: [calling, called],
        counts: { rejects: 1 },
        details: {
          rejectsInWindow: w.events.length,
          distinctRequests: distinct,
          targets: [...new Set(w.events.map((e) => e.target))].slice(0, MAX_LIST),
        },
        signature: retries ? "rejects-retry" : "rejects",
      });
    }
    // Only refused called AE titles count: a workstation may rightly use five AEs of one PACS host.
    if (!called) return;
    const key = `${o.client.ip}>${o.server.ip}`;
    const wc = windowOf(this.calledTried, key);
    wc.push(ts, called, o.server.ip, t.aeScanWindowSeconds * 1e6, t.aeScanDistinctCalledAEs * 8);
    const distinct = new Set(wc.events.map((e) => e.label));
    if (distinct.size >= t.aeScanDistinctCalledAEs)
      this.ctx.hit({
        rule: "dicom.ae-scan",
        severity: "high",
        device: a.client,
        peer: a.server,
        key: "called-aes",
        title: `${o.client.ip} tried ${distinct.size} called AE titles on ${o.server.ip} within ${t.aeScanWindowSeconds} s`,
        ts,
        flow,
        aeTitles: [called],
        counts: { attempts: 1 },
        details: { distinctCalledAEs: distinct.size },
        signature: "called-aes",
      });
  }
}
