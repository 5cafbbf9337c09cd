// The central's housekeeping timer (agent/central/lifecycle.ts) on a real store: it resolves what the
// sensors stopped reporting and applies retention on its own, and survives a store that refuses.
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CentralStore } from "../../agent/central/store.js";
import { Lifecycle } from "../../agent/central/lifecycle.js";
import { applyAction } from "../../agent/central/http/actions.js";
import { finding } from "../store/records.js";
import { waitFor } from "../helpers/wait.js";

const RETENTION = { historyDays: 90, healthDays: 30, resolveAfterHours: 72 };
const T0 = new Date("2026-06-01T12:00:00.000Z");

function tmpStore(t: { teardown(fn: () => void): void }): CentralStore {
  const d = mkdtempSync(join(tmpdir(), "dicomtap-central-lc-"));
  const s = CentralStore.open(join(d, "central.db"), { maxBytes: 1 << 30, retention: RETENTION });
  t.teardown(() => {
    s.close();
    rmSync(d, { recursive: true, force: true });
  });
  return s;
}

/**
 * A health record of ct-1 taken at `at`, its agent running since `since` (default: long before): the
 * staleness rule needs to know the sensor was watching.
 */
function alive(s: CentralStore, at: Date, since = new Date(0)): void {
  const time = at.toISOString();
  s.health(
    "st-marys",
    "ct-1",
    {
      messageId: `st-marys/ct-1/health/${time}`,
      site: "st-marys",
      sensor: "ct-1",
      time,
      uptimeSeconds: Math.round((at.getTime() - since.getTime()) / 1000),
      capture: { packets: 10, bytes: 1000, drops: 0 },
      anomalies: 0,
      outbox: { depth: 0, evicted: 0, bytes: 0 },
    },
    at,
  );
}

const msg = (id: string, revision: number) => ({
  messageId: `st-marys/ct-1/finding/${id}/${revision}`,
  site: "st-marys",
  sensor: "ct-1",
  revision,
  finding: finding(id),
});

test("each run resolves findings not seen for resolveAfterHours and applies retention; totals in health", (t) => {
  const s = tmpStore(t);
  let now = T0;
  const logs: Array<[string, Record<string, unknown>]> = [];
  const lc = new Lifecycle(s, { now: () => now, log: (e, d) => logs.push([e, d]) });
  s.finding("st-marys", "ct-1", msg("f1", 1), T0);
  s.finding("st-marys", "ct-1", msg("f2", 1), new Date(T0.getTime() + 48 * 3_600_000));
  now = new Date(T0.getTime() + 73 * 3_600_000);
  alive(s, now);
  t.like(lc.runOnce()?.sweep, { resolved: 1 });
  t.deepEqual(s.db.prepare("SELECT finding_id, lifecycle FROM findings ORDER BY finding_id").all(), [
    { finding_id: "f1", lifecycle: "resolved" },
    { finding_id: "f2", lifecycle: "open" },
  ]);
  // 91 days later the resolved finding is past the history retention and goes; f2 was resolved meanwhile.
  now = new Date(T0.getTime() + (73 + 91 * 24) * 3_600_000);
  alive(s, now);
  const r = lc.runOnce();
  t.like(r?.sweep, { resolved: 1 });
  t.like(r?.retention.expired, { findings: 1 });
  t.like(lc.health(), { runs: 2, failures: 0, resolved: 2, riskExpired: 0, overCap: false });
  t.true(logs.every(([e]) => e === "swept"));
  // Logs carry counts, never a record.
  t.false(JSON.stringify(logs).includes("DICOM association"));
});

test("a store that refuses is logged and counted, never thrown; the timer runs on its own", async (t) => {
  const s = tmpStore(t);
  const logs: string[] = [];
  const lc = new Lifecycle(s, { intervalMs: 20, log: (e) => logs.push(e) });
  lc.start();
  await waitFor(() => lc.health().runs >= 3, "three runs of the timer");
  s.db.exec(`CREATE TRIGGER refuse BEFORE UPDATE ON findings
             BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END`);
  s.finding("st-marys", "ct-1", msg("f1", 1), T0);
  alive(s, new Date());
  await waitFor(() => lc.health().failures >= 1, "a failed run");
  t.regex(String(lc.health().lastError), /simulated write failure/);
  t.true(logs.includes("failed"));
  s.db.exec("DROP TRIGGER refuse");
  const runs = lc.health().runs;
  await waitFor(() => lc.health().runs > runs, "a run after the store works again");
  t.is(lc.health().resolved, 1);
  lc.stop();
  const stopped = lc.health().runs;
  await new Promise((r) => setTimeout(r, 100));
  t.is(lc.health().runs, stopped, "no run after stop");
});

test("a finding an analyst reopens after the staleness rule resolved it stays open for another resolveAfterHours", (t) => {
  const s = tmpStore(t);
  let now = T0;
  const lc = new Lifecycle(s, { now: () => now, log: () => undefined });
  s.finding("st-marys", "ct-1", msg("f1", 1), T0);
  now = new Date(T0.getTime() + 73 * 3_600_000);
  alive(s, now);
  t.like(lc.runOnce()?.sweep, { resolved: 1 });
  const pk = (s.db.prepare("SELECT pk FROM findings").get() as { pk: number }).pk;
  t.true(
    applyAction(s.db, pk, { action: "reopen", reason: "not fixed: the port is still open" }, "ana", now),
  );
  now = new Date(now.getTime() + 60_000);
  t.like(lc.runOnce()?.sweep, { resolved: 0 }, "the next sweep, a minute later, leaves it open");
  t.is((s.db.prepare("SELECT lifecycle FROM findings").get() as { lifecycle: string }).lifecycle, "open");
  now = new Date(now.getTime() + 73 * 3_600_000);
  alive(s, now);
  t.like(lc.runOnce()?.sweep, { resolved: 1 }, "without a sensor's new revision, resolved again later");
});

test("a sensor that is off resolves nothing: its findings stay open until it is heard from again", (t) => {
  const s = tmpStore(t);
  let now = T0;
  const lc = new Lifecycle(s, { now: () => now, log: () => undefined });
  s.finding("st-marys", "ct-1", msg("f1", 1), T0);
  alive(s, new Date(T0.getTime() + 3_600_000));
  // The sensor goes quiet an hour later; ten days on, nothing says it stopped seeing f1.
  now = new Date(T0.getTime() + 240 * 3_600_000);
  t.like(lc.runOnce()?.sweep, { resolved: 0 });
  // It comes back (its agent restarted): it must watch a whole window before f1 counts as not seen.
  const back = now;
  alive(s, now, back);
  t.like(lc.runOnce()?.sweep, { resolved: 0 }, "just restarted");
  now = new Date(back.getTime() + 71 * 3_600_000);
  alive(s, now, back);
  t.like(lc.runOnce()?.sweep, { resolved: 0 }, "71 hours of 72");
  now = new Date(back.getTime() + 73 * 3_600_000);
  alive(s, now, back);
  t.like(lc.runOnce()?.sweep, { resolved: 1 }, "a whole window watched without f1");
});
