/**
 * TCP reassembly (DESIGN.md §2): per connection and direction, in-order delivery of views into the
 * capture buffer, out-of-order data held (copied, bounded), retransmissions and overlaps trimmed,
 * sequence numbers compared modulo 2^32, holes turned into explicit gap markers, teardown on FIN/RST,
 * idle time and flow-table pressure.
 *
 * Sequence numbers (RFC 9293 §3.4) wrap at 2^32. Each direction maps them onto a "logical offset"
 * (a plain JS number, exact up to 2^53 bytes) the first time it sees a SYN or data:
 *
 *     seq (uint32)  ──(seq - nextSeq) | 0──►  signed distance d  ──►  offset = next + d
 *
 * so a segment is "old" (d < 0), "in order" (d <= 0 < end) or "ahead" (d > 0) by the signed 32-bit
 * difference, the same rule TCP itself uses (RFC 9293 §3.4 "sequence number comparisons"). Everything
 * after that — held segments, FIN position, gaps — is ordinary arithmetic on offsets, with no wrap.
 *
 * The hot path (an in-order segment of a known connection) does one Map lookup by a numeric key, a few
 * field compares, a pointer move in the LRU list and one handler call with a view: no allocation.
 *
 * A connection lives in one of four states, each with its own list (oldest first):
 *
 *     Open ──both FINs, stream complete──────────────────────────────► Closed (lingering)
 *      │  └─both FINs, bytes before a FIN missing─► Closing (lingering) ─┘  (hole filled or given up)
 *      └─no packet for idleMicros─► Dormant ─a segment in its window─► Open (same connection, same handler)
 *                                      └─no packet for idleLingerMicros more─► closed "idle"
 *
 * Closing: a SPAN port often forwards the release PDUs after the FINs that follow them; a FIN ahead of
 * the next expected byte is held like out-of-order data (RFC 9293 §3.10.7.4: a FIN is processed only when
 * the stream reaches it) and the direction closes when the bytes before it arrive.
 * Dormant: the idle timeout is the sensor's, not TCP's (a DICOM association may sit quiet for minutes);
 * a segment that continues the stream after it resumes the connection instead of starting a phantom one.
 *
 * Time: idle expiry runs on the largest capture time seen, never the latest, so a packet stamped earlier
 * than the one before it (merged captures, a stepped clock) is counted as an anomaly and expires nothing.
 */
import { randomBytes } from "node:crypto";
import type { AnomalySink, Counters } from "../util/anomaly.js";
import { formatFlow } from "../util/flow.js";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpPacket } from "../decode/types.js";
import type {
  CloseReason,
  ConnectionFactory,
  ConnectionInfo,
  Direction,
  ReassemblyLimits,
  StreamHandler,
} from "./types.js";
import { ipv4ToString, ipv6ToString, macToString } from "../decode/decode.js";

/** ReassemblyLimits plus two knobs specific to this implementation (both optional to callers). */
export interface TcpReassemblerLimits extends ReassemblyLimits {
  /**
   * Held out-of-order segments per direction. Bounds the bookkeeping of many tiny segments, which the
   * byte caps alone would not (a peer sending 1-byte segments out of order).
   */
  maxSegmentsPerDirection: number;
  /**
   * Held out-of-order segments across all connections. The byte caps count payload only, so without this
   * a flood of 1-byte segments over many connections would hold tens of millions of pieces (each a Buffer
   * and a record, hundreds of bytes apiece) before maxBufferedTotal is reached.
   */
  maxSegmentsTotal: number;
  /**
   * How long a connection closed by FIN or RST stays in the table, so that late retransmissions and the
   * final ACK are recognised instead of starting a new mid-stream connection (a short TIME-WAIT,
   * RFC 9293 §3.6.1).
   */
  closedLingerMicros: number;
  /**
   * How long a connection closed by the idle timeout stays resumable (Dormant: state and handler kept,
   * its segments continue it). Only beyond idleMicros + idleLingerMicros without a packet is the handler
   * closed as "idle". Default: idleMicros.
   */
  idleLingerMicros: number;
}

const DEFAULT_REASSEMBLY_LIMITS: Readonly<TcpReassemblerLimits> = {
  maxBufferedPerDirection: 1 << 20,
  maxBufferedTotal: 64 << 20,
  maxConnections: 65_536,
  idleMicros: 300_000_000,
  maxSegmentsPerDirection: 1024,
  maxSegmentsTotal: 65_536,
  closedLingerMicros: 30_000_000,
  /** Unless given, the constructor takes the idleMicros in effect (so a shorter idle timeout shortens it). */
  idleLingerMicros: 300_000_000,
};

export interface TcpReassemblyStats {
  /** Connections ever created. */
  tcpFlows: number;
  /** Connections open now. */
  active: number;
  /** Closed (FIN/RST) connections lingering in the table, and closing ones waiting for bytes before a FIN. */
  lingering: number;
  /** Connections past the idle timeout, still resumable by a late segment. */
  dormant: number;
  /** Out-of-order bytes held now, all connections. */
  bufferedBytes: number;
  /** Held pieces now, all connections (copied data and known-missing ranges). */
  bufferedSegments: number;
  /** Connections closed to make room in the table. */
  evicted: number;
  closedFin: number;
  closedRst: number;
  closedIdle: number;
  /** Payload bytes handed to handlers. */
  deliveredBytes: number;
  /** Gap markers and the bytes they stand for. */
  gaps: number;
  gapBytes: number;
  /** Connections with at least one gap (what the capture missed, per flow, for health). */
  gapFlows: number;
  /** Payload bytes dropped as retransmissions or overlaps of data already delivered or held. */
  duplicateBytes: number;
  /** Segments (or parts) that arrived ahead of a hole and were held. */
  outOfOrderSegments: number;
  /** Packets that belong to no connection and start none (stray ACK/FIN/RST, data after close). */
  strayPackets: number;
  /** Packets whose struct fields were out of bounds (a decoder bug or hostile struct): skipped. */
  badPackets: number;
  /** Connections whose FINs came while bytes before them were missing (held until the stream reached them). */
  finsAhead: number;
  /** Dormant (idle) connections continued by a late segment instead of starting a new one. */
  resumedAfterIdle: number;
  /** Packets stamped more than TIME_BACKWARDS_TOLERANCE earlier than the packet before them. */
  timeBackwards: number;
}

