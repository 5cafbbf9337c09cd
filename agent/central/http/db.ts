/**
 * Opens the central store's database for the HTTP side and the `dicomtap central user|token` commands:
 * better-sqlite3 with the pragmas of the central store (WAL, NORMAL sync, foreign keys, busy timeout) and
 * the schema's migrations (agent/central/schema.ts) applied by `PRAGMA user_version`.
 *
 * Why here: the HTTP part only needs a Database handle; the full CentralStore (retention, size cap, write
 * API of ingest) is built beside it. Both run the same MIGRATIONS list the same way, so either may create
 * the file first; a database newer than this build knows is refused rather than misread.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { MIGRATIONS } from "../schema.js";

export type Db = Database.Database;

/** Opens (creating if needed) the store at `path`, migrated to the latest schema version. */
export function openCentralDb(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Applies the migrations the database has not had yet, each in its own transaction. */
export function migrate(db: Db): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > MIGRATIONS.length)
    throw new Error(
      `the central store is at schema version ${version}, newer than this dicomtap knows (${MIGRATIONS.length})`,
    );
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
