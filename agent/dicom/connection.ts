/**
 * The DICOM handler of one TCP connection: finds DICOM by content (any port), frames PDUs in both
 * directions (ul/framer.ts), keeps the association state of PS3.8 §7.1 (request, accept/reject, release,
 * abort; several associations in turn on one connection), hands PDVs to the DIMSE layer, and emits
 * observations: "association" when one ends, "dimse" per message, "equipment" per dataset that names it.
 *
 * Roles: the A-ASSOCIATE-RQ sender is the requestor (PS3.8 §9.1.1: the requestor opens the TCP
 * connection). When a connection was picked up mid-stream, the reassembler's client guess is replaced by
 * what the PDUs show.
 */
import { FlowAnomalies, type AnomalyCode, type AnomalySink } from "../util/anomaly.js";
import type { CloseReason, ConnectionInfo, Direction, Endpoint, StreamHandler } from "../reassembly/types.js";
import type { ObservationSink } from "../observations/types.js";
import type {
  AssociationState,
  DatasetStop,
  DimseMessageRecord,
  ImplementationInfo,
  PresentationContextRecord,
  PresentationContextResult,
} from "../report/types.js";
import type {
  DicomStats,
  DimseContext,
  DimseEvents,
  EquipmentAttributes,
  PdvConsumer,
  PresentationContextLookup,
  QueryInfo,
} from "./types.js";
import type { Counters } from "../util/anomaly.js";
import { formatEndpoint } from "../util/flow.js";
import { DETECT_SCAN_BUDGET, PduFramer, RESYNC_SCAN_BUDGET, type PduSink } from "./ul/framer.js";
import {
  decodeAbort,
  decodeAssociatePdu,
  decodeAssociateRj,
  decodeRelease,
  PDU_ABORT,
  PDU_ASSOCIATE_AC,
  PDU_ASSOCIATE_RJ,
  PDU_ASSOCIATE_RQ,
  PDU_RELEASE_RP,
  PDU_RELEASE_RQ,
  type AssociatePdu,
  type UlIssues,
  type UserInformation,
  UidInterner,
} from "./ul/pdu.js";

export interface DicomConnectionContext {
  observations: ObservationSink;
  anomalies: AnomalySink;
  counters: Counters;
  stats: DicomStats;
  /** Makes the DIMSE layer's consumer of one direction of one association. */
  pdvConsumer: (ctx: DimseContext) => PdvConsumer;
  /**
   * Asked before a message is listed in its association record: false when the run's budget of listed
   * messages is spent (memory stays bounded whatever the capture size). Absent: always list.
   */
  keepMessage?: () => boolean;
  /** Shares the UID strings of the association records (the owner's, for all its connections). */
  uids?: UidInterner;
}

/** Ports where DICOM is expected (DESIGN.md §1); something else there is worth one anomaly. */
const DICOM_PORTS: readonly number[] = [104, 11112, 4242];
/** Messages listed per association record; the rest are counted (stats) and reported once. */
const MAX_MESSAGES_PER_ASSOCIATION = 100_000;

/** PS3.8 §9.3.3.2 Result/Reason of a presentation context, by value. */
const RESULT_NAMES: readonly PresentationContextResult[] = [
  "acceptance",
  "user-rejection",
  "no-reason",
  "abstract-syntax-not-supported",
  "transfer-syntaxes-not-supported",
];

/** What a message's data set stopped on when the TCP connection ended the association (PS3.8 §7.4). */
const STOP_OF_CLOSE: Record<CloseReason, DatasetStop> = {
  fin: "connection-closed",
  rst: "reset",
  idle: "idle",
  evicted: "evicted",
  "end-of-capture": "end-of-capture",
};

const BOTH: readonly Direction[] = [0, 1];
const ONLY: readonly [readonly Direction[], readonly Direction[]] = [[0], [1]];

const UNKNOWN = 0;
const DICOM = 1;
const NOT_DICOM = 2;

function implementation(ui: UserInformation | null, uids: UidInterner): ImplementationInfo | null {
  if (ui === null) return null;
  return {
    implementationClassUid: uids.internOrNull(ui.implementationClassUid),
    implementationVersionName: ui.implementationVersionName,
    maxPduLength: ui.maxLength,
  };
}

