/**
 * The pcapng file format (draft-ietf-opsawg-pcapng). Every block has the same frame, so unknown blocks
 * (Name Resolution, Interface Statistics, Decryption Secrets, custom) are skipped by their length:
 *
 *   0               4                8                                   len-4            len
 *   +---------------+----------------+-------------- body --------------+----------------+
 *   | Block Type    | Block Total Len| ...                                | Block Total Len|
 *   +---------------+----------------+------------------------------------+----------------+
 *
 * Section Header Block (type 0x0A0D0D0A, the same in both byte orders; the magic at offset 8 reads
 * 0x1A2B3C4D in the section's byte order). A new SHB starts a new section: byte order and interfaces
 * restart.
 *   8 Byte-Order Magic(4) | 12 Major(2) Minor(2) | 16 Section Length(8) | 24 options...
 *
 * Interface Description Block (type 1): one per interface, numbered from 0 in the order they appear.
 *   8 LinkType(2) Reserved(2) | 12 SnapLen(4) | 16 options... (if_tsresol = 9, if_tsoffset = 14)
 *
 * Enhanced Packet Block (type 6):
 *   8 Interface ID(4) | 12 Timestamp high(4) | 16 Timestamp low(4) | 20 Captured Len(4) |
 *   24 Original Len(4) | 28 packet data, padded to 32 bits | options...
 *
 * Simple Packet Block (type 3): no interface id (always interface 0), no timestamp.
 *   8 Original Len(4) | 12 packet data, captured length = min(Original Len, SnapLen of interface 0, room)
 *
 * Packet Block (type 2, obsolete but still written by old tools):
 *   8 Interface ID(2) Drops Count(2) | 12 Timestamp high(4) | 16 low(4) | 20 Captured Len(4) |
 *   24 Original Len(4) | 28 packet data ...
 *
 * Options: Code(2) Length(2) Value padded to 32 bits; code 0 ends the list.
 *
 * Damage confined to one packet is an anomaly, and the file goes on (DESIGN.md §6, principle 4):
 * - capture.pcapng-unknown-interface: a packet block naming an interface no IDB of its section described
 *   (an SPB needs interface 0): its link type is unknown, so the packet is skipped.
 * - capture.timestamp-out-of-range: a time before 1970 (after if_tsoffset), beyond what microseconds
 *   hold exactly (Number.MAX_SAFE_INTEGER, about the year 2255), or on an interface whose if_tsresol is
 *   finer than a 64-bit count can carry past 1970 (10^-v with v > 19, 2^-v with v > 63). The packet is
 *   kept with the time of the packet before it (the epoch before any), so one wild stamp neither moves
 *   capture time back nor leaps it ahead.
 */

import type { AnomalySink } from "../util/anomaly.js";
import type { CaptureErrorCode } from "../util/anomaly-catalogue.js";
import type { PacketSink } from "./types.js";
import { CaptureError, type RecordParser } from "./record.js";

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_PB = 0x00000002;
const PCAPNG_SPB = 0x00000003;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
/** The smallest block: type, length and the trailing length. */
const MIN_BLOCK = 12;
/** A section with more interfaces than this is treated as corrupt (the interface table stays small). */
const MAX_INTERFACES = 65536;

const TWO_32 = 4294967296;
/** 2^21: below it, (r · 2^32 + lo) stays under 2^53, so the decimal division of micros() is exact. */
const EXACT_DIVISOR = 2097152;

/** True when the 4 bytes at `off` are the Section Header Block type. */
export function isPcapngMagic(buf: Buffer, off: number): boolean {
  return off + 4 <= buf.length && buf.readUInt32LE(off) === PCAPNG_SHB;
}

/** Timestamp conversion of one interface: units since the epoch → microseconds. */
const enum TsKind {
  /** Units coarser than or equal to µs: multiply. */
  Multiply,
  /** Decimal units finer than µs (ns, ...): divide, exactly while the divisor is small. */
  Divide,
  /** Binary fractions of a second (if_tsresol with the high bit set). */
  Scale,
}

