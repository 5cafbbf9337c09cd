/**
 * Baselines at the central (issue 13): each sensor publishes its baseline document (agent/baseline/types.ts)
 * retained on `dicomtap/v1/{site}/{sensor}/baseline`; ingest checks it here before the store keeps the
 * latest per sensor, and the plan of a site (http/plan.ts) is built from the site's baselines merged here.
 *
 * Checks: a size cap before parsing (MAX_BASELINE_BYTES, far above what the learner's caps allow in practice:
 * 1024 services of 256 peers would be larger, and is refused as a whole rather than half kept), JSON, the
 * document's shape (every field of BaselineDocument with its type; unknown fields refused, as the schema
 * does), and site/sensor equal to the topic's when the document names them (the ACL vouches for the topic
 * only). Never throws on input.
 *
 * Merging (one plan per site, see mergeBaselines): the plan's artefacts are one firewall table and one
 * allowlist per service, so a site's baselines are merged first and one plan is built from the merge, rather
 * than a plan per sensor merged afterwards (two nftables tables of one name cannot be merged as text, and two
 * sensors on overlapping mirror ports see the same services: their peers must be one list, not two).
 */
import { OPERATIONS, type BaselineDocument, type BaselineStatus } from "../baseline/types.js";

/** A larger baseline payload is refused unparsed. */
export const MAX_BASELINE_BYTES = 8 << 20;

/** Items kept in a merged list field (move destinations, clients, used services): the learner's own cap. */
const MAX_LIST = 32;

export type BaselineCheck =
  | { ok: false; reason: string }
  /** An empty retained payload: the sensor (or an operator) cleared its baseline. */
  | { ok: true; site: string; sensor: string; empty: true }
  /** text: the payload as received (what the store keeps). */
  | { ok: true; site: string; sensor: string; empty: false; document: BaselineDocument; text: string };

/** `dicomtap/v1/{site}/{sensor}/baseline` taken apart, or null. */
export function parseBaselineTopic(topic: string): { site: string; sensor: string } | null {
  const p = topic.split("/");
  if (p.length !== 5 || p[0] !== "dicomtap" || p[1] !== "v1" || p[4] !== "baseline") return null;
  if (!p[2] || !p[3]) return null;
  return { site: p[2], sensor: p[3] };
}

/** The checks of a baseline message (see the file comment). */
export function checkBaseline(topic: string, payload: Uint8Array): BaselineCheck {
  const t = parseBaselineTopic(topic);
  if (t === null) return { ok: false, reason: "not a baseline topic" };
  if (payload.length === 0) return { ok: true, ...t, empty: true };
  if (payload.length > MAX_BASELINE_BYTES)
    return { ok: false, reason: `baseline over ${MAX_BASELINE_BYTES} bytes` };
  let body: unknown;
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString("utf8");
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const bad = baselineShapeError(body);
  if (bad !== null) return { ok: false, reason: `baseline: ${bad}` };
  const doc = body as BaselineDocument;
  if ((doc.site !== null && doc.site !== t.site) || (doc.sensor !== null && doc.sensor !== t.sensor))
    return { ok: false, reason: "site/sensor differ from the topic" };
  return { ok: true, ...t, empty: false, document: doc, text };
}

// ------------------------------------------------------------------------------------------- shape

type Check = (v: unknown, path: string) => string | null;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const str: Check = (v, p) => (typeof v === "string" && v.length <= 1024 ? null : `${p} must be a string`);
const nullable =
  (c: Check): Check =>
  (v, p) =>
    v === null ? null : c(v, p);
const int =
  (min: number, max: number): Check =>
  (v, p) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
      ? null
      : `${p} must be an integer from ${min} to ${max}`;
const count = int(0, Number.MAX_SAFE_INTEGER);
const port = int(1, 65535);
const bool: Check = (v, p) => (typeof v === "boolean" ? null : `${p} must be true or false`);
const oneOf =
  (values: readonly string[]): Check =>
  (v, p) =>
    typeof v === "string" && values.includes(v) ? null : `${p} must be one of ${values.join(", ")}`;
