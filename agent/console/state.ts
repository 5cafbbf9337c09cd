/**
 * What `dicomtap console` knows (DESIGN.md §3 "MQTT"): the latest state of every sensor, device and
 * finding seen on `dicomtap/v1/{site}/{sensor}/…`, folded from messages that may arrive twice, late or
 * hostile.
 *
 * Trust: the broker's ACL lets a sensor write only below its own `{site}/{sensor}` (pki/README.md), so
 * the topic names the sender; the site and sensor inside a payload are the sender's claim and must
 * match the topic, or the message is invalid. Every payload is checked against schemas/ (JSON Schema
 * 2020-12, ajv) before anything of it is kept; invalid ones are counted and ignored.
 *
 * Delivery is at least once (MQTT 5 §4.3.2, and the publisher resends after a reconnect), retained
 * messages come again on every (re)subscription, and QoS 1 redelivery may reorder across connections:
 * - a messageId seen before is a duplicate and dropped (a bounded memory of recent ids);
 * - a device or finding keeps its highest revision; an older or equal revision arriving later is
 *   stale and dropped, so the view never goes back in time;
 * - status has no revision: the last distinct message wins (online, then the will's offline, …).
 *
 * Bounds: a payload larger than MAX_PAYLOAD_BYTES is refused before parsing; the number of sensors,
 * devices and findings and the bytes of payload kept are capped, and what would exceed a cap is counted
 * as dropped. Nothing here throws on input.
 *
 * Findings come on two topics (issue 12): the `findings` event stream and each finding's retained state on
 * `findings/{findingId}`, with the same payload; both are folded alike (the revision keeps whichever came
 * second from counting twice). The topic parsing and payload checks (parseTopic, PayloadChecker) are
 * exported: the central service (agent/central/ingest.ts) takes messages by the same rules.
 */
import type { ValidateFunction } from "ajv";
import type { DeviceRecord, FindingRecord } from "../report/types.js";
import { SEVERITIES, type Severity } from "../findings/severity.js";
import { isoFromMicros } from "../util/time.js";
import { compileSchema } from "../util/schemas.js";
import { parseBaselineTopic, topicLevel } from "../util/topic.js";

export { SEVERITIES, type Severity };

export interface ConsoleLimits {
  maxSensors: number;
  maxDevices: number;
  maxFindings: number;
  /** Sum of the payload bytes kept for devices, findings and health. */
  maxHeldBytes: number;
  /** Message ids remembered for duplicate detection. */
  maxRememberedIds: number;
}

const DEFAULT_LIMITS: ConsoleLimits = {
  maxSensors: 5_000,
  maxDevices: 50_000,
  maxFindings: 50_000,
  maxHeldBytes: 256 << 20,
  maxRememberedIds: 200_000,
};

/** A larger payload is refused unparsed (the biggest real one, a device record, is a few KiB). */
export const MAX_PAYLOAD_BYTES = 256 << 10;
/** Longer message ids are refused: they are remembered, so their size must be bounded. */
const MAX_MESSAGE_ID = 512;

export interface StatusPayload {
  state: "online" | "offline";
  version: string;
  startedAt: string;
  messageId: string;
}

/** Health as in schemas/health.schema.json; only what the console shows is typed. */
export interface HealthPayload {
  messageId: string;
  time: string;
  uptimeSeconds: number;
  capture: { packets: number; bytes: number; drops: number };
  anomalies: number;
  outbox: { depth: number; evicted: number; bytes: number };
  [extra: string]: unknown;
}

export interface DeviceEntry {
  revision: number;
  device: DeviceRecord;
  bytes: number;
  /** The topic level it came on, so an empty retained message there removes it. */
  level: string;
}

export interface FindingEntry {
  revision: number;
  finding: FindingRecord;
  bytes: number;
}

export interface SensorEntry {
  site: string;
  sensor: string;
  /** null until a status message arrives (or after its retained status was cleared). */
  status: StatusPayload | null;
  statusAt: number | null;
  health: HealthPayload | null;
  healthAt: number | null;
  healthBytes: number;
  devices: Map<string, DeviceEntry>;
  findings: Map<string, FindingEntry>;
}

