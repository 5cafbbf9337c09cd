/**
 * The config file of DESIGN.md §3: read, validated against the shape of types.ts, defaults applied.
 * Errors name the key path and the problem (`policy.allowedPeers[2]: "10.0.0.0/33" is not a CIDR ...`),
 * because the person reading them is a field technician editing JSON by hand; and all of them are listed
 * at once (one line each), so one edit fixes the file instead of one edit per run.
 * Every key but `sensor` has a default; unknown keys are errors (a misspelt key must not be ignored).
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { parseProfiles } from "../profiles/profiles.js";
import { parseCidr } from "./cidr.js";
import { OPERATIONS, type Operation } from "../baseline/types.js";
import type {
  CentralConfig,
  CentralSection,
  Config,
  PlanSection,
  PolicyPeer,
  PolicyService,
  QuietPeriod,
} from "./types.js";

/**
 * A config that cannot be used. `problems` holds one line per problem ("key.path: what is wrong"), in the
 * order of the file's sections; `message` is those lines joined by newlines (a single problem reads
 * exactly as its line).
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * RFC 1918, loopback, link-local (IPv4 RFC 3927, where a modality cabled straight to a workstation often
 * ends up; never routed, so never external), unique local (fd00::/8 of RFC 4193's fc00::/7) and link-local IPv6.
 */
/**
 * The default capture filter (pcap-filter(7)): all of TCP (DICOM on any port, and the SMB, RDP, VNC, FTP,
 * Telnet, SSH, HTTP and LDAP sessions that tell a device's system and remote access, issue 11), plus the
 * two UDP services that describe hosts: DHCP (67, 68: host name, vendor class) and the NetBIOS datagram
 * service (138: Windows browser announcements with the OS version). Other UDP (DNS, syslog, video) is
 * left in the kernel.
 */
export const DEFAULT_FILTER = "tcp or udp port 67 or udp port 68 or udp port 138";

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
    capture: { interface: "eth1", filter: DEFAULT_FILTER, snaplen: 262144, bufferMiB: 64, tool: "auto" },
    networks: { internal: [...DEFAULT_INTERNAL] },
    policy: {
      knownAeTitles: {},
      allowedPeers: [],
      approvedPorts: {},
      learning: { days: 14, burst: { count: 5, minutes: 60 }, quietPeriods: [] },
      services: [],
      profiles: [],
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
    central: null,
    plan: { exceptions: [] },
  };
}

/** The central's defaults: loopback HTTP, a 1 GiB store, a year of history. */
export function defaultCentral(): CentralSection {
  return {
    listen: { host: "127.0.0.1", port: 8443 },
    tls: null,
    store: { path: "/var/lib/dicomtap-central/central.db", maxBytes: 1 << 30 },
    retention: { historyDays: 400, healthDays: 31, resolveAfterHours: 168 },
    shareGroup: "dicomtap-central",
    clientId: `dicomtap-central-${hostname().replace(/[^A-Za-z0-9._-]/g, "_")}`.slice(0, 64),
  };
}

/** The configuration for offline analysis (`dicomtap analyze`) and tests. */
export function defaultConfig(): Config {
  return defaultsWithout({ id: "offline", site: "local", room: null });
}

/** Reads and validates a JSON config file. */
export function loadConfig(path: string): Config {
  return validateConfig(readJson(path));
}

/**
 * Reads and validates the configuration of `dicomtap central`: a file with `central` and `broker` and no
 * `sensor` is valid (a sensor's file with a `central` section too). `broker` is required: the central
 * follows the sensors through it.
 */
export function loadCentralConfig(path: string): CentralConfig {
  return validateCentralConfig(readJson(path));
}

export function validateCentralConfig(raw: unknown): CentralConfig {
  const sensorless = isObj(raw) && raw.sensor === undefined;
  const c = validateConfig(sensorless ? { ...raw, sensor: { id: "central", site: "central" } } : raw);
  const problems: string[] = [];
  if (c.central === null) problems.push('central: is required ({ "listen": "127.0.0.1:8443", ... })');
  if (c.broker === null) problems.push("broker: is required (the central follows the sensors through it)");
  if (problems.length > 0) throw new ConfigError(problems.join("\n"), problems);
  return { central: c.central!, broker: c.broker!, networks: c.networks };
}

function readJson(path: string): unknown {
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
  return raw;
}

// ---- validation helpers: each takes the value and its key path, returns the typed value or throws ----
// A helper of one value throws its one problem; a helper of several values (a section, a list, a map)
// checks every one of them, collects their problems and throws them together, so nothing hides another.

