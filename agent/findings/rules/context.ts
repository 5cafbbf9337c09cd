/** What a rule module gets from the findings engine: the config, device ids, and the finding store. */
import type { Config } from "../../config/types.js";
import type { Hit } from "../engine.js";

export interface RuleContext {
  readonly config: Config;
  /** The inventory's device id of an endpoint (the same id either way round with the inventory). */
  id(ep: { ip: string; mac: string | null }): string;
  /** Raises a finding, or folds the hit into the finding of the same (rule, device, peer, key). */
  hit(h: Hit): void;
}

/** Keys a rule tracks (sources, services, AE titles): peer-controlled, so capped (oldest forgotten). */
export const MAX_TRACKED = 4096;
/** Items listed in one finding's evidence. */
export const MAX_LIST = 32;

/** "a.b.c.d:p" or "[v6]:p". */
export function hostPort(ep: { ip: string; port: number }): string {
  return ep.ip.includes(":") ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}
