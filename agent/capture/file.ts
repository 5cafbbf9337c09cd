/**
 * Offline capture source: streams a pcap or pcapng file of any size through a fixed buffer, so memory
 * stays constant on multi-gigabyte files. Each read fills the buffer after the carried tail; complete
 * records are delivered as views into it; the incomplete tail is moved to where the next read continues it
 * (counted in `counters.bytesCopied`). The buffer grows only for a record larger than a read, up to
 * `maxRecordBytes` (beyond that the parser reports the record corrupt rather than buffering it).
 *
 * Reads overlap parsing (double buffering). Every round reads `chunkSize - tail` bytes after the carried
 * tail, exactly as a one-buffer loop would, so the reads, the records' placement and the bytes copied do
 * not depend on the overlap. Two buffers each have a head room of R bytes (R = chunkSize / 8, at most
 * 512 KiB) for the tail. A round's read is split: its first chunkSize - R bytes (part A) do not depend on
 * the tail's length, so they are read into the other buffer while this one is parsed; the rest (part B,
 * R - tail bytes) follows once the tail is known:
 *
 *            0          R - t     R                        chunkSize           chunkSize + R - t
 *   buffer   [  unused  | tail t  | A: read during parsing  | B: read after it   ]
 *
 * With one CPU (or `readAhead: false`) R is 0 and every read is in one piece, after parsing.
 * A tail longer than R, a record longer than chunkSize (the buffer grows), an error or a round that
 * consumed nothing drop the read in flight (awaited first, its bytes read again later) and the loop goes on
 * reading in one piece.
 */

import { open, type FileReadResult } from "node:fs/promises";
import { availableParallelism } from "node:os";
import type { AnomalySink, Counters } from "../util/anomaly.js";
import type { CaptureSummary, PacketSink } from "./types.js";
import { CaptureCore, DEFAULT_MAX_RECORD_BYTES } from "./stream.js";

export { PcapStreamParser, CaptureCore, DEFAULT_MAX_RECORD_BYTES } from "./stream.js";

/**
 * 2 MiB: reads of this size keep a disk or page cache streaming at GB/s, and the two buffers (one parsed,
 * one being filled) stay a small part of the memory budget (agent/pipeline/pipeline.ts).
 */
const DEFAULT_CHUNK_SIZE = 2 * 1024 * 1024;

export interface ReadCaptureOptions {
  /** Size of the read buffer (default 2 MiB); tests use tiny sizes so records straddle reads. */
  chunkSize?: number;
  counters?: Counters;
  /** Checked between reads; an aborted read returns what was delivered with error "capture.aborted". */
  signal?: AbortSignal;
  /** Largest record or block accepted (default DEFAULT_MAX_RECORD_BYTES, 16 MiB). */
  maxRecordBytes?: number;
  /**
   * Where damage confined to one packet goes (an undescribed pcapng interface, a time out of range); the
   * read carries on. Default: the sink, when it is also an AnomalySink (the pipeline is); null: nowhere.
   */
  anomalies?: AnomalySink | null;
  /**
   * Overlap the next read with parsing (default: when this process may run on more than one CPU; on one
   * CPU the read cannot run alongside the parser and switching between them only costs time).
   */
  readAhead?: boolean;
}

/**
 * Read a whole capture file, delivering every packet synchronously to `sink`. Bad or truncated input ends
 * the read with `summary.error` set (everything before it was delivered); I/O errors (e.g. a missing file)
 * reject the promise.
 */
