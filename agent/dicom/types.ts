/**
 * Contracts inside the DICOM layer: the Upper Layer (PS3.8) hands PDV fragments to the DIMSE assembler
 * (PS3.7), which hands dataset bytes to the dataset walker. Everything is streaming: a PDV value may
 * span many PDUs and TCP segments, and only small, capped parts are ever copied.
 */
import type { AnomalySink, Counters } from "../util/anomaly.js";
import type { DimseMessageRecord } from "../report/types.js";

/** What the DIMSE layer needs to know of the association (filled from A-ASSOCIATE-RQ/AC). */
export interface PresentationContextLookup {
  /** The accepted transfer syntax UID of a presentation context, or null when unknown. */
  transferSyntax(pcId: number): string | null;
  /** The abstract syntax (SOP class) UID proposed for a presentation context, or null when unknown. */
  abstractSyntax(pcId: number): string | null;
}

/** Device-describing attributes read from the head of a dataset (never patient attributes). */
export interface EquipmentAttributes {
  modality: string | null; // (0008,0060)
  manufacturer: string | null; // (0008,0070)
  institutionName: string | null; // (0008,0080)
  stationName: string | null; // (0008,1010)
  manufacturerModelName: string | null; // (0008,1090)
  deviceSerialNumber: string | null; // (0018,1000)
  softwareVersions: string[]; // (0018,1020), multi-valued
}

export interface DimseEvents {
  /** A complete DIMSE message (command set decoded; any dataset walked or skipped). */
  message(msg: DimseMessageRecord, pcId: number, hasDataset: boolean, tsMicros: number): void;
  /** Equipment attributes found in a dataset that followed `msg` (C-STORE-RQ, C-FIND-RSP, ...). */
  equipment(attrs: EquipmentAttributes, msg: DimseMessageRecord, pcId: number, tsMicros: number): void;
}

export interface DimseContext {
  flow: string;
  lookup: PresentationContextLookup;
  events: DimseEvents;
  anomalies: AnomalySink;
  counters: Counters;
}

/**
 * Receives the PDVs of one direction of one association, in order (PS3.8 §9.3.5.1 and Annex E).
 * The UL framer calls pdvBegin, then pdvData zero or more times with consecutive slices of the PDV
 * value (views valid only during the call), then pdvEnd. reset() drops partial state after a gap.
 */
export interface PdvConsumer {
  pdvBegin(pcId: number, isCommand: boolean, isLast: boolean, valueLength: number, tsMicros: number): void;
  pdvData(buf: Buffer, start: number, end: number): void;
  pdvEnd(): void;
  reset(reason: string): void;
}

/** Counters of the DICOM layer that the report's `stats` shows. */
export interface DicomStats {
  /** TCP connections recognised as DICOM by content. */
  dicomFlows: number;
  /** Associations seen (requested, or picked up mid-way). */
  associations: number;
  /** Complete DIMSE messages decoded. */
  dimseMessages: number;
}
