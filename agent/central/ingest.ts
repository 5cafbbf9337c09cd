/**
 * The central service's MQTT side (issue 12): follows every sensor through the broker and writes what they
 * publish into the CentralStore, so that a central started late, restarted or down for an hour still has
 * every device and every open finding.
 *
 * Subscriptions (DESIGN.md §3 "MQTT", README "MQTT topics"):
 *   $share/{group}/dicomtap/v1/+/+/findings   QoS 1  events, spread over the central instances of a group
 *   $share/{group}/dicomtap/v1/+/+/health     QoS 0  health samples, likewise
 *   dicomtap/v1/+/+/status                    QoS 1  retained: each instance gets them all
 *   dicomtap/v1/+/+/devices/+                 QoS 1  retained
 *   dicomtap/v1/+/+/findings/+                QoS 1  retained finding states
 *   dicomtap/v1/+/+/baseline                  QoS 1  retained baseline documents (issue 13)
 * Retained messages are not sent on shared subscriptions (MQTT 5 §4.8.2), so the retained topics are
 * ordinary subscriptions of each instance; the store's revisions make the copies every instance gets (and
 * a finding's event beside its state) count once. The subscriptions are made again on every connection
 * with retain handling 0, so every (re)connection catches up from the broker's retained messages.
 *
 * Session: clean start off and a session expiry (default 7 days), so the broker queues the QoS 1 messages
 * published while this instance is away (mosquitto: max_queued_messages) and sends them when it comes
 * back, with those it had sent but not seen acknowledged.
 *
 * Acknowledgement: mqtt.js 5 calls `customHandleAcks` for every QoS 1 PUBLISH and sends the PUBACK only
 * when its callback is called (handlers/publish.js: callback → emit 'message' → handleMessage → PUBACK).
 * The message is written to the store inside that handler, synchronously (better-sqlite3), and the
 * callback is called after the commit returned: a PUBACK never leaves for a message the store does not
 * hold. When the write fails for a reason that passes (disk full, an I/O error, a lock held past
 * busy_timeout) the callback gets the error, so no PUBACK is sent; the connection is dropped and made again
 * after the backoff, and the broker resends what was not acknowledged (MQTT 5 §4.4). The default 'message'
 * path would also run before the PUBACK, but an exception there would escape into mqtt.js; the explicit
 * handler says what happens. A message that can never be stored (a constraint the store refuses it by,
 * which sending it again would not change) is acknowledged and counted as rejected: withheld, it would come
 * back after every reconnect and stall the session behind it. An invalid message is likewise acknowledged
 * and counted.
 *
 * Checks: the console's (agent/console/state.ts PayloadChecker): a dicomtap/v1 topic, a payload size cap,
 * JSON, the payload schema, site/sensor equal to the topic's (the ACL vouches for the topic only). A
 * baseline is checked by checkBaseline (baselines.ts), with its own cap (8 MiB: a site's baseline is far
 * larger than any record); that cap is the MQTT 5 Maximum Packet Size announced to the broker, so larger
 * packets are not even sent, and the smaller cap of the other topics is checked on the payload.
 *
 * Reconnects: mqtt.js's own are off; a new client after an exponential backoff with jitter, like the
 * agent's publisher (Reconnect).
 *
 * Logs carry topics, counts and errors, never a payload.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import type { CentralConfig } from "../config/types.js";
import { MAX_PAYLOAD_BYTES, PayloadChecker, type InvalidNote } from "../console/state.js";
import { Reconnect } from "../publish/publisher.js";
import { mutualTlsOptions, readTlsFiles, type MqttTlsOptions, type TlsMaterial } from "../publish/tls.js";
import type { ApplyResult, CentralStore } from "./store.js";
import { MAX_BASELINE_BYTES, checkBaseline } from "./baselines.js";
import { parseBaselineTopic } from "../util/topic.js";
import { isoNow } from "../util/time.js";

/** Seven days: a central instance down over a long weekend still gets what was published meanwhile. */
export const DEFAULT_SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;

