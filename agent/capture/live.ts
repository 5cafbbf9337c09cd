/**
 * Live capture on the mirrored (SPAN/tap) port, through libpcap, in a child process.
 *
 * A raw IP socket cannot see mirrored traffic (the kernel drops frames addressed to other hosts before
 * IP), so capture goes through libpcap on an AF_PACKET socket in promiscuous mode. The socket is opened by
 * a child, the only process that needs CAP_NET_RAW, which streams pcap records on its stdout into
 * PcapStreamParser, which hands every frame to the sink. Two children speak the same stream:
 *
 *   dicomtap-capture -i IF -s SNAPLEN -B KIB -t 100 -- FILTER      (agent/capture/native, the default)
 *   tcpdump -i IF -n -s SNAPLEN -B KIB -w - -- FILTER             (fallback where the helper is not built)
 *      │ stdout: pcap stream, in blocks    │ stderr: "listening on ...", and the counters
 *      ▼                                   ▼ "N packets captured, N received by filter, N dropped by kernel"
 *   PcapStreamParser ─► sink            kernel drop counters for health() (SIGUSR1 and at exit)
 *
 * Blocks, not packets (issue 8): both read the kernel's TPACKET_V3 ring without immediate mode, so
 * frames are packed into blocks by size (a GRO-merged 64 KiB frame takes 64 KiB of the ring, not one of
 * a few hundred fixed slots), and neither flushes per packet: the helper writes what one block held in
 * one write() and retires a partly filled block after 100 ms; tcpdump (no -U) fills its stdio buffer and
 * is asked to flush it with SIGUSR2 every FLUSH_MS, but its block timeout is fixed at 1000 ms, so a lone
 * packet on a quiet port can take a second to arrive. `capture.bufferMiB` sizes the ring: it is what
 * absorbs a stall of the agent.
 *
 * Passive: neither child ever transmits (no send call in the helper, checked on its binary; tcpdump has
 * no option that transmits), the filter runs in the kernel, and promiscuous mode (no -p) is what makes
 * frames for other hosts visible on a plain NIC.
 * Robust: when the child dies (the interface disappeared, or it was killed) it is restarted after an
 * exponential backoff, once /sys/class/net/IF exists again and is administratively up. An interface that
 * only goes down and up keeps its child: libpcap 1.10 treats ENETDOWN as transient and captures again.
 * Back-pressure: if the sink is slower than the wire, the pipe fills, the child blocks, and the kernel ring
 * overflows: those losses are exactly the "dropped by kernel" counter, reported in health().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { join } from "node:path";
import { outputRoot } from "../util/root.js";
import type { Counters } from "../util/anomaly.js";
import { PcapStreamParser } from "./stream.js";
import type { CaptureSummary, PacketSink } from "./types.js";

/** Counters of the tcpdump child's pcap handle (pcap_stats), as it prints them. */
export interface TcpdumpStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
  droppedByInterface: number;
}

export interface LiveCaptureHealth {
  /** Frames and captured bytes delivered to the sink, over all children. */
  packets: number;
  bytes: number;
  /** Frames the kernel dropped because the reader (tcpdump, hence us) was too slow; over all children. */
  kernelDrops: number;
  /** Frames the interface driver dropped (when it reports them). */
  interfaceDrops: number;
  /** Times the child was started again after it died. */
  restarts: number;
  /** A child is running. */
  running: boolean;
  /** The running child has opened the interface ("listening on ..."): frames are being captured. */
  listening: boolean;
  /** Why the last child stopped (its last error line), if it did. */
  lastError: string | null;
}

/** Which program opens the interface: the helper built from agent/capture/native, or tcpdump. */
export type CaptureTool = "dicomtap-capture" | "tcpdump";

