/**
 * The device inventory (DESIGN.md §2, issue 3): folds observations into devices keyed by MAC and IP.
 *
 * Identity. A device is a (MAC, IP) pair, or an IP alone when the link layer carried no MAC (raw IP or
 * cooked captures). Behind a router every remote host shares the router's MAC, so the pair, not the MAC,
 * is the key. Ids are stable across runs and readable in MQTT topics:
 *   "ip-10.1.2.3"                      no MAC seen
 *   "mac-0050569a0b0c-10.1.2.3"        MAC 00:50:56:9a:0b:0c with IP 10.1.2.3
 * An observation without a MAC is attributed to an existing device with that IP (the first one).
 *
 * Who is a device. Hosts that take part in DICOM (associations, DIMSE messages, datasets) become devices.
 * TCP handshakes of other hosts only feed a bounded side table of listening ports per IP, merged when the
 * host shows up in DICOM, so a sensor on a busy network does not inventory every laptop.
 *
 * Equipment. The sender of a C-STORE is not always the equipment that made the image: a PACS forwards
 * studies of many modalities (C-MOVE sub-operations are C-STOREs it initiates). Equipment named in datasets
 * is kept per sender in `equipmentSeen` and becomes the device's own modality/manufacturer/model only when
 * the evidence says the sender is that equipment: it sends MPPS for itself (PS3.4 Annex F), or it always
 * stores as the association requestor, never acts as an archive (no Query/Retrieve SCP, no C-STORE
 * received from others), exactly one equipment identity appears in what it sends, and that identity came
 * with acquisition objects (not only secondary captures, reports or presentation states, which a
 * workstation makes naming the original equipment).
 *
 * onChange is called when a device appears or a visible field changes; a change of lastSeen alone does
 * not call it (a busy modality would otherwise republish its record for every image).
 */
import type { Config } from "../config/types.js";
import type { Endpoint } from "../reassembly/types.js";
import type { DeviceRecord } from "../report/types.js";
import type {
  AssociationObservation,
  ConnectionObservation,
  DimseObservation,
  EquipmentObservation,
  Observation,
  TlsObservation,
} from "../observations/types.js";
import type { EquipmentAttributes } from "../dicom/types.js";
import { recogniseToolkit, type ToolkitInfo } from "./toolkit.js";
import {
  DICOM_TLS_PORTS,
  isDerivedObject,
  isQueryRetrieve,
  isStorage,
  MODALITY_WORKLIST_FIND,
  MPPS,
} from "../dicom/sop.js";

export type DeviceClass = "modality" | "archive" | "workstation" | "unknown";

export interface EquipmentSeen {
  modality: string | null;
  manufacturer: string | null;
  model: string | null;
  stationName: string | null;
  serialNumber: string | null;
  softwareVersions: string[];
  institutionName: string | null;
  /** Datasets that named this equipment. */
  count: number;
  firstSeen: string;
  lastSeen: string;
}

/** The inventory's device record: the report's listed fields plus the ones issue 3 adds. */
export interface InventoryDevice extends DeviceRecord {
  implementation: { implementationClassUid: string | null; implementationVersionName: string | null } | null;
  toolkit: ToolkitInfo | null;
  /** Roles per AE title: SCU when it requested associations with that calling AE, SCP when it accepted as called AE. */
  aeRoles: { aeTitle: string; roles: string[] }[];
  class: DeviceClass;
  classReason: string;
  serialNumber: string | null;
  institutionName: string | null;
  transferSyntaxes: string[];
  /** Ids of devices it had associations with. */
  peers: string[];
  /** Equipment named in datasets this device sent (not necessarily itself; see the module comment). */
  equipmentSeen: EquipmentSeen[];
  /** Server ports where this device accepted DICOM associations. */
  dicomPorts: number[];
  /** TLS services: on the DICOM ports of any host, and on any port of a DICOM device; as handshakes showed. */
  tlsServices: TlsService[];
}

export interface TlsService {
  port: number;
  version: string | null;
  certificate: TlsObservation["certificate"];
  lastSeen: string;
}

/** Caps on what one device can accumulate, so hostile or huge traffic cannot grow memory without bound. */
const MAX_AE = 64;
const MAX_SOP = 256;
const MAX_TS = 64;
const MAX_PEERS = 512;
const MAX_EQUIPMENT = 64;
const MAX_PORTS = 256;
const MAX_SIDE_IPS = 65536;
/** Port entries across the whole side table: 65536 hosts with 256 ports each would be ~16 M set entries. */
const MAX_SIDE_ENTRIES = 262144;
const MAX_SERVER_ENDPOINTS = 65536;
/** Endpoint spellings remembered by the lookup cache before it starts over (see Inventory.find). */
const MAX_CACHED_ENDPOINTS = 16384;
/**
 * Devices kept. Any address that sends one A-ASSOCIATE-RQ (or a spoofed packet picked up mid-stream)
 * becomes a device, so the table is capped; past the cap new hosts are counted in devicesDropped, not
 * inventoried (an imaging room has tens of DICOM devices, a site hundreds; the memory budget of
 * agent/pipeline/pipeline.ts counts about 2 kB a device).
 */
