/**
 * Device profiles (issue 13, "the MDS2 step"): per manufacturer, model and software version range, the ports,
 * roles, peers and transport security the vendor documents (conformance statement network sections,
 * network-integration tables, MDS2 answers), each row with its source. The shipped table is
 * data/model-profiles.json (format: schemas/model-profile.schema.json, README "Device profiles"); a site adds
 * its own rows in the config (policy.profiles), which are tried first.
 *
 * A device is matched by what it states for itself in its datasets: Manufacturer (0008,0070), Manufacturer's
 * Model Name (0008,1090) and Software Versions (0018,1020), as the inventory attributes them to it
 * (inventory/classify.ts ownEquipment). Names match case-insensitively after trimming (runs of spaces count
 * as one), with `*` standing for any run of characters. Rows are tried in order: the first that matches wins,
 * so a specific row goes above a wildcard row.
 *
 * The API other stages use (findings rule net.port-outside-profile, `dicomtap plan`'s "ports to close"):
 * - profileFor(device, siteProfiles): the profile a device matches, or null;
 * - portsOutsideProfile(device, siteProfiles): its listening ports the profile does not document;
 * - modelProfileTable(): the shipped table, read and checked on first use (Analysis calls it at start, so a
 *   damaged data file fails then, with every problem listed);
 * - parseProfiles(): the checker both the table and the config use (problems as "key.path: what is wrong").
 * Parsed profiles are plain data (no classes, no RegExp): they travel inside the Config to worker threads.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "../util/root.js";

export const PORT_PROTOCOLS = [
  "dicom",
  "dicom-tls",
  "http",
  "https",
  "hl7",
  "hl7-tls",
  "ssh",
  "rdp",
  "smb",
  "vnc",
  "telnet",
  "ftp",
  "other",
] as const;
export type PortProtocol = (typeof PORT_PROTOCOLS)[number];

/** What the device does on a port: a DICOM SCP or SCU (or both), or a service beside DICOM (web, admin, ...). */
export const PORT_ROLES = ["scp", "scu", "both", "service"] as const;
export type PortRole = (typeof PORT_ROLES)[number];

export const DEVICE_ROLES = ["scp", "scu"] as const;
export type DeviceRole = (typeof DEVICE_ROLES)[number];

export const TLS_SUPPORT = ["required", "supported", "not-supported", "unknown"] as const;
export type TlsSupport = (typeof TLS_SUPPORT)[number];

/** One documented port or port range. */
export interface ProfilePort {
  /** As written: "4242" or "8000-8010". */
  text: string;
  from: number;
  to: number;
  protocol: PortProtocol;
  role: PortRole;
  note: string | null;
}

export interface ProfileSource {
  title: string;
  /** http(s) URL; a site profile may name an internal document by title alone (null). */
  url: string | null;
  /** Section, table or page of the document. */
  section: string | null;
  /** ISO date (YYYY-MM-DD) the document was read. */
  retrieved: string;
}

/** One comparator of a version range; `version` is dotted numbers, or exact text (only with "="). */
export interface VersionBound {
  op: "<" | "<=" | ">" | ">=" | "=";
  version: number[] | string;
}

export interface ModelProfile {
  manufacturer: string;
  model: string;
  /** The range as written (">=1.9 <2"), or null for any version. */
  softwareVersions: string | null;
  /** The parsed range (every bound must hold); null for any version. */
  versionRange: VersionBound[] | null;
  ports: ProfilePort[];
  roles: DeviceRole[];
  transport: { tls: TlsSupport; note: string | null };
  /** Notes of the peers the vendor documents (archives, worklist brokers, remote-service gateways). */
  peers: string[];
  note: string | null;
  source: ProfileSource;
  /** Where the row comes from: the site's config (policy.profiles) or the shipped table. */
  origin: "site" | "shipped";
}

/** What matching needs of a device: the values of its record (DeviceRecord has them). */
export interface DeviceIdentity {
  manufacturer: string | null;
  model: string | null;
  softwareVersions: readonly string[];
}

/** Caps for hand-edited lists (a typo must not make a list the sensor walks for every device). */
export const MAX_PROFILES = 1000;
export const MAX_PROFILE_PORTS = 512;
const MAX_TEXT = 1024;

// ---- versions and ranges ----

/** Components and digits a version may have (beyond, it is not a version this parser trusts). */
const MAX_COMPONENTS = 8;
const MAX_DIGITS = 9;

