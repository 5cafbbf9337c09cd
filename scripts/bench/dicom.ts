/**
 * Byte builders for the DICOM traffic of the benchmark: Upper Layer PDUs (PS3.8 §9.3), DIMSE command
 * sets (PS3.7 §9.3.1, §E) and data sets in the transfer syntaxes of PS3.5 §A. Independent of test/ on
 * purpose: the benchmark must not change when test builders do.
 */

export const UID = {
  applicationContext: "1.2.840.10008.3.1.1.1",
  verification: "1.2.840.10008.1.1",
  ctImageStorage: "1.2.840.10008.5.1.4.1.1.2",
  mrImageStorage: "1.2.840.10008.5.1.4.1.1.4",
  crImageStorage: "1.2.840.10008.5.1.4.1.1.1",
  secondaryCaptureStorage: "1.2.840.10008.5.1.4.1.1.7",
  implicitLE: "1.2.840.10008.1.2",
  explicitLE: "1.2.840.10008.1.2.1",
  explicitBE: "1.2.840.10008.1.2.2",
  jpegBaseline: "1.2.840.10008.1.2.4.50",
  jpegLossless: "1.2.840.10008.1.2.4.70",
} as const;

export const TRANSFER_SYNTAXES = [
  UID.implicitLE,
  UID.explicitLE,
  UID.explicitBE,
  UID.jpegBaseline,
  UID.jpegLossless,
] as const;

export function isEncapsulated(ts: string): boolean {
  return ts === UID.jpegBaseline || ts === UID.jpegLossless;
}

/** A growable byte writer with the few primitives the builders need. */
export class ByteWriter {
  buf = Buffer.allocUnsafe(2048);
  len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u16be(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
    return this;
  }
  u16le(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.len);
    this.len += 2;
    return this;
  }
  u32be(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }
  u32le(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  ascii(s: string): this {
    return this.bytes(Buffer.from(s, "latin1"));
  }
  /** AE title field: 16 bytes, padded with spaces (PS3.8 §9.3.2). */
  ae(s: string): this {
    return this.ascii(s.padEnd(16, " ").slice(0, 16));
  }
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }
  patchU16be(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }
  patchU32be(at: number, v: number): void {
    this.buf.writeUInt32BE(v >>> 0, at);
  }
  patchU32le(at: number, v: number): void {
    this.buf.writeUInt32LE(v >>> 0, at);
  }
  patchU32(at: number, v: number, littleEndian: boolean): void {
    if (littleEndian) this.patchU32le(at, v);
    else this.patchU32be(at, v);
  }
  /** A copy of the bytes written (the writer may be reused). */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

// ---------------------------------------------------------------------------------------------------
// Upper Layer PDUs (PS3.8 §9.3)

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/** Result/Reason of PS3.8 Table 9-18: 0 acceptance, 1 user-rejection, 2 no-reason, 3 abstract syntax
 *  not supported, 4 transfer syntaxes not supported. */
export interface AcceptedContext {
  id: number;
  result: 0 | 1 | 2 | 3 | 4;
  transferSyntax: string;
}

export interface AssociationParams {
  calledAE: string;
  callingAE: string;
  maxPdu: number;
  implementationClassUid: string;
  implementationVersionName: string;
}

/** What DCMTK 3.6.7's tools announce (the identity the findings' CVE table knows), max PDU 16 KiB. */
export function dcmtk367(callingAE: string, calledAE: string): AssociationParams {
  return {
    calledAE,
    callingAE,
    maxPdu: 16384,
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.7",
    implementationVersionName: "OFFIS_DCMTK_367",
  };
}

/** A sub-item with a 2-byte length: type | reserved | length (u16) | value (PS3.8 §9.3.2.2 ff). */
function item(w: ByteWriter, type: number, value: string | Buffer): void {
  const b = typeof value === "string" ? Buffer.from(value, "latin1") : value;
  w.u8(type).u8(0).u16be(b.length).bytes(b);
}

/**
 * User Information item (0x50, PS3.8 §9.3.2.3 and PS3.7 Annex D.3.3): maximum length (0x51),
 * implementation class UID (0x52), asynchronous operations window (0x53, requestor only),
 * implementation version name (0x55).
 */
function userInfo(w: ByteWriter, p: AssociationParams, withAsync: boolean): void {
  const start = w.len;
  w.u8(0x50).u8(0).u16be(0);
  w.u8(0x51).u8(0).u16be(4).u32be(p.maxPdu);
  item(w, 0x52, p.implementationClassUid);
  if (withAsync) w.u8(0x53).u8(0).u16be(4).u16be(1).u16be(1);
  item(w, 0x55, p.implementationVersionName);
  w.patchU16be(start + 2, w.len - start - 4);
}

