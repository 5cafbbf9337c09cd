/**
 * The findings engine (DESIGN.md §5, issue 3): applies the rules to observations and keeps one finding per
 * (rule, device, peer, key), counting repeats. A finding is announced through onChange once when new and
 * again ("changed") only when its severity rises or its key evidence (the rule's signature: AE titles,
 * CVE list, TLS problems, ...) changes — a repeat that only bumps the count is not news.
 *
 * Parsing never decides policy; this is where policy lives. Thresholds and lists come from the config
 * (config.policy). Rule ids are stable; see RULES below for the catalogue and remediations.
 *
 * Order with the inventory: call inventory.observe(o) before engine.observe(o). The engine derives device
 * ids through the inventory (the same ids either way) and notices new devices by the inventory's size,
 * so a swapped order only delays inventory.new-device to the next observation or finish().
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/types.js";
import { CidrSet } from "../config/cidr.js";
import type { Endpoint } from "../reassembly/types.js";
import type { FindingRecord } from "../report/types.js";
import type {
  AnomalyObservation,
  AssociationObservation,
  ConnectionObservation,
  DimseObservation,
  Observation,
  TlsObservation,
} from "../observations/types.js";
import type { Inventory } from "../inventory/inventory.js";
import { isoFromMicros as iso } from "../util/time.js";
import { recogniseToolkit, vulnerabilitiesOf } from "../inventory/toolkit.js";
import { flowKey } from "../inventory/replay.js";
import { suiteTraits } from "../tls/suites.js";
import { BoundedMap, Window } from "./bounded.js";
import { DuplicateAeTitles } from "./rules/duplicate-ae-title.js";
import { ProbeAccepted } from "./rules/probe-ae-accepted.js";
import { ScannerRules } from "./rules/scanner.js";
import { DICOM_TLS_PORTS, isPatientOrStudyFind, MODALITY_WORKLIST_FIND, VERIFICATION } from "../dicom/sop.js";

export type Severity = FindingRecord["severity"];
const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** The rule catalogue: stable ids and their one-sentence remediations (DESIGN.md §5). */
export const RULES = {
  "dicom.cleartext":
    "Protect DICOM with TLS (PS3.15 Annex B, port 2762) or carry it over a VPN between sites.",
  "dicom.external-peer":
    "Block DICOM from outside the internal networks at the firewall, or allow named peers only, through a VPN.",
  "dicom.any-ae-accepted":
    "Configure the SCP to accept only its own called AE title and an allowlist of calling AE titles and addresses.",
  "dicom.ae-scan":
    "Find and stop the source, and block it at the firewall; restrict the SCP to known AE titles.",
  "dicom.scanner": "Identify the scanning host; if not an authorised test, block it at the firewall.",
  "dicom.cleartext-credentials":
    "Send user identity only over DICOM TLS, and change the passcode that crossed the network in clear.",
  "dicom.bulk-query":
    "Check that the querying AE is authorised for bulk access, and limit query scope and volume with role-based access.",
  "dicom.unknown-move-destination":
    "Restrict C-MOVE destinations on the SCP to a configured list of AE titles and addresses.",
  "dicom.vulnerable-implementation":
    "Update the DICOM software to a fixed version (ask the vendor whether it carries the fixes).",
  "dicom.default-port":
    "Close port 104 where DICOM is served on another port, or move DICOM to TLS on port 2762.",
  "net.risky-service":
    "Close or firewall this service on the imaging device; use the vendor's remote-service gateway instead.",
  "dicom.malformed": "Identify the sender of malformed DICOM and check the receiving device for updates.",
  "tls.weak":
    "Use TLS 1.2 or later with an encrypting, authenticated cipher suite (no NULL, anonymous, export, RC4 or DES) and a certificate from the site's CA with an RSA key of 2048 bits or more, within its validity period.",
  "inventory.new-device": "Confirm the new device is expected and record it in the asset inventory.",
  "dicom.duplicate-ae-title":
    "Give every DICOM node its own AE title, and on the SCPs allow each title only from its own address (AE title and IP allowlists).",
} as const;
export type RuleId = keyof typeof RULES;

/** Services that must not answer on imaging devices, and how bad it is when they do. */
const RISKY_PORTS: Record<number, { name: string; severity: Severity }> = {
  21: { name: "FTP", severity: "medium" },
  23: { name: "Telnet", severity: "high" },
  445: { name: "SMB", severity: "high" },
  3389: { name: "RDP", severity: "high" },
  5900: { name: "VNC", severity: "high" },
};

/** Anomaly code for non-zero reserved bytes in the A-ASSOCIATE-RQ header itself (PDU offsets 42-73). */
export const HEADER_RESERVED_CODE = "ul.nonzero-reserved-header";

/**
 * Anomaly codes that are not the peer's fault: consequences of packets the capture lost, or of our own
 * list caps. They stay in the report's anomalies but raise no dicom.malformed.
 */
const CAPTURE_ARTIFACTS = new Set([
  // Legal AE titles that peers may still mis-compare (PS3.5 Table 6.2-1): noted, not malformed.
  "ul.ae-title-lower-case",
  "ul.ae-title-leading-spaces",
  "ul.resync",
  "ul.resync-failed",
  "ul.pdu-lost-in-gap",
  "ul.list-capped",
  "ul.messages-capped",
]);
/** Length and structure violations that crash parsers (the stuff of exploits): medium. Others are low. */
const SEVERE_MALFORMED = new Set([
  "ul.pdu-too-large",
  "ul.pdu-too-short",
  "ul.invalid-pdu-length",
  "ul.invalid-pdu-header",
  "ul.unknown-pdu-type",
  "ul.pdv-exceeds-pdu",
  "ul.pdv-too-short",
  "ul.item-exceeds-parent",
  "ul.item-length-invalid",
  "ul.item-truncated",
  "dimse.command-too-large",
  "dimse.command-element-beyond-end",
  "dimse.command-truncated-element",
]);
/** The UL layer's code for a non-DICOM protocol on a DICOM port; DICOM TLS is one, and not malformed. */
const NOT_DICOM = "ul.not-dicom-on-dicom-port";

