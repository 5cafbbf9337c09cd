/**
 * Publishing (DESIGN.md §3 "MQTT"): drains the Store's outbox to the broker over MQTT 5 and mutual TLS.
 *
 * Delivery is at-least-once: a row is sent with QoS 1 and deleted from the outbox only in the callback
 * of its PUBACK with a success reason code (MQTT 5 §3.4.2.1). On every new connection the drain starts
 * again from the oldest row still in the outbox, so whatever was sent but not acknowledged before a
 * disconnect, a broker restart or a crash of this process is sent again. Every payload carries a stable
 * messageId (also the MQTT 5 user property `messageId`) so consumers drop duplicates.
 *
 * Order: rows go out in outbox order on one connection at a time (TCP keeps it) with a bounded window
 * of unacknowledged messages; after a reconnect the resend starts at the oldest unacknowledged row, so
 * the first arrival of each messageId is in outbox order. A PUBACK carrying an error reason code (e.g.
 * 0x87 not authorized) drops the connection and retries after the backoff instead of skipping the row,
 * which would break that order.
 *
 * Reconnects: mqtt.js only retries at a fixed `reconnectPeriod`, so it is off (0) and this class makes a
 * new client after an exponential backoff with jitter (half fixed, half random: many sensors that lost
 * the same broker do not come back in lock-step, and no retry is immediate). A fresh client per
 * connection also means mqtt.js's in-memory resend queue is never used: the outbox is the only queue.
 *
 * The capture path never waits for the broker: Store.enqueue is a synchronous SQLite insert, and the
 * drain it triggers runs later on the event loop (setImmediate).
 *
 * Without a broker configured the publisher runs in print mode: each outbox row is written once per
 * run to `out` as one JSON line, and the outbox is kept (nothing is acknowledged).
 */
import { createHash } from "node:crypto";
import mqtt, { type MqttClient } from "mqtt";
import { mutualTlsOptions, readTlsFiles, type MqttTlsOptions, type TlsMaterial } from "./tls.js";
import type { Config } from "../config/types.js";
import type { Store } from "../store/store.js";
import { isoNow } from "../util/time.js";

/** At stop, how long what is in flight may take to be acknowledged (stop stays under a second). */
const STOP_ACK_MS = 700;

export interface StatusPayload {
  state: "online" | "offline";
  version: string;
  startedAt: string;
  messageId: string;
}

export interface PublisherOptions {
  store: Store;
  sensor: Config["sensor"];
  /** null: print mode. */
  broker: Config["broker"];
  /** The agent's version, published in status. */
  version: string;
  /** First and longest reconnect delay (ms); default 1 s and 60 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** Unacknowledged QoS 1 messages allowed in flight; default 32. */
  window?: number;
  connectTimeoutMs?: number;
  keepaliveSeconds?: number;
  /** Periodic health (QoS 0); the collector builds the payload. */
  health?: { intervalMs: number; collect: () => Promise<object> };
  /** Print mode output; default process.stdout. */
  out?: { write(line: string): unknown };
  /** Diagnostics (never payloads); default a JSON line on stderr. */
  log?: (event: string, detail: Record<string, unknown>) => void;
  random?: () => number;
}

export interface PublisherHealth {
  mode: "mqtt" | "print";
  connected: boolean;
  inflight: number;
  published: number;
  connects: number;
  healthDropped: number;
  /** The last connection or publish error (kept after recovery, for diagnosis), and when. */
  lastError: string | null;
  lastErrorAt: string | null;
}

export class Publisher {
  private readonly o: PublisherOptions;
  private readonly topicRoot: string;
  private readonly window: number;
  private readonly log: (event: string, detail: Record<string, unknown>) => void;
  readonly startedAt = isoNow();

