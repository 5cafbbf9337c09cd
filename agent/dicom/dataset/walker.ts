/**
 * A streaming, lazy element walker over the head of a DICOM dataset (PS3.5 §7). It reads exactly seven
 * device-describing attributes and nothing else, and stops as soon as the tag order has passed the last of
 * them, so a C-STORE of a 500 MB study costs a few hundred examined bytes per image.
 *
 * Why a walker and not a parser: the sensor must never hold patient data (DESIGN.md §1). The walker copies
 * the value of an element only when its tag is one of WANTED below; every other value - Patient's Name,
 * Patient ID, accession numbers, pixel data - is skipped by byte count without being looked at.
 *
 * Data element layouts (PS3.5 §7.1.1 - §7.1.3), G = group, E = element, VR two ASCII letters:
 *
 *   Explicit VR, 2-byte length (AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US):
 *     +----+----+----+----+----+----+----+----+---------
 *     | G       | E       | VR      | length  | value...
 *     +----+----+----+----+----+----+----+----+---------
 *   Explicit VR, 4-byte length (OB OD OF OL OV OW SQ SV UC UN UR UT UV):
 *     +----+----+----+----+----+----+----+----+----+----+----+----+---------
 *     | G       | E       | VR      | 0000    | length            | value...
 *     +----+----+----+----+----+----+----+----+----+----+----+----+---------
 *   Implicit VR (always little endian), and item / delimitation tags (FFFE,xxxx) in every syntax:
 *     +----+----+----+----+----+----+----+----+---------
 *     | G       | E       | length            | value...
 *     +----+----+----+----+----+----+----+----+---------
 *
 * Undefined length (FFFFFFFF) sequences (PS3.5 §7.5.2) hold items (FFFE,E000) and end with a sequence
 * delimitation item (FFFE,E0DD); undefined-length items end with (FFFE,E00D). The walker follows that
 * nesting with a small fixed stack and reads no value inside it. A UN element of undefined length holds
 * implicit VR little endian content (PS3.5 §6.2.2), so its nested level switches encoding.
 *
 * Streaming: bytes arrive in arbitrary pieces (PDV fragments across PDUs and TCP segments). An element
 * header that straddles two pieces is collected in a 12-byte carry buffer; a wanted value that straddles
 * is collected in a 256-byte value buffer. Both copies are counted in counters.bytesCopied.
 *
 * Query mode (begin(..., true), for the Identifier of a C-FIND-RQ, PS3.4 C.4.1.1.3 and C.6): no
 * equipment is read (an Identifier's values are match criteria, not the sender's equipment); instead the
 * whole Identifier is walked to count its keys and tell, per key, whether its value restricts the match.
 * That test looks at the value's bytes in place and keeps nothing: a key is "matching" as soon as one byte
 * is other than "*", "?", padding or the value separator; an empty or pure-wildcard value is universal
 * matching (PS3.4 C.2.2.2.3, C.2.2.2.4). The values of undefined-length sequences are looked at the same
 * way (a sequence key matches when anything inside it does, C.2.2.2.6); a defined-length sequence or item
 * is looked at as bytes, and its item and element headers make it "matching": never a false "universal".
 * The only value copied is the Query/Retrieve Level (0008,0052), a CS of at most 16 bytes naming a level.
 */
import { constants as zlibConstants, inflateRawSync } from "node:zlib";
import type { AnomalyFlow, AnomalySink, Counters } from "../../util/anomaly.js";
import type { DatasetAnomalyCode } from "../../util/anomaly-catalogue.js";
import type { EquipmentAttributes, QueryInfo } from "../types.js";
import { valueText } from "./text.js";

/** Transfer syntax UIDs that change how the dataset is encoded (PS3.5 §10 and Annex A). */
export const IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2";
export const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1";
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99";
export const EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2";
/** JPIP Referenced Deflate and JPIP HTJ2K Referenced Deflate: their data sets are deflated like 1.2.1.99. */
export const JPIP_REFERENCED_DEFLATE = "1.2.840.10008.1.2.4.95";
export const JPIP_HTJ2K_REFERENCED_DEFLATE = "1.2.840.10008.1.2.4.205";

/** Encodings of one nesting level. */
const ENC_IMPLICIT_LE = 0;
const ENC_EXPLICIT_LE = 1;
const ENC_EXPLICIT_BE = 2;

