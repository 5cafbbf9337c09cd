/**
 * Anomalies: malformed input is data, not an exception (DESIGN.md §6, principle 4).
 * Every decoder reports a stable code and the layer that saw it; the pipeline counts them per flow.
 * The codes are those of the catalogue (anomaly-catalogue.ts): AnomalyCode is its keys, so a code that is
 * not catalogued does not compile.
 *
 * Every anomaly carries the connection it was seen on, from where it was detected (issue 10): the
 * reporter passes its ConnectionInfo (or any AnomalyFlow: the flow string as util/flow.ts's formatFlow
 * spells it, and the client and server endpoints), or null for a file-level anomaly. Nothing downstream
 * parses flow strings back.
 *
 * Hostile input repeats one anomaly millions of times on one flow (a flood of tiny P-DATA-TF PDUs is one
 * `dimse.data-without-command` per PDU), so a repeat must cost no more than an integer increment: a
 * decoder keeps the AnomalyTally its first report returned and calls hit() for every repeat, with no
 * string built, no key made and no map consulted (issue 9).
 */
import type { AnomalyCode, AnomalyLayer } from "./anomaly-catalogue.js";
import type { FlowEndpoint } from "./flow.js";

export type { AnomalyCode, AnomalyLayer } from "./anomaly-catalogue.js";

/** An endpoint of an anomaly's connection; a ConnectionInfo's also has the MAC the link layer carried. */
export interface AnomalyEndpoint extends FlowEndpoint {
  readonly mac?: string | null;
}

/**
 * The connection an anomaly was seen on. ConnectionInfo is one; `flow` is formatFlow(client, server)
 * (IPv6 in brackets, client first where known), the key of the report's rows.
 */
export interface AnomalyFlow {
  readonly flow: string;
  readonly client: AnomalyEndpoint;
  readonly server: AnomalyEndpoint;
}

/**
 * A handle on one (code, flow) already reported: hit() reports it once more, hit(n) n times more. O(1)
 * and allocation-free for the sinks that count (AnomalyCounter); a forwarding handle repeats the call.
 */
export interface AnomalyTally {
  hit(times?: number): void;
}

export interface AnomalySink {
  /**
   * Report one anomaly. `at` is the connection it was seen on, or null for a file-level one (a capture
   * file's, a frame's that decodes to no flow). `detail` is short, human-readable and must never carry
   * dataset values (no patient data).
   */
  anomaly(code: AnomalyCode, layer: AnomalyLayer, at: AnomalyFlow | null, detail: string): void;
  /**
   * Optional fast path: report one anomaly as anomaly() does, and return the handle that reports the same
   * (code, layer, flow) again. Sinks without it get a forwarding handle from firstReport().
   */
  tally?(code: AnomalyCode, layer: AnomalyLayer, at: AnomalyFlow | null, detail: string): AnomalyTally;
}

/** A repeat through a sink that has no tally(): the same call again, with the detail built the first time. */
class ForwardingTally implements AnomalyTally {
  constructor(
    private readonly sink: AnomalySink,
    private readonly code: AnomalyCode,
    private readonly layer: AnomalyLayer,
    private readonly at: AnomalyFlow | null,
    private readonly detail: string,
  ) {}

  hit(times = 1): void {
    for (let i = 0; i < times; i++) this.sink.anomaly(this.code, this.layer, this.at, this.detail);
  }
}

/** Reports the first occurrence of (code, layer, flow) to `sink` and returns the handle for its repeats. */
export function firstReport(
  sink: AnomalySink,
  code: AnomalyCode,
  layer: AnomalyLayer,
  at: AnomalyFlow | null,
  detail: string,
): AnomalyTally {
  if (sink.tally !== undefined) return sink.tally(code, layer, at, detail);
  sink.anomaly(code, layer, at, detail);
  return new ForwardingTally(sink, code, layer, at, detail);
}

/**
 * The anomalies of one reporter (a connection, one direction of an association) on one flow and layer,
 * each code's detail built only for its first occurrence:
 *
 *   if (!t.repeat(code)) t.report(code, `detail with ${values}`);
 *
 * The map holds one entry per distinct code (a few dozen at most), made on the first anomaly only.
 */
export class FlowAnomalies {
  private tallies: Map<AnomalyCode, AnomalyTally> | null = null;

  constructor(
    private readonly sink: AnomalySink,
    private readonly layer: AnomalyLayer,
    private readonly at: AnomalyFlow | null,
  ) {}

  /** True (and counted, `times` times) when `code` was reported here before: build no detail for it. */
  repeat(code: AnomalyCode, times = 1): boolean {
    const t = this.tallies?.get(code);
    if (t === undefined) return false;
    t.hit(times);
    return true;
  }

