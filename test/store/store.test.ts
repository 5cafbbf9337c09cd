import test from "ava";
import fc from "fast-check";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SCHEMA_VERSION,
  SEVERITY_RANK,
  Store,
  topicLevel,
  type FindingMessage,
} from "../../agent/store/store.js";
import type { FindingRecord } from "../../agent/report/types.js";
import { device, finding } from "./records.js";

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), "dicomtap-store-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return join(d, "store.db");
}

function open(path: string, maxBytes = 1 << 30): Store {
  return new Store({ path, maxBytes, site: "st-marys", sensor: "ct-room-1" });
}

test("a new database gets every migration; WAL and synchronous=FULL", (t) => {
  const path = tmp(t);
  const s = open(path);
  t.is(s.schemaVersion(), SCHEMA_VERSION);
  t.deepEqual(s.durability(), { journalMode: "wal", synchronous: "full" });
  s.close();
  const db = new Database(path);
  t.is(db.pragma("journal_mode", { simple: true }), "wal");
  t.deepEqual(
    (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    )
      .map((r) => r.name)
      .filter((n) => !n.startsWith("sqlite_")),
    ["baseline", "counters", "devices", "findings", "outbox", "schema_version"],
  );
  db.close();
  // Reopening applies nothing twice; synchronous is per connection, so check on the store's own.
  const again = open(path);
  t.is(again.schemaVersion(), SCHEMA_VERSION);
  again.close();
});

test("a database from a newer agent is refused, not downgraded", (t) => {
  const path = tmp(t);
  open(path).close();
  const db = new Database(path);
  db.prepare("UPDATE schema_version SET version = ?").run(SCHEMA_VERSION + 1);
  db.close();
  t.throws(() => open(path), { message: /newer/ });
});

test("upsertFinding stores the finding and enqueues an event and its retained state per new or changed revision", (t) => {
  const s = open(tmp(t));
  t.true(s.upsertFinding(finding("f1")));
  t.false(s.upsertFinding(finding("f1")), "unchanged: nothing enqueued");
  t.true(s.upsertFinding(finding("f1", "medium", 2)));
  // Two events and the newest state: the second state superseded the first, still unsent.
  t.is(s.depth(), 3);
  const rows = s.peek(10);
  const first = (JSON.parse(rows[0]!.payload) as FindingMessage).revision;
  t.deepEqual(
    rows.map((r) => r.messageId),
    [
      `st-marys/ct-room-1/finding/f1/${first}`,
      `st-marys/ct-room-1/finding/f1/${first + 1}`,
      `st-marys/ct-room-1/finding/f1/${first + 1}/state`,
    ],
  );
  const msg = JSON.parse(rows[1]!.payload) as FindingMessage;
  t.is(msg.messageId, rows[1]!.messageId);
  t.is(msg.finding.count, 2);
  t.is(rows[0]!.topic, "dicomtap/v1/st-marys/ct-room-1/findings");
  t.is(rows[0]!.qos, 1);
  t.false(rows[0]!.retain);
  t.is(rows[0]!.rank, SEVERITY_RANK.medium);
  // The state: retained on findings/{id}, the event's payload but for its own messageId.
  const state = rows[2]!;
  t.is(state.topic, "dicomtap/v1/st-marys/ct-room-1/findings/f1");
  t.is(state.qos, 1);
  t.true(state.retain);
  t.is(state.rank, SEVERITY_RANK.medium);
  t.deepEqual(JSON.parse(state.payload), { ...msg, messageId: state.messageId });
  t.deepEqual(s.findings(), [finding("f1", "medium", 2)]);
  s.close();
});

