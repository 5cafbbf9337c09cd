/**
 * NTLMSSP ([MS-NLMP] 2.2.1): what the three messages of an NTLM authentication say about the two hosts,
 * wherever the messages travel (SMB session setup, LDAP SASL bind, DCE/RPC auth verifiers, HTTP).
 *
 * Read: the NegotiateFlags, the VERSION structure (the sender's Windows major.minor and build, [MS-NLMP]
 * 2.2.2.10) when flag NTLMSSP_NEGOTIATE_VERSION says it is there, the server's names in CHALLENGE's
 * TargetInfo (2.2.2.1 AV_PAIRs) and the client computer's name in AUTHENTICATE's Workstation field.
 *
 * Privacy (DESIGN.md principle 2, types.ts): of an AUTHENTICATE, the LmChallengeResponse,
 * NtChallengeResponse, DomainName, UserName, EncryptedRandomSessionKey and MIC are never read: their
 * fields are not even looked at, so no string, detail or anomaly can quote them.
 *
 * Every offset and length a peer declares is checked against the message bounds before a read; a message
 * that breaks a bound is reported (hosts.ntlm-malformed) and what could be read is kept. Nothing throws.
 *
 *   All NTLMSSP messages                       NEGOTIATE (1)          CHALLENGE (2)              AUTHENTICATE (3)
 *   0  Signature "NTLMSSP\0" (8)               12 NegotiateFlags      12 TargetNameFields (8)    12 LmChallengeResponseFields
 *   8  MessageType (4, LE)                     16 DomainNameFields    20 NegotiateFlags          20 NtChallengeResponseFields
 *                                              24 WorkstationFields   24 ServerChallenge (8)     28 DomainNameFields
 *   a field: Len (2) MaxLen (2) Offset (4),    32 VERSION             32 Reserved (8)            36 UserNameFields
 *   Offset from the signature's first byte                            40 TargetInfoFields        44 WorkstationFields
 *                                                                     48 VERSION                 52 EncryptedRandomSessionKeyFields
 *                                                                                                60 NegotiateFlags
 *                                                                                                64 VERSION, 72 MIC (16)
 */
import type { AnomalyCode } from "../util/anomaly.js";
import type { Direction } from "../reassembly/types.js";
import type { HostStreamDecoder, HostStreamSink, NtlmEvent, NtlmVersion } from "./types.js";

/** Receives what breaks a rule; the caller adds the flow. */
export type HostIssues = (code: AnomalyCode, detail: string) => void;

export const NTLMSSP_SIGNATURE = Buffer.from("NTLMSSP\0", "latin1");

export const NTLMSSP_NEGOTIATE = 1;
export const NTLMSSP_CHALLENGE = 2;
export const NTLMSSP_AUTHENTICATE = 3;

// NegotiateFlags ([MS-NLMP] 2.2.2.5).
/** Flag A: strings are UTF-16LE; else OEM (flag B). */
export const NTLMSSP_NEGOTIATE_UNICODE = 0x00000001;
/** Flag V: the VERSION structure is present (else its 8 bytes are absent or zero and must be ignored). */
export const NTLMSSP_NEGOTIATE_VERSION = 0x02000000;

/** Names longer than this are not kept (NetBIOS names are 15 characters, DNS names 255, RFC 1035 §2.3.4). */
export const MAX_NAME_CHARS = 256;
/** AV pairs walked in one TargetInfo: a real one has about ten (2.2.2.1 defines eleven AvIds). */
const MAX_AV_PAIRS = 64;

// Fixed header sizes up to and including VERSION, and where VERSION sits (2.2.1.1-2.2.1.3).
const NEGOTIATE_FIXED = 16;
const NEGOTIATE_VERSION_AT = 32;
const CHALLENGE_FIXED = 48;
const CHALLENGE_VERSION_AT = 48;
const AUTHENTICATE_FIXED = 64;
const AUTHENTICATE_VERSION_AT = 64;
const VERSION_LENGTH = 8;

// AvIds of the names (2.2.2.1).
const MSV_AV_EOL = 0;
const MSV_AV_NB_COMPUTER_NAME = 1;
const MSV_AV_NB_DOMAIN_NAME = 2;
const MSV_AV_DNS_COMPUTER_NAME = 3;
const MSV_AV_DNS_DOMAIN_NAME = 4;
const MSV_AV_DNS_TREE_NAME = 5;

