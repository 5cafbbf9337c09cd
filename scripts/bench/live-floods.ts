/**
 * The live half of the flow-flood memory benchmark (issue 9, "Memory under flow floods"): each flood
 * capture of flow-floods.ts replayed by tcpreplay at a fixed packet rate onto the live phase's veth pair
 * (live.ts: namespaces dtb-src/dtb-tap, the same Lab, tcpreplay and process-tree helpers) into a freshly
 * started `dicomtap run` capturing on the receiving side: print mode (no broker), its store in the run's
 * folder. The command runs as installed (bin/dicomtap.js, whose first line sets MALLOC_ARENA_MAX and the
 * V8 heap limits), so the live agent is held to the same budget as `run --replay`: 128 MiB of RSS for the
 * Node process (main thread, capture worker, SQLite), the capture helper (dicomtap-capture) apart.
 *
 * The flood captures need no rewriting for tcpreplay (unlike the lab captures in replay-capture.ts): they
 * are Ethernet, every flow has its own client address, every IPv4 and TCP checksum is computed when they
 * are written (pcap.ts), and no frame is addressed to the tap's MAC, so the tap's otherhost counter counts
 * what the kernel offered. Timestamps do not matter: tcpreplay sends at --pps.
 *
 * Per flood: packets tcpreplay sent, frames the kernel offered on the tap, frames the agent captured and
 * the kernel drops it reports (its health record printed at SIGTERM), and the peak RSS of each process of
 * the agent's tree: VmHWM polled every 100 ms until exit (live.ts's Tree) and read once more just before
 * SIGTERM. After the replay the agent is given until its tree is idle (under 10% of a CPU for a second,
 * at most DRAIN_LIMIT_MS) to work through what it buffered, so the peak covers the whole flood.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { floodCapture, type FloodCapture, type FloodShape } from "./flow-floods.js";
import {
  AFTER_REPLAY_MS,
  EXIT_TIMEOUT_MS,
  IF_TAP,
  Lab,
  NS_TAP,
  SETTLE_MS,
  cpuSum,
  healthAfter,
  inNs,
  mdTable,
  parsePrinted,
  replay,
  sleep,
  startProc,
  waitListening,
  type ReplayStats,
} from "./live.js";

/** Default replay rate: 50 000 frames/s is 22-27 Mbit/s of these small frames, well within the agent's reach. */
export const DEFAULT_FLOOD_PPS = 50_000;
const HEALTH_SECONDS = 5;
/** Longest wait after the replay for the agent to go idle. */
const DRAIN_LIMIT_MS = 60_000;
/** The 128 MiB budget of issue 9 for the Node process. */
const BUDGET_KIB = 128 * 1024;

export interface LiveFloodOptions {
  /** Folder of the flood captures (shared with runFloods) and of one folder per live run. */
  dir: string;
  sizes: [FloodShape, number][];
  pps: number;
  gro: boolean;
  log: (msg: string) => void;
}

/**
 * How the agent is started. "bin": bin/dicomtap.js executed, its shebang's flags and all, as installed.
 * "node-options": the same limits through the environment (MALLOC_ARENA_MAX=2, NODE_OPTIONS with the
 * shebang's V8 flags), for when the installed form does not start: Node refuses per-process V8 flags in
 * a worker's execArgv (ERR_WORKER_INVALID_EXEC_ARGV), and the agent hands its own execArgv to the capture
 * worker; NODE_OPTIONS sets the same process-wide limits without appearing in process.execArgv.
 */
export type Launch = "bin" | "node-options";

