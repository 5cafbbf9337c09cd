/**
 * DIMSE message assembly for one direction of one association (PS3.7 §6.3, §9.3 and Annex E; PS3.8
 * §9.3.5.1 and Annex E). The Upper Layer framer hands over PDVs; each carries a message control header
 * whose bit 0 says command (1) or data set (0) and bit 1 says last fragment:
 *
 *   PDV item (PS3.8 §9.3.5.1)                 message control header (PS3.8 Annex E.2)
 *   +---------+----+-----+----------------+   bit 7..2: 0
 *   | length  | pc | mch | value ...      |   bit 1: 1 = last fragment of the command or data set
 *   | 4 bytes | id |     |                |   bit 0: 1 = command information, 0 = data set
 *   +---------+----+-----+----------------+
 *
 * A message is one command set, optionally followed by one data set on the same presentation context
 * (PS3.7 §6.3.1). The command set is small: it is collected (capped) and decoded here. The data set may
 * be hundreds of megabytes: its bytes stream to the DatasetWalker, which reads only the equipment
 * attributes at its head; the rest is counted and passed over, never copied.
 *
 * Events: ctx.events.message(...) is emitted once per message whose command set arrived whole: when the
 * last command fragment is decoded and the command says no data set follows, or else when the last data
 * set fragment has arrived. A message whose data set is cut short (a new command, a reset after a gap or
 * a lost framing, the association aborted or released, the connection closed, reset or gone idle: see
 * PdvReset) is emitted at that point, its record's `dataset` saying how many bytes came and why it
 * stopped: an interrupted transfer is exactly what a security team wants to see (issue 9).
 * ctx.events.equipment(...) follows right after the message event when the walker found any equipment
 * attribute in the data set (also for a cut data set: what was read is valid).
 * The data set of a C-FIND-RQ is its Identifier (PS3.7 §9.1.2.1): the walker counts its keys instead
 * (query mode), and the message event carries that QueryInfo when the Identifier arrived whole.
 */
import type { DatasetStop, DimseMessageRecord } from "../../report/types.js";
import { FlowAnomalies, type AnomalyCode, type AnomalyTally, firstReport } from "../../util/anomaly.js";
import type { DimseContext, EquipmentAttributes, PdvConsumer, PdvReset, QueryInfo } from "../types.js";
import { DatasetWalker } from "../dataset/walker.js";
import { CommandDecoder, type CommandDecodeResult } from "./command.js";

export interface DimseAssemblerLimits {
  /** Bytes of one command set kept; a command set is a few hundred bytes in practice (PS3.7 §E.1). */
  commandCap: number;
}

const DEFAULT_DIMSE_LIMITS: DimseAssemblerLimits = { commandCap: 64 * 1024 };

/** What the current PDV's bytes are used for. */
const M_NONE = 0; // between PDVs
const M_COMMAND = 1; // collecting a command fragment
const M_DATA = 2; // streaming a data set fragment to the walker
const M_DISCARD = 3; // a PDV we cannot use (reported at pdvBegin): its bytes are passed over

export class DimseAssembler implements PdvConsumer {
  private readonly limits: DimseAssemblerLimits;
  private readonly walker: DatasetWalker;

  /** Current PDV. */
  private mode = M_NONE;
  private pdvPcId = 0;
  private pdvIsLast = false;
  private pdvTs = 0;
  private pdvLength = 0;
  private pdvSeen = 0;

  /** Command set being collected (grown on demand up to commandCap). */
  private cmdBuf: Buffer | null = null;
  private cmdLen = 0;
  private cmdActive = false;
  private cmdOverflow = false;
  private cmdPcId = 0;
  /** Set when the whole command arrived in one slice and was decoded in place (no copy). */
  private cmdDecodedInPlace: CommandDecodeResult | null = null;

  /** Message whose data set is awaited or streaming. */
  private pending: DimseMessageRecord | null = null;
  private pendingPcId = 0;
  private pendingTs = 0;
  private datasetStarted = false;
  /** Data set bytes (PDV values) of the pending message so far. */
  private datasetBytes = 0;
  /** The pending message is a C-FIND-RQ: its data set is an Identifier, walked in query mode. */
  private pendingQuery = false;
  /**
   * Bytes were lost (reset after a gap, or an association picked up mid-stream) and no command PDV has
   * come since: data set PDVs without a command are then the tail of a message whose command was lost, a
   * consequence of the capture and not the peer's fault, so they are passed over without an anomaly.
   */
  private afterLoss = false;
  /** Bytes of the first command after a loss still to check for the tag (0000,0000). */
  private checkCommandStart = 0;
  private readonly issues: FlowAnomalies;
  /**
   * The tally of dimse.data-without-command, the anomaly of a flood of data PDVs without a command (one
   * per PDU): kept in a field so a repeat costs one call, with no lookup (issue 9).
   */
  private strayTally: AnomalyTally | null = null;