test("peek is in order and pages by seq; ack removes exactly one row; unknown seq is a no-op", (t) => {
  const s = open(tmp(t));
  for (let i = 0; i < 10; i++)
    s.enqueue(`t/${i}`, `{"i":${i}}`, { qos: 1, retain: false, messageId: `m${i}` });
  const first = s.peek(4);
  t.deepEqual(
    first.map((r) => r.topic),
    ["t/0", "t/1", "t/2", "t/3"],
  );
  t.deepEqual(
    s.peek(3, first[3]!.seq).map((r) => r.topic),
    ["t/4", "t/5", "t/6"],
  );
  t.true(s.ack(first[1]!.seq));
  t.false(s.ack(first[1]!.seq));
  t.false(s.ack(999_999));
  t.is(s.depth(), 9);
  t.deepEqual(
    s.peek(3).map((r) => r.topic),
    ["t/0", "t/2", "t/3"],
  );
  t.is(
    s.enqueue("t/x", "{}", { qos: 1, retain: false, messageId: "m0" }),
    null,
    "duplicate messageId ignored",
  );
  t.is(s.depth(), 9);
  s.close();
});

test("retained device messages are superseded: one outbox row per device topic, newest wins", (t) => {
  const s = open(tmp(t));
  let changes = 0;
  s.onEnqueue(() => changes++);
  t.true(s.upsertDevice(device("d1", "2024-01-01T00:00:01.000Z")));
  t.true(s.upsertDevice(device("d1", "2024-01-01T00:00:02.000Z")));
  t.false(s.upsertDevice(device("d1", "2024-01-01T00:00:02.000Z")));
  t.true(s.upsertDevice(device("d2")));
  t.true(s.upsertDevice(device("d1", "2024-01-01T00:00:03.000Z")));
  t.is(changes, 4);
  const rows = s.peek(10);
  const r1 = Number(rows[0]!.messageId.split("/").pop());
  t.deepEqual(
    rows.map((r) => [r.topic, r.messageId, r.retain]),
    [
      ["dicomtap/v1/st-marys/ct-room-1/devices/d2", `st-marys/ct-room-1/device/d2/${r1}`, true],
      ["dicomtap/v1/st-marys/ct-room-1/devices/d1", `st-marys/ct-room-1/device/d1/${r1 + 2}`, true],
    ],
  );
  t.is(s.evicted(), 0, "superseding is not eviction");
  t.is(s.devices().length, 2);
  s.close();
});

test("device ids become one topic level", (t) => {
  t.is(topicLevel("mac-001122334455-10.1.2.3"), "mac-001122334455-10.1.2.3");
  t.is(topicLevel("ip-fe80::1"), "ip-fe80::1");
  t.is(topicLevel("a/b+#"), "a%2Fb%2B%23");
  t.is(topicLevel(""), "_");
  const s = open(tmp(t));
  s.upsertDevice(device("x/y"));
  t.is(s.peek(1)[0]!.topic, "dicomtap/v1/st-marys/ct-room-1/devices/x%2Fy");
  s.close();
});

