/**
 * Contracts inside the DICOM layer: the Upper Layer (PS3.8) hands PDV fragments to the DIMSE assembler
 * (PS3.7), which hands dataset bytes to the dataset walker. Everything is streaming: a PDV value may
 * span many PDUs and TCP segments, and only small, capped parts are ever copied.
 */
import type { AnomalySink, AnomalyTally, Counters } from "../util/anomaly.js";
import type { DatasetStop, DimseMessageRecord } from "../report/types.js";

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

/**
 * The shape of a C-FIND-RQ Identifier (PS3.4 C.4.1.1.3, C.6): how many keys it holds and how many of them
 * restrict the match. Never any key's value: those are patient data (names, IDs, dates). Only the
 * Query/Retrieve Level (0008,0052), a CS of at most 16 bytes that names a level, is kept as text.
 */
export interface QueryInfo {
  /** (0008,0052) Query/Retrieve Level ("PATIENT", "STUDY", "SERIES", "IMAGE"); null when absent. */
  level: string | null;
  /** Matching and return keys present (not Specific Character Set, the level, or other non-keys). */
  keys: number;
  /**
   * Keys with a value that is neither empty nor only wildcards ("*", "?"): zero means universal matching
   * on every key (PS3.4 C.2.2.2.3: an empty value or "*" matches every entity).
   */
  matchingKeys: number;
}

export interface DimseEvents {
  /**
   * A DIMSE message whose command set arrived whole: when its data set ended (walked or skipped), or
   * stopped short (msg.dataset says how far it got and why), or at once when it has none. `query`
   * describes the Identifier of a C-FIND-RQ when it was walked completely, and is null or absent otherwise.
   */
  message(
    msg: DimseMessageRecord,
    pcId: number,
    hasDataset: boolean,
    tsMicros: number,
    query?: QueryInfo | null,
  ): void;
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
 * Why a PdvConsumer is reset: a DatasetStop (the stream of PDVs of its direction stopped, or lost bytes),
 * or "mid-stream" (an association picked up after its start: what comes first may be a message's tail).
 */
export type PdvReset = DatasetStop | "mid-stream";

/**
 * Receives the PDVs of one direction of one association, in order (PS3.8 §9.3.5.1 and Annex E).
 * The UL framer calls pdvBegin, then pdvData zero or more times with consecutive slices of the PDV
 * value (views valid only during the call), then pdvEnd. reset() drops partial state: after a gap or a
 * resync (from the framer), and when the association or the connection ends (from the connection), so a
 * message whose command set was complete but whose data set was not is reported with the reason.
 */
export interface PdvConsumer {
  pdvBegin(pcId: number, isCommand: boolean, isLast: boolean, valueLength: number, tsMicros: number): void;
  pdvData(buf: Buffer, start: number, end: number): void;
  pdvEnd(): void;
  reset(reason: PdvReset): void;
  /**
   * Optional fast path for floods (issue 9). When a data PDV received now would begin no message (no
   * command set being collected, none awaiting its data set: PS3.7 §6.3.1) and would have no other
   * effect than an anomaly: the tally each such PDV hits, or null when they pass uncounted (after a
   * loss). Undefined otherwise, and before the first such PDV went through pdvBegin (which reports it
   * with its detail). The framer then passes whole P-DATA-TFs of such PDVs without pdvBegin/pdvEnd.
   */
  strayData?(): AnomalyTally | null | undefined;
}

/** Counters of the DICOM layer that the report's `stats` shows. */
export interface DicomStats {
  /** TCP connections recognised as DICOM by content. */
  dicomFlows: number;
  /** Associations seen (requested, or picked up mid-way). */
  associations: number;
  /** DIMSE messages whose command set was decoded (those whose data set stopped short included). */
  dimseMessages: number;
}