/**
 * The numeric part of a version string: optional "v"/"V", then dotted numbers; whatever follows is a vendor
 * suffix ("5.22.1-SNAPSHOT", "3.0 SP2", "1.9.0rc") and does not take part in comparison. Null when the
 * string does not start so ("VB10A", "syngo MR E11"): such a version is unknown, and matches no bounded
 * range (only "=TEXT", compared as text).
 */
export function parseVersion(s: string): number[] | null {
  const m = /^[vV]?(\d+(?:\.\d+)*)/.exec(s.trim());
  if (!m) return null;
  const parts = m[1]!.split(".");
  if (parts.length > MAX_COMPONENTS || parts.some((p) => p.length > MAX_DIGITS)) return null;
  return parts.map(Number);
}

/** Compares dotted versions numerically, missing components counting as 0 (1.9 = 1.9.0 < 1.10). */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

function textKey(s: string): string {
  return s.trim().replace(/\s+/g, " ").toLowerCase();
}

/**
 * Parses a range: comparators separated by spaces, all of which must hold (">=3.0 <4", ">= 1.9.0", "=VB10A",
 * a bare "2.1" meaning "=2.1"). Returns the bounds, or the reason it is not a range.
 */
export function parseVersionRange(s: string): VersionBound[] | string {
  const text = s.trim();
  if (text === "") return "is empty (use null for any version)";
  const tokens = text.split(/\s+/);
  const bounds: VersionBound[] = [];
  for (let i = 0; i < tokens.length; i++) {
    let tok = tokens[i]!;
    // An operator written apart from its version (">= 3.0").
    if (/^(<=|>=|<|>|=)$/.test(tok) && i + 1 < tokens.length) tok += tokens[++i]!;
    const m = /^(<=|>=|<|>|=)?(.*)$/.exec(tok)!;
    const op = (m[1] ?? "=") as VersionBound["op"];
    const v = m[2]!;
    if (v === "") return `"${tok}" has no version`;
    if (/[<>=]/.test(v)) return `"${tok}" is not a comparison (one of <, <=, >, >=, = then a version)`;
    const n = parseVersion(v);
    // Only whole dotted numbers bound a range; vendor text is compared exactly, and only with "=".
    if (n !== null && /^[vV]?\d+(\.\d+)*$/.test(v)) bounds.push({ op, version: n });
    else if (op === "=") bounds.push({ op, version: v });
    else return `"${tok}": ${op} needs a dotted numeric version such as 1.9 or 3.0.2`;
  }
  // A range no version can satisfy is a typo ("<1 >2"), not a profile.
  let lo: { v: number[]; strict: boolean } | null = null;
  let hi: { v: number[]; strict: boolean } | null = null;
  for (const b of bounds) {
    if (typeof b.version === "string") continue;
    const v = b.version;
    if (b.op === ">" || b.op === ">=" || b.op === "=") {
      const c = lo === null ? 1 : compareVersions(v, lo.v);
      if (c > 0 || (c === 0 && b.op === ">")) lo = { v, strict: b.op === ">" };
    }
    if (b.op === "<" || b.op === "<=" || b.op === "=") {
      const c = hi === null ? -1 : compareVersions(v, hi.v);
      if (c < 0 || (c === 0 && b.op === "<")) hi = { v, strict: b.op === "<" };
    }
  }
  if (lo !== null && hi !== null) {
    const c = compareVersions(lo.v, hi.v);
    if (c > 0 || (c === 0 && (lo.strict || hi.strict)))
      return "matches no version (lower bound above upper bound)";
  }
  return bounds;
}

/** Whether one software version satisfies every bound; an unknown (non-numeric) version satisfies only "=TEXT". */
export function versionInRange(version: string, range: readonly VersionBound[]): boolean {
  const n = parseVersion(version);
  return range.every((b) => {
    if (typeof b.version === "string") return textKey(version) === textKey(b.version);
    if (n === null) return false;
    const c = compareVersions(n, b.version);
    switch (b.op) {
      case "<":
        return c < 0;
      case "<=":
        return c <= 0;
      case ">":
        return c > 0;
      case ">=":
        return c >= 0;
      default:
        return c === 0;
    }
  });
}

// ---- matching ----

/** Case-insensitive match after trimming, `*` for any run of characters (no RegExp: patterns are input). */
export function nameMatches(pattern: string, value: string | null): boolean {
  if (value === null) return false;
  const v = textKey(value);
  if (v === "") return false;
  const parts = textKey(pattern).split("*");
  if (parts.length === 1) return v === parts[0];
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!v.startsWith(first) || !v.endsWith(last) || v.length < first.length + last.length) return false;
  let at = first.length;
  const end = v.length - last.length;
  for (const mid of parts.slice(1, -1)) {
    const i = v.indexOf(mid, at);
    if (i < 0 || i + mid.length > end) return false;
    at = i + mid.length;
  }
  return true;
}

