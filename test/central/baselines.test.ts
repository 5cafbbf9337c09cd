// Baselines at the central (issue 13): the checks of a baseline message, the store's baselines table
// (migration 4, from a database of the previous version too), and a site's baselines merged into one.
import test from "ava";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import {
  MAX_BASELINE_BYTES,
  baselineShapeError,
  checkBaseline,
  mergeBaselines,
} from "../../agent/central/baselines.js";
import { MIGRATIONS } from "../../agent/central/schema.js";
import { CentralStore } from "../../agent/central/store.js";
import { isoFromDate } from "../../agent/util/time.js";
import { labBaseline } from "./seed.js";

const SITE = "st-marys";
const RETENTION = { historyDays: 90, healthDays: 30, resolveAfterHours: 72 };
const T0 = new Date("2026-06-01T12:00:00.000Z");
const LAB = "test/fixtures/lab";

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), "dicomtap-central-bl-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return join(d, "central.db");
}

const open = (path: string): CentralStore =>
  CentralStore.open(path, { maxBytes: 1 << 30, retention: RETENTION });
const topic = (sensor: string): string => `dicomtap/v1/${SITE}/${sensor}/baseline`;
const bytes = (v: unknown): Buffer => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));

let qr: BaselineDocument;
let store: BaselineDocument;
test.before(async () => {
  qr = await labBaseline([join(LAB, "qr.pcap")], SITE, "lab-qr");
  store = await labBaseline([join(LAB, "store.pcap")], SITE, "lab-store", "learned");
});

test("a lab capture's baseline passes the checks; the sensor's own topic only", (t) => {
  t.true(qr.services.length > 0, "the capture teaches services");
  t.is(baselineShapeError(qr), null);
  const c = checkBaseline(topic("lab-qr"), bytes(qr));
  t.true(c.ok && !c.empty && c.document.services.length === qr.services.length);
  t.deepEqual(checkBaseline(topic("other"), bytes(qr)), {
    ok: false,
    reason: "site/sensor differ from the topic",
  });
  // A document that names no sensor (exported by hand) is taken on any sensor's topic.
  const c2 = checkBaseline(topic("other"), bytes({ ...qr, site: null, sensor: null }));
  t.true(c2.ok);
  t.deepEqual(checkBaseline(topic("lab-qr"), Buffer.alloc(0)), {
    ok: true,
    site: SITE,
    sensor: "lab-qr",
    empty: true,
  });
});

test("bad baseline payloads are refused with the reason, never thrown", (t) => {
  const reason = (payload: Buffer, tp = topic("lab-qr")): string => {
    const c = checkBaseline(tp, payload);
    return c.ok ? "ok" : c.reason;
  };
  t.is(reason(bytes("{not json")), "not JSON");
  t.is(reason(Buffer.alloc(MAX_BASELINE_BYTES + 1, 0x20)), `baseline over ${MAX_BASELINE_BYTES} bytes`);
  t.is(reason(bytes([])), "baseline: / must be an object");
  t.is(reason(bytes({ ...qr, version: 2 })), "baseline: /version must be 1");
  t.is(
    reason(bytes({ ...qr, status: "trusted" })),
    "baseline: /status must be one of learning, learned, approved",
  );
  t.is(reason(bytes({ ...qr, extra: 1 })), "baseline: /extra is not a known field");
  const { truncated: _, ...noTruncated } = qr;
  t.is(reason(bytes(noTruncated)), "baseline: /truncated is required");
  const badPort = structuredClone(qr);
  badPort.services[0]!.port = 70000;
  t.is(reason(bytes(badPort)), "baseline: /services/0/port must be an integer from 1 to 65535");
  const badOp = structuredClone(qr);
  (badOp.services[0]!.peers[0]!.operations[0] as { operation: string }).operation = "C-DELETE";
  t.regex(
    reason(bytes(badOp)),
    /^baseline: \/services\/0\/peers\/0\/operations\/0\/operation must be one of/,
  );
  t.is(reason(bytes(qr), `dicomtap/v1/${SITE}/lab-qr/baseline/x`), "not a baseline topic");
  // Random bytes and mutated documents: a reason each time, no exception.
  const good = bytes(qr);
  for (let i = 0; i < 500; i++) {
    const m = Buffer.from(good);
    for (let k = 0; k < 4; k++) m[(i * 7919 + k * 104729) % m.length] = (i * 31 + k) & 0xff;
    t.notThrows(() => checkBaseline(topic("lab-qr"), m));
  }
});