  /** Report `code`: a repeat is counted, a first occurrence goes to the sink with its detail. */
  report(code: AnomalyCode, detail: string): void {
    if (this.repeat(code)) return;
    (this.tallies ??= new Map()).set(code, firstReport(this.sink, code, this.layer, this.at, detail));
  }
}

/**
 * One aggregated row of the report's `anomalies` array (DESIGN.md §3). `client` and `server` (issue 10)
 * are the endpoints of `flow`, null with it "" for a file-level anomaly.
 */
export interface AnomalyRecord {
  code: AnomalyCode;
  flow: string;
  layer: AnomalyLayer;
  detail: string;
  count: number;
  client: FlowEndpoint | null;
  server: FlowEndpoint | null;
}

/** A row of AnomalyCounter, and the tally of its repeats. */
class Row implements AnomalyTally {
  count = 1;

  constructor(
    private readonly owner: AnomalyCounter,
    readonly code: AnomalyCode,
    readonly at: AnomalyFlow | null,
    readonly layer: AnomalyLayer,
    readonly detail: string,
  ) {}

  hit(times = 1): void {
    this.count += times;
    this.owner.total += times;
  }
}

const OVERFLOW_CODE: AnomalyCode = "anomaly-rows-capped";

/**
 * Aggregates anomalies by (code, flow) with a cap on distinct rows, so hostile input cannot grow memory.
 * Rows are found by flow, then by code: both strings are the reporters' own (a connection's flow string,
 * a code literal), whose hashes V8 keeps, so a lookup makes no key string.
 */
export class AnomalyCounter implements AnomalySink {
  private readonly byFlow = new Map<string, Map<AnomalyCode, Row>>();
  /** Rows in order of first occurrence (the report lists them so). */
  private readonly rows: Row[] = [];
  private overflow: Row | null = null;
  /** Total anomalies seen, including those folded into the overflow row. */
  total = 0;

  constructor(private readonly maxRows = 10_000) {}

  anomaly(code: AnomalyCode, layer: AnomalyLayer, at: AnomalyFlow | null, detail: string): void {
    this.tally(code, layer, at, detail);
  }

  tally(code: AnomalyCode, layer: AnomalyLayer, at: AnomalyFlow | null, detail: string): AnomalyTally {
    const flow = at === null ? "" : at.flow;
    let codes = this.byFlow.get(flow);
    const row = codes?.get(code);
    if (row !== undefined) {
      row.hit();
      return row;
    }
    if (this.rows.length >= this.maxRows) {
      const over = this.overflowRow(layer);
      over.hit();
      return over;
    }
    this.total++;
    const made = new Row(this, code, at, layer, detail);
    if (codes === undefined) {
      codes = new Map();
      this.byFlow.set(flow, codes);
    }
    codes.set(code, made);
    this.rows.push(made);
    return made;
  }

  /**
   * The tally of a (code, flow) already reported here, without counting: for a sink that reports the
   * first occurrence through anomaly() (counted, and observed downstream) and hands out this counter for
   * the repeats. A (code, flow) that was folded into the overflow row gets the overflow row's tally.
   */
  repeats(code: AnomalyCode, at: AnomalyFlow | null): AnomalyTally {
    return this.byFlow.get(at === null ? "" : at.flow)?.get(code) ?? this.overflowRow("ul");
  }

  /** The row that counts what the cap on distinct rows turned away (made with count 0). */
  private overflowRow(layer: AnomalyLayer): Row {
    if (this.overflow === null) {
      this.overflow = new Row(
        this,
        OVERFLOW_CODE,
        null,
        layer,
        `more than ${this.maxRows} distinct anomaly rows; the rest are counted here`,
      );
      this.overflow.count = 0;
      this.rows.push(this.overflow);
    }
    return this.overflow;
  }

  records(): AnomalyRecord[] {
    return this.rows.map((r) => ({
      code: r.code,
      flow: r.at === null ? "" : r.at.flow,
      layer: r.layer,
      detail: r.detail,
      count: r.count,
      // Copies of the endpoints without what else the reporter's object holds (a ConnectionInfo's MACs).
      client: r.at === null ? null : { ip: r.at.client.ip, port: r.at.client.port },
      server: r.at === null ? null : { ip: r.at.server.ip, port: r.at.server.port },
    }));
  }
}

/** Counters shared by all stages of one pipeline; plain numbers so hot paths stay cheap. */
export interface Counters {
  /** Bytes copied out of capture buffers (straddling headers, held out-of-order data, dataset heads). */
  bytesCopied: number;
  /**
   * Bytes that association PDUs straddling TCP segments may still hold, across all connections of the
   * run (undefined: no shared limit). Each connection's own cap bounds one PDU; this bounds their sum, so
   * thousands of connections each trickling a large A-ASSOCIATE-RQ cannot exhaust memory.
   */
  collectBudget?: number;
}
