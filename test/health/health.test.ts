// The health payload: the caller's optional counters (inventory, findings, traffic, the capture's drops,
// gaps and loop delay) passed through when given and absent when not, held to the schema; the system
// part from fixture /proc and /sys trees; and collect() never stalls the event loop (the system probes
// are real where no fixture is given, as in test/publish/health.test.ts).
import test from "ava";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { defaultConfig } from "../../agent/config/config.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import { Health, type HealthCounters, type HealthOptions } from "../../agent/health/health.js";
import { EventLoopMonitor } from "../../agent/health/loop.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { schemaErrors } from "../publish/schemas.js";
import { assoc, ep, DCM4CHE_5 } from "../inventory/build.js";
import { waitFor } from "../helpers/wait.js";

const base = (): HealthCounters => ({
  capture: { packets: 1, bytes: 2, drops: 0 },
  anomalies: 0,
  outbox: { depth: 0, evicted: 0, bytes: 0 },
  publisher: null,
});

type Teardown = { teardown: (f: () => void) => void };

function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-health-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function health(t: Teardown, counters: () => HealthCounters, more: Partial<HealthOptions> = {}): Health {
  const h = new Health({
    sensor: { id: "s1", site: "x" },
    storePath: join(tempDir(t), "s.db"),
    counters,
    ...more,
  });
  t.teardown(() => h.stop());
  return h;
}

function write(root: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content);
  }
}

/** Every key of a JSON-bound value has a defined value (JSON.stringify would silently drop it). */
function undefinedKeys(v: unknown, at = "$"): string[] {
  if (v === null || typeof v !== "object") return [];
  return Object.entries(v).flatMap(([k, x]) =>
    x === undefined ? [`${at}.${k}`] : undefinedKeys(x, `${at}.${k}`),
  );
}

test("health carries the inventory's dropped devices and the findings engine's evictions", async (t) => {
  // Real counters from a real inventory and engine, both with tiny tables that overflow.
  const config = defaultConfig();
  const inventory = new Inventory(config, 5);
  const engine = new FindingsEngine(config, inventory, 4);
  for (let i = 0; i < 6; i++) {
    const o = assoc(ep(`10.1.0.${50 + i}`, 50000), ep("10.1.0.10", 104), {
      requestor: DCM4CHE_5,
      acceptor: DCM4CHE_5,
    });
    inventory.observe(o);
    engine.observe(o);
  }
  t.true(engine.evicted > 0);
  t.true(inventory.devicesDropped > 0);
  const h = health(t, () => ({
    ...base(),
    inventory: { devices: inventory.size, devicesDropped: inventory.devicesDropped },
    findings: { count: engine.size, evicted: engine.evicted },
  }));
  const p = await h.collect(new Date("2026-11-25T10:00:00.000Z"));
  t.is(schemaErrors("health", p), null);
  t.deepEqual(p.inventory, { devices: 5, devicesDropped: inventory.devicesDropped });
  t.deepEqual(p.findings, { count: engine.findings().length, evicted: engine.evicted });
  t.is(p.findings?.count, 4);
});

test("health without the optional counters leaves them out, and the schema holds either way", async (t) => {
  const p = await health(t, base).collect();
  t.false("inventory" in p);
  t.false("findings" in p);
  t.is(schemaErrors("health", p), null);
  // The schema checks the optional parts when present.
  t.not(schemaErrors("health", { ...p, inventory: { devices: 1 } }), null, "devicesDropped required");
  t.not(schemaErrors("health", { ...p, findings: { count: 1, evicted: -1 } }), null);
  t.not(schemaErrors("health", { ...p, findings: { count: 1, evicted: 0, extra: 1 } }), null);
  t.is(schemaErrors("health", { ...p, inventory: { devices: 3, devicesDropped: 2 } }), null);
});

