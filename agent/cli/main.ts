/**
 * The `dicomtap` command line (DESIGN.md §3). Each subcommand is loaded on demand so that `analyze`
 * never pays for the MQTT and SQLite stacks of the agent.
 */
import { createWriteStream } from "node:fs";
import { packageVersion } from "../util/root.js";
import { ArgWalker } from "./args.js";
import { reportFiles } from "./files.js";
import type { Report } from "../report/types.js";
import type { BaselineDocument } from "../baseline/types.js";
import { BASELINE_USAGE } from "./baseline-usage.js";

interface BaselineErrorLike {
  problems: readonly string[];
}

/**
 * One usage text per command: `dicomtap COMMAND --help` (or -h, or `dicomtap help COMMAND`) prints it
 * and exits 0; a usage error in that command prints it to stderr and exits 2.
 */
const COMMAND_USAGE: Record<string, string> = {
  analyze: `usage: dicomtap analyze [--json OUT] [--config FILE] [--baseline FILE] [--quiet] FILE...

Decode pcap/pcapng files offline, through the whole pipeline, and print a summary of devices,
associations, findings and anomalies. Several files are one capture (connections continue from one
rotated file into the next).

options:
  --json OUT      write the version-1 JSON report to OUT (- for standard output; the summary then
                  goes to standard error)
  --config FILE   take networks and policy from a sensor config (default: the offline defaults)
  --baseline FILE judge the captures against this baseline (dicomtap baseline export): its
                  departures are findings from the first packet (baseline.new-peer, new-service,
                  new-operation); an approved one is also the policy, merged with the config's
  -q, --quiet     no summary
  -h, --help      this text

exit status:
  0  every file was read; a damaged one is analysed up to the damage, which standard error names
  1  a file could not be read, is not a pcap or pcapng capture, is empty, or holds no packet
  2  a usage error, a config error or a baseline that is not valid (every problem is listed)
`,
  run: `usage: dicomtap run [--config FILE] [--replay FILE [--speed file|capture]]

The agent: live capture on the configured interface (or a replayed capture file), inventory and
findings, a local store, publishing over MQTT with mutual TLS. Stops on SIGINT or SIGTERM, or at the
end of a replay.

options:
  --config FILE    the sensor config (default /etc/dicomtap/config.json)
  --replay FILE    read a pcap/pcapng file instead of capturing live
  --speed file     replay as fast as the file reads (default)
  --speed capture  replay at the pace of the capture's time stamps
  -h, --help       this text

exit status:
  0  stopped cleanly
  2  a usage error or a config error (every problem of the config is listed)
`,
  doctor: `usage: dicomtap doctor [--config FILE] [--json]

Check a provisioned appliance — capture interface, capture rights, clock, disk, certificates and
their expiry, broker reachability — and say what to fix.

options:
  --config FILE   the sensor config (default /etc/dicomtap/config.json)
  --json          the results as JSON
  -h, --help      this text

exit status:
  0  every check passed (warnings allowed)
  1  a check failed
  2  a usage error
`,
  console: `usage: dicomtap console (--config FILE | --broker mqtts://HOST:PORT --ca CA --cert CERT --key KEY)
                        [--site SITE] [--share GROUP] [--client-id ID] [--json] [--once SECONDS]

Subscribe to the broker and show the live devices and findings of all sensors: a screen on a
terminal, else (or with --json) one JSON line per event.

options:
  --config FILE         a console config: {"broker": {"url", "ca", "cert", "key"}, "site", "share",
                        "clientId"}; the flags below override it key by key
  --broker URL          the broker, mqtts:// only
  --ca, --cert, --key   the CA and this console's client certificate and key (PEM files)
  --site SITE           only the sensors of this site
  --share GROUP         an MQTT 5 shared subscription, so several consoles split the messages
  --client-id ID        the MQTT client id
  --json                one JSON line per event, even on a terminal
  --once SECONDS        print the state after SECONDS and exit
  -h, --help            this text

exit status:
  0  stopped (SIGINT, SIGTERM, or --once)
  1  the broker could not be reached or refused the console
  2  a usage error or a config error
`,
  central: `usage: dicomtap central [--config FILE]
                        | user add NAME --role ROLE | user list | user remove NAME
                        | token add NAME --role ROLE | token list | token revoke PK|NAME

The central console service: follows every sensor through the broker, keeps their state and history
in its store (central.store.path), and serves the web application and the /api/v1/ API on
central.listen (HTTPS with central.tls, else plain HTTP on a loopback address only). Runs in the
foreground; stops on SIGINT or SIGTERM.

The user and token commands work on the store directly; the service need not run.
  user add      reads the password from standard input (at least 12 characters; one line)
  token add     prints the new token once, alone on the last line of its output
  token revoke  takes a token's number (token list) or a name (every unrevoked token of that name)

options:
  --config FILE   the central config (default /etc/dicomtap/central.json): "central" and "broker"
  --role ROLE     viewer (reads), analyst (acts on findings), admin (users and tokens)
  -h, --help      this text

exit status:
  0  stopped cleanly, or the change was made
  1  the change was refused (a name taken, nothing to revoke), or the service failed
  2  a usage error or a config error
`,
  plan: `usage: dicomtap plan [--config FILE] [--store DB] [--json OUT] [--nft OUT] [--csv OUT]
                     [--orthanc OUT] [--dcmqrscp OUT] [--markdown OUT] [FILE...]
       dicomtap plan --check PLAN.json [--json OUT] FILE...

Write the five remediation steps (issue 13) from the traffic the sensor saw: 1. block access from outside
the internal networks, 2. ports to close, 3-4. per DICOM service the peers (address and AE title) and
operations to allow, 5. what must move to DICOM TLS or a VPN. From capture files (the whole pipeline, and
every capture learned whole) or from the agent's store. The plan for people (Markdown) goes to standard
output unless --markdown says where; each other option writes one form (- for standard output).

--check replays capture files through a plan written by --json and lists every connection or association
it would block: by the firewall rules (addresses and ports, exactly as the --nft rules decide) or by the
archives' AE configuration (called and calling AE titles, operations). Run it on recent captures before
applying a plan.

options:
  --config FILE     networks, policy and plan.exceptions from a sensor config (default: offline defaults)
  --store DB        the agent's store instead of capture files
  --json OUT        the plan as JSON (schemas/plan.schema.json); with --check, the check's result
  --nft OUT         nftables rules: one table inet dicomtap (nft -c -f OUT checks, nft -f OUT loads)
  --csv OUT         vendor-neutral rules: source, destination, port, operation, action, reason
  --orthanc OUT     Orthanc configuration (DicomModalities with per-command flags) per DICOM service
  --dcmqrscp OUT    DCMTK dcmqrscp.cfg per service port, and what storescp can do
  --markdown OUT    the plan for people (default: standard output)
  --check PLAN      replay FILE... through the plan in PLAN (a --json output)
  -h, --help        this text

exit status:
  0  the plan was written; with --check: nothing would be blocked
  1  a capture file could not be read, or the store has no baseline; with --check: something would be
     blocked (listed on standard output)
  2  a usage error, a config error, or (--check) a plan file that is not valid (every reason is listed)
`,
};

