/**
 * Finding severities (the report's FindingRecord.severity), defined once: the type, their order from the
 * worst down (how reports, summaries and consoles list findings), and a comparison for "worse than".
 */
import type { FindingRecord } from "../report/types.js";

export type Severity = FindingRecord["severity"];

/** Worst first: the order findings are listed in. */
export const SEVERITIES: readonly Severity[] = ["critical", "high", "medium", "low", "info"];

const RANK: Readonly<Record<Severity, number>> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** The rank of a severity, info 0 up to critical 4; higher is worse. */
export function severityRank(s: Severity): number {
  return RANK[s];
}

/** > 0 when `a` is worse than `b`, < 0 when milder, 0 when equal. */
export function compareSeverity(a: Severity, b: Severity): number {
  return RANK[a] - RANK[b];
}