export const MAX_DEVICES = 4096;
/** The share of MAX_DEVICES that devices restored from the store may fill (see Inventory.restore). */
export const RESTORE_SHARE = 0.75;
/** AE titles indexed for hasAeTitle. */
const MAX_AE_INDEX = 16384;

/**
 * ISO 8601 (millisecond precision) of a capture timestamp. Capture files can lie (a pcapng timestamp of
 * 2^64 units): out of Date's ±8.64e15 ms range, or not finite, gives the epoch instead of a RangeError
 * that would break every later report of the device.
 */
export function iso(micros: number): string {
  const ms = Math.floor(micros / 1000);
  return new Date(Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : 0).toISOString();
}

export function deviceIdFor(ip: string, mac: string | null): string {
  return mac ? `mac-${mac.toLowerCase().replace(/[^0-9a-f]/g, "")}-${ip}` : `ip-${ip}`;
}

function addCapped<T>(set: Set<T>, v: T, cap: number): boolean {
  if (set.has(v) || set.size >= cap) return false;
  set.add(v);
  return true;
}

/** The identity of one equipment: what Array.join gives (null and "" alike), without building an array. */
function equipmentKey(a: EquipmentAttributes): string {
  return (
    (a.manufacturer ?? "") +
    "\u0000" +
    (a.manufacturerModelName ?? "") +
    "\u0000" +
    (a.deviceSerialNumber ?? "") +
    "\u0000" +
    (a.stationName ?? "") +
    "\u0000" +
    (a.modality ?? "")
  );
}

interface EquipmentState {
  attrs: EquipmentAttributes;
  /** True once an acquisition object (not a derived one, see isDerivedObject) named this equipment. */
  acquisition: boolean;
  count: number;
  first: number;
  last: number;
}

class DeviceState {
  readonly aeRoles = new Map<string, Set<string>>();
  readonly listeningPorts = new Set<number>();
  readonly dicomPorts = new Set<number>();
  readonly sopClasses = new Set<string>();
  readonly transferSyntaxes = new Set<string>();
  readonly peers = new Set<string>();
  readonly equipment = new Map<string, EquipmentState>();
  readonly tls = new Map<
    number,
    { version: string | null; certificate: TlsObservation["certificate"]; last: number }
  >();
  implementation: { implementationClassUid: string | null; implementationVersionName: string | null } | null =
    null;
  toolkit: ToolkitInfo | null = null;
  /** Attributes the device stated for itself (MPPS). */
  own: EquipmentAttributes | null = null;
  // Behaviour counters for the class.
  storeSent = 0;
  storeSentNotAsRequestor = 0;
  storeReceivedFrom = new Set<string>();
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
}

export class Inventory {
  onChange?: (d: DeviceRecord) => void;

  private readonly byKey = new Map<string, DeviceState>();
  private readonly byIp = new Map<string, DeviceState[]>();
  private readonly order: DeviceState[] = [];
  /** Devices restored from the store (restore()): known, but not first seen in this run. */
  private readonly restoredOrder: DeviceState[] = [];
  /** Listening ports of hosts not (yet) in the inventory: ip -> ports. */
  private readonly sidePorts = new Map<string, Set<number>>();
  private sideEntries = 0;
  /** "ip:port" of association acceptors, to tell who requested an association from a dataset's endpoints. */
  private readonly serverEndpoints = new Set<string>();
  private readonly dirty = new Set<DeviceState>();
  /** Every AE title of every device (see hasAeTitle), up to MAX_AE_INDEX. */
  private readonly aeIndex = new Set<string>();
  private aeIndexFull = false;
  /**
   * find() results by IP, then by MAC as spelled in the observation ("" for none), so that the per-message
   * lookups build no id string. Only hits are kept: once an endpoint maps to a device it always maps to
   * that one (devices are never removed, and a device is created only when find() found none).
   */
  private readonly found = new Map<string, Map<string, DeviceState>>();
  private foundCount = 0;
  /** The last acceptor noted, so a run of messages on one association builds its "ip:port" key once. */
  private lastServerIp = "";
  private lastServerPort = -1;
  private lastServerKey = "";
  /** The last equipment attributes keyed: a study's images all name the same equipment. */
  private lastEquipment: EquipmentAttributes | null = null;
  private lastEquipmentKey = "";

