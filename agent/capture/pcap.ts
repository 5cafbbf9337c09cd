/**
 * The classic libpcap file format (draft-ietf-opsawg-pcap): a 24-byte file header, then records of a
 * 16-byte header and the captured bytes. Parsed incrementally over whatever bytes are available: a record
 * is consumed only when complete, so the caller can carry the tail to the next read.
 *
 * File header (byte order given by how the magic reads):
 *   0       4       6       8              12             16             20             24
 *   +-------+-------+-------+--------------+--------------+--------------+--------------+
 *   | magic | major | minor | reserved 1   | reserved 2   | SnapLen      | LinkType+FCS |
 *   +-------+-------+-------+--------------+--------------+--------------+--------------+
 *   magic a1b2c3d4: timestamps in microseconds; a1b23c4d: in nanoseconds.
 *
 * Record header:
 *   0              4                  8                12               16
 *   +--------------+------------------+----------------+----------------+---- CapLen bytes ----
 *   | ts seconds   | ts µs or ns      | CapLen         | OrigLen        | packet data
 *   +--------------+------------------+----------------+----------------+---------------------
 */

import type { PacketSink } from "./types.js";
import { CaptureError, type RecordParser } from "./record.js";

const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
const PCAP_MAGIC_NANOS = 0xa1b23c4d;
const PCAP_FILE_HEADER_LENGTH = 24;
const PCAP_RECORD_HEADER_LENGTH = 16;

/**
 * libpcap accepts records up to its per-link-type maximum (262144 bytes for nearly all link types) even
 * when the header's SnapLen is smaller (some writers put 65535 there and still write TSO super-frames),
 * so the bound for CapLen is the larger of the two. SnapLen 0 means "not set".
 */
const LIBPCAP_MAX_SNAPLEN = 262144;

/** True when the first 4 bytes at `off` are a pcap magic in either byte order. */
export function isPcapMagic(buf: Buffer, off: number): boolean {
  if (off + 4 > buf.length) return false;
  const le = buf.readUInt32LE(off);
  const be = buf.readUInt32BE(off);
  return (
    le === PCAP_MAGIC_MICROS || le === PCAP_MAGIC_NANOS || be === PCAP_MAGIC_MICROS || be === PCAP_MAGIC_NANOS
  );
}

/** Unsigned 32-bit little-endian at `p`; the caller guarantees p + 4 <= buf.length. */
function u32le(buf: Buffer, p: number): number {
  return (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16)) + buf[p + 3]! * 0x1000000;
}

/** Unsigned 32-bit big-endian at `p`; the caller guarantees p + 4 <= buf.length. */
function u32be(buf: Buffer, p: number): number {
  return buf[p]! * 0x1000000 + ((buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!);
}

export class PcapParser implements RecordParser {
  readonly format = "pcap" as const;
  error: CaptureError | null = null;
  needed = PCAP_FILE_HEADER_LENGTH;
  packets = 0;
  bytes = 0;

  private headerDone = false;
  private littleEndian = true;
  private nanos = false;
  private linktype = 0;
  private capLimit = LIBPCAP_MAX_SNAPLEN;

  constructor(
    private readonly sink: PacketSink,
    private readonly maxRecordBytes: number,
  ) {}

  parse(buf: Buffer, start: number, end: number, abs: number): number {
    let p = start;
    if (!this.headerDone) {
      if (end - p < PCAP_FILE_HEADER_LENGTH) {
        this.needed = PCAP_FILE_HEADER_LENGTH;
        return p;
      }
      if (!this.readFileHeader(buf, p, abs)) return p;
      p += PCAP_FILE_HEADER_LENGTH;
    }
    const le = this.littleEndian;
    const sink = this.sink;
    const linktype = this.linktype;
    const limit = this.capLimit;
    while (true) {
      if (end - p < PCAP_RECORD_HEADER_LENGTH) {
        this.needed = PCAP_RECORD_HEADER_LENGTH;
        return p;
      }
      // Plain byte arithmetic: the 16 header bytes are known to be present, so Buffer.readUInt32*'s
      // argument and bounds checks would only cost time on every record.
      const sec = le ? u32le(buf, p) : u32be(buf, p);
      const frac = le ? u32le(buf, p + 4) : u32be(buf, p + 4);
      const capLen = le ? u32le(buf, p + 8) : u32be(buf, p + 8);
      const origLen = le ? u32le(buf, p + 12) : u32be(buf, p + 12);
      if (capLen > limit) {
        this.error = new CaptureError(
          "pcap.bad-caplen",
          `record claims ${capLen} captured bytes, more than the limit ${limit}`,
          abs + (p - start),
        );
        return p;
      }
      const total = PCAP_RECORD_HEADER_LENGTH + capLen;
      if (end - p < total) {
        this.needed = total;
        return p;
      }
      const tsMicros = sec * 1_000_000 + (this.nanos ? Math.floor(frac / 1000) : frac);
      const dataStart = p + PCAP_RECORD_HEADER_LENGTH;
      p += total;
      this.packets++;
      this.bytes += capLen;
      sink.packet(buf, dataStart, p, tsMicros, linktype, origLen);
    }
  }

  private readFileHeader(buf: Buffer, p: number, abs: number): boolean {
    const be = buf.readUInt32BE(p);
    const le = buf.readUInt32LE(p);
    if (le === PCAP_MAGIC_MICROS || le === PCAP_MAGIC_NANOS) {
      this.littleEndian = true;
      this.nanos = le === PCAP_MAGIC_NANOS;
    } else if (be === PCAP_MAGIC_MICROS || be === PCAP_MAGIC_NANOS) {
      this.littleEndian = false;
      this.nanos = be === PCAP_MAGIC_NANOS;
    } else {
      this.error = new CaptureError("pcap.bad-magic", "not a pcap file header", abs);
      return false;
    }
    const major = this.littleEndian ? buf.readUInt16LE(p + 4) : buf.readUInt16BE(p + 4);
    if (major !== 2) {
      this.error = new CaptureError("pcap.bad-version", `unsupported pcap major version ${major}`, abs + 4);
      return false;
    }
    const snapLen = this.littleEndian ? buf.readUInt32LE(p + 16) : buf.readUInt32BE(p + 16);
    const network = this.littleEndian ? buf.readUInt32LE(p + 20) : buf.readUInt32BE(p + 20);
    // The upper bits carry the FCS length (bits 28-31) and reserved bits; the link type is below them.
    // The low 16 bits are the link type; above them are reserved bits and the FCS length.
    this.linktype = network & 0xffff;
    this.capLimit = Math.min(Math.max(snapLen, LIBPCAP_MAX_SNAPLEN), this.maxRecordBytes);
    this.headerDone = true;
    return true;
  }
}