type Obj = Record<string, unknown>;

function fail(path: string, problem: string): never {
  throw new ConfigError(`${path}: ${problem}`);
}

/** The problems found so far in one object or list. */
class Problems {
  readonly lines: string[] = [];

  add(path: string, problem: string): void {
    this.lines.push(`${path}: ${problem}`);
  }

  /** Runs one check; what it throws is recorded and `fallback` stands in for its value. */
  check<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.lines.push(...e.problems);
      return fallback;
    }
  }

  /** Throws every problem recorded, at once; nothing when there is none. */
  done(): void {
    if (this.lines.length > 0) throw new ConfigError(this.lines.join("\n"), [...this.lines]);
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks that `v` is an object (or throws); each key outside `allowed` is a problem recorded in `pr`. */
function object(v: unknown, path: string, allowed: readonly string[], pr: Problems): Obj {
  if (!isObj(v)) fail(path || "(top level)", `must be an object, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) pr.add(join(path, k), `unknown key (allowed: ${allowed.join(", ")})`);
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
  const pr = new Problems();
  const out = array(v, path).map((c, i) =>
    pr.check(() => {
      const p = `${path}[${i}]`;
      const s = str(c, p);
      const parsed = parseCidr(s);
      if (typeof parsed === "string") fail(p, `${show(s)} ${parsed}`);
      return s;
    }, ""),
  );
  pr.done();
  return out;
}

/**
 * A map from IP address to a list (policy.knownAeTitles, policy.approvedPorts): keys respelled as the
 * decoder spells addresses, each element checked; every bad key and element is a problem of its own.
 */
function ipMap<T>(v: unknown, path: string, element: (x: unknown, p: string) => T): Record<string, T[]> {
  const pr = new Problems();
  const o = object(v, path, Object.keys(isObj(v) ? v : {}), pr);
  const out: Record<string, T[]> = {};
  for (const [ip, list] of Object.entries(o)) {
    const key = pr.check(() => ipKey(ip, path), null);
    const items = pr.check(() => array(list, join(path, ip)), []);
    const good: T[] = [];
    items.forEach((x, i) => {
      const item = pr.check<{ ok: T } | null>(() => ({ ok: element(x, `${join(path, ip)}[${i}]`) }), null);
      if (item !== null) good.push(item.ok);
    });
    if (key !== null) out[key] = [...(out[key] ?? []), ...good];
  }
  pr.done();
  return out;
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

/** An IP address value (not a key), respelled like ipKey. */
export function ipValue(v: unknown, path: string): string {
  const s = str(v, path);
  if (isIP(s) === 0) fail(path, `${show(s)} is not an IP address`);
  return ipKey(s, path);
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

/** An ISO 8601 date-time with a zone (Z or ±hh:mm), as the report writes times; returned as given. */
function isoTime(v: unknown, path: string): string {
  const s = str(v, path);
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) ||
    !Number.isFinite(Date.parse(s))
  )
    fail(path, `${show(s)} is not an ISO 8601 time with a zone (e.g. "2026-03-01T18:00:00Z")`);
  return s;
}

/** policy.learning.quietPeriods: [{ from, to, reason }], from before to. */
function quietPeriods(v: unknown, path: string): QuietPeriod[] {
  const pr = new Problems();
  const items = array(v, path);
  // Each is checked per departure: a few dozen planned windows, not a calendar.
  if (items.length > 256) fail(path, `at most 256 periods, got ${items.length}`);
  const out: QuietPeriod[] = [];
  items.forEach((x, i) => {
    const p = `${path}[${i}]`;
    const period = pr.check<QuietPeriod | null>(() => {
      const q = new Problems();
      const o = object(x, p, ["from", "to", "reason"], q);
      const need = <T>(k: string, check: (y: unknown, r: string) => T, dflt: T): T =>
        q.check(() => {
          if (o[k] === undefined) fail(join(p, k), "is required");
          return check(o[k], join(p, k));
        }, dflt);
      const from = need("from", isoTime, "");
      const to = need("to", isoTime, "");
      const reason = need("reason", (y, r) => str(y, r, { nonEmpty: true, max: 200 }), "");
      if (from !== "" && to !== "" && Date.parse(from) >= Date.parse(to))
        q.add(p, `"from" (${from}) must be before "to" (${to})`);
      q.done();
      return { from, to, reason };
    }, null);
    if (period !== null) out.push(period);
  });
  pr.done();
  return out;
}

function operation(v: unknown, path: string): Operation {
  const s = str(v, path);
  if (!(OPERATIONS as readonly string[]).includes(s))
    fail(path, `${show(s)} is not an operation (${OPERATIONS.join(", ")})`);
  return s as Operation;
}

/** An AE title or null (any). */
function aeOrNull(v: unknown, path: string): string | null {
  return v === null ? null : aeTitle(v, path);
}

/**
 * policy.services: [{ ip, port, aeTitle, peers: [{ ip, aeTitle, operations }] }]. Addresses respelled as
 * the decoder spells them (ipKey), like the other policy keys.
 */
function policyServices(v: unknown, path: string): PolicyService[] {
  const pr = new Problems();
  const items = array(v, path);
  // The learner's own cap on services (baseline/learner.ts LIMITS): a policy is no bigger than a baseline.
  if (items.length > 1024) fail(path, `at most 1024 services, got ${items.length}`);
  const out: PolicyService[] = [];
  items.forEach((x, i) => {
    const p = `${path}[${i}]`;
    const svc = pr.check<PolicyService | null>(() => {
      const q = new Problems();
      const o = object(x, p, ["ip", "port", "aeTitle", "peers"], q);
      const need = <T>(k: string, check: (y: unknown, r: string) => T, dflt: T): T =>
        q.check(() => {
          if (o[k] === undefined) fail(join(p, k), "is required");
          return check(o[k], join(p, k));
        }, dflt);
      const ip = need("ip", ipValue, "");
      const port = need("port", (y, r) => int(y, r, 1, 65535), 0);
      const ae =
        o.aeTitle === undefined ? null : q.check(() => aeOrNull(o.aeTitle, join(p, "aeTitle")), null);
      const peersRaw = need("peers", (y, r) => array(y, r), []);
      if (peersRaw.length > 256) q.add(join(p, "peers"), `at most 256 peers, got ${peersRaw.length}`);
      const peers: PolicyPeer[] = [];
      peersRaw.slice(0, 256).forEach((y, j) => {
        const pp = `${p}.peers[${j}]`;
        const peer = q.check<PolicyPeer | null>(() => {
          const r = new Problems();
          const po = object(y, pp, ["ip", "aeTitle", "operations"], r);
          const pip = r.check(() => {
            if (po.ip === undefined) fail(join(pp, "ip"), "is required");
            return ipValue(po.ip, join(pp, "ip"));
          }, "");
          const pae =
            po.aeTitle === undefined ? null : r.check(() => aeOrNull(po.aeTitle, join(pp, "aeTitle")), null);
          const ops =
            po.operations === undefined
              ? []
              : r
                  .check(() => array(po.operations, join(pp, "operations")), [])
                  .map((z, k) => r.check(() => operation(z, `${pp}.operations[${k}]`), "other" as Operation));
          r.done();
          return { ip: pip, aeTitle: pae, operations: [...new Set(ops)] };
        }, null);
        if (peer !== null) peers.push(peer);
      });
      q.done();
      return { ip, port, aeTitle: ae, peers };
    }, null);
    if (svc !== null) out.push(svc);
  });
  pr.done();
  return out;
}

/**
 * Merges a section: copies the default, then overrides each present key through its checker. Unknown keys
 * and every key's problems are collected, then thrown together.
 */
function section<T extends object>(
  raw: unknown,
  path: string,
  dflt: T,
  checkers: { [K in keyof T]: (v: unknown, p: string) => T[K] },
): T {
  if (raw === undefined) return dflt;
  const pr = new Problems();
  const o = object(raw, path, Object.keys(checkers), pr);
  const out = { ...dflt };
  for (const k of Object.keys(checkers) as (keyof T & string)[]) {
    if (o[k] !== undefined) out[k] = pr.check(() => checkers[k](o[k], join(path, k)), dflt[k]);
  }
  pr.done();
  return out;
}

/**
 * Validates a parsed config object, applies defaults and returns a fresh Config.
 * Throws one ConfigError listing every problem found (`problems`, one line each, key path first).
 */
export function validateConfig(raw: unknown): Config {
  const pr = new Problems();
  const top = object(
    raw,
    "",
    ["sensor", "capture", "networks", "policy", "store", "broker", "health", "central", "plan"],
    pr,
  );
  // The sensor's problems do not stop the other sections from being checked: a stand-in takes its place.
  const sensor = pr.check(() => checkSensor(top.sensor), { id: "-", site: "-", room: null });
  const d = defaultsWithout(sensor);

  const capture = pr.check(
    () =>
      section(top.capture, "capture", d.capture, {
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
      }),
    d.capture,
  );

  const networks = pr.check(
    () =>
      section(top.networks, "networks", d.networks, {
        internal: (v, p) => {
          const list = cidrs(v, p);
          // With no internal network every peer is external and every association a high finding.
          if (list.length === 0)
            fail(p, "must list at least one CIDR (with none, every peer counts as external)");
          return list;
        },
      }),
    d.networks,
  );

  const policy = pr.check(
    () =>
      section(top.policy, "policy", d.policy, {
        knownAeTitles: (v, p) => ipMap(v, p, aeTitle),
        allowedPeers: (v, p) => cidrs(v, p),
        approvedPorts: (v, p) => ipMap(v, p, (x, q) => int(x, q, 1, 65535)),
        learning: (v, p) =>
          section(v, p, d.policy.learning, {
            // Up to a year: a window longer than that is a baseline never finished.
            days: (x, q) => int(x, q, 0, 366),
            // The burst list is kept per rule (three of them): bounded, and a day at most between departures.
            burst: (x, q) =>
              section(x, q, d.policy.learning.burst, {
                count: (y, r) => int(y, r, 1, 10_000),
                minutes: (y, r) => int(y, r, 1, 1440),
              }),
            quietPeriods: (x, q) => quietPeriods(x, q),
          }),
        services: (v, p) => policyServices(v, p),
        // Device profiles share their checker with data/model-profiles.json: one problem line per fault.
        profiles: (v, p) => {
          const { profiles, problems } = parseProfiles(v, p, "site");
          if (problems.length > 0) throw new ConfigError(problems.join("\n"), problems);
          return profiles;
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
      }),
    d.policy,
  );

  const store = pr.check(
    () =>
      section(top.store, "store", d.store, {
        path: (v, p) => str(v, p, { nonEmpty: true }),
        maxBytes: (v, p) => int(v, p, 1 << 20, Number.MAX_SAFE_INTEGER),
      }),
    d.store,
  );

  const broker = pr.check(() => checkBroker(top.broker), null);

  const health = pr.check(
    () =>
      section(top.health, "health", d.health, {
        intervalSeconds: (v, p) => int(v, p, 1, 86400),
      }),
    d.health,
  );

  const central = pr.check(() => checkCentral(top.central), null);

  const plan = pr.check(
    () =>
      section(top.plan, "plan", d.plan, {
        exceptions: (v, p) => {
          // Every entry is checked, so all their problems are listed at once.
          const pr = new Problems();
          const list = array(v, p).map((x, i) => pr.check(() => planException(x, `${p}[${i}]`), null));
          pr.done();
          return list.filter((e): e is PlanSection["exceptions"][number] => e !== null);
        },
      }),
    d.plan,
  );

  pr.done();
  return { sensor, capture, networks, policy, store, broker, health, central, plan };
}

/**
 * One `plan.exceptions` entry: `{ "peer": CIDR, "server": IP, "port": 1..65535 (optional), "reason": text }`.
 * The reason is required: an exception nobody can explain is one nobody will remove.
 */
function planException(raw: unknown, path: string): PlanSection["exceptions"][number] {
  const pr = new Problems();
  const o = object(raw, path, ["peer", "server", "port", "reason"], pr);
  const required = <T>(k: string, check: (v: unknown, p: string) => T, dflt: T): T =>
    pr.check(() => {
      if (o[k] === undefined) fail(join(path, k), "is required");
      return check(o[k], join(path, k));
    }, dflt);
  const peer = required(
    "peer",
    (v, p) => {
      const s = str(v, p);
      const parsed = parseCidr(s);
      if (typeof parsed === "string") fail(p, `${show(s)} ${parsed}`);
      return s;
    },
    "",
  );
  const server = required(
    "server",
    (v, p) => {
      const s = str(v, p);
      if (isIP(s) === 0) fail(p, `${show(s)} is not an IP address`);
      return ipKey(s, "");
    },
    "",
  );
  const port = pr.check(
    () => (o.port === undefined || o.port === null ? null : int(o.port, join(path, "port"), 1, 65535)),
    null,
  );
  // The reason is shown in the plan's Markdown and written into nftables comments: one printable line.
  const reason = required(
    "reason",
    (v, p) => {
      const s = str(v, p, { nonEmpty: true, max: 200 });
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(s)) fail(p, `${show(s)} must be one line of printable text`);
      return s;
    },
    "",
  );
  pr.done();
  return { peer, server, port, reason };
}

const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/;

/**
 * `central.listen` is HOST:PORT (an IPv6 host in brackets). Without `central.tls` the web application
 * would send passwords and session cookies in clear, so only a loopback host is accepted then.
 */
function checkCentral(raw: unknown): CentralSection | null {
  if (raw === undefined || raw === null) return null;
  const d = defaultCentral();
  const c = section(raw, "central", d, {
    listen: (v, p) => {
      const s = str(v, p, { nonEmpty: true });
      const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s);
      if (!m) fail(p, `${show(s)} must be HOST:PORT (an IPv6 host in brackets)`);
      const host = m[1] ?? m[2]!;
      if (m[1] !== undefined && isIP(host) !== 6) fail(p, `${show(host)} is not an IPv6 address`);
      return { host, port: int(Number(m[3]), p, 1, 65535) };
    },
    tls: (v, p) => {
      if (v === null) return null;
      const pr = new Problems();
      const o = object(v, p, ["cert", "key"], pr);
      const file = (k: string): string =>
        pr.check(() => {
          if (o[k] === undefined) fail(join(p, k), "is required");
          return str(o[k], join(p, k), { nonEmpty: true });
        }, "");
      const tls = { cert: file("cert"), key: file("key") };
      pr.done();
      return tls;
    },
    store: (v, p) =>
      section(v, p, d.store, {
        path: (x, q) => str(x, q, { nonEmpty: true }),
        maxBytes: (x, q) => int(x, q, 16 << 20, Number.MAX_SAFE_INTEGER),
      }),
    retention: (v, p) =>
      section(v, p, d.retention, {
        historyDays: (x, q) => int(x, q, 1, 36500),
        healthDays: (x, q) => int(x, q, 1, 36500),
        resolveAfterHours: (x, q) => int(x, q, 1, 24 * 36500),
      }),
    shareGroup: (v, p) => {
      const s = str(v, p, { nonEmpty: true, max: 64 });
      // MQTT 5 §4.8.2: a ShareName must not contain '/', '+' or '#'.
      if (/[/+#\s]/.test(s)) fail(p, `${show(s)} must not contain '/', '+', '#' or spaces`);
      return s;
    },
    clientId: (v, p) => str(v, p, { nonEmpty: true, max: 64 }),
  });
  if (c.tls === null && !LOOPBACK.test(c.listen.host))
    fail(
      "central.listen",
      `${show(c.listen.host)} is not a loopback address: without central.tls the central listens only on 127.0.0.1, ::1 or localhost`,
    );
  return c;
}

function checkSensor(raw: unknown): Config["sensor"] {
  if (raw === undefined) fail("sensor", 'is required ({ "id": ..., "site": ... })');
  const pr = new Problems();
  const s = object(raw, "sensor", ["id", "site", "room"], pr);
  // The sensor id and site become MQTT topic levels (DESIGN.md §3): no wildcards or separators.
  const topicLevel = (v: unknown, p: string): string => {
    if (v === undefined) fail(p, "is required");
    const t = str(v, p, { nonEmpty: true, max: 64 });
    if (/[/+#\s]/.test(t) || t.includes("\u0000"))
      fail(p, `${show(t)} must not contain '/', '+', '#' or spaces`);
    return t;
  };
  const sensor: Config["sensor"] = {
    id: pr.check(() => topicLevel(s.id, "sensor.id"), "-"),
    site: pr.check(() => topicLevel(s.site, "sensor.site"), "-"),
    room: pr.check(() => (s.room === undefined || s.room === null ? null : str(s.room, "sensor.room")), null),
  };
  pr.done();
  return sensor;
}

function checkBroker(raw: unknown): Config["broker"] {
  if (raw === undefined || raw === null) return null;
  const pr = new Problems();
  const b = object(raw, "broker", ["url", "ca", "cert", "key"], pr);
  const required = (k: string, check: (v: unknown, p: string) => string): string =>
    pr.check(() => {
      const p = `broker.${k}`;
      if (b[k] === undefined) fail(p, "is required");
      return check(b[k], p);
    }, "");
  const url = required("url", (v, p) => {
    const u = str(v, p, { nonEmpty: true });
    // The broker is reached over mutual TLS only (DESIGN.md §3); a plain mqtt:// URL is a mistake.
    if (!/^mqtts:\/\/[^/\s]+/.test(u)) fail(p, `${show(u)} must be an mqtts:// URL`);
    return u;
  });
  const file = (v: unknown, p: string): string => str(v, p, { nonEmpty: true });
  const broker = { url, ca: required("ca", file), cert: required("cert", file), key: required("key", file) };
  pr.done();
  return broker;
}