test("the new capture, traffic and event-loop fields pass through exactly and hold to the schema", async (t) => {
  const captureLoop = { p50Ms: 0.4, p99Ms: 2.1, maxMs: 7.5 };
  const c: HealthCounters = {
    ...base(),
    capture: {
      packets: 10,
      bytes: 2000,
      drops: 7,
      kernelDrops: 5,
      interfaceDrops: 2,
      restarts: 1,
      bufferBytes: 64 << 20,
      gaps: { flows: 3, bytes: 4096 },
    },
    traffic: { tcpFlows: 12, dicomFlows: 4, associations: 6, dimseMessages: 40 },
    captureLoop,
  };
  const p = await health(t, () => c).collect();
  t.is(schemaErrors("health", p), null);
  t.deepEqual(p.capture, c.capture);
  t.deepEqual(p.traffic, c.traffic);
  t.deepEqual(p.eventLoop?.capture, captureLoop);
  t.true(p.eventLoop!.main === null || p.eventLoop!.main.maxMs >= 0);
  t.deepEqual(undefinedKeys(p), []);
  t.deepEqual(JSON.parse(JSON.stringify(p)), p);
});

test("without the new fields: none appear, no undefined keys, and an older payload still validates", async (t) => {
  const p = await health(t, base).collect();
  t.deepEqual(Object.keys(p.capture), ["packets", "bytes", "drops"]);
  t.false("traffic" in p);
  t.false("pruned" in p.outbox);
  t.deepEqual(undefinedKeys(p), []);
  t.is(p.eventLoop?.capture, null);
  t.is(schemaErrors("health", p), null);
  // A payload of a sensor before these fields (no eventLoop at all) validates.
  const { eventLoop: _, ...older } = p;
  t.is(schemaErrors("health", older), null);
  // Partial capture extras (a replay has gaps but no kernel counters) pass through alone.
  const q = await health(t, () => ({
    ...base(),
    capture: { ...base().capture, gaps: { flows: 1, bytes: 2 } },
  })).collect();
  t.deepEqual(q.capture, { packets: 1, bytes: 2, drops: 0, gaps: { flows: 1, bytes: 2 } });
  t.is(schemaErrors("health", q), null);
});

test("the schema checks the new fields when present", async (t) => {
  const p = await health(t, base).collect();
  const cap = (x: object): unknown => ({ ...p, capture: { ...p.capture, ...x } });
  t.not(schemaErrors("health", cap({ kernelDrops: -1 })), null);
  t.not(schemaErrors("health", cap({ restarts: 1.5 })), null);
  t.not(schemaErrors("health", cap({ bufferBytes: "8M" })), null);
  t.not(schemaErrors("health", cap({ gaps: { flows: 1 } })), null, "gaps.bytes required");
  t.not(schemaErrors("health", cap({ other: 1 })), null);
  t.is(schemaErrors("health", cap({ kernelDrops: 0, interfaceDrops: 0, restarts: 0, bufferBytes: 0 })), null);
  const traffic = { tcpFlows: 1, dicomFlows: 1, associations: 1, dimseMessages: 1 };
  t.is(schemaErrors("health", { ...p, traffic }), null);
  t.not(schemaErrors("health", { ...p, traffic: { ...traffic, associations: -1 } }), null);
  t.not(schemaErrors("health", { ...p, traffic: { tcpFlows: 1 } }), null);
  const loop = { p50Ms: 1, p99Ms: 2, maxMs: 3 };
  t.is(schemaErrors("health", { ...p, eventLoop: { main: loop, capture: null } }), null);
  t.not(schemaErrors("health", { ...p, eventLoop: { main: { p50Ms: 1, maxMs: 3 }, capture: null } }), null);
  t.not(schemaErrors("health", { ...p, eventLoop: { main: loop } }), null, "capture required (null allowed)");
  t.not(schemaErrors("health", { ...p, eventLoop: { main: loop, capture: { ...loop, maxMs: -1 } } }), null);
});