export interface IngestOptions {
  store: CentralStore;
  /** The broker, with the console certificate (CN=console reads every sensor and writes nothing). */
  broker: CentralConfig["broker"];
  shareGroup: string;
  clientId: string;
  sessionExpirySeconds?: number;
  /** First and longest reconnect delay (ms); default 1 s and 60 s. */
  backoff?: { initialMs: number; maxMs: number };
  connectTimeoutMs?: number;
  keepaliveSeconds?: number;
  /** Diagnostics (never payloads); default a JSON line on stderr. */
  log?: (event: string, detail: Record<string, unknown>) => void;
  random?: () => number;
  /** The central's clock for the store's times; default the wall clock. */
  now?: () => Date;
}

export interface IngestHealth {
  connected: boolean;
  /** Subscribed on the current connection. */
  subscribed: boolean;
  connects: number;
  /** Every message received. */
  messages: number;
  invalid: number;
  /** What the store did with the valid ones (new, changed, opened, stale, …). */
  results: Partial<Record<ApplyResult, number>>;
  /** Writes that failed for a passing reason (the message was not acknowledged and comes again). */
  storeFailures: number;
  /** Messages the store refused for good (a constraint): acknowledged, not kept. */
  rejected: number;
  lastMessageAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** The last few invalid messages: topic and reason, no payload. */
  recentInvalid: InvalidNote[];
}

/** The subscriptions of one instance (see the file comment). */
export function subscriptions(shareGroup: string): Array<{ filter: string; qos: 0 | 1 }> {
  const share = `$share/${shareGroup}/`;
  return [
    { filter: `${share}dicomtap/v1/+/+/findings`, qos: 1 },
    { filter: `${share}dicomtap/v1/+/+/health`, qos: 0 },
    { filter: "dicomtap/v1/+/+/status", qos: 1 },
    { filter: "dicomtap/v1/+/+/devices/+", qos: 1 },
    { filter: "dicomtap/v1/+/+/findings/+", qos: 1 },
    { filter: "dicomtap/v1/+/+/baseline", qos: 1 },
  ];
}

/**
 * True for a store error that may pass (the same write can succeed later): SQLite's busy, locked, full,
 * I/O, out-of-memory, read-only and corruption codes. Constraint and type errors, and errors that are not
 * SQLite's, come from the message itself and would come again.
 */
export function passing(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (!(e instanceof Error) || e.name !== "SqliteError" || typeof code !== "string") return false;
  return /^SQLITE_(BUSY|LOCKED|FULL|IOERR|NOMEM|READONLY|CANTOPEN|PROTOCOL|CORRUPT|NOTADB|INTERRUPT)/.test(
    code,
  );
}

/** Room for the MQTT header and properties around the largest payload taken. */
const PACKET_OVERHEAD = 64 << 10;

export class Ingest {
  private readonly o: IngestOptions;
  private readonly checker = new PayloadChecker();
  private readonly log: (event: string, detail: Record<string, unknown>) => void;
  private readonly now: () => Date;
  private client: MqttClient | null = null;
  /** Generation of the current connection: callbacks of older clients are told apart by it. */
  private gen = 0;
  private started = false;
  private stopped = false;
  private readonly reconnect: Reconnect;
  private subscribedWaiters: Array<() => void> = [];
  private readonly h: IngestHealth = {
    connected: false,
    subscribed: false,
    connects: 0,
    messages: 0,
    invalid: 0,
    results: {},
    storeFailures: 0,
    rejected: 0,
    lastMessageAt: null,
    lastError: null,
    lastErrorAt: null,
    recentInvalid: [],
  };

