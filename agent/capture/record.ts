/**
 * The shared shape of the incremental capture-format parsers (pcap, pcapng). A parser consumes only
 * complete records from the bytes it is given and says how many bytes the pending record needs, so one
 * driver can serve both the file reader (one reusable buffer, tail carried to its start) and the stream
 * parser (chunks from `tcpdump -U -w -`).
 */
import type { CaptureErrorCode } from "../util/anomaly-catalogue.js";

/** Why a capture stopped early; `offset` is the byte offset in the file/stream of the bad record. */
export class CaptureError {
  constructor(
    readonly code: CaptureErrorCode,
    readonly detail: string,
    readonly offset: number,
  ) {}
}

export interface RecordParser {
  readonly format: "pcap" | "pcapng";
  /** Set when the input is corrupt; the parser consumes nothing more after that. */
  error: CaptureError | null;
  /**
   * After `parse` returned short of `end`: the total bytes the pending record needs, counted from the
   * returned offset. It may grow once its header is complete (first the header length, then the record's).
   */
  needed: number;
  packets: number;
  bytes: number;
  /**
   * Deliver every complete record in buf[start, end) to the sink and return the offset just after the last
   * one consumed. `abs` is the stream offset of buf[start], used only for error offsets.
   */
  parse(buf: Buffer, start: number, end: number, abs: number): number;
}