  /** Hosts not inventoried because the MAX_DEVICES cap was reached. */
  devicesDropped = 0;

  constructor(
    readonly config: Config,
    private readonly maxDevices = MAX_DEVICES,
  ) {}

  /** Restored devices (in stored order), then the devices first seen in this run, in that order. */
  devices(): InventoryDevice[] {
    const out: InventoryDevice[] = [];
    for (const d of this.restoredOrder) out.push(this.record(d));
    for (const d of this.order) out.push(this.record(d));
    return out;
  }

  /**
   * Seeds the inventory with devices an earlier run stored (the agent calls it at start, before any
   * observation), so that a restart does not take every known device for a new one. A restored device is
   * found by its endpoints like any other but is not counted in size/devicesSince: those list the devices
   * first seen in this run, which is what the findings engine announces as inventory.new-device.
   * Its identity, first/last seen, AE titles and roles, ports, SOP classes, transfer syntaxes, peers and
   * implementation are taken from the record; what this run observes adds to them. Records whose id is
   * already known, or that lack an id or ip, are skipped.
   *
   * The device cap counts restored devices, but restoring fills at most RESTORE_SHARE of it, the most
   * recently seen devices first: the store may keep more devices than the cap (its budget is in bytes),
   * and stale ones must not leave no room for the new devices of this run. A device not restored that
   * shows up again is announced as new once more (the store merges that finding with the one it kept).
   * Returns how many devices were restored.
   */
  restore(records: readonly DeviceRecord[]): number {
    const room = Math.floor(this.maxDevices * RESTORE_SHARE) - this.order.length - this.restoredOrder.length;
    const valid = records.filter(
      (r) => typeof r.id === "string" && typeof r.ip === "string" && !this.byKey.has(r.id),
    );
    // Newest lastSeen first (ISO strings order as times; a missing one sorts last).
    const key = (r: DeviceRecord): string => (typeof r.lastSeen === "string" ? r.lastSeen : "");
    valid.sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
    let n = 0;
    for (const r of valid) {
      if (n >= room || this.byKey.has(r.id)) continue;
      const first = micros(r.firstSeen);
      const last = micros(r.lastSeen);
      const d = new DeviceState(
        r.id,
        r.ip,
        typeof r.mac === "string" ? r.mac : null,
        first,
        Math.max(first, last),
      );
      d.restored = r;
      const aeRoles = Array.isArray(r.aeRoles)
        ? (r.aeRoles as { aeTitle?: unknown; roles?: unknown }[])
        : strings(r.aeTitles).map((aeTitle) => ({ aeTitle, roles: [] }));
      for (const e of aeRoles) {
        if (typeof e.aeTitle !== "string" || d.aeRoles.size >= MAX_AE) continue;
        d.aeRoles.set(e.aeTitle, new Set(strings(e.roles)));
        if (this.aeIndex.size < MAX_AE_INDEX) this.aeIndex.add(e.aeTitle);
        else if (!this.aeIndex.has(e.aeTitle)) this.aeIndexFull = true;
      }
      for (const p of numbers(r.listeningPorts)) addCapped(d.listeningPorts, p, MAX_PORTS);
      for (const p of numbers(r.dicomPorts)) addCapped(d.dicomPorts, p, MAX_PORTS);
      for (const x of strings(r.sopClasses)) addCapped(d.sopClasses, x, MAX_SOP);
      for (const x of strings(r.transferSyntaxes)) addCapped(d.transferSyntaxes, x, MAX_TS);
      for (const x of strings(r.peers)) addCapped(d.peers, x, MAX_PEERS);
      if (r.implementation !== null && typeof r.implementation === "object")
        d.implementation = r.implementation as DeviceState["implementation"];
      if (r.toolkit !== null && typeof r.toolkit === "object") d.toolkit = r.toolkit as ToolkitInfo;
      if (Array.isArray(r.tlsServices))
        for (const t of r.tlsServices as Partial<TlsService>[]) {
          if (typeof t.port !== "number" || d.tls.size >= MAX_PORTS) continue;
          d.tls.set(t.port, {
            version: t.version ?? null,
            certificate: t.certificate ?? null,
            last: micros(t.lastSeen),
          });
        }
      this.byKey.set(r.id, d);
      const list = this.byIp.get(r.ip);
      if (list) list.push(d);
      else this.byIp.set(r.ip, [d]);
      this.restoredOrder.push(d);
      n++;
    }
    return n;
  }

  device(id: string): InventoryDevice | undefined {
    const d = this.byKey.get(id);
    return d ? this.record(d) : undefined;
  }

  /**
   * Number of devices first seen in this run (restored ones are not counted); devices are never removed,
   * so devicesSince(n) lists the ones added after a count n.
   */
  get size(): number {
    return this.order.length;
  }

