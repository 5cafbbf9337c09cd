/**
 * Builds the plan (types.ts) from a baseline, the inventory's devices and the findings (issue 13, "The
 * plan"). Pure: the same input gives the same plan, byte for byte once serialised — every list is sorted —
 * so golden files stay stable and a reviewer's diff between two plans shows only what changed.
 */
import { CidrSet } from "../config/cidr.js";
import type { Config } from "../config/types.js";
import { compareIp } from "../baseline/learner.js";
import { OPERATIONS, type BaselineDocument, type BaselineService } from "../baseline/types.js";
import type { DeviceRecord, FindingRecord } from "../report/types.js";
import type {
  AllowedPeer,
  ArchiveProduct,
  EncryptionItem,
  ExposedPort,
  ExposurePeer,
  Plan,
  PlanException,
  PortToClose,
  ServiceAllowlist,
  TlsService,
} from "./types.js";

/** A port the device's vendor profile does not document (the profile matcher's answer). */
export interface OutsideProfile {
  port: number;
  profile: string;
}

export interface PlanInput {
  baseline: BaselineDocument;
  devices: DeviceRecord[];
  findings: FindingRecord[];
  config: Config;
  /**
   * The profile matcher (data/model-profiles.json): the listening ports of a device its vendor profile does
   * not document. Absent: step 2 has no outside-profile entries.
   */
  portsOutsideProfile?: (device: DeviceRecord) => OutsideProfile[];
  /** Where the baseline came from (default: captures, none named). */
  source?: { kind: "store" | "captures"; files: string[] };
  /**
   * When the plan was made. The builder reads no clock (it is pure): the CLI passes the wall clock; the
   * default is the end of the baseline's window, so a plan of fixed input is fixed.
   */
  generatedAt?: string;
}

/**
 * Cleartext DICOM ports (DESIGN.md §1: 104, 11112, 4242) that a device serving DICOM on another port has no
 * reason to keep open. 2761/2762 (DICOM TLS, PS3.15 Annex B.1) are left alone: step 5 moves traffic there.
 */
const CLEARTEXT_DICOM_PORTS = [104, 4242, 11112] as const;

const OPERATION_ORDER = new Map(OPERATIONS.map((o, i) => [o, i]));

function cmpStr(a: string | null, b: string | null): number {
  const x = a ?? "";
  const y = b ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}

function minIso(a: string, b: string): string {
  return a < b ? a : b;
}

function maxIso(a: string, b: string): string {
  return a > b ? a : b;
}

/** Whether an exception lets `peer` reach `server:port`. */
export function excepted(
  exceptions: readonly PlanException[],
  peer: string,
  server: string,
  port: number,
): boolean {
  return exceptions.some(
    (e) => e.server === server && (e.port === null || e.port === port) && new CidrSet([e.peer]).has(peer),
  );
}

/**
 * The archive software a service looks like, for the archive outputs: Orthanc by its AE title or its default
 * DICOM port 4242 (Orthanc's "DicomPort"), DCMTK by the implementation version name its device announced
 * (PS3.7 D.3.3.2: "OFFIS_DCMTK_367").
 */
function productOf(s: BaselineService, devices: readonly DeviceRecord[]): ArchiveProduct {
  if ((s.aeTitle ?? "").toUpperCase().includes("ORTHANC") || s.port === 4242) return "orthanc";
  for (const d of devices) {
    if (d.ip !== s.ip) continue;
    const impl = d.implementation as { implementationVersionName?: unknown } | null;
    const name = impl?.implementationVersionName;
    if (typeof name === "string" && name.toUpperCase().startsWith("OFFIS_DCMTK")) return "dcmtk";
  }
  return null;
}