  constructor(opts: IngestOptions) {
    this.o = opts;
    this.reconnect = new Reconnect(() => this.connect(), opts.random ?? Math.random, opts.backoff);
    this.now = opts.now ?? (() => new Date());
    this.log =
      opts.log ??
      ((event, detail) =>
        process.stderr.write(JSON.stringify({ component: "central-ingest", event, ...detail }) + "\n"));
  }

  start(): void {
    if (this.started) throw new Error("Ingest already started");
    this.started = true;
    this.connect();
  }

  /** Resolves once the subscriptions of the current connection are granted. */
  whenSubscribed(): Promise<void> {
    if (this.h.subscribed) return Promise.resolve();
    return new Promise((resolve) => this.subscribedWaiters.push(resolve));
  }

  /**
   * Disconnects (the session stays with the broker for its expiry: what comes meanwhile is queued). What
   * was received was written before it was acknowledged, so nothing is lost by stopping at any moment.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.reconnect.cancel();
    const client = this.client;
    this.client = null;
    this.gen++;
    this.h.connected = false;
    this.h.subscribed = false;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => client.end(true, {}, () => resolve()), 3000);
      client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  health(): IngestHealth {
    return { ...this.h, results: { ...this.h.results }, recentInvalid: [...this.h.recentInvalid] };
  }

  private fail(message: string): void {
    this.h.lastError = message;
    this.h.lastErrorAt = isoNow();
  }

  private connect(): void {
    if (this.stopped) return;
    const broker = this.o.broker;
    const gen = ++this.gen;
    let tls: TlsMaterial;
    try {
      // Read at every attempt: a renewed certificate is picked up without a restart.
      tls = readTlsFiles(broker);
    } catch (e) {
      this.fail(`cannot read TLS files: ${(e as Error).message}`);
      this.log("tls-files", { error: this.h.lastError });
      this.scheduleReconnect();
      return;
    }
    const options: MqttTlsOptions & IClientOptions = {
      ...mutualTlsOptions(broker.url, tls),
      clientId: this.o.clientId,
      clean: false,
      properties: {
        sessionExpiryInterval: this.o.sessionExpirySeconds ?? DEFAULT_SESSION_EXPIRY_SECONDS,
        maximumPacketSize: Math.max(MAX_PAYLOAD_BYTES, MAX_BASELINE_BYTES) + PACKET_OVERHEAD,
      },
      reconnectPeriod: 0,
      // The subscriptions are made on every connection by us, not replayed by mqtt.js.
      resubscribe: false,
      connectTimeout: this.o.connectTimeoutMs ?? 15_000,
      keepalive: this.o.keepaliveSeconds ?? 30,
      customHandleAcks: (topic, payload, packet: IPublishPacket, done) =>
        this.acked(gen, topic, payload, packet, done),
    };
    const client = mqtt.connect(broker.url.replace(/^mqtt:/, "mqtts:"), options);
    this.client = client;
    // QoS 0 (health) comes here only; QoS 1 went through customHandleAcks first.
    client.on("message", (topic, payload, packet) => {
      if (gen !== this.gen || packet.qos !== 0) return;
      try {
        this.take(topic, payload);
      } catch (e) {
        // A health sample lost to a store error: QoS 0 is not sent again; counted.
        this.storeFailed(e);
      }
    });
    client.on("connect", (connack) => {
      if (gen !== this.gen) return;
      this.h.connected = true;
      this.h.connects++;
      this.log("connected", { url: broker.url, sessionPresent: connack.sessionPresent });
      void this.subscribe(client, gen);
    });
    // Always listened to (also on replaced clients): an 'error' without a listener would throw.
    client.on("error", (e: Error) => {
      if (gen !== this.gen) return;
      this.fail(e.message);
    });
    client.on("close", () => {
      if (gen !== this.gen) return;
      this.lost();
    });
  }

  private async subscribe(client: MqttClient, gen: number): Promise<void> {
    const subs = subscriptions(this.o.shareGroup);
    try {
      const granted = await client.subscribeAsync(
        Object.fromEntries(subs.map((s) => [s.filter, { qos: s.qos, rh: 0 }])),
      );
      if (gen !== this.gen) return;
      // SUBACK reason codes of 0x80 and above refuse the subscription (MQTT 5 §3.9.3).
      const refused = granted.filter((g) => g.qos >= 0x80).map((g) => g.topic);
      if (refused.length > 0) {
        this.fail(`subscriptions refused: ${refused.join(", ")}`);
        this.log("subscribe-refused", { filters: refused });
      }
      this.h.subscribed = true;
      this.reconnect.reset();
      this.log("subscribed", { filters: subs.map((s) => s.filter) });
      const waiters = this.subscribedWaiters;
      this.subscribedWaiters = [];
      for (const w of waiters) w();
    } catch (e) {
      if (gen !== this.gen) return;
      this.fail(`subscribe: ${(e as Error).message}`);
      this.log("subscribe-failed", { error: this.h.lastError });
      this.drop();
    }
  }

  /**
   * A QoS 1 message, before its PUBACK: written, then acknowledged; a store failure withholds the PUBACK
   * and drops the connection so that the broker sends the message again (see the file comment).
   */
  private acked(
    gen: number,
    topic: string,
    payload: Buffer,
    _packet: IPublishPacket,
    done: (error: Error | number, code?: number) => void,
  ): void {
    if (gen !== this.gen) {
      // A message of a connection being replaced: not written, not acknowledged; it comes again.
      done(new Error("connection replaced"));
      return;
    }
    try {
      this.take(topic, payload);
    } catch (e) {
      if (!passing(e)) {
        // Sending it again would fail again: acknowledged, counted (see the file comment).
        this.h.rejected++;
        this.fail(`store refused a message on ${topic.slice(0, 200)}: ${(e as Error).message}`);
        this.log("rejected", { topic: topic.slice(0, 200), error: (e as Error).message });
        done(0);
        return;
      }
      this.storeFailed(e);
      done(e instanceof Error ? e : new Error(String(e)));
      this.drop();
      return;
    }
    done(0);
  }

