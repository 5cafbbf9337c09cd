/**
 * Byte builders for tests and fixtures: frames (Ethernet, 802.1Q/QinQ, Linux SLL/SLL2, BSD loopback,
 * IPv4, IPv6 with extension headers, TCP) and whole capture files (pcap in both byte orders and
 * resolutions, pcapng with several interfaces, resolutions, SPB and arbitrary blocks). Everything is built
 * in memory as Buffers; checksums are computed so tshark sees valid packets.
 */

export type Bytes = Buffer | Uint8Array | string;

function bytes(b: Bytes | undefined): Buffer {
  if (b === undefined) return Buffer.alloc(0);
  if (typeof b === "string") return Buffer.from(b, "latin1");
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** "10.0.0.1" → 4 bytes. */
export function ipv4Bytes(s: string): Buffer {
  const parts = s.split(".").map(Number);
  if (parts.length !== 4 || parts.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad IPv4 ${s}`);
  return Buffer.from(parts);
}

/** "2001:db8::1" (also "::ffff:1.2.3.4") → 16 bytes. */
export function ipv6Bytes(s: string): Buffer {
  let tail4: number[] = [];
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    tail4 = [...ipv4Bytes(m[2]!)];
    s = m[1]! + "0:0";
  }
  const [head, rest] = s.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const t = rest === undefined ? [] : rest === "" ? [] : rest.split(":");
  const fill = rest === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(fill).fill("0"), ...t].map((x) => parseInt(x, 16));
  if (groups.length !== 8 || groups.some((x) => !(x >= 0 && x <= 0xffff))) throw new Error(`bad IPv6 ${s}`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  if (tail4.length) Buffer.from(tail4).copy(out, 12);
  return out;
}

/** "02:00:00:00:00:01" → 6 bytes. */
export function macBytes(s: string): Buffer {
  const b = Buffer.from(s.split(":").map((x) => parseInt(x, 16)));
  if (b.length !== 6) throw new Error(`bad MAC ${s}`);
  return b;
}

/** RFC 1071 Internet checksum over the concatenation of parts. */
export function internetChecksum(...parts: Buffer[]): number {
  let sum = 0;
  let odd = -1;
  for (const p of parts) {
    for (const byte of p) {
      if (odd < 0) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = -1;
      }
    }
  }
  if (odd >= 0) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** TCP flag byte (default ACK|PSH with payload, ACK without). */
  flags?: number;
  window?: number;
  /** Raw TCP options, padded with zeros (end of option list) to a multiple of 4. */
  options?: Bytes;
  payload?: Bytes;
  /** Override the data offset nibble (in 32-bit words), e.g. to make malformed headers. */
  dataOffsetWords?: number;
}

/** TCP header + payload; the checksum is filled in by the IP builders that know the pseudo-header. */
export function tcpSegment(spec: TcpSpec): Buffer {
  const opts = bytes(spec.options);
  const optLen = (opts.length + 3) & ~3;
  const payload = bytes(spec.payload);
  const h = Buffer.alloc(20 + optLen);
  h.writeUInt16BE(spec.sport, 0);
  h.writeUInt16BE(spec.dport, 2);
  h.writeUInt32BE((spec.seq ?? 1) >>> 0, 4);
  h.writeUInt32BE((spec.ack ?? 0) >>> 0, 8);
  h[12] = (spec.dataOffsetWords ?? (20 + optLen) / 4) << 4;
  h[13] = spec.flags ?? (payload.length ? ACK | PSH : ACK);
  h.writeUInt16BE(spec.window ?? 65535, 14);
  opts.copy(h, 20);
  return Buffer.concat([h, payload]);
}

function setTcpChecksum(seg: Buffer, pseudo: Buffer): void {
  if (seg.length < 18) return;
  seg.writeUInt16BE(0, 16);
  seg.writeUInt16BE(internetChecksum(pseudo, seg), 16);
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  protocol?: number;
  payload?: Bytes;
  ttl?: number;
  id?: number;
  /** Don't Fragment (default true). */
  df?: boolean;
  /** More Fragments flag. */
  mf?: boolean;
  /** Fragment offset in 8-byte units. */
  fragmentOffset?: number;
  /** IP options, padded to a multiple of 4. */
  options?: Bytes;
  /** Overrides for malformed packets. */
  totalLength?: number;
  ihlWords?: number;
  version?: number;
}

export function ipv4Packet(spec: Ipv4Spec): Buffer {
  const opts = bytes(spec.options);
  const optLen = (opts.length + 3) & ~3;
  const payload = Buffer.from(bytes(spec.payload));
  const h = Buffer.alloc(20 + optLen);
  h[0] = ((spec.version ?? 4) << 4) | (spec.ihlWords ?? (20 + optLen) / 4);
  h.writeUInt16BE(spec.totalLength ?? h.length + payload.length, 2);
  h.writeUInt16BE(spec.id ?? 1, 4);
  const frag =
    ((spec.df ?? true) ? 0x4000 : 0) | (spec.mf ? 0x2000 : 0) | ((spec.fragmentOffset ?? 0) & 0x1fff);
  h.writeUInt16BE(frag, 6);
  h[8] = spec.ttl ?? 64;
  h[9] = spec.protocol ?? 6;
  ipv4Bytes(spec.src).copy(h, 12);
  ipv4Bytes(spec.dst).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(internetChecksum(h), 10);
  if ((spec.protocol ?? 6) === 6 && !spec.mf && !spec.fragmentOffset) {
    const pseudo = Buffer.alloc(12);
    h.copy(pseudo, 0, 12, 20);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(payload.length & 0xffff, 10);
    setTcpChecksum(payload, pseudo);
  }
  return Buffer.concat([h, payload]);
}

export interface Ipv6Extension {
  /** Header type as it appears in the previous Next Header: 0, 43, 60, 44 (fragment), 51 (AH), ... */
  type: number;
  /** Bytes after the Next Header/length octets; padded to the header's unit. For 44: ignored. */
  body?: Bytes;
  /** Fragment header fields (type 44). */
  fragmentOffset?: number;
  more?: boolean;
  id?: number;
}

export interface Ipv6Spec {
  src: string;
  dst: string;
  nextHeader?: number;
  payload?: Bytes;
  extensions?: Ipv6Extension[];
  hopLimit?: number;
  payloadLength?: number;
  version?: number;
}

function ipv6Extension(ext: Ipv6Extension, next: number): Buffer {
  if (ext.type === 44) {
    const b = Buffer.alloc(8);
    b[0] = next;
    b.writeUInt16BE(((ext.fragmentOffset ?? 0) << 3) | (ext.more ? 1 : 0), 2);
    b.writeUInt32BE(ext.id ?? 1, 4);
    return b;
  }
  const body = bytes(ext.body);
  if (ext.type === 51) {
    // AH: length in 4-octet units minus 2; total a multiple of 8 for IPv6.
    const total = Math.max(16, (2 + body.length + 7) & ~7);
    const b = Buffer.alloc(total);
    b[0] = next;
    b[1] = total / 4 - 2;
    body.copy(b, 2);
    return b;
  }
  const total = Math.max(8, (2 + body.length + 7) & ~7);
  const b = Buffer.alloc(total);
  b[0] = next;
  b[1] = total / 8 - 1;
  body.copy(b, 2);
  return b;
}

export function ipv6Packet(spec: Ipv6Spec): Buffer {
  const exts = spec.extensions ?? [];
  const upper = spec.nextHeader ?? 6;
  const payload = Buffer.from(bytes(spec.payload));
  const extBufs: Buffer[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? exts[i + 1]!.type : upper;
    extBufs.push(ipv6Extension(exts[i]!, next));
  }
  const extLen = extBufs.reduce((a, b) => a + b.length, 0);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(((spec.version ?? 6) << 28) >>> 0, 0);
  h.writeUInt16BE(spec.payloadLength ?? extLen + payload.length, 4);
  h[6] = exts.length ? exts[0]!.type : upper;
  h[7] = spec.hopLimit ?? 64;
  ipv6Bytes(spec.src).copy(h, 8);
  ipv6Bytes(spec.dst).copy(h, 24);
  const fragmented = exts.some((e) => e.type === 44 && (e.more || e.fragmentOffset));
  if (upper === 6 && !fragmented) {
    const pseudo = Buffer.alloc(40);
    h.copy(pseudo, 0, 8, 40);
    pseudo.writeUInt32BE(payload.length, 32);
    pseudo[39] = 6;
    setTcpChecksum(payload, pseudo);
  }
  return Buffer.concat([h, ...extBufs, payload]);
}

export interface EthernetSpec {
  srcMac?: string;
  dstMac?: string;
  etherType: number;
  payload?: Bytes;
  /** VLAN ids, outermost first. With two or more, the outer tags use `outerTpid` (default 0x88a8). */
  vlan?: number | number[];
  outerTpid?: number;
  /** Pad to the 60-byte Ethernet minimum (default true), as a NIC does. */
  pad?: boolean;
}

export const DEFAULT_SRC_MAC = "02:00:00:00:00:01";
export const DEFAULT_DST_MAC = "02:00:00:00:00:02";

export function ethernetFrame(spec: EthernetSpec): Buffer {
  const vlans = spec.vlan === undefined ? [] : Array.isArray(spec.vlan) ? spec.vlan : [spec.vlan];
  const h = Buffer.alloc(14 + 4 * vlans.length);
  macBytes(spec.dstMac ?? DEFAULT_DST_MAC).copy(h, 0);
  macBytes(spec.srcMac ?? DEFAULT_SRC_MAC).copy(h, 6);
  let p = 12;
  vlans.forEach((vid, i) => {
    const tpid = i < vlans.length - 1 ? (spec.outerTpid ?? 0x88a8) : 0x8100;
    h.writeUInt16BE(tpid, p);
    h.writeUInt16BE(vid & 0x0fff, p + 2);
    p += 4;
  });
  h.writeUInt16BE(spec.etherType, p);
  const frame = Buffer.concat([h, bytes(spec.payload)]);
  if ((spec.pad ?? true) && frame.length < 60) return Buffer.concat([frame, Buffer.alloc(60 - frame.length)]);
  return frame;
}

export interface TcpFlowSpec extends TcpSpec {
  src: string;
  dst: string;
}

export interface EthernetTcpSpec extends TcpFlowSpec {
  srcMac?: string;
  dstMac?: string;
  vlan?: number | number[];
  outerTpid?: number;
}

/** IPv4/TCP packet (no link layer), for raw-IP link types. */
export function ipv4Tcp(spec: TcpFlowSpec & Partial<Ipv4Spec>): Buffer {
  return ipv4Packet({ ...spec, protocol: 6, payload: tcpSegment(spec) });
}

/** IPv6/TCP packet (no link layer). */
export function ipv6Tcp(spec: TcpFlowSpec & { extensions?: Ipv6Extension[] }): Buffer {
  return ipv6Packet({
    src: spec.src,
    dst: spec.dst,
    nextHeader: 6,
    extensions: spec.extensions,
    payload: tcpSegment(spec),
  });
}

export function ethernetIpv4Tcp(spec: EthernetTcpSpec): Buffer {
  return ethernetFrame({ ...spec, etherType: 0x0800, payload: ipv4Tcp(spec) });
}

export function ethernetIpv6Tcp(spec: EthernetTcpSpec & { extensions?: Ipv6Extension[] }): Buffer {
  return ethernetFrame({ ...spec, etherType: 0x86dd, payload: ipv6Tcp(spec) });
}

/** Linux cooked v1 header + payload (LINKTYPE_LINUX_SLL). */
export function sllFrame(spec: {
  protocol: number;
  payload: Bytes;
  srcMac?: string;
  packetType?: number;
}): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(spec.packetType ?? 0, 0);
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  macBytes(spec.srcMac ?? DEFAULT_SRC_MAC).copy(h, 6);
  h.writeUInt16BE(spec.protocol, 14);
  return Buffer.concat([h, bytes(spec.payload)]);
}

/** Linux cooked v2 header + payload (LINKTYPE_LINUX_SLL2). */
export function sll2Frame(spec: {
  protocol: number;
  payload: Bytes;
  srcMac?: string;
  packetType?: number;
  ifIndex?: number;
}): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(spec.protocol, 0);
  h.writeUInt32BE(spec.ifIndex ?? 2, 4);
  h.writeUInt16BE(1, 8); // ARPHRD_ETHER
  h[10] = spec.packetType ?? 0;
  h[11] = 6;
  macBytes(spec.srcMac ?? DEFAULT_SRC_MAC).copy(h, 12);
  return Buffer.concat([h, bytes(spec.payload)]);
}

/** BSD loopback header (LINKTYPE_NULL, host byte order; LINKTYPE_LOOP uses bigEndian). */
export function nullFrame(family: number, payload: Bytes, bigEndian = false): Buffer {
  const h = Buffer.alloc(4);
  if (bigEndian) h.writeUInt32BE(family, 0);
  else h.writeUInt32LE(family, 0);
  return Buffer.concat([h, bytes(payload)]);
}

/** One packet of a capture file. */
export interface CapturePacket {
  data: Bytes;
  /** Microseconds since the epoch (default: 1.7e15 + index). */
  tsMicros?: number;
  /** Length on the wire (default: data length). */
  origLen?: number;
  /** pcapng only: interface index (default 0). */
  interfaceId?: number;
  /** pcapng only: raw timestamp in the interface's units (overrides tsMicros). */
  tsUnits?: bigint;
  /** pcapng only: write a Simple Packet Block instead of an EPB. */
  simple?: boolean;
}

function packetOf(p: CapturePacket | Bytes, i: number): CapturePacket {
  if (typeof p === "string" || p instanceof Uint8Array)
    return { data: p, tsMicros: 1_700_000_000_000_000 + i };
  return p;
}

export interface PcapOptions {
  nanos?: boolean;
  bigEndian?: boolean;
  linktype?: number;
  snaplen?: number;
}

export function pcapHeader(opts: PcapOptions = {}): Buffer {
  const h = Buffer.alloc(24);
  const w32 = (v: number, o: number) =>
    opts.bigEndian ? h.writeUInt32BE(v >>> 0, o) : h.writeUInt32LE(v >>> 0, o);
  const w16 = (v: number, o: number) => (opts.bigEndian ? h.writeUInt16BE(v, o) : h.writeUInt16LE(v, o));
  w32(opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(2, 4);
  w16(4, 6);
  w32(opts.snaplen ?? 262144, 16);
  w32(opts.linktype ?? 1, 20);
  return h;
}

export function pcapRecord(p: CapturePacket, opts: PcapOptions = {}): Buffer {
  const data = bytes(p.data);
  const h = Buffer.alloc(16);
  const w32 = (v: number, o: number) =>
    opts.bigEndian ? h.writeUInt32BE(v >>> 0, o) : h.writeUInt32LE(v >>> 0, o);
  const ts = p.tsMicros ?? 0;
  const sec = Math.floor(ts / 1e6);
  const us = ts - sec * 1e6;
  w32(sec, 0);
  w32(opts.nanos ? us * 1000 : us, 4);
  w32(data.length, 8);
  w32(p.origLen ?? data.length, 12);
  return Buffer.concat([h, data]);
}

/** A whole pcap file. */
export function pcapFile(packets: (CapturePacket | Bytes)[], opts: PcapOptions = {}): Buffer {
  return Buffer.concat([pcapHeader(opts), ...packets.map((p, i) => pcapRecord(packetOf(p, i), opts))]);
}

/** Any pcapng block: type, total length, body padded to 32 bits, total length. */
export function pcapngBlock(type: number, body: Bytes, bigEndian = false): Buffer {
  const b = bytes(body);
  const padded = (b.length + 3) & ~3;
  const out = Buffer.alloc(12 + padded);
  const w32 = (v: number, o: number) =>
    bigEndian ? out.writeUInt32BE(v >>> 0, o) : out.writeUInt32LE(v >>> 0, o);
  w32(type, 0);
  w32(out.length, 4);
  b.copy(out, 8);
  w32(out.length, out.length - 4);
  return out;
}

/** pcapng options list: [code, value] pairs then opt_endofopt. */
export function pcapngOptions(opts: [number, Bytes][], bigEndian = false): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, value] of opts) {
    const v = bytes(value);
    const h = Buffer.alloc(4 + ((v.length + 3) & ~3));
    if (bigEndian) {
      h.writeUInt16BE(code, 0);
      h.writeUInt16BE(v.length, 2);
    } else {
      h.writeUInt16LE(code, 0);
      h.writeUInt16LE(v.length, 2);
    }
    v.copy(h, 4);
    parts.push(h);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

export function pcapngShb(bigEndian = false, options: [number, Bytes][] = []): Buffer {
  const body = Buffer.alloc(16);
  if (bigEndian) {
    body.writeUInt32BE(0x1a2b3c4d, 0);
    body.writeUInt16BE(1, 4);
    body.writeUInt16BE(0, 6);
  } else {
    body.writeUInt32LE(0x1a2b3c4d, 0);
    body.writeUInt16LE(1, 4);
    body.writeUInt16LE(0, 6);
  }
  body.fill(0xff, 8, 16); // section length unknown (-1)
  return pcapngBlock(0x0a0d0d0a, Buffer.concat([body, pcapngOptions(options, bigEndian)]), bigEndian);
}

export interface PcapngInterface {
  linktype: number;
  snaplen?: number;
  /** if_tsresol byte (default absent = microseconds). */
  tsresol?: number;
  /** if_tsoffset in seconds. */
  tsoffset?: number;
}

export function pcapngIdb(ifc: PcapngInterface, bigEndian = false): Buffer {
  const body = Buffer.alloc(8);
  if (bigEndian) {
    body.writeUInt16BE(ifc.linktype, 0);
    body.writeUInt32BE(ifc.snaplen ?? 0, 4);
  } else {
    body.writeUInt16LE(ifc.linktype, 0);
    body.writeUInt32LE(ifc.snaplen ?? 0, 4);
  }
  const opts: [number, Bytes][] = [];
  if (ifc.tsresol !== undefined) opts.push([9, Buffer.from([ifc.tsresol])]);
  if (ifc.tsoffset !== undefined) {
    const v = Buffer.alloc(8);
    if (bigEndian) v.writeBigInt64BE(BigInt(ifc.tsoffset));
    else v.writeBigInt64LE(BigInt(ifc.tsoffset));
    opts.push([14, v]);
  }
  return pcapngBlock(1, Buffer.concat([body, pcapngOptions(opts, bigEndian)]), bigEndian);
}

/** Timestamp units per second of an if_tsresol byte. */
export function unitsPerSecond(tsresol: number | undefined): bigint {
  if (tsresol === undefined) return 1_000_000n;
  return tsresol & 0x80 ? 2n ** BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
}

export function pcapngEpb(
  p: { data: Bytes; interfaceId?: number; origLen?: number; tsUnits: bigint },
  bigEndian = false,
): Buffer {
  const data = bytes(p.data);
  const body = Buffer.alloc(20 + ((data.length + 3) & ~3));
  const w32 = (v: number, o: number) =>
    bigEndian ? body.writeUInt32BE(v >>> 0, o) : body.writeUInt32LE(v >>> 0, o);
  w32(p.interfaceId ?? 0, 0);
  w32(Number(p.tsUnits >> 32n), 4);
  w32(Number(p.tsUnits & 0xffffffffn), 8);
  w32(data.length, 12);
  w32(p.origLen ?? data.length, 16);
  data.copy(body, 20);
  return pcapngBlock(6, body, bigEndian);
}

export function pcapngSpb(data: Bytes, origLen?: number, bigEndian = false): Buffer {
  const d = bytes(data);
  const body = Buffer.alloc(4 + d.length);
  if (bigEndian) body.writeUInt32BE(origLen ?? d.length, 0);
  else body.writeUInt32LE(origLen ?? d.length, 0);
  d.copy(body, 4);
  return pcapngBlock(3, body, bigEndian);
}

export interface PcapngOptions {
  bigEndian?: boolean;
  /** Interfaces of the section (default one Ethernet interface). */
  interfaces?: PcapngInterface[];
}

/** A one-section pcapng file: SHB, the IDBs, then one EPB (or SPB) per packet. */
export function pcapngFile(packets: (CapturePacket | Bytes)[], opts: PcapngOptions = {}): Buffer {
  const be = opts.bigEndian ?? false;
  const ifcs = opts.interfaces ?? [{ linktype: 1 }];
  const parts = [pcapngShb(be), ...ifcs.map((i) => pcapngIdb(i, be))];
  packets.forEach((raw, i) => {
    const p = packetOf(raw, i);
    if (p.simple) {
      parts.push(pcapngSpb(p.data, p.origLen, be));
      return;
    }
    const ifc = ifcs[p.interfaceId ?? 0];
    const units =
      p.tsUnits ?? (BigInt(Math.round(p.tsMicros ?? 0)) * unitsPerSecond(ifc?.tsresol)) / 1_000_000n;
    parts.push(
      pcapngEpb({ data: p.data, interfaceId: p.interfaceId, origLen: p.origLen, tsUnits: units }, be),
    );
  });
  return Buffer.concat(parts);
}
