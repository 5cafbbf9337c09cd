/**
 * Browser announcements ([MS-BRWS] 2.2) on UDP 138: the OS version, server type and comment a Windows
 * (or Samba) host broadcasts every few minutes, nested four deep:
 *
 *   NetBIOS datagram (RFC 1002 §4.4.1) ─► SMB1 header ([MS-CIFS] 2.2.3.1)
 *     ─► SMB_COM_TRANSACTION request ([MS-CIFS] 2.2.4.33.1) to the mailslot \MAILSLOT\BROWSE or
 *        \MAILSLOT\LANMAN ([MS-MAIL] 2.2) ─► browser frame in its Trans_Data ([MS-BRWS] 2.2.1, 2.2.7, 2.2.9)
 *
 * One UDP payload in, a BrowserEvent or null out: null for anything else on port 138 (election requests,
 * backup list requests, other mailslots, fragments) and for anything that breaks a bound. Every read is
 * bounds-checked against the smallest enclosing length (the datagram's DGM_LENGTH, the captured bytes, the
 * transaction's DataOffset/DataCount); nothing throws.
 */
import { printable } from "./dhcp.js";
import type { BrowserEvent } from "./types.js";

/** RFC 1002 §4.4.1 MSG_TYPE: DIRECT_UNIQUE, DIRECT_GROUP, BROADCAST datagrams (same layout). */
const DIRECT_UNIQUE = 0x10;
const BROADCAST = 0x12;
/** FLAGS: M (more fragments follow), F (first fragment). Only a whole datagram (F, not M) is read. */
const FLAG_M = 0x01;
const FLAG_F = 0x02;
/** MSG_TYPE, FLAGS, DGM_ID, SOURCE_IP, SOURCE_PORT, DGM_LENGTH, PACKET_OFFSET. */
const DGM_HEADER = 14;
const SMB_HEADER = 32;
const SMB_COM_TRANSACTION = 0x25;
/** [MS-CIFS] 2.2.3.1 Flags2: SMB_FLAGS2_UNICODE. Mailslot writes name their mailslot in ASCII. */
const FLAGS2_UNICODE = 0x8000;
/** TRANSACTION request words before Setup: 14 ([MS-CIFS] 2.2.4.33.1). */
const TRANS_WORDS = 14;
const HOST_ANNOUNCEMENT = 0x01;
const DOMAIN_ANNOUNCEMENT = 0x0c;
const LOCAL_MASTER_ANNOUNCEMENT = 0x0f;
/** Opcode .. Signature of the three announcement frames, before the variable string. */
const ANNOUNCEMENT_FIXED = 32;

export function decodeBrowser(buf: Buffer, start: number, end: number): BrowserEvent | null {
  if (!(start >= 0 && end <= buf.length && start <= end)) return null;
  if (end - start < DGM_HEADER) return null;
  const msgType = buf[start]!;
  if (msgType < DIRECT_UNIQUE || msgType > BROADCAST) return null;
  const flags = buf[start + 1]!;
  if ((flags & (FLAG_M | FLAG_F)) !== FLAG_F || buf.readUInt16BE(start + 12) !== 0) return null;
  // DGM_LENGTH counts the names and the user data after the 14-byte header.
  const dgmEnd = Math.min(end, start + DGM_HEADER + buf.readUInt16BE(start + 10));
  let p = skipName(buf, start + DGM_HEADER, dgmEnd);
  if (p < 0) return null;
  p = skipName(buf, p, dgmEnd);
  if (p < 0) return null;
  return smbMailslot(buf, p, dgmEnd);
}

/**
 * A NetBIOS name in the datagram (RFC 1002 §4.1, RFC 1001 §14): a length octet of 32, the 16-byte name in
 * first-level encoding (two letters 'A'-'P' per byte), then the scope's labels, ended by a zero octet.
 * Returns the offset after it, or -1. The name itself is not kept: the announcement carries the
 * server's name in clear.
 */
function skipName(buf: Buffer, p: number, end: number): number {
  if (p >= end || buf[p] !== 32) return -1;
  // RFC 1002 §4.1: a label is at most 63 octets and the whole name at most 255; a pointer (0xC0) does not
  // occur in datagrams.
  const limit = Math.min(end, p + 255);
  while (p < limit) {
    const len = buf[p]!;
    if (len === 0) return p + 1;
    if (len > 63) return -1;
    p += 1 + len;
  }
  return -1;
}

