/**
 * `dicomtap console` (DESIGN.md §3): subscribes to the broker and shows the live inventory and findings
 * of all sensors.
 *
 * It connects like a sensor does (MQTT 5, TLS 1.2 or later, only the site CA trusted, the broker's host
 * name checked, a client certificate: the console's is CN=console, which the ACL lets read
 * `dicomtap/v1/#` and write nothing; pki/README.md) and subscribes to `dicomtap/v1/{site|+}/+/#`.
 *
 * Scaling out: with `--share GROUP` the subscription is the MQTT 5 shared subscription
 * `$share/GROUP/…` (MQTT 5 §4.8.2), so the broker spreads messages over the consoles of the group.
 * Whether a new shared subscription gets the retained status and devices differs between brokers
 * (mosquitto 2.0 sends them, as the tests show): elsewhere a shared console may see them only as they
 * change.
 *
 * Sessions: with `--client-id ID` the console asks for a persistent session (clean start off, a day of
 * session expiry, MQTT 5 §3.1.2.11.2), so the broker queues QoS 1 findings while it is away (see
 * `max_queued_messages` in pki/mosquitto/dicomtap.conf). Without it each run is a fresh session with a
 * random client id: two consoles never take over each other's session.
 *
 * Output: on a terminal, a screen redrawn at most once a second; otherwise (or with --json) one JSON
 * line per event. `--once N` collects for N seconds, prints the final state once and exits 0.
 * A refused connection or subscription exits 1 with the broker's reason.
 */
import { X509Certificate, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import mqtt, { type MqttClient } from "mqtt";
import { mutualTlsOptions, readTlsFiles, type MqttTlsOptions, type TlsMaterial } from "../publish/tls.js";
import { ArgWalker } from "../cli/args.js";
import { ConfigError } from "../config/config.js";
import { ConsoleState, MAX_PAYLOAD_BYTES } from "./state.js";
import { eventLine, jsonLine, perSectionFor, renderText, screenFrame } from "./render.js";

export interface ConsoleBroker {
  url: string;
  ca: string;
  cert: string;
  key: string;
}

export interface ConsoleOptions {
  broker: ConsoleBroker;
  /** Only this site; null: all sites. */
  site: string | null;
  /** Shared subscription group, or null. */
  share: string | null;
  /** Persistent session under this client id, or null for a fresh session. */
  clientId: string | null;
  json: boolean;
  /** Collect for this many seconds, print once and exit; null: run until interrupted. */
  onceSeconds: number | null;
  connectTimeoutMs: number;
}

export interface ConsoleIo {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown };
  /** A terminal of this size gets the screen; null: JSON lines. */
  tty: { rows: number; columns: number } | null;
  /** Live mode ends when it aborts (the command wires SIGINT and SIGTERM to it). */
  signal?: AbortSignal;
}

