/**
 * What the traffic beside DICOM says about the systems of the imaging room (issue 11): the operating
 * system and version a host announces, and the remote-access services it offers or uses. Each decoder
 * of agent/hosts/ is small and bounds-checked like dicom/ul: it reads views of the capture buffer, caps
 * every length a peer declares, reports what breaks a rule as an anomaly, and never throws.
 *
 * Decoders produce HostEvents; the pipeline wraps each in a HostObservation (observations/types.ts) with
 * the endpoint that sent it, and the inventory  and findings fold those.
 *
 * Privacy (DESIGN.md principle 2): no event carries a credential or a person's name. An NTLM
 * AUTHENTICATE's responses and user name, a password of FTP or Telnet, the user name of an RDP routing
 * cookie never leave the decoder; only that they were present. Host names (a computer's NetBIOS or DNS
 * name, a DHCP host name, an RDP client name) name machines and are kept.
 */
import type { Direction } from "../reassembly/types.js";
import type { AnomalyCode } from "../util/anomaly.js";

/** MS-NLMP 2.2.2.10 VERSION: the sender's operating system version. */
export interface NtlmVersion {
  major: number;
  minor: number;
  build: number;
  /** NTLMRevisionCurrent (15 for NTLMv2-era senders). */
  revision: number;
}

/** An NTLMSSP message (MS-NLMP 2.2.1), wherever it travels. */
export interface NtlmEvent {
  kind: "ntlmssp";
  /** 1 NEGOTIATE (client), 2 CHALLENGE (server), 3 AUTHENTICATE (client). */
  message: 1 | 2 | 3;
  /** Present only when NTLMSSP_NEGOTIATE_VERSION is set (MS-NLMP 2.2.2.5 flag V). */
  version: NtlmVersion | null;
  /** NegotiateFlags. */
  flags: number;
  /** CHALLENGE's TargetInfo AV pairs (MS-NLMP 2.2.2.1): the server's names; null in other messages. */
  target: {
    netbiosComputer: string | null;
    netbiosDomain: string | null;
    dnsComputer: string | null;
    dnsDomain: string | null;
    dnsTree: string | null;
  } | null;
  /** AUTHENTICATE's Workstation field: the client computer's name (the user name is never kept). */
  workstation: string | null;
  /** What carried it. */
  carrier: "smb" | "http" | "ldap" | "dcerpc" | "other";
}

/** An SMB NEGOTIATE request or response ([MS-CIFS] 2.2.4.52, [MS-SMB2] 2.2.3 and 2.2.4). */
export interface SmbNegotiateEvent {
  kind: "smb-negotiate";
  /** 1: SMB1 (0xFF 'SMB'); 2: SMB2/3 (0xFE 'SMB'). */
  smb: 1 | 2;
  request: boolean;
  /**
   * Request: the dialects offered, as written ("NT LM 0.12", "SMB 2.002", "SMB 2.???") for SMB1, or as
   * "2.0.2", "2.1", "3.0", "3.0.2", "3.1.1", "0x02ff" for SMB2. Response: the one chosen, alone.
   */
  dialects: string[];
  /** SMB2 Capabilities, or SMB1's; null when absent. */
  capabilities: number | null;
  /** SecurityMode: signing required (SMB2 0x02, SMB1 0x08). */
  signingRequired: boolean | null;
  /** SMB 3.1.1 SMB2_COMPRESSION_CAPABILITIES algorithms ("LZNT1", "LZ77", "LZ77+Huffman", "Pattern_V1", "LZ4"). */
  compression: string[];
}

/** SMB1 SESSION_SETUP_ANDX ([MS-CIFS] 2.2.4.53): the system strings each side writes. */
export interface SmbNativeOsEvent {
  kind: "smb1-native-os";
  request: boolean;
  nativeOs: string | null;
  nativeLanMan: string | null;
  primaryDomain: string | null;
}

/** RDP X.224 Connection Request with its RDP_NEG_REQ ([MS-RDPBCGR] 2.2.1.1). */
export interface RdpRequestEvent {
  kind: "rdp-request";
  /** A routing cookie ("Cookie: mstshash=...") was present; its user name is never kept. */
  cookie: boolean;
  /** requestedProtocols: 0 Standard RDP Security, 1 TLS, 2 CredSSP (NLA), 4 RDSTLS, 8 CredSSP EX ...; null without RDP_NEG_REQ. */
  requestedProtocols: number | null;
}

/** RDP X.224 Connection Confirm ([MS-RDPBCGR] 2.2.1.2): RDP_NEG_RSP or RDP_NEG_FAILURE. */
export interface RdpConfirmEvent {
  kind: "rdp-confirm";
  /** selectedProtocol of RDP_NEG_RSP; null without one (an old server: Standard RDP Security). */
  selectedProtocol: number | null;
  /** RDP_NEG_RSP flags. */
  flags: number;
  /** RDP_NEG_FAILURE failureCode, or null. */
  failureCode: number | null;
}

/** MCS Connect Initial's TS_UD_CS_CORE ([MS-RDPBCGR] 2.2.1.3.2), in clear with Standard RDP Security. */
export interface RdpClientCoreEvent {
  kind: "rdp-client-core";
  /** version: 0x00080001 RDP 4.0, 0x00080004 RDP 5.0-8.1, 0x0008000C RDP 10.0 ... */
  version: number;
  clientBuild: number;
  /** The client computer's name (clientName). */
  clientName: string | null;
}

/** MCS Connect Response's TS_UD_SC_CORE ([MS-RDPBCGR] 2.2.1.4.2). */
export interface RdpServerCoreEvent {
  kind: "rdp-server-core";
  version: number;
}