  /** Records of the devices added after the first n (what the findings engine has not announced yet). */
  devicesSince(n: number): InventoryDevice[] {
    const out: InventoryDevice[] = [];
    for (let i = n; i < this.order.length; i++) out.push(this.record(this.order[i]!));
    return out;
  }

  /** The id of the device an endpoint belongs to (existing or the one it would get); creates nothing. */
  idFor(ep: { ip: string; mac: string | null }): string {
    return this.find(ep)?.id ?? deviceIdFor(ep.ip, ep.mac);
  }

  /** True when the device at this endpoint has taken part in DICOM. */
  isDicomDevice(ep: { ip: string; mac: string | null }): boolean {
    return this.find(ep) !== undefined;
  }

  /** Listening ports known for an IP (from devices or the side table). */
  listeningPortsOf(ip: string): number[] {
    const out = new Set<number>(this.sidePorts.get(ip) ?? []);
    for (const d of this.byIp.get(ip) ?? []) for (const p of d.listeningPorts) out.add(p);
    return [...out].sort((a, b) => a - b);
  }

  /** Whether an AE title was seen as a called AE that accepted an association, or as a calling AE. */
  hasAeTitle(ae: string): boolean {
    // The findings engine asks for every C-MOVE: an index, not a walk over all devices (unless the
    // index overflowed its cap, when the walk is the truth).
    if (this.aeIndex.has(ae)) return true;
    if (!this.aeIndexFull) return false;
    for (const d of this.order) if (d.aeRoles.has(ae)) return true;
    for (const d of this.restoredOrder) if (d.aeRoles.has(ae)) return true;
    return false;
  }

  observe(o: Observation): void {
    switch (o.kind) {
      case "connection":
        this.connection(o);
        break;
      case "association":
        this.association(o);
        break;
      case "dimse":
        this.dimse(o);
        break;
      case "equipment":
        this.equipmentObserved(o);
        break;
      case "tls":
        this.tlsObserved(o);
        break;
      default:
        // Anomalies describe flows, not devices; findings handle them.
        break;
    }
    this.flush();
  }

  private flush(): void {
    if (this.dirty.size === 0) return;
    const changed = [...this.dirty];
    this.dirty.clear();
    if (this.onChange) for (const d of changed) this.onChange(this.record(d));
  }

  private find(ep: { ip: string; mac: string | null }): DeviceState | undefined {
    const mac = ep.mac ?? "";
    let macs = this.found.get(ep.ip);
    const hit = macs?.get(mac);
    if (hit) return hit;
    const d = this.lookup(ep);
    if (d) {
      if (this.foundCount >= MAX_CACHED_ENDPOINTS) {
        // Many spellings of endpoints (hostile traffic): start over rather than grow without bound.
        this.found.clear();
        this.foundCount = 0;
        macs = undefined;
      }
      if (!macs) {
        macs = new Map();
        this.found.set(ep.ip, macs);
      }
      macs.set(mac, d);
      this.foundCount++;
    }
    return d;
  }

  private lookup(ep: { ip: string; mac: string | null }): DeviceState | undefined {
    if (ep.mac) return this.byKey.get(deviceIdFor(ep.ip, ep.mac)) ?? this.byKey.get(deviceIdFor(ep.ip, null));
    const list = this.byIp.get(ep.ip);
    return list?.[0];
  }

  private get(ep: Endpoint, ts: number): DeviceState | undefined {
    // A device first seen without a MAC keeps its id when a MAC appears later (find() falls back to it).
    let d = this.find(ep);
    if (!d) {
      if (this.order.length + this.restoredOrder.length >= this.maxDevices) {
        this.devicesDropped++;
        return undefined;
      }
      const id = deviceIdFor(ep.ip, ep.mac);
      d = new DeviceState(id, ep.ip, ep.mac, ts, ts);
      this.byKey.set(id, d);
      const list = this.byIp.get(ep.ip);
      if (list) list.push(d);
      else this.byIp.set(ep.ip, [d]);
      this.order.push(d);
      const side = this.sidePorts.get(ep.ip);
      if (side) for (const p of side) addCapped(d.listeningPorts, p, MAX_PORTS);
      this.dirty.add(d);
    }
    if (ts < d.first) d.first = ts;
    if (ts > d.last) d.last = ts;
    return d;
  }

