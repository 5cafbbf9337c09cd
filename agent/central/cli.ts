/**
 * `dicomtap central` on the command line (issue 12): the service in the foreground, and the management
 * of its users and API tokens, which work on the store file directly (the service need not run):
 *
 *   dicomtap central [--config FILE]
 *   dicomtap central user add NAME --role ROLE [--config FILE]     password read from standard input
 *   dicomtap central user list|remove NAME [--config FILE]
 *   dicomtap central token add NAME --role ROLE [--config FILE]    the token alone on the last line
 *   dicomtap central token list|revoke PK|NAME [--config FILE]
 *
 * Passwords are read from standard input (never an argument: argv is visible to every local user in
 * /proc), and a token is printed once, alone on the last line, so `| tail -n 1` captures it.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readSync } from "node:fs";
import { ArgWalker } from "../cli/args.js";
import { loadCentralConfig } from "../config/config.js";
import type { CentralConfig } from "../config/types.js";
import type { CentralStore } from "./store.js";
import { installPath, outputRoot } from "../util/root.js";
import { join } from "node:path";
import {
  AuthError,
  ROLES,
  addToken,
  addUser,
  checkPassword,
  isRole,
  listTokens,
  listUsers,
  removeUser,
  revokeToken,
  type Role,
} from "./auth.js";
import { openCentralStore, type Db } from "./http/db.js";

/** Where `dicomtap central` reads its configuration unless --config says otherwise. */
export const DEFAULT_CENTRAL_CONFIG = "/etc/dicomtap/central.json";

type UsageFn = (message: string) => Error;

interface Parsed {
  words: string[];
  config: string;
  role: string | null;
}

function parse(argv: string[], usage: UsageFn): Parsed {
  const p: Parsed = { words: [], config: DEFAULT_CENTRAL_CONFIG, role: null };
  const w = new ArgWalker(argv, usage);
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--config") p.config = w.value(a);
    else if (a.startsWith("--config=")) p.config = a.slice(9);
    else if (a === "--role") p.role = w.value(a);
    else if (a.startsWith("--role=")) p.role = a.slice(7);
    else if (a === "--") p.words.push(...w.rest());
    else if (a.startsWith("-")) throw usage(`unknown option ${a}`);
    else p.words.push(a);
  }
  return p;
}

/** The store of a config file, opened for a management command. */
function openStore(configPath: string): CentralStore {
  const { central, networks } = loadCentralConfig(configPath);
  return openCentralStore(central.store.path, {
    maxBytes: central.store.maxBytes,
    retention: central.retention,
    internal: networks.internal,
  });
}

function role(p: Parsed, usage: UsageFn): Role {
  if (p.role === null) throw usage("--role is required (viewer, analyst or admin)");
  if (!isRole(p.role)) throw usage(`--role must be one of ${ROLES.join(", ")}`);
  return p.role;
}

/**
 * The password on standard input: its first line, without the line end. At a terminal it asks for it on
 * standard error and turns the terminal's echo off while it is typed (else the command seemed to hang,
 * waiting for end of input, with the password shown on the screen).
 */
