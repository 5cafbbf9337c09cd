/**
 * Observations: plain records the parsing pipeline emits; inventory and findings fold them (DESIGN.md §2).
 * Parsing never decides policy. No observation carries patient data: dataset attributes are limited to
 * EquipmentAttributes, and user identity to the username and whether a passcode was present.
 */
import type { Endpoint, HandshakeResult } from "../reassembly/types.js";
import type { AssociationRecord, DimseMessageRecord } from "../report/types.js";
import type { EquipmentAttributes, QueryInfo } from "../dicom/types.js";

/** A TCP connection attempt or pick-up; tells which ports listen (syn-ack) or refuse (rst). */
export interface ConnectionObservation {
  kind: "connection";
  tsMicros: number;
  client: Endpoint;
  server: Endpoint;
  handshake: HandshakeResult;
}

/** A DICOM association, emitted once when it ends (release, abort, reject, close or end of capture). */
export interface AssociationObservation {
  kind: "association";
  tsMicros: number;
  client: Endpoint;
  server: Endpoint;
  record: AssociationRecord;
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

/** A TLS handshake seen on any port (issue 3 fills this in). */
export interface TlsObservation {
  kind: "tls";
  tsMicros: number;
  client: Endpoint;
  server: Endpoint;
  version: string | null;
  certificate: {
    subject: string;
    issuer: string;
    notBefore: string;
    notAfter: string;
    selfSigned: boolean;
  } | null;
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

export type Observation =
  | ConnectionObservation
  | AssociationObservation
  | EquipmentObservation
  | DimseObservation
  | TlsObservation
  | AnomalyObservation;

export interface ObservationSink {
  observe(o: Observation): void;
}