export interface LiveFloodRow {
  capture: FloodCapture;
  launch: Launch;
  /** Set when the installed form ("bin") failed to start and this row was measured with node-options. */
  binFailure: string | null;
  pps: number;
  replay: ReplayStats | null;
  /** Frames the kernel handed to the tap's packet sockets (otherhost counter), or null. */
  framesOffered: number | null;
  /** From the agent's health record at stop. */
  framesCaptured: number | null;
  kernelDrops: number | null;
  interfaceDrops: number | null;
  /** Frames the veth pair dropped before any capturer. */
  linkDrops: number | null;
  /** Node process (pid of the command): largest VmHWM seen, polled through exit. */
  nodePeakRssKiB: number | null;
  /** Node's VmHWM read just before SIGTERM. */
  nodeHwmAtStopKiB: number | null;
  /** Capture helper (every dicomtap-capture or tcpdump child, the largest). */
  helperPeakRssKiB: number | null;
  helperName: string | null;
  /** The largest heap used by each thread, over every health record the agent printed (bytes). */
  heapPeakBytes: { main: number | null; capture: number | null };
  rssByProcessKiB: Record<string, number>;
  /** After the replay, until the agent's tree went idle. */
  drainSeconds: number;
  cpuSeconds: number | null;
  healthAtStop: boolean;
  /** A V8 heap limit was reached (the process or the capture worker): from stderr. */
  heapLimit: boolean;
  exit: { code: number | null; signal: string | null; seconds: number | null };
  error: string | null;
  stderrTail: string;
}

function statusKiB(pid: number, field: string): { name: string; kib: number } | null {
  try {
    const st = readFileSync(`/proc/${pid}/status`, "utf8");
    return {
      name: /^Name:\s+(\S+)/m.exec(st)?.[1] ?? "?",
      kib: Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(st)?.[1] ?? 0),
    };
  } catch {
    return null;
  }
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** The V8 flags of bin/dicomtap.js's first line. */
function v8Limits(): string {
  try {
    const first = readFileSync(join(process.cwd(), "bin/dicomtap.js"), "utf8").split("\n")[0] ?? "";
    const flags = first.split(/\s+/).filter((a) => a.startsWith("--"));
    if (flags.length > 0) return flags.join(" ");
  } catch {
    // fall through
  }
  return "--max-old-space-size=96 --max-semi-space-size=2";
}
const V8_LIMITS = v8Limits();

const HEAP_LIMIT = /heap out of memory|Reached heap limit|ERR_WORKER_OUT_OF_MEMORY|heap limit/i;

