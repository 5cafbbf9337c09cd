/**
 * Logins in clear (issue 11): FTP's control connection (RFC 959) and Telnet (RFC 854). What is kept is
 * the server's banner (it names the software, often the system) and THAT a login crossed the wire in
 * clear, never what was typed: a user name or password is read only to recognise the command that carries
 * it (FTP), or not read at all (Telnet), and no event or anomaly detail quotes a client line.
 */
import type { Direction } from "../reassembly/types.js";
import { Carry, cleanText, indexOfByte } from "./carry.js";
import type { HostStreamDecoder, HostStreamSink } from "./types.js";

/** Bytes read per direction before a decoder gives up. */
export const MAX_DIRECTION_BYTES = 16 * 1024;
/** Banner text kept, printable ASCII. */
export const MAX_BANNER = 120;
/**
 * The longest FTP line read. RFC 959 sets no limit; real commands and replies stay far below it
 * (RFC 2640 §3.1 and most servers use 512 for a command line). A longer line is an anomaly, and the
 * decoder gives up rather than buffer it.
 */
export const MAX_FTP_LINE = 512;

/**
 * FTP's control connection (RFC 959 §4): the greeting's text, whether USER/PASS crossed in clear and were
 * accepted, and AUTH TLS (RFC 4217 §4).
 *
 * Replies (§4.2) are "ddd text" lines, or multi-line ones opened by "ddd-" and closed by a line that starts
 * "ddd " with the same code. 1yz replies are preliminary; every other reply after the greeting answers the
 * next command in order (§5.4), so the decoder counts commands and final replies to pair PASS and AUTH
 * with their answers, pipelined or not.
 *
 * ftp-login is emitted once, for the first PASS: when its reply arrives (2yz accepted, 4yz/5yz refused;
 * a 3yz "need account" hands the decision to the next command's reply), or with accepted null when the
 * decoder stops before a reply (its byte cap, a gap, or close() called by the owner when the connection
 * ends). A login answered by 230 right after USER (no password) is not reported: no secret crossed.
 */
export class FtpStreamDecoder implements HostStreamDecoder {
  private finished = false;
  private readonly carry: [Carry, Carry] = [new Carry(MAX_FTP_LINE + 1), new Carry(MAX_FTP_LINE + 1)];
  private readonly read: [number, number] = [0, 0];
  /** The multi-line reply being read: its code, or -1. */
  private multi = -1;
  private replyText: string | null = null;
  private greeted = false;
  private bannerSent = false;
  private commands = 0;
  private replies = 0;
  /** Index of the command whose reply decides the login (PASS, or ACCT after a 332), or -1. */
  private loginAt = -1;
  private loginReported = false;
  private authAt = -1;

  constructor(private readonly sink: HostStreamSink) {}

