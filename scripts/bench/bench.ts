/**
 * `npm run bench`: the performance benchmark of issue 2. For each generated capture it times
 * `dicomtap analyze FILE --json OUT` and tshark's DICOM dissection of the same file, each as a child
 * process pinned to one core, start-up included, and prints throughput, peak RSS and bytesCopied.
 * Then the publish phase of issue 4 (publish.ts): `dicomtap run --replay` of capture f, many findings, to
 * a real mosquitto over mutual TLS; findings delivered per second and packet-to-console latency.
 * Then, as root, the live phase of issue 8 (live.ts): the lab captures replayed by tcpreplay at rising
 * rates onto a veth pair in network namespaces, captured by dicomtap run, tcpdump and tshark.
 * Then the mixed capture of issue 11 (--only mixed): the lab's DICOM captures, the os lab's SMB, FTP, DHCP,
 * HTTP and VNC captures and zeek's SMB2 file copy, copied with shifted addresses (replay-capture.ts), timed
 * like capture a against tshark dissecting DICOM and the same SMB/NTLMSSP/FTP/DHCP/HTTP/VNC fields.
 * Then the central console of issue 12 (--only central, central.ts): findings per second from 100 sensors
 * through mosquitto into the central's store against a subscriber that only counts, and page and API
 * response times (p50/p99) on a store of 10 000 devices and 50 000 findings.
 *
 *   node dist/scripts/bench/bench.js [--quick] [--size 1G] [--count 2000[,4000,...]] [--only a|b|f|live|floods|mixed|central] [--skip-central] [--skip-floods] [--skip-live-floods] [--live-floods-pps 50000] [--skip-tshark]
 *        [--skip-mixed] [--mixed-copies 75] [--mixed-smb ../shared/captures/zeek/smb_smb2.pcap]
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
import { DEFAULTS, ensureCapture, parseSize, type Shape } from "./generate.js";
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
import { DEFAULT_COPIES, defaultFixtures, ensureReplayCapture } from "./replay-capture.js";
import { installRoot } from "../../agent/util/root.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { formatCentral, runCentralBench, type CentralBenchResult } from "./central.js";

interface Options {
  sizeBytes: number;
  /** Shape b: C-STOREs on the one association; several values make one capture each (growth curve). */
  counts: number[];
  only: Shape | "live" | "floods" | "mixed" | "central" | null;
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
  /** No mixed phase (issue 11: DICOM, SMB and the other os captures, analyze against tshark). */
  skipMixed: boolean;
  /** Copies of the mixed capture's sources (at most 128: the IPv4 third octet moves by 2 a copy). */
  mixedCopies: number;
  /** The SMB2 file copy of the mixed capture (zeek's); skipped with a note when absent. */
  mixedSmb: string;
  /** No central phase (issue 12: broker to store with 100 sensors, pages and API on a seeded store). */
  skipCentral: boolean;
}

interface RunResult {
  wallSeconds: number;
  peakRssKiB: number;
  exitCode: number | null;
  timedOut: boolean;
  stderr: string;
}

/** What one analyze-against-tshark row measures: a generated capture (a, b) or the mixed one. */
interface Subject {
  shape: Shape | "mixed";
  label: string;
  file: string;
  fileBytes: number;
  packets: number;
  /** What the generator put in, checked against dicomtap's stats; null for the mixed capture. */
  generated: { associations: number; dimseMessages: number } | null;
  /** Strings that must not appear in the report. */
  canaries: string[];
}