  constructor(
    private readonly ctx: DimseContext,
    limits: Partial<DimseAssemblerLimits> = {},
    /** The owner's decoder (its intern caches are shared by the owner's assemblers); default a new one. */
    private readonly commands: CommandDecoder = new CommandDecoder(),
  ) {
    this.limits = { ...DEFAULT_DIMSE_LIMITS, ...limits };
    this.walker = new DatasetWalker(ctx.anomalies, ctx.counters);
    this.issues = new FlowAnomalies(ctx.anomalies, "dimse", ctx.connection);
  }

  pdvBegin(pcId: number, isCommand: boolean, isLast: boolean, valueLength: number, tsMicros: number): void {
    this.pdvPcId = pcId;
    this.pdvIsLast = isLast;
    this.pdvTs = tsMicros;
    this.pdvLength = valueLength;
    this.pdvSeen = 0;
    this.cmdDecodedInPlace = null;
    if (isCommand) {
      // After a loss, the first command PDV may be the second half of a command whose start was lost.
      // A command set begins with Command Group Length (0000,0000) (PS3.7 §E.1): the first fragment
      // of a command is checked for it in pdvData, and a tail is passed over silently, like data tails.
      this.checkCommandStart = this.afterLoss && !this.cmdActive ? 4 : 0;
      this.afterLoss = false;
      if (this.pending !== null) {
        // PS3.7 §6.3.1: a data set follows its command set; a new command before the data set ended
        // means fragments were lost or the peer interleaves messages (not allowed within one direction).
        this.anomaly(
          this.datasetStarted ? "dimse.command-inside-dataset" : "dimse.missing-dataset",
          this.datasetStarted
            ? "command PDV before the data set ended"
            : "command PDV where a data set was announced",
        );
        this.finishPending("next-command");
      }
      if (this.cmdActive && pcId !== this.cmdPcId) {
        if (!this.issues.repeat("dimse.pc-id-mismatch"))
          this.anomaly(
            "dimse.pc-id-mismatch",
            `command fragment on context ${pcId}, command began on ${this.cmdPcId}`,
          );
        this.dropCommand();
      }
      if (!this.cmdActive) {
        this.cmdActive = true;
        this.cmdPcId = pcId;
        this.cmdLen = 0;
        this.cmdOverflow = false;
      }
      this.mode = M_COMMAND;
      return;
    }
    if (this.cmdActive) {
      this.anomaly("dimse.data-inside-command", "data set PDV before the last command fragment");
      this.dropCommand();
      this.mode = M_DISCARD;
      return;
    }
    if (this.pending === null) {
      if (!this.afterLoss) {
        if (this.strayTally !== null) this.strayTally.hit();
        else
          this.strayTally = firstReport(
            this.ctx.anomalies,
            "dimse.data-without-command",
            "dimse",
            this.ctx.connection,
            "data set PDV without a preceding command set",
          );
      }
      this.mode = M_DISCARD;
      return;
    }
    if (pcId !== this.pendingPcId) {
      if (!this.issues.repeat("dimse.pc-id-mismatch"))
        this.anomaly(
          "dimse.pc-id-mismatch",
          `data set fragment on context ${pcId}, command on ${this.pendingPcId}`,
        );
      this.mode = M_DISCARD;
      return;
    }
    if (!this.datasetStarted) {
      this.datasetStarted = true;
      this.walker.begin(this.ctx.lookup.transferSyntax(pcId), this.ctx.connection, this.pendingQuery);
    }
    this.mode = M_DATA;
  }

  pdvData(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    const first = this.pdvSeen === 0;
    this.pdvSeen += end - start;
    switch (this.mode) {
      case M_DATA:
        this.datasetBytes += end - start;
        if (!this.walker.finished) this.walker.push(buf, start, end);
        else this.walker.tailSkipped += end - start;
        return;
      case M_COMMAND:
        if (this.checkCommandStart > 0) {
          // The tag (0000,0000) is four zero bytes, however the slices cut them.
          const n = Math.min(this.checkCommandStart, end - start);
          for (let i = 0; i < n; i++) {
            if (buf[start + i] !== 0) {
              this.checkCommandStart = 0;
              this.dropCommand();
              this.afterLoss = true;
              this.mode = M_DISCARD;
              return;
            }
          }
          this.checkCommandStart -= n;
        }
        if (first && this.cmdLen === 0 && this.pdvIsLast && end - start === this.pdvLength) {
          // The whole command set is in one slice (the usual case): decode it in place, no copy.
          this.cmdDecodedInPlace = this.commands.decode(buf, start, end);
          return;
        }
        this.appendCommand(buf, start, end);
        return;
      default:
        return;
    }
  }

