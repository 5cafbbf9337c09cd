/**
 * The live phase of `npm run bench` (issue 8, "The benchmark"): the lab captures, copied into one replay
 * file (replay-capture.ts), sent by tcpreplay at rising rates onto a veth "mirror port" in two network
 * namespaces, captured by plain tcpdump, by tshark with its DICOM dissector and by `dicomtap run`, each
 * started fresh for every run. Per run: kernel drops, frames captured, CPU seconds of the capturer's whole
 * process tree, peak RSS, the rate tcpreplay achieved; for dicomtap also its event-loop delays and whether
 * what it learned equals `dicomtap analyze` of the same file. Root only (namespaces, veth, tcpreplay).
 *
 *   [dtb-src] dtb-s0 ──veth, MTU 1500── dtb-t0 [dtb-tap]    tcpreplay sends on dtb-s0; the capturer
 *                                                           listens on dtb-t0 (up, no address, no IPv6)
 *
 * GRO ("NIC-like", default on): a NIC hands the kernel bursts per interrupt and GRO merges a flow's
 * segments into one large frame before any packet socket sees it. On veth this takes four settings,
 * found by capturing on the tap side (the live phase checks it every time and reports what it saw):
 *   - `ethtool -K dtb-t0 gro on` on the receiver: gives the veth a NAPI context;
 *   - `ethtool -K dtb-s0 tso off` on the sender: veth only hands a frame to the peer's NAPI when the sending
 *     device has no TSO (veth_skb_is_eligible_for_gro), else the frame bypasses GRO;
 *   - gro_flush_timeout (100 µs) on the receiver: veth schedules a NAPI poll per frame sent, and GRO is
 *     flushed at the end of each poll, so without a timeout nothing is ever merged; with it, segments are
 *     held across polls as a NIC's interrupt coalescing would hold them;
 *   - threaded NAPI on the receiver: else the poll (GRO's checksum checks, the copies into every packet
 *     socket's ring) runs in tcpreplay's own softirq and caps it near 600 Mbit/s; in a kernel thread it
 *     runs beside the sender, as a NIC's receive processing does.
 *
 * CPU: each capturer runs in a cgroup v2 of its own (a child of the cgroup2 mount's root, named dtb-…),
 * whose cpu.stat counts every process of the tree, exited ones included. Where no cgroup2 is writable, the
 * tree's /proc/PID/stat is polled instead (approximate: the last 100 ms before an exit are lost).
 * "CPU s/GB" is the CPU spent from the start of the replay to the capturer's exit, per GB of frames
 * captured (tcpdump counts no bytes: per GB replayed there). Start-up is left out (the same whatever the
 * traffic); the work on what was still buffered at SIGTERM is not. Peak RSS is the sum over the tree's
 * processes of their VmHWM, polled every 100 ms.
 *
 * Losses are counted twice: the drops each capturer reports, and the frames the kernel offered (the tap's
 * "otherhost" counter, after GRO) minus those it captured, which catches a drop counter that misses some.
 * Frames the veth pair itself dropped (its ring full) reach no capturer and are reported apart.
 *
 * tcpreplay runs SCHED_FIFO (chrt) where allowed: traffic on a wire does not slow down while the sensor is
 * busy, but on a machine with few cores a busy capturer takes the sender's CPU (on 2 vCPUs, 350–620 Mbit/s
 * reached at "1000" while dicomtap ran, 1000 with the priority).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { readCaptureFile } from "../../agent/capture/file.js";
import { defaultFixtures, ensureReplayCapture, type ReplayManifest } from "./replay-capture.js";

export type Capturer = "tcpdump" | "tshark" | "dicomtap";
export const CAPTURERS: readonly Capturer[] = ["dicomtap", "tcpdump", "tshark"];
/** A tcpreplay rate in Mbit/s, or "top" for --topspeed. */
export type Rate = number | "top";
export const DEFAULT_RATES: readonly Rate[] = [100, 200, 500, 1000, "top"];
/** What tcpreplay is told: a rate (Mbit/s or top speed) or a fixed number of packets per second. */
export type ReplaySpeed = Rate | { pps: number };

export interface LiveOptions {
  /** Work folder: replay.pcap, result.json, one folder per run. */
  dir: string;
  rates: Rate[];
  runs: number;
  copies: number;
  gro: boolean;
  capturers: Capturer[];
  /** Command prefix that runs dicomtap ("run --config C" or "analyze ..." is appended). */
  dicomtap: string[];
  log: (msg: string) => void;
}

export const NS_SRC = "dtb-src";
export const NS_TAP = "dtb-tap";
export const IF_SRC = "dtb-s0";
export const IF_TAP = "dtb-t0";
/** GRO flush timeout on the receiver (ns): about a NIC's interrupt coalescing at 1 Gbit/s. */
const GRO_FLUSH_NS = 100_000;
/** After the capturer's socket is up, before the replay: its ring and BPF filter are being installed. */
export const SETTLE_MS = 300;
/** From the end of the replay to SIGTERM: what is in the kernel ring and in pipes gets read. */
export const AFTER_REPLAY_MS = 1500;
const LISTEN_TIMEOUT_MS = 30_000;
/** tshark dissects what its temp file still holds after SIGTERM; it may take a while. */
export const EXIT_TIMEOUT_MS = 60_000;
const POLL_MS = 100;
/** A TCP segment at MTU 1500 with its Ethernet header: anything longer was merged by GRO. */
const MAX_WIRE_FRAME = 1514;
const GB = 1e9;

// ---------------------------------------------------------------------------------------------------
// Results

export interface ReplayStats {
  packets: number | null;
  bytes: number | null;
  seconds: number | null;
  achievedMbps: number | null;
  pps: number | null;
  failed: number | null;
  exitCode: number | null;
  output: string;
}

export interface CpuSample {
  userSeconds: number;
  systemSeconds: number;
}

export interface Comparison {
  /** "identical" or a short list of differences. */
  summary: string;
  identical: boolean;
  /** False when the agent's health carries no traffic counters (agents before issue 8). */
  statsCompared: boolean;
  associations: { live: number | null; analyze: number };
  dimseMessages: { live: number | null; analyze: number };
  findings: {
    live: number;
    analyze: number;
    missing: Record<string, number>;
    extra: Record<string, number>;
    countDiffers: Record<string, number>;
  };
  devices: { live: number; analyze: number; missing: number; extra: number; differ: string[] };
}

export interface RunRecord {
  capturer: Capturer;
  rate: Rate;
  run: number;
  error: string | null;
  replay: ReplayStats | null;
  kernelDrops: number | null;
  interfaceDrops: number | null;
  framesCaptured: number | null;
  bytesCaptured: number | null;
  cpuMethod: "cgroup2" | "proc-poll";
  /** Whole life of the tree (start-up and exit included). */
  cpuTotal: CpuSample | null;
  /** From the replay's start to the capturer's exit. */
  cpuWindow: CpuSample | null;
  /**
   * Frames the kernel handed to the tap's packet sockets during the run: the interface's "otherhost"
   * receive counter (every replayed frame is addressed to another host's MAC and dropped by IP after the
   * packet taps saw it), counted after GRO. Null where the kernel lacks the counter (before 5.19).
   */
  framesOffered: number | null;
  /** framesOffered − framesCaptured − kernelDrops: frames lost without being reported as drops. */
  unaccounted: number | null;
  /** Frames the veth pair dropped (sender tx + receiver rx "dropped"): lost before any capturer. */
  linkDrops: number | null;
  cpuSecondsPerGB: number | null;
  peakRssKiB: number | null;
  rssByProcessKiB: Record<string, number>;
  exit: { code: number | null; signal: string | null; seconds: number | null };
  stderrTail: string;
  tshark?: { dicomLines: number };
  dicomtap?: {
    /** The last health payload it printed, and whether it was collected after the replay ended. */
    health: Record<string, unknown> | null;
    healthAfterReplay: boolean;
    healthAtStop: boolean;
    /** Extra wait for a periodic health record (agents that print none at stop), ms. */
    waitedForHealthMs: number;
    eventLoop: { capture: LoopDelay | null; main: LoopDelay | null };
    gaps: { flows: number; bytes: number } | null;
    lines: number;
    compare: Comparison | null;
  };
}