/** MQTT topic level (MQTT 5 §4.7): no separator, wildcard or U+0000, not empty. */
function level(v: string, what: string, err: (m: string) => Error): string {
  // eslint-disable-next-line no-control-regex
  if (v === "" || /[/+#\u0000]/.test(v))
    throw err(`${what} ${JSON.stringify(v)} must be one topic level (no / + #)`);
  return v;
}

/** Reads the console config: `{"broker": {"url", "ca", "cert", "key"}, "site"?, "share"?, "clientId"?}`. */
function loadConsoleConfig(path: string): Partial<ConsoleOptions> & { broker: ConsoleBroker } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `${path}: ${code ? `cannot read (${code})` : `not valid JSON (${(e as Error).message})`}`,
    );
  }
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(`${path}: ${key}: ${problem}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObj(raw)) return fail("(top level)", "must be an object");
  for (const k of Object.keys(raw)) {
    if (!["broker", "site", "share", "clientId"].includes(k))
      fail(k, "unknown key (allowed: broker, site, share, clientId)");
  }
  const b = raw.broker;
  if (b === undefined) fail("broker", 'is required ({ "url", "ca", "cert", "key" })');
  if (!isObj(b)) return fail("broker", "must be an object");
  for (const k of Object.keys(b))
    if (!["url", "ca", "cert", "key"].includes(k)) fail(`broker.${k}`, "unknown key");
  const str = (v: unknown, key: string): string => {
    if (v === undefined) fail(key, "is required");
    if (typeof v !== "string" || v.trim() === "")
      fail(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const url = str(b.url, "broker.url");
  if (!/^mqtts:\/\/[^/\s]+/.test(url)) fail("broker.url", `${JSON.stringify(url)} must be an mqtts:// URL`);
  const cfgErr = (m: string): Error => new ConfigError(`${path}: ${m}`);
  const out: Partial<ConsoleOptions> & { broker: ConsoleBroker } = {
    broker: {
      url,
      ca: str(b.ca, "broker.ca"),
      cert: str(b.cert, "broker.cert"),
      key: str(b.key, "broker.key"),
    },
  };
  if (raw.site !== undefined && raw.site !== null) out.site = level(str(raw.site, "site"), "site", cfgErr);
  if (raw.share !== undefined && raw.share !== null)
    out.share = level(str(raw.share, "share"), "share", cfgErr);
  if (raw.clientId !== undefined && raw.clientId !== null) out.clientId = str(raw.clientId, "clientId");
  return out;
}

export function parseConsoleArgs(argv: string[], usageError: (m: string) => Error): ConsoleOptions {
  const flags: Partial<ConsoleBroker> = {};
  let config: string | null = null;
  let site: string | null = null;
  let share: string | null = null;
  let clientId: string | null = null;
  let json = false;
  let onceSeconds: number | null = null;
  const err = (m: string): Error => usageError(`console: ${m}`);
  const w = new ArgWalker(argv, err);
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--broker") flags.url = w.value(a);
    else if (a === "--ca") flags.ca = w.value(a);
    else if (a === "--cert") flags.cert = w.value(a);
    else if (a === "--key") flags.key = w.value(a);
    else if (a === "--config") config = w.value(a);
    else if (a === "--site") site = level(w.value(a), "--site", err);
    else if (a === "--share") share = level(w.value(a), "--share", err);
    else if (a === "--client-id") clientId = w.value(a);
    else if (a === "--json") json = true;
    else if (a === "--once") {
      const v = w.value(a);
      const n = Number(v);
      if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0) || n > 86400)
        throw err(`--once needs seconds (0 < N ≤ 86400), got ${v}`);
      onceSeconds = n;
    } else throw err(`unknown option ${a}`);
  }
  const fromFile = config !== null ? loadConsoleConfig(config) : null;
  // Flags override the file, key by key.
  const broker = { ...fromFile?.broker, ...flags };
  for (const k of ["url", "ca", "cert", "key"] as const) {
    if (!broker[k]) throw err(`missing --${k === "url" ? "broker" : k} (or --config FILE)`);
  }
  if (!/^mqtts:\/\/[^/\s]+/.test(broker.url!))
    throw err(`--broker ${JSON.stringify(broker.url)} must be an mqtts:// URL`);
  return {
    broker: broker as ConsoleBroker,
    site: site ?? fromFile?.site ?? null,
    share: share ?? fromFile?.share ?? null,
    clientId: clientId ?? fromFile?.clientId ?? null,
    json,
    onceSeconds,
    connectTimeoutMs: 10_000,
  };
}

/** The subscription filter: every sensor of one site or of all, optionally shared. */
export function topicFilter(site: string | null, share: string | null): string {
  const f = `dicomtap/v1/${site ?? "+"}/+/#`;
  return share === null ? f : `$share/${share}/${f}`;
}

export class ConsoleFailure extends Error {}

/**
 * Why a connection failed, in words an operator can act on: our certificate refused by the broker (a TLS
 * alert, RFC 8446 §6.2), the broker's certificate not trusted by us, a CONNACK refusal (MQTT 5
 * §3.2.2.2), or no connection at all.
 */
