/**
 * `dicomtap run [--config FILE] [--replay FILE] [--speed file|capture]`: the agent (DESIGN.md §3).
 * Live capture on the configured interface, or a replayed capture file; store and publish.
 */
import { setFlagsFromString } from "node:v8";
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
  optimizeHeapForSize();
  await runAgent({
    config,
    ...(args.replay !== null ? { replay: args.replay, replaySpeed: args.speed } : {}),
    version,
  });
  return 0;
}

/**
 * The agent's V8 heaps grow conservatively (issue 9: the whole process under 128 MiB of RSS). By default
 * V8 lets an isolate's old generation grow 8 MiB past what its last full collection kept before it
 * collects again, and compacts little; the agent has two isolates (the main thread and the capture
 * thread), so under the 50 000-association flood their heaps held 22 and 50 MiB of pages for about 9 and
 * 28 MiB of live objects. `--optimize-for-size` makes V8 treat both as memory-constrained (a 2 MiB step,
 * a growing factor of at most 1.3, more compaction): the live flood's peak fell from 133 MiB to
 * 118-123 MiB (README, "Flow floods"). It costs some garbage-collection CPU, so only `run` sets it:
 * `analyze`, already within budget, keeps V8's defaults.
 *
 * Set here rather than in bin/dicomtap.js's first line: as a command-line flag it would apply to every
 * command and would also shrink the main thread's young generation to 1 MiB (it implies
 * --max-semi-space-size=1, overriding the 2 MiB of the shebang). V8 reads this flag when it sizes a heap
 * after each collection, so setting it before the capture thread starts covers both isolates.
 */
function optimizeHeapForSize(): void {
  setFlagsFromString("--optimize-for-size");
}
