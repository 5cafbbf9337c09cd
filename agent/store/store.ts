/**
 * The sensor's local store (DESIGN.md §2 "store"): devices, findings and the outbox of MQTT messages, in
 * one SQLite database. The outbox is the source of truth for publishing: a row leaves it only when the
 * broker acknowledged it (Publisher calls ack) or when the size cap evicts it (counted, see below).
 *
 * Durability: journal_mode=WAL with synchronous=FULL. In WAL mode, NORMAL survives a crash of the
 * process but may lose the last commits on power loss or a kernel crash, because the WAL is synced only
 * at checkpoints. A sensor is a small box on a hospital switch whose plug gets pulled, and a finding
 * must never be lost, so every commit syncs the WAL. The cost is one fsync per transaction; the store
 * is written per finding or device change, never per packet, so that cost is small.
 *
 * Size cap (`store.maxBytes`): the store counts the bytes of what it holds (payloads, topics, message
 * ids and JSON of devices and findings, plus a fixed per-row overhead) and, when a write pushes the total
 * above the cap, evicts outbox rows until it is below 90 % of the cap. Eviction order:
 *   1. severity rank, lowest first: findings of severity info, then low, then device records, then
 *      medium, high, critical findings (other messages carry the rank given to enqueue);
 *   2. within a rank, oldest (lowest seq) first.
 * Retained messages (device records, findings' states) never pile up: enqueueing a retained message
 * deletes the older, unsent rows of the same topic, since the broker would keep only the newest anyway
 * (not counted as evictions). Every evicted row is counted in a persistent counter, published in health.
 *
 * The devices and findings tables are the local copy of what was announced; inventory and the findings
 * engine cap what they hold in memory, but over months (and restarts) new ids keep coming (DHCP churn,
 * scanners from ever new addresses), so the tables get a budget of their own: half the cap. Above it, the
 * records least recently changed (devices by write time, findings by lastSeen) are pruned until below
 * 45 %. Without that budget the tables would in time fill the cap, and every new message, however
 * severe, would be evicted the moment it was enqueued. Pruning drops only the local copy: a message
 * still in the outbox is kept.
 *
 * Revisions: consumers keep the highest revision of each device and finding and drop the rest, so a
 * record's revision must grow whatever happens here. A new record's revision starts above a persistent
 * floor; each change adds one. The floor starts at the store's creation time in milliseconds since the
 * epoch × 1000 (migration 3), so when the database is lost (an SD card's corruption) and created anew,
 * the new store's revisions are above the old one's: the old store would have needed 1000 changes of one
 * record per millisecond of its life to get above. That stays a safe integer (2^53) until the year 2255.
 * It assumes a clock that does not go back past the old store's creation (a sensor without an RTC should
 * set its clock by NTP before the agent starts: systemd/dicomtap.service is ordered after
 * time-sync.target, which waits for the clock only where systemd-time-wait-sync is enabled). The floor also
 * rises to the highest revision ever pruned, so a pruned record that comes back is not taken for an old one.
 *
 * Findings across restarts: the findings engine starts empty after a restart (or forgets a finding it
 * evicted) and counts a finding it raises again from 1, with the firstSeen of this run. The store merges
 * so the console never sees a finding go back:
 *   - firstSeen is the earlier of the stored and the new one, lastSeen the later (also in evidence);
 *   - count = the stored count when this process first wrote the finding + the count the engine reports
 *     now; when the engine's count drops (it started the finding over), what it had counted is added to
 *     that base first. evidence.counts are merged by the same rule, per counter;
 *   - evidence.flows and aeTitles: the engine's list, then stored entries not in it, up to the longer of
 *     the two lists' lengths (so bounded by the engine's own caps).
 * The base is not held in memory (a scan from ever new addresses would grow it without bound, issue 9):
 * each finding row keeps, in its `engine` column, what the engine last reported for it and the run of
 * this Store it came from (a random id per open), so base = stored count − that count within one run,
 * and = the stored count when the run differs or the engine's count dropped. A finding started over with
 * a count at least the one it had is not recognised as started over: its count then does not grow by the
 * earlier count (but does not go back either).
 *
 * The file on disk is larger than the counted bytes by SQLite's page and index overhead.
 *
 * Nothing stored holds patient data: devices and findings come from the report's DeviceRecord and
 * FindingRecord, which inventory and findings build from device-describing attributes only.
 */
