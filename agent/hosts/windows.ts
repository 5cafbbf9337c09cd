/**
 * Windows releases by version number (issue 11): data/windows-builds.json, read once on first use through
 * util/root.ts's dataDir() and validated then (a bad table throws, naming every problem).
 *
 * An NTLMSSP VERSION or a browser announcement gives major.minor(.build); an SMB1 Native OS string gives a
 * product name and build. windowsRelease() turns a version into the products it may be. The same version is
 * often both a client and a server product (6.1.7601 is Windows 7 and Server 2008 R2): both candidates are
 * returned and the caller chooses by other evidence (kindFromServerType(), nativeOsVersion()'s kind, a DHCP
 * vendor class), else reports both. Long-term editions (LTSB/LTSC, Embedded) share the build of an ordinary
 * release and cannot be told from it either: they are listed with their own end of support.
 *
 * Not every VERSION is Windows: Samba answers NTLM with 6.1 build 0 and other stacks send their own
 * numbers, so callers check isWindowsBuild() before naming a Windows release.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "../util/root.js";

export type WindowsKind = "client" | "server";

/** What a wormable vulnerability needs the host to offer before it matters. */
export type WormCondition = "smb" | "smbv1" | "rdp" | "smb311-compression";

export interface LongTermEdition {
  name: string;
  /** ISO date: end of security updates for this edition. */
  endOfSupport: string;
  source: string;
}

/** One row of the table: one product of one kind. */
export interface WindowsProduct {
  kind: WindowsKind;
  /** "Windows 7", "Windows Server 2016", "Windows 10" ... */
  name: string;
  /** The release of Windows 10/11 and the semi-annual servers ("1607", "22H2"); null before Windows 10. */
  release: string | null;
  major: number;
  minor: number;
  builds: number[];
  /** The build whose code an enablement-package release shares (19041 for Windows 10 20H2..22H2). */
  baseBuild?: number;
  /** Service pack by build, e.g. { "7601": "SP1" }. */
  servicePacks?: Record<string, string>;
  /** ISO date: end of free security updates (Windows 10/11: the Home and Pro editions of the release). */
  endOfSupport: string;
  /** ISO date: Enterprise and Education editions, when later than endOfSupport. */
  enterpriseEndOfSupport: string | null;
  /** ISO date: end of paid Extended Security Updates. */
  extendedSecurityUpdatesEnd: string | null;
  longTermEditions: LongTermEdition[];
  /** Ids of WormableVulnerability rows Microsoft lists for the product. */
  wormable: string[];
  source: string;
}

export interface WormableVulnerability {
  id: string;
  cves: string[];
  name: string;
  condition: WormCondition;
  summary: string;
  source: string;
}

export interface WindowsTable {
  description: string;
  releases: WindowsProduct[];
  vulnerabilities: WormableVulnerability[];
}

/** What a version may be: the client and the server candidate, either null when there is none. */
export interface WindowsRelease {
  major: number;
  minor: number;
  build: number;
  client: WindowsProduct | null;
  server: WindowsProduct | null;
  /** Display names of the candidates: "Windows 10 version 1607", "Windows Server 2016". */
  names: { client: string | null; server: string | null };
  /** "SP1" when the build is a service pack's. */
  servicePack: string | null;
  /** Releases built on this build by an enablement package (a host of one may announce the base build). */
  sameBase: WindowsProduct[];
  /** Wormable vulnerabilities of either candidate, with the kinds they apply to. */
  wormable: { vulnerability: WormableVulnerability; kinds: WindowsKind[] }[];
}

/** Windows 2000's build, the lowest a Windows NTLM VERSION carries. */
export const FIRST_WINDOWS_BUILD = 2195;

const CONDITIONS: readonly string[] = ["smb", "smbv1", "rdp", "smb311-compression"];
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const URL_IN_SOURCE = /\bhttps:\/\/[^\s;]+/;

function isIsoDate(v: unknown): boolean {
  if (typeof v !== "string" || !ISO_DATE.test(v)) return false;
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}

/**
 * Checks a parsed windows-builds.json and returns it typed; throws an Error listing every problem: each row
 * and vulnerability has a source with an https URL, dates are ISO (YYYY-MM-DD), builds are unique within a
 * kind, wormable ids and conditions are known.
 */