export function describeFailure(e: Error): string {
  const code = (e as { code?: unknown }).code;
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(e.message);
  if (alert) return `the broker refused our certificate (TLS alert "${alert[1]}")`;
  if (typeof code === "number")
    return `the broker refused the connection (${e.message}, reason code 0x${code.toString(16)})`;
  if (
    (typeof code === "string" && /CERT|ALTNAME|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) ||
    /certificate/i.test(e.message)
  ) {
    return `the broker's certificate failed verification against our CA and its name (${e.message.trim()})`;
  }
  return `cannot connect (${e.message})`;
}

/** Connects and subscribes; rejects with a ConsoleFailure that says why the broker would not have us. */
async function connect(
  opts: ConsoleOptions,
  onMessage: (topic: string, payload: Buffer) => void,
  warn: (m: string) => void,
): Promise<MqttClient> {
  const b = opts.broker;
  let tls: TlsMaterial;
  try {
    tls = readTlsFiles(b);
  } catch (e) {
    throw new ConsoleFailure(`cannot read TLS files: ${(e as Error).message}`);
  }
  // The ACL lets only CN=console read; any other client certificate connects, subscribes and then
  // receives nothing from the broker (mosquitto grants the subscription), so say so up front.
  let subject: string;
  try {
    subject = new X509Certificate(tls.cert as Buffer).subject;
  } catch (e) {
    throw new ConsoleFailure(`${b.cert}: not a certificate (${(e as Error).message})`);
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? null;
  if (cn !== "console")
    warn(`the client certificate is CN=${cn ?? "(none)"}, not CN=console: the broker may deliver nothing`);
  const persistent = opts.clientId !== null;
  const options: MqttTlsOptions = {
    ...mutualTlsOptions(b.url, tls),
    clientId: opts.clientId ?? `dicomtap-console-${randomBytes(6).toString("hex")}`,
    clean: !persistent,
    // The broker must not send us more than we would accept (MQTT 5 §3.1.2.11.4); larger ones it drops.
    properties: {
      maximumPacketSize: MAX_PAYLOAD_BYTES + 65536,
      ...(persistent ? { sessionExpiryInterval: 86400 } : {}),
    },
    // No retry until the first connection worked: a refusal is reported, not retried forever.
    reconnectPeriod: 0,
    connectTimeout: opts.connectTimeoutMs,
    keepalive: 30,
  };
  const client = mqtt.connect(b.url, options);
  // mqtt.js listens to its own events too: only our listeners are removed, by reference. This "error"
  // listener stays for the client's life (an EventEmitter without one throws on "error").
  let lastError: Error | null = null;
  const onError = (e: Error): void => {
    lastError = e;
  };
  client.on("error", onError);
  let onClose = (): void => undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      onClose = () =>
        reject(
          new ConsoleFailure(lastError ? describeFailure(lastError) : "the broker closed the connection"),
        );
      client.once("connect", () => resolve());
      client.once("close", onClose);
    });
  } catch (e) {
    client.end(true);
    throw e;
  } finally {
    client.off("close", onClose);
  }
  client.on("message", (topic, payload) => onMessage(topic, payload));
  const filter = topicFilter(opts.site, opts.share);
  let granted: { qos: number }[];
  try {
    granted = await client.subscribeAsync(filter, { qos: 1 });
  } catch (e) {
    client.end(true);
    throw new ConsoleFailure(`subscription to ${filter} failed: ${(e as Error).message}`);
  }
  const code = granted[0]?.qos ?? 0x80;
  // A SUBACK reason code of 0x80 or more is a refusal (MQTT 5 §3.9.3), e.g. 0x87 not authorized.
  if (code >= 0x80) {
    client.end(true);
    throw new ConsoleFailure(
      `broker refused the subscription to ${filter} (reason code 0x${code.toString(16)})`,
    );
  }
  // From now on a lost connection is retried (mqtt.js resubscribes when the session was not kept).
  client.options.reconnectPeriod = 5000;
  return client;
}

