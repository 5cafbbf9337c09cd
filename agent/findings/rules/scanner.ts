/**
 * dicom.scanner by identity and by behaviour (the C-ECHO sweep across hosts is rules/echo-sweep.ts):
 * - identity: a requestor matching data/scanners.json (rules/scanner-identity.ts); a borrowed identity (nmap's
 *   DCMTK 3.6.2) needs the reserved header bytes or a silent association besides;
 * - silent association: accepted, then ended by the transport with nothing sent after the A-ASSOCIATE-AC (no
 *   P-DATA-TF, no A-RELEASE-RQ, no A-ABORT): the AC was all the requestor wanted — an AE-title or service
 *   probe (nmap's dicom-ping, and every fork of its library, works this way);
 * - refusal bursts: many different called AE titles refused with A-ASSOCIATE-RJ reason 7 ("called-AE-title-not-
 *   recognized"), or calling AE titles refused with reason 3 ("calling-AE-title-not-recognized"), both from the
 *   DICOM UL service-user (source 1) (PS3.8 §9.3.4, Table 9-21), from one source within the ae-scan window:
 *   guessing titles as passwords (nmap's dicom-brute). dicom.ae-scan counts the same rejects as attempts on
 *   one server; this rule names the technique.
 * A recognised tool gets one finding per (client, server), whatever showed it; the behaviours are then
 * reasons in its evidence rather than findings of their own.
 * It runs first among the association rules and marks the associations it attributes to a scanner
 * (AssociationEvent.scanner), so that the others do not report a scanner's traffic as a device's.
 * Points to: firewall (DESIGN.md §5).
 */
import type { AnomalyObservation, AssociationObservation } from "../../observations/types.js";
import { isoFromMicros as iso } from "../../util/time.js";
import { formatEndpoint } from "../../util/flow.js";
import { BoundedMap, windowOf, type Window } from "../bounded.js";
import type { Severity } from "../severity.js";
import { MAX_LIST, MAX_TRACKED, type AssociationEvent, type Rule, type RuleContext } from "./context.js";
import {
  recogniseScanner,
  wouldCorroborate,
  type Corroboration,
  type ScannerMatch,
} from "./scanner-identity.js";
import { probeCalledAE } from "./tables.js";

/** PS3.8 §9.3.4, Table 9-21: source 1 is the DICOM UL service-user; its reasons 3 and 7. */
const RJ_SOURCE_SERVICE_USER = 1;
const RJ_CALLING_AE_NOT_RECOGNIZED = 3;
const RJ_CALLED_AE_NOT_RECOGNIZED = 7;

/** Anomaly code for non-zero reserved bytes in the A-ASSOCIATE-RQ header itself (PDU offsets 42-73). */
export const HEADER_RESERVED_CODE = "ul.nonzero-reserved-header";

/** Silent associations waiting for proof that the capture went on after them (see tick()). */
const MAX_PENDING = 256;
const MAX_REASONS = 8;
/** Distinct called AE titles counted per tool and server (the count stops there: "at least"). */
const MAX_TITLES_TRIED = 1024;
/** Events kept per source in the silent-association window. */
const MAX_SILENT_EVENTS = 32;

interface Pending {
  o: AssociationObservation;
  flow: string;
  calling: string | null;
  called: string | null;
  accepted: boolean;
  /** The requestor has a borrowed scanner identity that silence corroborates. */
  borrowed: boolean;
}

/** How the TCP connection ended an association that was neither released nor aborted (AssociationRecord). */
interface TransportEndLike {
  reason: string;
  side?: string | null;
}

/**
 * Accepted (an A-ASSOCIATE-AC with a usable presentation context) and then nothing from either side: no DIMSE
 * message, no release, no abort, and no capture gap that could hide them. A requestor whose presentation
 * contexts were all refused may rightly drop the connection (DCMTK's tools exit on "No Acceptable
 * Presentation Contexts"), so that is not silence; nor is an association picked up mid-stream.
 * "silent" when the transport ended it (FIN, RST or idle timeout: the record's transportEnd); "maybe" when
 * the record does not say how it ended (records made before transportEnd existed, replays): then silence
 * is judged later (ScannerRules.tick); "no" otherwise — also when the capture ended or the flow table
 * evicted the connection, since then its next PDU was simply not seen.
 */
