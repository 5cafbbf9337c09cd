/**
 * Anomalies: malformed input is data, not an exception (DESIGN.md §6, principle 4).
 * Every decoder reports a stable code and the layer that saw it; the pipeline counts them per flow.
 */

/** The layer that noticed an anomaly, as named in the JSON report. */
export type AnomalyLayer = "capture" | "decode" | "reassembly" | "tls" | "ul" | "dimse" | "dataset";

export interface AnomalySink {
  /**
   * Report one anomaly. `flow` is "IP:PORT-IP:PORT" (client first where known) or "" for file-level ones.
   * `detail` is short, human-readable and must never carry dataset values (no patient data).
   */
  anomaly(code: string, layer: AnomalyLayer, flow: string, detail: string): void;
}

/** One aggregated row of the report's `anomalies` array (DESIGN.md §3). */
export interface AnomalyRecord {
  code: string;
  flow: string;
  layer: AnomalyLayer;
  detail: string;
  count: number;
}

/** Aggregates anomalies by (code, flow) with a cap on distinct rows, so hostile input cannot grow memory. */
export class AnomalyCounter implements AnomalySink {
  private readonly rows = new Map<string, AnomalyRecord>();
  /** Total anomalies seen, including those folded into the overflow row. */
  total = 0;

  constructor(private readonly maxRows = 10_000) {}

  anomaly(code: string, layer: AnomalyLayer, flow: string, detail: string): void {
    this.total++;
    const key = code + "\u0000" + flow;
    const row = this.rows.get(key);
    if (row) {
      row.count++;
      return;
    }
    if (this.rows.size >= this.maxRows) {
      const overflowKey = "anomaly-rows-capped\u0000";
      const over = this.rows.get(overflowKey);
      if (over) over.count++;
      else
        this.rows.set(overflowKey, {
          code: "anomaly-rows-capped",
          flow: "",
          layer,
          detail: `more than ${this.maxRows} distinct anomaly rows; the rest are counted here`,
          count: 1,
        });
      return;
    }
    this.rows.set(key, { code, flow, layer, detail, count: 1 });
  }

  records(): AnomalyRecord[] {
    return [...this.rows.values()];
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
