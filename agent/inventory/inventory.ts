/**
 * The device inventory (DESIGN.md §2, issue 3): folds observations into devices keyed by MAC and IP. The
 * class wires its parts: identity.ts finds (or creates) the device of an endpoint and restores stored ones,
 * classify.ts classes a device with its reason, record.ts builds the published record; this file folds each
 * observation into the devices' state (device.ts).
 *
 * Who is a device. Hosts that take part in DICOM (associations, DIMSE messages, datasets) become devices.
 * TCP handshakes of other hosts only feed a bounded side table of listening ports per IP, merged when the
 * host shows up in DICOM, so a sensor on a busy network does not inventory every laptop.
 *
 * Equipment named in datasets is kept per sender in `equipmentSeen`; whether it is the sender's own is
 * classify.ts's judgement (ownEquipment).
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
  HostObservation,
  Observation,
  TlsObservation,
} from "../observations/types.js";
import type { EquipmentAttributes } from "../dicom/types.js";
import { recogniseToolkit } from "./toolkit.js";
import { classFor, ownEquipment } from "./classify.js";
import {
  addCapped,
  MAX_EQUIPMENT,
  MAX_PEERS,
  MAX_PORTS,
  MAX_SOP,
  MAX_AE,
  MAX_TS,
  strings,
  type DeviceState,
} from "./device.js";
import { DeviceTable, deviceIdFor, MAX_DEVICES } from "./identity.js";
import { deviceRecord, type InventoryDevice } from "./record.js";
import type { DeviceIdentity } from "../profiles/profiles.js";
import { formatEndpoint } from "../util/flow.js";
import { CidrSet } from "../config/cidr.js";
import { addEvidence, foldService, HostState, isServiceEvent, setHostName, type OsEvidence } from "./host.js";
import { hostNameOf, osEvidenceOf } from "./os.js";

import {
  DICOM_TLS_PORTS,
  isDerivedObject,
  isQueryRetrieve,
  isStorage,
  MODALITY_WORKLIST_FIND,
  MPPS,
} from "../dicom/sop.js";

export type { DeviceClass } from "./classify.js";
export { deviceIdFor, MAX_DEVICES, RESTORE_SHARE } from "./identity.js";
export { type EquipmentSeen, type InventoryDevice, type TlsService } from "./record.js";

const MAX_SIDE_IPS = 8192;
/** Addresses whose SYN fingerprints wait to join a device (a few hundred bytes each). */
const MAX_SIDE_SYN = 1024;
/** Port entries across the whole side table: 8192 hosts with 256 ports each would be ~2 M set entries. */
const MAX_SIDE_ENTRIES = 65536;
const MAX_SERVER_ENDPOINTS = 8192;
/** AE titles indexed for hasAeTitle. */
const MAX_AE_INDEX = 16384;

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

export class Inventory {
  onChange?: (d: DeviceRecord) => void;

  /** The devices, found by MAC and IP (identity.ts). */
  private readonly table: DeviceTable;
  /** Listening ports of hosts not (yet) in the inventory: ip -> ports. */
  private readonly sidePorts = new Map<string, Set<number>>();
  private sideEntries = 0;
  /** "ip:port" of association acceptors, to tell who requested an association from a dataset's endpoints. */
  private readonly serverEndpoints = new Set<string>();
  private readonly dirty = new Set<DeviceState>();
  /** Every AE title of every device (see hasAeTitle), up to MAX_AE_INDEX. */
  private readonly aeIndex = new Set<string>();
  private aeIndexFull = false;
  /** The last acceptor noted, so a run of messages on one association builds its "ip:port" key once. */
  private lastServerIp = "";
  private lastServerPort = -1;
  private lastServerKey = "";
  /** The last equipment attributes keyed: a study's images all name the same equipment. */
  private lastEquipment: EquipmentAttributes | null = null;
  private lastEquipmentKey = "";

