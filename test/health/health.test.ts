// The health payload's optional inventory and findings counters: passed through from the caller's
// counters, absent when not given, and held to the schema (the system probes are real, as in
// test/publish/health.test.ts).
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig } from "../../agent/config/config.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import { Health, type HealthCounters } from "../../agent/health/health.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { schemaErrors } from "../publish/schemas.js";
import { assoc, ep, DCM4CHE_5 } from "../inventory/build.js";

const base = (): HealthCounters => ({
  capture: { packets: 1, bytes: 2, drops: 0 },
  anomalies: 0,
  outbox: { depth: 0, evicted: 0, bytes: 0 },
  publisher: null,
});

function health(t: { teardown: (f: () => void) => void }, counters: () => HealthCounters): Health {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-health-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return new Health({ sensor: { id: "s1", site: "x" }, storePath: join(dir, "s.db"), counters });
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
