/**
 * A device's operating system, weighed from the evidence its own packets carry (issue 11, "Weigh the
 * signals"):
 *
 *   strong  NTLMSSP VERSION (MS-NLMP 2.2.2.10), SMB1 Native OS ([MS-CIFS] 2.2.4.53.2)
 *   good    browser announcements ([MS-BRWS] 2.2), Microsoft-CryptoAPI user agents, an SSH banner
 *           naming a distribution
 *   hint    "Windows NT x.y" user agents (what the application claims), the RDP client build
 *           ([MS-RDPBCGR] 2.2.1.3.2: rdesktop and FreeRDP send fixed ones), DHCP vendor class, a SYN's
 *           initial TTL (changed by tuning, counted down by every hop), a web server's name
 *
 * SMB2 dialects are not used: Samba and Linux offer the same ones as Windows, so the dialect says nothing
 * of the family (it is kept as the SMB service's security, where it matters).
 *
 * The family is the one with the most weight (strong 9, good 3, hint 1, so one strong signal outweighs any
 * number of hints); the version comes from the most specific, then most recent, Windows claim. Signals of
 * another family with real weight are named in `conflicts` and lower the confidence. NTLM from Samba
 * (6.1 build 0) or Linux's SMB client (its kernel version, a tiny build) is not Windows: a build below
 * 2195, Windows 2000's, is never read as one.
 *
 * Whether a Windows build is a client or a server edition is not in its version (10.0.14393 is Windows 10
 * 1607 and Server 2016): an SMB1 Native OS naming "Server", or a browser announcement's server-type bits,
 * decide; without them both names are given and the later end of support stands, so no device is called
 * unsupported on a guess.
 */
import type { HostEvent } from "../hosts/types.js";
import type { HostState, OsClaim, OsEvidence, OsFamily, Strength } from "./host.js";
import { isoFromMicros } from "../util/time.js";
import {
  FIRST_WINDOWS_BUILD,
  isWindowsBuild,
  kindFromServerType,
  nativeOsVersion,
} from "../hosts/windows.js";

export type OsConfidence = "high" | "medium" | "low";

export interface WormableCve {
  /** The bulletin or first CVE naming it ("MS17-010", "CVE-2019-0708"). */
  id: string;
  /** Every CVE it covers. */
  cves: string[];
  name: string;
  /** What must be exposed for it to be reachable: "smbv1", "smb", "rdp", "smb311-compression". */
  condition: string;
  source: string;
}

export interface OsRecord {
  family: OsFamily;
  name: string | null;
  /** "6.1", "10.0", a kernel's "5.15"; null when only the family is known. */
  version: string | null;
  build: number | null;
  /** The edition the system named ("Professional", "Enterprise"), or null. */
  edition: string | null;
  /** True for a server edition, false for a client one, null when the evidence cannot tell. */
  server: boolean | null;
  confidence: OsConfidence;
  /** The evidence, strongest first; `time` is when each was first seen. */
  evidence: { source: string; detail: string; time: string }[];
  /**
   * The end of support of the product, read conservatively: the latest of its editions' (LTSC, Embedded,
   * paid extended updates), and of the later one when client and server cannot be told apart.
   */
  endOfSupport: string | null;
  /** Which edition ends when ("Windows 7: 2020-01-14; Windows Embedded POSReady 7: 2021-10-12"), or null. */
  supportNote: string | null;
  /** Wormable vulnerabilities the table ties to this version and build (patch level is not visible). */
  wormableCves: WormableCve[];
  /** Families other evidence pointed to, when it disagrees. */
  conflicts: OsFamily[];
  /** Other versions good or strong evidence of the same family named ("6.1" beside an NTLM 10.0). */
  versionConflicts: string[];
}

/** What the Windows table (data/windows-builds.json) answers for a version. */
export interface WindowsProduct {
  name: string;
  endOfSupport: string | null;
  supportNote: string | null;
  cves: WormableCve[];
}

/** The Windows table: the product of an NT version and build, as a client or a server edition. */
export interface WindowsLookup {
  product(major: number, minor: number, build: number | null, server: boolean): WindowsProduct | null;
}

const WEIGHT: Record<Strength, number> = { strong: 9, good: 3, hint: 1 };

/** Families a "unix" claim (a TTL of 64, an SMB client below Windows' builds) is compatible with. */
const UNIX_LIKE: ReadonlySet<OsFamily> = new Set(["unix", "linux", "macos", "android"]);

