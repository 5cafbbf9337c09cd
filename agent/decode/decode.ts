/**
 * Frame decoding down to TCP or UDP: link layer → (VLAN tags) → IPv4/IPv6 → TCP or UDP, over
 * (buf, start, end) with a bounds check before every read. The result goes into one reusable TcpPacket
 * (no allocation per frame); bad bytes become a DecodeResult plus a stable anomaly code, never an
 * exception. Running out of captured bytes inside a header is Truncated (the snap length did it); a header
 * that breaks its own rules is Malformed. Payload bytes cut by the snap length are not an error: they are
 * counted in payloadMissing.
 */

import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
} from "../capture/types.js";
import { DecodeResult, type TcpPacket } from "./types.js";
import type { DecodeAnomalyCode } from "../util/anomaly-catalogue.js";

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** IEEE 802.1Q C-tag, 802.1ad S-tag, and the pre-standard QinQ S-tag some switches still use. */
const ETHERTYPE_8021Q = 0x8100;
const ETHERTYPE_8021AD = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;
/** More stacked tags than this is not a real network (QinQ uses 2); stop instead of walking on. */
const MAX_VLAN_TAGS = 8;
/** Cap on the IPv6 extension-header chain (RFC 8200 §4.1 recommends each appear at most once or twice). */
const MAX_IPV6_EXT = 8;
const ARPHRD_ETHER = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** Frame from its first byte: choose the decoder by link type. */
export function decodeFrame(
  buf: Buffer,
  start: number,
  end: number,
  linktype: number,
  out: TcpPacket,
): DecodeResult {
  out.buf = buf;
  out.ipVersion = 4;
  out.src4 = 0;
  out.dst4 = 0;
  out.src6 = 0;
  out.dst6 = 0;
  out.srcPort = 0;
  out.dstPort = 0;
  out.seq = 0;
  out.ack = 0;
  out.flags = 0;
  out.ttl = 0;
  out.window = 0;
  out.tcpOptionsStart = 0;
  out.tcpOptionsEnd = 0;
  out.payloadStart = 0;
  out.payloadEnd = 0;
  out.payloadMissing = 0;
  out.macSrc = -1;
  out.macDst = -1;
  out.vlan = -1;
  out.anomaly = "";
  if (!(start >= 0 && end <= buf.length && start <= end)) return malformed(out, "decode.bad-bounds");
  switch (linktype) {
    case LINKTYPE_ETHERNET:
      return ethernet(buf, start, end, out);
    case LINKTYPE_LINUX_SLL:
      return linuxSll(buf, start, end, out);
    case LINKTYPE_LINUX_SLL2:
      return linuxSll2(buf, start, end, out);
    case LINKTYPE_RAW:
      return rawIp(buf, start, end, out);
    case LINKTYPE_IPV4:
      return ipv4(buf, start, end, out);
    case LINKTYPE_IPV6:
      return ipv6(buf, start, end, out);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP:
      return loopback(buf, start, end, out);
    default:
      out.anomaly = "decode.unsupported-linktype";
      return DecodeResult.UnsupportedLinktype;
  }
}

function truncated(out: TcpPacket, code: DecodeAnomalyCode): DecodeResult {
  out.anomaly = code;
  return DecodeResult.Truncated;
}

function malformed(out: TcpPacket, code: DecodeAnomalyCode): DecodeResult {
  out.anomaly = code;
  return DecodeResult.Malformed;
}

function u16(buf: Buffer, p: number): number {
  return (buf[p]! << 8) | buf[p + 1]!;
}

function u32(buf: Buffer, p: number): number {
  return ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
}

/*
 * Ethernet II (IEEE 802.3), optionally with stacked VLAN tags:
 *   0            6            12          14
 *   +------------+------------+-----------+---- payload ----
 *   | dst MAC    | src MAC    | EtherType |
 *   +------------+------------+-----------+-----------------
 * A tag (802.1Q 0x8100, 802.1ad 0x88a8, old QinQ 0x9100) sits where the EtherType was:
 *   | TPID (2) | PCP(3) DEI(1) VID(12) | EtherType or next TPID (2) |
 * Frames shorter than 60 bytes are padded: the IP length, not the frame end, bounds the payload.
 */
function ethernet(buf: Buffer, p: number, end: number, out: TcpPacket): DecodeResult {
  if (end - p < 14) return truncated(out, "decode.truncated-ethernet");
  out.macDst = p;
  out.macSrc = p + 6;
  return etherType(buf, p + 14, end, u16(buf, p + 12), out);
}

