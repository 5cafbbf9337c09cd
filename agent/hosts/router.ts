/**
 * Which decoder of agent/hosts/ reads which traffic (issue 11), and how its events become observations.
 *
 * TCP: a connection gets a stream decoder by its server's port (SMB 139/445, RDP 3389, VNC 5900-5909,
 * FTP 21, Telnet 23, SSH 22, HTTP 80/8080/8000/5985, LDAP 389/3268 and the RPC endpoint mapper 135 for
 * NTLMSSP), or, on any other port, by the first bytes a side sends (an HTTP request line, "RFB " or
 * "SSH-" from the server, a DCE/RPC bind). DICOM connections are not touched: their first bytes are a
 * PDU, which matches none of these, so the cost on the DICOM path is one look at each side's first chunk.
 * A decoder reads only the start of its stream and says when it is done.
 *
 * UDP: DHCP (67/68) and browser announcements (138) are decoded datagram by datagram; SYN and SYN/ACK
 * segments give the TCP fingerprint. Each event becomes a HostObservation naming the endpoint that sent
 * it, so an OS is attributed only to the host whose packets carried it.
 */
import { TCP_ACK, type TcpPacket } from "../decode/types.js";
import { ipv4ToString, ipv6ToString, macToString } from "../decode/decode.js";
import type { HostObservation, ObservationSink } from "../observations/types.js";
import type { ConnectionInfo, Direction, Endpoint } from "../reassembly/types.js";
import { TlsSniffer } from "../tls/sniffer.js";
import type { AnomalyCode, AnomalySink, Counters } from "../util/anomaly.js";
import { decodeBrowser } from "./browser.js";
import { FtpStreamDecoder, TelnetStreamDecoder } from "./cleartext-login.js";
import { decodeDhcp } from "./dhcp.js";
import { HttpStreamDecoder, looksLikeHttp } from "./http.js";
import { decodeNtlmssp, NtlmStreamScanner } from "./ntlm.js";
import { RdpStreamDecoder } from "./rdp.js";
import { looksLikeRfb, RfbStreamDecoder } from "./rfb.js";
import { SmbStreamDecoder } from "./smb.js";
import { looksLikeSsh, SshBannerDecoder } from "./ssh.js";
import { tcpFingerprint } from "./tcp-fingerprint.js";
import type { HostEvent, HostStreamDecoder, HostStreamSink } from "./types.js";

type Make = (sink: HostStream) => HostStreamDecoder;

/** The decoder of a server port. */
function byPort(port: number, ntlm: (carrier: "ldap" | "dcerpc" | "other") => Make): Make | null {
  switch (port) {
    case 139:
    case 445:
      return (s) => new SmbStreamDecoder(s);
    case 3389:
      return (s) => new RdpStreamDecoder(s);
    case 21:
      return (s) => new FtpStreamDecoder(s);
    case 23:
      return (s) => new TelnetStreamDecoder(s);
    case 22:
      return (s) => new SshBannerDecoder(s);
    case 389:
    case 3268:
      return ntlm("ldap");
    case 135:
      return ntlm("dcerpc");
    default:
      if (port >= 5900 && port <= 5909) return (s) => new RfbStreamDecoder(s);
      return null;
  }
}

/** HTTP's usual ports (and WinRM's 5985, which carries NTLM in its Authorization headers). */
const HTTP_PORTS = new Set([80, 8000, 8080, 8008, 8081, 5985, 3128]);

/**
 * A DCE/RPC connection-oriented bind ([C706] 12.6.4.3, [MS-RPCE] 2.2.2): version 5.0, packet type 11
 * (bind) or 14 (alter context). Its auth verifier carries NTLMSSP on the dynamic RPC ports.
 */
function looksLikeDceRpcBind(buf: Buffer, start: number, end: number): boolean {
  return (
    end - start >= 3 &&
    buf[start] === 5 &&
    buf[start + 1] === 0 &&
    (buf[start + 2] === 11 || buf[start + 2] === 14)
  );
}

