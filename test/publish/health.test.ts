// The health payload from the real /proc, /sys and statfs probes of this machine, against its schema.
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Health } from "../../agent/health/health.js";
import { schemaErrors } from "./schemas.js";

test("health: system probes, the store's filesystem and the caller's counters; schema holds", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-health-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const counters = {
    capture: { packets: 123, bytes: 45678, drops: 9 },
    anomalies: 4,
    outbox: { depth: 7, evicted: 2, bytes: 999 },
    publisher: { connected: false },
  };
  const h = new Health({
    sensor: { id: "ct-room-1", site: "st-marys" },
    storePath: join(dir, "s.db"),
    counters: () => counters,
  });
  const p = await h.collect(new Date("2024-05-01T10:00:00.000Z"));
  t.is(schemaErrors("health", p), null);
  t.is(p.messageId, "st-marys/ct-room-1/health/2024-05-01T10:00:00.000000Z");
  t.is(p.time, "2024-05-01T10:00:00.000000Z");
  t.deepEqual(p.capture, counters.capture);
  t.deepEqual(p.outbox, counters.outbox);
  t.is(p.anomalies, 4);
  // Every Linux box has memory and a filesystem under the temp dir; the mount is a prefix of its path.
  t.truthy(p.system.memory && p.system.memory.totalBytes > 0);
  t.truthy(p.system.disk);
  t.true(dir.startsWith(p.system.disk!.mount));
  t.true(p.system.temperatureC === null || typeof p.system.temperatureC === "number");
});
