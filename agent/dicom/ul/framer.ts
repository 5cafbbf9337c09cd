/**
 * Incremental DICOM Upper Layer PDU framer for one direction of a TCP connection (PS3.8 §9.3).
 *
 * A small state machine in the style of pg-protocol and undici: each named state consumes what is complete
 * in the current view and returns, waiting for the next one. Every read is bounded by `end`.
 *
 * - Association control PDUs (types 1, 2, 3, 5, 6, 7) are collected whole and handed to the sink; they are
 *   decoded in place when they lie in one view, and copied (counted in counters.bytesCopied) only when they
 *   straddle views. Their length is capped (MAX_ASSOCIATION_PDU) before anything is buffered.
 * - P-DATA-TF (type 4) is never collected: its PDV items (PS3.8 §9.3.5.1) are streamed to a PdvConsumer as
 *   slices arrive; only a PDV item header that straddles views is copied (6 bytes).
 * - Finding DICOM in a stream and resynchronising after a gap use the same scan: look for a plausible PDU
 *   header (plausiblePduHeader), accept strong candidates at once and weak ones when the next PDU header
 *   sits exactly where the candidate's length says. The scan touches each byte once and has a budget.
 */
import type { AnomalyCode, Counters } from "../../util/anomaly.js";
import type { PdvConsumer, PdvReset } from "../types.js";
import { PDU_HEADER_LENGTH, PDU_P_DATA_TF, pduName, readU16BE, readU32BE } from "./pdu.js";

/** Association control PDUs above this are reported and skipped, never buffered (PS3.8 sets no limit). */
export const MAX_ASSOCIATION_PDU = 256 * 1024;
/** A-ASSOCIATE-RJ, A-RELEASE-RQ/RP and A-ABORT are 10 bytes (PS3.8 §9.3.4, 9.3.6-9.3.8); a longer one is
 * still read (and reported), but no more than this is ever collected for it. */
const MAX_FIXED_PDU = 1024;
/**
 * P-DATA-TF above this is taken as a lost framing (anomaly, then resynchronise). A peer that announced
 * Maximum Length 0 (unlimited, PS3.8 D.1.1) may send big PDUs, so the cap is generous: nothing is buffered.
 */
export const MAX_P_DATA_PDU = 64 << 20;
/** Bytes a direction may scan to find its first PDU header before it is declared not DICOM. */
export const DETECT_SCAN_BUDGET = 64 * 1024;
/** Bytes a DICOM direction may scan after a gap before it gives up on the rest of the stream. */
export const RESYNC_SCAN_BUDGET = MAX_P_DATA_PDU + PDU_HEADER_LENGTH;
/** Periodic skipping of identical stray P-DATA-TFs (PduFramer.strayRun): back-off bounds, in PDUs. */
const STRAY_BACKOFF_MIN = 8;
const STRAY_BACKOFF_MAX = 4096;
/** At most this many identical PDUs per comparison (bounds one memcmp to a few hundred kB). */
const STRAY_MAX_COPIES = 1 << 16;
/** PDV items walked by the plausibility test; beyond this a consistent chain counts as strong. */
const PLAUSIBLE_MAX_PDV_WALK = 16;

export const NOT_PLAUSIBLE = -1;
export const NEED_MORE = 0;
export const WEAK = 1;
export const STRONG = 2;

/** A-ASSOCIATE-RJ's fixed body (PS3.8 §9.3.4): reserved 0, result 1..2, source 1..3. */
function rejectBody(buf: Buffer, off: number): boolean {
  const result = buf[off + 7]!;
  const source = buf[off + 8]!;
  return buf[off + 6] === 0 && result >= 1 && result <= 2 && source >= 1 && source <= 3;
}

/** A-ABORT's fixed body (PS3.8 §9.3.8): reserved 0 0, source 0 or 2, reason <= 6. */
function abortBody(buf: Buffer, off: number): boolean {
  const source = buf[off + 8]!;
  return buf[off + 6] === 0 && buf[off + 7] === 0 && (source === 0 || source === 2) && buf[off + 9]! <= 6;
}

/**
 * Does a PDU header start at `off`? Returns NOT_PLAUSIBLE, NEED_MORE (fewer than 12 bytes were available to
 * decide), WEAK (a P-DATA-TF whose PDV items are consistent as far as the view goes) or STRONG.
 *
 * Tests, beyond type 1..7 and a zero reserved byte (which a real stream could break, but detection may be
 * strict where the framer, once synchronised, is lenient):
 * - A-ASSOCIATE-RQ/AC: length 68..MAX_ASSOCIATION_PDU, protocol version exactly 1 (PS3.8 §9.3.2).
 * - A-ASSOCIATE-RJ, A-RELEASE-RQ/RP, A-ABORT: length 4 and legal values in the 4 fixed bytes.
 * - P-DATA-TF: PDV items (length >= 2, odd presentation context ID, message control header <= 3) that
 *   tile the PDU exactly (STRONG), or that are consistent until the view ends (WEAK).
 */
