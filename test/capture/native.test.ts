/**
 * The live capture helper (agent/capture/native/dicomtap-capture.c) and LiveCapture with either tool, on
 * loopback (root only, as in CI): the helper is built, cannot transmit, gives up its capabilities, hands
 * over a lone packet within its block timeout, and both tools deliver the same frames.
 */
import { execFileSync, spawn } from "node:child_process";
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { captureHelperPath, LiveCapture, type CaptureTool } from "../../agent/capture/live.js";
import { PcapStreamParser } from "../../agent/capture/stream.js";
import { requires } from "../helpers/requires.js";
import { waitFor } from "../helpers/wait.js";

const helper = captureHelperPath();
// CI builds the helper (DICOMTAP_REQUIRE_NATIVE=1): there, a missing helper is a failure, not a skip.
const helperTest = requires("capture-helper").serial;
const rootHelperTest = requires("root", "capture-helper").serial;
const rootTest = requires("root", "tcpdump").serial;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

helperTest("the helper is built and links no function that could transmit", (t) => {
  t.not(helper, null, "dist/bin/dicomtap-capture: run scripts/build-native (needs gcc and libpcap-dev)");
  const undefinedSymbols = execFileSync("nm", ["-D", "--undefined-only", helper!], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/).pop()!.replace(/@.*/, ""))
    .filter((s) => s !== "");
  t.true(undefinedSymbols.includes("pcap_dispatch"), undefinedSymbols.join(" "));
  for (const s of ["pcap_inject", "pcap_sendpacket", "send", "sendto", "sendmsg", "sendmmsg", "socket"])
    t.false(undefinedSymbols.includes(s), s);
});

helperTest("usage errors exit 2 and say how to call it", (t) => {
  for (const args of [
    [],
    ["-i"],
    ["-i", "lo", "-B", "x"],
    ["-i", "lo", "-t", "0"],
    ["-i", "lo", "-s", "9999999"],
  ]) {
    let status = 0;
    let stderr = "";
    try {
      execFileSync(helper!, args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      const err = e as { status: number; stderr: Buffer };
      status = err.status;
      stderr = err.stderr.toString();
    }
    t.is(status, 2, args.join(" "));
    t.regex(stderr, /usage: dicomtap-capture/);
  }
});

rootHelperTest(
  "the helper drops its capabilities once the interface is open, and hands over a lone packet within its block timeout",
  async (t) => {
    const child = spawn(helper!, ["-i", "lo", "-B", "1024", "-t", "100", "--", "udp", "port", "9917"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const frames: { ts: number; at: number }[] = [];
    const parser = new PcapStreamParser({
      packet: (_b, _s, _e, ts) => void frames.push({ ts, at: Date.now() }),
    });
    child.stdout.on("data", (d: Buffer) => parser.push(d));
    const sock = dgram.createSocket("udp4");
    try {
      await waitFor(() => /listening on lo/.test(err), `the helper listening on lo (${err})`);
      t.regex(
        err,
        /dicomtap-capture: listening on lo, link-type 1, snapshot length 262144 bytes, buffer 1048576 bytes/,
      );
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      t.regex(status, /CapEff:\s+0+\n/, "no effective capability left");
      t.regex(status, /CapPrm:\s+0+\n/, "no permitted capability left");
      t.regex(status, /NoNewPrivs:\s+1/);

      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = frames.length;
        const sentAt = Date.now();
        sock.send("lone", 9917, "127.0.0.1");
        await waitFor(() => frames.length > before, "the lone packet", { timeoutMs: 2000, everyMs: 5 });
        latencies.push(frames[frames.length - 1]!.at - sentAt);
        // Not a wait for something: the next packet must find the block empty, to be a lone packet too.
        await sleep(150);
      }
      t.log(`lone-packet latencies (ms): ${latencies.join(" ")}`);
      // A 100 ms block timeout: well under the half second a finding may take.
      t.true(Math.max(...latencies) < 400, latencies.join(" "));

      child.kill("SIGUSR1");
      await waitFor(() => /packets dropped by kernel/.test(err), `the counters after SIGUSR1 (${err})`);
      t.regex(err, /\d+ packets captured, \d+ packets received by filter, 0 packets dropped by kernel/);
    } finally {
      sock.close();
      const exited = new Promise<number | null>((r) => child.once("close", (c) => r(c)));
      child.kill("SIGTERM");
      t.is(await exited, 0);
    }
    t.is(parser.end().error, null);
  },
);

async function captureWith(
  tool: CaptureTool,
  port: number,
): Promise<{ payloads: string[]; health: ReturnType<LiveCapture["health"]> }> {
  const payloads: string[] = [];
  const cap = new LiveCapture({
    interface: "lo",
    filter: `udp port ${port}`,
    snaplen: 262144,
    tool,
    bufferKiB: 2048,
    // The UDP payload of an Ethernet/IPv4 frame on loopback starts at byte 42.
    sink: { packet: (buf, start, end) => void payloads.push(buf.toString("latin1", start + 42, end)) },
    statsIntervalMs: 3_600_000,
    log: () => undefined,
  });
  cap.start();
  const sock = dgram.createSocket("udp4");
  try {
    await waitFor(() => cap.health().listening, `${tool} listening on lo`);
    for (let i = 0; i < 50; i++) sock.send(`frame-${i}`, port, "127.0.0.1");
    // tcpdump's block timeout is a second; its output waits for the next flush request. Whatever has not
    // arrived by then, stop() collects (it reads on for two block timeouts): the test checks it after.
    await waitFor(() => payloads.length >= 50, "50 frames", { timeoutMs: 3000 }).catch(() => undefined);
  } finally {
    sock.close();
    await cap.stop();
  }
  return { payloads, health: cap.health() };
}

for (const tool of ["dicomtap-capture", "tcpdump"] as const) {
  const tt = tool === "dicomtap-capture" ? rootHelperTest : rootTest;
  tt(`LiveCapture through ${tool}: every frame, in order, and its counters at stop`, async (t) => {
    const port = tool === "tcpdump" ? 9918 : 9919;
    const { payloads, health } = await captureWith(tool, port);
    t.deepEqual(
      payloads,
      Array.from({ length: 50 }, (_, i) => `frame-${i}`),
    );
    t.is(health.kernelDrops, 0);
    t.is(health.restarts, 0, health.lastError ?? "");
    t.false(health.running);
  });
}
