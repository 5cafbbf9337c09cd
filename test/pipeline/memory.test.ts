/**
 * Issue 9, memory under flow floods: `analyze` and the agent stay inside the memory budget of
 * agent/pipeline/pipeline.ts (128 MiB of RSS) whatever the number of flows, and count what their caps
 * turn away. The floods are the benchmark's (scripts/bench/flow-floods.ts), smaller; the command runs as
 * it is installed (bin/dicomtap.js with its V8 limits and malloc arenas), under GNU time for the peak RSS.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { floodCapture, type FloodShape } from "../../scripts/bench/flow-floods.js";
import { requires } from "../helpers/requires.js";

const BUDGET_KIB = 128 * 1024;
const GNU_TIME = "/usr/bin/time";
const dir = mkdtempSync(join(tmpdir(), "dicomtap-floods-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const timeTest = requires("gnu-time").serial;

function peakKiB(args: string[]): { kib: number; status: number | null; stderr: string } {
  const r = spawnSync(
    GNU_TIME,
    // bin/dicomtap.js itself, so its first line's V8 limits and MALLOC_ARENA_MAX apply as installed.
    ["-f", "peak %M", "bin/dicomtap.js", ...args],
    {
      encoding: "utf8",
      maxBuffer: 1 << 30,
    },
  );
  const kib = Number(/peak (\d+)\s*$/.exec(r.stderr)?.[1] ?? NaN);
  return { kib, status: r.status, stderr: r.stderr };
}

const floods: [FloodShape, number][] = [
  ["syn", 150_000],
  ["header", 30_000],
  ["assoc", 15_000],
];

for (const [shape, flows] of floods) {
  timeTest(
    `${shape} flood of ${flows} flows: analyze and the agent stay under 128 MiB; caps are counted`,
    (t) => {
      const cap = floodCapture(dir, shape, flows);
      const json = join(dir, `${shape}.json`);
      const a = peakKiB(["analyze", "--quiet", "--json", json, cap.path]);
      t.is(a.status, 0, a.stderr);
      t.log(`analyze: ${(a.kib / 1024).toFixed(0)} MiB`);
      t.true(a.kib < BUDGET_KIB, `analyze peak RSS ${a.kib} KiB`);
      const report = JSON.parse(readFileSync(json, "utf8")) as {
        stats: { tcpFlows: number };
        anomalies: { code: string; count: number }[];
      };
      t.is(report.stats.tcpFlows, flows);
      const evicted = report.anomalies
        .filter((x) => x.code === "tcp.flow-table-full")
        .reduce((s, x) => s + x.count, 0);
      if (shape !== "assoc") t.true(evicted > 0, "a full flow table is counted");

      const config = join(dir, `${shape}-config.json`);
      writeFileSync(
        config,
        JSON.stringify({ sensor: { id: "flood", site: "test" }, store: { path: join(dir, `${shape}.db`) } }),
      );
      const r = peakKiB(["run", "--config", config, "--replay", cap.path]);
      t.is(r.status, 0, r.stderr.slice(-2000));
      t.log(`run --replay: ${(r.kib / 1024).toFixed(0)} MiB`);
      t.true(r.kib < BUDGET_KIB, `agent peak RSS ${r.kib} KiB`);
    },
  );
}