  /** SYN fingerprints of addresses that are no device yet (MAX_SIDE_SYN), applied when one becomes one. */
  private readonly sideSyn = new Map<
    string,
    { evidence: Omit<OsEvidence, "first" | "last">; ts: number }[]
  >();
  /** Devices made from host observations alone (hostDevice), and those turned away at half the table. */
  private hostOnlyMade = 0;
  private hostOnlyDropped = 0;
  /** config.networks.internal: hosts known only from their system's traffic are inventoried inside it. */
  private readonly internal: CidrSet;

  constructor(
    readonly config: Config,
    maxDevices = MAX_DEVICES,
  ) {
    this.table = new DeviceTable(maxDevices);
    this.internal = new CidrSet(config.networks.internal);
  }

  /** Hosts not inventoried because the MAX_DEVICES cap was reached. */
  get devicesDropped(): number {
    // With the hosts known only from their system's traffic turned away at their half of the table.
    return this.table.dropped + this.hostOnlyDropped;
  }

  /** Restored devices (in stored order), then the devices first seen in this run, in that order. */
  devices(): InventoryDevice[] {
    const out: InventoryDevice[] = [];
    for (const d of this.table.restoredOrder) out.push(deviceRecord(d));
    for (const d of this.table.order) out.push(deviceRecord(d));
    return out;
  }

  /** The ids of devices(), in the same order, without building their records. */
  *deviceIds(): Generator<string> {
    for (const d of this.table.restoredOrder) yield d.id;
    for (const d of this.table.order) yield d.id;
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
    return this.table.restore(records, (ae) => this.indexAe(ae));
  }

  device(id: string): InventoryDevice | undefined {
    const d = this.table.byId(id);
    return d ? deviceRecord(d) : undefined;
  }

  /**
   * Number of devices first seen in this run (restored ones are not counted); devices are never removed,
   * so devicesSince(n) lists the ones added after a count n.
   */
  get size(): number {
    return this.table.order.length;
  }

  /** Records of the devices added after the first n (what the findings engine has not announced yet). */
  devicesSince(n: number): InventoryDevice[] {
    const out: InventoryDevice[] = [];
    const order = this.table.order;
    for (let i = n; i < order.length; i++) out.push(deviceRecord(order[i]!));
    return out;
  }

  /** The id of the device an endpoint belongs to (existing or the one it would get); creates nothing. */
  idFor(ep: { ip: string; mac: string | null }): string {
    return this.table.find(ep)?.id ?? deviceIdFor(ep.ip, ep.mac);
  }

  /** True when the device at this endpoint has taken part in DICOM. */
  /** A device seen speaking DICOM (hosts known only from their system's traffic are not). */
  isDicomDevice(ep: { ip: string; mac: string | null }): boolean {
    return this.table.find(ep)?.isDicom() === true;
  }

  /**
   * The manufacturer, model and software versions a device states for itself, as its record gives them
   * (record.ts: its own equipment, else what a restored record stored), without building the record: the
   * device-profile rule asks for every device at every settling tick. Null for an unknown endpoint.
   */
  equipmentOf(ep: { ip: string; mac: string | null }): DeviceIdentity | null {
    const d = this.table.find(ep);
    if (!d) return null;
    const own = ownEquipment(d);
    const unnamed = (own?.modality ?? null) === null && (own?.manufacturer ?? null) === null;
    if (d.restored && unnamed && (own?.manufacturerModelName ?? null) === null) {
      const r = d.restored;
      const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
      return {
        manufacturer: str(r.manufacturer),
        model: str(r.model),
        softwareVersions: strings(r.softwareVersions),
      };
    }
    return {
      manufacturer: own?.manufacturer ?? null,
      model: own?.manufacturerModelName ?? null,
      softwareVersions: own?.softwareVersions ?? [],
    };
  }

  /** Listening ports known for an IP (from devices or the side table). */
  listeningPortsOf(ip: string): number[] {
    const out = new Set<number>(this.sidePorts.get(ip) ?? []);
    for (const d of this.table.withIp(ip)) for (const p of d.listeningPorts) out.add(p);
    return [...out].sort((a, b) => a - b);
  }