/** Payload of an EtherType (after Ethernet or a Linux cooked header): VLAN tags, then IP. */
function etherType(buf: Buffer, p: number, end: number, type: number, out: TcpPacket): DecodeResult {
  let tags = 0;
  while (type === ETHERTYPE_8021Q || type === ETHERTYPE_8021AD || type === ETHERTYPE_QINQ_OLD) {
    if (++tags > MAX_VLAN_TAGS) return malformed(out, "decode.vlan-too-many-tags");
    if (end - p < 4) return truncated(out, "decode.truncated-vlan");
    if (out.vlan < 0) out.vlan = u16(buf, p) & 0x0fff;
    type = u16(buf, p + 2);
    p += 4;
  }
  if (type === ETHERTYPE_IPV4) return ipv4(buf, p, end, out);
  if (type === ETHERTYPE_IPV6) return ipv6(buf, p, end, out);
  return DecodeResult.NotTcp;
}

/*
 * Linux cooked capture v1 (LINKTYPE_LINUX_SLL):
 *   0            2             4             6                    14           16
 *   +------------+-------------+-------------+--------------------+------------+
 *   | packet type| ARPHRD type | addr length | link-layer addr (8)| protocol   |
 *   +------------+-------------+-------------+--------------------+------------+
 * The address is the sender's; for ARPHRD_ETHER with length 6 it is the source MAC.
 */
function linuxSll(buf: Buffer, p: number, end: number, out: TcpPacket): DecodeResult {
  if (end - p < 16) return truncated(out, "decode.truncated-sll");
  if (u16(buf, p + 2) === ARPHRD_ETHER && u16(buf, p + 4) === 6) out.macSrc = p + 6;
  return etherType(buf, p + 16, end, u16(buf, p + 14), out);
}

/*
 * Linux cooked capture v2 (LINKTYPE_LINUX_SLL2):
 *   0          2          4             8            10          11          12                 20
 *   +----------+----------+-------------+------------+-----------+-----------+------------------+
 *   | protocol | reserved | if index    | ARPHRD type| pkt type  | addr len  | link-layer addr  |
 *   +----------+----------+-------------+------------+-----------+-----------+------------------+
 */
function linuxSll2(buf: Buffer, p: number, end: number, out: TcpPacket): DecodeResult {
  if (end - p < 20) return truncated(out, "decode.truncated-sll2");
  if (u16(buf, p + 8) === ARPHRD_ETHER && buf[p + 11] === 6) out.macSrc = p + 12;
  return etherType(buf, p + 20, end, u16(buf, p), out);
}

/** LINKTYPE_RAW: the IP version nibble says which. */
function rawIp(buf: Buffer, p: number, end: number, out: TcpPacket): DecodeResult {
  if (end - p < 1) return truncated(out, "decode.truncated-ip");
  const v = buf[p]! >> 4;
  if (v === 4) return ipv4(buf, p, end, out);
  if (v === 6) return ipv6(buf, p, end, out);
  return malformed(out, "decode.ip-bad-version");
}

/*
 * BSD loopback (LINKTYPE_NULL: family in the writer's byte order; LINKTYPE_LOOP: network order):
 *   | address family (4) | IP packet ...
 * AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS).
 * Reading the family both ways is unambiguous for these small values, and spares knowing the writer.
 */
function loopback(buf: Buffer, p: number, end: number, out: TcpPacket): DecodeResult {
  if (end - p < 4) return truncated(out, "decode.truncated-loopback");
  const b0 = buf[p]!;
  const b3 = buf[p + 3]!;
  const mid = buf[p + 1]! | buf[p + 2]!;
  const family = mid !== 0 ? -1 : b0 === 0 ? b3 : b3 === 0 ? b0 : -1;
  if (family === 2) return ipv4(buf, p + 4, end, out);
  if (family === 10 || family === 24 || family === 28 || family === 30) return ipv6(buf, p + 4, end, out);
  return DecodeResult.NotTcp;
}

/*
 * IPv4 (RFC 791 §3.1):
 *   0       4       8              16     19             24             32
 *   +-------+-------+--------------+-------------------------------------+
 *   |Version|  IHL  |     ToS      |            Total Length             |
 *   |          Identification      |Flags|      Fragment Offset          |
 *   |     TTL       |   Protocol   |          Header Checksum            |
 *   |                        Source Address                              |
 *   |                      Destination Address                           |
 *   |                    Options (IHL > 5) ...                           |
 */