test("store full: evicts info, then low, then devices, then medium..., oldest first; counted and persisted", (t) => {
  const path = tmp(t);
  const big = "x".repeat(900);
  let s = open(path);
  const order: Array<[string, FindingRecord["severity"]]> = [];
  const sev: FindingRecord["severity"][] = [
    "high",
    "info",
    "low",
    "medium",
    "critical",
    "info",
    "low",
    "high",
  ];
  for (let i = 0; i < 16; i++) {
    const f = { ...finding(`f${i}`, sev[i % sev.length]!), evidence: big };
    s.upsertFinding(f);
    order.push([f.id, f.severity]);
  }
  s.upsertDevice({ ...device("d1"), model: big });
  t.is(s.evicted(), 0);
  // An event and a retained state per finding, and the device.
  t.is(s.depth(), 33);
  // Reopened with a cap just above what it holds now.
  const cap = s.bytes() + 3000;
  s.close();
  s = open(path, cap);
  t.is(s.bytes(), cap - 3000, "byte count recomputed at open");
  // Eight more critical findings push it over the cap.
  for (let i = 16; i < 24; i++) s.upsertFinding({ ...finding(`f${i}`, "critical"), evidence: big });
  t.true(s.bytes() <= cap);
  const evicted = s.evicted();
  t.true(evicted > 0);
  const left = new Set(
    s.peek(100).map((r) => {
      const id = (JSON.parse(r.payload) as FindingMessage).finding?.id ?? "device";
      return r.retain && id !== "device" ? `${id}/state` : id;
    }),
  );
  // Expected: rows sorted by (rank, seq); the first `evicted` are gone, the rest remain. Each finding is
  // two rows of its rank, its event then its state.
  const rows = (id: string, rank: number, seq: number): Array<{ id: string; rank: number; seq: number }> => [
    { id, rank, seq },
    { id: `${id}/state`, rank, seq: seq + 0.5 },
  ];
  const all = [
    ...order.flatMap(([id, sv], i) => rows(id, SEVERITY_RANK[sv], i)),
    { id: "device", rank: SEVERITY_RANK.device, seq: 16 },
    ...Array.from({ length: 8 }, (_, k) => rows(`f${16 + k}`, SEVERITY_RANK.critical, 17 + k)).flat(),
  ].sort((a, b) => a.rank - b.rank || a.seq - b.seq);
  t.deepEqual(
    all
      .slice(evicted)
      .map((r) => r.id)
      .sort(),
    [...left].sort(),
  );
  // info and low all went first: 8 rows of 4 findings, so eviction needed more and took the device, then medium.
  t.true(evicted >= 8);
  for (const r of all.slice(0, evicted)) t.false(left.has(r.id));
  // Findings whose message is evicted stay in the findings table, except what its own budget prunes.
  t.is(s.findings().length + s.devices().length + s.pruned(), 25);
  s.close();
  const again = open(path, cap);
  t.is(again.evicted(), evicted, "evicted counter persisted");
  t.is(again.depth(), 2 * 24 + 1 - evicted);
  again.close();
});

test("property: the byte count survives any sequence of operations and a reopen; the cap holds", (t) => {
  const path = tmp(t);
  let n = 0;
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({
            op: fc.constant("finding" as const),
            id: fc.integer({ min: 0, max: 20 }),
            sev: fc.constantFrom("info", "low", "medium", "high", "critical"),
            size: fc.integer({ min: 0, max: 3000 }),
          }),
          fc.record({
            op: fc.constant("device" as const),
            id: fc.integer({ min: 0, max: 5 }),
            size: fc.nat(2000),
          }),
          fc.record({ op: fc.constant("ack" as const), k: fc.nat(5) }),
        ),
        { maxLength: 60 },
      ),
      (ops) => {
        const p = `${path}.${n++}`;
        const cap = 40_000;
        const s = open(p, cap);
        for (const o of ops) {
          if (o.op === "finding") {
            const before = s.depth() + s.evicted();
            // The finding's unsent retained state, which the new one supersedes.
            const stateTopic = `dicomtap/v1/st-marys/ct-room-1/findings/f${o.id}`;
            const superseded = s.peek(1000).filter((r) => r.topic === stateTopic).length;
            if (
              s.upsertFinding({
                ...finding(`f${o.id}`, o.sev as FindingRecord["severity"]),
                evidence: "e".repeat(o.size),
              })
            ) {
              t.is(s.depth() + s.evicted(), before + 2 - superseded);
            }
          } else if (o.op === "device") {
            s.upsertDevice({ ...device(`d${o.id}`), model: "m".repeat(o.size) });
          } else {
            const before = s.depth();
            const rows = s.peek(o.k);
            for (const r of rows) t.true(s.ack(r.seq));
            t.is(s.depth(), before - rows.length);
          }
          t.true(s.bytes() <= cap || s.depth() === 0);
          // At most one outbox row per retained topic (device records, findings' states).
          const topics = s
            .peek(1000)
            .filter((r) => r.retain)
            .map((r) => r.topic);
          t.is(new Set(topics).size, topics.length);
        }
        const bytes = s.bytes();
        s.close();
        const again = open(p, cap);
        t.is(again.bytes(), bytes);
        again.close();
      },
    ),
    { numRuns: 40 },
  );
});

