/**
 * Test helpers for reassembly: a segment builder that fills the decoder's TcpPacket struct directly,
 * and a recording ConnectionFactory. After every segment() call the builder overwrites the packet buffer,
 * so a reassembler that keeps a view past the call (instead of copying) delivers wrong bytes and fails.
 */
import { TcpPacket, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from "../../agent/decode/types.js";
import type {
  CloseReason,
  ConnectionFactory,
  ConnectionInfo,
  Direction,
  HandshakeResult,
  StreamHandler,
} from "../../agent/reassembly/types.js";
import { AnomalyCounter, type Counters } from "../../agent/util/anomaly.js";
import { TcpReassembler, type TcpReassemblerLimits } from "../../agent/reassembly/tcp.js";

export { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN };

/** One segment as a test describes it; `src`/`dst` are IPv4 dotted quads or IPv6 as 16 bytes. */
export interface Seg {
  src: string | Uint8Array;
  sport: number;
  dst: string | Uint8Array;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  payload?: Uint8Array;
  /** Bytes announced by IP but not captured (snap length). */
  missing?: number;
  macSrc?: Uint8Array;
  macDst?: Uint8Array;
}

function ipv4(s: string): number {
  const p = s.split(".").map(Number);
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
}

const pkt = new TcpPacket();

/** Lays the segment out as [dst mac][src mac][src6][dst6][payload] and fills the shared struct. */
export function fill(s: Seg): TcpPacket {
  const v6 = typeof s.src !== "string";
  const pl = s.payload ?? new Uint8Array(0);
  const buf = Buffer.alloc(12 + (v6 ? 32 : 0) + pl.length + 3); // 3 trailing bytes: a payload end < buf end
  let at = 0;
  if (s.macDst !== undefined && s.macSrc !== undefined) {
    buf.set(s.macDst, 0);
    buf.set(s.macSrc, 6);
    pkt.macDst = 0;
    pkt.macSrc = 6;
  } else {
    pkt.macDst = pkt.macSrc = -1;
  }
  at = 12;
  if (v6) {
    buf.set(s.src as Uint8Array, at);
    buf.set(s.dst as Uint8Array, at + 16);
    pkt.ipVersion = 6;
    pkt.src6 = at;
    pkt.dst6 = at + 16;
    at += 32;
  } else {
    pkt.ipVersion = 4;
    pkt.src4 = ipv4(s.src as string);
    pkt.dst4 = ipv4(s.dst as string);
  }
  buf.set(pl, at);
  pkt.buf = buf;
  pkt.srcPort = s.sport;
  pkt.dstPort = s.dport;
  pkt.seq = s.seq >>> 0;
  pkt.ack = (s.ack ?? 0) >>> 0;
  pkt.flags = s.flags;
  pkt.payloadStart = at;
  pkt.payloadEnd = at + pl.length;
  pkt.payloadMissing = s.missing ?? 0;
  return pkt;
}

/** Feeds one segment and then scribbles over its buffer (views must not outlive the call). */
export function feed(r: TcpReassembler, s: Seg, ts: number): void {
  const p = fill(s);
  r.segment(p, ts);
  p.buf.fill(0xee);
}

/** Builds the segments of one conversation, tracking both sequence numbers. */
export class Conversation {
  seq: [number, number];
  constructor(
    readonly client: [string | Uint8Array, number],
    readonly server: [string | Uint8Array, number],
    isnClient = 1000,
    isnServer = 5000,
  ) {
    this.seq = [isnClient >>> 0, isnServer >>> 0];
  }

  private seg(dir: Direction, flags: number, payload?: Uint8Array, extra?: Partial<Seg>): Seg {
    const [a, b] = dir === 0 ? [this.client, this.server] : [this.server, this.client];
    return {
      src: a[0],
      sport: a[1],
      dst: b[0],
      dport: b[1],
      seq: this.seq[dir],
      ack: this.seq[dir === 0 ? 1 : 0],
      flags,
      ...(payload !== undefined ? { payload } : {}),
      ...extra,
    };
  }

  syn(): Seg {
    const s = this.seg(0, TCP_SYN);
    this.seq[0] = (this.seq[0] + 1) >>> 0;
    return s;
  }

  synAck(): Seg {
    const s = this.seg(1, TCP_SYN | TCP_ACK);
    this.seq[1] = (this.seq[1] + 1) >>> 0;
    return s;
  }

  /** A data segment; `missing` extra bytes are announced but not captured (they still use sequence space). */
  data(dir: Direction, payload: Uint8Array, missing = 0): Seg {
    const s = this.seg(dir, TCP_ACK | TCP_PSH, payload, missing > 0 ? { missing } : {});
    this.seq[dir] = (this.seq[dir] + payload.length + missing) >>> 0;
    return s;
  }

  fin(dir: Direction): Seg {
    const s = this.seg(dir, TCP_FIN | TCP_ACK);
    this.seq[dir] = (this.seq[dir] + 1) >>> 0;
    return s;
  }

  rst(dir: Direction): Seg {
    return this.seg(dir, TCP_RST);
  }

  ack(dir: Direction): Seg {
    return this.seg(dir, TCP_ACK);
  }
}

export interface ConnRecord {
  info: ConnectionInfo;
  /** Delivered bytes per direction (copied at call time). */
  bytes: [number[], number[]];
  /** Per direction, in order: ["data", offset, length] or ["gap", offset, length]. */
  events: [Array<["data" | "gap", number, number]>, Array<["data" | "gap", number, number]>];
  handshakes: HandshakeResult[];
  closed: CloseReason | null;
  /** The `side` argument of close(): who sent the RST, or whose FIN came first. */
  closeSide: Direction | undefined;
  /** The `tsMicros` argument of close(). */
  closeTs: number | null;
  calls: number;
}

/** Records what the reassembler tells a factory; `ignore` decides which connections get no handler. */
export class Recorder implements ConnectionFactory {
  conns: ConnRecord[] = [];
  errors: string[] = [];
  constructor(private readonly ignore: (info: ConnectionInfo) => boolean = () => false) {}

  open(info: ConnectionInfo): StreamHandler | null {
    const rec: ConnRecord = {
      info,
      bytes: [[], []],
      events: [[], []],
      handshakes: [],
      closed: null,
      closeSide: undefined,
      closeTs: null,
      calls: 0,
    };
    this.conns.push(rec);
    if (this.ignore(info)) return null;
    const errors = this.errors;
    const pos: [number, number] = [0, 0];
    return {
      data(dir, buf, start, end) {
        rec.calls++;
        if (rec.closed !== null) errors.push("data after close");
        if (!(start >= 0 && start < end && end <= buf.length)) errors.push(`bad view ${start}..${end}`);
        const out = rec.bytes[dir];
        for (let i = start; i < end; i++) out.push(buf[i] ?? -1);
        rec.events[dir].push(["data", pos[dir], end - start]);
        pos[dir] += end - start;
      },
      gap(dir, length) {
        rec.calls++;
        if (rec.closed !== null) errors.push("gap after close");
        if (!(length > 0)) errors.push(`bad gap ${length}`);
        rec.events[dir].push(["gap", pos[dir], length]);
        pos[dir] += length;
      },
      close(reason, ts, side) {
        if (rec.closed !== null) errors.push("closed twice");
        rec.closed = reason;
        rec.closeTs = ts;
        rec.closeSide = side;
        if (side !== undefined && reason !== "rst" && reason !== "fin") errors.push(`side on ${reason}`);
      },
    };
  }

  handshake(info: ConnectionInfo, result: HandshakeResult): void {
    const rec = this.conns.find((c) => c.info === info);
    if (rec === undefined) this.errors.push("handshake for unknown connection");
    else rec.handshakes.push(result);
  }
}

export function setup(
  limits: Partial<TcpReassemblerLimits> = {},
  ignore?: (info: ConnectionInfo) => boolean,
): { r: TcpReassembler; rec: Recorder; anomalies: AnomalyCounter; counters: Counters } {
  const rec = new Recorder(ignore);
  const anomalies = new AnomalyCounter();
  const counters: Counters = { bytesCopied: 0 };
  const r = new TcpReassembler(rec, limits, { anomalies, counters });
  return { r, rec, anomalies, counters };
}

/** n bytes of a recognisable pattern starting at stream offset `from`. */
export function pattern(from: number, n: number, salt = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((from + i) * 31 + salt) & 0xff;
  return b;
}