async function runOne(
  lab: Lab,
  capture: FloodCapture,
  o: LiveFloodOptions,
  launch: Launch,
): Promise<LiveFloodRow> {
  const runDir = join(o.dir, `live-${capture.shape}-${capture.flows}`);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const row: LiveFloodRow = {
    capture,
    launch,
    binFailure: null,
    pps: o.pps,
    replay: null,
    framesOffered: null,
    framesCaptured: null,
    kernelDrops: null,
    interfaceDrops: null,
    linkDrops: null,
    nodePeakRssKiB: null,
    nodeHwmAtStopKiB: null,
    helperPeakRssKiB: null,
    helperName: null,
    heapPeakBytes: { main: null, capture: null },
    rssByProcessKiB: {},
    drainSeconds: 0,
    cpuSeconds: null,
    healthAtStop: false,
    heapLimit: false,
    exit: { code: null, signal: null, seconds: null },
    error: null,
    stderrTail: "",
  };
  const config = join(runDir, "config.json");
  writeFileSync(
    config,
    JSON.stringify(
      {
        sensor: { id: "flood", site: "bench" },
        capture: { interface: IF_TAP, filter: "tcp", snaplen: 262144 },
        store: { path: join(runDir, "store.db") },
        health: { intervalSeconds: HEALTH_SECONDS },
      },
      null,
      2,
    ) + "\n",
  );
  // The installed command: its shebang sets MALLOC_ARENA_MAX=2 and the V8 limits (as runFloods runs it).
  const bin = join(process.cwd(), "bin/dicomtap.js");
  const argv =
    launch === "bin"
      ? [bin, "run", "--config", config]
      : ["env", "MALLOC_ARENA_MAX=2", `NODE_OPTIONS=${V8_LIMITS}`, "node", bin, "run", "--config", config];
  const p = startProc(inNs(NS_TAP, argv), "lines");
  const up = await waitListening(lab, p, null);
  const nodePid = p.child.pid ?? 0;
  // The largest VmHWM of each pid seen: Tree keeps one per name; here per pid, to tell Node from helper.
  const hwm = new Map<number, { name: string; kib: number }>();
  const sample = (): void => {
    for (const pid of p.tree.pids()) {
      const s = statusKiB(pid, "VmHWM");
      if (s === null) continue;
      const prev = hwm.get(pid);
      if (!prev || s.kib >= prev.kib || prev.name !== s.name) hwm.set(pid, s);
    }
  };
  const timer = setInterval(sample, 100);
  if (!up) {
    row.error = `dicomtap did not start listening on ${IF_TAP}: ${p.stderr().trim().slice(-400)}`;
    p.tree.killAll();
    const ex = await p.exited;
    row.exit = { code: ex.code, signal: ex.signal, seconds: null };
  } else {
    await sleep(SETTLE_MS);
    const offered0 = lab.offered();
    const link0 = lab.linkDrops();
    row.replay = await replay(capture.path, { pps: o.pps }, lab.realtime);
    const replayEnd = Date.now();
    await sleep(AFTER_REPLAY_MS);
    // Until the tree is idle: what the ring and the pipe still hold is parsed, the store written.
    let prev = cpuSum(p.tree.cpu());
    let idle = 0;
    while (Date.now() - replayEnd < DRAIN_LIMIT_MS && idle < 2) {
      await sleep(500);
      const now = cpuSum(p.tree.cpu());
      idle = prev !== null && now !== null && now - prev < 0.05 ? idle + 1 : 0;
      prev = now;
    }
    row.drainSeconds = (Date.now() - replayEnd) / 1000;
    row.framesOffered = Lab.offeredDelta(offered0, lab.offered(), row.replay.packets);
    const link1 = lab.linkDrops();
    row.linkDrops = link0 !== null && link1 !== null ? link1 - link0 : null;
    sample();
    row.nodeHwmAtStopKiB = statusKiB(nodePid, "VmHWM")?.kib ?? null;
    const termAt = Date.now();
    p.child.kill("SIGTERM");
    const killer = setTimeout(() => p.tree.killAll(), EXIT_TIMEOUT_MS);
    const ex = await p.exited;
    clearTimeout(killer);
    row.exit = { code: ex.code, signal: ex.signal, seconds: (ex.at - termAt) / 1000 };
    const printed = parsePrinted(p.stdoutLines);
    const last = printed.health[printed.health.length - 1] ?? null;
    row.healthAtStop = healthAfter(printed.health, termAt);
    row.heapPeakBytes = heapPeaks(printed.health);
    if (healthAfter(printed.health, replayEnd)) {
      const cap = obj(last?.capture);
      row.framesCaptured = num(cap?.packets);
      row.kernelDrops = num(cap?.kernelDrops) ?? num(cap?.drops);
      row.interfaceDrops = num(cap?.interfaceDrops);
    }
    if (row.replay.exitCode !== 0)
      row.error = `tcpreplay exited ${String(row.replay.exitCode)}: ${row.replay.output.slice(-300)}`;
    else if ((ex.code ?? 0) !== 0 || ex.signal !== null)
      row.error = `dicomtap exited ${String(ex.code)}${ex.signal ? ` (${ex.signal})` : ""}`;
  }
  clearInterval(timer);
  p.tree.stopPolling();
  row.cpuSeconds = cpuSum(p.tree.cpu());
  // Tree's own poll (VmHWM by name, until exit) and ours (by pid): the larger of the two.
  const byName = p.tree.peak().byName;
  for (const [pid, s] of hwm) {
    if (pid === nodePid) row.nodePeakRssKiB = Math.max(row.nodePeakRssKiB ?? 0, s.kib);
    else if (s.name !== "sh" && s.name !== "ip") {
      row.helperPeakRssKiB = Math.max(row.helperPeakRssKiB ?? 0, s.kib);
      row.helperName = s.name;
    }
  }
  if (row.nodePeakRssKiB !== null && byName.node !== undefined)
    row.nodePeakRssKiB = Math.max(row.nodePeakRssKiB, byName.node);
  if (row.helperName !== null && byName[row.helperName] !== undefined)
    row.helperPeakRssKiB = Math.max(row.helperPeakRssKiB ?? 0, byName[row.helperName]!);
  row.rssByProcessKiB = byName;
  await p.tree.close();
  const err = p.stderr();
  row.stderrTail = err.slice(-1500);
  row.heapLimit = HEAP_LIMIT.test(err);
  writeFileSync(join(runDir, "agent.out"), p.stdoutLines.join("\n") + "\n");
  writeFileSync(join(runDir, "agent.err"), err);
  for (const f of readdirSync(runDir)) if (f.startsWith("store.db")) rmSync(join(runDir, f), { force: true });
  return row;
}