export function plausiblePduHeader(buf: Buffer, off: number, end: number): number {
  const avail = end - off;
  if (avail < 1) return NEED_MORE;
  const type = buf[off]!;
  if (type < 1 || type > 7) return NOT_PLAUSIBLE;
  if (avail < 2) return NEED_MORE;
  if (buf[off + 1] !== 0) return NOT_PLAUSIBLE;
  if (avail < 6) return NEED_MORE;
  const len = readU32BE(buf, off + 2);
  switch (type) {
    case 1:
    case 2:
      if (len < 68 || len > MAX_ASSOCIATION_PDU) return NOT_PLAUSIBLE;
      if (avail < 8) return NEED_MORE;
      return readU16BE(buf, off + 6) === 1 ? STRONG : NOT_PLAUSIBLE;
    case 3:
      if (len !== 4) return NOT_PLAUSIBLE;
      if (avail < 10) return NEED_MORE;
      return rejectBody(buf, off) ? STRONG : NOT_PLAUSIBLE;
    case 5:
    case 6:
      if (len !== 4) return NOT_PLAUSIBLE;
      if (avail < 10) return NEED_MORE;
      return buf[off + 6] === 0 && buf[off + 7] === 0 && buf[off + 8] === 0 && buf[off + 9] === 0
        ? STRONG
        : NOT_PLAUSIBLE;
    case 7:
      if (len !== 4) return NOT_PLAUSIBLE;
      if (avail < 10) return NEED_MORE;
      return abortBody(buf, off) ? STRONG : NOT_PLAUSIBLE;
    default: {
      // P-DATA-TF
      if (len < 6 || len > MAX_P_DATA_PDU) return NOT_PLAUSIBLE;
      const pduEnd = off + PDU_HEADER_LENGTH + len;
      let p = off + PDU_HEADER_LENGTH;
      for (let items = 0; ; items++) {
        if (p === pduEnd) return STRONG;
        if (items >= PLAUSIBLE_MAX_PDV_WALK) return STRONG;
        if (end - p < 6) return items === 0 ? NEED_MORE : WEAK;
        const itemLength = readU32BE(buf, p);
        if (itemLength < 2 || itemLength > pduEnd - p - 4) return NOT_PLAUSIBLE;
        if ((buf[p + 4]! & 1) === 0 || buf[p + 5]! > 3) return NOT_PLAUSIBLE;
        p += 4 + itemLength;
      }
    }
  }
}

/**
 * Is the header at `off` a PDU header whose only fault is a length beyond any sane PDU (above its type's
 * cap)? Returns STRONG, NOT_PLAUSIBLE, or NEED_MORE (fewer than 12 bytes were available to decide).
 * Used only where a PDU header must start (the stream's first byte, handshake seen): there a hostile or
 * broken first PDU declaring 4 GB is an oversized PDU of a DICOM stream (anomaly, then resynchronise),
 * not proof that the connection carries something else (issue 9). What must hold besides the length:
 *
 *   A-ASSOCIATE-RQ/AC   type 1/2, reserved 0, length > MAX_ASSOCIATION_PDU, protocol version 1 (§9.3.2)
 *   A-ASSOCIATE-RJ      type 3, reserved 0, length != 4, reserved 0, result 1..2, source 1..3 (§9.3.4)
 *   P-DATA-TF           type 4, reserved 0, length > MAX_P_DATA_PDU, and a first PDV item with length
 *                       2..MAX_P_DATA_PDU, an odd context ID and message control header <= 3 (§9.3.5.1)
 *   A-ABORT             type 7, reserved 0, length != 4, reserved 0 0, source 0 or 2, reason <= 6 (§9.3.8)
 *
 * A-RELEASE-RQ/RP (all-zero bodies) are not enough evidence and stay NOT_PLAUSIBLE.
 */
export function oversizedPduHeader(buf: Buffer, off: number, end: number): number {
  const avail = end - off;
  if (avail < 1) return NEED_MORE;
  const type = buf[off]!;
  if (type < 1 || type > 7 || type === 5 || type === 6) return NOT_PLAUSIBLE;
  if (avail < 2) return NEED_MORE;
  if (buf[off + 1] !== 0) return NOT_PLAUSIBLE;
  if (avail < 6) return NEED_MORE;
  const len = readU32BE(buf, off + 2);
  switch (type) {
    case 1:
    case 2:
      if (len <= MAX_ASSOCIATION_PDU) return NOT_PLAUSIBLE;
      if (avail < 8) return NEED_MORE;
      return readU16BE(buf, off + 6) === 1 ? STRONG : NOT_PLAUSIBLE;
    case 3:
      if (len === 4) return NOT_PLAUSIBLE;
      if (avail < 10) return NEED_MORE;
      return rejectBody(buf, off) ? STRONG : NOT_PLAUSIBLE;
    case 7:
      if (len === 4) return NOT_PLAUSIBLE;
      if (avail < 10) return NEED_MORE;
      return abortBody(buf, off) ? STRONG : NOT_PLAUSIBLE;
    default: {
      // P-DATA-TF
      if (len <= MAX_P_DATA_PDU) return NOT_PLAUSIBLE;
      if (avail < 12) return NEED_MORE;
      const itemLength = readU32BE(buf, off + 6);
      return itemLength >= 2 &&
        itemLength <= MAX_P_DATA_PDU &&
        (buf[off + 10]! & 1) === 1 &&
        buf[off + 11]! <= 3
        ? STRONG
        : NOT_PLAUSIBLE;
    }
  }
}

