/**
 * SMB on TCP 445 and 139 (issue 11): what the first messages of a connection say of the two hosts. The
 * NEGOTIATE exchange names the dialects (SMB1 is a finding of its own) and the signing policy; the
 * SESSION_SETUP exchange carries NTLMSSP (decoded by ntlm.ts: Windows versions and computer names) and,
 * in SMB1, the NativeOS / NativeLanMan strings each side writes in clear.
 *
 * Framing: on 445, Direct TCP ([MS-SMB2] 2.1): a zero byte and a 24-bit big-endian length. On 139, the
 * NetBIOS session service (RFC 1002 §4.3): type, flags (bit 0 extends the 16-bit length to 17 bits) and
 * length. A session message (type 0x00) reads the same both ways as long as the NBSS flags' reserved bits
 * are zero, so one framer serves both; session request / responses and keepalives (0x81..0x85) are
 * skipped.
 *
 *   framing      SMB1 header ([MS-CIFS] 2.2.3.1)           SMB2 header ([MS-SMB2] 2.2.1)
 *   0 type       0  0xFF 'SMB'        14 SecurityFeatures  0  0xFE 'SMB'   12 Command (2)
 *   1 length(3)  4  Command           22 Reserved          4  StructureSize 64
 *                5  Status (4)        24 TID, PID, UID,    8  Status (4)   16 Flags (4): 0x1 response
 *                9  Flags: 0x80 reply    MID               64 the command's body; offsets count from 0
 *                10 Flags2: 0x8000 Unicode
 *                32 WordCount, Words, ByteCount, Bytes
 *
 * Bounded: of a message, only the header is looked at until its command is known; only NEGOTIATE and
 * SESSION_SETUP are collected, at most MAX_KEPT bytes of one (copied only when it straddles segments);
 * everything else (READ and WRITE payloads above all) is skipped by counting. The decoder stops (done)
 * once both sides' session setup is over: what follows is file traffic, often signed or encrypted, with
 * nothing more about the hosts (and names of files that are none of the sensor's business). A connection
 * picked up after its session setup would never get there, so each direction also stops after
 * MAX_MESSAGES messages or MAX_BYTES bytes. A gap ends the decoding: re-finding a message boundary in SMB
 * is guesswork, and the negotiation it follows is almost always in the first segments.
 *
 * Privacy: an SMB1 SESSION_SETUP_ANDX without extended security carries the account name and passwords in
 * its Bytes; they are stepped over, never decoded. NTLMSSP's secrets are never read (ntlm.ts).
 */
import type { AnomalyCode } from "../util/anomaly.js";
import type { Direction } from "../reassembly/types.js";
import {
  cleanName,
  decodeNtlmssp,
  findNtlmssp,
  type HostIssues,
  NTLMSSP_AUTHENTICATE,
  readText,
} from "./ntlm.js";
import type { HostStreamDecoder, HostStreamSink, NtlmEvent, SmbNegotiateEvent } from "./types.js";

/** The most of one NEGOTIATE or SESSION_SETUP collected: real ones are under 2 KiB (a Kerberos ticket, 4-8). */
export const SMB_MAX_KEPT = 16 * 1024;
/** Messages of a direction read before it stops: session setup takes 2-4 each way after NEGOTIATE. */
export const SMB_MAX_MESSAGES = 64;
/** Bytes of a direction read before it stops. */
export const SMB_MAX_BYTES = 1 << 20;

const SMB1_HEADER = 32;
const SMB2_HEADER = 64;

const SMB1_COM_NEGOTIATE = 0x72;
const SMB1_COM_SESSION_SETUP_ANDX = 0x73;
const SMB1_FLAGS_REPLY = 0x80;
const SMB1_FLAGS2_UNICODE = 0x8000;
/** [MS-CIFS] 2.2.4.52.2: NEGOTIATE_SECURITY_SIGNATURES_REQUIRED. */
const SMB1_SIGNATURES_REQUIRED = 0x08;

const SMB2_NEGOTIATE = 0x0000;
const SMB2_SESSION_SETUP = 0x0001;
const SMB2_FLAGS_SERVER_TO_REDIR = 0x00000001;
/** [MS-SMB2] 2.2.3: SMB2_NEGOTIATE_SIGNING_REQUIRED. */
const SMB2_SIGNING_REQUIRED = 0x02;
const SMB2_COMPRESSION_CAPABILITIES = 0x0003;