const array =
  (item: Check, max: number): Check =>
  (v, p) => {
    if (!Array.isArray(v)) return `${p} must be an array`;
    if (v.length > max) return `${p} has more than ${max} items`;
    for (let i = 0; i < v.length; i++) {
      const e = item(v[i], `${p}/${i}`);
      if (e !== null) return e;
    }
    return null;
  };
function object(fields: Record<string, Check>, optional: readonly string[] = []): Check {
  return (v, p) => {
    if (!isObj(v)) return `${p || "/"} must be an object`;
    for (const k of Object.keys(v)) if (!Object.hasOwn(fields, k)) return `${p}/${k} is not a known field`;
    for (const [k, c] of Object.entries(fields)) {
      if (!Object.hasOwn(v, k)) {
        if (optional.includes(k)) continue;
        return `${p}/${k} is required`;
      }
      const e = c(v[k], `${p}/${k}`);
      if (e !== null) return e;
    }
    return null;
  };
}

const operationUse = object(
  {
    operation: oneOf(OPERATIONS),
    count,
    moveDestinations: array(str, 4096),
    firstSeen: str,
    lastSeen: str,
  },
  ["moveDestinations"],
);
const peer = object({
  ip: str,
  aeTitle: nullable(str),
  internal: bool,
  associations: count,
  credentialsInClear: count,
  operations: array(operationUse, OPERATIONS.length * 4),
  firstSeen: str,
  lastSeen: str,
});
const service = object({
  ip: str,
  port,
  aeTitle: nullable(str),
  tls: bool,
  peers: array(peer, 100_000),
  firstSeen: str,
  lastSeen: str,
});
const listening = object({
  port,
  connections: count,
  sessions: count,
  associations: count,
  clients: array(str, 4096),
  firstSeen: str,
  lastSeen: str,
});
const device = object({
  ip: str,
  mac: nullable(str),
  internal: bool,
  listening: array(listening, 65535),
  uses: array(str, 100_000),
});
const documentShape = object({
  version: (v, p) => (v === 1 ? null : `${p} must be 1`),
  site: nullable(str),
  sensor: nullable(str),
  status: oneOf(["learning", "learned", "approved"]),
  window: object({ start: nullable(str), end: nullable(str), days: int(0, 3660) }),
  approved: nullable(object({ by: str, at: str, note: nullable(str) })),
  internal: array(str, 4096),
  services: array(service, 100_000),
  devices: array(device, 100_000),
  truncated: object({ services: count, peers: count, devices: count }),
});

/** Null when `v` has the shape of a BaselineDocument, else what is wrong (a JSON pointer and a sentence). */
export function baselineShapeError(v: unknown): string | null {
  return documentShape(v, "");
}

// ------------------------------------------------------------------------------------------- merge

/** A baseline of one sensor, as the store keeps it. */
export interface SensorBaseline {
  sensor: string;
  document: BaselineDocument;
  receivedAt: string;
}

const STATUS_ORDER: readonly BaselineStatus[] = ["learning", "learned", "approved"];

const minTime = (a: string, b: string): string => (b < a ? b : a);
const maxTime = (a: string, b: string): string => (b > a ? b : a);

function capped(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].slice(0, MAX_LIST);
}

/**
 * One baseline for a site from its sensors' (sorted by sensor, so the result does not depend on arrival
 * order). Services are one per (ip, port, AE title) and peers one per (ip, AE title) with their counts
 * added (two sensors on overlapping mirror ports count one association twice: the counts are an upper
 * bound, what the plan orders by, not an audit figure); devices one per address, their ports merged. The
 * head is the most cautious of the sensors': the least advanced status (a plan is only as settled as its
 * least settled part: one sensor still learning makes the whole site's "learning"), the earliest start and
 * the latest end of the windows (end null while any is learning), the union of the internal networks, the
 * truncation counts added. `approved` is kept only when every sensor's is approved (the latest approval).
 * Returns null for no baselines.
 */
