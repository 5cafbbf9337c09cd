/**
 * What the inventory keeps of a host's system and remote-access services (issue 11), folded from host
 * observations (agent/hosts/ decoders through the pipeline): evidence of its operating system, the host
 * name it goes by, and the remote-access services it offers (as a server) or uses (as a client). os.ts
 * weighs the evidence into the device's `os`; record.ts publishes all three.
 *
 * Every list is capped: a host announces the same things again and again (each SMB session, each DHCP
 * renewal), so evidence is keyed by what it says and only its time moves.
 */
import type { HostObservation } from "../observations/types.js";
import type { HostEvent } from "../hosts/types.js";
import type { OsRecord } from "./os.js";
import { EMPTY_MAP } from "./device.js";

/** How much a signal says (issue 11, "Weigh the signals"). */
export type Strength = "strong" | "good" | "hint";

/** 0 the strongest. */
const STRENGTH_RANK: Record<Strength, number> = { strong: 0, good: 1, hint: 2 };

export type OsFamily = "windows" | "linux" | "macos" | "unix" | "android" | "network";

/** What one signal claims about the system. */
export interface OsClaim {
  family: OsFamily;
  /** Windows: the NT version (5.1, 6.1, 10.0); Linux: the kernel's. */
  major?: number;
  minor?: number;
  /** Windows build number. */
  build?: number;
  /** Says the system is a server edition (true), a client one (false), or nothing (absent). */
  server?: boolean;
  /** A product named by the signal itself (Samba's version, an SSH banner's distribution). */
  product?: string;
}

export interface OsEvidence {
  /** The signal: "ntlmssp", "smb1-native-os", "browser", "http-user-agent", "dhcp", "tcp-syn", ... */
  source: string;
  /** What it said, in words (no personal data: versions, names of software and of machines). */
  detail: string;
  strength: Strength;
  claim: OsClaim;
  first: number;
  last: number;
}

export type RemoteProtocol = "smb" | "rdp" | "vnc" | "ftp" | "telnet" | "ssh";

export interface RemoteService {
  protocol: RemoteProtocol;
  /** The server's port. */
  port: number;
  /** This host offers the service (server) or uses it (client). */
  role: "server" | "client";
  /** What protects it: "SMB1", "SMB 3.1.1", "standard" / "tls" / "nla" (RDP), "none" / "vnc-auth" (VNC), "cleartext", "tls". */
  security: string | null;
  /** A login crossed in clear (FTP USER/PASS, Telnet). */
  loginInClear: boolean;
  /** IP addresses of the other ends (capped). */
  peers: Set<string>;
  first: number;
  last: number;
}

/** Per host: pieces of OS evidence, remote-access services, peers listed per service (~3 kB at most). */
export const MAX_EVIDENCE = 12;
export const MAX_REMOTE = 8;
export const MAX_REMOTE_PEERS = 8;

export class HostState {
  readonly evidence = new Map<string, OsEvidence>();
  /** Made at the first service, like DeviceState's lazy collections: most hosts have none. */
  private remoteState: Map<string, RemoteService> | null = null;
  get remote(): ReadonlyMap<string, RemoteService> {
    return this.remoteState ?? EMPTY_MAP;
  }
  writableRemote(): Map<string, RemoteService> {
    return (this.remoteState ??= new Map());
  }
  hostName: string | null = null;
  /** Where the host name came from ("dhcp", "ntlmssp", "rdp", "browser", "tls"). */
  hostNameSource: string | null = null;
  /** The edition an SMB1 Native OS string named ("Professional"), or null. */
  edition: string | null = null;
  /** Grows with every change of the above: a rule judges a host again only when it moved. */
  revision = 0;
  /** The OS weighed at `revision` (record.ts): a record is built far more often than evidence changes. */
  osCache: { revision: number; os: OsRecord | null } | null = null;
}

/** Lower is weaker; equal ranks let the newer label stand (SMB 3.0 then 3.1.1). */
function securityRank(s: string): number {
  if (s === "none" || s === "SMB1" || s === "standard" || s === "cleartext") return 0;
  // TLS without more (RDP without NLA); SMB 3.1.1 with compression (SMBGhost's door).
  if (s === "tls" || s.includes("compression")) return 1;
  return 2;
}