/** Walker states: named so a reader of push() sees where the walk is waiting. */
const S_DETECT = 0; // transfer syntax unknown: look at the first element header to guess the encoding
const S_HEADER = 1; // expecting an element header
const S_SKIP = 2; // skipping `remaining` value bytes without looking at them
const S_VALUE = 3; // collecting a wanted value
const S_DEFLATE = 4; // collecting the compressed head of a deflated dataset
const S_DONE = 5; // the walk is over (past the wanted tags, malformed, or capped); the rest is skipped
const S_SCAN = 6; // query mode: looking at `remaining` value bytes in place for anything but wildcards

/** Nesting-frame kinds. */
const F_SEQUENCE = 1; // inside an undefined-length sequence: expecting items or the sequence delimiter
const F_ITEM = 2; // inside an undefined-length item: expecting elements or the item delimiter

const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;

/** The last wanted tag: once a top-level tag is above it, nothing more is needed (tags ascend, PS3.5 §7.1). */
const LAST_WANTED_TAG = 0x00181020;

/** Slots of the wanted attributes. */
const W_MODALITY = 0;
const W_MANUFACTURER = 1;
const W_INSTITUTION = 2;
const W_STATION = 3;
const W_MODEL = 4;
const W_SERIAL = 5;
const W_SOFTWARE = 6;
const WANTED_COUNT = 7;
/** Query mode's one copied value: the Query/Retrieve Level, not an equipment slot. */
const W_LEVEL = 7;

/** (0008,0052) Query/Retrieve Level, CS (PS3.4 C.4.1.1.3.1). */
const QUERY_RETRIEVE_LEVEL = 0x00080052;
/** Bytes of the level kept: CS is at most 16 characters (PS3.5 Table 6.2-1). */
const LEVEL_CAP = 16;

/**
 * Elements of an Identifier that are not matching or return keys: group lengths, private creators,
 * Specific Character Set (0008,0005), Query/Retrieve View (0008,0053) and Timezone Offset From UTC
 * (0008,0201) qualify the query rather than restrict it (PS3.4 C.4.1.1.3.1, C.6.1.1.1).
 */
function isQueryKey(tag: number): boolean {
  const element = tag & 0xffff;
  if (element === 0) return false; // group length (gggg,0000)
  const privateGroup = ((tag >>> 16) & 1) === 1;
  if (privateGroup && element >= 0x0010 && element <= 0x00ff) return false; // private creator
  return tag !== 0x00080005 && tag !== 0x00080053 && tag !== 0x00080201;
}

/**
 * Bytes that leave a value universal: "*" and "?" wildcards (PS3.4 C.2.2.2.4), space and NUL padding
 * (PS3.5 §6.2), and the backslash between values of a multi-valued key (PS3.5 §6.4).
 */
function isWildcardByte(c: number): boolean {
  return c === 0x2a || c === 0x3f || c === 0x20 || c === 0x00 || c === 0x5c;
}

/** The only tags whose values are ever read; everything else is skipped structurally. */
function wantedSlot(tag: number): number {
  switch (tag) {
    case 0x00080060: // Modality (CS)
      return W_MODALITY;
    case 0x00080070: // Manufacturer (LO)
      return W_MANUFACTURER;
    case 0x00080080: // Institution Name (LO)
      return W_INSTITUTION;
    case 0x00081010: // Station Name (SH)
      return W_STATION;
    case 0x00081090: // Manufacturer's Model Name (LO)
      return W_MODEL;
    case 0x00181000: // Device Serial Number (LO)
      return W_SERIAL;
    case 0x00181020: // Software Versions (LO, VM 1-n)
      return W_SOFTWARE;
    default:
      return -1;
  }
}

/** VRs whose explicit encoding has a reserved 2 bytes and a 4-byte length (PS3.5 Table 7.1-1). */
function isLongVr(vr: number): boolean {
  switch (vr) {
    case 0x4f42: // OB
    case 0x4f44: // OD
    case 0x4f46: // OF
    case 0x4f4c: // OL
    case 0x4f56: // OV
    case 0x4f57: // OW
    case 0x5351: // SQ
    case 0x5356: // SV
    case 0x5543: // UC
    case 0x554e: // UN
    case 0x5552: // UR
    case 0x5554: // UT
    case 0x5556: // UV
      return true;
    default:
      return false;
  }
}

