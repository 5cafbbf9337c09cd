/**
 * `npm run bench`: the performance benchmark of issue 2. For each generated capture it times
 * `dicomtap analyze FILE --json OUT` and tshark's DICOM dissection of the same file, each as a child
 * process pinned to one core, start-up included, and prints throughput, peak RSS and bytesCopied.
 * Then the publish phase of issue 4 (publish.ts): `dicomtap run --replay` of capture f, many findings, to
 * a real mosquitto over mutual TLS; findings delivered per second and packet-to-console latency.
 * Then, as root, the live phase of issue 8 (live.ts): the lab captures replayed by tcpreplay at rising
 * rates onto a veth pair in network namespaces, captured by dicomtap run, tcpdump and tshark.
 *
 *   node dist/scripts/bench/bench.js [--quick] [--size 1G] [--count 2000[,4000,...]] [--only a|b|f|live|floods] [--skip-floods] [--skip-live-floods] [--live-floods-pps 50000] [--skip-tshark]
 *        [--skip-publish] [--hosts 5000] [--rate 200]
 *        [--skip-live] [--live-rates 100,200,500,1000,top] [--live-runs 3] [--live-gro on|off]
 *        [--live-copies 23] [--live-capturers dicomtap,tcpdump,tshark]
 *        [--tshark-timeout SEC] [--timeout SEC] [--dir D] [--seed N] [--cpu N] [--runs N] [--profile]
 *        [--dicomtap "node bin/dicomtap.js"] [--dicomtap-main path/to/agent/cli/main.js]
 *
 * Peak RSS comes from GNU time's %M (the child's ru_maxrss, which covers descendants it waited for);
 * without /usr/bin/time the child's /proc/PID/status VmHWM is polled every 20 ms instead.
 */
import { spawn } from "node:child_process";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { DEFAULTS, ensureCapture, parseSize, type Manifest, type Shape } from "./generate.js";
import { formatProfile, summariseProfile } from "./profile.js";
import {
  CAPTURERS,
  DEFAULT_RATES,
  formatLive,
  liveUnavailable,
  runLive,
  type Capturer,
  type LiveResult,
  type Rate,
} from "./live.js";
import { FLOOD_SIZES, formatFloods, runFloods, type FloodRow } from "./flow-floods.js";
import { DEFAULT_FLOOD_PPS, formatLiveFloods, runLiveFloods, type LiveFloodRow } from "./live-floods.js";
import { formatPublish, runPublish, type PublishResult } from "./publish.js";
import { DEFAULT_COPIES } from "./replay-capture.js";

interface Options {
  sizeBytes: number;
  /** Shape b: C-STOREs on the one association; several values make one capture each (growth curve). */
  counts: number[];
  only: Shape | "live" | "floods" | null;
  skipTshark: boolean;
  /** No publish phase (capture f, mosquitto). */
  skipPublish: boolean;
  /** Capture f: distinct client hosts, and associations per second of capture time. */
  hosts: number;
  rate: number;
  tsharkTimeout: number;
  timeout: number;
  dir: string;
  seed: number;
  cpu: number;
  ackEvery: number;
  profile: boolean;
  /** Runs of dicomtap per capture; the fastest counts (peak RSS is the largest seen). */
  runs: number;
  /** Command prefix that runs dicomtap; "analyze FILE --json OUT" is appended. */
  dicomtap: string[];
  quick: boolean;
  /** No live phase (issue 8: namespaces, tcpreplay; root only). */
  skipLive: boolean;
  /** No flow-flood memory phase. */
  skipFloods: boolean;
  /** No live half of the flood phase (tcpreplay into `dicomtap run`; root only). */
  skipLiveFloods: boolean;
  /** tcpreplay --pps of the live flood runs. */
  liveFloodsPps: number;
  liveRates: Rate[];
  liveRuns: number;
  liveGro: boolean;
  liveCopies: number;
  liveCapturers: Capturer[];
}