  private client: MqttClient | null = null;
  /** Generation of the current connection: callbacks of older clients are told apart by it. */
  private gen = 0;
  private connected = false;
  private started = false;
  private stopped = false;
  private readonly reconnect: Reconnect;
  private healthTimer: NodeJS.Timeout | null = null;
  private healthInFlight: Promise<void> | null = null;
  /** Print mode: the output is full; printing goes on at its "drain" event. */
  private printPaused = false;
  private drainScheduled = false;
  private ackFlushScheduled = false;
  /** Retries a store read or write that failed (disk full, I/O error), so publishing resumes on its own. */
  private storeRetryTimer: NodeJS.Timeout | null = null;
  /** Last seq sent (or printed) on the current connection. */
  private cursor = 0;
  private readonly inflight = new Set<number>();
  private pendingAcks: number[] = [];
  /** Set when stop() has finished: the store is no longer touched. */
  private closed = false;
  private published = 0;
  private connects = 0;
  private healthDropped = 0;
  private lastErr: string | null = null;
  private lastErrorAt: string | null = null;

  constructor(opts: PublisherOptions) {
    this.o = opts;
    this.topicRoot = `dicomtap/v1/${opts.sensor.site}/${opts.sensor.id}/`;
    this.window = opts.window ?? 32;
    this.reconnect = new Reconnect(() => this.connect(), opts.random ?? Math.random, opts.backoff);
    this.log =
      opts.log ??
      ((event, detail) =>
        process.stderr.write(JSON.stringify({ component: "publish", event, ...detail }) + "\n"));
  }

  start(): void {
    if (this.started) throw new Error("Publisher already started");
    this.started = true;
    this.o.store.onEnqueue(() => this.scheduleDrain());
    if (this.o.health) {
      const { intervalMs, collect } = this.o.health;
      this.healthTimer = setInterval(() => {
        if (this.healthInFlight !== null) return;
        this.healthInFlight = collect()
          .then(
            (payload) => {
              if (!this.stopped) this.publishHealth(payload);
            },
            (e: unknown) => this.log("health-failed", { error: String(e) }),
          )
          .finally(() => (this.healthInFlight = null));
      }, intervalMs);
      this.healthTimer.unref();
    }
    if (this.o.broker === null) {
      this.print(this.topicRoot + "status", true, 1, this.status("online"));
      this.scheduleDrain();
      return;
    }
    this.connect();
  }

