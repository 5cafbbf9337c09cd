/**
 * The version-1 report of `dicomtap analyze --json` (DESIGN.md §3), also the base of MQTT payloads.
 * Absent values are null, never omitted. Times are ISO 8601 strings from capture timestamps,
 * microsecond precision, written by agent/util/time.ts alone (isoFromMicros).
 */
import type { AnomalyRecord } from "../util/anomaly.js";
import type { CloseReason } from "../reassembly/types.js";

export interface ImplementationInfo {
  implementationClassUid: string | null;
  implementationVersionName: string | null;
  maxPduLength: number | null;
}

export interface UserIdentityInfo {
  /** User-Identity-Type of PS3.7 D.3.3.7: 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT. */
  type: number;
  /** The username for types 1 and 2; null for token types (a token is never reported). */
  username: string | null;
  /** True when a secondary field (passcode) was present; the passcode itself is never kept. */
  passcodePresent: boolean;
}

export type PresentationContextResult =
  | "acceptance"
  | "user-rejection"
  | "no-reason"
  | "abstract-syntax-not-supported"
  | "transfer-syntaxes-not-supported";

export interface PresentationContextRecord {
  id: number;
  abstractSyntax: string | null;
  transferSyntaxes: string[];
  /** null while no A-ASSOCIATE-AC answered this context. */
  result: PresentationContextResult | null;
  /** The transfer syntax the acceptor chose, or null. */
  transferSyntax: string | null;
}

/**
 * Why a message's data set stopped before its last fragment (PS3.8 Annex E.2, message control header
 * bit 1) arrived:
 * - "aborted": an A-ABORT from either side (PS3.8 §7.3, §7.4);
 * - "released": an A-RELEASE-RQ/RP (PS3.8 §7.2) before the last fragment;
 * - "new-association": an A-ASSOCIATE-RQ on the connection while the association was open;
 * - "reset", "connection-closed", "idle", "evicted", "end-of-capture": the TCP connection ended (RST;
 *   FIN; no packet for the idle timeout; dropped from a full flow table; the capture ended) with neither;
 * - "gap": bytes the capture missed (kernel drops, a lossy mirror port);
 * - "framing-lost": an impossible PDU or PDV header, after which the stream was resynchronised;
 * - "next-command": a command PDV before the data set's last fragment (PS3.7 §6.3.1).
 */
export type DatasetStop =
  | "aborted"
  | "released"
  | "new-association"
  | "reset"
  | "connection-closed"
  | "idle"
  | "evicted"
  | "end-of-capture"
  | "gap"
  | "framing-lost"
  | "next-command";

/** The data set that followed a command set (PS3.7 §6.3.1): whether it arrived whole, and its size. */
export interface DatasetInfo {
  /** True when its last fragment arrived (the message was transferred). */
  complete: boolean;
  /** Data set bytes seen (PDV values), whole or up to where it stopped. */
  bytes: number;
  /** Why it stopped short; null when complete. */
  stopped: DatasetStop | null;
}

export interface DimseMessageRecord {
  /** PS3.7 name, e.g. "C-STORE-RQ"; "UNKNOWN-0xNNNN" for a command field outside the standard. */
  command: string;
  messageId: number | null;
  messageIdBeingRespondedTo: number | null;
  /** Affected or Requested SOP Class UID. */
  sopClassUid: string | null;
  /** Affected or Requested SOP Instance UID. */
  sopInstanceUid: string | null;
  /** DIMSE status (responses), else null. */
  status: number | null;
  moveDestination: string | null;
  /** Priority (0000,0700) of requests that carry one: 0 medium, 1 high, 2 low. */
  priority: number | null;
  /** Sub-operation counts of C-GET/C-MOVE responses (PS3.7 §9.3.3.2, §9.3.4.2), else null. */
  subOperations: {
    remaining: number | null;
    completed: number | null;
    failed: number | null;
    warning: number | null;
  } | null;
  /**
   * The data set announced by Command Data Set Type (0000,0800), or null when the command has none. An
   * interrupted transfer (a C-STORE-RQ whose data set never completed) is reported with complete false.
   * Always present (null when absent) in the records dicomtap makes and in guarded copies; optional in
   * the type only so records built elsewhere by hand stay valid.
   */
  dataset?: DatasetInfo | null;
}

