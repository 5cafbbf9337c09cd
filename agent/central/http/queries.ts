/**
 * The read side of the central's API: sensors, the overview, device and finding lists (filters, sort,
 * paging), detail pages and full exports, all from the store's tables (agent/central/schema.ts).
 *
 * Every value from a request is bound as a statement parameter. The only request-dependent SQL text is the
 * choice of fragments: which filters are present (each a fixed fragment written here) and the sort keys,
 * which parseQuery has checked against the whitelists below and which map to fixed column expressions.
 * Statements are prepared once per distinct text and reused (a few dozen texts at most).
 *
 * Lists answer {items, total, limit, offset}; exports walk the same filters without a limit in batches of
 * complete statements, so a slow client never holds a statement open on the shared connection.
 */
import type { Statement } from "better-sqlite3";
import { FINDING_STEPS } from "../steps.js";
import type { Db } from "./db.js";
import { BadRequest, integer, oneOf, parseQuery, someOf, sortOf, text, type SortKey } from "./params.js";
import { isoFromDate } from "../../util/time.js";

export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
/**
 * The `state` filter: one of the states a finding shows (Finding.state), `unresolved` for every finding the
 * sensor still sees whatever its triage (open, acknowledged or risk-accepted: what the overview counts as
 * open), or `any`.
 */
export const FINDING_STATES = [
  "open",
  "acknowledged",
  "risk-accepted",
  "resolved",
  "unresolved",
  "any",
] as const;
/** The remediation steps a finding points to (agent/central/steps.ts), plus "other". */
export const STEP_IDS = FINDING_STEPS;
export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 50;

/** A page of a list. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

// ------------------------------------------------------------------------------------ statement cache

const cache = new WeakMap<Db, Map<string, Statement>>();

/** The prepared statement of `sql` on `db`, prepared on first use. */
function stmt(db: Db, sql: string): Statement {
  let m = cache.get(db);
  if (m === undefined) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (s === undefined) {
    s = db.prepare(sql);
    m.set(sql, s);
  }
  return s;
}

/** WHERE fragments and their named parameters, built from whitelisted fragments only. */
class Where {
  readonly parts: string[] = [];
  readonly params: Record<string, unknown> = {};
  private n = 0;

  /** Adds `fragment`, whose `?` placeholders (in order) take `values`. */
  add(fragment: string, ...values: unknown[]): void {
    let i = 0;
    this.parts.push(
      fragment.replace(/\?/g, () => {
        const name = `p${this.n++}`;
        this.params[name] = values[i++];
        return `@${name}`;
      }),
    );
  }

  sql(): string {
    return this.parts.length === 0 ? "" : `WHERE ${this.parts.join(" AND ")}`;
  }
}

/**
 * The FROM of a count or page-choosing query: the sensors table joined only when the query names it (a
 * site or sensor filter or sort), so the rest is answered from the devices' or findings' indexes alone.
 */
function fromFor(table: "devices d" | "findings f", sql: string): string {
  const alias = table.slice(-1);
  return /\bs\./.test(sql) ? `FROM ${table} JOIN sensors s ON s.pk = ${alias}.sensor_pk` : `FROM ${table}`;
}

