/**
 * `dicomtap baseline export|import|approve` (issue 13): the security team's review of what a sensor learned.
 * Export the stored baseline as JSON, edit it, import it back (validated first: a bad document is refused
 * with its reasons and the store is not touched), approve it. Each command works on the store directly; the
 * agent need not run. A change is enqueued in the store's outbox as the retained `baseline` message, which the
 * agent's publisher sends.
 *
 * A running agent keeps the baseline it has in memory; it notices the stored one changed and stops writing
 * over it (agent/run.ts BaselineSaver), and takes it up, with an approved one's policy, at its next start.
 */
import { existsSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { loadConfig, defaultConfig } from "../config/config.js";
import type { Config } from "../config/types.js";
import type { BaselineDocument } from "../baseline/types.js";
import { BaselineError, loadBaseline, validateBaseline } from "../baseline/validate.js";
import { Store } from "../store/store.js";
import { isoNow } from "../util/time.js";
import { ArgWalker, DEFAULT_CONFIG_PATH } from "./args.js";

interface BaselineArgs {
  action: "export" | "import" | "approve";
  file: string | null;
  config: string | null;
  store: string | null;
  out: string;
  by: string | null;
  note: string | null;
}

function parse(argv: string[], usage: (m: string) => Error): BaselineArgs {
  const [action, ...rest] = argv;
  if (action !== "export" && action !== "import" && action !== "approve")
    throw usage(action === undefined ? "baseline needs export, import or approve" : `no baseline ${action}`);
  const args: BaselineArgs = {
    action,
    file: null,
    config: null,
    store: null,
    out: "-",
    by: null,
    note: null,
  };
  const w = new ArgWalker(rest, usage);
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--config") args.config = w.value(a);
    else if (a === "--store") args.store = w.value(a);
    else if (a === "--out" && action === "export") args.out = w.value(a);
    else if (a === "--by" && action === "approve") args.by = w.value(a);
    else if (a === "--note" && action === "approve") args.note = w.value(a);
    else if (a.startsWith("-") && a !== "-") throw usage(`unknown option ${a} for baseline ${action}`);
    else if (action === "import" && args.file === null) args.file = a;
    else throw usage(`unexpected argument ${a}`);
  }
  if (action === "import" && args.file === null) throw usage("baseline import needs a FILE");
  return args;
}

/** A line on standard error, each problem on its own. */
function fail(lines: readonly string[]): number {
  for (const l of lines) process.stderr.write(`dicomtap: baseline: ${l}\n`);
  return 1;
}

export async function baselineCommand(argv: string[], usage: (m: string) => Error): Promise<number> {
  const args = parse(argv, usage);
  // Without --store, the config says where the store is (and whose sensor it is).
  const config: Config | null =
    args.config !== null
      ? loadConfig(args.config)
      : args.store === null
        ? loadConfig(DEFAULT_CONFIG_PATH)
        : null;
  const path = args.store ?? config!.store.path;
  if (!existsSync(path)) return fail([`${path}: no such store (the agent creates it at its first run)`]);

  let incoming: BaselineDocument | null = null;
  if (args.action === "import") {
    try {
      incoming = loadBaseline(args.file!);
    } catch (e) {
      if (!(e instanceof BaselineError)) throw e;
      return fail([`${args.file}: refused, the store is not changed:`, ...e.problems]);
    }
    if (config !== null) {
      const other = (k: "site" | "sensor", v: string): boolean => incoming![k] !== null && incoming![k] !== v;
      if (other("site", config.sensor.site) || other("sensor", config.sensor.id))
        return fail([
          `${args.file}: refused, the store is not changed: it is the baseline of ${incoming.site}/${incoming.sensor}, not of ${config.sensor.site}/${config.sensor.id}`,
        ]);
    }
  }

  // The store's topic root names the sensor: the config's, else the document's own head.
  const peek = config === null ? openStore(path, null, null) : null;
  const storedDoc = peek !== null ? peek.baseline()?.document : undefined;
  peek?.close();
  const head = incoming ?? storedDoc ?? null;
  const store = openStore(path, config, head);
  try {
    const row = store.baseline();
    if (args.action === "export") {
      if (row === null)
        return fail([`${path}: no baseline stored yet (the agent saves it every few minutes and at stop)`]);
      const text = JSON.stringify(row.document, null, 2) + "\n";
      if (args.out === "-") process.stdout.write(text);
      else writeFileSync(args.out, text);
      return 0;
    }
    if (args.action === "import") {
      const r = store.putBaseline(incoming!);
      process.stdout.write(
        `${args.file}: ${r.outcome === "unchanged" ? "the same as the stored baseline" : `imported into ${path}`} ` +
          `(${incoming!.status}, ${incoming!.services.length} services, ${incoming!.devices.length} devices, revision ${r.revision}).\n` +
          "The agent takes it up at its next start; a running agent keeps the baseline it has until then.\n",
      );
      return 0;
    }
    if (row === null) return fail([`${path}: no baseline stored yet: nothing to approve`]);
    const doc = row.document;
    if (doc.window.start === null) return fail([`${path}: the stored baseline has learned nothing yet`]);
    const approved: BaselineDocument = {
      ...doc,
      status: "approved",
      window: { ...doc.window, end: doc.window.end ?? latestSeen(doc) ?? doc.window.start },
      approved: { by: args.by ?? whoami(), at: isoNow(), note: args.note },
    };
    try {
      validateBaseline(approved);
    } catch (e) {
      if (!(e instanceof BaselineError)) throw e;
      return fail([`${path}: the stored baseline is not valid, not approved:`, ...e.problems]);
    }
    const r = store.putBaseline(approved);
    process.stdout.write(
      `baseline approved by ${approved.approved!.by} (${doc.services.length} services, ${doc.devices.length} devices, revision ${r.revision}).\n` +
        "The agent takes it up at its next start (systemctl restart dicomtap): from then on departures are judged\n" +
        "against it and its peers, AE titles and ports are the policy. A running agent keeps the baseline it has\n" +
        "in memory until then, and does not write over the approved one.\n",
    );
    return 0;
  } finally {
    store.close();
  }
}

function openStore(path: string, config: Config | null, head: BaselineDocument | null): Store {
  return new Store({
    path,
    maxBytes: config?.store.maxBytes ?? defaultConfig().store.maxBytes,
    site: config?.sensor.site ?? head?.site ?? "local",
    sensor: config?.sensor.id ?? head?.sensor ?? "offline",
  });
}

function whoami(): string {
  try {
    return userInfo().username || "unknown";
  } catch {
    return process.env.USER ?? "unknown";
  }
}

/** The latest lastSeen of the document: where a window still open ends when it is approved. */
function latestSeen(doc: BaselineDocument): string | null {
  let latest: string | null = null;
  const see = (t: string): void => {
    if (latest === null || Date.parse(t) > Date.parse(latest)) latest = t;
  };
  for (const s of doc.services) see(s.lastSeen);
  for (const d of doc.devices) for (const l of d.listening) see(l.lastSeen);
  return latest;
}