export interface LoopDelay {
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface GroCheck {
  requested: boolean;
  settings: string[];
  framesSent: number;
  framesSeen: number;
  framesOffered: number | null;
  aboveMtu: number;
  maxFrame: number;
  note: string;
}

export interface AnalyzeCost {
  cpuMethod: "cgroup2" | "proc-poll";
  /** Best of three: analyze of the replay file, and of a 10-frame file (start-up). */
  totalSeconds: number | null;
  startupSeconds: number | null;
  peakRssKiB: number | null;
  netSecondsPerGB: number | null;
  totalSecondsPerGB: number | null;
  stats: Record<string, number> | null;
}

export interface LiveResult {
  startedAt: string;
  host: {
    cpus: number;
    kernel: string;
    tcpreplay: string;
    tshark: string;
    tcpdump: string;
    /** 1-minute load average when the phase started and ended: other work skews a shared machine's figures. */
    load: { start: number; end: number | null };
  };
  options: Omit<LiveOptions, "log">;
  replay: ReplayManifest;
  gro: GroCheck | null;
  configNote: string | null;
  analyze: AnalyzeCost | null;
  runs: RunRecord[];
  error: string | null;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion; throws with its stderr on failure. */
function sh(cmd: string, args: string[], timeoutMs = 30_000): string {
  return execFileSync(cmd, args, { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
}

function trySh(cmd: string, args: string[]): string | null {
  try {
    return sh(cmd, args);
  } catch {
    return null;
  }
}

export function hasCommand(name: string): boolean {
  return trySh("sh", ["-c", `command -v ${name}`]) !== null;
}

export function inNs(ns: string, cmd: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...cmd];
}

function nsExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** Clock ticks per second of /proc/PID/stat (USER_HZ). */
let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck === 0) clkTck = Number(trySh("getconf", ["CLK_TCK"])?.trim()) || 100;
  return clkTck;
}

// ---------------------------------------------------------------------------------------------------
// Clean-up on every way out (normal end, error, SIGINT, SIGTERM)

const cleanups = new Set<() => void>();
let exitHooks = false;

function onCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  if (!exitHooks) {
    exitHooks = true;
    process.on("exit", runCleanups);
    for (const sig of ["SIGINT", "SIGTERM"] as const)
      process.once(sig, () => {
        process.stderr.write(`\n[bench] live: ${sig}: tearing the lab down\n`);
        runCleanups();
        process.exit(sig === "SIGINT" ? 130 : 143);
      });
  }
  return () => void cleanups.delete(fn);
}

function runCleanups(): void {
  for (const fn of [...cleanups].reverse()) {
    try {
      fn();
    } catch {
      // best effort: the next clean-up must still run
    }
  }
  cleanups.clear();
}

// ---------------------------------------------------------------------------------------------------
// The lab: two namespaces and a veth pair

export class Lab {
  /** The pid that owns the lab, in one place whatever --dir each benchmark uses (/run: root's tmpfs). */
  private readonly ownerFile = "/run/dicomtap-bench-live.owner";
  private removeHook: (() => void) | null = null;
  tapIfindex = 0;
  tapNsInode = 0;
  /** Whether tcpreplay may run SCHED_FIFO here (chrt present, the kernel allows it). */
  realtime = false;

  constructor(private readonly log: (msg: string) => void) {}

  /** Builds the namespaces; a lab left by a run that died is removed, one in use by a live run is not. */
  up(gro: boolean): string[] {
    if (nsExists(NS_SRC) || nsExists(NS_TAP)) {
      const owner = existsSync(this.ownerFile) ? Number(readFileSync(this.ownerFile, "utf8").trim()) : 0;
      if (owner > 0 && owner !== process.pid && alive(owner))
        throw new Error(`namespaces ${NS_SRC}/${NS_TAP} are in use by another benchmark (pid ${owner})`);
      this.log(`removing a lab left behind by an earlier run (${NS_SRC}, ${NS_TAP})`);
      Lab.teardown();
    }
    writeFileSync(this.ownerFile, `${process.pid}\n`);
    this.removeHook = onCleanup(() => this.downSync());
    sh("ip", ["netns", "add", NS_SRC]);
    sh("ip", ["netns", "add", NS_TAP]);
    // Created inside the namespaces: the pair never exists among the machine's own interfaces.
    sh("ip", [
      "link",
      "add",
      IF_SRC,
      "netns",
      NS_SRC,
      "type",
      "veth",
      "peer",
      "name",
      IF_TAP,
      "netns",
      NS_TAP,
    ]);
    for (const [ns, ifname] of [
      [NS_SRC, IF_SRC],
      [NS_TAP, IF_TAP],
    ] as const) {
      // No addresses, no IPv6 (no router solicitations, DAD or MLD): only replayed frames cross the pair.
      sh("ip", ["netns", "exec", ns, "sysctl", "-qw", `net.ipv6.conf.${ifname}.disable_ipv6=1`]);
      sh("ip", ["-n", ns, "link", "set", ifname, "mtu", "1500"]);
    }
    const settings: string[] = [];
    if (gro) {
      if (!hasCommand("ethtool")) throw new Error("--live-gro on needs ethtool (apt-get install ethtool)");
      sh("ip", ["netns", "exec", NS_TAP, "ethtool", "-K", IF_TAP, "gro", "on"]);
      settings.push(`ethtool -K ${IF_TAP} gro on`);
      sh("ip", ["netns", "exec", NS_SRC, "ethtool", "-K", IF_SRC, "tso", "off"]);
      settings.push(`ethtool -K ${IF_SRC} tso off`);
      sh("ip", [
        "netns",
        "exec",
        NS_TAP,
        "sh",
        "-c",
        `echo ${GRO_FLUSH_NS} > /sys/class/net/${IF_TAP}/gro_flush_timeout`,
      ]);
      settings.push(`${IF_TAP} gro_flush_timeout ${GRO_FLUSH_NS} ns`);
    } else if (hasCommand("ethtool")) {
      sh("ip", ["netns", "exec", NS_TAP, "ethtool", "-K", IF_TAP, "gro", "off"]);
      settings.push(`ethtool -K ${IF_TAP} gro off`);
    }
    sh("ip", ["-n", NS_SRC, "link", "set", IF_SRC, "up"]);
    sh("ip", ["-n", NS_TAP, "link", "set", IF_TAP, "up"]);
    if (gro) {
      // The NAPI context exists once the device is up.
      const threaded = trySh("ip", [
        "netns",
        "exec",
        NS_TAP,
        "sh",
        "-c",
        `echo 1 > /sys/class/net/${IF_TAP}/threaded`,
      ]);
      settings.push(threaded !== null ? `${IF_TAP} threaded NAPI` : `${IF_TAP} threaded NAPI refused`);
    }
    this.realtime = trySh("chrt", ["-f", "10", "true"]) !== null;
    settings.push(this.realtime ? "tcpreplay SCHED_FIFO 10" : "tcpreplay at normal priority (no chrt)");
    const m = /^(\d+):/.exec(sh("ip", ["-n", NS_TAP, "-o", "link", "show", IF_TAP]));
    this.tapIfindex = Number(m?.[1] ?? 0);
    this.tapNsInode = statSync(`/run/netns/${NS_TAP}`).ino;
    return settings;
  }

