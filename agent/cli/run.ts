/**
 * `dicomtap run [--config FILE] [--replay FILE] [--speed file|capture]`: the agent (DESIGN.md §3).
 * Live capture on the configured interface, or a replayed capture file; store and publish.
 */
import { loadConfig } from "../config/config.js";
import { runAgent } from "../agent/run.js";

export const DEFAULT_CONFIG_PATH = "/etc/dicomtap/config.json";

export interface RunArgs {
  config: string;
  replay: string | null;
  speed: "file" | "capture";
}

export function parseRunArgs(argv: string[], usage: (msg: string) => Error): RunArgs {
  const args: RunArgs = { config: DEFAULT_CONFIG_PATH, replay: null, speed: "file" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw usage(`${a} needs a value`);
      return v;
    };
    if (a === "--config") args.config = value();
    else if (a === "--replay") args.replay = value();
    else if (a === "--speed") {
      const v = value();
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
