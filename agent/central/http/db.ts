/**
 * The central store's database as the HTTP side and the `dicomtap central user|token` commands see it: the
 * better-sqlite3 connection of a CentralStore (agent/central/store.ts), which owns the pragmas and the
 * migrations. One opener for every reader, so a database is always created the store's way (auto_vacuum
 * chosen before the first table, WAL, every migration) whoever opens it first.
 */
import type Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { defaultCentral } from "../../config/config.js";
import { CentralStore, type CentralStoreOptions } from "../store.js";

export type Db = Database.Database;

/**
 * Opens (creating its folder and file if needed) the store at `path`. The options matter only to the
 * write side (retention, size cap, internal networks); the defaults of the config fill what is not given.
 */
export function openCentralStore(path: string, opts: Partial<CentralStoreOptions> = {}): CentralStore {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const d = defaultCentral();
  return CentralStore.open(path, { maxBytes: d.store.maxBytes, retention: d.retention, ...opts });
}