interface RunResult {
  wallSeconds: number;
  peakRssKiB: number;
  exitCode: number | null;
  timedOut: boolean;
  stderr: string;
}

interface Row {
  shape: Shape;
  manifest: Manifest;
  ours: RunResult;
  ourStats: Record<string, number> | null;
  leak: boolean;
  tshark: RunResult | null;
}

const GNU_TIME = "/usr/bin/time";

/** The association and command fields tshark must fill for every DICOM PDU (tshark -G fields). */
const TSHARK_FIELDS = [
  "frame.number",
  "dicom.pdu.type",
  "dicom.assoc.ae.called",
  "dicom.assoc.ae.calling",
  "dicom.assoc.item.type",
  "dicom.actx",
  "dicom.pctx.id",
  "dicom.pctx.result",
  "dicom.pctx.abss.syntax",
  "dicom.pctx.xfer.syntax",
  "dicom.userinfo.uid",
  "dicom.userinfo.version",
  "dicom.max_pdu_len",
  "dicom.pdv.ctx",
  "dicom.pdv.flags",
  "dicom.tag",
  "dicom.tag.value.16u",
  "dicom.tag.value.str",
];

function usage(): never {
  process.stderr.write(
    "usage: bench.js [--quick] [--size 1G] [--count 2000[,4000,...]] [--only a|b|f|live|floods] [--skip-floods] [--skip-tshark] [--tshark-timeout SEC]\n" +
      "                [--skip-live-floods] [--live-floods-pps 50000]\n" +
      "                [--skip-publish] [--hosts 5000] [--rate 200]\n" +
      "                [--skip-live] [--live-rates 100,200,500,1000,top] [--live-runs 3] [--live-gro on|off]\n" +
      "                [--live-copies 23] [--live-capturers dicomtap,tcpdump,tshark]\n" +
      "                [--timeout SEC] [--dir D] [--seed N] [--cpu N] [--ack-every N] [--runs N] [--profile]\n" +
      '                [--dicomtap "node bin/dicomtap.js"] [--dicomtap-main path/to/agent/cli/main.js]\n',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    sizeBytes: DEFAULTS.sizeBytes,
    counts: [DEFAULTS.count],
    only: null,
    skipTshark: false,
    skipPublish: false,
    hosts: DEFAULTS.hosts,
    rate: DEFAULTS.rate,
    tsharkTimeout: 1800,
    timeout: 1800,
    dir: DEFAULTS.dir,
    seed: DEFAULTS.seed,
    cpu: 0,
    ackEvery: DEFAULTS.ackEvery,
    profile: false,
    runs: 1,
    dicomtap: ["node", "bin/dicomtap.js"],
    quick: false,
    skipLive: false,
    skipFloods: false,
    skipLiveFloods: false,
    liveFloodsPps: DEFAULT_FLOOD_PPS,
    liveRates: [...DEFAULT_RATES],
    liveRuns: 3,
    liveGro: true,
    liveCopies: DEFAULT_COPIES,
    liveCapturers: [...CAPTURERS],
  };
  let liveRatesSet = false;
  let liveRunsSet = false;
  let sizeSet = false;
  let countSet = false;
  let tsharkTimeoutSet = false;
  let hostsSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) usage();
      return x;
    };
    if (a === "--size") {
      o.sizeBytes = parseSize(v());
      sizeSet = true;
    } else if (a === "--count") {
      o.counts = v()
        .split(",")
        .map((x) => Number(x))
        .filter((x) => Number.isInteger(x) && x > 0);
      if (o.counts.length === 0) usage();
      countSet = true;
    } else if (a === "--only") {
      const s = v();
      if (s !== "a" && s !== "b" && s !== "f" && s !== "live" && s !== "floods") usage();
      o.only = s;
    } else if (a === "--skip-tshark") o.skipTshark = true;
    else if (a === "--skip-publish") o.skipPublish = true;
    else if (a === "--skip-live") o.skipLive = true;
    else if (a === "--skip-floods") o.skipFloods = true;
    else if (a === "--skip-live-floods") o.skipLiveFloods = true;
    else if (a === "--live-floods-pps") {
      o.liveFloodsPps = Number(v());
      if (!Number.isInteger(o.liveFloodsPps) || o.liveFloodsPps < 1) usage();
    } else if (a === "--live-rates") {
      o.liveRates = v()
        .split(",")
        .map((x): Rate => (x === "top" ? "top" : Number(x)))
        .filter((x) => x === "top" || x > 0);
      if (o.liveRates.length === 0) usage();
      liveRatesSet = true;
    } else if (a === "--live-runs") {
      o.liveRuns = Number(v());
      if (!Number.isInteger(o.liveRuns) || o.liveRuns < 1) usage();
      liveRunsSet = true;
    } else if (a === "--live-gro") {
      const g = v();
      if (g !== "on" && g !== "off") usage();
      o.liveGro = g === "on";
    } else if (a === "--live-copies") {
      o.liveCopies = Number(v());
      if (!Number.isInteger(o.liveCopies) || o.liveCopies < 1) usage();
    } else if (a === "--live-capturers") {
      const list = v().split(",");
      if (list.some((c) => !(CAPTURERS as readonly string[]).includes(c))) usage();
      o.liveCapturers = list as Capturer[];
    } else if (a === "--hosts") {
      o.hosts = Number(v());
      if (!Number.isInteger(o.hosts) || o.hosts < 1) usage();
      hostsSet = true;
    } else if (a === "--rate") {
      o.rate = Number(v());
      if (!(o.rate > 0)) usage();
    } else if (a === "--tshark-timeout") {
      o.tsharkTimeout = Number(v());
      tsharkTimeoutSet = true;
    } else if (a === "--timeout") o.timeout = Number(v());
    else if (a === "--dir") o.dir = v();
    else if (a === "--seed") o.seed = Number(v());
    else if (a === "--cpu") o.cpu = Number(v());
    else if (a === "--ack-every") o.ackEvery = Number(v());
    else if (a === "--profile") o.profile = true;
    else if (a === "--runs") o.runs = Math.max(1, Number(v()) || 1);
    else if (a === "--quick") o.quick = true;
    else if (a === "--dicomtap")
      o.dicomtap = v()
        .split(/\s+/)
        .filter((s) => s !== "");
    else if (a === "--dicomtap-main") {
      // Runs a compiled main.js directly (e.g. a scripts/devtest build), without bin/ and dist/.
      const url = pathToFileURL(resolve(v())).href;
      o.dicomtap = [
        "node",
        "--input-type=module",
        "-e",
        `import { main } from ${JSON.stringify(url)}; process.exitCode = await main(process.argv.slice(1));`,
      ];
    } else if (a === "--help" || a === "-h") usage();
    else {
      process.stderr.write(`unknown option ${a}\n`);
      usage();
    }
  }
  if (o.quick) {
    if (!sizeSet) o.sizeBytes = 200 << 20;
    if (!countSet) o.counts = [1000];
    if (!tsharkTimeoutSet) o.tsharkTimeout = 300;
    if (!hostsSet) o.hosts = 1000;
    if (!liveRatesSet) o.liveRates = [1000];
    if (!liveRunsSet) o.liveRuns = 1;
  }
  if (o.only === "f" && o.skipPublish) {
    process.stderr.write("--only f and --skip-publish leave nothing to run\n");
    usage();
  }
  if (o.only === "live" && o.skipLive) {
    process.stderr.write("--only live and --skip-live leave nothing to run\n");
    usage();
  }
  return o;
}