const MAX_FLOWS = 10;
const MAX_LIST = 32;
const MAX_TRACKED = 4096;
/**
 * Findings kept in memory. Keys carry peer-controlled values (addresses, C-MOVE destinations), so hostile
 * traffic could otherwise grow the table without bound; each finding has already been announced through
 * onChange (and stored) when it is evicted. Eviction prefers the oldest info/low finding.
 */
export const MAX_FINDINGS = 4096;

function pushCapped<T>(list: T[], v: T, cap: number): boolean {
  if (list.includes(v)) return false;
  list.push(v);
  if (list.length > cap) list.shift();
  return true;
}

function trimAe(ae: string | null): string | null {
  if (ae === null) return null;
  const t = ae.trim();
  return t === "" ? null : t;
}

/** Evidence common to all findings; rule-specific facts go alongside. */
export interface Evidence {
  flows: string[];
  /** The first MAX_LIST distinct AE titles, in the order seen; frozen once full (see hit()). */
  aeTitles: string[];
  /**
   * AE titles met after aeTitles was full, counted per occurrence (telling them apart would need the
   * unbounded memory the cap is there to avoid). Absent while nothing overflowed.
   */
  aeTitlesNotListed?: number;
  counts: Record<string, number>;
  firstSeen: string;
  lastSeen: string;
  [detail: string]: unknown;
}

interface FindingState {
  record: FindingRecord & { key: string; evidence: Evidence };
  signature: string;
}

/** What a rule raises; hit() folds it into the finding of (rule, device, peer, key). */
export interface Hit {
  rule: RuleId;
  severity: Severity;
  device: string | null;
  peer: string | null;
  key: string;
  title: string;
  ts: number;
  flow?: string | null;
  aeTitles?: (string | null)[];
  /** Counters to add to evidence.counts. */
  counts?: Record<string, number>;
  /** Rule-specific evidence to set (replaces previous values of those fields). */
  details?: Record<string, unknown>;
  /** Key evidence: a change re-raises the finding. Defaults to the AE titles and the title. */
  signature?: string;
}

interface PendingMove {
  dest: string;
  callingAE: string | null;
  client: Endpoint;
  server: Endpoint;
  flow: string;
  ts: number;
}

export class FindingsEngine {
  onChange?: (f: FindingRecord, change: "new" | "changed") => void;

  private readonly byKey = new Map<string, FindingState>();
  /** Findings dropped from memory by the MAX_FINDINGS cap (see evictOne). */
  evicted = 0;
  /** The capture gaps of the association being judged, while its hits are raised. */
  private gaps: { count: number; bytes: number } | null = null;
  private readonly internal: CidrSet;
  private readonly allowed: CidrSet;
  private readonly knownAll = new Set<string>();
  private knownDevices = 0;
  /** Flows with a non-zero reserved field: "header" when known to be the A-ASSOCIATE-RQ header's. */
  /** Flows whose A-ASSOCIATE-RQ had non-zero reserved header bytes (value unused). */
  private readonly reservedFlows = new BoundedMap<string, true>(MAX_TRACKED);
  /** Flows where a TLS handshake was seen (so "not DICOM on a DICOM port" is DICOM TLS). */
  private readonly tlsFlows = new BoundedMap<string, true>(MAX_TRACKED);
  /** Malformed-PDU anomalies waiting for their flow's endpoints (with MACs) to be known. */
  private readonly pendingMalformed = new BoundedMap<string, AnomalyObservation[]>(MAX_TRACKED);
  private readonly rejects = new BoundedMap<string, Window>(MAX_TRACKED);
  private readonly calledTried = new BoundedMap<string, Window>(MAX_TRACKED);
  private readonly echoes = new BoundedMap<string, Window>(MAX_TRACKED);
  private readonly finds = new BoundedMap<string, Window>(MAX_TRACKED);
  private readonly matches = new BoundedMap<string, number>(MAX_TRACKED);
  private readonly calledAccepted = new BoundedMap<string, Set<string>>(MAX_TRACKED);
  /** dicom.scanner by identity and behaviour (rules/scanner.ts). */
  private readonly scanners: ScannerRules;
  /** dicom.any-ae-accepted on a probe called AE title (rules/probe-ae-accepted.ts). */
  private readonly probes: ProbeAccepted;
  /** dicom.duplicate-ae-title (rules/duplicate-ae-title.ts). */
  private readonly duplicates: DuplicateAeTitles;
  private readonly pendingMoves = new BoundedMap<string, PendingMove[]>(MAX_TRACKED);
  /**
   * Devices (by IP) where port 104 answered a handshake while DICOM was seen only on other ports: judged at
   * finish(), because the association on that connection shows its first message only after the handshake.
   */
  private readonly pending104 = new BoundedMap<string, { server: Endpoint; ts: number; flow: string | null }>(
    MAX_TRACKED,
  );