const VR_UN = 0x554e;

export interface DatasetWalkerLimits {
  /** Bytes kept of one wanted value; longer values are truncated (PS3.5 caps LO at 64 characters). */
  valueCap: number;
  /** Bytes of headers and values examined before the walk gives up quietly (skipped values do not count). */
  examineCap: number;
  /** Nesting depth of undefined-length sequences and items. */
  maxDepth: number;
  /** Compressed bytes of a deflated dataset collected before inflating its head. */
  deflateInputCap: number;
  /** Inflated bytes of a deflated dataset head that are walked. */
  deflateOutputCap: number;
}

const DEFAULT_WALKER_LIMITS: DatasetWalkerLimits = {
  valueCap: 256,
  examineCap: 64 * 1024,
  maxDepth: 16,
  deflateInputCap: 8 * 1024,
  deflateOutputCap: 32 * 1024,
};

/**
 * Walks one dataset at a time; reuse the instance with begin() for the next one.
 * Usage: begin(ts) → push(...)* → end() → attributes or null. Never throws.
 */
export class DatasetWalker {
  private readonly limits: DatasetWalkerLimits;
  private state = S_DONE;
  private enc = ENC_EXPLICIT_LE;
  /** Header carry for headers straddling two pushes; 12 bytes is the longest element header. */
  private readonly carry = Buffer.alloc(12);
  private carryLen = 0;
  /** Value buffer for wanted values straddling pushes. */
  private readonly valueBuf: Buffer;
  private valueLen = 0;
  private valueWant = 0;
  private valueSlot = -1;
  /** Bytes still to skip or to read of the current value. */
  private remaining = 0;
  /** Last top-level tag, as an unsigned 32-bit number (group << 16 | element). */
  private lastTag = -1;
  /** Nesting stack of undefined-length sequences and items; index 0 is the top level. */
  private depth = 0;
  private readonly frameKind: Uint8Array;
  private readonly frameEnc: Uint8Array;
  /** Parsed header. */
  private hTag = 0;
  private hVr = 0;
  private hLen = 0;
  /** Compressed head of a deflated dataset. */
  private deflateBuf: Buffer | null = null;
  private deflateLen = 0;
  private readonly values: (string | null)[] = new Array<string | null>(WANTED_COUNT).fill(null);
  private software: string[] | null = null;
  /** The last clean text decoded for each wanted slot and the query level (see slotText). */
  private readonly recent: string[] = new Array<string>(W_LEVEL + 1).fill("");
  private found = false;
  /** The connection the dataset came on (null when walked without one, as tests do). */
  private at: AnomalyFlow | null = null;
  /** Query mode (see the module comment) and what it counted. */
  private query = false;
  private qLevel: string | null = null;
  private qKeys = 0;
  private qMatching = 0;
  /** The current top-level element is a key / has already been counted as matching. */
  private qInKey = false;
  private qKeyMatched = false;
  /** Set by end() when the Identifier was walked to its end without error or cap. */
  private qComplete = false;

  /** Dataset bytes consumed so far (headers, values and skipped values), for details and tests. */
  offset = 0;
  /** Bytes of headers and wanted values looked at. */
  examined = 0;
  /** Bytes passed over after the walk ended (the tail of the dataset, e.g. pixel data). */
  tailSkipped = 0;

  constructor(
    private readonly anomalies: AnomalySink,
    private readonly counters: Counters,
    limits: Partial<DatasetWalkerLimits> = {},
  ) {
    this.limits = { ...DEFAULT_WALKER_LIMITS, ...limits };
    this.valueBuf = Buffer.alloc(this.limits.valueCap);
    this.frameKind = new Uint8Array(this.limits.maxDepth + 1);
    this.frameEnc = new Uint8Array(this.limits.maxDepth + 1);
  }