/**
 * A-ASSOCIATE-RQ (type 0x01) and -AC (type 0x02), PS3.8 §9.3.2 and §9.3.3:
 *
 *   0 type | 1 reserved | 2..5 PDU length (u32 BE) | 6..7 protocol version (1) | 8..9 reserved
 *   10..25 called AE | 26..41 calling AE | 42..73 reserved (32) | 74.. variable items
 */
function associateHeader(w: ByteWriter, type: number, p: AssociationParams): void {
  w.u8(type).u8(0).u32be(0).u16be(1).u16be(0).ae(p.calledAE).ae(p.callingAE).zeros(32);
  item(w, 0x10, UID.applicationContext);
}

export function associateRq(p: AssociationParams, contexts: ProposedContext[]): Buffer {
  const w = new ByteWriter();
  associateHeader(w, 0x01, p);
  for (const pc of contexts) {
    // Presentation Context item (RQ), 0x20: id | 3 reserved | abstract syntax 0x30 | transfer syntaxes 0x40
    const start = w.len;
    w.u8(0x20).u8(0).u16be(0).u8(pc.id).zeros(3);
    item(w, 0x30, pc.abstractSyntax);
    for (const ts of pc.transferSyntaxes) item(w, 0x40, ts);
    w.patchU16be(start + 2, w.len - start - 4);
  }
  userInfo(w, p, true);
  w.patchU32be(2, w.len - 6);
  return w.take();
}

export function associateAc(p: AssociationParams, contexts: AcceptedContext[]): Buffer {
  const w = new ByteWriter();
  associateHeader(w, 0x02, p);
  for (const pc of contexts) {
    // Presentation Context item (AC), 0x21: id | reserved | result | reserved | transfer syntax 0x40
    const start = w.len;
    w.u8(0x21).u8(0).u16be(0).u8(pc.id).u8(0).u8(pc.result).u8(0);
    item(w, 0x40, pc.transferSyntax);
    w.patchU16be(start + 2, w.len - start - 4);
  }
  userInfo(w, p, false);
  w.patchU32be(2, w.len - 6);
  return w.take();
}

