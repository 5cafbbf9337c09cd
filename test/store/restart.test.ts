// What the console sees across restarts: a finding the engine raises again after a restart never goes
// back (firstSeen later, count lower), and a store recreated after its file was lost numbers its
// revisions above the old one's.
import test from "ava";
import fc from "fast-check";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store, type FindingMessage } from "../../agent/store/store.js";
import type { FindingRecord } from "../../agent/report/types.js";
import { device, finding } from "./records.js";
import { waitFor } from "../helpers/wait.js";

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), "dicomtap-restart-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return join(d, "store.db");
}

function open(path: string): Store {
  return new Store({ path, maxBytes: 1 << 30, site: "st-marys", sensor: "ct-room-1" });
}

function messages(s: Store): FindingMessage[] {
  return s
    .peek(1 << 20)
    .filter((r) => r.topic.endsWith("/findings"))
    .map((r) => JSON.parse(r.payload) as FindingMessage);
}

function hit(id: string, count: number, firstSeen: string, lastSeen: string, rejects = count): FindingRecord {
  return {
    ...finding(id),
    count,
    firstSeen,
    lastSeen,
    evidence: { flows: [`f${count}`], aeTitles: [], counts: { rejects }, firstSeen, lastSeen },
  };
}

test("revisions start at the creation-time floor; a store recreated after its file is lost numbers above", async (t) => {
  const path = tmp(t);
  const before = Date.now() * 1000;
  let s = open(path);
  for (let i = 1; i <= 50; i++) s.upsertFinding(finding("f1", "medium", i));
  s.upsertDevice(device("d1"));
  const old = Math.max(...s.peek(1000).map((r) => (JSON.parse(r.payload) as { revision: number }).revision));
  t.true(old > before, "above the creation time × 1000");
  t.true(Number.isSafeInteger(old));
  s.close();
  rmSync(path, { force: true });
  rmSync(path + "-wal", { force: true });
  rmSync(path + "-shm", { force: true });
  // The new store's floor is its creation millisecond × 1000: the clock must have passed the old one's.
  await waitFor(() => Date.now() > Math.floor(old / 1000), "the clock to pass the lost store's millisecond", {
    everyMs: 1,
  });
  s = open(path);
  s.upsertFinding(finding("f1", "medium", 1));
  s.upsertDevice(device("d1"));
  const fresh = s.peek(10).map((r) => (JSON.parse(r.payload) as { revision: number }).revision);
  // The finding's event and retained state, and the device.
  t.is(fresh.length, 3);
  for (const r of fresh) t.true(r > old, `new store's revision ${r} above the lost store's ${old}`);
  s.close();
});

test("a version-2 store migrates: its records keep growing, new ones start above the creation-time floor", (t) => {
  const path = tmp(t);
  let s = open(path);
  s.upsertFinding(finding("f1"));
  s.close();
  // Make it look like a store written before migration 3: small revisions, floor 0.
  const db = new Database(path);
  db.prepare("UPDATE findings SET revision = 7").run();
  db.prepare("UPDATE counters SET value = 0 WHERE name = 'revisionFloor'").run();
  db.prepare("UPDATE schema_version SET version = 2").run();
  db.prepare("ALTER TABLE findings DROP COLUMN engine").run();
  db.prepare("DROP TABLE baseline").run();
  db.prepare("DELETE FROM outbox").run();
  db.close();
  const now = Date.now() * 1000;
  s = open(path);
  s.upsertFinding(finding("f1", "medium", 2));
  s.upsertFinding(finding("f2"));
  const revs = messages(s).map((m) => [m.finding.id, m.revision] as const);
  t.is(revs[0]![0], "f1");
  t.is(revs[0]![1], 8, "the stored record goes on from its revision");
  t.true(revs[1]![1] > now, "a new record starts above the floor");
  s.close();
});