export type ConsoleEvent =
  | {
      event: "status";
      site: string;
      sensor: string;
      state: "online" | "offline" | "cleared";
      version: string | null;
      startedAt: string | null;
    }
  | {
      event: "device";
      change: "new" | "changed" | "removed";
      site: string;
      sensor: string;
      revision: number;
      device: DeviceRecord;
    }
  | {
      event: "finding";
      change: "new" | "changed" | "removed";
      site: string;
      sensor: string;
      revision: number;
      finding: FindingRecord;
    }
  | { event: "health"; site: string; sensor: string };

export interface ConsoleCounters {
  /** Every message handed to ingest. */
  messages: number;
  /** Ignored: unknown topic, too large, not JSON, schema violation, or site/sensor not those of the topic. */
  invalid: number;
  /** Same messageId as one already taken. */
  duplicates: number;
  /** A device or finding revision not newer than the one kept. */
  stale: number;
  /** Valid but over a cap (sensors, devices, findings, bytes). */
  dropped: number;
}

export interface InvalidNote {
  topic: string;
  reason: string;
}

/** The payload kinds of DESIGN.md §3 "MQTT", one schema each in schemas/. */
export type TopicKind = "status" | "health" | "finding" | "device";

type Validators = Record<TopicKind, ValidateFunction>;

/** The payload schemas compiled (each checker compiles its own, once, when it is made). */
function compileSchemas(): Validators {
  // allErrors off: the first error is enough to refuse, and a hostile payload costs less.
  const load = (name: string): ValidateFunction => compileSchema(name, { allErrors: false });
  return {
    status: load("status"),
    health: load("health"),
    finding: load("finding"),
    device: load("device"),
  };
}

/** A topic below the root, taken apart. */
export interface ParsedTopic {
  site: string;
  sensor: string;
  kind: TopicKind;
  /**
   * The last level of `devices/{deviceId}` or `findings/{findingId}` (as the sensor wrote it: topicLevel
   * of the id); "" for status, health and the `findings` event stream.
   */
  level: string;
}

/**
 * The parts of a topic below the root: `dicomtap/v1/{site}/{sensor}/(status|health|findings)`,
 * `…/devices/{deviceId}` (DESIGN.md §3) or `…/findings/{findingId}` (issue 12). Anything else is not ours.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  const p = topic.split("/");
  if (p[0] !== "dicomtap" || p[1] !== "v1") return null;
  const site = p[2];
  const sensor = p[3];
  const k = p[4];
  if (!site || !sensor || k === undefined) return null;
  if (p.length === 5) {
    if (k === "status" || k === "health") return { site, sensor, kind: k, level: "" };
    if (k === "findings") return { site, sensor, kind: "finding", level: "" };
    return null;
  }
  if (p.length === 6 && p[5]) {
    if (k === "devices") return { site, sensor, kind: "device", level: p[5] };
    if (k === "findings") return { site, sensor, kind: "finding", level: p[5] };
  }
  return null;
}

/** What PayloadChecker.check made of a message. */
export type CheckedMessage =
  | { ok: false; reason: string }
  /** An empty (retained) payload: the sender cleared the topic (MQTT 5 §3.3.1.3). */
  | { ok: true; topic: ParsedTopic; empty: true }
  /** body: valid against the schema of topic.kind (its shape: StatusPayload, HealthPayload, …). */
  | { ok: true; topic: ParsedTopic; empty: false; messageId: string; body: unknown };

/**
 * The checks every consumer applies before it keeps anything of a message: a dicomtap/v1 topic, a size
 * cap before parsing, JSON, the topic's schema, a bounded messageId, and site/sensor equal to the topic's
 * (the ACL vouches for the topic only). A finding's state must name the finding of its topic level, so
 * that an empty message there later withdraws the finding it replaced. Never throws on input.
 */
export class PayloadChecker {
  /** Compiled at construction, so a broken installation fails at start rather than at the first message. */
  private readonly validators: Validators = compileSchemas();

