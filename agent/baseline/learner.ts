/**
 * Folds a site's traffic into its baseline (types.ts): which peers used which DICOM service for what, which
 * ports each device answered on and which of those carried real sessions. Fed by rules/baseline.ts, which
 * sees the observations after the scanner rule has judged each association: a scanner's associations, probes
 * with a generic called AE title and rejected associations are no clinical flow and teach nothing.
 *
 * Every table is keyed by what peers send (addresses, AE titles, ports), so every table has a cap; what a
 * cap turns away is counted in the document's `truncated`.
 */
import type { ConnectionObservation, DimseObservation, TlsObservation } from "../observations/types.js";
import type { Endpoint } from "../reassembly/types.js";
import { MODALITY_WORKLIST_FIND, MPPS, DICOM_TLS_PORTS } from "../dicom/sop.js";
import { trimAe } from "../findings/rules/context.js";
import { formatEndpoint } from "../util/flow.js";
import { isoFromMicros as iso, microsFromIso } from "../util/time.js";
import type {
  BaselineDevice,
  BaselineDocument,
  BaselinePeer,
  BaselineService,
  ListeningPort,
  Operation,
  OperationUse,
} from "./types.js";

/** Storage Commitment Push Model SOP Class (PS3.4 Annex J.3). */
export const STORAGE_COMMITMENT_PUSH = "1.2.840.10008.1.20.1";

/*
 * The caps. A peer costs about 0.5 kB of heap, a listening port about 0.2 kB and a listed address about
 * 50 bytes: at every cap at once the learner holds under 12 MiB (the memory budget of issue 9), whatever
 * hostile traffic (forged handshakes, an SCP that accepts any AE title) feeds it.
 */
export const LIMITS = {
  services: 1024,
  peersPerService: 256,
  /** Peers of all services together. */
  peers: 8192,
  devices: 2048,
  portsPerDevice: 64,
  /** Listening ports of all devices together. */
  ports: 16_384,
  /** Client addresses listed under all listening ports together. */
  clients: 32_768,
  /** Items of a listed field (move destinations, a port's clients, a device's used services). */
  list: 32,
  /** Associations whose operations wait for the association's end (the scanner rule's verdict). */
  pending: 4096,
} as const;

/**
 * The operation a DIMSE request stands for, or null for what is no request of a peer's own (responses, a
 * C-STORE sub-operation of a C-GET, which comes from the acceptor). `fromRequestor`: sent by the side that
 * opened the association (PS3.7 §9.1: the SCU of C-services sends the request; N-EVENT-REPORT is the SCP's).
 */
export function operationOf(
  command: string,
  sopClassUid: string | null,
  fromRequestor: boolean,
): Operation | null {
  if (!command.endsWith("-RQ")) return null;
  const name = command.slice(0, -3);
  if (!fromRequestor) {
    // The acceptor's requests belong to the requestor's operation: C-STORE sub-operations of a C-GET, the
    // storage commitment result (N-EVENT-REPORT) sent back on the requestor's association.
    return name === "N-EVENT-REPORT" && sopClassUid === STORAGE_COMMITMENT_PUSH ? "storage-commitment" : null;
  }
  switch (name) {
    case "C-ECHO":
    case "C-STORE":
    case "C-MOVE":
    case "C-GET":
      return name;
    case "C-FIND":
      return sopClassUid === MODALITY_WORKLIST_FIND ? "worklist" : "C-FIND";
    case "C-CANCEL":
      return null;
    default:
      if (!name.startsWith("N-")) return null;
      if (sopClassUid === STORAGE_COMMITMENT_PUSH) return "storage-commitment";
      if (sopClassUid === MPPS) return "mpps";
      return "other";
  }
}

interface OpState {
  count: number;
  dests: string[] | null;
  first: number;
  last: number;
}

interface PeerState {
  ip: string;
  ae: string | null;
  internal: boolean;
  associations: number;
  creds: number;
  ops: Map<Operation, OpState>;
  first: number;
  last: number;
}

