/**
 * RDP's cleartext start (issue 11): the X.224 connection sequence and, with Standard RDP Security, the
 * core blocks of the MCS Connect Initial and Response ([MS-RDPBCGR] 1.3.1.1, 2.2.1.1 to 2.2.1.4).
 *
 *   TPKT (RFC 1006 §6):      version 3 | reserved | length u16 BE (whole packet, header included)
 *   X.224 CR/CC (X.224 §13.3/13.4, class 0):
 *                            LI | code 0xE0 (CR) / 0xD0 (CC) | DST-REF u16 | SRC-REF u16 | class option
 *   X.224 DT (X.224 §13.7):  LI = 2 | code 0xF0 | EOT 0x80, then the MCS PDU
 *
 * After the CR's fixed part the client may put a routing token or a cookie ("Cookie: mstshash=USER\r\n",
 * 2.2.1.1), then RDP_NEG_REQ (2.2.1.1.1: type 1, flags, length 8 LE, requestedProtocols u32 LE). The CC
 * carries RDP_NEG_RSP (2.2.1.2.1: type 2, flags, length 8, selectedProtocol) or RDP_NEG_FAILURE
 * (2.2.1.2.2: type 3, flags, length 8, failureCode). Of the cookie only its presence is kept: its value is
 * a user name (types.ts, privacy).
 *
 * A selected protocol other than 0 means TLS (or CredSSP, RDSTLS, ... over TLS) starts right after the CC:
 * the decoder reports tls-start from the server and is done. With Standard RDP Security (selectedProtocol
 * 0, or an old server without RDP_NEG_RSP), the MCS Connect Initial and Response travel in clear; the
 * decoder reads TS_UD_CS_CORE (2.2.1.3.2: version, clientBuild, clientName) and TS_UD_SC_CORE (2.2.1.4.2:
 * version) from them and is done. Each direction reads at most MAX_DIRECTION_BYTES.
 */
import type { Direction } from "../reassembly/types.js";
import { Carry } from "./carry.js";
import type { HostStreamDecoder, HostStreamSink } from "./types.js";

/** Bytes read per direction before the decoder gives up on it. */
export const MAX_DIRECTION_BYTES = 16 * 1024;
/**
 * The largest TPKT collected. RFC 1006 allows 65535; the packets read here are a CR/CC (tens of bytes)
 * and the MCS Connect Initial/Response (a few hundred bytes; a server's X.509 chain makes it a few KiB).
 * A bigger one is not collected: the direction stops (what follows is no longer read anyway).
 */
const MAX_TPKT = MAX_DIRECTION_BYTES;
const TPKT_HEADER = 4;
/** TPKT header + X.224 CR/CC fixed part (LI, code, DST-REF, SRC-REF, class option): RFC 1006 §6, X.224 §13.3. */
const CR_FIXED = TPKT_HEADER + 7;

const X224_CR = 0xe0;
const X224_CC = 0xd0;
const X224_DT = 0xf0;

const TYPE_RDP_NEG_REQ = 1;
const TYPE_RDP_NEG_RSP = 2;
const TYPE_RDP_NEG_FAILURE = 3;
/** RDP_NEG_REQ/RSP/FAILURE are 8 bytes, their length field says so (2.2.1.1.1, 2.2.1.2.1, 2.2.1.2.2). */
const RDP_NEG_LENGTH = 8;

/** MCS Connect Initial / Connect Response: BER application tags 101 and 102 (T.125 §11.1, high-tag form). */
const MCS_CONNECT_INITIAL = 0x65;
const MCS_CONNECT_RESPONSE = 0x66;
/** The H.221 non-standard keys that open the user data of the GCC Conference Create Request / Response (2.2.1.3, 2.2.1.4). */
const KEY_CLIENT = Buffer.from("Duca", "latin1");
const KEY_SERVER = Buffer.from("McDn", "latin1");
/** User data block types (2.2.1.3.1 TS_UD_HEADER). */
const CS_CORE = 0xc001;
const SC_CORE = 0x0c01;

const COOKIE = Buffer.from("Cookie:", "latin1");