  private connection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack") return;
    const d = this.find(o.server);
    if (d) {
      if (addCapped(d.listeningPorts, o.server.port, MAX_PORTS)) this.dirty.add(d);
      if (o.tsMicros > d.last) d.last = o.tsMicros;
    }
    let side = this.sidePorts.get(o.server.ip);
    if (!side) {
      if (this.sidePorts.size >= MAX_SIDE_IPS) return;
      side = new Set();
      this.sidePorts.set(o.server.ip, side);
    }
    if (this.sideEntries < MAX_SIDE_ENTRIES && addCapped(side, o.server.port, MAX_PORTS)) this.sideEntries++;
  }

  private noteServer(server: Endpoint): void {
    let key = this.lastServerKey;
    if (server.port !== this.lastServerPort || server.ip !== this.lastServerIp) {
      key = `${server.ip}:${server.port}`;
      this.lastServerIp = server.ip;
      this.lastServerPort = server.port;
      this.lastServerKey = key;
    }
    if (this.serverEndpoints.has(key)) return;
    // Full: forget the oldest acceptor; a long-running sensor keeps learning.
    if (this.serverEndpoints.size >= MAX_SERVER_ENDPOINTS)
      this.serverEndpoints.delete(this.serverEndpoints.values().next().value as string);
    this.serverEndpoints.add(key);
  }

  private role(d: DeviceState, ae: string | null, role: "SCU" | "SCP"): void {
    if (!ae) return;
    let roles = d.aeRoles.get(ae);
    if (!roles) {
      if (d.aeRoles.size >= MAX_AE) return;
      roles = new Set();
      d.aeRoles.set(ae, roles);
      if (this.aeIndex.size < MAX_AE_INDEX) this.aeIndex.add(ae);
      else if (!this.aeIndex.has(ae)) this.aeIndexFull = true;
    }
    if (!roles.has(role)) {
      roles.add(role);
      this.dirty.add(d);
    }
  }

  private implementationOf(d: DeviceState, impl: AssociationObservation["record"]["requestor"]): void {
    if (!impl || (!impl.implementationClassUid && !impl.implementationVersionName)) return;
    const cur = d.implementation;
    if (
      cur &&
      cur.implementationClassUid === impl.implementationClassUid &&
      cur.implementationVersionName === impl.implementationVersionName
    )
      return;
    d.implementation = {
      implementationClassUid: impl.implementationClassUid,
      implementationVersionName: impl.implementationVersionName,
    };
    d.toolkit = recogniseToolkit(impl.implementationClassUid, impl.implementationVersionName);
    this.dirty.add(d);
  }

  private association(o: AssociationObservation): void {
    const r = o.record;
    const client = this.get(o.client, o.tsMicros);
    const server = this.get(o.server, o.tsMicros);
    if (!client || !server) return;
    const accepted =
      r.outcome !== "rejected" && (r.acceptor !== null || o.midStream || r.messages.length > 0);
    if (addCapped(client.peers, server.id, MAX_PEERS)) this.dirty.add(client);
    if (addCapped(server.peers, client.id, MAX_PEERS)) this.dirty.add(server);
    this.implementationOf(client, r.requestor);
    this.implementationOf(server, r.acceptor);
    // A rejected association names a called AE the server does not answer to (or a scanner's guess).
    this.role(client, r.callingAE, "SCU");
    if (accepted) {
      this.role(server, r.calledAE, "SCP");
      this.noteServer(o.server);
      if (addCapped(server.dicomPorts, o.server.port, MAX_PORTS)) this.dirty.add(server);
      if (addCapped(server.listeningPorts, o.server.port, MAX_PORTS)) this.dirty.add(server);
    }
    for (const pc of r.presentationContexts) {
      if (pc.result !== "acceptance" && !(o.midStream && pc.result === null)) continue;
      if (pc.abstractSyntax) {
        if (addCapped(client.sopClasses, pc.abstractSyntax, MAX_SOP)) this.dirty.add(client);
        if (addCapped(server.sopClasses, pc.abstractSyntax, MAX_SOP)) this.dirty.add(server);
      }
      if (pc.transferSyntax) {
        if (addCapped(client.transferSyntaxes, pc.transferSyntax, MAX_TS)) this.dirty.add(client);
        if (addCapped(server.transferSyntaxes, pc.transferSyntax, MAX_TS)) this.dirty.add(server);
      }
    }
  }

  private dimse(o: DimseObservation): void {
    const client = this.get(o.client, o.tsMicros);
    const server = this.get(o.server, o.tsMicros);
    if (!client || !server) return;
    this.noteServer(o.server);
    if (addCapped(server.dicomPorts, o.server.port, MAX_PORTS)) this.dirty.add(server);
    if (addCapped(server.listeningPorts, o.server.port, MAX_PORTS)) this.dirty.add(server);
    if (addCapped(client.peers, server.id, MAX_PEERS)) this.dirty.add(client);
    if (addCapped(server.peers, client.id, MAX_PEERS)) this.dirty.add(server);
    const m = o.message;
    const sender = o.direction === 0 ? client : server;
    const receiver = o.direction === 0 ? server : client;
    if (m.sopClassUid) {
      if (addCapped(client.sopClasses, m.sopClassUid, MAX_SOP)) this.dirty.add(client);
      if (addCapped(server.sopClasses, m.sopClassUid, MAX_SOP)) this.dirty.add(server);
    }
    if (!m.command.endsWith("-RQ")) return;
    if (m.command !== "C-ECHO-RQ") {
      if (sender.echoOnly) this.dirty.add(sender);
      if (receiver.echoOnly) this.dirty.add(receiver);
      sender.echoOnly = false;
      receiver.echoOnly = false;
    }
    const senderBefore = classCase(sender);
    const receiverBefore = classCase(receiver);
    switch (m.command) {
      case "C-STORE-RQ":
        sender.storeSent++;
        // A C-STORE from the acceptor's side is a C-GET sub-operation (PS3.4 C.4.3): not its own images.
        if (o.direction !== 0) sender.storeSentNotAsRequestor++;
        if (receiver.storeReceivedFrom.size < MAX_PEERS) receiver.storeReceivedFrom.add(sender.id);
        break;
      case "C-FIND-RQ":
      case "C-MOVE-RQ":
      case "C-GET-RQ":
        if (m.sopClassUid === MODALITY_WORKLIST_FIND) sender.worklistScu++;
        else if (isQueryRetrieve(m.sopClassUid) || m.sopClassUid === null) {
          sender.qrScu++;
          receiver.qrScp++;
        }
        break;
      case "N-CREATE-RQ":
      case "N-SET-RQ":
        if (m.sopClassUid === MPPS) sender.mppsScu++;
        break;
      default:
        break;
    }
    if (
      CASE_CLASS[classCase(sender)] !== CASE_CLASS[senderBefore] ||
      CASE_CLASS[classCase(receiver)] !== CASE_CLASS[receiverBefore]
    ) {
      this.dirty.add(sender);
      this.dirty.add(receiver);
    }
    this.role(client, o.callingAE, "SCU");
    this.role(server, o.calledAE, "SCP");
  }

  /**
   * DICOM over TLS shows no associations, only a handshake: a server on a DICOM port (or a host already
   * known for DICOM) becomes a device with its TLS service, so a PACS that speaks only TLS is not missed.
   */
  private tlsObserved(o: TlsObservation): void {
    const dicomPort = DICOM_TLS_PORTS.has(o.server.port);
    if (!dicomPort && !this.find(o.server)) return;
    const server = this.get(o.server, o.tsMicros);
    if (!server) return;
    // On other ports (a PACS's HTTPS web viewer) the client is any browser: it is not made a DICOM device
    // (which would put the laptop's own SMB or RDP port under net.risky-service).
    const client = dicomPort ? this.get(o.client, o.tsMicros) : this.find(o.client);
    if (addCapped(server.listeningPorts, o.server.port, MAX_PORTS)) this.dirty.add(server);
    if (client) {
      if (addCapped(server.peers, client.id, MAX_PEERS)) this.dirty.add(server);
      if (addCapped(client.peers, server.id, MAX_PEERS)) this.dirty.add(client);
    }
    const cur = server.tls.get(o.server.port);
    if (!cur && server.tls.size >= 16) return;
    // TLS 1.3 hides the certificate: keep the one an earlier TLS 1.2 handshake showed.
    const certificate = o.certificate ?? cur?.certificate ?? null;
    if (!cur || cur.version !== o.version || JSON.stringify(cur.certificate) !== JSON.stringify(certificate))
      this.dirty.add(server);
    server.tls.set(o.server.port, { version: o.version, certificate, last: o.tsMicros });
  }

  private equipmentObserved(o: EquipmentObservation): void {
    const sender = this.get(o.sender, o.tsMicros);
    this.get(o.receiver, o.tsMicros);
    if (!sender) return;
    const a = o.attributes;
    if (o.sopClassUid === MPPS && (o.command === "N-CREATE-RQ" || o.command === "N-SET-RQ")) {
      // The performer of a procedure step reports it for itself (PS3.4 F.7.2): its own attributes.
      const own = sender.own;
      sender.own = {
        modality: a.modality ?? own?.modality ?? null,
        manufacturer: a.manufacturer ?? own?.manufacturer ?? null,
        institutionName: a.institutionName ?? own?.institutionName ?? null,
        stationName: a.stationName ?? own?.stationName ?? null,
        manufacturerModelName: a.manufacturerModelName ?? own?.manufacturerModelName ?? null,
        deviceSerialNumber: a.deviceSerialNumber ?? own?.deviceSerialNumber ?? null,
        softwareVersions: a.softwareVersions.length > 0 ? a.softwareVersions : (own?.softwareVersions ?? []),
      };
      this.dirty.add(sender);
      return;
    }
    if (o.command !== "C-STORE-RQ" || !isStorage(o.sopClassUid)) return;
    if (!a.manufacturer && !a.manufacturerModelName && !a.stationName && !a.deviceSerialNumber && !a.modality)
      return;
    const key = this.equipmentKeyOf(a);
    const acquisition = !isDerivedObject(o.sopClassUid);
    const e = sender.equipment.get(key);
    if (e) {
      e.count++;
      if (o.tsMicros > e.last) e.last = o.tsMicros;
      if (acquisition && !e.acquisition) {
        e.acquisition = true;
        this.dirty.add(sender);
      }
      return;
    }
    if (sender.equipment.size >= MAX_EQUIPMENT) return;
    sender.equipment.set(key, { attrs: a, acquisition, count: 1, first: o.tsMicros, last: o.tsMicros });
    // A C-STORE from the association's acceptor is a C-GET sub-operation, not the sender's own image.
    if (this.serverEndpoints.has(`${o.sender.ip}:${o.sender.port}`)) sender.storeSentNotAsRequestor++;
    this.dirty.add(sender);
  }

  private equipmentKeyOf(a: EquipmentAttributes): string {
    const l = this.lastEquipment;
    if (
      l !== null &&
      l.manufacturer === a.manufacturer &&
      l.manufacturerModelName === a.manufacturerModelName &&
      l.deviceSerialNumber === a.deviceSerialNumber &&
      l.stationName === a.stationName &&
      l.modality === a.modality
    )
      return this.lastEquipmentKey;
    this.lastEquipment = a;
    this.lastEquipmentKey = equipmentKey(a);
    return this.lastEquipmentKey;
  }

  private record(d: DeviceState): InventoryDevice {
    const rec = this.liveRecord(d);
    return d.restored ? withRestored(rec, d.restored) : rec;
  }

  private liveRecord(d: DeviceState): InventoryDevice {
    const own = ownEquipment(d);
    const { cls, reason } = classOf(d);
    const aeTitles = [...d.aeRoles.keys()].sort();
    const roles = new Set<string>();
    for (const r of d.aeRoles.values()) for (const x of r) roles.add(x);
    return {
      id: d.id,
      ip: d.ip,
      mac: d.mac,
      aeTitles,
      roles: [...roles].sort(),
      aeRoles: aeTitles.map((ae) => ({ aeTitle: ae, roles: [...(d.aeRoles.get(ae) ?? [])].sort() })),
      listeningPorts: [...d.listeningPorts].sort((a, b) => a - b),
      dicomPorts: [...d.dicomPorts].sort((a, b) => a - b),
      tlsServices: [...d.tls.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([port, s]) => ({
          port,
          version: s.version,
          certificate: s.certificate,
          lastSeen: iso(s.last),
        })),
      implementation: d.implementation,
      toolkit: d.toolkit,
      modality: own?.modality ?? null,
      manufacturer: own?.manufacturer ?? null,
      model: own?.manufacturerModelName ?? null,
      softwareVersions: own?.softwareVersions ?? [],
      stationName: own?.stationName ?? null,
      serialNumber: own?.deviceSerialNumber ?? null,
      institutionName: own?.institutionName ?? null,
      sopClasses: [...d.sopClasses].sort(),
      transferSyntaxes: [...d.transferSyntaxes].sort(),
      peers: [...d.peers].sort(),
      equipmentSeen: [...d.equipment.values()].map((e) => ({
        modality: e.attrs.modality,
        manufacturer: e.attrs.manufacturer,
        model: e.attrs.manufacturerModelName,
        stationName: e.attrs.stationName,
        serialNumber: e.attrs.deviceSerialNumber,
        softwareVersions: e.attrs.softwareVersions,
        institutionName: e.attrs.institutionName,
        count: e.count,
        firstSeen: iso(e.first),
        lastSeen: iso(e.last),
      })),
      class: cls,
      classReason: reason,
      firstSeen: iso(d.first),
      lastSeen: iso(d.last),
    };
  }
}