export interface LiveCaptureOptions {
  interface: string;
  /** Default: the helper when it is built (captureHelperPath()), else tcpdump. */
  tool?: CaptureTool;
  /** Kernel BPF filter in pcap-filter syntax; "" captures everything. */
  filter: string;
  snaplen: number;
  sink: PacketSink;
  tcpdumpPath?: string;
  /** Where the helper is; default captureHelperPath(). */
  helperPath?: string;
  /** Called whenever the child reports its counters (every statsIntervalMs and when it exits). */
  onStats?: (s: LiveCaptureHealth) => void;
  /** Diagnostics, one line each (never packet contents). */
  log?: (msg: string) => void;
  counters?: Counters;
  /** How often to ask the child for its counters (SIGUSR1); default 10 s. */
  statsIntervalMs?: number;
  /** First and longest delay before restarting a dead child; default 500 ms and 30 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** How often to look for the interface while it is missing or down; default 1 s. */
  interfacePollMs?: number;
  /** Kernel capture buffer in KiB (-B): absorbs bursts while the agent is busy; default 64 MiB. */
  bufferKiB?: number;
  /** How long a partly filled kernel block waits before it is handed over (helper only); default 100 ms. */
  blockTimeoutMs?: number;
  /** Where interfaces are listed; default /sys/class/net. */
  sysClassNet?: string;
}

/** A child that ran this long was healthy: its death restarts the backoff from the initial delay. */
const HEALTHY_RUN_MS = 10_000;
/** Default kernel buffer: 0.5 s of a saturated 1 Gbit/s link, 5 s at 100 Mbit/s; fits a 1 GiB Pi. */
const DEFAULT_BUFFER_KIB = 64 * 1024;
/** How often tcpdump (which holds its output in a stdio buffer) is asked to flush it. */
const FLUSH_MS = 100;

/**
 * The helper's path in this build: dist/bin/dicomtap-capture beside dist/agent/, as `npm run build`
 * (scripts/build-native) and scripts/install leave it; null when it is not there or not executable.
 */
export function captureHelperPath(): string | null {
  const p = join(outputRoot(), "bin", "dicomtap-capture");
  try {
    accessSync(p, constants.X_OK);
    return p;
  } catch {
    return null;
  }
}

const RE_CAPTURED = /(\d+) packets? captured/;
const RE_FILTER = /(\d+) packets? received by filter/;
const RE_KERNEL = /(\d+) packets? dropped by kernel/;
const RE_IFACE = /(\d+) packets? dropped by interface/;

/** Reads the counters out of one stderr line of tcpdump; fields it lacks stay as they were. */
export function parseTcpdumpStatsLine(line: string, into: TcpdumpStats): boolean {
  let hit = false;
  const set = (re: RegExp, key: keyof TcpdumpStats): void => {
    const m = re.exec(line);
    if (m !== null) {
      into[key] = Number(m[1]);
      hit = true;
    }
  };
  set(RE_CAPTURED, "captured");
  set(RE_FILTER, "receivedByFilter");
  set(RE_KERNEL, "droppedByKernel");
  set(RE_IFACE, "droppedByInterface");
  return hit;
}

/** State of an interface from sysfs: absent, administratively down, or up (IFF_UP set). */
function interfaceState(name: string, sysClassNet = "/sys/class/net"): "absent" | "down" | "up" {
  try {
    // `flags` holds the IFF_* bits in hex; IFF_UP (0x1) is what libpcap needs to activate the handle.
    const flags = Number.parseInt(readFileSync(join(sysClassNet, name, "flags"), "utf8").trim(), 16);
    return (flags & 1) === 1 ? "up" : "down";
  } catch {
    return "absent";
  }
}

/** Counts what reaches the sink, so health() does not depend on the child's own counters. */
class CountingSink implements PacketSink {
  packets = 0;
  bytes = 0;
  constructor(private readonly sink: PacketSink) {}
  packet(buf: Buffer, start: number, end: number, tsMicros: number, linktype: number, origLen: number): void {
    this.packets++;
    this.bytes += end - start;
    this.sink.packet(buf, start, end, tsMicros, linktype, origLen);
  }
}