  pdvEnd(): void {
    const mode = this.mode;
    this.mode = M_NONE;
    if (mode === M_COMMAND) {
      if (!this.pdvIsLast) return;
      let decoded = this.cmdDecodedInPlace;
      this.cmdDecodedInPlace = null;
      const overflow = this.cmdOverflow;
      const buf = this.cmdBuf;
      const len = this.cmdLen;
      this.cmdActive = false;
      this.cmdLen = 0;
      this.cmdOverflow = false;
      if (overflow) return; // reported when the cap was crossed
      if (decoded === null) decoded = this.commands.decode(buf ?? Buffer.alloc(0), 0, len);
      this.onCommand(decoded);
      return;
    }
    if (mode === M_DATA && this.pdvIsLast) this.finishPending(null);
  }

  strayData(): AnomalyTally | null | undefined {
    // A data PDV now would take the `pending === null` branch of pdvBegin: discarded, and counted unless
    // after a loss. (mode is M_NONE between PDVs, M_DISCARD after a discarded one.)
    if (this.pending !== null || this.cmdActive) return undefined;
    if (this.afterLoss) return null;
    return this.strayTally ?? undefined;
  }

  reset(reason: PdvReset): void {
    // The command set of a pending message was complete, so the message is still reported, with why its
    // data set stopped. ("mid-stream" comes first on a fresh consumer, with nothing pending.)
    if (this.pending !== null) this.finishPending(reason === "mid-stream" ? "gap" : reason);
    this.dropCommand();
    this.mode = M_NONE;
    this.cmdDecodedInPlace = null;
    this.afterLoss = true;
  }

  private appendCommand(buf: Buffer, start: number, end: number): void {
    if (this.cmdOverflow) return;
    const n = end - start;
    const need = this.cmdLen + n;
    if (need > this.limits.commandCap) {
      this.cmdOverflow = true;
      this.anomaly("dimse.command-too-large", `command set longer than ${this.limits.commandCap} bytes`);
      return;
    }
    let b = this.cmdBuf;
    if (b === null || b.length < need) {
      let size = b === null ? 512 : b.length;
      while (size < need) size *= 2;
      const grown = Buffer.alloc(Math.min(size, this.limits.commandCap));
      if (b !== null && this.cmdLen > 0) b.copy(grown, 0, 0, this.cmdLen);
      b = grown;
      this.cmdBuf = b;
    }
    buf.copy(b, this.cmdLen, start, end);
    this.counters.bytesCopied += n;
    this.cmdLen = need;
  }

  private get counters(): DimseContext["counters"] {
    return this.ctx.counters;
  }

  private dropCommand(): void {
    this.cmdActive = false;
    this.cmdLen = 0;
    this.cmdOverflow = false;
  }

  private onCommand(d: CommandDecodeResult): void {
    if (d.anomaly !== null) this.anomaly(d.anomaly, d.anomalyDetail);
    // PS3.5 §9.1: the UIDs of a command set are validated as the association's are (ul/pdu.ts decodeUid),
    // under the same code; the record keeps their sanitised text.
    if (d.invalidUid !== null) this.anomaly("ul.uid-invalid", d.invalidUid);
    const rec = d.record;
    if (rec === null) return;
    if (d.unknownCommandField) this.anomaly("dimse.unknown-command-field", `command field ${rec.command}`);
    if (d.dataSetType === null) {
      this.anomaly("dimse.missing-data-set-type", "no Command Data Set Type (0000,0800)");
    }
    const hasDataset = d.dataSetType !== null && d.dataSetType !== NO_DATA_SET;
    if (!hasDataset) {
      this.ctx.events.message(rec, this.cmdPcId, false, this.pdvTs);
      return;
    }
    this.pending = rec;
    this.pendingQuery = rec.command === "C-FIND-RQ";
    this.pendingPcId = this.cmdPcId;
    this.pendingTs = this.pdvTs;
    this.datasetStarted = false;
    this.datasetBytes = 0;
  }

  /**
   * Emit the pending message (and any equipment found): complete when its last data fragment came
   * (`stopped` null), else stopped short for that reason.
   */
  private finishPending(stopped: DatasetStop | null): void {
    const rec = this.pending;
    if (rec === null) return;
    this.pending = null;
    const complete = stopped === null;
    rec.dataset = { complete, bytes: this.datasetBytes, stopped };
    let attrs: EquipmentAttributes | null = null;
    let query: QueryInfo | null = null;
    if (this.datasetStarted) {
      attrs = complete ? this.walker.end() : this.walker.abandon();
      if (this.pendingQuery && complete) query = this.walker.queryInfo();
    }
    this.datasetStarted = false;
    const pcId = this.pendingPcId;
    this.ctx.events.message(rec, pcId, true, this.pendingTs, query);
    if (attrs !== null) this.ctx.events.equipment(attrs, rec, pcId, complete ? this.pdvTs : this.pendingTs);
  }

  private anomaly(code: AnomalyCode, detail: string): void {
    this.issues.report(code, detail);
  }
}

/** Command Data Set Type value meaning "no data set" (PS3.7 §E.1, Table E.1-1). */
const NO_DATA_SET = 0x0101;