import { randomUUID } from "node:crypto";
import Database from "better-sqlite3";
import type { DeviceRecord, FindingRecord } from "../report/types.js";
import type { Severity } from "../findings/severity.js";
import type { BaselineDocument } from "../baseline/types.js";
import { isoFromDate, isoNow } from "../util/time.js";
import { topicLevel } from "../util/topic.js";

export type { Severity };

/** Eviction ranks; lower goes first. Device records rank between low and medium findings. */
export const SEVERITY_RANK: Readonly<Record<Severity | "device", number>> = {
  info: 0,
  low: 1,
  device: 2,
  medium: 3,
  high: 4,
  critical: 5,
};

export interface StoreOptions {
  /** Database file; ":memory:" for a throwaway store. */
  path: string;
  /** Cap on the bytes the store holds (see the file comment). */
  maxBytes: number;
  site: string;
  sensor: string;
}

export interface EnqueueOptions {
  qos: 0 | 1;
  retain: boolean;
  /** Eviction rank (SEVERITY_RANK); default that of "medium". */
  rank?: number;
  /** Stable id carried in the payload and as an MQTT 5 user property; unique in the outbox. */
  messageId: string;
}

export interface OutboxRow {
  seq: number;
  messageId: string;
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
  rank: number;
  createdAt: string;
}

/**
 * Envelope of a `findings` event and of a finding's retained state on `findings/{findingId}`
 * (schemas/finding.schema.json).
 */
export interface FindingMessage {
  messageId: string;
  site: string;
  sensor: string;
  revision: number;
  finding: FindingRecord;
}

/** Envelope of a `devices/{deviceId}` message (schemas/device.schema.json). */
export interface DeviceMessage {
  messageId: string;
  site: string;
  sensor: string;
  revision: number;
  device: DeviceRecord;
}

/** Envelope of the retained `baseline` message (schemas/baseline.schema.json, $defs/message). */
export interface BaselineMessage {
  messageId: string;
  site: string;
  sensor: string;
  revision: number;
  baseline: BaselineDocument;
}

/** The stored baseline and its revision (every change adds one). */
export interface StoredBaseline {
  document: BaselineDocument;
  revision: number;
  /** When it was last written (wall clock). */
  updated: string;
}

/**
 * What putBaseline did: saved (and published, unless over MAX_BASELINE_MESSAGE), unchanged (the same
 * document), or refused because the stored revision was not the expected one (someone else wrote it).
 */
export interface PutBaselineResult {
  outcome: "saved" | "unchanged" | "conflict";
  revision: number;
  published: boolean;
}

/**
 * The largest baseline message enqueued. The learner's caps bound the document, but a site at those caps
 * makes one of tens of MiB, which no broker should carry as one retained message; it stays in the store
 * (`dicomtap baseline export`) and the agent logs that it was not published.
 */
export const MAX_BASELINE_MESSAGE = 4 << 20;

/** Re-exported: the agent's tests and tools take it from here. */
export { topicLevel };