  /**
   * Start a dataset encoded in `transferSyntax` (null when the presentation context is unknown: the
   * encoding is then guessed from the first element). Any transfer syntax other than implicit LE,
   * explicit BE and the deflated ones encodes the dataset in explicit VR little endian (PS3.5 §A.4: encapsulated
   * pixel data keeps the other elements in explicit VR LE). `query` walks a C-FIND-RQ Identifier for
   * queryInfo() instead of reading equipment.
   */
  begin(transferSyntax: string | null, at: AnomalyFlow | null, query = false): void {
    this.at = at;
    this.query = query;
    this.qLevel = null;
    this.qKeys = 0;
    this.qMatching = 0;
    this.qInKey = false;
    this.qKeyMatched = false;
    this.qComplete = false;
    this.carryLen = 0;
    this.valueLen = 0;
    this.valueSlot = -1;
    this.remaining = 0;
    this.lastTag = -1;
    this.depth = 0;
    this.deflateLen = 0;
    this.offset = 0;
    this.examined = 0;
    this.tailSkipped = 0;
    this.found = false;
    this.software = null;
    this.values.fill(null);
    this.state = S_HEADER;
    if (transferSyntax === null) {
      this.state = S_DETECT;
      this.enc = ENC_EXPLICIT_LE;
    } else if (transferSyntax === IMPLICIT_VR_LITTLE_ENDIAN) {
      this.enc = ENC_IMPLICIT_LE;
    } else if (transferSyntax === EXPLICIT_VR_BIG_ENDIAN) {
      this.enc = ENC_EXPLICIT_BE;
    } else if (
      transferSyntax === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN ||
      transferSyntax === JPIP_REFERENCED_DEFLATE ||
      transferSyntax === JPIP_HTJ2K_REFERENCED_DEFLATE
    ) {
      // PS3.5 §A.5, §A.7 and the JPIP HTJ2K deflate syntax: the whole data set is a raw deflate stream.
      this.enc = ENC_EXPLICIT_LE;
      this.state = S_DEFLATE;
    } else {
      this.enc = ENC_EXPLICIT_LE;
    }
    this.frameEnc[0] = this.enc;
    this.frameKind[0] = 0;
  }

  /** True once the walk needs no more bytes: callers may stop pushing and just count the rest. */
  get finished(): boolean {
    return this.state === S_DONE;
  }