/** What the framer reports to its owner (the connection). */
export interface PduSink {
  /** A complete association control PDU, [start, end) from its type byte; the view is valid during the call. */
  pdu(type: number, buf: Buffer, start: number, end: number, tsMicros: number): void;
  /** A P-DATA-TF header with this PDU-length was read; returns the consumer for its PDVs. */
  pdata(tsMicros: number, length: number): PdvConsumer;
  /**
   * Optional: the last pdata(ts, length) call, made `times` more times with the same arguments (a run of
   * equal P-DATA-TFs in a flood), whose result is known to be the same consumer. Without it, the framer
   * calls pdata for each.
   */
  pdataRepeat?(times: number): void;
  /** The first PDU header of this direction was found: it carries DICOM. */
  synced(): void;
  /**
   * Detection failed (`atStart`: the stream's first bytes are not a PDU header; else the scan budget ran out).
   * Return true to stop (the direction is ignored from now on), false to keep scanning as a resync.
   */
  notDicom(atStart: boolean): boolean;
  /** A malformed-input report of layer "ul" on this flow. */
  anomaly(code: AnomalyCode, detail: string): void;
  /**
   * Optional: true (and counted) when `code` was reported on this flow before, so the framer builds no
   * detail for it (a hostile stream repeats one anomaly per PDU).
   */
  repeat?(code: AnomalyCode): boolean;
}

// Named states.
const S_SCAN = 0; // looking for a PDU header (detection or resync)
const S_HEADER = 1; // reading a 6-byte PDU header
const S_BODY = 2; // collecting an association control PDU that straddles views
const S_SKIP = 3; // skipping the rest of a PDU (oversized, malformed, or after a gap)
const S_PDV_HEADER = 4; // reading a 6-byte PDV item header inside a P-DATA-TF
const S_PDV_VALUE = 5; // streaming a PDV value to the consumer
const S_PDV_SKIP = 6; // skipping the rest of a PDV value lost to a gap
const S_DEAD = 7; // not DICOM, or lost for good: ignore cheaply

export class PduFramer {
  private state = S_SCAN;
  /** Bytes of this direction seen so far, gaps included: the stream offset of the next byte. */
  private streamPos = 0;
  /** Stream offset of index 0 of the view being processed (streamPos of buf[i] is base + i). */
  private base = 0;
  private ts = 0;

  /** Once synchronised, later scans are resyncs (they report "ul.resync"); before, they are detection. */
  private synced = false;
  /** Stream offset where the stream's first byte is known to be a PDU start (handshake seen), else -1. */
  private strictAt: number;
  private scanStart = 0;
  private scanBudget = DETECT_SCAN_BUDGET;
  /** Stream offset where a weak candidate says the next PDU header must be, or -1. */
  private pendingAt = -1;
  // Small work buffers come from Node's shared pool (allocUnsafe): every TCP connection gets a framer
  // pair, most never need them, and each byte is written before it is read.
  /** Up to 11 bytes at the end of a view that were too few to judge a candidate. */
  private readonly carry = Buffer.allocUnsafe(16);
  private carryLen = 0;
  private carryAbs = 0;
  private readonly scratch = Buffer.allocUnsafe(24);

  // PDU in progress.
  private readonly hdr = Buffer.allocUnsafe(PDU_HEADER_LENGTH);
  private hdrLen = 0;
  private pduType = 0;
  /** Association PDU being collected; grown as bytes arrive, so a lying length costs nothing up front. */
  private collect: Buffer | null = null;
  private collectLen = 0;
  private collectTotal = 0;
  private skipRemaining = 0;
  private pduRemaining = 0;
  private pdvRemaining = 0;
  private consumer: PdvConsumer | null = null;
  /** The consumer got a pdvBegin since its last reset, so it may hold partial state. */
  private consumerDirty = false;
  /** Killed only because detection ran out of budget while the other direction was undecided. */
  private revivable = false;
  /** strayRun: PDUs to read one by one before the next periodic comparison, and the next back-off. */
  private strayWait = 0;
  private strayBackoff = STRAY_BACKOFF_MIN;

  /**
   * `detectBudget`: bytes scanned for the first PDU header before the direction is declared not DICOM. The
   * default suits any port; a connection picked up mid-stream on a DICOM port may be inside a P-DATA-TF of
   * any negotiated length (PS3.8 D.1: up to unlimited), and passes a budget that covers MAX_P_DATA_PDU.
   */
  constructor(
    private readonly sink: PduSink,
    private readonly counters: Counters,
    atStreamStart: boolean,
    private readonly detectBudget = DETECT_SCAN_BUDGET,
  ) {
    this.strictAt = atStreamStart ? 0 : -1;
    this.scanBudget = detectBudget;
  }

  /** True once a PDU header was found in this direction. */
  get isSynced(): boolean {
    return this.synced;
  }

  /** True when the direction is ignored (not DICOM, or a resync gave up). */
  get isDead(): boolean {
    return this.state === S_DEAD;
  }

