/**
 * The plan (issue 13, "The plan"): the five remediation steps of DESIGN.md §1 — firewall external access,
 * close unneeded ports, allowlist peers and AE titles per DICOM service (steps 3 and 4), move to DICOM TLS or
 * a VPN — written from a baseline of observed traffic (agent/baseline/types.ts). One JSON document
 * (schemas/plan.schema.json) that people review and that the renderers (render-*.ts) turn into the forms
 * the people who apply it use, and that `plan --check` replays captures through (check.ts).
 *
 * Everything here is addresses, ports, AE titles, DIMSE operations, counts and times: nothing of a dataset.
 * AE titles came from the wire, so every renderer escapes or refuses them for its format.
 */
import type { Operation } from "../baseline/types.js";

export type { Operation };

/** A planned exception to step 1: an outside peer (CIDR) that may still reach a server (and port). */
export interface PlanException {
  peer: string;
  server: string;
  /** null: every port of the server. */
  port: number | null;
  reason: string;
}

/** One outside peer seen reaching an internal server's port. */
export interface ExposurePeer {
  ip: string;
  /** Calling AE titles it used on that port (DICOM only; empty for other sessions or TLS). */
  aeTitles: string[];
  /** Associations (DICOM) or 0 when only sessions of another protocol were seen. */
  associations: number;
  /** Covered by a plan exception: the firewall lets it through. */
  excepted: boolean;
  firstSeen: string;
  lastSeen: string;
}

/** Step 1: an internal server's port reached from outside the internal networks. */
export interface ExposedPort {
  ip: string;
  port: number;
  /** The called AE titles of its DICOM associations from outside (empty: not DICOM, or TLS). */
  aeTitles: string[];
  peers: ExposurePeer[];
  firstSeen: string;
  lastSeen: string;
}

export interface ExposureStep {
  /** What was reached from outside. */
  exposed: ExposedPort[];
  /**
   * Internal servers (addresses that answered on a port) that the firewall closes to sources outside the
   * internal networks, except for the plan's exceptions: every one, not only those seen reached, since a
   * server not reached from outside in the window has no need to be reachable.
   */
  protect: string[];
}

/**
 * Why a port should be closed:
 * - unused: it answered SYNs but never served a session (only handshakes: scans, health checks);
 * - default-port: 104 on a device that serves DICOM on another port and has no session on 104;
 * - dicom-port-unused: another well-known DICOM port (11112, 4242, 2761, 2762) on a device that serves DICOM
 *   elsewhere, with no session on it (the same reasoning as 104: DESIGN.md §1);
 * - outside-profile: a listening port the device's vendor profile does not document.
 */
export type CloseReason = "unused" | "default-port" | "dicom-port-unused" | "outside-profile";

/** Step 2: a port to close on a device. */
export interface PortToClose {
  ip: string;
  port: number;
  reason: CloseReason;
  /** Seen answering a SYN in the window (false: a DICOM port closed as a precaution; nothing answered). */
  listening: boolean;
  /** Connections (handshakes) it accepted, and the distinct clients of those it served (none for unused). */
  connections: number;
  /** The profile that does not list it (outside-profile only). */
  profile: string | null;
  /** Plain-language explanation for the Markdown and the CSV. */
  detail: string;
}

/** One peer of a service and what it may do. */
export interface AllowedPeer {
  ip: string;
  /** Calling AE title; null when not seen (a TLS service, where the association is encrypted). */
  aeTitle: string | null;
  internal: boolean;
  /** The operations to allow, as the traffic showed them (PS3.7 §9, §10). */
  operations: Operation[];
  /** C-MOVE: the destinations it asked for. */
  moveDestinations: string[];
  associations: number;
  firstSeen: string;
  lastSeen: string;
}

/** What a service looks like to the plan's archive outputs. */
export type ArchiveProduct = "orthanc" | "dcmtk" | null;

/** Steps 3 and 4: a DICOM service (device, port, called AE title) and the peers and operations it allows. */
export interface ServiceAllowlist {
  ip: string;
  port: number;
  /** Called AE title; null for a TLS service (encrypted: only the addresses are known). */
  aeTitle: string | null;
  tls: boolean;
  product: ArchiveProduct;
  peers: AllowedPeer[];
  firstSeen: string;
  lastSeen: string;
}

/** Step 5: one peer's cleartext traffic to a service, to move to DICOM TLS (PS3.15 Annex B) or a VPN. */
export interface EncryptionItem {
  server: string;
  port: number;
  aeTitle: string | null;
  peer: string;
  peerAeTitle: string | null;
  external: boolean;
  /** Associations that sent a user identity (username or passcode) in clear. */
  credentialsInClear: number;
  associations: number;
  operations: Operation[];
  /** 1 is the most urgent. */
  rank: number;
  /** Why it ranks where it does. */
  why: string;
}

/** A service already seen speaking DICOM TLS, with its peers: proof that the site can do it. */
export interface TlsService {
  ip: string;
  port: number;
  peers: string[];
}

export interface EncryptionStep {
  cleartext: EncryptionItem[];
  tls: TlsService[];
}

export interface Plan {
  /** The plan format's version (schemas/plan.schema.json). */
  version: 1;
  site: string | null;
  sensor: string | null;
  generatedAt: string;
  source: {
    kind: "store" | "captures";
    /** Capture files (kind captures) or the store's path (kind store). */
    files: string[];
    window: { start: string | null; end: string | null };
    /** The baseline's status when the plan was made (an approved baseline is a reviewed one). */
    baselineStatus: "learning" | "learned" | "approved";
  };
  /** The internal networks (config.networks.internal): "outside" means outside these. */
  internal: string[];
  exceptions: PlanException[];
  exposure: ExposureStep;
  portsToClose: PortToClose[];
  allowlists: ServiceAllowlist[];
  encryption: EncryptionStep;
  /** What the baseline's caps turned away: the plan is then a prefix of what was seen. */
  truncated: { services: number; peers: number; devices: number };
}