interface ServiceState {
  ip: string;
  port: number;
  ae: string | null;
  tls: boolean;
  peers: Map<string, PeerState>;
  first: number;
  last: number;
}

interface PortState {
  connections: number;
  sessions: number;
  associations: number;
  clients: string[];
  first: number;
  last: number;
}

interface DeviceState {
  ip: string;
  mac: string | null;
  internal: boolean;
  ports: Map<number, PortState>;
  uses: string[];
}

/** One operation seen on an association that has not ended yet. */
export interface PendingOp {
  op: Operation;
  dest: string | null;
  ts: number;
}

/** What the baseline rule knows of an ended association (an AssociationEvent's facts). */
export interface LearnedAssociation {
  client: Endpoint;
  server: Endpoint;
  flow: string;
  /** The association's start and end (capture time, micros). */
  start: number;
  ts: number;
  calling: string | null;
  called: string | null;
  /** A user identity (username, or with a passcode) was sent in clear. */
  credentials: boolean;
}

function serviceKey(ip: string, port: number, ae: string | null): string {
  return `${ip}|${port}|${ae ?? ""}`;
}

function peerKey(ip: string, ae: string | null): string {
  return `${ip}|${ae ?? ""}`;
}

/** Adds v unless listed or the list is full; whether it was added. */
function pushCapped(list: string[], v: string): boolean {
  if (list.length >= LIMITS.list || list.includes(v)) return false;
  list.push(v);
  return true;
}

/**
 * Whether a TLS observation is a DICOM service's session (PS3.15 Annex B): a completed handshake to a DICOM
 * TLS port, or to a host known to speak DICOM, or one that then carried DICOM in clear.
 */
export function isDicomTls(o: TlsObservation, dicomHost: boolean): boolean {
  if (o.version === null || o.handshakeFailure === true) return false;
  return DICOM_TLS_PORTS.has(o.server.port) || dicomHost || o.plaintextDicom === true;
}

export class BaselineLearner {
  private readonly services = new Map<string, ServiceState>();
  private readonly devices = new Map<string, DeviceState>();
  /** Operations of open associations, by flow, until the association ends. */
  private readonly pending = new Map<string, PendingOp[]>();
  private readonly truncated = { services: 0, peers: 0, devices: 0 };
  /** Entries of all services and devices together, against the global caps (LIMITS.peers, ports, clients). */
  private peerCount = 0;
  private portCount = 0;
  private clientCount = 0;
  /** Capture time of the first and latest observation learned from (micros; 0 before any). */
  first = 0;
  last = 0;

  constructor(private readonly isInternal: (ip: string) => boolean) {}

  private seen(ts: number): void {
    if (ts <= 0) return;
    if (this.first === 0 || ts < this.first) this.first = ts;
    if (ts > this.last) this.last = ts;
  }

  // ── reading ─────────────────────────────────────────────────────────────────────────────────────

  /** Nothing learned (no service, no device): there is no baseline to depart from. */
  get empty(): boolean {
    return this.services.size === 0 && this.devices.size === 0;
  }

  /**
   * Whether a cap kept something of this kind out while learning, so that its absence from the baseline
   * proves nothing: every service was learned (services), the service's peer list (peers), the device's
   * ports or used services (ports, uses) are complete.
   */
  incomplete(
    kind: "services" | "peers" | "ports" | "uses" | "devices",
    ip = "",
    port = 0,
    ae: string | null = null,
  ): boolean {
    switch (kind) {
      case "services":
        return this.truncated.services > 0;
      case "devices":
        return this.truncated.devices > 0;
      case "peers":
        return (
          this.peerCount >= LIMITS.peers ||
          (this.services.get(serviceKey(ip, port, ae))?.peers.size ?? 0) >= LIMITS.peersPerService
        );
      case "ports":
        return (
          this.portCount >= LIMITS.ports || (this.devices.get(ip)?.ports.size ?? 0) >= LIMITS.portsPerDevice
        );
      case "uses":
        return (this.devices.get(ip)?.uses.length ?? 0) >= LIMITS.list;
    }
  }