interface Row {
  subject: Subject;
  ours: RunResult;
  ourStats: Record<string, number> | null;
  /** Canaries found in the report. */
  leaks: string[];
  tshark: RunResult | null;
  /** Further lines for the notes (the mixed capture: what the report holds). */
  notes: string[];
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
    "usage: bench.js [--quick] [--size 1G] [--count 2000[,4000,...]] [--only a|b|f|live|floods|mixed|central] [--skip-central] [--skip-floods] [--skip-tshark] [--tshark-timeout SEC]\n" +
      "                [--skip-mixed] [--mixed-copies 75] [--mixed-smb ../shared/captures/zeek/smb_smb2.pcap]\n" +
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
    skipMixed: false,
    mixedCopies: 75,
    mixedSmb: join(installRoot() ?? ".", "..", "shared", "captures", "zeek", "smb_smb2.pcap"),
    skipCentral: false,
  };
  let mixedCopiesSet = false;
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
      if (!["a", "b", "f", "live", "floods", "mixed", "central"].includes(s)) usage();
      o.only = s as Options["only"];
    } else if (a === "--skip-tshark") o.skipTshark = true;
    else if (a === "--skip-mixed") o.skipMixed = true;
    else if (a === "--skip-central") o.skipCentral = true;
    else if (a === "--mixed-copies") {
      o.mixedCopies = Number(v());
      if (!Number.isInteger(o.mixedCopies) || o.mixedCopies < 1) usage();
      mixedCopiesSet = true;
    } else if (a === "--mixed-smb") o.mixedSmb = resolve(v());
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
    if (!mixedCopiesSet) o.mixedCopies = 15;
  }
  if (o.only === "f" && o.skipPublish) {
    process.stderr.write("--only f and --skip-publish leave nothing to run\n");
    usage();
  }
  if (o.only === "live" && o.skipLive) {
    process.stderr.write("--only live and --skip-live leave nothing to run\n");
    usage();
  }
  if (o.only === "mixed" && o.skipMixed) {
    process.stderr.write("--only mixed and --skip-mixed leave nothing to run\n");
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

/**
 * The mixed capture's extra tshark fields: what agent/hosts/ reads (SMB dialects and Native OS, NTLMSSP
 * VERSION, FTP commands, DHCP options, HTTP headers, VNC security types), so tshark does the same work.
 */
const TSHARK_HOST_FIELDS = [
  "smb.cmd",
  "smb.dialect",
  "smb.native_os",
  "smb.native_lanman",
  "smb2.cmd",
  "smb2.dialect",
  "smb2.filename",
  "ntlmssp.version.major",
  "ntlmssp.version.build_number",
  "ftp.request.command",
  "ftp.response.code",
  "dhcp.option.hostname",
  "dhcp.option.vendor_class_id",
  "http.user_agent",
  "http.server",
  "vnc.server_security_type",
  "vnc.client_security_type",
];

/** tshark on the mixed capture: DICOM as for a and b, plus the protocols of issue 11 and their fields. */
function tsharkMixedCommand(file: string, ports: number[]): string[] {
  const cmd = tsharkCommand(file, ports);
  const y = cmd.indexOf("-Y");
  cmd[y + 1] = "dicom || smb || smb2 || ntlmssp || ftp || dhcp || http || vnc";
  for (const f of TSHARK_HOST_FIELDS) cmd.push("-e", f);
  return cmd;
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
    const sub = r.subject;
    const size = sub.fileBytes;
    const ours = r.ours;
    const mbps = size / MB / ours.wallSeconds;
    const kpps = sub.packets / 1000 / ours.wallSeconds;
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
      sub.label,
      fmt(size / MB),
      sub.packets.toString(),
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
    const shape = sub.shape;
    if (ours.exitCode !== 0 || ours.timedOut)
      notes.push(
        `${shape}: dicomtap exited ${String(ours.exitCode)}${ours.timedOut ? " (timed out)" : ""}: ${ours.stderr.trim().slice(0, 500)}`,
      );
    if (r.ourStats && sub.generated === null) {
      const s = r.ourStats;
      notes.push(
        `${shape}: dicomtap stats packets=${String(s.packets)} (in file ${sub.packets.toString()}) tcpFlows=${String(s.tcpFlows)} associations=${String(s.associations)} dimseMessages=${String(s.dimseMessages)} anomalies=${String(s.anomalies)}`,
      );
    } else if (r.ourStats && sub.generated !== null) {
      const s = r.ourStats;
      notes.push(
        `${shape}: dicomtap stats packets=${String(s.packets)} (generated ${sub.packets.toString()}) associations=${String(s.associations)} (generated ${sub.generated.associations.toString()}) dimseMessages=${String(s.dimseMessages)} (generated ${sub.generated.dimseMessages.toString()}) anomalies=${String(s.anomalies)}`,
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
      if (sub.generated === null)
        notes.push(`${shape}: (issue 2's targets are for generated C-STORE captures) ${parts.join("; ")}`);
      else if (size >= 500 * MB) notes.push(`${shape}: targets: ${parts.join("; ")}`);
      else notes.push(`${shape}: (targets apply to captures of 500 MB and more) ${parts.join("; ")}`);
    }
    for (const n of r.notes) notes.push(`${shape}: ${n}`);
    if (r.leaks.length > 0)
      notes.push(`${shape}: LEAK: the report contains the fake canaries ${r.leaks.join(", ")}`);
    if (r.tshark && r.tshark.exitCode !== 0 && !r.tshark.timedOut)
      notes.push(
        `${shape}: tshark exited ${String(r.tshark.exitCode)}: ${r.tshark.stderr.trim().slice(0, 300)}`,
      );
    if (r.tshark?.timedOut)
      notes.push(`${shape}: tshark stopped after ${o.tsharkTimeout.toString()} s; its figures are bounds`);
  }
  return `${table(out)}\n\nMB = 10^6 bytes of capture file; one core (taskset -c ${o.cpu.toString()}), start-up included.\n${notes.join("\n")}\n`;
}

async function profileRun(o: Options, m: { shape: string; file: string }): Promise<void> {
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

/**
 * Times `dicomtap analyze` (best of --runs) and then `tshark` on one capture, pinned to the same core; reads
 * the report's stats and looks for the canaries in it.
 */
async function analyzeAgainstTshark(o: Options, sub: Subject, tsharkCmd: string[]): Promise<Row> {
  await warm(sub.file);
  const out = join(o.dir, `report-${sub.shape}.json`);
  rmSync(out, { force: true });
  process.stderr.write(`[bench] ${sub.shape}: ${o.dicomtap.join(" ").slice(0, 60)} analyze ...\n`);
  // Best of --runs: other work on a shared machine only ever makes a run slower.
  let ours = await measure([...o.dicomtap, "analyze", sub.file, "--json", out], o.cpu, o.timeout, o.dir);
  for (let i = 1; i < o.runs; i++) {
    const again = await measure([...o.dicomtap, "analyze", sub.file, "--json", out], o.cpu, o.timeout, o.dir);
    if (again.wallSeconds < ours.wallSeconds)
      ours = { ...again, peakRssKiB: Math.max(again.peakRssKiB, ours.peakRssKiB) };
    else ours.peakRssKiB = Math.max(again.peakRssKiB, ours.peakRssKiB);
  }
  let ourStats: Record<string, number> | null = null;
  let leaks: string[] = [];
  const notes: string[] = [];
  if (existsSync(out)) {
    const text = readFileSync(out, "utf8");
    let searched = text;
    try {
      const rep = JSON.parse(text) as ReportSummary;
      ourStats = rep.stats;
      if (sub.generated === null) notes.push(...summariseHosts(rep));
      // A DICOM A-ASSOCIATE's user identity name is reported by design (the lab's identity.pcap sends the
      // canary account's); anywhere else it is a leak.
      for (const a of rep.associations ?? []) if (a.userIdentity) delete a.userIdentity.username;
      searched = JSON.stringify(rep);
    } catch {
      ourStats = null;
    }
    leaks = sub.canaries.filter((c) => searched.includes(c));
  }
  let tshark: RunResult | null = null;
  if (!o.skipTshark) {
    process.stderr.write(`[bench] ${sub.shape}: tshark (limit ${o.tsharkTimeout.toString()} s) ...\n`);
    tshark = await measure(tsharkCmd, o.cpu, o.tsharkTimeout, o.dir);
  }
  if (o.profile) await profileRun(o, sub);
  return { subject: sub, ours, ourStats, leaks, tshark, notes };
}

/** The parts of analyze's JSON report the mixed row summarises. */
interface ReportSummary {
  stats: Record<string, number>;
  devices?: { os?: { name?: string | null } | null; remoteAccess?: { protocol?: string }[] | null }[];
  findings?: { rule?: string }[];
  associations?: { userIdentity?: { username?: string } | null }[];
}

/** What issue 11's decoders made of the mixed capture: devices with an OS, remote access, findings by rule. */
function summariseHosts(rep: ReportSummary): string[] {
  const devices = rep.devices ?? [];
  const withOs = devices.filter((d) => d.os !== null && d.os !== undefined).length;
  const remote = new Map<string, number>();
  for (const d of devices)
    for (const r of d.remoteAccess ?? []) {
      const p = r.protocol ?? "?";
      remote.set(p, (remote.get(p) ?? 0) + 1);
    }
  const rules = new Map<string, number>();
  for (const f of rep.findings ?? []) rules.set(f.rule ?? "?", (rules.get(f.rule ?? "?") ?? 0) + 1);
  const list = (m: Map<string, number>): string =>
    [...m]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([k, n]) => `${k}=${n.toString()}`)
      .join(" ");
  return [
    `report: ${devices.length.toString()} devices, ${withOs.toString()} with an os; remote access ${list(remote)}`,
    `report: findings ${list(rules)}`,
  ];
}

/** DICOM server ports of the lab captures (test/fixtures/lab/README.md), for tshark's `-d`. */
const LAB_DICOM_PORTS = [104, 4242, 11112, 11114];

/** The fake patient and account strings of the lab captures (test/fixtures/patient-canaries.json). */
function labCanaries(): string[] {
  const p = join(installRoot() ?? ".", "test", "fixtures", "patient-canaries.json");
  if (!existsSync(p)) return [];
  const j = JSON.parse(readFileSync(p, "utf8")) as Record<string, string>;
  return Object.entries(j)
    .filter(([k]) => k !== "comment")
    .map(([, v]) => v);
}

/**
 * The mixed capture of issue 11: the lab's DICOM captures, the os lab's captures and zeek's SMB2 file
 * copy, --mixed-copies times with shifted addresses (replay-capture.ts), analyze against tshark.
 */
async function mixedRow(o: Options): Promise<Row> {
  const lab = defaultFixtures();
  const os = join(lab, "..", "os");
  const pcaps = (d: string): string[] =>
    readdirSync(d)
      .filter((n) => n.endsWith(".pcap"))
      .map((n) => join(d, n));
  const sources = [...pcaps(lab), ...pcaps(os)];
  const skipped: string[] = [];
  if (existsSync(o.mixedSmb)) sources.push(o.mixedSmb);
  else skipped.push(`SMB2 file copy ${o.mixedSmb} not found: left out`);
  for (const s of skipped) process.stderr.write(`[bench] mixed: ${s}\n`);
  const m = await ensureReplayCapture({
    dir: o.dir,
    copies: o.mixedCopies,
    sources,
    name: "mixed",
    pack: true,
    log: (msg) => process.stderr.write(`[bench] mixed: ${msg}\n`),
  });
  const bytesOf = (pred: (n: string) => boolean): number =>
    m.sources.filter((s) => pred(s.name)).reduce((a, s) => a + s.bytes, 0);
  const labNames = new Set(pcaps(lab).map((p) => basename(p)));
  const dicomBytes = bytesOf((n) => labNames.has(n));
  const smbBytes = bytesOf((n) => n.includes("smb"));
  const all = bytesOf(() => true);
  process.stderr.write(
    `[bench] ${m.file}: ${fmt(m.fileBytes / MiB)} MiB, ${m.frames.toString()} packets, ${m.copies.toString()} copies of ${m.sources.length.toString()} captures\n`,
  );
  const sub: Subject = {
    shape: "mixed",
    label: `mixed: ${m.copies.toString()}× ${m.sources.length.toString()} captures`,
    file: m.file,
    fileBytes: m.fileBytes,
    packets: m.frames,
    generated: null,
    canaries: labCanaries(),
  };
  const row = await analyzeAgainstTshark(o, sub, tsharkMixedCommand(m.file, LAB_DICOM_PORTS));
  row.notes.unshift(
    `sources (per copy, of the pcap bytes): DICOM lab ${fmt((100 * dicomBytes) / all)} %, SMB ${fmt((100 * smbBytes) / all)} %, other os captures ${fmt((100 * (all - dicomBytes - smbBytes)) / all)} %: ${m.sources.map((s) => s.name).join(" ")}`,
    ...skipped,
  );
  return row;
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
    const subject: Subject = {
      shape,
      label: `${shape}: ${shape === "a" ? `${m.associations.toString()} assoc` : "1 assoc"}, ${m.cStores.toString()} C-STORE`,
      file: m.file,
      fileBytes: m.fileBytes,
      packets: m.packets,
      generated: { associations: m.associations, dimseMessages: 2 * m.cStores },
      canaries: [m.canary],
    };
    rows.push(await analyzeAgainstTshark(o, subject, tsharkCommand(m.file, m.serverPorts)));
  }
  if (!o.skipMixed && (o.only === null || o.only === "mixed")) rows.push(await mixedRow(o));
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
  let central: CentralBenchResult | null = null;
  if (!o.skipCentral && (o.only === null || o.only === "central")) {
    const { report: sample } = await analyzeFiles([
      join(installRoot() ?? ".", "samples", "imaging-room.pcap"),
      ...readdirSync(defaultFixtures())
        .filter((f) => f.endsWith(".pcap"))
        .map((f) => join(defaultFixtures(), f)),
    ]);
    central = await runCentralBench({
      report: sample,
      sensors: 100,
      findingsPerSensor: o.quick ? 50 : 200,
      devices: 10_000,
      findings: 50_000,
      requests: o.quick ? 50 : 200,
      runs: o.quick ? 1 : 3,
      dir: o.dir,
      log: (msg) => process.stderr.write(`[bench] central: ${msg}\n`),
    });
  }
  let text = rows.length > 0 ? report(rows, o) : "";
  if (central) text += (text ? "\n" : "") + formatCentral(central);
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
      {
        argv: process.argv.slice(2),
        options: o,
        rows,
        publish,
        live,
        floods,
        liveFloods,
        central,
        table: text,
      },
      null,
      2,
    ) + "\n",
  );
  process.stdout.write(`results: ${resultPath}\n`);
}

await run(parseArgs(process.argv.slice(2)));