/** What the engine last reported for a finding, kept in its row (see the file comment). */
interface EngineState {
  /** The Store instance (one process's run) that wrote it. */
  run: string;
  count: number;
  counts: Record<string, number>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The `engine` column as written by upsertFinding; null for a row written before it existed ("{}"). */
function engineState(text: string): EngineState | null {
  try {
    const v: unknown = JSON.parse(text);
    if (isRecord(v) && typeof v.run === "string" && typeof v.count === "number")
      return { run: v.run, count: v.count, counts: countsOf({ counts: v.counts }) };
  } catch {
    // A damaged column counts as no state: the stored count is the base (it can only over-count).
  }
  return null;
}

/** evidence.counts as numbers only (a copy). */
function countsOf(evidence: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  const c = isRecord(evidence) ? evidence.counts : undefined;
  if (isRecord(c))
    for (const [k, v] of Object.entries(c)) if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  return out;
}

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Bytes counted per row on top of its text columns: integer columns, row and index entry headers. */
const ROW_OVERHEAD = 64;

/**
 * Ordered migrations; migration i brings the schema from version i to i+1. Never edit a released one:
 * append a new one.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE devices (
     id TEXT PRIMARY KEY,
     json TEXT NOT NULL,
     updated TEXT NOT NULL,
     revision INTEGER NOT NULL
   );
   CREATE TABLE findings (
     id TEXT PRIMARY KEY,
     rule TEXT NOT NULL,
     severity TEXT NOT NULL,
     json TEXT NOT NULL,
     firstSeen TEXT NOT NULL,
     lastSeen TEXT NOT NULL,
     count INTEGER NOT NULL,
     revision INTEGER NOT NULL
   );
   CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     messageId TEXT NOT NULL UNIQUE,
     topic TEXT NOT NULL,
     payload TEXT NOT NULL,
     qos INTEGER NOT NULL,
     retain INTEGER NOT NULL,
     severity INTEGER NOT NULL,
     createdAt TEXT NOT NULL
   );
   CREATE INDEX outbox_eviction ON outbox (severity, seq);
   CREATE INDEX outbox_topic ON outbox (topic);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO counters (name, value) VALUES ('evicted', 0);`,
  // The record budget (see the file comment): pruned records and the revision floor they leave.
  `INSERT INTO counters (name, value) VALUES ('pruned', 0), ('revisionFloor', 0);
   CREATE INDEX devices_updated ON devices (updated);
   CREATE INDEX findings_lastSeen ON findings (lastSeen);`,
  // Revisions start from the store's creation time (see the file comment): ms since the epoch × 1000.
  `UPDATE counters SET value = max(value, CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000)
     WHERE name = 'revisionFloor';`,
  // Each finding's merge state lives in its row, not in memory (see the file comment).
  `ALTER TABLE findings ADD COLUMN engine TEXT NOT NULL DEFAULT '{}';`,
  // The site's baseline (issue 13): one document, its status beside it for a glance with sqlite3.
  `CREATE TABLE baseline (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     status TEXT NOT NULL,
     json TEXT NOT NULL,
     updated TEXT NOT NULL,
     revision INTEGER NOT NULL
   );`,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

interface RawOutboxRow {
  seq: number;
  messageId: string;
  topic: string;
  payload: string;
  qos: number;
  retain: number;
  severity: number;
  createdAt: string;
}

export class Store {
  readonly topicRoot: string;
  private readonly db: Database.Database;
  private readonly maxBytes: number;
  private readonly site: string;
  private readonly sensor: string;
  /** Bytes counted as held (see the file comment); kept in memory, recomputed at open. */
  private heldBytes = 0;
  /** The part of heldBytes held by the devices and findings tables. */
  private recordBytes = 0;
  private evictedCount = 0;
  private prunedCount = 0;
  /** A new record's revision starts above this (see the file comment). */
  private revisionFloor = 0;
  private readonly listeners: Array<() => void> = [];
  /** This open's id in the findings' `engine` column (see the file comment). */
  private readonly run = randomUUID();

  private readonly stmt: {
    getDevice: Database.Statement<[string], { json: string; revision: number }>;
    putDevice: Database.Statement<[string, string, string, number]>;
    getFinding: Database.Statement<[string], { json: string; revision: number; engine: string }>;
    putFinding: Database.Statement<[string, string, string, string, string, string, number, number, string]>;
    insertOutbox: Database.Statement<[string, string, string, number, number, number, string]>;
    supersede: Database.Statement<[string], { seq: number; bytes: number }>;
    deleteSeq: Database.Statement<[number]>;
    rowBytes: Database.Statement<[number], { bytes: number }>;
    peek: Database.Statement<[number, number], RawOutboxRow>;
    depth: Database.Statement<[], { n: number }>;
    evictCandidates: Database.Statement<[number], { seq: number; bytes: number }>;
    setEvicted: Database.Statement<[number]>;
    pruneCandidates: Database.Statement<[], { kind: string; id: string; bytes: number; revision: number }>;
    deleteDevice: Database.Statement<[string]>;
    deleteFinding: Database.Statement<[string]>;
    setCounter: Database.Statement<[number, string]>;
    getBaseline: Database.Statement<[], { json: string; revision: number }>;
    putBaseline: Database.Statement<[string, string, string, number]>;
  };

