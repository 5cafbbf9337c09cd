/**
 * Recognises TLS on any TCP port (DICOM TLS is PS3.15 Annex B, usually port 2762) and reads what the
 * handshake shows in clear: the negotiated version and, up to TLS 1.2, the server's certificate.
 * It emits one TlsObservation per connection and sets `done` as soon as there is nothing more to learn
 * (not TLS, handshake read, or a gap), so the caller stops feeding it.
 *
 * TLS record (RFC 8446 §5.1, RFC 5246 §6.2.1):
 *   0       1       2       3       4       5
 *   +-------+-------+-------+-------+-------+-------------------+
 *   | type  | legacy_version| length (BE)   | fragment (length) |
 *   +-------+-------+-------+-------+-------+-------------------+
 *   type: 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data; version 3.x; length <= 2^14+2048
 *
 * Handshake message (RFC 8446 §4), possibly split over records or several in one record:
 *   +-------+-----------------------+-------------------+
 *   | type  | length (24-bit BE)    | body              |
 *   +-------+-----------------------+-------------------+
 *   1 ClientHello: version(2) random(32) session_id(1+n) cipher_suites(2+n) compression(1+n) extensions(2+n)
 *   2 ServerHello: version(2) random(32) session_id(1+n) cipher_suite(2) compression(1) extensions(2+n)
 *   11 Certificate (TLS <= 1.2): certificate_list(3+n) of { cert(3+n) DER }
 *   14 ServerHelloDone
 *   extension: type(2) length(2) data; supported_versions (43) carries the TLS 1.3 version (RFC 8446 §4.2.1)
 *
 * Handshake bytes are copied into a per-direction buffer capped at MAX_HANDSHAKE (counted in bytesCopied);
 * everything after the handshake is never looked at.
 */
import { X509Certificate } from "node:crypto";
import type { AnomalySink, Counters } from "../util/anomaly.js";
import type { CloseReason, ConnectionInfo, Direction, Endpoint, StreamHandler } from "../reassembly/types.js";
import type { ObservationSink, TlsObservation } from "../observations/types.js";

/** Most handshake bytes kept per direction: a certificate chain rarely exceeds 16 KiB. */
export const MAX_HANDSHAKE = 64 * 1024;
/** Largest TLS record fragment: 2^14 plaintext plus 2048 bytes of expansion (RFC 5246 §6.2.3). */
const MAX_RECORD = 16384 + 2048;

const CT_CHANGE_CIPHER_SPEC = 20;
const CT_ALERT = 21;
const CT_HANDSHAKE = 22;
const CT_APPLICATION_DATA = 23;

const HS_CLIENT_HELLO = 1;
const HS_SERVER_HELLO = 2;
const HS_CERTIFICATE = 11;
const HS_SERVER_HELLO_DONE = 14;

const EXT_SUPPORTED_VERSIONS = 43;

/** Names of protocol versions as reported ("TLS 1.2"); SSL 3.0 is 0x0300. */
export function tlsVersionName(v: number): string {
  if (v === 0x0300) return "SSL 3.0";
  if (v >= 0x0301 && v <= 0x0304) return `TLS 1.${v - 0x0301}`;
  if ((v & 0xff00) === 0x7f00) return `TLS 1.3 draft ${v & 0xff}`;
  return `0x${v.toString(16).padStart(4, "0")}`;
}

/** Per-direction record and handshake reassembly state. */
class DirectionState {
  // Pooled: every byte is written before it is read (headerLen).
  readonly header = Buffer.allocUnsafe(5);
  headerLen = 0;
  recordType = 0;
  recordRemaining = 0;
  hs: Buffer | null = null;
  hsLen = 0;
  sawAny = false;
}

export class TlsSniffer implements StreamHandler {
  done = false;

