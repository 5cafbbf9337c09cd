/**
 * The parsing pipeline of DESIGN.md §2 for one run: capture frames in, observations and the report's
 * stats, associations and anomalies out. Constructed explicitly; nothing happens at import time.
 *
 *   PacketSink.packet ─► decodeFrame ─► TcpReassembler ─► per connection: DicomConnection (+ TlsSniffer)
 *                                                                  └─► DimseAssembler ─► dataset walker
 */
import type { PacketSink } from "../capture/types.js";
import { decodeFrame } from "../decode/decode.js";
import { DecodeResult, TCP_SYN, TcpPacket } from "../decode/types.js";
import { DicomConnection } from "../dicom/connection.js";
import { DimseAssembler } from "../dicom/dimse/assembler.js";
import { CommandDecoder } from "../dicom/dimse/command.js";
import { associationRecord } from "../report/association.js";
import { UidInterner } from "../dicom/ul/pdu.js";
import type { DicomStats, DimseContext } from "../dicom/types.js";
import type { AssociationObservation, Observation, ObservationSink } from "../observations/types.js";
import { TcpReassembler, type TcpReassemblerLimits } from "../reassembly/tcp.js";
import type {
  CloseReason,
  ConnectionFactory,
  ConnectionInfo,
  Direction,
  Endpoint,
  HandshakeResult,
  StreamHandler,
} from "../reassembly/types.js";
import type { AssociationRecord, AssociationState, ReportStats } from "../report/types.js";
import { TlsSniffer, type PlaintextSink } from "../tls/sniffer.js";
import { HostRouter, type HostStream } from "../hosts/router.js";
import {
  AnomalyCounter,
  type AnomalyCode,
  type AnomalyEndpoint,
  type AnomalyFlow,
  type AnomalyLayer,
  type AnomalySink,
  type AnomalyTally,
  type Counters,
} from "../util/anomaly.js";

/*
 * The memory budget (issue 9): the whole process, agent or analyze, stays under 128 MiB of RSS whatever
 * the traffic. About 45 MiB is Node itself (its code, mapped from the binary); every table that grows
 * with what peers send has a cap:
 *
 *   file reads        two 2 MiB buffers (analyze), two of 1 MiB (run --replay)
 *   flow table        6 144 connections, ~1 kB each, ~3 kB with decoders (made at the first byte)
 *   held segments     16 MiB of out-of-order data, 32 768 pieces        (reassembly limits below)
 *   collected PDUs    8 MiB of association PDUs straddling segments     (DEFAULT_COLLECT_BUDGET)
 *   host decoders     256 at once, 16 KiB per direction each: 8 MiB  (hosts/router.ts MAX_HOST_STREAMS)
 *   report lists      5 000 associations (16 MiB), 20 000 messages (analyze only; the agent keeps none)
 *   inventory         2 048 devices, ~2 kB each (+ ~3 kB of OS evidence and remote-access services);
 *                     findings 2 048, ~1.5 kB each; anomaly rows 10 000;
 *                     2 048 keys per findings rule (sources, services, AE titles)
 *
 * What a cap turns away is counted (stats, anomalies, health), never silently dropped.
 */

/** Enough for any imaging room's day; the report of a larger capture lists a prefix and counts the rest. */
const DEFAULT_MAX_REPORT_ASSOCIATIONS = 5_000;
/** About 5 MiB of message records: keeps analyze's peak memory bounded whatever the capture size. */
const DEFAULT_MAX_REPORT_MESSAGES = 20_000;

/** Estimated bytes of listed association records (recordBytes), messages included. */
const MAX_REPORT_ASSOCIATION_BYTES = 16 << 20;

/**
 * A rough heap size of an association record, measured on V8 (heap snapshots of lab captures): the
 * record with its strings, ~250 bytes a presentation context (two UIDs and a transfer syntax list),
 * ~250 a listed message.
 */
function recordBytes(r: AssociationState): number {
  return 1000 + 250 * r.presentationContexts.length + 250 * r.messages.length;
}

/** 8 MiB: thirty maximal A-ASSOCIATE PDUs in flight at once, far beyond any imaging room. */
const DEFAULT_COLLECT_BUDGET = 8 * 1024 * 1024;

/** Reassembly caps of the budget above (the reassembler's own defaults are for a larger machine). */
const BUDGET_REASSEMBLY_LIMITS: Partial<TcpReassemblerLimits> = {
  maxConnections: 6_144,
  maxBufferedTotal: 16 << 20,
  maxSegmentsTotal: 32_768,
};

