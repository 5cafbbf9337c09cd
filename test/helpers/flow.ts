import type { AnomalyFlow } from "../../agent/util/anomaly.js";
import { parseFlow } from "../../agent/util/flow.js";

/** The AnomalyFlow of a flow string as formatFlow spells it (the tests' stand-in for a ConnectionInfo). */
export function at(flow: string): AnomalyFlow {
  const eps = parseFlow(flow);
  if (eps === null) throw new Error(`not a flow: ${flow}`);
  return { flow, ...eps };
}
