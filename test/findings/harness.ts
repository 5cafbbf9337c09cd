/** A findings engine with its inventory, fed observations as the pipeline would, for the rule tests. */
import { defaultConfig, validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import type { AssociationObservation, Observation } from "../../agent/observations/types.js";
import type { FindingRecord } from "../../agent/report/types.js";
import { at } from "../inventory/build.js";

const RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export class Harness {
  readonly inventory: Inventory;
  readonly engine: FindingsEngine;
  /** [rule, "new" | "changed", severity] per announcement. */
  readonly changes: [string, string, string][] = [];
  constructor(config: Config = defaultConfig()) {
    this.inventory = new Inventory(config);
    this.engine = new FindingsEngine(config, this.inventory);
    this.engine.onChange = (f, change) => this.changes.push([f.rule, change, f.severity]);
  }
  feed(...obs: Observation[]): this {
    for (const o of obs) {
      this.inventory.observe(o);
      this.engine.observe(o);
    }
    return this;
  }
  finish(ts = at(10_000)): FindingRecord[] {
    this.engine.finish(ts);
    return this.engine.findings();
  }
  rule(rule: string): FindingRecord[] {
    return this.engine.findings().filter((f) => f.rule === rule);
  }
  /** The findings, once settled, above `severity` (but those of the rules in `except`). */
  above(severity: keyof typeof RANK, except: string[] = []): FindingRecord[] {
    return this.finish().filter((f) => RANK[f.severity] > RANK[severity] && !except.includes(f.rule));
  }
  announced(rule: string): string[] {
    return this.changes.filter(([r]) => r === rule).map(([, c, s]) => `${c}:${s}`);
  }
}

/** A config with a policy (sensor named, as validateConfig requires). */
export function withPolicy(policy: Record<string, unknown>): Config {
  return validateConfig({ sensor: { id: "s", site: "x" }, policy });
}

/** The association with some record fields replaced (reject reason, release, how it ended, ...). */
export function patch(o: AssociationObservation, p: Record<string, unknown>): AssociationObservation {
  return { ...o, record: { ...o.record, ...p } as AssociationObservation["record"] };
}

/**
 * Accepted and then ended by the transport with nothing sent: what nmap's dicom-ping leaves behind.
 * `reason` null leaves transportEnd out (records made before it existed).
 */
export function silent(
  o: AssociationObservation,
  reason: "fin" | "rst" | "idle" | "end-of-capture" | "evicted" | null = "fin",
): AssociationObservation {
  return patch(o, {
    outcome: reason === null ? "accepted" : "incomplete",
    released: false,
    messages: [],
    ...(reason === null ? {} : { transportEnd: { reason, side: "requestor" } }),
  });
}

/** Rejected by the service-user (source 1) with a PS3.8 §9.3.4 reason (7: called AE, 3: calling AE). */
export function refused(o: AssociationObservation, reason: number): AssociationObservation {
  return patch(o, { outcome: "rejected", reject: { result: 1, source: 1, reason }, acceptor: null });
}