/** The largest peakUsedBytes of each thread over the health records (process.heap, absent from old agents). */
function heapPeaks(health: Record<string, unknown>[]): LiveFloodRow["heapPeakBytes"] {
  const out: LiveFloodRow["heapPeakBytes"] = { main: null, capture: null };
  for (const h of health) {
    const heap = obj(obj(h.process)?.heap);
    for (const thread of ["main", "capture"] as const) {
      const peak = num(obj(heap?.[thread])?.peakUsedBytes);
      if (peak !== null) out[thread] = Math.max(out[thread] ?? 0, peak);
    }
  }
  return out;
}

/** Each flood replayed live into a fresh agent; the lab is built once and torn down at the end. */
export async function runLiveFloods(o: LiveFloodOptions): Promise<LiveFloodRow[]> {
  mkdirSync(o.dir, { recursive: true });
  const rows: LiveFloodRow[] = [];
  const lab = new Lab((s) => o.log(`live floods: ${s}`));
  let launch: Launch = "bin";
  try {
    const settings = lab.up(o.gro);
    o.log(`live floods: lab up; ${settings.join("; ")}`);
    for (const [shape, n] of o.sizes) {
      const capture = floodCapture(o.dir, shape, n);
      o.log(
        `live floods: ${shape} ${n} flows, ${capture.packets} packets at ${o.pps} pps (${(capture.packets / o.pps).toFixed(0)} s)`,
      );
      let r = await runOne(lab, capture, o, launch);
      if (launch === "bin" && r.error !== null && /ERR_WORKER_INVALID_EXEC_ARGV/.test(r.stderrTail)) {
        const why = /Error \[ERR_WORKER_INVALID_EXEC_ARGV\]: ([^\n]*)/.exec(r.stderrTail)?.[1] ?? r.error;
        o.log(`live floods: bin/dicomtap.js as installed did not start (${why}); again with NODE_OPTIONS`);
        launch = "node-options";
        r = await runOne(lab, capture, o, launch);
        r.binFailure = why;
      } else if (launch === "node-options") r.binFailure = rows.find((x) => x.binFailure)?.binFailure ?? null;
      rows.push(r);
      o.log(`live floods: ${shape}: ${describe(r)}`);
    }
  } finally {
    lab.downSync();
    if (existsSync(o.dir))
      writeFileSync(join(o.dir, "live-floods.json"), JSON.stringify(rows, null, 2) + "\n");
  }
  return rows;
}

const mib = (kib: number | null): string => (kib === null ? "-" : (kib / 1024).toFixed(0));
const mibBytes = (b: number | null): string => (b === null ? "-" : (b / 1048576).toFixed(0));
const n = (v: number | null | undefined): string => (v === null || v === undefined ? "-" : String(v));

