/**
 * Device identity (DESIGN.md §2, issue 3): which device an endpoint belongs to, by MAC and IP.
 *
 * A device is a (MAC, IP) pair, or an IP alone when the link layer carried no MAC (raw IP or cooked
 * captures). Behind a router every remote host shares the router's MAC, so the pair, not the MAC, is the
 * key. Ids are stable across runs and readable in MQTT topics:
 *   "ip-10.1.2.3"                      no MAC seen
 *   "mac-0050569a0b0c-10.1.2.3"        MAC 00:50:56:9a:0b:0c with IP 10.1.2.3
 * An observation without a MAC is attributed to an existing device with that IP (the first one); a device
 * first seen without a MAC keeps its id when a MAC appears later.
 *
 * The table also holds the devices restored from the store (restore()): found like the others, listed apart.
 */
import type { Endpoint } from "../reassembly/types.js";
import type { DeviceRecord } from "../report/types.js";
import {
  addCapped,
  DeviceState,
  MAX_AE,
  MAX_PEERS,
  MAX_PORTS,
  MAX_SOP,
  MAX_TS,
  micros,
  numbers,
  strings,
} from "./device.js";
import type { TlsService } from "./record.js";
import type { ToolkitInfo } from "./toolkit.js";

/**
 * Devices kept. Any address that sends one A-ASSOCIATE-RQ (or a spoofed packet picked up mid-stream)
 * becomes a device, so the table is capped; past the cap new hosts are counted in devicesDropped, not
 * inventoried (an imaging room has tens of DICOM devices, a site hundreds; the memory budget of
 * agent/pipeline/pipeline.ts counts about 2 kB a device).
 */
export const MAX_DEVICES = 2048;
/** The share of MAX_DEVICES that devices restored from the store may fill (see DeviceTable.restore). */
export const RESTORE_SHARE = 0.75;
/** Endpoint spellings remembered by the lookup cache before it starts over (see DeviceTable.find). */
const MAX_CACHED_ENDPOINTS = 16384;

export function deviceIdFor(ip: string, mac: string | null): string {
  return mac ? `mac-${mac.toLowerCase().replace(/[^0-9a-f]/g, "")}-${ip}` : `ip-${ip}`;
}

/** The devices by id and by IP, in the order they were first seen, with the endpoint lookup cache. */
export class DeviceTable {
  private readonly byKey = new Map<string, DeviceState>();
  private readonly byIp = new Map<string, DeviceState[]>();
  /** Devices first seen in this run, in that order. */
  readonly order: DeviceState[] = [];
  /** Devices restored from the store (restore()): known, but not first seen in this run. */
  readonly restoredOrder: DeviceState[] = [];
  /**
   * find() results by IP, then by MAC as spelled in the observation ("" for none), so that the per-message
   * lookups build no id string. Only hits are kept: once an endpoint maps to a device it always maps to
   * that one (devices are never removed, and a device is created only when find() found none).
   */
  private readonly found = new Map<string, Map<string, DeviceState>>();
  private foundCount = 0;
  /** Hosts not added because the MAX_DEVICES cap was reached. */
  dropped = 0;

  constructor(readonly maxDevices = MAX_DEVICES) {}

  byId(id: string): DeviceState | undefined {
    return this.byKey.get(id);
  }

  /** The devices with this IP (one per MAC seen with it). */
  withIp(ip: string): readonly DeviceState[] {
    return this.byIp.get(ip) ?? [];
  }

  /** The device an endpoint belongs to, if any. */
  find(ep: { ip: string; mac: string | null }): DeviceState | undefined {
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

  /** A new device for an endpoint find() did not place; undefined (and counted) when the table is full. */
  add(ep: Endpoint, ts: number): DeviceState | undefined {
    if (this.order.length + this.restoredOrder.length >= this.maxDevices) {
      this.dropped++;
      return undefined;
    }
    const id = deviceIdFor(ep.ip, ep.mac);
    const d = new DeviceState(id, ep.ip, ep.mac, ts, ts);
    this.index(d);
    this.order.push(d);
    return d;
  }

  private index(d: DeviceState): void {
    this.byKey.set(d.id, d);
    const list = this.byIp.get(d.ip);
    if (list) list.push(d);
    else this.byIp.set(d.ip, [d]);
  }

  /**
   * Seeds the table with devices an earlier run stored (see Inventory.restore): at most RESTORE_SHARE of
   * the cap, the most recently seen first; records whose id is already known, or that lack an id or ip,
   * are skipped. `indexAe` is told every AE title a restored device brings. Returns how many were restored.
   */
  restore(records: readonly DeviceRecord[], indexAe: (ae: string) => void): number {
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
      const d = restoredState(r, indexAe);
      this.index(d);
      this.restoredOrder.push(d);
      n++;
    }
    return n;
  }
}

/**
 * A device's state from its stored record: identity, first/last seen, AE titles and roles, ports, SOP
 * classes, transfer syntaxes, peers, implementation and TLS services; what this run observes adds to them.
 */
function restoredState(r: DeviceRecord, indexAe: (ae: string) => void): DeviceState {
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
    indexAe(e.aeTitle);
  }
  for (const p of numbers(r.listeningPorts)) addCapped(d.writableListeningPorts(), p, MAX_PORTS);
  for (const p of numbers(r.dicomPorts)) addCapped(d.writableDicomPorts(), p, MAX_PORTS);
  for (const x of strings(r.sopClasses)) addCapped(d.sopClasses, x, MAX_SOP);
  for (const x of strings(r.transferSyntaxes)) addCapped(d.transferSyntaxes, x, MAX_TS);
  for (const x of strings(r.peers)) addCapped(d.peers, x, MAX_PEERS);
  if (r.implementation !== null && typeof r.implementation === "object")
    d.implementation = r.implementation as DeviceState["implementation"];
  if (r.toolkit !== null && typeof r.toolkit === "object") d.toolkit = r.toolkit as ToolkitInfo;
  if (Array.isArray(r.tlsServices))
    for (const t of r.tlsServices as Partial<TlsService>[]) {
      if (typeof t.port !== "number" || d.tls.size >= MAX_PORTS) continue;
      d.writableTls().set(t.port, {
        version: t.version ?? null,
        certificate: t.certificate ?? null,
        last: micros(t.lastSeen),
      });
    }
  return d;
}