export function silence(o: AssociationObservation): "silent" | "maybe" | "no" {
  const r = o.record;
  const quiet =
    !o.midStream &&
    r.acceptor !== null &&
    r.outcome !== "rejected" &&
    r.outcome !== "aborted" &&
    r.abort === null &&
    !r.released &&
    r.messages.length === 0 &&
    r.messagesOmitted === 0 &&
    r.captureGaps.bytes === 0 &&
    r.presentationContexts.some((pc) => pc.result === "acceptance");
  if (!quiet) return "no";
  // Read structurally: the field is optional in the record type.
  const end = (r as { transportEnd?: TransportEndLike | null }).transportEnd;
  if (end === undefined) return "maybe";
  if (end === null) return "no";
  return end.reason === "fin" || end.reason === "rst" || end.reason === "idle" ? "silent" : "no";
}

export class ScannerRules implements Rule {
  readonly ids = ["dicom.scanner"] as const;
  /** Flows whose A-ASSOCIATE-RQ had non-zero reserved header bytes (value unused). */
  private readonly reservedFlows = new BoundedMap<string, true>(MAX_TRACKED);
  /**
   * Called AE titles a recognised tool tried, per client>server: dicom-brute is dicom-ping repeated. Fewer
   * pairs than other keys: each holds up to MAX_TITLES_TRIED titles.
   */
  private readonly toolCalled = new BoundedMap<string, Set<string>>(MAX_TRACKED / 4);
  /** The reasons gathered by each tool finding (client>server>key), listed in its evidence. */
  private readonly toolReasons = new BoundedMap<string, string[]>(MAX_TRACKED);
  private readonly silent = new BoundedMap<string, Window>(MAX_TRACKED);
  private readonly refused = new BoundedMap<string, Window>(MAX_TRACKED);
  private pending: Pending[] = [];

  constructor(private readonly ctx: RuleContext) {}

  onAnomaly(o: AnomalyObservation): void {
    if (o.layer !== "ul" && o.layer !== "dimse") return;
    if (o.code !== HEADER_RESERVED_CODE) return;
    this.reservedFlows.set(o.flow, true);
  }

  onAssociation(a: AssociationEvent): void {
    const reservedHeader = this.reservedFlows.has(a.flow);
    a.scanner = this.association(a.o, a.flow, a.calling, a.called, a.accepted, reservedHeader);
  }

  finish(tsMicros: number, settleMicros: number): void {
    // Silent associations ended before tsMicros are judged; at the end (settleMicros 0) those ended at
    // tsMicros itself were closed by the end of the capture, not by their peers, and are dropped.
    this.settle(tsMicros, settleMicros === 0);
  }

  /**
   * Judges one association; true when it is attributed to a scanner (known now, or suspected until its
   * silence is confirmed), so that the engine does not report the scanner's traffic as a device's
   * (cleartext, vulnerable implementation, AE titles in use).
   */
  private association(
    o: AssociationObservation,
    flow: string,
    calling: string | null,
    called: string | null,
    accepted: boolean,
    reservedHeader: boolean,
  ): boolean {
    const quiet = silence(o);
    const seen = new Set<Corroboration>();
    if (reservedHeader) seen.add("reserved-header");
    if (quiet === "silent") seen.add("silent-association");
    const match = recogniseScanner(o.record.requestor, calling, seen);
    const refusal = this.refusal(o, flow, calling, called, match !== null);
    if (match) {
      this.toolHit(o, flow, calling, called, accepted, match, refusal);
      return true;
    }
    const p: Pending = { o, flow, calling, called, accepted, borrowed: false };
    if (quiet === "silent") this.silentHit(p);
    if (quiet !== "maybe") return false;
    p.borrowed = wouldCorroborate(o.record.requestor, calling, "silent-association");
    if (this.pending.length >= MAX_PENDING) this.confirm(this.pending.shift()!);
    this.pending.push(p);
    return p.borrowed;
  }