  get done(): boolean {
    return this.finished;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.finished) return;
    this.read[dir] += end - start;
    const v = this.carry[dir].join(buf, start, end);
    let off = v.start;
    while (!this.finished) {
      const lf = indexOfByte(v.buf, 0x0a, off, Math.min(v.end, off + MAX_FTP_LINE + 2));
      if (lf < 0) break;
      const lineEnd = lf > off && v.buf[lf - 1] === 0x0d ? lf - 1 : lf;
      if (dir === 0) this.command(v.buf, off, lineEnd, tsMicros);
      else this.replyLine(v.buf, off, lineEnd, tsMicros);
      off = lf + 1;
    }
    if (this.finished) return;
    // A line of MAX_FTP_LINE bytes may still wait for its LF after its CR.
    if (!this.carry[dir].keep(v.buf, off, v.end)) {
      // No detail quotes the line: on the client side it may hold a password.
      this.sink.anomaly(
        "hosts.ftp-line-too-long",
        `${dir === 0 ? "client" : "server"}: a line longer than ${MAX_FTP_LINE} bytes`,
      );
      this.stop(tsMicros);
      return;
    }
    if (this.read[dir] > MAX_DIRECTION_BYTES) this.stop(tsMicros);
  }

  gap(_dir: Direction, _length: number, tsMicros: number): void {
    this.stop(tsMicros);
  }

  /** The connection ended: a PASS without a reply is reported (accepted null). */
  close(tsMicros: number): void {
    this.stop(tsMicros);
  }

  private stop(ts: number): void {
    if (this.finished) return;
    if (this.loginAt >= 0 && !this.loginReported) {
      this.loginReported = true;
      this.sink.event({ kind: "ftp-login", accepted: null }, 0, ts);
    }
    this.finished = true;
    this.carry[0].clear();
    this.carry[1].clear();
  }

  /** A client line: only its verb is looked at (RFC 959 §5.3.1, case-insensitive). */
  private command(buf: Buffer, p: number, end: number, ts: number): void {
    const index = this.commands++;
    let e = p;
    while (e < end && e - p < 5 && buf[e] !== 0x20) e++;
    const verb = buf.toString("latin1", p, e).toUpperCase();
    if (verb === "PASS") {
      if (this.loginAt < 0 && !this.loginReported) this.loginAt = index;
    } else if (verb === "AUTH") {
      // RFC 4217 §4: AUTH TLS (also TLS-C, SSL, TLS-P in older drafts); the mechanism is not needed.
      this.sink.event({ kind: "ftp-auth-tls" }, 0, ts);
      this.authAt = index;
    }
  }

  /** A server line (RFC 959 §4.2). */
  private replyLine(buf: Buffer, p: number, end: number, ts: number): void {
    const code = replyCode(buf, p, end);
    const sep = end - p > 3 ? buf[p + 3] : 0x20;
    if (this.multi >= 0) {
      if (code === this.multi && sep === 0x20) {
        this.multi = -1;
        this.noteText(buf, p + 4, end);
        this.reply(code, ts);
      } else this.noteText(buf, code >= 0 && sep === 0x2d ? p + 4 : p, end);
      return;
    }
    if (code < 0 || (sep !== 0x20 && sep !== 0x2d)) {
      this.sink.anomaly("hosts.ftp-bad-reply", "server: a line that is no reply (RFC 959 §4.2)");
      this.stop(ts);
      return;
    }
    this.replyText = null;
    this.noteText(buf, p + 4, end);
    if (sep === 0x2d) this.multi = code;
    else this.reply(code, ts);
  }

  private noteText(buf: Buffer, p: number, end: number): void {
    if (this.replyText === null && !this.bannerSent && p < end)
      this.replyText = cleanText(buf, p, end, MAX_BANNER, true);
  }

  /** A complete reply. */
  private reply(code: number, ts: number): void {
    if (code === 220 && !this.bannerSent) {
      this.bannerSent = true;
      if (this.replyText !== null) this.sink.event({ kind: "ftp-banner", text: this.replyText }, 1, ts);
    }
    this.replyText = null;
    if (code < 200) return; // 1yz: preliminary (§4.2.1)
    if (!this.greeted) {
      this.greeted = true; // 120 then 220, or 220 (or 421) alone: the greeting answers no command (§5.4)
      return;
    }
    const index = this.replies++;
    if (index === this.authAt) {
      this.authAt = -1;
      if (code === 234) {
        // RFC 4217 §4: after 234 the TLS handshake begins on the control connection.
        this.sink.event({ kind: "tls-start" }, 1, ts);
        this.stop(ts);
        return;
      }
    }
    if (index === this.loginAt) {
      if (code >= 300 && code < 400) {
        this.loginAt = index + 1; // 332 need account: ACCT's reply decides (§5.4)
        return;
      }
      this.loginReported = true;
      this.loginAt = -1;
      this.sink.event({ kind: "ftp-login", accepted: code < 300 }, 0, ts);
      this.stop(ts);
    }
  }
}

function replyCode(buf: Buffer, p: number, end: number): number {
  if (end - p < 3) return -1;
  let n = 0;
  for (let i = p; i < p + 3; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + c - 0x30;
  }
  return n >= 100 && n < 600 ? n : -1;
}

// Telnet (RFC 854): IAC and the commands that follow it.
const IAC = 255;
const SB = 250;
const SE = 240;
const WILL = 251;
const DONT = 254;
/** Text of the server's kept to find the banner and prompt. */
const MAX_TELNET_TEXT = 1024;
/** Subnegotiation bytes tolerated before the decoder gives up (RFC 855 sets no limit; real ones are short). */
export const MAX_SUBNEGOTIATION = 512;

const enum Tn {
  Data,
  /** After IAC. */
  Command,
  /** After WILL/WONT/DO/DONT: the option byte. */
  Option,
  /** Inside SB ... IAC SE. */
  Sub,
  SubIac,
}