  constructor(opts: StoreOptions) {
    this.maxBytes = opts.maxBytes;
    this.site = opts.site;
    this.sensor = opts.sensor;
    this.topicRoot = `dicomtap/v1/${opts.site}/${opts.sensor}/`;
    this.db = new Database(opts.path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    // Waiting a little for a lock beats failing a write when a second reader (doctor, a test) peeks.
    this.db.pragma("busy_timeout = 5000");
    // better-sqlite3 builds SQLite with a 16 MB page cache; the store's working set (devices, findings,
    // the outbox's head) is small, and the memory budget (agent/pipeline/pipeline.ts) has no room for it.
    this.db.pragma("cache_size = -2048");
    this.migrate();

    const db = this.db;
    this.stmt = {
      getDevice: db.prepare("SELECT json, revision FROM devices WHERE id = ?"),
      putDevice: db.prepare(
        `INSERT INTO devices (id, json, updated, revision) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated = excluded.updated,
           revision = excluded.revision`,
      ),
      getFinding: db.prepare("SELECT json, revision, engine FROM findings WHERE id = ?"),
      putFinding: db.prepare(
        `INSERT INTO findings (id, rule, severity, json, firstSeen, lastSeen, count, revision, engine)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, severity = excluded.severity,
           json = excluded.json, firstSeen = excluded.firstSeen, lastSeen = excluded.lastSeen,
           count = excluded.count, revision = excluded.revision, engine = excluded.engine`,
      ),
      insertOutbox: db.prepare(
        `INSERT INTO outbox (messageId, topic, payload, qos, retain, severity, createdAt)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (messageId) DO NOTHING`,
      ),
      supersede: db.prepare(
        `SELECT seq, length(CAST(payload AS BLOB)) + length(topic) + length(messageId) AS bytes
         FROM outbox WHERE topic = ? AND retain = 1`,
      ),
      deleteSeq: db.prepare("DELETE FROM outbox WHERE seq = ?"),
      rowBytes: db.prepare(
        `SELECT length(CAST(payload AS BLOB)) + length(topic) + length(messageId) AS bytes
         FROM outbox WHERE seq = ?`,
      ),
      peek: db.prepare(
        `SELECT seq, messageId, topic, payload, qos, retain, severity, createdAt
         FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`,
      ),
      depth: db.prepare("SELECT count(*) AS n FROM outbox"),
      evictCandidates: db.prepare(
        `SELECT seq, length(CAST(payload AS BLOB)) + length(topic) + length(messageId) AS bytes
         FROM outbox ORDER BY severity, seq LIMIT ?`,
      ),
      setEvicted: db.prepare("UPDATE counters SET value = ? WHERE name = 'evicted'"),
      pruneCandidates: db.prepare(
        `SELECT 'device' AS kind, id, length(CAST(json AS BLOB)) + length(id) AS bytes, revision, updated AS at
           FROM devices
         UNION ALL
         SELECT 'finding', id, length(CAST(json AS BLOB)) + length(id), revision, lastSeen FROM findings
         ORDER BY at LIMIT 64`,
      ),
      deleteDevice: db.prepare("DELETE FROM devices WHERE id = ?"),
      deleteFinding: db.prepare("DELETE FROM findings WHERE id = ?"),
      setCounter: db.prepare("UPDATE counters SET value = ? WHERE name = ?"),
      getBaseline: db.prepare("SELECT json, revision FROM baseline WHERE id = 1"),
      putBaseline: db.prepare(
        `INSERT INTO baseline (id, status, json, updated, revision) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, json = excluded.json,
           updated = excluded.updated, revision = excluded.revision`,
      ),
    };
    const q = (sql: string): number => (db.prepare(sql).get() as { b: number | null }).b ?? 0;
    this.recordBytes =
      q(`SELECT sum(length(CAST(json AS BLOB)) + length(id) + ${ROW_OVERHEAD}) AS b FROM devices`) +
      q(`SELECT sum(length(CAST(json AS BLOB)) + length(id) + ${ROW_OVERHEAD}) AS b FROM findings`);
    this.recordBytes += q(
      `SELECT sum(length(CAST(json AS BLOB)) + length(id) + ${ROW_OVERHEAD}) AS b FROM baseline`,
    );
    this.heldBytes =
      this.recordBytes +
      q(`SELECT sum(length(CAST(payload AS BLOB)) + length(topic) + length(messageId) + ${ROW_OVERHEAD}) AS b
         FROM outbox`);
    const counter = (name: string): number =>
      (db.prepare("SELECT value FROM counters WHERE name = ?").get(name) as { value: number } | undefined)
        ?.value ?? 0;
    this.evictedCount = counter("evicted");
    this.prunedCount = counter("pruned");
    this.revisionFloor = counter("revisionFloor");
  }

  /** Applies the migrations this database has not seen, each in its own transaction. */
  private migrate(): void {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = this.db.prepare("SELECT version FROM schema_version").get() as
      { version: number } | undefined;
    let version = row?.version ?? 0;
    if (row === undefined) this.db.prepare("INSERT INTO schema_version (version) VALUES (0)").run();
    if (version > MIGRATIONS.length) {
      throw new Error(
        `store: database schema version ${version} is newer than this agent's ${MIGRATIONS.length}`,
      );
    }
    const setVersion = this.db.prepare("UPDATE schema_version SET version = ?");
    for (; version < MIGRATIONS.length; version++) {
      const sql = MIGRATIONS[version] as string;
      this.db.transaction(() => {
        this.db.exec(sql);
        setVersion.run(version + 1);
      })();
    }
  }

  /** The durability settings in force on this connection (see the file comment; shown by doctor). */
  durability(): { journalMode: string; synchronous: string } {
    const sync = this.db.pragma("synchronous", { simple: true }) as number;
    return {
      journalMode: String(this.db.pragma("journal_mode", { simple: true })),
      synchronous: ["off", "normal", "full", "extra"][sync] ?? String(sync),
    };
  }

  schemaVersion(): number {
    return (this.db.prepare("SELECT version FROM schema_version").get() as { version: number }).version;
  }

  /** Called (synchronously, after the commit) whenever a row was added to the outbox. */
  onEnqueue(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Stores a device record and, when it changed, enqueues its retained `devices/{id}` message in the same
   * transaction. Returns true when it changed.
   */
  upsertDevice(device: DeviceRecord, now = new Date()): boolean {
    const json = JSON.stringify(device);
    const changed = this.tx((): boolean => {
      const old = this.stmt.getDevice.get(device.id);
      if (old && old.json === json) return false;
      const revision = (old?.revision ?? this.revisionFloor) + 1;
      this.stmt.putDevice.run(device.id, json, isoFromDate(now), revision);
      this.recordGrew(
        old ? Buffer.byteLength(json) - Buffer.byteLength(old.json) : this.rowCost(device.id, json),
      );
      const messageId = `${this.site}/${this.sensor}/device/${device.id}/${revision}`;
      const msg: DeviceMessage = { messageId, site: this.site, sensor: this.sensor, revision, device };
      this.insert(this.topicRoot + "devices/" + topicLevel(device.id), JSON.stringify(msg), {
        qos: 1,
        retain: true,
        rank: SEVERITY_RANK.device,
        messageId,
      });
      return true;
    });
    if (changed) this.notify();
    return changed;
  }

  /**
   * Stores a finding and, when it is new or changed, enqueues in the same transaction one `findings`
   * event (QoS 1) and the finding's retained state on `findings/{findingId}` (QoS 1, the same payload with
   * its own messageId): the finding and its messages are committed together or not at all.
   */
  upsertFinding(raw: FindingRecord): boolean {
    const changed = this.tx((): boolean => {
      const old = this.stmt.getFinding.get(raw.id);
      const finding = this.merge(
        raw,
        old ? (JSON.parse(old.json) as FindingRecord) : null,
        old ? engineState(old.engine) : null,
      );
      const json = JSON.stringify(finding);
      if (old && old.json === json) return false;
      const revision = (old?.revision ?? this.revisionFloor) + 1;
      const engine: EngineState = { run: this.run, count: raw.count, counts: countsOf(raw.evidence) };
      this.stmt.putFinding.run(
        finding.id,
        finding.rule,
        finding.severity,
        json,
        finding.firstSeen,
        finding.lastSeen,
        finding.count,
        revision,
        JSON.stringify(engine),
      );
      this.recordGrew(
        old ? Buffer.byteLength(json) - Buffer.byteLength(old.json) : this.rowCost(finding.id, json),
      );
      const messageId = `${this.site}/${this.sensor}/finding/${finding.id}/${revision}`;
      const msg: FindingMessage = { messageId, site: this.site, sensor: this.sensor, revision, finding };
      this.insert(this.topicRoot + "findings", JSON.stringify(msg), {
        qos: 1,
        retain: false,
        rank: SEVERITY_RANK[finding.severity],
        messageId,
      });
      // The same revision as the finding's retained state (issue 12): a consumer that subscribes later
      // (a central started after the sensors published) gets every finding's latest revision from the
      // broker. Its own messageId (the event's plus "/state"): both are in the outbox at once, whose
      // messageIds are unique. Retained, so it supersedes the finding's older unsent state row.
      const stateId = `${messageId}/state`;
      this.insert(
        this.topicRoot + "findings/" + topicLevel(finding.id),
        JSON.stringify({ ...msg, messageId: stateId }),
        { qos: 1, retain: true, rank: SEVERITY_RANK[finding.severity], messageId: stateId },
      );
      return true;
    });
    if (changed) this.notify();
    return changed;
  }

  /**
   * The record to store for what the engine reports (see the file comment): earlier firstSeen, later
   * lastSeen, counts added to the base. Repeating a call with the same record gives the same result, so a
   * batch that was rolled back and is tried again stores what it would have.
   */
  private merge(raw: FindingRecord, stored: FindingRecord | null, last: EngineState | null): FindingRecord {
    if (stored === null) return raw;
    const rawCounts = countsOf(raw.evidence);
    const storedCount = Number.isFinite(stored.count) ? stored.count : 0;
    const base = { count: storedCount, counts: countsOf(stored.evidence) };
    if (last !== null && last.run === this.run && raw.count >= last.count) {
      // The same run's engine, still counting the same finding: what it reported last is in the stored
      // count already.
      base.count = Math.max(0, storedCount - last.count);
      for (const [k, v] of Object.entries(last.counts))
        base.counts[k] = Math.max(0, (base.counts[k] ?? 0) - v);
    }
    const out: FindingRecord = { ...raw, count: base.count + raw.count };
    if (stored.firstSeen < out.firstSeen) out.firstSeen = stored.firstSeen;
    if (stored.lastSeen > out.lastSeen) out.lastSeen = stored.lastSeen;
    const ev = raw.evidence;
    if (isRecord(ev)) {
      const sev = isRecord(stored.evidence) ? stored.evidence : {};
      const e: Record<string, unknown> = { ...ev };
      if (isRecord(ev.counts) || Object.keys(base.counts).length > 0)
        e.counts = addCounts(base.counts, rawCounts);
      if (
        typeof sev.firstSeen === "string" &&
        typeof ev.firstSeen === "string" &&
        sev.firstSeen < ev.firstSeen
      )
        e.firstSeen = sev.firstSeen;
      if (typeof sev.lastSeen === "string" && typeof ev.lastSeen === "string" && sev.lastSeen > ev.lastSeen)
        e.lastSeen = sev.lastSeen;
      for (const k of ["flows", "aeTitles"]) {
        const a = ev[k];
        const b = sev[k];
        if (!Array.isArray(a) || !Array.isArray(b)) continue;
        const list: unknown[] = [...a];
        const cap = Math.max(a.length, b.length);
        for (const x of b) if (list.length < cap && !list.includes(x)) list.push(x);
        e[k] = list;
      }
      out.evidence = e;
    }
    return out;
  }

  /** The stored baseline, or null when none was saved or imported. */
  baseline(): StoredBaseline | null {
    const row = this.db.prepare("SELECT json, revision, updated FROM baseline WHERE id = 1").get() as
      { json: string; revision: number; updated: string } | undefined;
    if (row === undefined) return null;
    return {
      document: JSON.parse(row.json) as BaselineDocument,
      revision: row.revision,
      updated: row.updated,
    };
  }

  /**
   * Stores the baseline document (replacing the one stored) and, when it changed, enqueues its retained
   * `baseline` message (QoS 1) in the same transaction, so the central sees what the store holds.
   * `ifRevision`: write only if the stored revision is still this one (null: only if none is stored);
   * otherwise nothing is written ("conflict"). The agent passes the revision it read or wrote last, so a
   * document imported or approved by `dicomtap baseline` while it runs is not overwritten.
   */
  putBaseline(
    doc: BaselineDocument,
    opts: { ifRevision?: number | null; now?: Date } = {},
  ): PutBaselineResult {
    let published = false;
    const json = JSON.stringify(doc);
    const result = this.tx((): PutBaselineResult => {
      const old = this.stmt.getBaseline.get();
      const current = old?.revision ?? null;
      if (opts.ifRevision !== undefined && opts.ifRevision !== current)
        return { outcome: "conflict", revision: current ?? 0, published: false };
      if (old !== undefined && old.json === json)
        return { outcome: "unchanged", revision: old.revision, published: false };
      const revision = (old?.revision ?? this.revisionFloor) + 1;
      this.stmt.putBaseline.run(doc.status, json, isoFromDate(opts.now ?? new Date()), revision);
      this.recordGrew(old ? Buffer.byteLength(json) - Buffer.byteLength(old.json) : this.rowCost("1", json));
      const messageId = `${this.site}/${this.sensor}/baseline/${revision}`;
      const msg: BaselineMessage = {
        messageId,
        site: this.site,
        sensor: this.sensor,
        revision,
        baseline: doc,
      };
      const payload = JSON.stringify(msg);
      if (Buffer.byteLength(payload) <= MAX_BASELINE_MESSAGE) {
        this.insert(this.topicRoot + "baseline", payload, {
          qos: 1,
          retain: true,
          rank: SEVERITY_RANK.device,
          messageId,
        });
        published = true;
      }
      return { outcome: "saved", revision, published };
    });
    if (published) this.notify();
    return result;
  }

  /**
   * Runs several upserts in one transaction: one fsync for the lot instead of one each, so a burst of
   * findings costs the capture path one commit.
   */
  batch(fn: () => void): void {
    this.tx(fn);
  }

  /**
   * Adds one message to the outbox (synchronously: the capture path never waits for the broker). A
   * messageId already in the outbox is ignored (returns null). Returns the new row's seq.
   */
  enqueue(topic: string, payload: string, opts: EnqueueOptions): number | null {
    const seq = this.tx(() => this.insert(topic, payload, opts));
    if (seq !== null) this.notify();
    return seq;
  }

  /**
   * Runs fn in a transaction (a savepoint when nested). The byte and eviction counters are changed in
   * memory as rows are written; when SQLite rolls the transaction back (disk full, I/O error, a busy
   * database), they are put back as they were, so the cap keeps counting what the file really holds.
   */
  private tx<T>(fn: () => T): T {
    const held = this.heldBytes;
    const records = this.recordBytes;
    const evicted = this.evictedCount;
    const pruned = this.prunedCount;
    const floor = this.revisionFloor;
    try {
      return this.db.transaction(fn)();
    } catch (e) {
      this.heldBytes = held;
      this.recordBytes = records;
      this.evictedCount = evicted;
      this.prunedCount = pruned;
      this.revisionFloor = floor;
      throw e;
    }
  }

  /**
   * Inside a transaction: a device or finding row grew by `delta` bytes; over the record budget (half the
   * cap), the records least recently changed are pruned until below 45 % (see the file comment).
   */
  private recordGrew(delta: number): void {
    this.recordBytes += delta;
    this.heldBytes += delta;
    if (this.recordBytes <= this.maxBytes / 2) return;
    const target = Math.floor(this.maxBytes * 0.45);
    let pruned = 0;
    while (this.recordBytes > target) {
      const batch = this.stmt.pruneCandidates.all();
      if (batch.length === 0) break;
      for (const row of batch) {
        if (row.kind === "device") this.stmt.deleteDevice.run(row.id);
        else this.stmt.deleteFinding.run(row.id);
        this.recordBytes -= row.bytes + ROW_OVERHEAD;
        this.heldBytes -= row.bytes + ROW_OVERHEAD;
        if (row.revision > this.revisionFloor) this.revisionFloor = row.revision;
        pruned++;
        if (this.recordBytes <= target) break;
      }
    }
    if (pruned > 0) {
      this.prunedCount += pruned;
      this.stmt.setCounter.run(this.prunedCount, "pruned");
      this.stmt.setCounter.run(this.revisionFloor, "revisionFloor");
    }
  }

  private rowCost(a: string, b: string): number {
    return Buffer.byteLength(a) + Buffer.byteLength(b) + ROW_OVERHEAD;
  }

  /** Inside a transaction: supersede older retained rows of the topic, insert, then enforce the cap. */
  private insert(topic: string, payload: string, opts: EnqueueOptions): number | null {
    if (opts.retain) {
      for (const old of this.stmt.supersede.all(topic)) {
        this.stmt.deleteSeq.run(old.seq);
        this.heldBytes -= old.bytes + ROW_OVERHEAD;
      }
    }
    const info = this.stmt.insertOutbox.run(
      opts.messageId,
      topic,
      payload,
      opts.qos,
      opts.retain ? 1 : 0,
      opts.rank ?? SEVERITY_RANK.medium,
      isoNow(),
    );
    if (info.changes === 0) return null;
    this.heldBytes +=
      Buffer.byteLength(payload) +
      Buffer.byteLength(topic) +
      Buffer.byteLength(opts.messageId) +
      ROW_OVERHEAD;
    if (this.heldBytes > this.maxBytes) this.evict();
    return Number(info.lastInsertRowid);
  }

  /** Inside a transaction: delete outbox rows in eviction order until below 90 % of the cap. */
  private evict(): void {
    const target = Math.floor(this.maxBytes * 0.9);
    let evicted = 0;
    while (this.heldBytes > target) {
      const batch = this.stmt.evictCandidates.all(64);
      if (batch.length === 0) break; // only devices and findings left: nothing evictable
      for (const row of batch) {
        this.stmt.deleteSeq.run(row.seq);
        this.heldBytes -= row.bytes + ROW_OVERHEAD;
        evicted++;
        if (this.heldBytes <= target) break;
      }
    }
    if (evicted > 0) {
      this.evictedCount += evicted;
      this.stmt.setEvicted.run(this.evictedCount);
    }
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  /** Up to n outbox rows with seq > afterSeq, oldest first. */
  peek(n: number, afterSeq = 0): OutboxRow[] {
    return this.stmt.peek.all(afterSeq, n).map((r) => ({
      seq: r.seq,
      messageId: r.messageId,
      topic: r.topic,
      payload: r.payload,
      qos: r.qos === 0 ? 0 : 1,
      retain: r.retain === 1,
      rank: r.severity,
      createdAt: r.createdAt,
    }));
  }

  /** The broker acknowledged the row: it leaves the outbox. False when it was already gone. */
  ack(seq: number): boolean {
    return this.ackMany([seq]) === 1;
  }

  /**
   * Acknowledges several rows in one transaction (one fsync): the publisher batches the PUBACKs that
   * arrive together. Losing such a batch to a crash only means those rows are sent again (at least
   * once). Returns how many rows were still there.
   */
  ackMany(seqs: readonly number[]): number {
    return this.tx((): number => {
      let removed = 0;
      for (const seq of seqs) {
        const row = this.stmt.rowBytes.get(seq);
        if (!row) continue;
        this.stmt.deleteSeq.run(seq);
        this.heldBytes -= row.bytes + ROW_OVERHEAD;
        removed++;
      }
      return removed;
    });
  }

  depth(): number {
    return this.stmt.depth.get()?.n ?? 0;
  }

  /** Outbox rows evicted by the size cap since the store was created (persistent). */
  evicted(): number {
    return this.evictedCount;
  }

  /** Device and finding records pruned by the record budget since the store was created (persistent). */
  pruned(): number {
    return this.prunedCount;
  }

  /** Bytes counted against the cap. */
  bytes(): number {
    return this.heldBytes;
  }

  devices(): DeviceRecord[] {
    return (this.db.prepare("SELECT json FROM devices ORDER BY id").all() as { json: string }[]).map(
      (r) => JSON.parse(r.json) as DeviceRecord,
    );
  }

  findings(): FindingRecord[] {
    return (this.db.prepare("SELECT json FROM findings ORDER BY id").all() as { json: string }[]).map(
      (r) => JSON.parse(r.json) as FindingRecord,
    );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