/** Whether a device matches a profile: manufacturer, model, and (when bounded) one of its software versions. */
export function profileMatches(p: ModelProfile, d: DeviceIdentity): boolean {
  if (!nameMatches(p.manufacturer, d.manufacturer) || !nameMatches(p.model, d.model)) return false;
  if (p.versionRange === null) return true;
  return d.softwareVersions.some((v) => versionInRange(v, p.versionRange!));
}

/**
 * The profile of a device: the first matching site profile (config policy.profiles), else the first matching
 * row of the shipped table; null when none matches (or the device has not named its model yet).
 */
export function profileFor(
  device: DeviceIdentity,
  siteProfiles: readonly ModelProfile[] = [],
): ModelProfile | null {
  if (device.manufacturer === null || device.model === null) return null;
  for (const p of siteProfiles) if (profileMatches(p, device)) return p;
  for (const p of modelProfileTable()) if (profileMatches(p, device)) return p;
  return null;
}

/** The profile's port entry covering a port, or null when the profile does not document it. */
export function documentedPort(profile: ModelProfile, port: number): ProfilePort | null {
  return profile.ports.find((p) => port >= p.from && port <= p.to) ?? null;
}

/**
 * The listening ports of a device its profile does not document (ascending), with the profile; null when the
 * device has no profile. For `dicomtap plan`'s "ports to close" and net.port-outside-profile.
 */
export function portsOutsideProfile(
  device: DeviceIdentity & { listeningPorts: readonly number[] },
  siteProfiles: readonly ModelProfile[] = [],
): { profile: ModelProfile; ports: number[] } | null {
  const profile = profileFor(device, siteProfiles);
  if (profile === null) return null;
  const ports = [...new Set(device.listeningPorts)]
    .filter((p) => documentedPort(profile, p) === null)
    .sort((a, b) => a - b);
  return { profile, ports };
}

/** "Orthanc Orthanc >=1.9.0": how a profile is named in evidence and messages. */
export function profileLabel(p: ModelProfile): string {
  return `${p.manufacturer} ${p.model}${p.softwareVersions !== null ? ` ${p.softwareVersions}` : " (any version)"}`;
}

// ---- checking rows (the shipped table and the config share it) ----

const PROFILE_KEYS = [
  "manufacturer",
  "model",
  "softwareVersions",
  "ports",
  "roles",
  "transport",
  "peers",
  "note",
  "source",
] as const;
const PORT_KEYS = ["port", "range", "protocol", "role", "note"] as const;
const SOURCE_KEYS = ["title", "url", "section", "retrieved"] as const;
const TRANSPORT_KEYS = ["tls", "note"] as const;

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isIsoDate(v: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return false;
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}

