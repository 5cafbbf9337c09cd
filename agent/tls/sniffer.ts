/**
 * Recognises TLS on any TCP port (DICOM TLS is PS3.15 Annex B, usually port 2762) and reads what the
 * handshake shows in clear: the negotiated version and cipher suite, the server's certificate (TLS <= 1.2:
 * subject, issuer, validity, self-signed, public key type and size) and alerts sent in clear, with a fatal
 * one before the handshake completed flagged as a handshake failure. It emits one TlsObservation per
 * connection.
 *
 * With a NULL-cipher suite (no encryption, RFC 5246 §6.2.3.1 with the NULL cipher) the records after each
 * side's ChangeCipherSpec still carry their content in clear, followed by a MAC. The sniffer then keeps
 * walking the record stream and hands the application data, without record headers and MACs, to a
 * PlaintextSink (the pipeline routes it to the connection's DICOM decoder). That is the only way
 * application data leaves this module, as views into the capture buffer; none of it is kept.
 *
 * `done` is set as soon as there is nothing more to learn (not TLS, both directions encrypted, a gap, a
 * fatal alert), so the caller stops feeding it; `isTls` tells the caller the stream is TLS (its raw bytes are
 * then no other decoder's business).
 *
 * TLS record (RFC 8446 §5.1, RFC 5246 §6.2.1):
 *   0       1       2       3       4       5
 *   +-------+-------+-------+-------+-------+-------------------+
 *   | type  | legacy_version| length (BE)   | fragment (length) |
 *   +-------+-------+-------+-------+-------+-------------------+
 *   type: 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data, 24 heartbeat (RFC 6520);
 *   version 3.x; length <= 2^14 + 2048 (RFC 5246 §6.2.3)
 *   NULL cipher, after ChangeCipherSpec: fragment = content (length - M) | MAC (M = 16 MD5, 20 SHA-1,
 *   32 SHA-256, 48 SHA-384)
 *
 * Handshake message (RFC 8446 §4), possibly split over records or several in one record:
 *   +-------+-----------------------+-------------------+
 *   | type  | length (24-bit BE)    | body              |
 *   +-------+-----------------------+-------------------+
 *   1 ClientHello, 2 ServerHello, 11 Certificate (TLS <= 1.2), 14 ServerHelloDone (bodies: handshake.ts)
 *
 * Alert (RFC 5246 §7.2, RFC 8446 §6): level(1) description(1); several may share a record in TLS <= 1.2.
 *
 * When each direction stops being readable (RFC 5246 §7.1, RFC 8446 §2 and §5):
 *   TLS <= 1.2: after the side's ChangeCipherSpec (unless the suite is NULL: then content + MAC).
 *   TLS 1.3: the server after its ServerHello, the client at its first application_data record; a
 *   ChangeCipherSpec is only a compatibility dummy (RFC 8446 §D.4). A HelloRetryRequest changes nothing.
 *
 * Handshake bytes are copied into a per-direction buffer capped at MAX_HANDSHAKE (counted in bytesCopied,
 * held within the run's collect budget), only while a message the sniffer needs may still come.
 */
import type { AnomalySink, Counters } from "../util/anomaly.js";
import type { CloseReason, ConnectionInfo, Direction, Endpoint, StreamHandler } from "../reassembly/types.js";
import type { ObservationSink, TlsObservation } from "../observations/types.js";
import {
  parseCertificateList,
  parseClientHelloVersion,
  parseServerHello,
  type CertificateInfo,
} from "./handshake.js";
import {
  alertDescriptionName,
  alertLevelName,
  cipherSuiteName,
  nullCipherMacLength,
  suiteTraits,
  tlsVersionName,
} from "./suites.js";

export { tlsVersionName } from "./suites.js";

/** Most handshake bytes kept per direction: a certificate chain rarely exceeds 16 KiB. */
export const MAX_HANDSHAKE = 64 * 1024;
/** Largest TLS record fragment: 2^14 plaintext plus 2048 bytes of expansion (RFC 5246 §6.2.3). */
const MAX_RECORD = 16384 + 2048;
/** Alerts listed per connection; a real one sends one or two (RFC 8446 §6: a fatal alert ends it). */
const MAX_ALERTS = 8;

const CT_CHANGE_CIPHER_SPEC = 20;
const CT_ALERT = 21;
const CT_HANDSHAKE = 22;
const CT_APPLICATION_DATA = 23;
const CT_HEARTBEAT = 24;

