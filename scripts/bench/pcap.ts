/**
 * Streaming pcap writer and a TCP connection model for the benchmark generator.
 *
 * Everything is written straight into one reusable output buffer that is flushed to the file when full,
 * so memory stays constant whatever the capture size. Payload bytes are copied once, from the caller's
 * pieces (views) into the output buffer; checksums are computed in place.
 *
 * Frame layout (Ethernet II, IPv4 without options, TCP):
 *
 *   pcap record header   16  ts_sec u32 | ts_usec u32 | incl_len u32 | orig_len u32   (little endian)
 *   Ethernet             14  dst mac 6 | src mac 6 | ethertype 0x0800
 *   IPv4                 20  0x45 | tos | total len | id | flags+frag (DF) | ttl | proto 6 | csum | src | dst
 *   TCP              20+opt  sport | dport | seq | ack | off+flags | window | csum | urg | options
 *   payload          ≤ MSS
 */
import { closeSync, openSync, writeSync } from "node:fs";

/** MTU 1500: 1500 - 20 (IPv4) - 20 (TCP) = 1460 bytes of payload per full segment. */
export const MSS = 1460;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

const OUT_CHUNK = 8 << 20;
/** Largest frame we write: Ethernet + IPv4 + TCP with 20 bytes of options + MSS, plus the record header. */
const MAX_RECORD = 16 + 14 + 20 + 40 + MSS;

/** A deterministic 32-bit PRNG (mulberry32): fast, seedable, good enough for traffic shapes. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    const v = items[this.u32() % items.length];
    if (v === undefined) throw new Error("pick from an empty list");
    return v;
  }
  fill(buf: Buffer): void {
    let i = 0;
    for (; i + 4 <= buf.length; i += 4) buf.writeUInt32LE(this.u32(), i);
    for (; i < buf.length; i++) buf[i] = this.u32() & 0xff;
  }
}

/** Sums 16-bit big-endian words of buf[start, end) for the Internet checksum (RFC 1071). */
export function sum16(buf: Buffer, start: number, end: number, acc: number): number {
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) acc += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) acc += buf[i]! << 8;
  return acc;
}

/** Folds a sum16 accumulator into the one's-complement checksum. */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

export class PcapWriter {
  private readonly out = Buffer.allocUnsafe(OUT_CHUNK);
  private pos = 0;
  private readonly fd: number;
  /** Capture clock in microseconds since the epoch; advanced by each frame's time on a 1 Gbit/s wire. */
  clockMicros: number;
  packets = 0;
  /** Bytes written to the file so far (including headers). */
  fileBytes = 24;
  /** Sum of frame lengths (what a reader hands on as captured bytes). */
  frameBytes = 0;