export function validateWindowsTable(raw: unknown): WindowsTable {
  const problems: string[] = [];
  const obj = (raw ?? {}) as Partial<WindowsTable>;
  if (typeof obj.description !== "string") problems.push("description missing");
  const releases = Array.isArray(obj.releases) ? obj.releases : [];
  const vulns = Array.isArray(obj.vulnerabilities) ? obj.vulnerabilities : [];
  if (releases.length === 0) problems.push("no releases");
  const vulnIds = new Set<string>();
  for (const [i, v] of vulns.entries()) {
    const at = `vulnerabilities[${i}] ${String(v.id)}`;
    if (typeof v.id !== "string" || v.id === "") problems.push(`${at}: id missing`);
    else if (vulnIds.has(v.id)) problems.push(`${at}: duplicate id`);
    else vulnIds.add(v.id);
    if (!Array.isArray(v.cves) || v.cves.length === 0 || !v.cves.every((c) => /^CVE-\d{4}-\d{4,}$/.test(c)))
      problems.push(`${at}: cves must be CVE ids`);
    if (!CONDITIONS.includes(v.condition)) problems.push(`${at}: unknown condition ${String(v.condition)}`);
    if (typeof v.source !== "string" || !URL_IN_SOURCE.test(v.source))
      problems.push(`${at}: source has no URL`);
  }
  const seen = new Map<string, string>();
  for (const [i, r] of releases.entries()) {
    const at = `releases[${i}] ${String(r.name)} ${String(r.release)}`;
    if (r.kind !== "client" && r.kind !== "server") problems.push(`${at}: kind must be client or server`);
    if (typeof r.name !== "string" || r.name === "") problems.push(`${at}: name missing`);
    if (!Number.isInteger(r.major) || !Number.isInteger(r.minor))
      problems.push(`${at}: major/minor not integers`);
    if (!Array.isArray(r.builds) || r.builds.length === 0) problems.push(`${at}: no builds`);
    for (const b of Array.isArray(r.builds) ? r.builds : []) {
      if (!Number.isInteger(b) || b < FIRST_WINDOWS_BUILD || b > 0xffff)
        problems.push(`${at}: bad build ${b}`);
      const key = `${r.kind} ${r.major}.${r.minor}.${b}`;
      const other = seen.get(key);
      if (other !== undefined) problems.push(`${at}: build ${key} also in ${other}`);
      seen.set(key, at);
    }
    if (!isIsoDate(r.endOfSupport)) problems.push(`${at}: endOfSupport not an ISO date`);
    for (const f of ["enterpriseEndOfSupport", "extendedSecurityUpdatesEnd"] as const) {
      if (r[f] !== null && !isIsoDate(r[f])) problems.push(`${at}: ${f} not an ISO date or null`);
    }
    if (!Array.isArray(r.longTermEditions)) problems.push(`${at}: longTermEditions not a list`);
    for (const e of Array.isArray(r.longTermEditions) ? r.longTermEditions : []) {
      if (!isIsoDate(e.endOfSupport)) problems.push(`${at}: ${e.name}: endOfSupport not an ISO date`);
      if (typeof e.source !== "string" || !URL_IN_SOURCE.test(e.source))
        problems.push(`${at}: ${e.name}: source has no URL`);
    }
    if (!Array.isArray(r.wormable)) problems.push(`${at}: wormable not a list`);
    for (const id of Array.isArray(r.wormable) ? r.wormable : []) {
      if (!vulnIds.has(id)) problems.push(`${at}: unknown wormable id ${id}`);
    }
    if (typeof r.source !== "string" || !URL_IN_SOURCE.test(r.source))
      problems.push(`${at}: source has no URL`);
  }
  if (problems.length > 0) throw new Error(`windows-builds.json: ${problems.join("; ")}`);
  return obj as WindowsTable;
}

let table: WindowsTable | null = null;

/** The table, read and validated on first use. */
export function windowsTable(): WindowsTable {
  table ??= validateWindowsTable(JSON.parse(readFileSync(join(dataDir(), "windows-builds.json"), "utf8")));
  return table;
}

/** A build number that Windows (2000 or later) may carry; Samba's 0 and other small numbers are not. */
export function isWindowsBuild(build: number): boolean {
  return Number.isInteger(build) && build >= FIRST_WINDOWS_BUILD && build <= 0xffff;
}

/** "Windows 10 version 22H2" for client releases, the product name for the rest. */
export function productName(p: WindowsProduct): string {
  return p.kind === "client" && p.release !== null ? `${p.name} version ${p.release}` : p.name;
}

/** The wormable vulnerability with this id, or null. */
export function wormableVulnerability(id: string): WormableVulnerability | null {
  return windowsTable().vulnerabilities.find((v) => v.id === id) ?? null;
}

function product(kind: WindowsKind, major: number, minor: number, build: number): WindowsProduct | null {
  return (
    windowsTable().releases.find(
      (r) => r.kind === kind && r.major === major && r.minor === minor && r.builds.includes(build),
    ) ?? null
  );
}

/**
 * The products a Windows version may be, or null when no row has this exact major.minor.build (not
 * Windows, a preview build, or a release newer than the table).
 */
export function windowsRelease(major: number, minor: number, build: number): WindowsRelease | null {
  if (!isWindowsBuild(build)) return null;
  const client = product("client", major, minor, build);
  const server = product("server", major, minor, build);
  if (client === null && server === null) return null;
  const sp = client?.servicePacks?.[String(build)] ?? server?.servicePacks?.[String(build)] ?? null;
  const sameBase = windowsTable().releases.filter(
    (r) => r.baseBuild === build && r.major === major && r.minor === minor,
  );
  const wormable: WindowsRelease["wormable"] = [];
  for (const p of [client, server]) {
    if (p === null) continue;
    for (const id of p.wormable) {
      const known = wormable.find((w) => w.vulnerability.id === id);
      if (known) known.kinds.push(p.kind);
      else {
        const vulnerability = wormableVulnerability(id);
        if (vulnerability) wormable.push({ vulnerability, kinds: [p.kind] });
      }
    }
  }
  return {
    major,
    minor,
    build,
    client,
    server,
    names: { client: client ? productName(client) : null, server: server ? productName(server) : null },
    servicePack: sp,
    sameBase,
    wormable,
  };
}

