/**
 * `dicomtap plan` (DESIGN.md §3, issue 13): makes the plan from captures or the agent's store and writes it
 * in each form asked for; `plan --check PLAN.json FILE...` replays captures through a plan.
 */
import { writeFileSync } from "node:fs";
import { ArgWalker } from "../cli/args.js";
import type { Config } from "../config/types.js";
import { reportFiles } from "../cli/files.js";
import { isoFromMicros, isoNow } from "../util/time.js";
import { buildPlan, type PlanInput } from "./build.js";
import type { CheckResult } from "./check.js";
import type { Plan } from "./types.js";

export interface PlanArgs {
  config: string | null;
  store: string | null;
  check: string | null;
  outputs: {
    json: string | null;
    nft: string | null;
    csv: string | null;
    orthanc: string | null;
    dcmqrscp: string | null;
    markdown: string | null;
  };
  files: string[];
}

const OUTPUT_OPTIONS = ["--json", "--nft", "--csv", "--orthanc", "--dcmqrscp", "--markdown"] as const;

export function parsePlanArgs(argv: string[], usage: (m: string) => Error): PlanArgs {
  const args: PlanArgs = {
    config: null,
    store: null,
    check: null,
    outputs: { json: null, nft: null, csv: null, orthanc: null, dcmqrscp: null, markdown: null },
    files: [],
  };
  const w = new ArgWalker(argv, usage);
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--config") args.config = w.value(a);
    else if (a === "--store") args.store = w.value(a);
    else if (a === "--check") args.check = w.value(a);
    else if ((OUTPUT_OPTIONS as readonly string[]).includes(a))
      args.outputs[a.slice(2) as keyof PlanArgs["outputs"]] = w.value(a);
    else if (a === "--") args.files.push(...w.rest());
    else if (a.startsWith("-") && a !== "-") throw usage(`unknown option ${a}`);
    else args.files.push(a);
  }
  if (args.check !== null) {
    if (args.store !== null) throw usage("--check replays capture files, not a store");
    const other = Object.entries(args.outputs).find(([k, v]) => k !== "json" && v !== null);
    if (other !== undefined) throw usage(`--check writes only --json, not --${other[0]}`);
    if (args.files.length === 0) throw usage("--check needs at least one capture file");
  } else {
    if (args.store !== null && args.files.length > 0) throw usage("give capture files or --store, not both");
    if (args.store === null && args.files.length === 0) throw usage("plan needs capture files or --store DB");
  }
  return args;
}

/** Writes text to a file, or to standard output for "-". */
function write(target: string, text: string): void {
  if (target === "-") process.stdout.write(text);
  else writeFileSync(target, text);
}

/**
 * When the plan is made: SOURCE_DATE_EPOCH (seconds, the reproducible-builds convention) when set, so the
 * golden files and a reviewer's re-run are byte-identical; else the wall clock.
 */
function generatedAt(): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d{1,12}$/.test(epoch)) return isoFromMicros(Number(epoch) * 1_000_000);
  return isoNow();
}

/** One line per blocked connection, for people. */
export function formatCheck(r: CheckResult): string {
  const lines = [
    `${r.connections} connection(s), ${r.associations} association(s): ${r.passed} pass, ${r.blocked.length} blocked`,
  ];
  for (const b of r.blocked) {
    const aes =
      b.callingAE !== null || b.calledAE !== null
        ? ` ${JSON.stringify(b.callingAE)} -> ${JSON.stringify(b.calledAE)}`
        : "";
    const ops = b.operations.length > 0 ? ` [${b.operations.join(", ")}]` : "";
    const outcome = b.outcome !== null ? ` (${b.outcome})` : " (no association)";
    lines.push(
      `blocked by ${b.layer} (${b.rule}): ${b.time} ${b.client} -> ${b.server}${aes}${ops}${outcome}: ${b.reason}`,
    );
  }
  return lines.join("\n") + "\n";
}

export async function planCommand(
  argv: string[],
  usage: (m: string) => Error,
  portsOutsideProfile?: PlanInput["portsOutsideProfile"],
): Promise<number> {
  const args = parsePlanArgs(argv, usage);
  if (args.check !== null) {
    const { loadPlan, PlanError } = await import("./validate.js");
    let plan: Plan;
    try {
      plan = loadPlan(args.check);
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      for (const p of e.problems) process.stderr.write(`dicomtap: plan: ${p}\n`);
      return 2;
    }
    const { checkCaptures } = await import("./check.js");
    const { result, files } = await checkCaptures(plan, args.files);
    if (reportFiles(files) !== 0) return 2;
    if (args.outputs.json !== null) write(args.outputs.json, JSON.stringify(result, null, 2) + "\n");
    const text = formatCheck(result);
    if (args.outputs.json === "-") process.stderr.write(text);
    else process.stdout.write(text);
    return result.blocked.length > 0 ? 1 : 0;
  }

  const { loadConfig, defaultConfig } = await import("../config/config.js");
  const config: Config = args.config !== null ? loadConfig(args.config) : defaultConfig();
  let input: PlanInput;
  if (args.store !== null) {
    const { readStoredEvidence } = await import("./source.js");
    let evidence;
    try {
      evidence = await readStoredEvidence(args.store, config);
    } catch (e) {
      process.stderr.write(`dicomtap: ${(e as Error).message}\n`);
      return 1;
    }
    input = { ...evidence, config, source: { kind: "store", files: [args.store] } };
  } else {
    const { evidenceFromCaptures } = await import("./source.js");
    const { files, ...evidence } = await evidenceFromCaptures(args.files, config);
    if (reportFiles(files) !== 0) return 1;
    input = { ...evidence, config, source: { kind: "captures", files: args.files } };
  }
  input.portsOutsideProfile =
    portsOutsideProfile ?? (await import("./profiles.js")).outsideProfile(config.policy.profiles);
  const plan = buildPlan({ ...input, generatedAt: generatedAt() });

  const o = args.outputs;
  if (o.json !== null) write(o.json, JSON.stringify(plan, null, 2) + "\n");
  if (o.nft !== null) write(o.nft, (await import("./render-nft.js")).renderNft(plan));
  if (o.csv !== null) write(o.csv, (await import("./render-csv.js")).renderCsv(plan));
  if (o.orthanc !== null) write(o.orthanc, (await import("./render-archives.js")).renderOrthanc(plan));
  if (o.dcmqrscp !== null) write(o.dcmqrscp, (await import("./render-archives.js")).renderDcmqrscp(plan));
  const markdown = (await import("./render-md.js")).renderMarkdown(plan);
  // Markdown to standard output unless it was sent elsewhere, or another output already took stdout.
  if (o.markdown !== null) write(o.markdown, markdown);
  else if (!Object.values(o).includes("-")) process.stdout.write(markdown);
  return 0;
}
