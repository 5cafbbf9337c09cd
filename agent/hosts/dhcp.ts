/**
 * DHCP (RFC 2131) as a client describes itself: its host name, vendor class, parameter request list
 * (a fingerprint of the DHCP client, and so of its operating system), the address it asks for and its
 * FQDN. One UDP payload in (ports 67/68: the caller chooses), one DhcpEvent or null out. Every read is
 * bounds-checked against `end`; nothing throws; strings are printable ASCII capped at MAX_TEXT characters
 * and the parameter request list at MAX_PRL entries, so a datagram cannot make the event large.
 *
 * Replies (BOOTREPLY, op 2: OFFER, ACK, NAK) are returned with their messageType and clientMac only. Their
 * options are the server's configuration for the client (lease, router, a host name or FQDN it assigns, its
 * own vendor class echoed): they say nothing of the client's system, and the event is attributed to the
 * sender, the server. What a reply does say is that its sender runs a DHCP server, which the message type
 * tells (2 OFFER, 5 ACK, 6 NAK are sent by servers only); a reply without option 53 (plain BOOTP) is null.
 *
 * Not read: option overload (52, RFC 2132 §9.3), which moves options into the sname and file fields; a
 * client puts nothing there that it does not also send in the options field in practice, and following it
 * would double the walk. Option 61 (client identifier) is ignored: it is usually the MAC again, or a DUID.
 * A split option (RFC 3396: the same code repeated, to be concatenated) keeps its first part for strings;
 * the parameter request list appends the parts, as RFC 3396 means, within its cap.
 */
import { ipv4ToString } from "../decode/decode.js";
import type { DhcpEvent } from "./types.js";

/** op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr (16), sname (64), file (128). */
const BOOTP_FIXED = 236;
/** RFC 2131 §3: the first four octets of the options field are 99, 130, 83, 99. */
const MAGIC_COOKIE = 0x63825363;
const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const OPT_PAD = 0;
const OPT_HOST_NAME = 12;
const OPT_REQUESTED_ADDRESS = 50;
const OPT_MESSAGE_TYPE = 53;
const OPT_PRL = 55;
const OPT_VENDOR_CLASS = 60;
const OPT_CLIENT_FQDN = 81;
const OPT_END = 255;
/** Caps on what a datagram can put in an event (DESIGN.md: bounded memory). */
export const MAX_TEXT = 64;
export const MAX_PRL = 64;
/** RFC 4702 §2.1: the E flag, the name is in canonical wire format (else ASCII, deprecated). */
const FQDN_E = 0x04;

export function decodeDhcp(buf: Buffer, start: number, end: number): DhcpEvent | null {
  if (!(start >= 0 && end <= buf.length && start <= end)) return null;
  if (end - start < BOOTP_FIXED + 4) return null;
  const op = buf[start]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return null;
  if (buf.readUInt32BE(start + BOOTP_FIXED) !== MAGIC_COOKIE) return null;
  const hlen = buf[start + 2]!;
  const ev: DhcpEvent = {
    kind: "dhcp",
    messageType: null,
    clientMac: chaddr(buf, start + 28, hlen),
    hostName: null,
    vendorClass: null,
    parameterRequestList: [],
    requestedAddress: null,
    fqdn: null,
  };
  // RFC 2132 §2: options are | code | len | data (len) |, except Pad (0) and End (255), one octet each. A
  // length that runs past the datagram ends the walk with what was read (a cut or broken tail).
  let p = start + BOOTP_FIXED + 4;
  while (p < end) {
    const code = buf[p]!;
    if (code === OPT_END) break;
    if (code === OPT_PAD) {
      p++;
      continue;
    }
    if (end - p < 2) break;
    const len = buf[p + 1]!;
    const d = p + 2;
    if (len > end - d) break;
    switch (code) {
      case OPT_MESSAGE_TYPE:
        if (len === 1 && ev.messageType === null) ev.messageType = buf[d]!;
        break;
      case OPT_HOST_NAME:
        ev.hostName ??= printable(buf, d, d + len);
        break;
      case OPT_VENDOR_CLASS:
        ev.vendorClass ??= printable(buf, d, d + len);
        break;
      case OPT_PRL:
        for (let i = 0; i < len && ev.parameterRequestList.length < MAX_PRL; i++)
          ev.parameterRequestList.push(buf[d + i]!);
        break;
      case OPT_REQUESTED_ADDRESS:
        if (len === 4 && ev.requestedAddress === null)
          ev.requestedAddress = ipv4ToString(buf.readUInt32BE(d));
        break;
      case OPT_CLIENT_FQDN:
        ev.fqdn ??= fqdn(buf, d, d + len);
        break;
    }
    p = d + len;
  }
  if (op === BOOTREPLY) {
    if (ev.messageType === null) return null;
    ev.hostName = null;
    ev.vendorClass = null;
    ev.parameterRequestList = [];
    ev.requestedAddress = null;
    ev.fqdn = null;
  }
  return ev;
}

const HEX = "0123456789abcdef";

/**
 * chaddr (16 octets at `p`): its first hlen octets as "aa:bb:..." (hlen 6 for Ethernet, htype 1; other
 * hardware types are written the same way); null when hlen is 0 or more than the field holds.
 */
function chaddr(buf: Buffer, p: number, hlen: number): string | null {
  if (hlen === 0 || hlen > 16) return null;
  let s = "";
  for (let i = 0; i < hlen; i++) {
    const b = buf[p + i]!;
    s += (i ? ":" : "") + HEX[b >> 4]! + HEX[b & 15]!;
  }
  return s;
}

/**
 * Printable ASCII text of [start, end): stops at the first NUL (some clients count a C string's
 * terminator), other bytes outside 0x20-0x7E become "?", trailing spaces go, at most MAX_TEXT characters;
 * null when nothing is left.
 */
export function printable(buf: Buffer, start: number, end: number): string | null {
  let s = "";
  for (let i = start; i < end && s.length < MAX_TEXT; i++) {
    const c = buf[i]!;
    if (c === 0) break;
    s += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : "?";
  }
  s = s.trimEnd();
  return s === "" ? null : s;
}

/**
 * Option 81 (RFC 4702 §2): | Flags | RCODE1 | RCODE2 | Domain Name |. With E set the name is in DNS
 * wire format (RFC 1035 §3.1: length-prefixed labels, a zero length ends a fully qualified name, a
 * partial name just stops; compression is not allowed, RFC 4702 §2.3.1); without it, ASCII text.
 */
function fqdn(buf: Buffer, start: number, end: number): string | null {
  if (end - start < 3) return null;
  const flags = buf[start]!;
  const p0 = start + 3;
  if ((flags & FQDN_E) === 0) return printable(buf, p0, end);
  let name = "";
  let p = p0;
  while (p < end && name.length < MAX_TEXT) {
    const len = buf[p]!;
    // Zero: the root, the end of the name. 64 and above: a pointer or an extended label type, not allowed.
    if (len === 0 || len > 63 || len > end - p - 1) break;
    const label = printable(buf, p + 1, p + 1 + len);
    if (label === null) break;
    name += (name ? "." : "") + label;
    p += 1 + len;
  }
  if (name.length > MAX_TEXT) name = name.slice(0, MAX_TEXT);
  return name === "" ? null : name;
}