/**
 * Telnet (RFC 854): the server's first text as a banner, and a login prompt ("login:", "Username:")
 * answered by the client. Option negotiation (IAC WILL/WONT/DO/DONT option, RFC 854 p.14) and
 * subnegotiation (IAC SB ... IAC SE, RFC 855) are stripped from both sides; IAC IAC is a data byte 255.
 * The client's data bytes are only counted, never kept.
 *
 * telnet-banner is emitted once: at the login prompt, at the client's first data byte, or when the
 * server's text reaches MAX_TELNET_TEXT bytes, with the text seen until then (whitespace collapsed,
 * printable ASCII, MAX_BANNER characters). telnet-login follows when the client sends data after a prompt;
 * the decoder is then done.
 */
export class TelnetStreamDecoder implements HostStreamDecoder {
  private finished = false;
  private readonly state: [Tn, Tn] = [Tn.Data, Tn.Data];
  private readonly sub: [number, number] = [0, 0];
  private readonly read: [number, number] = [0, 0];
  private readonly text = Buffer.alloc(MAX_TELNET_TEXT);
  private textLength = 0;
  /** The last few text characters of the server's, lower case, to recognise a prompt. */
  private tail = "";
  private prompt = false;
  private bannerSent = false;

  constructor(private readonly sink: HostStreamSink) {}

  get done(): boolean {
    return this.finished;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.finished) return;
    this.read[dir] += end - start;
    for (let i = start; i < end && !this.finished; i++) {
      const c = buf[i]!;
      switch (this.state[dir]) {
        case Tn.Data:
          if (c === IAC) this.state[dir] = Tn.Command;
          else this.dataByte(dir, c, tsMicros);
          break;
        case Tn.Command:
          if (c === IAC) {
            this.state[dir] = Tn.Data;
            this.dataByte(dir, c, tsMicros);
          } else if (c >= WILL && c <= DONT) this.state[dir] = Tn.Option;
          else if (c === SB) {
            this.state[dir] = Tn.Sub;
            this.sub[dir] = 0;
          } else this.state[dir] = Tn.Data; // NOP, GA, AYT, ... (two bytes)
          break;
        case Tn.Option:
          this.state[dir] = Tn.Data;
          break;
        case Tn.Sub:
        case Tn.SubIac:
          if (++this.sub[dir] > MAX_SUBNEGOTIATION) {
            this.sink.anomaly(
              "hosts.telnet-subnegotiation-too-long",
              `${dir === 0 ? "client" : "server"}: IAC SB without IAC SE within ${MAX_SUBNEGOTIATION} bytes (RFC 855)`,
            );
            this.stop(tsMicros);
            return;
          }
          if (this.state[dir] === Tn.SubIac) this.state[dir] = c === SE ? Tn.Data : Tn.Sub;
          else if (c === IAC) this.state[dir] = Tn.SubIac;
          break;
      }
    }
    if (this.read[dir] > MAX_DIRECTION_BYTES) this.stop(tsMicros);
  }

  gap(_dir: Direction, _length: number, tsMicros: number): void {
    this.stop(tsMicros);
  }

  private stop(ts: number): void {
    if (this.finished) return;
    this.banner(ts);
    this.finished = true;
  }

  private dataByte(dir: Direction, c: number, ts: number): void {
    if (dir === 0) {
      // The client typed something: never kept. After a prompt, it is the login's answer.
      if (this.textLength > 0) this.banner(ts);
      if (this.prompt) {
        this.sink.event({ kind: "telnet-login" }, 0, ts);
        this.stop(ts);
      }
      return;
    }
    if (this.textLength < MAX_TELNET_TEXT) this.text[this.textLength++] = c;
    else this.banner(ts);
    if (c === 0x0a || c === 0x0d) {
      this.tail = "";
      return;
    }
    this.tail = (this.tail + String.fromCharCode(c | (c >= 0x41 && c <= 0x5a ? 0x20 : 0))).slice(-12);
    if (c === 0x3a && (this.tail.endsWith("login:") || this.tail.endsWith("username:"))) {
      this.prompt = true;
      this.banner(ts);
    }
  }

  private banner(ts: number): void {
    if (this.bannerSent || this.textLength === 0) return;
    this.bannerSent = true;
    const text = cleanText(this.text, 0, this.textLength, MAX_BANNER, true);
    if (text !== null) this.sink.event({ kind: "telnet-banner", text }, 1, ts);
  }
}