// eslint-disable-next-line no-control-regex -- stripping control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A host name or system string as kept: control characters stripped (they would corrupt a log line or a
 * console), unpaired surrogates replaced, blank as null, longer than MAX_NAME_CHARS refused (null and
 * `code` reported): a name that long is no name, and an event's size stays bounded.
 */
export function cleanName(
  raw: string,
  issues: HostIssues | null,
  code: "hosts.ntlm-name-too-long" | "hosts.smb-string-too-long",
  what: string,
): string | null {
  if (raw.length > MAX_NAME_CHARS) {
    issues?.(code, `${what}: more than ${MAX_NAME_CHARS} characters`);
    return null;
  }
  const s = raw.replace(CONTROL_CHARS, "").replace(LONE_SURROGATE, "\ufffd").trim();
  return s.length === 0 ? null : s;
}

/**
 * A fixed-length string of [start, end): UTF-16LE (an odd last byte dropped) or OEM. The OEM code page is
 * not known on the wire, so OEM bytes are read as Latin-1, which maps every byte to one character.
 * At most MAX_NAME_CHARS + 1 characters are decoded, so a huge field costs nothing.
 */
export function readText(buf: Buffer, start: number, end: number, unicode: boolean): string {
  const cap = (MAX_NAME_CHARS + 1) * (unicode ? 2 : 1);
  let stop = Math.min(end, start + cap);
  if (unicode) stop -= (stop - start) & 1;
  return buf.toString(unicode ? "utf16le" : "latin1", start, stop);
}

function u16(buf: Buffer, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8);
}