const HS_CLIENT_HELLO = 1;
const HS_SERVER_HELLO = 2;
const HS_CERTIFICATE = 11;
const HS_SERVER_HELLO_DONE = 14;

const ALERT_FATAL = 2;
const ALERT_CLOSE_NOTIFY = 0;
const ALERT_USER_CANCELED = 90;

// What the records of one direction are, in turn (RFC 5246 §6.1 connection states).
/** Records in clear: the handshake, alerts and ChangeCipherSpec are read. */
const CLEAR = 0;
/** After ChangeCipherSpec with a NULL-cipher suite: content in clear, then a MAC. */
const NULL_CIPHER = 1;
/** Encrypted: nothing more to read in this direction. */
const PROTECTED = 2;
/** Not followed any more (a gap, a malformed record, a renegotiation under NULL). */
const STOPPED = 3;

const DIRECTIONS: readonly Direction[] = [0, 1];

/** The stream's first bytes decide whether it is TLS. */
const UNDECIDED = 0;
const IS_TLS = 1;
const NOT_TLS = 2;

type TlsAlert = NonNullable<TlsObservation["alerts"]>[number];

/** Receives the application data of NULL-cipher records: the plaintext stream of each direction. */
export interface PlaintextSink {
  /** In-order application data of `dir`, a view valid only during the call (record headers and MACs cut). */
  plaintext(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void;
  /** The plaintext of `dir` stops here (`length` TCP bytes not captured, or 0); no more of it follows. */
  plaintextGap(dir: Direction, length: number, tsMicros: number): void;
}

/** Per-direction record and handshake reassembly state. */
class DirectionState {
  // Pooled: every byte is written before it is read (headerLen).
  readonly header = Buffer.allocUnsafe(5);
  headerLen = 0;
  recordType = 0;
  /** Bytes of the current record's fragment still to come. */
  recordRemaining = 0;
  /** Of those, the content bytes still to come (the rest is the NULL cipher's MAC). */
  contentRemaining = 0;
  phase = CLEAR;
  /** Handshake messages of this direction are still wanted (copied into hs). */
  wantHandshake = true;
  hs: Buffer | null = null;
  hsLen = 0;
  sawAny = false;
  changeCipherSpec = false;
  /** An alert's level byte waiting for its description (alerts may straddle records in TLS <= 1.2). */
  alertLevel = -1;
  /** MAC length of the NULL-cipher suite, once this direction switched to it. */
  macLength = 0;
  /** Plaintext was handed on from this direction (so a gap must be passed on too). */
  plaintextSent = false;
}

export class TlsSniffer implements StreamHandler {
  done = false;
  /** Receives NULL-cipher application data; without one it is only walked over. */
  plaintextSink: PlaintextSink | null = null;

  private verdict = UNDECIDED;
  private readonly dirs = [new DirectionState(), new DirectionState()];
  /** Which direction sent the ClientHello (the real client, whatever the reassembler guessed). */
  private clientDir: Direction | -1 = -1;
  private serverVersion: number | null = null;
  private suite: number | null = null;
  private suiteName: string | null = null;
  private compression = 0;
  private certificate: CertificateInfo | null = null;
  private readonly alerts: TlsAlert[] = [];
  private handshakeFailure = false;
  /** The suite encrypts nothing (NULL cipher, or a TLS 1.3 integrity-only suite of RFC 9150). */
  private nullCipher = false;
  /** What the NULL cipher's plaintext was recognised as: null until told (plaintextIdentified). */
  private plaintextDicom: boolean | null = null;
  private emitted = false;
  private lastTs = 0;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly sink: ObservationSink,
    private readonly ctx: { anomalies: AnomalySink; counters: Counters },
  ) {}

  /** True once the stream was recognised as TLS (its first record header is one). */
  get isTls(): boolean {
    return this.verdict === IS_TLS;
  }