export interface PipelineOptions {
  /** Receives every observation (inventory, findings, the agent's store). */
  observations?: ObservationSink;
  limits?: Partial<TcpReassemblerLimits>;
  /** Bytes all connections together may hold of association PDUs straddling segments. */
  collectBudget?: number;
  /**
   * Association records kept for the report. Beyond this many, associations are still counted and
   * observed but not listed (an anomaly says so), so memory stays bounded on endless captures.
   * The agent, which keeps no report, passes 0.
   */
  maxReportAssociations?: number;
  /**
   * DIMSE messages listed across all associations of the run, for the same reason; the rest are
   * counted in stats and in each association's messagesOmitted.
   */
  maxReportMessages?: number;
}

// What ConnectionHandlers has learnt of a connection's stream.
/** Not known yet: the TLS sniffer has seen fewer than a record header's bytes. */
const STREAM_UNDECIDED = 0;
/** Not TLS: the bytes are the DICOM decoder's. */
const STREAM_PLAIN = 1;
/** TLS: its raw bytes are no DICOM; only the plaintext of a NULL cipher suite reaches the DICOM decoder. */
const STREAM_TLS = 2;
/** Bytes held per direction while undecided: the sniffer decides by the 5th byte of a record header. */
const HELD_MAX = 5;

/**
 * Feeds stream data to the TLS sniffer and the DICOM decoder. The first bytes of the stream decide:
 * - not TLS: everything goes to the DICOM decoder (the few bytes held while undecided first);
 * - TLS: the raw bytes go to the sniffer only. With a NULL cipher suite the sniffer hands the application
 *   data of its records (record headers and MACs cut, as views) to the DICOM decoder, which thus sees the
 *   same stream as on a cleartext connection (issue 9); gaps in that stream are passed on to it.
 */
class ConnectionHandlers implements StreamHandler, PlaintextSink {
  private stream = STREAM_UNDECIDED;
  /** Bytes of each direction received while undecided (at most HELD_MAX - 1 each). */
  private held: [Buffer | null, Buffer | null] = [null, null];
  private heldLen: [number, number] = [0, 0];
  /** Whether the NULL cipher's plaintext was recognised (as DICOM or not), so the sniffer was told. */
  private plaintextJudged = false;
  /** Each side's first bytes were shown to the host router (only when no decoder was chosen by port). */
  private sniffed: [boolean, boolean] = [false, false];

  constructor(
    private readonly dicom: DicomConnection,
    private tls: TlsSniffer | null,
    private readonly counters: Counters,
    /** The decoder of the system beside DICOM (issue 11): chosen by port, or by first bytes through `hosts`. */
    private host: HostStream | null = null,
    private readonly hosts: { router: HostRouter; info: ConnectionInfo } | null = null,
  ) {
    if (tls !== null) tls.plaintextSink = this;
    else this.stream = STREAM_PLAIN;
    if (host !== null) this.sniffed = [true, true];
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    // DICOM first: whatever the host decoder does, the DICOM stream has had its bytes.
    this.dicomData(dir, buf, start, end, tsMicros);
    if (this.host !== null) this.hostData(dir, buf, start, end, tsMicros);
    else if (!this.sniffed[dir]) this.sniff(dir, buf, start, end, tsMicros);
  }

  private dicomData(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (this.stream === STREAM_PLAIN) {
      this.dicom.data(dir, buf, start, end, tsMicros);
      return;
    }
    const tls = this.tls;
    if (tls === null) return; // TLS with nothing more to read
    tls.data(dir, buf, start, end, tsMicros);
    if (this.stream === STREAM_UNDECIDED) {
      if (tls.isTls) {
        this.stream = STREAM_TLS;
        this.held = [null, null];
      } else if (tls.done) {
        this.plain(tsMicros);
        this.dicom.data(dir, buf, start, end, tsMicros);
      } else this.hold(dir, buf, start, end);
    }
    if (tls.done) this.tls = null;
  }

  gap(dir: Direction, length: number, tsMicros: number): void {
    if (this.host !== null) {
      const h = this.host;
      this.guarded(() => h.gap(dir, length, tsMicros));
      if (h.done) this.host = null;
    }
    if (this.tls !== null) {
      // A NULL cipher's plaintext stream learns of the gap from the sniffer (plaintextGap).
      this.tls.gap(dir, length, tsMicros);
      if (this.tls.done) this.tls = null;
    }
    if (this.stream === STREAM_UNDECIDED) this.plain(tsMicros);
    if (this.stream === STREAM_PLAIN) this.dicom.gap(dir, length, tsMicros);
  }