/** Capture microseconds of a stored ISO time; 0 (the epoch) when it does not parse. */
function micros(isoTime: unknown): number {
  const ms = typeof isoTime === "string" ? Date.parse(isoTime) : NaN;
  return Number.isFinite(ms) ? ms * 1000 : 0;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function numbers(v: unknown): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : [];
}

/**
 * A restored device's record: where this run's evidence says nothing yet (equipment unattributed, class
 * unknown), the stored record's values stand, so a restart does not publish a known device as less known.
 */
function withRestored(rec: InventoryDevice, stored: DeviceRecord): InventoryDevice {
  const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
  if (rec.modality === null && rec.manufacturer === null && rec.model === null) {
    rec.modality = str(stored.modality);
    rec.manufacturer = str(stored.manufacturer);
    rec.model = str(stored.model);
    rec.softwareVersions = strings(stored.softwareVersions);
    rec.stationName = str(stored.stationName);
    rec.serialNumber = str(stored.serialNumber);
    rec.institutionName = str(stored.institutionName);
  }
  if (rec.class === "unknown" && typeof stored.class === "string") {
    rec.class = stored.class as DeviceClass;
    rec.classReason = typeof stored.classReason === "string" ? stored.classReason : rec.classReason;
  }
  if (rec.equipmentSeen.length === 0 && Array.isArray(stored.equipmentSeen))
    rec.equipmentSeen = stored.equipmentSeen as EquipmentSeen[];
  return rec;
}