class Interface {
  tsKind = TsKind.Multiply;
  /** Multiplier, divisor or scale, per tsKind. */
  tsFactor = 1;
  /** if_tsresol as a power of ten (decimal units), for divisors too large for the exact double path. */
  tsExponent = 6;
  /** if_tsoffset in microseconds. */
  tsOffsetMicros = 0;
  /** Set when if_tsresol names a unit so fine that no 64-bit count reaches past 1970: every time is wrong. */
  tsResolutionBad = false;

  constructor(
    readonly linktype: number,
    readonly snapLen: number,
  ) {}

  /** if_tsresol: the high bit clear means 10^-v seconds, set means 2^-v seconds (default 6: µs). */
  setResolution(v: number): void {
    if (v & 0x80) {
      this.tsKind = TsKind.Scale;
      this.tsFactor = 1e6 / 2 ** (v & 0x7f);
      // 2^64 units of 2^-64 s and finer: the whole range of the count lies within the first second of 1970.
      this.tsResolutionBad = (v & 0x7f) > 63;
    } else if (v <= 6) {
      this.tsKind = TsKind.Multiply;
      this.tsFactor = 10 ** (6 - v);
      this.tsResolutionBad = false;
    } else {
      this.tsKind = TsKind.Divide;
      this.tsFactor = 10 ** (v - 6);
      this.tsExponent = v;
      // 2^64 ≈ 1.8·10^19: with units of 10^-20 s or finer the count cannot get past 1970.
      this.tsResolutionBad = v > 19;
    }
  }

  /** Microseconds since the epoch, or NaN when the stamp cannot be one (see the file comment). */
  micros(hi: number, lo: number): number {
    if (this.tsResolutionBad) return Number.NaN;
    let us: number;
    if (this.tsKind === TsKind.Divide) {
      const d = this.tsFactor;
      if (d < EXACT_DIVISOR) {
        // (hi·2^32 + lo) / d = ⌊hi/d⌋·2^32 + (hi mod d · 2^32 + lo) / d — exact in doubles while d < 2^21,
        // which covers nanoseconds (d = 1000), where the plain 64-bit value would not fit in 53 bits.
        const r = hi % d;
        us = ((hi - r) / d) * TWO_32 + Math.floor((r * TWO_32 + lo) / d);
      } else {
        // 10^-13 s and finer (rare, e.g. 10^-15): exact in 64-bit integers rather than rounded doubles.
        const units = (BigInt(hi) << 32n) | BigInt(lo);
        us = Number(units / 10n ** BigInt(this.tsExponent - 6));
      }
    } else if (this.tsKind === TsKind.Multiply) {
      us = (hi * TWO_32 + lo) * this.tsFactor;
    } else {
      us = Math.floor((hi * TWO_32 + lo) * this.tsFactor);
    }
    us += this.tsOffsetMicros;
    return us >= 0 && us <= Number.MAX_SAFE_INTEGER ? us : Number.NaN;
  }
}

export class PcapngParser implements RecordParser {
  readonly format = "pcapng" as const;
  error: CaptureError | null = null;
  needed = MIN_BLOCK;
  packets = 0;
  bytes = 0;

  private le = true;
  private inSection = false;
  private readonly interfaces: Interface[] = [];
  /**
   * Simple Packet Blocks carry no timestamp; they get the last one seen, so time never runs backwards.
   * A stamp out of range gets it too.
   */
  private lastTs = 0;
  /** Packets skipped (undescribed interface) and stamps replaced (out of range): counted as anomalies. */
  skippedPackets = 0;
  timestampsOutOfRange = 0;

  constructor(
    private readonly sink: PacketSink,
    private readonly maxRecordBytes: number,
    private readonly anomalies: AnomalySink | null = null,
  ) {}

  private u32(buf: Buffer, off: number): number {
    return this.le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
  }