export async function readCaptureFile(
  path: string,
  sink: PacketSink,
  opts: ReadCaptureOptions = {},
): Promise<CaptureSummary> {
  const chunkSize = Math.max(1, Math.floor(opts.chunkSize ?? DEFAULT_CHUNK_SIZE));
  const counters = opts.counters;
  const core = new CaptureCore(sink, opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES, opts.anomalies);
  /** Head room for the carried tail; part A of a read is chunkSize - room bytes (0 disables the overlap). */
  const readAhead = opts.readAhead ?? availableParallelism() > 1;
  const room = readAhead ? Math.min(MAX_HEAD_ROOM, chunkSize >> 3) : 0;
  const fh = await open(path, "r");
  /** Part A of the next round's read, in flight into `spare`, if any. */
  let ahead: Promise<FileReadResult<Buffer>> | null = null;
  try {
    /** Buffers of the normal size are room + chunkSize long; a grown one is exactly `cap` long. */
    let buf: Buffer = Buffer.allocUnsafe(room + chunkSize);
    let spare: Buffer | null = null;
    /** Bytes one read may fill after the tail: chunkSize, or a grown buffer's length. */
    let cap = chunkSize;
    /** Bytes held in buf[base, base + fill); buf[base] is at stream offset `abs`. */
    let base = room;
    let fill = 0;
    let abs = 0;
    while (true) {
      if (opts.signal?.aborted) {
        const s = core.summary(0, abs);
        return {
          ...s,
          error: { code: "capture.aborted", detail: "read aborted by the caller", offset: abs },
        };
      }
      let bytesRead: number;
      if (ahead !== null) {
        // Part A went into buf[room, chunkSize) at stream offset abs + fill; the tail sits right before it.
        const partA = chunkSize - room;
        ({ bytesRead } = await ahead);
        ahead = null;
        const partB = room - fill;
        if (bytesRead === partA && partB > 0) {
          const b = await fh.read(buf, chunkSize, partB, abs + fill + partA);
          bytesRead += b.bytesRead;
        }
      } else {
        ({ bytesRead } = await fh.read(buf, base + fill, cap - fill, abs + fill));
      }
      if (bytesRead === 0) break;
      fill += bytesRead;
      if (room > 0 && cap === chunkSize) {
        // Start the next round's part A now, assuming this round leaves a tail that fits the head room.
        spare ??= Buffer.allocUnsafe(room + chunkSize);
        ahead = fh.read(spare, room, chunkSize - room, abs + fill);
        // Observed below or in `finally`; this keeps a failure while parsing from going unhandled.
        ahead.catch(() => undefined);
      }
      const c = core.parse(buf, base, base + fill, abs) - base;
      if (core.error !== null) break;
      const tail = fill - c;
      const needed = core.needed;
      if (ahead !== null && spare !== null) {
        if (c > 0 && tail <= room && needed <= chunkSize) {
          // The tail goes right before part A in the other buffer; the two swap roles.
          if (tail > 0) {
            buf.copy(spare, room - tail, base + c, base + fill);
            if (counters) counters.bytesCopied += tail;
          }
          const was = buf;
          buf = spare;
          spare = was;
          base = room - tail;
          abs += c;
          fill = tail;
          continue;
        }
        // The tail does not fit the head room (or nothing was consumed, or the buffer must grow).
        await settle(ahead);
        ahead = null;
      }
      if (c > 0 && tail > 0) {
        const to = cap === chunkSize && tail <= room ? room - tail : 0;
        buf.copyWithin(to, base + c, base + fill);
        if (counters) counters.bytesCopied += tail;
        base = to;
      } else if (c > 0) {
        base = cap === chunkSize ? room : 0;
      }
      abs += c;
      fill = tail;
      if (needed > cap) {
        // One record larger than a read: grow to fit it (the parser already capped its length).
        const bigger = Buffer.allocUnsafe(needed);
        buf.copy(bigger, 0, base, base + fill);
        if (counters) counters.bytesCopied += fill;
        buf = bigger;
        base = 0;
        cap = needed;
      } else if (cap > chunkSize && fill <= chunkSize && needed <= chunkSize) {
        // The oversized record is gone: return to the normal buffer rather than hold up to maxRecordBytes.
        const normal = spare ?? Buffer.allocUnsafe(room + chunkSize);
        spare = null;
        const to = fill <= room ? room - fill : 0;
        buf.copy(normal, to, base, base + fill);
        if (counters) counters.bytesCopied += fill;
        buf = normal;
        base = to;
        cap = chunkSize;
      }
    }
    return core.summary(fill, abs + fill);
  } finally {
    // Never close the file under a read still in flight (an error, an abort or a throwing sink got here).
    if (ahead !== null) await settle(ahead);
    await fh.close();
  }
}

/** Largest head room for the carried tail: above any pcap record with the usual 256 KiB snap length. */
const MAX_HEAD_ROOM = 512 * 1024;

/** Waits for a read whose bytes are no longer wanted, whatever its outcome. */
async function settle(read: Promise<unknown>): Promise<void> {
  try {
    await read;
  } catch {
    // The bytes were dropped (they are read again in one piece); so is the error of reading them.
  }
}