  /** Whether an AE title was seen as a called AE that accepted an association, or as a calling AE. */
  hasAeTitle(ae: string): boolean {
    // The findings engine asks for every C-MOVE: an index, not a walk over all devices (unless the
    // index overflowed its cap, when the walk is the truth).
    if (this.aeIndex.has(ae)) return true;
    if (!this.aeIndexFull) return false;
    for (const d of this.table.order) if (d.aeRoles.has(ae)) return true;
    for (const d of this.table.restoredOrder) if (d.aeRoles.has(ae)) return true;
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
      case "host":
        this.hostObserved(o);
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
    if (this.onChange) for (const d of changed) this.onChange(deviceRecord(d));
  }

  /** Adds an AE title to the hasAeTitle index; past its cap, notes that the index is no longer the whole truth. */
  private indexAe(ae: string): void {
    if (this.aeIndex.size < MAX_AE_INDEX) this.aeIndex.add(ae);
    else if (!this.aeIndex.has(ae)) this.aeIndexFull = true;
  }

  private get(ep: Endpoint, ts: number): DeviceState | undefined {
    // A device first seen without a MAC keeps its id when a MAC appears later (find() falls back to it).
    let d = this.table.find(ep);
    if (!d) {
      d = this.table.add(ep, ts);
      if (!d) return undefined;
      const side = this.sidePorts.get(ep.ip);
      if (side) for (const p of side) addCapped(d.writableListeningPorts(), p, MAX_PORTS);
      // A host's SYN comes before the association that makes it a device: its fingerprint waited here.
      const syns = this.sideSyn.get(ep.ip);
      if (syns) {
        this.sideSyn.delete(ep.ip);
        const h = (d.host ??= new HostState());
        for (const syn of syns) addEvidence(h, syn.evidence, syn.ts);
        h.revision++;
      }
      this.dirty.add(d);
    }
    if (ts < d.first) d.first = ts;
    if (ts > d.last) d.last = ts;
    return d;
  }

