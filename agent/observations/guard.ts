/**
 * The boundary guard between parsing and policy (DESIGN.md §1, "no patient data leaves the appliance").
 * Every observation is rebuilt field by field from an allow-list before inventory and findings see it:
 * a field that a decoder added by mistake (a patient name, an identifier dataset, a passcode) does not
 * survive, whatever its name. This is defence in depth: decoders already extract only device attributes.
 *
 * On top of the allow-list, free-text equipment values are checked for the shape of a DICOM Person Name
 * (PS3.5 §6.2.1: components separated by "^"), which no device attribute normally has;
 * such a value is dropped, because a mis-tagged patient name is the likeliest leak.
 */
import type { Endpoint } from "../reassembly/types.js";
import type {
  AssociationState,
  DatasetInfo,
  DatasetStop,
  DimseMessageRecord,
  ImplementationInfo,
  PresentationContextRecord,
  TransportEnd,
  UserIdentityInfo,
} from "../report/types.js";
import type { EquipmentAttributes, QueryInfo } from "../dicom/types.js";
import type { DimseObservation, Observation, TlsObservation } from "./types.js";
import { microsFromIso } from "../util/time.js";
import { hostEvent } from "./host-guard.js";

/** Longest text kept from any observation field; DICOM LO is 64 characters, UIDs 64, AE titles 16. */
const MAX_TEXT = 128;
/** Most list entries kept (presentation contexts are at most 128 per PS3.8 §9.3.2.2; ids are odd 1..255). */
const MAX_LIST = 256;

export class GuardError extends Error {}

function text(v: unknown): string | null {
  if (typeof v !== "string") return null;
  return v.length > MAX_TEXT ? v.slice(0, MAX_TEXT) : v;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function bool(v: unknown): boolean {
  return v === true;
}

/** A value shaped like a Person Name: "FAMILY^GIVEN" (ideographic groups after "=" use "^" too). */
function looksLikePersonName(s: string): boolean {
  return s.includes("^");
}

function equipmentText(v: unknown): string | null {
  const s = text(v);
  return s === null || looksLikePersonName(s) ? null : s;
}

/** The first `keep` items accepted by `item` among the first MAX_LIST entries of `v`. */
function texts(v: unknown, item: (x: unknown) => string | null, keep = MAX_LIST): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  const n = Math.min(v.length, MAX_LIST);
  for (let i = 0; i < n && out.length < keep; i++) {
    const s = item(v[i]);
    if (s !== null) out.push(s);
  }
  return out;
}

/**
 * Guarded endpoint copies, with the last two kept. Every message of a connection names the same two
 * endpoint objects: their last copies are reused while the source objects still hold the same values (an
 * observation per message would otherwise copy both each time). Copies are never modified downstream, so
 * sharing one is safe. Owned by an ObservationGuard; bound: two entries.
 */
class EndpointCopies {
  private recentA = new RecentEndpoint();
  private recentB = new RecentEndpoint();

  copy(v: unknown): Endpoint {
    const e = (v ?? {}) as Partial<Endpoint>;
    if (v === this.recentA.source && this.recentA.matches(e)) return this.recentA.copy;
    if (v === this.recentB.source && this.recentB.matches(e)) return this.recentB.copy;
    const copy: Endpoint = { ip: text(e.ip) ?? "", port: num(e.port) ?? 0, mac: text(e.mac) };
    if (v !== null && typeof v === "object") {
      // The older entry makes way, so a client and a server alternating both stay cached.
      const t = this.recentB;
      this.recentB = this.recentA;
      this.recentA = t;
      this.recentA.set(v, e, copy);
    }
    return copy;
  }

  orNull(v: unknown): Endpoint | null {
    return v === null || v === undefined ? null : this.copy(v);
  }
}

/** One guarded endpoint and the source values it was made from. */
class RecentEndpoint {
  source: unknown = null;
  ip: unknown = undefined;
  port: unknown = undefined;
  mac: unknown = undefined;
  copy: Endpoint = { ip: "", port: 0, mac: null };

  matches(e: Partial<Endpoint>): boolean {
    return e.ip === this.ip && e.port === this.port && e.mac === this.mac;
  }

  set(source: unknown, e: Partial<Endpoint>, copy: Endpoint): void {
    this.source = source;
    this.ip = e.ip;
    this.port = e.port;
    this.mac = e.mac;
    this.copy = copy;
  }
}