function ipv4(buf: Buffer, p: number, end: number, out: TcpPacket): DecodeResult {
  if (end - p < 20) return truncated(out, "decode.truncated-ipv4");
  const vihl = buf[p]!;
  if (vihl >> 4 !== 4) return malformed(out, "decode.ipv4-bad-version");
  const ihl = (vihl & 0x0f) << 2;
  if (ihl < 20) return malformed(out, "decode.ipv4-bad-ihl");
  let totalLength = u16(buf, p + 2);
  // Total Length 0 is what Linux records for TCP segmentation offload super-frames captured on the
  // sending host: the frame itself is the only length there is.
  if (totalLength === 0) totalLength = end - p;
  if (totalLength < ihl) return malformed(out, "decode.ipv4-bad-total-length");
  if (end - p < ihl) return truncated(out, "decode.truncated-ipv4-options");
  out.ipVersion = 4;
  out.ttl = buf[p + 8]!;
  out.src4 = u32(buf, p + 12);
  out.dst4 = u32(buf, p + 16);
  // More Fragments set or a non-zero offset: one piece of a datagram (RFC 791); counted, not reassembled.
  if ((u16(buf, p + 6) & 0x3fff) !== 0) return DecodeResult.Fragment;
  const protocol = buf[p + 9];
  if (protocol === IPPROTO_TCP) return tcp(buf, p + ihl, p + totalLength, end, out);
  if (protocol === IPPROTO_UDP) return udp(buf, p + ihl, p + totalLength, end, out);
  return DecodeResult.NotTcp;
}

/*
 * IPv6 (RFC 8200 §3):
 *   0       4               12                     24        32
 *   +-------+---------------+----------------------------------+
 *   |Version| Traffic Class |           Flow Label             |
 *   |        Payload Length           | Next Header| Hop Limit |
 *   |                Source Address (16)                        |
 *   |             Destination Address (16)                      |
 * Extension headers (RFC 8200 §4) chain by Next Header. Hop-by-Hop (0), Routing (43), Destination Options
 * (60), Mobility (135), HIP (139), Shim6 (140): | Next Header | Hdr Ext Len (8-octet units, not counting
 * the first 8) | ... . Authentication Header (51, RFC 4302): Payload Len in 4-octet units minus 2.
 * Fragment (44): | Next Header | reserved | Fragment Offset(13) Res(2) M(1) | Identification (4) |.
 */
function ipv6(buf: Buffer, p: number, end: number, out: TcpPacket): DecodeResult {
  if (end - p < 40) return truncated(out, "decode.truncated-ipv6");
  if (buf[p]! >> 4 !== 6) return malformed(out, "decode.ipv6-bad-version");
  const payloadLength = u16(buf, p + 4);
  out.ipVersion = 6;
  out.ttl = buf[p + 7]!;
  out.src6 = p + 8;
  out.dst6 = p + 24;
  // Payload Length 0: a jumbogram (RFC 2675) or an offloaded super-frame; the frame is the only bound.
  const ipEnd = payloadLength === 0 ? end : p + 40 + payloadLength;
  let next = buf[p + 6]!;
  let q = p + 40;
  for (let n = 0; ; n++) {
    if (next === IPPROTO_TCP) return tcp(buf, q, ipEnd, end, out);
    let len: number;
    switch (next) {
      case IPPROTO_UDP:
        return udp(buf, q, ipEnd, end, out);
      case 0:
      case 43:
      case 60:
      case 135:
      case 139:
      case 140:
        if (end - q < 2) return truncated(out, "decode.truncated-ipv6-ext");
        len = (buf[q + 1]! + 1) << 3;
        break;
      case 51:
        if (end - q < 2) return truncated(out, "decode.truncated-ipv6-ext");
        len = (buf[q + 1]! + 2) << 2;
        break;
      case 44:
        if (end - q < 4) return truncated(out, "decode.truncated-ipv6-ext");
        // An offset or the M flag makes it a real fragment; neither is an atomic fragment (RFC 6946),
        // which is a whole packet and goes on to the next header.
        if ((u16(buf, q + 2) & 0xfff9) !== 0) return DecodeResult.Fragment;
        len = 8;
        break;
      default:
        // No Next Header (59), ESP, ICMPv6 and everything else.
        return DecodeResult.NotTcp;
    }
    if (n >= MAX_IPV6_EXT) return malformed(out, "decode.ipv6-too-many-ext");
    if (q + len > ipEnd) return malformed(out, "decode.ipv6-ext-beyond-payload");
    next = buf[q]!;
    q += len;
  }
}

/*
 * TCP (RFC 9293 §3.1):
 *   0              16             32
 *   +--------------+--------------+
 *   | Source Port  | Dest. Port   |
 *   |     Sequence Number         |
 *   |  Acknowledgment Number      |
 *   |DOff|Rsv|Flags| Window       |
 *   | Checksum     | Urgent Ptr   |
 *   | Options (DOff > 5) ...      |
 * `segEnd` is where the IP header says the segment ends, `end` where the capture does.
 */
