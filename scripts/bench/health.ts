/**
 * What health sampling costs the event loop (issue 10, "Health must not stall capture"; issue 8).
 *
 *   npm run build && node dist/scripts/bench/health.js [--seconds 20] [--interval-ms 1000]
 *
 * An appliance-like load runs on the event loop: a timer that does ~2 ms of synchronous work every 5 ms,
 * standing in for packet parsing. The loop's delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution)
 * is measured for --seconds without health sampling, then for --seconds with Health.collect() every
 * --interval-ms, and, when systeminformation can be imported, for --seconds with the calls health used
 * to make (si.currentLoad, si.mem, si.fsSize, si.cpuTemperature). Printed as a Markdown table, with the
 * p99 delay each sampler adds to the baseline. The target: health adds < 5 ms at p99.
 *
 * A delay is time in which the capture's reads would have waited: on the appliance, packets the kernel
 * ring must hold. Collect time is how long one sample took from call to result (awaiting is fine; only
 * blocking hurts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Health, type HealthCounters } from "../../agent/health/health.js";

interface Phase {
  name: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  calls: number;
  collectMeanMs: number | null;
  collectMaxMs: number | null;
}

const WORK_EVERY_MS = 5;
const WORK_MS = 2;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** ~2 ms of synchronous work with some garbage, as a batch of packets parsed would make. */
function parseBatch(): number {
  const end = performance.now() + WORK_MS;
  let acc = 0;
  while (performance.now() < end) {
    const b = Buffer.allocUnsafe(1514);
    b.writeUInt32BE(acc >>> 0, 0);
    acc += b.readUInt16BE(0) + 1;
  }
  return acc;
}

async function phase(
  name: string,
  seconds: number,
  intervalMs: number,
  sample: (() => Promise<unknown>) | null,
): Promise<Phase> {
  let sink = 0;
  const load = setInterval(() => {
    sink += parseBatch();
  }, WORK_EVERY_MS);
  // Let the load settle (JIT, first timers) before measuring.
  await sleep(500);
  const h = monitorEventLoopDelay({ resolution: 10 });
  const times: number[] = [];
  let inFlight = false;
  const sampler =
    sample === null
      ? null
      : setInterval(() => {
          if (inFlight) return; // a slow sample is not stacked on another
          inFlight = true;
          const t0 = performance.now();
          sample()
            .catch(() => null)
            .finally(() => {
              times.push(performance.now() - t0);
              inFlight = false;
            });
        }, intervalMs);
  h.enable();
  await sleep(seconds * 1000);
  h.disable();
  if (sampler !== null) clearInterval(sampler);
  clearInterval(load);
  while (inFlight) await sleep(10);
  if (sink < 0) console.log(sink); // keep the work observable
  // The histogram records the time between firings of its 10 ms timer: the delay is that minus 10 ms
  // (agent/health/loop.ts).
  const ms = (ns: number): number => Math.max(ns / 1e6 - 10, 0);
  return {
    name,
    samples: h.count,
    p50Ms: ms(h.percentile(50)),
    p99Ms: ms(h.percentile(99)),
    maxMs: ms(h.max),
    calls: times.length,
    collectMeanMs: times.length ? times.reduce((a, b) => a + b, 0) / times.length : null,
    collectMaxMs: times.length ? Math.max(...times) : null,
  };
}

const f = (n: number | null): string => (n === null ? "–" : n.toFixed(2));

function table(rows: Phase[]): string {
  const base = rows[0]!;
  const lines = [
    "| phase | loop samples | p50 ms | p99 ms | max ms | health calls | collect mean ms | collect max ms | p99 added ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const added = r === base ? null : r.p99Ms - base.p99Ms;
    lines.push(
      `| ${r.name} | ${r.samples} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ${f(r.maxMs)} | ${r.calls} | ${f(r.collectMeanMs)} | ${f(r.collectMaxMs)} | ${added === null ? "–" : f(added)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "20" },
      "interval-ms": { type: "string", default: "1000" },
    },
  });
  const seconds = Number(values.seconds);
  const intervalMs = Number(values["interval-ms"]);
  if (!(seconds > 0) || !(intervalMs > 0))
    throw new Error("--seconds and --interval-ms must be positive numbers");

  const dir = mkdtempSync(join(tmpdir(), "dicomtap-bench-health-"));
  const counters = (): HealthCounters => ({
    capture: { packets: 0, bytes: 0, drops: 0 },
    anomalies: 0,
    outbox: { depth: 0, evicted: 0, bytes: 0 },
    publisher: null,
  });
  const health = new Health({
    sensor: { id: "bench", site: "bench" },
    storePath: join(dir, "s.db"),
    counters,
  });
  const rows: Phase[] = [];
  try {
    process.stderr.write(`load: ${WORK_MS} ms of work every ${WORK_EVERY_MS} ms; ${seconds} s per phase\n`);
    rows.push(await phase("no health sampling (baseline)", seconds, intervalMs, null));
    rows.push(
      await phase(`Health.collect() every ${intervalMs} ms`, seconds, intervalMs, () => health.collect()),
    );
    let si: typeof import("systeminformation") | null = null;
    try {
      si = (await import("systeminformation")).default;
    } catch {
      process.stderr.write("systeminformation is not importable: its row is left out\n");
    }
    if (si !== null) {
      const s = si;
      rows.push(
        await phase(`old: systeminformation every ${intervalMs} ms`, seconds, intervalMs, () =>
          Promise.all([s.currentLoad(), s.mem(), s.fsSize(), s.cpuTemperature()]),
        ),
      );
    }
    const sample = await health.collect();
    const newRow = rows[1]!;
    const added = newRow.p99Ms - rows[0]!.p99Ms;
    console.log(table(rows));
    console.log("");
    console.log(
      `p99 event-loop delay added by health: ${added.toFixed(2)} ms (goal < 5 ms): ${added < 5 ? "met" : "NOT met"}`,
    );
    console.log(
      `node ${process.version}, ${process.platform}/${process.arch}; a sample: ${JSON.stringify(sample.system)}`,
    );
  } finally {
    health.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench health: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