  private u16(buf: Buffer, off: number): number {
    return this.le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
  }

  private fail(code: CaptureErrorCode, detail: string, offset: number): void {
    this.error = new CaptureError(code, detail, offset);
  }

  parse(buf: Buffer, start: number, end: number, abs: number): number {
    let p = start;
    while (true) {
      if (end - p < MIN_BLOCK) {
        this.needed = MIN_BLOCK;
        return p;
      }
      const at = abs + (p - start);
      // The SHB type reads the same in both byte orders; its magic at offset 8 fixes the section's order.
      const isShb = buf.readUInt32LE(p) === PCAPNG_SHB;
      if (isShb) {
        if (buf.readUInt32LE(p + 8) === PCAPNG_BYTE_ORDER_MAGIC) this.le = true;
        else if (buf.readUInt32BE(p + 8) === PCAPNG_BYTE_ORDER_MAGIC) this.le = false;
        else {
          this.fail("pcapng.bad-byte-order-magic", "section header with an unknown byte-order magic", at + 8);
          return p;
        }
      } else if (!this.inSection) {
        this.fail("pcapng.no-section-header", "block before any section header block", at);
        return p;
      }
      const type = this.u32(buf, p);
      const len = this.u32(buf, p + 4);
      if (len < MIN_BLOCK || len % 4 !== 0) {
        this.fail("pcapng.bad-block-length", `block type ${type} with total length ${len}`, at + 4);
        return p;
      }
      if (len > this.maxRecordBytes) {
        this.fail(
          "pcapng.block-too-large",
          `block type ${type} of ${len} bytes exceeds the limit ${this.maxRecordBytes}`,
          at + 4,
        );
        return p;
      }
      if (end - p < len) {
        this.needed = len;
        return p;
      }
      if (this.u32(buf, p + len - 4) !== len) {
        this.fail("pcapng.length-mismatch", `block type ${type}: trailing length differs from ${len}`, at);
        return p;
      }
      switch (type) {
        case PCAPNG_SHB:
          if (!this.sectionHeader(buf, p, len, at)) return p;
          break;
        case PCAPNG_IDB:
          if (!this.interfaceDescription(buf, p, len, at)) return p;
          break;
        case PCAPNG_EPB:
        case PCAPNG_PB:
          if (!this.enhancedPacket(buf, p, len, at, type === PCAPNG_PB)) return p;
          break;
        case PCAPNG_SPB:
          if (!this.simplePacket(buf, p, len, at)) return p;
          break;
        default:
          // Name Resolution, Interface Statistics, Decryption Secrets, custom and unknown blocks: skipped.
          break;
      }
      p += len;
    }
  }

  private sectionHeader(buf: Buffer, p: number, len: number, at: number): boolean {
    if (len < 28) {
      this.fail("pcapng.bad-block-length", `section header of ${len} bytes`, at + 4);
      return false;
    }
    const major = this.u16(buf, p + 12);
    if (major !== 1) {
      this.fail("pcapng.bad-version", `unsupported pcapng major version ${major}`, at + 12);
      return false;
    }
    this.inSection = true;
    this.interfaces.length = 0;
    return true;
  }