  /**
   * Graceful stop: what the outbox holds is printed, or sent and given a moment to be acknowledged; then
   * the retained offline status (the will is not sent on a clean disconnect), then close. A health sample
   * still being collected is awaited first: it reads the store, which the caller closes after this.
   */
  async stop(): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
    if (this.healthInFlight !== null) await this.healthInFlight;
    // The last changes were enqueued just before stop(): their drain was only scheduled (setImmediate).
    if (this.started && !this.stopped) {
      if (this.o.broker === null) await this.printRest();
      else this.safeDrain();
      if (this.o.broker !== null && this.connected) await this.waitAcked(STOP_ACK_MS);
    }
    this.stopped = true;
    this.reconnect.cancel();
    if (this.storeRetryTimer) clearTimeout(this.storeRetryTimer);
    this.storeRetryTimer = null;
    if (this.o.broker === null) {
      if (this.started) this.print(this.topicRoot + "status", true, 1, this.status("offline"));
      this.closed = true;
      return;
    }
    const client = this.client;
    this.client = null;
    this.gen++;
    if (!client) {
      this.finalAcks();
      this.closed = true;
      return;
    }
    if (this.connected) {
      this.connected = false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        const offline = this.status("offline");
        client.publish(
          this.topicRoot + "status",
          JSON.stringify(offline),
          { qos: 1, retain: true, properties: props(offline) },
          () => {
            clearTimeout(t);
            resolve();
          },
        );
      });
    }
    // end(false) lets in-flight messages finish; a broker that stopped answering gets 3 s, then the
    // socket is dropped (what was not acknowledged stays in the outbox for the next run).
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => client.end(true, {}, () => resolve()), 3000);
      client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.finalAcks();
    this.closed = true;
  }

  /** Waits until nothing is in flight and the outbox is drained, or `ms` passed. */
  private async waitAcked(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end && this.connected && (this.inflight.size > 0 || this.o.store.depth() > 0)) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** At stop: what the store cannot delete now is only sent again by the next run (at least once). */
  private finalAcks(): void {
    try {
      this.flushAcks();
    } catch (e) {
      this.fail(`store: ${e instanceof Error ? e.message : String(e)}`);
      this.log("store-failed", { error: this.lastErr });
    }
  }

  health(): PublisherHealth {
    return {
      mode: this.o.broker === null ? "print" : "mqtt",
      connected: this.connected,
      inflight: this.inflight.size,
      published: this.published,
      connects: this.connects,
      healthDropped: this.healthDropped,
      lastError: this.lastErr,
      lastErrorAt: this.lastErrorAt,
    };
  }

  /** Health is a snapshot: QoS 0, not stored; dropped (and counted) while disconnected. */
  publishHealth(payload: object): void {
    const topic = this.topicRoot + "health";
    if (this.o.broker === null) {
      this.print(topic, false, 0, payload);
      return;
    }
    if (!this.connected || !this.client) {
      this.healthDropped++;
      return;
    }
    this.client.publish(topic, JSON.stringify(payload), {
      qos: 0,
      retain: false,
      properties: props(payload),
    });
  }

  private fail(message: string): void {
    this.lastErr = message;
    this.lastErrorAt = isoNow();
  }

  /**
   * Status of connection number `conn` (0 in print mode). The id names the connection, so a consumer that
   * drops duplicates still sees online → offline (will) → online across reconnects.
   */
  private status(state: "online" | "offline", conn = this.connects): StatusPayload {
    const { site, id } = this.o.sensor;
    return {
      state,
      version: this.o.version,
      startedAt: this.startedAt,
      messageId: `${site}/${id}/status/${this.startedAt}/${conn}/${state}`,
    };
  }

  /** False when the output asks the writer to wait for "drain". */
  private print(topic: string, retain: boolean, qos: number, payload: unknown): boolean {
    return this.printJson(topic, retain, qos, JSON.stringify(payload));
  }

  /**
   * print() of a payload that is JSON text already (an outbox row): the same line, written around the
   * text rather than parsed and serialised again (a flood prints tens of thousands of rows; the round
   * trip was most of the main thread's garbage).
   */
  private printJson(topic: string, retain: boolean, qos: number, payload: string): boolean {
    const line = [
      '{"topic":',
      JSON.stringify(topic),
      ',"qos":',
      qos,
      ',"retain":',
      retain,
      ',"payload":',
      payload,
      "}\n",
    ];
    return this.printOut().write(line.join("")) !== false;
  }

  /** Print mode's output; a stream has once("drain"), a caller's plain writer need not. */
  private printOut(): { write(line: string): unknown; once?: (event: string, f: () => void) => unknown } {
    return this.o.out ?? process.stdout;
  }

  private pausePrinting(): void {
    const out = this.printOut();
    if (out.once === undefined) return;
    this.printPaused = true;
    out.once("drain", () => {
      this.printPaused = false;
      this.scheduleDrain();
    });
  }

  /** At stop, print mode waits for the reader rather than leave lines unprinted. */
  private async printRest(): Promise<void> {
    for (;;) {
      if (this.printPaused) await new Promise<void>((r) => this.printOut().once?.("drain", () => r()));
      this.printPaused = false;
      this.safeDrain();
      if (!this.printPaused) return;
    }
  }

  private connect(): void {
    const broker = this.o.broker;
    if (!broker || this.stopped) return;
    const gen = ++this.gen;
    // The connection this attempt becomes if it succeeds (connects counts successful ones).
    const will = this.status("offline", this.connects + 1);
    let tls: TlsMaterial;
    try {
      // Read at every attempt: a renewed certificate is picked up without a restart.
      tls = readTlsFiles(broker);
    } catch (e) {
      this.fail(`cannot read TLS files: ${(e as Error).message}`);
      this.log("tls-files", { error: this.lastErr });
      this.scheduleReconnect();
      return;
    }
    const options: MqttTlsOptions = {
      ...mutualTlsOptions(broker.url, tls),
      clientId: clientIdFor(this.o.sensor.site, this.o.sensor.id),
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: this.o.connectTimeoutMs ?? 15_000,
      keepalive: this.o.keepaliveSeconds ?? 30,
      queueQoSZero: false,
      will: {
        topic: this.topicRoot + "status",
        payload: Buffer.from(JSON.stringify(will)),
        qos: 1,
        retain: true,
      },
    };
    const client = mqtt.connect(broker.url.replace(/^mqtt:/, "mqtts:"), options);
    this.client = client;
    client.on("connect", () => {
      if (gen !== this.gen) return;
      this.connected = true;
      this.connects++;
      this.inflight.clear();
      this.cursor = 0;
      this.log("connected", { url: broker.url });
      const online = this.status("online");
      client.publish(this.topicRoot + "status", JSON.stringify(online), {
        qos: 1,
        retain: true,
        properties: props(online),
      });
      this.safeDrain();
    });
    client.on("error", (e: Error) => {
      if (gen !== this.gen) return;
      this.fail(e.message);
    });
    client.on("close", () => {
      if (gen !== this.gen) return;
      this.lost();
    });
  }

  /** The connection is gone (or refused): forget what is in flight, retry after the backoff. */
  private lost(): void {
    const client = this.client;
    this.gen++;
    this.client = null;
    if (this.connected) this.log("disconnected", { error: this.lastErr });
    this.connected = false;
    this.inflight.clear();
    client?.end(true);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.stopped) this.reconnect.schedule();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.stopped) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.safeDrain();
    });
  }

  /**
   * The drain and the acknowledgements run from timers and socket events: a store error there (disk full,
   * an SD card's I/O error, a lock held past busy_timeout) must not end the process. The rows stay in the
   * outbox; both are tried again a little later.
   */
  private safeDrain(): void {
    try {
      this.flushAcks();
      this.drain();
    } catch (e) {
      this.storeFailed(e);
    }
  }

  private storeFailed(e: unknown): void {
    this.fail(`store: ${e instanceof Error ? e.message : String(e)}`);
    this.log("store-failed", { error: this.lastErr });
    if (this.storeRetryTimer || this.stopped) return;
    this.storeRetryTimer = setTimeout(() => {
      this.storeRetryTimer = null;
      this.safeDrain();
    }, 1000);
  }

  private drain(): void {
    if (this.stopped) return;
    if (this.o.broker === null) {
      // Print mode: show each row once, keep it in the outbox. A reader slower than the agent (a pipe into
      // a pager) makes write() return false: stop and go on at "drain", or the unwritten lines would pile
      // up in memory without bound (the outbox already keeps them, on disk).
      if (this.printPaused) return;
      for (;;) {
        const rows = this.o.store.peek(256, this.cursor);
        if (rows.length === 0) return;
        for (const row of rows) {
          this.cursor = row.seq;
          if (!this.printJson(row.topic, row.retain, row.qos, row.payload)) {
            this.pausePrinting();
            return;
          }
        }
      }
    }
    const client = this.client;
    if (!this.connected || !client) return;
    const gen = this.gen;
    while (this.inflight.size < this.window) {
      const rows = this.o.store.peek(this.window - this.inflight.size, this.cursor);
      if (rows.length === 0) {
        // Caught up on this connection: it works, so the next loss starts the backoff afresh.
        if (this.inflight.size === 0) this.reconnect.reset();
        return;
      }
      for (const row of rows) {
        const seq = row.seq;
        this.cursor = seq;
        this.inflight.add(seq);
        client.publish(
          row.topic,
          row.payload,
          {
            qos: row.qos,
            retain: row.retain,
            properties: {
              userProperties: { messageId: row.messageId },
              payloadFormatIndicator: true,
              contentType: "application/json",
            },
          },
          (err) => this.acked(gen, seq, err),
        );
      }
    }
  }

  private acked(gen: number, seq: number, err: Error | undefined): void {
    if (err) {
      if (gen !== this.gen) return;
      // A PUBACK with an error reason code, or the connection failed under the message: resend it (and
      // everything after it, in order) on a new connection.
      this.fail(err.message);
      this.log("publish-refused", { seq, error: err.message });
      if (this.client) this.lost();
      return;
    }
    // A success PUBACK is the broker's promise even if it arrived on a connection since replaced.
    this.queueAck(seq);
    if (gen !== this.gen) return;
    // The backoff grows across connections that are accepted but whose publishes are refused, and starts
    // afresh once the broker takes messages again.
    this.reconnect.reset();
    this.inflight.delete(seq);
  }

  /**
   * PUBACKs that arrive in one burst are committed in one transaction (one fsync instead of one each);
   * the drain that follows sees the freed window.
   */
  private queueAck(seq: number): void {
    // After stop() the caller may close the store; a late PUBACK then only means a resend next run.
    if (this.closed) return;
    this.pendingAcks.push(seq);
    if (this.ackFlushScheduled) return;
    this.ackFlushScheduled = true;
    setImmediate(() => {
      this.ackFlushScheduled = false;
      try {
        this.flushAcks();
      } catch (e) {
        this.storeFailed(e);
        return;
      }
      this.scheduleDrain();
    });
  }

  /** Deletes the acknowledged rows; when the store refuses, they are kept for the next try (and throws). */
  private flushAcks(): void {
    if (this.pendingAcks.length === 0 || this.closed) return;
    const seqs = this.pendingAcks;
    this.pendingAcks = [];
    try {
      this.published += this.o.store.ackMany(seqs);
    } catch (e) {
      this.pendingAcks = seqs.concat(this.pendingAcks);
      throw e;
    }
  }
}