/** Whether two claims can be the same system: equal, or "unix" beside a Unix-like family. */
function compatible(a: OsFamily, b: OsFamily): boolean {
  return a === b || ((a === "unix" || b === "unix") && UNIX_LIKE.has(a) && UNIX_LIKE.has(b));
}
const STRENGTH_ORDER: Record<Strength, number> = { strong: 0, good: 1, hint: 2 };

/** The NT version of a Windows build number (RDP's client build carries only the build). */
export function ntVersionOfBuild(build: number): { major: number; minor: number } | null {
  if (build >= 10240) return { major: 10, minor: 0 };
  if (build >= 9600) return { major: 6, minor: 3 };
  if (build >= 9200) return { major: 6, minor: 2 };
  if (build >= 7600) return { major: 6, minor: 1 };
  if (build >= 6000) return { major: 6, minor: 0 };
  if (build >= 3790) return { major: 5, minor: 2 };
  if (build >= 2600) return { major: 5, minor: 1 };
  if (build >= FIRST_WINDOWS_BUILD) return { major: 5, minor: 0 };
  return null;
}

/**
 * An SMB1 Native OS string as evidence (hosts/windows.ts parses it). A Samba server writes "Windows 6.1"
 * there and names itself only in the Native LAN Manager string, which is why both are read.
 */
function nativeOsClaim(
  nativeOs: string,
  nativeLanMan: string | null,
): { claim: OsClaim; edition: string | null } | null {
  const n = nativeOsVersion(nativeOs, nativeLanMan);
  if (n === null || n.family === "other") return null;
  if (n.family !== "windows")
    return { claim: { family: "unix", product: n.family === "samba" ? "Samba" : "Unix" }, edition: null };
  const claim: OsClaim = { family: "windows" };
  if (n.major !== null) {
    claim.major = n.major;
    claim.minor = n.minor ?? 0;
  }
  if (n.build !== null) claim.build = n.build;
  if (n.kind !== null) claim.server = n.kind === "server";
  const edition =
    /\b(Professional|Enterprise|Ultimate|Home Premium|Home Basic|Home|Standard|Datacenter|Embedded|IoT|Education|Starter|Business|Web)\b/i.exec(
      nativeOs,
    );
  return { claim, edition: edition ? edition[1]! : null };
}

/**
 * What a User-Agent or Server header says, as the token that says it (never the whole header, which is
 * free text and may carry an account or tenant name). Microsoft-CryptoAPI/x.y is Windows' own certificate
 * fetcher, so its version is the system's: good. "Windows NT x.y" is what the application claims, often
 * hard-coded or capped at 6.2 without a manifest: a hint.
 */
function userAgentClaim(ua: string): { claim: OsClaim; strength: Strength; token: string } | null {
  const crypto = /Microsoft-CryptoAPI\/(\d+)\.(\d+)/.exec(ua);
  if (crypto)
    return {
      claim: { family: "windows", major: Number(crypto[1]), minor: Number(crypto[2]) },
      strength: "good",
      token: crypto[0],
    };
  const nt = /Windows NT (\d+)\.(\d+)/.exec(ua);
  if (nt)
    return {
      claim: { family: "windows", major: Number(nt[1]), minor: Number(nt[2]) },
      strength: "hint",
      token: nt[0],
    };
  const android = /Android/.exec(ua);
  if (android) return { claim: { family: "android" }, strength: "hint", token: android[0] };
  const mac = /Mac OS X|Darwin/.exec(ua);
  if (mac) return { claim: { family: "macos" }, strength: "hint", token: mac[0] };
  const linux = /Linux|Ubuntu|Debian|Red Hat|CentOS/.exec(ua);
  if (linux) return { claim: { family: "linux" }, strength: "hint", token: linux[0] };
  const iis = /Microsoft-IIS\/[\d.]+/.exec(ua);
  if (iis) return { claim: { family: "windows" }, strength: "hint", token: iis[0] };
  return null;
}

function dhcpClaim(vendorClass: string): OsClaim | null {
  if (/^MSFT/.test(vendorClass)) return { family: "windows" };
  if (/^android/i.test(vendorClass)) return { family: "android" };
  if (/linux|dhcpcd|udhcp/i.test(vendorClass)) return { family: "linux" };
  return null;
}