  check(topic: string, payload: Uint8Array): CheckedMessage {
    const t = parseTopic(topic);
    if (!t) return { ok: false, reason: "not a dicomtap/v1 topic" };
    if (payload.length === 0) return { ok: true, topic: t, empty: true };
    if (payload.length > MAX_PAYLOAD_BYTES)
      return { ok: false, reason: `payload over ${MAX_PAYLOAD_BYTES} bytes` };
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString("utf8"));
    } catch {
      return { ok: false, reason: "not JSON" };
    }
    const v = this.validators[t.kind];
    if (!v(body)) {
      const e = v.errors?.[0];
      return {
        ok: false,
        reason: `schema: ${e ? `${e.instancePath || "/"} ${e.message ?? ""}` : "invalid"}`,
      };
    }
    const msg = body as { messageId: string; site?: string; sensor?: string };
    if (msg.messageId.length > MAX_MESSAGE_ID) return { ok: false, reason: "messageId too long" };
    // Status carries no site/sensor; the others must name the sender the ACL vouches for.
    if (t.kind !== "status" && (msg.site !== t.site || msg.sensor !== t.sensor)) {
      return { ok: false, reason: "site/sensor differ from the topic" };
    }
    if (t.kind === "finding" && t.level !== "") {
      const f = (body as { finding: FindingRecord }).finding;
      if (topicLevel(f.id) !== t.level) return { ok: false, reason: "finding id differs from the topic" };
    }
    return { ok: true, topic: t, empty: false, messageId: msg.messageId, body };
  }
}

export class ConsoleState {
  readonly sensors = new Map<string, SensorEntry>();
  readonly counters: ConsoleCounters = { messages: 0, invalid: 0, duplicates: 0, stale: 0, dropped: 0 };
  /** The last few invalid messages (topic and reason, no payload), for diagnosis. */
  readonly recentInvalid: InvalidNote[] = [];
  private readonly limits: ConsoleLimits;
  private readonly seenIds = new Set<string>();
  private deviceCount = 0;
  private findingCount = 0;
  private heldBytes = 0;
  /** Sorted device and finding lists of the last snapshot, until one changes: a screen redrawn every
   * second for the sensors' ages does not sort tens of thousands of entries each time. */
  private listed: Pick<ConsoleSnapshot, "devices" | "findings"> | null = null;

  private readonly checker: PayloadChecker;

  constructor(limits: Partial<ConsoleLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.checker = new PayloadChecker();
  }

  get devices(): number {
    return this.deviceCount;
  }

  get findings(): number {
    return this.findingCount;
  }

  /**
   * Folds one message in. Returns what changed for the viewer, or null when nothing did (duplicate,
   * stale, invalid, dropped). `now` is the receive time (ms), used for ages: the console's clock, not
   * the sensor's.
   */
  ingest(topic: string, payload: Uint8Array, now = Date.now()): ConsoleEvent | null {
    // A sensor's baseline document (issue 13) is for the central's plan page, not this screen: not ours to
    // show, and no invalid message either.
    if (parseBaselineTopic(topic) !== null) return null;
    this.counters.messages++;
    const c = this.checker.check(topic, payload);
    if (!c.ok) return this.invalid(topic, c.reason);
    const t = c.topic;
    // An empty retained message clears what the broker keeps for the topic (MQTT 5 §3.3.1.3).
    if (c.empty) return this.cleared(t.site, t.sensor, t.kind, t.level);
    const body = c.body;
    const msg = { messageId: c.messageId };
    if (this.seenIds.has(msg.messageId)) {
      this.counters.duplicates++;
      return null;
    }
    const s = this.sensor(t.site, t.sensor);
    if (!s) return null;
    let ev: ConsoleEvent | null;
    switch (t.kind) {
      case "status":
        ev = this.status(s, body as StatusPayload, now);
        break;
      case "health":
        ev = this.health(s, body as HealthPayload, payload.length, now);
        break;
      case "finding":
        ev = this.finding(s, body as { revision: number; finding: FindingRecord }, payload.length);
        break;
      case "device":
        ev = this.device(s, body as { revision: number; device: DeviceRecord }, payload.length, t.level);
        break;
    }
    // Remembered only once taken: a message dropped over a cap may be taken when it comes again.
    if (ev) {
      this.remember(msg.messageId);
      if (ev.event === "device" || ev.event === "finding") this.listed = null;
    }
    return ev;
  }