/** Reads the file once so both tools start from the page cache, not the disk. */
async function warm(file: string): Promise<void> {
  await new Promise<void>((res, rej) => {
    const s = createReadStream(file, { highWaterMark: 8 << 20 });
    s.on("data", () => undefined);
    s.on("end", () => res());
    s.on("error", rej);
  });
}

function vmHwmKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid.toString()}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs `cmd` pinned to one core with a time limit; stdout goes to /dev/null. Wall time is measured
 * here (spawn to exit, so start-up counts); peak RSS by GNU time or by polling VmHWM.
 */
async function measure(cmd: string[], cpu: number, timeoutSec: number, dir: string): Promise<RunResult> {
  const useTime = existsSync(GNU_TIME);
  const timeFile = join(dir, `time-${process.pid.toString()}.txt`);
  const pinned = ["taskset", "-c", cpu.toString(), ...cmd];
  // timeout(1) kills the tool at the limit; GNU time still reports the rusage of what it waited for.
  const argv = useTime
    ? [GNU_TIME, "-f", "%e %M", "-o", timeFile, "timeout", "-s", "KILL", timeoutSec.toString(), ...pinned]
    : pinned;
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 20000) stderr += d;
  });
  let hwm = 0;
  let timedOut = false;
  let poll: NodeJS.Timeout | null = null;
  let killer: NodeJS.Timeout | null = null;
  if (!useTime && child.pid !== undefined) {
    const pid = child.pid;
    // taskset execs the tool, so the child's pid is the tool's pid.
    poll = setInterval(() => (hwm = Math.max(hwm, vmHwmKiB(pid))), 20);
    killer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutSec * 1000);
  }
  const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (poll) clearInterval(poll);
  if (killer) clearTimeout(killer);
  let exitCode = code;
  if (useTime) {
    const text = existsSync(timeFile) ? readFileSync(timeFile, "utf8") : "";
    rmSync(timeFile, { force: true });
    const last = text.trim().split("\n").pop() ?? "";
    const m = /^([\d.]+) (\d+)$/.exec(last);
    if (m) hwm = Number(m[2]);
    // GNU time exits with the command's status; timeout(1) with KILL gives 137.
    if (/terminated by signal 9|exit status 137/.test(text) || code === 137) timedOut = true;
    const st = /Command exited with non-zero status (\d+)/.exec(text);
    if (st) exitCode = Number(st[1]);
  }
  return { wallSeconds: wall, peakRssKiB: hwm, exitCode, timedOut, stderr };
}