function sshClaim(software: string): { claim: OsClaim; strength: Strength } | null {
  const distro = /\b(Ubuntu|Debian|Raspbian|FreeBSD|Red Hat|RHEL|CentOS|Fedora)\b/i.exec(software);
  if (distro) {
    const d = distro[1]!;
    return { claim: { family: /bsd/i.test(d) ? "unix" : "linux", product: d }, strength: "good" };
  }
  if (/OpenSSH_for_Windows/i.test(software)) return { claim: { family: "windows" }, strength: "good" };
  if (/Cisco|ROSSSH|dropbear/i.test(software))
    return { claim: { family: /Cisco/i.test(software) ? "network" : "linux" }, strength: "hint" };
  return null;
}

/**
 * The OS evidence a host event is, for its sender (who sent it is in the observation): null for events
 * that say nothing about the system (a login, a security type).
 */
export function osEvidenceOf(
  e: HostEvent,
): { evidence: Omit<OsEvidence, "first" | "last">; edition?: string | null } | null {
  switch (e.kind) {
    case "ntlmssp": {
      const v = e.version;
      if (v === null) return null;
      const detail = `NTLMSSP ${["", "NEGOTIATE", "CHALLENGE", "AUTHENTICATE"][e.message]} version ${v.major}.${v.minor} build ${v.build}`;
      if (isWindowsBuild(v.build))
        return {
          evidence: {
            source: "ntlmssp",
            detail,
            strength: "strong",
            claim: { family: "windows", major: v.major, minor: v.minor, build: v.build },
          },
        };
      // Samba answers (and its client sends) 6.1 build 0; Linux's cifs client sends its kernel version:
      // not Windows, and not telling which of the two.
      return {
        evidence: {
          source: "ntlmssp",
          detail: `${detail} (below Windows 2000's build ${FIRST_WINDOWS_BUILD}: not Windows; Samba or a Linux client)`,
          strength: "good",
          claim: { family: "unix" },
        },
      };
    }
    case "smb1-native-os": {
      if (e.nativeOs === null) return null;
      const c = nativeOsClaim(e.nativeOs, e.nativeLanMan);
      if (c === null) return null;
      const lanman = e.nativeLanMan ? `, Native LAN Manager "${e.nativeLanMan}"` : "";
      return {
        evidence: {
          source: "smb1-native-os",
          detail: `SMB1 Native OS "${e.nativeOs}"${lanman}`,
          strength: "strong",
          claim: c.claim,
        },
        edition: c.edition,
      };
    }
    case "browser": {
      // A DomainAnnouncement's version bytes are its BrowserConfigVersion ([MS-BRWS] 2.2.4), not the OS.
      if (e.osMajor === 0 || e.opcode === 12) return null;
      // SV_TYPE_SERVER_UNIX ([MS-RAP] 2.5.5.2.1): Samba's nmbd announcing itself (as version 4.9 or so).
      if ((e.serverType & 0x800) !== 0)
        return {
          evidence: {
            source: "browser",
            detail: `browser announcement from a Unix server (type 0x${e.serverType.toString(16)})`,
            strength: "good",
            claim: { family: "unix", product: "Samba" },
          },
        };
      // SV_TYPE_SERVER_NT or a domain controller: a server edition; SV_TYPE_NT alone a workstation.
      const kind = kindFromServerType(e.serverType);
      const claim: OsClaim = { family: "windows", major: e.osMajor, minor: e.osMinor };
      if (kind !== null) claim.server = kind === "server";
      return {
        evidence: {
          source: "browser",
          detail: `browser announcement OS ${e.osMajor}.${e.osMinor}, server type 0x${e.serverType.toString(16)}`,
          strength: "good",
          claim,
        },
      };
    }
    case "http-request": {
      if (e.userAgent === null) return null;
      const c = userAgentClaim(e.userAgent);
      return (
        c && {
          evidence: {
            source: "http-user-agent",
            detail: `User-Agent ${c.token}`,
            strength: c.strength,
            claim: c.claim,
          },
        }
      );
    }
    case "http-response": {
      if (e.server === null) return null;
      const c = userAgentClaim(e.server);
      return (
        c && {
          evidence: { source: "http-server", detail: `Server ${c.token}`, strength: "hint", claim: c.claim },
        }
      );
    }
    case "rdp-client-core": {
      const v = ntVersionOfBuild(e.clientBuild);
      if (v === null) return null;
      return {
        evidence: {
          source: "rdp-client",
          detail: `RDP client build ${e.clientBuild}`,
          // rdesktop and FreeRDP send a fixed Windows build of their own choosing: only a hint.
          strength: "hint",
          claim: { family: "windows", major: v.major, minor: v.minor, build: e.clientBuild },
        },
      };
    }
    case "dhcp": {
      if (e.vendorClass === null) return null;
      const c = dhcpClaim(e.vendorClass);
      return (
        c && {
          evidence: {
            source: "dhcp",
            detail: `DHCP vendor class "${e.vendorClass}"`,
            strength: "hint",
            claim: c,
          },
        }
      );
    }
    case "ssh-banner": {
      const c = sshClaim(e.software);
      return (
        c && {
          evidence: {
            source: "ssh-banner",
            detail: `SSH "${e.software}"`,
            strength: c.strength,
            claim: c.claim,
          },
        }
      );
    }
    case "tcp-syn": {
      if (e.family === null) return null;
      const family: OsFamily = e.family;
      return {
        evidence: {
          source: "tcp-syn",
          detail: `${e.synAck ? "SYN/ACK" : "SYN"} initial TTL ${e.initialTtl}, window ${e.window}, options ${e.options || "none"}`,
          strength: "hint",
          claim: { family },
        },
      };
    }
    default:
      return null;
  }
}

