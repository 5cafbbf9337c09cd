// The agent's batching of device and finding changes survives a store that refuses writes for a while.
import test from "ava";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PendingChanges } from "../../agent/agent/run.js";
import { Store } from "../../agent/store/store.js";
import { device, finding } from "../store/records.js";

test("a failed commit neither throws nor loses the changes; the next flush stores them", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-pending-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "store.db");
  const store = new Store({ path, maxBytes: 1 << 30, site: "st-marys", sensor: "ct-room-1" });
  const logs: string[] = [];
  const pending = new PendingChanges(store, (m) => logs.push(m));

  // The store refuses every outbox write, as a full disk or an I/O error would.
  const other = new Database(path);
  other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON outbox
              BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END`);
  pending.device(device("ip-10.1.2.3"));
  pending.finding(finding("f1", "high"));
  t.false(pending.flush());
  pending.finding(finding("f2", "critical"));
  t.false(pending.flush());
  t.is(pending.size, 3);
  t.regex(pending.lastError ?? "", /simulated/);
  t.is(logs.length, 1, "logged once per outage, not per tick");
  t.is(store.depth(), 0);
  t.deepEqual(store.findings(), []);

  // The disk has room again: everything kept is stored and enqueued, newest state of each record.
  other.exec("DROP TRIGGER refuse");
  other.close();
  pending.finding(finding("f1", "high", 7));
  t.true(pending.flush());
  t.is(pending.size, 0);
  t.is(pending.lastError, null);
  t.deepEqual(
    store.findings().map((f) => [f.id, f.count]),
    [
      ["f1", 7],
      ["f2", 1],
    ],
  );
  t.is(store.devices().length, 1);
  // The device, and an event and a retained state for each finding.
  t.is(store.depth(), 5);
  t.regex(logs[1] ?? "", /writable again/);
  store.close();
});
