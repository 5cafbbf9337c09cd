/**
 * Byte builders for the NTLMSSP and SMB tests (issue 11): each structure laid out as [MS-NLMP],
 * [MS-CIFS], [MS-SMB] and [MS-SMB2] draw it, with only the fields the tests vary as parameters.
 */
import type { Direction } from "../../agent/reassembly/types.js";
import type { Chunk } from "./streams.js";

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export const utf16 = (s: string): Buffer => Buffer.from(s, "utf16le");

// ── NTLMSSP ([MS-NLMP] 2.2.1) ─────────────────────────────────────────────────────────────────────

export const SIG = Buffer.from("NTLMSSP\0", "latin1");
export const FLAG_UNICODE = 0x00000001;
export const FLAG_OEM = 0x00000002;
export const FLAG_TARGET_INFO = 0x00800000;
export const FLAG_VERSION = 0x02000000;

export interface Version {
  major: number;
  minor: number;
  build: number;
  revision: number;
}

export function versionBytes(v: Version | null): Buffer {
  if (v === null) return Buffer.alloc(8);
  return Buffer.concat([Buffer.from([v.major, v.minor]), u16(v.build), Buffer.from([0, 0, 0, v.revision])]);
}

/** Lays out a message: fixed part (with `fields` placeholders) then payloads, field offsets filled in. */
function message(fixed: Buffer, fields: { at: number; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [fixed];
  let offset = fixed.length;
  for (const f of fields) {
    fixed.writeUInt16LE(f.data.length, f.at);
    fixed.writeUInt16LE(f.data.length, f.at + 2);
    fixed.writeUInt32LE(f.data.length === 0 ? 0 : offset, f.at + 4);
    parts.push(f.data);
    offset += f.data.length;
  }
  return Buffer.concat(parts);
}

export function ntlmNegotiate(flags: number, version: Version | null = null): Buffer {
  const fixed = Buffer.alloc(40);
  SIG.copy(fixed, 0);
  fixed.writeUInt32LE(1, 8);
  fixed.writeUInt32LE(flags >>> 0, 12);
  versionBytes(version).copy(fixed, 32);
  return fixed;
}

export function avPairs(pairs: [number, string | Buffer][]): Buffer {
  return Buffer.concat([
    ...pairs.map(([id, v]) => {
      const value = typeof v === "string" ? utf16(v) : v;
      return Buffer.concat([u16(id), u16(value.length), value]);
    }),
    u16(0),
    u16(0),
  ]);
}

export function ntlmChallenge(
  flags: number,
  version: Version | null,
  targetInfo: Buffer,
  targetName = "DOM",
): Buffer {
  const fixed = Buffer.alloc(56);
  SIG.copy(fixed, 0);
  fixed.writeUInt32LE(2, 8);
  fixed.writeUInt32LE(flags >>> 0, 20);
  Buffer.from("0123456789abcdef", "hex").copy(fixed, 24);
  versionBytes(version).copy(fixed, 48);
  return message(fixed, [
    { at: 12, data: utf16(targetName) },
    { at: 40, data: targetInfo },
  ]);
}

export interface AuthenticateParts {
  flags: number;
  version?: Version | null;
  lm?: Buffer;
  nt?: Buffer;
  domain?: string;
  user?: string;
  workstation?: string | Buffer;
  sessionKey?: Buffer;
  mic?: Buffer;
}

export function ntlmAuthenticate(p: AuthenticateParts): Buffer {
  const unicode = (p.flags & FLAG_UNICODE) !== 0;
  const text = (s: string): Buffer => (unicode ? utf16(s) : Buffer.from(s, "latin1"));
  const fixed = Buffer.alloc(88);
  SIG.copy(fixed, 0);
  fixed.writeUInt32LE(3, 8);
  fixed.writeUInt32LE(p.flags >>> 0, 60);
  versionBytes(p.version ?? null).copy(fixed, 64);
  (p.mic ?? Buffer.alloc(16)).copy(fixed, 72);
  const ws = p.workstation ?? "";
  return message(fixed, [
    { at: 28, data: text(p.domain ?? "") },
    { at: 36, data: text(p.user ?? "") },
    { at: 44, data: typeof ws === "string" ? text(ws) : ws },
    { at: 12, data: p.lm ?? Buffer.alloc(0) },
    { at: 20, data: p.nt ?? Buffer.alloc(0) },
    { at: 52, data: p.sessionKey ?? Buffer.alloc(0) },
  ]);
}

/** A GSS-API / SPNEGO-looking wrapper (the decoders only look for the signature inside). */
export function spnego(token: Buffer): Buffer {
  const inner = Buffer.concat([Buffer.from([0x04, 0x82]), be16(token.length), token]);
  const oid = Buffer.from([0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
  const body = Buffer.concat([oid, Buffer.from([0xa0, 0x82]), be16(inner.length), inner]);
  return Buffer.concat([Buffer.from([0x60, 0x82]), be16(body.length), body]);
}

function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

// ── framing ([MS-SMB2] 2.1, RFC 1002 §4.3) ─────────────────────────────────────────────────────────

export function direct(msg: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(msg.length);
  return Buffer.concat([h, msg]);
}

/** A NetBIOS session packet: type and a 17-bit length. */
export function nbss(type: number, body: Buffer): Buffer {
  const h = Buffer.from([type, (body.length >> 16) & 1, (body.length >> 8) & 0xff, body.length & 0xff]);
  return Buffer.concat([h, body]);
}

// ── SMB1 ([MS-CIFS] 2.2.3.1) ──────────────────────────────────────────────────────────────────────

export interface Smb1Header {
  command: number;
  reply?: boolean;
  unicode?: boolean;
  status?: number;
}

export function smb1(h: Smb1Header, words: Buffer, bytes: Buffer): Buffer {
  const hdr = Buffer.alloc(32);
  hdr.writeUInt32BE(0xff534d42, 0);
  hdr[4] = h.command;
  hdr.writeUInt32LE(h.status ?? 0, 5);
  hdr[9] = h.reply ? 0x98 : 0x18;
  hdr.writeUInt16LE((h.unicode ? 0x8000 : 0) | 0x4801, 10);
  return Buffer.concat([hdr, Buffer.from([words.length / 2]), words, u16(bytes.length), bytes]);
}

export function smb1NegotiateRequest(dialects: string[]): Buffer {
  const bytes = Buffer.concat(
    dialects.map((d) => Buffer.concat([Buffer.from([2]), Buffer.from(d + "\0", "latin1")])),
  );
  return smb1({ command: 0x72 }, Buffer.alloc(0), bytes);
}

/** NT LM 0.12 response (WordCount 17). */
export function smb1NegotiateResponseNt(index: number, securityMode: number, capabilities: number): Buffer {
  const w = Buffer.alloc(34);
  w.writeUInt16LE(index, 0);
  w[2] = securityMode;
  w.writeUInt32LE(capabilities >>> 0, 19);
  w[33] = 0;
  return smb1({ command: 0x72, reply: true }, w, Buffer.alloc(16, 0x11));
}

/** LANMAN 2.1 response (WordCount 13). */
export function smb1NegotiateResponseLanman(index: number): Buffer {
  const w = Buffer.alloc(26);
  w.writeUInt16LE(index, 0);
  w.writeUInt16LE(3, 2);
  return smb1({ command: 0x72, reply: true }, w, Buffer.from("1122334455667788WORKGROUP\0", "latin1"));
}

/** SMB1 strings after `before` bytes of Bytes, with the pad byte that aligns Unicode to the header. */
function strings(before: Buffer, wordsLength: number, unicode: boolean, list: string[]): Buffer {
  const bytesAt = 32 + 1 + wordsLength + 2 + before.length;
  const pad = unicode && bytesAt % 2 === 1 ? Buffer.alloc(1) : Buffer.alloc(0);
  const enc = (s: string): Buffer => (unicode ? utf16(s + "\0") : Buffer.from(s + "\0", "latin1"));
  return Buffer.concat([before, pad, ...list.map(enc)]);
}

/** [MS-SMB] 2.2.4.6.1: extended security request (WordCount 12). */
export function smb1SessionSetupRequest(
  blob: Buffer,
  nativeOs: string,
  lanMan: string,
  unicode = true,
): Buffer {
  const w = Buffer.alloc(24);
  w[0] = 0xff;
  w.writeUInt16LE(blob.length, 14);
  w.writeUInt32LE(0x8000c05c, 20);
  return smb1({ command: 0x73, unicode }, w, strings(blob, w.length, unicode, [nativeOs, lanMan]));
}

/** [MS-SMB] 2.2.4.6.2: extended security response (WordCount 4). */
export function smb1SessionSetupResponse(
  blob: Buffer,
  nativeOs: string,
  lanMan: string,
  status: number,
  unicode = true,
): Buffer {
  const w = Buffer.alloc(8);
  w[0] = 0xff;
  w.writeUInt16LE(blob.length, 6);
  return smb1(
    { command: 0x73, reply: true, unicode, status },
    w,
    strings(blob, w.length, unicode, [nativeOs, lanMan]),
  );
}

/** [MS-CIFS] 2.2.4.53.1: NT LM 0.12 request without extended security (WordCount 13). */
export function smb1SessionSetupPlainRequest(
  oemPassword: Buffer,
  unicodePassword: Buffer,
  account: string,
  domain: string,
  nativeOs: string,
  lanMan: string,
  unicode = true,
): Buffer {
  const w = Buffer.alloc(26);
  w[0] = 0xff;
  w.writeUInt16LE(oemPassword.length, 14);
  w.writeUInt16LE(unicodePassword.length, 16);
  const before = Buffer.concat([oemPassword, unicodePassword]);
  return smb1(
    { command: 0x73, unicode },
    w,
    strings(before, w.length, unicode, [account, domain, nativeOs, lanMan]),
  );
}

/** [MS-CIFS] 2.2.4.53.2: response without extended security (WordCount 3). */
export function smb1SessionSetupPlainResponse(
  nativeOs: string,
  lanMan: string,
  domain: string,
  unicode = true,
): Buffer {
  const w = Buffer.alloc(6);
  w[0] = 0xff;
  return smb1(
    { command: 0x73, reply: true, unicode },
    w,
    strings(Buffer.alloc(0), w.length, unicode, [nativeOs, lanMan, domain]),
  );
}

// ── SMB2 ([MS-SMB2] 2.2.1) ────────────────────────────────────────────────────────────────────────

export function smb2(command: number, reply: boolean, status: number, body: Buffer): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0xfe534d42, 0);
  h.writeUInt16LE(64, 4);
  h.writeUInt32LE(status >>> 0, 8);
  h.writeUInt16LE(command, 12);
  h.writeUInt32LE(reply ? 1 : 0, 16);
  return Buffer.concat([h, body]);
}

/** [MS-SMB2] 2.2.3.1: a negotiate context. */
export function context(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), u32(0), data]);
}