  private readonly dirs = [new DirectionState(), new DirectionState()];
  /** Which direction sent the ClientHello (the real client, whatever the reassembler guessed). */
  private clientDir: Direction | -1 = -1;
  private serverVersion: number | null = null;
  private clientVersion: number | null = null;
  private certificate: TlsObservation["certificate"] = null;
  private emitted = false;
  private lastTs = 0;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly sink: ObservationSink,
    private readonly ctx: { anomalies: AnomalySink; counters: Counters },
  ) {}

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.done) return;
    this.lastTs = tsMicros;
    const st = this.dirs[dir]!;
    let i = start;
    while (i < end && !this.done) {
      if (st.recordRemaining === 0) {
        // Collect the 5-byte record header, possibly across calls.
        const take = Math.min(5 - st.headerLen, end - i);
        buf.copy(st.header, st.headerLen, i, i + take);
        st.headerLen += take;
        i += take;
        if (!st.sawAny && st.headerLen >= 3 && !this.plausibleStart(st.header)) {
          this.finish(false);
          return;
        }
        if (st.headerLen < 5) return;
        const type = st.header[0]!;
        const length = st.header.readUInt16BE(3);
        st.headerLen = 0;
        if (
          type < CT_CHANGE_CIPHER_SPEC ||
          type > CT_APPLICATION_DATA ||
          st.header[1] !== 3 ||
          length > MAX_RECORD
        ) {
          if (st.sawAny)
            this.ctx.anomalies.anomaly(
              "tls.invalid-record",
              "tls",
              this.info.flow,
              `record type ${type}, length ${length}`,
            );
          this.finish(st.sawAny);
          return;
        }
        if (!st.sawAny && type !== CT_HANDSHAKE) {
          // Picked up after the handshake: TLS, but nothing left to read in clear.
          this.finish(false);
          return;
        }
        st.sawAny = true;
        st.recordType = type;
        st.recordRemaining = length;
        if (type === CT_CHANGE_CIPHER_SPEC || type === CT_APPLICATION_DATA || type === CT_ALERT) {
          // From here this direction is encrypted (or failing): decide with what we have.
          if (dir !== this.clientDir) {
            this.finish(this.serverVersion !== null);
            return;
          }
        }
        if (length === 0) continue;
      }
      const n = Math.min(st.recordRemaining, end - i);
      if (st.recordType === CT_HANDSHAKE) this.appendHandshake(dir, st, buf, i, i + n);
      st.recordRemaining -= n;
      i += n;
    }
  }

  gap(_dir: Direction, _length: number, _tsMicros: number): void {
    if (!this.done) this.finish(this.serverVersion !== null);
  }

  close(_reason: CloseReason, _tsMicros: number): void {
    if (!this.done) this.finish(this.serverVersion !== null);
  }

  /** The first bytes of a stream that starts a TLS conversation: a record header of a known type, version 3.x. */
  private plausibleStart(h: Buffer): boolean {
    const type = h[0]!;
    return type >= CT_CHANGE_CIPHER_SPEC && type <= CT_APPLICATION_DATA && h[1] === 3 && h[2]! <= 4;
  }

  private appendHandshake(dir: Direction, st: DirectionState, buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (st.hsLen + n > MAX_HANDSHAKE) {
      this.ctx.anomalies.anomaly(
        "tls.handshake-too-large",
        "tls",
        this.info.flow,
        `more than ${MAX_HANDSHAKE} handshake bytes`,
      );
      this.finish(this.serverVersion !== null);
      return;
    }
    const have = st.hs ? st.hs.length : 0;
    if (st.hs === null || have < st.hsLen + n) {
      const size = Math.min(MAX_HANDSHAKE, Math.max(4096, have * 2, st.hsLen + n));
      // Held handshakes share the run's budget with held association PDUs (Counters.collectBudget), so
      // many connections each holding a partial handshake cannot exhaust memory.
      const budget = this.ctx.counters.collectBudget;
      if (budget !== undefined) {
        if (budget < size - have) {
          this.ctx.anomalies.anomaly("tls.budget-exhausted", "tls", this.info.flow, "handshake not held");
          this.finish(this.serverVersion !== null);
          return;
        }
        this.ctx.counters.collectBudget = budget - (size - have);
      }
      const bigger = Buffer.allocUnsafe(size);
      if (st.hs) st.hs.copy(bigger, 0, 0, st.hsLen);
      st.hs = bigger;
    }
    buf.copy(st.hs!, st.hsLen, start, end);
    st.hsLen += n;
    this.ctx.counters.bytesCopied += n;
    this.parseHandshakes(dir, st);
  }

  /** Consumes the complete handshake messages in the direction's buffer. */
  private parseHandshakes(dir: Direction, st: DirectionState): void {
    const hs = st.hs!;
    let off = 0;
    while (!this.done && st.hsLen - off >= 4) {
      const type = hs[off]!;
      const len = hs.readUIntBE(off + 1, 3);
      if (len > MAX_HANDSHAKE) {
        this.ctx.anomalies.anomaly(
          "tls.handshake-too-large",
          "tls",
          this.info.flow,
          `handshake message of ${len} bytes`,
        );
        this.finish(this.serverVersion !== null);
        return;
      }
      if (st.hsLen - off - 4 < len) break; // wait for the rest
      this.handshake(dir, type, hs, off + 4, off + 4 + len);
      off += 4 + len;
    }
    if (off > 0 && !this.done) {
      hs.copy(hs, 0, off, st.hsLen);
      st.hsLen -= off;
    }
  }

  private handshake(dir: Direction, type: number, b: Buffer, start: number, end: number): void {
    if (type === HS_CLIENT_HELLO && this.clientDir === -1) {
      this.clientDir = dir;
      this.clientVersion = end - start >= 2 ? b.readUInt16BE(start) : null;
      return;
    }
    if (this.clientDir === -1 || dir === this.clientDir) return;
    if (type === HS_SERVER_HELLO) {
      const v = parseServerHelloVersion(b, start, end);
      if (v === null) {
        this.ctx.anomalies.anomaly(
          "tls.invalid-server-hello",
          "tls",
          this.info.flow,
          "truncated ServerHello body",
        );
        this.finish(false);
        return;
      }
      this.serverVersion = v;
      // TLS 1.3 encrypts everything after ServerHello, the certificate included (RFC 8446 §2).
      if (v >= 0x0304 || (v & 0xff00) === 0x7f00) this.finish(true);
      return;
    }
    if (type === HS_CERTIFICATE && this.serverVersion !== null) {
      this.certificate = parseCertificateList(b, start, end);
      this.finish(true);
      return;
    }
    if (type === HS_SERVER_HELLO_DONE) this.finish(this.serverVersion !== null);
  }

  private finish(emit: boolean): void {
    this.done = true;
    for (const st of this.dirs) {
      if (st.hs && this.ctx.counters.collectBudget !== undefined)
        this.ctx.counters.collectBudget += st.hs.length;
      st.hs = null;
    }
    if (!emit || this.emitted) return;
    this.emitted = true;
    const swap = this.clientDir === 1;
    const client: Endpoint = swap ? this.info.server : this.info.client;
    const server: Endpoint = swap ? this.info.client : this.info.server;
    const v = this.serverVersion ?? this.clientVersion;
    this.sink.observe({
      kind: "tls",
      tsMicros: this.lastTs,
      client,
      server,
      version: v === null ? null : tlsVersionName(v),
      certificate: this.certificate,
    });
  }
}