  /** Checks and stores one message; throws only when the store fails. */
  private take(topic: string, payload: Buffer): void {
    this.h.messages++;
    const now = this.now();
    this.h.lastMessageAt = now.toISOString();
    let r: ApplyResult;
    if (parseBaselineTopic(topic) !== null) {
      const b = checkBaseline(topic, payload);
      if (!b.ok) return this.invalid(topic, b.reason);
      r = this.o.store.applyBaseline(b, now);
    } else {
      const c = this.checker.check(topic, payload);
      if (!c.ok) return this.invalid(topic, c.reason);
      r = this.o.store.apply(c, now);
    }
    this.h.results[r] = (this.h.results[r] ?? 0) + 1;
  }

  /** An invalid message: counted, its topic and reason noted (never its payload), not stored. */
  private invalid(topic: string, reason: string): void {
    this.h.invalid++;
    this.h.recentInvalid.push({ topic: topic.slice(0, 200), reason: reason.slice(0, 200) });
    if (this.h.recentInvalid.length > 10) this.h.recentInvalid.shift();
  }

  private storeFailed(e: unknown): void {
    this.h.storeFailures++;
    this.fail(`store: ${e instanceof Error ? e.message : String(e)}`);
    this.log("store-failed", { error: this.h.lastError });
  }

  /** Ends the current connection on purpose; its 'close' is ignored, the reconnect follows the backoff. */
  private drop(): void {
    if (this.client) this.lost();
  }

  /** The connection is gone (or refused): a new one after the backoff. */
  private lost(): void {
    const client = this.client;
    this.gen++;
    this.client = null;
    if (this.h.connected) this.log("disconnected", { error: this.h.lastError });
    this.h.connected = false;
    this.h.subscribed = false;
    client?.end(true);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.stopped) this.reconnect.schedule();
  }
}