  constructor(path: string, startMicros: number) {
    this.fd = openSync(path, "w");
    this.clockMicros = startMicros;
    // pcap global header: magic (µs), version 2.4, thiszone 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
    const h = Buffer.alloc(24);
    h.writeUInt32LE(0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(262144, 16);
    h.writeUInt32LE(1, 20);
    writeSync(this.fd, h);
  }

  /** Returns the buffer and offset where a record of at most `n` bytes may be written. */
  reserve(n: number): [Buffer, number] {
    if (this.pos + n > this.out.length) this.flush();
    return [this.out, this.pos];
  }

  /** Commits a record of `n` bytes (record header included) written at the reserved offset. */
  commit(n: number, frameLen: number): void {
    this.pos += n;
    this.fileBytes += n;
    this.frameBytes += frameLen;
    this.packets++;
    // Preamble + SFD + IFG = 20 byte times on the wire; 8 ns per byte at 1 Gbit/s.
    this.clockMicros += ((frameLen + 20) * 8) / 1000;
  }

  /** Idle time on the wire (think time of a peer). */
  idle(micros: number): void {
    this.clockMicros += micros;
  }

  private flush(): void {
    let off = 0;
    while (off < this.pos) off += writeSync(this.fd, this.out, off, this.pos - off);
    this.pos = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export interface Endpoint {
  mac: Buffer;
  ip: Buffer;
  port: number;
}

/** One direction of a TCP connection: its next sequence number and the bytes not yet segmented. */
class Half {
  seq: number;
  ipId: number;
  /** Data written but not yet sent: views owned by the caller until they are segmented. */
  readonly queue: Buffer[] = [];
  qi = 0;
  qo = 0;
  queued = 0;
  segsSinceAck = 0;
  constructor(
    readonly ep: Endpoint,
    isn: number,
    ipId: number,
  ) {
    this.seq = isn >>> 0;
    this.ipId = ipId;
  }
}

export interface TcpOptions {
  /** The receiver sends a pure ACK after this many full segments; 0 = only when a message is pushed. */
  ackEvery: number;
  /** Window scale shift announced in SYN and SYN-ACK (RFC 7323). */
  windowShift: number;
}

/**
 * A TCP connection between a client and a server. Data is written as pieces (views) and cut into MSS
 * segments that span piece boundaries, as a socket with Nagle would; `push` sends the partial rest with
 * PSH and lets the receiver acknowledge everything (a delayed ACK at the end of a burst).
 */
export class TcpConnection {
  private readonly c: Half;
  private readonly s: Half;
  private readonly window: number;
  constructor(
    private readonly w: PcapWriter,
    client: Endpoint,
    server: Endpoint,
    clientIsn: number,
    serverIsn: number,
    private readonly opt: TcpOptions,
  ) {
    this.c = new Half(client, clientIsn, clientIsn & 0xffff);
    this.s = new Half(server, serverIsn, serverIsn & 0xffff);
    // 4 MiB receive window expressed in the scaled unit.
    this.window = Math.min(0xffff, (4 << 20) >>> opt.windowShift);
  }

  /** Three-way handshake, MSS and window-scale options on SYN and SYN-ACK. */
  open(): void {
    const o = Buffer.from([2, 4, MSS >> 8, MSS & 0xff, 1, 3, 3, this.opt.windowShift]);
    this.frame(this.c, this.s, TCP_SYN, 0, o, 0xffff);
    this.c.seq = (this.c.seq + 1) >>> 0;
    this.frame(this.s, this.c, TCP_SYN | TCP_ACK, 0, o, 0xffff);
    this.s.seq = (this.s.seq + 1) >>> 0;
    this.frame(this.c, this.s, TCP_ACK, 0, null, this.window);
  }

  /** Only the client's SYN, unanswered: what a port scan sends to each host (a flow that never opens). */
  synOnly(): void {
    const o = Buffer.from([2, 4, MSS >> 8, MSS & 0xff]);
    this.frame(this.c, this.s, TCP_SYN, 0, o, 0xffff);
    this.c.seq = (this.c.seq + 1) >>> 0;
  }

  /** Client closes first (the association requestor does after A-RELEASE-RP, PS3.8 §9.1.6). */
  close(): void {
    this.frame(this.c, this.s, TCP_FIN | TCP_ACK, 0, null, this.window);
    this.c.seq = (this.c.seq + 1) >>> 0;
    this.frame(this.s, this.c, TCP_FIN | TCP_ACK, 0, null, this.window);
    this.s.seq = (this.s.seq + 1) >>> 0;
    this.frame(this.c, this.s, TCP_ACK, 0, null, this.window);
  }

  /** Queues bytes from the client (true) or the server (false); full segments leave at once. */
  write(fromClient: boolean, piece: Buffer): void {
    const h = fromClient ? this.c : this.s;
    if (piece.length === 0) return;
    h.queue.push(piece);
    h.queued += piece.length;
    while (h.queued >= MSS) this.segment(h, fromClient ? this.s : this.c, MSS, 0);
  }

  /** Sends what is queued (the last segment with PSH) and has the receiver acknowledge it. */
  push(fromClient: boolean): void {
    const h = fromClient ? this.c : this.s;
    const peer = fromClient ? this.s : this.c;
    while (h.queued > 0) {
      const n = Math.min(MSS, h.queued);
      this.segment(h, peer, n, n === h.queued ? TCP_PSH : 0);
    }
    if (h.segsSinceAck > 0) this.frame(peer, h, TCP_ACK, 0, null, this.window);
    h.segsSinceAck = 0;
  }

  private segment(h: Half, peer: Half, n: number, extraFlags: number): void {
    this.frame(h, peer, TCP_ACK | extraFlags, n, null, this.window);
    h.seq = (h.seq + n) >>> 0;
    if (++h.segsSinceAck === this.opt.ackEvery) {
      this.frame(peer, h, TCP_ACK, 0, null, this.window);
      h.segsSinceAck = 0;
    }
  }

  /** Writes one frame from `h` to `peer` carrying `n` queued payload bytes (taken from h's queue). */
  private frame(h: Half, peer: Half, flags: number, n: number, options: Buffer | null, window: number): void {
    const optLen = options ? options.length : 0;
    const tcpLen = 20 + optLen + n;
    const ipLen = 20 + tcpLen;
    const frameLen = 14 + ipLen;
    const [b, at] = this.w.reserve(MAX_RECORD);
    const ts = this.w.clockMicros;
    const sec = Math.floor(ts / 1e6);
    b.writeUInt32LE(sec, at);
    b.writeUInt32LE(Math.floor(ts - sec * 1e6), at + 4);
    b.writeUInt32LE(frameLen, at + 8);
    b.writeUInt32LE(frameLen, at + 12);
    const e = at + 16;
    peer.ep.mac.copy(b, e);
    h.ep.mac.copy(b, e + 6);
    b.writeUInt16BE(0x0800, e + 12);
    const ip = e + 14;
    b[ip] = 0x45;
    b[ip + 1] = 0;
    b.writeUInt16BE(ipLen, ip + 2);
    b.writeUInt16BE(h.ipId, ip + 4);
    h.ipId = (h.ipId + 1) & 0xffff;
    b.writeUInt16BE(0x4000, ip + 6); // DF, offset 0
    b[ip + 8] = 64;
    b[ip + 9] = 6;
    b.writeUInt16BE(0, ip + 10);
    h.ep.ip.copy(b, ip + 12);
    peer.ep.ip.copy(b, ip + 16);
    b.writeUInt16BE(fold(sum16(b, ip, ip + 20, 0)), ip + 10);
    const t = ip + 20;
    b.writeUInt16BE(h.ep.port, t);
    b.writeUInt16BE(peer.ep.port, t + 2);
    b.writeUInt32BE(h.seq, t + 4);
    b.writeUInt32BE(flags & TCP_SYN && !(flags & TCP_ACK) ? 0 : peer.seq, t + 8);
    b.writeUInt16BE((((20 + optLen) >> 2) << 12) | flags, t + 12);
    b.writeUInt16BE(window, t + 14);
    b.writeUInt32BE(0, t + 16); // checksum (filled below), urgent pointer
    if (options) options.copy(b, t + 20);
    let p = t + 20 + optLen;
    let left = n;
    while (left > 0) {
      const piece = h.queue[h.qi]!;
      const k = Math.min(left, piece.length - h.qo);
      piece.copy(b, p, h.qo, h.qo + k);
      p += k;
      left -= k;
      h.qo += k;
      if (h.qo === piece.length) {
        h.queue[h.qi++] = EMPTY;
        h.qo = 0;
      }
    }
    h.queued -= n;
    if (h.qi === h.queue.length) {
      h.queue.length = 0;
      h.qi = 0;
    }
    // TCP checksum over the pseudo header (src, dst, zero, proto, TCP length) and the segment.
    let acc = sum16(b, ip + 12, ip + 20, 6 + tcpLen);
    acc = sum16(b, t, t + tcpLen, acc);
    b.writeUInt16BE(fold(acc), t + 16);
    this.w.commit(16 + frameLen, frameLen);
  }
}

const EMPTY = Buffer.alloc(0);
