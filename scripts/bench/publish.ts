/**
 * The publish phase of `npm run bench` (issue 4, "Benchmark"): `dicomtap run --replay` of the shape-f
 * capture (thousands of new devices, each raising findings) to a real mosquitto over mutual TLS, with
 * the console subscribed to dicomtap/v1/#. Two runs:
 *
 * - capture speed: the agent paces packets by their timestamps, so capture time maps to wall time and
 *   each finding's latency is measured from its triggering packet to its delivery to the console:
 *     latency = delivered − (replay start + (firstSeen − first packet's timestamp))
 *   firstSeen is the capture time of the packet that raised the finding (whole ms, floored). The replay
 *   starts when the agent reads the capture's first bytes: the capture is fed to it through a named pipe,
 *   and the benchmark notes the wall time just before it writes them (the agent's pacing clock starts at
 *   its first packet, within a millisecond of that).
 * - file speed: as fast as the agent reads, for the most findings per second it delivers.
 *
 * Findings per second = finding messages delivered / time from the first to the last delivery. Only the
 * first revision of each finding counts for latency: later revisions are the agent's end-of-replay sync
 * (counts, lastSeen), which no single packet triggered.
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants, createReadStream, mkdirSync, openSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { cleanUpOnExit, Mosquitto, removeDir, SitePki, tempDir } from "../lib/mosquitto.js";
import { BenchConsole, wallMs } from "./broker.js";
import type { Manifest } from "./generate.js";

export interface AgentRun {
  wallSeconds: number;
  peakRssKiB: number;
  exitCode: number | null;
  timedOut: boolean;
  stderr: string;
}

export type Measure = (cmd: string[], cpu: number, timeoutSec: number, dir: string) => Promise<AgentRun>;

export interface PublishOptions {
  manifest: Manifest;
  /** Command prefix that runs dicomtap; "run --config C --replay F --speed S" is appended. */
  dicomtap: string[];
  cpu: number;
  timeout: number;
  measure: Measure;
  log: (msg: string) => void;
  /** Which runs; default both. */
  speeds?: ("capture" | "file")[];
}

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
}

export interface PublishRun {
  speed: "capture" | "file";
  agent: AgentRun;
  expectedFindings: number;
  expectedDevices: number;
  /** Distinct finding and device ids delivered (any revision). */
  findings: number;
  devices: number;
  findingMessages: number;
  deviceMessages: number;
  /** Deliveries of a messageId already delivered (at-least-once). */
  duplicates: number;
  /** First to last delivery of a finding message, seconds. */
  deliverySeconds: number;
  /** findingMessages / deliverySeconds. */
  findingsPerSecond: number;
  /** From the replay's start (capture: first bytes written; file: agent spawned) to the last finding. */
  endToEndSeconds: number;
  /** From the replay's start to the first finding delivered. */
  firstDeliverySeconds: number;
  /** Capture speed only: packet → console, ms, over first revisions. */
  latencyMs: Percentiles | null;
  /** Whether the console saw the agent's offline status (its clean end). */
  sawOffline: boolean;
}

export interface PublishResult {
  capture: string;
  hosts: number;
  captureSeconds: number;
  brokerUrl: string;
  runs: PublishRun[];
  error: string | null;
}

/** Nearest-rank percentiles (no interpolation) of `xs`. */
export function percentiles(xs: number[]): Percentiles | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1]!, min: s[0]! };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for the agent to open the named pipe for reading, then writes the capture into it. Returns the
 * wall time just before the first byte was written. A non-blocking open for writing fails (ENXIO)
 * until a reader has the pipe open, so it tells when the agent starts reading; the data then goes
 * through an ordinary blocking descriptor, paced by the agent's reads.
 */
async function feedPipe(fifo: string, file: string, agentDone: () => boolean): Promise<number> {
  let probe = -1;
  while (probe < 0) {
    try {
      probe = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENXIO") throw e;
      if (agentDone()) throw new Error("the agent exited before it opened the capture");
      await sleep(1);
    }
  }
  const out = await open(fifo, "w");
  closeSync(probe);
  const start = wallMs();
  try {
    await pipeline(createReadStream(file, { highWaterMark: 256 << 10 }), out.createWriteStream());
  } catch (e) {
    // EPIPE: the agent stopped reading (it failed or was killed); its exit status tells why.
    if ((e as NodeJS.ErrnoException).code !== "EPIPE") throw e;
  }
  return start;
}