  constructor(
    readonly config: Config,
    readonly inventory: Inventory,
    private readonly maxFindings = MAX_FINDINGS,
  ) {
    this.internal = new CidrSet(config.networks.internal);
    this.allowed = new CidrSet(config.policy.allowedPeers);
    for (const list of Object.values(config.policy.knownAeTitles))
      for (const ae of list) this.knownAll.add(ae);
    // Rule modules (one file per rule, agent/findings/rules/) raise through the same finding store.
    const ctx = {
      config,
      id: (ep: { ip: string; mac: string | null }) => this.id(ep),
      hit: (h: Hit) => this.hit(h),
    };
    this.scanners = new ScannerRules(ctx);
    this.duplicates = new DuplicateAeTitles(ctx);
    this.probes = new ProbeAccepted(ctx, (ip, ae) => this.duplicates.usedAsCalling(ip, ae));
  }

  /** The findings held in memory (cheap, for health; findings() copies them all). */
  get size(): number {
    return this.byKey.size;
  }

  findings(): FindingRecord[] {
    return [...this.byKey.values()].map((s) => structuredClone(s.record));
  }

  observe(o: Observation): void {
    // Anything later than a silent association proves the capture went on past it (rules/scanner.ts).
    this.scanners.tick(o.tsMicros);
    switch (o.kind) {
      case "connection":
        this.connection(o);
        break;
      case "association":
        // A finding raised from an association the capture saw with holes says so in its evidence
        // (counts.captureGaps, counts.captureGapBytes): what it lacks may be why (issue 8).
        this.gaps = o.record.captureGaps.bytes > 0 ? o.record.captureGaps : null;
        try {
          this.association(o);
        } finally {
          this.gaps = null;
        }
        break;
      case "dimse":
        this.dimse(o);
        break;
      case "tls":
        this.tls(o);
        break;
      case "anomaly":
        this.anomaly(o);
        break;
      case "equipment":
        break;
    }
    this.newDevices(o.tsMicros);
  }

  /**
   * End of capture (or a periodic tick): settles rules that wait for later evidence. Only what has waited
   * at least `settleMicros` of capture time is settled: 0 (the default) settles everything, as at the end
   * of a capture; a live tick should pass some seconds, so that a C-MOVE whose sub-association has not
   * started yet, or a port-104 connection whose association has not shown a message yet, is not judged early.
   */
  finish(tsMicros: number, settleMicros = 0): void {
    const due = tsMicros - settleMicros;
    // Silent associations ended before tsMicros are judged; at the end (settleMicros 0) those ended at
    // tsMicros itself were closed by the end of the capture, not by their peers, and are dropped.
    this.scanners.settle(tsMicros, settleMicros === 0);
    for (const [flow, moves] of this.pendingMoves) {
      if (moves.some((m) => m.ts > due)) continue;
      this.pendingMoves.delete(flow);
      for (const m of moves) this.evaluateMove(m);
    }
    for (const [ip, p] of this.pending104) {
      if (p.ts > due) continue;
      this.pending104.delete(ip);
      this.defaultPort(p.server, p.ts, p.flow, true);
    }
    for (const [flow, list] of this.pendingMalformed) {
      // A TLS handshake on a DICOM port shows itself after the UL layer has called it "not DICOM".
      if (list.some((a) => a.tsMicros > due)) continue;
      this.pendingMalformed.delete(flow);
      const eps = parseFlow(flow);
      if (eps) for (const a of list) this.malformed(a, eps[0], eps[1]);
    }
    this.newDevices(tsMicros);
  }

  // ---- the finding store ----

