/**
 * The config file of DESIGN.md §3: read, validated against the shape of types.ts, defaults applied.
 * Errors name the key path and the problem (`policy.allowedPeers[2]: "10.0.0.0/33" is not a CIDR ...`),
 * because the person reading them is a field technician editing JSON by hand.
 * Every key but `sensor` has a default; unknown keys are errors (a misspelt key must not be ignored).
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parseCidr } from "./cidr.js";
import type { Config } from "./types.js";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * RFC 1918, loopback, link-local (IPv4 RFC 3927, where a modality cabled straight to a workstation often
 * ends up; never routed, so never external), unique local (fd00::/8 of RFC 4193's fc00::/7) and link-local IPv6.
 */
const DEFAULT_INTERNAL = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "::1/128",
  "fd00::/8",
  "fe80::/10",
];

function defaultsWithout(sensor: Config["sensor"]): Config {
  return {
    sensor,
    capture: { interface: "eth1", filter: "tcp", snaplen: 262144, bufferMiB: 64, tool: "auto" },
    networks: { internal: [...DEFAULT_INTERNAL] },
    policy: {
      knownAeTitles: {},
      allowedPeers: [],
      approvedPorts: {},
      thresholds: {
        aeScanRejects: 10,
        aeScanDistinctCalledAEs: 5,
        aeScanWindowSeconds: 300,
        bulkQueryFinds: 200,
        bulkQueryWindowSeconds: 300,
        echoSweepHosts: 5,
        echoSweepWindowSeconds: 300,
        bulkQueryMatches: 1000,
      },
    },
    store: { path: "/var/lib/dicomtap/dicomtap.db", maxBytes: 268435456 },
    broker: null,
    health: { intervalSeconds: 60 },
  };
}

/** The configuration for offline analysis (`dicomtap analyze`) and tests. */
export function defaultConfig(): Config {
  return defaultsWithout({ id: "offline", site: "local", room: null });
}

/** Reads and validates a JSON config file. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return validateConfig(raw);
}

// ---- validation helpers: each takes the value and its key path, returns the typed value or throws ----

type Obj = Record<string, unknown>;

function fail(path: string, problem: string): never {
  throw new ConfigError(`${path}: ${problem}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks that `v` is an object with no keys outside `allowed`. */
function object(v: unknown, path: string, allowed: readonly string[]): Obj {
  if (!isObj(v)) fail(path || "(top level)", `must be an object, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) fail(join(path, k), `unknown key (allowed: ${allowed.join(", ")})`);
  }
  return v;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function str(v: unknown, path: string, opts: { nonEmpty?: boolean; max?: number } = {}): string {
  if (typeof v !== "string") fail(path, `must be a string, got ${show(v)}`);
  if (opts.nonEmpty && v.trim() === "") fail(path, "must not be empty");
  if (opts.max !== undefined && v.length > opts.max) fail(path, `must be at most ${opts.max} characters`);
  return v;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) fail(path, `must be an integer, got ${show(v)}`);
  if (v < min || v > max) fail(path, `${v} is out of range ${min}..${max}`);
  return v;
}

function array(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `must be an array, got ${show(v)}`);
  return v;
}

function cidrs(v: unknown, path: string): string[] {
  return array(v, path).map((c, i) => {
    const p = `${path}[${i}]`;
    const s = str(c, p);
    const parsed = parseCidr(s);
    if (typeof parsed === "string") fail(p, `${show(s)} ${parsed}`);
    return s;
  });
}

/**
 * Checks a policy key and returns it in the spelling the decoder gives addresses (RFC 5952 for IPv6:
 * lower case, zeros compressed; IPv4-mapped as ::ffff:a.b.c.d), since the policy is looked up by that text:
 * "FE80:0::1" in the file must match the device fe80::1.
 */
function ipKey(k: string, path: string): string {
  const family = isIP(k);
  if (family === 0) fail(join(path, k), `${show(k)} is not an IP address`);
  if (family === 4) return k;
  const host = new URL(`http://[${k}]`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** PS3.8 §9.3.2: an AE title is 1..16 characters of the default repertoire, no backslash or controls. */
function aeTitle(v: unknown, path: string): string {
  const s = str(v, path);
  const t = s.trim();
  if (t.length === 0 || s.length > 16) fail(path, `${show(s)} is not an AE title (1 to 16 characters)`);
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f-\uffff]/.test(s)) fail(path, `${show(s)} is not an AE title (bad character)`);
  return t;
}

/** Merges a section: copies the default, then overrides each present key through its checker. */
function section<T extends object>(
  raw: unknown,
  path: string,
  dflt: T,
  checkers: { [K in keyof T]: (v: unknown, p: string) => T[K] },
): T {
  if (raw === undefined) return dflt;
  const o = object(raw, path, Object.keys(checkers));
  const out = { ...dflt };
  for (const k of Object.keys(checkers) as (keyof T & string)[]) {
    if (o[k] !== undefined) out[k] = checkers[k](o[k], join(path, k));
  }
  return out;
}

/**
 * Validates a parsed config object, applies defaults and returns a fresh Config.
 * Throws ConfigError naming the first problem found.
 */