function u32(buf: Buffer, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/**
 * Where the NTLMSSP signature starts in [start, end), or -1. For carriers that wrap NTLMSSP in SPNEGO /
 * GSS-API ASN.1 (an SMB security blob, an LDAP SASL bind, a DCE/RPC auth verifier): rather than walk the
 * DER, look for the 8-byte signature. That is safe: the scan is bounded by `end` and linear, a false match
 * inside other bytes is vanishingly unlikely (8 fixed bytes, one of them NUL), and whatever is found is
 * then decoded with every field checked against the bounds, so a false match yields at worst an anomaly.
 */
export function findNtlmssp(buf: Buffer, start: number, end: number): number {
  const s = Math.max(0, start);
  const e = Math.min(end, buf.length);
  if (e - s < NTLMSSP_SIGNATURE.length) return -1;
  const at = buf.subarray(s, e).indexOf(NTLMSSP_SIGNATURE);
  return at < 0 ? -1 : s + at;
}

/** A message field ([MS-NLMP] 2.2.1: Len, MaxLen, BufferOffset) as absolute bounds, or null if it leaves the message. */
function field(
  buf: Buffer,
  msg: number,
  at: number,
  end: number,
  issues: HostIssues | null,
  what: string,
): { start: number; end: number } | null {
  const len = u16(buf, at);
  const off = u32(buf, at + 4);
  if (len === 0) return { start: msg, end: msg };
  if (off > end - msg || len > end - msg - off) {
    issues?.(
      "hosts.ntlm-malformed",
      `${what} field (offset ${off}, length ${len}) leaves the ${end - msg}-byte message`,
    );
    return null;
  }
  return { start: msg + off, end: msg + off + len };
}

function version(buf: Buffer, at: number): NtlmVersion {
  return { major: buf[at]!, minor: buf[at + 1]!, build: u16(buf, at + 2), revision: buf[at + 7]! };
}

/**
 * How many bytes from `at` decodeNtlmssp reads of the message that starts there: the fixed header (with
 * VERSION when flagged) and, for CHALLENGE and AUTHENTICATE, the end of the one payload field it decodes.
 * While the header is incomplete, the smallest header that could tell more. NaN when the bytes at `at`
 * are not the start of an NTLMSSP message of a known type. For stream scanners that wait for the rest.
 */
export function ntlmsspNeeds(buf: Buffer, at: number, end: number): number {
  const have = end - at;
  if (have < 12) return 12;
  if (findNtlmssp(buf, at, at + 8) !== at) return NaN;
  const type = u32(buf, 8 + at);
  const fixed =
    type === NTLMSSP_NEGOTIATE
      ? NEGOTIATE_FIXED
      : type === NTLMSSP_CHALLENGE
        ? CHALLENGE_FIXED
        : type === NTLMSSP_AUTHENTICATE
          ? AUTHENTICATE_FIXED
          : NaN;
  if (Number.isNaN(fixed) || have < fixed) return fixed;
  const flagsAt = type === NTLMSSP_NEGOTIATE ? 12 : type === NTLMSSP_CHALLENGE ? 20 : 60;
  const versionAt =
    type === NTLMSSP_NEGOTIATE
      ? NEGOTIATE_VERSION_AT
      : type === NTLMSSP_CHALLENGE
        ? CHALLENGE_VERSION_AT
        : AUTHENTICATE_VERSION_AT;
  let need = u32(buf, at + flagsAt) & NTLMSSP_NEGOTIATE_VERSION ? versionAt + VERSION_LENGTH : fixed;
  const payloadAt = type === NTLMSSP_CHALLENGE ? 40 : type === NTLMSSP_AUTHENTICATE ? 44 : -1;
  if (payloadAt >= 0) {
    const len = u16(buf, at + payloadAt);
    if (len > 0) need = Math.max(need, u32(buf, at + payloadAt + 4) + len);
  }
  return need;
}

/**
 * Decodes the NTLMSSP message whose signature is at `start`, bounded by `end` (the carrier's bounds of the
 * token). Null when there is no signature at `start`, the message is shorter than its fixed header, or
 * its type is unknown (reported).
 */
export function decodeNtlmssp(
  buf: Buffer,
  start: number,
  end: number,
  carrier: NtlmEvent["carrier"],
  issues: HostIssues | null = null,
): NtlmEvent | null {
  end = Math.min(end, buf.length);
  if (start < 0 || findNtlmssp(buf, start, start + 8) !== start || end - start < 12) return null;
  const type = u32(buf, start + 8);
  const have = end - start;
  if (type === NTLMSSP_NEGOTIATE) {
    if (have < NEGOTIATE_FIXED) return truncated(issues, "NEGOTIATE", have);
    const flags = u32(buf, start + 12);
    return event(1, flags, versionIf(buf, start, end, flags, NEGOTIATE_VERSION_AT), null, null, carrier);
  }
  if (type === NTLMSSP_CHALLENGE) {
    if (have < CHALLENGE_FIXED) return truncated(issues, "CHALLENGE", have);
    const flags = u32(buf, start + 20);
    const info = field(buf, start, start + 40, end, issues, "TargetInfo");
    const target = info === null ? null : targetInfo(buf, info.start, info.end, issues);
    return event(2, flags, versionIf(buf, start, end, flags, CHALLENGE_VERSION_AT), target, null, carrier);
  }
  if (type === NTLMSSP_AUTHENTICATE) {
    if (have < AUTHENTICATE_FIXED) return truncated(issues, "AUTHENTICATE", have);
    const flags = u32(buf, start + 60);
    // Only the Workstation field (offset 44) is read: the responses, user and domain names, session key
    // and MIC stay where they are (privacy, see the file comment).
    const ws = field(buf, start, start + 44, end, issues, "Workstation");
    const workstation =
      ws === null || ws.start === ws.end
        ? null
        : cleanName(
            readText(buf, ws.start, ws.end, (flags & NTLMSSP_NEGOTIATE_UNICODE) !== 0),
            issues,
            "hosts.ntlm-name-too-long",
            "Workstation",
          );
    return event(
      3,
      flags,
      versionIf(buf, start, end, flags, AUTHENTICATE_VERSION_AT),
      null,
      workstation,
      carrier,
    );
  }
  issues?.("hosts.ntlm-malformed", `unknown NTLMSSP MessageType ${type}`);
  return null;
}

function truncated(issues: HostIssues | null, what: string, have: number): null {
  issues?.("hosts.ntlm-malformed", `${what} of ${have} bytes, shorter than its fixed header`);
  return null;
}

/** VERSION when flag V is set and the message holds it (an old sender may set V without room for it). */
function versionIf(buf: Buffer, start: number, end: number, flags: number, at: number): NtlmVersion | null {
  if ((flags & NTLMSSP_NEGOTIATE_VERSION) === 0 || end - start < at + VERSION_LENGTH) return null;
  return version(buf, start + at);
}

function event(
  message: 1 | 2 | 3,
  flags: number,
  v: NtlmVersion | null,
  target: NtlmEvent["target"],
  workstation: string | null,
  carrier: NtlmEvent["carrier"],
): NtlmEvent {
  return { kind: "ntlmssp", message, version: v, flags, target, workstation, carrier };
}

/** CHALLENGE's TargetInfo: AV_PAIRs (AvId 2, AvLen 2, Value) up to MsvAvEOL; names are UTF-16LE (2.2.2.1). */
function targetInfo(
  buf: Buffer,
  start: number,
  end: number,
  issues: HostIssues | null,
): NonNullable<NtlmEvent["target"]> {
  const t: NonNullable<NtlmEvent["target"]> = {
    netbiosComputer: null,
    netbiosDomain: null,
    dnsComputer: null,
    dnsDomain: null,
    dnsTree: null,
  };
  let at = start;
  for (let n = 0; n < MAX_AV_PAIRS && end - at >= 4; n++) {
    const id = u16(buf, at);
    const len = u16(buf, at + 2);
    if (id === MSV_AV_EOL) return t;
    if (len > end - at - 4) {
      issues?.(
        "hosts.ntlm-malformed",
        `AV pair ${id} of ${len} bytes leaves the ${end - start}-byte TargetInfo`,
      );
      return t;
    }
    const name = (what: string): string | null =>
      cleanName(readText(buf, at + 4, at + 4 + len, true), issues, "hosts.ntlm-name-too-long", what);
    if (id === MSV_AV_NB_COMPUTER_NAME) t.netbiosComputer = name("MsvAvNbComputerName");
    else if (id === MSV_AV_NB_DOMAIN_NAME) t.netbiosDomain = name("MsvAvNbDomainName");
    else if (id === MSV_AV_DNS_COMPUTER_NAME) t.dnsComputer = name("MsvAvDnsComputerName");
    else if (id === MSV_AV_DNS_DOMAIN_NAME) t.dnsDomain = name("MsvAvDnsDomainName");
    else if (id === MSV_AV_DNS_TREE_NAME) t.dnsTree = name("MsvAvDnsTreeName");
    at += 4 + len;
  }
  return t;
}

/** Bytes of each direction scanned for NTLMSSP: authentication comes first in every carrier this serves. */
export const NTLM_SCAN_BUDGET = 64 * 1024;
/** The most a direction keeps of a message that straddles segments (a real CHALLENGE is a few hundred bytes). */
export const NTLM_TAIL_CAP = 4096;

class ScanDirection {
  /** Bytes of the direction consumed so far (against NTLM_SCAN_BUDGET). */
  scanned = 0;
  /** A copy of what straddles: a message's first bytes (pending) or up to 7 bytes that may begin a signature. */
  readonly tail = Buffer.alloc(NTLM_TAIL_CAP);
  tailLength = 0;
  pending = false;
}

/**
 * NTLMSSP found by its signature in the first NTLM_SCAN_BUDGET bytes of each direction of a TCP
 * connection whose carrier is not decoded itself (LDAP 389, DCE/RPC 135 and 49152+, a WinRM body).
 * A message that straddles segments is kept (copied, at most NTLM_TAIL_CAP bytes) until complete. Done
 * once an AUTHENTICATE has been seen (the exchange is over; what follows may be sealed) or both
 * directions have used their budget.
 */
export class NtlmStreamScanner implements HostStreamDecoder {
  private readonly dirs = [new ScanDirection(), new ScanDirection()];
  private authenticated = false;
  private tsMicros = 0;

  constructor(
    private readonly sink: HostStreamSink,
    private readonly carrier: NtlmEvent["carrier"],
  ) {}

  get done(): boolean {
    return this.authenticated || this.dirs.every((d) => d.scanned >= NTLM_SCAN_BUDGET);
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    const d = this.dirs[dir]!;
    if (this.done || d.scanned >= NTLM_SCAN_BUDGET) return;
    this.tsMicros = tsMicros;
    const limit = Math.min(end, start + (NTLM_SCAN_BUDGET - d.scanned));
    d.scanned += limit - start;
    let pos = start;
    if (d.tailLength > 0) pos = this.continueTail(dir, d, buf, start, limit);
    if (pos >= 0) this.scan(dir, d, buf, pos, limit);
  }

  gap(dir: Direction): void {
    // The scan needs no framing: drop what straddled the gap and go on looking.
    const d = this.dirs[dir]!;
    d.tailLength = 0;
    d.pending = false;
  }

  private issues = (code: AnomalyCode, detail: string): void => this.sink.anomaly(code, detail);

  /**
   * Completes what the tail holds with bytes of [start, limit). Returns where scanning of the new bytes
   * resumes, or -1 when they were all taken by a message still incomplete.
   */
  private continueTail(dir: Direction, d: ScanDirection, buf: Buffer, start: number, limit: number): number {
    if (!d.pending) {
      // Up to 7 bytes that may begin a signature: join them with at most 7 new bytes and look again.
      const k = Math.min(limit - start, NTLMSSP_SIGNATURE.length - 1);
      buf.copy(d.tail, d.tailLength, start, start + k);
      const old = d.tailLength;
      const p = findNtlmssp(d.tail, 0, old + k);
      if (p < 0 && start + k === limit && k < NTLMSSP_SIGNATURE.length - 1) {
        // Too few new bytes to tell: keep the last 7 of both and wait.
        const keep = Math.min(old + k, NTLMSSP_SIGNATURE.length - 1);
        d.tail.copy(d.tail, 0, old + k - keep, old + k);
        d.tailLength = keep;
        return -1;
      }
      d.tailLength = 0;
      if (p < 0 || p >= old) return start; // none straddled: a signature wholly in the new bytes is found there
      d.tail.copy(d.tail, 0, p, old + k);
      d.tailLength = old + k - p;
      d.pending = true;
      start += k;
    }
    let pos = start;
    for (;;) {
      const need = ntlmsspNeeds(d.tail, 0, d.tailLength);
      if (Number.isNaN(need) || need > NTLM_TAIL_CAP) {
        // Unknown type or a field beyond the cap: decode what is held (reports it), then scan on.
        this.emit(dir, d.tail, 0, d.tailLength);
        d.tailLength = 0;
        d.pending = false;
        return pos;
      }
      if (d.tailLength >= need) {
        this.emit(dir, d.tail, 0, d.tailLength);
        d.tailLength = 0;
        d.pending = false;
        return pos;
      }
      if (pos >= limit) return -1;
      const k = Math.min(limit - pos, need - d.tailLength);
      buf.copy(d.tail, d.tailLength, pos, pos + k);
      d.tailLength += k;
      pos += k;
    }
  }

  private scan(dir: Direction, d: ScanDirection, buf: Buffer, pos: number, limit: number): void {
    while (pos < limit && !this.authenticated) {
      const p = findNtlmssp(buf, pos, limit);
      if (p < 0) {
        // Keep the last 7 bytes: a signature may begin there and end in the next segment.
        const keep = Math.min(limit - pos, NTLMSSP_SIGNATURE.length - 1);
        buf.copy(d.tail, 0, limit - keep, limit);
        d.tailLength = keep;
        d.pending = false;
        return;
      }
      const need = ntlmsspNeeds(buf, p, limit);
      if (!Number.isNaN(need) && need <= NTLM_TAIL_CAP && p + need > limit) {
        buf.copy(d.tail, 0, p, limit);
        d.tailLength = limit - p;
        d.pending = true;
        return;
      }
      this.emit(dir, buf, p, limit);
      pos = p + NTLMSSP_SIGNATURE.length;
    }
  }

  private emit(dir: Direction, buf: Buffer, start: number, end: number): void {
    const e = decodeNtlmssp(buf, start, end, this.carrier, this.issues);
    if (e === null) return;
    this.sink.event(e, dir, this.tsMicros);
    if (e.message === NTLMSSP_AUTHENTICATE) this.authenticated = true;
  }
}
