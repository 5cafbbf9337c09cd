/**
 * Capture core shared by the file reader and the stream parser: sniffs the format from the first 4 bytes
 * (pcap magic in either byte order, or the pcapng Section Header Block type), then delegates to the format's
 * incremental parser. `PcapStreamParser` feeds it arbitrary chunks (e.g. `tcpdump -U -w -` stdout): complete
 * records are parsed straight from each chunk; only a record that straddles two chunks is copied, into one
 * reusable carry buffer, and the copy is counted in `counters.bytesCopied`.
 */

import type { AnomalySink, Counters } from "../util/anomaly.js";
import type { CaptureSummary, PacketSink } from "./types.js";
import { CaptureError, type RecordParser } from "./record.js";
import { PcapParser, isPcapMagic } from "./pcap.js";
import { PcapngParser, isPcapngMagic } from "./pcapng.js";

/**
 * Default cap on one record or block: beyond it the input is reported corrupt instead of buffered. Far
 * above any packet (libpcap's snap length is at most 256 KiB for nearly all link types) and small next to
 * the 128 MiB peak-RSS budget: a corrupt length field, or a pcap header claiming a huge SnapLen, must not
 * make the reader grow its buffer to hundreds of MiB before the damage is found.
 */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * Where a reader reports damage confined to one packet (it carries on): the caller's choice, else the sink
 * itself when it is also an AnomalySink (as the pipeline is), else nowhere (the parsers still count them).
 */
function captureAnomalies(sink: PacketSink, explicit?: AnomalySink | null): AnomalySink | null {
  if (explicit !== undefined) return explicit;
  const maybe = sink as Partial<AnomalySink>;
  return typeof maybe.anomaly === "function" ? (sink as unknown as AnomalySink) : null;
}

/** Sniffs the format, then parses records; the pre-sniff state needs just the 4-byte magic. */
export class CaptureCore {
  parser: RecordParser | null = null;
  /** Set when the format is unknown (before any parser exists). */
  sniffError: CaptureError | null = null;
  private readonly anomalies: AnomalySink | null;

  constructor(
    private readonly sink: PacketSink,
    readonly maxRecordBytes: number = DEFAULT_MAX_RECORD_BYTES,
    anomalies?: AnomalySink | null,
  ) {
    this.anomalies = captureAnomalies(sink, anomalies);
  }

  get error(): CaptureError | null {
    return this.sniffError ?? this.parser?.error ?? null;
  }

  /** Bytes the pending record needs (see RecordParser.needed). */
  get needed(): number {
    return this.parser === null ? 4 : this.parser.needed;
  }

  parse(buf: Buffer, start: number, end: number, abs: number): number {
    if (this.parser === null) {
      if (this.sniffError !== null || end - start < 4) return start;
      if (isPcapngMagic(buf, start))
        this.parser = new PcapngParser(this.sink, this.maxRecordBytes, this.anomalies);
      else if (isPcapMagic(buf, start)) this.parser = new PcapParser(this.sink, this.maxRecordBytes);
      else {
        this.sniffError = new CaptureError(
          "capture.unknown-format",
          "neither a pcap nor a pcapng file (unknown magic)",
          abs,
        );
        return start;
      }
    }
    if (this.parser.error !== null) return start;
    return this.parser.parse(buf, start, end, abs);
  }

  /**
   * The summary once the input ended at stream offset `abs` with `tail` unconsumed bytes before it: a tail
   * means the input stopped inside a header or record (truncated, reported where that record starts).
   */
  summary(tail: number, abs: number): CaptureSummary {
    let err = this.error;
    if (err === null && tail > 0) {
      err = new CaptureError(
        "capture.truncated",
        `input ends inside a ${this.parser === null ? "file magic" : "header or record"}: ${tail} of ${this.needed} bytes present`,
        abs - tail,
      );
    } else if (err === null && this.parser === null) {
      err = new CaptureError("capture.empty", "no bytes to read", 0);
    }
    return {
      format: this.parser?.format ?? "pcap",
      packets: this.parser?.packets ?? 0,
      bytes: this.parser?.bytes ?? 0,
      error: err === null ? null : { code: err.code, detail: err.detail, offset: err.offset },
    };
  }
}

/**
 * Push-style parser for a capture byte stream (pcap or pcapng). `push` delivers every record completed by the
 * chunk, synchronously, to the sink; `end` reports the summary (truncated if the stream stopped mid-record).
 * The chunk passed to `push` may be reused by the caller afterwards: a partial tail is copied out.
 */
export class PcapStreamParser {
  private readonly core: CaptureCore;
  private carry: Buffer = Buffer.alloc(0);
  private carryLen = 0;
  /** Stream offset of the first unconsumed byte (the start of the carry when carryLen > 0). */
  private consumed = 0;
  private ended: CaptureSummary | null = null;

  constructor(
    sink: PacketSink,
    private readonly opts: {
      counters?: Counters;
      maxRecordBytes?: number;
      anomalies?: AnomalySink | null;
    } = {},
  ) {
    this.core = new CaptureCore(sink, opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES, opts.anomalies);
  }

  /** The error that stopped parsing, if any (further pushes are ignored). */
  get error(): CaptureSummary["error"] {
    const e = this.core.error;
    return e === null ? null : { code: e.code, detail: e.detail, offset: e.offset };
  }

  push(chunk: Buffer): void {
    if (this.ended !== null || this.core.error !== null) return;
    const core = this.core;
    let off = 0;
    const n = chunk.length;
    // First complete the record that straddles the previous chunk, copying only the bytes it still needs.
    while (this.carryLen > 0 && off < n) {
      const want = Math.max(core.needed - this.carryLen, 1);
      const take = Math.min(want, n - off);
      this.ensureCarry(this.carryLen + take);
      chunk.copy(this.carry, this.carryLen, off, off + take);
      if (this.opts.counters) this.opts.counters.bytesCopied += take;
      this.carryLen += take;
      off += take;
      const c = core.parse(this.carry, 0, this.carryLen, this.consumed);
      if (core.error !== null) return;
      if (c > 0) {
        this.carry.copyWithin(0, c, this.carryLen);
        if (this.opts.counters) this.opts.counters.bytesCopied += this.carryLen - c;
        this.carryLen -= c;
        this.consumed += c;
      }
    }
    if (off >= n) return;
    // Then parse straight from the chunk (zero-copy) and keep its incomplete tail.
    const c = core.parse(chunk, off, n, this.consumed);
    this.consumed += c - off;
    if (core.error !== null) return;
    const tail = n - c;
    if (tail > 0) {
      this.ensureCarry(Math.max(tail, core.needed));
      chunk.copy(this.carry, 0, c, n);
      if (this.opts.counters) this.opts.counters.bytesCopied += tail;
      this.carryLen = tail;
    }
  }

  /** The stream ended: the summary, with a truncation error if it stopped inside a record. */
  end(): CaptureSummary {
    if (this.ended === null) this.ended = this.core.summary(this.carryLen, this.consumed + this.carryLen);
    return this.ended;
  }

  private ensureCarry(size: number): void {
    if (this.carry.length >= size) return;
    // Grow geometrically so a record arriving in many small chunks is not re-copied each time.
    const next = Buffer.allocUnsafe(Math.max(size, this.carry.length * 2, 65536));
    this.carry.copy(next, 0, 0, this.carryLen);
    if (this.opts.counters) this.opts.counters.bytesCopied += this.carryLen;
    this.carry = next;
  }
}