/** One held range of a direction: copied bytes, or (buf null) bytes known to be missing (snap length). */
class Held {
  constructor(
    public off: number,
    public end: number,
    public buf: Buffer | null,
    /** Capture time of the segment: held data is delivered late, but with the time it was seen. */
    public ts: number,
  ) {}
}

/** The state of one direction of a connection. */
class Half {
  /** True once a SYN or the first data fixed where the stream starts. */
  started = false;
  /** True when that start came from a SYN (so a different SYN later means a new connection). */
  synSeen = false;
  /** Sequence number of logical offset 0 (the first data byte). */
  base = 0;
  /** Logical offset of the next byte expected. */
  next = 0;
  /** (base + next) mod 2^32, kept so the hot path does one subtraction. */
  nextSeq = 0;
  /** Disjoint ranges ahead of `next`, sorted by offset. */
  held: Held[] = [];
  heldBytes = 0;
  finSeen = false;
  /** Logical offset the FIN occupies (= the stream length). */
  finOff = 0;

  start(seq: number): void {
    this.started = true;
    this.base = seq;
    this.next = 0;
    this.nextSeq = seq;
  }

  advance(to: number): void {
    this.next = to;
    this.nextSeq = (this.base + to) >>> 0;
  }
}

const enum St {
  /** In the open LRU list. */
  Open = 0,
  /** Both FINs seen, bytes before one of them still missing: in the lingering list, handler open. */
  Closing = 1,
  /** Past the idle timeout: in the dormant list, handler open, resumable. */
  Dormant = 2,
  /** Handler closed; lingering (FIN/RST) so late packets start nothing, or already out of the table. */
  Closed = 3,
}

const enum Hs {
  /** Picked up mid-stream (or roles from a SYN-ACK already reported). */
  None = 0,
  /** SYN seen, waiting for the server's answer. */
  SynSent = 1,
  /** The server answered with SYN-ACK. */
  Established = 2,
}

class Conn {
  /** A gap was reported on this connection (counted once in gapFlows). */
  gapped = false;
  /** Endpoint addresses as 32-bit words (IPv4 uses word 0 only), client (c) and server (s). */
  c0 = 0;
  c1 = 0;
  c2 = 0;
  c3 = 0;
  s0 = 0;
  s1 = 0;
  s2 = 0;
  s3 = 0;
  cPort = 0;
  sPort = 0;
  ver = 4;
  key = 0;
  /** Next connection in the same hash bucket. */
  hashNext: Conn | null = null;
  /** Neighbours in the list of its state (open LRU, lingering or dormant). */
  prev: Conn | null = null;
  next: Conn | null = null;
  st: St = St.Open;
  /** Open: the reassembler's clock at its last packet. Lingering: when it entered that list. */
  lastTs = 0;
  /** Capture time of its latest packet (as stamped, for the handler). */
  lastPacketTs = 0;
  /** Dormant: the clock when the idle timeout struck (the time its "idle" close will carry). */
  idleAt = 0;
  /** The direction whose FIN was seen first, -1 before any. */
  finFirst: Direction | -1 = -1;
  hs: Hs = Hs.None;
  snapReported = false;
  readonly h0 = new Half();
  readonly h1 = new Half();

  constructor(
    readonly info: ConnectionInfo,
    public handler: StreamHandler | null,
  ) {}
}

/** Doubly linked list of connections (oldest at head), so LRU moves and evictions are O(1). */
class ConnList {
  head: Conn | null = null;
  tail: Conn | null = null;
  size = 0;

  push(c: Conn): void {
    c.prev = this.tail;
    c.next = null;
    if (this.tail !== null) this.tail.next = c;
    else this.head = c;
    this.tail = c;
    this.size++;
  }

  remove(c: Conn): void {
    if (c.prev !== null) c.prev.next = c.next;
    else this.head = c.next;
    if (c.next !== null) c.next.prev = c.prev;
    else this.tail = c.prev;
    c.prev = c.next = null;
    this.size--;
  }
}

/** murmur3's 32-bit finaliser: spreads every input bit over the word. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * A secret for the flow hash, drawn for each reassembler (TcpReassembler.hashSeed). fmix is invertible, so
 * without a secret anyone on the mirrored network could compute addresses and ports that all land in one
 * bucket and turn every lookup into a walk of the whole table (O(n) per packet); with it they cannot aim.
 */
function newHashSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}

function endpointHash(seed: number, a0: number, a1: number, a2: number, a3: number, port: number): number {
  return fmix(
    fmix(a0 ^ seed ^ Math.imul(a1, 0x9e3779b1) ^ Math.imul(a2, 0x7feb352d) ^ Math.imul(a3, 0x846ca68b)) +
      port,
  );
}

