/**
 * The parsing pipeline of DESIGN.md §2 for one run: capture frames in, observations and the report's
 * stats, associations and anomalies out. Constructed explicitly; nothing happens at import time.
 *
 *   PacketSink.packet ─► decodeFrame ─► TcpReassembler ─► per connection: DicomConnection (+ TlsSniffer)
 *                                                                  └─► DimseAssembler ─► dataset walker
 */
import type { PacketSink } from "../capture/types.js";
import { decodeFrame } from "../decode/decode.js";
import { DecodeResult, TcpPacket } from "../decode/types.js";
import { DicomConnection } from "../dicom/connection.js";
import { DimseAssembler } from "../dicom/dimse/assembler.js";
import type { DicomStats, DimseContext } from "../dicom/types.js";
import type { AssociationObservation, Observation, ObservationSink } from "../observations/types.js";
import { TcpReassembler } from "../reassembly/tcp.js";
import type {
  CloseReason,
  ConnectionFactory,
  ConnectionInfo,
  Direction,
  HandshakeResult,
  ReassemblyLimits,
  StreamHandler,
} from "../reassembly/types.js";
import type { AssociationRecord, ReportStats } from "../report/types.js";
import { TlsSniffer } from "../tls/sniffer.js";
import { AnomalyCounter, type AnomalyLayer, type AnomalySink, type Counters } from "../util/anomaly.js";

/** Enough for any imaging room's day; the report of a larger capture lists a prefix and counts the rest. */
export const DEFAULT_MAX_REPORT_ASSOCIATIONS = 50_000;
/** About 25 MiB of message records: keeps analyze's peak memory bounded whatever the capture size. */
export const DEFAULT_MAX_REPORT_MESSAGES = 100_000;

/** 32 MiB: a hundred maximal A-ASSOCIATE PDUs in flight at once, far beyond any imaging room. */
export const DEFAULT_COLLECT_BUDGET = 32 * 1024 * 1024;

export interface PipelineOptions {
  /** Receives every observation (inventory, findings, the agent's store). */
  observations?: ObservationSink;
  limits?: Partial<ReassemblyLimits>;
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

/** Sequence gaps over all connections: what the capture missed (kernel drops, a lossy mirror port). */
export interface GapCounter {
  flows: number;
  bytes: number;
}

/** Feeds stream data to the DICOM decoder and, until it decides, to the TLS sniffer. */
class ConnectionHandlers implements StreamHandler {
  private gapped = false;

  constructor(
    private readonly dicom: DicomConnection,
    private tls: TlsSniffer | null,
    private readonly gaps: GapCounter,
  ) {}

  data(dir: Direction, buf: Buffer, start: number, end: number, tsMicros: number): void {
    const tls = this.tls;
    if (tls !== null) {
      tls.data(dir, buf, start, end, tsMicros);
      if (tls.done) this.tls = null;
    }
    this.dicom.data(dir, buf, start, end, tsMicros);
  }

  gap(dir: Direction, length: number, tsMicros: number): void {
    if (!this.gapped) {
      this.gapped = true;
      this.gaps.flows++;
    }
    this.gaps.bytes += length;
    if (this.tls !== null) this.tls.gap(dir, length, tsMicros);
    this.dicom.gap(dir, length, tsMicros);
  }

  close(reason: CloseReason, tsMicros: number): void {
    if (this.tls !== null) this.tls.close(reason, tsMicros);
    this.tls = null;
    this.dicom.close(reason, tsMicros);
  }
}

export class Pipeline implements PacketSink, ConnectionFactory, AnomalySink, ObservationSink {
  readonly anomalyCounter = new AnomalyCounter();
  readonly counters: Counters;
  readonly dicomStats: DicomStats = { dicomFlows: 0, associations: 0, dimseMessages: 0 };
  packets = 0;
  bytes = 0;
  /** TCP connections with at least one sequence gap, and the bytes missing, for health (issue 8). */
  readonly gaps: GapCounter = { flows: 0, bytes: 0 };
  /** Capture time of the latest packet (observations raised by anomalies carry it). */
  nowMicros = 0;
  private readonly pkt = new TcpPacket();
  private readonly reassembler: TcpReassembler;
  private readonly downstream: ObservationSink | null;
  private readonly associationRecords: AssociationRecord[] = [];
  private readonly maxReportAssociations: number;
  private readonly maxReportMessages: number;
  /** Messages listed in association records that are open or kept for the report. */
  private listedMessages = 0;
  private finished = false;

