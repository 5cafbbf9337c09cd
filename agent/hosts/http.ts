/**
 * HTTP/1.x in clear (RFC 9112, issue 11): the software each side names (User-Agent, Server) in the first
 * few message heads, and the NTLM / Negotiate tokens of its authentication headers (RFC 4559 §4), handed
 * as bytes to the owner's callback for the NTLMSSP decoder. Nothing else of a head is kept: no Basic
 * credential, cookie, target or other header value leaves the decoder.
 *
 * Each direction is a small loop of two states: a head (collected up to the empty line, at most MAX_HEAD
 * bytes, copied only when it straddles segments) and a body skipped by its Content-Length (counted, never
 * read). A body whose end the decoder cannot find cheaply (chunked, or a response delimited by the close of
 * the connection, RFC 9112 §6.3) stops the direction, as do MAX_HEADS heads; the decoder is done when both
 * directions are.
 */
import type { Direction } from "../reassembly/types.js";
import { Carry, cleanText, indexOfByte } from "./carry.js";
import type { HostStreamDecoder, HostStreamSink } from "./types.js";

/** The largest message head collected (RFC 9112 leaves it to the implementation; servers use 8-16 KiB). */
export const MAX_HEAD = 16 * 1024;
/** Message heads read per direction. */
export const MAX_HEADS = 8;
/** Characters kept of a User-Agent or Server value. */
export const MAX_VALUE = 200;
/**
 * Base64 characters of an NTLM / Negotiate token decoded. An NTLM AUTHENTICATE with NTLMv2 responses is
 * a few hundred bytes to a few KiB; a Kerberos ticket in Negotiate can reach some KiB. The head cap bounds
 * it anyway; this keeps one token below it.
 */
export const MAX_AUTH_TOKEN = 12 * 1024;

export interface HttpDecoderOptions {
  /** An NTLM or Negotiate token of an Authorization / Proxy-Authorization (dir 0) or WWW-Authenticate / Proxy-Authenticate (dir 1) header. */
  onAuthToken?: (dir: Direction, token: Buffer) => void;
}

/** Request methods recognised by looksLikeHttp (RFC 9110 §9, and WebDAV's common ones, RFC 4918 §9). */
const METHODS = [
  "GET",
  "POST",
  "HEAD",
  "PUT",
  "DELETE",
  "OPTIONS",
  "PATCH",
  "CONNECT",
  "TRACE",
  "PROPFIND",
  "PROPPATCH",
  "MKCOL",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
].map((m) => Buffer.from(`${m} `, "latin1"));
const HTTP1 = Buffer.from("HTTP/1.", "latin1");

/** Does [start, end) begin with a request line's method and space, or a status line's "HTTP/1."? */
export function looksLikeHttp(buf: Buffer, start: number, end: number): boolean {
  for (const m of [HTTP1, ...METHODS])
    if (end - start >= m.length && buf.compare(m, 0, m.length, start, start + m.length) === 0) return true;
  return false;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The token of an Authorization / WWW-Authenticate header value with scheme NTLM or Negotiate
 * ("NTLM TlRMTVNTUAAB...", RFC 4559 §4), decoded; null for other schemes, a bare scheme (a challenge
 * without token), a token above MAX_AUTH_TOKEN or one that is not base64. Other schemes' values (Basic's
 * credentials above all) are not looked at.
 */
export function httpAuthToken(value: string): Buffer | null {
  const v = value.trim();
  const sp = v.indexOf(" ");
  if (sp < 0) return null;
  const scheme = v.slice(0, sp).toLowerCase();
  if (scheme !== "ntlm" && scheme !== "negotiate") return null;
  let token = v.slice(sp + 1).trimStart();
  const stop = token.search(/[\s,]/);
  if (stop >= 0) token = token.slice(0, stop);
  if (token.length === 0 || token.length > MAX_AUTH_TOKEN || !B64.test(token)) return null;
  const bytes = Buffer.from(token, "base64");
  return bytes.length > 0 ? bytes : null;
}

const enum St {
  Head,
  Body,
  Stopped,
}