  close(reason: CloseReason, tsMicros: number, side?: Direction): void {
    if (this.host !== null) {
      const h = this.host;
      this.guarded(() => h.close(tsMicros));
    }
    this.host = null;
    if (this.tls !== null) this.tls.close(reason, tsMicros);
    this.tls = null;
    if (this.stream === STREAM_UNDECIDED) this.plain(tsMicros);
    // Which side ended the connection (a RST's sender, the first FIN) is the DICOM record's to report.
    this.dicom.close(reason, tsMicros, side ?? null);
  }

  // ---- PlaintextSink: a NULL cipher's application data ----

  /** Plaintext of TLS records, as views: the DICOM decoder sees the stream without record framing. */
  plaintext(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    this.dicom.data(dir, buf, start, end, tsMicros);
    // Called from within tls.data(): this.tls is still the sniffer that is feeding us.
    if (!this.plaintextJudged && this.tls !== null && (this.dicom.isDicom || this.dicom.isNotDicom)) {
      this.plaintextJudged = true;
      this.tls.plaintextIdentified(this.dicom.isDicom);
    }
  }

  plaintextGap(dir: Direction, length: number, tsMicros: number): void {
    this.dicom.gap(dir, length, tsMicros);
  }

  private hostData(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    const h = this.host!;
    this.guarded(() => h.data(dir, buf, start, end, tsMicros));
    if (h.done) this.host = null;
  }

  /**
   * Runs a step of the host decoder. A throw there (a bug: the decoders are written not to) costs that
   * connection its host decoder, counted as internal.exception, never the DICOM stream or the packet.
   */
  private guarded(step: () => void): void {
    try {
      step();
    } catch (err) {
      const h = this.host;
      this.host = null;
      h?.failed(err);
    }
  }

  /** A side's first bytes, on a port no host decoder was chosen for: one look, then never again. */
  private sniff(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    this.sniffed[dir] = true;
    if (this.hosts === null || end <= start) return;
    const hosts = this.hosts;
    try {
      this.host = hosts.router.sniff(hosts.info, dir, buf, start, end);
    } catch (err) {
      hosts.router.failed(hosts.info, err);
    }
    if (this.host !== null) {
      this.sniffed = [true, true];
      this.hostData(dir, buf, start, end, tsMicros);
    }
  }

  /** Not TLS after all: the bytes held while undecided go to the DICOM decoder, in order. */
  private plain(tsMicros: number): void {
    this.stream = STREAM_PLAIN;
    for (const d of [0, 1] as const) {
      const h = this.held[d];
      if (h !== null && this.heldLen[d] > 0) this.dicom.data(d, h, 0, this.heldLen[d], tsMicros);
    }
    this.held = [null, null];
  }

  /** Copies the few bytes the sniffer could not decide on (never more than a record header). */
  private hold(dir: Direction, buf: Buffer, start: number, end: number): void {
    let h = this.held[dir];
    if (h === null) h = this.held[dir] = Buffer.allocUnsafe(HELD_MAX);
    const n = Math.min(end - start, HELD_MAX - this.heldLen[dir]);
    buf.copy(h, this.heldLen[dir], start, start + n);
    this.heldLen[dir] += n;
    this.counters.bytesCopied += n;
  }
}

/**
 * A connection's decoders (DICOM framers, TLS sniffer: a few kB) are made only when it carries data. A
 * scan opens tens of thousands of flows that never do (SYN-only, or refused), and each would otherwise
 * hold them until it is evicted or expires (issue 9: memory under flow floods).
 */
class FirstData implements StreamHandler {
  private inner: StreamHandler | null = null;
  /** The server's first data was reported (a "served" connection observation: a real session, issue 13). */
  private served = false;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly info: ConnectionInfo,
  ) {}

  private handlers(): StreamHandler {
    return (this.inner ??= this.pipeline.handlersFor(this.info));
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    if (dir === 1 && !this.served && end > start) {
      this.served = true;
      this.pipeline.served(this.info, tsMicros);
    }
    this.handlers().data(dir, buf, start, end, tsMicros);
  }

  gap(dir: Direction, length: number, tsMicros: number): void {
    this.handlers().gap(dir, length, tsMicros);
  }

  close(...args: Parameters<StreamHandler["close"]>): void {
    this.inner?.close(...args);
  }
}

/** An anomaly's endpoint as observations carry it: its MAC, when its connection knew one, else null. */
export function observedEndpoint(e: AnomalyEndpoint): Endpoint {
  return { ip: e.ip, port: e.port, mac: e.mac ?? null };
}

