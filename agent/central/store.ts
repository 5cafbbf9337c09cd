/**
 * The central console's store (issue 12): every sensor's status and health series, devices with their
 * drift history, findings with their lifecycle and the team's actions, in one SQLite database (schema in
 * schema.ts). This file is its write side: ingest (agent/central/ingest.ts) hands it each checked message,
 * the lifecycle timer calls sweep and enforceRetention; the HTTP API reads `db` directly.
 *
 * Durability: WAL with synchronous=NORMAL. A commit survives a crash of this process; on power loss the
 * last commits may be lost, but those messages are not lost to the site: the broker deletes a QoS 1
 * message from the central's session only once it is acknowledged, and ingest acknowledges it only after
 * the write returned (ingest.ts), while retained device and finding states are sent again on every
 * subscription. Revisions (below) make the second copy harmless.
 *
 * Idempotence: a device or finding keeps the highest revision its sensor published; a message whose
 * revision is not above it changes nothing. So a finding that arrives on both its event stream and its
 * retained state topic, again after a restart, or at two central instances sharing this file, is stored
 * and counted once, and its 'opened' event written once. Every write runs in a BEGIN IMMEDIATE
 * transaction, so two processes on one file serialise (busy_timeout) instead of both reading the old
 * revision.
 *
 * Lifecycle of a finding (the sensor's view; the team's triage sits beside it in other columns):
 *   new revision of an unknown finding       → open, event 'opened'
 *   new revision of a resolved finding       → open, event 'reopened'; its acknowledgement is cleared
 *                                              (the team must see it again), assignee and risk kept
 *   empty retained findings/{id} (withdraw)  → resolved, event 'resolved' {reason: "withdrawn"}
 *   no new revision for resolveAfterHours    → resolved, event 'resolved' {reason: "not-seen"} (sweep),
 *     while its sensor was watching           only when the sensor's agent ran for resolveAfterHours after
 *                                              that revision arrived (its last health record and uptime
 *                                              say so): a sensor that is off (unplugged, broken, its broker
 *                                              link down) or just restarted has not "not seen" anything
 * A risk acceptance past its expiry is cleared by sweep, event 'risk-expired'. Every event carries the
 * central's time (`at`), not the sensor's capture times, which may be months old in a replay.
 *
 * Drift: a device's new revision is compared with the stored record, field by field (AE titles, software
 * versions, listening ports, peers, implementation, OS, modality, manufacturer, model, host name), and
 * each difference becomes a device_history row: what the security team must notice (a new AE title, a new
 * listening port, a new peer).
 *
 * Size: retention (historyDays, healthDays) deletes old series and history; resolved findings whose
 * lifecycle ended longer ago than historyDays go with their events. Above `maxBytes` (pages in use, i.e.
 * the file minus its free list) the oldest rows go first, in this order: health samples, device history,
 * events of resolved findings, resolved findings (oldest lifecycle_at first). An open finding, a device,
 * a sensor, a user or a token is never evicted: when only those are left, the store stays over the cap and
 * says so in stats(). Evictions are counted in the counters table (migration 2). The database is created
 * with auto_vacuum=INCREMENTAL so that freed pages go back to the file system.
 *
 * Baselines (issue 13): the latest baseline document of each sensor (retained `baseline`), one row per
 * sensor, replaced by the next and removed when the sensor clears the topic. Current state like a device
 * record, so neither retention nor the size cap removes it; each is capped at ingest (MAX_BASELINE_BYTES).
 *
 * Nothing here logs or stores patient data: the records are the sensors' device and finding records
 * (device-describing attributes only); a payload is never logged.
 */
import Database from "better-sqlite3";
import type { BaselineDocument } from "../baseline/types.js";
import type { CentralSection } from "../config/types.js";
import { CidrSet } from "../config/cidr.js";
import { severityRank } from "../findings/severity.js";
import type { DeviceRecord, FindingRecord, Report } from "../report/types.js";
import {
  PayloadChecker,
  type CheckedMessage,
  type HealthPayload,
  type StatusPayload,
} from "../console/state.js";
import { topicLevel } from "../util/topic.js";
import { isoFromDate } from "../util/time.js";
import type { BaselineCheck } from "./baselines.js";
import { MIGRATIONS } from "./schema.js";
import { stepOf } from "./steps.js";

/** The migrations (schema.ts), re-exported for the store's users and tests. */
export { MIGRATIONS };

/** The schema version this code writes; a newer database is refused. */
export const CENTRAL_SCHEMA_VERSION = MIGRATIONS.length;

export interface CentralStoreOptions {
  /** Cap on the pages in use (central.store.maxBytes). */
  maxBytes: number;
  retention: CentralSection["retention"];
  /** networks.internal: a device with a peer (or an address) outside is 'external'. Default: RFC 1918. */
  internal?: readonly string[];
}

/** A device or finding message as the sensor publishes it (schemas/device.schema.json, finding.schema.json). */
export interface DeviceMessage {
  messageId: string;
  site: string;
  sensor: string;
  revision: number;
  device: DeviceRecord;
}

