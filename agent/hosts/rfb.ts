/**
 * RFB, the protocol of VNC (RFC 6143 §7.1, issue 11): the handshake up to the security result. It runs in
 * lock step, one message at a time, so the decoder follows a single expectation (which side, how many
 * bytes) and holds the few bytes that arrive early:
 *
 *   server  ProtocolVersion     "RFB 003.008\n" (12 bytes, §7.1.1)
 *   client  ProtocolVersion     12 bytes; the version used is the lower of the two
 *   3.3:    server  security-type u32 (§7.1.2 last paragraphs; 0 = failure, a reason string follows)
 *   3.7+:   server  number-of-security-types u8 | security-types u8 * n  (0 types = failure + reason)
 *           client  chosen security-type u8
 *   type 2 (VNC Authentication, §7.2.2): server challenge 16 bytes, client response 16 bytes
 *   server  SecurityResult u32 (§7.1.3; 0 OK): after VNC Authentication always; after None (type 1) only
 *           in 3.8
 *
 * Events: rfb-version (one per side, `dir` tells which), rfb-security (the types offered; for 3.3 the one
 * the server imposes), rfb-chosen (from the client in 3.7+, from the server in 3.3, where the server
 * decides), rfb-result. The challenge and response are skipped and never kept. Other security types
 * (Tight, VeNCrypt, Apple's ...) have their own sub-protocols: the decoder is done after the choice.
 */
import type { Direction } from "../reassembly/types.js";
import { Carry } from "./carry.js";
import type { HostStreamDecoder, HostStreamSink } from "./types.js";

/** Bytes read per direction before the decoder gives up. */
export const MAX_DIRECTION_BYTES = 16 * 1024;
/** Bytes a side may send ahead of the handshake step that reads them (every step is at most 256 bytes). */
const MAX_HELD = 1024;
const VERSION_LENGTH = 12;
const SECURITY_NONE = 1;
const SECURITY_VNC = 2;
const CHALLENGE_LENGTH = 16;

const enum Step {
  ServerVersion,
  ClientVersion,
  /** 3.3: the server's u32 security type. */
  SecurityType,
  /** 3.7/3.8: count then the types. */
  SecurityTypes,
  Chosen,
  Challenge,
  Response,
  Result,
  Finished,
}

/** RFC 6143 §7.1.1: "RFB xxx.yyy\n", three digits each. */
const VERSION = /^RFB (\d{3})\.(\d{3})\n$/;

/** The server's first bytes are "RFB " (RFC 6143 §7.1.1): cheap detection of VNC on any port. */
export function looksLikeRfb(buf: Buffer, start: number, end: number): boolean {
  return (
    end - start >= 4 &&
    buf[start] === 0x52 &&
    buf[start + 1] === 0x46 &&
    buf[start + 2] === 0x42 &&
    buf[start + 3] === 0x20
  );
}

export class RfbStreamDecoder implements HostStreamDecoder {
  private step = Step.ServerVersion;
  private readonly carry: [Carry, Carry] = [new Carry(MAX_HELD), new Carry(MAX_HELD)];
  private readonly read: [number, number] = [0, 0];
  private serverMinor = 0;
  /** The minor version in use: 3, 7 or 8. */
  private minor = 3;

  constructor(private readonly sink: HostStreamSink) {}

