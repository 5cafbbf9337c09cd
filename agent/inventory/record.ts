/**
 * The device record the inventory publishes (the report's DeviceRecord plus the fields issue 3 adds), built
 * from a device's state; for a device restored from the store, the stored values stand where this run's
 * evidence says nothing yet.
 */
import type { TlsObservation } from "../observations/types.js";
import { isoFromMicros } from "../util/time.js";
import type { DeviceRecord } from "../report/types.js";
import { classOf, ownEquipment, type DeviceClass } from "./classify.js";
import { strings, type DeviceState } from "./device.js";
import type { ToolkitInfo } from "./toolkit.js";
import type { HostState, RemoteService } from "./host.js";
import { inferOs, type OsRecord } from "./os.js";
import { windowsLookup } from "./windows-lookup.js";

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
  /** Its operating system, weighed from its own traffic (issue 11); null when nothing is known. */
  os: OsRecord | null;
  /** Remote-access services it offers (role "server") or uses ("client"), as the protocols showed. */
  remoteAccess: RemoteAccessRecord[];
  /** The name it goes by (DHCP, NTLM, browser announcements, RDP, a TLS certificate), or null. */
  hostName: string | null;
}

export interface RemoteAccessRecord {
  protocol: RemoteService["protocol"];
  port: number;
  role: "server" | "client";
  security: string | null;
  loginInClear: boolean;
  /** Addresses of the other ends (at most 32). */
  peers: string[];
  firstSeen: string;
  lastSeen: string;
}

/** The OS of a host state; a failure (a bug) leaves it unknown rather than failing the whole record. */
function osOf(h: HostState | null): OsRecord | null {
  if (h === null) return null;
  if (h.osCache !== null && h.osCache.revision === h.revision) return h.osCache.os;
  let os: OsRecord | null = null;
  try {
    os = inferOs(h, windowsLookup, h.edition);
  } catch {
    os = null;
  }
  h.osCache = { revision: h.revision, os };
  return os;
}

/** The remote-access services of a host state, in a stable order. */
function remoteAccessOf(h: HostState | null): RemoteAccessRecord[] {
  if (h === null) return [];
  return [...h.remote.values()]
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port || a.role.localeCompare(b.role))
    .map((r) => ({
      protocol: r.protocol,
      port: r.port,
      role: r.role,
      security: r.security,
      loginInClear: r.loginInClear,
      peers: [...r.peers].sort(),
      firstSeen: isoFromMicros(r.first),
      lastSeen: isoFromMicros(r.last),
    }));
}

export interface TlsService {
  port: number;
  version: string | null;
  certificate: TlsObservation["certificate"];
  lastSeen: string;
}

const CONFIDENCE: Record<string, number> = { low: 1, medium: 2, high: 3 };

/** The record of a device as published (devices(), device(), onChange). */
export function deviceRecord(d: DeviceState): InventoryDevice {
  const rec = liveRecord(d);
  return d.restored ? withRestored(rec, d.restored) : rec;
}

function liveRecord(d: DeviceState): InventoryDevice {
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
        lastSeen: isoFromMicros(s.last),
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
      firstSeen: isoFromMicros(e.first),
      lastSeen: isoFromMicros(e.last),
    })),
    class: cls,
    classReason: reason,
    os: osOf(d.host),
    remoteAccess: remoteAccessOf(d.host),
    hostName: d.host?.hostName ?? null,
    firstSeen: isoFromMicros(d.first),
    lastSeen: isoFromMicros(d.last),
  };
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
  // What an earlier run learnt of its system stands until this run knows as much: its OS until this run's
  // is as confident, its services beside this run's (keyed by protocol, port and role).
  const storedOs = typeof stored.os === "object" && stored.os !== null ? (stored.os as OsRecord) : null;
  if (
    storedOs !== null &&
    (rec.os === null || (CONFIDENCE[rec.os.confidence] ?? 0) < (CONFIDENCE[storedOs.confidence] ?? 0))
  )
    rec.os = storedOs;
  if (Array.isArray(stored.remoteAccess)) {
    const key = (r: RemoteAccessRecord): string => `${r.protocol}/${r.port}/${r.role}`;
    const live = new Set(rec.remoteAccess.map(key));
    const kept = (stored.remoteAccess as RemoteAccessRecord[]).filter((r) => !live.has(key(r)));
    if (kept.length > 0)
      rec.remoteAccess = [...rec.remoteAccess, ...kept].sort((a, b) => key(a).localeCompare(key(b)));
  }
  if (rec.hostName === null) rec.hostName = str(stored.hostName);
  return rec;
}