/** Runs the console until `--once` elapses or the signal aborts. Returns the exit code. */
export async function runConsole(opts: ConsoleOptions, io: ConsoleIo): Promise<number> {
  let state: ConsoleState;
  try {
    state = new ConsoleState();
  } catch (e) {
    io.err.write(`dicomtap: console: ${(e as Error).message}\n`);
    return 1;
  }
  const streaming = opts.onceSeconds === null && (opts.json || io.tty === null);
  let link = "connecting";
  let client: MqttClient;
  try {
    client = await connect(
      opts,
      (topic, payload) => {
        const ev = state.ingest(topic, payload);
        if (ev && streaming) {
          const line = eventLine(ev);
          if (line !== null) io.out.write(line);
        }
      },
      (m) => io.err.write(`dicomtap: console: warning: ${m}\n`),
    );
  } catch (e) {
    if (!(e instanceof ConsoleFailure)) throw e;
    io.err.write(`dicomtap: console: ${opts.broker.url}: ${e.message}\n`);
    return 1;
  }
  link = "connected";
  const log = (event: string, detail: Record<string, unknown> = {}): void => {
    if (io.tty === null || opts.json) io.err.write(jsonLine({ component: "console", event, ...detail }));
  };
  log("subscribed", { filter: topicFilter(opts.site, opts.share) });
  const onError = (e: Error): void => log("error", { error: e.message });
  const onClose = (): void => {
    link = "disconnected, retrying";
    log("disconnected");
  };
  const onConnect = (): void => {
    link = "connected";
    log("connected");
  };
  client.on("error", onError);
  client.on("close", onClose);
  client.on("connect", onConnect);

  try {
    if (opts.onceSeconds !== null) {
      await sleep(opts.onceSeconds * 1000, io.signal);
      const snap = state.snapshot();
      if (opts.json) io.out.write(jsonLine(snap));
      else io.out.write(renderText(snap, `dicomtap console (${opts.broker.url})`).join("\n") + "\n");
      return 0;
    }
    if (streaming) {
      await sleep(Infinity, io.signal);
      return 0;
    }
    // The screen: alternate buffer, cursor hidden, redrawn once a second (ages move even without news).
    const tty = io.tty!;
    io.out.write("\x1b[?1049h\x1b[?25l");
    const draw = (): void => {
      const title = `dicomtap console (${opts.broker.url}, ${link})`;
      const lines = renderText(state.snapshot(), title, perSectionFor(tty.rows));
      io.out.write(screenFrame(lines, tty.rows, tty.columns));
    };
    draw();
    const timer = setInterval(draw, 1000);
    try {
      await sleep(Infinity, io.signal);
    } finally {
      clearInterval(timer);
      io.out.write("\x1b[?25h\x1b[?1049l");
    }
    return 0;
  } finally {
    client.off("close", onClose);
    client.off("connect", onConnect);
    await client.endAsync(true).catch(() => undefined);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = Number.isFinite(ms) ? setTimeout(done, ms) : null;
    function done(): void {
      if (t) clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** `dicomtap console …`: parses the arguments, wires the terminal and the signals, runs. */
export async function consoleCommand(argv: string[], usageError: (m: string) => Error): Promise<number> {
  const opts = parseConsoleArgs(argv, usageError);
  const stdout = process.stdout;
  const tty = stdout.isTTY && !opts.json ? { rows: stdout.rows || 24, columns: stdout.columns || 80 } : null;
  if (tty) stdout.on("resize", () => ((tty.rows = stdout.rows || 24), (tty.columns = stdout.columns || 80)));
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  // A reader that went away (`dicomtap console --json | head`) ends the console instead of crashing it.
  stdout.on("error", stop);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    return await runConsole(opts, { out: stdout, err: process.stderr, tty, signal: ac.signal });
  } finally {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
    stdout.removeListener("error", stop);
  }
}