/** Where host observations go, and the pipeline's anomaly sink and counters (for the TLS sniffer). */
export interface HostRouterOptions {
  observations: ObservationSink;
  anomalies: AnomalySink;
  counters: Counters;
}

/**
 * Host decoders reading at once. Each may hold a message straddling segments (SMB up to 16 KiB, RDP, RFB,
 * HTTP and FTP lines up to 16 KiB, per direction): 256 of them keep that under 8 MiB whatever a scan or a
 * flood of SMB sessions does (the memory budget of agent/pipeline/pipeline.ts). A decoder is freed when it
 * is done, which is within the first messages of a session.
 */
export const MAX_HOST_STREAMS = 256;

/**
 * SYN fingerprints taken per second of capture time, and in a burst. A segment's hosts come and go slowly;
 * thousands of new sources a second are a scan or a flood, whose fingerprints say nothing of the room's
 * devices and must cost no more per packet than the rest of the traffic (issue 9).
 */
const SYN_RATE = 200;
const SYN_BURST = 2000;

/** Sources whose SYN fingerprint was emitted, by IPv4 address: bounded, cleared when full. */
const MAX_SYN_SOURCES = 8192;

export class HostRouter {
  /**
   * The last fingerprint (window and TTL) emitted per IPv4 source: a host opens thousands of connections
   * with the same SYN, and one observation of it is enough; a SYN flood from ever new sources costs one
   * map entry each, and the map is cleared when full.
   */
  private readonly synSeen = new Map<number, number>();
  /** Host decoders not yet done (MAX_HOST_STREAMS). */
  private live = 0;
  /** Fingerprints that may still be taken now (a token bucket refilled by capture time), and when. */
  private synTokens = SYN_BURST;
  private synRefilled = 0;

  constructor(private readonly o: HostRouterOptions) {}

  /** A stream for `make`, unless MAX_HOST_STREAMS are reading (then counted, and null). */
  private stream(info: ConnectionInfo, make: Make): HostStream | null {
    if (this.live >= MAX_HOST_STREAMS) {
      this.o.anomalies.anomaly(
        "hosts.decoders-capped",
        "hosts",
        info,
        `${MAX_HOST_STREAMS} decoders reading already`,
      );
      return null;
    }
    this.live++;
    return new HostStream(info, make, this.o, () => this.live--);
  }

  /** The host decoder of a connection chosen by its server port, or null (sniff() may still choose one). */
  forConnection(info: ConnectionInfo): HostStream | null {
    const port = info.server.port;
    const make = HTTP_PORTS.has(port) ? this.http() : byPort(port, (c) => this.ntlm(c));
    return make === null ? null : this.stream(info, make);
  }

  /**
   * A decoder chosen by the first bytes a side sent on a port byPort does not know: an HTTP request from
   * the client, "RFB " or "SSH-" from the server (both speak first), a DCE/RPC bind from the client.
   */
  sniff(info: ConnectionInfo, dir: Direction, buf: Buffer, start: number, end: number): HostStream | null {
    let make: Make | null = null;
    if (dir === 0) {
      if (looksLikeHttp(buf, start, end)) make = this.http();
      else if (looksLikeDceRpcBind(buf, start, end)) make = this.ntlm("dcerpc");
      else if (looksLikeSsh(buf, start, end)) make = (s) => new SshBannerDecoder(s);
    } else if (looksLikeRfb(buf, start, end)) make = (s) => new RfbStreamDecoder(s);
    else if (looksLikeSsh(buf, start, end)) make = (s) => new SshBannerDecoder(s);
    return make === null ? null : this.stream(info, make);
  }

  /** A host decoder of `info` threw (a bug): counted as internal.exception on its connection. */
  failed(info: ConnectionInfo, err: unknown): void {
    this.o.anomalies.anomaly("internal.exception", "hosts", info, err instanceof Error ? err.name : "error");
  }

