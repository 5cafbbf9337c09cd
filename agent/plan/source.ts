/**
 * Where a plan's baseline comes from (issue 13: "from the agent's store, or from captures the way `analyze`
 * reads them"). From captures, the whole pipeline runs and the whole capture is learned: the learning window
 * is stretched to its maximum (policy.learning.days 366) whatever the config says, since a capture handed to
 * `plan` is the evidence, not the first days of it.
 */
import type { BaselineDocument } from "../baseline/types.js";
import type { Config } from "../config/types.js";
import type { FileResult } from "../pipeline/analyze.js";
import type { DeviceRecord, FindingRecord } from "../report/types.js";

export interface PlanEvidence {
  baseline: BaselineDocument;
  devices: DeviceRecord[];
  findings: FindingRecord[];
}

export async function evidenceFromCaptures(
  files: string[],
  config: Config,
): Promise<PlanEvidence & { files: FileResult[] }> {
  const { analyzeFiles } = await import("../pipeline/analyze.js");
  const { baselineDocument } = await import("../baseline/document.js");
  const learning: Config = {
    ...config,
    policy: { ...config.policy, learning: { ...config.policy.learning, days: 366 } },
  };
  const result = await analyzeFiles(files, { config: learning });
  const rule = result.analysis.findings.baseline;
  // The engine has a baseline rule whenever learning.days > 0, which `learning` guarantees.
  if (rule === null) throw new Error("the findings engine kept no baseline");
  return {
    baseline: baselineDocument(rule, learning),
    devices: result.report.devices,
    findings: result.report.findings,
    files: result.files,
  };
}

/**
 * Reads the baseline the agent keeps in its store. The store's baseline table is issue 13's baseline work
 * (agent/store/store.ts); until the store offers it, this says so instead of guessing at a schema.
 */
export type StoredEvidenceReader = (storePath: string, config: Config) => Promise<PlanEvidence>;

export const readStoredEvidence: StoredEvidenceReader = async (storePath) => {
  const { existsSync } = await import("node:fs");
  if (!existsSync(storePath)) throw new Error(`${storePath}: no such store`);
  throw new Error(
    `${storePath}: this store keeps no baseline yet (the baseline table arrives with the agent's baseline store); make the plan from captures instead`,
  );
};