function implementation(v: unknown): ImplementationInfo | null {
  if (v === null || typeof v !== "object") return null;
  const i = v as Partial<ImplementationInfo>;
  return {
    implementationClassUid: text(i.implementationClassUid),
    implementationVersionName: text(i.implementationVersionName),
    maxPduLength: num(i.maxPduLength),
  };
}

/** Username is kept (the report shows it; it names staff, not patients); the passcode never is. */
function userIdentity(v: unknown): UserIdentityInfo | null {
  if (v === null || typeof v !== "object") return null;
  const u = v as Partial<UserIdentityInfo>;
  const type = num(u.type) ?? 0;
  return {
    type,
    username: type === 1 || type === 2 ? text(u.username) : null,
    passcodePresent: bool(u.passcodePresent),
  };
}

function message(v: unknown): DimseMessageRecord {
  const m = (v ?? {}) as Partial<DimseMessageRecord>;
  const out: DimseMessageRecord = {
    command: text(m.command) ?? "UNKNOWN",
    messageId: num(m.messageId),
    messageIdBeingRespondedTo: num(m.messageIdBeingRespondedTo),
    sopClassUid: text(m.sopClassUid),
    sopInstanceUid: text(m.sopInstanceUid),
    status: num(m.status),
    moveDestination: text(m.moveDestination),
    priority: num(m.priority),
    subOperations: pair(m.subOperations, subOperations),
  };
  // Optional field (issue 9): absent stays absent, for records made before it existed; the decoder
  // always sets it (null when the command has no data set).
  if (m.dataset !== undefined) out.dataset = pair(m.dataset, dataset);
  return out;
}

const DATASET_STOPS: ReadonlySet<string> = new Set<DatasetStop>([
  "aborted",
  "released",
  "new-association",
  "reset",
  "connection-closed",
  "idle",
  "evicted",
  "end-of-capture",
  "gap",
  "framing-lost",
  "next-command",
]);

/** A message's data set: completeness, a byte count and a stop reason from the closed list, nothing else. */
function dataset(d: Record<string, unknown>): DatasetInfo {
  const stopped = typeof d.stopped === "string" && DATASET_STOPS.has(d.stopped) ? d.stopped : null;
  return {
    complete: bool(d.complete),
    bytes: num(d.bytes) ?? 0,
    stopped: stopped as DatasetStop | null,
  };
}

const CLOSE_REASONS: ReadonlySet<string> = new Set(["fin", "rst", "idle", "evicted", "end-of-capture"]);

function transportEnd(t: Record<string, unknown>): TransportEnd {
  return {
    reason: (typeof t.reason === "string" && CLOSE_REASONS.has(t.reason)
      ? t.reason
      : "end-of-capture") as TransportEnd["reason"],
    side: t.side === "requestor" || t.side === "acceptor" ? t.side : null,
  };
}

function subOperations(c: Record<string, unknown>): DimseMessageRecord["subOperations"] {
  return {
    remaining: num(c.remaining),
    completed: num(c.completed),
    failed: num(c.failed),
    warning: num(c.warning),
  };
}

function presentationContext(v: unknown): PresentationContextRecord {
  const p = (v ?? {}) as Partial<PresentationContextRecord>;
  return {
    id: num(p.id) ?? 0,
    abstractSyntax: text(p.abstractSyntax),
    transferSyntaxes: texts(p.transferSyntaxes, text),
    result: (text(p.result) as PresentationContextRecord["result"]) ?? null,
    transferSyntax: text(p.transferSyntax),
  };
}

function pair<T>(v: unknown, f: (o: Record<string, unknown>) => T): T | null {
  return v === null || typeof v !== "object" ? null : f(v as Record<string, unknown>);
}

/** Capture microseconds of a record made before the state carried them (an ISO `start`/`end`); else 0. */
function microsOf(v: unknown, iso: unknown): number {
  const n = num(v);
  if (n !== null) return n;
  return (typeof iso === "string" ? microsFromIso(iso) : null) ?? 0;
}