  /**
   * For records that do not say how they ended ("maybe"): an association is reported when its connection
   * closes, and one still open when the capture ends is reported then too, at the capture's last timestamp,
   * where its silence proves nothing (the next PDU was simply not captured). So silence is judged once
   * something later than the association's end has been seen: any observation (tick) or the end of the
   * capture (settle) after it.
   */
  tick(tsMicros: number): void {
    if (this.pending.length === 0) return;
    const due = this.pending.filter((p) => p.o.tsMicros < tsMicros);
    if (due.length === 0) return;
    this.pending = this.pending.filter((p) => p.o.tsMicros >= tsMicros);
    for (const p of due) this.confirm(p);
  }

  /** At a tick or the end of capture (`final`): associations ended at the very end are dropped when final. */
  private settle(tsMicros: number, final: boolean): void {
    this.tick(tsMicros);
    if (final) this.pending = [];
  }

  private confirm(p: Pending): void {
    if (p.borrowed) {
      const m = recogniseScanner(p.o.record.requestor, p.calling, new Set(["silent-association"]));
      if (m) {
        this.toolHit(p.o, p.flow, p.calling, p.called, p.accepted, m, null);
        return;
      }
    }
    this.silentHit(p);
  }

  /** One finding per tool, client and server; dicom-brute when it tried several called AE titles. */
  private toolHit(
    o: AssociationObservation,
    flow: string,
    calling: string | null,
    called: string | null,
    accepted: boolean,
    m: ScannerMatch,
    refusal: string | null,
  ): void {
    const pair = `${o.client.ip}>${o.server.ip}`;
    let tried = this.toolCalled.get(pair);
    if (!tried) {
      tried = new Set();
      this.toolCalled.set(pair, tried);
    }
    if (called && tried.size < MAX_TITLES_TRIED) tried.add(called);
    const brute = tried.size >= 2;
    const rkey = `${pair}>${m.entry.key}`;
    const reasons = this.toolReasons.get(rkey) ?? [];
    for (const r of refusal ? [...m.reasons, refusal] : m.reasons)
      if (reasons.length < MAX_REASONS && !reasons.includes(r)) reasons.push(r);
    this.toolReasons.set(rkey, reasons);
    const nmap = m.entry.key === "nmap";
    const label = nmap ? (brute ? "nmap dicom-brute" : "nmap dicom-ping") : m.entry.tool;
    const req = o.record.requestor;
    this.ctx.hit({
      rule: "dicom.scanner",
      severity: brute ? "high" : "medium",
      device: this.ctx.id(o.client),
      peer: this.ctx.id(o.server),
      key: m.entry.key,
      title: brute
        ? `${label} from ${o.client.ip} against ${o.server.ip} (${tried.size} called AE titles tried)`
        : `${label} from ${o.client.ip} against ${o.server.ip}`,
      ts: o.tsMicros,
      flow,
      aeTitles: [calling, called],
      counts: { associations: 1, accepted: accepted ? 1 : 0 },
      details: {
        tool: label,
        identity: m.entry.name,
        identitySource: m.entry.source,
        reasons,
        implementationClassUid: req?.implementationClassUid ?? null,
        implementationVersionName: req?.implementationVersionName ?? null,
        calledAETitlesTried: tried.size,
      },
      signature: brute ? "brute" : "ping",
    });
  }