  private interfaceDescription(buf: Buffer, p: number, len: number, at: number): boolean {
    if (len < 20) {
      this.fail("pcapng.bad-block-length", `interface description of ${len} bytes`, at + 4);
      return false;
    }
    if (this.interfaces.length >= MAX_INTERFACES) {
      this.fail("pcapng.too-many-interfaces", `more than ${MAX_INTERFACES} interfaces in a section`, at);
      return false;
    }
    const ifc = new Interface(this.u16(buf, p + 8), this.u32(buf, p + 12));
    // Options are read leniently: a malformed option list ends the walk, the block stays usable.
    const optEnd = p + len - 4;
    let q = p + 16;
    while (q + 4 <= optEnd) {
      const code = this.u16(buf, q);
      const olen = this.u16(buf, q + 2);
      if (code === OPT_ENDOFOPT || q + 4 + olen > optEnd) break;
      if (code === OPT_IF_TSRESOL && olen >= 1) ifc.setResolution(buf[q + 4]!);
      else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        const hi = this.le ? buf.readInt32LE(q + 8) : buf.readInt32BE(q + 4);
        const lo = this.le ? buf.readUInt32LE(q + 4) : buf.readUInt32BE(q + 8);
        ifc.tsOffsetMicros = (hi * TWO_32 + lo) * 1e6;
      }
      q += 4 + ((olen + 3) & ~3);
    }
    this.interfaces.push(ifc);
    return true;
  }

  private enhancedPacket(buf: Buffer, p: number, len: number, at: number, obsolete: boolean): boolean {
    if (len < 32) {
      this.fail("pcapng.bad-block-length", `packet block of ${len} bytes`, at + 4);
      return false;
    }
    const ifId = obsolete ? this.u16(buf, p + 8) : this.u32(buf, p + 8);
    const capLen = this.u32(buf, p + 20);
    const origLen = this.u32(buf, p + 24);
    if (capLen > len - 32) {
      this.fail("pcapng.bad-caplen", `captured length ${capLen} does not fit a block of ${len}`, at + 20);
      return false;
    }
    const ifc = this.interfaces[ifId];
    if (ifc === undefined) {
      // The block itself is sound (its lengths agree), only its interface is unknown: skip this packet.
      this.unknownInterface(`packet block at byte ${at} on interface ${ifId}, which no IDB described`);
      return true;
    }
    const hi = this.u32(buf, p + 12);
    const lo = this.u32(buf, p + 16);
    let ts = ifc.micros(hi, lo);
    if (Number.isNaN(ts)) ts = this.outOfRange(ifc, hi, lo, at);
    this.lastTs = ts;
    this.packets++;
    this.bytes += capLen;
    this.sink.packet(buf, p + 28, p + 28 + capLen, ts, ifc.linktype, origLen);
    return true;
  }

  private simplePacket(buf: Buffer, p: number, len: number, at: number): boolean {
    if (len < 16) {
      this.fail("pcapng.bad-block-length", `simple packet block of ${len} bytes`, at + 4);
      return false;
    }
    const ifc = this.interfaces[0];
    if (ifc === undefined) {
      this.unknownInterface(`simple packet block at byte ${at} before any IDB (it belongs to interface 0)`);
      return true;
    }
    const origLen = this.u32(buf, p + 8);
    let capLen = Math.min(origLen, len - 16);
    if (ifc.snapLen !== 0 && ifc.snapLen < capLen) capLen = ifc.snapLen;
    this.packets++;
    this.bytes += capLen;
    this.sink.packet(buf, p + 12, p + 12 + capLen, this.lastTs, ifc.linktype, origLen);
    return true;
  }

  private unknownInterface(detail: string): void {
    this.skippedPackets++;
    this.anomalies?.anomaly("capture.pcapng-unknown-interface", "capture", null, detail);
  }

  /** Reports a stamp that is no time since 1970 and returns the one the packet keeps. */
  private outOfRange(ifc: Interface, hi: number, lo: number, at: number): number {
    this.timestampsOutOfRange++;
    const units = (BigInt(hi) << 32n) | BigInt(lo);
    const why = ifc.tsResolutionBad
      ? "its interface's if_tsresol is finer than a 64-bit count can carry past 1970"
      : ifc.tsOffsetMicros !== 0
        ? `with if_tsoffset ${ifc.tsOffsetMicros / 1e6} s it is before 1970 or past what microseconds hold exactly`
        : "it is past what microseconds hold exactly";
    this.anomalies?.anomaly(
      "capture.timestamp-out-of-range",
      "capture",
      null,
      `packet block at byte ${at}: timestamp ${units} ${why}; it keeps the time of the packet before it`,
    );
    return this.lastTs;
  }
}