  private remember(id: string): void {
    this.seenIds.add(id);
    if (this.seenIds.size > this.limits.maxRememberedIds) {
      // Sets iterate in insertion order: forget the oldest. Revisions still stop a late old message.
      const oldest = this.seenIds.values().next();
      if (!oldest.done) this.seenIds.delete(oldest.value);
    }
  }

  private invalid(topic: string, reason: string): null {
    this.counters.invalid++;
    this.recentInvalid.push({ topic: topic.slice(0, 200), reason: reason.slice(0, 200) });
    if (this.recentInvalid.length > 10) this.recentInvalid.shift();
    return null;
  }

  private dropped(): null {
    this.counters.dropped++;
    return null;
  }

  private sensor(site: string, sensor: string): SensorEntry | null {
    const key = `${site}/${sensor}`;
    let s = this.sensors.get(key);
    if (s) return s;
    if (this.sensors.size >= this.limits.maxSensors) return this.dropped();
    s = {
      site,
      sensor,
      status: null,
      statusAt: null,
      health: null,
      healthAt: null,
      healthBytes: 0,
      devices: new Map(),
      findings: new Map(),
    };
    this.sensors.set(key, s);
    return s;
  }

  private fits(addBytes: number): boolean {
    return this.heldBytes + addBytes <= this.limits.maxHeldBytes;
  }

  private status(s: SensorEntry, p: StatusPayload, now: number): ConsoleEvent {
    s.status = p;
    s.statusAt = now;
    return {
      event: "status",
      site: s.site,
      sensor: s.sensor,
      state: p.state,
      version: p.version,
      startedAt: p.startedAt,
    };
  }

  private health(s: SensorEntry, p: HealthPayload, bytes: number, now: number): ConsoleEvent | null {
    if (!this.fits(bytes - s.healthBytes)) return this.dropped();
    this.heldBytes += bytes - s.healthBytes;
    s.health = p;
    s.healthAt = now;
    s.healthBytes = bytes;
    return { event: "health", site: s.site, sensor: s.sensor };
  }

  private finding(
    s: SensorEntry,
    m: { revision: number; finding: FindingRecord },
    bytes: number,
  ): ConsoleEvent | null {
    const old = s.findings.get(m.finding.id);
    if (old && old.revision >= m.revision) {
      this.counters.stale++;
      return null;
    }
    if (!old && this.findingCount >= this.limits.maxFindings) return this.dropped();
    if (!this.fits(bytes - (old?.bytes ?? 0))) return this.dropped();
    this.heldBytes += bytes - (old?.bytes ?? 0);
    if (!old) this.findingCount++;
    s.findings.set(m.finding.id, { revision: m.revision, finding: m.finding, bytes });
    return {
      event: "finding",
      change: old ? "changed" : "new",
      site: s.site,
      sensor: s.sensor,
      revision: m.revision,
      finding: m.finding,
    };
  }

  private device(
    s: SensorEntry,
    m: { revision: number; device: DeviceRecord },
    bytes: number,
    level: string,
  ): ConsoleEvent | null {
    const old = s.devices.get(m.device.id);
    if (old && old.revision >= m.revision) {
      this.counters.stale++;
      return null;
    }
    if (!old && this.deviceCount >= this.limits.maxDevices) return this.dropped();
    if (!this.fits(bytes - (old?.bytes ?? 0))) return this.dropped();
    this.heldBytes += bytes - (old?.bytes ?? 0);
    if (!old) this.deviceCount++;
    s.devices.set(m.device.id, { revision: m.revision, device: m.device, bytes, level });
    return {
      event: "device",
      change: old ? "changed" : "new",
      site: s.site,
      sensor: s.sensor,
      revision: m.revision,
      device: m.device,
    };
  }

