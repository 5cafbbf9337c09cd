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
  const learning: Config = {
    ...config,
    policy: { ...config.policy, learning: { ...config.policy.learning, days: 366 } },
  };
  const result = await analyzeFiles(files, { config: learning });
  const baseline = result.baseline ?? null;
  // The engine has a baseline rule whenever learning.days > 0, which `learning` guarantees.
  if (baseline === null) throw new Error("the findings engine kept no baseline");
  return {
    baseline,
    devices: result.report.devices,
    findings: result.report.findings,
    files: result.files,
  };
}

/**
 * Reads the baseline the agent keeps in its store (migration 5), with the devices and findings stored beside
 * it. The store is opened as the agent opens it (WAL: a running agent keeps writing meanwhile); a stored
 * document that is not valid is refused with the reasons, as an imported one would be.
 */
export type StoredEvidenceReader = (storePath: string, config: Config) => Promise<PlanEvidence>;

export const readStoredEvidence: StoredEvidenceReader = async (storePath, config) => {
  const { existsSync } = await import("node:fs");
  if (!existsSync(storePath)) throw new Error(`${storePath}: no such store`);
  const { Store } = await import("../store/store.js");
  const { validateBaseline, BaselineError } = await import("../baseline/validate.js");
  const store = new Store({
    path: storePath,
    maxBytes: config.store.maxBytes,
    site: config.sensor.site,
    sensor: config.sensor.id,
  });
  try {
    const stored = store.baseline();
    if (stored === null)
      throw new Error(
        `${storePath}: the store holds no baseline yet (the agent saves it every few minutes while it runs)`,
      );
    let baseline: BaselineDocument;
    try {
      baseline = validateBaseline(stored.document);
    } catch (e) {
      if (!(e instanceof BaselineError)) throw e;
      throw new Error(`${storePath}: the stored baseline is not valid:\n  ${e.problems.join("\n  ")}`);
    }
    return { baseline, devices: store.devices(), findings: store.findings() };
  } finally {
    store.close();
  }
};
