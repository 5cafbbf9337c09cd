/** Builders of observation records for inventory and findings tests. */
import type { Endpoint } from "../../agent/reassembly/types.js";
import { formatEndpoint, formatFlow } from "../../agent/util/flow.js";
import type {
  AssociationRecord,
  DimseMessageRecord,
  PresentationContextRecord,
} from "../../agent/report/types.js";
import type {
  AnomalyObservation,
  AssociationObservation,
  ConnectionObservation,
  DimseObservation,
  EquipmentObservation,
  TlsObservation,
} from "../../agent/observations/types.js";
import type { EquipmentAttributes } from "../../agent/dicom/types.js";

export const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
export const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
export const STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2";
export const VERIFICATION = "1.2.840.10008.1.1";
export const MWL_FIND = "1.2.840.10008.5.1.4.31";
export const EXPLICIT_LE = "1.2.840.10008.1.2.1";
export const DCMTK_367 = {
  implementationClassUid: "1.2.276.0.7230010.3.0.3.6.7",
  implementationVersionName: "OFFIS_DCMTK_367",
  maxPduLength: 16384,
};
export const DCM4CHE_5 = {
  implementationClassUid: "1.2.40.0.13.1.3",
  implementationVersionName: "dcm4che-5.31.0",
  maxPduLength: 16384,
};

let port = 40000;
export function ep(ip: string, p?: number, mac: string | null = null): Endpoint {
  return { ip, port: p ?? port++, mac };
}

export const T0 = Date.UTC(2026, 10, 25, 8, 0, 0) * 1000;
export function at(seconds: number): number {
  return T0 + Math.round(seconds * 1e6);
}

export function msg(command: string, extra: Partial<DimseMessageRecord> = {}): DimseMessageRecord {
  return {
    command,
    messageId: 1,
    messageIdBeingRespondedTo: null,
    sopClassUid: null,
    sopInstanceUid: null,
    status: null,
    moveDestination: null,
    priority: null,
    subOperations: null,
    ...extra,
  };
}

export function pc(
  id: number,
  abstractSyntax: string,
  result: PresentationContextRecord["result"] = "acceptance",
): PresentationContextRecord {
  return {
    id,
    abstractSyntax,
    transferSyntaxes: [EXPLICIT_LE],
    result,
    transferSyntax: result === "acceptance" ? EXPLICIT_LE : null,
  };
}

export interface AssocOpts {
  calling?: string | null;
  called?: string | null;
  outcome?: AssociationRecord["outcome"];
  requestor?: AssociationRecord["requestor"];
  acceptor?: AssociationRecord["acceptor"];
  pcs?: PresentationContextRecord[];
  messages?: DimseMessageRecord[];
  userIdentity?: AssociationRecord["userIdentity"];
  ts?: number;
  midStream?: boolean;
}

export function assoc(client: Endpoint, server: Endpoint, o: AssocOpts = {}): AssociationObservation {
  const outcome = o.outcome ?? "accepted";
  const ts = o.ts ?? at(0);
  return {
    kind: "association",
    tsMicros: ts,
    client,
    server,
    midStream: o.midStream ?? false,
    record: {
      client: formatEndpoint(client),
      server: formatEndpoint(server),
      callingAE: o.calling === undefined ? "STORESCU" : o.calling,
      calledAE: o.called === undefined ? "PACS" : o.called,
      applicationContext: "1.2.840.10008.3.1.1.1",
      requestor: o.requestor === undefined ? DCMTK_367 : o.requestor,
      acceptor: o.acceptor === undefined ? (outcome === "rejected" ? null : DCMTK_367) : o.acceptor,
      userIdentity: o.userIdentity ?? null,
      presentationContexts: o.pcs ?? [pc(1, CT_IMAGE_STORAGE, outcome === "rejected" ? null : "acceptance")],
      outcome,
      reject: outcome === "rejected" ? { result: 1, source: 1, reason: 7 } : null,
      abort: null,
      released: outcome === "accepted",
      messages: o.messages ?? [],
      messagesOmitted: 0,
      captureGaps: { count: 0, bytes: 0 },
      startMicros: ts,
      endMicros: ts,
    },
  };
}

export function dimse(
  client: Endpoint,
  server: Endpoint,
  direction: 0 | 1,
  message: DimseMessageRecord,
  o: { calling?: string; called?: string; ts?: number } = {},
): DimseObservation {
  return {
    kind: "dimse",
    tsMicros: o.ts ?? at(0),
    client,
    server,
    callingAE: o.calling ?? "STORESCU",
    calledAE: o.called ?? "PACS",
    direction,
    message,
  };
}

export function equipmentAttrs(a: Partial<EquipmentAttributes> = {}): EquipmentAttributes {
  return {
    modality: "CT",
    manufacturer: "ACME Medical",
    institutionName: "St Elsewhere",
    stationName: "CT01",
    manufacturerModelName: "Scanmaster 64",
    deviceSerialNumber: "SN-1234",
    softwareVersions: ["VB20"],
    ...a,
  };
}

export function equipment(
  sender: Endpoint,
  receiver: Endpoint,
  attributes: EquipmentAttributes,
  o: { command?: string; sop?: string; ts?: number } = {},
): EquipmentObservation {
  return {
    kind: "equipment",
    tsMicros: o.ts ?? at(0),
    sender,
    receiver,
    senderAE: "SENDER",
    receiverAE: "RECEIVER",
    command: o.command ?? "C-STORE-RQ",
    sopClassUid: o.sop ?? CT_IMAGE_STORAGE,
    attributes,
  };
}

export function connection(
  client: Endpoint,
  server: Endpoint,
  handshake: ConnectionObservation["handshake"] = "syn-ack",
  ts = at(0),
): ConnectionObservation {
  return { kind: "connection", tsMicros: ts, client, server, handshake };
}

export function anomaly(
  client: Endpoint,
  server: Endpoint,
  code: string,
  layer = "ul",
  ts = at(0),
): AnomalyObservation {
  return {
    kind: "anomaly",
    tsMicros: ts,
    code,
    layer,
    flow: formatFlow(client, server),
    client,
    server,
  };
}

export function tlsObs(
  client: Endpoint,
  server: Endpoint,
  version: string | null,
  certificate: TlsObservation["certificate"],
  ts = at(0),
): TlsObservation {
  return { kind: "tls", tsMicros: ts, client, server, version, certificate };
}