async function oneRun(
  o: PublishOptions,
  pki: SitePki,
  broker: Mosquitto,
  con: BenchConsole,
  dir: string,
  speed: "capture" | "file",
): Promise<PublishRun> {
  const plan = o.manifest.findingsPlan;
  if (!plan) throw new Error(`${o.manifest.file} is not a shape-f capture`);
  const sensorId = `bench-${speed}`;
  const cert = await pki.sensor(sensorId);
  const runDir = join(dir, sensorId);
  mkdirSync(runDir, { recursive: true });
  const configPath = join(runDir, "config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      sensor: { id: sensorId, site: pki.site },
      store: { path: join(runDir, "agent.db"), maxBytes: 1 << 30 },
      broker: { url: broker.url(), ca: pki.ca, cert: cert.cert, key: cert.key },
      health: { intervalSeconds: 3600 },
    }),
  );
  let replay = o.manifest.file;
  if (speed === "capture") {
    replay = join(runDir, "capture.pcap");
    execFileSync("mkfifo", [replay]);
  }
  const root = `dicomtap/v1/${pki.site}/${sensorId}/`;
  const cmd = [...o.dicomtap, "run", "--config", configPath, "--replay", replay, "--speed", speed];
  o.log(`publish ${speed} speed: ${cmd.join(" ").slice(0, 100)} ...`);
  let done = false;
  const spawnedAt = wallMs();
  const measuring = o.measure(cmd, o.cpu, o.timeout, runDir).finally(() => (done = true));
  let startMs = spawnedAt;
  let feedError: string | null = null;
  if (speed === "capture") {
    try {
      startMs = await feedPipe(replay, o.manifest.file, () => done);
    } catch (e) {
      feedError = (e as Error).message;
    }
  }
  const agent = await measuring;
  if (feedError !== null) agent.stderr = `${feedError}\n${agent.stderr}`;
  // The agent returns once the broker acknowledged everything; the console may still be receiving.
  const offline = (): boolean =>
    con.got.some(
      (d) =>
        d.topic === root + "status" &&
        (d.payload as { state?: unknown } | null)?.state === "offline" &&
        d.atMs >= spawnedAt,
    );
  const until = Date.now() + 15_000;
  while (!offline() && Date.now() < until) await sleep(50);

  const seen = new Set<string>();
  const findingIds = new Set<string>();
  const deviceIds = new Set<string>();
  let findingMessages = 0;
  let deviceMessages = 0;
  let duplicates = 0;
  let first = Infinity;
  let last = -Infinity;
  const latencies: number[] = [];
  const firstPacketMs = plan.firstPacketMicros / 1000;
  for (const d of con.got) {
    if (!d.topic.startsWith(root) || d.payload === null) continue;
    const kind = d.topic.slice(root.length);
    if (kind !== "findings" && !kind.startsWith("devices/")) continue;
    const id = d.payload.messageId;
    if (typeof id === "string") {
      if (seen.has(id)) {
        duplicates++;
        continue;
      }
      seen.add(id);
    }
    if (kind === "findings") {
      const f = d.payload.finding as { id: string; firstSeen: string } | undefined;
      if (!f) continue;
      findingMessages++;
      // The first message seen for a finding id is its first delivery (revisions start at a floor
      // derived from the store's creation time, not at 1).
      const firstForId = !findingIds.has(f.id);
      findingIds.add(f.id);
      first = Math.min(first, d.atMs);
      last = Math.max(last, d.atMs);
      if (speed === "capture" && firstForId) {
        const packetAt = startMs + (Date.parse(f.firstSeen) - firstPacketMs);
        latencies.push(d.atMs - packetAt);
      }
    } else {
      deviceMessages++;
      const dev = d.payload.device as { id: string } | undefined;
      if (dev) deviceIds.add(dev.id);
    }
  }
  const deliverySeconds = findingMessages > 1 ? (last - first) / 1000 : NaN;
  return {
    speed,
    agent: { ...agent, stderr: agent.stderr.trim().slice(-2000) },
    expectedFindings: plan.findings,
    expectedDevices: plan.devices,
    findings: findingIds.size,
    devices: deviceIds.size,
    findingMessages,
    deviceMessages,
    duplicates,
    deliverySeconds,
    findingsPerSecond: findingMessages / deliverySeconds,
    endToEndSeconds: findingMessages > 0 ? (last - startMs) / 1000 : NaN,
    firstDeliverySeconds: findingMessages > 0 ? (first - startMs) / 1000 : NaN,
    latencyMs: percentiles(latencies),
    sawOffline: offline(),
  };
}

