/**
 * The state the inventory keeps per device while it observes (DESIGN.md §2, issue 3): what it has seen the
 * device do, capped, and the behaviour counters its class is judged by (classify.ts). record.ts turns it
 * into the published DeviceRecord; identity.ts finds it by MAC and IP.
 */
import type { EquipmentAttributes } from "../dicom/types.js";
import type { TlsObservation } from "../observations/types.js";
import type { DeviceRecord } from "../report/types.js";
import type { ToolkitInfo } from "./toolkit.js";
import type { HostState } from "./host.js";
import { microsFromIso } from "../util/time.js";

/** Caps on what one device can accumulate, so hostile or huge traffic cannot grow memory without bound. */
export const MAX_AE = 64;
export const MAX_SOP = 256;
export const MAX_TS = 64;
export const MAX_PEERS = 512;
export const MAX_EQUIPMENT = 64;
export const MAX_PORTS = 256;

export function addCapped<T>(set: Set<T>, v: T, cap: number): boolean {
  if (set.has(v) || set.size >= cap) return false;
  set.add(v);
  return true;
}

export interface EquipmentState {
  attrs: EquipmentAttributes;
  /** True once an acquisition object (not a derived one, see isDerivedObject) named this equipment. */
  acquisition: boolean;
  count: number;
  first: number;
  last: number;
}

export interface TlsServiceState {
  version: string | null;
  certificate: TlsObservation["certificate"];
  last: number;
}

/**
 * What an unfilled lazy collection reads as (see DeviceState). Shared by every device, so it must never be
 * written: it is typed read-only, and the writable collection is made by the writable*() methods.
 */
export const EMPTY_SET: ReadonlySet<never> = new Set<never>();
export const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();

export class DeviceState {
  readonly aeRoles = new Map<string, Set<string>>();
  readonly sopClasses = new Set<string>();
  readonly transferSyntaxes = new Set<string>();
  readonly peers = new Set<string>();
  /*
   * Collections most devices never fill are made at their first entry; until then they read as the shared
   * EMPTY_SET / EMPTY_MAP. A DICOM client has no listening or DICOM port, no TLS service, no equipment
   * and stores to nobody: under a flood of new hosts the 2 048 devices' empty sets and maps were 2 MiB of
   * the capture thread's heap (a V8 Set costs ~150 bytes, a Map ~180, before any entry), issue 9.
   */
  private listening: Set<number> | null = null;
  private dicom: Set<number> | null = null;
  private equipmentState: Map<string, EquipmentState> | null = null;
  private tlsState: Map<number, TlsServiceState> | null = null;
  private receivedFrom: Set<string> | null = null;

  get listeningPorts(): ReadonlySet<number> {
    return this.listening ?? EMPTY_SET;
  }
  writableListeningPorts(): Set<number> {
    return (this.listening ??= new Set());
  }
  get dicomPorts(): ReadonlySet<number> {
    return this.dicom ?? EMPTY_SET;
  }
  writableDicomPorts(): Set<number> {
    return (this.dicom ??= new Set());
  }
  get equipment(): ReadonlyMap<string, EquipmentState> {
    return this.equipmentState ?? EMPTY_MAP;
  }
  writableEquipment(): Map<string, EquipmentState> {
    return (this.equipmentState ??= new Map());
  }
  get tls(): ReadonlyMap<number, TlsServiceState> {
    return this.tlsState ?? EMPTY_MAP;
  }
  writableTls(): Map<number, TlsServiceState> {
    return (this.tlsState ??= new Map());
  }
  /** Devices that sent this one C-STORE (as requestor), by id. */
  get storeReceivedFrom(): ReadonlySet<string> {
    return this.receivedFrom ?? EMPTY_SET;
  }
  writableStoreReceivedFrom(): Set<string> {
    return (this.receivedFrom ??= new Set());
  }
  implementation: { implementationClassUid: string | null; implementationVersionName: string | null } | null =
    null;
  toolkit: ToolkitInfo | null = null;
  /** Its system and remote-access services (issue 11), made at the first host observation. */
  host: HostState | null = null;
  /** Attributes the device stated for itself (MPPS). */
  own: EquipmentAttributes | null = null;
  // Behaviour counters for the class.
  storeSent = 0;
  storeSentNotAsRequestor = 0;
  qrScp = 0;
  qrScu = 0;
  worklistScu = 0;
  mppsScu = 0;
  echoOnly = true;
  /**
   * The record stored by an earlier run when the device was restored (Inventory.restore). Behaviour
   * counters are not stored, so until this run sees the behaviour again, the stored equipment and class
   * stand in for what the live counters cannot tell yet (a restart must not make a known modality
   * "unknown").
   */
  restored: DeviceRecord | null = null;
  constructor(
    readonly id: string,
    readonly ip: string,
    readonly mac: string | null,
    public first: number,
    public last: number,
  ) {}

  /**
   * Seen speaking DICOM (associations, messages, datasets, DICOM TLS), or restored as a DICOM device: not
   * a host known only from its system's own traffic (issue 11), which the DICOM rules must leave alone.
   */
  isDicom(): boolean {
    return (
      this.aeRoles.size > 0 ||
      this.dicomPorts.size > 0 ||
      this.peers.size > 0 ||
      this.sopClasses.size > 0 ||
      this.tls.size > 0 ||
      this.equipment.size > 0 ||
      (this.restored !== null && this.restored.class !== "other")
    );
  }
}

/** Capture microseconds of a stored ISO time; 0 (the epoch) when it does not parse. */
export function micros(isoTime: unknown): number {
  return (typeof isoTime === "string" ? microsFromIso(isoTime) : null) ?? 0;
}

export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function numbers(v: unknown): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : [];
}
