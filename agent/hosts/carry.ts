/**
 * Small helpers shared by the stream decoders of agent/hosts/ written for issue 11 (RDP, RFB, FTP,
 * Telnet, HTTP): the bytes a direction keeps when a message straddles segments, and the cleaning of text
 * a peer wrote before it goes into an event.
 *
 * The decoders read the reassembler's views in place; only a message that is cut by a segment boundary
 * is copied here, and never more than the cap the decoder sets (checked before copying).
 */

/** A view of bytes to read now: [start, end) of buf. */
export interface View {
  buf: Buffer;
  start: number;
  end: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * What one direction keeps between calls (a copy), within a cap. The held bytes live at the start of one
 * buffer that grows by doubling, so a message that arrives one byte per segment costs linear copying, not
 * quadratic.
 */
export class Carry {
  private store: Buffer = EMPTY;
  private held = 0;

  constructor(private readonly cap: number) {}

  /** Bytes held from earlier calls. */
  get length(): number {
    return this.held;
  }

  /**
   * The bytes to read now: the new view alone when nothing is held (no copy), else the held bytes followed
   * by the view, in this carry's own buffer (valid until the next join or keep).
   */
  join(buf: Buffer, start: number, end: number): View {
    if (this.held === 0) return { buf, start, end };
    const total = this.held + (end - start);
    if (total > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.max(total, this.store.length * 2));
      this.store.copy(grown, 0, 0, this.held);
      this.store = grown;
    }
    buf.copy(this.store, this.held, start, end);
    this.held = 0;
    return { buf: this.store, start: 0, end: total };
  }

  /** Keeps [start, end) for the next call; false (and nothing kept) when it would exceed the cap. */
  keep(buf: Buffer, start: number, end: number): boolean {
    const n = end - start;
    if (n > this.cap) {
      this.clear();
      return false;
    }
    if (n > 0 && buf === this.store) this.store.copy(this.store, 0, start, end);
    else if (n > 0) {
      if (n > this.store.length) this.store = Buffer.allocUnsafe(Math.min(this.cap, Math.max(n, 2 * n)));
      buf.copy(this.store, 0, start, end);
    }
    this.held = n;
    return true;
  }

  clear(): void {
    this.store = EMPTY;
    this.held = 0;
  }
}

/**
 * Text a peer wrote, made safe for an event: bytes read as Latin-1, C0 and C1 control characters and DEL
 * removed (tabs and line breaks become one space), runs of spaces collapsed, trimmed, at most `max`
 * characters; null when nothing is left. `asciiOnly` also drops everything above 0x7E.
 */
export function cleanText(
  buf: Buffer,
  start: number,
  end: number,
  max: number,
  asciiOnly = false,
): string | null {
  let out = "";
  let space = false;
  for (let i = start; i < end && out.length < max; i++) {
    const c = buf[i]!;
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      space = out.length > 0;
      continue;
    }
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0) || (asciiOnly && c > 0x7e)) continue;
    if (space) {
      out += " ";
      space = false;
      if (out.length >= max) break;
    }
    out += String.fromCharCode(c);
  }
  out = out.trimEnd();
  return out.length > 0 ? out : null;
}

/** The offset of the first `byte` in [from, end), or -1 (never looks past end). */
export function indexOfByte(buf: Buffer, byte: number, from: number, end: number): number {
  if (from >= end) return -1;
  const i = buf.subarray(from, end).indexOf(byte);
  return i < 0 ? -1 : from + i;
}