/**
 * The candidate that other evidence picks, or both when it says nothing: `kind` from kindFromServerType(),
 * nativeOsVersion() or the like.
 */
export function candidates(release: WindowsRelease, kind: WindowsKind | null): WindowsProduct[] {
  const both = [release.client, release.server].filter((p): p is WindowsProduct => p !== null);
  if (kind === null) return both;
  const chosen = both.filter((p) => p.kind === kind);
  return chosen.length > 0 ? chosen : both;
}

/** SV_TYPE_SERVER_NT, SV_TYPE_DOMAIN_CTRL, SV_TYPE_DOMAIN_BAKCTRL, SV_TYPE_NT ([MS-RAP] 2.5.5.2.1). */
const SV_TYPE_SERVER_NT = 0x8000;
const SV_TYPE_DOMAIN_CTRL = 0x8;
const SV_TYPE_DOMAIN_BAKCTRL = 0x10;
const SV_TYPE_NT = 0x1000;

/**
 * A browser announcement's ServerType as evidence of the kind: a Windows server (SV_TYPE_SERVER_NT or a
 * domain controller bit) or a Windows workstation (SV_TYPE_NT without those); null when not Windows NT.
 */
export function kindFromServerType(serverType: number): WindowsKind | null {
  if ((serverType & (SV_TYPE_SERVER_NT | SV_TYPE_DOMAIN_CTRL | SV_TYPE_DOMAIN_BAKCTRL)) !== 0)
    return "server";
  if ((serverType & SV_TYPE_NT) !== 0) return "client";
  return null;
}

/** What an SMB1 Native OS (or Native LAN Manager) string says. */
export interface NativeOs {
  family: "windows" | "samba" | "unix" | "other";
  /** From "Windows 5.1", or from the table by build and kind; null when unknown. */
  major: number | null;
  minor: number | null;
  build: number | null;
  /** "Service Pack 2" as written, or null. */
  servicePack: string | null;
  /** "server" when the string names a server product, "client" when it names another product; null for "Windows 5.1". */
  kind: WindowsKind | null;
}

const MAX_NATIVE_OS = 256;

/**
 * Parses an SMB1 Native OS string ([MS-CIFS] 2.2.4.53.2): "Windows 5.1" (XP), "Windows 5.0" (2000),
 * "Windows Server 2003 3790 Service Pack 2", "Windows 7 Professional 7601 Service Pack 1", "Unix", "Samba"
 * or "Samba 4.17.12-Debian". Give the Native LAN Manager string too when there is one: a Samba server
 * writes "Windows 6.1" as its Native OS and only "Samba 4.17.12-Debian" there (test/fixtures/os/smb1.pcap).
 * Null for an empty string.
 */
export function nativeOsVersion(text: string, nativeLanMan: string | null = null): NativeOs | null {
  const s = text.slice(0, MAX_NATIVE_OS).split("\u0000").join("").trim();
  if (s === "") return null;
  const none = { major: null, minor: null, build: null, servicePack: null, kind: null };
  if (/samba/i.test(s) || /samba/i.test((nativeLanMan ?? "").slice(0, MAX_NATIVE_OS)))
    return { family: "samba", ...none };
  if (/^unix\b/i.test(s)) return { family: "unix", ...none };
  if (!/^windows\b/i.test(s)) return { family: "other", ...none };
  const plain = /^windows\s+(\d+)\.(\d+)$/i.exec(s);
  if (plain) return { family: "windows", ...none, major: Number(plain[1]), minor: Number(plain[2]) };
  const kind: WindowsKind = /\bserver\b/i.test(s) ? "server" : "client";
  const sp = /\b(service pack\s+\d+)\s*$/i.exec(s);
  const rest = sp ? s.slice(0, sp.index).trim() : s;
  // The build is the last number before any service pack; product years (2003, 2008, 2016 ...) are below 2195.
  const num = /\b(\d{4,5})$/.exec(rest);
  const build = num && isWindowsBuild(Number(num[1])) ? Number(num[1]) : null;
  let major: number | null = null;
  let minor: number | null = null;
  const dotted = /\b(\d+)\.(\d+)$/.exec(rest);
  if (dotted) {
    major = Number(dotted[1]);
    minor = Number(dotted[2]);
  } else if (build !== null) {
    const row =
      windowsTable().releases.find((r) => r.kind === kind && r.builds.includes(build)) ??
      windowsTable().releases.find((r) => r.builds.includes(build));
    if (row) {
      major = row.major;
      minor = row.minor;
    }
  }
  return { family: "windows", major, minor, build, servicePack: sp?.[1] ?? null, kind };
}
