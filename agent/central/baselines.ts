/**
 * Baselines at the central (issue 13): each sensor publishes its baseline retained on
 * `dicomtap/v1/{site}/{sensor}/baseline`, in the envelope of schemas/baseline.schema.json's $defs/message
 * ({messageId, site, sensor, revision, baseline: the BaselineDocument of agent/baseline/types.ts}, as the
 * agent's store writes it); ingest checks it here before the store keeps the latest per sensor, and the plan
 * of a site (http/plan.ts) is built from the site's baselines merged here.
 *
 * Checks: a size cap before parsing (MAX_BASELINE_BYTES, twice what the agent publishes at most:
 * agent/store/store.ts MAX_BASELINE_MESSAGE), JSON, the envelope (known fields only, a bounded messageId, a
 * revision, site/sensor equal to the topic's: the ACL vouches for the topic only), then the document with
 * the baseline's own validator (agent/baseline/validate.ts: the schema and what a schema cannot say, the
 * checks `dicomtap baseline import` makes). Never throws on input.
 *
 * Merging (one plan per site, see mergeBaselines): the plan's artefacts are one firewall table and one
 * allowlist per service, so a site's baselines are merged first and one plan is built from the merge, rather
 * than a plan per sensor merged afterwards (two nftables tables of one name cannot be merged as text, and two
 * sensors on overlapping mirror ports see the same services: their peers must be one list, not two).
 */
import { OPERATIONS, type BaselineDocument, type BaselineStatus } from "../baseline/types.js";
import { BaselineError, validateBaseline } from "../baseline/validate.js";
import { parseBaselineTopic } from "../util/topic.js";

/** A larger baseline payload is refused unparsed. */
export const MAX_BASELINE_BYTES = 8 << 20;

/** Longer message ids are refused (as PayloadChecker does for the other topics). */
const MAX_MESSAGE_ID = 512;

/** Items kept in a merged list field (move destinations, clients, used services): the learner's own cap. */
const MAX_LIST = 32;

/** The retained message's envelope (schemas/baseline.schema.json $defs/message). */
export interface BaselineEnvelope {
  messageId: string;
  site: string;
  sensor: string;
  revision: number;
  baseline: BaselineDocument;
}

export type BaselineCheck =
  | { ok: false; reason: string }
  /** An empty retained payload: the sensor (or an operator) cleared its baseline. */
  | { ok: true; site: string; sensor: string; empty: true }
  | {
      ok: true;
      site: string;
      sensor: string;
      empty: false;
      messageId: string;
      revision: number;
      document: BaselineDocument;
    };

const ENVELOPE_FIELDS = ["messageId", "site", "sensor", "revision", "baseline"];

/** The checks of a baseline message (see the file comment). */
export function checkBaseline(topic: string, payload: Uint8Array): BaselineCheck {
  const t = parseBaselineTopic(topic);
  if (t === null) return { ok: false, reason: "not a baseline topic" };
  if (payload.length === 0) return { ok: true, ...t, empty: true };
  if (payload.length > MAX_BASELINE_BYTES)
    return { ok: false, reason: `baseline over ${MAX_BASELINE_BYTES} bytes` };
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString("utf8"));
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return { ok: false, reason: "not a baseline message (an object)" };
  const m = body as Record<string, unknown>;
  const extra = Object.keys(m).find((k) => !ENVELOPE_FIELDS.includes(k));
  if (extra !== undefined)
    return { ok: false, reason: `unknown field ${JSON.stringify(extra.slice(0, 40))}` };
  if (typeof m.messageId !== "string" || m.messageId === "" || m.messageId.length > MAX_MESSAGE_ID)
    return { ok: false, reason: "messageId missing or too long" };
  if (!Number.isSafeInteger(m.revision) || (m.revision as number) < 1)
    return { ok: false, reason: "revision must be a positive integer" };
  if (m.site !== t.site || m.sensor !== t.sensor)
    return { ok: false, reason: "site/sensor differ from the topic" };
  let doc: BaselineDocument;
  try {
    doc = validateBaseline(m.baseline);
  } catch (e) {
    const why = e instanceof BaselineError ? (e.problems[0] ?? "invalid") : String((e as Error).message);
    return { ok: false, reason: `baseline: ${why}` };
  }
  // The document may name its sensor (the learner does) or none (one exported and imported by hand).
  if ((doc.site !== null && doc.site !== t.site) || (doc.sensor !== null && doc.sensor !== t.sensor))
    return { ok: false, reason: "the baseline's site/sensor differ from the topic" };
  return {
    ok: true,
    ...t,
    empty: false,
    messageId: m.messageId,
    revision: m.revision as number,
    document: doc,
  };
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