export class Pipeline implements PacketSink, ConnectionFactory, AnomalySink, ObservationSink {
  readonly anomalyCounter = new AnomalyCounter();
  readonly counters: Counters;
  readonly dicomStats: DicomStats = { dicomFlows: 0, associations: 0, dimseMessages: 0 };
  packets = 0;
  bytes = 0;
  /** Capture time of the latest packet (observations raised by anomalies carry it). */
  nowMicros = 0;
  private readonly pkt = new TcpPacket();
  /** Decodes every DIMSE command set of this pipeline; its intern caches hold 20 strings. */
  private readonly commands = new CommandDecoder();
  /** The UID strings of every association record of this pipeline, shared (at most 4096). */
  private readonly uids = new UidInterner();
  private readonly reassembler: TcpReassembler;
  /** The decoders of the system beside DICOM (issue 11). */
  private readonly hosts: HostRouter;
  private readonly downstream: ObservationSink | null;
  private readonly associationRecords: AssociationRecord[] = [];
  private readonly maxReportAssociations: number;
  private readonly maxReportMessages: number;
  /** Estimated heap bytes of the association records kept for the report. */
  private listedBytes = 0;
  /** Messages listed in association records that are open or kept for the report. */
  private listedMessages = 0;
  private finished = false;

  constructor(opts: PipelineOptions = {}) {
    this.downstream = opts.observations ?? null;
    this.counters = { bytesCopied: 0, collectBudget: opts.collectBudget ?? DEFAULT_COLLECT_BUDGET };
    this.maxReportAssociations = opts.maxReportAssociations ?? DEFAULT_MAX_REPORT_ASSOCIATIONS;
    this.maxReportMessages = opts.maxReportMessages ?? DEFAULT_MAX_REPORT_MESSAGES;
    this.hosts = new HostRouter({ observations: this, anomalies: this, counters: this.counters });
    this.reassembler = new TcpReassembler(
      this,
      { ...BUDGET_REASSEMBLY_LIMITS, ...opts.limits },
      {
        anomalies: this,
        counters: this.counters,
      },
    );
  }

  // ── PacketSink ────────────────────────────────────────────────────────────────────────────────
  packet(
    buf: Buffer,
    start: number,
    end: number,
    tsMicros: number,
    linktype: number,
    _origLen: number,
  ): void {
    this.packets++;
    this.bytes += end - start;
    this.nowMicros = tsMicros;
    const p = this.pkt;
    // One try/catch at the packet boundary keeps the sensor alive whatever a decoder does (principle 4).
    try {
      const r = decodeFrame(buf, start, end, linktype, p);
      if (r === DecodeResult.Tcp) {
        this.reassembler.segment(p, tsMicros);
        // After the segment: the fingerprint is a side line, and must not cost the segment if it fails.
        if ((p.flags & TCP_SYN) !== 0) this.hosts.syn(p, tsMicros);
      } else if (r === DecodeResult.Udp) {
        this.hosts.datagram(p, tsMicros);
      } else if ((r === DecodeResult.Truncated || r === DecodeResult.Malformed) && p.anomaly !== "") {
        // A frame's anomaly has no flow: the headers that would name it are what is missing or broken.
        this.anomaly(
          p.anomaly,
          "decode",
          null,
          r === DecodeResult.Truncated ? "frame truncated" : "bad header",
        );
      } else if (r === DecodeResult.Fragment) {
        // IP fragments are counted, not reassembled (DESIGN.md §2): DICOM peers use TCP segmentation.
        this.anomaly("decode.ip-fragment", "decode", null, "IP fragment not reassembled");
      } else if (r === DecodeResult.UnsupportedLinktype) {
        this.anomaly("decode.unsupported-linktype", "decode", null, `link type ${linktype}`);
      }
    } catch (err) {
      this.anomaly("internal.exception", "decode", null, err instanceof Error ? err.name : "error");
    }
  }

  /** Closes every open connection (end of capture) so incomplete associations are reported. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    try {
      this.reassembler.finish(this.nowMicros);
    } catch (err) {
      this.anomaly("internal.exception", "reassembly", null, err instanceof Error ? err.name : "error");
    }
  }

  /** Periodic housekeeping for live capture: idle teardown by capture time. */
  expire(nowMicros: number): void {
    // Called from the agent's timer, outside packet(): a throw here would end the process.
    try {
      this.reassembler.expire(nowMicros);
    } catch (err) {
      this.anomaly("internal.exception", "reassembly", null, err instanceof Error ? err.name : "error");
    }
  }

  // ── ConnectionFactory ─────────────────────────────────────────────────────────────────────────
  open(info: ConnectionInfo): StreamHandler {
    return new FirstData(this, info);
  }

