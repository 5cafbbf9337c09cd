/**
 * The SSH identification string (RFC 4253 §4.2): each side's first line, "SSH-protoversion-softwareversion
 * SP comments CR LF", sent in clear before the key exchange. The software and comments name the
 * implementation and often the distribution ("OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"): evidence of the system.
 *
 * RFC 4253 allows a server to send other lines before it (not starting with "SSH-"); the line is at most
 * 255 bytes including CR LF. This decoder reads at most MAX_PREFIX bytes of each direction for it, then is
 * done: the rest is the encrypted session.
 */
import type { Direction } from "../reassembly/types.js";
import type { HostStreamDecoder, HostStreamSink } from "./types.js";

/** Lines before the identification (RFC 4253 §4.2 allows them from the server) plus the line itself. */
const MAX_PREFIX = 2048;
/** The identification line's own limit (RFC 4253 §4.2: 255 characters including CR LF). */
const MAX_LINE = 255;
/** Kept of the software version and comments. */
const MAX_SOFTWARE = 120;

class Side {
  readonly line = Buffer.alloc(MAX_LINE);
  len = 0;
  seen = 0;
  finished = false;
}

/** "SSH-" at the start of the first bytes a side sent: the cheap check that makes this decoder worth it. */
export function looksLikeSsh(buf: Buffer, start: number, end: number): boolean {
  return (
    end - start >= 4 &&
    buf[start] === 0x53 &&
    buf[start + 1] === 0x53 &&
    buf[start + 2] === 0x48 &&
    buf[start + 3] === 0x2d
  );
}

export class SshBannerDecoder implements HostStreamDecoder {
  private readonly sides = [new Side(), new Side()];

  constructor(private readonly sink: HostStreamSink) {}

  get done(): boolean {
    return this.sides[0]!.finished && this.sides[1]!.finished;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    const s = this.sides[dir]!;
    for (let i = start; i < end && !s.finished; i++) {
      const b = buf[i]!;
      s.seen++;
      if (b === 0x0a) {
        this.line(dir, s, tsMicros);
        s.len = 0;
      } else if (s.len < MAX_LINE) s.line[s.len++] = b;
      if (s.seen >= MAX_PREFIX) s.finished = true;
    }
  }

  gap(dir: Direction): void {
    this.sides[dir]!.finished = true;
  }

  private line(dir: Direction, s: Side, tsMicros: number): void {
    let n = s.len;
    if (n > 0 && s.line[n - 1] === 0x0d) n--;
    if (n < 8 || !looksLikeSsh(s.line, 0, n)) return;
    s.finished = true;
    // "SSH-2.0-softwareversion SP comments": printable US-ASCII (RFC 4253 §4.2); anything else ends it.
    const text = s.line.toString("latin1", 0, n);
    const m = /^SSH-([0-9.]+)-([\x21-\x7e][\x20-\x7e]*)$/.exec(text);
    if (m === null) {
      this.sink.anomaly(
        "hosts.ssh-bad-identification",
        "identification line is not SSH-protoversion-softwareversion",
      );
      return;
    }
    this.sink.event({ kind: "ssh-banner", software: m[2]!.slice(0, MAX_SOFTWARE) }, dir, tsMicros);
  }
}