/** The host name an event gives its sender, with its source (host.ts ranks sources). */
export function hostNameOf(e: HostEvent): { name: string; source: string } | null {
  switch (e.kind) {
    case "dhcp":
      if (e.fqdn) return { name: e.fqdn, source: "dhcp-fqdn" };
      return e.hostName ? { name: e.hostName, source: "dhcp" } : null;
    case "ntlmssp":
      if (e.message === 2 && e.target) {
        if (e.target.dnsComputer) return { name: e.target.dnsComputer, source: "ntlmssp-dns" };
        if (e.target.netbiosComputer) return { name: e.target.netbiosComputer, source: "ntlmssp" };
      }
      return e.message === 3 && e.workstation ? { name: e.workstation, source: "ntlmssp" } : null;
    case "browser":
      return e.serverName ? { name: e.serverName, source: "browser" } : null;
    case "rdp-client-core":
      return e.clientName ? { name: e.clientName, source: "rdp" } : null;
    case "tls-server": {
      const cn = e.subject ? /CN=([^,/]+)/.exec(e.subject) : null;
      return cn ? { name: cn[1]!.trim(), source: "tls-certificate" } : null;
    }
    default:
      return null;
  }
}

/** Specificity of a Windows claim: a build beats a version beats the family alone. */
function specificity(c: OsClaim): number {
  return c.build !== undefined ? 2 : c.major !== undefined ? 1 : 0;
}