  /**
   * The caller recognised (or not) DICOM in the NULL cipher's plaintext: the observation, which says so,
   * is emitted now rather than at the end of the connection.
   */
  plaintextIdentified(dicom: boolean): void {
    if (this.plaintextDicom !== null) return;
    this.plaintextDicom = dicom;
    this.emit();
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.done) return;
    this.lastTs = tsMicros;
    const st = this.dirs[dir]!;
    let i = start;
    while (i < end && !this.done && st.phase <= NULL_CIPHER) {
      if (st.recordRemaining === 0) {
        let type: number;
        let major: number;
        let length: number;
        if (st.headerLen === 0 && end - i >= 5) {
          // The whole header is in this view: read it in place.
          type = buf[i]!;
          major = buf[i + 1]!;
          if (!st.sawAny && this.verdict === UNDECIDED && !plausibleStart(type, major, buf[i + 2]!)) {
            this.decideNotTls();
            return;
          }
          length = buf.readUInt16BE(i + 3);
          i += 5;
        } else {
          // Collect the 5-byte record header across views (the only record-layer copy).
          const take = Math.min(5 - st.headerLen, end - i);
          buf.copy(st.header, st.headerLen, i, i + take);
          st.headerLen += take;
          this.ctx.counters.bytesCopied += take;
          i += take;
          if (
            !st.sawAny &&
            this.verdict === UNDECIDED &&
            st.headerLen >= 3 &&
            !plausibleStart(st.header[0]!, st.header[1]!, st.header[2]!)
          ) {
            this.decideNotTls();
            return;
          }
          if (st.headerLen < 5) return;
          st.headerLen = 0;
          type = st.header[0]!;
          major = st.header[1]!;
          length = st.header.readUInt16BE(3);
        }
        if (!this.beginRecord(dir, st, type, major, length)) return;
        if (st.recordRemaining === 0) this.endRecord(st);
        continue;
      }
      const n = Math.min(st.recordRemaining, end - i);
      this.recordBytes(dir, st, buf, i, i + n, tsMicros);
      st.recordRemaining -= n;
      i += n;
      if (st.recordRemaining === 0 && !this.done) this.endRecord(st);
    }
  }

  gap(dir: Direction, length: number, tsMicros: number): void {
    if (this.done) return;
    this.lastTs = tsMicros;
    const st = this.dirs[dir]!;
    if (this.verdict === UNDECIDED) {
      this.finish(false);
      return;
    }
    if (st.phase === NULL_CIPHER) {
      // The record stream cannot be followed across missing bytes (a record header may be among them):
      // the DICOM decoder is told, and this direction's plaintext ends here.
      this.ctx.anomalies.anomaly(
        "tls.plaintext-gap",
        "tls",
        this.info,
        `${length} bytes of a NULL-cipher record stream not captured; its plaintext is not followed further`,
      );
      this.stop(dir, st, length, tsMicros);
      return;
    }
    if (st.phase === CLEAR) {
      // The handshake lost bytes: what was learnt is reported, nothing after it is trustworthy.
      this.finish(this.reportable());
      return;
    }
    this.checkDone();
  }

  close(_reason: CloseReason, _tsMicros: number): void {
    // The DICOM decoder is closed by the caller too: its plaintext needs no gap marker.
    if (!this.done) this.finish(this.reportable(), false);
  }

  // ---- records ----

  /** Starts a record from its header; false when the sniffer finished on it. */
  private beginRecord(
    dir: Direction,
    st: DirectionState,
    type: number,
    major: number,
    length: number,
  ): boolean {
    if (type < CT_CHANGE_CIPHER_SPEC || type > CT_HEARTBEAT || major !== 3 || length > MAX_RECORD) {
      if (this.verdict === UNDECIDED) {
        this.decideNotTls();
        return false;
      }
      this.ctx.anomalies.anomaly(
        "tls.invalid-record",
        "tls",
        this.info,
        `record type ${type}, version ${major}.x, length ${length}`,
      );
      // Under the NULL cipher only this direction's record stream is lost; the other may go on.
      if (st.phase === NULL_CIPHER) this.stop(dir, st, 0, this.lastTs);
      else this.finish(this.reportable());
      return false;
    }
    if (!st.sawAny && this.verdict === UNDECIDED) {
      this.verdict = IS_TLS;
      if (type !== CT_HANDSHAKE) {
        // Picked up after the handshake: TLS, but nothing left to read in clear.
        this.finish(false);
        return false;
      }
    }
    st.sawAny = true;
    st.recordType = type;
    st.recordRemaining = length;
    st.contentRemaining = length;
    if (st.phase === NULL_CIPHER) {
      if (length < st.macLength) {
        this.ctx.anomalies.anomaly(
          "tls.record-shorter-than-mac",
          "tls",
          this.info,
          `record of ${length} bytes under a suite with a ${st.macLength}-byte MAC`,
        );
        this.stop(dir, st, 0, this.lastTs);
        return false;
      }
      st.contentRemaining = length - st.macLength;
      if (type === CT_CHANGE_CIPHER_SPEC) {
        // A renegotiation (RFC 5246 §7.4.1.1): the new suite was chosen in records this sniffer does not
        // decode, so the stream cannot be followed safely.
        this.ctx.anomalies.anomaly(
          "tls.renegotiation",
          "tls",
          this.info,
          "ChangeCipherSpec under the NULL cipher; the plaintext is not followed further",
        );
        this.stop(dir, st, 0, this.lastTs);
        return false;
      }
      return true;
    }
    // CLEAR
    if (type === CT_CHANGE_CIPHER_SPEC) this.changeCipherSpec(dir, st);
    else if (type === CT_APPLICATION_DATA) {
      // Application data before a ChangeCipherSpec is TLS 1.3's encrypted records (or 0-RTT early data,
      // RFC 8446 §2.3): nothing more to read in clear from this side.
      st.phase = PROTECTED;
      this.releaseHandshake(st);
      this.checkDone();
    }
    return true;
  }

  /** A slice of the current record's fragment. */
  private recordBytes(
    dir: Direction,
    st: DirectionState,
    buf: Buffer,
    start: number,
    end: number,
    ts: number,
  ): void {
    // Content first, then (NULL cipher) the MAC, which is skipped.
    const contentEnd = start + Math.min(st.contentRemaining, end - start);
    st.contentRemaining -= contentEnd - start;
    if (contentEnd === start) return;
    switch (st.recordType) {
      case CT_HANDSHAKE:
        // Under the NULL cipher only Finished (and renegotiation, see beginRecord) comes: not needed.
        if (st.phase === CLEAR && st.wantHandshake) this.appendHandshake(dir, st, buf, start, contentEnd);
        return;
      case CT_ALERT:
        for (let p = start; p < contentEnd && !this.done; p++) {
          if (st.alertLevel < 0) st.alertLevel = buf[p]!;
          else {
            const level = st.alertLevel;
            st.alertLevel = -1;
            this.alert(dir, st, level, buf[p]!);
          }
        }
        return;
      case CT_APPLICATION_DATA:
        if (st.phase === NULL_CIPHER && this.plaintextSink !== null) {
          st.plaintextSent = true;
          this.plaintextSink.plaintext(dir, buf, start, contentEnd, ts);
        }
        return;
      default:
        return; // ChangeCipherSpec's single byte, heartbeat
    }
  }

  private endRecord(st: DirectionState): void {
    // RFC 8446 §5.1: alert messages MUST NOT be fragmented across records (TLS <= 1.2 allowed it).
    if (st.recordType === CT_ALERT && st.alertLevel >= 0 && this.negotiated13()) {
      st.alertLevel = -1;
      this.ctx.anomalies.anomaly("tls.invalid-alert", "tls", this.info, "alert split across records");
    }
  }

  /** RFC 5246 §7.1: from its ChangeCipherSpec on, the sender's records use the negotiated suite. */
  private changeCipherSpec(dir: Direction, st: DirectionState): void {
    // TLS 1.3's ChangeCipherSpec is a dummy for middleboxes (RFC 8446 §D.4); before the ServerHello is seen
    // (a capture that delivered it late, or 1.3 early data) the suite is unknown, so nothing changes.
    if (this.serverVersion === null || this.negotiated13()) return;
    st.changeCipherSpec = true;
    this.releaseHandshake(st);
    const mac = this.suiteName === null ? null : nullCipherMacLength(this.suiteName);
    if (mac !== null && this.compression === 0) {
      st.phase = NULL_CIPHER;
      st.macLength = mac;
    } else {
      if (mac !== null)
        this.ctx.anomalies.anomaly(
          "tls.compressed-plaintext",
          "tls",
          this.info,
          `NULL cipher with compression method ${this.compression}; the plaintext is not decoded`,
        );
      st.phase = PROTECTED;
    }
    const other = this.dirs[dir === 0 ? 1 : 0]!;
    if (st.changeCipherSpec && other.changeCipherSpec && this.plaintextSink === null) this.emit();
    this.checkDone();
  }

  private alert(dir: Direction, st: DirectionState, level: number, description: number): void {
    const other = this.dirs[dir === 0 ? 1 : 0]!;
    const complete = st.changeCipherSpec && other.changeCipherSpec;
    // RFC 8446 §6: in TLS 1.3 every alert but close_notify and user_canceled is fatal, whatever its level.
    const fatal =
      level === ALERT_FATAL ||
      (this.negotiated13() && description !== ALERT_CLOSE_NOTIFY && description !== ALERT_USER_CANCELED);
    if (this.alerts.length < MAX_ALERTS)
      this.alerts.push({
        from: this.roleOf(dir),
        level: alertLevelName(level),
        description: alertDescriptionName(description),
      });
    if (fatal && !complete) {
      this.handshakeFailure = true;
      // The connection ends with a fatal alert (RFC 5246 §7.2.2): report what the handshake showed.
      if (st.phase === CLEAR) this.finish(this.reportable());
    }
  }

  // ---- handshake ----

  private appendHandshake(dir: Direction, st: DirectionState, buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (st.hsLen + n > MAX_HANDSHAKE) {
      this.ctx.anomalies.anomaly(
        "tls.handshake-too-large",
        "tls",
        this.info,
        `more than ${MAX_HANDSHAKE} handshake bytes`,
      );
      this.finish(this.reportable());
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
          this.ctx.anomalies.anomaly("tls.budget-exhausted", "tls", this.info, "handshake not held");
          this.finish(this.reportable());
          return;
        }
        this.ctx.counters.collectBudget = budget - (size - have);
      }
      const bigger = Buffer.allocUnsafe(size);
      if (st.hs) st.hs.copy(bigger, 0, 0, st.hsLen);
      st.hs = bigger;
    }
    buf.copy(st.hs, st.hsLen, start, end);
    st.hsLen += n;
    this.ctx.counters.bytesCopied += n;
    this.parseHandshakes(dir, st);
  }

  /** Consumes the complete handshake messages in the direction's buffer. */
  private parseHandshakes(dir: Direction, st: DirectionState): void {
    const hs = st.hs!;
    let off = 0;
    while (!this.done && st.wantHandshake && st.hsLen - off >= 4) {
      const type = hs[off]!;
      const len = hs.readUIntBE(off + 1, 3);
      if (len > MAX_HANDSHAKE) {
        this.ctx.anomalies.anomaly(
          "tls.handshake-too-large",
          "tls",
          this.info,
          `handshake message of ${len} bytes`,
        );
        this.finish(this.reportable());
        return;
      }
      if (st.hsLen - off - 4 < len) break; // wait for the rest
      this.handshake(dir, st, type, hs, off + 4, off + 4 + len);
      off += 4 + len;
    }
    if (this.done || st.hs === null) return;
    if (!st.wantHandshake) this.releaseHandshake(st);
    else if (off > 0) {
      hs.copy(hs, 0, off, st.hsLen);
      st.hsLen -= off;
    }
  }

  private handshake(
    dir: Direction,
    st: DirectionState,
    type: number,
    b: Buffer,
    start: number,
    end: number,
  ): void {
    if (type === HS_CLIENT_HELLO && this.clientDir === -1) {
      this.clientDir = dir;
      if (parseClientHelloVersion(b, start, end) === null)
        this.ctx.anomalies.anomaly("tls.invalid-client-hello", "tls", this.info, "truncated ClientHello");
      // Nothing else of the client's handshake is needed (a second ClientHello after a HelloRetryRequest
      // or the client's certificate tell nothing about the server).
      st.wantHandshake = false;
      return;
    }
    if (this.clientDir === -1 || dir === this.clientDir) return;
    if (type === HS_SERVER_HELLO) {
      const hello = parseServerHello(b, start, end);
      if (hello === null) {
        this.ctx.anomalies.anomaly(
          "tls.invalid-server-hello",
          "tls",
          this.info,
          "truncated or inconsistent ServerHello body",
        );
        this.finish(false);
        return;
      }
      // A HelloRetryRequest asks for a second ClientHello; the real ServerHello follows (RFC 8446 §4.1.4).
      if (hello.helloRetryRequest) return;
      this.serverVersion = hello.version;
      this.suite = hello.cipherSuite;
      this.suiteName = cipherSuiteName(hello.cipherSuite);
      this.compression = hello.compression;
      this.nullCipher = suiteTraits(this.suiteName).nullCipher;
      if (this.negotiated13()) {
        // TLS 1.3 encrypts everything after ServerHello, the certificate included (RFC 8446 §2).
        st.wantHandshake = false;
        st.phase = PROTECTED;
        this.checkDone();
      }
      return;
    }
    if (type === HS_CERTIFICATE && this.serverVersion !== null) {
      const r = parseCertificateList(b, start, end);
      if (r.kind === "leaf") this.certificate = r.info;
      else if (r.kind === "invalid")
        this.ctx.anomalies.anomaly(
          "tls.invalid-certificate",
          "tls",
          this.info,
          "Certificate message or its first certificate does not parse",
        );
      st.wantHandshake = false;
      return;
    }
    // No Certificate comes with anonymous or PSK suites, nor on resumption: nothing more to wait for.
    if (type === HS_SERVER_HELLO_DONE) st.wantHandshake = false;
  }

  // ---- state ----

  private negotiated13(): boolean {
    const v = this.serverVersion;
    return v !== null && (v >= 0x0304 || (v & 0xff00) === 0x7f00);
  }

  /** Something worth an observation was seen: a ServerHello, or an alert answering a ClientHello. */
  private reportable(): boolean {
    return this.serverVersion !== null || (this.clientDir !== -1 && this.alerts.length > 0);
  }

  private roleOf(dir: Direction): "client" | "server" {
    if (this.clientDir === -1) return dir === 0 ? "client" : "server";
    return dir === this.clientDir ? "client" : "server";
  }

  private releaseHandshake(st: DirectionState): void {
    st.wantHandshake = false;
    if (st.hs && this.ctx.counters.collectBudget !== undefined)
      this.ctx.counters.collectBudget += st.hs.length;
    st.hs = null;
    st.hsLen = 0;
  }

  /** Ends the plaintext stream of one direction (a gap or something that cannot be followed). */
  private stop(dir: Direction, st: DirectionState, gapLength: number, ts: number): void {
    st.phase = STOPPED;
    this.releaseHandshake(st);
    if (st.plaintextSent && this.plaintextSink !== null) this.plaintextSink.plaintextGap(dir, gapLength, ts);
    this.checkDone();
  }

  /** Nothing more to read once neither direction is in clear or under the NULL cipher. */
  private checkDone(): void {
    if (this.dirs[0]!.phase >= PROTECTED && this.dirs[1]!.phase >= PROTECTED) this.finish(this.reportable());
  }

  private decideNotTls(): void {
    this.verdict = NOT_TLS;
    this.finish(false);
  }

  /**
   * Stops for good. Unless the connection closed (`cut` false), a plaintext stream still being handed on
   * ends here, and its receiver is told with a gap marker.
   */
  private finish(emit: boolean, cut = true): void {
    this.done = true;
    for (const d of DIRECTIONS) {
      const st = this.dirs[d]!;
      this.releaseHandshake(st);
      if (cut && st.phase === NULL_CIPHER && st.plaintextSent && this.plaintextSink !== null)
        this.plaintextSink.plaintextGap(d, 0, this.lastTs);
      st.phase = STOPPED;
    }
    if (emit) this.emit();
  }

  private emit(): void {
    if (this.emitted) return;
    this.emitted = true;
    const swap = this.clientDir === 1;
    const client: Endpoint = swap ? this.info.server : this.info.client;
    const server: Endpoint = swap ? this.info.client : this.info.server;
    const c = this.certificate;
    this.sink.observe({
      kind: "tls",
      tsMicros: this.lastTs,
      client,
      server,
      version: this.serverVersion === null ? null : tlsVersionName(this.serverVersion),
      certificate: c === null ? null : { ...c },
      cipherSuite: this.suiteName,
      cipherSuiteId: this.suite,
      alerts: this.alerts.slice(),
      handshakeFailure: this.handshakeFailure,
      plaintext: this.nullCipher,
      plaintextDicom: this.plaintextDicom === true,
    } satisfies TlsObservation);
  }
}

/** The first bytes of a stream that starts a TLS conversation: a record header of a known type, version 3.x. */
function plausibleStart(type: number, major: number, minor: number): boolean {
  return type >= CT_CHANGE_CIPHER_SPEC && type <= CT_APPLICATION_DATA && major === 3 && minor <= 4;
}
