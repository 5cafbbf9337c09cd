/**
 * What a SYN or SYN/ACK says of the sender's TCP stack, p0f-like: the TTL it started from, the window, and
 * the options in their order with MSS and window scale. Read from the TcpPacket decodeFrame filled (the
 * options' range is located there, walked only here), for the two segments of a connection that carry
 * them; every other segment is null at the cost of one test.
 *
 * This is weak evidence of an OS family, never of a version: the initial TTL is guessed from the TTL seen
 * (a host more than 32 hops away, or a middlebox that rewrites TTLs, shifts the guess), administrators and
 * embedded stacks tune the TTL and window, and NAT, proxies and load balancers answer in another system's
 * place. Windows starts at 128, Linux, macOS, the BSDs and most embedded stacks at 64, network equipment
 * (Cisco IOS, Solaris) at 255; 32 is old Windows 9x or a tuned stack and names no family.
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpPacket } from "../decode/types.js";
import type { TcpFingerprintEvent } from "./types.js";

/** RFC 9293 §3.1 option kinds. */
const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_TIMESTAMPS = 8;
/** A TCP header holds at most 40 bytes of options, so at most 40 kinds: the string stays short. */
const MAX_OPTIONS = 40;

export function tcpFingerprint(p: TcpPacket): TcpFingerprintEvent | null {
  // A SYN with FIN or RST is no stack's own opening: a scanner built it (and would teach nothing).
  if ((p.flags & (TCP_SYN | TCP_FIN | TCP_RST)) !== TCP_SYN) return null;
  const synAck = (p.flags & TCP_ACK) !== 0;
  let mss: number | null = null;
  let windowScale: number | null = null;
  let options = "";
  const buf = p.buf;
  const end = Math.min(p.tcpOptionsEnd, buf.length);
  let q = p.tcpOptionsStart;
  // RFC 9293 §3.1: End (0) and NOP (1) are one octet; every other option is | kind | length | data |
  // with a length that counts kind and length (so at least 2). A length below 2 or past the header ends the
  // walk: what follows cannot be found.
  for (let n = 0; q >= 0 && q < end && n < MAX_OPTIONS; n++) {
    const kind = buf[q]!;
    if (kind === OPT_END) {
      options += "E";
      break;
    }
    if (kind === OPT_NOP) {
      options += "N";
      q++;
      continue;
    }
    if (end - q < 2) break;
    const len = buf[q + 1]!;
    if (len < 2 || len > end - q) break;
    switch (kind) {
      case OPT_MSS:
        options += "M";
        if (len === 4) mss = buf.readUInt16BE(q + 2);
        break;
      case OPT_WSCALE:
        options += "W";
        if (len === 3) windowScale = buf[q + 2]!;
        break;
      case OPT_SACK_PERMITTED:
        options += "S";
        break;
      case OPT_TIMESTAMPS:
        options += "T";
        break;
      default:
        options += "?" + kind;
    }
    q += len;
  }
  const initialTtl = p.ttl <= 32 ? 32 : p.ttl <= 64 ? 64 : p.ttl <= 128 ? 128 : 255;
  return {
    kind: "tcp-syn",
    synAck,
    ttl: p.ttl,
    initialTtl,
    window: p.window,
    mss,
    windowScale,
    options,
    family:
      initialTtl === 128 ? "windows" : initialTtl === 64 ? "unix" : initialTtl === 255 ? "network" : null,
  };
}