  /** The decoders of one connection, made when its first byte (or gap) arrives: see FirstData. */
  handlersFor(info: ConnectionInfo): StreamHandler {
    const dicom = new DicomConnection(info, {
      observations: this,
      anomalies: this,
      counters: this.counters,
      stats: this.dicomStats,
      pdvConsumer: (ctx: DimseContext) => new DimseAssembler(ctx, {}, this.commands),
      uids: this.uids,
      keepMessage: this.keepMessage,
    });
    const tls = new TlsSniffer(info, this, { anomalies: this, counters: this.counters });
    const host = this.hosts.forConnection(info);
    return new ConnectionHandlers(
      dicom,
      tls,
      this.counters,
      host,
      host === null ? { router: this.hosts, info } : null,
    );
  }

  handshake(info: ConnectionInfo, result: HandshakeResult, tsMicros: number): void {
    this.observe({
      kind: "connection",
      tsMicros,
      client: info.client,
      server: info.server,
      handshake: result,
    });
  }

  /**
   * The server sent its first data on a connection: the port served a real session, not only a handshake
   * (a scan's SYN-ACK). The plan's "ports to close" (issue 13) tells the two apart by this.
   */
  served(info: ConnectionInfo, tsMicros: number): void {
    this.observe({
      kind: "connection",
      tsMicros,
      client: info.client,
      server: info.server,
      handshake: "served",
    });
  }

  // ── AnomalySink ───────────────────────────────────────────────────────────────────────────────
  /**
   * The first occurrence goes the whole way (counted, and observed by inventory and findings); its
   * repeats, a flood's millions, are counted on the report's row by the handle, allocation-free, and not
   * observed one by one (the findings engine caps dicom.malformed per flow anyway). Issue 9: hostile
   * traffic costs no more per byte than real traffic.
   */
  tally(code: AnomalyCode, layer: AnomalyLayer, at: AnomalyFlow | null, detail: string): AnomalyTally {
    this.anomaly(code, layer, at, detail);
    return this.anomalyCounter.repeats(code, at);
  }

  anomaly(code: AnomalyCode, layer: AnomalyLayer, at: AnomalyFlow | null, detail: string): void {
    this.anomalyCounter.anomaly(code, layer, at, detail);
    if (this.downstream !== null) {
      this.downstream.observe({
        kind: "anomaly",
        tsMicros: this.nowMicros,
        code,
        layer,
        flow: at === null ? "" : at.flow,
        client: at === null ? null : observedEndpoint(at.client),
        server: at === null ? null : observedEndpoint(at.server),
      });
    }
  }

  // ── ObservationSink ───────────────────────────────────────────────────────────────────────────
  observe(o: Observation): void {
    if (o.kind === "association") this.keepAssociation(o);
    if (this.downstream !== null) this.downstream.observe(o);
  }

  private readonly keepMessage = (): boolean => {
    if (this.listedMessages >= this.maxReportMessages) return false;
    this.listedMessages++;
    return true;
  };

  private keepAssociation(o: AssociationObservation): void {
    // Records differ a hundredfold in size (one presentation context or 128), so the list is also
    // bounded in (estimated) bytes, not only in number.
    const size = recordBytes(o.record);
    if (
      this.associationRecords.length >= this.maxReportAssociations ||
      this.listedBytes + size > MAX_REPORT_ASSOCIATION_BYTES
    ) {
      // Not listed: its messages go back to the budget.
      this.listedMessages -= o.record.messages.length;
      if (this.maxReportAssociations > 0)
        this.anomalyCounter.anomaly(
          "report.associations-capped",
          "ul",
          null,
          `more than ${this.maxReportAssociations} associations or ${MAX_REPORT_ASSOCIATION_BYTES >> 20} MiB of records; the rest are counted, not listed`,
        );
      return;
    }
    this.listedBytes += size;
    this.associationRecords.push(associationRecord(o));
  }

  associations(): AssociationRecord[] {
    return this.associationRecords;
  }

  /**
   * Sequence gaps over all connections: what the capture missed (kernel drops, a lossy mirror port), for
   * health (issue 8); the reassembler counts them.
   */
  gaps(): { flows: number; bytes: number } {
    const st = this.reassembler.stats();
    return { flows: st.gapFlows, bytes: st.gapBytes };
  }

  stats(): ReportStats {
    return {
      packets: this.packets,
      bytes: this.bytes,
      tcpFlows: this.reassembler.stats().tcpFlows,
      dicomFlows: this.dicomStats.dicomFlows,
      associations: this.dicomStats.associations,
      dimseMessages: this.dicomStats.dimseMessages,
      anomalies: this.anomalyCounter.total,
      bytesCopied: this.counters.bytesCopied,
    };
  }
}
