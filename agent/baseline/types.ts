/**
 * The baseline (issue 13): what a site's traffic showed over the learning window, as one JSON document a
 * person can read, edit and approve (schemas/baseline.schema.json). It is the source of the plan
 * (agent/plan/) and, once approved, of the policy (policy.ts), and the findings engine compares later
 * traffic with it (rules/baseline.ts).
 *
 * Everything in it describes devices and their connections: addresses, ports, AE titles, DIMSE operations
 * and counts. Nothing of a dataset's content, and of a user identity only whether one was sent in clear.
 */

/**
 * What a peer used a DICOM service for, from the DIMSE requests it sent (PS3.7 §9 and §10) and the SOP class
 * they named: worklist is a C-FIND of the Modality Worklist model (PS3.4 Annex K), storage commitment an
 * N-ACTION or N-EVENT-REPORT of the Storage Commitment Push Model (PS3.4 Annex J), mpps an N-CREATE or N-SET
 * of Modality Performed Procedure Step (PS3.4 Annex F); "other" is any other DIMSE-N service.
 */
export const OPERATIONS = [
  "C-ECHO",
  "C-STORE",
  "C-FIND",
  "C-MOVE",
  "C-GET",
  "worklist",
  "storage-commitment",
  "mpps",
  "other",
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** One operation a peer used, with how often and when. */
export interface OperationUse {
  operation: Operation;
  /** Associations that used it. */
  count: number;
  /** C-MOVE only: the Move Destination AE titles it named (PS3.7 §9.3.4.1), at most MAX_LIST. */
  moveDestinations?: string[];
  firstSeen: string;
  lastSeen: string;
}

/** A client of a DICOM service: one address with one calling AE title (null when not seen, e.g. TLS). */
export interface BaselinePeer {
  ip: string;
  aeTitle: string | null;
  /** Inside config.networks.internal. */
  internal: boolean;
  /** Associations accepted from this peer (or TLS connections, where no association can be read). */
  associations: number;
  /** Associations that carried a user identity with a passcode, or a username, in clear (PS3.7 D.3.3.7). */
  credentialsInClear: number;
  operations: OperationUse[];
  firstSeen: string;
  lastSeen: string;
}

/**
 * A DICOM service: a device's listening port and the called AE title its peers asked for (null: unknown,
 * e.g. DICOM TLS, where the association is encrypted). One port may serve several AE titles.
 */
export interface BaselineService {
  ip: string;
  port: number;
  aeTitle: string | null;
  /** Seen carried over TLS (PS3.15 Annex B) on this port. */
  tls: boolean;
  peers: BaselinePeer[];
  firstSeen: string;
  lastSeen: string;
}

/** A port a device was seen listening on (it answered a SYN, or served data). */
export interface ListeningPort {
  port: number;
  /** Connections it accepted (SYN-ACK seen, or picked up mid-stream). */
  connections: number;
  /** Connections on which the server sent data: a real session, not only a handshake (a scan's). */
  sessions: number;
  /** Accepted DICOM associations on this port. */
  associations: number;
  /** Distinct client addresses of its sessions, at most MAX_LIST. */
  clients: string[];
  firstSeen: string;
  lastSeen: string;
}

/** A device by address: the ports it answered on and the server ports it used as a client. */
export interface BaselineDevice {
  ip: string;
  mac: string | null;
  internal: boolean;
  listening: ListeningPort[];
  /** Server ports (ip:port of others) this device opened sessions to, as "IP:PORT", at most MAX_LIST. */
  uses: string[];
}

/**
 * Where the baseline stands:
 * - learning: the window is open; traffic is folded in.
 * - learned: the window closed; later traffic is compared with it (departures are findings).
 * - approved: a person reviewed it; it is also the policy (knownAeTitles, allowedPeers, approvedPorts,
 *   per-service peer lists).
 */
export type BaselineStatus = "learning" | "learned" | "approved";

export interface BaselineDocument {
  /** The document format's version (schemas/baseline.schema.json). */
  version: 1;
  site: string | null;
  sensor: string | null;
  status: BaselineStatus;
  /** The learning window in capture time; end is null while learning. */
  window: { start: string | null; end: string | null; days: number };
  /** Who approved it and when (null unless approved). */
  approved: { by: string; at: string; note: string | null } | null;
  /** config.networks.internal when it was learned: "internal" and "external" in it mean this. */
  internal: string[];
  services: BaselineService[];
  devices: BaselineDevice[];
  /** What the caps turned away while learning (the document is then a prefix of what was seen). */
  truncated: { services: number; peers: number; devices: number };
}