  private http(): Make {
    return (s) =>
      new HttpStreamDecoder(s, {
        onAuthToken: (dir, token) => {
          // NTLM in an HTTP Authorization / WWW-Authenticate header (MS-NTHT 2.2): the token, base64-decoded.
          const e = decodeNtlmssp(token, 0, token.length, "http", (code, detail) => s.anomaly(code, detail));
          if (e !== null) s.event(e, dir, s.nowMicros);
        },
      });
  }

  private ntlm(carrier: "ldap" | "dcerpc" | "other"): Make {
    return (s) => new NtlmStreamScanner(s, carrier);
  }

  /** A UDP datagram (DecodeResult.Udp): DHCP and browser announcements. */
  datagram(p: TcpPacket, tsMicros: number): void {
    const sp = p.srcPort;
    const dp = p.dstPort;
    let event: HostEvent | null = null;
    if ((sp === 68 && dp === 67) || (sp === 67 && dp === 68)) {
      const e = decodeDhcp(p.buf, p.payloadStart, p.payloadEnd);
      // Only a client's own message describes it (BOOTREQUEST: DISCOVER, REQUEST, INFORM); a server's
      // OFFER or ACK says nothing about the client's system.
      if (e !== null && sp === 68) event = e;
    } else if (sp === 138 && dp === 138) event = decodeBrowser(p.buf, p.payloadStart, p.payloadEnd);
    if (event === null) return;
    let host = endpointOf(p, true);
    // A DHCP client speaks from 0.0.0.0 until it has its lease: the address it asks for (option 50) is
    // the one it will use, and its MAC is in the frame.
    // Only a REQUEST's: a DISCOVER's is a wish the server may not grant (RFC 2131 §4.3.1).
    if (event.kind === "dhcp" && host.ip === "0.0.0.0") {
      if (event.requestedAddress === null || event.messageType !== 3) return;
      host = { ip: event.requestedAddress, port: host.port, mac: host.mac };
    }
    const peer = event.kind === "browser" || isBroadcast(p) ? null : endpointOf(p, false);
    this.emit({ kind: "host", tsMicros, host, peer, hostIsServer: false, event });
  }

  /** A SYN or SYN/ACK: the sender's TCP fingerprint (weak evidence of its OS family). */
  syn(p: TcpPacket, tsMicros: number): void {
    // A host's repeated SYN is dropped first (a map lookup); only a new one spends from the bucket.
    let key = -1;
    let sig = 0;
    if (p.ipVersion === 4) {
      // Per source and role (a host's SYNs and its SYN/ACKs differ; both are kept apart).
      key = (p.src4 >>> 0) * 2 + ((p.flags & TCP_ACK) !== 0 ? 1 : 0);
      sig = p.window * 256 + p.ttl;
      if (this.synSeen.get(key) === sig) return;
    }
    if (!this.synBudget(tsMicros)) return;
    if (key >= 0) {
      if (this.synSeen.size >= MAX_SYN_SOURCES) this.synSeen.clear();
      this.synSeen.set(key, sig);
    }
    const e = tcpFingerprint(p);
    if (e === null) return;
    this.emit({
      kind: "host",
      tsMicros,
      host: endpointOf(p, true),
      peer: endpointOf(p, false),
      hostIsServer: e.synAck,
      event: e,
    });
  }

  /** One fingerprint's worth of the bucket, if there is one. */
  private synBudget(tsMicros: number): boolean {
    const elapsed = tsMicros - this.synRefilled;
    if (elapsed > 0) {
      this.synTokens = Math.min(SYN_BURST, this.synTokens + (elapsed / 1e6) * SYN_RATE);
      this.synRefilled = tsMicros;
    }
    if (this.synTokens < 1) return false;
    this.synTokens--;
    return true;
  }

  private emit(o: HostObservation): void {
    this.o.observations.observe(o);
  }
}

function endpointOf(p: TcpPacket, source: boolean): Endpoint {
  const ip =
    p.ipVersion === 6
      ? ipv6ToString(p.buf, source ? p.src6 : p.dst6)
      : ipv4ToString((source ? p.src4 : p.dst4) >>> 0);
  const macOff = source ? p.macSrc : p.macDst;
  const mac = macOff >= 0 && macOff + 6 <= p.buf.length ? macToString(p.buf, macOff) : null;
  return { ip, port: source ? p.srcPort : p.dstPort, mac };
}