function describe(r: LiveFloodRow): string {
  return (
    `sent ${n(r.replay?.packets)} at ${r.replay?.pps?.toFixed(0) ?? "-"} pps, offered ${n(r.framesOffered)}, ` +
    `captured ${n(r.framesCaptured)}, kernel drops ${n(r.kernelDrops)}, Node peak RSS ${mib(r.nodePeakRssKiB)} MiB, ` +
    `helper ${mib(r.helperPeakRssKiB)} MiB, exit ${n(r.exit.code)}${r.exit.signal ? ` ${r.exit.signal}` : ""}` +
    (r.error ? `; ERROR ${r.error}` : "")
  );
}

export function formatLiveFloods(rows: LiveFloodRow[]): string {
  const head = [
    "flood",
    "flows",
    "packets",
    "pps sent",
    "replayed",
    "offered",
    "captured",
    "kernel drops",
    "Node peak RSS MiB",
    "Node VmHWM at stop MiB",
    "helper peak RSS MiB",
    "heap peak main / capture MiB",
    "drain s",
    "exit",
    "launch",
  ];
  const t: string[][] = [head];
  const notes: string[] = [];
  for (const r of rows) {
    t.push([
      r.capture.shape,
      String(r.capture.flows),
      String(r.capture.packets),
      r.replay?.pps?.toFixed(0) ?? "-",
      n(r.replay?.packets),
      n(r.framesOffered),
      n(r.framesCaptured),
      n(r.kernelDrops),
      mib(r.nodePeakRssKiB),
      mib(r.nodeHwmAtStopKiB),
      mib(r.helperPeakRssKiB),
      `${mibBytes(r.heapPeakBytes.main)} / ${mibBytes(r.heapPeakBytes.capture)}`,
      r.drainSeconds.toFixed(1),
      `${n(r.exit.code)}${r.exit.signal ? ` ${r.exit.signal}` : ""}`,
      r.launch,
    ]);
    const s = r.capture.shape;
    if (r.binFailure !== null)
      notes.push(
        `- ${s}: bin/dicomtap.js as installed (shebang flags) did not start live: ${r.binFailure}; measured as \`MALLOC_ARENA_MAX=2 NODE_OPTIONS="${V8_LIMITS}" node bin/dicomtap.js run\` (same limits)`,
      );
    if (r.error) notes.push(`- ${s}: ERROR ${r.error}: ${r.stderrTail.trim().slice(-300)}`);
    if (r.heapLimit) notes.push(`- ${s}: a V8 heap limit was reached (stderr)`);
    if (!r.healthAtStop) notes.push(`- ${s}: no health record at SIGTERM: captured and drops unknown`);
    if ((r.linkDrops ?? 0) > 0)
      notes.push(
        `- ${s}: the veth pair's "dropped" counters (sender tx + tap rx) rose by ${n(r.linkDrops)}; frames offered to the tap's packet sockets: ${n(r.framesOffered)} of ${n(r.replay?.packets)} sent`,
      );
    if (r.nodePeakRssKiB !== null)
      notes.push(
        `- ${s}: ${r.nodePeakRssKiB <= BUDGET_KIB ? "ok" : "MISS"} Node peak RSS ≤128 MiB (${mib(r.nodePeakRssKiB)})`,
      );
  }
  return (
    `### dicomtap run live under flow floods (tcpreplay --pps onto the veth pair, print mode, bin/dicomtap.js)\n\n` +
    mdTable(t) +
    "\n\n" +
    "Node: the agent's process (main thread, capture worker, SQLite), VmHWM polled every 100 ms until exit; " +
    "helper: the capture child, apart. heap peak: the largest V8 heap in use of each thread, from the health records' process.heap. offered: the tap's otherhost counter (frames the kernel handed to packet sockets).\n" +
    (notes.length ? notes.join("\n") + "\n" : "")
  );
}
