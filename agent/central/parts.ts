/**
 * The store-side parts of `dicomtap central` (run.ts's PartsFactory): the central store and the ingest
 * that follows the sensors through the broker (agent/central/store.ts and ingest.ts, built beside the
 * HTTP side on the central-data branch). This is the one place that joins the two halves, so that
 * merging them touches only this file.
 *
 * Until store.ts and ingest.ts are merged into this build, `dicomtap central` refuses to start with a
 * sentence saying so (exit 1) rather than serve a console that would never learn anything new; the
 * user and token commands work already.
 */
import type { CentralConfig } from "../config/types.js";
import type { CentralParts } from "./run.js";

export function centralParts(config: CentralConfig): CentralParts {
  throw new Error(
    `central: this build has no ingest (agent/central/ingest.ts); cannot follow ${config.broker.url}`,
  );
}