function isBroadcast(p: TcpPacket): boolean {
  return p.ipVersion === 4 && (p.dst4 >>> 0 === 0xffffffff || (p.dst4 & 0xff) === 0xff);
}

/**
 * One connection's host decoder, and the sink that turns its events into observations. When the stream
 * turns to TLS (RDP after its confirm, FTP after AUTH TLS) the rest goes to a TLS sniffer, whose handshake
 * becomes a tls-server event: the version, and the certificate's subject naming the host.
 */
export class HostStream implements HostStreamSink {
  private decoder: HostStreamDecoder;
  private tls: TlsSniffer | null = null;
  private tlsProtocol = "";
  private finished = false;
  /** Capture time of the chunk being read (for events a decoder reports through a callback). */
  nowMicros = 0;

  constructor(
    private readonly info: ConnectionInfo,
    make: Make,
    private readonly o: HostRouterOptions,
    /** Called once when this stream stops reading (the router's count of live decoders). */
    private readonly released: () => void,
  ) {
    this.decoder = make(this);
  }

  /** Nothing more to read. */
  get done(): boolean {
    return this.finished;
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    this.nowMicros = tsMicros;
    if (this.tls !== null) {
      this.tls.data(dir, buf, start, end, tsMicros);
      if (this.tls.done) this.finish();
      return;
    }
    this.decoder.data(dir, buf, start, end, tsMicros);
    if (this.decoder.done && this.tls === null) this.finish();
  }

  gap(dir: Direction, length: number, tsMicros: number): void {
    if (this.tls !== null) this.tls.gap(dir, length, tsMicros);
    else this.decoder.gap(dir, length, tsMicros);
    if ((this.tls ?? this.decoder).done) this.finish();
  }

  close(tsMicros: number): void {
    if (this.tls !== null) this.tls.close("fin", tsMicros);
    // FTP reports a login whose reply never came when its connection ends.
    else if (!this.decoder.done) (this.decoder as { close?: (ts: number) => void }).close?.(tsMicros);
    this.finish();
  }

  private finish(): void {
    if (!this.finished) this.released();
    this.finished = true;
    this.tls = null;
  }

  // ---- HostStreamSink ----

  event(e: HostEvent, dir: Direction, tsMicros: number): void {
    if (e.kind === "tls-start") {
      this.startTls();
      return;
    }
    const i = this.info;
    this.o.observations.observe({
      kind: "host",
      tsMicros,
      host: dir === 0 ? i.client : i.server,
      peer: dir === 0 ? i.server : i.client,
      hostIsServer: dir === 1,
      event: e,
    });
  }

  anomaly(code: AnomalyCode, detail: string): void {
    this.o.anomalies.anomaly(code, "hosts", this.info, detail);
  }

  /** The decoder threw (a bug: decoders are written not to): counted; the caller drops this stream. */
  failed(err: unknown): void {
    this.finish();
    this.o.anomalies.anomaly(
      "internal.exception",
      "hosts",
      this.info,
      err instanceof Error ? err.name : "error",
    );
  }

  private startTls(): void {
    const i = this.info;
    this.tlsProtocol = i.server.port === 3389 ? "rdp" : i.server.port === 21 ? "ftp" : "other";
    this.tls = new TlsSniffer(
      i,
      {
        observe: (o) => {
          if (o.kind !== "tls") return;
          this.o.observations.observe({
            kind: "host",
            tsMicros: o.tsMicros,
            host: i.server,
            peer: i.client,
            hostIsServer: true,
            event: {
              kind: "tls-server",
              protocol: this.tlsProtocol,
              version: o.version,
              subject: o.certificate?.subject ?? null,
              selfSigned: o.certificate?.selfSigned ?? null,
            },
          });
        },
      },
      { anomalies: this.o.anomalies, counters: this.o.counters },
    );
  }
}