/** Remote-access protocols by the well-known port of their server, for the client/server split. */
const PROTOCOL_OF_EVENT: Partial<Record<HostEvent["kind"], RemoteProtocol>> = {
  "smb-negotiate": "smb",
  "smb1-native-os": "smb",
  "rdp-request": "rdp",
  "rdp-confirm": "rdp",
  "rdp-client-core": "rdp",
  "rdp-server-core": "rdp",
  "rfb-version": "vnc",
  "rfb-security": "vnc",
  "rfb-chosen": "vnc",
  "rfb-result": "vnc",
  "ftp-banner": "ftp",
  "ftp-login": "ftp",
  "ftp-auth-tls": "ftp",
  "telnet-banner": "telnet",
  "telnet-login": "telnet",
  "ssh-banner": "ssh",
};

/** Names of RDP's security protocols ([MS-RDPBCGR] 2.2.1.2.1 selectedProtocol). */
export function rdpSecurity(selected: number | null): string {
  switch (selected) {
    case null:
    case 0:
      return "standard";
    case 1:
      return "tls";
    case 2:
      return "nla";
    case 4:
      return "rdstls";
    case 8:
      return "nla-ex";
    default:
      return `protocol ${selected}`;
  }
}

/** Names of RFB security types ([RFC 6143] 7.1.2, IANA "RFB Security Types"). */
export function rfbSecurity(type: number): string {
  switch (type) {
    case 1:
      return "none";
    case 2:
      return "vnc-auth";
    case 16:
      return "tight";
    case 18:
      return "tls";
    case 19:
      return "vencrypt";
    case 30:
    case 35:
      return "apple";
    default:
      return `type ${type}`;
  }
}

/**
 * The SMB dialect chosen as a security label: SMB1's are "SMB1", SMB2's "SMB 3.1.1" and so on, with
 * " with compression" when SMB 3.1.1 negotiated a compression context ([MS-SMB2] 2.2.4.1.3), which is
 * what CVE-2020-0796 (SMBGhost) needs. No dialect (0xFFFF, none acceptable) or a wildcard: null.
 */
function smbSecurity(smb: 1 | 2, dialect: string | undefined, compression: readonly string[]): string | null {
  if (dialect === undefined || dialect === "") return null;
  if (smb === 1) return dialect.startsWith("SMB 2") ? null : "SMB1";
  if (dialect.startsWith("0x")) return null;
  return compression.length > 0 ? `SMB ${dialect} with compression` : `SMB ${dialect}`;
}

/**
 * The services side of a host event: which service it belongs to and what it says of its security. `host`
 * is the event's sender; the service's server is the host when hostIsServer, else the peer.
 */
function service(o: HostObservation): { protocol: RemoteProtocol; update: Partial<RemoteService> } | null {
  const protocol = PROTOCOL_OF_EVENT[o.event.kind];
  if (protocol === undefined) return null;
  const e = o.event;
  switch (e.kind) {
    case "smb-negotiate":
      return e.request
        ? { protocol, update: {} }
        : { protocol, update: { security: smbSecurity(e.smb, e.dialects[0], e.compression) } };
    case "smb1-native-os":
      return { protocol, update: { security: "SMB1" } };
    case "rdp-confirm":
      return {
        protocol,
        update: {
          security:
            e.failureCode !== null ? `refused (code ${e.failureCode})` : rdpSecurity(e.selectedProtocol),
        },
      };
    case "rfb-chosen":
      return { protocol, update: { security: rfbSecurity(e.type) } };
    case "rfb-security":
      // Offered types: "none" among them means anyone may connect without a password.
      return { protocol, update: e.offered.includes(1) ? { security: "none" } : {} };
    case "ftp-login":
    case "telnet-login":
      return { protocol, update: { loginInClear: true, security: "cleartext" } };
    case "ftp-auth-tls":
      return { protocol, update: { security: "tls" } };
    case "ftp-banner":
    case "telnet-banner":
      return { protocol, update: {} };
    default:
      return { protocol, update: {} };
  }
}

/** Whether the event belongs to a remote-access service (so both ends of its connection are concerned). */
export function isServiceEvent(e: HostEvent): boolean {
  return PROTOCOL_OF_EVENT[e.kind] !== undefined;
}

/**
 * Folds a host observation's service part into `server` (the state of the service's server) and `client`
 * (its client's); either may be null (not a device of the inventory). Returns whether a published field
 * changed.
 */