export interface FindingMessage {
  messageId: string;
  site: string;
  sensor: string;
  revision: number;
  finding: FindingRecord;
}

/** What a device write did. */
export type DeviceResult = "new" | "changed" | "stale";
/** What a finding write did. */
export type FindingResult = "opened" | "reopened" | "updated" | "stale";

export interface SweepResult {
  /** Open findings resolved because no new revision came for resolveAfterHours. */
  resolved: number;
  /** Risk acceptances cleared at their expiry. */
  riskExpired: number;
}

export interface RetentionResult {
  /** Rows deleted because they were older than the retention. */
  expired: { health: number; history: number; events: number; findings: number };
  /** Rows evicted to get under maxBytes. */
  evicted: { health: number; history: number; events: number; findings: number };
  /** Pages in use after, and whether the store is still over its cap (only unevictable rows left). */
  bytes: number;
  overCap: boolean;
}

export interface CentralStats {
  schemaVersion: number;
  /** Pages in use × page size (the cap's measure); fileBytes includes the free list. */
  bytes: number;
  fileBytes: number;
  maxBytes: number;
  overCap: boolean;
  sensors: number;
  devices: number;
  findings: { open: number; resolved: number };
  /** Baselines kept (one per sensor at most) and the bytes of their documents. */
  baselines: { count: number; bytes: number };
  rows: { health: number; history: number; events: number };
  /** Rows evicted by the size cap since the store was created (persistent). */
  evicted: { health: number; history: number; events: number; findings: number };
}

const DEFAULT_INTERNAL = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/** Rows deleted per statement while evicting: small enough to recheck the size often. */
const EVICT_BATCH = 500;

/** Eviction stops below this share of the cap, so it does not run again at the next write. */
const EVICT_TARGET = 0.9;

function iso(now: Date): string {
  return isoFromDate(now);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function numbers(v: unknown): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => typeof x === "number" && Number.isFinite(x)) : [];
}

