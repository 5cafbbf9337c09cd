/**
 * Decode contract: one reusable struct filled per frame, so the hot path allocates nothing.
 * Addresses stay where they are in the capture buffer (offsets) or as numbers; strings are made only
 * when a new flow is created.
 */
import type { DecodeAnomalyCode } from "../util/anomaly-catalogue.js";

/** Result of decoding one frame down to TCP or UDP. */
export const DecodeResult = {
  /** A TCP segment: every field of TcpPacket is valid. */
  Tcp: 0,
  /** A well-formed frame that is neither TCP nor UDP (ARP, ICMP, ESP, ...): counted, not an anomaly. */
  NotTcp: 1,
  /** A non-first IPv4/IPv6 fragment, or a first fragment (counted; not reassembled). */
  Fragment: 2,
  /** Frame cut by the snap length or the file: `anomaly` says where (truncated is not malformed). */
  Truncated: 3,
  /** Bytes that break a header rule: `anomaly` holds the stable code. */
  Malformed: 4,
  /** A link type we do not decode. */
  UnsupportedLinktype: 5,
  /**
   * A UDP datagram (issue 11: DHCP, NetBIOS browser announcements): addresses, ports, ttl, MACs, vlan and
   * payloadStart/payloadEnd/payloadMissing are valid; seq, ack, flags, window and the TCP options are 0.
   */
  Udp: 6,
} as const;
export type DecodeResult = (typeof DecodeResult)[keyof typeof DecodeResult];

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export class TcpPacket {
  /** The buffer every offset below refers to (the capture view; valid only during the packet call). */
  buf: Buffer = Buffer.alloc(0);
  ipVersion: 4 | 6 = 4;
  /** IPv4 source and destination as unsigned 32-bit numbers (ipVersion 4). */
  src4 = 0;
  dst4 = 0;
  /** IPv6: offsets in `buf` of the 16-byte source and destination addresses (ipVersion 6). */
  src6 = 0;
  dst6 = 0;
  srcPort = 0;
  dstPort = 0;
  /** Unsigned 32-bit sequence and acknowledgement numbers. */
  seq = 0;
  ack = 0;
  /** TCP flag bits (TCP_SYN, ...); 0 for UDP. */
  flags = 0;
  /** IPv4 Time To Live or IPv6 Hop Limit, as seen here (after the hops so far); 0 before the IP header. */
  ttl = 0;
  /** TCP Window, as sent (unscaled: the scale is a SYN option); 0 for UDP. */
  window = 0;
  /**
   * The TCP options as [tcpOptionsStart, tcpOptionsEnd) in `buf`: the bytes between the fixed 20-byte
   * header and the data offset (an empty range when the header has none; 0, 0 for UDP). Read them only
   * from a SYN or SYN/ACK when needed (hosts/tcp-fingerprint.ts): the decoder does not walk them.
   */
  tcpOptionsStart = 0;
  tcpOptionsEnd = 0;
  /**
   * TCP or UDP payload as [payloadStart, payloadEnd) in `buf` (may be shorter than the IP or UDP length
   * said if cut).
   */
  payloadStart = 0;
  payloadEnd = 0;
  /** Bytes of payload that the IP (or UDP) header announces but the capture does not hold (snap length). */
  payloadMissing = 0;
  /** Offsets of the Ethernet source and destination MAC in `buf`, or -1 without an Ethernet header. */
  macSrc = -1;
  macDst = -1;
  /** Outermost 802.1Q VLAN id, or -1. */
  vlan = -1;
  /** Stable anomaly code when the result is Truncated or Malformed. */
  anomaly: DecodeAnomalyCode | "" = "";
}