  get done(): boolean {
    return this.step === Step.Finished;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.step === Step.Finished) return;
    this.read[dir] += end - start;
    if (this.read[dir] > MAX_DIRECTION_BYTES) {
      this.finish();
      return;
    }
    const v = this.carry[dir].join(buf, start, end);
    let off = v.start;
    // Each step reads its side's bytes; the other side's wait in its Carry until their step comes.
    while (!this.done && this.sideOf(this.step) === dir) {
      const used = this.consume(v.buf, off, v.end, tsMicros);
      if (used === 0) break;
      off += used;
    }
    if (this.done) return;
    if (!this.carry[dir].keep(v.buf, off, v.end)) this.finish();
    // A step of the other side may now be complete in what that side sent early.
    const other = (1 - dir) as Direction;
    if (this.sideOf(this.step) === other && this.carry[other].length > 0)
      this.data(other, v.buf, 0, 0, tsMicros);
  }

  gap(): void {
    this.finish();
  }

  private finish(): void {
    this.step = Step.Finished;
    this.carry[0].clear();
    this.carry[1].clear();
  }

  private sideOf(step: Step): Direction {
    return step === Step.ClientVersion || step === Step.Chosen || step === Step.Response ? 0 : 1;
  }

  /** Reads the current step from [p, end) if it is complete; returns the bytes used (0: wait for more). */
  private consume(buf: Buffer, p: number, end: number, ts: number): number {
    const avail = end - p;
    switch (this.step) {
      case Step.ServerVersion:
      case Step.ClientVersion: {
        if (avail < VERSION_LENGTH) return 0;
        const dir: Direction = this.step === Step.ServerVersion ? 1 : 0;
        const m = VERSION.exec(buf.toString("latin1", p, p + VERSION_LENGTH));
        if (m === null) {
          this.sink.anomaly(
            "hosts.rfb-bad-version",
            `${dir === 1 ? "server" : "client"}: ProtocolVersion is not "RFB xxx.yyy\\n" (RFC 6143 §7.1.1)`,
          );
          this.finish();
          return VERSION_LENGTH;
        }
        this.sink.event({ kind: "rfb-version", version: `${m[1]!}.${m[2]!}` }, dir, ts);
        const minor = Number(m[1]) === 3 ? Number(m[2]) : Number(m[1]) > 3 ? 8 : 3;
        if (dir === 1) {
          this.serverMinor = minor;
          this.step = Step.ClientVersion;
        } else {
          // §7.1.1: 3.3, 3.7 and 3.8 are the versions; others "should be interpreted as 3.3". Apple's
          // 3.889 follows the 3.7+ exchange, so any minor of 8 and above is read as 3.8.
          const used = Math.min(this.serverMinor, minor);
          this.minor = used >= 8 ? 8 : used === 7 ? 7 : 3;
          this.step = this.minor === 3 ? Step.SecurityType : Step.SecurityTypes;
        }
        return VERSION_LENGTH;
      }
      case Step.SecurityType: {
        if (avail < 4) return 0;
        const type = buf.readUInt32BE(p);
        if (type === 0) {
          // Failure; the reason string that follows is not read (§7.1.2, version 3.3).
          this.sink.event({ kind: "rfb-security", offered: [] }, 1, ts);
          this.finish();
          return 4;
        }
        this.sink.event({ kind: "rfb-security", offered: [type] }, 1, ts);
        this.sink.event({ kind: "rfb-chosen", type }, 1, ts);
        this.chose(type);
        return 4;
      }
      case Step.SecurityTypes: {
        if (avail < 1) return 0;
        const n = buf[p]!;
        if (n === 0) {
          this.sink.event({ kind: "rfb-security", offered: [] }, 1, ts);
          this.finish();
          return 1;
        }
        if (avail < 1 + n) return 0;
        this.sink.event({ kind: "rfb-security", offered: [...buf.subarray(p + 1, p + 1 + n)] }, 1, ts);
        this.step = Step.Chosen;
        return 1 + n;
      }
      case Step.Chosen: {
        if (avail < 1) return 0;
        const type = buf[p]!;
        this.sink.event({ kind: "rfb-chosen", type }, 0, ts);
        this.chose(type);
        return 1;
      }
      case Step.Challenge:
        if (avail < CHALLENGE_LENGTH) return 0;
        this.step = Step.Response;
        return CHALLENGE_LENGTH;
      case Step.Response:
        if (avail < CHALLENGE_LENGTH) return 0;
        this.step = Step.Result;
        return CHALLENGE_LENGTH;
      case Step.Result: {
        if (avail < 4) return 0;
        // §7.1.3: 0 OK, 1 failed (2 "too many attempts" in older servers); a reason may follow, unread.
        this.sink.event({ kind: "rfb-result", ok: buf.readUInt32BE(p) === 0 }, 1, ts);
        this.finish();
        return 4;
      }
      default:
        return 0;
    }
  }

  /** What follows the chosen security type (§7.1.2, §7.2). */
  private chose(type: number): void {
    if (type === SECURITY_VNC) this.step = Step.Challenge;
    else if (type === SECURITY_NONE && this.minor === 8) this.step = Step.Result;
    else this.finish(); // None before 3.8 (no SecurityResult), or a type with its own sub-protocol
  }
}