  /** Whether `pid` is in the tap namespace with a running packet socket bound to the tap interface. */
  packetSocketUp(pid: number): boolean {
    try {
      const ns = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`));
      if (Number(ns?.[1]) !== this.tapNsInode) return false;
      // sk RefCnt Type Proto Iface R Rmem User Inode
      const lines = readFileSync(`/proc/${pid}/net/packet`, "utf8").trim().split("\n").slice(1);
      return lines.some((l) => {
        const f = l.trim().split(/\s+/);
        return Number(f[4]) === this.tapIfindex && f[5] === "1";
      });
    } catch {
      return false;
    }
  }

  /** The tap interface's otherhost receive counter (see RunRecord.framesOffered), or null. */
  offered(): number | null {
    try {
      const j = JSON.parse(sh("ip", ["-n", NS_TAP, "-j", "-s", "-s", "link", "show", IF_TAP])) as {
        stats64?: { rx?: { otherhost?: number } };
      }[];
      const rx = j[0]?.stats64?.rx;
      // iproute2 leaves the counter out while it is 0; a kernel without it (before 5.19) never shows it,
      // which offeredDelta() tells from a replay that was not counted.
      return rx ? (num(rx.otherhost) ?? 0) : null;
    } catch {
      return null;
    }
  }

  /** Drops of the veth pair so far: sender's tx "dropped" + receiver's rx "dropped", or null. */
  linkDrops(): number | null {
    const read = (ns: string, ifname: string, dir: "tx" | "rx"): number | null => {
      try {
        const j = JSON.parse(sh("ip", ["-n", ns, "-j", "-s", "link", "show", ifname])) as {
          stats64?: Record<string, { dropped?: number } | undefined>;
        }[];
        return num(j[0]?.stats64?.[dir]?.dropped);
      } catch {
        return null;
      }
    };
    const a = read(NS_SRC, IF_SRC, "tx");
    const b = read(NS_TAP, IF_TAP, "rx");
    return a === null || b === null ? null : a + b;
  }

  /** Frames offered between two readings; null when unknown or when a replay of `sent` frames left 0. */
  static offeredDelta(a: number | null, b: number | null, sent: number | null): number | null {
    if (a === null || b === null) return null;
    return b - a === 0 && (sent ?? 0) > 0 ? null : b - a;
  }

  /** Kills what still runs in our namespaces (only ours: the names are this benchmark's), deletes them. */
  static teardown(): void {
    for (const ns of [NS_TAP, NS_SRC]) {
      if (!nsExists(ns)) continue;
      const pids = (trySh("ip", ["netns", "pids", ns]) ?? "").split(/\s+/).filter((s) => /^\d+$/.test(s));
      for (const p of pids) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {
          // already gone
        }
      }
      trySh("ip", ["netns", "del", ns]);
    }
  }

  downSync(): void {
    Lab.teardown();
    rmSync(this.ownerFile, { force: true });
    this.removeHook?.();
    this.removeHook = null;
  }
}

// ---------------------------------------------------------------------------------------------------
// CPU and memory of a process tree

/** The cgroup2 mount point, if this process may create cgroups in it. */
function cgroupRoot(): string | null {
  try {
    const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n");
    for (const l of mounts) {
      const f = l.split(" ");
      if (f[2] !== "cgroup2" || f[1] === undefined) continue;
      const probe = join(f[1], `dtb-probe-${process.pid}`);
      try {
        mkdirSync(probe);
        const ok = existsSync(join(probe, "cpu.stat"));
        rmdirSync(probe);
        if (ok) return f[1];
      } catch {
        // read-only or not ours to write: try the next mount
      }
    }
  } catch {
    // no /proc/self/mounts
  }
  return null;
}

/** Cgroups of earlier runs that died before removing theirs (their pid gone, no process left). */
function removeStaleCgroups(mount: string): void {
  for (const d of readdirSync(mount)) {
    const m = /^dtb-bench-(\d+)-\d+$/.exec(d);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      if (readFileSync(join(mount, d, "cgroup.procs"), "utf8").trim() === "") rmdirSync(join(mount, d));
    } catch {
      // not ours to remove after all
    }
  }
}

let cgroupMount: string | null | undefined;
let cgroupSeq = 0;

/** Every descendant of `root` (and root), from /proc's parent links. */
function treePids(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Watches one capturer's process tree: CPU (cgroup v2 cpu.stat, or /proc polling), peak RSS (VmHWM of
 * each process, polled), and kills what is left at the end.
 */
export class Tree {
  readonly method: "cgroup2" | "proc-poll";
  readonly cgroup: string | null;
  private rootPid = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly hwm = new Map<number, { name: string; kib: number }>();
  private lastPoll: CpuSample | null = null;
  private removeHook: (() => void) | null = null;

  constructor() {
    if (cgroupMount === undefined) {
      cgroupMount = cgroupRoot();
      if (cgroupMount !== null) removeStaleCgroups(cgroupMount);
    }
    if (cgroupMount !== null) {
      this.cgroup = join(cgroupMount, `dtb-bench-${process.pid}-${++cgroupSeq}`);
      mkdirSync(this.cgroup);
      this.method = "cgroup2";
      this.removeHook = onCleanup(() => this.closeSync());
    } else {
      this.cgroup = null;
      this.method = "proc-poll";
    }
  }

  /** argv that puts the command into this tree's cgroup before it execs. */
  wrap(argv: string[]): string[] {
    if (this.cgroup === null) return argv;
    return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', join(this.cgroup, "cgroup.procs"), ...argv];
  }

  start(pid: number): void {
    this.rootPid = pid;
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  pids(): number[] {
    if (this.cgroup !== null) {
      try {
        return readFileSync(join(this.cgroup, "cgroup.procs"), "utf8")
          .split("\n")
          .filter((s) => s !== "")
          .map(Number);
      } catch {
        return [];
      }
    }
    return this.rootPid > 0 && alive(this.rootPid) ? treePids(this.rootPid) : [];
  }

  private poll(): void {
    let user = 0;
    let sys = 0;
    for (const pid of this.pids()) {
      try {
        const st = readFileSync(`/proc/${pid}/status`, "utf8");
        const name = /^Name:\s+(\S+)/m.exec(st)?.[1] ?? "?";
        const kib = Number(/^VmHWM:\s+(\d+)/m.exec(st)?.[1] ?? 0);
        const prev = this.hwm.get(pid);
        if (!prev || kib > prev.kib || prev.name !== name) this.hwm.set(pid, { name, kib });
        if (this.cgroup === null) {
          const s = readFileSync(`/proc/${pid}/stat`, "utf8");
          const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
          // utime stime cutime cstime: fields 14-17, here 11-14 after "pid (comm) ".
          user += Number(f[11]) + Number(f[13]);
          sys += Number(f[12]) + Number(f[14]);
        }
      } catch {
        // exited between the listing and the read
      }
    }
    if (this.cgroup === null && (user > 0 || sys > 0))
      this.lastPoll = { userSeconds: user / ticksPerSecond(), systemSeconds: sys / ticksPerSecond() };
  }

  cpu(): CpuSample | null {
    if (this.cgroup === null) {
      this.poll();
      return this.lastPoll;
    }
    try {
      const t = readFileSync(join(this.cgroup, "cpu.stat"), "utf8");
      const v = (k: string): number => Number(new RegExp(`^${k} (\\d+)`, "m").exec(t)?.[1] ?? NaN) / 1e6;
      return { userSeconds: v("user_usec"), systemSeconds: v("system_usec") };
    } catch {
      return null;
    }
  }

  peak(): { kib: number; byName: Record<string, number> } {
    const byName: Record<string, number> = {};
    let kib = 0;
    for (const { name, kib: k } of this.hwm.values()) {
      kib += k;
      byName[name] = Math.max(byName[name] ?? 0, k);
    }
    return { kib, byName };
  }

  stopPolling(): void {
    this.poll();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** SIGKILL to whatever of the tree still runs (our own processes, by pid). */
  killAll(): void {
    for (const p of this.pids()) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
  }

  /** At exit (no event loop left): kill, wait up to a second for the kernel to reap, remove. */
  closeSync(): void {
    if (this.cgroup === null) return;
    for (let i = 0; i < 50 && this.pids().length > 0; i++) {
      this.killAll();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    try {
      rmdirSync(this.cgroup);
    } catch {
      // still busy; a later run removes it (removeStaleCgroups)
    }
  }

  /** Removes the cgroup once empty. */
  async close(): Promise<void> {
    this.stopPolling();
    if (this.cgroup === null) return;
    for (let i = 0; i < 50 && this.pids().length > 0; i++) {
      this.killAll();
      await sleep(20);
    }
    try {
      rmdirSync(this.cgroup);
    } catch {
      // still busy: the exit hook tries again
    }
    this.removeHook?.();
    this.removeHook = null;
  }
}

export const cpuSum = (s: CpuSample | null): number | null => (s ? s.userSeconds + s.systemSeconds : null);
const cpuDelta = (a: CpuSample | null, b: CpuSample | null): CpuSample | null =>
  a && b
    ? { userSeconds: b.userSeconds - a.userSeconds, systemSeconds: b.systemSeconds - a.systemSeconds }
    : null;

// ---------------------------------------------------------------------------------------------------
// Running one command under a Tree

export interface Proc {
  child: ChildProcess;
  tree: Tree;
  stderr: () => string;
  stdoutLines: string[];
  exited: Promise<{ code: number | null; signal: string | null; at: number }>;
}

export function startProc(
  argv: string[],
  stdout: "ignore" | "lines" | number,
  env?: NodeJS.ProcessEnv,
): Proc {
  const tree = new Tree();
  const full = tree.wrap(argv);
  const child = spawn(full[0]!, full.slice(1), {
    stdio: ["ignore", stdout === "lines" ? "pipe" : stdout, "pipe"],
    ...(env ? { env } : {}),
  });
  let err = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    // Enough for the exit statistics, which come last.
    err = (err + d).slice(-200_000);
  });
  const lines: string[] = [];
  if (stdout === "lines") {
    let rest = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (d: string) => {
      const parts = (rest + d).split("\n");
      rest = parts.pop() ?? "";
      for (const p of parts) lines.push(p);
    });
    child.stdout!.on("end", () => {
      if (rest !== "") lines.push(rest);
    });
  }
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((res) => {
    child.once("close", (code, signal) => res({ code, signal, at: Date.now() }));
    child.once("error", () => res({ code: null, signal: null, at: Date.now() }));
  });
  if (child.pid !== undefined) tree.start(child.pid);
  return { child, tree, stderr: () => err, stdoutLines: lines, exited };
}

// ---------------------------------------------------------------------------------------------------
// tcpreplay

export async function replay(file: string, rate: ReplaySpeed, realtime: boolean): Promise<ReplayStats> {
  // -K: the file is read into memory first, so top speed is not the disk's speed.
  const args = [
    ...(realtime ? ["chrt", "-f", "10"] : []),
    "tcpreplay",
    "-i",
    IF_SRC,
    "-K",
    rate === "top" ? "--topspeed" : typeof rate === "number" ? `--mbps=${rate}` : `--pps=${rate.pps}`,
    file,
  ];
  const p = spawn("ip", inNs(NS_SRC, args).slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.setEncoding("utf8");
  p.stderr.setEncoding("utf8");
  p.stdout.on("data", (d: string) => (out += d));
  p.stderr.on("data", (d: string) => (out += d));
  const code = await new Promise<number | null>((r) => p.once("close", (c) => r(c)));
  // Actual: 64768 packets (49251303 bytes) sent in 0.41 seconds
  // Rated: 119613478.4 Bps, 956.90 Mbps, 157302.43 pps
  const a = /Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(out);
  const r = /Rated: [\d.]+ Bps, ([\d.]+) Mbps, ([\d.]+) pps/.exec(out);
  const f = /Failed packets:\s+(\d+)/.exec(out);
  return {
    packets: a ? Number(a[1]) : null,
    bytes: a ? Number(a[2]) : null,
    seconds: a ? Number(a[3]) : null,
    achievedMbps: r ? Number(r[1]) : null,
    pps: r ? Number(r[2]) : null,
    failed: f ? Number(f[1]) : null,
    exitCode: code,
    output: out.slice(-2000),
  };
}

// ---------------------------------------------------------------------------------------------------
// The GRO check: what a capture on the tap side sees of one replay

async function checkGro(lab: Lab, m: ReplayManifest, dir: string, settings: string[], gro: boolean) {
  const file = join(dir, "gro-probe.pcap");
  rmSync(file, { force: true });
  const p = startProc(
    inNs(NS_TAP, ["tcpdump", "-i", IF_TAP, "-n", "-s", "262144", "-B", "65536", "-w", file]),
    "ignore",
  );
  const ok = await waitListening(lab, p, /listening on/);
  if (!ok) {
    p.tree.killAll();
    await p.exited;
    await p.tree.close();
    throw new Error(`tcpdump on ${IF_TAP} did not start: ${p.stderr().slice(-300)}`);
  }
  await sleep(SETTLE_MS);
  const o0 = lab.offered();
  const r = await replay(m.file, 1000, lab.realtime);
  await sleep(AFTER_REPLAY_MS);
  const o1 = lab.offered();
  const offered = Lab.offeredDelta(o0, o1, r.packets);
  p.child.kill("SIGTERM");
  await p.exited;
  await p.tree.close();
  let seen = 0;
  let above = 0;
  let max = 0;
  await readCaptureFile(file, {
    packet(_b, start, end, _ts, _lt, orig) {
      seen++;
      const len = Math.max(orig, end - start);
      if (len > MAX_WIRE_FRAME) above++;
      max = Math.max(max, len);
    },
  });
  rmSync(file, { force: true });
  const drops = /(\d+) packets? dropped by kernel/.exec(p.stderr())?.[1] ?? "?";
  const kernel = `${offered ?? "?"} offered by the kernel (otherhost counter), ${drops} dropped`;
  const note = gro
    ? above > 0
      ? `GRO on: tcpdump on ${IF_TAP} saw ${seen} frames for ${r.packets ?? "?"} sent at 1000 Mbit/s, ${above} of them longer than ${MAX_WIRE_FRAME} bytes (max ${max}); ${kernel}`
      : `GRO requested but NOT seen: ${seen} frames for ${r.packets ?? "?"} sent, none longer than ${MAX_WIRE_FRAME} bytes (this kernel's veth may not do GRO); ${kernel}`
    : `GRO off: ${seen} frames for ${r.packets ?? "?"} sent, ${above} longer than ${MAX_WIRE_FRAME} bytes; ${kernel}`;
  return {
    requested: gro,
    settings,
    framesSent: r.packets ?? 0,
    framesSeen: seen,
    framesOffered: offered,
    aboveMtu: above,
    maxFrame: max,
    note,
  } satisfies GroCheck;
}

// ---------------------------------------------------------------------------------------------------
// Capturers

export async function waitListening(lab: Lab, p: Proc, marker: RegExp | null): Promise<boolean> {
  const end = Date.now() + LISTEN_TIMEOUT_MS;
  const pid = p.child.pid ?? 0;
  let exited = false;
  void p.exited.then(() => (exited = true));
  while (Date.now() < end && !exited) {
    if (lab.packetSocketUp(pid) && (marker === null || marker.test(p.stderr()))) return true;
    await sleep(20);
  }
  return false;
}

function tsharkArgs(): string[] {
  return [
    "tshark",
    "-i",
    IF_TAP,
    "-n",
    "-B",
    "64",
    "--enable-heuristic",
    "dicom_tcp",
    "-d",
    "tcp.port==104,dicom",
    "-d",
    "tcp.port==11112,dicom",
    "-d",
    "tcp.port==4242,dicom",
    "-Y",
    "dicom",
    "-T",
    "fields",
    "-e",
    "dicom.pdu.type",
    // Frames and bytes of the whole capture, printed at exit: tshark's own "N packets captured" counts
    // only the frames that pass -Y.
    "-z",
    "io,stat,0",
  ];
}

interface AgentConfig {
  path: string;
  withBuffer: boolean;
}

function writeAgentConfig(dir: string, withBuffer: boolean): AgentConfig {
  const cfg = {
    sensor: { id: "bench", site: "lab" },
    capture: {
      interface: IF_TAP,
      filter: "tcp",
      snaplen: 262144,
      ...(withBuffer ? { bufferMiB: 64 } : {}),
    },
    store: { path: join(dir, "store.db") },
    health: { intervalSeconds: HEALTH_SECONDS },
  };
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify(cfg, null, 2) + "\n");
  return { path, withBuffer };
}

const HEALTH_SECONDS = 5;
const configRefused = (stderr: string): boolean => /bufferMiB/.test(stderr);

/** A command prefix with its script paths absolute (the command runs under `ip netns exec`). */
export function absolute(cmd: string[]): string[] {
  return cmd.map((a) => (/\.(c|m)?js$/.test(a) && existsSync(a) ? resolve(a) : a));
}

export interface Printed {
  health: Record<string, unknown>[];
  findings: Map<string, Record<string, unknown>>;
  devices: Map<string, Record<string, unknown>>;
}

export function parsePrinted(lines: string[]): Printed {
  const out: Printed = { health: [], findings: new Map(), devices: new Map() };
  for (const l of lines) {
    if (!l.startsWith("{")) continue;
    let msg: { topic?: unknown; payload?: unknown };
    try {
      msg = JSON.parse(l) as { topic?: unknown; payload?: unknown };
    } catch {
      continue;
    }
    const topic = typeof msg.topic === "string" ? msg.topic : "";
    const payload = obj(msg.payload);
    if (!payload) continue;
    const tail = topic.split("/").slice(4); // dicomtap/v1/SITE/SENSOR/...
    // Findings and devices travel in an envelope ({messageId, revision, finding|device}); later revisions
    // of one id replace earlier ones.
    if (tail[0] === "health") out.health.push(payload);
    else if (tail[0] === "findings") {
      const f = obj(payload.finding) ?? payload;
      out.findings.set(findingKey(f), f);
    } else if (tail[0] === "devices") {
      const d = obj(payload.device) ?? payload;
      out.devices.set(String(d.id ?? tail.slice(1).join("/")), d);
    }
  }
  return out;
}

/** Finding ids are a hash of rule, device, peer and the rule's key (agent/findings/engine.ts): no times. */
function findingKey(f: Record<string, unknown>): string {
  return typeof f.id === "string" ? f.id : `${String(f.rule)}|${String(f.device)}|${String(f.peer)}`;
}

interface Report {
  stats: Record<string, number>;
  findings: Record<string, unknown>[];
  devices: Record<string, unknown>[];
}

const sortedJson = (v: unknown): string =>
  JSON.stringify(Array.isArray(v) ? [...(v as unknown[])].map((x) => JSON.stringify(x)).sort() : v);

function compare(p: Printed, health: Record<string, unknown> | null, r: Report): Comparison {
  const traffic = obj(health?.traffic);
  const liveAssoc = num(traffic?.associations);
  const liveMsgs = num(traffic?.dimseMessages);
  const aFindings = new Map(r.findings.map((f) => [findingKey(f), f]));
  const missing: Record<string, number> = {};
  const extra: Record<string, number> = {};
  const countDiffers: Record<string, number> = {};
  const bump = (o: Record<string, number>, k: string): void => void (o[k] = (o[k] ?? 0) + 1);
  for (const [k, f] of aFindings) {
    const l = p.findings.get(k);
    if (!l) bump(missing, String(f.rule));
    else if (num(l.count) !== num(f.count)) bump(countDiffers, String(f.rule));
  }
  for (const [k, f] of p.findings) if (!aFindings.has(k)) bump(extra, String(f.rule));
  const aDevices = new Map(r.devices.map((d) => [String(d.id), d]));
  let dMissing = 0;
  let dExtra = 0;
  const differ: string[] = [];
  for (const [id, d] of aDevices) {
    const l = p.devices.get(id);
    if (!l) dMissing++;
    else {
      const fields = ["aeTitles", "listeningPorts"].filter((k) => sortedJson(l[k]) !== sortedJson(d[k]));
      if (fields.length > 0) differ.push(`${id}: ${fields.join(",")}`);
    }
  }
  for (const id of p.devices.keys()) if (!aDevices.has(id)) dExtra++;
  const parts: string[] = [];
  const aAssoc = r.stats.associations ?? NaN;
  const aMsgs = r.stats.dimseMessages ?? NaN;
  if (liveAssoc !== null && liveAssoc !== aAssoc) parts.push(`associations ${liveAssoc}/${aAssoc}`);
  if (liveMsgs !== null && liveMsgs !== aMsgs) parts.push(`DIMSE ${liveMsgs}/${aMsgs}`);
  const rules = (o: Record<string, number>): string =>
    Object.entries(o)
      .map(([k, v]) => `${k}×${v}`)
      .join(" ");
  if (Object.keys(missing).length > 0) parts.push(`findings missing: ${rules(missing)}`);
  if (Object.keys(extra).length > 0) parts.push(`findings extra: ${rules(extra)}`);
  if (Object.keys(countDiffers).length > 0) parts.push(`finding counts differ: ${rules(countDiffers)}`);
  if (dMissing > 0 || dExtra > 0) parts.push(`devices missing ${dMissing}, extra ${dExtra}`);
  if (differ.length > 0) parts.push(`devices differ: ${differ.length} (${differ.slice(0, 2).join("; ")})`);
  const statsCompared = liveAssoc !== null && liveMsgs !== null;
  const identical = parts.length === 0;
  return {
    summary: identical
      ? statsCompared
        ? "identical"
        : "findings and devices identical (no traffic counters in health)"
      : parts.join("; "),
    identical,
    statsCompared,
    associations: { live: liveAssoc, analyze: aAssoc },
    dimseMessages: { live: liveMsgs, analyze: aMsgs },
    findings: { live: p.findings.size, analyze: aFindings.size, missing, extra, countDiffers },
    devices: { live: p.devices.size, analyze: aDevices.size, missing: dMissing, extra: dExtra, differ },
  };
}

function loopDelay(v: unknown): LoopDelay | null {
  const o = obj(v);
  return o ? { p50Ms: num(o.p50Ms), p99Ms: num(o.p99Ms), maxMs: num(o.maxMs) } : null;
}

interface RunContext {
  lab: Lab;
  o: LiveOptions;
  m: ReplayManifest;
  report: Report | null;
  agentWithBuffer: boolean;
  /** Learned from the first dicomtap run: it prints a health record at SIGTERM (issue 8's contract). */
  agentHealthAtStop: boolean | null;
  configNote: string | null;
}

async function runOnce(ctx: RunContext, capturer: Capturer, rate: Rate, run: number): Promise<RunRecord> {
  const runDir = join(ctx.o.dir, `run-${capturer}-${String(rate)}-${run}`);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const rec: RunRecord = {
    capturer,
    rate,
    run,
    error: null,
    replay: null,
    kernelDrops: null,
    interfaceDrops: null,
    framesCaptured: null,
    bytesCaptured: null,
    cpuMethod: "proc-poll",
    cpuTotal: null,
    cpuWindow: null,
    framesOffered: null,
    unaccounted: null,
    linkDrops: null,
    cpuSecondsPerGB: null,
    peakRssKiB: null,
    rssByProcessKiB: {},
    exit: { code: null, signal: null, seconds: null },
    stderrTail: "",
  };
  let stdoutFd = -1;
  let p: Proc;
  let cpuAtStart: CpuSample | null = null;
  const start = (): Proc => {
    if (capturer === "tcpdump")
      return startProc(
        inNs(NS_TAP, ["tcpdump", "-i", IF_TAP, "-n", "-s", "262144", "-B", "65536", "-w", "/dev/null"]),
        "ignore",
      );
    if (capturer === "tshark") {
      stdoutFd = openSync(join(runDir, "tshark.out"), "w");
      // Its temp capture file goes into the run folder, not /tmp, and is removed with it.
      return startProc(inNs(NS_TAP, tsharkArgs()), stdoutFd, { ...process.env, TMPDIR: runDir });
    }
    const cfg = writeAgentConfig(runDir, ctx.agentWithBuffer);
    return startProc(inNs(NS_TAP, [...absolute(ctx.o.dicomtap), "run", "--config", cfg.path]), "lines");
  };
  const marker = capturer === "tcpdump" ? /listening on/ : capturer === "tshark" ? /Capturing on/ : null;
  p = start();
  let up = await waitListening(ctx.lab, p, marker);
  if (!up && capturer === "dicomtap" && ctx.agentWithBuffer && configRefused(p.stderr())) {
    // The agent before issue 8 knows no capture.bufferMiB and refuses unknown keys: run it without.
    await p.exited;
    await p.tree.close();
    ctx.agentWithBuffer = false;
    ctx.configNote = `the agent refused capture.bufferMiB (${p.stderr().trim().split("\n")[0]?.slice(0, 160) ?? ""}); ran without it`;
    ctx.o.log(ctx.configNote);
    p = start();
    up = await waitListening(ctx.lab, p, marker);
  }
  rec.cpuMethod = p.tree.method;
  if (!up) {
    rec.error = `${capturer} did not start listening on ${IF_TAP}: ${p.stderr().trim().slice(-400)}`;
    p.tree.killAll();
  } else {
    await sleep(SETTLE_MS);
    const cpu0 = p.tree.cpu();
    const offered0 = ctx.lab.offered();
    const link0 = ctx.lab.linkDrops();
    rec.replay = await replay(ctx.m.file, rate, ctx.lab.realtime);
    const replayEnd = Date.now();
    await sleep(AFTER_REPLAY_MS);
    const offered1 = ctx.lab.offered();
    rec.framesOffered = Lab.offeredDelta(offered0, offered1, rec.replay.packets);
    const link1 = ctx.lab.linkDrops();
    rec.linkDrops = link0 !== null && link1 !== null ? link1 - link0 : null;
    cpuAtStart = cpu0;
    let waited = 0;
    if (capturer === "dicomtap" && ctx.agentHealthAtStop !== true) {
      // An agent that prints no health at stop (before issue 8) reports its counters only every
      // HEALTH_SECONDS: wait for the first record collected after the replay, so its drops are known.
      const w0 = Date.now();
      const deadline = w0 + (HEALTH_SECONDS + 1) * 1000;
      while (Date.now() < deadline && !healthAfter(parsePrinted(p.stdoutLines).health, replayEnd))
        await sleep(50);
      waited = Date.now() - w0;
    }
    const termAt = Date.now();
    p.child.kill("SIGTERM");
    const killer = setTimeout(() => p.tree.killAll(), EXIT_TIMEOUT_MS);
    const ex = await p.exited;
    clearTimeout(killer);
    rec.exit = { code: ex.code, signal: ex.signal, seconds: (ex.at - termAt) / 1000 };
    if (capturer === "dicomtap") {
      const printed = parsePrinted(p.stdoutLines);
      const last = printed.health[printed.health.length - 1] ?? null;
      const atStop = healthAfter(printed.health, termAt);
      if (ctx.agentHealthAtStop === null) ctx.agentHealthAtStop = atStop;
      const cap = obj(last?.capture);
      rec.kernelDrops = num(cap?.kernelDrops) ?? num(cap?.drops);
      rec.interfaceDrops = num(cap?.interfaceDrops);
      rec.framesCaptured = num(cap?.packets);
      rec.bytesCaptured = num(cap?.bytes);
      const fresh = healthAfter(printed.health, replayEnd);
      if (!fresh) {
        // A record from before the replay would claim zero drops: better none.
        rec.kernelDrops = rec.interfaceDrops = rec.framesCaptured = rec.bytesCaptured = null;
      }
      const el = obj(last?.eventLoop);
      const gaps = obj(cap?.gaps);
      rec.dicomtap = {
        health: last,
        healthAfterReplay: fresh,
        healthAtStop: atStop,
        waitedForHealthMs: waited,
        eventLoop: { capture: loopDelay(el?.capture), main: loopDelay(el?.main) },
        gaps: gaps ? { flows: num(gaps.flows) ?? 0, bytes: num(gaps.bytes) ?? 0 } : null,
        lines: p.stdoutLines.length,
        compare: ctx.report ? compare(printed, fresh ? last : null, ctx.report) : null,
      };
      writeFileSync(join(runDir, "agent.out"), p.stdoutLines.join("\n") + "\n");
    }
  }
  if (!up) await p.exited;
  p.tree.stopPolling();
  rec.cpuTotal = p.tree.cpu();
  rec.cpuWindow = cpuDelta(cpuAtStart, rec.cpuTotal);
  const peak = p.tree.peak();
  rec.peakRssKiB = peak.kib > 0 ? peak.kib : null;
  rec.rssByProcessKiB = peak.byName;
  await p.tree.close();
  if (stdoutFd >= 0) closeSync(stdoutFd);
  const err = p.stderr();
  rec.stderrTail = err.slice(-1500);
  if (capturer === "tcpdump") {
    // tcpdump's exit lines: "N packets captured", "N packets received by filter",
    // "N packets dropped by kernel", and on some systems "N packets dropped by interface".
    rec.framesCaptured = numMatch(err, /(\d+) packets? captured/);
    rec.kernelDrops = numMatch(err, /(\d+) packets? dropped by kernel/);
    rec.interfaceDrops = numMatch(err, /(\d+) packets? dropped by interface/);
  } else if (capturer === "tshark") {
    // tshark prints "N packets dropped from IF" only when N > 0 (dumpcap's pcap_stats ps_drop); its
    // "N packets captured" counts the frames -Y displayed. A clean exit without the drop line is 0 drops.
    const d = numMatch(err, /(\d+) packets? dropped(?: from \S+)?/);
    rec.kernelDrops = d ?? (/packets? captured/.test(err) ? 0 : null);
    const text = existsSync(join(runDir, "tshark.out"))
      ? readFileSync(join(runDir, "tshark.out"), "utf8")
      : "";
    // | 0.000 <> 0.412 |  35123 | 48123456 |
    const io = /\|\s*[\d.]+\s*<>\s*(?:[\d.]+|Dur)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/.exec(text);
    if (io) {
      rec.framesCaptured = Number(io[1]);
      rec.bytesCaptured = Number(io[2]);
    }
    rec.tshark = { dicomLines: text.split("\n").filter((l) => /^0x0[1-7](,|$)/.test(l)).length };
  }
  if (rec.framesOffered !== null && rec.framesCaptured !== null)
    rec.unaccounted = rec.framesOffered - rec.framesCaptured - (rec.kernelDrops ?? 0);
  const win = cpuSum(rec.cpuWindow);
  // Per GB the capturer saw (dicomtap's health, tshark's io,stat); tcpdump counts no bytes: the replay's.
  const bytes = rec.bytesCaptured ?? rec.replay?.bytes ?? null;
  rec.cpuSecondsPerGB = win !== null && bytes ? win / (bytes / GB) : null;
  if (up && (rec.exit.code ?? 0) !== 0 && rec.exit.signal === null && rec.error === null)
    rec.error = `${capturer} exited with ${String(rec.exit.code)}`;
  if (rec.replay && rec.replay.exitCode !== 0)
    rec.error = `tcpreplay exited ${String(rec.replay.exitCode)}: ${rec.replay.output.slice(-300)}`;
  // Keep the folder small: the agent's store and tshark's temp file are of no use afterwards.
  for (const f of readdirSync(runDir))
    if (f.startsWith("store.db") || f.startsWith("wireshark_")) rmSync(join(runDir, f), { force: true });
  return rec;
}

function numMatch(text: string, re: RegExp): number | null {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

export function healthAfter(list: Record<string, unknown>[], atMs: number): boolean {
  return list.some((h) => typeof h.time === "string" && Date.parse(h.time) >= atMs);
}

// ---------------------------------------------------------------------------------------------------
// analyze of the same file: the reference for correctness and for CPU per GB

async function analyzeCost(ctx: RunContext, dir: string): Promise<AnalyzeCost> {
  const tiny = join(defaultFixtures(), "reject.pcap");
  const out = join(dir, "analyze-report.json");
  const one = async (file: string, withBuffer: boolean) => {
    const cfg = writeAgentConfig(dir, withBuffer);
    rmSync(out, { force: true });
    const p = startProc(
      [...absolute(ctx.o.dicomtap), "analyze", "--config", cfg.path, "--quiet", "--json", out, file],
      "ignore",
    );
    const ex = await p.exited;
    p.tree.stopPolling();
    const cpu = cpuSum(p.tree.cpu());
    const rss = p.tree.peak().kib;
    await p.tree.close();
    return { code: ex.code, cpu, rss, stderr: p.stderr(), method: p.tree.method };
  };
  let first = await one(tiny, ctx.agentWithBuffer);
  if (first.code !== 0 && configRefused(first.stderr)) {
    ctx.agentWithBuffer = false;
    ctx.configNote = `the agent refused capture.bufferMiB (${first.stderr.trim().split("\n")[0]?.slice(0, 160) ?? ""}); ran without it`;
    ctx.o.log(ctx.configNote);
    first = await one(tiny, false);
  }
  if (first.code !== 0) throw new Error(`dicomtap analyze failed: ${first.stderr.trim().slice(-400)}`);
  let startup = first.cpu;
  for (let i = 0; i < 2; i++) {
    const r = await one(tiny, ctx.agentWithBuffer);
    if (r.cpu !== null && (startup === null || r.cpu < startup)) startup = r.cpu;
  }
  let total: number | null = null;
  let rss = 0;
  let method: "cgroup2" | "proc-poll" = first.method;
  for (let i = 0; i < 3; i++) {
    const r = await one(ctx.m.file, ctx.agentWithBuffer);
    if (r.code !== 0)
      throw new Error(`dicomtap analyze ${ctx.m.file} failed: ${r.stderr.trim().slice(-400)}`);
    if (r.cpu !== null && (total === null || r.cpu < total)) total = r.cpu;
    rss = Math.max(rss, r.rss);
    method = r.method;
  }
  const report = JSON.parse(readFileSync(out, "utf8")) as Report;
  ctx.report = report;
  const gb = ctx.m.frameBytes / GB;
  return {
    cpuMethod: method,
    totalSeconds: total,
    startupSeconds: startup,
    peakRssKiB: rss || null,
    netSecondsPerGB: total !== null && startup !== null ? Math.max(0, total - startup) / gb : null,
    totalSecondsPerGB: total !== null ? total / gb : null,
    stats: report.stats,
  };
}

// ---------------------------------------------------------------------------------------------------
// The phase

/** Why the live phase cannot run here, or null when it can. */
export function liveUnavailable(capturers: readonly Capturer[], gro: boolean): string | null {
  if (process.platform !== "linux") return "the live phase needs Linux (network namespaces)";
  if (process.getuid?.() !== 0)
    return "the live phase needs root (network namespaces, veth, tcpreplay): run `sudo node dist/scripts/bench/bench.js --only live`";
  const need = ["ip", "tcpreplay", "tcpdump", ...(capturers.includes("tshark") ? ["tshark", "dumpcap"] : [])];
  if (gro) need.push("ethtool");
  const missing = need.filter((c) => !hasCommand(c));
  if (missing.length > 0)
    return `the live phase needs ${missing.join(", ")} (apt-get install iproute2 tcpreplay tcpdump tshark ethtool${gro ? "; or --live-gro off" : ""})`;
  return null;
}

function version(cmd: string, args: string[], re: RegExp): string {
  // Some print their version on stderr (tcpreplay, tcpdump).
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  return re.exec(`${r.stdout ?? ""}${r.stderr ?? ""}`)?.[1] ?? "?";
}

export async function runLive(o: LiveOptions): Promise<LiveResult> {
  mkdirSync(o.dir, { recursive: true });
  // Folders of an earlier run would mix with this one's.
  for (const d of readdirSync(o.dir))
    if (d.startsWith("run-")) rmSync(join(o.dir, d), { recursive: true, force: true });
  o.log(`live: replay capture in ${o.dir}`);
  const m = await ensureReplayCapture({ dir: o.dir, copies: o.copies, log: (s) => o.log(`live: ${s}`) });
  o.log(
    `live: ${m.file}: ${m.frames} frames, ${m.frameBytes} bytes of frames (${(m.fileBytes / 1e6).toFixed(1)} MB file), ${m.copies} copies`,
  );
  const result: LiveResult = {
    startedAt: new Date().toISOString(),
    host: {
      cpus: (() => {
        try {
          return readFileSync("/proc/cpuinfo", "utf8").match(/^processor\s*:/gm)?.length ?? 0;
        } catch {
          return 0;
        }
      })(),
      kernel: trySh("uname", ["-r"])?.trim() ?? "?",
      tcpreplay: version("tcpreplay", ["--version"], /tcpreplay version: (\S+)/),
      tshark: version("tshark", ["--version"], /TShark \(Wireshark\) (\S+)/),
      tcpdump: version("tcpdump", ["--version"], /tcpdump version (\S+)/),
      load: { start: loadavg()[0] ?? 0, end: null },
    },
    options: {
      dir: o.dir,
      rates: o.rates,
      runs: o.runs,
      copies: o.copies,
      gro: o.gro,
      capturers: o.capturers,
      dicomtap: o.dicomtap,
    },
    replay: m,
    gro: null,
    configNote: null,
    analyze: null,
    runs: [],
    error: null,
  };
  const ctx: RunContext = {
    lab: new Lab((s) => o.log(`live: ${s}`)),
    o,
    m,
    report: null,
    agentWithBuffer: true,
    agentHealthAtStop: null,
    configNote: null,
  };
  try {
    if (o.capturers.includes("dicomtap")) {
      o.log("live: dicomtap analyze of the replay file (reference and CPU per GB)");
      result.analyze = await analyzeCost(ctx, o.dir);
    }
    const settings = ctx.lab.up(o.gro);
    o.log(`live: lab up: ${NS_SRC}/${IF_SRC} ── ${IF_TAP}/${NS_TAP}; ${settings.join("; ") || "no ethtool"}`);
    result.gro = await checkGro(ctx.lab, m, o.dir, settings, o.gro);
    o.log(`live: ${result.gro.note}`);
    for (const c of o.capturers) {
      for (const rate of o.rates) {
        for (let run = 1; run <= o.runs; run++) {
          const r = await runOnce(ctx, c, rate, run);
          result.runs.push(r);
          o.log(`live: ${describeRun(r)}`);
        }
      }
    }
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    o.log(`live: ${result.error}`);
  } finally {
    result.host.load.end = loadavg()[0] ?? null;
    ctx.lab.downSync();
    result.configNote = ctx.configNote;
    writeFileSync(join(o.dir, "result.json"), JSON.stringify(result, null, 2) + "\n");
  }
  return result;
}

function describeRun(r: RunRecord): string {
  const rate = r.rate === "top" ? "top speed" : `${r.rate} Mbit/s`;
  const parts = [
    `${r.capturer} ${rate} run ${r.run}:`,
    `achieved ${fmt(r.replay?.achievedMbps ?? null, 0)} Mbit/s,`,
    `drops ${fmt(r.kernelDrops)},`,
    `frames ${fmt(r.framesCaptured)},`,
    `CPU ${fmt(cpuSum(r.cpuWindow), 2)} s (${fmt(cpuSum(r.cpuTotal), 2)} s in all),`,
    `RSS ${fmt(r.peakRssKiB === null ? null : r.peakRssKiB / 1024, 0)} MiB`,
  ];
  if (r.dicomtap?.compare) parts.push(`; ${r.dicomtap.compare.summary}`);
  if (r.error) parts.push(`; ERROR ${r.error}`);
  return parts.join(" ");
}

// ---------------------------------------------------------------------------------------------------
// Report

function fmt(n: number | null | undefined, digits = 0): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}

function range(xs: (number | null)[], digits = 0): string {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return "-";
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const s = lo === hi ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
  return v.length < xs.length ? `${s} (${xs.length - v.length} n/a)` : s;
}

function median(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function mdTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(3, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]): string => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`;
  return [
    line(rows[0]!),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.slice(1).map(line),
  ].join("\n");
}

const rateLabel = (r: Rate): string => (r === "top" ? "top speed" : `${r} Mbit/s`);

/**
 * All runs at one rate replayed, reported zero kernel drops and captured every frame the kernel offered:
 * a drop counter that misses losses does not make a run lossless.
 */
function lossless(runs: RunRecord[]): boolean {
  return (
    runs.length > 0 && runs.every((r) => r.error === null && r.kernelDrops === 0 && (r.unaccounted ?? 0) <= 0)
  );
}

function loopCell(runs: RunRecord[], which: "capture" | "main"): string {
  const p99 = runs.map((r) => r.dicomtap?.eventLoop[which]?.p99Ms ?? null);
  const max = runs.map((r) => r.dicomtap?.eventLoop[which]?.maxMs ?? null);
  const a = median(p99);
  const b = max.some((x) => x !== null) ? Math.max(...max.filter((x): x is number => x !== null)) : null;
  return a === null && b === null ? "-" : `${fmt(a, 1)} / ${fmt(b, 1)}`;
}

function identicalCell(runs: RunRecord[]): string {
  const c = runs.map((r) => r.dicomtap?.compare ?? null);
  if (c.every((x) => x === null)) return "-";
  const yes = c.filter((x) => x?.identical === true).length;
  const star = c.some((x) => x !== null && !x.statsCompared) ? "*" : "";
  if (yes === runs.length) return `yes${star}`;
  return yes === 0 ? `no${star}` : `${yes}/${runs.length}${star}`;
}

export function formatLive(res: LiveResult): string {
  const out: string[] = [];
  const m = res.replay;
  out.push(
    `== live capture (issue 8): ${m.frames} frames, ${(m.frameBytes / 1e6).toFixed(1)} MB of frames (${m.copies} copies of the lab captures), replayed by tcpreplay ${res.host.tcpreplay} onto a veth pair at MTU 1500; ${res.host.cpus} CPUs, kernel ${res.host.kernel}, load average ${fmt(res.host.load.start, 1)} at the start, ${fmt(res.host.load.end, 1)} at the end`,
  );
  if (res.gro)
    out.push(`GRO: ${res.gro.note}${res.gro.settings.length ? ` [${res.gro.settings.join("; ")}]` : ""}`);
  if (res.configNote) out.push(`config: ${res.configNote}`);
  if (res.error) out.push(`ERROR: ${res.error}`);
  const caps = [...new Set(res.runs.map((r) => r.capturer))];
  for (const c of caps) {
    const runs = res.runs.filter((r) => r.capturer === c);
    const rates = [...new Set(runs.map((r) => r.rate))];
    const head = [
      "rate",
      "achieved Mbit/s",
      "runs",
      "kernel drops",
      "frames offered",
      "frames captured",
      "missing",
      "CPU s/GB captured",
      "peak RSS MiB",
    ];
    if (c === "dicomtap")
      head.push("capture loop p99/max ms", "main loop p99/max ms", "identical to analyze");
    const rows: string[][] = [head];
    for (const rate of rates) {
      const rr = runs.filter((r) => r.rate === rate);
      const row = [
        rateLabel(rate),
        range(
          rr.map((r) => r.replay?.achievedMbps ?? null),
          0,
        ),
        String(rr.length),
        range(rr.map((r) => r.kernelDrops)),
        range(rr.map((r) => r.framesOffered)),
        range(rr.map((r) => r.framesCaptured)),
        range(rr.map((r) => r.unaccounted)),
        fmt(median(rr.map((r) => r.cpuSecondsPerGB)), 2),
        range(rr.map((r) => (r.peakRssKiB === null ? null : r.peakRssKiB / 1024))),
      ];
      if (c === "dicomtap") row.push(loopCell(rr, "capture"), loopCell(rr, "main"), identicalCell(rr));
      rows.push(row);
    }
    const title =
      c === "tcpdump"
        ? "tcpdump -s 262144 -B 65536 -w /dev/null"
        : c === "tshark"
          ? "tshark live, DICOM dissector (-B 64, -Y dicom -T fields)"
          : "dicomtap run (fresh agent, health every 5 s, no broker)";
    out.push("", `### ${title}`, "", mdTable(rows));
    const errs = runs.filter((r) => r.error !== null);
    for (const r of errs.slice(0, 5)) out.push(`- ${rateLabel(r.rate)} run ${r.run}: ${r.error}`);
    if (c === "dicomtap") {
      const diffs = runs.filter((r) => r.dicomtap?.compare && !r.dicomtap.compare.identical);
      for (const r of diffs.slice(0, 8))
        out.push(`- ${rateLabel(r.rate)} run ${r.run} vs analyze: ${r.dicomtap!.compare!.summary}`);
      if (diffs.length > 8) out.push(`- … ${diffs.length - 8} more runs differ (result.json)`);
      if (runs.some((r) => r.dicomtap?.compare && !r.dicomtap.compare.statsCompared))
        out.push(
          "- \\* its health has no `traffic` counters: associations and DIMSE messages not compared, findings and devices only",
        );
      if (runs.some((r) => r.dicomtap && !r.dicomtap.healthAfterReplay))
        out.push(
          "- `-`: no health record collected after the replay (drops and frames unknown for that run)",
        );
      if (runs.some((r) => r.dicomtap && !r.dicomtap.healthAtStop))
        out.push(
          `- this agent printed no health record at SIGTERM: runs waited up to ${HEALTH_SECONDS + 1} s after the replay for its periodic one`,
        );
    }
    const linkLost = runs.filter((r) => (r.linkDrops ?? 0) > 0);
    if (linkLost.length > 0)
      out.push(
        `- the veth pair itself dropped frames in ${linkLost.length} run(s) (up to ${Math.max(...linkLost.map((r) => r.linkDrops ?? 0))}): the receiving side could not take the rate; those frames reached no capturer`,
      );
    if (runs.some((r) => (r.unaccounted ?? 0) > 0))
      out.push(
        '- "missing": frames offered (the kernel\'s count after GRO) − frames captured − drops reported: frames lost without a drop being counted; such a run is not lossless',
      );
    if (c === "tshark")
      out.push('- tshark reports drops only when there are some ("N packets dropped from IF")');
  }
  out.push("", "### highest lossless rate (all runs: zero kernel drops, no frame missing)", "");
  const lrows: string[][] = [["capturer", "highest lossless rate", "first rate with losses"]];
  for (const c of caps) {
    const runs = res.runs.filter((r) => r.capturer === c);
    const rates = [...new Set(runs.map((r) => r.rate))];
    let best: string = "none";
    let firstLoss = "-";
    for (const rate of rates) {
      const rr = runs.filter((r) => r.rate === rate);
      if (lossless(rr)) {
        const ach = median(rr.map((r) => r.replay?.achievedMbps ?? null));
        best = rate === "top" ? `top speed (${fmt(ach)} Mbit/s achieved)` : rateLabel(rate);
      } else if (firstLoss === "-") firstLoss = rateLabel(rate);
    }
    lrows.push([c, best, firstLoss]);
  }
  out.push(mdTable(lrows));
  const a = res.analyze;
  const dt = res.runs.filter((r) => r.capturer === "dicomtap");
  if (a && dt.length > 0) {
    const numeric = [...new Set(dt.map((r) => r.rate))].filter((r): r is number => r !== "top");
    const ref: Rate = numeric.includes(1000) ? 1000 : numeric.length > 0 ? Math.max(...numeric) : "top";
    const live = median(dt.filter((r) => r.rate === ref).map((r) => r.cpuSecondsPerGB));
    const slow = (perGB: number | null): string =>
      perGB === null || perGB <= 0 ? "-" : `${fmt(8000 / perGB / 5, 0)} Mbit/s`;
    const ratio = live !== null && a.netSecondsPerGB ? live / a.netSecondsPerGB : null;
    out.push(
      "",
      "### CPU per GB: dicomtap live vs analyze of the same file",
      "",
      mdTable([
        ["", "CPU s/GB", "on a core 5× slower"],
        [`dicomtap live at ${rateLabel(ref)} (median; replay start → exit)`, fmt(live, 2), slow(live)],
        [
          `dicomtap analyze (best of 3, minus start-up ${fmt(a.startupSeconds, 2)} s)`,
          fmt(a.netSecondsPerGB, 2),
          slow(a.netSecondsPerGB),
        ],
        ["dicomtap analyze, start-up included", fmt(a.totalSecondsPerGB, 2), slow(a.totalSecondsPerGB)],
      ]),
      "",
      `ratio live / analyze: ${ratio === null ? "-" : `${fmt(ratio, 2)}×`} (target ≤ 1.5×). "On a core 5× slower": the rate one such core sustains at this cost, 8000 / (CPU s/GB × 5) Mbit/s. CPU by ${a.cpuMethod}.`,
    );
  }
  out.push("", `results: ${join(res.options.dir, "result.json")}`);
  return out.join("\n") + "\n";
}
