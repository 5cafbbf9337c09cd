/**
 * The baseline document (types.ts) of a findings engine's baseline rule: its learnt tables under a head that
 * says whose it is, where it stands and for which internal networks.
 */
import type { Config } from "../config/types.js";
import type { BaselineRule } from "../findings/rules/baseline.js";
import { isoFromMicros as iso } from "../util/time.js";
import type { BaselineDocument, BaselineStatus } from "./types.js";

export function baselineDocument(
  rule: BaselineRule,
  config: Config,
  status: BaselineStatus = rule.status,
  approved: BaselineDocument["approved"] = status === "approved" ? rule.approved : null,
): BaselineDocument {
  const end = rule.windowEnd();
  return {
    version: 1,
    site: config.sensor.site,
    sensor: config.sensor.id,
    status,
    window: {
      start: rule.windowStart === 0 ? null : iso(rule.windowStart),
      end: end === null || status === "learning" ? null : iso(end),
      days: config.policy.learning.days,
    },
    approved,
    internal: [...config.networks.internal],
    ...rule.learner.tables(),
  };
}