function readPassword(): string {
  if (!process.stdin.isTTY) {
    const input = readFileSync(0, "utf8");
    return input.replace(/\r?\n[\s\S]*$/, "");
  }
  process.stderr.write("password (at least 12 characters, not shown): ");
  const stty = (arg: string): void =>
    void spawnSync("stty", [arg], { stdio: ["inherit", "ignore", "ignore"] });
  stty("-echo");
  try {
    const bytes: number[] = [];
    const one = Buffer.alloc(1);
    for (;;) {
      let n: number;
      try {
        n = readSync(0, one, 0, 1, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
        throw e;
      }
      if (n === 0 || one[0] === 0x0a || one[0] === 0x0d) break;
      bytes.push(one[0]!);
    }
    return Buffer.from(bytes).toString("utf8");
  } finally {
    stty("echo");
    process.stderr.write("\n");
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

/**
 * Runs `dicomtap central ...`. `runService` starts the foreground service (agent/central/run.ts) with the
 * loaded config; the management commands need only the store.
 */
export async function centralCommand(
  argv: string[],
  usage: UsageFn,
  runService: (config: CentralConfig) => Promise<number>,
): Promise<number> {
  const p = parse(argv, usage);
  const [group, verb, target, ...extra] = p.words;
  if (group === undefined) {
    if (p.role !== null) throw usage("--role belongs to user add and token add");
    return runService(loadCentralConfig(p.config));
  }
  if (extra.length > 0) throw usage(`unexpected ${extra.join(" ")}`);
  if (group !== "user" && group !== "token") throw usage(`unknown central command ${group}`);
  if (verb === undefined)
    throw usage(`central ${group} needs add, list, ${group === "user" ? "remove" : "revoke"}`);
  const needsTarget = verb !== "list";
  if (needsTarget && target === undefined) throw usage(`central ${group} ${verb} needs a name`);
  if (!needsTarget && target !== undefined) throw usage(`central ${group} list takes no name`);
  if (verb !== "add" && p.role !== null) throw usage(`--role belongs to ${group} add`);

  if (group === "user") {
    if (verb === "add") {
      const r = role(p, usage);
      const password = readPassword();
      const bad = checkPassword(password);
      if (bad !== null) {
        process.stderr.write(`dicomtap: central: the password (standard input) ${bad}\n`);
        return 1;
      }
      return withStore(p.config, async (db) => {
        const u = await addUser(db, target!, r, password);
        process.stdout.write(`user ${u.name} added (${u.role})\n`);
      });
    }
    if (verb === "list")
      return withStore(p.config, (db) => {
        const users = listUsers(db);
        process.stdout.write(
          table([
            ["PK", "NAME", "ROLE", "CREATED", "DISABLED"],
            ...users.map((u) => [String(u.pk), u.name, u.role, u.createdAt, u.disabledAt ?? "-"]),
          ]),
        );
      });
    if (verb === "remove")
      return withStore(p.config, (db) => {
        const u = removeUser(db, target!);
        process.stdout.write(`user ${u.name} removed, with their sessions\n`);
      });
    throw usage(`unknown central user command ${verb}`);
  }

  if (verb === "add") {
    const r = role(p, usage);
    return withStore(p.config, (db) => {
      const { token, secret } = addToken(db, target!, r);
      process.stdout.write(
        `token ${token.pk} (${token.name}, ${token.role}) added; it is shown this once and cannot be read back:\n${secret}\n`,
      );
    });
  }
  if (verb === "list")
    return withStore(p.config, (db) => {
      const tokens = listTokens(db);
      process.stdout.write(
        table([
          ["PK", "NAME", "ROLE", "CREATED", "LAST USED", "REVOKED"],
          ...tokens.map((t) => [
            String(t.pk),
            t.name,
            t.role,
            t.createdAt,
            t.lastUsedAt ?? "-",
            t.revokedAt ?? "-",
          ]),
        ]),
      );
    });
  if (verb === "revoke")
    return withStore(p.config, (db) => {
      const which = /^\d+$/.test(target!) ? Number(target) : target!;
      for (const t of revokeToken(db, which)) process.stdout.write(`token ${t.pk} (${t.name}) revoked\n`);
    });
  throw usage(`unknown central token command ${verb}`);
}

/** Opens the store, runs `fn`, closes it; a refused change (AuthError) is exit status 1. */
async function withStore(configPath: string, fn: (db: Db) => Promise<void> | void): Promise<number> {
  const store = openStore(configPath);
  try {
    await fn(store.db);
    return 0;
  } catch (err) {
    if (err instanceof AuthError) {
      process.stderr.write(`dicomtap: central: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    store.close();
  }
}

/**
 * The web application's folders: its static files (web/static of the install root) and its compiled
 * scripts (web/ of the output root, dist/web in development).
 */
export function defaultWebRoots(): string[] {
  const roots: string[] = [];
  try {
    roots.push(installPath("web", "static"));
  } catch {
    // not installed from a package: only the compiled folder
  }
  roots.push(join(outputRoot(), "web"));
  return roots;
}
