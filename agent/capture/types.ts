/**
 * Capture contract: a source pushes packets to a sink, synchronously, as views into its own buffer.
 * The view (buf, start, end) is valid only during the call: a consumer that must keep bytes copies them
 * (and counts the copy). This is what keeps the whole pipeline zero-copy.
 */
import type { CaptureErrorCode } from "../util/anomaly-catalogue.js";

// libpcap LINKTYPE_ values we decode (https://www.tcpdump.org/linktypes.html).
/** BSD loopback: a 4-byte address family in the writing host's byte order, then the IP packet. */
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
/** OpenBSD loopback: as LINKTYPE_NULL but the family is in network byte order. */
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export interface PacketSink {
  /**
   * One captured frame. `tsMicros` is microseconds since the Unix epoch (nanosecond files are rounded
   * down); `origLen` is the length on the wire (larger than end-start when the snap length cut it).
   */
  packet(buf: Buffer, start: number, end: number, tsMicros: number, linktype: number, origLen: number): void;
}

/** What a reader reports when it stops. */
export interface CaptureSummary {
  format: "pcap" | "pcapng";
  packets: number;
  /** Captured bytes handed to the sink (sum of end-start). */
  bytes: number;
  /** Set when the file ends inside a record or holds a corrupt block; everything before it was delivered. */
  error: { code: CaptureErrorCode; detail: string; offset: number } | null;
}