/** `%text%` for LIKE, with LIKE's own wildcards in the text escaped (used with ESCAPE '\'). */
function contains(v: string): string {
  return `%${v.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function orderBy(sort: SortKey[], columns: Record<string, string>, tiebreak: string): string {
  const keys = sort.map((s) => `${columns[s.key]!} ${s.descending ? "DESC" : "ASC"}`);
  return `ORDER BY ${[...keys, tiebreak].join(", ")}`;
}

function json(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function words(s: string): string[] {
  return s === "" ? [] : s.split(" ");
}

// -------------------------------------------------------------------------------------------- sensors

export interface SensorItem {
  pk: number;
  site: string;
  sensor: string;
  state: string;
  version: string | null;
  startedAt: string | null;
  stateAt: string | null;
  lastMessageAt: string | null;
  health: unknown;
  healthAt: string | null;
  devices: number;
  openFindings: number;
}

interface SensorRow {
  pk: number;
  site: string;
  sensor: string;
  state: string;
  version: string | null;
  started_at: string | null;
  state_at: string | null;
  last_message_at: string | null;
  health: string | null;
  health_at: string | null;
}

export function listSensors(db: Db): SensorItem[] {
  const rows = stmt(db, "SELECT * FROM sensors ORDER BY site, sensor").all() as SensorRow[];
  // One grouped pass per table, not a correlated count per sensor: with 100 sensors and 50 000 findings a
  // per-sensor count of open findings would walk the lifecycle index once per sensor.
  const count = (sql: string): Map<number, number> =>
    new Map((stmt(db, sql).all() as Array<{ k: number; n: number }>).map((r) => [r.k, r.n]));
  const devices = count("SELECT sensor_pk AS k, COUNT(*) AS n FROM devices GROUP BY sensor_pk");
  const open = count(
    "SELECT sensor_pk AS k, COUNT(*) AS n FROM findings WHERE lifecycle = 'open' GROUP BY sensor_pk",
  );
  return rows.map((r) => ({
    pk: r.pk,
    site: r.site,
    sensor: r.sensor,
    state: r.state,
    version: r.version,
    startedAt: r.started_at,
    stateAt: r.state_at,
    lastMessageAt: r.last_message_at,
    health: json(r.health),
    healthAt: r.health_at,
    devices: devices.get(r.pk) ?? 0,
    openFindings: open.get(r.pk) ?? 0,
  }));
}

// ------------------------------------------------------------------------------------------- overview

export const OVERVIEW_PARAMS = { days: integer(1, 366) };

export interface SeriesPoint {
  at: string;
  [value: string]: number | string;
}

export interface Overview {
  now: string;
  days: number;
  sensors: { total: number; online: number; offline: number; unknown: number; items: SensorItem[] };
  devices: { total: number; external: number };
  openFindings: { total: number; bySeverity: Record<string, number>; byStep: Record<string, number> };
  /** Findings opened (or reopened) and resolved per day, oldest first, every day present. */
  findingsOverTime: Array<{ day: string; opened: number; resolved: number }>;
  /** Per sensor: captured packets, bytes and drops, and the outbox depth, per bucket (hour or day). */
  traffic: {
    bucket: "hour" | "day";
    sensors: Array<{
      pk: number;
      site: string;
      sensor: string;
      points: Array<{
        at: string;
        packets: number;
        bytes: number;
        drops: number;
        outboxDepth: number | null;
      }>;
    }>;
  };
}

/** The overview page: counts now, and the series of the last `days` days. */
export function overview(db: Db, days: number, now: Date): Overview {
  const sensors = listSensors(db);
  const count = (state: string): number => sensors.filter((s) => s.state === state).length;
  // One pass over the covering index findings_list (the unary + keeps the planner off the lifecycle
  // index, whose rows would send it to the table's records for the step).
  const bySeverity: Record<string, number> = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  const byStep: Record<string, number> = Object.fromEntries(STEP_IDS.map((s) => [s, 0]));
  for (const r of stmt(
    db,
    "SELECT severity_rank AS rank, step, COUNT(*) AS n FROM findings WHERE +lifecycle = 'open' GROUP BY severity_rank, step",
  ).all() as Array<{ rank: number; step: string; n: number }>) {
    const sev = SEVERITIES[r.rank];
    if (sev !== undefined) bySeverity[sev] = (bySeverity[sev] ?? 0) + r.n;
    byStep[r.step] = (byStep[r.step] ?? 0) + r.n;
  }
  const devices = stmt(
    db,
    "SELECT COUNT(*) AS total, COALESCE(SUM(exposure = 'external'), 0) AS external FROM devices",
  ).get() as {
    total: number;
    external: number;
  };

  // Days, oldest first: the first is `days - 1` days before today (UTC), so today is included.
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const dayList: string[] = [];
  for (let i = days - 1; i >= 0; i--)
    dayList.push(new Date(today - i * 86_400_000).toISOString().slice(0, 10));
  // A prefix of every time of that day or later, whatever the fraction's digits (the store writes microseconds).
  const since = `${dayList[0]!}T00:00:00`;
  const events = new Map(
    (
      stmt(
        db,
        `SELECT substr(at, 1, 10) AS day, SUM(kind IN ('opened', 'reopened')) AS opened, SUM(kind = 'resolved') AS resolved
         FROM finding_events WHERE at >= @since GROUP BY day`,
      ).all({ since }) as Array<{ day: string; opened: number; resolved: number }>
    ).map((r) => [r.day, r]),
  );
  const findingsOverTime = dayList.map((day) => ({
    day,
    opened: events.get(day)?.opened ?? 0,
    resolved: events.get(day)?.resolved ?? 0,
  }));

  // The capture counters of a health message count since the sensor started: a bucket's traffic is the sum
  // of the increases between consecutive samples; a decrease is a restart, after which the value itself
  // is the increase.
  const bucket = days <= 7 ? "hour" : "day";
  const width = bucket === "hour" ? 13 : 10;
  const rows = stmt(
    db,
    `WITH h AS (
       SELECT sensor_pk, at, packets, bytes, drops, outbox_depth,
         packets - LAG(packets) OVER w AS dp, bytes - LAG(bytes) OVER w AS db, drops - LAG(drops) OVER w AS dd
       FROM sensor_health WHERE at >= @since WINDOW w AS (PARTITION BY sensor_pk ORDER BY at))
     SELECT sensor_pk, substr(at, 1, @width) AS bucket,
       SUM(CASE WHEN dp IS NULL THEN 0 WHEN dp < 0 THEN packets ELSE dp END) AS packets,
       SUM(CASE WHEN db IS NULL THEN 0 WHEN db < 0 THEN bytes ELSE db END) AS bytes,
       SUM(CASE WHEN dd IS NULL THEN 0 WHEN dd < 0 THEN drops ELSE dd END) AS drops,
       MAX(outbox_depth) AS outbox_depth
     FROM h GROUP BY sensor_pk, bucket ORDER BY sensor_pk, bucket`,
  ).all({ since, width }) as Array<{
    sensor_pk: number;
    bucket: string;
    packets: number | null;
    bytes: number | null;
    drops: number | null;
    outbox_depth: number | null;
  }>;
  const points = new Map<number, Overview["traffic"]["sensors"][number]["points"]>();
  for (const r of rows) {
    let list = points.get(r.sensor_pk);
    if (list === undefined) points.set(r.sensor_pk, (list = []));
    list.push({
      at: bucket === "hour" ? `${r.bucket}:00:00Z` : `${r.bucket}T00:00:00Z`,
      packets: r.packets ?? 0,
      bytes: r.bytes ?? 0,
      drops: r.drops ?? 0,
      outboxDepth: r.outbox_depth,
    });
  }
  return {
    now: isoFromDate(now),
    days,
    sensors: {
      total: sensors.length,
      online: count("online"),
      offline: count("offline"),
      unknown: count("unknown"),
      items: sensors,
    },
    devices,
    openFindings: { total: Object.values(bySeverity).reduce((a, b) => a + b, 0), bySeverity, byStep },
    findingsOverTime,
    traffic: {
      bucket,
      sensors: sensors.map((s) => ({
        pk: s.pk,
        site: s.site,
        sensor: s.sensor,
        points: points.get(s.pk) ?? [],
      })),
    },
  };
}

// -------------------------------------------------------------------------------------------- devices

/** Sort keys of the device list and the column expressions they stand for. */
const DEVICE_SORT: Record<string, string> = {
  pk: "d.pk",
  id: "d.device_id",
  site: "s.site",
  sensor: "s.sensor",
  ip: "d.ip",
  mac: "d.mac",
  class: "d.class",
  modality: "d.modality",
  manufacturer: "d.manufacturer",
  model: "d.model",
  toolkit: "d.toolkit",
  aeTitles: "d.ae_titles",
  ports: "d.ports",
  peerCount: "d.peer_count",
  exposure: "d.exposure",
  firstSeen: "d.first_seen",
  lastSeen: "d.last_seen",
  openFindings: "open_findings",
};

/** The device list's sort keys (the OpenAPI document lists them). */
export const DEVICE_SORT_KEYS = Object.keys(DEVICE_SORT);

const DEVICE_FILTERS = {
  q: text(200),
  class: text(64),
  modality: text(16),
  manufacturer: text(128),
  model: text(128),
  toolkit: text(128),
  ae: text(64),
  port: integer(1, 65535),
  exposure: oneOf(["internal", "external"] as const),
  sensor: text(64),
  site: text(64),
  sort: sortOf(Object.keys(DEVICE_SORT)),
};
const PAGING = { limit: integer(1, MAX_LIMIT), offset: integer(0, Number.MAX_SAFE_INTEGER) };

export const DEVICE_LIST_PARAMS = { ...DEVICE_FILTERS, ...PAGING };
export const DEVICE_EXPORT_PARAMS = DEVICE_FILTERS;

export type DeviceQuery = ReturnType<typeof parseDeviceQuery>;

export function parseDeviceQuery(params: URLSearchParams, paged: boolean) {
  const q = parseQuery(params, paged ? DEVICE_LIST_PARAMS : DEVICE_EXPORT_PARAMS) as ReturnType<
    typeof parseQuery<typeof DEVICE_LIST_PARAMS>
  >;
  return {
    ...q,
    limit: q.limit ?? DEFAULT_LIMIT,
    offset: q.offset ?? 0,
    sort: q.sort ?? [{ key: "lastSeen", descending: true }],
  };
}

function deviceWhere(q: DeviceQuery): Where {
  const w = new Where();
  if (q.q !== undefined) w.add("d.search LIKE ? ESCAPE '\\'", contains(q.q));
  if (q.class !== undefined) w.add("d.class = ?", q.class);
  if (q.modality !== undefined) w.add("d.modality = ? COLLATE NOCASE", q.modality);
  if (q.manufacturer !== undefined)
    w.add("lower(d.manufacturer) LIKE ? ESCAPE '\\'", contains(q.manufacturer));
  if (q.model !== undefined) w.add("lower(d.model) LIKE ? ESCAPE '\\'", contains(q.model));
  if (q.toolkit !== undefined) w.add("lower(d.toolkit) LIKE ? ESCAPE '\\'", contains(q.toolkit));
  // Whole words of the space-separated lists: ae=PACS finds "PACS", not "PACS2".
  // Whole title, any case: an analyst types "orthanc" for ORTHANC (titles are ASCII; upper() is too).
  if (q.ae !== undefined) w.add("instr(' ' || upper(d.ae_titles) || ' ', ?) > 0", ` ${q.ae.toUpperCase()} `);
  if (q.port !== undefined) w.add("instr(' ' || d.ports || ' ', ?) > 0", ` ${q.port} `);
  if (q.exposure !== undefined) w.add("d.exposure = ?", q.exposure);
  if (q.sensor !== undefined) w.add("s.sensor = ?", q.sensor);
  if (q.site !== undefined) w.add("s.site = ?", q.site);
  return w;
}

/** A device's open findings: a count within the index findings_device_open. */
const OPEN_FINDINGS = "(SELECT COUNT(*) FROM findings f WHERE f.device_pk = d.pk AND f.lifecycle = 'open')";
const DEVICE_COLUMNS = `d.pk, d.device_id, s.site, s.sensor, d.ip, d.mac, d.class, d.modality, d.manufacturer, d.model,
  d.toolkit, d.ae_titles, d.ports, d.peer_count, d.exposure, d.first_seen, d.last_seen, ${OPEN_FINDINGS} AS open_findings`;
const DEVICE_FROM = "FROM devices d JOIN sensors s ON s.pk = d.sensor_pk";

interface DeviceRow {
  pk: number;
  device_id: string;
  site: string;
  sensor: string;
  ip: string | null;
  mac: string | null;
  class: string | null;
  modality: string | null;
  manufacturer: string | null;
  model: string | null;
  toolkit: string | null;
  ae_titles: string;
  ports: string;
  peer_count: number;
  exposure: string;
  first_seen: string | null;
  last_seen: string | null;
  open_findings: number;
  record?: string;
}

export interface DeviceItem {
  pk: number;
  id: string;
  site: string;
  sensor: string;
  ip: string | null;
  mac: string | null;
  class: string | null;
  modality: string | null;
  manufacturer: string | null;
  model: string | null;
  toolkit: string | null;
  aeTitles: string[];
  ports: number[];
  peerCount: number;
  exposure: string;
  firstSeen: string | null;
  lastSeen: string | null;
  openFindings: number;
  record?: unknown;
}

function deviceItem(r: DeviceRow): DeviceItem {
  const item: DeviceItem = {
    pk: r.pk,
    id: r.device_id,
    site: r.site,
    sensor: r.sensor,
    ip: r.ip,
    mac: r.mac,
    class: r.class,
    modality: r.modality,
    manufacturer: r.manufacturer,
    model: r.model,
    toolkit: r.toolkit,
    aeTitles: words(r.ae_titles),
    ports: words(r.ports).map(Number),
    peerCount: r.peer_count,
    exposure: r.exposure,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    openFindings: r.open_findings,
  };
  if (r.record !== undefined) item.record = json(r.record);
  return item;
}

/**
 * A list page in two steps: the page's pks from the filters, sort and paging alone (which the covering
 * indexes of the store's migration 3 answer without reading a row's JSON record), then those rows.
 */
export function listDevices(db: Db, q: DeviceQuery): Page<DeviceItem> {
  const w = deviceWhere(q);
  const order = orderBy(q.sort, DEVICE_SORT, "d.pk");
  const total = (
    stmt(db, `SELECT COUNT(*) AS n ${fromFor("devices d", w.sql())} ${w.sql()}`).get(w.params) as {
      n: number;
    }
  ).n;
  const pks = (
    stmt(
      db,
      `SELECT d.pk, ${OPEN_FINDINGS} AS open_findings ${fromFor("devices d", w.sql() + order)} ${w.sql()} ${order} LIMIT @limit OFFSET @offset`,
    ).all({ ...w.params, limit: q.limit, offset: q.offset }) as Array<{ pk: number }>
  ).map((r) => r.pk);
  return { items: devicesByPks(db, pks, false), total, limit: q.limit, offset: q.offset };
}

/** The devices of `pks`, in that order (with their records when `records`). */
function devicesByPks(db: Db, pks: number[], records: boolean): DeviceItem[] {
  if (pks.length === 0) return [];
  const rows = stmt(
    db,
    `SELECT ${DEVICE_COLUMNS}${records ? ", d.record" : ""} ${DEVICE_FROM} WHERE d.pk IN (SELECT value FROM json_each(@pks))`,
  ).all({ pks: JSON.stringify(pks) }) as DeviceRow[];
  const byPk = new Map(rows.map((r) => [r.pk, r]));
  return pks.flatMap((pk) => {
    const r = byPk.get(pk);
    return r === undefined ? [] : [deviceItem(r)];
  });
}

/** Batches of the export: each a complete statement, so none stays open while the client reads. */
const EXPORT_BATCH = 500;

/** Every device the filters select, in order, with its full record, in batches. */
export function* exportDevices(db: Db, q: DeviceQuery): Generator<DeviceItem[]> {
  const w = deviceWhere(q);
  const pks = (
    stmt(
      db,
      `SELECT d.pk, ${OPEN_FINDINGS} AS open_findings ${DEVICE_FROM} ${w.sql()} ${orderBy(q.sort, DEVICE_SORT, "d.pk")}`,
    ).all(w.params) as Array<{ pk: number }>
  ).map((r) => r.pk);
  for (let i = 0; i < pks.length; i += EXPORT_BATCH)
    yield devicesByPks(db, pks.slice(i, i + EXPORT_BATCH), true);
}

export interface DeviceDetail extends DeviceItem {
  record: unknown;
  findings: FindingItem[];
  /** The record's peers: the sensor's device ids, with the pk of the peer's device row where known here. */
  peers: Array<{ id: string; pk: number | null; ip: string | null; aeTitles: string[] }>;
  history: Array<{ at: string; field: string; change: string; value: string; previous: string | null }>;
}

/** Rows of history and findings a device page shows at most (newest first). */
const DETAIL_LIMIT = 1000;

export function getDevice(db: Db, pk: number, now: Date): DeviceDetail | null {
  const r = stmt(db, `SELECT ${DEVICE_COLUMNS}, d.record, d.sensor_pk ${DEVICE_FROM} WHERE d.pk = @pk`).get({
    pk,
  }) as (DeviceRow & { sensor_pk: number }) | undefined;
  if (r === undefined) return null;
  const item = deviceItem(r);
  const record = item.record as { peers?: unknown } | null;
  const peerIds = Array.isArray(record?.peers)
    ? record.peers.filter((p): p is string => typeof p === "string")
    : [];
  const known = new Map(
    (
      stmt(
        db,
        "SELECT pk, device_id, ip, ae_titles FROM devices WHERE sensor_pk = @sensor AND device_id IN (SELECT value FROM json_each(@ids))",
      ).all({ sensor: r.sensor_pk, ids: JSON.stringify(peerIds) }) as Array<{
        pk: number;
        device_id: string;
        ip: string | null;
        ae_titles: string;
      }>
    ).map((p) => [p.device_id, p]),
  );
  const peers = peerIds.map((id) => {
    const p = known.get(id);
    return { id, pk: p?.pk ?? null, ip: p?.ip ?? null, aeTitles: p === undefined ? [] : words(p.ae_titles) };
  });
  const findings = (
    stmt(
      db,
      `SELECT ${FINDING_COLUMNS} ${FINDING_FROM} WHERE f.device_pk = @pk ORDER BY f.lifecycle = 'resolved', f.severity_rank DESC, f.last_seen DESC, f.pk LIMIT ${DETAIL_LIMIT}`,
    ).all({ pk, now: isoFromDate(now) }) as FindingRow[]
  ).map(findingItem);
  const history = stmt(
    db,
    `SELECT at, field, change, value, previous FROM device_history WHERE device_pk = @pk ORDER BY at DESC, pk DESC LIMIT ${DETAIL_LIMIT}`,
  ).all({ pk }) as DeviceDetail["history"];
  return { ...item, record: item.record ?? null, findings, peers, history };
}

// ------------------------------------------------------------------------------------------- findings

/** The state a user sees: the sensor's lifecycle first, then the team's triage (risk before acknowledgement). */
const STATE_SQL = `CASE WHEN f.lifecycle = 'resolved' THEN 'resolved'
  WHEN f.risk_expires IS NOT NULL AND f.risk_expires > @now THEN 'risk-accepted'
  WHEN f.acknowledged_at IS NOT NULL THEN 'acknowledged' ELSE 'open' END`;

const FINDING_SORT: Record<string, string> = {
  pk: "f.pk",
  id: "f.finding_id",
  site: "s.site",
  sensor: "s.sensor",
  rule: "f.rule",
  severity: "f.severity_rank",
  state: "state",
  lifecycle: "f.lifecycle",
  step: "f.step",
  device: "f.device_id",
  title: "f.title",
  firstSeen: "f.first_seen",
  lastSeen: "f.last_seen",
  count: "f.count",
  assignee: "f.assignee",
  acknowledgedAt: "f.acknowledged_at",
  lifecycleAt: "f.lifecycle_at",
};

/** The finding list's sort keys (the OpenAPI document lists them). */
export const FINDING_SORT_KEYS = Object.keys(FINDING_SORT);

const FINDING_FILTERS = {
  state: oneOf(FINDING_STATES),
  severity: someOf(SEVERITIES),
  rule: text(100),
  step: oneOf(STEP_IDS),
  sensor: text(64),
  site: text(64),
  device: text(200),
  assignee: text(64),
  q: text(200),
  sort: sortOf(Object.keys(FINDING_SORT)),
};

export const FINDING_LIST_PARAMS = { ...FINDING_FILTERS, ...PAGING };
export const FINDING_EXPORT_PARAMS = FINDING_FILTERS;

export type FindingQuery = ReturnType<typeof parseFindingQuery>;

export function parseFindingQuery(params: URLSearchParams, paged: boolean) {
  const q = parseQuery(params, paged ? FINDING_LIST_PARAMS : FINDING_EXPORT_PARAMS) as ReturnType<
    typeof parseQuery<typeof FINDING_LIST_PARAMS>
  >;
  return {
    ...q,
    state: q.state ?? "any",
    limit: q.limit ?? DEFAULT_LIMIT,
    offset: q.offset ?? 0,
    sort: q.sort ?? [
      { key: "severity", descending: true },
      { key: "lastSeen", descending: true },
    ],
  };
}

function findingWhere(q: FindingQuery): Where {
  const w = new Where();
  if (q.state === "unresolved") w.add("f.lifecycle = 'open'");
  else if (q.state !== "any") w.add(`(${STATE_SQL}) = ?`, q.state);
  if (q.severity !== undefined)
    w.add("f.severity IN (SELECT value FROM json_each(?))", JSON.stringify(q.severity));
  // Unary +: chosen from the covering index findings_list in the order of the page, not through the
  // rule index and the table's records.
  if (q.rule !== undefined) w.add("+f.rule = ?", q.rule);
  if (q.step !== undefined) w.add("f.step = ?", q.step);
  if (q.sensor !== undefined) w.add("s.sensor = ?", q.sensor);
  if (q.site !== undefined) w.add("s.site = ?", q.site);
  if (q.device !== undefined) {
    // A device page's pk, or the sensor's device id (the same id on two sensors names two devices).
    if (/^\d{1,15}$/.test(q.device)) w.add("f.device_pk = ?", Number(q.device));
    else w.add("f.device_id = ?", q.device);
  }
  if (q.assignee !== undefined) w.add("f.assignee = ?", q.assignee);
  if (q.q !== undefined) {
    const like = contains(q.q);
    w.add(
      "(lower(f.title) LIKE ? ESCAPE '\\' OR lower(f.rule) LIKE ? ESCAPE '\\' OR lower(f.finding_id) LIKE ? ESCAPE '\\' OR lower(f.device_id) LIKE ? ESCAPE '\\')",
      like,
      like,
      like,
      like,
    );
  }
  return w;
}

const FINDING_COLUMNS = `f.pk, f.finding_id, f.rule, f.severity, f.lifecycle, f.lifecycle_at, s.site, s.sensor, f.device_id,
  f.device_pk, f.peer_id, f.title, f.record, f.step, f.first_seen, f.last_seen, f.count, f.acknowledged_by,
  f.acknowledged_at, f.assignee, f.risk_accepted_by, f.risk_reason, f.risk_expires, ${STATE_SQL} AS state,
  (f.risk_expires IS NOT NULL AND f.risk_expires > @now) AS risk_active`;
const FINDING_FROM = "FROM findings f JOIN sensors s ON s.pk = f.sensor_pk";

interface FindingRow {
  pk: number;
  finding_id: string;
  rule: string;
  severity: string;
  lifecycle: string;
  lifecycle_at: string;
  site: string;
  sensor: string;
  device_id: string | null;
  device_pk: number | null;
  peer_id: string | null;
  title: string;
  record: string;
  step: string;
  first_seen: string;
  last_seen: string;
  count: number;
  acknowledged_by: string | null;
  acknowledged_at: string | null;
  assignee: string | null;
  risk_accepted_by: string | null;
  risk_reason: string | null;
  risk_expires: string | null;
  state: string;
  risk_active: number;
}

export interface FindingItem {
  pk: number;
  id: string;
  rule: string;
  severity: string;
  state: string;
  lifecycle: string;
  lifecycleAt: string;
  site: string;
  sensor: string;
  device: string | null;
  devicePk: number | null;
  peer: string | null;
  title: string;
  evidence: unknown;
  remediation: string | null;
  step: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  assignee: string | null;
  riskAcceptance: { by: string | null; reason: string | null; expires: string } | null;
}

function findingItem(r: FindingRow): FindingItem {
  const record = json(r.record) as { evidence?: unknown; remediation?: unknown } | null;
  return {
    pk: r.pk,
    id: r.finding_id,
    rule: r.rule,
    severity: r.severity,
    state: r.state,
    lifecycle: r.lifecycle,
    lifecycleAt: r.lifecycle_at,
    site: r.site,
    sensor: r.sensor,
    device: r.device_id,
    devicePk: r.device_pk,
    peer: r.peer_id,
    title: r.title,
    evidence: record?.evidence ?? null,
    remediation: typeof record?.remediation === "string" ? record.remediation : null,
    step: r.step,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    count: r.count,
    acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: r.acknowledged_at,
    assignee: r.assignee,
    // An expired acceptance is history (finding_events), not a current state.
    riskAcceptance:
      r.risk_active === 1
        ? { by: r.risk_accepted_by, reason: r.risk_reason, expires: r.risk_expires! }
        : null,
  };
}

export function listFindings(db: Db, q: FindingQuery, now: Date): Page<FindingItem> {
  const w = findingWhere(q);
  const params = { ...w.params, now: isoFromDate(now) };
  const order = orderBy(q.sort, FINDING_SORT, "f.pk");
  const total = (
    stmt(db, `SELECT COUNT(*) AS n ${fromFor("findings f", w.sql())} ${w.sql()}`).get(params) as { n: number }
  ).n;
  const pks = (
    stmt(
      db,
      `SELECT f.pk, ${STATE_SQL} AS state ${fromFor("findings f", w.sql() + order)} ${w.sql()} ${order} LIMIT @limit OFFSET @offset`,
    ).all({ ...params, limit: q.limit, offset: q.offset }) as Array<{ pk: number }>
  ).map((r) => r.pk);
  return { items: findingsByPks(db, pks, params.now), total, limit: q.limit, offset: q.offset };
}

/** The findings of `pks`, in that order. */
function findingsByPks(db: Db, pks: number[], now: string): FindingItem[] {
  if (pks.length === 0) return [];
  const rows = stmt(
    db,
    `SELECT ${FINDING_COLUMNS} ${FINDING_FROM} WHERE f.pk IN (SELECT value FROM json_each(@pks))`,
  ).all({
    pks: JSON.stringify(pks),
    now,
  }) as FindingRow[];
  const byPk = new Map(rows.map((r) => [r.pk, r]));
  return pks.flatMap((pk) => {
    const r = byPk.get(pk);
    return r === undefined ? [] : [findingItem(r)];
  });
}

/** Every finding the filters select, in order, in batches (see exportDevices). */
export function* exportFindings(db: Db, q: FindingQuery, now: Date): Generator<FindingItem[]> {
  const w = findingWhere(q);
  const params = { ...w.params, now: isoFromDate(now) };
  const pks = (
    stmt(
      db,
      `SELECT f.pk, ${STATE_SQL} AS state ${FINDING_FROM} ${w.sql()} ${orderBy(q.sort, FINDING_SORT, "f.pk")}`,
    ).all(params) as Array<{ pk: number }>
  ).map((r) => r.pk);
  for (let i = 0; i < pks.length; i += EXPORT_BATCH)
    yield findingsByPks(db, pks.slice(i, i + EXPORT_BATCH), params.now);
}

export interface FindingEvent {
  at: string;
  kind: string;
  actor: string | null;
  detail: unknown;
}

export interface FindingDetail extends FindingItem {
  record: unknown;
  history: FindingEvent[];
}

export function getFinding(db: Db, pk: number, now: Date): FindingDetail | null {
  const r = stmt(db, `SELECT ${FINDING_COLUMNS} ${FINDING_FROM} WHERE f.pk = @pk`).get({
    pk,
    now: isoFromDate(now),
  }) as FindingRow | undefined;
  if (r === undefined) return null;
  const history = (
    stmt(db, "SELECT at, kind, actor, detail FROM finding_events WHERE finding_pk = @pk ORDER BY at, pk").all(
      { pk },
    ) as Array<{
      at: string;
      kind: string;
      actor: string | null;
      detail: string | null;
    }>
  ).map((e) => ({ at: e.at, kind: e.kind, actor: e.actor, detail: json(e.detail) }));
  return { ...findingItem(r), record: json(r.record), history };
}

/** A path's `{pk}`: a positive integer, else a 400 (not a 404: the request itself is malformed). */
export function parsePk(text: string): number {
  if (!/^[1-9]\d{0,15}$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new BadRequest("bad-path", `${JSON.stringify(text)} is not a record number`);
  return Number(text);
}