  /**
   * Many different titles refused as unknown from one source within the ae-scan window (aeScan* thresholds):
   * the reason string for a recognised tool's evidence, or a finding of its own for anyone else.
   */
  private refusal(
    o: AssociationObservation,
    flow: string,
    calling: string | null,
    called: string | null,
    recognised: boolean,
  ): string | null {
    const rj = o.record.reject;
    if (o.record.outcome !== "rejected" || !rj || rj.source !== RJ_SOURCE_SERVICE_USER) return null;
    const kind =
      rj.reason === RJ_CALLED_AE_NOT_RECOGNIZED && called
        ? "called"
        : rj.reason === RJ_CALLING_AE_NOT_RECOGNIZED && calling
          ? "calling"
          : null;
    if (!kind) return null;
    const ae = kind === "called" ? called! : calling!;
    const t = this.ctx.config.policy.thresholds;
    const w = windowOf(this.refused, `${kind}\u0000${o.client.ip}`);
    w.push(
      o.tsMicros,
      ae,
      formatEndpoint(o.server),
      t.aeScanWindowSeconds * 1e6,
      t.aeScanDistinctCalledAEs * 4,
    );
    const distinct = new Set(w.events.map((e) => e.label)).size;
    if (distinct < t.aeScanDistinctCalledAEs) return null;
    const reason = `${kind}-AE brute force (A-ASSOCIATE-RJ reason ${rj.reason}, ${kind}-AE-title-not-recognized)`;
    if (recognised) return reason;
    this.ctx.hit({
      rule: "dicom.scanner",
      severity: "high",
      device: this.ctx.id(o.client),
      peer: null,
      key: `${kind}-ae-brute`,
      title: `${o.client.ip} had ${distinct} different ${kind} AE titles refused as not recognised within ${t.aeScanWindowSeconds} s: ${kind}-AE brute force`,
      ts: o.tsMicros,
      flow,
      // The titles of the whole burst (it is raised at the threshold's title, not the first one).
      aeTitles: [...new Set(w.events.map((e) => e.label))].slice(0, MAX_LIST),
      counts: { refused: 1 },
      details: {
        reason: `${kind}-AE brute force`,
        rejectReason: rj.reason,
        distinctTitlesRefused: distinct,
        targets: [...new Set(w.events.map((e) => e.target))].slice(0, MAX_LIST),
      },
      signature: `${kind}-ae-brute`,
    });
    return reason;
  }

  /**
   * A silent association from an unrecognised requestor. One alone may be a client that failed after the
   * AC (low); several to different services, or one addressed to a probe value such as ANY-SCP, is probing
   * (medium). The same service again and again stays low: a monitor that checks that association works.
   */
  private silentHit(p: Pending): void {
    const { o, called, calling } = p;
    const t = this.ctx.config.policy.thresholds;
    const w = windowOf(this.silent, o.client.ip);
    w.push(
      o.tsMicros,
      `${formatEndpoint(o.server)}\u0000${called ?? ""}`,
      formatEndpoint(o.server),
      t.aeScanWindowSeconds * 1e6,
      MAX_SILENT_EVENTS,
    );
    const distinct = new Set(w.events.map((e) => e.label)).size;
    const probe = probeCalledAE(called);
    const severity: Severity = distinct >= 2 || probe ? "medium" : "low";
    const service = formatEndpoint(o.server);
    this.ctx.hit({
      rule: "dicom.scanner",
      severity,
      device: this.ctx.id(o.client),
      peer: null,
      key: "silent-association",
      title:
        distinct >= 2
          ? `${o.client.ip} opened associations to ${distinct} different services or AE titles and sent nothing on them within ${t.aeScanWindowSeconds} s (probing)`
          : probe
            ? `${o.client.ip} associated with ${service} as "${called}" (a probe value) and left without a message, release or abort`
            : `${o.client.ip} associated with ${service} and left without a message, release or abort (a probe, or a client that failed)`,
      ts: o.tsMicros,
      flow: p.flow,
      aeTitles: [calling, called],
      counts: { silentAssociations: 1 },
      details: {
        reason: "association requested, nothing sent after the A-ASSOCIATE-AC, no release",
        lastSilent: {
          server: service,
          callingAE: calling,
          calledAE: called,
          time: iso(o.tsMicros),
          ended: (o.record as { transportEnd?: TransportEndLike | null }).transportEnd ?? null,
        },
        distinctServicesInWindow: distinct,
        targets: [...new Set(w.events.map((e) => e.target))].slice(0, MAX_LIST),
      },
      signature: severity === "low" ? "silent" : "silent-probing",
    });
  }
}