  private hit(h: Hit): void {
    const mapKey = `${h.rule}\u0000${h.device ?? ""}\u0000${h.peer ?? ""}\u0000${h.key}`;
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
    }
    const r = s.record;
    const ev = r.evidence;
    r.count++;
    const tsIso = iso(h.ts);
    if (tsIso > r.lastSeen) r.lastSeen = ev.lastSeen = tsIso;
    if (tsIso < r.firstSeen) r.firstSeen = ev.firstSeen = tsIso;
    const severityBefore = r.severity;
    const milder = SEVERITY_RANK[h.severity] < SEVERITY_RANK[r.severity];
    // Severity only rises: a finding does not flap down when a milder instance repeats.
    if (SEVERITY_RANK[h.severity] > SEVERITY_RANK[r.severity]) {
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
    if (isNew) this.onChange(structuredClone(r), "new");
    else if (r.severity !== severityBefore || sigChanged) this.onChange(structuredClone(r), "changed");
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
      const rank = SEVERITY_RANK[st.record.severity];
      if (rank < victimRank) {
        victim = k;
        victimRank = rank;
        if (rank <= SEVERITY_RANK.low) break;
      }
      if (++scanned >= 256) break;
    }
    if (victim !== undefined) {
      this.byKey.delete(victim);
      this.evicted++;
    }
  }

  private isInternal(ip: string): boolean {
    return this.internal.has(ip);
  }

  private id(ep: { ip: string; mac: string | null }): string {
    return this.inventory.idFor(ep);
  }

  // ---- inventory.new-device, and checks that wait for a device to appear ----

  private newDevices(ts: number): void {
    if (this.inventory.size <= this.knownDevices) return;
    // Only the new devices' records: building them all each time made a capture of n new hosts cost n².
    const fresh = this.inventory.devicesSince(this.knownDevices);
    this.knownDevices = this.inventory.size;
    for (const d of fresh) {
      this.hit({
        rule: "inventory.new-device",
        severity: "info",
        device: d.id,
        peer: null,
        key: "new",
        title: `New DICOM device ${d.ip}${d.aeTitles.length ? ` (${d.aeTitles.join(", ")})` : ""}`,
        ts,
        aeTitles: d.aeTitles,
        details: { ip: d.ip, mac: d.mac },
        signature: "new",
      });
      for (const port of this.inventory.listeningPortsOf(d.ip)) this.riskyService(d.ip, d.mac, port, ts);
    }
  }

  // ---- connection: net.risky-service, dicom.default-port ----

  private connection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack") return;
    if (RISKY_PORTS[o.server.port] && this.inventory.isDicomDevice(o.server))
      this.riskyService(o.server.ip, o.server.mac, o.server.port, o.tsMicros, flowKey(o.client, o.server));
    if (o.server.port === 104 && this.inventory.isDicomDevice(o.server))
      this.defaultPort(o.server, o.tsMicros, flowKey(o.client, o.server));
  }

  private riskyService(
    ip: string,
    mac: string | null,
    port: number,
    ts: number,
    flow: string | null = null,
  ): void {
    const risky = RISKY_PORTS[port];
    if (!risky) return;
    if (this.config.policy.approvedPorts[ip]?.includes(port)) return;
    this.hit({
      rule: "net.risky-service",
      severity: risky.severity,
      device: this.id({ ip, mac }),
      peer: null,
      key: String(port),
      title: `${risky.name} (port ${port}) answers on DICOM device ${ip}`,
      ts,
      flow,
      details: { service: risky.name, port },
      signature: String(port),
    });
  }

  /**
   * "Used" (DICOM seen on 104) is raised at once. "Unused" (104 answers, DICOM seen only elsewhere) waits
   * for finish() (`settled`): a handshake on 104 comes before the first message of its association, and a
   * PACS serving DICOM on both 104 and 11112 must not be told that 104 is unused.
   */
  private defaultPort(server: Endpoint, ts: number, flow: string | null = null, settled = false): void {
    const ip = server.ip;
    if (this.config.policy.approvedPorts[ip]?.includes(104)) return;
    const dev = this.inventory.device(this.id(server));
    const dicomPorts = (dev?.dicomPorts as number[] | undefined) ?? [];
    const listening = this.inventory.listeningPortsOf(ip);
    const dicomOn104 = dicomPorts.includes(104);
    const elsewhere = dicomPorts.filter((p) => p !== 104);
    if (dicomOn104) this.pending104.delete(ip);
    if (!dicomOn104 && !(listening.includes(104) && elsewhere.length > 0)) return;
    const unused = !dicomOn104;
    if (unused && !settled) {
      if (!this.pending104.has(ip)) this.pending104.set(ip, { server, ts, flow });
      return;
    }
    this.hit({
      rule: "dicom.default-port",
      severity: unused ? "medium" : "low",
      device: this.id(server),
      peer: null,
      key: "104",
      title: unused
        ? `Port 104 is open on ${ip} but DICOM runs on port ${elsewhere.join(", ")}`
        : `DICOM is served on the default port 104 on ${ip}`,
      ts,
      flow,
      details: { dicomPorts, listeningPorts: listening },
      signature: unused ? "unused" : "used",
    });
  }

  // ---- association-level rules ----

  private association(o: AssociationObservation): void {
    const r = o.record;
    const flow = `${r.client}-${r.server}`;
    const ts = o.tsMicros;
    if (this.pendingMalformed.size > 0)
      this.resolveMalformed([flow, flowKey(o.client, o.server)], o.client, o.server);
    const calling = trimAe(r.callingAE);
    const called = trimAe(r.calledAE);
    const client = this.id(o.client);
    const server = this.id(o.server);
    const accepted =
      r.outcome !== "rejected" && (r.acceptor !== null || o.midStream || r.messages.length > 0);
    const rejected = r.outcome === "rejected";
    const reservedHeader =
      this.reservedFlows.has(flow) || this.reservedFlows.has(flowKey(o.client, o.server));
    const scanner = this.scanners.association(o, flow, calling, called, accepted, reservedHeader);
    const t = this.config.policy.thresholds;

    // dicom.ae-scan: bursts of rejects from one source, or many called AE titles tried on one server.
    if (rejected) {
      // The label is the whole request (calling AE, called AE, server): a modality retrying one rejected
      // request every half minute is misconfigured, not scanning, and must not be reported as an attack.
      const w = this.window(this.rejects, o.client.ip);
      const request = `${calling ?? ""}\u0000${called ?? ""}\u0000${o.server.ip}:${o.server.port}`;
      w.push(ts, request, o.server.ip, t.aeScanWindowSeconds * 1e6, t.aeScanRejects * 4);
      if (w.events.length >= t.aeScanRejects) {
        const distinct = new Set(w.events.map((e) => e.label)).size;
        const retries = distinct === 1;
        this.hit({
          rule: "dicom.ae-scan",
          severity: retries ? "low" : "high",
          device: client,
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
    }
    // Only refused called AE titles count: a workstation may rightly use five AEs of one PACS host.
    if (called && rejected) {
      const key = `${o.client.ip}>${o.server.ip}`;
      const w = this.window(this.calledTried, key);
      w.push(ts, called, o.server.ip, t.aeScanWindowSeconds * 1e6, t.aeScanDistinctCalledAEs * 8);
      const distinct = new Set(w.events.map((e) => e.label));
      if (distinct.size >= t.aeScanDistinctCalledAEs)
        this.hit({
          rule: "dicom.ae-scan",
          severity: "high",
          device: client,
          peer: server,
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

    // dicom.scanner: C-ECHO sweeps across hosts (verification-only associations, any outcome).
    const verificationOnly =
      r.presentationContexts.length > 0 &&
      r.presentationContexts.every((pc) => pc.abstractSyntax === VERIFICATION);
    if (verificationOnly) {
      // A PACS or a monitoring system that verifies its configured nodes every few minutes also "sweeps":
      // it knows their AE titles, so every association is accepted. A scanner guesses, and is refused.
      const w = this.window(this.echoes, o.client.ip);
      w.push(
        ts,
        accepted ? "" : "refused",
        o.server.ip,
        t.echoSweepWindowSeconds * 1e6,
        t.echoSweepHosts * 8,
      );
      const hosts = new Set(w.events.map((e) => e.target));
      if (hosts.size >= t.echoSweepHosts) {
        const refused = w.events.some((e) => e.label === "refused");
        this.hit({
          rule: "dicom.scanner",
          severity: refused ? "high" : "low",
          device: client,
          peer: null,
          key: "echo-sweep",
          title: refused
            ? `${o.client.ip} swept ${hosts.size} hosts with C-ECHO associations within ${t.echoSweepWindowSeconds} s, some of them refused`
            : `${o.client.ip} verified ${hosts.size} hosts with C-ECHO within ${t.echoSweepWindowSeconds} s, all accepted (a monitoring system, or a scanner that knows the AE titles)`,
          ts,
          flow,
          aeTitles: [calling],
          counts: { associations: 1 },
          details: { hosts: [...hosts].slice(0, MAX_LIST), refused },
          signature: refused ? "echo-sweep" : "echo-sweep-accepted",
        });
      }
    }

    this.externalPeer(o, flow, accepted, calling, called);

    // dicom.cleartext-credentials: the passcode (or token) crossed the wire whatever the outcome.
    const ui = r.userIdentity;
    if (ui && (ui.passcodePresent || ui.type >= 3)) {
      const kind =
        ui.type === 2 || ui.passcodePresent
          ? "passcode"
          : ui.type === 3
            ? "Kerberos ticket"
            : ui.type === 4
              ? "SAML assertion"
              : "JSON web token";
      this.hit({
        rule: "dicom.cleartext-credentials",
        severity: kind === "passcode" ? "high" : "medium",
        device: server,
        peer: client,
        key: `type-${ui.type}`,
        title: `A user identity ${kind} was sent in clear from ${o.client.ip} to ${o.server.ip}`,
        ts,
        flow,
        aeTitles: [calling, called],
        counts: { associations: 1 },
        details: { userIdentityType: ui.type, passcodePresent: ui.passcodePresent },
      });
    }

    if (accepted && !scanner) {
      const external = !this.isInternal(o.client.ip) || !this.isInternal(o.server.ip);
      this.hit({
        rule: "dicom.cleartext",
        severity: external ? "high" : "low",
        device: server,
        peer: client,
        key: "cleartext",
        title: external
          ? `DICOM in cleartext across the network boundary between ${o.client.ip} and ${o.server.ip}`
          : `DICOM in cleartext between ${o.client.ip} and ${o.server.ip}`,
        ts,
        flow,
        aeTitles: [calling, called],
        counts: { associations: 1, messages: r.messages.length },
      });
      this.vulnerable(o.client, r.requestor, ts, flow);
      this.vulnerable(o.server, r.acceptor, ts, flow);
    }
    // dicom.duplicate-ae-title: a scanner's titles are borrowed defaults, not the name of a node.
    if (!scanner)
      this.duplicates.association(o, flow, calling, called, accepted && !this.probes.promiscuous(o.server));
    if (accepted) {
      this.anyAeAccepted(o, flow, calling, called);
      this.defaultPortIfDicom(o.server, ts, flow);
    }

    const moves = this.pendingMoves.get(flowKey(o.client, o.server));
    if (moves) {
      this.pendingMoves.delete(flowKey(o.client, o.server));
      for (const m of moves) this.evaluateMove(m);
    }
  }

  private defaultPortIfDicom(server: Endpoint, ts: number, flow: string): void {
    const dev = this.inventory.device(this.id(server));
    const dicomPorts = (dev?.dicomPorts as number[] | undefined) ?? [];
    if (server.port === 104 || dicomPorts.length > 0) this.defaultPort(server, ts, flow);
  }

  private window(map: BoundedMap<string, Window>, key: string): Window {
    let w = map.get(key);
    if (!w) {
      w = new Window();
      map.set(key, w);
    }
    return w;
  }

  private externalPeer(
    o: AssociationObservation,
    flow: string,
    accepted: boolean,
    calling: string | null,
    called: string | null,
  ): void {
    const cIn = this.isInternal(o.client.ip);
    const sIn = this.isInternal(o.server.ip);
    const base = { rule: "dicom.external-peer" as const, ts: o.tsMicros, flow, aeTitles: [calling, called] };
    const counts = { associations: 1, accepted: accepted ? 1 : 0 };
    if (!cIn && sIn) {
      this.hit({
        ...base,
        severity: accepted ? "high" : "medium",
        device: this.id(o.server),
        peer: this.id(o.client),
        key: "inbound",
        title: accepted
          ? `${o.server.ip} accepted DICOM from external address ${o.client.ip}`
          : `External address ${o.client.ip} attempted DICOM to ${o.server.ip}`,
        counts,
      });
    } else if (cIn && !sIn) {
      this.hit({
        ...base,
        severity: accepted ? "medium" : "low",
        device: this.id(o.client),
        peer: this.id(o.server),
        key: "outbound",
        title: `${o.client.ip} ${accepted ? "sends" : "attempted"} DICOM to external address ${o.server.ip}`,
        counts,
      });
    } else if (!cIn && !sIn) {
      this.hit({
        ...base,
        severity: "low",
        device: this.id(o.server),
        peer: this.id(o.client),
        key: "both-external",
        title: `DICOM between external addresses ${o.client.ip} and ${o.server.ip} is visible on this network`,
        counts,
      });
    } else if (this.allowed.size > 0 && !this.allowed.has(o.client.ip)) {
      this.hit({
        ...base,
        severity: accepted ? "medium" : "low",
        device: this.id(o.server),
        peer: this.id(o.client),
        key: "not-allowed",
        title: `${o.client.ip} is not in the allowed peers but ${accepted ? "talks" : "attempted"} DICOM to ${o.server.ip}`,
        counts,
      });
    }
  }

  /**
   * dicom.any-ae-accepted: an SCP that accepted a called AE title that is not its own, or a calling AE title
   * that the site does not know for that caller. knownAeTitles says which AE titles each address uses; a
   * site may describe only some of its devices (often just the PACS), so a rule that treated every
   * unlisted caller as unknown would raise a medium for each modality of a site that listed only its
   * archive. The calling check therefore judges only what the policy speaks about:
   * - only servers whose own address has an entry: the site has described that SCP and what it should
   *   accept; for other SCPs nothing says which callers are theirs;
   * - a caller whose address has an entry must use one of the titles listed for that address (another
   *   title from a described host is a foreign application, or a misconfiguration);
   * - a caller whose address has no entry is judged only when it uses a title the policy gives to another
   *   address: an SCP that checks titles but not addresses then accepts an impersonator. Any other title
   *   from an undescribed host is not judged: the site has not said anything about it.
   */
  private anyAeAccepted(
    o: AssociationObservation,
    flow: string,
    calling: string | null,
    called: string | null,
  ): void {
    const policy = this.config.policy.knownAeTitles;
    const server = this.id(o.server);
    const own = policy[o.server.ip];
    if (called) {
      // Per listening port: one host often runs several AEs, each on its own port (an archive on 104 and
      // a second SCP on 11112); it is several called AE titles on one port that show "accepts anything".
      const service = `${o.server.ip}:${o.server.port}`;
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
        this.hit({
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
      this.hit({
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

  private vulnerable(
    ep: Endpoint,
    impl: AssociationObservation["record"]["requestor"],
    ts: number,
    flow: string,
  ): void {
    if (!impl) return;
    const tk = recogniseToolkit(impl.implementationClassUid, impl.implementationVersionName);
    if (!tk) return;
    const vulns = vulnerabilitiesOf(tk);
    if (vulns.length === 0) return;
    const cves = vulns.map((v) => v.cve);
    this.hit({
      rule: "dicom.vulnerable-implementation",
      severity: "medium",
      device: this.id(ep),
      peer: null,
      key: `${tk.name} ${tk.version ?? ""}`,
      title: `${ep.ip} runs ${tk.name} ${tk.version} with ${cves.length} known vulnerabilities`,
      ts,
      flow,
      counts: { associations: 1 },
      details: {
        implementationClassUid: impl.implementationClassUid,
        implementationVersionName: impl.implementationVersionName,
        toolkit: tk,
        cves: vulns.map((v) => ({ cve: v.cve, cvss: v.cvss, summary: v.summary, source: v.source })),
        note: "version as announced on the wire; vendors and distributions may have backported fixes",
      },
      signature: cves.join(","),
    });
  }

  // ---- DIMSE-level rules ----

  private dimse(o: DimseObservation): void {
    const m = o.message;
    const t = this.config.policy.thresholds;
    const flow = flowKey(o.client, o.server);
    if (this.pendingMalformed.size > 0)
      this.resolveMalformed([flow, bracketed(o.client, o.server)], o.client, o.server);
    if (m.command === "C-FIND-RQ" && o.direction === 0) this.universalQuery(o, flow);
    if (m.command === "C-FIND-RQ" && o.direction === 0 && isPatientOrStudyFind(m.sopClassUid)) {
      const key = `${o.client.ip}>${o.server.ip}`;
      const w = this.window(this.finds, key);
      w.push(o.tsMicros, "", o.server.ip, t.bulkQueryWindowSeconds * 1e6, t.bulkQueryFinds * 2);
      if (w.events.length >= t.bulkQueryFinds)
        this.hit({
          rule: "dicom.bulk-query",
          severity: "medium",
          device: this.id(o.client),
          peer: this.id(o.server),
          key: "volume",
          title: `${o.client.ip} sent ${w.events.length} patient/study C-FINDs to ${o.server.ip} within ${t.bulkQueryWindowSeconds} s`,
          ts: o.tsMicros,
          flow,
          aeTitles: [trimAe(o.callingAE), trimAe(o.calledAE)],
          counts: { finds: 1 },
          signature: "volume",
        });
    } else if (m.command === "C-FIND-RSP" && o.direction === 1) {
      const key = `${flow}#${m.messageIdBeingRespondedTo ?? ""}`;
      // Pending (0xFF00, 0xFF01) responses each carry one match (PS3.4 C.4.1.1.4); the final one ends the query.
      if (m.status === 0xff00 || m.status === 0xff01) {
        const n = (this.matches.get(key) ?? 0) + 1;
        this.matches.set(key, n);
        if (n === t.bulkQueryMatches)
          this.hit({
            rule: "dicom.bulk-query",
            severity: "medium",
            device: this.id(o.client),
            peer: this.id(o.server),
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
    } else if (m.command === "C-MOVE-RQ" && o.direction === 0 && m.moveDestination) {
      const dest = m.moveDestination.trim();
      if (!dest) return;
      let list = this.pendingMoves.get(flow);
      if (!list) {
        list = [];
        this.pendingMoves.set(flow, list);
      }
      if (list.length < 64 && !list.some((p) => p.dest === dest))
        list.push({
          dest,
          callingAE: trimAe(o.callingAE),
          client: o.client,
          server: o.server,
          flow,
          ts: o.tsMicros,
        });
    }
  }

  /**
   * dicom.bulk-query for one C-FIND-RQ with universal matching (PS3.4 C.2.2.2.3) at the PATIENT or STUDY
   * level: every key empty or "*", so the answer lists every patient or study the SCP holds. The level
   * decides, not the information model (a vendor's private Q/R model at those levels leaks as much); only
   * Modality Worklist is left out, where modalities routinely ask for the whole worklist (PS3.4 Annex K)
   * and which has no Query/Retrieve Level anyway.
   */
  private universalQuery(o: DimseObservation, flow: string): void {
    const q = o.query;
    if (!q || q.matchingKeys !== 0 || o.message.sopClassUid === MODALITY_WORKLIST_FIND) return;
    const level = q.level?.trim().toUpperCase() ?? "";
    if (level !== "PATIENT" && level !== "STUDY") return;
    const external = !this.isInternal(o.client.ip) || !this.isInternal(o.server.ip);
    const calling = trimAe(o.callingAE);
    const called = trimAe(o.calledAE);
    this.hit({
      rule: "dicom.bulk-query",
      severity: external ? "high" : "medium",
      device: this.id(o.client),
      peer: this.id(o.server),
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

  /**
   * Evaluated when the C-MOVE's association ends (its sub-association to the destination has been seen
   * by then) or at finish(). Known: listed in the policy's AE titles, or — without a policy — seen on the
   * network as a device's AE title; or the requestor moving to itself (the ordinary retrieve: the images go
   * back to who asked, not to a third party) unless the policy describes the requestor's address without
   * that title. The self-move holds with a policy for other hosts too: a site that lists only its PACS
   * would otherwise see every workstation's retrieve as a medium finding.
   */
  private evaluateMove(m: PendingMove): void {
    const policy = this.config.policy.knownAeTitles;
    const selfMove = m.dest === m.callingAE && !policy[m.client.ip];
    const known =
      selfMove || (this.knownAll.size > 0 ? this.knownAll.has(m.dest) : this.inventory.hasAeTitle(m.dest));
    if (known) return;
    this.hit({
      rule: "dicom.unknown-move-destination",
      severity: "medium",
      device: this.id(m.server),
      peer: this.id(m.client),
      key: m.dest,
      title: `${m.client.ip} asked ${m.server.ip} to C-MOVE to unknown AE title "${m.dest}"`,
      ts: m.ts,
      flow: m.flow,
      aeTitles: [m.callingAE, m.dest],
      counts: { moves: 1 },
      details: { moveDestination: m.dest },
    });
  }

  // ---- TLS and anomalies ----

  private tls(o: TlsObservation): void {
    const ip = o.server.ip;
    for (const k of [flowKey(o.client, o.server), bracketed(o.client, o.server)]) {
      this.tlsFlows.set(k, true);
      const pending = this.pendingMalformed.get(k);
      if (pending) {
        const rest = pending.filter((a) => a.code !== NOT_DICOM);
        if (rest.length > 0) this.pendingMalformed.set(k, rest);
        else this.pendingMalformed.delete(k);
      }
    }
    // Encrypted DICOM cannot be told from HTTPS by its bytes: judge TLS on the DICOM ports only, so a
    // PACS's self-signed web interface on 443 is not reported as weak DICOM TLS. A NULL cipher shows its
    // bytes: DICOM decoded from it is DICOM TLS on whatever port.
    if (!DICOM_TLS_PORTS.has(o.server.port) && o.plaintextDicom !== true) return;
    const problems: string[] = [];
    let severity: Severity = "low";
    const raise = (s: Severity): void => {
      if (SEVERITY_RANK[s] > SEVERITY_RANK[severity]) severity = s;
    };
    // The suite: NULL, anonymous and EXPORT suites give no real protection (high); RC4 (RFC 7465), DES and
    // 3DES (Sweet32) are broken or deprecated (medium). Its IANA name says which (tls/suites.ts).
    const suite = o.cipherSuite ?? null;
    const t = suiteTraits(suite ?? "");
    if (o.plaintext === true || t.nullCipher) {
      problems.push(
        o.plaintextDicom === true
          ? `NULL cipher: DICOM readable on the wire (${suite})`
          : `NULL cipher: no encryption (${suite})`,
      );
      raise("high");
    }
    if (t.anonymous) {
      problems.push(`anonymous key exchange, the server is not authenticated (${suite})`);
      raise("high");
    }
    if (t.export) {
      problems.push(`export-grade cipher suite (${suite})`);
      raise("high");
    }
    if (t.rc4 || t.des || t.tripleDes) {
      problems.push(`${t.rc4 ? "RC4" : t.tripleDes ? "3DES" : "DES"} cipher (${suite})`);
      raise("medium");
    }
    const v = o.version;
    if (v && /^SSL/.test(v)) {
      problems.push(`${v} (broken)`);
      raise("high");
    } else if (v === "TLS 1.0" || v === "TLS 1.1") {
      problems.push(`${v} is below TLS 1.2`);
      raise("medium");
    }
    const c = o.certificate;
    if (c) {
      const now = Math.floor(o.tsMicros / 1000);
      const notAfter = Date.parse(c.notAfter);
      const notBefore = Date.parse(c.notBefore);
      if (Number.isFinite(notAfter) && notAfter < now) {
        problems.push(`certificate expired on ${new Date(notAfter).toISOString().slice(0, 10)}`);
        raise("medium");
      }
      if (Number.isFinite(notBefore) && notBefore > now) {
        problems.push("certificate not yet valid");
        raise("medium");
      }
      // NIST SP 800-57 / BSI TR-02102: RSA and DSA keys below 2048 bits no longer protect anything.
      const bits = c.keyBits ?? null;
      const rsaOrDsa = c.keyType === "rsa" || c.keyType === "rsa-pss" || c.keyType === "dsa";
      if (rsaOrDsa && bits !== null && bits < 2048) {
        problems.push(`${bits}-bit ${c.keyType === "dsa" ? "DSA" : "RSA"} key`);
        raise("medium");
      }
      if (c.selfSigned) problems.push("self-signed certificate");
    }
    if (problems.length === 0) return;
    // One finding per server port: the reasons of every handshake seen there are kept together, so clients
    // that negotiate differently do not make the finding's evidence flap (signature = the reasons).
    const device = this.id(o.server);
    const key = String(o.server.port);
    // The key hit() files the finding under (rule, device, no peer, key).
    const prior = this.byKey.get(["tls.weak", device, "", key].join("\u0000"))?.record.evidence.problems;
    const reasons = Array.isArray(prior) ? (prior as string[]).slice(0, 16) : [];
    for (const p of problems) if (!reasons.includes(p) && reasons.length < 16) reasons.push(p);
    this.hit({
      rule: "tls.weak",
      severity,
      device,
      peer: null,
      key,
      title: `Weak DICOM TLS on ${ip}:${o.server.port}: ${reasons.join(", ")}`,
      ts: o.tsMicros,
      flow: flowKey(o.client, o.server),
      counts: { handshakes: 1 },
      details: {
        version: v,
        cipherSuite: suite,
        plaintext: o.plaintext === true || t.nullCipher,
        plaintextDicom: o.plaintextDicom === true,
        certificate: c
          ? {
              subject: c.subject,
              issuer: c.issuer,
              notBefore: c.notBefore,
              notAfter: c.notAfter,
              selfSigned: c.selfSigned,
              keyType: c.keyType ?? null,
              keyBits: c.keyBits ?? null,
            }
          : null,
        problems: reasons,
      },
      signature: reasons.join("|"),
    });
  }

  private anomaly(o: AnomalyObservation): void {
    if (o.layer !== "ul" && o.layer !== "dimse") return;
    if (o.code === HEADER_RESERVED_CODE) {
      this.reservedFlows.set(o.flow, true);
      if (o.client && o.server) this.reservedFlows.set(flowKey(o.client, o.server), true);
    }
    // PS3.8 §9.3.1: receivers ignore reserved fields, and DCMTK itself fills one with 0xFF, so a non-zero
    // reserved field is a fingerprint (above), not a malformed PDU.
    if (o.code.includes("reserved") || CAPTURE_ARTIFACTS.has(o.code)) return;
    if (o.code === NOT_DICOM && this.tlsFlows.has(o.flow)) return;
    if (o.client && o.server) {
      this.malformed(o, o.client, o.server);
      return;
    }
    // The pipeline reports anomalies by flow only; the endpoints (and MACs, hence device ids) become
    // known with the flow's association or DIMSE observations, or are parsed from the flow at finish().
    let list = this.pendingMalformed.get(o.flow);
    if (!list) {
      list = [];
      this.pendingMalformed.set(o.flow, list);
    }
    if (list.length < 64) list.push(o);
  }

  private resolveMalformed(flows: string[], client: Endpoint, server: Endpoint): void {
    for (const f of flows) {
      const list = this.pendingMalformed.get(f);
      if (!list) continue;
      this.pendingMalformed.delete(f);
      for (const a of list) this.malformed(a, client, server);
    }
  }

  private malformed(o: AnomalyObservation, client: Endpoint, server: Endpoint): void {
    const notDicom = o.code === NOT_DICOM;
    if (notDicom && this.tlsFlows.has(o.flow)) return;
    this.hit({
      rule: "dicom.malformed",
      severity: SEVERE_MALFORMED.has(o.code) ? "medium" : "low",
      device: this.id(server),
      peer: this.id(client),
      key: o.code,
      title: notDicom
        ? `A protocol other than DICOM from ${client.ip} on DICOM port ${server.port} of ${server.ip}`
        : // The anomaly does not say which side sent the bad PDU (an A-ASSOCIATE-AC comes from the server).
          `Malformed DICOM (${o.code}) between ${client.ip} and ${server.ip}:${server.port}`,
      ts: o.tsMicros,
      flow: o.flow || null,
      counts: { [o.code]: 1 },
      details: { code: o.code, layer: o.layer },
      signature: o.code,
    });
  }
}

/** "a.b.c.d:p-e.f.g.h:q" or "[v6]:p-[v6]:q" → the endpoints (without MAC). */
function parseFlow(flow: string): [Endpoint, Endpoint] | null {
  const m = /^\[?([^\]]+?)\]?:(\d+)-\[?([^\]]+?)\]?:(\d+)$/.exec(flow);
  if (!m) return null;
  return [
    { ip: m[1]!, port: Number(m[2]), mac: null },
    { ip: m[3]!, port: Number(m[4]), mac: null },
  ];
}

/** The flow as ConnectionInfo spells it: IPv6 addresses in brackets. */
function bracketed(client: Endpoint, server: Endpoint): string {
  const hp = (e: Endpoint): string => (e.ip.includes(":") ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);
  return `${hp(client)}-${hp(server)}`;
}