/** [MS-ERREF] 2.3.1: the server wants another SESSION_SETUP round trip. */
const STATUS_MORE_PROCESSING_REQUIRED = 0xc0000016;

/** Dialects and negotiate contexts read of one message: real clients offer at most a dozen of each. */
const MAX_DIALECTS = 64;
const MAX_CONTEXTS = 32;
const MAX_ALGORITHMS = 16;

const DIALECTS: Record<number, string> = {
  0x0202: "2.0.2",
  0x0210: "2.1",
  0x0300: "3.0",
  0x0302: "3.0.2",
  0x0311: "3.1.1",
};

/** [MS-SMB2] 2.2.3.1.3 CompressionAlgorithms. */
const COMPRESSION: Record<number, string> = {
  0x0001: "LZNT1",
  0x0002: "LZ77",
  0x0003: "LZ77+Huffman",
  0x0004: "Pattern_V1",
  0x0005: "LZ4",
};

/** The first NUL byte in [from, end), or end. Bounded: `buf` may be a whole capture buffer. */
function nulAt(buf: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) if (buf[i] === 0) return i;
  return end;
}

function hex4(n: number): string {
  return "0x" + n.toString(16).padStart(4, "0");
}

function u16(buf: Buffer, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8);
}

function u32(buf: Buffer, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

const enum State {
  Frame,
  Body,
  Skip,
}

class SmbDirection {
  state = State.Frame;
  readonly frame = Buffer.alloc(4);
  frameLength = 0;
  /** The message's declared length, and what is left to skip of it. */
  length = 0;
  remaining = 0;
  /** Body: collecting the first `want` bytes; `peek` while only the header is wanted. */
  want = 0;
  peek = true;
  kept: Buffer | null = null;
  keptLength = 0;
  messages = 0;
  bytes = 0;
  finished = false;
}

type Protocol = "smb1" | "smb2" | "other" | "not-smb";

/** The decoder of one TCP connection to port 445 or 139. */
export class SmbStreamDecoder implements HostStreamDecoder {
  private readonly dirs = [new SmbDirection(), new SmbDirection()];
  private stopped = false;
  private clientSetupDone = false;
  private serverSetupDone = false;
  /** The dialect strings of the last SMB1 NEGOTIATE request, to name the one the response picks. */
  private smb1Dialects: string[] | null = null;
  private tsMicros = 0;
  private readonly issues: HostIssues = (code: AnomalyCode, detail: string) =>
    this.sink.anomaly(code, detail);

  constructor(private readonly sink: HostStreamSink) {}

  get done(): boolean {
    return (
      this.stopped ||
      (this.clientSetupDone && this.serverSetupDone) ||
      (this.dirs[0]!.finished && this.dirs[1]!.finished)
    );
  }

  gap(): void {
    this.stopped = true;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    const d = this.dirs[dir]!;
    if (this.done || d.finished) return;
    this.tsMicros = tsMicros;
    d.bytes += end - start;
    let pos = start;
    while (pos < end && !this.done && !d.finished) {
      if (d.state === State.Frame) {
        const k = Math.min(end - pos, 4 - d.frameLength);
        buf.copy(d.frame, d.frameLength, pos, pos + k);
        d.frameLength += k;
        pos += k;
        if (d.frameLength === 4) this.framed(d);
      } else if (d.state === State.Skip) {
        const k = Math.min(end - pos, d.remaining);
        pos += k;
        d.remaining -= k;
      } else if (d.keptLength === 0 && end - pos >= d.want) {
        // The wanted prefix lies in this view: read it in place, no copy.
        if (this.collected(dir, d, buf, pos, pos + d.want)) continue; // now wants more: look again
        pos += d.want;
        d.remaining = d.length - d.want;
        d.state = State.Skip;
      } else {
        // It straddles views: copy it (at most SMB_MAX_KEPT, NEGOTIATE and SESSION_SETUP only).
        let kept = d.kept;
        if (kept === null || kept.length < d.want) {
          kept = Buffer.alloc(d.want);
          d.kept?.copy(kept, 0, 0, d.keptLength);
          d.kept = kept;
        }
        const k = Math.min(end - pos, d.want - d.keptLength);
        buf.copy(kept, d.keptLength, pos, pos + k);
        d.keptLength += k;
        pos += k;
        // Complete: decide (a peek that wants more grows the copy on the next bytes) or decode.
        if (d.keptLength === d.want && !this.collected(dir, d, kept, 0, d.keptLength)) {
          d.remaining = d.length - d.keptLength;
          d.state = State.Skip;
          d.kept = null;
          d.keptLength = 0;
        }
      }
      if (d.state === State.Skip && d.remaining === 0) d.state = State.Frame;
    }
    if (d.bytes >= SMB_MAX_BYTES) d.finished = true;
  }

  /** A complete framing header: a session message to read, a NetBIOS control packet to skip, or not SMB. */
  private framed(d: SmbDirection): void {
    const f = d.frame;
    d.frameLength = 0;
    if (f[0] === 0x00) {
      // [MS-SMB2] 2.1 StreamProtocolLength (24 bits); RFC 1002 §4.3.1 (flags bit 0 and 16 bits) reads the same.
      d.length = (f[1]! << 16) | (f[2]! << 8) | f[3]!;
      if (++d.messages > SMB_MAX_MESSAGES) {
        d.finished = true;
        return;
      }
      d.state = d.length === 0 ? State.Frame : State.Body;
      d.peek = true;
      d.want = Math.min(d.length, SMB2_HEADER);
      d.keptLength = 0;
      d.kept = null;
      return;
    }
    if (f[0]! >= 0x81 && f[0]! <= 0x85 && (f[1]! & 0xfe) === 0) {
      // RFC 1002 §4.3.2-4.3.7: session request, positive / negative response, retarget, keepalive.
      d.remaining = ((f[1]! & 1) << 16) | (f[2]! << 8) | f[3]!;
      d.state = d.remaining === 0 ? State.Frame : State.Skip;
      return;
    }
    this.notSmb(`framing type 0x${f[0]!.toString(16).padStart(2, "0")}`);
  }

  private notSmb(detail: string): void {
    this.sink.anomaly("hosts.smb-not-smb", detail);
    this.stopped = true;
  }

  /**
   * The `want` first bytes of the message are in [start, end). While peeking, decides from the header
   * whether to collect more (returns true, `want` raised) or to skip the message; otherwise decodes it.
   */
  private collected(dir: Direction, d: SmbDirection, buf: Buffer, start: number, end: number): boolean {
    const protocol = this.protocol(buf, start, end);
    if (d.peek) {
      d.peek = false;
      if (protocol === "not-smb") {
        this.notSmb(`a ${d.length}-byte message without an SMB protocol identifier`);
        return false;
      }
      if (protocol === "other" || !this.wanted(protocol, buf, start, end)) return false;
      const want = Math.min(d.length, SMB_MAX_KEPT);
      if (want > d.want) {
        d.want = want;
        return true;
      }
    }
    const truncated = d.length > end - start;
    if (protocol === "smb1") this.smb1(dir, buf, start, end, truncated);
    else if (protocol === "smb2") this.smb2(dir, buf, start, end, truncated);
    return false;
  }

  private protocol(buf: Buffer, start: number, end: number): Protocol {
    if (end - start < 4 || buf[start + 1] !== 0x53 || buf[start + 2] !== 0x4d || buf[start + 3] !== 0x42)
      return "not-smb";
    const p = buf[start]!;
    if (p === 0xff) return "smb1";
    if (p === 0xfe) return "smb2";
    // 0xFD transform (encrypted, [MS-SMB2] 2.2.41), 0xFC compression transform (2.2.42): skipped.
    return p === 0xfd || p === 0xfc ? "other" : "not-smb";
  }

  /** Whether the header names a command this decoder reads. */
  private wanted(protocol: "smb1" | "smb2", buf: Buffer, start: number, end: number): boolean {
    if (protocol === "smb1") {
      if (end - start < 5) return true; // too short: decoded (and reported) as it is
      const c = buf[start + 4];
      return c === SMB1_COM_NEGOTIATE || c === SMB1_COM_SESSION_SETUP_ANDX;
    }
    if (end - start < 14) return true;
    const c = u16(buf, start + 12);
    return c === SMB2_NEGOTIATE || c === SMB2_SESSION_SETUP;
  }

  private malformed(detail: string, truncated: boolean): void {
    this.sink.anomaly(
      "hosts.smb-malformed",
      truncated ? `${detail} (beyond the ${SMB_MAX_KEPT} bytes kept of the message)` : detail,
    );
  }

  // ── SMB1 ──────────────────────────────────────────────────────────────────────────────────────

  private smb1(dir: Direction, buf: Buffer, s: number, e: number, truncated: boolean): void {
    if (e - s < SMB1_HEADER + 3) return this.malformed(`SMB1 message of ${e - s} bytes`, truncated);
    const command = buf[s + 4]!;
    const status = u32(buf, s + 5);
    const reply = (buf[s + 9]! & SMB1_FLAGS_REPLY) !== 0;
    const unicode = (u16(buf, s + 10) & SMB1_FLAGS2_UNICODE) !== 0;
    // [MS-CIFS] 2.2.3.2-2.2.3.3: WordCount, Words (2 each), ByteCount, Bytes.
    const wc = buf[s + SMB1_HEADER]!;
    const words = s + SMB1_HEADER + 1;
    if (words + 2 * wc + 2 > e) return this.malformed(`SMB1 WordCount ${wc} leaves the message`, truncated);
    const bcc = u16(buf, words + 2 * wc);
    const bytes = words + 2 * wc + 2;
    let bytesEnd = bytes + bcc;
    if (bytesEnd > e) {
      this.malformed(`SMB1 ByteCount ${bcc} leaves the message`, truncated);
      bytesEnd = e;
    }
    const m = { dir, buf, s, wc, words, bytes, bytesEnd, unicode, status, truncated };
    if (command === SMB1_COM_NEGOTIATE) {
      if (reply) this.smb1NegotiateResponse(m);
      else this.smb1NegotiateRequest(m);
    } else if (command === SMB1_COM_SESSION_SETUP_ANDX) {
      if (reply) this.smb1SessionSetupResponse(m);
      else this.smb1SessionSetupRequest(m);
    }
  }

  /** [MS-CIFS] 2.2.4.52.1: Bytes are dialect strings, each 0x02 and a NUL-terminated OEM string. */
  private smb1NegotiateRequest(m: Smb1Message): void {
    const { buf, bytesEnd } = m;
    const dialects: string[] = [];
    let at = m.bytes;
    while (at < bytesEnd && dialects.length < MAX_DIALECTS) {
      if (buf[at] !== 0x02) {
        this.malformed(`SMB1 NEGOTIATE dialect BufferFormat 0x${buf[at]!.toString(16)}`, false);
        break;
      }
      const stop = nulAt(buf, at + 1, bytesEnd);
      dialects.push(
        cleanName(readText(buf, at + 1, stop, false), this.issues, "hosts.smb-string-too-long", "dialect") ??
          "",
      );
      at = stop + 1;
    }
    this.smb1Dialects = dialects;
    this.negotiate(m.dir, {
      smb: 1,
      request: true,
      dialects,
      capabilities: null,
      signingRequired: null,
      compression: [],
    });
  }

  /**
   * [MS-CIFS] 2.2.4.52.2: DialectIndex (word 0) into the request's list, 0xFFFF for none. WordCount 17
   * (NT LM 0.12) has SecurityMode (byte at 2) and Capabilities (at 19); 13 (LANMAN) and 1 (core) neither.
   */
  private smb1NegotiateResponse(m: Smb1Message): void {
    const { buf, words, wc } = m;
    if (wc === 0) return; // an error response
    const index = u16(buf, words);
    const dialects = index === 0xffff ? [] : [this.smb1Dialects?.[index] ?? `#${index}`];
    let capabilities: number | null = null;
    let signingRequired: boolean | null = null;
    if (wc === 17) {
      signingRequired = (buf[words + 2]! & SMB1_SIGNATURES_REQUIRED) !== 0;
      capabilities = u32(buf, words + 19);
    }
    this.negotiate(m.dir, {
      smb: 1,
      request: false,
      dialects,
      capabilities,
      signingRequired,
      compression: [],
    });
  }

  /**
   * [MS-SMB] 2.2.4.6.1 (extended security, WordCount 12): SecurityBlobLength at 14; Bytes: SecurityBlob,
   * Pad, NativeOS, NativeLanMan. [MS-CIFS] 2.2.4.53.1 (WordCount 13, NT LM 0.12): OEMPasswordLen at 14,
   * UnicodePasswordLen at 16; Bytes: OEMPassword, UnicodePassword, Pad, AccountName, PrimaryDomain,
   * NativeOS, NativeLanMan. WordCount 10 (LANMAN): PasswordLength at 14; Bytes: Password, AccountName,
   * PrimaryDomain, NativeOS, NativeLanMan. Passwords and AccountName are stepped over, never decoded.
   */
  private smb1SessionSetupRequest(m: Smb1Message): void {
    const { buf, words, wc } = m;
    if (wc === 12) {
      const blobEnd = this.blob(m, u16(buf, words + 14));
      if (blobEnd < 0) return;
      const ntlm = this.ntlmIn(m.dir, buf, m.bytes, blobEnd);
      this.clientSetupDone ||= ntlm === null || ntlm.message === NTLMSSP_AUTHENTICATE;
      const r = new Smb1Strings(this.issues, m, blobEnd);
      this.nativeOs(m.dir, true, r.next("NativeOS"), r.next("NativeLanMan"), null);
      return;
    }
    if (wc !== 13 && wc !== 10) return;
    this.clientSetupDone = true;
    const passwords = wc === 13 ? u16(buf, words + 14) + u16(buf, words + 16) : u16(buf, words + 14);
    const after = this.blob(m, passwords);
    if (after < 0) return;
    const r = new Smb1Strings(this.issues, m, after);
    r.skip(); // AccountName: a person's name, never kept
    const primaryDomain = r.next("PrimaryDomain");
    this.nativeOs(m.dir, true, r.next("NativeOS"), r.next("NativeLanMan"), primaryDomain);
  }

  /**
   * [MS-SMB] 2.2.4.6.2 (extended security, WordCount 4): SecurityBlobLength at 6; Bytes: SecurityBlob,
   * Pad, NativeOS, NativeLanMan (some servers add PrimaryDomain). [MS-CIFS] 2.2.4.53.2 (WordCount 3):
   * Bytes: Pad, NativeOS, NativeLanMan, PrimaryDomain. WordCount 0: an error.
   */
  private smb1SessionSetupResponse(m: Smb1Message): void {
    if (m.status !== STATUS_MORE_PROCESSING_REQUIRED) this.serverSetupDone = true;
    const { buf, words, wc } = m;
    let after = m.bytes;
    if (wc === 4) {
      after = this.blob(m, u16(buf, words + 6));
      if (after < 0) return;
      this.ntlmIn(m.dir, buf, m.bytes, after);
    } else if (wc !== 3) return;
    const r = new Smb1Strings(this.issues, m, after);
    this.nativeOs(m.dir, false, r.next("NativeOS"), r.next("NativeLanMan"), r.next("PrimaryDomain"));
  }

  /** The end of the first `length` bytes of Bytes, or -1 (reported) when they leave it. */
  private blob(m: Smb1Message, length: number): number {
    if (length > m.bytesEnd - m.bytes) {
      this.malformed(
        `SMB1 SESSION_SETUP_ANDX blob of ${length} bytes leaves the ${m.bytesEnd - m.bytes} of Bytes`,
        m.truncated,
      );
      return -1;
    }
    return m.bytes + length;
  }

  private nativeOs(
    dir: Direction,
    request: boolean,
    nativeOs: string | null,
    nativeLanMan: string | null,
    primaryDomain: string | null,
  ): void {
    if (nativeOs === null && nativeLanMan === null && primaryDomain === null) return;
    this.sink.event(
      { kind: "smb1-native-os", request, nativeOs, nativeLanMan, primaryDomain },
      dir,
      this.tsMicros,
    );
  }

  // ── SMB2/3 ────────────────────────────────────────────────────────────────────────────────────

  private smb2(dir: Direction, buf: Buffer, s: number, e: number, truncated: boolean): void {
    if (e - s < SMB2_HEADER) return this.malformed(`SMB2 message of ${e - s} bytes`, truncated);
    const status = u32(buf, s + 8);
    const command = u16(buf, s + 12);
    const reply = (u32(buf, s + 16) & SMB2_FLAGS_SERVER_TO_REDIR) !== 0;
    const b = s + SMB2_HEADER;
    if (command === SMB2_NEGOTIATE) {
      if (!reply) this.smb2NegotiateRequest(dir, buf, s, e, truncated);
      else if (status === 0) this.smb2NegotiateResponse(dir, buf, s, e, truncated);
      return;
    }
    // SESSION_SETUP.
    if (!reply) {
      // [MS-SMB2] 2.2.5: SecurityBufferOffset (2) at 12, SecurityBufferLength (2) at 14 of the body.
      if (e - b < 24) return this.malformed(`SMB2 SESSION_SETUP request body of ${e - b} bytes`, truncated);
      const blob = this.smb2Buffer(buf, s, e, u16(buf, b + 12), u16(buf, b + 14), truncated);
      const ntlm = blob === null ? null : this.ntlmIn(dir, buf, blob[0], blob[1]);
      this.clientSetupDone ||= ntlm === null || ntlm.message === NTLMSSP_AUTHENTICATE;
      return;
    }
    if (status !== STATUS_MORE_PROCESSING_REQUIRED) this.serverSetupDone = true;
    if (status !== 0 && status !== STATUS_MORE_PROCESSING_REQUIRED) return; // an error response (2.2.2)
    // [MS-SMB2] 2.2.6: SecurityBufferOffset (2) at 4, SecurityBufferLength (2) at 6 of the body.
    if (e - b < 8) return this.malformed(`SMB2 SESSION_SETUP response body of ${e - b} bytes`, truncated);
    const blob = this.smb2Buffer(buf, s, e, u16(buf, b + 4), u16(buf, b + 6), truncated);
    if (blob !== null) this.ntlmIn(dir, buf, blob[0], blob[1]);
  }

  /** A buffer given by an offset from the SMB2 header and a length, or null (reported) when it leaves the message. */
  private smb2Buffer(
    buf: Buffer,
    s: number,
    e: number,
    offset: number,
    length: number,
    truncated: boolean,
  ): [number, number] | null {
    if (length === 0) return null;
    if (offset > e - s || length > e - s - offset) {
      this.malformed(
        `SMB2 security buffer (offset ${offset}, length ${length}) leaves the message`,
        truncated,
      );
      return null;
    }
    return [s + offset, s + offset + length];
  }

  /**
   * [MS-SMB2] 2.2.3 body: StructureSize 36 (2), DialectCount (2) at 2, SecurityMode (2) at 4, Capabilities
   * (4) at 8, ClientGuid (16) at 12, NegotiateContextOffset (4) at 28, NegotiateContextCount (2) at 32,
   * Dialects (2 each) at 36. Contexts only when 3.1.1 is offered.
   */
  private smb2NegotiateRequest(dir: Direction, buf: Buffer, s: number, e: number, truncated: boolean): void {
    const b = s + SMB2_HEADER;
    if (e - b < 36) return this.malformed(`SMB2 NEGOTIATE request body of ${e - b} bytes`, truncated);
    const count = u16(buf, b + 2);
    const codes: number[] = [];
    for (let i = 0; i < count && i < MAX_DIALECTS; i++) {
      const at = b + 36 + 2 * i;
      if (at + 2 > e) {
        this.malformed(`SMB2 NEGOTIATE DialectCount ${count} leaves the message`, truncated);
        break;
      }
      codes.push(u16(buf, at));
    }
    const compression = codes.includes(0x0311)
      ? this.contexts(buf, s, e, u32(buf, b + 28), u16(buf, b + 32), truncated)
      : [];
    this.negotiate(dir, {
      smb: 2,
      request: true,
      dialects: codes.map((c) => DIALECTS[c] ?? hex4(c)),
      capabilities: u32(buf, b + 8),
      signingRequired: (u16(buf, b + 4) & SMB2_SIGNING_REQUIRED) !== 0,
      compression,
    });
  }

  /**
   * [MS-SMB2] 2.2.4 body: StructureSize 65 (2), SecurityMode (2) at 2, DialectRevision (2) at 4,
   * NegotiateContextCount (2) at 6, ServerGuid (16) at 8, Capabilities (4) at 24, ..., SecurityBufferOffset
   * (2) at 56, SecurityBufferLength (2) at 58, NegotiateContextOffset (4) at 60. The security buffer is
   * SPNEGO's list of mechanisms, no NTLMSSP yet.
   */
  private smb2NegotiateResponse(dir: Direction, buf: Buffer, s: number, e: number, truncated: boolean): void {
    const b = s + SMB2_HEADER;
    if (e - b < 64) return this.malformed(`SMB2 NEGOTIATE response body of ${e - b} bytes`, truncated);
    const dialect = u16(buf, b + 4);
    const compression =
      dialect === 0x0311 ? this.contexts(buf, s, e, u32(buf, b + 60), u16(buf, b + 6), truncated) : [];
    this.negotiate(dir, {
      smb: 2,
      request: false,
      dialects: [DIALECTS[dialect] ?? hex4(dialect)],
      capabilities: u32(buf, b + 24),
      signingRequired: (u16(buf, b + 2) & SMB2_SIGNING_REQUIRED) !== 0,
      compression,
    });
  }

  /**
   * [MS-SMB2] 2.2.3.1 NEGOTIATE_CONTEXTs from `offset` (from the header), each 8-byte aligned: ContextType
   * (2), DataLength (2), Reserved (4), Data. Of them, SMB2_COMPRESSION_CAPABILITIES (2.2.3.1.3):
   * CompressionAlgorithmCount (2), Padding (2), Flags (4), CompressionAlgorithms (2 each).
   */
  private contexts(
    buf: Buffer,
    s: number,
    e: number,
    offset: number,
    count: number,
    truncated: boolean,
  ): string[] {
    const names: string[] = [];
    let at = offset;
    for (let i = 0; i < count && i < MAX_CONTEXTS; i++) {
      if (at > e - s - 8) {
        this.malformed(`SMB2 negotiate context ${i} of ${count} leaves the message`, truncated);
        break;
      }
      const type = u16(buf, s + at);
      const length = u16(buf, s + at + 2);
      const data = at + 8;
      if (length > e - s - data) {
        this.malformed(`SMB2 negotiate context ${type} of ${length} bytes leaves the message`, truncated);
        break;
      }
      if (type === SMB2_COMPRESSION_CAPABILITIES && length >= 8) {
        const n = Math.min(u16(buf, s + data), (length - 8) >> 1, MAX_ALGORITHMS);
        for (let j = 0; j < n; j++) {
          const a = u16(buf, s + data + 8 + 2 * j);
          if (a !== 0) names.push(COMPRESSION[a] ?? hex4(a)); // 0: NONE
        }
      }
      at = (data + length + 7) & ~7;
    }
    return names;
  }

  // ── shared ────────────────────────────────────────────────────────────────────────────────────

  private negotiate(dir: Direction, e: Omit<SmbNegotiateEvent, "kind">): void {
    this.sink.event({ kind: "smb-negotiate", ...e }, dir, this.tsMicros);
  }

  /** NTLMSSP in a security blob, raw or wrapped in SPNEGO; reported as an event. */
  private ntlmIn(dir: Direction, buf: Buffer, start: number, end: number): NtlmEvent | null {
    const at = findNtlmssp(buf, start, end);
    if (at < 0) return null;
    const e = decodeNtlmssp(buf, at, end, "smb", this.issues);
    if (e !== null) this.sink.event(e, dir, this.tsMicros);
    return e;
  }
}

interface Smb1Message {
  dir: Direction;
  buf: Buffer;
  /** Where the SMB header starts: Unicode strings are aligned to 2 bytes from it ([MS-CIFS] 2.2.3.3). */
  s: number;
  wc: number;
  words: number;
  bytes: number;
  bytesEnd: number;
  unicode: boolean;
  status: number;
  truncated: boolean;
}

/**
 * The NUL-terminated strings of an SMB1 Bytes block in order ([MS-CIFS] 2.2.1.1 SMB_STRING): Unicode
 * (aligned to 2 bytes from the SMB header: a pad byte when needed) when Flags2 says so, else OEM. The last
 * may lack its terminator (it then ends with the Bytes).
 */
class Smb1Strings {
  private at: number;

  constructor(
    private readonly issues: HostIssues,
    private readonly m: Smb1Message,
    from: number,
  ) {
    this.at = from;
  }

  /** Bounds of the next string, or null past the end; moves past it. */
  private take(): [number, number] | null {
    const { buf, s, bytesEnd, unicode } = this.m;
    if (unicode && ((this.at - s) & 1) === 1) this.at++;
    if (this.at >= bytesEnd) return null;
    const start = this.at;
    let stop = bytesEnd;
    if (unicode) {
      for (let i = start; i + 1 < bytesEnd; i += 2)
        if (buf[i] === 0 && buf[i + 1] === 0) {
          stop = i;
          break;
        }
      this.at = stop === bytesEnd ? bytesEnd : stop + 2;
    } else {
      stop = nulAt(buf, start, bytesEnd);
      this.at = stop === bytesEnd ? bytesEnd : stop + 1;
    }
    return [start, stop];
  }

  skip(): void {
    this.take();
  }

  next(what: string): string | null {
    const r = this.take();
    if (r === null) return null;
    return cleanName(
      readText(this.m.buf, r[0], r[1], this.m.unicode),
      this.issues,
      "hosts.smb-string-too-long",
      what,
    );
  }
}