COMMAND_USAGE.baseline = BASELINE_USAGE;

/** The one line per command that `dicomtap --help` shows under each synopsis. */
const SUMMARIES: Record<string, string> = {
  analyze: `Decode pcap/pcapng files offline and print a summary of devices, associations and
        findings. --json OUT writes the version-1 JSON report (- for standard output).`,
  run: `The agent: live capture on the configured interface (or a replayed capture file),
        inventory and findings, a local store, publishing over MQTT with mutual TLS.
        Default config: /etc/dicomtap/config.json.`,
  doctor: `Check a provisioned appliance (capture interface, capture rights, clock, disk,
        certificates, broker) and say what to fix; exits 1 if a check fails.`,
  console: `Subscribe to the broker and show the live devices and findings of all sensors: a screen
        on a terminal, else (or with --json) one JSON line per event. --once N prints the state
        after N seconds and exits.`,
  central: `The central console service: follows every sensor through the broker, keeps state and
        history in its store, serves the web application and /api/v1/ over HTTPS; manages its
        users and API tokens. Default config: /etc/dicomtap/central.json.`,
  baseline: `The learned baseline (issue 13): export it as JSON for review, import an edited one
        (validated; refused with the reasons), approve it as the site's policy.`,
  plan: `The five remediation steps (firewall, ports to close, AE allowlists, TLS) from captures
        or the store, as Markdown, JSON, nftables, CSV, Orthanc and dcmqrscp configuration;
        --check replays captures through a plan and lists what it would block.`,
};

function synopsis(command: string): string {
  const first = (COMMAND_USAGE[command] ?? "").split("\n\n")[0] ?? "";
  return first.replace(/^usage: dicomtap /, "").replace(/\n {24}/g, "\n          ");
}

const USAGE = `usage: dicomtap <command> [options]

commands:
${Object.keys(COMMAND_USAGE)
  .map((c) => `  ${synopsis(c)}\n        ${SUMMARIES[c]}`)
  .join("\n")}
  --help, --version

"dicomtap COMMAND --help" shows one command's options and exit statuses.
`;

/** True when the words before a "--" ask for help: the command's usage is printed and nothing runs. */
function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
}

