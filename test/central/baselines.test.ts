// Baselines at the central (issue 13): the checks of a baseline message, the store's baselines table
// (migration 4, from a database of the previous version too), and a site's baselines merged into one.
import test from "ava";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import { validateBaseline } from "../../agent/baseline/validate.js";
import { MAX_BASELINE_BYTES, checkBaseline, mergeBaselines } from "../../agent/central/baselines.js";
import { MIGRATIONS } from "../../agent/central/schema.js";
import { CentralStore } from "../../agent/central/store.js";
import { isoFromDate } from "../../agent/util/time.js";
import { baselineMessage, labBaseline } from "./seed.js";

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
/** The retained message of `doc` on lab-qr's topic (or `sensor`'s). */
const msg = (doc: unknown, revision = 1, sensor = "lab-qr"): Buffer =>
  Buffer.from(baselineMessage(doc as BaselineDocument, SITE, sensor, revision));

let qr: BaselineDocument;
let store: BaselineDocument;
test.before(async () => {
  qr = await labBaseline([join(LAB, "qr.pcap")], SITE, "lab-qr");
  store = await labBaseline([join(LAB, "store.pcap")], SITE, "lab-store", "learned");
});

test("a lab capture's baseline passes the checks; the sensor's own topic only", (t) => {
  t.true(qr.services.length > 0, "the capture teaches services");
  t.notThrows(() => validateBaseline(qr));
  const c = checkBaseline(topic("lab-qr"), msg(qr, 3));
  t.true(c.ok && !c.empty && c.document.services.length === qr.services.length && c.revision === 3);
  // The envelope names another sensor than the topic: refused; so is a document of another sensor.
  t.deepEqual(checkBaseline(topic("other"), msg(qr)), {
    ok: false,
    reason: "site/sensor differ from the topic",
  });
  t.deepEqual(checkBaseline(topic("other"), msg(qr, 1, "other")), {
    ok: false,
    reason: "the baseline's site/sensor differ from the topic",
  });
  // A document that names no sensor (exported and imported by hand) is taken on any sensor's topic.
  t.true(checkBaseline(topic("other"), msg({ ...qr, site: null, sensor: null }, 1, "other")).ok);
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
  const envelope = JSON.parse(msg(qr).toString()) as Record<string, unknown>;
  t.is(reason(bytes("{not json")), "not JSON");
  t.is(reason(Buffer.alloc(MAX_BASELINE_BYTES + 1, 0x20)), `baseline over ${MAX_BASELINE_BYTES} bytes`);
  t.is(reason(bytes([])), "not a baseline message (an object)");
  t.is(reason(bytes(qr)), 'unknown field "version"', "a bare document is not the message");
  t.is(reason(bytes({ ...envelope, messageId: "x".repeat(513) })), "messageId missing or too long");
  t.is(reason(bytes({ ...envelope, revision: 0 })), "revision must be a positive integer");
  t.is(reason(bytes({ ...envelope, revision: "2" })), "revision must be a positive integer");
  // The document: the baseline validator's first reason, with its key path.
  t.regex(reason(msg({ ...qr, version: 2 })), /^baseline: version: /);
  t.regex(reason(msg({ ...qr, status: "trusted" })), /^baseline: status: /);
  t.regex(reason(msg({ ...qr, extra: 1 })), /^baseline: .*extra/);
  const { truncated: _, ...noTruncated } = qr;
  t.regex(reason(msg(noTruncated)), /^baseline: .*truncated/);
  const badPort = structuredClone(qr);
  badPort.services[0]!.port = 70000;
  t.regex(reason(msg(badPort)), /^baseline: services\[0\]\.port: /);
  const badIp = structuredClone(qr);
  badIp.services[0]!.peers[0]!.ip = "10.0.0.300";
  t.regex(reason(msg(badIp)), /^baseline: services\[0\]\.peers\[0\]\.ip: .*not an IP address/);
  const badOp = structuredClone(qr);
  (badOp.services[0]!.peers[0]!.operations[0] as { operation: string }).operation = "C-DELETE";
  t.regex(reason(msg(badOp)), /^baseline: services\[0\]\.peers\[0\]\.operations\[0\]\.operation: /);
  t.is(reason(msg(qr), `dicomtap/v1/${SITE}/lab-qr/baseline/x`), "not a baseline topic");
  // Random bytes and mutated messages: a reason each time, no exception.
  const good = msg(qr);
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
  t.is(take(msg(qr, 1), T0), "new");
  t.is(take(msg(qr, 1), new Date(T0.getTime() + 60_000)), "stale");
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
  t.is(take(msg(learned, 2), new Date(T0.getTime() + 120_000)), "changed");
  t.is(row()!.status, "learned");
  t.is(take(msg(qr, 1), new Date(T0.getTime() + 150_000)), "stale", "an older revision, late");
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
  const c = checkBaseline(`dicomtap/v1/${SITE}/old-1/baseline`, msg({ ...qr, sensor: "old-1" }, 1, "old-1"));
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
  t.notThrows(() => validateBaseline(twice), "the merge is a valid baseline document too");
  t.notThrows(() => validateBaseline(learned));
});
