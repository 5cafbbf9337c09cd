/**
 * The baseline (issue 13): while the learning window is open (policy.learning.days of capture time from the
 * first observation), the site's clinical traffic is folded into a BaselineLearner; after it, departures from
 * what was learned are findings:
 * - baseline.new-peer: a peer address or calling AE title not in the baseline uses a learned service, or any
 *   peer uses a service (port and called AE title, PS3.8 §7.1.1.3–4) not learned on a device that was;
 * - baseline.new-service: a learned device answers on a port it never listened on (a SYN-ACK, or data sent
 *   as the server), or opens a session to a server endpoint it never used;
 * - baseline.new-operation: a learned peer sends a DIMSE request it never sent on that service (PS3.7 §9,
 *   §10: a modality that only stored starts C-FIND or C-MOVE), or a C-MOVE names a Move Destination
 *   (PS3.7 §9.3.4.1) it never named: the images would go somewhere new.
 * Clinical traffic: accepted associations that the scanner rule (which runs first) did not attribute to a
 * scanner and whose called AE title is no generic probe value, TLS connections to DICOM ports, and the TCP
 * sessions that show which ports are used. A scanner's traffic has its own findings, and teaches nothing.
 *
 * Departures are judged only against a baseline that holds something: one learned by a window that closed, or
 * a stored or imported one (load()). Where a cap of the learner turned entries away, a missing entry proves
 * nothing and is not reported (learner.incomplete).
 *
 * Severity:
 * - new-peer: high when the peer is outside the internal networks (a new way in from outside, or out); medium
 *   for a new internal address; low when only the calling AE title is new for an address the service knew
 *   (a re-configured node, or a title borrowed by a known host: dicom.duplicate-ae-title tells which).
 * - new-service: medium for a new listening port (a service enabled or a remote-access tool installed on an
 *   imaging device), high when its client is external; low for a new server used, medium when that server is
 *   external.
 * - new-operation: medium for queries and retrievals (C-FIND, C-MOVE, C-GET: reading studies out, what a
 *   compromised or misused node does first) and for a C-MOVE to a new destination; low for the rest (C-ECHO,
 *   C-STORE, worklist, MPPS, storage commitment); high when the peer is external.
 *
 * Storms: more than policy.learning.burst.count distinct departures of one rule within burst.minutes fold
 * into one finding per burst (device and peer null, key "burst:START") whose evidence counts them and lists
 * the first MAX_LIST, until burst.minutes pass without one (a PACS migration re-points every modality at
 * once). Quiet periods (policy.learning.quietPeriods): departures in them are learned, not raised.
 * Peers and operations listed in policy.services are no departures.
 * Points to: allowlists, firewall (DESIGN.md §5).
 */