test("store: the latest baseline per sensor; a copy again is no change; an empty retained message removes it", (t) => {
  const s = open(tmp(t));
  const take = (payload: Buffer, at: Date): string => {
    const c = checkBaseline(topic("lab-qr"), payload);
    if (!c.ok) throw new Error(c.reason);
    return s.applyBaseline(c, at);
  };
  t.is(take(bytes(qr), T0), "new");
  t.is(take(bytes(qr), new Date(T0.getTime() + 60_000)), "stale");
  const row = () =>
    s.db
      .prepare(
        `SELECT b.status, b.services, b.peers, b.devices, b.received_at, b.changed_at, b.bytes
         FROM baselines b JOIN sensors s ON s.pk = b.sensor_pk WHERE s.site = ? AND s.sensor = ?`,
      )
      .get(SITE, "lab-qr") as Record<string, unknown> | undefined;
  const r1 = row()!;
  t.is(r1.status, "learning");
  t.is(r1.services, qr.services.length);
  t.is(
    r1.peers,
    qr.services.reduce((n, x) => n + x.peers.length, 0),
  );
  t.is(r1.devices, qr.devices.length);
  t.is(r1.changed_at, isoFromDate(T0));
  t.is(r1.received_at, isoFromDate(new Date(T0.getTime() + 60_000)), "a copy moves received_at only");
  const learned = {
    ...qr,
    status: "learned" as const,
    window: { ...qr.window, end: "2026-12-09T00:00:00Z" },
  };
  t.is(take(bytes(learned), new Date(T0.getTime() + 120_000)), "changed");
  t.is(row()!.status, "learned");
  t.deepEqual(s.stats().baselines, { count: 1, bytes: bytes(learned).length });
  t.is(take(Buffer.alloc(0), new Date(T0.getTime() + 180_000)), "withdrawn");
  t.is(row(), undefined);
  t.is(take(Buffer.alloc(0), new Date(T0.getTime() + 180_000)), "ignored");
  t.deepEqual(s.stats().baselines, { count: 0, bytes: 0 });
  s.close();
});

test("a database at the previous schema version is migrated: its rows kept, baselines added", (t) => {
  const path = tmp(t);
  const db = new Database(path);
  for (const m of MIGRATIONS.slice(0, 3)) db.exec(m);
  db.pragma("user_version = 3");
  db.prepare("INSERT INTO sensors (site, sensor) VALUES (?, ?)").run(SITE, "old-1");
  db.close();
  const s = open(path);
  t.is(s.db.pragma("user_version", { simple: true }), 4);
  t.is(s.stats().sensors, 1);
  t.deepEqual(s.stats().baselines, { count: 0, bytes: 0 });
  const c = checkBaseline(`dicomtap/v1/${SITE}/old-1/baseline`, bytes({ ...qr, sensor: "old-1" }));
  t.true(c.ok);
  if (c.ok) t.is(s.applyBaseline(c, T0), "new");
  t.is(s.stats().sensors, 1, "the baseline went to the existing sensor");
  // Retention and the size cap leave a baseline alone (it is current state, like a device).
  s.enforceRetention(new Date(T0.getTime() + 1000 * 86_400_000));
  t.is(s.stats().baselines.count, 1);
  s.close();
});

test("merge: one service per (ip, port, AE), one peer per (ip, AE), counts added; the most cautious head", (t) => {
  t.is(mergeBaselines(SITE, []), null);
  const one = mergeBaselines(SITE, [{ sensor: "lab-qr", document: qr, receivedAt: T0.toISOString() }])!;
  t.deepEqual(one.services, qr.services);
  // The same capture seen by two sensors (overlapping mirror ports) and another capture by a third.
  const twice = mergeBaselines(SITE, [
    { sensor: "b", document: { ...qr, sensor: "b" }, receivedAt: "" },
    { sensor: "a", document: qr, receivedAt: "" },
    { sensor: "c", document: store, receivedAt: "" },
  ])!;
  t.is(twice.sensor, null);
  t.is(twice.site, SITE);
  t.is(twice.status, "learning", "one sensor still learning: the site is learning");
  t.is(twice.window.end, null);
  const key = (s: BaselineDocument["services"][number]): string => `${s.ip}:${s.port}:${s.aeTitle ?? ""}`;
  const want = new Set([...qr.services, ...store.services].map(key));
  t.deepEqual(twice.services.map(key).sort(), [...want].sort());
  const s0 = qr.services[0]!;
  const m0 = twice.services.find((x) => key(x) === key(s0))!;
  const p0 = s0.peers[0]!;
  const mp0 = m0.peers.find((p) => p.ip === p0.ip && p.aeTitle === p0.aeTitle)!;
  const inStore = store.services
    .find((x) => key(x) === key(s0))
    ?.peers.find((p) => p.ip === p0.ip && p.aeTitle === p0.aeTitle);
  t.is(mp0.associations, 2 * p0.associations + (inStore?.associations ?? 0));
  t.is(new Set(m0.peers.map((p) => `${p.ip}|${p.aeTitle}`)).size, m0.peers.length, "no peer twice");
  t.is(new Set(twice.devices.map((d) => d.ip)).size, twice.devices.length, "no device twice");
  // Both learned: learned, with the later end; approved only when all are.
  const learned = mergeBaselines(SITE, [
    {
      sensor: "a",
      document: {
        ...qr,
        status: "approved",
        window: { ...qr.window, end: "2026-12-01T00:00:00Z" },
        approved: { by: "x", at: "2026-12-02T00:00:00Z", note: null },
      },
      receivedAt: "",
    },
    { sensor: "c", document: store, receivedAt: "" },
  ])!;
  t.is(learned.status, "learned");
  t.is(learned.approved, null);
  t.true(learned.window.end !== null && learned.window.end >= store.window.end!);
  t.is(baselineShapeError(twice), null, "the merge is a baseline document too");
});