/*
 * SMB1 header ([MS-CIFS] 2.2.3.1), 32 bytes:
 *   | 0xFF 'S' 'M' 'B' | Command | Status (4) | Flags | Flags2 (2) | PIDHigh (2) | SecurityFeatures (8) |
 *   | Reserved (2) | TID (2) | PIDLow (2) | UID (2) | MID (2) |
 * then SMB_Parameters: WordCount, Words[WordCount]; then SMB_Data: ByteCount (2), Bytes.
 * TRANSACTION request words ([MS-CIFS] 2.2.4.33.1), little-endian, offsets from the first word:
 *   0 TotalParameterCount, 2 TotalDataCount, 4 MaxParameterCount, 6 MaxDataCount, 8 MaxSetupCount,
 *   9 Reserved1, 10 Flags, 12 Timeout (4), 16 Reserved2, 18 ParameterCount, 20 ParameterOffset,
 *   22 DataCount, 24 DataOffset, 26 SetupCount, 27 Reserved3, 28 Setup[SetupCount]
 * The Bytes begin with the transaction Name (the mailslot's, NUL-terminated). ParameterOffset and
 * DataOffset count from the start of the SMB header. A mailslot write carries its message as Trans_Data
 * ([MS-MAIL] 2.2.1: SetupCount 3, opcode 1, priority, class).
 */
function smbMailslot(buf: Buffer, h: number, end: number): BrowserEvent | null {
  if (end - h < SMB_HEADER + 1) return null;
  if (buf[h] !== 0xff || buf[h + 1] !== 0x53 || buf[h + 2] !== 0x4d || buf[h + 3] !== 0x42) return null;
  if (buf[h + 4] !== SMB_COM_TRANSACTION) return null;
  if ((buf.readUInt16LE(h + 10) & FLAGS2_UNICODE) !== 0) return null;
  const w = h + SMB_HEADER + 1;
  const wordCount = buf[h + SMB_HEADER]!;
  if (wordCount < TRANS_WORDS || end - w < 2 * wordCount + 2) return null;
  const dataCount = buf.readUInt16LE(w + 22);
  const dataOffset = buf.readUInt16LE(w + 24);
  const bytes = w + 2 * wordCount + 2;
  const bytesEnd = Math.min(end, bytes + buf.readUInt16LE(w + 2 * wordCount));
  if (!isBrowseMailslot(buf, bytes, bytesEnd)) return null;
  // The data must lie inside the datagram; a DataOffset into the header or the words is not a message.
  const d = h + dataOffset;
  if (d < bytes || dataCount > end - d) return null;
  return announcement(buf, d, d + dataCount);
}

const MAILSLOT = "\\MAILSLOT\\";

/** The transaction Name at `p` is \MAILSLOT\BROWSE or \MAILSLOT\LANMAN (case-insensitive) and its NUL. */
function isBrowseMailslot(buf: Buffer, p: number, end: number): boolean {
  const n = MAILSLOT.length + 6;
  if (end - p < n + 1 || buf[p + n] !== 0) return false;
  for (let i = 0; i < MAILSLOT.length; i++) {
    if ((buf[p + i]! & 0xdf) !== (MAILSLOT.charCodeAt(i) & 0xdf)) return false;
  }
  const tail = buf.toString("latin1", p + MAILSLOT.length, p + n).toUpperCase();
  return tail === "BROWSE" || tail === "LANMAN";
}

/*
 * HostAnnouncement (0x01, [MS-BRWS] 2.2.1) and LocalMasterAnnouncement (0x0F, 2.2.9):
 *   | Opcode | UpdateCount | Periodicity (4) | ServerName (16, NUL-padded) | OSVersionMajor |
 *   | OSVersionMinor | ServerType (4) | BrowserConfigVersionMajor | BrowserConfigVersionMinor |
 *   | Signature (2) | Comment (NUL-terminated) |
 * DomainAnnouncement (0x0C, 2.2.7) has the same layout with other meanings: MachineGroup (the workgroup
 * or domain) where ServerName was, BrowserConfigVersionMajor/Minor where the OS version was (the spec
 * says so; senders put their OS version there too), and LocalMasterBrowserName (the sender) where the
 * Comment was. The event takes the sender's name as serverName and leaves comment null for it, so a
 * workgroup is never taken for a host; its osMajor/osMinor are the bytes as sent (weak evidence).
 * Every other opcode (elections, backup lists, ...) is null.
 */
function announcement(buf: Buffer, p: number, end: number): BrowserEvent | null {
  if (end - p < ANNOUNCEMENT_FIXED) return null;
  const opcode = buf[p]!;
  if (opcode !== HOST_ANNOUNCEMENT && opcode !== DOMAIN_ANNOUNCEMENT && opcode !== LOCAL_MASTER_ANNOUNCEMENT)
    return null;
  const name = printable(buf, p + 6, p + 22);
  const tail = printable(buf, p + ANNOUNCEMENT_FIXED, end);
  return {
    kind: "browser",
    opcode,
    serverName: opcode === DOMAIN_ANNOUNCEMENT ? tail : name,
    osMajor: buf[p + 22]!,
    osMinor: buf[p + 23]!,
    serverType: buf.readUInt32LE(p + 24),
    comment: opcode === DOMAIN_ANNOUNCEMENT ? null : tail,
  };
}
