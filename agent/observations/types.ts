/**
 * Observations: plain records the parsing pipeline emits; inventory and findings fold them (DESIGN.md §2).
 * Parsing never decides policy. No observation carries patient data: dataset attributes are limited to
 * EquipmentAttributes, and user identity to the username and whether a passcode was present.
 */
import type { Endpoint, HandshakeResult } from "../reassembly/types.js";
import type { AssociationState, DimseMessageRecord } from "../report/types.js";
import type { EquipmentAttributes, QueryInfo } from "../dicom/types.js";
import type { HostEvent } from "../hosts/types.js";

/**
 * A TCP connection attempt or pick-up; tells which ports listen (syn-ack) or refuse (rst). A second one,
 * "served", comes when the server first sends data on the connection: the port carried a real session.
 */
export interface ConnectionObservation {
  kind: "connection";
  tsMicros: number;
  client: Endpoint;
  server: Endpoint;
  handshake: HandshakeResult | "served";
}

/** A DICOM association, emitted once when it ends (release, abort, reject, close or end of capture). */
export interface AssociationObservation {
  kind: "association";
  tsMicros: number;
  client: Endpoint;
  server: Endpoint;
  /** The connection's state of the association; the report spells it with report/association.ts. */
  record: AssociationState;
  /** True when the association was picked up mid-way (no A-ASSOCIATE-RQ seen). */
  midStream: boolean;
}

/** Equipment named in a dataset; `sender` is who sent the dataset, not necessarily who made the image. */
export interface EquipmentObservation {
  kind: "equipment";
  tsMicros: number;
  sender: Endpoint;
  receiver: Endpoint;
  senderAE: string | null;
  receiverAE: string | null;
  command: string;
  sopClassUid: string | null;
  attributes: EquipmentAttributes;
}

/** A DIMSE message as it happens (the association record also lists it when the association ends). */
export interface DimseObservation {
  kind: "dimse";
  tsMicros: number;
  client: Endpoint;
  server: Endpoint;
  callingAE: string | null;
  calledAE: string | null;
  /** 0 from the association's requestor (client) to the acceptor, 1 back. */
  direction: 0 | 1;
  message: DimseMessageRecord;
  /**
   * The shape of a C-FIND-RQ's Identifier (key counts and the level, never key values); null or absent for
   * other messages, for identifiers not walked to their end, and for messages replayed from records.
   */
  query?: QueryInfo | null;
}

/**
 * A TLS connection seen on any port: what its handshake showed in clear (issues 3 and 9). Emitted once per
 * connection. The fields marked optional are always set by the sniffer (null or false when not seen); they
 * are absent only from observations replayed from records stored before they existed.
 */
export interface TlsObservation {
  kind: "tls";
  tsMicros: number;
  client: Endpoint;
  server: Endpoint;
  /** The negotiated version ("TLS 1.2", "TLS 1.3", "SSL 3.0"); null when no ServerHello was seen. */
  version: string | null;
  /** The server's (leaf) certificate; TLS 1.3 encrypts it, so it is null there. */
  certificate: {
    subject: string;
    issuer: string;
    notBefore: string;
    notAfter: string;
    selfSigned: boolean;
    /** The public key's type as node:crypto names it: "rsa", "rsa-pss", "ec", "ed25519", "dsa", ... */
    keyType?: string | null;
    /** RSA/DSA modulus bits, or the size in bits of the EC curve's field. */
    keyBits?: number | null;
    /** The EC named curve ("prime256v1", "secp384r1", ...). */
    keyCurve?: string | null;
  } | null;
  /** The negotiated cipher suite's IANA name ("TLS_RSA_WITH_NULL_SHA256"), or "0xC0A0" when not known. */
  cipherSuite?: string | null;
  /** Its code point (RFC 5246 §A.5, RFC 8446 §B.4). */
  cipherSuiteId?: number | null;
  /** Alerts sent in clear (at most a few), with the side that sent them (RFC 5246 §7.2, RFC 8446 §6). */
  alerts?: { from: "client" | "server"; level: string; description: string }[];
  /** A fatal alert came before the handshake completed. */
  handshakeFailure?: boolean;
  /** The suite encrypts nothing (NULL cipher): the application data crosses the wire readable. */
  plaintext?: boolean;
  /** The NULL cipher's application data was decoded as DICOM (its associations are reported too). */
  plaintextDicom?: boolean;
}

/** An anomaly on a flow; findings may turn some into dicom.malformed. */
export interface AnomalyObservation {
  kind: "anomaly";
  tsMicros: number;
  code: string;
  layer: string;
  flow: string;
  client: Endpoint | null;
  server: Endpoint | null;
}

/**
 * What a host's own traffic beside DICOM says about its system or its remote-access services (issue 11):
 * one decoder event of agent/hosts/, with who sent it. An operating system is attributed only to the
 * sender of the packets that carried it (`host`), by IP behind its MAC: a router's MAC stands in front of
 * many hosts.
 */
export interface HostObservation {
  kind: "host";
  tsMicros: number;
  /** The sender of what the event describes. */
  host: Endpoint;
  /** The other end of its connection or datagram; null for a broadcast. */
  peer: Endpoint | null;
  /** `host` is the server side of a TCP connection (it accepted it); false for its client and for UDP. */
  hostIsServer: boolean;
  event: HostEvent;
}

export type Observation =
  | ConnectionObservation
  | AssociationObservation
  | EquipmentObservation
  | DimseObservation
  | TlsObservation
  | HostObservation
  | AnomalyObservation;

export interface ObservationSink {
  observe(o: Observation): void;
}