/** One association: the report record plus what the DIMSE layer needs (PresentationContextLookup). */
class Association implements PresentationContextLookup {
  /** Presentation contexts by ID (1..255), for the DIMSE layer's per-PDV lookups. */
  readonly byId: (PresentationContextRecord | undefined)[] = new Array<PresentationContextRecord | undefined>(
    256,
  );
  readonly consumers: [PdvConsumer | null, PdvConsumer | null] = [null, null];
  /** DIMSE messages sent by the requestor so far. */
  requestorMessages = 0;
  /** A P-DATA-TF above the receiver's maximum length was reported, per TCP direction (once each). */
  readonly oversizeReported: [boolean, boolean] = [false, false];
  acceptorSeen = false;
  /** Capture time of its end (release, abort, reject, or the connection's close). */
  endTs = Number.MAX_SAFE_INTEGER;
  /**
   * What ended it, for data sent after its end (or delivered after it, the direction held back by the
   * capture's reordering): messages begun then are ended with this reason when the connection closes or
   * the next association starts, unless their last fragment comes first.
   */
  endStop: DatasetStop = "end-of-capture";

  constructor(
    readonly record: AssociationState,
    /** Cleared when the A-ASSOCIATE-RQ turns up after all (see DicomConnection.lateRequest). */
    public midStream: boolean,
    /** TCP direction (of ConnectionInfo) in which the requestor sends. */
    readonly requestorDir: Direction,
  ) {}

  transferSyntax(pcId: number): string | null {
    return this.byId[pcId]?.transferSyntax ?? null;
  }

  abstractSyntax(pcId: number): string | null {
    return this.byId[pcId]?.abstractSyntax ?? null;
  }
}

/** DIMSE events of one direction of one association, routed back to the connection. */
class AssociationEvents implements DimseEvents {
  constructor(
    private readonly conn: DicomConnection,
    private readonly assoc: Association,
    private readonly dir: Direction,
  ) {}

  message(
    msg: DimseMessageRecord,
    _pcId: number,
    _hasDataset: boolean,
    tsMicros: number,
    query?: QueryInfo | null,
  ): void {
    this.conn.onMessage(this.assoc, this.dir, msg, tsMicros, query ?? null);
  }

  equipment(attrs: EquipmentAttributes, msg: DimseMessageRecord, _pcId: number, tsMicros: number): void {
    this.conn.onEquipment(this.assoc, this.dir, attrs, msg, tsMicros);
  }
}

/** The framer's sink for one TCP direction; also the decoders' issue sink. */
class Side implements PduSink, UlIssues {
  constructor(
    private readonly conn: DicomConnection,
    private readonly dir: Direction,
  ) {}

  pdu(type: number, buf: Buffer, start: number, end: number, tsMicros: number): void {
    this.conn.onPdu(this.dir, type, buf, start, end, tsMicros, this);
  }

  pdata(tsMicros: number, length: number): PdvConsumer {
    return this.conn.onPData(this.dir, tsMicros, length);
  }

  pdataRepeat(times: number): void {
    this.conn.onPDataRepeat(times);
  }

  synced(): void {
    this.conn.onSynced(this.dir);
  }

  notDicom(atStart: boolean): boolean {
    return this.conn.onNotDicom(this.dir, atStart);
  }

  anomaly(code: AnomalyCode, detail: string): void {
    this.conn.anomaly(code, detail);
  }

  repeat(code: AnomalyCode): boolean {
    return this.conn.repeat(code);
  }

  issue(code: AnomalyCode, detail: string): void {
    this.conn.anomaly(code, detail);
  }
}