test("the system part from fixture /proc and /sys trees; CPU load since the previous record", async (t) => {
  const root = tempDir(t);
  const procRoot = join(root, "proc");
  const sysRoot = join(root, "sys");
  write(procRoot, {
    stat: "cpu  100 0 50 800 50 0 0 0 0 0\n",
    loadavg: "1.50 0.80 0.30 2/100 1234\n",
    meminfo: "MemTotal: 2048 kB\nMemFree: 512 kB\nMemAvailable: 1024 kB\n",
    "self/mountinfo": "26 1 254:0 / / rw - ext4 /dev/root rw\n",
  });
  write(sysRoot, {
    "class/thermal/thermal_zone0/type": "cpu-thermal\n",
    "class/thermal/thermal_zone0/temp": "55312\n",
  });
  const h = health(t, base, { procRoot, sysRoot, cpuSampleMs: 0 });
  const p = await h.collect();
  t.is(schemaErrors("health", p), null);
  t.deepEqual(p.system, {
    loadPercent: null,
    loadAverage1m: 1.5,
    memory: { totalBytes: 2048 * 1024, usedBytes: 1024 * 1024, availableBytes: 1024 * 1024 },
    disk: p.system.disk,
    temperatureC: 55.3,
  });
  t.is(p.system.disk?.mount, "/", "the fixture's mountinfo names the mount point");
  write(procRoot, { stat: "cpu  550 0 100 1200 150 0 0 0 0 0\n" });
  t.is((await h.collect()).system.loadPercent, 50); // busy 500 of 1000
  // No /proc or /sys: those parts are null, the rest of the record stands (the disk still comes from
  // statfs, with the directory measured standing in for the mount point).
  const none = join(root, "none");
  const q = await health(t, base, { procRoot: none, sysRoot: none, cpuSampleMs: 0 }).collect();
  const { disk, ...rest } = q.system;
  t.deepEqual(rest, { loadPercent: null, loadAverage1m: null, memory: null, temperatureC: null });
  t.truthy(disk && disk.sizeBytes > 0 && disk.mount.startsWith("/"));
  t.is(schemaErrors("health", q), null);
});

// Serial: ava runs a file's other tests concurrently in this process, and their work would count.
test.serial(
  "collect() does not stall the event loop: 20 records in a row add under 50 ms of delay",
  async (t) => {
    const h = health(t, base);
    await h.collect(); // the first record's in-call CPU sample is an awaited timer, but keep it apart
    const m = new EventLoopMonitor();
    m.start();
    t.teardown(() => m.stop());
    for (let i = 0; i < 20; i++) await h.collect();
    await new Promise((r) => setTimeout(r, 20));
    const d = m.take();
    t.truthy(d);
    t.true(d!.maxMs < 50, JSON.stringify(d));
  },
);

test("Health measures its own loop; after stop() nothing keeps the process alive", async (t) => {
  const h = health(t, base);
  // The monitor has a sample once its timer has fired: waited for, not assumed after a fixed time.
  let p = await h.collect();
  await waitFor(async () => (p = await h.collect()).eventLoop?.main != null, "a sample of the main loop", {
    everyMs: 10,
  });
  t.truthy(p.eventLoop?.main, "the main loop is measured");
  h.stop();
  t.is((await h.collect()).eventLoop?.main, null);
  // A process that builds Health, collects once and stops it exits on its own, promptly.
  const mod = new URL("../../agent/health/health.js", import.meta.url).href;
  const script = `const { Health } = await import(${JSON.stringify(mod)});
    const h = new Health({ sensor: { id: "s", site: "x" }, storePath: "/tmp/x/s.db",
      counters: () => ({ capture: { packets: 0, bytes: 0, drops: 0 }, anomalies: 0,
        outbox: { depth: 0, evicted: 0, bytes: 0 }, publisher: null }) });
    await h.collect(); h.stop();`;
  const started = Date.now();
  await t.notThrowsAsync(
    promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { timeout: 10_000 }),
  );
  t.true(Date.now() - started < 10_000);
});