export class HttpStreamDecoder implements HostStreamDecoder {
  private readonly state: [St, St] = [St.Head, St.Head];
  private readonly carry: [Carry, Carry] = [new Carry(MAX_HEAD), new Carry(MAX_HEAD)];
  private readonly heads: [number, number] = [0, 0];
  /** Body bytes still to skip. */
  private readonly body: [number, number] = [0, 0];
  /** Methods of the requests not yet answered, in order (RFC 9112 §9.3: responses come in request order). */
  private readonly methods: string[] = [];
  /** Bytes of the held head already searched for its end (a head sent a byte per segment is scanned once). */
  private readonly scanned: [number, number] = [0, 0];

  constructor(
    private readonly sink: HostStreamSink,
    private readonly options: HttpDecoderOptions = {},
  ) {}

  get done(): boolean {
    return this.state[0] === St.Stopped && this.state[1] === St.Stopped;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.state[dir] === St.Stopped) return;
    const v = this.carry[dir].join(buf, start, end);
    let off = v.start;
    let scanned = this.scanned[dir];
    this.scanned[dir] = 0;
    while (off < v.end && !this.stopped(dir)) {
      if (this.state[dir] === St.Body) {
        const n = Math.min(this.body[dir], v.end - off);
        this.body[dir] -= n;
        off += n;
        if (this.body[dir] === 0) this.state[dir] = St.Head;
        continue;
      }
      // RFC 9112 §2.2: empty lines before a request line are ignored (robustness).
      while (off < v.end && (v.buf[off] === 0x0d || v.buf[off] === 0x0a)) off++;
      if (off >= v.end) break;
      // The held part was searched before; its last 2 bytes may begin the empty line.
      const from = off + Math.max(0, scanned - 2);
      scanned = 0;
      const headEnd = endOfHead(v.buf, from, Math.min(v.end, off + MAX_HEAD));
      if (headEnd < 0) {
        this.scanned[dir] = v.end - off;
        if (v.end - off >= MAX_HEAD) {
          this.sink.anomaly(
            "hosts.http-head-too-large",
            `${dir === 0 ? "request" : "response"} head without its empty line within ${MAX_HEAD} bytes`,
          );
          this.state[dir] = St.Stopped;
        }
        break;
      }
      this.head(dir, v.buf, off, headEnd, tsMicros);
      off = headEnd;
    }
    if (this.stopped(dir)) {
      this.carry[dir].clear();
      return;
    }
    if (!this.carry[dir].keep(v.buf, off, v.end)) this.state[dir] = St.Stopped;
  }

  gap(dir: Direction, length: number): void {
    // A gap inside a body whose length is known costs nothing; anywhere else the framing is lost.
    if (this.state[dir] === St.Body && length < this.body[dir] && this.carry[dir].length === 0) {
      this.body[dir] -= length;
      return;
    }
    this.stop(dir);
  }

  /** Read through a method: the state changes inside the calls of the loop that tests it. */
  private stopped(dir: Direction): boolean {
    return this.state[dir] === St.Stopped;
  }

  private stop(dir: Direction): void {
    this.state[dir] = St.Stopped;
    this.carry[dir].clear();
  }

  /** A whole head, [p, end) up to and including its empty line. */
  private head(dir: Direction, buf: Buffer, p: number, end: number, ts: number): void {
    this.heads[dir]++;
    const lines: [number, number][] = [];
    for (let s = p; s < end;) {
      let lf = indexOfByte(buf, 0x0a, s, end);
      if (lf < 0) lf = end;
      const e = lf > s && buf[lf - 1] === 0x0d ? lf - 1 : lf;
      if (e > s) lines.push([s, e]);
      s = lf + 1;
    }
    const first = lines[0]!;
    const startLine = buf.toString("latin1", first[0], first[1]);
    let status = 0;
    let method = "";
    if (dir === 0) {
      // request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) \S+ HTTP\/\d\.\d$/.exec(startLine);
      if (m === null) return this.bad(dir, "request line");
      method = m[1]!;
    } else {
      // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4)
      const m = /^HTTP\/\d\.\d (\d{3})(?: |$)/.exec(startLine);
      if (m === null) return this.bad(dir, "status line");
      status = Number(m[1]);
    }
    let agent: string | null = null;
    let contentLength = -1;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const [s, e] = lines[i]!;
      const colon = indexOfByte(buf, 0x3a, s, e);
      if (colon < 0) continue; // no field line (RFC 9112 §5); ignored
      const name = buf.toString("latin1", s, colon).toLowerCase();
      let vs = colon + 1;
      while (vs < e && (buf[vs] === 0x20 || buf[vs] === 0x09)) vs++;
      switch (name) {
        case "user-agent":
          if (dir === 0 && agent === null) agent = cleanText(buf, vs, e, MAX_VALUE);
          break;
        case "server":
          if (dir === 1 && agent === null) agent = cleanText(buf, vs, e, MAX_VALUE);
          break;
        case "content-length": {
          // RFC 9112 §6.3: digits only; differing values are unrecoverable.
          const text = buf.toString("latin1", vs, e).trim();
          const n = /^\d{1,15}$/.test(text) ? Number(text) : -2;
          if (n < 0 || (contentLength >= 0 && n !== contentLength)) return this.bad(dir, "Content-Length");
          contentLength = n;
          break;
        }
        case "transfer-encoding":
          chunked = true;
          break;
        case "authorization":
        case "proxy-authorization":
        case "www-authenticate":
        case "proxy-authenticate":
          if ((dir === 0) === name.endsWith("authorization")) this.auth(dir, buf, vs, e);
          break;
      }
    }
    if (dir === 0) {
      this.sink.event({ kind: "http-request", userAgent: agent }, 0, ts);
      if (this.methods.length < MAX_HEADS) this.methods.push(method.toUpperCase());
      // RFC 9112 §6.3 rules 4-6: Transfer-Encoding (chunked) is not followed; without it, Content-Length
      // or no body at all.
      if (chunked) return this.stop(0);
      this.after(0, contentLength > 0 ? contentLength : 0);
      return;
    }
    this.sink.event({ kind: "http-response", server: agent }, 1, ts);
    if (status < 200) {
      // 1xx: interim, no body; 101 switches to another protocol (RFC 9110 §15.2).
      if (status === 101) return this.stop(1);
      this.after(1, 0);
      return;
    }
    const requestMethod = this.methods.shift();
    // RFC 9112 §6.3 rules 1-2: HEAD, 204 and 304 have no body; a 2xx to CONNECT is a tunnel.
    if (requestMethod === "CONNECT" && status < 300) return this.stop(1);
    if (requestMethod === "HEAD" || status === 204 || status === 304) return this.after(1, 0);
    if (chunked || contentLength < 0) return this.stop(1); // rules 4 and 8: chunked, or up to the close
    this.after(1, contentLength);
  }

  private after(dir: Direction, bodyLength: number): void {
    if (this.heads[dir] >= MAX_HEADS) return this.stop(dir);
    this.body[dir] = bodyLength;
    this.state[dir] = bodyLength > 0 ? St.Body : St.Head;
  }

  private bad(dir: Direction, what: string): void {
    this.sink.anomaly(
      "hosts.http-bad-message",
      `${dir === 0 ? "request" : "response"}: malformed ${what} (RFC 9112)`,
    );
    this.stop(dir);
  }

  private auth(dir: Direction, buf: Buffer, s: number, e: number): void {
    const cb = this.options.onAuthToken;
    if (cb === undefined || e - s > MAX_AUTH_TOKEN + 16) return;
    const token = httpAuthToken(buf.toString("latin1", s, e));
    if (token !== null) cb(dir, token);
  }
}

/** The offset just after the empty line that ends a head, searched in [p, end) (CRLF CRLF, or bare LFs), or -1. */
function endOfHead(buf: Buffer, p: number, end: number): number {
  for (let i = indexOfByte(buf, 0x0a, p, end); i >= 0; i = indexOfByte(buf, 0x0a, i + 1, end)) {
    if (i + 1 < end && buf[i + 1] === 0x0a) return i + 2;
    if (i + 2 < end && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}