  /** The peers learned for a service, as "IP AE" ("IP" when no AE title), sorted. */
  servicePeers(ip: string, port: number, ae: string | null): string[] {
    const s = this.services.get(serviceKey(ip, port, ae));
    if (s === undefined) return [];
    return [...s.peers.values()]
      .sort((a, b) => compareIp(a.ip, b.ip) || (a.ae ?? "").localeCompare(b.ae ?? ""))
      .map((p) => (p.ae === null ? p.ip : `${p.ip} ${p.ae}`));
  }

  /** The services (port and called AE title) learned on a device, as "PORT AE", sorted. */
  servicesOf(ip: string): string[] {
    const out: string[] = [];
    for (const s of this.services.values())
      if (s.ip === ip) out.push(s.ae === null ? `${s.port}` : `${s.port} ${s.ae}`);
    return out.sort();
  }

  /** What a peer was learned doing on a service: operations with counts (and C-MOVE destinations). */
  peerOperations(
    ip: string,
    port: number,
    ae: string | null,
    peerIp: string,
    peerAe: string | null,
  ): { operation: Operation; count: number; moveDestinations?: string[] }[] {
    const peer = this.services.get(serviceKey(ip, port, ae))?.peers.get(peerKey(peerIp, peerAe));
    if (peer === undefined) return [];
    return [...peer.ops.entries()]
      .map(([operation, s]) => ({
        operation,
        count: s.count,
        ...(s.dests !== null ? { moveDestinations: [...s.dests].sort() } : {}),
      }))
      .sort((a, b) => (a.operation < b.operation ? -1 : a.operation > b.operation ? 1 : 0));
  }

  /**
   * Whether the peer's C-MOVEs on the service named this Move Destination (PS3.7 §9.3.4.1); true too when
   * its destination list was full (a cap is no evidence of a new one).
   */
  hasMoveDestination(
    ip: string,
    port: number,
    ae: string | null,
    peerIp: string,
    peerAe: string | null,
    dest: string,
  ): boolean {
    const op = this.services
      .get(serviceKey(ip, port, ae))
      ?.peers.get(peerKey(peerIp, peerAe))
      ?.ops.get("C-MOVE");
    if (op === undefined || op.dests === null) return false;
    return op.dests.includes(dest) || op.dests.length >= LIMITS.list;
  }

