/**
 * `dicomtap central --config FILE` in the foreground (issue 12): builds the service from the config —
 * store, ingest, maintenance timer, HTTP(S) server — starts it, tells systemd it is ready
 * (systemd/dicomtap-central.service, Type=notify, like the sensor's unit) and stops it cleanly on SIGINT
 * or SIGTERM. What the store and the ingest are comes from `parts`, so this file does not change when
 * their constructors do.
 */
import { readFileSync } from "node:fs";
import { SystemdNotifier } from "../agent/sdnotify.js";
import type { CentralConfig } from "../config/types.js";
import { defaultWebRoots } from "./cli.js";
import type { Db } from "./http/db.js";
import { CentralHttp } from "./http/server.js";
import { CentralService, type ServicePart } from "./service.js";
import { signalled } from "../util/signals.js";

/** The store-side parts of the service, made from the config: the store's database, ingest and lifecycle. */
export interface CentralParts {
  db: Db;
  /** Started in order before HTTP (see CentralService). */
  parts: ReadonlyArray<readonly [string, ServicePart]>;
  /** Releases what the parts hold (closes the store) after the service stopped. */
  close(): void;
}

export type PartsFactory = (
  config: CentralConfig,
  log: (line: string) => void,
) => Promise<CentralParts> | CentralParts;

export interface RunCentralOptions {
  /** Resolves when the service should stop; default: SIGINT or SIGTERM. */
  until?: Promise<void>;
  log?: (line: string) => void;
  webRoots?: readonly string[];
}

export async function runCentral(
  config: CentralConfig,
  parts: PartsFactory,
  opts: RunCentralOptions = {},
): Promise<number> {
  const log = opts.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const c = config.central;
  const tls = c.tls === null ? null : { cert: readFileSync(c.tls.cert), key: readFileSync(c.tls.key) };
  const p = await parts(config, log);
  let service: CentralService | null = null;
  try {
    const http = new CentralHttp({
      db: p.db,
      listen: c.listen,
      tls,
      webRoots: opts.webRoots ?? defaultWebRoots(),
      status: () => service?.health() ?? null,
      log,
    });
    service = new CentralService({ http, parts: p.parts });
    await service.start();
    const { url } = http.address();
    log(`dicomtap central: serving ${url}, store ${c.store.path}, following ${config.broker.url}`);
    const notifier = new SystemdNotifier();
    notifier.ready(`serving ${url}`);
    notifier.startWatchdog();
    try {
      await (opts.until ?? signalled());
    } finally {
      notifier.stopping();
      await service.stop();
      await notifier.close();
    }
    return 0;
  } finally {
    p.close();
  }
}