const enum Phase {
  /** Waiting for the X.224 CR (client) or CC (server). */
  Connect,
  /** Client: CR read, its next bytes wait until the server's CC says how the connection goes on. */
  Wait,
  /** Standard RDP Security: waiting for the MCS Connect Initial (client) / Response (server). */
  Mcs,
  Finished,
}

export class RdpStreamDecoder implements HostStreamDecoder {
  private readonly phase: [Phase, Phase] = [Phase.Connect, Phase.Connect];
  private readonly carry: [Carry, Carry] = [new Carry(MAX_TPKT), new Carry(MAX_TPKT)];
  private readonly read: [number, number] = [0, 0];

  constructor(private readonly sink: HostStreamSink) {}

  get done(): boolean {
    return this.phase[0] === Phase.Finished && this.phase[1] === Phase.Finished;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.phase[dir] === Phase.Finished) return;
    this.read[dir] += end - start;
    const v = this.carry[dir].join(buf, start, end);
    let off = v.start;
    while (off < v.end && this.reading(dir)) {
      if (v.end - off < TPKT_HEADER) break;
      // RFC 1006 §6: version 3, a reserved byte, the length of the whole packet.
      const len = v.buf.readUInt16BE(off + 2);
      if (v.buf[off] !== 3 || len < TPKT_HEADER + 3) {
        if (this.phase[dir] === Phase.Connect)
          this.sink.anomaly(
            "hosts.rdp-bad-tpkt",
            `${side(dir)}: no TPKT header (RFC 1006 §6) where one must start`,
          );
        this.finish(dir);
        return;
      }
      if (len > MAX_TPKT) {
        this.finish(dir);
        return;
      }
      if (v.end - off < len) break;
      this.tpdu(dir, v.buf, off, off + len, tsMicros);
      off += len;
    }
    if (this.finished(dir)) return;
    if (this.read[dir] > MAX_DIRECTION_BYTES || !this.carry[dir].keep(v.buf, off, v.end)) this.finish(dir);
  }

  /** Read through a method: the phase changes inside the calls of the loop that tests it. */
  private reading(dir: Direction): boolean {
    return this.phase[dir] !== Phase.Finished && this.phase[dir] !== Phase.Wait;
  }

  private finished(dir: Direction): boolean {
    return this.phase[dir] === Phase.Finished;
  }

  gap(dir: Direction): void {
    // The TPKT framing is lost; what this decoder wants comes first in the stream, so it does not resync.
    this.finish(dir);
  }

  private finish(dir: Direction): void {
    this.phase[dir] = Phase.Finished;
    this.carry[dir].clear();
    // A client whose bytes wait for the server's CC waits for nothing now.
    if (dir === 1 && this.phase[0] === Phase.Wait) this.finish(0);
  }

  /** One whole TPKT, [off, end). */
  private tpdu(dir: Direction, buf: Buffer, off: number, end: number, ts: number): void {
    const li = buf[off + 4]!;
    const code = buf[off + 5]! & 0xf0;
    if (this.phase[dir] === Phase.Connect) {
      const want = dir === 0 ? X224_CR : X224_CC;
      // X.224 §13.3.1/13.4.1: LI counts the header after itself, at least the 6 bytes of the fixed part.
      if (code !== want || li < 6 || end - off < CR_FIXED || li > end - off - 5) {
        this.sink.anomaly(
          "hosts.rdp-bad-x224",
          `${side(dir)}: expected an X.224 ${dir === 0 ? "Connection Request" : "Connection Confirm"}, got code 0x${code.toString(16)} LI ${li}`,
        );
        this.finish(dir);
        return;
      }
      if (dir === 0) this.request(buf, off + CR_FIXED, end, ts);
      else this.confirm(buf, off + CR_FIXED, end, ts);
      return;
    }
    // Phase.Mcs: X.224 DT (X.224 §13.7, class 0: LI 2, code 0xF0, EOT) then the MCS PDU.
    if (code !== X224_DT || li !== 2 || end - off < 9) {
      this.finish(dir);
      return;
    }
    this.mcs(dir, buf, off + 7, end, ts);
    this.finish(dir);
  }

  /** The CR's variable part, [p, end): routing token or cookie, then RDP_NEG_REQ (2.2.1.1). */
  private request(buf: Buffer, p: number, end: number, ts: number): void {
    let cookie = false;
    if (p < end && buf[p] !== TYPE_RDP_NEG_REQ) {
      // routingToken / cookie: text ending in CR LF (2.2.1.1). Only whether it was a cookie is kept.
      const crlf = indexOfCrLf(buf, p, end);
      if (crlf < 0) {
        this.sink.anomaly(
          "hosts.rdp-bad-x224",
          "client: routing token or cookie without CR LF (MS-RDPBCGR 2.2.1.1)",
        );
        p = end;
      } else {
        cookie =
          end - p >= COOKIE.length && buf.compare(COOKIE, 0, COOKIE.length, p, p + COOKIE.length) === 0;
        p = crlf + 2;
      }
    }
    let requestedProtocols: number | null = null;
    if (end - p >= RDP_NEG_LENGTH && buf[p] === TYPE_RDP_NEG_REQ) {
      if (buf.readUInt16LE(p + 2) === RDP_NEG_LENGTH) requestedProtocols = buf.readUInt32LE(p + 4);
      else
        this.sink.anomaly("hosts.rdp-bad-x224", "client: RDP_NEG_REQ length is not 8 (MS-RDPBCGR 2.2.1.1.1)");
    }
    this.sink.event({ kind: "rdp-request", cookie, requestedProtocols }, 0, ts);
    this.phase[0] = Phase.Wait;
  }

  /** The CC's variable part, [p, end): RDP_NEG_RSP or RDP_NEG_FAILURE (2.2.1.2). */
  private confirm(buf: Buffer, p: number, end: number, ts: number): void {
    let selectedProtocol: number | null = null;
    let flags = 0;
    let failureCode: number | null = null;
    if (end - p >= RDP_NEG_LENGTH) {
      const type = buf[p]!;
      const okLength = buf.readUInt16LE(p + 2) === RDP_NEG_LENGTH;
      if ((type === TYPE_RDP_NEG_RSP || type === TYPE_RDP_NEG_FAILURE) && !okLength)
        this.sink.anomaly(
          "hosts.rdp-bad-x224",
          `server: RDP_NEG type ${type} length is not 8 (MS-RDPBCGR 2.2.1.2)`,
        );
      else if (type === TYPE_RDP_NEG_RSP) {
        flags = buf[p + 1]!;
        selectedProtocol = buf.readUInt32LE(p + 4);
      } else if (type === TYPE_RDP_NEG_FAILURE) failureCode = buf.readUInt32LE(p + 4);
    }
    this.sink.event({ kind: "rdp-confirm", selectedProtocol, flags, failureCode }, 1, ts);
    if (failureCode !== null) {
      // The server closes the connection after RDP_NEG_FAILURE (2.2.1.2.2).
      this.finish(1);
      this.finish(0);
      return;
    }
    if (selectedProtocol !== null && selectedProtocol !== 0) {
      // PROTOCOL_SSL 1, PROTOCOL_HYBRID 2, PROTOCOL_RDSTLS 4, PROTOCOL_HYBRID_EX 8 (and later ones): all
      // begin a TLS handshake right after the CC (MS-RDPBCGR 1.3.1.1, 5.4.5). The TLS sniffer takes over.
      this.sink.event({ kind: "tls-start" }, 1, ts);
      this.finish(1);
      this.finish(0);
      return;
    }
    // Standard RDP Security: the MCS connect PDUs follow in clear.
    this.phase[1] = Phase.Mcs;
    if (this.phase[0] === Phase.Wait) {
      this.phase[0] = Phase.Mcs;
      this.data(0, buf, 0, 0, ts); // read what the client sent meanwhile
    }
  }

  /**
   * An MCS PDU, [p, end). Only Connect Initial (client) and Connect Response (server) are wanted.
   *
   * Their user data is a GCC Conference Create Request / Response (T.124) in ALIGNED PER inside a BER
   * OCTET STRING. Rather than decode T.125's BER and T.124's PER field by field, the decoder looks for the
   * H.221 key that MS-RDPBCGR fixes in front of the user data ("Duca" from the client, "McDn" from the
   * server: 2.2.1.3 and 2.2.1.4), reads the PER length after it (X.691 §10.9: one byte below 128, or two
   * with the top bits 10), and walks the TS_UD_HEADER blocks (type u16 LE, length u16 LE) within it. Every
   * read is bounded by the TPKT; a block walk that leaves it stops.
   */
  private mcs(dir: Direction, buf: Buffer, p: number, end: number, ts: number): void {
    // BER application tag in the high-tag-number form: 0x7F then the number (X.690 §8.1.2.4).
    const tag = dir === 0 ? MCS_CONNECT_INITIAL : MCS_CONNECT_RESPONSE;
    if (end - p < 2 || buf[p] !== 0x7f || buf[p + 1] !== tag) return;
    const key = dir === 0 ? KEY_CLIENT : KEY_SERVER;
    const at = buf.subarray(p, end).indexOf(key);
    if (at < 0) return;
    let q = p + at + key.length;
    if (q >= end) return;
    let len = buf[q]!;
    if ((len & 0x80) === 0) q += 1;
    else if ((len & 0xc0) === 0x80 && q + 1 < end) {
      len = ((len & 0x3f) << 8) | buf[q + 1]!;
      q += 2;
    } else return; // fragmented PER length: user data above 16 K, not from a real client
    const limit = Math.min(end, q + len);
    const want = dir === 0 ? CS_CORE : SC_CORE;
    for (let blocks = 0; limit - q >= 4 && blocks < 64; blocks++) {
      const type = buf.readUInt16LE(q);
      const blen = buf.readUInt16LE(q + 2);
      if (blen < 4 || blen > limit - q) {
        this.sink.anomaly(
          "hosts.rdp-bad-user-data",
          `${side(dir)}: user data block 0x${type.toString(16)} of length ${blen} leaves the GCC user data`,
        );
        return;
      }
      if (type === want) {
        this.core(dir, buf, q, q + blen, ts);
        return;
      }
      q += blen;
    }
  }

  /**
   * TS_UD_CS_CORE (2.2.1.3.2): header 4 | version u32 | desktopWidth u16 | desktopHeight u16 | colorDepth
   * u16 | SASSequence u16 | keyboardLayout u32 | clientBuild u32 | clientName 32 bytes UTF-16LE | ...
   * TS_UD_SC_CORE (2.2.1.4.2): header 4 | version u32 | ...
   */
  private core(dir: Direction, buf: Buffer, q: number, end: number, ts: number): void {
    if (dir === 1) {
      if (end - q >= 8) this.sink.event({ kind: "rdp-server-core", version: buf.readUInt32LE(q + 4) }, 1, ts);
      else this.sink.anomaly("hosts.rdp-bad-user-data", `server: TS_UD_SC_CORE of ${end - q} bytes`);
      return;
    }
    if (end - q < 24) {
      this.sink.anomaly("hosts.rdp-bad-user-data", `client: TS_UD_CS_CORE of ${end - q} bytes`);
      return;
    }
    const version = buf.readUInt32LE(q + 4);
    const clientBuild = buf.readUInt32LE(q + 20);
    const clientName = end - q >= 56 ? utf16Name(buf, q + 24, q + 56) : null;
    this.sink.event({ kind: "rdp-client-core", version, clientBuild, clientName }, 0, ts);
  }
}

function side(dir: Direction): string {
  return dir === 0 ? "client" : "server";
}

function indexOfCrLf(buf: Buffer, p: number, end: number): number {
  for (let i = p; i + 1 < end; i++) if (buf[i] === 0x0d && buf[i + 1] === 0x0a) return i;
  return -1;
}

/** clientName: UTF-16LE, NUL-terminated within its 32 bytes (2.2.1.3.2); control characters dropped. */
function utf16Name(buf: Buffer, p: number, end: number): string | null {
  let s = "";
  for (let i = p; i + 1 < end; i += 2) {
    const c = buf.readUInt16LE(i);
    if (c === 0) break;
    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) continue;
    s += String.fromCharCode(c);
  }
  s = s.trim();
  return s.length > 0 ? s : null;
}
