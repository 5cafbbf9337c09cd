/**
 * The `dicomtap` command line (DESIGN.md §3). Each subcommand is loaded on demand so that `analyze`
 * never pays for the MQTT and SQLite stacks of the agent.
 */
import { createWriteStream } from "node:fs";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ArgWalker } from "./args.js";
import type { Report } from "../report/types.js";

const USAGE = `usage: dicomtap <command> [options]

commands:
  analyze [--json OUT] [--config FILE] [--quiet] FILE...
        Decode pcap/pcapng files offline and print a summary of devices, associations and
        findings. --json OUT writes the version-1 JSON report (- for standard output).
  run [--config FILE] [--replay FILE [--speed file|capture]]
        The agent: live capture on the configured interface (or a replayed capture file),
        inventory and findings, a local store, publishing over MQTT with mutual TLS.
        Default config: /etc/dicomtap/config.json.
  doctor [--config FILE] [--json]
        Check a provisioned appliance (capture interface, capture rights, clock, disk,
        certificates, broker) and say what to fix; exits 1 if a check fails.
  console (--config FILE | --broker mqtts://HOST:PORT --ca CA --cert CERT --key KEY)
          [--site SITE] [--share GROUP] [--client-id ID] [--json] [--once SECONDS]
        Subscribe to the broker and show the live devices and findings of all sensors: a screen
        on a terminal, else (or with --json) one JSON line per event. --once N prints the state
        after N seconds and exits.
  --help, --version
`;

export class UsageError extends Error {}

/** The version in our package.json, found by walking up from the compiled file (dist/ or elsewhere). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "dicomtap" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: keep walking up
    }
    dir = dirname(dir);
  }
  return "unknown";
}

interface AnalyzeArgs {
  files: string[];
  json: string | null;
  config: string | null;
  quiet: boolean;
}

export function parseAnalyzeArgs(argv: string[]): AnalyzeArgs {
  const args: AnalyzeArgs = { files: [], json: null, config: null, quiet: false };
  const w = new ArgWalker(argv, (m) => new UsageError(m));
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--json") args.json = w.value(a);
    else if (a.startsWith("--json=")) args.json = a.slice(7);
    else if (a === "--config") args.config = w.value(a);
    else if (a === "--quiet" || a === "-q") args.quiet = true;
    else if (a === "--") args.files.push(...w.rest());
    else if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown option ${a}`);
    else args.files.push(a);
  }
  if (args.files.length === 0) throw new UsageError("analyze needs at least one capture file");
  return args;
}

/**
 * Writes the report to a file or standard output ("-"), streaming, and waits until it is written.
 * Standard output closed by its reader (`--json - | head`) ends the report quietly: not an error of ours.
 */
async function writeReport(target: string, report: Report): Promise<void> {
  const { writeReportJson } = await import("../report/write.js");
  const ws = target === "-" ? process.stdout : createWriteStream(target);
  // `on`, not `once`: writes already queued fail one after another, and an unheard "error" would throw.
  let onError!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (onError = reject));
  ws.on("error", (err) => onError(err));
  failed.catch(() => undefined); // observed through the races below
  try {
    await Promise.race([writeReportJson(report, ws), failed]);
    if (ws !== process.stdout) await Promise.race([new Promise<void>((resolve) => ws.end(resolve)), failed]);
  } catch (err) {
    if (ws !== process.stdout || (err as { code?: string }).code !== "EPIPE") throw err;
  }
}

async function analyzeCommand(argv: string[]): Promise<number> {
  const args = parseAnalyzeArgs(argv);
  const { analyzeFiles } = await import("../pipeline/analyze.js");
  const { loadConfig } = await import("../config/config.js");
  const { formatSummary } = await import("./summary.js");
  const config = args.config !== null ? loadConfig(args.config) : undefined;
  const result = await analyzeFiles(args.files, config ? { config } : {});
  if (args.json !== null) await writeReport(args.json, result.report);
  // With the report on stdout the summary moves to stderr, so `--json -` stays machine-readable.
  if (!args.quiet) {
    const summary = formatSummary(result);
    if (args.json === "-") process.stderr.write(summary);
    else process.stdout.write(summary);
  }
  for (const f of result.files) {
    if (f.error !== null) process.stderr.write(`dicomtap: ${f.path}: ${f.error}\n`);
  }
  // A file that could not be read at all is an error; a damaged one was analysed up to the damage.
  return result.files.some((f) => f.summary === null) ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "analyze":
        return await analyzeCommand(rest);
      case "run": {
        const { runCommand } = await import("./run.js");
        return await runCommand(rest, (m) => new UsageError(m), packageVersion());
      }
      case "doctor": {
        const { doctorCommand } = await import("../doctor/doctor.js");
        return await doctorCommand(rest, (m) => new UsageError(m));
      }
      case "console": {
        const { consoleCommand } = await import("../console/console.js");
        return await consoleCommand(rest, (m) => new UsageError(m));
      }
      case "--version":
      case "-V":
        process.stdout.write(`dicomtap ${packageVersion()}\n`);
        return 0;
      case undefined:
      case "--help":
      case "-h":
      case "help":
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`dicomtap: ${err.message}\n${USAGE}`);
      return 2;
    }
    const name = (err as { name?: string }).name;
    if (name === "ConfigError") {
      process.stderr.write(`dicomtap: config: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}
