/**
 * The guard's allow-list for host observations (issue 11; guard.ts holds the rest): each decoder event of
 * agent/hosts/types.ts rebuilt field by field, texts capped and stripped of control characters, lists
 * capped. Nothing else survives: a field a decoder added by mistake (an NTLM response, a user name, a
 * password) is dropped whatever its name. An event of unknown kind is dropped (null).
 */
import type { HostEvent, NtlmEvent } from "../hosts/types.js";

/** Longest text kept: host names are at most 255 (DNS), banners and headers are capped by their decoders. */
const MAX_TEXT = 200;
const MAX_LIST = 64;

/** Printable text, capped; null when absent, not a string, or empty once cleaned. */
function text(v: unknown): string | null {
  if (typeof v !== "string") return null;
  // C0 and C1 controls and DEL: a banner must not carry terminal escapes into a console or a log line;
  // format characters (bidi overrides, zero-width joiners) must not make a host name read as another.
  // eslint-disable-next-line no-control-regex
  const s = v.replace(/[\u0000-\u001f\u007f-\u009f]|\p{Cf}/gu, "").slice(0, MAX_TEXT);
  return s === "" ? null : s;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function int(v: unknown): number {
  return num(v) ?? 0;
}

function boolOrNull(v: unknown): boolean | null {
  return typeof v === "boolean" ? v : null;
}

function numbers(v: unknown): number[] {
  if (!Array.isArray(v)) return [];
  const out: number[] = [];
  for (const x of v.slice(0, MAX_LIST)) if (typeof x === "number" && Number.isFinite(x)) out.push(x);
  return out;
}

function texts(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const x of v.slice(0, MAX_LIST)) {
    const s = text(x);
    if (s !== null) out.push(s);
  }
  return out;
}

const CARRIERS = new Set(["smb", "http", "ldap", "dcerpc", "other"]);

function ntlm(r: Record<string, unknown>): NtlmEvent {
  const version = r.version as Record<string, unknown> | null;
  const target = r.target as Record<string, unknown> | null;
  const message = r.message === 2 ? 2 : r.message === 3 ? 3 : 1;
  return {
    kind: "ntlmssp",
    message,
    version:
      version && typeof version === "object"
        ? {
            major: int(version.major),
            minor: int(version.minor),
            build: int(version.build),
            revision: int(version.revision),
          }
        : null,
    flags: int(r.flags),
    target:
      target && typeof target === "object"
        ? {
            netbiosComputer: text(target.netbiosComputer),
            netbiosDomain: text(target.netbiosDomain),
            dnsComputer: text(target.dnsComputer),
            dnsDomain: text(target.dnsDomain),
            dnsTree: text(target.dnsTree),
          }
        : null,
    workstation: text(r.workstation),
    carrier: CARRIERS.has(r.carrier as string) ? (r.carrier as NtlmEvent["carrier"]) : "other",
  };
}

/** The allowed copy of a decoder event, or null for an unknown kind. */
export function hostEvent(v: unknown): HostEvent | null {
  if (typeof v !== "object" || v === null) return null;
  const r = v as Record<string, unknown>;
  switch (r.kind) {
    case "ntlmssp":
      return ntlm(r);
    case "smb-negotiate":
      return {
        kind: "smb-negotiate",
        smb: r.smb === 1 ? 1 : 2,
        request: r.request === true,
        dialects: texts(r.dialects),
        capabilities: num(r.capabilities),
        signingRequired: boolOrNull(r.signingRequired),
        compression: texts(r.compression),
      };
    case "smb1-native-os":
      return {
        kind: "smb1-native-os",
        request: r.request === true,
        nativeOs: text(r.nativeOs),
        nativeLanMan: text(r.nativeLanMan),
        primaryDomain: text(r.primaryDomain),
      };
    case "rdp-request":
      return {
        kind: "rdp-request",
        cookie: r.cookie === true,
        requestedProtocols: num(r.requestedProtocols),
      };
    case "rdp-confirm":
      return {
        kind: "rdp-confirm",
        selectedProtocol: num(r.selectedProtocol),
        flags: int(r.flags),
        failureCode: num(r.failureCode),
      };
    case "rdp-client-core":
      return {
        kind: "rdp-client-core",
        version: int(r.version),
        clientBuild: int(r.clientBuild),
        clientName: text(r.clientName),
      };
    case "rdp-server-core":
      return { kind: "rdp-server-core", version: int(r.version) };
    case "rfb-version":
      return { kind: "rfb-version", version: text(r.version) ?? "" };
    case "rfb-security":
      return { kind: "rfb-security", offered: numbers(r.offered) };
    case "rfb-chosen":
      return { kind: "rfb-chosen", type: int(r.type) };
    case "rfb-result":
      return { kind: "rfb-result", ok: r.ok === true };
    case "ftp-banner":
      return { kind: "ftp-banner", text: text(r.text) ?? "" };
    case "ftp-login":
      return { kind: "ftp-login", accepted: boolOrNull(r.accepted) };
    case "ftp-auth-tls":
      return { kind: "ftp-auth-tls" };
    case "telnet-banner":
      return { kind: "telnet-banner", text: text(r.text) ?? "" };
    case "telnet-login":
      return { kind: "telnet-login" };
    case "http-request":
      return { kind: "http-request", userAgent: text(r.userAgent) };
    case "http-response":
      return { kind: "http-response", server: text(r.server) };
    case "tls-start":
      return { kind: "tls-start" };
    case "tls-server":
      return {
        kind: "tls-server",
        protocol: text(r.protocol) ?? "",
        version: text(r.version),
        subject: text(r.subject),
        selfSigned: boolOrNull(r.selfSigned),
      };
    case "ssh-banner":
      return { kind: "ssh-banner", software: text(r.software) ?? "" };
    case "dhcp":
      return {
        kind: "dhcp",
        messageType: num(r.messageType),
        clientMac: text(r.clientMac),
        hostName: text(r.hostName),
        vendorClass: text(r.vendorClass),
        parameterRequestList: numbers(r.parameterRequestList),
        requestedAddress: text(r.requestedAddress),
        fqdn: text(r.fqdn),
      };
    case "browser":
      return {
        kind: "browser",
        opcode: int(r.opcode),
        serverName: text(r.serverName),
        osMajor: int(r.osMajor),
        osMinor: int(r.osMinor),
        serverType: int(r.serverType),
        comment: text(r.comment),
      };
    case "tcp-syn": {
      const family = r.family;
      return {
        kind: "tcp-syn",
        synAck: r.synAck === true,
        ttl: int(r.ttl),
        initialTtl: int(r.initialTtl),
        window: int(r.window),
        mss: num(r.mss),
        windowScale: num(r.windowScale),
        options: text(r.options) ?? "",
        family: family === "windows" || family === "unix" || family === "network" ? family : null,
      };
    }
    default:
      return null;
  }
}