/** The negotiated version: supported_versions if present (TLS 1.3), else the legacy server_version. */
function parseServerHelloVersion(b: Buffer, start: number, end: number): number | null {
  if (end - start < 38) return null;
  const legacy = b.readUInt16BE(start);
  let p = start + 34;
  const sidLen = b[p]!;
  p += 1 + sidLen + 2 + 1; // session_id, cipher_suite, compression_method
  if (p + 2 > end) return p === end ? legacy : null; // no extensions (TLS <= 1.2 may omit them)
  const extEnd = Math.min(end, p + 2 + b.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) break;
    if (type === EXT_SUPPORTED_VERSIONS && len === 2) return b.readUInt16BE(p);
    p += len;
  }
  return legacy;
}

/** The leaf (first) certificate of a Certificate message, described with node:crypto. */
function parseCertificateList(b: Buffer, start: number, end: number): TlsObservation["certificate"] {
  if (end - start < 6) return null;
  const listEnd = Math.min(end, start + 3 + b.readUIntBE(start, 3));
  const p = start + 3;
  if (p + 3 > listEnd) return null;
  const len = b.readUIntBE(p, 3);
  if (p + 3 + len > listEnd) return null;
  try {
    const cert = new X509Certificate(b.subarray(p + 3, p + 3 + len));
    let selfSigned = false;
    try {
      selfSigned = cert.checkIssued(cert) && cert.verify(cert.publicKey);
    } catch {
      selfSigned = false;
    }
    return {
      subject: oneLine(cert.subject),
      issuer: oneLine(cert.issuer),
      notBefore: isoDate(cert.validFrom),
      notAfter: isoDate(cert.validTo),
      selfSigned,
    };
  } catch {
    return null;
  }
}

function oneLine(dn: string): string {
  return dn.split("\n").filter(Boolean).join(", ");
}

function isoDate(s: string): string {
  const t = Date.parse(s);
  return Number.isFinite(t) ? new Date(t).toISOString() : s;
}