/** The problems of one list being checked: "path: problem" lines. */
class Lines {
  readonly lines: string[] = [];
  add(path: string, problem: string): void {
    this.lines.push(`${path}: ${problem}`);
  }
  /** Unknown keys of an object are problems (a misspelt key must not be ignored). */
  keys(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) this.add(`${path}.${k}`, `unknown key (allowed: ${allowed.join(", ")})`);
  }
  text(v: unknown, path: string, opts: { required?: boolean; nullable?: boolean } = {}): string | null {
    if (v === undefined) {
      if (opts.required) this.add(path, "is required");
      return null;
    }
    if (v === null && opts.nullable) return null;
    if (typeof v !== "string") {
      this.add(path, `must be a string${opts.nullable ? " or null" : ""}, got ${show(v)}`);
      return null;
    }
    if (v.trim() === "") {
      this.add(path, "must not be empty");
      return null;
    }
    if (v.length > MAX_TEXT) {
      this.add(path, `must be at most ${MAX_TEXT} characters`);
      return null;
    }
    return v;
  }
  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T | null {
    if (v === undefined) {
      this.add(path, "is required");
      return null;
    }
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
      this.add(path, `${show(v)} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
      return null;
    }
    return v as T;
  }
}

/** A port number: an integer 1..65535, or its decimal text. */
function portNumber(v: unknown): number | null {
  const n = typeof v === "string" && /^\d{1,5}$/.test(v.trim()) ? Number(v.trim()) : v;
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535 ? n : null;
}

function checkPort(raw: unknown, path: string, pr: Lines): ProfilePort | null {
  if (!isObj(raw)) {
    pr.add(path, `must be an object ({ "port": 104, "protocol": "dicom", "role": "scp" }), got ${show(raw)}`);
    return null;
  }
  pr.keys(raw, path, PORT_KEYS);
  let from: number | null = null;
  let to: number | null = null;
  let text = "";
  if ((raw.port === undefined) === (raw.range === undefined)) {
    pr.add(path, 'needs exactly one of "port" (104) and "range" ("8000-8010")');
  } else if (raw.port !== undefined) {
    from = to = portNumber(raw.port);
    if (from === null) pr.add(path, `${show(raw.port)} is not a port (1..65535)`);
    text = String(from);
  } else {
    const r = raw.range;
    const m = typeof r === "string" ? /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(r) : null;
    if (!m) pr.add(path, `${show(r)} is not a port range ("START-END", e.g. "8000-8010")`);
    else {
      const a = portNumber(m[1]);
      const b = portNumber(m[2]);
      if (a === null || b === null) pr.add(path, `${show(r)} is not a port range (ports are 1..65535)`);
      else if (a > b) pr.add(path, `${show(r)} is not a port range (start above end)`);
      else [from, to, text] = [a, b, `${a}-${b}`];
    }
  }
  const protocol = pr.oneOf(raw.protocol, `${path}.protocol`, PORT_PROTOCOLS);
  const role = pr.oneOf(raw.role, `${path}.role`, PORT_ROLES);
  const note = pr.text(raw.note, `${path}.note`, { nullable: true });
  if (from === null || to === null || protocol === null || role === null) return null;
  return { text, from, to, protocol, role, note };
}

function checkSource(raw: unknown, path: string, pr: Lines, requireUrl: boolean): ProfileSource | null {
  if (raw === undefined) {
    pr.add(
      path,
      'is required: every profile names where its ports are documented ({ "title", "url", "retrieved" })',
    );
    return null;
  }
  if (!isObj(raw)) {
    pr.add(path, `must be an object ({ "title", "url", "section", "retrieved" }), got ${show(raw)}`);
    return null;
  }
  pr.keys(raw, path, SOURCE_KEYS);
  const title = pr.text(raw.title, `${path}.title`, { required: true });
  const url = pr.text(raw.url, `${path}.url`, { required: requireUrl, nullable: !requireUrl });
  if (url !== null && !/^https?:\/\/\S+$/.test(url))
    pr.add(`${path}.url`, `${show(url)} is not an http(s) URL`);
  const section = pr.text(raw.section, `${path}.section`, { nullable: true });
  const retrieved = pr.text(raw.retrieved, `${path}.retrieved`, { required: true });
  if (retrieved !== null && !isIsoDate(retrieved))
    pr.add(`${path}.retrieved`, `${show(retrieved)} is not a date (YYYY-MM-DD)`);
  if (title === null || retrieved === null || !isIsoDate(retrieved)) return null;
  return { title, url, section, retrieved };
}

function checkProfile(
  raw: unknown,
  path: string,
  pr: Lines,
  origin: ModelProfile["origin"],
): ModelProfile | null {
  if (!isObj(raw)) {
    pr.add(path, `must be an object, got ${show(raw)}`);
    return null;
  }
  const before = pr.lines.length;
  pr.keys(raw, path, PROFILE_KEYS);
  const manufacturer = pr.text(raw.manufacturer, `${path}.manufacturer`, { required: true });
  const model = pr.text(raw.model, `${path}.model`, { required: true });
  let softwareVersions: string | null = null;
  let versionRange: VersionBound[] | null = null;
  if (raw.softwareVersions === undefined) {
    pr.add(`${path}.softwareVersions`, 'is required (a range such as ">=3.0 <4", or null for any version)');
  } else if (raw.softwareVersions !== null) {
    softwareVersions = pr.text(raw.softwareVersions, `${path}.softwareVersions`, { nullable: true });
    if (softwareVersions !== null) {
      const r = parseVersionRange(softwareVersions);
      if (typeof r === "string")
        pr.add(`${path}.softwareVersions`, `${show(softwareVersions)} is not a version range (${r})`);
      else versionRange = r;
    }
  }
  const ports: ProfilePort[] = [];
  if (!Array.isArray(raw.ports)) pr.add(`${path}.ports`, `must be an array of ports, got ${show(raw.ports)}`);
  else if (raw.ports.length > MAX_PROFILE_PORTS)
    pr.add(`${path}.ports`, `lists ${raw.ports.length} ports (at most ${MAX_PROFILE_PORTS}; use ranges)`);
  else
    raw.ports.forEach((p, i) => {
      const port = checkPort(p, `${path}.ports[${i}]`, pr);
      if (port) ports.push(port);
    });
  const roles: DeviceRole[] = [];
  if (raw.roles !== undefined) {
    if (!Array.isArray(raw.roles))
      pr.add(`${path}.roles`, `must be an array ("scp", "scu"), got ${show(raw.roles)}`);
    else
      raw.roles.forEach((r, i) => {
        const role = pr.oneOf(r, `${path}.roles[${i}]`, DEVICE_ROLES);
        if (role !== null && !roles.includes(role)) roles.push(role);
      });
  }
  let transport: ModelProfile["transport"] = { tls: "unknown", note: null };
  if (raw.transport !== undefined) {
    if (!isObj(raw.transport))
      pr.add(`${path}.transport`, `must be an object ({ "tls": "supported" }), got ${show(raw.transport)}`);
    else {
      pr.keys(raw.transport, `${path}.transport`, TRANSPORT_KEYS);
      const tls = pr.oneOf(raw.transport.tls, `${path}.transport.tls`, TLS_SUPPORT);
      const note = pr.text(raw.transport.note, `${path}.transport.note`, { nullable: true });
      transport = { tls: tls ?? "unknown", note };
    }
  }
  const peers: string[] = [];
  if (raw.peers !== undefined) {
    if (!Array.isArray(raw.peers))
      pr.add(`${path}.peers`, `must be an array of notes, got ${show(raw.peers)}`);
    else
      raw.peers.forEach((x, i) => {
        const s = pr.text(x, `${path}.peers[${i}]`, { required: true });
        if (s !== null) peers.push(s);
      });
  }
  const note = pr.text(raw.note, `${path}.note`, { nullable: true });
  const source = checkSource(raw.source, `${path}.source`, pr, origin === "shipped");
  if (pr.lines.length > before || manufacturer === null || model === null || source === null) return null;
  return {
    manufacturer: manufacturer.trim(),
    model: model.trim(),
    softwareVersions: softwareVersions?.trim() ?? null,
    versionRange,
    ports,
    roles,
    transport,
    peers,
    note,
    source,
    origin,
  };
}

/**
 * Checks a list of profile rows (the config's policy.profiles, the table's profiles). Every problem is a line
 * "path[i].key: what is wrong"; the profiles are returned only when there is none (a list with a bad row is
 * refused whole: half a profile would flag the ports of the rows it lost).
 */
export function parseProfiles(
  raw: unknown,
  path: string,
  origin: ModelProfile["origin"],
): { profiles: ModelProfile[]; problems: string[] } {
  const pr = new Lines();
  if (!Array.isArray(raw)) {
    pr.add(path, `must be an array of profiles, got ${show(raw)}`);
    return { profiles: [], problems: pr.lines };
  }
  if (raw.length > MAX_PROFILES) {
    pr.add(path, `lists ${raw.length} profiles (at most ${MAX_PROFILES})`);
    return { profiles: [], problems: pr.lines };
  }
  const profiles: ModelProfile[] = [];
  raw.forEach((r, i) => {
    const p = checkProfile(r, `${path}[${i}]`, pr, origin);
    if (p) profiles.push(p);
  });
  return pr.lines.length > 0 ? { profiles: [], problems: pr.lines } : { profiles, problems: [] };
}

/** Checks a parsed data/model-profiles.json; throws an Error listing every problem. */
export function validateModelProfileTable(raw: unknown): ModelProfile[] {
  const problems: string[] = [];
  if (!isObj(raw)) throw new Error(`model-profiles.json: must be an object, got ${show(raw)}`);
  for (const k of Object.keys(raw))
    if (!["$schema", "description", "version", "profiles"].includes(k))
      problems.push(`${k}: unknown key (allowed: $schema, description, version, profiles)`);
  if (raw.version !== 1) problems.push(`version: must be 1, got ${show(raw.version)}`);
  const { profiles, problems: rows } = parseProfiles(raw.profiles, "profiles", "shipped");
  problems.push(...rows);
  if (problems.length > 0) throw new Error(`model-profiles.json: ${problems.join("; ")}`);
  return profiles;
}

let table: ModelProfile[] | null = null;

/** The shipped table (data/model-profiles.json), read and checked on first use. */
export function modelProfileTable(): ModelProfile[] {
  table ??= validateModelProfileTable(
    JSON.parse(readFileSync(join(dataDir(), "model-profiles.json"), "utf8")) as unknown,
  );
  return table;
}
