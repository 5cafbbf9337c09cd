/**
 * `dicomtap run [--config FILE] [--replay FILE] [--speed file|capture]`: the agent (DESIGN.md §3).
 * Live capture on the configured interface, or a replayed capture file; store and publish.
 */
import { ArgWalker, DEFAULT_CONFIG_PATH } from "./args.js";
import { loadConfig } from "../config/config.js";
import { runAgent } from "../agent/run.js";

export interface RunArgs {
  config: string;
  replay: string | null;
  speed: "file" | "capture";
}

function parseRunArgs(argv: string[], usage: (msg: string) => Error): RunArgs {
  const args: RunArgs = { config: DEFAULT_CONFIG_PATH, replay: null, speed: "file" };
  const w = new ArgWalker(argv, usage);
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--config") args.config = w.value(a);
    else if (a === "--replay") args.replay = w.value(a);
    else if (a === "--speed") {
      const v = w.value(a);
      if (v !== "file" && v !== "capture") throw usage(`--speed takes "file" or "capture", not "${v}"`);
      args.speed = v;
    } else throw usage(`unknown argument ${a}`);
  }
  return args;
}

export async function runCommand(
  argv: string[],
  usage: (msg: string) => Error,
  version: string,
): Promise<number> {
  const args = parseRunArgs(argv, usage);
  const config = loadConfig(args.config);
  await runAgent({
    config,
    ...(args.replay !== null ? { replay: args.replay, replaySpeed: args.speed } : {}),
    version,
  });
  return 0;
}