function association(v: unknown): AssociationState {
  const a = (v ?? {}) as Partial<AssociationState> & { start?: unknown; end?: unknown };
  const messages = Array.isArray(a.messages) ? a.messages.map(message) : [];
  const out: AssociationState = {
    client: text(a.client) ?? "",
    server: text(a.server) ?? "",
    callingAE: text(a.callingAE),
    calledAE: text(a.calledAE),
    applicationContext: text(a.applicationContext),
    requestor: implementation(a.requestor),
    acceptor: implementation(a.acceptor),
    userIdentity: userIdentity(a.userIdentity),
    presentationContexts: Array.isArray(a.presentationContexts)
      ? a.presentationContexts.slice(0, MAX_LIST).map(presentationContext)
      : [],
    outcome: (text(a.outcome) as AssociationState["outcome"]) ?? "incomplete",
    reject: pair(a.reject, (r) => ({
      result: num(r.result) ?? 0,
      source: num(r.source) ?? 0,
      reason: num(r.reason) ?? 0,
    })),
    abort: pair(a.abort, (r) => ({ source: num(r.source) ?? 0, reason: num(r.reason) ?? 0 })),
    released: bool(a.released),
    messages,
    messagesOmitted: num(a.messagesOmitted) ?? 0,
    captureGaps: pair(a.captureGaps, (g) => ({ count: num(g.count) ?? 0, bytes: num(g.bytes) ?? 0 })) ?? {
      count: 0,
      bytes: 0,
    },
    startMicros: microsOf(a.startMicros, a.start),
    endMicros: microsOf(a.endMicros, a.end),
  };
  // Optional field (issue 9), as DimseMessageRecord.dataset: absent stays absent.
  if (a.transportEnd !== undefined) out.transportEnd = pair(a.transportEnd, transportEnd);
  return out;
}

function equipment(v: unknown): EquipmentAttributes {
  const e = (v ?? {}) as Partial<EquipmentAttributes>;
  return {
    modality: equipmentText(e.modality),
    manufacturer: equipmentText(e.manufacturer),
    institutionName: equipmentText(e.institutionName),
    stationName: equipmentText(e.stationName),
    manufacturerModelName: equipmentText(e.manufacturerModelName),
    deviceSerialNumber: equipmentText(e.deviceSerialNumber),
    softwareVersions: texts(e.softwareVersions, equipmentText, 16),
  };
}

/**
 * A C-FIND Identifier's shape: counts and the level only. The level must look like a CS level name
 * (PS3.5 Table 6.2-1: upper case, digits, space, underscore; at most 16), so no free text rides on it.
 */
function queryInfo(v: unknown): QueryInfo | null {
  return pair(v, (q) => {
    const level = text(q.level);
    return {
      level: level !== null && /^[A-Z0-9 _]{1,16}$/.test(level) ? level : null,
      keys: num(q.keys) ?? 0,
      matchingKeys: num(q.matchingKeys) ?? 0,
    };
  });
}

function certificate(v: unknown): TlsObservation["certificate"] {
  return pair(v, (c) => {
    const out: NonNullable<TlsObservation["certificate"]> = {
      subject: text(c.subject) ?? "",
      issuer: text(c.issuer) ?? "",
      notBefore: text(c.notBefore) ?? "",
      notAfter: text(c.notAfter) ?? "",
      selfSigned: bool(c.selfSigned),
    };
    // Optional fields (issue 9): absent stays absent, for certificates stored before they existed.
    if (c.keyType !== undefined) out.keyType = text(c.keyType);
    if (c.keyBits !== undefined) out.keyBits = num(c.keyBits);
    if (c.keyCurve !== undefined) out.keyCurve = text(c.keyCurve);
    return out;
  });
}

/** Most TLS alerts kept per observation (the sniffer lists at most 8). */
const MAX_TLS_ALERTS = 8;

function tlsAlerts(v: unknown): NonNullable<TlsObservation["alerts"]> {
  if (!Array.isArray(v)) return [];
  return v.slice(0, MAX_TLS_ALERTS).map((x: unknown) => {
    const a = (x ?? {}) as Record<string, unknown>;
    return {
      from: a.from === "server" ? "server" : "client",
      level: text(a.level) ?? "",
      description: text(a.description) ?? "",
    };
  });
}