  /** The ports a device was learned listening on, sorted. */
  listeningPorts(ip: string): number[] {
    return [...(this.devices.get(ip)?.ports.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The server endpoints a device was learned using, sorted. */
  usesOf(ip: string): string[] {
    return [...(this.devices.get(ip)?.uses ?? [])].sort();
  }

  /** The service (ip, port, called AE title) if learned. */
  hasService(ip: string, port: number, ae: string | null): boolean {
    return this.services.has(serviceKey(ip, port, ae));
  }

  /** Whether any service on ip:port was learned (whatever its AE title). */
  hasServicePort(ip: string, port: number): boolean {
    const d = this.devices.get(ip);
    const p = d?.ports.get(port);
    return p !== undefined && p.associations > 0;
  }

  hasPeer(ip: string, port: number, ae: string | null, peerIp: string, peerAe: string | null): boolean {
    return this.services.get(serviceKey(ip, port, ae))?.peers.has(peerKey(peerIp, peerAe)) ?? false;
  }

  /** Whether the peer used this operation on the service (and, for C-MOVE with a destination, that one). */
  hasOperation(
    ip: string,
    port: number,
    ae: string | null,
    peerIp: string,
    peerAe: string | null,
    op: Operation,
  ): boolean {
    const peer = this.services.get(serviceKey(ip, port, ae))?.peers.get(peerKey(peerIp, peerAe));
    return peer?.ops.has(op) ?? false;
  }

  /** Whether the device was learned listening on the port. */
  hasListeningPort(ip: string, port: number): boolean {
    return this.devices.get(ip)?.ports.has(port) ?? false;
  }

  /** Whether the device was learned as a device at all. */
  hasDevice(ip: string): boolean {
    return this.devices.has(ip);
  }

  /** Whether the client device was learned using the server endpoint. */
  uses(clientIp: string, server: string): boolean {
    return this.devices.get(clientIp)?.uses.includes(server) ?? false;
  }

  // ── learning ────────────────────────────────────────────────────────────────────────────────────

  private device(e: Endpoint): DeviceState | null {
    let d = this.devices.get(e.ip);
    if (d === undefined) {
      if (this.devices.size >= LIMITS.devices) {
        this.truncated.devices++;
        return null;
      }
      d = { ip: e.ip, mac: e.mac, internal: this.isInternal(e.ip), ports: new Map(), uses: [] };
      this.devices.set(e.ip, d);
    } else if (d.mac === null && e.mac !== null) d.mac = e.mac;
    return d;
  }

  private port(server: Endpoint, ts: number): PortState | null {
    const d = this.device(server);
    if (d === null) return null;
    let p = d.ports.get(server.port);
    if (p === undefined) {
      if (d.ports.size >= LIMITS.portsPerDevice || this.portCount >= LIMITS.ports) return null;
      p = { connections: 0, sessions: 0, associations: 0, clients: [], first: ts, last: ts };
      this.portCount++;
      d.ports.set(server.port, p);
    }
    if (ts > p.last) p.last = ts;
    if (ts < p.first) p.first = ts;
    return p;
  }

  /** A handshake (the port listens) or the first data a server sent (a real session). */
  connection(o: ConnectionObservation): void {
    if (o.handshake === "rst") return;
    this.seen(o.tsMicros);
    const p = this.port(o.server, o.tsMicros);
    if (p === null) return;
    if (o.handshake === "served") {
      p.sessions++;
      if (this.clientCount < LIMITS.clients && pushCapped(p.clients, o.client.ip)) this.clientCount++;
      const c = this.device(o.client);
      if (c !== null) pushCapped(c.uses, formatEndpoint(o.server));
    } else p.connections++;
  }

  /** A DIMSE message: its operation waits for the association's end (the scanner rule's verdict). */
  dimse(o: DimseObservation, flow: string): void {
    const op = operationOf(o.message.command, o.message.sopClassUid, o.direction === 0);
    if (op === null) return;
    let list = this.pending.get(flow);
    if (list === undefined) {
      if (this.pending.size >= LIMITS.pending) {
        const oldest = this.pending.keys().next();
        if (!oldest.done) this.pending.delete(oldest.value);
      }
      list = [];
      this.pending.set(flow, list);
    }
    // One entry per operation and destination: an association of 3 000 C-STOREs keeps one, counted.
    const dest = op === "C-MOVE" ? trimAe(o.message.moveDestination) : null;
    const same = list.find((p) => p.op === op && p.dest === dest);
    if (same === undefined) list.push({ op, dest, ts: o.tsMicros });
  }

  /** The association ended; `clinical`: accepted, and neither a scanner's nor a probe. */
  association(a: LearnedAssociation, clinical: boolean): void {
    const ops = this.takePending(a.flow);
    if (clinical) this.learnAssociation(a, ops);
  }

  /**
   * The operations of an association that ended, taken out of the pending table (after the learning
   * window the baseline rule judges them instead of learning them).
   */
  takePending(flow: string): PendingOp[] {
    const ops = this.pending.get(flow) ?? [];
    this.pending.delete(flow);
    return ops;
  }

  /** Folds in a clinical association and its operations (the window, or a quiet period after it). */
  learnAssociation(a: LearnedAssociation, ops: readonly PendingOp[]): void {
    this.seen(a.ts);
    const start = a.start > 0 && a.start <= a.ts ? a.start : a.ts;
    const service = this.service(a.server, a.called, false, start);
    if (service !== null && a.ts > service.last) service.last = a.ts;
    const port = this.port(a.server, a.ts);
    if (port !== null) port.associations++;
    if (service === null) return;
    const peer = this.peer(service, a.client, a.calling, start);
    if (peer !== null && a.ts > peer.last) peer.last = a.ts;
    if (peer === null) return;
    peer.associations++;
    if (a.credentials) peer.creds++;
    for (const p of ops) {
      let s = peer.ops.get(p.op);
      if (s === undefined) {
        s = { count: 0, dests: p.op === "C-MOVE" ? [] : null, first: p.ts, last: p.ts };
        peer.ops.set(p.op, s);
      }
      s.count++;
      if (p.ts > s.last) s.last = p.ts;
      if (p.dest !== null && s.dests !== null) pushCapped(s.dests, p.dest);
    }
  }

  /** A TLS connection to a DICOM port: the service is learned with its peer address (AE titles are hidden). */
  tls(o: TlsObservation, dicomHost: boolean): void {
    if (!isDicomTls(o, dicomHost)) return;
    this.seen(o.tsMicros);
    const service = this.service(o.server, null, true, o.tsMicros);
    if (service === null) return;
    const peer = this.peer(service, o.client, null, o.tsMicros);
    if (peer !== null) peer.associations++;
  }

  private service(server: Endpoint, ae: string | null, tls: boolean, ts: number): ServiceState | null {
    const key = serviceKey(server.ip, server.port, ae);
    let s = this.services.get(key);
    if (s === undefined) {
      if (this.services.size >= LIMITS.services) {
        this.truncated.services++;
        return null;
      }
      s = { ip: server.ip, port: server.port, ae, tls, peers: new Map(), first: ts, last: ts };
      this.services.set(key, s);
    }
    if (tls) s.tls = true;
    if (ts > s.last) s.last = ts;
    if (ts < s.first) s.first = ts;
    return s;
  }

  private peer(s: ServiceState, client: Endpoint, ae: string | null, ts: number): PeerState | null {
    const key = peerKey(client.ip, ae);
    let p = s.peers.get(key);
    if (p === undefined) {
      if (s.peers.size >= LIMITS.peersPerService || this.peerCount >= LIMITS.peers) {
        this.truncated.peers++;
        return null;
      }
      this.peerCount++;
      p = {
        ip: client.ip,
        ae,
        internal: this.isInternal(client.ip),
        associations: 0,
        creds: 0,
        ops: new Map(),
        first: ts,
        last: ts,
      };
      s.peers.set(key, p);
    }
    if (ts > p.last) p.last = ts;
    if (ts < p.first) p.first = ts;
    return p;
  }

  // ── the document ────────────────────────────────────────────────────────────────────────────────

  /** The learned tables (services, devices, truncated) of a document; its head is the caller's. */
  tables(): Pick<BaselineDocument, "services" | "devices" | "truncated"> {
    const services: BaselineService[] = [...this.services.values()]
      .map((s) => ({
        ip: s.ip,
        port: s.port,
        aeTitle: s.ae,
        tls: s.tls,
        peers: [...s.peers.values()].map(peerRecord).sort(comparePeers),
        firstSeen: iso(s.first),
        lastSeen: iso(s.last),
      }))
      .sort(compareServices);
    const devices: BaselineDevice[] = [...this.devices.values()]
      .map((d) => ({
        ip: d.ip,
        mac: d.mac,
        internal: d.internal,
        listening: [...d.ports.entries()]
          .map(([port, p]): ListeningPort => ({
            port,
            connections: p.connections,
            sessions: p.sessions,
            associations: p.associations,
            clients: [...p.clients].sort(),
            firstSeen: iso(p.first),
            lastSeen: iso(p.last),
          }))
          .sort((a, b) => a.port - b.port),
        uses: [...d.uses].sort(),
      }))
      .sort((a, b) => compareIp(a.ip, b.ip));
    return { services, devices, truncated: { ...this.truncated } };
  }

  /** Takes up a stored or imported document's tables (the agent's restart, an approved baseline). */
  load(doc: Pick<BaselineDocument, "services" | "devices" | "truncated">): void {
    const micros = (s: string): number => {
      const exact = microsFromIso(s);
      if (exact !== null) return exact;
      const t = Date.parse(s);
      return Number.isFinite(t) ? t * 1000 : 0;
    };
    for (const s of doc.services) {
      const state: ServiceState = {
        ip: s.ip,
        port: s.port,
        ae: s.aeTitle,
        tls: s.tls,
        peers: new Map(),
        first: micros(s.firstSeen),
        last: micros(s.lastSeen),
      };
      if (this.services.size >= LIMITS.services) {
        this.truncated.services++;
        continue;
      }
      for (const p of s.peers.slice(0, LIMITS.peersPerService)) {
        if (this.peerCount >= LIMITS.peers) {
          this.truncated.peers++;
          break;
        }
        this.peerCount++;
        const ops = new Map<Operation, OpState>();
        for (const u of p.operations)
          ops.set(u.operation, {
            count: u.count,
            dests: u.operation === "C-MOVE" ? (u.moveDestinations ?? []).slice(0, LIMITS.list) : null,
            first: micros(u.firstSeen),
            last: micros(u.lastSeen),
          });
        state.peers.set(peerKey(p.ip, p.aeTitle), {
          ip: p.ip,
          ae: p.aeTitle,
          internal: this.isInternal(p.ip),
          associations: p.associations,
          creds: p.credentialsInClear,
          ops,
          first: micros(p.firstSeen),
          last: micros(p.lastSeen),
        });
      }
      this.services.set(serviceKey(s.ip, s.port, s.aeTitle), state);
      this.seen(state.first);
      this.seen(state.last);
    }
    for (const d of doc.devices) {
      if (this.devices.size >= LIMITS.devices) break;
      const ports = new Map<number, PortState>();
      for (const l of d.listening.slice(0, LIMITS.portsPerDevice)) {
        if (this.portCount >= LIMITS.ports) break;
        this.portCount++;
        const clients = l.clients.slice(0, Math.min(LIMITS.list, LIMITS.clients - this.clientCount));
        this.clientCount += clients.length;
        ports.set(l.port, {
          connections: l.connections,
          sessions: l.sessions,
          associations: l.associations,
          clients,
          first: micros(l.firstSeen),
          last: micros(l.lastSeen),
        });
      }
      this.devices.set(d.ip, {
        ip: d.ip,
        mac: d.mac,
        internal: this.isInternal(d.ip),
        ports,
        uses: d.uses.slice(0, LIMITS.list),
      });
    }
    this.truncated.services += doc.truncated.services;
    this.truncated.peers += doc.truncated.peers;
    this.truncated.devices += doc.truncated.devices;
  }
}

function peerRecord(p: PeerState): BaselinePeer {
  const operations: OperationUse[] = [...p.ops.entries()]
    .map(([operation, s]) => {
      const u: OperationUse = {
        operation,
        count: s.count,
        firstSeen: iso(s.first),
        lastSeen: iso(s.last),
      };
      if (s.dests !== null) u.moveDestinations = [...s.dests].sort();
      return u;
    })
    .sort((a, b) => (a.operation < b.operation ? -1 : a.operation > b.operation ? 1 : 0));
  return {
    ip: p.ip,
    aeTitle: p.ae,
    internal: p.internal,
    associations: p.associations,
    credentialsInClear: p.creds,
    operations,
    firstSeen: iso(p.first),
    lastSeen: iso(p.last),
  };
}

/** Addresses in numeric order (IPv4 before IPv6), so documents and plans diff cleanly. */
export function compareIp(a: string, b: string): number {
  const ka = ipSortKey(a);
  const kb = ipSortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function ipSortKey(ip: string): string {
  if (!ip.includes(":"))
    return (
      "4" +
      ip
        .split(".")
        .map((o) => o.padStart(3, "0"))
        .join(".")
    );
  return "6" + ip;
}

function compareServices(a: BaselineService, b: BaselineService): number {
  return compareIp(a.ip, b.ip) || a.port - b.port || (a.aeTitle ?? "").localeCompare(b.aeTitle ?? "");
}

function comparePeers(a: BaselinePeer, b: BaselinePeer): number {
  return compareIp(a.ip, b.ip) || (a.aeTitle ?? "").localeCompare(b.aeTitle ?? "");
}