function tsharkCommand(file: string, ports: number[]): string[] {
  const cmd = [
    "tshark",
    "-r",
    file,
    "-n",
    "--enable-heuristic",
    "dicom_tcp",
    "-o",
    "tcp.reassemble_out_of_order:TRUE",
  ];
  // Element values (command field, message IDs, status, UIDs) are only dissected into fields with tag_tree.
  cmd.push("-o", "dicom.tag_tree:TRUE");
  for (const p of ports) cmd.push("-d", `tcp.port==${p.toString()},dicom`);
  cmd.push("-Y", "dicom", "-T", "fields");
  for (const f of TSHARK_FIELDS) cmd.push("-e", f);
  return cmd;
}

const MB = 1e6;
const MiB = 1 << 20;

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "),
    )
    .join("\n");
}

function report(rows: Row[], o: Options): string {
  const head = [
    "capture",
    "size MB",
    "packets",
    "ours s",
    "ours MB/s",
    "ours kpkt/s",
    "ours RSS MiB",
    "copied %",
    "tshark s",
    "tshark MB/s",
    "tshark RSS MiB",
    "ratio",
  ];
  const out: string[][] = [head];
  const notes: string[] = [];
  for (const r of rows) {
    const size = r.manifest.fileBytes;
    const ours = r.ours;
    const mbps = size / MB / ours.wallSeconds;
    const kpps = r.manifest.packets / 1000 / ours.wallSeconds;
    const copied = r.ourStats ? (100 * (r.ourStats.bytesCopied ?? NaN)) / (r.ourStats.bytes ?? NaN) : NaN;
    let ts = "-";
    let tmbps = "-";
    let trss = "-";
    let ratio = "-";
    if (r.tshark) {
      const t = r.tshark;
      const tr = size / MB / t.wallSeconds;
      ts = (t.timedOut ? ">" : "") + fmt(t.wallSeconds, 1);
      tmbps = (t.timedOut ? "<" : "") + fmt(tr, 1);
      trss = (t.timedOut ? ">" : "") + fmt(t.peakRssKiB / 1024);
      ratio = (t.timedOut ? ">" : "") + fmt(mbps / tr, 1);
    }
    out.push([
      `${r.shape}: ${r.shape === "a" ? `${r.manifest.associations.toString()} assoc` : "1 assoc"}, ${r.manifest.cStores.toString()} C-STORE`,
      fmt(size / MB),
      r.manifest.packets.toString(),
      fmt(ours.wallSeconds, 2),
      fmt(mbps),
      fmt(kpps),
      fmt(ours.peakRssKiB / 1024),
      fmt(copied, 3),
      ts,
      tmbps,
      trss,
      ratio,
    ]);
    if (ours.exitCode !== 0 || ours.timedOut)
      notes.push(
        `${r.shape}: dicomtap exited ${String(ours.exitCode)}${ours.timedOut ? " (timed out)" : ""}: ${ours.stderr.trim().slice(0, 500)}`,
      );
    if (r.ourStats) {
      const s = r.ourStats;
      notes.push(
        `${r.shape}: dicomtap stats packets=${String(s.packets)} (generated ${r.manifest.packets.toString()}) associations=${String(s.associations)} (generated ${r.manifest.associations.toString()}) dimseMessages=${String(s.dimseMessages)} (generated ${(2 * r.manifest.cStores).toString()}) anomalies=${String(s.anomalies)}`,
      );
      const targets = [
        [mbps >= 1000, `≥1000 MB/s (${fmt(mbps)})`],
        [kpps >= 1000, `≥1M packets/s (${fmt(kpps / 1000, 2)}M)`],
        [ours.peakRssKiB / 1024 <= 128, `peak RSS ≤128 MiB (${fmt(ours.peakRssKiB / 1024)})`],
        [copied <= 1, `bytesCopied ≤1% (${fmt(copied, 3)}%)`],
      ] as const;
      const ratioOk =
        r.tshark === null
          ? null
          : mbps / (size / MB / r.tshark.wallSeconds) >= 20
            ? true
            : r.tshark.timedOut
              ? null
              : false;
      const parts = targets.map(([ok, label]) => `${ok ? "ok" : "MISS"} ${label}`);
      if (ratioOk !== null) parts.push(`${ratioOk ? "ok" : "MISS"} ≥20× tshark`);
      else if (r.tshark) parts.push("? ≥20× tshark (tshark timed out; ratio is a lower bound)");
      // Issue 2 sets the targets for captures of 500 MB and more; below that start-up dominates.
      if (size >= 500 * MB) notes.push(`${r.shape}: targets: ${parts.join("; ")}`);
      else notes.push(`${r.shape}: (targets apply to captures of 500 MB and more) ${parts.join("; ")}`);
    }
    if (r.leak)
      notes.push(`${r.shape}: LEAK: the report contains the fake patient canary ${r.manifest.canary}`);
    if (r.tshark && r.tshark.exitCode !== 0 && !r.tshark.timedOut)
      notes.push(
        `${r.shape}: tshark exited ${String(r.tshark.exitCode)}: ${r.tshark.stderr.trim().slice(0, 300)}`,
      );
    if (r.tshark?.timedOut)
      notes.push(`${r.shape}: tshark stopped after ${o.tsharkTimeout.toString()} s; its figures are bounds`);
  }
  return `${table(out)}\n\nMB = 10^6 bytes of capture file; one core (taskset -c ${o.cpu.toString()}), start-up included.\n${notes.join("\n")}\n`;
}