export function foldService(o: HostObservation, server: HostState | null, client: HostState | null): boolean {
  const s = service(o);
  if (s === null) return false;
  const serverEp = o.hostIsServer ? o.host : o.peer;
  const clientEp = o.hostIsServer ? o.peer : o.host;
  if (serverEp === null) return false;
  let changed = false;
  if (server !== null)
    changed =
      upsert(server, s.protocol, serverEp.port, "server", s.update, clientEp?.ip ?? null, o.tsMicros) ||
      changed;
  if (client !== null)
    changed =
      upsert(client, s.protocol, serverEp.port, "client", s.update, serverEp.ip, o.tsMicros) || changed;
  return changed;
}

function upsert(
  h: HostState,
  protocol: RemoteProtocol,
  port: number,
  role: "server" | "client",
  update: Partial<RemoteService>,
  peer: string | null,
  ts: number,
): boolean {
  const key = `${protocol}/${port}/${role}`;
  let r = h.remote.get(key);
  let changed = false;
  if (!r) {
    if (h.remote.size >= MAX_REMOTE) return false;
    r = { protocol, port, role, security: null, loginInClear: false, peers: new Set(), first: ts, last: ts };
    h.writableRemote().set(key, r);
    changed = true;
  }
  if (ts > r.last) r.last = ts;
  if (ts < r.first) r.first = ts;
  // The weakest state seen is kept (VNC without a password, SMB1, Standard RDP Security, a login in clear):
  // one client that negotiates better does not make the server safe, and the findings judge the weakest.
  if (update.security !== undefined && update.security !== null && update.security !== r.security) {
    if (r.security === null || securityRank(update.security) <= securityRank(r.security)) {
      r.security = update.security;
      changed = true;
    }
  }
  if (update.loginInClear && !r.loginInClear) {
    r.loginInClear = true;
    changed = true;
  }
  if (peer !== null && !r.peers.has(peer) && r.peers.size < MAX_REMOTE_PEERS) {
    r.peers.add(peer);
    changed = true;
  }
  return changed;
}

/** Adds (or refreshes) one piece of OS evidence; true when it is new. */
export function addEvidence(h: HostState, e: Omit<OsEvidence, "first" | "last">, ts: number): boolean {
  const key = `${e.source}\u0000${e.detail}`;
  const cur = h.evidence.get(key);
  if (cur) {
    if (ts > cur.last) cur.last = ts;
    if (ts < cur.first) cur.first = ts;
    return false;
  }
  if (h.evidence.size >= MAX_EVIDENCE) {
    // Full: the weakest piece, the oldest among those, gives way to one at least as strong; a new piece
    // weaker than all held is not kept. A flood of hints can never push out an NTLM version.
    let victim: string | null = null;
    let victimRank = -1;
    let victimLast = Infinity;
    for (const [k, v] of h.evidence) {
      const r = STRENGTH_RANK[v.strength];
      if (r > victimRank || (r === victimRank && v.last < victimLast)) {
        victim = k;
        victimRank = r;
        victimLast = v.last;
      }
    }
    if (victim === null || STRENGTH_RANK[e.strength] > victimRank) return false;
    h.evidence.delete(victim);
  }
  h.evidence.set(key, { ...e, first: ts, last: ts });
  return true;
}

/** Sets the host name unless a better source already named it; true when it changed. */
export function setHostName(h: HostState, name: string | null, source: string): boolean {
  if (name === null) return false;
  const n = name.trim().replace(/\.$/, "");
  if (n === "" || n.length > 255) return false;
  const rank = (s: string | null): number => (s === null ? 0 : (HOST_NAME_RANK[s] ?? 1));
  if (h.hostName === n) return false;
  if (h.hostName !== null && rank(source) < rank(h.hostNameSource)) return false;
  h.hostName = n;
  h.hostNameSource = source;
  return true;
}

/** Which source's host name wins: a DNS name from NTLM or DHCP's FQDN over a NetBIOS name. */
const HOST_NAME_RANK: Record<string, number> = {
  "ntlmssp-dns": 5,
  "dhcp-fqdn": 5,
  dhcp: 4,
  "tls-certificate": 3,
  ntlmssp: 3,
  browser: 2,
  rdp: 2,
};