/**
 * The table key of a connection: symmetric in its two endpoints, so both directions land in the same
 * bucket, and a small integer (30 bits) so the Map stays on its fast path. Exported for the collision test.
 */
export function connectionKey(
  seed: number,
  ver: number,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  sp: number,
  d0: number,
  d1: number,
  d2: number,
  d3: number,
  dp: number,
): number {
  return (
    ((endpointHash(seed, s0, s1, s2, s3, sp) + endpointHash(seed, d0, d1, d2, d3, dp)) ^
      (ver === 6 ? 0x2545f491 : 0)) &
    0x3fffffff
  );
}

function limit(v: number | undefined, dflt: number, min: number): number {
  return typeof v === "number" && Number.isFinite(v) && v >= min ? Math.floor(v) : dflt;
}

const LAYER = "reassembly";
/** How often segment() looks for idle connections: every N packets or after 1 s of capture time. */
const EXPIRE_EVERY_PACKETS = 4096;
/** How far (bytes) a RST's sequence number may stand from its sender's stream and still be honoured. */
const RST_WINDOW = 1 << 20;
const EXPIRE_EVERY_MICROS = 1_000_000;
/**
 * A packet stamped this much earlier than the one before it is "capture time running backwards". Below
 * it, small inversions are ordinary: several capture queues merged, or a SPAN port's own reordering.
 */
const TIME_BACKWARDS_TOLERANCE = 1_000_000;

/** MAC texts kept by one reassembler (see TcpReassembler.mac). */
const MAC_CACHE = 1024;

export class TcpReassembler {
  private readonly lim: TcpReassemblerLimits;
  private readonly anomalies: AnomalySink;
  private readonly counters: Counters;
  /** Numeric hash of the unordered endpoint pair → first connection of that bucket. */
  private readonly table = new Map<number, Conn>();
  /**
   * MAC text by its 48-bit value: behind a router thousands of connections share one MAC, and a flood's
   * connections would each hold a copy. Cleared when full (MAC_CACHE entries).
   */
  private readonly macs = new Map<number, string>();
  private readonly open = new ConnList();
  private readonly lingering = new ConnList();
  private readonly dormant = new ConnList();
  private nextId = 0;
  private buffered = 0;
  private bufferedSegments = 0;
  private packets = 0;
  private lastExpire = 0;
  /** The largest capture time seen: what idle expiry measures against (never moves backwards). */
  private clock = 0;
  /** Capture time of the previous packet, to notice time running backwards. */
  private prevTs = Number.NaN;
  private readonly st: TcpReassemblyStats = {
    tcpFlows: 0,
    active: 0,
    lingering: 0,
    dormant: 0,
    bufferedBytes: 0,
    bufferedSegments: 0,
    evicted: 0,
    closedFin: 0,
    closedRst: 0,
    closedIdle: 0,
    deliveredBytes: 0,
    gaps: 0,
    gapBytes: 0,
    gapFlows: 0,
    duplicateBytes: 0,
    outOfOrderSegments: 0,
    strayPackets: 0,
    badPackets: 0,
    finsAhead: 0,
    resumedAfterIdle: 0,
    timeBackwards: 0,
  };

  /** This reassembler's flow-hash secret (see newHashSeed); public for the collision test. */
  readonly hashSeed = newHashSeed();

  /** The MAC at `off` as text, shared with every connection of that MAC; null when absent (off -1). */
  private mac(buf: Buffer, off: number): string | null {
    if (!(off >= 0 && off + 6 <= buf.length)) return null;
    const key = buf.readUIntBE(off, 6);
    let text = this.macs.get(key);
    if (text === undefined) {
      if (this.macs.size >= MAC_CACHE) this.macs.clear();
      text = macToString(buf, off);
      this.macs.set(key, text);
    }
    return text;
  }

  constructor(
    private readonly factory: ConnectionFactory,
    limits: Partial<TcpReassemblerLimits>,
    ctx: { anomalies: AnomalySink; counters: Counters },
  ) {
    const d = DEFAULT_REASSEMBLY_LIMITS;
    this.lim = {
      maxBufferedPerDirection: limit(limits.maxBufferedPerDirection, d.maxBufferedPerDirection, 0),
      maxBufferedTotal: limit(limits.maxBufferedTotal, d.maxBufferedTotal, 0),
      maxConnections: limit(limits.maxConnections, d.maxConnections, 1),
      idleMicros: limit(limits.idleMicros, d.idleMicros, 0),
      maxSegmentsPerDirection: limit(limits.maxSegmentsPerDirection, d.maxSegmentsPerDirection, 1),
      maxSegmentsTotal: limit(limits.maxSegmentsTotal, d.maxSegmentsTotal, 1),
      closedLingerMicros: limit(limits.closedLingerMicros, d.closedLingerMicros, 0),
      idleLingerMicros: 0,
    };
    this.lim.idleLingerMicros = limit(limits.idleLingerMicros, this.lim.idleMicros, 0);
    this.anomalies = ctx.anomalies;
    this.counters = ctx.counters;
  }

  stats(): TcpReassemblyStats {
    return {
      ...this.st,
      active: this.open.size,
      lingering: this.lingering.size,
      dormant: this.dormant.size,
      bufferedBytes: this.buffered,
      bufferedSegments: this.bufferedSegments,
    };
  }