  /**
   * An empty retained message: the operator removed a decommissioned device or sensor status, or the
   * sensor withdrew a finding's state.
   */
  private cleared(site: string, sensor: string, kind: TopicKind, level: string): ConsoleEvent | null {
    const s = this.sensors.get(`${site}/${sensor}`);
    if (!s) return null;
    if (kind === "status" && s.status) {
      s.status = null;
      s.statusAt = null;
      return { event: "status", site, sensor, state: "cleared", version: null, startedAt: null };
    }
    if (kind === "device") {
      for (const [id, d] of s.devices) {
        if (d.level !== level) continue;
        s.devices.delete(id);
        this.deviceCount--;
        this.heldBytes -= d.bytes;
        this.listed = null;
        return { event: "device", change: "removed", site, sensor, revision: d.revision, device: d.device };
      }
    }
    // A finding's cleared state: the sensor says it is gone (an empty `findings` event is nothing).
    if (kind === "finding" && level !== "") {
      for (const [id, f] of s.findings) {
        if (topicLevel(id) !== level) continue;
        s.findings.delete(id);
        this.findingCount--;
        this.heldBytes -= f.bytes;
        this.listed = null;
        return {
          event: "finding",
          change: "removed",
          site,
          sensor,
          revision: f.revision,
          finding: f.finding,
        };
      }
    }
    return null;
  }

  /** The whole state as one plain object, sorted (site, sensor, id) so that output is stable. */
  snapshot(now = Date.now()): ConsoleSnapshot {
    const sensors = [...this.sensors.values()].sort(bySiteSensor);
    return {
      generatedAt: isoFromMicros(now * 1000),
      counters: { ...this.counters },
      recentInvalid: [...this.recentInvalid],
      sensors: sensors.map((s) => ({
        site: s.site,
        sensor: s.sensor,
        state: s.status?.state ?? "unknown",
        version: s.status?.version ?? null,
        startedAt: s.status?.startedAt ?? null,
        statusAgeSeconds: s.statusAt === null ? null : Math.max(0, Math.round((now - s.statusAt) / 1000)),
        health: s.health,
        healthAgeSeconds: s.healthAt === null ? null : Math.max(0, Math.round((now - s.healthAt) / 1000)),
        devices: s.devices.size,
        findings: s.findings.size,
      })),
      ...this.lists(sensors),
    };
  }

  private lists(sensors: SensorEntry[]): Pick<ConsoleSnapshot, "devices" | "findings"> {
    if (this.listed) return this.listed;
    this.listed = {
      devices: sensors.flatMap((s) =>
        [...s.devices.values()]
          .sort((a, b) => cmp(a.device.id, b.device.id))
          .map((d) => ({ site: s.site, sensor: s.sensor, revision: d.revision, device: d.device })),
      ),
      findings: sensors.flatMap((s) =>
        [...s.findings.values()]
          .sort(
            (a, b) =>
              SEVERITIES.indexOf(a.finding.severity) - SEVERITIES.indexOf(b.finding.severity) ||
              cmp(a.finding.id, b.finding.id),
          )
          .map((f) => ({ site: s.site, sensor: s.sensor, revision: f.revision, finding: f.finding })),
      ),
    };
    return this.listed;
  }
}

export interface ConsoleSnapshot {
  generatedAt: string;
  counters: ConsoleCounters;
  recentInvalid: InvalidNote[];
  sensors: {
    site: string;
    sensor: string;
    state: "online" | "offline" | "unknown";
    version: string | null;
    startedAt: string | null;
    statusAgeSeconds: number | null;
    health: HealthPayload | null;
    healthAgeSeconds: number | null;
    devices: number;
    findings: number;
  }[];
  devices: { site: string; sensor: string; revision: number; device: DeviceRecord }[];
  findings: { site: string; sensor: string; revision: number; finding: FindingRecord }[];
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bySiteSensor(a: SensorEntry, b: SensorEntry): number {
  return cmp(a.site, b.site) || cmp(a.sensor, b.sensor);
}
