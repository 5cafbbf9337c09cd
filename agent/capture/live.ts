/**
 * Live capture on the mirrored (SPAN/tap) port, through libpcap, without privilege in this process.
 *
 * A raw IP socket cannot see mirrored traffic (the kernel drops frames addressed to other hosts before
 * IP), so capture goes through libpcap on an AF_PACKET socket in promiscuous mode. The socket is opened by
 * a `tcpdump` child, the only process that needs CAP_NET_RAW; it streams pcap records on its stdout
 * (`-w -`, flushed per packet with `-U`) into PcapStreamParser, which hands every frame to the sink.
 *
 *   tcpdump -i IF -n -U --immediate-mode -s SNAPLEN -B KIB -w - FILTER
 *      │ stdout: pcap stream             │ stderr: "N packets captured, N received by filter,
 *      ▼                                 ▼          N packets dropped by kernel" (on SIGUSR1 and at exit)
 *   PcapStreamParser ─► sink          kernel drop counters for health()
 *
 * Passive: tcpdump only ever receives (it has no option that transmits, and the filter runs in the kernel),
 * and no -p: promiscuous mode is what makes frames for other hosts visible on a plain NIC.
 * Robust: when the child dies (the interface disappeared, or it was killed) it is restarted after an
 * exponential backoff, once /sys/class/net/IF exists again and is administratively up. An interface that
 * only goes down and up keeps its child: libpcap 1.10 treats ENETDOWN as transient and captures again.
 * Back-pressure: if the sink is slower than the wire, the pipe fills, tcpdump blocks, and the kernel ring
 * overflows: those losses are exactly the "dropped by kernel" counter, reported in health().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
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

export interface LiveCaptureOptions {
  interface: string;
  /** Kernel BPF filter in pcap-filter syntax; "" captures everything. */
  filter: string;
  snaplen: number;
  sink: PacketSink;
  tcpdumpPath?: string;
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
  /** Kernel capture buffer in KiB (tcpdump -B): absorbs bursts while the agent is busy; default 8 MiB. */
  bufferKiB?: number;
  /** Where interfaces are listed; default /sys/class/net. */
  sysClassNet?: string;
}

/** A child that ran this long was healthy: its death restarts the backoff from the initial delay. */
const HEALTHY_RUN_MS = 10_000;

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
export function interfaceState(name: string, sysClassNet = "/sys/class/net"): "absent" | "down" | "up" {
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

  /** tcpdump's argument vector (exported for the doctor and tests). */
  args(): string[] {
    const o = this.opts;
    const a = [
      "-i",
      o.interface,
      // Numeric output only: no DNS lookups (which would send packets, though not on this interface).
      "-n",
      // -U: flush the pcap stream after each packet; --immediate-mode: deliver each packet as it arrives,
      // not when the kernel's TPACKET_V3 block fills (which on a quiet port could take seconds).
      "-U",
      "--immediate-mode",
      "-s",
      String(o.snaplen),
      "-B",
      String(o.bufferKiB ?? 8192),
      "-w",
      "-",
    ];
    // "--" ends the options: a filter can never be read as one, whatever the config holds.
    if (o.filter.trim() !== "") a.push("--", o.filter);
    return a;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.launch();
    const every = this.opts.statsIntervalMs ?? 10_000;
    this.statsTimer = setInterval(() => this.requestStats(), every);
    this.statsTimer.unref();
  }

  /** Stops the child (its final counters are kept) and waits until it has exited. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.started = false;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    this.timer = this.statsTimer = null;
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
   * Asks the child for its counters: tcpdump prints them on stderr when it gets SIGUSR1. Only once it is
   * listening: tcpdump installs its SIGUSR1 handler while it opens the interface, and before that the
   * signal's default action kills it (a child just restarted would die again, and count as a restart).
   */
  requestStats(): void {
    const c = this.child;
    if (c !== null && c.exitCode === null && this.listening) c.kill("SIGUSR1");
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
    const child = spawn(this.opts.tcpdumpPath ?? "tcpdump", this.args(), {
      stdio: ["ignore", "pipe", "pipe"],
    });
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
        } else if (line.startsWith("tcpdump: listening on")) {
          this.listening = true;
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
