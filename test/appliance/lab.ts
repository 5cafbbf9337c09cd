/**
 * Helpers of the appliance tests: the mirrored-port lab (scripts/lab/mirror), DCMTK peers in its
 * namespaces, tcpdump captures, and the live-runner child. Everything here needs root (the tests say so
 * through test/helpers/requires.ts).
 */
import { installedNode } from "../helpers/installed.js";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const run = promisify(execFile);

export const MIRROR = resolve("scripts/lab/mirror");
/** The compiled live-runner next to this file (.build/NAME/test/appliance/ or dist/test/appliance/). */
export const LIVE_RUNNER = fileURLToPath(new URL("./live-runner.js", import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A capture filter for the DICOM traffic and Runner.sync's datagrams. */
export const SYNC_FILTER = "tcp or udp port 9";

export interface MirrorLab {
  rid: string;
  mod: string;
  pacs: string;
  tap: string;
  modIp: string;
  pacsIp: string;
  dir: string;
  down(): Promise<void>;
  replug(): Promise<void>;
}

/** `tapIpv6: "default"` leaves the kernel's IPv6 default (on) on tap0 (scripts/lab/mirror MIRROR_TAP_IPV6). */
export async function mirrorUp(opts: { tapIpv6?: "default" } = {}): Promise<MirrorLab> {
  const rid =
    randomBytes(3)
      .toString("hex")
      .replace(/[^a-z0-9]/g, "")
      .slice(0, 6) || "x1";
  const env = opts.tapIpv6 ? { ...process.env, MIRROR_TAP_IPV6: opts.tapIpv6 } : process.env;
  await run(MIRROR, ["up", rid], { env });
  const dir = mkdtempSync(join(tmpdir(), "dtm-"));
  return {
    rid,
    mod: `dtm-${rid}-mod`,
    pacs: `dtm-${rid}-pacs`,
    tap: `dtm-${rid}-tap`,
    modIp: "10.78.0.10",
    pacsIp: "10.78.0.20",
    dir,
    down: async () => {
      await run(MIRROR, ["down", rid]);
      rmSync(dir, { recursive: true, force: true });
    },
    replug: async () => {
      await run(MIRROR, ["replug", rid], { env });
    },
  };
}

export function inNs(ns: string, cmd: string, args: string[], opts: { timeout?: number } = {}) {
  return run("ip", ["netns", "exec", ns, cmd, ...args], { timeout: opts.timeout ?? 30_000 });
}

/** A tcpdump writing a file; resolves once it listens. `stop()` waits until the file is complete. */
export async function startTcpdump(
  ns: string,
  ifname: string,
  file: string,
  extra: string[] = [],
): Promise<{ stop(): Promise<string> }> {
  const p = spawn(
    "ip",
    ["netns", "exec", ns, "tcpdump", "-i", ifname, "-n", "-U", "-s", "262144", "-w", file, ...extra],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  p.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!/listening on/.test(err)) {
    if (p.exitCode !== null || Date.now() > deadline) throw new Error(`tcpdump on ${ns}/${ifname}: ${err}`);
    await sleep(20);
  }
  return {
    stop: async () => {
      const exited = new Promise<void>((r) => p.once("close", () => r()));
      p.kill("SIGTERM");
      await exited;
      return err;
    },
  };
}

/** storescp in the PACS namespace, accepting everything on `port`. */
export async function startStorescp(lab: MirrorLab, port = 11112): Promise<ChildProcess> {
  const p = spawn(
    "ip",
    ["netns", "exec", lab.pacs, "storescp", "-aet", "PACS1", "-od", lab.dir, "--fork", String(port)],
    {
      stdio: "ignore",
    },
  );
  const deadline = Date.now() + 10_000;
  while (true) {
    const { stdout } = await inNs(lab.pacs, "ss", ["-Hltn", `sport = :${port}`]);
    if (/LISTEN/.test(stdout)) return p;
    if (p.exitCode !== null || Date.now() > deadline) throw new Error("storescp did not start");
    await sleep(30);
  }
}

export async function echo(lab: MirrorLab, aet = "MODALITY1", port = 11112): Promise<void> {
  await inNs(lab.mod, "echoscu", ["-aet", aet, "-aec", "PACS1", lab.pacsIp, String(port)]);
}

/**
 * The live-runner child in the tap namespace; lines are parsed JSON events. Its default filter takes UDP
 * port 9 besides TCP, for the datagrams of `sync`.
 */
export class Runner {
  readonly events: Record<string, unknown>[] = [];
  private buf = "";
  private err = "";
  readonly proc: ChildProcess;

  /** `prefix` runs the runner through another program (e.g. setpriv, to drop privileges as the unit does). */
  constructor(
    ns: string,
    ifname = "tap0",
    filter = SYNC_FILTER,
    prefix: string[] = [],
    env: Record<string, string> = {},
  ) {
    this.proc = spawn("ip", ["netns", "exec", ns, ...prefix, process.execPath, LIVE_RUNNER, ifname, filter], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    this.proc.stdout!.on("data", (d: Buffer) => {
      this.buf += d.toString();
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (line.trim() !== "") this.events.push(JSON.parse(line) as Record<string, unknown>);
      }
    });
    this.proc.stderr!.on("data", (d: Buffer) => (this.err += d.toString()));
  }

  /** Waits for the n-th "listening" event (1-based). */
  async listening(n = 1, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const ev = this.events.filter((e) => e.event === "listening");
      if (ev.length >= n) return ev[n - 1]!;
      if (this.proc.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `runner: no listening #${n}; events ${JSON.stringify(this.events)} stderr ${this.err}`,
        );
      }
      await sleep(20);
    }
  }

  /**
   * Waits until the capture has handed over everything sent so far: sends datagrams with a fresh token from
   * the modality to the PACS's UDP port 9 (mirrored to tap0 like the DICOM traffic), one every 200 ms until
   * the runner reports one (so a capture still starting, or a ring still full, is waited for too); then
   * until the tokens sent from then on are with the runner and in each of `files` (captures with
   * SYNC_FILTER, written in order, e.g. startTcpdump's).
   */
  async sync(lab: MirrorLab, files: string[] = [], timeoutMs = 15_000): Promise<void> {
    const sent: string[] = [];
    const seen = (): boolean =>
      this.events.some((e) => e.event === "sync" && sent.includes(e.token as string));
    const deadline = Date.now() + timeoutMs;
    while (!seen()) {
      if (this.proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`runner: no sync datagram arrived in ${timeoutMs} ms; stderr ${this.err}`);
      const token = `dicomtap-sync-${randomBytes(6).toString("hex")}`;
      sent.push(token);
      await inNs(lab.mod, "bash", ["-c", `printf %s ${token} >/dev/udp/${lab.pacsIp}/9`]);
      for (let i = 0; i < 10 && !seen(); i++) await sleep(20);
    }
    // The first token that arrived was sent while capture was live, and so were those after it: wait for
    // them all, in the runner and in each file, so both end on the same frames.
    const first = sent.findIndex((tok) => this.events.some((e) => e.event === "sync" && e.token === tok));
    const live = sent.slice(first);
    const all = (): boolean =>
      live.every((tok) => this.events.some((e) => e.event === "sync" && e.token === tok)) &&
      files.every((f) => {
        const bytes = readFileSync(f);
        return live.every((tok) => bytes.includes(tok));
      });
    while (!all()) {
      if (Date.now() > deadline)
        throw new Error(`sync datagrams ${live.join(" ")} not all in the runner and ${files.join(" ")}`);
      await sleep(20);
    }
  }

  /** Waits for an "error" event (the capture's last error) matching `re`. */
  async error(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const e = this.events.find((x) => x.event === "error" && re.test(String(x.lastError)));
      if (e) return String(e.lastError);
      if (this.proc.exitCode !== null || Date.now() > deadline)
        throw new Error(
          `runner: no error like ${re}; events ${JSON.stringify(this.events)} stderr ${this.err}`,
        );
      await sleep(20);
    }
  }

  async final(): Promise<Record<string, unknown>> {
    const exited = new Promise<void>((r) => this.proc.once("close", () => r()));
    this.proc.kill("SIGTERM");
    await exited;
    const f = this.events.find((e) => e.event === "final");
    if (!f) throw new Error(`runner: no final event; stderr ${this.err}`);
    return f;
  }
}