export class DicomConnection implements StreamHandler {
  private status = UNKNOWN;
  private readonly framers: [PduFramer, PduFramer];
  /** TCP direction of the requestor: the reassembler's guess until an association PDU tells. */
  private requestorDir: Direction = 0;
  private assoc: Association | null = null;
  private anyAssociation = false;
  /**
   * The association that ended last on this connection (released, aborted or rejected). A connection
   * carries one association (PS3.8 §9.1.5), so what comes after its end belongs to it: the other
   * direction's data delivered late because of a gap, or a peer that sends after A-RELEASE-RP or
   * A-ABORT. It is counted there (with an anomaly when it was sent after the end), never as a new
   * association (issue 9).
   */
  private lastAssoc: Association | null = null;
  /** Gaps seen before any association started on the connection. */
  private readonly earlyGaps = { count: 0, bytes: 0 };
  private closed = false;
  private ts = 0;
  /** The last onPData reported ul.pdu-after-association-end (its repeats count it again). */
  private lastPdataAfterEnd = false;
  /** This connection's Upper Layer anomalies: a repeated code costs an increment (util/anomaly.ts). */
  private readonly issues: FlowAnomalies;
  private readonly uids: UidInterner;

  constructor(
    readonly info: ConnectionInfo,
    private readonly ctx: DicomConnectionContext,
  ) {
    this.issues = new FlowAnomalies(ctx.anomalies, "ul", info);
    this.uids = ctx.uids ?? new UidInterner(256);
    // Picked up mid-stream on a DICOM port: the first header may lie a whole (large) P-DATA-TF away.
    const budget =
      !info.handshakeSeen &&
      (DICOM_PORTS.includes(info.server.port) || DICOM_PORTS.includes(info.client.port))
        ? RESYNC_SCAN_BUDGET
        : DETECT_SCAN_BUDGET;
    this.framers = [
      new PduFramer(new Side(this, 0), ctx.counters, info.handshakeSeen, budget),
      new PduFramer(new Side(this, 1), ctx.counters, info.handshakeSeen, budget),
    ];
  }

  /** True once either direction was recognised as DICOM. */
  get isDicom(): boolean {
    return this.status === DICOM;
  }