function text(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** "DCMTK 3.6.7" from the record's toolkit {name, version}; null when unknown. */
export function toolkitOf(d: DeviceRecord): string | null {
  const t = d.toolkit;
  if (!isRecord(t)) return null;
  const name = text(t.name);
  if (name === null) return null;
  const version = text(t.version);
  return version === null ? name : `${name} ${version}`;
}

/** The implementation as one value for drift: "classUid versionName" (either may be missing). */
function implementationOf(d: DeviceRecord): string | null {
  const i = d.implementation;
  if (!isRecord(i)) return null;
  const parts = [text(i.implementationClassUid), text(i.implementationVersionName)].filter((x) => x !== null);
  return parts.length === 0 ? null : parts.join(" ");
}

function osOf(d: DeviceRecord): string | null {
  const o = d.os;
  if (!isRecord(o)) return null;
  const parts = [text(o.name), text(o.version)].filter((x) => x !== null);
  return parts.length === 0 ? null : parts.join(" ");
}

/** Listening ports, DICOM ports among them: the record keeps both lists. */
function portsOf(d: DeviceRecord): number[] {
  return [...new Set([...numbers(d.listeningPorts), ...numbers(d.dicomPorts)])].sort((a, b) => a - b);
}

/** The address in an inventory device id ("ip-10.1.2.3", "mac-ca8d87f44b73-10.77.0.10"), or null. */
export function ipOfDeviceId(id: string): string | null {
  const m = /^(?:ip-|mac-[0-9a-f]+-)(.+)$/i.exec(id);
  return m ? m[1]! : null;
}

/** The values compared between revisions (drift): sets, and single values. */
const SET_FIELDS = {
  aeTitles: (d: DeviceRecord): string[] => strings(d.aeTitles),
  softwareVersions: (d: DeviceRecord): string[] => strings(d.softwareVersions),
  listeningPorts: (d: DeviceRecord): string[] => portsOf(d).map(String),
  peers: (d: DeviceRecord): string[] => strings(d.peers),
} as const;

const VALUE_FIELDS = {
  implementation: implementationOf,
  os: osOf,
  modality: (d: DeviceRecord): string | null => text(d.modality),
  manufacturer: (d: DeviceRecord): string | null => text(d.manufacturer),
  model: (d: DeviceRecord): string | null => text(d.model),
  hostName: (d: DeviceRecord): string | null => text(d.hostName),
} as const;

export interface DriftRow {
  field: string;
  change: "added" | "removed" | "changed";
  value: string;
  previous: string | null;
}

/** What changed from `before` to `after`, as device_history rows (sorted by field, then value). */
export function drift(before: DeviceRecord, after: DeviceRecord): DriftRow[] {
  const out: DriftRow[] = [];
  for (const [field, get] of Object.entries(SET_FIELDS)) {
    const a = new Set(get(before));
    const b = new Set(get(after));
    for (const v of [...b].filter((x) => !a.has(x)).sort())
      out.push({ field, change: "added", value: v, previous: null });
    for (const v of [...a].filter((x) => !b.has(x)).sort())
      out.push({ field, change: "removed", value: v, previous: null });
  }
  for (const [field, get] of Object.entries(VALUE_FIELDS)) {
    const a = get(before);
    const b = get(after);
    if (a === b) continue;
    if (a === null) out.push({ field, change: "added", value: b!, previous: null });
    else if (b === null) out.push({ field, change: "removed", value: a, previous: null });
    else out.push({ field, change: "changed", value: b, previous: a });
  }
  return out;
}

interface DeviceColumns {
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
  exposure: "internal" | "external";
  search: string;
  first_seen: string | null;
  last_seen: string | null;
}

type Counters = RetentionResult["evicted"];

export class CentralStore {
  /** The better-sqlite3 connection, for the read side (the HTTP API) and tests. */
  readonly db: Database.Database;
  private readonly maxBytes: number;
  private readonly retention: CentralSection["retention"];
  private readonly internal: CidrSet;

  private readonly stmt: ReturnType<CentralStore["prepare"]>;

  private constructor(db: Database.Database, opts: CentralStoreOptions) {
    this.db = db;
    this.maxBytes = opts.maxBytes;
    this.retention = opts.retention;
    this.internal = new CidrSet(opts.internal ?? DEFAULT_INTERNAL);
    this.stmt = this.prepare();
  }

  /**
   * Opens (or creates) the store at `path` (":memory:" for a throwaway one) and brings its schema up to
   * date, each migration in its own transaction. Throws when the database was written by a newer version.
   */
  static open(path: string, opts: CentralStoreOptions): CentralStore {
    const db = new Database(path);
    try {
      // First: the pragmas below and the migrations wait for another instance's lock instead of failing.
      db.pragma("busy_timeout = 5000");
      // Before any table exists: auto_vacuum can only be chosen for an empty database.
      if ((db.pragma("page_count", { simple: true }) as number) === 0) db.pragma("auto_vacuum = INCREMENTAL");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      migrate(db);
      return new CentralStore(db, opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private prepare() {
    const db = this.db;
    return {
      sensor: db.prepare<[string, string, string], { pk: number }>(
        `INSERT INTO sensors (site, sensor, last_message_at) VALUES (?, ?, ?)
         ON CONFLICT (site, sensor) DO UPDATE SET last_message_at = excluded.last_message_at
         RETURNING pk`,
      ),
      sensorPk: db.prepare<[string, string], { pk: number }>(
        "SELECT pk FROM sensors WHERE site = ? AND sensor = ?",
      ),
      getStatus: db.prepare<[number], { state: string; version: string | null; started_at: string | null }>(
        "SELECT state, version, started_at FROM sensors WHERE pk = ?",
      ),
      setStatus: db.prepare<[string, string, string, string, number]>(
        "UPDATE sensors SET state = ?, version = ?, started_at = ?, state_at = ? WHERE pk = ?",
      ),
      healthAt: db.prepare<[number, string], { n: number }>(
        "SELECT count(*) AS n FROM sensor_health WHERE sensor_pk = ? AND at = ?",
      ),
      insertHealth: db.prepare<[number, string, number, number, number, number, number | null]>(
        `INSERT INTO sensor_health (sensor_pk, at, packets, bytes, drops, outbox_depth, rss_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      setHealth: db.prepare<[string, string, number, string]>(
        `UPDATE sensors SET health = ?, health_at = ?
         WHERE pk = ? AND (health_at IS NULL OR health_at <= ?)`,
      ),
      getDevice: db.prepare<[number, string], { pk: number; revision: number; record: string }>(
        "SELECT pk, revision, record FROM devices WHERE sensor_pk = ? AND device_id = ?",
      ),
      insertDevice: db.prepare(
        `INSERT INTO devices (sensor_pk, device_id, revision, record, ip, mac, class, modality, manufacturer,
           model, toolkit, ae_titles, ports, peer_count, exposure, search, first_seen, last_seen, received_at)
         VALUES (@sensor_pk, @device_id, @revision, @record, @ip, @mac, @class, @modality, @manufacturer,
           @model, @toolkit, @ae_titles, @ports, @peer_count, @exposure, @search, @first_seen, @last_seen,
           @received_at)
         RETURNING pk`,
      ),
      updateDevice: db.prepare(
        `UPDATE devices SET revision = @revision, record = @record, ip = @ip, mac = @mac, class = @class,
           modality = @modality, manufacturer = @manufacturer, model = @model, toolkit = @toolkit,
           ae_titles = @ae_titles, ports = @ports, peer_count = @peer_count, exposure = @exposure,
           search = @search, first_seen = @first_seen, last_seen = @last_seen, received_at = @received_at
         WHERE pk = @pk`,
      ),
      history: db.prepare<[number, string, string, string, string, string | null]>(
        "INSERT INTO device_history (device_pk, at, field, change, value, previous) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      linkFindings: db.prepare<[number, number, string]>(
        "UPDATE findings SET device_pk = ? WHERE sensor_pk = ? AND device_id = ? AND device_pk IS NULL",
      ),
      devicePk: db.prepare<[number, string], { pk: number }>(
        "SELECT pk FROM devices WHERE sensor_pk = ? AND device_id = ?",
      ),
      getFinding: db.prepare<[number, string], { pk: number; revision: number; lifecycle: string }>(
        "SELECT pk, revision, lifecycle FROM findings WHERE sensor_pk = ? AND finding_id = ?",
      ),
      insertFinding: db.prepare(
        `INSERT INTO findings (sensor_pk, finding_id, revision, record, rule, severity, severity_rank, step,
           device_id, device_pk, peer_id, title, first_seen, last_seen, count, lifecycle, lifecycle_at,
           received_at)
         VALUES (@sensor_pk, @finding_id, @revision, @record, @rule, @severity, @severity_rank, @step,
           @device_id, @device_pk, @peer_id, @title, @first_seen, @last_seen, @count, 'open', @now, @now)
         RETURNING pk`,
      ),
      updateFinding: db.prepare(
        `UPDATE findings SET revision = @revision, record = @record, rule = @rule, severity = @severity,
           severity_rank = @severity_rank, step = @step, device_id = @device_id, device_pk = @device_pk,
           peer_id = @peer_id, title = @title, first_seen = @first_seen, last_seen = @last_seen,
           count = @count, received_at = @now,
           acknowledged_by = CASE WHEN lifecycle = 'open' THEN acknowledged_by END,
           acknowledged_at = CASE WHEN lifecycle = 'open' THEN acknowledged_at END,
           lifecycle = 'open', lifecycle_at = CASE WHEN lifecycle = 'open' THEN lifecycle_at ELSE @now END
         WHERE pk = @pk`,
      ),
      event: db.prepare<[number, string, string, string | null, string | null]>(
        "INSERT INTO finding_events (finding_pk, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)",
      ),
      openFindingsByLevel: db.prepare<[number, string, string], { pk: number; finding_id: string }>(
        `SELECT pk, finding_id FROM findings
         WHERE sensor_pk = ? AND finding_id IN (?, ?) AND lifecycle = 'open'`,
      ),
      resolve: db.prepare<[string, number]>(
        "UPDATE findings SET lifecycle = 'resolved', lifecycle_at = ? WHERE pk = ? AND lifecycle = 'open'",
      ),
      // The sensor watched for the whole window: its last health record (QoS 0, never retained: only a
      // running agent sends it) is `window` days after the later of the revision's arrival and the agent's
      // start (health's uptimeSeconds), so an agent that was off, or restarted and has not yet had the time
      // to see the finding again, resolves nothing. health_at is the sensor's clock, received_at the
      // central's: both set by NTP on a site's hosts, and hours of window dwarf their skew.
      staleOpen: db.prepare<[string, number], { pk: number; received_at: string }>(
        `SELECT f.pk, f.received_at FROM findings f JOIN sensors s ON s.pk = f.sensor_pk
         WHERE f.lifecycle = 'open' AND f.received_at < ? AND s.health_at IS NOT NULL
           AND julianday(s.health_at) - max(julianday(f.received_at),
                 julianday(s.health_at) - coalesce(json_extract(s.health, '$.uptimeSeconds'), 0) / 86400.0) >= ?`,
      ),
      expiredRisk: db.prepare<[string], { pk: number; risk_expires: string }>(
        `SELECT pk, risk_expires FROM findings
         WHERE risk_expires IS NOT NULL AND julianday(risk_expires) <= julianday(?)`,
      ),
      clearRisk: db.prepare<[number]>(
        `UPDATE findings SET risk_accepted_by = NULL, risk_reason = NULL, risk_expires = NULL WHERE pk = ?`,
      ),
      getBaseline: db.prepare<[number], { revision: number }>(
        "SELECT revision FROM baselines WHERE sensor_pk = ?",
      ),
      baselineSeen: db.prepare<[string, number]>("UPDATE baselines SET received_at = ? WHERE sensor_pk = ?"),
      putBaseline: db.prepare(
        `INSERT INTO baselines (sensor_pk, status, window_start, window_end, window_days, services, peers,
           devices, document, bytes, revision, message_id, received_at, changed_at)
         VALUES (@sensor_pk, @status, @window_start, @window_end, @window_days, @services, @peers, @devices,
           @document, @bytes, @revision, @message_id, @now, @now)
         ON CONFLICT (sensor_pk) DO UPDATE SET status = excluded.status, window_start = excluded.window_start,
           window_end = excluded.window_end, window_days = excluded.window_days, services = excluded.services,
           peers = excluded.peers, devices = excluded.devices, document = excluded.document,
           bytes = excluded.bytes, revision = excluded.revision, message_id = excluded.message_id,
           received_at = excluded.received_at,
           changed_at = excluded.changed_at`,
      ),
      deleteBaseline: db.prepare<[number]>("DELETE FROM baselines WHERE sensor_pk = ?"),
      counter: db.prepare<[string], { value: number }>("SELECT value FROM counters WHERE name = ?"),
      addCounter: db.prepare<[number, string]>("UPDATE counters SET value = value + ? WHERE name = ?"),
    };
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction (see the file comment: two writers on one file). */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private sensorPk(site: string, sensor: string, now: Date): number {
    return this.stmt.sensor.get(site, sensor, iso(now))!.pk;
  }

  /**
   * A sensor's retained status (schemas/status.schema.json). Status has no revision: the last message
   * wins; state_at moves only when state, version or start time change (a retained copy of the same
   * status after a restart is no change).
   */
  status(site: string, sensor: string, payload: StatusPayload, now = new Date()): boolean {
    return this.tx(() => {
      const pk = this.sensorPk(site, sensor, now);
      const old = this.stmt.getStatus.get(pk)!;
      if (
        old.state === payload.state &&
        old.version === payload.version &&
        old.started_at === payload.startedAt
      )
        return false;
      this.stmt.setStatus.run(payload.state, payload.version, payload.startedAt, iso(now), pk);
      return true;
    });
  }

  /**
   * A health sample (schemas/health.schema.json): one sensor_health row (a second copy of one sample, by
   * its time, is dropped) and, when it is the newest, the sensor's last health.
   */
  health(site: string, sensor: string, payload: HealthPayload, now = new Date()): boolean {
    return this.tx(() => {
      const pk = this.sensorPk(site, sensor, now);
      if (this.stmt.healthAt.get(pk, payload.time)!.n > 0) return false;
      const proc = payload.process;
      const rss = isRecord(proc) && typeof proc.rssBytes === "number" ? proc.rssBytes : null;
      this.stmt.insertHealth.run(
        pk,
        payload.time,
        payload.capture.packets,
        payload.capture.bytes,
        payload.capture.drops,
        payload.outbox.depth,
        rss,
      );
      this.stmt.setHealth.run(JSON.stringify(payload), payload.time, pk, payload.time);
      return true;
    });
  }

  /** A device record (retained `devices/{deviceId}`): kept when its revision is new, drift recorded. */
  device(site: string, sensor: string, message: DeviceMessage, now = new Date()): DeviceResult {
    return this.tx((): DeviceResult => {
      const spk = this.sensorPk(site, sensor, now);
      const d = message.device;
      const old = this.stmt.getDevice.get(spk, d.id);
      if (old && old.revision >= message.revision) return "stale";
      const at = iso(now);
      const row = {
        sensor_pk: spk,
        device_id: d.id,
        revision: message.revision,
        record: JSON.stringify(d),
        received_at: at,
        ...this.columns(d),
      };
      if (!old) {
        const pk = (this.stmt.insertDevice.get(row) as { pk: number }).pk;
        // Findings that arrived before their device.
        this.stmt.linkFindings.run(pk, spk, d.id);
        return "new";
      }
      this.stmt.updateDevice.run({ ...row, pk: old.pk });
      let before: DeviceRecord | null = null;
      try {
        before = JSON.parse(old.record) as DeviceRecord;
      } catch {
        // A damaged stored record: no drift can be told from it.
      }
      if (before)
        for (const r of drift(before, d))
          this.stmt.history.run(old.pk, at, r.field, r.change, r.value, r.previous);
      return "changed";
    });
  }

  /** The columns the inventory filters by, from the record (see schema.ts). */
  private columns(d: DeviceRecord): DeviceColumns {
    const ae = strings(d.aeTitles);
    const ports = portsOf(d);
    const peers = strings(d.peers);
    const toolkit = toolkitOf(d);
    const ip = text(d.ip);
    const outside = (a: string | null): boolean => a !== null && !this.internal.has(a);
    const external = d.exposure === "external" || outside(ip) || peers.some((p) => outside(ipOfDeviceId(p)));
    const search = [
      ip,
      text(d.mac),
      ...ae,
      text(d.manufacturer),
      text(d.model),
      text(d.modality),
      toolkit,
      text(d.stationName),
      text(d.hostName),
      text(d.class),
      ...ports.map(String),
    ]
      .filter((x): x is string => x !== null)
      .join(" ")
      .toLowerCase();
    return {
      ip,
      mac: text(d.mac),
      class: text(d.class),
      modality: text(d.modality),
      manufacturer: text(d.manufacturer),
      model: text(d.model),
      toolkit,
      ae_titles: ae.join(" "),
      ports: ports.join(" "),
      peer_count: peers.length,
      exposure: external ? "external" : "internal",
      search,
      first_seen: text(d.firstSeen),
      last_seen: text(d.lastSeen),
    };
  }

  /**
   * A finding (the `findings` event or its retained `findings/{findingId}` state): a new revision updates
   * the row and moves the lifecycle (see the file comment).
   */
  finding(site: string, sensor: string, message: FindingMessage, now = new Date()): FindingResult {
    return this.tx((): FindingResult => {
      const spk = this.sensorPk(site, sensor, now);
      const f = message.finding;
      const old = this.stmt.getFinding.get(spk, f.id);
      if (old && old.revision >= message.revision) return "stale";
      const at = iso(now);
      const deviceId = f.device;
      const row = {
        revision: message.revision,
        record: JSON.stringify(f),
        rule: f.rule,
        severity: f.severity,
        severity_rank: severityRank(f.severity),
        step: stepOf(f.rule),
        device_id: deviceId,
        device_pk: deviceId === null ? null : (this.stmt.devicePk.get(spk, deviceId)?.pk ?? null),
        peer_id: f.peer,
        title: f.title,
        first_seen: f.firstSeen,
        last_seen: f.lastSeen,
        count: f.count,
        now: at,
      };
      const detail = JSON.stringify({ revision: message.revision });
      if (!old) {
        const pk = (
          this.stmt.insertFinding.get({ ...row, sensor_pk: spk, finding_id: f.id }) as { pk: number }
        ).pk;
        this.stmt.event.run(pk, at, "opened", null, detail);
        return "opened";
      }
      this.stmt.updateFinding.run({ ...row, pk: old.pk });
      if (old.lifecycle === "open") return "updated";
      this.stmt.event.run(old.pk, at, "reopened", null, detail);
      return "reopened";
    });
  }

  /**
   * An empty retained `findings/{level}`: the sensor withdrew the finding's state, it is gone → resolved.
   * `level` is the topic level (topicLevel of the id, percent-encoded when the id holds / + # or NUL).
   * Returns how many open findings it resolved (0 or 1; 2 only for ids that encode alike).
   */
  withdraw(site: string, sensor: string, level: string, now = new Date()): number {
    return this.tx(() => {
      const spk = this.stmt.sensorPk.get(site, sensor)?.pk;
      if (spk === undefined) return 0;
      let decoded = level;
      try {
        decoded = decodeURIComponent(level);
      } catch {
        // Not percent-encoded: the level is the id.
      }
      const at = iso(now);
      let n = 0;
      for (const r of this.stmt.openFindingsByLevel.all(spk, level, decoded)) {
        if (topicLevel(r.finding_id) !== level) continue;
        if (this.stmt.resolve.run(at, r.pk).changes === 0) continue;
        this.stmt.event.run(r.pk, at, "resolved", null, JSON.stringify({ reason: "withdrawn" }));
        n++;
      }
      return n;
    });
  }

  /**
   * A sensor's baseline (retained `baseline`, checked by checkBaseline): kept as the sensor's latest when its
   * revision is above the stored one, replacing it. A revision not above it (a retained copy after a
   * reconnect, the same message at a second central instance, a late older one) changes nothing but
   * received_at, and is "stale".
   */
  baseline(
    site: string,
    sensor: string,
    message: { messageId: string; revision: number; document: BaselineDocument },
    now = new Date(),
  ): DeviceResult {
    return this.tx((): DeviceResult => {
      const spk = this.sensorPk(site, sensor, now);
      const at = iso(now);
      const old = this.stmt.getBaseline.get(spk);
      if (old && old.revision >= message.revision) {
        this.stmt.baselineSeen.run(at, spk);
        return "stale";
      }
      const doc = message.document;
      const text = JSON.stringify(doc);
      this.stmt.putBaseline.run({
        sensor_pk: spk,
        status: doc.status,
        window_start: doc.window.start,
        window_end: doc.window.end,
        window_days: doc.window.days,
        services: doc.services.length,
        peers: doc.services.reduce((n, s) => n + s.peers.length, 0),
        devices: doc.devices.length,
        document: text,
        bytes: Buffer.byteLength(text),
        revision: message.revision,
        message_id: message.messageId,
        now: at,
      });
      return old ? "changed" : "new";
    });
  }

  /** An empty retained `baseline`: the sensor's baseline is gone (decommissioned, reset). */
  clearBaseline(site: string, sensor: string): boolean {
    return this.tx(() => {
      const spk = this.stmt.sensorPk.get(site, sensor)?.pk;
      return spk !== undefined && this.stmt.deleteBaseline.run(spk).changes > 0;
    });
  }

  /**
   * A baseline message as ingest checked it (checkBaseline): stored or cleared. The dispatch beside apply's
   * for the one topic whose payload is no PayloadChecker kind.
   */
  applyBaseline(c: Extract<BaselineCheck, { ok: true }>, now = new Date()): ApplyResult {
    if (c.empty) return this.clearBaseline(c.site, c.sensor) ? "withdrawn" : "ignored";
    return this.baseline(c.site, c.sensor, c, now);
  }

  /**
   * Staleness and expiries (run by the lifecycle timer): open findings without a new revision for
   * resolveAfterHours while their sensor kept sending health are resolved ('not-seen'); risk acceptances
   * past their expiry are cleared.
   */
  sweep(now = new Date()): SweepResult {
    return this.tx(() => {
      const at = iso(now);
      const cutoff = iso(new Date(now.getTime() - this.retention.resolveAfterHours * 3_600_000));
      let resolved = 0;
      for (const r of this.stmt.staleOpen.all(cutoff, this.retention.resolveAfterHours / 24)) {
        if (this.stmt.resolve.run(at, r.pk).changes === 0) continue;
        this.stmt.event.run(
          r.pk,
          at,
          "resolved",
          null,
          JSON.stringify({ reason: "not-seen", since: r.received_at }),
        );
        resolved++;
      }
      let riskExpired = 0;
      for (const r of this.stmt.expiredRisk.all(at)) {
        this.stmt.clearRisk.run(r.pk);
        this.stmt.event.run(r.pk, at, "risk-expired", null, JSON.stringify({ expires: r.risk_expires }));
        riskExpired++;
      }
      return { resolved, riskExpired };
    });
  }

  /**
   * Retention and the size cap (see the file comment). Deletes what is older than the retention, then,
   * while the pages in use exceed maxBytes, the oldest evictable rows; returns what it deleted.
   */
  enforceRetention(now = new Date()): RetentionResult {
    const day = 86_400_000;
    const historyCutoff = iso(new Date(now.getTime() - this.retention.historyDays * day));
    const healthCutoff = iso(new Date(now.getTime() - this.retention.healthDays * day));
    const expired = this.tx(() => ({
      health: this.db.prepare("DELETE FROM sensor_health WHERE at < ?").run(healthCutoff).changes,
      history: this.db.prepare("DELETE FROM device_history WHERE at < ?").run(historyCutoff).changes,
      // Events of open findings stay: the history of what is still open is kept whole.
      events: this.db
        .prepare(
          `DELETE FROM finding_events WHERE at < ? AND finding_pk IN
             (SELECT pk FROM findings WHERE lifecycle = 'resolved')`,
        )
        .run(historyCutoff).changes,
      findings: this.db
        .prepare("DELETE FROM findings WHERE lifecycle = 'resolved' AND lifecycle_at < ?")
        .run(historyCutoff).changes,
    }));
    const evicted: Counters = { health: 0, history: 0, events: 0, findings: 0 };
    let bytes = this.usedBytes();
    if (bytes > this.maxBytes) {
      const target = this.maxBytes * EVICT_TARGET;
      // Oldest first: rowid/pk order is arrival order.
      const steps: Array<[keyof Counters, string]> = [
        [
          "health",
          `DELETE FROM sensor_health WHERE rowid IN (SELECT rowid FROM sensor_health ORDER BY rowid LIMIT ?)`,
        ],
        [
          "history",
          `DELETE FROM device_history WHERE pk IN (SELECT pk FROM device_history ORDER BY pk LIMIT ?)`,
        ],
        [
          "events",
          `DELETE FROM finding_events WHERE pk IN (SELECT e.pk FROM finding_events e JOIN findings f
             ON f.pk = e.finding_pk WHERE f.lifecycle = 'resolved' ORDER BY e.pk LIMIT ?)`,
        ],
        [
          "findings",
          `DELETE FROM findings WHERE pk IN (SELECT pk FROM findings WHERE lifecycle = 'resolved'
             ORDER BY lifecycle_at, pk LIMIT ?)`,
        ],
      ];
      for (const [kind, sql] of steps) {
        const del = this.db.prepare<[number]>(sql);
        while (bytes > target) {
          const n = this.tx(() => {
            const changes = del.run(EVICT_BATCH).changes;
            if (changes > 0) this.stmt.addCounter.run(changes, `evicted_${kind}`);
            return changes;
          });
          if (n === 0) break;
          evicted[kind] += n;
          bytes = this.usedBytes();
        }
        if (bytes <= target) break;
      }
    }
    const deleted =
      Object.values(expired).reduce((a, b) => a + b, 0) + Object.values(evicted).reduce((a, b) => a + b, 0);
    if (deleted > 0) {
      // Freed pages back to the file system, and the WAL (which grew with the deletes) truncated.
      this.db.pragma("incremental_vacuum");
      this.db.pragma("wal_checkpoint(TRUNCATE)");
      bytes = this.usedBytes();
    }
    return { expired, evicted, bytes, overCap: bytes > this.maxBytes };
  }

  /** Pages in use × page size: the file minus its free list (the cap's measure). */
  usedBytes(): number {
    const pageSize = this.db.pragma("page_size", { simple: true }) as number;
    const pages = this.db.pragma("page_count", { simple: true }) as number;
    const free = this.db.pragma("freelist_count", { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  /** Counts for health and the benchmark. */
  stats(): CentralStats {
    const n = (sql: string): number => (this.db.prepare(sql).get() as { n: number }).n;
    const pageSize = this.db.pragma("page_size", { simple: true }) as number;
    const bytes = this.usedBytes();
    const counter = (k: keyof Counters): number => this.stmt.counter.get(`evicted_${k}`)?.value ?? 0;
    return {
      schemaVersion: this.db.pragma("user_version", { simple: true }) as number,
      bytes,
      fileBytes: (this.db.pragma("page_count", { simple: true }) as number) * pageSize,
      maxBytes: this.maxBytes,
      overCap: bytes > this.maxBytes,
      sensors: n("SELECT count(*) AS n FROM sensors"),
      devices: n("SELECT count(*) AS n FROM devices"),
      baselines: {
        count: n("SELECT count(*) AS n FROM baselines"),
        bytes: n("SELECT coalesce(sum(bytes), 0) AS n FROM baselines"),
      },
      findings: {
        open: n("SELECT count(*) AS n FROM findings WHERE lifecycle = 'open'"),
        resolved: n("SELECT count(*) AS n FROM findings WHERE lifecycle = 'resolved'"),
      },
      rows: {
        health: n("SELECT count(*) AS n FROM sensor_health"),
        history: n("SELECT count(*) AS n FROM device_history"),
        events: n("SELECT count(*) AS n FROM finding_events"),
      },
      evicted: {
        health: counter("health"),
        history: counter("history"),
        events: counter("events"),
        findings: counter("findings"),
      },
    };
  }

  /**
   * One checked message (PayloadChecker.check, as ingest and loadReport make them) written by its kind:
   * the one dispatch both use, so a report loaded by a test goes where a published one would. Returns a
   * word for ingest's counters: what the write did.
   */
  apply(m: Extract<CheckedMessage, { ok: true }>, now = new Date()): ApplyResult {
    const { site, sensor, kind, level } = m.topic;
    if (m.empty) {
      // Cleared retained topics: a withdrawn finding state; a cleared status or device record changes
      // nothing here (the device stays in the inventory with its last record).
      if (kind === "finding" && level !== "")
        return this.withdraw(site, sensor, level, now) > 0 ? "withdrawn" : "ignored";
      return "ignored";
    }
    switch (kind) {
      case "status":
        return this.status(site, sensor, m.body as StatusPayload, now) ? "changed" : "stale";
      case "health":
        return this.health(site, sensor, m.body as HealthPayload, now) ? "new" : "stale";
      case "device":
        return this.device(site, sensor, m.body as DeviceMessage, now);
      case "finding":
        return this.finding(site, sensor, m.body as FindingMessage, now);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** What apply did with a message. */
export type ApplyResult = DeviceResult | FindingResult | "changed" | "withdrawn" | "ignored";

/**
 * Brings the schema to CENTRAL_SCHEMA_VERSION by PRAGMA user_version, one transaction per migration. The
 * version is read inside each BEGIN IMMEDIATE transaction, so two instances opening one new file at once
 * do not both run a migration: the second waits for the first and finds it done.
 */
function migrate(db: Database.Database): void {
  const version = (): number => db.pragma("user_version", { simple: true }) as number;
  for (;;) {
    const done = db
      .transaction((): boolean => {
        const v = version();
        if (v > MIGRATIONS.length)
          throw new Error(
            `central store: database schema version ${v} is newer than this version's ${MIGRATIONS.length}`,
          );
        if (v === MIGRATIONS.length) return true;
        db.exec(MIGRATIONS[v]!);
        // PRAGMA takes no parameters; v + 1 is an integer of ours.
        db.pragma(`user_version = ${v + 1}`);
        return false;
      })
      .immediate();
    if (done) return;
  }
}

export interface LoadReportOptions {
  site: string;
  sensor: string;
  /** Revision of every record (default 1): a second load with a higher one updates, an equal one is stale. */
  revision?: number;
  now?: Date;
  /** The agent version in the sensor's status (default "report"); null: no status message. */
  version?: string | null;
  checker?: PayloadChecker;
}

/**
 * Loads an `analyze --json` report as if one sensor had published it: its status, each device on
 * `devices/{id}` and each finding on `findings`, as the agent's payloads, through the checks and the
 * dispatch ingest uses (PayloadChecker, CentralStore.apply). For tests and benchmarks that need real
 * records in the store. The whole report is one transaction (each message's own is a savepoint in it), so
 * seeding tens of thousands of records commits once. Returns what apply said for each message, in order
 * (status first).
 */
export function loadReport(
  store: CentralStore,
  report: Pick<Report, "devices" | "findings">,
  opts: LoadReportOptions,
): ApplyResult[] {
  const { site, sensor } = opts;
  const revision = opts.revision ?? 1;
  const now = opts.now ?? new Date();
  const checker = opts.checker ?? new PayloadChecker();
  const out: ApplyResult[] = [];
  store.db
    .transaction(() =>
      loadInto(store, report, { site, sensor, revision, now, checker, version: opts.version }, out),
    )
    .immediate();
  return out;
}

function loadInto(
  store: CentralStore,
  report: Pick<Report, "devices" | "findings">,
  opts: Required<Omit<LoadReportOptions, "version">> & { version: string | null | undefined },
  out: ApplyResult[],
): void {
  const { site, sensor, revision, now, checker } = opts;
  const root = `dicomtap/v1/${site}/${sensor}/`;
  const put = (topic: string, payload: object): void => {
    const c = checker.check(topic, Buffer.from(JSON.stringify(payload)));
    if (!c.ok) throw new Error(`loadReport: ${topic}: ${c.reason}`);
    out.push(store.apply(c, now));
  };
  if (opts.version !== null) {
    const startedAt = iso(now);
    put(root + "status", {
      state: "online",
      version: opts.version ?? "report",
      startedAt,
      messageId: `${site}/${sensor}/status/${startedAt}/1/online`,
    });
  }
  for (const device of report.devices)
    put(root + "devices/" + topicLevel(device.id), {
      messageId: `${site}/${sensor}/device/${device.id}/${revision}`,
      site,
      sensor,
      revision,
      device,
    });
  for (const finding of report.findings)
    put(root + "findings", {
      messageId: `${site}/${sensor}/finding/${finding.id}/${revision}`,
      site,
      sensor,
      revision,
      finding,
    });
}
