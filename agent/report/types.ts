/**
 * The version-1 report of `dicomtap analyze --json` (DESIGN.md §3), also the base of MQTT payloads.
 * Absent values are null, never omitted. Times are ISO 8601 strings from capture timestamps.
 */
import type { AnomalyRecord } from "../util/anomaly.js";

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
}

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