import { BaselineLearner, isDicomTls, type PendingOp } from "../../baseline/learner.js";
import type { BaselineDocument, BaselineStatus, Operation } from "../../baseline/types.js";
import type { Config } from "../../config/types.js";
import type { ConnectionObservation, DimseObservation, TlsObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { formatEndpoint, formatFlow } from "../../util/flow.js";
import { isoFromMicros as iso } from "../../util/time.js";
import { BoundedMap } from "../bounded.js";
import type { Hit } from "../catalogue.js";
import { compareSeverity, type Severity } from "../severity.js";
import { MAX_LIST, MAX_TRACKED, type AssociationEvent, type Rule, type RuleContext } from "./context.js";
import { probeCalledAE } from "./tables.js";

const DAY_MICROS = 86_400_000_000;
const MINUTE_MICROS = 60_000_000;
/** Entries of what the baseline had, listed in a departure's evidence. */
const MAX_KNOWN = 16;

type DepartureRule = "baseline.new-peer" | "baseline.new-service" | "baseline.new-operation";

/** A departure as raised on its own: a Hit of one of the three rules, with device and peer set. */
type Departure = Hit & { rule: DepartureRule };

/** The burst of one rule: distinct departures within burst.minutes of each other. */
interface Burst {
  /** Capture times of the latest distinct departures (at most burst.count + 1), while no burst is open. */
  recent: number[];
  /** The open burst, folding every departure of the rule until burst.minutes pass without one. */
  open: {
    key: string;
    start: number;
    last: number;
    severity: Severity;
    distinct: number;
    listed: Record<string, unknown>[];
  } | null;
}

const QUERY_OR_RETRIEVE: ReadonlySet<Operation> = new Set(["C-FIND", "C-MOVE", "C-GET"]);

export class BaselineRule implements Rule {
  readonly ids = ["baseline.new-peer", "baseline.new-service", "baseline.new-operation"] as const;
  readonly learner: BaselineLearner;
  /** Capture time the learning window opened (micros; 0 until the first observation). */
  windowStart = 0;
  /** Learning stopped for good: the window closed, or a learned or approved baseline was loaded. */
  private frozen = false;
  /** A baseline was loaded (restored or imported): departures are judged against it even if it is empty. */
  private loaded = false;
  /** Status and approval of the loaded document (null: none loaded). */
  private loadedStatus: BaselineStatus | null = null;
  approved: BaselineDocument["approved"] = null;
  /** The quiet periods, in capture micros. */
  private readonly quiet: { from: number; to: number; reason: string }[];
  /** policy.services by "ip|port". */
  private readonly allow = new Map<string, Config["policy"]["services"]>();
  private readonly bursts = new Map<DepartureRule, Burst>();
  /** Each departure raised: on its own ("single") or folded into its rule's open burst (the burst's key). */
  private readonly raised = new BoundedMap<string, string>(MAX_TRACKED);
  /** Departures learned inside a quiet period instead of raised (for the log and tests). */
  quietLearned = 0;
  /** Bumped whenever the learner took something in: the agent saves the document when it moved. */
  changes = 0;

  constructor(private readonly ctx: RuleContext) {
    this.learner = new BaselineLearner((ip) => ctx.isInternal(ip));
    const l = ctx.config.policy.learning;
    this.quiet = l.quietPeriods.map((q) => ({
      from: Date.parse(q.from) * 1000,
      to: Date.parse(q.to) * 1000,
      reason: q.reason,
    }));
    for (const s of ctx.config.policy.services) {
      const k = `${s.ip}|${s.port}`;
      this.allow.set(k, [...(this.allow.get(k) ?? []), s]);
    }
  }

  /** Whether traffic at `ts` is still learned. */
  learning(ts: number): boolean {
    if (this.frozen) return false;
    if (this.windowStart === 0) this.windowStart = ts;
    const days = this.ctx.config.policy.learning.days;
    if (ts - this.windowStart < days * DAY_MICROS) return true;
    this.frozen = true;
    return false;
  }

  /** The learning window's end (micros), or null while it has no start. */
  windowEnd(): number | null {
    return this.windowStart === 0
      ? null
      : this.windowStart + this.ctx.config.policy.learning.days * DAY_MICROS;
  }

  /** Stops learning (an approved baseline was loaded, or the stored one had closed its window). */
  freeze(): void {
    this.frozen = true;
  }

  get closed(): boolean {
    return this.frozen;
  }

  /** Where the baseline stands: an approved one stays approved; else learning until the window closes. */
  get status(): BaselineStatus {
    if (this.loadedStatus === "approved") return "approved";
    return this.frozen ? "learned" : "learning";
  }

  /**
   * Takes up a stored or imported document: its tables, its window's start (a restarted agent keeps the
   * window it opened), its approval. A learned or approved document is frozen; one still learning goes on
   * learning until its window (with today's policy.learning.days) closes.
   */
  load(doc: BaselineDocument): void {
    this.learner.load(doc);
    this.loaded = true;
    this.loadedStatus = doc.status;
    this.approved = doc.approved;
    const start = doc.window.start === null ? NaN : Date.parse(doc.window.start);
    if (Number.isFinite(start)) this.windowStart = start * 1000;
    if (doc.status !== "learning") this.frozen = true;
  }

  /** Departures are judged: the window closed (or a document was loaded frozen) and there is a baseline. */
  private get judging(): boolean {
    return this.frozen && (this.loaded || !this.learner.empty);
  }

  /** The quiet period `ts` falls in, or null. */
  private quietAt(ts: number): { reason: string } | null {
    for (const q of this.quiet) if (ts >= q.from && ts < q.to) return q;
    return null;
  }

  /** After the window: learn (quiet period) or judge. False: neither (not judging). */
  private afterWindow(ts: number): "learn" | "judge" | null {
    if (this.quietAt(ts) !== null) {
      if (!this.judging) return null;
      return "learn";
    }
    return this.judging ? "judge" : null;
  }

  // ── observations ─────────────────────────────────────────────────────────────────────────────────

  onConnection(o: ConnectionObservation): void {
    if (this.learning(o.tsMicros)) {
      this.learner.connection(o);
      this.changes++;
      return;
    }
    if (o.handshake === "rst" || o.handshake === "mid-stream") return;
    const mode = this.afterWindow(o.tsMicros);
    if (mode === null) return;
    const listens = this.newListeningPort(o);
    const uses = o.handshake === "served" && this.newUse(o);
    if (!listens && !uses) return;
    if (mode === "learn") {
      this.quietLearned++;
      this.learner.connection(o);
      this.changes++;
      return;
    }
    if (listens) this.departListening(o);
    if (uses) this.departUse(o);
  }

  onDimse(o: DimseObservation): void {
    // Operations wait for the association's end (the scanner rule's verdict) in the learner's bounded table,
    // during the window and after it.
    if (this.learning(o.tsMicros) || this.judging) this.learner.dimse(o, formatFlow(o.client, o.server));
  }

  onAssociation(a: AssociationEvent): void {
    const u = a.o.record.userIdentity;
    const clinical = a.accepted && !a.scanner && probeCalledAE(a.called) === null;
    const learned = {
      client: a.o.client,
      server: a.o.server,
      flow: a.flow,
      start: a.o.record.startMicros,
      ts: a.ts,
      calling: a.calling,
      called: a.called,
      credentials: u !== null && (u.passcodePresent || u.username !== null),
    };
    if (this.learning(a.ts)) {
      this.learner.association(learned, clinical);
      if (clinical) this.changes++;
      return;
    }
    const ops = this.learner.takePending(a.flow);
    if (!clinical) return;
    const mode = this.afterWindow(a.ts);
    if (mode === null) return;
    const found = this.judgeAssociation(a, ops, mode === "judge");
    if (mode === "learn" && found) {
      this.quietLearned++;
      this.learner.learnAssociation(learned, ops);
      this.changes++;
    }
  }

  onTls(o: TlsObservation): void {
    const dicomHost = this.ctx.inventory.isDicomDevice(o.server);
    if (this.learning(o.tsMicros)) {
      this.learner.tls(o, dicomHost);
      if (isDicomTls(o, dicomHost)) this.changes++;
      return;
    }
    if (!isDicomTls(o, dicomHost)) return;
    const mode = this.afterWindow(o.tsMicros);
    if (mode === null) return;
    const s = o.server;
    const found = this.judgePeer(
      {
        server: s,
        client: o.client,
        called: null,
        calling: null,
        ts: o.tsMicros,
        flow: formatFlow(o.client, s),
      },
      [],
      mode === "judge",
    );
    if (mode === "learn" && found) {
      this.quietLearned++;
      this.learner.tls(o, dicomHost);
      this.changes++;
    }
  }

  // ── judging ──────────────────────────────────────────────────────────────────────────────────────

  /** A SYN-ACK or served data on a port the learned device was not learned listening on. */
  private newListeningPort(o: ConnectionObservation): boolean {
    const ip = o.server.ip;
    return (
      this.learner.hasDevice(ip) &&
      !this.learner.hasListeningPort(ip, o.server.port) &&
      !this.learner.incomplete("ports", ip)
    );
  }

  /** A session from a learned device to a server endpoint it was not learned using. */
  private newUse(o: ConnectionObservation): boolean {
    const ip = o.client.ip;
    return (
      this.learner.hasDevice(ip) &&
      !this.learner.uses(ip, formatEndpoint(o.server)) &&
      !this.learner.incomplete("uses", ip)
    );
  }

  private departListening(o: ConnectionObservation): void {
    const external = !this.ctx.isInternal(o.client.ip);
    const known = this.learner.listeningPorts(o.server.ip);
    this.depart({
      rule: "baseline.new-service",
      severity: external ? "high" : "medium",
      device: this.ctx.id(o.server),
      peer: null,
      key: `listening:${o.server.port}`,
      title: `${o.server.ip} answers on port ${o.server.port}, which it did not listen on in the baseline${external ? ` (client ${o.client.ip} is external)` : ""}`,
      ts: o.tsMicros,
      flow: formatFlow(o.client, o.server),
      counts: { connections: 1 },
      details: {
        direction: "listening",
        device: o.server.ip,
        port: o.server.port,
        client: o.client.ip,
        clientInternal: !external,
        handshake: o.handshake,
        baseline: { listeningPorts: known.slice(0, MAX_KNOWN), listeningPortCount: known.length },
      },
      signature: `listening:${o.server.port}`,
    });
  }

  private departUse(o: ConnectionObservation): void {
    const external = !this.ctx.isInternal(o.server.ip);
    const server = formatEndpoint(o.server);
    const known = this.learner.usesOf(o.client.ip);
    this.depart({
      rule: "baseline.new-service",
      severity: external ? "medium" : "low",
      device: this.ctx.id(o.client),
      peer: this.ctx.id(o.server),
      key: `uses:${server}`,
      title: `${o.client.ip} opened a session to ${server}, a service it did not use in the baseline${external ? " (external)" : ""}`,
      ts: o.tsMicros,
      flow: formatFlow(o.client, o.server),
      counts: { sessions: 1 },
      details: {
        direction: "uses",
        device: o.client.ip,
        server,
        serverInternal: !external,
        baseline: { uses: known.slice(0, MAX_KNOWN), useCount: known.length },
      },
      signature: `uses:${server}`,
    });
  }

  /**
   * An ended clinical association: new peer, or else new operations. Returns whether anything departed (a
   * quiet period then learns it); `raise`: false inside a quiet period.
   */
  private judgeAssociation(a: AssociationEvent, ops: readonly PendingOp[], raise: boolean): boolean {
    const who = {
      server: a.o.server,
      client: a.o.client,
      called: a.called,
      calling: a.calling,
      ts: a.ts,
      flow: a.flow,
    };
    if (this.learner.hasPeer(who.server.ip, who.server.port, who.called, who.client.ip, who.calling))
      return this.judgeOperations(who, ops, raise);
    return this.judgePeer(who, ops, raise);
  }

  /** A peer (or a service) not in the baseline. Returns whether it departed. */
  private judgePeer(who: Who, ops: readonly PendingOp[], raise: boolean): boolean {
    const { server: s, client: c } = who;
    const l = this.learner;
    if (!l.hasDevice(s.ip)) return false; // a new device: inventory.new-device says so
    const serviceKnown = l.hasService(s.ip, s.port, who.called);
    if (!serviceKnown && l.incomplete("services")) return false;
    if (serviceKnown && l.hasPeer(s.ip, s.port, who.called, c.ip, who.calling)) return false;
    if (serviceKnown && l.incomplete("peers", s.ip, s.port, who.called)) return false;
    if (this.allowed(who, null)) return false;
    if (!raise) return true;
    const external = !this.ctx.isInternal(c.ip);
    const peers = l.servicePeers(s.ip, s.port, who.called);
    const knownAddress = peers.some((p) => p === c.ip || p.startsWith(c.ip + " "));
    const severity: Severity = external ? "high" : serviceKnown && knownAddress ? "low" : "medium";
    const service = `${s.ip}:${s.port}${who.called !== null ? ` (${who.called})` : ""}`;
    const peer = `${c.ip}${who.calling !== null ? ` (${who.calling})` : ""}`;
    const services = l.servicesOf(s.ip);
    this.depart({
      rule: "baseline.new-peer",
      severity,
      device: this.ctx.id(s),
      peer: this.ctx.id(c),
      key: `${s.port}|${who.called ?? ""}|${who.calling ?? ""}`,
      title: serviceKnown
        ? `${peer} used ${service}, which did not have this peer in the baseline${external ? " (external)" : ""}`
        : `${peer} used ${service}, a service not in the baseline of ${s.ip}${external ? " (external)" : ""}`,
      ts: who.ts,
      flow: who.flow,
      aeTitles: [who.calling, who.called],
      counts: { associations: 1 },
      details: {
        service: { ip: s.ip, port: s.port, aeTitle: who.called },
        peer: { ip: c.ip, aeTitle: who.calling, internal: !external },
        operations: [...new Set(ops.map((p) => p.op))].sort(),
        baseline: serviceKnown
          ? { serviceLearned: true, peers: peers.slice(0, MAX_KNOWN), peerCount: peers.length }
          : { serviceLearned: false, services: services.slice(0, MAX_KNOWN), serviceCount: services.length },
      },
      signature: `${severity}`,
    });
    return true;
  }

  /** A known peer's operations: each one never seen, and C-MOVEs to destinations never named. */
  private judgeOperations(who: Who, ops: readonly PendingOp[], raise: boolean): boolean {
    const { server: s, client: c } = who;
    const l = this.learner;
    let found = false;
    for (const p of ops) {
      const knownOp = l.hasOperation(s.ip, s.port, who.called, c.ip, who.calling, p.op);
      const newDest =
        knownOp &&
        p.op === "C-MOVE" &&
        p.dest !== null &&
        !l.hasMoveDestination(s.ip, s.port, who.called, c.ip, who.calling, p.dest);
      if (knownOp && !newDest) continue;
      if (this.allowed(who, p.op)) continue;
      found = true;
      if (!raise) continue;
      const external = !this.ctx.isInternal(c.ip);
      const severity: Severity = external
        ? "high"
        : QUERY_OR_RETRIEVE.has(p.op) || newDest
          ? "medium"
          : "low";
      const learned = l.peerOperations(s.ip, s.port, who.called, c.ip, who.calling);
      const service = `${s.ip}:${s.port}${who.called !== null ? ` (${who.called})` : ""}`;
      const peer = `${c.ip}${who.calling !== null ? ` (${who.calling})` : ""}`;
      this.depart({
        rule: "baseline.new-operation",
        severity,
        device: this.ctx.id(s),
        peer: this.ctx.id(c),
        key: newDest
          ? `${s.port}|${who.called ?? ""}|C-MOVE>${p.dest}`
          : `${s.port}|${who.called ?? ""}|${p.op}`,
        title: newDest
          ? `${peer} asked ${service} to C-MOVE to "${p.dest}", a destination not in the baseline`
          : `${peer} started ${p.op} on ${service}, an operation not in the baseline for this peer`,
        ts: p.ts > 0 ? p.ts : who.ts,
        flow: who.flow,
        aeTitles: [who.calling, who.called, ...(p.dest !== null ? [p.dest] : [])],
        counts: { associations: 1 },
        details: {
          service: { ip: s.ip, port: s.port, aeTitle: who.called },
          peer: { ip: c.ip, aeTitle: who.calling, internal: !external },
          operation: p.op,
          ...(p.dest !== null ? { moveDestination: p.dest } : {}),
          baseline: { operations: learned },
        },
        signature: `${severity}`,
      });
    }
    return found;
  }

  /** Whether policy.services lists this peer for the service (and, with an operation, that operation). */
  private allowed(who: Who, op: Operation | null): boolean {
    const entries = this.allow.get(`${who.server.ip}|${who.server.port}`);
    if (entries === undefined) return false;
    return entries.some(
      (s) =>
        (s.aeTitle === null || s.aeTitle === who.called) &&
        s.peers.some(
          (p) =>
            p.ip === who.client.ip &&
            (p.aeTitle === null || p.aeTitle === who.calling) &&
            (op === null || p.operations.length === 0 || p.operations.includes(op)),
        ),
    );
  }

  // ── raising, with the storm guard ────────────────────────────────────────────────────────────────

  private depart(d: Departure): void {
    const id = `${d.rule}\u0000${d.device ?? ""}\u0000${d.peer ?? ""}\u0000${d.key}`;
    const where = this.raised.get(id);
    if (where === "single") return this.ctx.hit(d);
    const b = this.burstOf(d.rule);
    if (where !== undefined) {
      // A repeat of a departure folded into a burst: counted there if that burst is still the open one.
      if (b.open !== null && b.open.key === where) this.fold(d, b, false);
      return;
    }
    const { count, minutes } = this.ctx.config.policy.learning.burst;
    const window = minutes * MINUTE_MICROS;
    if (b.open !== null && d.ts - b.open.last > window) b.open = null;
    if (b.open === null) {
      b.recent = b.recent.filter((t) => d.ts - t <= window);
      b.recent.push(d.ts);
      if (b.recent.length <= count) {
        this.raised.set(id, "single");
        return this.ctx.hit(d);
      }
      b.recent = [];
      b.open = {
        key: `burst:${iso(d.ts)}`,
        start: d.ts,
        last: d.ts,
        severity: d.severity,
        distinct: 0,
        listed: [],
      };
    }
    this.raised.set(id, b.open.key);
    this.fold(d, b, true);
  }

  private burstOf(rule: DepartureRule): Burst {
    let b = this.bursts.get(rule);
    if (b === undefined) {
      b = { recent: [], open: null };
      this.bursts.set(rule, b);
    }
    return b;
  }

  /** One departure into the open burst's finding: a new one is counted and listed, a repeat counted. */
  private fold(d: Departure, b: Burst, fresh: boolean): void {
    const open = b.open!;
    if (d.ts > open.last) open.last = d.ts;
    if (compareSeverity(d.severity, open.severity) > 0) open.severity = d.severity;
    if (fresh) {
      open.distinct++;
      if (open.listed.length < MAX_LIST)
        open.listed.push({
          title: d.title,
          severity: d.severity,
          key: d.key,
          flow: d.flow ?? null,
          firstSeen: iso(d.ts),
          ...(d.details ?? {}),
        });
    }
    const { count, minutes } = this.ctx.config.policy.learning.burst;
    const kind = d.rule.slice("baseline.".length);
    this.ctx.hit({
      rule: d.rule,
      severity: open.severity,
      device: null,
      peer: null,
      key: open.key,
      title: `${open.distinct} ${kind} departures from the baseline since ${iso(open.start)} (more than ${count} within ${minutes} minutes: one finding)`,
      ts: d.ts,
      flow: d.flow ?? null,
      aeTitles: d.aeTitles ?? [],
      counts: fresh ? { departures: 1, ...(d.counts ?? {}) } : (d.counts ?? {}),
      details: {
        burst: { start: iso(open.start), threshold: count, minutes },
        departures: open.listed,
        departuresNotListed: open.distinct - open.listed.length,
      },
      // Announced again when the count of distinct departures reaches the next power of two: a burst of
      // 1 000 new peers is a dozen messages, not a thousand.
      signature: `${open.severity}|${Math.floor(Math.log2(Math.max(1, open.distinct)))}`,
    });
  }
}

/** The two ends and titles of what is judged (an association, or a TLS connection without titles). */
interface Who {
  server: Endpoint;
  client: Endpoint;
  called: string | null;
  calling: string | null;
  ts: number;
  flow: string;
}