/** The device's OS from its evidence, or null when there is none. */
export function inferOs(h: HostState, windows: WindowsLookup, edition: string | null): OsRecord | null {
  if (h.evidence.size === 0) return null;
  const weight = new Map<OsFamily, number>();
  for (const e of h.evidence.values())
    weight.set(e.claim.family, (weight.get(e.claim.family) ?? 0) + WEIGHT[e.strength]);
  // "unix" (a TTL of 64, Samba, a Linux SMB client) backs whichever Unix-like family the rest names.
  const unix = weight.get("unix") ?? 0;
  let family: OsFamily | null = null;
  let best = 0;
  for (const [f, own] of weight) {
    const w = own + (f !== "unix" && UNIX_LIKE.has(f) ? unix : 0);
    if (w > best || (w === best && family === "unix")) {
      best = w;
      family = f;
    }
  }
  if (family === null) return null;
  const chosen: OsFamily = family;
  const mine = [...h.evidence.values()].filter((e) => compatible(e.claim.family, chosen));
  // Other families with real weight (not a lone hint): the evidence disagrees.
  const conflicts = [...weight]
    .filter(([f, w]) => !compatible(f, chosen) && w >= WEIGHT.good)
    .map(([f]) => f);
  const strongest = Math.min(...mine.map((e) => STRENGTH_ORDER[e.strength]));
  let confidence: OsConfidence = strongest === 0 ? "high" : strongest === 1 ? "medium" : "low";
  if (conflicts.length > 0) confidence = confidence === "high" ? "medium" : "low";

  // The strongest claim, then the most specific, then the most recent.
  const versioned = mine
    .filter((e) => e.claim.major !== undefined)
    .sort(
      (a, b) =>
        STRENGTH_ORDER[a.strength] - STRENGTH_ORDER[b.strength] ||
        specificity(b.claim) - specificity(a.claim) ||
        b.last - a.last,
    );
  const top = versioned[0]?.claim;
  // Other versions that good or strong evidence of the same family names (an NTLM 10.0 beside a browser
  // announcement of 6.1): the version stands by the strongest, the disagreement is named and costs a notch.
  const versionOf = (c: OsClaim): string => `${c.major}.${c.minor ?? 0}`;
  const versionConflicts =
    top === undefined
      ? []
      : [
          ...new Set(
            versioned
              .filter((e) => e.strength !== "hint" && versionOf(e.claim) !== versionOf(top))
              .map((e) => versionOf(e.claim)),
          ),
        ];
  if (versionConflicts.length > 0 && conflicts.length === 0)
    confidence = confidence === "high" ? "medium" : "low";
  const serverVotes = mine.filter((e) => e.claim.server !== undefined);
  const server = serverVotes.length === 0 ? null : serverVotes.some((e) => e.claim.server === true);

  const evidence = [...h.evidence.values()]
    .sort((a, b) => STRENGTH_ORDER[a.strength] - STRENGTH_ORDER[b.strength] || b.last - a.last)
    .slice(0, 8)
    .map((e) => ({
      source: e.source,
      detail: !compatible(e.claim.family, chosen)
        ? `${e.detail} (disagrees: ${e.claim.family})`
        : e.strength !== "hint" &&
            e.claim.major !== undefined &&
            top !== undefined &&
            versionOf(e.claim) !== versionOf(top)
          ? `${e.detail} (disagrees: version ${versionOf(e.claim)})`
          : e.detail,
      time: isoFromMicros(e.first),
    }));

  const record: OsRecord = {
    family,
    name: null,
    version: top && top.major !== undefined ? `${top.major}.${top.minor ?? 0}` : null,
    build: top?.build ?? null,
    edition,
    server,
    confidence,
    evidence,
    endOfSupport: null,
    supportNote: null,
    wormableCves: [],
    conflicts,
    versionConflicts,
  };
  if (family === "windows") {
    if (top && top.major !== undefined) {
      const build = top.build ?? null;
      const as = (srv: boolean): WindowsProduct | null =>
        windows.product(top.major!, top.minor ?? 0, build, srv);
      if (server !== null) {
        const p = as(server);
        if (p)
          Object.assign(record, {
            name: p.name,
            endOfSupport: p.endOfSupport,
            supportNote: p.supportNote,
            wormableCves: p.cves,
          });
      } else {
        const c = as(false);
        const s = as(true);
        const both = [c, s].filter((p): p is WindowsProduct => p !== null);
        if (both.length === 1 || (c && s && c.name === s.name)) {
          const p = both[0]!;
          Object.assign(record, {
            name: p.name,
            endOfSupport: p.endOfSupport,
            supportNote: p.supportNote,
            wormableCves: p.cves,
          });
        } else if (c && s) {
          record.name = `${c.name} or ${s.name}`;
          record.supportNote = `${c.supportNote}; ${s.supportNote}`;
          // The later end of support: no device is called unsupported on a guess of its edition.
          record.endOfSupport = laterDate(c.endOfSupport, s.endOfSupport);
          const ids = new Set(s.cves.map((x) => x.id));
          record.wormableCves = c.cves.filter((x) => ids.has(x.id));
        }
      }
      if (record.name === null)
        record.name = `Windows NT ${record.version}${build !== null ? ` build ${build}` : ""}`;
    } else record.name = "Windows";
  } else {
    const product = mine.find((e) => e.claim.product !== undefined)?.claim.product;
    record.name = product ?? FAMILY_NAME[family];
  }
  return record;
}

const FAMILY_NAME: Record<OsFamily, string> = {
  windows: "Windows",
  linux: "Linux",
  macos: "macOS",
  unix: "Unix",
  android: "Android",
  network: "network device",
};

/** The later of two ISO dates; null (no end known) wins, as "still supported". */
function laterDate(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return null;
  return a > b ? a : b;
}