export function buildPlan(input: PlanInput): Plan {
  const { baseline, config } = input;
  const exceptions: PlanException[] = config.plan.exceptions
    .map((e) => ({ ...e }))
    .sort((a, b) => compareIp(a.server, b.server) || (a.port ?? 0) - (b.port ?? 0) || cmpStr(a.peer, b.peer));
  const internal = new CidrSet(baseline.internal);
  const isInternal = (ip: string): boolean => internal.has(ip);

  // ── the window ──
  let latest: string | null = null;
  for (const s of baseline.services) latest = latest === null ? s.lastSeen : maxIso(latest, s.lastSeen);
  for (const d of baseline.devices)
    for (const l of d.listening) latest = latest === null ? l.lastSeen : maxIso(latest, l.lastSeen);
  const windowEnd = baseline.window.end ?? latest;

  // ── step 1: exposure ──
  const exposed = new Map<string, ExposedPort>();
  const exposedPort = (ip: string, port: number, first: string, last: string): ExposedPort => {
    const key = `${ip}|${port}`;
    let e = exposed.get(key);
    if (e === undefined) {
      e = { ip, port, aeTitles: [], peers: [], firstSeen: first, lastSeen: last };
      exposed.set(key, e);
    }
    e.firstSeen = minIso(e.firstSeen, first);
    e.lastSeen = maxIso(e.lastSeen, last);
    return e;
  };
  const exposurePeer = (e: ExposedPort, ip: string, first: string, last: string): ExposurePeer => {
    let p = e.peers.find((x) => x.ip === ip);
    if (p === undefined) {
      p = {
        ip,
        aeTitles: [],
        associations: 0,
        excepted: excepted(exceptions, ip, e.ip, e.port),
        firstSeen: first,
        lastSeen: last,
      };
      e.peers.push(p);
    }
    p.firstSeen = minIso(p.firstSeen, first);
    p.lastSeen = maxIso(p.lastSeen, last);
    return p;
  };
  for (const s of baseline.services) {
    if (!isInternal(s.ip)) continue;
    for (const peer of s.peers) {
      if (isInternal(peer.ip)) continue;
      const e = exposedPort(s.ip, s.port, peer.firstSeen, peer.lastSeen);
      if (s.aeTitle !== null && !e.aeTitles.includes(s.aeTitle)) e.aeTitles.push(s.aeTitle);
      const p = exposurePeer(e, peer.ip, peer.firstSeen, peer.lastSeen);
      p.associations += peer.associations;
      if (peer.aeTitle !== null && !p.aeTitles.includes(peer.aeTitle)) p.aeTitles.push(peer.aeTitle);
    }
  }
  for (const d of baseline.devices) {
    if (!isInternal(d.ip)) continue;
    for (const l of d.listening)
      for (const client of l.clients)
        if (!isInternal(client))
          exposurePeer(exposedPort(d.ip, l.port, l.firstSeen, l.lastSeen), client, l.firstSeen, l.lastSeen);
  }
  const exposedList = [...exposed.values()]
    .map((e) => ({
      ...e,
      aeTitles: [...e.aeTitles].sort(),
      peers: e.peers
        .map((p) => ({ ...p, aeTitles: [...p.aeTitles].sort() }))
        .sort((a, b) => compareIp(a.ip, b.ip)),
    }))
    .sort((a, b) => compareIp(a.ip, b.ip) || a.port - b.port);
  const protect = new Set<string>();
  for (const d of baseline.devices) if (isInternal(d.ip) && d.listening.length > 0) protect.add(d.ip);
  for (const s of baseline.services) if (isInternal(s.ip)) protect.add(s.ip);

  // ── step 2: ports to close ──
  const servicePorts = new Map<string, Set<number>>();
  for (const s of baseline.services) {
    let set = servicePorts.get(s.ip);
    if (set === undefined) servicePorts.set(s.ip, (set = new Set()));
    set.add(s.port);
  }
  const close = new Map<string, PortToClose>();
  const addClose = (c: PortToClose): void => {
    const key = `${c.ip}|${c.port}`;
    if (!close.has(key)) close.set(key, c);
  };
  for (const d of baseline.devices) {
    if (!isInternal(d.ip)) continue;
    const served = servicePorts.get(d.ip);
    const listening = new Map(d.listening.map((l) => [l.port, l]));
    if (served !== undefined) {
      const where = [...served].sort((a, b) => a - b).join(", ");
      for (const port of CLEARTEXT_DICOM_PORTS) {
        const l = listening.get(port);
        if (served.has(port) || (l !== undefined && l.sessions > 0)) continue;
        addClose({
          ip: d.ip,
          port,
          reason: port === 104 ? "default-port" : "dicom-port-unused",
          listening: l !== undefined,
          connections: l?.connections ?? 0,
          profile: null,
          detail:
            (l !== undefined
              ? `answered ${l.connections} connection(s) but served no session`
              : "not seen answering; closed as a precaution") +
            `: the device serves DICOM on ${where}, so this well-known DICOM port has no use`,
        });
      }
    }
    for (const l of d.listening) {
      if (l.sessions > 0) continue;
      addClose({
        ip: d.ip,
        port: l.port,
        reason: "unused",
        listening: true,
        connections: l.connections,
        profile: null,
        detail: `answered ${l.connections} connection(s) (handshakes only: scans, health checks) and never served a session`,
      });
    }
  }
  if (input.portsOutsideProfile !== undefined) {
    const seen = new Set<string>();
    for (const dev of input.devices) {
      if (!isInternal(dev.ip)) continue;
      for (const o of input.portsOutsideProfile(dev)) {
        const key = `${dev.ip}|${o.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const l = baseline.devices.find((d) => d.ip === dev.ip)?.listening.find((x) => x.port === o.port);
        addClose({
          ip: dev.ip,
          port: o.port,
          reason: "outside-profile",
          listening: true,
          connections: l?.connections ?? 0,
          profile: o.profile,
          detail: `listening, and not a port the vendor documents (profile ${o.profile})`,
        });
      }
    }
  }
  const portsToClose = [...close.values()].sort((a, b) => compareIp(a.ip, b.ip) || a.port - b.port);

  // ── steps 3 and 4: allowlists ──
  const allowlists: ServiceAllowlist[] = baseline.services.map((s) => ({
    ip: s.ip,
    port: s.port,
    aeTitle: s.aeTitle,
    tls: s.tls,
    product: productOf(s, input.devices),
    peers: s.peers
      .map((p): AllowedPeer => ({
        ip: p.ip,
        aeTitle: p.aeTitle,
        internal: isInternal(p.ip),
        operations: p.operations
          .map((u) => u.operation)
          .sort((a, b) => OPERATION_ORDER.get(a)! - OPERATION_ORDER.get(b)!),
        moveDestinations: [
          ...new Set(
            p.operations.flatMap((u) => (u.operation === "C-MOVE" ? (u.moveDestinations ?? []) : [])),
          ),
        ].sort(),
        associations: p.associations,
        firstSeen: p.firstSeen,
        lastSeen: p.lastSeen,
      }))
      .sort((a, b) => compareIp(a.ip, b.ip) || cmpStr(a.aeTitle, b.aeTitle)),
    firstSeen: s.firstSeen,
    lastSeen: s.lastSeen,
  }));
  allowlists.sort((a, b) => compareIp(a.ip, b.ip) || a.port - b.port || cmpStr(a.aeTitle, b.aeTitle));

  // ── step 5: encryption ──
  const cleartext: EncryptionItem[] = [];
  for (const s of baseline.services) {
    if (s.tls) continue;
    for (const p of s.peers) {
      const external = !isInternal(p.ip) || !isInternal(s.ip);
      const why: string[] = [];
      if (external) why.push("crosses the internal networks' edge");
      if (p.credentialsInClear > 0)
        why.push(`sent a user identity in clear on ${p.credentialsInClear} association(s)`);
      why.push(`${p.associations} association(s) in clear`);
      cleartext.push({
        server: s.ip,
        port: s.port,
        aeTitle: s.aeTitle,
        peer: p.ip,
        peerAeTitle: p.aeTitle,
        external,
        credentialsInClear: p.credentialsInClear,
        associations: p.associations,
        operations: p.operations
          .map((u) => u.operation)
          .sort((a, b) => OPERATION_ORDER.get(a)! - OPERATION_ORDER.get(b)!),
        rank: 0,
        why: why.join("; "),
      });
    }
  }
  // Risk order (issue 13): external peers first, then credentials in clear, then volume.
  cleartext.sort(
    (a, b) =>
      Number(b.external) - Number(a.external) ||
      Number(b.credentialsInClear > 0) - Number(a.credentialsInClear > 0) ||
      b.credentialsInClear - a.credentialsInClear ||
      b.associations - a.associations ||
      compareIp(a.server, b.server) ||
      a.port - b.port ||
      cmpStr(a.aeTitle, b.aeTitle) ||
      compareIp(a.peer, b.peer) ||
      cmpStr(a.peerAeTitle, b.peerAeTitle),
  );
  cleartext.forEach((c, i) => (c.rank = i + 1));
  const tls: TlsService[] = [];
  for (const s of baseline.services) {
    if (!s.tls) continue;
    let t = tls.find((x) => x.ip === s.ip && x.port === s.port);
    if (t === undefined) tls.push((t = { ip: s.ip, port: s.port, peers: [] }));
    for (const p of s.peers) if (!t.peers.includes(p.ip)) t.peers.push(p.ip);
  }
  for (const t of tls) t.peers.sort(compareIp);
  tls.sort((a, b) => compareIp(a.ip, b.ip) || a.port - b.port);

  return {
    version: 1,
    site: baseline.site,
    sensor: baseline.sensor,
    generatedAt: input.generatedAt ?? windowEnd ?? "1970-01-01T00:00:00.000000Z",
    source: {
      kind: input.source?.kind ?? "captures",
      files: [...(input.source?.files ?? [])],
      window: { start: baseline.window.start, end: windowEnd },
      baselineStatus: baseline.status,
    },
    internal: [...baseline.internal],
    exceptions,
    exposure: { exposed: exposedList, protect: [...protect].sort(compareIp) },
    portsToClose,
    allowlists,
    encryption: { cleartext, tls },
    truncated: { ...baseline.truncated },
  };
}