test("after a restart the engine's finding is merged: earlier firstSeen kept, counts added", (t) => {
  const path = tmp(t);
  let s = open(path);
  s.upsertFinding(hit("f1", 5, "2024-01-01T00:00:00.000Z", "2024-01-01T00:05:00.000Z"));
  s.close();
  // A new process: the engine counts from 1 again, with this run's firstSeen.
  s = open(path);
  s.upsertFinding(hit("f1", 1, "2024-02-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"));
  s.upsertFinding(hit("f1", 3, "2024-02-01T00:00:00.000Z", "2024-02-01T00:02:00.000Z"));
  let f = s.findings()[0]!;
  t.is(f.count, 8, "5 stored at start + 3 seen since");
  t.is(f.firstSeen, "2024-01-01T00:00:00.000Z");
  t.is(f.lastSeen, "2024-02-01T00:02:00.000Z");
  const ev = f.evidence as { counts: Record<string, number>; firstSeen: string; flows: string[] };
  t.deepEqual(ev.counts, { rejects: 8 });
  t.is(ev.firstSeen, "2024-01-01T00:00:00.000Z");
  t.deepEqual(ev.flows, ["f3"], "bounded by the longer list");
  // The engine evicted the finding and met it again within this process: what it had counted stays.
  s.upsertFinding(hit("f1", 1, "2024-03-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"));
  f = s.findings()[0]!;
  t.is(f.count, 9);
  t.is(f.firstSeen, "2024-01-01T00:00:00.000Z");
  // The same record again (a batch retried after a rollback) changes nothing.
  t.false(s.upsertFinding(hit("f1", 1, "2024-03-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z")));
  t.is(s.findings()[0]!.count, 9);
  s.close();
});

test("the merge state lives in the finding's row: thousands of other findings between two writes change nothing", (t) => {
  const path = tmp(t);
  const s = open(path);
  s.upsertFinding(hit("f1", 2, "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:01.000Z"));
  // A scan from ever new addresses raises findings without end; no per-finding state is held in memory.
  s.batch(() => {
    for (let i = 0; i < 20_000; i++)
      s.upsertFinding(hit(`scan${i}`, 1, "2024-01-01T00:00:02.000Z", "2024-01-01T00:00:02.000Z"));
  });
  s.upsertFinding(hit("f1", 3, "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:03.000Z"));
  const f = s.findings().find((x) => x.id === "f1")!;
  t.is(f.count, 3, "the engine's count, not added to what it had already reported");
  t.deepEqual((f.evidence as { counts: Record<string, number> }).counts, { rejects: 3 });
  s.close();
});

test("property: across store restarts and engine restarts, no finding message goes back", async (t) => {
  const path = tmp(t);
  const op = fc.oneof(
    { arbitrary: fc.constant({ kind: "hit" as const }), weight: 6 },
    { arbitrary: fc.constant({ kind: "engine-restart" as const }), weight: 1 },
    { arbitrary: fc.constant({ kind: "process-restart" as const }), weight: 1 },
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
      const id = `f${run++}`;
      let s = open(path);
      let raw = 0;
      let clock = Date.UTC(2024, 0, 1);
      let first = "";
      let hits = 0;
      let lastIncarnation = 0;
      const seen: FindingMessage[] = [];
      const restartEngine = (): void => {
        raw = 0;
        first = "";
      };
      for (const o of ops) {
        clock += 1000;
        if (o.kind === "engine-restart") restartEngine();
        else if (o.kind === "process-restart") {
          seen.push(...messages(s));
          for (const r of s.peek(1 << 20)) s.ack(r.seq);
          s.close();
          s = open(path);
          restartEngine();
        } else {
          raw++;
          hits++;
          lastIncarnation = raw;
          if (first === "") first = new Date(clock).toISOString();
          s.upsertFinding(hit(id, raw, first, new Date(clock).toISOString()));
        }
      }
      seen.push(...messages(s));
      const mine = seen.filter((m) => m.finding.id === id);
      for (let i = 1; i < mine.length; i++) {
        const a = mine[i - 1]!;
        const b = mine[i]!;
        if (!(b.revision > a.revision)) return false;
        if (b.finding.count < a.finding.count) return false;
        if (b.finding.firstSeen > a.finding.firstSeen) return false;
        if (b.finding.lastSeen < a.finding.lastSeen) return false;
      }
      const last = mine.at(-1);
      s.close();
      if (hits === 0) return last === undefined;
      return last !== undefined && last.finding.count <= hits && last.finding.count >= lastIncarnation;
    }),
    { numRuns: 40 },
  );
  t.pass();
});