  /** True once the connection was judged not to carry DICOM (its data is then ignored). */
  get isNotDicom(): boolean {
    return this.status === NOT_DICOM;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.status === NOT_DICOM || this.closed) return;
    this.ts = tsMicros;
    this.framers[dir].data(buf, start, end, tsMicros);
  }

  gap(dir: Direction, length: number, tsMicros: number): void {
    if (this.status === NOT_DICOM || this.closed) return;
    this.ts = tsMicros;
    // Gaps before the association starts (its request lost) are its own too: the connection has one.
    const g = (this.assoc ?? this.lastAssoc)?.record.captureGaps ?? this.earlyGaps;
    g.count++;
    g.bytes += length;
    this.framers[dir].gap(length, tsMicros);
  }

  /**
   * The connection ended (`reason` from the reassembler). `by`, when the reassembler knows it, is the TCP
   * direction that ended it (sent the RST or the first FIN); it names the side in transportEnd.
   */
  close(reason: CloseReason, tsMicros: number, by: Direction | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.ts = tsMicros;
    // Gives a PDU still being collected back to the run's shared budget (Counters.collectBudget).
    for (const f of this.framers) f.kill();
    const stop = STOP_OF_CLOSE[reason] ?? "connection-closed";
    const a = this.assoc;
    if (a !== null) {
      // Neither released nor aborted nor rejected: the TCP connection ended it (to its peers an A-P-ABORT,
      // PS3.8 §7.4, which a passive observer sees only as FIN, RST or silence). Accepted or not, it did
      // not end as an association should: outcome "incomplete", and how (issue 9).
      const r = a.record;
      r.outcome = "incomplete";
      r.transportEnd = {
        reason,
        side: by === null ? null : by === a.requestorDir ? "requestor" : "acceptor",
      };
      this.endAssociation(a, tsMicros, stop, BOTH);
    }
    // A message still open on the association that ended before (begun with data sent or delivered after
    // its end, or the other direction of a release) stops for the reason it ended: nothing more can come.
    const last = this.lastAssoc;
    if (last !== null && last !== a) for (const c of last.consumers) c?.reset(last.endStop);
  }

  /** A malformed-input report of the Upper Layer on this flow (a repeated code is only counted). */
  anomaly(code: AnomalyCode, detail: string): void {
    this.issues.report(code, detail);
  }

  /** True (and counted) when `code` was reported on this connection before: build no detail for it. */
  repeat(code: AnomalyCode, times = 1): boolean {
    return this.issues.repeat(code, times);
  }

  private endpoint(dir: Direction): Endpoint {
    return dir === 0 ? this.info.client : this.info.server;
  }

  // ---- framer callbacks ----

  onSynced(dir: Direction): void {
    if (this.status !== UNKNOWN) return;
    this.status = DICOM;
    this.ctx.stats.dicomFlows++;
    // The other direction may have given up detection inside a P-DATA-TF longer than its scan budget
    // (picked up mid-stream while big PDUs flowed): now that the connection is DICOM, it looks again.
    this.framers[dir === 0 ? 1 : 0].revive();
  }

  onNotDicom(dir: Direction, atStart: boolean): boolean {
    if (this.status === DICOM) {
      if (atStart) this.anomaly("ul.invalid-pdu-header", `direction ${dir} does not start with a PDU header`);
      return false;
    }
    const other = this.framers[dir === 0 ? 1 : 0];
    if (atStart || other.isDead) {
      this.status = NOT_DICOM;
      this.framers[0].kill();
      this.framers[1].kill();
      const port = DICOM_PORTS.includes(this.info.server.port)
        ? this.info.server.port
        : DICOM_PORTS.includes(this.info.client.port)
          ? this.info.client.port
          : 0;
      if (port !== 0)
        this.anomaly("ul.not-dicom-on-dicom-port", `port ${port} carries something other than DICOM`);
    }
    return true;
  }

  onPdu(
    dir: Direction,
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    ts: number,
    issues: UlIssues,
  ): void {
    switch (type) {
      case PDU_ASSOCIATE_RQ: {
        const rq = decodeAssociatePdu(buf, start, end, issues);
        if (rq !== null) this.associateRq(dir, rq, ts);
        return;
      }
      case PDU_ASSOCIATE_AC: {
        const ac = decodeAssociatePdu(buf, start, end, issues);
        if (ac !== null) this.associateAc(dir, ac, ts);
        return;
      }
      case PDU_ASSOCIATE_RJ: {
        const rj = decodeAssociateRj(buf, start, end, issues);
        if (rj === null) return;
        if (this.assoc === null && this.afterEnd("A-ASSOCIATE-RJ", ts) !== null) return;
        const a = this.assoc ?? this.midStreamAssociation(dir === 0 ? 1 : 0, ts);
        a.record.reject = { result: rj.result, source: rj.source, reason: rj.reason };
        a.record.outcome = "rejected";
        // No P-DATA can precede an A-ASSOCIATE-RJ (PS3.8 §9.1.4); were there any, it ends them as an abort.
        this.endAssociation(a, ts, "aborted", BOTH);
        return;
      }
      case PDU_RELEASE_RQ:
        // PS3.8 §7.2: the release requestor has sent its last P-DATA; a data set of its direction that
        // is still open never completes. (Delivered after the A-RELEASE-RP, the RQ still closes its own
        // direction of the association the RP ended.)
        if (decodeRelease(buf, start, end, issues))
          (this.assoc ?? this.lastAssoc)?.consumers[dir]?.reset("released");
        return;
      case PDU_RELEASE_RP: {
        // PS3.8 §7.2: the A-RELEASE-RP completes the release; with a release collision the second RP
        // finds no open association and is ignored.
        if (!decodeRelease(buf, start, end, issues) || this.assoc === null) return;
        this.assoc.record.released = true;
        this.endAssociation(this.assoc, ts, "released", ONLY[dir]);
        return;
      }
      case PDU_ABORT: {
        const ab = decodeAbort(buf, start, end, issues);
        if (ab === null) return;
        // An abort after an association ended (e.g. following a release) has nothing left to describe.
        if (this.assoc === null && this.anyAssociation) return;
        const a = this.assoc ?? this.midStreamAssociation(this.requestorDir, ts);
        a.record.abort = { source: ab.source, reason: ab.reason };
        a.record.outcome = "aborted";
        // PS3.8 §7.3: the abort ends every transfer of the association at once, in both directions.
        this.endAssociation(a, ts, "aborted", BOTH);
        return;
      }
    }
  }

  onPData(dir: Direction, ts: number, length: number): PdvConsumer {
    this.lastPdataAfterEnd = false;
    const a =
      this.assoc ?? this.afterEnd("P-DATA-TF", ts) ?? this.midStreamAssociation(this.requestorDir, ts);
    // P-DATA flows only on an established association (PS3.8 §9.1.4), so the AC must have been missed.
    if (a.record.outcome === "incomplete" && a === this.assoc) a.record.outcome = "accepted";
    // PS3.8 D.1.1: a P-DATA-TF's variable field may not exceed the Maximum Length the receiver announced
    // (0: no limit). The requestor's PDUs are bounded by the acceptor's AC, and the other way round.
    const receiver = dir === a.requestorDir ? a.record.acceptor : a.record.requestor;
    const max = receiver?.maxPduLength ?? 0;
    if (max > 0 && length > max && !a.oversizeReported[dir]) {
      a.oversizeReported[dir] = true;
      this.anomaly(
        "ul.pdu-exceeds-max-length",
        `P-DATA-TF of ${length} bytes where the receiver announced a maximum of ${max}`,
      );
    }
    let c = a.consumers[dir];
    if (c === null) {
      c = this.ctx.pdvConsumer({
        connection: this.info,
        lookup: a,
        events: new AssociationEvents(this, a, dir),
        anomalies: this.ctx.anomalies,
        counters: this.ctx.counters,
      });
      a.consumers[dir] = c;
      // Picked up mid-stream: what comes first may be the rest of a message whose start was not seen.
      if (a.midStream) c.reset("mid-stream");
    }
    return c;
  }

  /**
   * The last onPData call made `times` more times (a run of equal P-DATA-TFs in one view, the framer's
   * fast path for floods): what it did once per call and not once per direction, it does again.
   */
  onPDataRepeat(times: number): void {
    if (this.lastPdataAfterEnd) this.repeat("ul.pdu-after-association-end", times);
  }

  // ---- DIMSE callbacks ----

  onMessage(
    a: Association,
    dir: Direction,
    msg: DimseMessageRecord,
    ts: number,
    query: QueryInfo | null = null,
  ): void {
    this.ctx.stats.dimseMessages++;
    if (dir === a.requestorDir) a.requestorMessages++;
    const r = a.record;
    if (r.messages.length < MAX_MESSAGES_PER_ASSOCIATION && (this.ctx.keepMessage?.() ?? true))
      r.messages.push(msg);
    else r.messagesOmitted++;
    this.ctx.observations.observe({
      kind: "dimse",
      tsMicros: ts,
      client: this.endpoint(a.requestorDir),
      server: this.endpoint(a.requestorDir === 0 ? 1 : 0),
      callingAE: r.callingAE,
      calledAE: r.calledAE,
      direction: dir === a.requestorDir ? 0 : 1,
      message: msg,
      query,
    });
  }

  onEquipment(
    a: Association,
    dir: Direction,
    attrs: EquipmentAttributes,
    msg: DimseMessageRecord,
    ts: number,
  ): void {
    const fromRequestor = dir === a.requestorDir;
    this.ctx.observations.observe({
      kind: "equipment",
      tsMicros: ts,
      sender: this.endpoint(dir),
      receiver: this.endpoint(dir === 0 ? 1 : 0),
      senderAE: fromRequestor ? a.record.callingAE : a.record.calledAE,
      receiverAE: fromRequestor ? a.record.calledAE : a.record.callingAE,
      command: msg.command,
      sopClassUid: msg.sopClassUid,
      attributes: attrs,
    });
  }

  // ---- association state ----

  private associateRq(dir: Direction, rq: AssociatePdu, ts: number): void {
    const open = this.assoc;
    if (open !== null && this.lateRequest(open, dir, rq)) return;
    // The request of an association that already ended, delivered late (its direction had a gap): it
    // was sent before that end, so it is that association's, not a new one.
    const last = this.lastAssoc;
    if (open === null && last !== null && ts <= last.endTs && this.lateRequest(last, dir, rq)) return;
    if (open !== null) {
      this.anomaly("ul.associate-rq-while-open", "A-ASSOCIATE-RQ before the previous association ended");
      this.endAssociation(open, ts, "new-association", BOTH);
    }
    if (dir !== 0 && this.info.handshakeSeen)
      this.anomaly("ul.unexpected-direction", "A-ASSOCIATE-RQ sent by the side that accepted TCP");
    this.requestorDir = dir;
    this.fillRequest(this.newAssociation(dir, false, ts), rq);
  }

  /**
   * The two directions of a connection are reassembled independently, so the capture can complete the
   * A-ASSOCIATE-AC before the A-ASSOCIATE-RQ it answers (a segment of the RQ lost on the tap and
   * retransmitted, or reordered on the mirror path). An RQ from the requestor's side that matches an
   * association known only from its AC, with no message yet from the requestor (the acceptor's answers
   * to requests still in flight on the other direction may already be complete), is that association's
   * own request (PS3.8 §9.3.3: the AC echoes the RQ's AE titles): merge instead of starting anew.
   */
  private lateRequest(a: Association, dir: Direction, rq: AssociatePdu): boolean {
    const r = a.record;
    if (!a.midStream || !a.acceptorSeen || a.requestorMessages > 0 || dir !== a.requestorDir) return false;
    if ((r.callingAE ?? "") !== rq.callingAE || (r.calledAE ?? "") !== rq.calledAE) return false;
    a.midStream = false;
    const answered = r.presentationContexts;
    r.presentationContexts = [];
    for (const rec of answered) a.byId[rec.id] = undefined;
    this.fillRequest(a, rq);
    for (const rec of answered) {
      const proposed = a.byId[rec.id];
      if (proposed === undefined) {
        this.anomaly("ul.pc-not-proposed", `A-ASSOCIATE-AC answers unproposed context ${rec.id}`);
        a.byId[rec.id] = rec;
        r.presentationContexts.push(rec);
      } else {
        proposed.result = rec.result;
        proposed.transferSyntax = rec.transferSyntax;
      }
    }
    return true;
  }

  private fillRequest(a: Association, rq: AssociatePdu): void {
    const r = a.record;
    r.callingAE = rq.callingAE === "" ? null : rq.callingAE;
    r.calledAE = rq.calledAE === "" ? null : rq.calledAE;
    r.applicationContext = this.uids.internOrNull(rq.applicationContext);
    r.requestor = implementation(rq.userInformation, this.uids);
    const ui = rq.userInformation?.userIdentity ?? null;
    if (ui !== null)
      r.userIdentity = { type: ui.type, username: ui.username, passcodePresent: ui.passcodePresent };
    for (const pc of rq.presentationContexts) {
      if (a.byId[pc.id] !== undefined) {
        this.anomaly("ul.pc-id-duplicate", `presentation context ID ${pc.id} proposed twice`);
        continue;
      }
      const rec: PresentationContextRecord = {
        id: pc.id,
        abstractSyntax: this.uids.internOrNull(pc.abstractSyntax),
        transferSyntaxes: pc.transferSyntaxes.map((u) => this.uids.intern(u)),
        result: null,
        transferSyntax: null,
      };
      a.byId[pc.id] = rec;
      r.presentationContexts.push(rec);
    }
  }

  private associateAc(dir: Direction, ac: AssociatePdu, ts: number): void {
    let a = this.assoc;
    if (a === null) {
      // Picked up between RQ and AC: the AC echoes the AE titles of the RQ (PS3.8 §9.3.3).
      a = this.midStreamAssociation(dir === 0 ? 1 : 0, ts);
      a.record.callingAE = ac.callingAE === "" ? null : ac.callingAE;
      a.record.calledAE = ac.calledAE === "" ? null : ac.calledAE;
      a.record.applicationContext = this.uids.internOrNull(ac.applicationContext);
    } else {
      if (a.acceptorSeen) this.anomaly("ul.duplicate-ac", "second A-ASSOCIATE-AC for one association");
      if (dir === a.requestorDir)
        this.anomaly("ul.unexpected-direction", "A-ASSOCIATE-AC sent by the requestor");
    }
    a.acceptorSeen = true;
    const r = a.record;
    r.acceptor = implementation(ac.userInformation, this.uids);
    for (const pc of ac.presentationContexts) {
      let rec = a.byId[pc.id];
      if (rec === undefined) {
        if (!a.midStream)
          this.anomaly("ul.pc-not-proposed", `A-ASSOCIATE-AC answers unproposed context ${pc.id}`);
        rec = { id: pc.id, abstractSyntax: null, transferSyntaxes: [], result: null, transferSyntax: null };
        a.byId[pc.id] = rec;
        r.presentationContexts.push(rec);
      }
      rec.result = pc.result !== null ? (RESULT_NAMES[pc.result] ?? null) : null;
      // PS3.8 §9.3.3.2: the transfer syntax sub-item is significant only on acceptance.
      rec.transferSyntax = pc.result === 0 ? this.uids.internOrNull(pc.transferSyntaxes[0] ?? null) : null;
    }
    r.outcome = "accepted";
  }

  private newAssociation(requestorDir: Direction, midStream: boolean, ts: number): Association {
    // What still streamed for the association before (after its end) stops here: the connection has moved on.
    const last = this.lastAssoc;
    if (last !== null) for (const c of last.consumers) c?.reset(last.endStop);
    const record: AssociationState = {
      client: formatEndpoint(this.endpoint(requestorDir)),
      server: formatEndpoint(this.endpoint(requestorDir === 0 ? 1 : 0)),
      callingAE: null,
      calledAE: null,
      applicationContext: null,
      requestor: null,
      acceptor: null,
      userIdentity: null,
      presentationContexts: [],
      outcome: "incomplete",
      reject: null,
      abort: null,
      released: false,
      transportEnd: null,
      messages: [],
      messagesOmitted: 0,
      captureGaps: this.anyAssociation ? { count: 0, bytes: 0 } : { ...this.earlyGaps },
      startMicros: ts,
      endMicros: ts,
    };
    const a = new Association(record, midStream, requestorDir);
    this.assoc = a;
    this.anyAssociation = true;
    this.ctx.stats.associations++;
    return a;
  }

  /** An association whose A-ASSOCIATE-RQ was not seen (capture started, or a gap, after it). */
  private midStreamAssociation(requestorDir: Direction, ts: number): Association {
    this.requestorDir = requestorDir;
    return this.newAssociation(requestorDir, true, ts);
  }

  /**
   * A PDU that arrives when no association is open, after one ended on this connection: it belongs to
   * that one. Sent after its end (by capture time) it breaks PS3.8 (nothing but the connection's close
   * follows A-RELEASE-RP or A-ABORT; §9.2); delivered late only because of a gap, it does not.
   */
  private afterEnd(what: string, ts: number): Association | null {
    const a = this.lastAssoc;
    if (a === null) return null;
    if (ts > a.endTs) {
      this.lastPdataAfterEnd = true;
      if (!this.repeat("ul.pdu-after-association-end"))
        this.anomaly(
          "ul.pdu-after-association-end",
          `${what} after the association ended (${a.record.outcome})`,
        );
    }
    return a;
  }

  /**
   * The association ended by `stop`. Data sets still open in the directions `finish` are ended with that
   * reason before the association is reported, so its record lists the interrupted messages: both
   * directions for an abort, a reject, a new request or the connection's end; for A-RELEASE-RP only its
   * own direction (the other was finished by its A-RELEASE-RQ, which the capture may deliver later than
   * the RP when that direction waits for a retransmission).
   */
  private endAssociation(a: Association, ts: number, stop: DatasetStop, finish: readonly Direction[]): void {
    a.endStop = stop;
    for (const d of finish) a.consumers[d]?.reset(stop);
    if (this.assoc === a) this.assoc = null;
    this.lastAssoc = a;
    a.endTs = ts;
    a.record.endMicros = ts;
    if (a.record.messagesOmitted > 0)
      this.anomaly(
        "ul.messages-capped",
        `${a.record.messagesOmitted} DIMSE messages counted but not listed in the association (list caps)`,
      );
    this.ctx.observations.observe({
      kind: "association",
      tsMicros: ts,
      client: this.endpoint(a.requestorDir),
      server: this.endpoint(a.requestorDir === 0 ? 1 : 0),
      record: a.record,
      midStream: a.midStream,
    });
  }
}