export function validateConfig(raw: unknown): Config {
  const top = object(raw, "", ["sensor", "capture", "networks", "policy", "store", "broker", "health"]);
  if (top.sensor === undefined) fail("sensor", 'is required ({ "id": ..., "site": ... })');
  const s = object(top.sensor, "sensor", ["id", "site", "room"]);
  // The sensor id and site become MQTT topic levels (DESIGN.md §3): no wildcards or separators.
  const topicLevel = (v: unknown, p: string): string => {
    const t = str(v, p, { nonEmpty: true, max: 64 });
    if (/[/+#\s]/.test(t) || t.includes("\u0000"))
      fail(p, `${show(t)} must not contain '/', '+', '#' or spaces`);
    return t;
  };
  if (s.id === undefined) fail("sensor.id", "is required");
  if (s.site === undefined) fail("sensor.site", "is required");
  const sensor: Config["sensor"] = {
    id: topicLevel(s.id, "sensor.id"),
    site: topicLevel(s.site, "sensor.site"),
    room: s.room === undefined || s.room === null ? null : str(s.room, "sensor.room"),
  };
  const d = defaultsWithout(sensor);

  const capture = section(top.capture, "capture", d.capture, {
    interface: (v, p) => str(v, p, { nonEmpty: true }),
    filter: (v, p) => str(v, p),
    snaplen: (v, p) => int(v, p, 64, 262144),
    // The kernel ring in front of the capture child: what absorbs a stall of the agent (issue 8).
    bufferMiB: (v, p) => int(v, p, 1, 2048),
    tool: (v, p) => {
      const t = str(v, p);
      if (t !== "auto" && t !== "dicomtap-capture" && t !== "tcpdump")
        fail(p, `${show(t)} must be "auto", "dicomtap-capture" or "tcpdump"`);
      return t as Config["capture"]["tool"];
    },
  });

  const networks = section(top.networks, "networks", d.networks, {
    internal: (v, p) => {
      const list = cidrs(v, p);
      // With no internal network every peer is external and every association a high finding.
      if (list.length === 0)
        fail(p, "must list at least one CIDR (with none, every peer counts as external)");
      return list;
    },
  });

  const policyRaw = top.policy;
  const policy = section(policyRaw, "policy", d.policy, {
    knownAeTitles: (v, p) => {
      const o = object(v, p, Object.keys(isObj(v) ? v : {}));
      const out: Record<string, string[]> = {};
      for (const [ip, list] of Object.entries(o)) {
        const key = ipKey(ip, p);
        const titles = array(list, join(p, ip)).map((ae, i) => aeTitle(ae, `${join(p, ip)}[${i}]`));
        out[key] = [...(out[key] ?? []), ...titles];
      }
      return out;
    },
    allowedPeers: (v, p) => cidrs(v, p),
    approvedPorts: (v, p) => {
      const o = object(v, p, Object.keys(isObj(v) ? v : {}));
      const out: Record<string, number[]> = {};
      for (const [ip, list] of Object.entries(o)) {
        const key = ipKey(ip, p);
        const ports = array(list, join(p, ip)).map((port, i) => int(port, `${join(p, ip)}[${i}]`, 1, 65535));
        out[key] = [...(out[key] ?? []), ...ports];
      }
      return out;
    },
    thresholds: (v, p) => {
      // Event counts size the sliding windows the findings engine keeps per source (a few times the
      // threshold, for up to 4096 sources), so they are bounded; windows are at most a day.
      const events = (x: unknown, q: string): number => int(x, q, 1, 10_000);
      const seconds = (x: unknown, q: string): number => int(x, q, 1, 86_400);
      return section(v, p, d.policy.thresholds, {
        aeScanRejects: events,
        aeScanDistinctCalledAEs: events,
        aeScanWindowSeconds: seconds,
        bulkQueryFinds: events,
        bulkQueryWindowSeconds: seconds,
        echoSweepHosts: events,
        echoSweepWindowSeconds: seconds,
        bulkQueryMatches: (x, q) => int(x, q, 1, 1_000_000_000),
      });
    },
  });

  const store = section(top.store, "store", d.store, {
    path: (v, p) => str(v, p, { nonEmpty: true }),
    maxBytes: (v, p) => int(v, p, 1 << 20, Number.MAX_SAFE_INTEGER),
  });

  let broker: Config["broker"] = null;
  if (top.broker !== undefined && top.broker !== null) {
    const b = object(top.broker, "broker", ["url", "ca", "cert", "key"]);
    for (const k of ["url", "ca", "cert", "key"]) if (b[k] === undefined) fail(`broker.${k}`, "is required");
    const url = str(b.url, "broker.url", { nonEmpty: true });
    // The broker is reached over mutual TLS only (DESIGN.md §3); a plain mqtt:// URL is a mistake.
    if (!/^mqtts:\/\/[^/\s]+/.test(url)) fail("broker.url", `${show(url)} must be an mqtts:// URL`);
    broker = {
      url,
      ca: str(b.ca, "broker.ca", { nonEmpty: true }),
      cert: str(b.cert, "broker.cert", { nonEmpty: true }),
      key: str(b.key, "broker.key", { nonEmpty: true }),
    };
  }

  const health = section(top.health, "health", d.health, {
    intervalSeconds: (v, p) => int(v, p, 1, 86400),
  });

  return { sensor, capture, networks, policy, store, broker, health };
}