/** How the TCP connection ended an association that was neither released nor aborted. */
export interface TransportEnd {
  /** The reassembler's close reason: FIN, RST, idle timeout, evicted from the flow table, end of capture. */
  reason: CloseReason;
  /** Who ended the connection (sent the first FIN or the RST), when the reassembler says; else null. */
  side: "requestor" | "acceptor" | null;
}

/**
 * "accepted": accepted (or shown to be by its P-DATA), then released (released: true) or followed by another
 * A-ASSOCIATE-RQ on the connection (ul.associate-rq-while-open); "rejected": A-ASSOCIATE-RJ; "aborted":
 * A-ABORT; "incomplete": never answered, or ended by the TCP connection without A-RELEASE or A-ABORT
 * (transportEnd says how).
 */
export type AssociationOutcome = "accepted" | "rejected" | "aborted" | "incomplete";

export interface AssociationRecord {
  client: string;
  server: string;
  callingAE: string | null;
  calledAE: string | null;
  applicationContext: string | null;
  requestor: ImplementationInfo | null;
  acceptor: ImplementationInfo | null;
  userIdentity: UserIdentityInfo | null;
  presentationContexts: PresentationContextRecord[];
  outcome: AssociationOutcome;
  reject: { result: number; source: number; reason: number } | null;
  abort: { source: number; reason: number } | null;
  released: boolean;
  /**
   * Set when the TCP connection ended the association (outcome "incomplete"): it was neither released
   * nor aborted nor rejected, and the connection closed, reset or went idle. Null otherwise. Always
   * present in the records dicomtap makes; optional in the type like DimseMessageRecord.dataset.
   */
  transportEnd?: TransportEnd | null;
  messages: DimseMessageRecord[];
  /** Messages decoded and counted but not listed, because a list cap was reached (memory bound). */
  messagesOmitted: number;
  /**
   * Sequence gaps of the TCP connection while the association ran: bytes the capture never saw (kernel
   * drops, a lossy mirror port). Zero when the capture was whole; what the association shows may then
   * lack messages or whole PDUs (issue 8).
   */
  captureGaps: { count: number; bytes: number };
  start: string;
  end: string;
}

/**
 * What the connection knows of one association, as the parser keeps it: the negotiation, the outcome and
 * the messages, with capture times in microseconds. The report layer spells it as an AssociationRecord
 * (report/association.ts: endpoints as "IP:PORT", times as ISO 8601); the parser writes no report
 * time itself. `client` and `server` (util/flow.ts spelling) stay on the state only because the findings
 * engine reads them; the report formats its own from the observation's endpoints.
 */
export interface AssociationState extends Omit<AssociationRecord, "start" | "end"> {
  /** Capture time of its first PDU (the A-ASSOCIATE-RQ, or the first one seen when picked up mid-way). */
  startMicros: number;
  /** Capture time of its end (release, abort, reject, or the connection's close). */
  endMicros: number;
}

export interface ReportStats {
  packets: number;
  bytes: number;
  tcpFlows: number;
  dicomFlows: number;
  associations: number;
  dimseMessages: number;
  anomalies: number;
  bytesCopied: number;
}

/** Devices and findings are defined by the inventory and findings stages (issue 3). */
export interface DeviceRecord {
  id: string;
  ip: string;
  mac: string | null;
  aeTitles: string[];
  roles: string[];
  listeningPorts: number[];
  implementation: unknown;
  modality: string | null;
  manufacturer: string | null;
  model: string | null;
  softwareVersions: string[];
  stationName: string | null;
  sopClasses: string[];
  firstSeen: string;
  lastSeen: string;
  [extra: string]: unknown;
}

export interface FindingRecord {
  id: string;
  rule: string;
  severity: "info" | "low" | "medium" | "high" | "critical";
  device: string | null;
  peer: string | null;
  title: string;
  evidence: unknown;
  remediation: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
  [extra: string]: unknown;
}

export interface Report {
  version: 1;
  stats: ReportStats;
  associations: AssociationRecord[];
  devices: DeviceRecord[];
  findings: FindingRecord[];
  anomalies: AnomalyRecord[];
}