  /** Stop processing this direction (the connection decided it is not DICOM). */
  kill(): void {
    this.state = S_DEAD;
    this.releaseCollect();
    this.revivable = false;
  }

  /**
   * The other direction proved the connection DICOM after this one gave up detection for lack of budget
   * (a connection picked up in the middle of a P-DATA-TF longer than DETECT_SCAN_BUDGET): scan again from
   * the next byte, as a resync. A direction declared dead for any other reason stays dead.
   */
  revive(): void {
    if (!this.revivable || this.state !== S_DEAD) return;
    this.revivable = false;
    this.synced = true;
    this.strictAt = -1;
    this.resync(this.streamPos, "gap");
  }

  data(buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.state === S_DEAD) return;
    this.ts = tsMicros;
    this.base = this.streamPos - start;
    this.streamPos += end - start;
    this.run(buf, start, end);
  }

  /** `length` bytes of this direction are lost (PS3.8 framing is kept when the gap falls inside a PDU). */
  gap(length: number, tsMicros: number): void {
    if (this.state === S_DEAD || length <= 0) return;
    this.ts = tsMicros;
    this.streamPos += length;
    switch (this.state) {
      case S_SCAN:
        this.carryLen = 0;
        this.strictAt = -1; // the stream's first bytes are lost
        if (this.pendingAt >= 0 && this.pendingAt < this.streamPos) this.pendingAt = -1;
        return;
      case S_HEADER:
        // The lost bytes could hold any number of PDUs: only a scan can find the next header.
        this.resync(this.streamPos, "gap");
        return;
      case S_BODY:
        this.sink.anomaly("ul.pdu-lost-in-gap", `${pduName(this.pduType)} lost to a gap in the capture`);
        this.releaseCollect();
        this.skipAfterGap(this.skipRemaining, length);
        return;
      case S_SKIP:
        this.skipAfterGap(this.skipRemaining, length);
        return;
      case S_PDV_HEADER:
      case S_PDV_VALUE:
      case S_PDV_SKIP:
        this.resetConsumer("gap");
        if (this.state !== S_PDV_HEADER && length <= this.pdvRemaining) {
          // The gap ends inside the same PDV value, or exactly at its end: the framing is still known, and
          // the PDV items after it in this P-DATA-TF are read.
          this.pdvRemaining -= length;
          this.pduRemaining -= length;
          this.hdrLen = 0;
          if (this.pdvRemaining > 0) this.state = S_PDV_SKIP;
          else this.state = this.pduRemaining > 0 ? S_PDV_HEADER : S_HEADER;
        } else this.skipAfterGap(this.pduRemaining, length);
        return;
    }
  }

  private skipAfterGap(remaining: number, length: number): void {
    this.hdrLen = 0;
    if (length < remaining) this.skip(remaining - length);
    else if (length === remaining) this.state = S_HEADER;
    else this.resync(this.streamPos, "gap");
  }

  /** Takes `n` bytes from the run's budget for held PDUs (Counters.collectBudget); false when spent. */
  private reserve(n: number): boolean {
    const budget = this.counters.collectBudget;
    if (budget === undefined) return true;
    if (budget < n) {
      this.sink.anomaly(
        "ul.collect-budget-exhausted",
        `${pduName(this.pduType)} straddling segments not held: the budget shared by all connections is spent`,
      );
      return false;
    }
    this.counters.collectBudget = budget - n;
    return true;
  }

  /** Drops the PDU being collected and gives its bytes back to the shared budget. */
  private releaseCollect(): void {
    if (this.collect === null) return;
    if (this.counters.collectBudget !== undefined) this.counters.collectBudget += this.collect.length;
    this.collect = null;
  }

  /** True when the sink counted `code` as a repeat: its detail is then not built. */
  private repeated(code: AnomalyCode): boolean {
    return this.sink.repeat?.(code) ?? false;
  }

  private resetConsumer(reason: PdvReset): void {
    if (this.consumer !== null && this.consumerDirty) {
      this.consumerDirty = false;
      this.consumer.reset(reason);
    }
  }

  /**
   * Enter the scan state from stream offset `at`: after a gap ("gap"), or after an implausible header
   * ("framing-lost"); a message whose data set was streaming stops for that reason.
   */
  private resync(at: number, reason: PdvReset): void {
    this.resetConsumer(reason);
    this.releaseCollect();
    this.hdrLen = 0;
    this.state = S_SCAN;
    this.scanStart = at;
    this.scanBudget = this.synced ? RESYNC_SCAN_BUDGET : this.detectBudget;
    this.pendingAt = -1;
    this.carryLen = 0;
  }

  private skip(n: number): void {
    this.hdrLen = 0;
    if (n === 0) this.state = S_HEADER;
    else {
      this.skipRemaining = n;
      this.state = S_SKIP;
    }
  }

  private run(buf: Buffer, p: number, end: number): void {
    while (p < end) {
      switch (this.state) {
        case S_SCAN:
          p = this.scan(buf, p, end);
          break;
        case S_HEADER: {
          if (this.hdrLen === 0 && end - p >= 12 && this.consumer?.strayData !== undefined) {
            const q = this.strayRun(buf, p, end);
            if (q !== p) {
              p = q;
              break;
            }
          }
          p = this.header(buf, p, end);
          break;
        }
        case S_BODY: {
          const n = Math.min(end - p, this.collectTotal - this.collectLen);
          let collect = this.collect!;
          if (this.collectLen + n > collect.length) {
            const size = Math.min(this.collectTotal, Math.max(2 * collect.length, this.collectLen + n));
            if (!this.reserve(size - collect.length)) {
              // The run's budget for held PDUs is spent: give this one up, keep the framing.
              this.releaseCollect();
              this.skip(this.skipRemaining);
              break;
            }
            const grown = Buffer.allocUnsafe(size);
            collect.copy(grown, 0, 0, this.collectLen);
            this.collect = collect = grown;
          }
          buf.copy(collect, this.collectLen, p, p + n);
          this.counters.bytesCopied += n;
          this.collectLen += n;
          this.skipRemaining -= n;
          p += n;
          if (this.collectLen === this.collectTotal) {
            this.releaseCollect();
            this.state = S_HEADER;
            this.sink.pdu(this.pduType, collect, 0, this.collectTotal, this.ts);
          }
          break;
        }
        case S_SKIP: {
          const n = Math.min(end - p, this.skipRemaining);
          this.skipRemaining -= n;
          p += n;
          if (this.skipRemaining === 0) this.state = S_HEADER;
          break;
        }
        case S_PDV_HEADER:
          p = this.pdvHeader(buf, p, end);
          break;
        case S_PDV_VALUE: {
          const n = Math.min(end - p, this.pdvRemaining);
          this.consumer!.pdvData(buf, p, p + n);
          this.pdvRemaining -= n;
          this.pduRemaining -= n;
          p += n;
          if (this.pdvRemaining === 0) {
            this.consumer!.pdvEnd();
            this.state = this.pduRemaining > 0 ? S_PDV_HEADER : S_HEADER;
          }
          break;
        }
        case S_PDV_SKIP: {
          const n = Math.min(end - p, this.pdvRemaining);
          this.pdvRemaining -= n;
          this.pduRemaining -= n;
          p += n;
          if (this.pdvRemaining === 0) this.state = this.pduRemaining > 0 ? S_PDV_HEADER : S_HEADER;
          break;
        }
        default:
          return; // S_DEAD
      }
    }
  }

  /**
   * Whole P-DATA-TFs of stray data PDVs, in a flood (issue 9): PDVs that begin no message (no command set
   * before them, PS3.7 §6.3.1) and would only count an anomaly each. While the consumer says so
   * (PdvConsumer.strayData), every P-DATA-TF that lies whole in the view and holds only well-formed data
   * PDV items (length >= 2 and within the PDU, odd context ID, message control header 0 or 2) is passed
   * in one tight loop: the sink still sees each PDU (pdata, or pdataRepeat for a run of equal lengths),
   * the tally is hit once per PDV, and nothing else happens, exactly as through header, pdvHeader and
   * the consumer's pdvBegin/pdvEnd. Anything else (another PDU type, a command PDV, a malformed item, a
   * PDU cut by the view) stops the loop at that PDU's first byte for the ordinary states to read.
   *
   * A flood that repeats one PDU is periodic: after a PDU of S bytes is validated, the next k·S bytes
   * compared (native memcmp) with the k·S bytes from that PDU's start equal means k identical PDUs
   * follow, taken at once. A failed comparison backs off (8, 16, ... 4096 PDUs, across views) before the
   * next try, so a stream of varied PDUs pays one native call per many PDUs. Returns where it stopped.
   */
  private strayRun(buf: Buffer, p: number, end: number): number {
    const consumer = this.consumer!;
    const tally = consumer.strayData!();
    if (tally === undefined) return p;
    const sink = this.sink;
    const canRepeat = sink.pdataRepeat !== undefined;
    let lastLength = -1;
    let repeats = 0;
    let hits = 0;
    run: while (end - p >= 12) {
      if (buf[p] !== PDU_P_DATA_TF || buf[p + 1] !== 0) break;
      // Big-endian lengths read inline (this loop runs once per PDU of a flood).
      const length = buf[p + 2]! * 0x1000000 + ((buf[p + 3]! << 16) | (buf[p + 4]! << 8) | buf[p + 5]!);
      if (length < 6 || length > MAX_P_DATA_PDU || length > end - p - PDU_HEADER_LENGTH) break;
      const pduEnd = p + PDU_HEADER_LENGTH + length;
      let q = p + PDU_HEADER_LENGTH;
      let items = 0;
      while (q < pduEnd) {
        if (pduEnd - q < 6) break run;
        const itemLength = buf[q]! * 0x1000000 + ((buf[q + 1]! << 16) | (buf[q + 2]! << 8) | buf[q + 3]!);
        if (itemLength < 2 || itemLength > pduEnd - q - 4) break run;
        // Odd context ID; message control header 0x00 or 0x02 (data set, reserved bits clear).
        if ((buf[q + 4]! & 1) === 0 || (buf[q + 5]! & 0xfd) !== 0) break run;
        q += 4 + itemLength;
        items++;
      }
      if (length === lastLength && canRepeat) repeats++;
      else {
        if (repeats > 0) sink.pdataRepeat!(repeats);
        repeats = 0;
        const next = sink.pdata(this.ts, length);
        if (next !== consumer) {
          // Another consumer (not expected inside a run of P-DATA-TFs, but never assumed): the header is
          // taken as header() takes it, and the PDU's items go through the ordinary states.
          if (hits > 0 && tally !== null) tally.hit(hits);
          this.consumer = next;
          this.consumerDirty = false;
          this.pduRemaining = length;
          this.state = S_PDV_HEADER;
          return p + PDU_HEADER_LENGTH;
        }
        lastLength = length;
      }
      this.consumerDirty = true;
      hits += items;
      const size = pduEnd - p;
      if (canRepeat && this.strayWait-- <= 0) {
        const copies = Math.min(Math.floor((end - pduEnd) / size), STRAY_MAX_COPIES);
        if (copies >= 2 && buf.compare(buf, p, p + copies * size, pduEnd, pduEnd + copies * size) === 0) {
          repeats += copies;
          hits += copies * items;
          p = pduEnd + copies * size;
          this.strayBackoff = STRAY_BACKOFF_MIN;
          this.strayWait = 0;
          continue;
        }
        if (copies >= 2) {
          this.strayWait = this.strayBackoff;
          this.strayBackoff = Math.min(2 * this.strayBackoff, STRAY_BACKOFF_MAX);
        }
      }
      p = pduEnd;
    }
    if (repeats > 0) sink.pdataRepeat!(repeats);
    if (hits > 0 && tally !== null) tally.hit(hits);
    return p;
  }

  /**
   * PDU header (PS3.8 §9.3.1): type (1), reserved (1), PDU-length (4, big endian, excludes the header).
   * Read in place when whole in the view, else gathered in `hdr` (6 bytes copied at most).
   */
  private header(buf: Buffer, p: number, end: number): number {
    let type: number, reserved: number, length: number;
    let inPlace = false;
    const pduStart = p;
    if (this.hdrLen === 0 && end - p >= PDU_HEADER_LENGTH) {
      type = buf[p]!;
      reserved = buf[p + 1]!;
      length = readU32BE(buf, p + 2);
      p += PDU_HEADER_LENGTH;
      inPlace = true;
    } else {
      const n = Math.min(PDU_HEADER_LENGTH - this.hdrLen, end - p);
      buf.copy(this.hdr, this.hdrLen, p, p + n);
      this.counters.bytesCopied += n;
      this.hdrLen += n;
      p += n;
      if (this.hdrLen < PDU_HEADER_LENGTH) return p;
      this.hdrLen = 0;
      type = this.hdr[0]!;
      reserved = this.hdr[1]!;
      length = readU32BE(this.hdr, 2);
    }
    this.pduType = type;
    if (type < 1 || type > 7) {
      if (!this.repeated("ul.unknown-pdu-type"))
        this.sink.anomaly(
          "ul.unknown-pdu-type",
          `PDU type 0x${type.toString(16).padStart(2, "0")}, framing lost`,
        );
      this.resync(this.base + p, "framing-lost");
      return p;
    }
    if (reserved !== 0 && !this.repeated("ul.nonzero-reserved"))
      this.sink.anomaly("ul.nonzero-reserved", `${pduName(type)} header reserved byte is ${reserved}`);
    if (length > MAX_P_DATA_PDU) {
      if (!this.repeated("ul.invalid-pdu-length"))
        this.sink.anomaly(
          "ul.invalid-pdu-length",
          `${pduName(type)} length ${length} is beyond any sane PDU, framing lost`,
        );
      this.resync(this.base + p, "framing-lost");
      return p;
    }
    if (type === PDU_P_DATA_TF) {
      if (length < 6) {
        // PS3.8 §9.3.5: a P-DATA-TF holds one or more PDV items of at least 6 bytes each.
        if (!this.repeated("ul.invalid-pdu-length"))
          this.sink.anomaly("ul.invalid-pdu-length", `P-DATA-TF length ${length} cannot hold a PDV item`);
        this.skip(length);
        return p;
      }
      const consumer = this.sink.pdata(this.ts, length);
      if (consumer !== this.consumer) {
        this.consumer = consumer;
        this.consumerDirty = false;
      }
      this.pduRemaining = length;
      this.state = S_PDV_HEADER;
      return p;
    }
    if (type !== 1 && type !== 2 && length !== 4 && !this.repeated("ul.invalid-pdu-length"))
      this.sink.anomaly("ul.invalid-pdu-length", `${pduName(type)} length ${length}, PS3.8 fixes it at 4`);
    const cap = type === 1 || type === 2 ? MAX_ASSOCIATION_PDU : MAX_FIXED_PDU;
    if (length > cap) {
      if (!this.repeated("ul.pdu-too-large"))
        this.sink.anomaly("ul.pdu-too-large", `${pduName(type)} of ${length} bytes skipped (cap ${cap})`);
      this.skip(length);
      return p;
    }
    if (inPlace && end - p >= length) {
      // Whole PDU in this view: decode in place, no copy.
      this.state = S_HEADER;
      this.sink.pdu(type, buf, pduStart, p + length, this.ts);
      return p + length;
    }
    this.collectTotal = PDU_HEADER_LENGTH + length;
    const size = Math.min(this.collectTotal, Math.max(4096, PDU_HEADER_LENGTH + (end - p)));
    if (!this.reserve(size)) {
      this.skip(length);
      return p;
    }
    const collect = Buffer.allocUnsafe(size);
    if (inPlace) buf.copy(collect, 0, pduStart, p);
    else this.hdr.copy(collect, 0, 0, PDU_HEADER_LENGTH);
    this.counters.bytesCopied += PDU_HEADER_LENGTH;
    this.collect = collect;
    this.collectLen = PDU_HEADER_LENGTH;
    this.skipRemaining = length;
    this.state = S_BODY;
    return p;
  }

  /**
   * PDV item (PS3.8 §9.3.5.1 and Annex E.2):
   *
   *   0..3                 4        5                                   6..
   *   +--------------------+--------+-----------------------------------+-----------------------+
   *   | item-length (BE)   | pc-id  | message control header            | PDV value fragment    |
   *   | (pc-id + mch + val)|        | bit 0: 1 command, 0 data          | (item-length - 2)     |
   *   |                    |        | bit 1: 1 last fragment; 2-7 zero  |                       |
   *   +--------------------+--------+-----------------------------------+-----------------------+
   */
  private pdvHeader(buf: Buffer, p: number, end: number): number {
    if (this.hdrLen === 0 && this.pduRemaining < 6) {
      if (!this.repeated("ul.pdv-exceeds-pdu"))
        this.sink.anomaly(
          "ul.pdv-exceeds-pdu",
          `${this.pduRemaining} bytes left in the P-DATA-TF cannot hold a PDV item header`,
        );
      this.resetConsumer("framing-lost");
      this.skip(this.pduRemaining);
      return p;
    }
    let itemLength: number, pcId: number, mch: number;
    if (this.hdrLen === 0 && end - p >= 6) {
      itemLength = readU32BE(buf, p);
      pcId = buf[p + 4]!;
      mch = buf[p + 5]!;
      p += 6;
    } else {
      const n = Math.min(6 - this.hdrLen, end - p);
      buf.copy(this.hdr, this.hdrLen, p, p + n);
      this.counters.bytesCopied += n;
      this.hdrLen += n;
      this.pduRemaining -= n;
      p += n;
      if (this.hdrLen < 6) return p;
      this.hdrLen = 0;
      this.pduRemaining += 6; // undo the per-slice accounting; the common path below subtracts 6
      itemLength = readU32BE(this.hdr, 0);
      pcId = this.hdr[4]!;
      mch = this.hdr[5]!;
    }
    this.pduRemaining -= 6;
    if (itemLength < 2) {
      if (!this.repeated("ul.pdv-too-short"))
        this.sink.anomaly("ul.pdv-too-short", `PDV item length ${itemLength} is below 2`);
      this.resetConsumer("framing-lost");
      this.skip(this.pduRemaining);
      return p;
    }
    const valueLength = itemLength - 2;
    if (valueLength > this.pduRemaining) {
      if (!this.repeated("ul.pdv-exceeds-pdu"))
        this.sink.anomaly(
          "ul.pdv-exceeds-pdu",
          `PDV item length ${itemLength} exceeds the ${this.pduRemaining + 2} bytes left in the P-DATA-TF`,
        );
      this.resetConsumer("framing-lost");
      this.skip(this.pduRemaining);
      return p;
    }
    if (mch > 3 && !this.repeated("ul.nonzero-reserved"))
      this.sink.anomaly(
        "ul.nonzero-reserved",
        `PDV message control header 0x${mch.toString(16)}: reserved bits set`,
      );
    if ((pcId & 1) === 0 && !this.repeated("ul.pc-id-invalid"))
      this.sink.anomaly("ul.pc-id-invalid", `PDV presentation context ID ${pcId} is not odd`);
    const consumer = this.consumer!;
    this.consumerDirty = true;
    consumer.pdvBegin(pcId, (mch & 1) !== 0, (mch & 2) !== 0, valueLength, this.ts);
    if (valueLength === 0) {
      consumer.pdvEnd();
      this.state = this.pduRemaining > 0 ? S_PDV_HEADER : S_HEADER;
    } else {
      this.pdvRemaining = valueLength;
      this.state = S_PDV_VALUE;
    }
    return p;
  }

  /**
   * Scan for a PDU header from `p`. Candidates whose test needs bytes past the view are carried (at most 11
   * bytes) and judged with the next view. Returns where the state machine goes on.
   */
  private scan(buf: Buffer, p: number, end: number): number {
    if (this.carryLen > 0) {
      const carried = this.carryLen;
      const n = Math.min(end - p, 12); // enough to judge every carried position
      this.carry.copy(this.scratch, 0, 0, carried);
      buf.copy(this.scratch, carried, p, p + n);
      this.counters.bytesCopied += n;
      const total = carried + n;
      const carryAbs = this.carryAbs;
      this.carryLen = 0;
      for (let i = 0; i < carried; i++) {
        const verdict = this.judge(this.scratch, i, total, carryAbs + i);
        if (verdict === NOT_PLAUSIBLE) {
          if (this.state === S_DEAD) return end;
          continue;
        }
        if (verdict === NEED_MORE) {
          // Only when this view was tiny: carry on with the longer tail.
          this.scratch.copy(this.carry, 0, i, total);
          this.carryLen = total - i;
          this.carryAbs = carryAbs + i;
          return p + n;
        }
        // Accepted inside the carried bytes: run the machine over them, then on over this view.
        const saved = this.base;
        this.base = carryAbs;
        this.run(this.scratch, i, carried);
        this.base = saved;
        return p;
      }
    }
    // A candidate is a byte 1..7 followed by a zero reserved byte (or by the end of the view), so the scan
    // hops from zero byte to zero byte with indexOf (native, many GB/s) instead of testing every byte.
    // indexOf must not run past `end`: search a view that ends there.
    const bounded = end === buf.length ? buf : buf.subarray(0, end);
    // Positions that must be judged whatever their bytes: a weak candidate's successor, the stream start.
    let pendQ = this.pendingAt >= 0 ? this.pendingAt - this.base : -1;
    const strictQ = this.strictAt >= 0 ? this.strictAt - this.base : -1;
    let q = p;
    while (q < end) {
      const z = bounded.indexOf(0, q + 1);
      let c = z >= 0 ? z - 1 : end - 1;
      let special = Infinity;
      if (pendQ >= q) special = pendQ;
      if (strictQ >= q && strictQ < special) special = strictQ;
      if (special <= c) c = special;
      else {
        const t = buf[c]!;
        if (t === 0 || t > 7) {
          q = c + 1;
          continue;
        }
      }
      const abs = this.base + c;
      const verdict = this.judge(buf, c, end, abs);
      if (verdict === NOT_PLAUSIBLE) {
        if (this.state === S_DEAD) return end;
        pendQ = this.pendingAt >= 0 ? this.pendingAt - this.base : -1;
        q = c + 1;
        continue;
      }
      if (verdict === NEED_MORE) {
        const n = end - c;
        buf.copy(this.carry, 0, c, end);
        this.counters.bytesCopied += n;
        this.carryLen = n;
        this.carryAbs = abs;
        return end;
      }
      return c; // accepted: the state machine reads the header at c
    }
    if (this.base + end - this.scanStart > this.scanBudget) this.budgetExhausted();
    return end;
  }

  /**
   * Judge the candidate at `q` (stream offset `abs`): NOT_PLAUSIBLE, NEED_MORE, or STRONG when accepted
   * (the state is then S_HEADER). Weak candidates only set `pendingAt`.
   */
  private judge(buf: Buffer, q: number, end: number, abs: number): number {
    const r = plausiblePduHeader(buf, q, end);
    if (abs === this.strictAt) {
      this.strictAt = -1;
      if (r === NOT_PLAUSIBLE) {
        // A first PDU whose header is right but for an absurd length: DICOM with an oversized PDU (the
        // header state reports it and resynchronises, as it does mid-stream), not another protocol.
        const oversized = oversizedPduHeader(buf, q, end);
        if (oversized === STRONG) return this.accept(abs);
        if (oversized === NEED_MORE) {
          this.strictAt = abs;
          return NEED_MORE;
        }
        if (this.sink.notDicom(true)) {
          this.kill();
          return NOT_PLAUSIBLE;
        }
        this.synced = true; // the connection is DICOM: later scans are resyncs
        this.scanBudget = RESYNC_SCAN_BUDGET;
        return NOT_PLAUSIBLE;
      }
      if (r === NEED_MORE) this.strictAt = abs;
    }
    if (abs === this.pendingAt && r !== NEED_MORE) {
      this.pendingAt = -1;
      // The weak candidate's length pointed exactly here, and here is another header: two in a chain.
      if (r !== NOT_PLAUSIBLE) return this.accept(abs);
    }
    if (r === STRONG) return this.accept(abs);
    if (r === WEAK && this.pendingAt < 0) this.pendingAt = abs + PDU_HEADER_LENGTH + readU32BE(buf, q + 2);
    return r === WEAK ? NOT_PLAUSIBLE : r;
  }

  private accept(abs: number): number {
    this.state = S_HEADER;
    this.hdrLen = 0;
    this.pendingAt = -1;
    this.strictAt = -1;
    if (!this.synced) {
      this.synced = true;
      this.sink.synced();
    } else if (!this.repeated("ul.resync")) {
      this.sink.anomaly(
        "ul.resync",
        `resynchronised on a PDU header after skipping ${abs - this.scanStart} bytes`,
      );
    }
    return STRONG;
  }

  private budgetExhausted(): void {
    if (!this.synced) {
      if (this.sink.notDicom(false)) {
        this.kill();
        this.revivable = true;
        return;
      }
      // The other direction proved DICOM: keep looking, as a resync.
      this.synced = true;
      this.scanBudget = RESYNC_SCAN_BUDGET;
      return;
    }
    this.sink.anomaly(
      "ul.resync-failed",
      `no PDU header found in ${this.scanBudget} bytes; direction ignored`,
    );
    this.kill();
  }
}