/** True when the device behaves as an archive: answers Query/Retrieve or receives C-STOREs from others. */
function actsAsArchive(d: DeviceState): boolean {
  return d.qrScp > 0 || d.storeReceivedFrom.size > 0;
}

/** The device's own equipment attributes, when the evidence attributes them to it (see module comment). */
function ownEquipment(d: DeviceState): EquipmentAttributes | null {
  if (d.own) return d.own;
  if (d.equipment.size !== 1 || d.storeSentNotAsRequestor > 0 || actsAsArchive(d)) return null;
  const only = d.equipment.values().next().value;
  return only && only.acquisition ? only.attrs : null;
}

/** Which rule of classOf() applies (the rules in order; the first that holds wins). */
const enum ClassCase {
  QrScp,
  StoreFromMany,
  Mpps,
  Worklist,
  OwnEquipment,
  QrScu,
  StoreFromOne,
  Forwarder,
  TlsOnly,
  EchoOnly,
  Other,
}

/** The class each ClassCase gives, indexed by the case. */
const CASE_CLASS: readonly DeviceClass[] = [
  "archive",
  "archive",
  "modality",
  "modality",
  "modality",
  "workstation",
  "archive",
  "unknown",
  "unknown",
  "unknown",
  "unknown",
];

/** The rule that classes the device; cheap (no strings), as the DIMSE path asks it for every request. */
function classCase(d: DeviceState): ClassCase {
  if (d.qrScp > 0) return ClassCase.QrScp;
  if (d.storeReceivedFrom.size >= 2) return ClassCase.StoreFromMany;
  if (d.mppsScu > 0) return ClassCase.Mpps;
  if (d.worklistScu > 0) return ClassCase.Worklist;
  if (d.storeSent > 0 && ownEquipment(d)) return ClassCase.OwnEquipment;
  if (d.qrScu > 0) return ClassCase.QrScu;
  if (d.storeReceivedFrom.size === 1) return ClassCase.StoreFromOne;
  if (d.storeSent > 0 && d.equipment.size > 1) return ClassCase.Forwarder;
  if (d.tls.size > 0 && d.aeRoles.size === 0) return ClassCase.TlsOnly;
  if (d.echoOnly) return ClassCase.EchoOnly;
  return ClassCase.Other;
}