  constructor(opts: PipelineOptions = {}) {
    this.downstream = opts.observations ?? null;
    this.counters = { bytesCopied: 0, collectBudget: opts.collectBudget ?? DEFAULT_COLLECT_BUDGET };
    this.maxReportAssociations = opts.maxReportAssociations ?? DEFAULT_MAX_REPORT_ASSOCIATIONS;
    this.maxReportMessages = opts.maxReportMessages ?? DEFAULT_MAX_REPORT_MESSAGES;
    this.reassembler = new TcpReassembler(this, opts.limits ?? {}, {
      anomalies: this,
      counters: this.counters,
    });
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
      } else if (r === DecodeResult.Truncated || r === DecodeResult.Malformed) {
        this.anomaly(
          p.anomaly,
          "decode",
          "",
          r === DecodeResult.Truncated ? "frame truncated" : "bad header",
        );
      } else if (r === DecodeResult.Fragment) {
        // IP fragments are counted, not reassembled (DESIGN.md §2): DICOM peers use TCP segmentation.
        this.anomaly("decode.ip-fragment", "decode", "", "IP fragment not reassembled");
      } else if (r === DecodeResult.UnsupportedLinktype) {
        this.anomaly("decode.unsupported-linktype", "decode", "", `link type ${linktype}`);
      }
    } catch (err) {
      this.anomaly("internal.exception", "decode", "", err instanceof Error ? err.name : "error");
    }
  }

  /** Closes every open connection (end of capture) so incomplete associations are reported. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    try {
      this.reassembler.finish(this.nowMicros);
    } catch (err) {
      this.anomaly("internal.exception", "reassembly", "", err instanceof Error ? err.name : "error");
    }
  }

  /** Periodic housekeeping for live capture: idle teardown by capture time. */
  expire(nowMicros: number): void {
    // Called from the agent's timer, outside packet(): a throw here would end the process.
    try {
      this.reassembler.expire(nowMicros);
    } catch (err) {
      this.anomaly("internal.exception", "reassembly", "", err instanceof Error ? err.name : "error");
    }
  }

  // ── ConnectionFactory ─────────────────────────────────────────────────────────────────────────
  open(info: ConnectionInfo): StreamHandler {
    const dicom = new DicomConnection(info, {
      observations: this,
      anomalies: this,
      counters: this.counters,
      stats: this.dicomStats,
      pdvConsumer: (ctx: DimseContext) => new DimseAssembler(ctx),
      keepMessage: this.keepMessage,
    });
    const tls = new TlsSniffer(info, this, { anomalies: this, counters: this.counters });
    return new ConnectionHandlers(dicom, tls, this.gaps);
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

  // ── AnomalySink ───────────────────────────────────────────────────────────────────────────────
  anomaly(code: string, layer: AnomalyLayer, flow: string, detail: string): void {
    this.anomalyCounter.anomaly(code, layer, flow, detail);
    if (this.downstream !== null) {
      this.downstream.observe({
        kind: "anomaly",
        tsMicros: this.nowMicros,
        code,
        layer,
        flow,
        client: null,
        server: null,
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
    if (this.associationRecords.length >= this.maxReportAssociations) {
      // Not listed: its messages go back to the budget.
      this.listedMessages -= o.record.messages.length;
      if (this.maxReportAssociations > 0)
        this.anomalyCounter.anomaly(
          "report.associations-capped",
          "ul",
          "",
          `more than ${this.maxReportAssociations} associations; the rest are counted, not listed`,
        );
      return;
    }
    this.associationRecords.push(o.record);
  }

  associations(): AssociationRecord[] {
    return this.associationRecords;
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