test("a failed write (disk full, I/O error) rolls back rows and the in-memory counts alike", (t) => {
  const path = tmp(t);
  const big = "x".repeat(900);
  let s = open(path);
  for (let i = 0; i < 8; i++) s.upsertFinding({ ...finding(`f${i}`, "low"), evidence: big });
  const cap = s.bytes() + 1500;
  s.close();
  s = open(path, cap);
  // SQLite refuses a write as it would when the disk is full; the store must not count what it did not keep.
  const db = new Database(path);
  db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.messageId LIKE '%/boom/%'
           BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END`);
  db.close();
  const bytes = s.bytes();
  t.throws(() => s.upsertFinding({ ...finding("boom", "high"), evidence: big }), {
    any: true,
    message: /simulated/,
  });
  t.is(s.bytes(), bytes);
  // In one batch: a finding whose insert evicts older rows, then one that fails; all of it is undone.
  t.throws(
    () =>
      s.batch(() => {
        s.upsertFinding({ ...finding("g1", "high"), evidence: big.repeat(2) });
        s.upsertFinding({ ...finding("boom", "high"), evidence: big });
      }),
    { any: true, message: /simulated/ },
  );
  t.is(s.bytes(), bytes);
  t.is(s.evicted(), 0);
  t.is(s.findings().length, 8);
  s.close();
  const again = open(path, cap);
  t.is(again.bytes(), bytes, "the count a reopen makes from the file");
  t.is(again.evicted(), 0);
  again.close();
});

test("records over half the cap are pruned, oldest first, so new messages are never evicted on arrival", (t) => {
  const path = tmp(t);
  const cap = 64 << 10;
  let s = open(path, cap);
  const big = "x".repeat(1000);
  let firstRevision = 0;
  // Months of new finding ids (scanners from ever new addresses), each delivered and acknowledged.
  for (let i = 0; i < 200; i++) {
    const f = {
      ...finding(`f${i}`, "low"),
      evidence: big,
      lastSeen: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString(),
    };
    t.true(s.upsertFinding(f));
    const rows = s.peek(10);
    t.is(rows.length, 2, `the messages of f${i} are in the outbox`);
    t.is(rows[0]!.messageId.split("/")[3], `f${i}`);
    t.is(rows[1]!.messageId, `${rows[0]!.messageId}/state`);
    if (i === 0) firstRevision = (JSON.parse(rows[0]!.payload) as FindingMessage).revision;
    for (const r of rows) s.ack(r.seq);
    t.true(s.bytes() <= cap / 2);
  }
  t.is(s.evicted(), 0);
  t.true(s.pruned() > 100);
  const kept = s.findings().map((f) => Number(f.id.slice(1)));
  t.is(kept.length + s.pruned(), 200);
  // The least recently seen went first.
  t.deepEqual(
    kept.sort((a, b) => a - b),
    Array.from({ length: kept.length }, (_, k) => 200 - kept.length + k),
  );
  // A pruned finding that comes back gets a revision above any it had: consumers keep the highest one.
  const back = (id: string): number => {
    t.true(s.upsertFinding({ ...finding(id, "high"), evidence: big, lastSeen: "2025-01-01T00:00:00.000Z" }));
    const rows = s.peek(10);
    const m = JSON.parse(rows[rows.length - 1]!.payload) as FindingMessage;
    for (const r of rows) s.ack(r.seq);
    return m.revision;
  };
  t.true(back("f0") > firstRevision);
  s.close();
  s = open(path, cap);
  const pruned = s.pruned();
  t.true(pruned > 100, "pruned counter persisted");
  t.true(back("f1") > firstRevision, "revision floor persisted");
  s.close();
});