  /** One decoded TCP segment. `p` and `p.buf` are valid only during this call. */
  segment(p: TcpPacket, tsMicros: number): void {
    const ts = Number.isFinite(tsMicros) ? tsMicros : this.clock;
    if (ts < this.prevTs - TIME_BACKWARDS_TOLERANCE) {
      // Not a reason to split or expire anything: the clock below keeps the largest time seen.
      this.st.timeBackwards++;
      this.anomalies.anomaly(
        "capture.time-backwards",
        "capture",
        null,
        `a packet stamped ${Math.round((this.prevTs - ts) / 1000)} ms earlier than the one before it`,
      );
    }
    this.prevTs = ts;
    if (ts > this.clock) this.clock = ts;
    const now = this.clock;
    if (++this.packets % EXPIRE_EVERY_PACKETS === 0 || now - this.lastExpire > EXPIRE_EVERY_MICROS) {
      this.lastExpire = now;
      this.sweep(now, false);
    }
    const buf = p.buf;
    const plStart = p.payloadStart;
    const plEnd = p.payloadEnd;
    // The decoder guarantees these; checking costs little and keeps a bad struct from throwing below.
    if (!(plStart >= 0 && plStart <= plEnd && plEnd <= buf.length)) {
      this.bad("payload bounds outside the buffer");
      return;
    }
    let s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number;
    const ver = p.ipVersion === 6 ? 6 : 4;
    if (ver === 6) {
      const a = p.src6;
      const b = p.dst6;
      if (!(a >= 0 && a + 16 <= buf.length && b >= 0 && b + 16 <= buf.length)) {
        this.bad("IPv6 address offsets outside the buffer");
        return;
      }
      s0 = buf.readUInt32BE(a);
      s1 = buf.readUInt32BE(a + 4);
      s2 = buf.readUInt32BE(a + 8);
      s3 = buf.readUInt32BE(a + 12);
      d0 = buf.readUInt32BE(b);
      d1 = buf.readUInt32BE(b + 4);
      d2 = buf.readUInt32BE(b + 8);
      d3 = buf.readUInt32BE(b + 12);
    } else {
      s0 = p.src4 >>> 0;
      d0 = p.dst4 >>> 0;
      s1 = s2 = s3 = d1 = d2 = d3 = 0;
    }
    const sp = p.srcPort & 0xffff;
    const dp = p.dstPort & 0xffff;
    const key = connectionKey(this.hashSeed, ver, s0, s1, s2, s3, sp, d0, d1, d2, d3, dp);
    let c = this.table.get(key) ?? null;
    let dir: Direction = 0;
    while (c !== null) {
      if (c.ver === ver) {
        if (
          c.cPort === sp &&
          c.sPort === dp &&
          c.c0 === s0 &&
          c.s0 === d0 &&
          c.c1 === s1 &&
          c.c2 === s2 &&
          c.c3 === s3 &&
          c.s1 === d1 &&
          c.s2 === d2 &&
          c.s3 === d3
        ) {
          dir = 0;
          break;
        }
        if (
          c.cPort === dp &&
          c.sPort === sp &&
          c.c0 === d0 &&
          c.s0 === s0 &&
          c.c1 === d1 &&
          c.c2 === d2 &&
          c.c3 === d3 &&
          c.s1 === s1 &&
          c.s2 === s2 &&
          c.s3 === s3
        ) {
          dir = 1;
          break;
        }
      }
      c = c.hashNext;
    }

    const flags = p.flags;
    const len = plEnd - plStart;
    const miss = p.payloadMissing > 0 && p.payloadMissing <= 0x7fffffff ? Math.floor(p.payloadMissing) : 0;
    const pureSyn = (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN;

    if (c !== null) {
      if (c.st === St.Closed) {
        if (!pureSyn) {
          // A late retransmission or the last ACK of a connection that ended: not a new one.
          this.st.strayPackets++;
          return;
        }
        // A fresh SYN on a tuple we still track: the port was reused (RFC 9293 §3.6.1).
        this.removeLingering(c);
        c = null;
      } else if (pureSyn && this.isNewSyn(dir === 0 ? c.h0 : c.h1, p.seq)) {
        this.retire(c, ts);
        c = null;
      } else if (c.st === St.Dormant) {
        if (this.inWindow(dir === 0 ? c.h0 : c.h1, p.seq)) this.resume(c, ts);
        else {
          // Far from where its stream stood: the tuple was reused by a connection whose SYN we missed.
          this.retire(c, ts);
          c = null;
        }
      }
    }

    if (c === null) {
      if ((flags & TCP_RST) !== 0) {
        this.st.strayPackets++;
        return;
      }
      let hs: Hs;
      let senderIsClient: boolean;
      if ((flags & TCP_SYN) !== 0) {
        senderIsClient = (flags & TCP_ACK) === 0;
        hs = senderIsClient ? Hs.SynSent : Hs.Established;
      } else if (len > 0 || miss > 0) {
        // Mid-stream: the ephemeral (higher) port is most likely the client's; ties break on the
        // lower address so the guess is at least stable for both directions.
        senderIsClient = sp !== dp ? sp > dp : cmpAddr(s0, s1, s2, s3, d0, d1, d2, d3) < 0;
        hs = Hs.None;
      } else {
        this.st.strayPackets++;
        return;
      }
      c = this.create(p, ver, key, senderIsClient, s0, s1, s2, s3, d0, d1, d2, d3, sp, dp, hs, ts);
      dir = senderIsClient ? 0 : 1;
      if (hs === Hs.Established) this.factory.handshake?.(c.info, "syn-ack", ts);
      else if (hs === Hs.None) this.factory.handshake?.(c.info, "mid-stream", ts);
    } else {
      if (c.st === St.Open) {
        c.lastTs = now;
        if (this.open.tail !== c) {
          this.open.remove(c);
          this.open.push(c);
        }
      }
      if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) && dir === 1 && c.hs === Hs.SynSent) {
        c.hs = Hs.Established;
        this.factory.handshake?.(c.info, "syn-ack", ts);
      }
    }
    c.lastPacketTs = ts;