/** A datagram receiver on an AF_UNIX socket (Perl: Node has no AF_UNIX datagram sockets). */
export function notifyReceiver(address: string): Promise<{ lines: string[]; stop(): void }> {
  const script = `use Socket; socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die $!; my $a = $ARGV[0]; $a =~ s/^@/\\0/;
    bind($s, pack_sockaddr_un($a)) or die "bind: $!"; $| = 1; print "bound\\n";
    while (defined recv($s, my $b, 4096, 0)) { print "$b\\n"; }`;
  const p = spawn("perl", ["-e", script, address], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  let buf = "";
  return new Promise((res, rej) => {
    p.once("exit", (c) => rej(new Error(`receiver exited ${c}`)));
    p.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop()!;
      for (const l of parts) {
        if (l === "bound") res({ lines, stop: () => p.kill() });
        else lines.push(l);
      }
    });
  });
}

/**
 * `dicomtap run --config FILE` in a namespace (print mode when the config has no broker: one JSON line
 * per message on stdout), as the unit starts it; `env` adds variables (NOTIFY_SOCKET, WATCHDOG_USEC).
 */
export class AgentProcess {
  out = "";
  err = "";
  readonly proc: ChildProcess;
  private readonly closed: Promise<void>;

  constructor(ns: string, config: string, env: Record<string, string> = {}) {
    const main = new URL("../../agent/cli/main.js", import.meta.url).pathname;
    const code = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(["run", "--config", ${JSON.stringify(config)}]);`;
    // With the installed command's Node flags and environment (its V8 heap limits reach the capture
    // worker too, which must not refuse them).
    const node = installedNode();
    this.proc = spawn(
      "ip",
      ["netns", "exec", ns, process.execPath, ...node.flags, "--input-type=module", "-e", code],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...node.env, ...env } },
    );
    this.proc.stdout!.on("data", (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on("data", (d: Buffer) => (this.err += d.toString()));
    this.closed = new Promise<void>((r) => this.proc.once("close", () => r()));
  }

  /** The printed messages, parsed. */
  messages(): { topic: string; payload: Record<string, unknown> }[] {
    return this.out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { topic: string; payload: Record<string, unknown> });
  }

  async until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > end || this.proc.exitCode !== null) throw new Error(`${what}; stderr: ${this.err}`);
      await sleep(20);
    }
  }

  /** SIGTERM; resolves with the exit code and how long the stop took. */
  async stop(): Promise<{ code: number | null; ms: number }> {
    const t0 = Date.now();
    this.proc.kill("SIGTERM");
    await this.closed;
    return { code: this.proc.exitCode, ms: Date.now() - t0 };
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}