/** [MS-SMB2] 2.2.3.1.3 SMB2_COMPRESSION_CAPABILITIES. */
export function compressionContext(algorithms: number[]): Buffer {
  return context(3, Buffer.concat([u16(algorithms.length), u16(0), u32(0), ...algorithms.map(u16)]));
}

/** Contexts placed 8-byte aligned from the header, starting at `offset` (itself aligned). */
function placeContexts(offset: number, contexts: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let at = offset;
  contexts.forEach((c, i) => {
    parts.push(c);
    at += c.length;
    if (i < contexts.length - 1 && at % 8 !== 0) {
      parts.push(Buffer.alloc(8 - (at % 8)));
      at += 8 - (at % 8);
    }
  });
  return Buffer.concat(parts);
}

export function smb2NegotiateRequest(
  dialects: number[],
  securityMode: number,
  capabilities: number,
  contexts: Buffer[] = [],
): Buffer {
  const b = Buffer.alloc(36);
  b.writeUInt16LE(36, 0);
  b.writeUInt16LE(dialects.length, 2);
  b.writeUInt16LE(securityMode, 4);
  b.writeUInt32LE(capabilities >>> 0, 8);
  const ds = Buffer.concat(dialects.map(u16));
  let end = 64 + 36 + ds.length;
  const pad = contexts.length > 0 && end % 8 !== 0 ? Buffer.alloc(8 - (end % 8)) : Buffer.alloc(0);
  end += pad.length;
  if (contexts.length > 0) {
    b.writeUInt32LE(end, 28);
    b.writeUInt16LE(contexts.length, 32);
  }
  return smb2(0, false, 0, Buffer.concat([b, ds, pad, placeContexts(end, contexts)]));
}