/** Starts the PKI, mosquitto and the console, runs the agent at each speed, and cleans everything up. */
export async function runPublish(o: PublishOptions): Promise<PublishResult> {
  const plan = o.manifest.findingsPlan;
  const result: PublishResult = {
    capture: o.manifest.file,
    hosts: plan?.hosts ?? 0,
    captureSeconds: plan?.captureSeconds ?? NaN,
    brokerUrl: "",
    runs: [],
    error: null,
  };
  cleanUpOnExit();
  const dir = tempDir("dicomtap-bench-publish-");
  let broker: Mosquitto | null = null;
  let con: BenchConsole | null = null;
  try {
    // CN=127.0.0.1, the address in broker.url() that the agent is given.
    const pki = await SitePki.create(join(dir, "pki"), "bench", ["127.0.0.1", "localhost"]);
    // As pki/mosquitto/dicomtap.conf: a console that falls behind must not lose QoS 1 messages, and
    // mosquitto's own autosave interval (saving every second would add broker work to what is measured).
    broker = await Mosquitto.start({ pki, autosaveSeconds: null, extra: ["max_queued_messages 100000"] });
    result.brokerUrl = broker.url();
    con = await BenchConsole.connect(broker.url(), pki);
    for (const speed of o.speeds ?? (["capture", "file"] as const))
      result.runs.push(await oneRun(o, pki, broker, con, dir, speed));
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
  } finally {
    await con?.close().catch(() => undefined);
    await broker?.stop();
    removeDir(dir);
  }
  return result;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

/** The publish table and its notes. */
export function formatPublish(r: PublishResult, cpu: number): string {
  const head = [
    "publish",
    "findings",
    "devices",
    "dup",
    "agent s",
    "agent RSS MiB",
    "delivery s",
    "findings/s",
    "end-to-end s",
    "latency p50 ms",
    "p99 ms",
    "max ms",
  ];
  const rows: string[][] = [head];
  const notes: string[] = [];
  for (const run of r.runs) {
    const l = run.latencyMs;
    rows.push([
      `f: ${r.hosts.toString()} hosts, ${run.speed} speed`,
      `${run.findings.toString()}/${run.expectedFindings.toString()}`,
      `${run.devices.toString()}/${run.expectedDevices.toString()}`,
      run.duplicates.toString(),
      fmt(run.agent.wallSeconds, 2),
      fmt(run.agent.peakRssKiB / 1024),
      fmt(run.deliverySeconds, 2),
      fmt(run.findingsPerSecond),
      fmt(run.endToEndSeconds, 2),
      l ? fmt(l.p50, 1) : "-",
      l ? fmt(l.p99, 1) : "-",
      l ? fmt(l.max, 1) : "-",
    ]);
    const complete = run.findings === run.expectedFindings && run.devices === run.expectedDevices;
    notes.push(
      `${run.speed}: ${complete ? "ok" : "MISS"} every finding and device delivered; ${run.findingMessages.toString()} finding and ${run.deviceMessages.toString()} device messages${run.sawOffline ? "" : "; the agent's offline status never arrived"}`,
    );
    if (run.speed === "capture") {
      // Start-up (node, TLS to the broker) and the final drain take a second or two, not more.
      const behind = run.agent.wallSeconds > r.captureSeconds + 3;
      notes.push(
        `capture: ${behind ? "MISS" : "ok"} the agent kept pace with the capture (ran ${fmt(run.agent.wallSeconds, 1)} s for ${fmt(r.captureSeconds, 1)} s of capture)`,
      );
      if (run.firstDeliverySeconds >= r.captureSeconds)
        notes.push(
          `capture: no finding reached the console before the replay's last packet (first at ${fmt(run.firstDeliverySeconds, 1)} s): findings are published only after the replay`,
        );
    }
    if (run.agent.exitCode !== 0 || run.agent.timedOut)
      notes.push(
        `${run.speed}: dicomtap run exited ${String(run.agent.exitCode)}${run.agent.timedOut ? " (timed out)" : ""}: ${run.agent.stderr.slice(-500)}`,
      );
  }
  if (r.error !== null) notes.push(`publish phase failed: ${r.error.slice(0, 1500)}`);
  const widths = head.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length)));
  const table = rows
    .map((row) =>
      row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "),
    )
    .join("\n");
  return (
    `${table}\n\n` +
    `Replay of ${r.capture} (${fmt(r.captureSeconds, 1)} s of capture) by dicomtap run, pinned to core ${cpu.toString()}, to mosquitto over mutual TLS;\n` +
    "the console (CN=console, QoS 1) stamps each delivery. findings/s = finding messages / first-to-last delivery;\n" +
    "latency = delivery − (replay start + packet's capture offset), first revisions only (capture speed);\n" +
    "end-to-end = replay start (file speed: agent spawned) to the last finding delivered.\n" +
    notes.join("\n") +
    "\n"
  );
}