function tcp(buf: Buffer, p: number, segEnd: number, end: number, out: TcpPacket): DecodeResult {
  if (segEnd - p < 20) return malformed(out, "decode.tcp-segment-too-short");
  if (end - p < 20) return truncated(out, "decode.truncated-tcp");
  const dataOffset = (buf[p + 12]! >> 4) << 2;
  if (dataOffset < 20) return malformed(out, "decode.tcp-bad-offset");
  if (dataOffset > segEnd - p) return malformed(out, "decode.tcp-offset-beyond-segment");
  if (dataOffset > end - p) return truncated(out, "decode.truncated-tcp-options");
  out.srcPort = u16(buf, p);
  out.dstPort = u16(buf, p + 2);
  out.seq = u32(buf, p + 4);
  out.ack = u32(buf, p + 8);
  out.flags = buf[p + 13]!;
  out.window = u16(buf, p + 14);
  // The options are only located here; hosts/tcp-fingerprint.ts walks them for the few SYNs that matter.
  out.tcpOptionsStart = p + 20;
  out.tcpOptionsEnd = p + dataOffset;
  out.payloadStart = p + dataOffset;
  if (segEnd <= end) {
    out.payloadEnd = segEnd;
  } else {
    out.payloadEnd = end;
    out.payloadMissing = segEnd - end;
  }
  return DecodeResult.Tcp;
}

/*
 * UDP (RFC 768):
 *   0              16             32
 *   +--------------+--------------+
 *   | Source Port  | Dest. Port   |
 *   | Length       | Checksum     |
 *   | data ...                    |
 * Length counts the 8-byte header and the data, so it is at least 8, and the datagram lies within the IP
 * payload (`dgEnd`, where the IP header says it ends); an IP payload longer than Length is tolerated (the
 * Length bounds the data). Length 0 is legal only in an IPv6 jumbogram (RFC 2675 §4), where the IP
 * payload is the bound. The checksum is not verified (a sensor sees senders' offloaded checksums as wrong).
 */
function udp(buf: Buffer, p: number, dgEnd: number, end: number, out: TcpPacket): DecodeResult {
  if (dgEnd - p < 8) return malformed(out, "decode.udp-datagram-too-short");
  if (end - p < 8) return truncated(out, "decode.truncated-udp");
  let length = u16(buf, p + 4);
  if (length === 0 && out.ipVersion === 6) length = dgEnd - p;
  if (length < 8 || length > dgEnd - p) return malformed(out, "decode.udp-length");
  out.srcPort = u16(buf, p);
  out.dstPort = u16(buf, p + 2);
  out.payloadStart = p + 8;
  const udpEnd = p + length;
  if (udpEnd <= end) {
    out.payloadEnd = udpEnd;
  } else {
    out.payloadEnd = end;
    out.payloadMissing = udpEnd - end;
  }
  return DecodeResult.Udp;
}

const HEX2: string[] = [];
for (let i = 0; i < 256; i++) HEX2.push(i.toString(16).padStart(2, "0"));

/*
 * These strings are kept for as long as a connection lives (thousands at once under a flow flood), so
 * they are built flat with join(): a template literal or "+" makes a rope of one 32-byte node per part,
 * which stays in the heap beside the text (about 40 % more per address, measured).
 */

/** Dotted quad of an unsigned 32-bit IPv4 address. */
export function ipv4ToString(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** "aa:bb:cc:dd:ee:ff" of the 6 bytes at `off` ("" if they are out of range). */
export function macToString(buf: Buffer, off: number): string {
  if (!(off >= 0 && off + 6 <= buf.length)) return "";
  return [
    HEX2[buf[off]!],
    HEX2[buf[off + 1]!],
    HEX2[buf[off + 2]!],
    HEX2[buf[off + 3]!],
    HEX2[buf[off + 4]!],
    HEX2[buf[off + 5]!],
  ].join(":");
}

/**
 * RFC 5952 text of the 16 bytes at `off` ("" if out of range): lowercase, no leading zeros, the longest run
 * of two or more zero groups (the first on a tie) as "::" (§4.2), and IPv4-mapped addresses in mixed
 * notation "::ffff:a.b.c.d" (§5).
 */
export function ipv6ToString(buf: Buffer, off: number): string {
  if (!(off >= 0 && off + 16 <= buf.length)) return "";
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return "::ffff:" + ipv4ToString(u32(buf, off + 12));
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number, b: number): string =>
    g
      .slice(a, b)
      .map((x) => x.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return hex(0, bestStart) + "::" + hex(bestStart + bestLen, 8);
}
