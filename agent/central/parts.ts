/**
 * The store-side parts of `dicomtap central` (run.ts's PartsFactory), made from the config: the central
 * store (agent/central/store.ts), the ingest that follows every sensor through the broker with the console
 * certificate (ingest.ts), and the lifecycle timer (lifecycle.ts). The one place that joins the store's
 * half of the service to the HTTP half.
 */
import type { CentralConfig } from "../config/types.js";
import { openCentralStore } from "./http/db.js";
import { Ingest } from "./ingest.js";
import { Lifecycle } from "./lifecycle.js";
import type { CentralParts } from "./run.js";

export function centralParts(config: CentralConfig, log: (line: string) => void): CentralParts {
  const c = config.central;
  const store = openCentralStore(c.store.path, {
    maxBytes: c.store.maxBytes,
    retention: c.retention,
    internal: config.networks.internal,
  });
  // Both log structured lines (counts, topics, errors; never a payload): kept as they are, one per line.
  const structured =
    (component: string) =>
    (event: string, detail: Record<string, unknown>): void =>
      log(JSON.stringify({ component, event, ...detail }));
  try {
    const ingest = new Ingest({
      store,
      broker: config.broker,
      shareGroup: c.shareGroup,
      clientId: c.clientId,
      log: structured("central-ingest"),
    });
    const lifecycle = new Lifecycle(store, { log: structured("central-lifecycle") });
    return {
      db: store.db,
      parts: [
        ["ingest", ingest],
        ["lifecycle", lifecycle],
      ],
      close: () => store.close(),
    };
  } catch (err) {
    store.close();
    throw err;
  }
}