export class LiveCapture {
  private readonly sink: CountingSink;
  private readonly log: (msg: string) => void;
  private child: ChildProcess | null = null;
  private parser: PcapStreamParser | null = null;
  private started = false;
  private stopped = false;
  private restarts = 0;
  private delayMs: number;
  private timer: NodeJS.Timeout | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  /** Counters of children that have exited, and of the running one. */
  private readonly done: TcpdumpStats = {
    captured: 0,
    receivedByFilter: 0,
    droppedByKernel: 0,
    droppedByInterface: 0,
  };
  private current: TcpdumpStats = {
    captured: 0,
    receivedByFilter: 0,
    droppedByKernel: 0,
    droppedByInterface: 0,
  };
  private lastError: string | null = null;
  private listening = false;
  private childExited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LiveCaptureOptions) {
    this.sink = new CountingSink(opts.sink);
    this.log = opts.log ?? ((m) => process.stderr.write(`dicomtap capture: ${m}\n`));
    this.delayMs = opts.backoff?.initialMs ?? 500;
  }

  /** The tool in use: the helper when it is built (or asked for), else tcpdump. */
  tool(): CaptureTool {
    if (this.opts.tool !== undefined) return this.opts.tool;
    return (this.opts.helperPath ?? captureHelperPath()) !== null ? "dicomtap-capture" : "tcpdump";
  }

  /** The program and argument vector of the capture child. */
  command(): { file: string; args: string[] } {
    const o = this.opts;
    const kib = String(o.bufferKiB ?? DEFAULT_BUFFER_KIB);
    // "--" ends the options: a filter can never be read as one, whatever the config holds.
    const filter = o.filter.trim() !== "" ? ["--", o.filter] : [];
    if (this.tool() === "dicomtap-capture") {
      const file = o.helperPath ?? captureHelperPath() ?? "dicomtap-capture";
      const timeout = String(o.blockTimeoutMs ?? 100);
      return {
        file,
        args: ["-i", o.interface, "-s", String(o.snaplen), "-B", kib, "-t", timeout, ...filter],
      };
    }
    // Numeric output only (-n): no DNS lookups, which would send packets (though not on this interface).
    // No -U and no --immediate-mode: TPACKET_V3 blocks, output flushed on SIGUSR2 (see the header).
    const args = ["-i", o.interface, "-n", "-s", String(o.snaplen), "-B", kib, "-w", "-", ...filter];
    return { file: o.tcpdumpPath ?? "tcpdump", args };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.launch();
    const every = this.opts.statsIntervalMs ?? 10_000;
    this.statsTimer = setInterval(() => this.requestStats(), every);
    this.statsTimer.unref();
    if (this.tool() === "tcpdump") {
      this.flushTimer = setInterval(() => this.requestFlush(), FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  /** Stops the child (its final counters are kept) and waits until it has exited. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.started = false;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    this.timer = this.statsTimer = this.flushTimer = null;
    const c = this.child;
    if (c !== null && c.exitCode === null && c.signalCode === null) {
      // SIGTERM makes tcpdump print its final counters; SIGKILL if it does not go within 2 s.
      c.kill("SIGTERM");
      const kill = setTimeout(() => c.kill("SIGKILL"), 2000);
      await this.childExited;
      clearTimeout(kill);
    } else {
      await this.childExited;
    }
  }

  health(): LiveCaptureHealth {
    return {
      packets: this.sink.packets,
      bytes: this.sink.bytes,
      kernelDrops: this.done.droppedByKernel + this.current.droppedByKernel,
      interfaceDrops: this.done.droppedByInterface + this.current.droppedByInterface,
      restarts: this.restarts,
      running: this.child !== null,
      listening: this.listening,
      lastError: this.lastError,
    };
  }

  /** PID of the running child (tests kill it to check the restart). */
  childPid(): number | null {
    return this.child?.pid ?? null;
  }

  /**
   * Asks the child for its counters: both print them on stderr when they get SIGUSR1. Only once it is
   * listening: tcpdump installs its SIGUSR1 handler while it opens the interface, and before that the
   * signal's default action kills it (a child just restarted would die again, and count as a restart).
   */
  requestStats(): void {
    const c = this.child;
    if (c !== null && c.exitCode === null && this.listening) c.kill("SIGUSR1");
  }

  /** tcpdump holds its pcap output in a stdio buffer until asked (SIGUSR2 → pcap_dump_flush). */
  private requestFlush(): void {
    const c = this.child;
    if (c !== null && c.exitCode === null && this.listening) c.kill("SIGUSR2");
  }

  private launch(): void {
    this.timer = null;
    if (this.stopped) return;
    const state = interfaceState(this.opts.interface, this.opts.sysClassNet);
    if (state !== "up") {
      // Waiting for the interface is not a failure of the child: poll without growing the backoff.
      if (this.lastError !== `interface ${state}`)
        this.log(`interface ${this.opts.interface} is ${state}; waiting`);
      this.lastError = `interface ${state}`;
      this.timer = setTimeout(() => this.launch(), this.opts.interfacePollMs ?? 1000);
      return;
    }
    const parser = new PcapStreamParser(
      this.sink,
      this.opts.counters ? { counters: this.opts.counters } : {},
    );
    const { file, args } = this.command();
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    const startedAt = Date.now();
    this.child = child;
    this.parser = parser;
    this.current = { captured: 0, receivedByFilter: 0, droppedByKernel: 0, droppedByInterface: 0 };
    const stats = this.current;
    let errTail = "";
    let lastLine = "";
    const streamError = (): CaptureSummary["error"] => parser.error;
    child.stdout!.on("data", (chunk: Buffer) => {
      if (streamError() !== null) return;
      parser.push(chunk);
      const err = streamError();
      if (err !== null) {
        // A corrupt pcap stream would be ignored from here on while tcpdump runs on: end the child, so
        // the restart path starts a clean stream (and health shows the restart).
        this.log(`capture stream unreadable (${err.code}): restarting tcpdump`);
        child.kill("SIGTERM");
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      errTail += text;
      let nl: number;
      while ((nl = errTail.indexOf("\n")) >= 0) {
        const line = errTail.slice(0, nl).trim();
        errTail = errTail.slice(nl + 1);
        if (line === "") continue;
        if (parseTcpdumpStatsLine(line, stats)) {
          this.opts.onStats?.(this.health());
        } else if (/^(tcpdump|dicomtap-capture): listening on /.test(line)) {
          this.listening = true;
          // In the journal: when capture is live again after a (re)start; tests wait for this line.
          this.log(line);
        } else if (line.startsWith("Warning: setgid/setuid failed")) {
          // Under the unit's SystemCallFilter tcpdump (not root) cannot call setuid(getuid()); harmless.
        } else {
          lastLine = line;
          this.log(line);
        }
      }
      // A line without its newline is capped so a misbehaving child cannot grow this string.
      if (errTail.length > 4096) errTail = errTail.slice(-4096);
    });
    let resolveExit!: () => void;
    this.childExited = new Promise<void>((r) => (resolveExit = r));
    let closed = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      if (closed) return;
      closed = true;
      if (errTail.trim() !== "") parseTcpdumpStatsLine(errTail, stats);
      const summary = parser.end();
      if (
        summary.error !== null &&
        summary.error.code !== "capture.truncated" &&
        summary.error.code !== "capture.empty"
      ) {
        this.log(`pcap stream: ${summary.error.code}: ${summary.error.detail}`);
      }
      this.done.captured += stats.captured;
      this.done.receivedByFilter += stats.receivedByFilter;
      this.done.droppedByKernel += stats.droppedByKernel;
      this.done.droppedByInterface += stats.droppedByInterface;
      this.current = { captured: 0, receivedByFilter: 0, droppedByKernel: 0, droppedByInterface: 0 };
      this.child = null;
      this.parser = null;
      this.listening = false;
      this.opts.onStats?.(this.health());
      if (!this.stopped) {
        const why = spawnError ? spawnError.message : lastLine || `exited (${signal ?? code})`;
        this.lastError = why;
        // A child that ran for a while was fine until something happened: start again quickly.
        if (Date.now() - startedAt >= HEALTHY_RUN_MS) this.delayMs = this.opts.backoff?.initialMs ?? 500;
        const delay = this.delayMs;
        this.delayMs = Math.min(this.delayMs * 2, this.opts.backoff?.maxMs ?? 30_000);
        this.log(`tcpdump stopped: ${why}; restarting in ${delay} ms`);
        this.restarts++;
        this.timer = setTimeout(() => this.launch(), delay);
      }
      resolveExit();
    };
    // "close" comes after stdout and stderr have ended, so every record and counter line has been read.
    child.on("close", (code, signal) => onGone(code, signal));
    child.on("error", (err) => onGone(null, null, err));
  }
}