/**
 * The reconnect timer of an MQTT client that makes each new connection itself (the publisher, the
 * central's ingest): one pending attempt at a time, after backoffDelay of the attempts so far; reset()
 * once a connection works, so the next loss starts the backoff afresh.
 */
export class Reconnect {
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly connect: () => void,
    private readonly random: () => number,
    private readonly backoff: { initialMs: number; maxMs: number } = { initialMs: 1000, maxMs: 60_000 },
  ) {}

  /** Schedules the next attempt unless one is pending. */
  schedule(): void {
    if (this.timer) return;
    const delay = backoffDelay(this.attempt, this.backoff.initialMs, this.backoff.maxMs, this.random());
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  reset(): void {
    this.attempt = 0;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Delay before reconnect attempt `attempt` (0-based): the exponential cap min(max, initial·2^attempt),
 * half of it fixed and half random ("equal jitter"), so sensors spread out and none retries at once.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random01: number): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + random01 * (cap / 2));
}

/**
 * The MQTT client id of a sensor: `dicomtap-SITE-SENSOR`, or, when that is longer than 64 characters, its
 * first 47 and a hash of the whole. Cutting it short instead would give two sensors whose names share a
 * long prefix the same id, and the broker would disconnect one whenever the other connects (MQTT 5
 * §3.1.4, session takeover), for ever.
 */
export function clientIdFor(site: string, sensor: string): string {
  const id = `dicomtap-${site}-${sensor}`;
  if (id.length <= 64) return id;
  return `${id.slice(0, 47)}-${createHash("sha256").update(`${site}/${sensor}`).digest("hex").slice(0, 16)}`;
}

function props(payload: object): { userProperties: Record<string, string> } | undefined {
  const id = (payload as { messageId?: unknown }).messageId;
  return typeof id === "string" ? { userProperties: { messageId: id } } : undefined;
}