/** A TLS observation; the fields issue 9 added are copied when present (replayed records lack them). */
function tls(r: Record<string, unknown>, ts: number, endpoints: EndpointCopies): TlsObservation {
  const o: TlsObservation = {
    kind: "tls",
    tsMicros: ts,
    client: endpoints.copy(r.client),
    server: endpoints.copy(r.server),
    version: text(r.version),
    certificate: certificate(r.certificate),
  };
  if (r.cipherSuite !== undefined) o.cipherSuite = text(r.cipherSuite);
  if (r.cipherSuiteId !== undefined) o.cipherSuiteId = num(r.cipherSuiteId);
  if (r.alerts !== undefined) o.alerts = tlsAlerts(r.alerts);
  if (r.handshakeFailure !== undefined) o.handshakeFailure = bool(r.handshakeFailure);
  if (r.plaintext !== undefined) o.plaintext = bool(r.plaintext);
  if (r.plaintextDicom !== undefined) o.plaintextDicom = bool(r.plaintextDicom);
  return o;
}

/**
 * The guard in front of inventory and findings, owned by the Analysis that uses it (its endpoint copies
 * are its only state).
 */
export class ObservationGuard {
  private readonly endpoints = new EndpointCopies();

  /**
   * Returns a copy of `o` holding only allowed fields with values of the allowed types.
   * Throws GuardError for an observation of unknown kind (a programming error upstream).
   */
  guard(o: Observation): Observation {
    return guardWith(o, this.endpoints);
  }
}

/** ObservationGuard.guard with a guard of its own, for one-off callers and tests. */
export function guardObservation(o: Observation): Observation {
  return guardWith(o, new EndpointCopies());
}

function guardWith(o: Observation, endpoints: EndpointCopies): Observation {
  const endpoint = (v: unknown): Endpoint => endpoints.copy(v);
  const endpointOrNull = (v: unknown): Endpoint | null => endpoints.orNull(v);
  const r = o as unknown as Record<string, unknown>;
  const ts = num(r.tsMicros) ?? 0;
  switch (o.kind) {
    case "connection":
      return {
        kind: "connection",
        tsMicros: ts,
        client: endpoint(r.client),
        server: endpoint(r.server),
        handshake:
          o.handshake === "syn-ack" || o.handshake === "rst" || o.handshake === "served"
            ? o.handshake
            : "mid-stream",
      };
    case "association":
      return {
        kind: "association",
        tsMicros: ts,
        client: endpoint(r.client),
        server: endpoint(r.server),
        record: association(r.record),
        midStream: bool(r.midStream),
      };
    case "equipment":
      return {
        kind: "equipment",
        tsMicros: ts,
        sender: endpoint(r.sender),
        receiver: endpoint(r.receiver),
        senderAE: text(r.senderAE),
        receiverAE: text(r.receiverAE),
        command: text(r.command) ?? "",
        sopClassUid: text(r.sopClassUid),
        attributes: equipment(r.attributes),
      };
    case "dimse": {
      const d: DimseObservation = {
        kind: "dimse",
        tsMicros: ts,
        client: endpoint(r.client),
        server: endpoint(r.server),
        callingAE: text(r.callingAE),
        calledAE: text(r.calledAE),
        direction: r.direction === 1 ? 1 : 0,
        message: message(r.message),
      };
      // Optional field: absent stays absent (observations replayed from records have none).
      if (r.query !== undefined) d.query = queryInfo(r.query);
      return d;
    }
    case "tls":
      return tls(r, ts, endpoints);
    case "host": {
      const event = hostEvent(r.event);
      if (event === null)
        throw new GuardError(
          `unknown host event ${JSON.stringify(String((r.event as { kind?: unknown } | null)?.kind)).slice(0, 40)}`,
        );
      return {
        kind: "host",
        tsMicros: ts,
        host: endpoint(r.host),
        peer: endpointOrNull(r.peer),
        hostIsServer: bool(r.hostIsServer),
        event,
      };
    }
    case "anomaly":
      // Anomalies keep no `detail`: codes, layers and flows are all that policy needs.
      return {
        kind: "anomaly",
        tsMicros: ts,
        code: text(r.code) ?? "",
        layer: text(r.layer) ?? "",
        flow: text(r.flow) ?? "",
        client: endpointOrNull(r.client),
        server: endpointOrNull(r.server),
      };
    default:
      throw new GuardError(`unknown observation kind ${JSON.stringify(String(r.kind)).slice(0, 40)}`);
  }
}