export function smb2NegotiateResponse(
  dialect: number,
  securityMode: number,
  capabilities: number,
  contexts: Buffer[] = [],
  securityBuffer: Buffer = spnego(Buffer.from("mechlist")),
): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt16LE(65, 0);
  b.writeUInt16LE(securityMode, 2);
  b.writeUInt16LE(dialect, 4);
  b.writeUInt32LE(capabilities >>> 0, 24);
  b.writeUInt16LE(128, 56);
  b.writeUInt16LE(securityBuffer.length, 58);
  let end = 128 + securityBuffer.length;
  const pad = contexts.length > 0 && end % 8 !== 0 ? Buffer.alloc(8 - (end % 8)) : Buffer.alloc(0);
  end += pad.length;
  if (contexts.length > 0) {
    b.writeUInt16LE(contexts.length, 6);
    b.writeUInt32LE(end, 60);
  }
  return smb2(0, true, 0, Buffer.concat([b, securityBuffer, pad, placeContexts(end, contexts)]));
}

export function smb2SessionSetupRequest(blob: Buffer): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt16LE(25, 0);
  b.writeUInt16LE(88, 12);
  b.writeUInt16LE(blob.length, 14);
  return smb2(1, false, 0, Buffer.concat([b, blob]));
}

export const STATUS_MORE_PROCESSING_REQUIRED = 0xc0000016;

export function smb2SessionSetupResponse(blob: Buffer, status: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(9, 0);
  b.writeUInt16LE(72, 4);
  b.writeUInt16LE(blob.length, 6);
  return smb2(1, true, status, Buffer.concat([b, blob]));
}

/** A conversation as chunks: each (dir, bytes) one chunk. */
export function chunks(...parts: [Direction, Buffer][]): Chunk[] {
  return parts.map(([dir, data], i) => ({ dir, data, tsMicros: 1000 + i }));
}
