/**
 * Reassembly contract (DESIGN.md §2): per TCP connection and direction, in-order delivery of views,
 * explicit gap markers, and teardown. Handlers are created by a factory when a connection appears.
 */

export interface Endpoint {
  ip: string;
  port: number;
  /** "aa:bb:cc:dd:ee:ff" when the link layer carried one, else null. */
  mac: string | null;
}

/** Direction of data inside a connection. */
export const CLIENT_TO_SERVER = 0;
export const SERVER_TO_CLIENT = 1;
export type Direction = 0 | 1;

export interface ConnectionInfo {
  /** Unique within one pipeline run. */
  id: number;
  /** The side that sent the SYN; when picked up mid-stream, a guess (the higher port is the client). */
  client: Endpoint;
  server: Endpoint;
  /** True when the SYN was seen, so the roles are certain. */
  handshakeSeen: boolean;
  /** "clientIP:port-serverIP:port" (IPv6 addresses in brackets), used to key anomalies and evidence. */
  flow: string;
  startMicros: number;
}

/**
 * How the connection ended, as the reassembler saw it:
 * - "fin": both directions sent a FIN and every byte before each FIN was delivered (or given up as a gap);
 * - "rst": a RST within its sender's window (RFC 9293 §3.10.7.4);
 * - "idle": no packet for `idleMicros` (and none in the grace period after it, see TcpReassemblerLimits);
 * - "evicted": closed to make room in a full flow table;
 * - "end-of-capture": still open when the input ended.
 */
export type CloseReason = "fin" | "rst" | "idle" | "evicted" | "end-of-capture";

export interface StreamHandler {
  /** In-order bytes of one direction. The view is valid only during this call. */
  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void;
  /** `length` bytes of this direction will never be delivered (lost, not captured, or dropped by a cap). */
  gap(dir: Direction, length: number, tsMicros: number): void;
  /**
   * The connection ended; no call follows.
   *
   * `side` says which direction ended it, when the transport says so:
   * - reason "rst": the direction whose segment carried the RST — CLIENT_TO_SERVER (0) when the client
   *   reset the connection, SERVER_TO_CLIENT (1) when the server did;
   * - reason "fin": the direction whose FIN was seen first (the side that closed first, the active
   *   closer of RFC 9293 §3.6);
   * - any other reason: undefined (nobody on the wire ended it).
   * Optional, so a handler written against the two-argument form keeps working unchanged.
   */
  close(reason: CloseReason, tsMicros: number, side?: Direction): void;
}

/** What the reassembler saw of a connection's opening, for the inventory of listening ports. */
export type HandshakeResult = "syn-ack" | "rst" | "mid-stream";

export interface ConnectionFactory {
  /** A new connection. Return null to have its payload ignored (it is still tracked for teardown). */
  open(info: ConnectionInfo): StreamHandler | null;
  /** The server's answer to a SYN: it listens (syn-ack) or refuses (rst). Optional. */
  handshake?(info: ConnectionInfo, result: HandshakeResult, tsMicros: number): void;
}

export interface ReassemblyLimits {
  /** Out-of-order bytes held per direction before the oldest hole is declared a gap. */
  maxBufferedPerDirection: number;
  /** Out-of-order bytes held in total across all connections. */
  maxBufferedTotal: number;
  /** Connections tracked at once; the least recently active is evicted beyond this. */
  maxConnections: number;
  /**
   * A connection with no packet for this long (capture time) times out: its handler stays open for a
   * grace period in which a late segment continues it (the reassembler's `idleLingerMicros`), then it
   * is closed as "idle".
   */
  idleMicros: number;
}