    if ((flags & TCP_RST) !== 0) {
      // RFC 9293 §3.10.7.3: a RST answering a SYN means nobody listens on that port.
      const refused = dir === 1 && c.hs === Hs.SynSent;
      if (refused) this.factory.handshake?.(c.info, "rst", ts);
      // RFC 9293 §3.10.7.4 / RFC 5961 §3: a receiver honours a RST only when its sequence number is in
      // the window. One far from where its sender's stream stands (spoofed, or a stale retransmission)
      // would otherwise blind the sensor to a live connection; it is reported and ignored.
      const sender = dir === 0 ? c.h0 : c.h1;
      if (!refused && !this.inWindow(sender, p.seq)) {
        this.anomalies.anomaly(
          "tcp.rst-out-of-window",
          LAYER,
          c.info,
          `RST ${(p.seq - sender.nextSeq) | 0} bytes away from the sender's next sequence number, ignored`,
        );
        return;
      }
      this.close(c, "rst", ts, false, dir);
      return;
    }

    const half = dir === 0 ? c.h0 : c.h1;
    let seq = p.seq >>> 0;
    if ((flags & TCP_SYN) !== 0) {
      // The SYN occupies one sequence number; data (TCP Fast Open) starts after it (RFC 9293 §3.4).
      seq = (seq + 1) >>> 0;
      if (!half.started) {
        half.start(seq);
        half.synSeen = true;
      }
    }
    if (!half.started) {
      if (len === 0 && miss === 0 && (flags & TCP_FIN) === 0) return; // a pure ACK fixes nothing
      half.start(seq);
    }
    const off = half.next + ((seq - half.nextSeq) | 0);
    if (c.handler !== null && (len > 0 || miss > 0)) {
      this.payload(c, dir, half, buf, plStart, plEnd, off, miss, ts);
    }
    if ((flags & TCP_FIN) !== 0 && !half.finSeen) {
      half.finSeen = true;
      half.finOff = off + len + miss;
      if (c.finFirst === -1) c.finFirst = dir;
    }
    if (c.h0.finSeen && c.h1.finSeen) this.settle(c, ts);
  }

  /**
   * Both FINs are in: the connection closes when each direction's stream has reached its FIN. Until then
   * it waits in the lingering list (Closing), its held data and holes kept under the same caps; what is
   * still missing after closedLingerMicros is given up as a gap before the close (see sweep()).
   */
  private settle(c: Conn, ts: number): void {
    if (c.st === St.Closed || c.st === St.Dormant) return;
    if (this.reached(c, c.h0) && this.reached(c, c.h1)) {
      this.close(c, "fin", ts, false, c.finFirst === -1 ? undefined : c.finFirst);
      return;
    }
    if (c.st === St.Open) {
      this.st.finsAhead++;
      this.open.remove(c);
      c.st = St.Closing;
      c.lastTs = this.clock;
      this.lingering.push(c);
    }
  }

  /** True when the stream of `half` has been delivered (or given up) up to its FIN. */
  private reached(c: Conn, half: Half): boolean {
    // Without a handler nothing is delivered and nothing is waited for.
    return half.finSeen && (c.handler === null || half.next >= half.finOff);
  }

  /**
   * True when `seq` stands within RST_WINDOW of where the sender's stream is (or the sender has not sent
   * anything yet): a segment that can belong to this connection (RFC 9293 §3.10.7.4, RFC 5961 §3).
   */
  private inWindow(half: Half, seq: number): boolean {
    if (!half.started) return true;
    const d = (seq - half.nextSeq) | 0;
    return d <= RST_WINDOW && d >= -RST_WINDOW;
  }

  /** A dormant connection gets a segment that continues it: back to the open list, same handler. */
  private resume(c: Conn, ts: number): void {
    this.dormant.remove(c);
    c.st = St.Open;
    c.lastTs = this.clock;
    this.open.push(c);
    this.st.resumedAfterIdle++;
    this.anomalies.anomaly(
      "tcp.resumed-after-idle",
      LAYER,
      c.info,
      `a segment ${Math.round((ts - c.lastPacketTs) / 1_000_000)} s after the previous one, beyond the idle timeout; the connection continues`,
    );
  }

  /** The tuple is taken by a new connection: the old one ends as its state says, and is forgotten. */
  private retire(c: Conn, ts: number): void {
    if (c.st === St.Closed) this.removeLingering(c);
    else if (c.st === St.Closing) this.close(c, "fin", c.lastPacketTs, true, this.finSide(c));
    else if (c.st === St.Dormant) this.close(c, "idle", c.idleAt, true);
    else this.close(c, "idle", ts, true);
  }

  private finSide(c: Conn): Direction | undefined {
    return c.finFirst === -1 ? undefined : c.finFirst;
  }

  /**
   * Housekeeping by capture time `nowMicros`: connections idle for longer than the limit go dormant (or,
   * beyond idleMicros + idleLingerMicros, close as "idle"), dormant ones past their grace close, closing
   * ones past closedLingerMicros give up their holes and close, lingering closed ones are forgotten.
   * Called by the reassembler itself as capture time passes, and by the agent's timer with the wall clock.
   */
  expire(nowMicros: number): void {
    if (!Number.isFinite(nowMicros)) return;
    this.sweep(nowMicros, true);
  }

  /**
   * `direct`: a connection silent past both limits closes at once (the caller's clock is trusted). From
   * segment() it is false: one packet stamped far ahead moves the clock, and every connection then only
   * goes dormant, so the next packets, stamped as before, resume them rather than split them.
   */
  private sweep(now: number, direct: boolean): void {
    const idle = this.lim.idleMicros;
    let c = this.open.head;
    while (c !== null && now - c.lastTs >= idle) {
      if (direct && now - c.lastTs >= idle + this.lim.idleLingerMicros) this.close(c, "idle", now, true);
      else this.sleep(c, now);
      c = this.open.head;
    }
    c = this.dormant.head;
    while (c !== null && now - c.idleAt >= this.lim.idleLingerMicros) {
      this.close(c, "idle", c.idleAt, true);
      c = this.dormant.head;
    }
    c = this.lingering.head;
    while (c !== null && now - c.lastTs >= this.lim.closedLingerMicros) {
      // A Closing connection gives up its holes (gaps), closes as "fin" and lingers again as Closed.
      if (c.st === St.Closing) this.close(c, "fin", c.lastPacketTs, false, this.finSide(c));
      else this.removeLingering(c);
      c = this.lingering.head;
    }
  }

  /** Open → Dormant: the handler stays open and held data stays held, in case the stream goes on. */
  private sleep(c: Conn, now: number): void {
    this.open.remove(c);
    c.st = St.Dormant;
    c.idleAt = now;
    this.dormant.push(c);
  }

  /** End of input: every open connection is closed as "end-of-capture", the table emptied. */
  finish(tsMicros: number): void {
    let c = this.open.head;
    while (c !== null) {
      this.close(c, "end-of-capture", tsMicros, true);
      c = this.open.head;
    }
    // Dormant ones had already timed out; closing ones had both FINs: what is missing becomes a gap.
    c = this.dormant.head;
    while (c !== null) {
      this.close(c, "idle", c.idleAt, true);
      c = this.dormant.head;
    }
    c = this.lingering.head;
    while (c !== null) {
      if (c.st === St.Closing) this.close(c, "fin", c.lastPacketTs, true, this.finSide(c));
      else this.removeLingering(c);
      c = this.lingering.head;
    }
  }

  /**
   * A SYN on a direction that already started, with another initial sequence number (or after data that
   * had no SYN): a new connection on the same ports. A SYN for a direction not started yet is the
   * connection's own (seen late, e.g. after the SYN-ACK).
   */
  private isNewSyn(half: Half, seq: number): boolean {
    return half.started && (!half.synSeen || (seq + 1) >>> 0 !== half.base);
  }

  private create(
    p: TcpPacket,
    ver: number,
    key: number,
    senderIsClient: boolean,
    s0: number,
    s1: number,
    s2: number,
    s3: number,
    d0: number,
    d1: number,
    d2: number,
    d3: number,
    sp: number,
    dp: number,
    hs: Hs,
    ts: number,
  ): Conn {
    while (this.open.size + this.lingering.size + this.dormant.size >= this.lim.maxConnections) {
      // Room is made first from what has ended (lingering), then from what timed out (dormant), and only
      // then by evicting the least recently active open connection.
      const old = this.lingering.head;
      if (old !== null) {
        if (old.st === St.Closing) this.close(old, "fin", old.lastPacketTs, true, this.finSide(old));
        else this.removeLingering(old);
        continue;
      }
      const sleeper = this.dormant.head;
      if (sleeper !== null) {
        this.close(sleeper, "idle", sleeper.idleAt, true);
        continue;
      }
      const victim = this.open.head;
      if (victim === null) break;
      this.st.evicted++;
      this.anomalies.anomaly(
        "tcp.flow-table-full",
        LAYER,
        victim.info,
        `more than ${this.lim.maxConnections} connections; the least recently active was evicted`,
      );
      this.close(victim, "evicted", ts, true);
    }
    const buf = p.buf;
    let srcIp: string;
    let dstIp: string;
    if (ver === 6) {
      srcIp = ipv6ToString(buf, p.src6);
      dstIp = ipv6ToString(buf, p.dst6);
    } else {
      srcIp = ipv4ToString(s0);
      dstIp = ipv4ToString(d0);
    }
    const srcMac = this.mac(buf, p.macSrc);
    const dstMac = this.mac(buf, p.macDst);
    const src = { ip: srcIp, port: sp, mac: srcMac };
    const dst = { ip: dstIp, port: dp, mac: dstMac };
    const client = senderIsClient ? src : dst;
    const server = senderIsClient ? dst : src;
    const info: ConnectionInfo = {
      id: ++this.nextId,
      client,
      server,
      handshakeSeen: hs !== Hs.None,
      flow: formatFlow(client, server),
      startMicros: ts,
    };
    this.st.tcpFlows++;
    const handler = this.factory.open(info);
    const c = new Conn(info, handler);
    c.ver = ver;
    c.key = key;
    c.hs = hs;
    c.lastTs = this.clock;
    if (senderIsClient) {
      c.c0 = s0;
      c.c1 = s1;
      c.c2 = s2;
      c.c3 = s3;
      c.s0 = d0;
      c.s1 = d1;
      c.s2 = d2;
      c.s3 = d3;
      c.cPort = sp;
      c.sPort = dp;
    } else {
      c.c0 = d0;
      c.c1 = d1;
      c.c2 = d2;
      c.c3 = d3;
      c.s0 = s0;
      c.s1 = s1;
      c.s2 = s2;
      c.s3 = s3;
      c.cPort = dp;
      c.sPort = sp;
    }
    c.hashNext = this.table.get(key) ?? null;
    this.table.set(key, c);
    this.open.push(c);
    return c;
  }

  /** Payload [plStart, plEnd) at logical offset `off`, followed by `miss` bytes the capture lacks. */
  private payload(
    c: Conn,
    dir: Direction,
    half: Half,
    buf: Buffer,
    plStart: number,
    plEnd: number,
    off: number,
    miss: number,
    ts: number,
  ): void {
    const handler = c.handler as StreamHandler;
    const end = off + (plEnd - plStart);
    const endAll = end + miss;
    if (half.finSeen && off >= half.finOff) {
      // Bytes after the FIN are not part of the stream (RFC 9293 §3.10.7.4); ignore them.
      this.st.duplicateBytes += plEnd - plStart;
      return;
    }
    if (off > half.next) {
      this.hold(c, dir, half, buf, plStart, plEnd, off, miss, ts);
      return;
    }
    if (end > half.next) {
      const from = plStart + (half.next - off);
      this.st.duplicateBytes += half.next - off;
      this.st.deliveredBytes += plEnd - from;
      half.advance(end);
      handler.data(dir, buf, from, plEnd, ts);
    } else {
      this.st.duplicateBytes += plEnd - plStart;
    }
    if (endAll > half.next) {
      const n = endAll - half.next;
      half.advance(endAll);
      this.snapCut(c);
      this.gap(c, dir, n, ts);
    }
    if (half.held.length > 0) this.flush(c, dir, half);
  }

  /** Copies the parts of an early segment that are not held yet, then enforces the caps. */
  private hold(
    c: Conn,
    dir: Direction,
    half: Half,
    buf: Buffer,
    plStart: number,
    plEnd: number,
    off: number,
    miss: number,
    ts: number,
  ): void {
    const end = off + (plEnd - plStart);
    this.st.outOfOrderSegments++;
    if (end > off) this.insert(half, off, end, buf, plStart, ts);
    if (miss > 0) {
      this.snapCut(c);
      this.insert(half, end, end + miss, null, 0, ts);
    }
    while (
      half.held.length > 0 &&
      (half.heldBytes > this.lim.maxBufferedPerDirection ||
        half.held.length > this.lim.maxSegmentsPerDirection)
    ) {
      this.skipHole(c, dir, half, ts, true);
    }
    if (this.overTotal()) this.relieveTotal(c, ts);
  }

  private overTotal(): boolean {
    return this.buffered > this.lim.maxBufferedTotal || this.bufferedSegments > this.lim.maxSegmentsTotal;
  }

  /** Inserts [from, to) minus what is already held, as disjoint sorted pieces. */
  private insert(
    half: Half,
    from: number,
    to: number,
    src: Buffer | null,
    srcStart: number,
    ts: number,
  ): void {
    const held = half.held;
    let lo = 0;
    let hi = held.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((held[mid] as Held).end <= from) lo = mid + 1;
      else hi = mid;
    }
    let i = lo;
    let cur = from;
    while (cur < to) {
      const h = held[i];
      if (h === undefined || h.off >= to) {
        this.piece(half, i, cur, to, src, srcStart + (cur - from), ts);
        return;
      }
      if (h.off > cur) {
        this.piece(half, i, cur, h.off, src, srcStart + (cur - from), ts);
        i++;
      }
      if (h.end > cur) {
        this.st.duplicateBytes += (h.end < to ? h.end : to) - (h.off > cur ? h.off : cur);
        cur = h.end;
      }
      i++;
    }
  }

  private piece(
    half: Half,
    at: number,
    off: number,
    end: number,
    src: Buffer | null,
    srcStart: number,
    ts: number,
  ): void {
    let copy: Buffer | null = null;
    if (src !== null) {
      const n = end - off;
      // Not from the shared 8 KiB pool: a small piece held for long would pin a whole pool slab, so the
      // memory kept could be many times the bytes the caps count.
      copy = Buffer.allocUnsafeSlow(n);
      src.copy(copy, 0, srcStart, srcStart + n);
      this.counters.bytesCopied += n;
      half.heldBytes += n;
      this.buffered += n;
    }
    half.held.splice(at, 0, new Held(off, end, copy, ts));
    this.bufferedSegments++;
  }

  /** Delivers held ranges that have become in order. */
  private flush(c: Conn, dir: Direction, half: Half): void {
    const held = half.held;
    while (held.length > 0) {
      const h = held[0] as Held;
      if (h.off > half.next) return;
      held.shift();
      this.bufferedSegments--;
      if (h.buf !== null) {
        half.heldBytes -= h.buf.length;
        this.buffered -= h.buf.length;
      }
      if (h.end <= half.next) continue;
      const skip = half.next - h.off;
      half.advance(h.end);
      if (c.handler === null) continue;
      // A held segment carries the time it was captured, not the time its hole was filled or given up.
      if (h.buf !== null) {
        this.st.deliveredBytes += h.end - h.off - skip;
        c.handler.data(dir, h.buf, skip, h.buf.length, h.ts);
      } else {
        this.gap(c, dir, h.end - h.off - skip, h.ts);
      }
    }
  }

  /** Gives up on the first hole of a direction: a gap marker, then whatever is in order after it. */
  private skipHole(c: Conn, dir: Direction, half: Half, ts: number, cap: boolean): void {
    const first = half.held[0];
    if (first === undefined) return;
    if (first.off > half.next) {
      const n = first.off - half.next;
      half.advance(first.off);
      if (cap) {
        this.anomalies.anomaly(
          "tcp.ooo-cap-exceeded",
          LAYER,
          c.info,
          "out-of-order data beyond the buffer cap; the hole before it was skipped",
        );
      } else {
        this.anomalies.anomaly("tcp.gap", LAYER, c.info, "bytes never seen before the connection ended");
      }
      this.gap(c, dir, n, ts);
    }
    this.flush(c, dir, half);
  }

  /**
   * A total cap is exceeded: skip holes, first on the connection at hand, then on dormant ones (least
   * likely to be filled), closing ones, and open ones from the least recent.
   */
  private relieveTotal(cur: Conn, ts: number): void {
    this.relieveConn(cur, ts);
    for (const list of [this.dormant, this.lingering, this.open]) {
      let c = list.head;
      while (c !== null && this.overTotal()) {
        const nextConn = c.next;
        this.relieveConn(c, ts);
        c = nextConn;
      }
      if (!this.overTotal()) return;
    }
  }

  private relieveConn(c: Conn, ts: number): void {
    while (this.overTotal() && c.h0.held.length > 0) this.skipHole(c, 0, c.h0, ts, true);
    while (this.overTotal() && c.h1.held.length > 0) this.skipHole(c, 1, c.h1, ts, true);
  }

  private gap(c: Conn, dir: Direction, n: number, ts: number): void {
    if (n <= 0 || c.handler === null) return;
    this.st.gaps++;
    this.st.gapBytes += n;
    if (!c.gapped) {
      c.gapped = true;
      this.st.gapFlows++;
    }
    c.handler.gap(dir, n, ts);
  }

  private snapCut(c: Conn): void {
    if (c.snapReported) return;
    c.snapReported = true;
    this.anomalies.anomaly(
      "tcp.payload-not-captured",
      LAYER,
      c.info,
      "segments cut by the snap length; the missing bytes are reported as gaps",
    );
  }

  /**
   * Ends a connection: held data goes out behind gap markers for the holes, then the missing tail up to
   * a FIN; then close(). FIN/RST closes linger in the table; the others forget the connection.
   */
  private close(c: Conn, reason: CloseReason, ts: number, forget: boolean, side?: Direction): void {
    if (c.st === St.Closed) return;
    if (c.st === St.Open) this.open.remove(c);
    else if (c.st === St.Dormant) this.dormant.remove(c);
    else this.lingering.remove(c);
    c.st = St.Closed;
    if (reason === "fin") this.st.closedFin++;
    else if (reason === "rst") this.st.closedRst++;
    else if (reason === "idle") this.st.closedIdle++;
    // The table is settled before the handler runs: a handler that throws (caught at the packet boundary)
    // must not leave a closed connection hashed but in no list, which a later SYN on its tuple would
    // "remove" from the lingering list, unlinking every connection in it.
    if (forget) this.unhash(c);
    else {
      c.lastTs = this.clock;
      this.lingering.push(c);
    }
    const handler = c.handler;
    try {
      this.drain(c, 0, c.h0, ts);
      this.drain(c, 1, c.h1, ts);
    } finally {
      c.handler = null;
      // Whatever a throwing handler left held is released, so the total caps keep counting live data only.
      this.discard(c.h0);
      this.discard(c.h1);
    }
    if (handler === null) return;
    if (side === undefined) handler.close(reason, ts);
    else handler.close(reason, ts, side);
  }

  private discard(half: Half): void {
    if (half.held.length === 0) return;
    this.bufferedSegments -= half.held.length;
    this.buffered -= half.heldBytes;
    half.held = [];
    half.heldBytes = 0;
  }

  private drain(c: Conn, dir: Direction, half: Half, ts: number): void {
    while (half.held.length > 0) this.skipHole(c, dir, half, ts, false);
    if (half.finSeen && half.finOff > half.next && c.handler !== null) {
      const n = half.finOff - half.next;
      half.advance(half.finOff);
      this.anomalies.anomaly("tcp.gap", LAYER, c.info, "bytes never seen before the connection ended");
      this.gap(c, dir, n, ts);
    }
  }

  /** Forgets a closed connection lingering in the table. */
  private removeLingering(c: Conn): void {
    this.lingering.remove(c);
    this.unhash(c);
  }

  private unhash(c: Conn): void {
    let h = this.table.get(c.key) ?? null;
    if (h === c) {
      if (c.hashNext === null) this.table.delete(c.key);
      else this.table.set(c.key, c.hashNext);
    } else {
      while (h !== null && h.hashNext !== c) h = h.hashNext;
      if (h !== null) h.hashNext = c.hashNext;
    }
    c.hashNext = null;
  }

  private bad(detail: string): void {
    this.st.badPackets++;
    this.anomalies.anomaly("tcp.bad-packet-struct", LAYER, null, detail);
  }
}

/** Lexicographic comparison of two addresses given as 32-bit words. */
function cmpAddr(
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  b0: number,
  b1: number,
  b2: number,
  b3: number,
): number {
  if (a0 !== b0) return a0 < b0 ? -1 : 1;
  if (a1 !== b1) return a1 < b1 ? -1 : 1;
  if (a2 !== b2) return a2 < b2 ? -1 : 1;
  if (a3 !== b3) return a3 < b3 ? -1 : 1;
  return 0;
}