  /** Feed the next piece of the dataset: buf[start, end). The view is not kept after the call. */
  push(buf: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      switch (this.state) {
        case S_DONE:
          this.tailSkipped += end - pos;
          return;
        case S_SKIP: {
          const n = Math.min(this.remaining, end - pos);
          pos += n;
          this.offset += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_HEADER;
          break;
        }
        case S_VALUE:
          pos = this.stepValue(buf, pos, end);
          break;
        case S_SCAN:
          pos = this.stepScan(buf, pos, end);
          break;
        case S_DEFLATE:
          pos = this.stepDeflate(buf, pos, end);
          break;
        default:
          pos = this.stepHeader(buf, pos, end);
          break;
      }
    }
  }

  /**
   * The dataset ended (last PDV fragment). Returns what was found, or null when no wanted attribute was.
   * A dataset that ends inside an element or an open sequence had a length beyond its end: malformed.
   */
  end(): EquipmentAttributes | null {
    if (this.state === S_DEFLATE) this.inflateHead(true);
    if (this.state !== S_DONE) {
      const open =
        this.carryLen > 0 ||
        this.state === S_SKIP ||
        this.state === S_VALUE ||
        this.state === S_SCAN ||
        this.depth > 0;
      // Query counts are only complete when the walk reached the end of the Identifier.
      this.qComplete = this.query && !open;
      if (open) {
        this.malformed(
          "dataset.truncated",
          this.depth > 0
            ? "dataset ended inside an undefined-length sequence"
            : "element length beyond the dataset",
        );
      }
      this.state = S_DONE;
    }
    return this.attributes();
  }

  /** Abandon the dataset (a gap or an interleaved command): return what was found so far. */
  abandon(): EquipmentAttributes | null {
    this.state = S_DONE;
    return this.attributes();
  }

  /**
   * After end(), in query mode: the level and key counts of the Identifier; null when the Identifier was
   * cut, malformed or capped (partial counts could call a restricted query universal).
   */
  queryInfo(): QueryInfo | null {
    if (!this.qComplete) return null;
    return { level: this.qLevel, keys: this.qKeys, matchingKeys: this.qMatching };
  }

  private attributes(): EquipmentAttributes | null {
    if (!this.found) return null;
    const v = this.values;
    return {
      modality: v[W_MODALITY] ?? null,
      manufacturer: v[W_MANUFACTURER] ?? null,
      institutionName: v[W_INSTITUTION] ?? null,
      stationName: v[W_STATION] ?? null,
      manufacturerModelName: v[W_MODEL] ?? null,
      deviceSerialNumber: v[W_SERIAL] ?? null,
      softwareVersions: this.software ?? [],
    };
  }

  /**
   * A malformed dataset is reported and abandoned, and what was read from it is dropped too: once a
   * length or a tag is known to be wrong, an earlier "wanted" element may as well have been a patient
   * attribute with a damaged tag (e.g. Study Description (0008,1030) with one bit flipped reads as
   * (0008,1090)); the later tag-order or length error is often the only sign of it.
   */
  private malformed(code: DatasetAnomalyCode, detail: string): void {
    this.anomalies.anomaly(code, "dataset", this.at, `${detail} at dataset offset ${this.offset}`);
    this.state = S_DONE;
    this.found = false;
    this.software = null;
    this.values.fill(null);
  }

  /** Reads one element header from buf or from the carry; returns the new position in buf. */
  private stepHeader(buf: Buffer, pos: number, end: number): number {
    const had = this.carryLen;
    let src = buf;
    let off = pos;
    let avail = end - pos;
    let take = 0;
    if (had > 0) {
      // Complete the short header (8 bytes) first, then the long one (12): never copy value bytes.
      take = Math.min((had < 8 ? 8 : 12) - had, end - pos);
      buf.copy(this.carry, had, pos, pos + take);
      this.counters.bytesCopied += take;
      src = this.carry;
      off = 0;
      avail = had + take;
    }
    if (this.state === S_DETECT) {
      if (avail < 6) return this.stash(buf, pos, end, avail);
      this.detect(src, off);
      this.state = S_HEADER;
    }
    const h = this.parseHeader(src, off, avail);
    if (h === 0 && had > 0) {
      // A long-VR header whose last 4 bytes are still to come (from this piece or the next).
      this.carryLen = avail;
      return pos + take;
    }
    if (h === 0) return this.stash(buf, pos, end, avail);
    this.carryLen = 0;
    if (h < 0) {
      this.malformed("dataset.invalid-vr", "explicit VR is not two upper-case letters");
      return end;
    }
    this.offset += h;
    this.examined += h;
    let next = pos + (h - had);
    this.onElement();
    if (this.state !== S_DONE && this.examined > this.limits.examineCap) this.state = S_DONE;
    if (this.state === S_SKIP) {
      // Most values skipped are short and lie in this piece: pass over them here, as push's S_SKIP step
      // would, rather than in another round of its loop.
      const n = Math.min(this.remaining, end - next);
      next += n;
      this.offset += n;
      this.remaining -= n;
      if (this.remaining === 0) this.state = S_HEADER;
    }
    return next;
  }

  /** Keeps the incomplete header bytes for the next push. */
  private stash(buf: Buffer, pos: number, end: number, avail: number): number {
    if (this.carryLen === 0) {
      buf.copy(this.carry, 0, pos, end);
      this.counters.bytesCopied += end - pos;
    }
    this.carryLen = avail;
    return end;
  }

  /**
   * Guess the encoding of a dataset whose transfer syntax is unknown (association picked up mid-way):
   * two upper-case letters after the tag mean explicit VR; a group number whose low byte is zero read
   * as little endian (e.g. 00 08 → 0x0800) means big endian, as real groups are small numbers.
   */
  private detect(src: Buffer, off: number): void {
    const b0 = src[off] ?? 0;
    const b1 = src[off + 1] ?? 0;
    const c1 = src[off + 4] ?? 0;
    const c2 = src[off + 5] ?? 0;
    const letters = c1 >= 0x41 && c1 <= 0x5a && c2 >= 0x41 && c2 <= 0x5a;
    if (!letters) this.enc = ENC_IMPLICIT_LE;
    else if (b0 === 0 && b1 !== 0) this.enc = ENC_EXPLICIT_BE;
    else this.enc = ENC_EXPLICIT_LE;
    this.frameEnc[0] = this.enc;
  }

  /** Returns the header length, 0 when more bytes are needed, -1 when the VR is not valid. */
  private parseHeader(src: Buffer, off: number, avail: number): number {
    if (avail < 8) return 0;
    const enc = this.frameEnc[this.depth] ?? ENC_EXPLICIT_LE;
    const be = enc === ENC_EXPLICIT_BE;
    // Plain byte arithmetic: `avail` bytes are known to be present, so Buffer.readUInt*'s argument and
    // bounds checks would only cost time on every element header.
    const group = be ? u16be(src, off) : u16le(src, off);
    const element = be ? u16be(src, off + 2) : u16le(src, off + 2);
    this.hTag = ((group << 16) | element) >>> 0;
    this.hVr = 0;
    if (enc === ENC_IMPLICIT_LE || group === 0xfffe) {
      this.hLen = be ? u32be(src, off + 4) : u32le(src, off + 4);
      return 8;
    }
    const c1 = src[off + 4]!;
    const c2 = src[off + 5]!;
    if (c1 < 0x41 || c1 > 0x5a || c2 < 0x41 || c2 > 0x5a) return -1;
    this.hVr = (c1 << 8) | c2;
    if (isLongVr(this.hVr)) {
      if (avail < 12) return 0;
      this.hLen = be ? u32be(src, off + 8) : u32le(src, off + 8);
      return 12;
    }
    this.hLen = be ? u16be(src, off + 6) : u16le(src, off + 6);
    return 8;
  }

  /** Decide what to do with the element whose header was just read. */
  private onElement(): void {
    const tag = this.hTag;
    const len = this.hLen;
    const undefinedLength = len === UNDEFINED_LENGTH;
    if (!undefinedLength && (len & 1) !== 0) {
      // PS3.5 §7.1.1: value lengths are even.
      this.malformed("dataset.odd-length", "odd value length");
      return;
    }
    if (this.depth === 0) {
      if (tag >>> 16 === 0xfffe) {
        this.malformed("dataset.unexpected-delimiter", "item or delimiter at the top level");
        return;
      }
      if (tag <= this.lastTag) {
        // PS3.5 §7.1: data elements are in ascending tag order.
        this.malformed("dataset.tag-order", "tags not ascending");
        return;
      }
      this.lastTag = tag;
      if (this.query) {
        this.queryElement(tag, len, undefinedLength);
        return;
      }
      if (tag > LAST_WANTED_TAG) {
        // Past Software Versions (and so past Pixel Data too): nothing more to read.
        this.state = S_DONE;
        return;
      }
      const slot = wantedSlot(tag);
      if (slot >= 0) {
        if (undefinedLength) {
          this.malformed("dataset.undefined-length-value", "undefined length on a string element");
          return;
        }
        this.valueSlot = slot;
        this.valueLen = 0;
        this.valueWant = Math.min(len, this.limits.valueCap);
        this.remaining = len;
        if (len === 0) this.storeValue(this.valueBuf, 0, 0);
        else this.state = S_VALUE;
        return;
      }
      if (undefinedLength) this.open(F_SEQUENCE);
      else this.skip(len);
      return;
    }
    const kind = this.frameKind[this.depth];
    if (tag >>> 16 === 0xfffe) {
      if (tag === ITEM && kind === F_SEQUENCE) {
        if (undefinedLength) this.open(F_ITEM);
        else this.skipOrScan(len);
      } else if (tag === ITEM_DELIMITATION && kind === F_ITEM) {
        this.depth--;
      } else if (tag === SEQUENCE_DELIMITATION && kind === F_SEQUENCE) {
        this.depth--;
      } else {
        this.malformed("dataset.unexpected-delimiter", "item or delimiter out of place in a sequence");
      }
      return;
    }
    if (kind !== F_ITEM) {
      this.malformed("dataset.element-outside-item", "element directly inside a sequence");
      return;
    }
    if (undefinedLength) this.open(F_SEQUENCE);
    else this.skipOrScan(len);
  }

  /** A top-level element of an Identifier: the level is read, keys are counted and their values scanned. */
  private queryElement(tag: number, len: number, undefinedLength: boolean): void {
    this.qInKey = false;
    this.qKeyMatched = false;
    if (tag === QUERY_RETRIEVE_LEVEL) {
      if (undefinedLength) {
        this.malformed("dataset.undefined-length-value", "undefined length on a string element");
        return;
      }
      if (len === 0) return;
      this.valueSlot = W_LEVEL;
      this.valueLen = 0;
      this.valueWant = Math.min(len, LEVEL_CAP);
      this.remaining = len;
      this.state = S_VALUE;
      return;
    }
    if (isQueryKey(tag)) {
      this.qKeys++;
      this.qInKey = true;
    }
    if (undefinedLength) this.open(F_SEQUENCE);
    else this.skipOrScan(len);
  }

  /** Skip a value, or in query mode scan it when it belongs to a key not yet known to be matching. */
  private skipOrScan(len: number): void {
    if (len === 0) return;
    this.remaining = len;
    this.state = this.query && this.qInKey && !this.qKeyMatched ? S_SCAN : S_SKIP;
  }

  /**
   * Query mode: look at value bytes in place (never copied) until one is not a wildcard or padding byte;
   * then the key counts as matching and the rest of the value is skipped unseen.
   */
  private stepScan(buf: Buffer, pos: number, end: number): number {
    const n = Math.min(this.remaining, end - pos);
    const stop = pos + n;
    let i = pos;
    while (i < stop && isWildcardByte(buf[i] ?? 0)) i++;
    this.examined += i - pos;
    this.offset += n;
    this.remaining -= n;
    if (i < stop) {
      this.examined++;
      this.qKeyMatched = true;
      this.qMatching++;
    }
    this.state = this.remaining === 0 ? S_HEADER : this.qKeyMatched ? S_SKIP : S_SCAN;
    if (this.examined > this.limits.examineCap) this.state = S_DONE;
    return stop;
  }

  private skip(len: number): void {
    if (len === 0) return;
    this.remaining = len;
    this.state = S_SKIP;
  }

  /** Enter an undefined-length sequence or item; UN content is implicit VR LE (PS3.5 §6.2.2). */
  private open(kind: number): void {
    if (this.depth >= this.limits.maxDepth) {
      this.malformed("dataset.nesting-too-deep", `more than ${this.limits.maxDepth} nested levels`);
      return;
    }
    const enc = this.frameEnc[this.depth] ?? ENC_EXPLICIT_LE;
    this.depth++;
    this.frameKind[this.depth] = kind;
    this.frameEnc[this.depth] = kind === F_SEQUENCE && this.hVr === VR_UN ? ENC_IMPLICIT_LE : enc;
  }

  private stepValue(buf: Buffer, pos: number, end: number): number {
    const n = Math.min(this.remaining, end - pos);
    if (this.valueLen === 0 && n === this.remaining) {
      // The whole value is in this piece: decode it in place, no copy.
      this.offset += n;
      this.examined += this.valueWant;
      this.remaining = 0;
      this.state = S_HEADER;
      this.storeValue(buf, pos, pos + this.valueWant);
      return pos + n;
    }
    const want = Math.min(n, this.valueWant - this.valueLen);
    if (want > 0) {
      buf.copy(this.valueBuf, this.valueLen, pos, pos + want);
      this.counters.bytesCopied += want;
      this.valueLen += want;
      this.examined += want;
    }
    this.offset += n;
    this.remaining -= n;
    if (this.remaining === 0) {
      this.state = S_HEADER;
      this.storeValue(this.valueBuf, 0, this.valueLen);
    }
    return pos + n;
  }

  /**
   * Decode a wanted value: latin1, trimmed of padding (PS3.5 §6.2), C1 characters and ESC replaced.
   * Text VRs (CS, SH, LO) hold no control characters other than ESC (PS3.5 §6.1.2, Table 6.2-1), so a
   * NUL or a C0 byte inside the value means its length was wrong and the value runs into the following
   * element headers - and possibly into patient data. Such a value is dropped and the walk stops: that is
   * what keeps a corrupted or hostile length from turning the walker into a reader of other tags.
   */
  private storeValue(src: Buffer, start: number, end: number): void {
    let e = end;
    while (e > start && (src[e - 1] === 0x20 || src[e - 1] === 0x00)) e--;
    for (let i = start; i < e; i++) {
      const c = src[i] ?? 0;
      if ((c < 0x20 && c !== 0x1b) || c === 0x7f) {
        this.valueSlot = -1;
        this.malformed("dataset.invalid-value", "control bytes inside a text value (wrong length?)");
        return;
      }
    }
    const slot = this.valueSlot;
    this.valueSlot = -1;
    const text = this.slotText(slot, src, start, e);
    if (text === null) return;
    if (slot === W_LEVEL) {
      this.qLevel = text;
      return;
    }
    if (slot === W_SOFTWARE) {
      // VM 1-n: values separated by backslash (PS3.5 §6.4).
      const parts: string[] = [];
      for (const p of text.split("\\")) {
        const t = p.trim();
        if (t.length > 0) parts.push(t);
      }
      if (parts.length === 0) return;
      this.software = parts;
    } else if (slot >= 0) {
      this.values[slot] = text;
    } else {
      return;
    }
    this.found = true;
  }

  /**
   * valueText(src, start, e), or the slot's previous string when the bytes are the same: the data sets of
   * one device repeat the same equipment values message after message, and a fresh string for each
   * would only be garbage. The bytes are compared in place; a value whose control characters were
   * replaced is not remembered, so a remembered string is always the bytes' exact latin1 text.
   */
  private slotText(slot: number, src: Buffer, start: number, e: number): string | null {
    if (slot < 0 || slot >= this.recent.length) return valueText(src, start, e);
    // Leading spaces, as valueText trims them (trailing padding is already gone).
    let s = start;
    while (s < e && src[s] === 0x20) s++;
    if (s === e) return null;
    const n = e - s;
    const last = this.recent[slot] ?? "";
    if (last.length === n) {
      let i = n - 1;
      while (i >= 0 && last.charCodeAt(i) === src[s + i]) i--;
      if (i < 0) return last;
    }
    const text = valueText(src, s, e);
    if (text === null || text.length !== n) return text;
    for (let i = s; i < e; i++) {
      const c = src[i] ?? 0;
      if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return text;
    }
    this.recent[slot] = text;
    return text;
  }

  /** Collect the compressed head; inflate once enough is there. */
  private stepDeflate(buf: Buffer, pos: number, end: number): number {
    const cap = this.limits.deflateInputCap;
    this.deflateBuf ??= Buffer.alloc(cap);
    const n = Math.min(cap - this.deflateLen, end - pos);
    buf.copy(this.deflateBuf, this.deflateLen, pos, pos + n);
    this.counters.bytesCopied += n;
    this.deflateLen += n;
    if (this.deflateLen >= cap) this.inflateHead(false);
    return pos + n;
  }

  /**
   * Inflate the collected head of a deflated explicit VR LE dataset (PS3.5 §A.5: raw RFC 1951 deflate).
   * Z_SYNC_FLUSH lets a truncated stream yield what it has; the output is bounded, and when the head
   * would inflate beyond the bound the input is halved until it fits (a deflate bomb costs a few tries).
   * `complete` says whether the whole dataset was collected (then a cut element is malformed).
   */
  private inflateHead(complete: boolean): void {
    const input = this.deflateBuf;
    const n = this.deflateLen;
    this.state = S_DONE;
    if (input === null || n === 0) return;
    // Output grows with input: try the whole head, else binary-search the longest prefix that fits.
    let truncated = !complete;
    let out: Buffer | null = null;
    const whole = this.tryInflate(input, n);
    if (whole === "failed") {
      this.anomalies.anomaly(
        "dataset.inflate-failed",
        "dataset",
        this.at,
        "deflated dataset does not inflate",
      );
      return;
    }
    if (whole !== "too-large") {
      out = whole;
    } else {
      truncated = true;
      let lo = 0; // longest prefix known to fit
      let hi = n - 1; // longest prefix that may fit
      while (lo < hi) {
        const mid = lo + ((hi - lo + 1) >> 1);
        const r = this.tryInflate(input, mid);
        if (r === "failed") break;
        if (r === "too-large") {
          hi = mid - 1;
        } else {
          lo = mid;
          out = r;
        }
      }
    }
    if (out === null) return;
    this.counters.bytesCopied += out.length;
    this.enc = ENC_EXPLICIT_LE;
    this.frameEnc[0] = ENC_EXPLICIT_LE;
    this.state = S_HEADER;
    this.push(out, 0, out.length);
    if (truncated) this.state = S_DONE; // the head was cut on purpose: an open element is not malformed
  }

  private tryInflate(input: Buffer, n: number): Buffer | "too-large" | "failed" {
    try {
      return inflateRawSync(input.subarray(0, n), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        maxOutputLength: this.limits.deflateOutputCap,
      });
    } catch (err) {
      return (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" ? "too-large" : "failed";
    }
  }
}

/** Unsigned integers at `p`; the caller guarantees the bytes are present. */
function u16le(b: Buffer, p: number): number {
  return b[p]! | (b[p + 1]! << 8);
}
function u16be(b: Buffer, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}
function u32le(b: Buffer, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
}
function u32be(b: Buffer, p: number): number {
  return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}