async function profileRun(o: Options, m: Manifest): Promise<void> {
  const profDir = join(o.dir, `prof-${basename(m.file, ".pcap")}`);
  rmSync(profDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  const [node, ...rest] = o.dicomtap;
  if (node !== "node") {
    process.stderr.write("--profile needs a --dicomtap command that starts with node\n");
    return;
  }
  const cmd = [
    "node",
    "--cpu-prof",
    "--cpu-prof-dir",
    profDir,
    ...rest,
    "analyze",
    m.file,
    "--json",
    join(o.dir, "profile-report.json"),
  ];
  const r = await measure(cmd, o.cpu, o.timeout, o.dir);
  const prof = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  if (!prof) {
    process.stderr.write(`no profile written (exit ${String(r.exitCode)}): ${r.stderr.slice(0, 300)}\n`);
    return;
  }
  process.stdout.write(
    `\n== ${m.shape}: analyze under --cpu-prof (${fmt(r.wallSeconds, 2)} s) ${join(profDir, prof)}\n`,
  );
  process.stdout.write(formatProfile(summariseProfile(join(profDir, prof))) + "\n");
}

async function run(o: Options): Promise<void> {
  mkdirSync(o.dir, { recursive: true });
  const jobs: { shape: Shape; count: number }[] = [];
  if (o.only === null || o.only === "a") jobs.push({ shape: "a", count: 0 });
  if (o.only === null || o.only === "b") for (const count of o.counts) jobs.push({ shape: "b", count });
  const rows: Row[] = [];
  for (const { shape, count } of jobs) {
    process.stderr.write(`[bench] capture ${shape}: generating or reusing in ${o.dir}\n`);
    const m = ensureCapture({
      ...DEFAULTS,
      shape,
      sizeBytes: o.sizeBytes,
      count,
      seed: o.seed,
      dir: o.dir,
      ackEvery: o.ackEvery,
      verbose: true,
    });
    process.stderr.write(
      `[bench] ${m.file}: ${fmt(m.fileBytes / MiB)} MiB, ${m.packets.toString()} packets, ${m.associations.toString()} associations, ${m.cStores.toString()} C-STOREs\n`,
    );
    await warm(m.file);
    const out = join(o.dir, `report-${shape}.json`);
    rmSync(out, { force: true });
    process.stderr.write(`[bench] ${shape}: ${o.dicomtap.join(" ").slice(0, 60)} analyze ...\n`);
    // Best of --runs: other work on a shared machine only ever makes a run slower.
    let ours = await measure([...o.dicomtap, "analyze", m.file, "--json", out], o.cpu, o.timeout, o.dir);
    for (let i = 1; i < o.runs; i++) {
      const again = await measure([...o.dicomtap, "analyze", m.file, "--json", out], o.cpu, o.timeout, o.dir);
      if (again.wallSeconds < ours.wallSeconds)
        ours = { ...again, peakRssKiB: Math.max(again.peakRssKiB, ours.peakRssKiB) };
      else ours.peakRssKiB = Math.max(again.peakRssKiB, ours.peakRssKiB);
    }
    let ourStats: Record<string, number> | null = null;
    let leak = false;
    if (existsSync(out)) {
      const text = readFileSync(out, "utf8");
      leak = text.includes(m.canary);
      try {
        ourStats = (JSON.parse(text) as { stats: Record<string, number> }).stats;
      } catch {
        ourStats = null;
      }
    }
    let tshark: RunResult | null = null;
    if (!o.skipTshark) {
      process.stderr.write(`[bench] ${shape}: tshark (limit ${o.tsharkTimeout.toString()} s) ...\n`);
      tshark = await measure(tsharkCommand(m.file, m.serverPorts), o.cpu, o.tsharkTimeout, o.dir);
    }
    rows.push({ shape, manifest: m, ours, ourStats, leak, tshark });
    if (o.profile) await profileRun(o, m);
  }
  let publish: PublishResult | null = null;
  if (!o.skipPublish && (o.only === null || o.only === "f")) {
    process.stderr.write(`[bench] capture f: generating or reusing in ${o.dir}\n`);
    const m = ensureCapture({
      ...DEFAULTS,
      shape: "f",
      hosts: o.hosts,
      rate: o.rate,
      seed: o.seed,
      dir: o.dir,
      ackEvery: o.ackEvery,
      verbose: true,
    });
    process.stderr.write(
      `[bench] ${m.file}: ${fmt(m.fileBytes / MiB, 1)} MiB, ${m.packets.toString()} packets, ${m.associations.toString()} associations, ${fmt(m.findingsPlan?.captureSeconds ?? NaN, 1)} s of capture\n`,
    );
    await warm(m.file);
    publish = await runPublish({
      manifest: m,
      dicomtap: o.dicomtap,
      cpu: o.cpu,
      timeout: o.timeout,
      measure,
      log: (msg) => process.stderr.write(`[bench] ${msg}\n`),
    });
  }
  let live: LiveResult | null = null;
  let liveSkipped: string | null = null;
  if (!o.skipLive && (o.only === null || o.only === "live")) {
    liveSkipped = liveUnavailable(o.liveCapturers, o.liveGro);
    if (liveSkipped !== null) process.stderr.write(`[bench] live phase skipped: ${liveSkipped}\n`);
    else
      live = await runLive({
        dir: join(o.dir, "live"),
        rates: o.liveRates,
        runs: o.liveRuns,
        copies: o.liveCopies,
        gro: o.liveGro,
        capturers: o.liveCapturers,
        dicomtap: o.dicomtap,
        log: (msg) => process.stderr.write(`[bench] ${msg}\n`),
      });
  }
  // Issue 9: peak RSS of analyze and the agent under flow floods (the memory budget: under 128 MiB).
  let floods: FloodRow[] = [];
  let liveFloods: LiveFloodRow[] = [];
  let liveFloodsSkipped: string | null = null;
  if (!o.skipFloods && (o.only === null || o.only === "floods")) {
    const sizes: typeof FLOOD_SIZES = o.quick ? [["header", 20_000]] : FLOOD_SIZES;
    floods = runFloods(join(o.dir, "floods"), sizes, (msg) => process.stderr.write(`[bench] ${msg}\n`));
    // The same floods live: tcpreplay onto the veth pair into `dicomtap run` (root, namespaces).
    if (!o.skipLiveFloods) {
      liveFloodsSkipped = liveUnavailable(["dicomtap"], o.liveGro);
      if (liveFloodsSkipped !== null)
        process.stderr.write(`[bench] live floods skipped: ${liveFloodsSkipped}\n`);
      else
        liveFloods = await runLiveFloods({
          dir: join(o.dir, "floods"),
          sizes,
          pps: o.liveFloodsPps,
          gro: o.liveGro,
          log: (msg) => process.stderr.write(`[bench] ${msg}\n`),
        });
    }
  }
  let text = rows.length > 0 ? report(rows, o) : "";
  if (floods.length > 0) text += (text ? "\n" : "") + formatFloods(floods);
  if (liveFloods.length > 0) text += "\n" + formatLiveFloods(liveFloods);
  else if (liveFloodsSkipped !== null) text += `\nlive floods skipped: ${liveFloodsSkipped}\n`;
  if (publish) text += (text ? "\n" : "") + formatPublish(publish, o.cpu);
  if (live) text += (text ? "\n" : "") + formatLive(live);
  else if (liveSkipped !== null) text += (text ? "\n" : "") + `live phase skipped: ${liveSkipped}\n`;
  process.stdout.write("\n" + text);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultPath = join(o.dir, `results-${stamp}.json`);
  writeFileSync(
    resultPath,
    JSON.stringify(
      { argv: process.argv.slice(2), options: o, rows, publish, live, floods, liveFloods, table: text },
      null,
      2,
    ) + "\n",
  );
  process.stdout.write(`results: ${resultPath}\n`);
}

await run(parseArgs(process.argv.slice(2)));