/** A command line that cannot be run; `command` picks the usage text shown with it. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string | null = null,
  ) {
    super(message);
  }
}

interface AnalyzeArgs {
  files: string[];
  json: string | null;
  config: string | null;
  baseline: string | null;
  quiet: boolean;
}

function parseAnalyzeArgs(argv: string[]): AnalyzeArgs {
  const args: AnalyzeArgs = { files: [], json: null, config: null, baseline: null, quiet: false };
  const w = new ArgWalker(argv, (m) => new UsageError(m, "analyze"));
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--json") args.json = w.value(a);
    else if (a.startsWith("--json=")) args.json = a.slice(7);
    else if (a === "--config") args.config = w.value(a);
    else if (a === "--baseline") args.baseline = w.value(a);
    else if (a === "--quiet" || a === "-q") args.quiet = true;
    else if (a === "--") args.files.push(...w.rest());
    else if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown option ${a}`, "analyze");
    else args.files.push(a);
  }
  if (args.files.length === 0) throw new UsageError("analyze needs at least one capture file", "analyze");
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
  const fileConfig = args.config !== null ? loadConfig(args.config) : undefined;
  let config = fileConfig;
  let baseline: BaselineDocument | undefined;
  if (args.baseline !== null) {
    const { loadBaseline } = await import("../baseline/validate.js");
    const { effectiveConfig } = await import("../baseline/policy.js");
    const { defaultConfig } = await import("../config/config.js");
    baseline = loadBaseline(args.baseline);
    config = effectiveConfig(fileConfig ?? defaultConfig(), baseline);
  }
  const result = await analyzeFiles(args.files, {
    ...(config ? { config } : {}),
    ...(baseline ? { baseline } : {}),
  });
  if (args.json !== null) await writeReport(args.json, result.report);
  // With the report on stdout the summary moves to stderr, so `--json -` stays machine-readable.
  if (!args.quiet) {
    const summary = formatSummary(result);
    if (args.json === "-") process.stderr.write(summary);
    else process.stdout.write(summary);
  }
  // A file that gave nothing is an error; a damaged one was analysed up to the damage.
  return reportFiles(result.files);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command !== undefined && Object.hasOwn(COMMAND_USAGE, command) && wantsHelp(rest)) {
      process.stdout.write(COMMAND_USAGE[command]!);
      return 0;
    }
    switch (command) {
      case "analyze":
        return await analyzeCommand(rest);
      case "run": {
        const { runCommand } = await import("./run.js");
        return await runCommand(rest, (m) => new UsageError(m, "run"), packageVersion());
      }
      case "baseline": {
        const { baselineCommand } = await import("./baseline.js");
        return await baselineCommand(rest, (m) => new UsageError(m, "baseline"));
      }
      case "doctor": {
        const { doctorCommand } = await import("../doctor/doctor.js");
        return await doctorCommand(rest, (m) => new UsageError(m, "doctor"));
      }
      case "console": {
        const { consoleCommand } = await import("../console/console.js");
        return await consoleCommand(rest, (m) => new UsageError(m, "console"));
      }
      case "central": {
        const { centralCommand } = await import("../central/cli.js");
        const { runCentral } = await import("../central/run.js");
        const { centralParts } = await import("../central/parts.js");
        return await centralCommand(
          rest,
          (m) => new UsageError(m, "central"),
          (config) => runCentral(config, centralParts),
        );
      }
      case "plan": {
        const { planCommand } = await import("../plan/cli.js");
        return await planCommand(rest, (m) => new UsageError(m, "plan"));
      }
      case "--version":
      case "-V":
        process.stdout.write(`dicomtap ${packageVersion()}\n`);
        return 0;
      case "help": {
        // `dicomtap help analyze` is `dicomtap analyze --help`.
        const about = rest[0];
        if (about !== undefined && !Object.hasOwn(COMMAND_USAGE, about))
          throw new UsageError(`no command ${about}`);
        process.stdout.write(about !== undefined ? COMMAND_USAGE[about]! : USAGE);
        return 0;
      }
      case undefined:
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      const usage = err.command !== null ? (COMMAND_USAGE[err.command] ?? USAGE) : USAGE;
      process.stderr.write(`dicomtap: ${err.message}\n${usage}`);
      return 2;
    }
    const name = (err as { name?: string }).name;
    if (name === "BaselineError") {
      // A baseline that is not valid (analyze --baseline): every reason, each naming its key path.
      for (const line of (err as BaselineErrorLike).problems)
        process.stderr.write(`dicomtap: baseline: ${line}\n`);
      return 2;
    }
    if (name === "ConfigError") {
      // One line per problem, each naming its key: a technician fixes them all in one pass.
      const problems = (err as { problems?: unknown }).problems;
      const lines = Array.isArray(problems) && problems.length > 0 ? problems : [(err as Error).message];
      for (const line of lines) process.stderr.write(`dicomtap: config: ${String(line)}\n`);
      return 2;
    }
    throw err;
  }
}
