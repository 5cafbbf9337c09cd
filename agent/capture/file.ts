/**
 * Offline capture source: streams a pcap or pcapng file of any size through one reusable buffer, so memory
 * stays constant on multi-gigabyte files. Each read fills the buffer after the carried tail; complete
 * records are delivered as views into it; the incomplete tail is moved to the buffer's start (counted in
 * `counters.bytesCopied`). The buffer grows only for a record larger than itself, up to `maxRecordBytes`
 * (beyond that the parser reports the record corrupt rather than buffering it).
 */

import { open } from "node:fs/promises";
import type { Counters } from "../util/anomaly.js";
import type { CaptureSummary, PacketSink } from "./types.js";
import { CaptureCore, DEFAULT_MAX_RECORD_BYTES } from "./stream.js";

export { PcapStreamParser, CaptureCore, DEFAULT_MAX_RECORD_BYTES } from "./stream.js";

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

export interface ReadCaptureOptions {
  /** Size of the read buffer (default 4 MiB); tests use tiny sizes so records straddle reads. */
  chunkSize?: number;
  counters?: Counters;
  /** Checked between reads; an aborted read returns what was delivered with error "capture.aborted". */
  signal?: AbortSignal;
  /** Largest record or block accepted (default 256 MiB). */
  maxRecordBytes?: number;
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
  const core = new CaptureCore(sink, opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES);
  const fh = await open(path, "r");
  try {
    let buf = Buffer.allocUnsafe(chunkSize);
    /** Bytes held in buf[0, fill); buf[0] is at stream offset `abs`. */
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
      const { bytesRead } = await fh.read(buf, fill, buf.length - fill, null);
      if (bytesRead === 0) break;
      fill += bytesRead;
      const c = core.parse(buf, 0, fill, abs);
      if (core.error !== null) break;
      const tail = fill - c;
      if (c > 0 && tail > 0) {
        buf.copyWithin(0, c, fill);
        if (counters) counters.bytesCopied += tail;
      }
      abs += c;
      fill = tail;
      const needed = core.needed;
      if (needed > buf.length) {
        // One record larger than the buffer: grow to fit it (the parser already capped its length).
        const bigger = Buffer.allocUnsafe(needed);
        buf.copy(bigger, 0, 0, fill);
        if (counters) counters.bytesCopied += fill;
        buf = bigger;
      } else if (buf.length > chunkSize && fill <= chunkSize && needed <= chunkSize) {
        // The oversized record is gone: return to the normal buffer rather than hold up to maxRecordBytes.
        const normal = Buffer.allocUnsafe(chunkSize);
        buf.copy(normal, 0, 0, fill);
        if (counters) counters.bytesCopied += fill;
        buf = normal;
      }
    }
    return core.summary(fill, abs + fill);
  } finally {
    await fh.close();
  }
}