/** RFB ([RFC 6143] 7.1): a side's ProtocolVersion, the security types offered, the one chosen, the result. */
export type RfbEvent =
  | { kind: "rfb-version"; version: string }
  | { kind: "rfb-security"; offered: number[] }
  | { kind: "rfb-chosen"; type: number }
  | { kind: "rfb-result"; ok: boolean };

/** FTP ([RFC 959]) and Telnet ([RFC 854]): the banner, and that a login crossed in clear. */
export type CleartextLoginEvent =
  | { kind: "ftp-banner"; text: string }
  /** USER and PASS were sent in clear (never their values); accepted when a 230 reply followed. */
  | { kind: "ftp-login"; accepted: boolean | null }
  /** AUTH TLS / AUTH SSL was requested: the rest of the control connection is encrypted. */
  | { kind: "ftp-auth-tls" }
  | { kind: "telnet-banner"; text: string }
  /** A login prompt was answered in clear. */
  | { kind: "telnet-login" };

/** HTTP/1.x headers in clear ([RFC 9112]): the software a side names. */
export type HttpEvent =
  { kind: "http-request"; userAgent: string | null } | { kind: "http-response"; server: string | null };

/** A stream switched to TLS after a cleartext start (RDP after its X.224 confirm, FTP after AUTH TLS). */
export interface TlsStartEvent {
  kind: "tls-start";
}

/**
 * What the TLS handshake of such a stream showed (the pipeline's TLS sniffer reads it): the version, and
 * the server certificate's subject, which for RDP names the host ("CN=WS-CT01.hospital.local").
 */
export interface TlsServerEvent {
  kind: "tls-server";
  /** The protocol the stream carries ("rdp", "ftp"). */
  protocol: string;
  version: string | null;
  subject: string | null;
  selfSigned: boolean | null;
}

/** An SSH identification string (RFC 4253 §4.2), "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6": in clear. */
export interface SshBannerEvent {
  kind: "ssh-banner";
  /** softwareversion SP comments, printable ASCII, capped. */
  software: string;
}

/** DHCP ([RFC 2131], options [RFC 2132]): what a client says of itself. */
export interface DhcpEvent {
  kind: "dhcp";
  /** DHCP message type (option 53): 1 DISCOVER, 3 REQUEST, 8 INFORM, 2 OFFER, 5 ACK ... */
  messageType: number | null;
  /** chaddr, "aa:bb:cc:dd:ee:ff" for Ethernet. */
  clientMac: string | null;
  /** Option 12. */
  hostName: string | null;
  /** Option 60 ("MSFT 5.0", "dhcpcd-9.4.1:Linux-...", "android-dhcp-13"). */
  vendorClass: string | null;
  /** Option 55, in order: a fingerprint of the DHCP client (and so of its system). */
  parameterRequestList: number[];
  /** Option 50. */
  requestedAddress: string | null;
  /** Option 81's domain name, when present. */
  fqdn: string | null;
}

/** A browser announcement ([MS-BRWS] 2.2.1, 2.2.6) on UDP 138: the OS version a Windows host broadcasts. */
export interface BrowserEvent {
  kind: "browser";
  /** 1 HostAnnouncement, 12 DomainAnnouncement, 15 LocalMasterAnnouncement. */
  opcode: number;
  serverName: string | null;
  osMajor: number;
  osMinor: number;
  /** ServerType bits ([MS-RAP] 2.5.5.2.1): 0x8000 SV_TYPE_NT, 0x8 SV_TYPE_DOMAIN_CTRL, 0x10 SV_TYPE_DOMAIN_BAKCTRL, 0x1000 SV_TYPE_SERVER_NT ... */
  serverType: number;
  comment: string | null;
}

/** A SYN or SYN/ACK's IP and TCP fields: weak evidence of the OS family only. */
export interface TcpFingerprintEvent {
  kind: "tcp-syn";
  synAck: boolean;
  /** The TTL (IPv4) or hop limit (IPv6) as seen, and the initial value it most likely started from (32, 64, 128, 255). */
  ttl: number;
  initialTtl: number;
  window: number;
  mss: number | null;
  windowScale: number | null;
  /** Option kinds in order, p0f-like: "M" MSS, "N" NOP, "W" window scale, "S" SACK permitted, "T" timestamps, "E" end, "?n" other. */
  options: string;
  /** "windows" (initial TTL 128), "unix" (64: Linux, macOS, BSD, most embedded), "network" (255), or null. */
  family: "windows" | "unix" | "network" | null;
}

export type HostEvent =
  | NtlmEvent
  | SmbNegotiateEvent
  | SmbNativeOsEvent
  | RdpRequestEvent
  | RdpConfirmEvent
  | RdpClientCoreEvent
  | RdpServerCoreEvent
  | RfbEvent
  | CleartextLoginEvent
  | HttpEvent
  | TlsStartEvent
  | TlsServerEvent
  | SshBannerEvent
  | DhcpEvent
  | BrowserEvent
  | TcpFingerprintEvent;

/**
 * Where a stream decoder reports. `dir` is who sent what the event describes (0 the connection's client,
 * 1 its server).
 */
export interface HostStreamSink {
  event(e: HostEvent, dir: Direction, tsMicros: number): void;
  anomaly(code: AnomalyCode, detail: string): void;
}

/**
 * A decoder of one TCP connection's two byte streams (the reassembler's in-order views, valid only during
 * the call). It keeps what straddles segments within a small cap of its own, and stops reading (done) once
 * it has what it wants, so bulk transfers (an SMB file copy) cost nothing after their first messages.
 */
export interface HostStreamDecoder {
  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void;
  /** Bytes of `dir` that will never arrive: resynchronise or give up (done). */
  gap(dir: Direction, length: number, tsMicros: number): void;
  /** True once nothing more will be read (the pipeline stops feeding it). */
  readonly done: boolean;
}