/** A-RELEASE-RQ (0x05) / -RP (0x06): 6-byte header, length 4, 4 reserved bytes (PS3.8 §9.3.6-7). */
export function releasePdu(type: 0x05 | 0x06): Buffer {
  return Buffer.from([type, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
}

/**
 * P-DATA-TF header with one PDV (PS3.8 §9.3.5, Annex E.2), as dcmtk and Orthanc send them:
 *
 *   0 type 0x04 | 1 reserved | 2..5 PDU length = 4 + PDV length
 *   6..9 PDV item length = 2 + data length | 10 presentation context id |
 *   11 message control header: bit 0 command (1) / data set (0), bit 1 last fragment
 */
export function pdataHeader(pcId: number, isCommand: boolean, isLast: boolean, dataLen: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b[0] = 0x04;
  b[1] = 0;
  b.writeUInt32BE(dataLen + 6, 2);
  b.writeUInt32BE(dataLen + 2, 6);
  b[10] = pcId;
  b[11] = (isCommand ? 1 : 0) | (isLast ? 2 : 0);
  return b;
}

// ---------------------------------------------------------------------------------------------------
// Data elements (PS3.5 §7.1). Command sets are always implicit VR little endian (PS3.7 §6.3.1).

export type Syntax = "implicitLE" | "explicitLE" | "explicitBE";

export function syntaxOf(ts: string): Syntax {
  if (ts === UID.implicitLE) return "implicitLE";
  if (ts === UID.explicitBE) return "explicitBE";
  return "explicitLE";
}

/** VRs with a 2-byte reserved field and a 4-byte length in explicit syntaxes (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(["OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UC", "UR", "UT", "UN", "SV", "UV"]);

/**
 * Writes elements in one transfer syntax:
 *   implicit:  group u16 | element u16 | length u32 | value
 *   explicit:  group u16 | element u16 | VR 2 chars | length u16 | value
 *              group u16 | element u16 | VR 2 chars | 0000 | length u32 | value   (LONG_VRS)
 */
export class ElementWriter {
  readonly w = new ByteWriter();
  private readonly le: boolean;
  private readonly explicit: boolean;
  constructor(readonly syntax: Syntax) {
    this.le = syntax !== "explicitBE";
    this.explicit = syntax !== "implicitLE";
  }
  private u16(v: number): void {
    if (this.le) this.w.u16le(v);
    else this.w.u16be(v);
  }
  private u32(v: number): void {
    if (this.le) this.w.u32le(v);
    else this.w.u32be(v);
  }
  /** Element header; returns the offset of the length field (for patching). */
  header(tag: number, vr: string, length: number): number {
    this.u16(tag >>> 16);
    this.u16(tag & 0xffff);
    if (this.explicit && vr !== "") {
      this.w.ascii(vr);
      if (LONG_VRS.has(vr)) {
        this.w.u16be(0);
      } else {
        const at = this.w.len;
        this.u16(length);
        return at;
      }
    }
    const at = this.w.len;
    this.u32(length);
    return at;
  }
  /** A string value, padded to even length: UI with NUL, the others with space (PS3.5 §6.2). */
  str(tag: number, vr: string, value: string): this {
    let v = value;
    if (v.length % 2 === 1) v += vr === "UI" ? "\0" : " ";
    this.header(tag, vr, v.length);
    this.w.ascii(v);
    return this;
  }
  us(tag: number, value: number): this {
    this.header(tag, "US", 2);
    this.u16(value);
    return this;
  }
  ul(tag: number, value: number): this {
    this.header(tag, "UL", 4);
    this.u32(value);
    return this;
  }
  ob(tag: number, value: Buffer): this {
    this.header(tag, "OB", value.length);
    this.w.bytes(value);
    return this;
  }
  /** A sequence of defined length with defined-length items (PS3.5 §7.5.1). */
  sq(tag: number, items: ((e: ElementWriter) => void)[]): this {
    const sqLenAt = this.header(tag, "SQ", 0);
    const sqStart = this.w.len;
    for (const fill of items) {
      // Item tag (FFFE,E000) carries no VR in any syntax.
      this.u16(0xfffe);
      this.u16(0xe000);
      const itemLenAt = this.w.len;
      this.u32(0);
      const itemStart = this.w.len;
      fill(this);
      this.w.patchU32(itemLenAt, this.w.len - itemStart, this.le);
    }
    this.w.patchU32(sqLenAt, this.w.len - sqStart, this.le);
    return this;
  }
  /** An item/delimiter header (FFFE,xxxx) with a 4-byte length. */
  itemHeader(element: number, length: number): this {
    this.u16(0xfffe);
    this.u16(element);
    this.u32(length);
    return this;
  }
  take(): Buffer {
    return this.w.take();
  }
}

/** Command set with its group length (0000,0000) UL in front (PS3.7 §E.1). */
function commandSet(fill: (e: ElementWriter) => void): Buffer {
  const body = new ElementWriter("implicitLE");
  fill(body);
  const head = new ElementWriter("implicitLE");
  head.ul(0x00000000, body.w.len);
  return Buffer.concat([head.take(), body.take()]);
}

/** C-STORE-RQ command (PS3.7 §9.3.1.1), data set present (0000,0800) != 0x0101. */
export function cStoreRq(messageId: number, sopClass: string, sopInstance: string): Buffer {
  return commandSet((e) => {
    e.str(0x00000002, "UI", sopClass);
    e.us(0x00000100, 0x0001);
    e.us(0x00000110, messageId);
    e.us(0x00000700, 0x0000); // priority MEDIUM
    e.us(0x00000800, 0x0000);
    e.str(0x00001000, "UI", sopInstance);
  });
}

/** C-STORE-RSP (PS3.7 §9.3.1.2), no data set, status 0x0000 success. */
export function cStoreRsp(respondedTo: number, sopClass: string, sopInstance: string): Buffer {
  return commandSet((e) => {
    e.str(0x00000002, "UI", sopClass);
    e.us(0x00000100, 0x8001);
    e.us(0x00000120, respondedTo);
    e.us(0x00000800, 0x0101);
    e.us(0x00000900, 0x0000);
    e.str(0x00001000, "UI", sopInstance);
  });
}

/** C-ECHO-RQ command (PS3.7 §9.3.5.1): Verification SOP class, no data set (0000,0800) = 0x0101. */
export function cEchoRq(messageId: number): Buffer {
  return commandSet((e) => {
    e.str(0x00000002, "UI", UID.verification);
    e.us(0x00000100, 0x0030);
    e.us(0x00000110, messageId);
    e.us(0x00000800, 0x0101);
  });
}

/** C-ECHO-RSP (PS3.7 §9.3.5.2): status 0x0000 success, no data set. */
export function cEchoRsp(respondedTo: number): Buffer {
  return commandSet((e) => {
    e.str(0x00000002, "UI", UID.verification);
    e.us(0x00000100, 0x8030);
    e.us(0x00000120, respondedTo);
    e.us(0x00000800, 0x0101);
    e.us(0x00000900, 0x0000);
  });
}