function classOf(d: DeviceState): { cls: DeviceClass; reason: string } {
  const c = classCase(d);
  return { cls: CASE_CLASS[c]!, reason: classReason(d, c) };
}

function classReason(d: DeviceState, c: ClassCase): string {
  switch (c) {
    case ClassCase.QrScp:
      return "answers Query/Retrieve requests (C-FIND/C-MOVE/C-GET) as SCP";
    case ClassCase.StoreFromMany:
      return `receives C-STORE from ${d.storeReceivedFrom.size} devices`;
    case ClassCase.Mpps:
      return "reports Modality Performed Procedure Steps (N-CREATE/N-SET)";
    case ClassCase.Worklist:
      return "queries the Modality Worklist";
    case ClassCase.OwnEquipment: {
      const own = ownEquipment(d);
      return `stores images as association requestor naming one equipment${own?.modality ? ` (modality ${own.modality})` : ""}`;
    }
    case ClassCase.QrScu:
      return "queries and retrieves from an archive as SCU";
    case ClassCase.StoreFromOne:
      return "receives C-STORE (storage SCP)";
    case ClassCase.Forwarder:
      return `sends images of ${d.equipment.size} different equipment (a router or forwarder?)`;
    case ClassCase.TlsOnly:
      return `serves DICOM TLS on port ${[...d.tls.keys()].join(", ")}; its traffic is encrypted`;
    case ClassCase.EchoOnly:
      return "no DICOM service beyond association or C-ECHO seen";
    default:
      return "its DICOM traffic does not match a class";
  }
}