export function mergeBaselines(site: string, baselines: readonly SensorBaseline[]): BaselineDocument | null {
  if (baselines.length === 0) return null;
  const sorted = [...baselines].sort((a, b) => (a.sensor < b.sensor ? -1 : a.sensor > b.sensor ? 1 : 0));
  const docs = sorted.map((b) => b.document);
  if (docs.length === 1) return { ...docs[0]!, site, sensor: sorted[0]!.sensor };
  const status = STATUS_ORDER[Math.min(...docs.map((d) => STATUS_ORDER.indexOf(d.status)))]!;
  const starts = docs.map((d) => d.window.start).filter((x): x is string => x !== null);
  const ends = docs.map((d) => d.window.end);
  const approvals = docs.map((d) => d.approved);
  const services = new Map<string, BaselineDocument["services"][number]>();
  for (const d of docs)
    for (const s of d.services) {
      const key = `${s.ip}|${s.port}|${s.aeTitle ?? ""}`;
      const have = services.get(key);
      if (!have) {
        services.set(key, structuredClone(s));
        continue;
      }
      have.tls ||= s.tls;
      have.firstSeen = minTime(have.firstSeen, s.firstSeen);
      have.lastSeen = maxTime(have.lastSeen, s.lastSeen);
      for (const p of s.peers) {
        const q = have.peers.find((x) => x.ip === p.ip && x.aeTitle === p.aeTitle);
        if (!q) {
          have.peers.push(structuredClone(p));
          continue;
        }
        q.associations += p.associations;
        q.credentialsInClear += p.credentialsInClear;
        q.firstSeen = minTime(q.firstSeen, p.firstSeen);
        q.lastSeen = maxTime(q.lastSeen, p.lastSeen);
        for (const o of p.operations) {
          const u = q.operations.find((x) => x.operation === o.operation);
          if (!u) {
            q.operations.push(structuredClone(o));
            continue;
          }
          u.count += o.count;
          u.firstSeen = minTime(u.firstSeen, o.firstSeen);
          u.lastSeen = maxTime(u.lastSeen, o.lastSeen);
          if (o.moveDestinations || u.moveDestinations)
            u.moveDestinations = capped(u.moveDestinations ?? [], o.moveDestinations ?? []);
        }
        q.operations.sort((a, b) => OPERATIONS.indexOf(a.operation) - OPERATIONS.indexOf(b.operation));
      }
    }
  const devices = new Map<string, BaselineDocument["devices"][number]>();
  for (const d of docs)
    for (const dev of d.devices) {
      const have = devices.get(dev.ip);
      if (!have) {
        devices.set(dev.ip, structuredClone(dev));
        continue;
      }
      have.mac ??= dev.mac;
      have.uses = capped(have.uses, dev.uses);
      for (const l of dev.listening) {
        const m = have.listening.find((x) => x.port === l.port);
        if (!m) {
          have.listening.push(structuredClone(l));
          continue;
        }
        m.connections += l.connections;
        m.sessions += l.sessions;
        m.associations += l.associations;
        m.clients = capped(m.clients, l.clients);
        m.firstSeen = minTime(m.firstSeen, l.firstSeen);
        m.lastSeen = maxTime(m.lastSeen, l.lastSeen);
      }
      have.listening.sort((a, b) => a.port - b.port);
    }
  return {
    version: 1,
    site,
    sensor: null,
    status,
    window: {
      start: starts.length === 0 ? null : starts.reduce(minTime),
      end: ends.some((e) => e === null) ? null : (ends as string[]).reduce(maxTime),
      days: Math.max(...docs.map((d) => d.window.days)),
    },
    approved: approvals.every((a) => a !== null) ? approvals.reduce((a, b) => (b!.at > a!.at ? b : a)) : null,
    internal: [...new Set(docs.flatMap((d) => d.internal))],
    services: [...services.values()].sort(
      (a, b) => cmp(a.ip, b.ip) || a.port - b.port || cmp(a.aeTitle ?? "", b.aeTitle ?? ""),
    ),
    devices: [...devices.values()].sort((a, b) => cmp(a.ip, b.ip)),
    truncated: {
      services: docs.reduce((n, d) => n + d.truncated.services, 0),
      peers: docs.reduce((n, d) => n + d.truncated.peers, 0),
      devices: docs.reduce((n, d) => n + d.truncated.devices, 0),
    },
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
