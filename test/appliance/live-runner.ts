/**
 * Test helper process (not a test): runs LiveCapture into a Pipeline inside a network namespace
 * (`ip netns exec NS node live-runner.js IF FILTER`), so the capture child and the /sys/class/net it
 * polls are the namespace's. Prints JSON lines on stdout:
 *   {"event":"listening","pid":N,"restarts":K}   each time a tcpdump child has opened the interface
 *   {"event":"sync","token":"dicomtap-sync-…"}   when a frame carrying a sync token (Runner.sync) arrives:
 *                                                  every frame captured before it has been handed over
 *   {"event":"error","lastError":"…"}             when the capture's last error changes
 *   {"event":"final","health":{...},"stats":{...},"associations":[...]}   after SIGTERM
 */
import { LiveCapture, type CaptureTool } from "../../agent/capture/live.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";

const [ifname = "tap0", filter = "tcp"] = process.argv.slice(2);
const pipeline = new Pipeline();
const logs: string[] = [];
// RUNNER_STALL_MS: the sink blocks this long on the first packet (a stuck agent), so the pipe and the
// kernel ring fill and the kernel drops frames. RUNNER_BUFFER_KIB: tcpdump -B, small to overflow sooner.
const stallMs = Number(process.env.RUNNER_STALL_MS ?? 0);
let stalled = false;
const SYNC = Buffer.from("dicomtap-sync-");
const sink = {
  packet(buf: Buffer, start: number, end: number, ts: number, lt: number, orig: number): void {
    if (stallMs > 0 && !stalled) {
      stalled = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stallMs);
    }
    pipeline.packet(buf, start, end, ts, lt, orig);
    const at = buf.subarray(start, end).indexOf(SYNC);
    if (at >= 0)
      say({ event: "sync", token: buf.toString("latin1", start + at, Math.min(end, start + at + 26)) });
  },
};
const capture = new LiveCapture({
  interface: ifname,
  filter,
  snaplen: 262144,
  sink,
  ...(process.env.RUNNER_BUFFER_KIB ? { bufferKiB: Number(process.env.RUNNER_BUFFER_KIB) } : {}),
  // RUNNER_TOOL: "dicomtap-capture" or "tcpdump" (default: the helper when built, as the agent does).
  ...(process.env.RUNNER_TOOL ? { tool: process.env.RUNNER_TOOL as CaptureTool } : {}),
  counters: pipeline.counters,
  onStats: () => void statsAnswers++,
  statsIntervalMs: 200,
  interfacePollMs: 100,
  backoff: { initialMs: 100, maxMs: 400 },
  log: (m) => logs.push(m),
});
const say = (o: object): void => void process.stdout.write(JSON.stringify(o) + "\n");
let statsAnswers = 0;
let wasListening = false;
let lastError: string | null = null;
const poll = setInterval(() => {
  const h = capture.health();
  if (h.listening && !wasListening)
    say({ event: "listening", pid: capture.childPid(), restarts: h.restarts });
  wasListening = h.listening;
  if (h.lastError !== lastError) say({ event: "error", lastError: (lastError = h.lastError) });
}, 20);
capture.start();
process.once("SIGTERM", () => {
  clearInterval(poll);
  capture.requestStats();
  void (async () => {
    // Let the answer to this last SIGUSR1 arrive when a child is listening, then stop (tcpdump prints
    // final counters on exit too).
    const asked = statsAnswers;
    for (let i = 0; i < 100 && capture.health().listening && statsAnswers === asked; i++)
      await new Promise((r) => setTimeout(r, 10));
    await capture.stop();
    pipeline.finish();
    say({
      event: "final",
      health: capture.health(),
      stats: pipeline.stats(),
      associations: pipeline.associations(),
      logs,
    });
    process.exit(0);
  })();
});