  private connection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack") return;
    const d = this.table.find(o.server);
    if (d) {
      if (addCapped(d.writableListeningPorts(), o.server.port, MAX_PORTS)) this.dirty.add(d);
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
      key = formatEndpoint(server);
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
      this.indexAe(ae);
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
      if (addCapped(server.writableDicomPorts(), o.server.port, MAX_PORTS)) this.dirty.add(server);
      if (addCapped(server.writableListeningPorts(), o.server.port, MAX_PORTS)) this.dirty.add(server);
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
    if (addCapped(server.writableDicomPorts(), o.server.port, MAX_PORTS)) this.dirty.add(server);
    if (addCapped(server.writableListeningPorts(), o.server.port, MAX_PORTS)) this.dirty.add(server);
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
    const senderBefore = classFor(sender);
    const receiverBefore = classFor(receiver);
    switch (m.command) {
      case "C-STORE-RQ":
        sender.storeSent++;
        // A C-STORE from the acceptor's side is a C-GET sub-operation (PS3.4 C.4.3): not its own images.
        if (o.direction !== 0) sender.storeSentNotAsRequestor++;
        if (receiver.storeReceivedFrom.size < MAX_PEERS) receiver.writableStoreReceivedFrom().add(sender.id);
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
    if (classFor(sender) !== senderBefore || classFor(receiver) !== receiverBefore) {
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
    if (!dicomPort && !this.isDicomDevice(o.server)) return;
    const server = this.get(o.server, o.tsMicros);
    if (!server) return;
    // On other ports (a PACS's HTTPS web viewer) the client is any browser: it is not made a DICOM device
    // (which would put the laptop's own SMB or RDP port under net.risky-service).
    const client = dicomPort
      ? this.get(o.client, o.tsMicros)
      : this.isDicomDevice(o.client)
        ? this.table.find(o.client)
        : undefined;
    if (addCapped(server.writableListeningPorts(), o.server.port, MAX_PORTS)) this.dirty.add(server);
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
    server.writableTls().set(o.server.port, { version: o.version, certificate, last: o.tsMicros });
  }

  /**
   * A host's own traffic beside DICOM (issue 11): evidence of its system and host name for the sender,
   * the service for both ends. A host on the internal networks that shows such evidence becomes a device
   * (class "other" until it speaks DICOM), so a Windows XP console is listed before it sends an image; a
   * SYN's TTL alone makes nobody a device (every web server a workstation visits would be one), and
   * addresses outside the internal networks are never inventoried from this.
   */
  private hostObserved(o: HostObservation): void {
    const e = o.event;
    const ts = o.tsMicros;
    const sender = this.hostDevice(o.host, ts, e.kind !== "tcp-syn");
    if (!sender && e.kind === "tcp-syn") {
      // Not a device (yet): the fingerprint waits for it, as listening ports do (bounded, MAX_SIDE_SYN).
      const ev = osEvidenceOf(e);
      if (!ev) return;
      let syns = this.sideSyn.get(o.host.ip);
      if (!syns) {
        // Full (a long day of web servers' SYN/ACKs): start afresh rather than refuse new hosts forever.
        if (this.sideSyn.size >= MAX_SIDE_SYN) this.sideSyn.clear();
        syns = [];
        this.sideSyn.set(o.host.ip, syns);
      }
      // Its SYN and its SYN/ACK (a host is client and server): two at most.
      if (syns.length < 2 && !syns.some((x) => x.evidence.detail === ev.evidence.detail))
        syns.push({ evidence: ev.evidence, ts });
      return;
    }
    if (sender) {
      const h = (sender.host ??= new HostState());
      const ev = osEvidenceOf(e);
      let changed = false;
      if (ev) {
        if (addEvidence(h, ev.evidence, ts)) changed = true;
        if (ev.edition && ev.edition !== h.edition) {
          h.edition = ev.edition;
          changed = true;
        }
      }
      const name = hostNameOf(e);
      if (name && setHostName(h, name.name, name.source)) changed = true;
      if (changed) {
        h.revision++;
        this.dirty.add(sender);
      }
    }
    // Only a service concerns the other end (a SYN, DHCP or a user agent says nothing of the peer).
    if (o.peer === null || !isServiceEvent(e)) return;
    const serverEp = o.hostIsServer ? o.host : o.peer;
    const clientEp = o.hostIsServer ? o.peer : o.host;
    const server = o.hostIsServer ? sender : this.hostDevice(serverEp, ts, true);
    const client = o.hostIsServer ? this.hostDevice(clientEp, ts, true) : sender;
    const sh = server ? (server.host ??= new HostState()) : null;
    const ch = client ? (client.host ??= new HostState()) : null;
    if (foldService(o, sh, ch)) {
      for (const [d, h] of [
        [server, sh],
        [client, ch],
      ] as const) {
        if (!d || !h) continue;
        h.revision++;
        this.dirty.add(d);
      }
    }
  }

  /**
   * A cheap mark of what the inventory knows of a host's system and services: it changes whenever they
   * do (0 for an unknown host), so a rule can skip building the device's record when nothing moved.
   */
  hostRevision(ep: { ip: string; mac: string | null }): number {
    return this.table.find(ep)?.host?.revision ?? 0;
  }

  /** The device of a host endpoint; made when `create` and the address is internal (and not 0.0.0.0). */
  private hostDevice(ep: Endpoint, ts: number, create: boolean): DeviceState | undefined {
    const known = this.table.find(ep);
    if (known) {
      if (ts > known.last) known.last = ts;
      return known;
    }
    if (!create || ep.ip === "0.0.0.0" || ep.ip === "::" || !this.internal.has(ep.ip)) return undefined;
    // At most half the table: a busy segment's workstations must not crowd out the DICOM devices.
    if (this.hostOnlyMade >= this.table.maxDevices >> 1) {
      this.hostOnlyDropped++;
      return undefined;
    }
    const made = this.get(ep, ts);
    if (made) this.hostOnlyMade++;
    return made;
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
    sender
      .writableEquipment()
      .set(key, { attrs: a, acquisition, count: 1, first: o.tsMicros, last: o.tsMicros });
    // A C-STORE from the association's acceptor is a C-GET sub-operation, not the sender's own image.
    if (this.serverEndpoints.has(formatEndpoint(o.sender))) sender.storeSentNotAsRequestor++;
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
}
