/**
 * The contract between the findings engine and its rules. A rule module (one per rule id, or per tight
 * family, in this folder) owns its state, reads its thresholds from the config, handles the observations
 * it cares about and settles what waits in finish(); it raises findings through the context. The engine
 * only routes observations to the rules (in the order of rules/index.ts), deduplicates, re-raises and caps.
 * A rule that throws costs only that one observation: the engine catches it and counts an anomaly of layer
 * "findings" carrying the rule's id.
 */
import type { Config } from "../../config/types.js";
import type { Inventory } from "../../inventory/inventory.js";
import type {
  AnomalyObservation,
  AssociationObservation,
  ConnectionObservation,
  DimseObservation,
  HostObservation,
  TlsObservation,
} from "../../observations/types.js";
import type { DeviceRecord } from "../../report/types.js";
import type { Evidence, Hit, RuleId } from "../catalogue.js";

/** What rules may ask the inventory (which has seen the observation first): devices, ports, AE titles. */
export type InventoryView = Pick<
  Inventory,
  "device" | "isDicomDevice" | "listeningPortsOf" | "hasAeTitle" | "hostRevision" | "equipmentOf"
>;

export interface RuleContext {
  readonly config: Config;
  readonly inventory: InventoryView;
  /** The inventory's device id of an endpoint (the same id either way round with the inventory). */
  id(ep: { ip: string; mac: string | null }): string;
  /** Whether an address is inside config.networks.internal. */
  isInternal(ip: string): boolean;
  /** Raises a finding, or folds the hit into the finding of the same (rule, device, peer, key). */
  hit(h: Hit): void;
  /** The evidence of the finding held under (rule, device, peer, key), if any. */
  evidence(
    rule: RuleId,
    device: string | null,
    peer: string | null,
    key: string,
  ): Readonly<Evidence> | undefined;
}

/** One association as the rules see it: the facts several rules judge by, worked out once. */
export interface AssociationEvent {
  readonly o: AssociationObservation;
  /** The flow, "client-server" as util/flow.ts spells it (the association record's own spelling). */
  readonly flow: string;
  readonly ts: number;
  /** AE titles trimmed (PS3.8 §9.3.2 pads them with spaces), null when empty. */
  readonly calling: string | null;
  readonly called: string | null;
  /** Device ids of the two ends. */
  readonly client: string;
  readonly server: string;
  /** Accepted, or seen working (picked up mid-stream, or with messages) though its AC was not seen. */
  readonly accepted: boolean;
  readonly rejected: boolean;
  /**
   * Attributed to a scanner (known now, or suspected until its silence is confirmed): set by rules/scanner.ts,
   * which runs first, so that later rules do not report the scanner's traffic as a device's (cleartext,
   * vulnerable implementation, AE titles in use).
   */
  scanner: boolean;
}

/** One rule module. Every handler is optional; the engine calls those a rule has, in routing order. */
export interface Rule {
  /** The rule ids this module raises (one, or a tight family); they name it in the anomaly when it throws. */
  readonly ids: readonly RuleId[];
  /** Every observation, before it is routed: capture time went on to tsMicros. */
  tick?(tsMicros: number): void;
  /**
   * An association or a DIMSE message made its flow's endpoints (with MACs) known; called on every rule
   * that has it before the observation is routed to onAssociation/onDimse.
   */
  onEndpoints?(o: AssociationObservation | DimseObservation): void;
  onConnection?(o: ConnectionObservation): void;
  onAssociation?(a: AssociationEvent): void;
  onDimse?(o: DimseObservation): void;
  onTls?(o: TlsObservation): void;
  /** A host's own traffic beside DICOM (issue 11); the inventory has folded it already. */
  onHost?(o: HostObservation): void;
  onAnomaly?(o: AnomalyObservation): void;
  /**
   * A new DICOM device: one the inventory learnt of since the previous observation, or a host it listed
   * earlier from its system's traffic alone (issue 11) that now speaks DICOM (the engine holds those back).
   */
  onNewDevice?(d: DeviceRecord, tsMicros: number): void;
  /** End of capture or a periodic tick: settles what waited at least settleMicros (see FindingsEngine.finish). */
  finish?(tsMicros: number, settleMicros: number): void;
}

/** Keys a rule tracks (sources, services, AE titles): peer-controlled, so capped (oldest forgotten). */
export const MAX_TRACKED = 2048;
/** Items listed in one finding's evidence. */
export const MAX_LIST = 32;

/** An AE title trimmed, or null when absent or blank. */
export function trimAe(ae: string | null): string | null {
  if (ae === null) return null;
  const t = ae.trim();
  return t === "" ? null : t;
}
