// The central store (issue 12) on real SQLite files: migrations, revisions, the finding lifecycle, drift,
// sweep, retention and the size cap, and loading a lab report through the ingest write path.
import test from "ava";
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CENTRAL_SCHEMA_VERSION,
  CentralStore,
  MIGRATIONS,
  drift,
  loadReport,
  type DeviceMessage,
  type FindingMessage,
} from "../../agent/central/store.js";
import { MIGRATIONS as SCHEMA_MIGRATIONS } from "../../agent/central/schema.js";
import { applyAction } from "../../agent/central/http/actions.js";
import { FINDING_STEPS, REMEDIATION_STEPS, stepOf, type FindingStep } from "../../agent/central/steps.js";
import type { HealthPayload } from "../../agent/console/state.js";
import type { DeviceRecord, FindingRecord, Report } from "../../agent/report/types.js";
import { device, finding } from "../store/records.js";

const SITE = "st-marys";
const RETENTION = { historyDays: 90, healthDays: 30, resolveAfterHours: 72 };
const T0 = new Date("2026-06-01T12:00:00.000Z");
const hours = (h: number): Date => new Date(T0.getTime() + h * 3_600_000);

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), "dicomtap-central-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return join(d, "central.db");
}

function open(path: string, maxBytes = 1 << 30): CentralStore {
  return CentralStore.open(path, { maxBytes, retention: RETENTION });
}

function fmsg(sensor: string, f: FindingRecord, revision: number): FindingMessage {
  return {
    messageId: `${SITE}/${sensor}/finding/${f.id}/${revision}`,
    site: SITE,
    sensor,
    revision,
    finding: f,
  };
}

function dmsg(sensor: string, d: DeviceRecord, revision: number): DeviceMessage {
  return {
    messageId: `${SITE}/${sensor}/device/${d.id}/${revision}`,
    site: SITE,
    sensor,
    revision,
    device: d,
  };
}

function events(s: CentralStore, findingId: string): Array<[string, string | null]> {
  return (
    s.db
      .prepare(
        `SELECT e.kind, e.detail FROM finding_events e JOIN findings f ON f.pk = e.finding_pk
         WHERE f.finding_id = ? ORDER BY e.pk`,
      )
      .all(findingId) as Array<{ kind: string; detail: string | null }>
  ).map((r) => [r.kind, r.detail]);
}

function lifecycle(s: CentralStore, findingId: string): { lifecycle: string; lifecycle_at: string } {
  return s.db.prepare("SELECT lifecycle, lifecycle_at FROM findings WHERE finding_id = ?").get(findingId) as {
    lifecycle: string;
    lifecycle_at: string;
  };
}

function healthPayload(sensor: string, time: string): HealthPayload {
  return {
    messageId: `${SITE}/${sensor}/health/${time}`,
    site: SITE,
    sensor,
    time,
    uptimeSeconds: 60,
    capture: { packets: 10, bytes: 1000, drops: 2 },
    anomalies: 0,
    outbox: { depth: 3, evicted: 0, bytes: 0 },
    process: { rssBytes: 123456, peakRssBytes: null, heap: {} },
  };
}

test("a new database gets every migration; WAL, synchronous=NORMAL, foreign keys, incremental vacuum", (t) => {
  const path = tmp(t);
  const s = open(path);
  t.is(s.db.pragma("user_version", { simple: true }), CENTRAL_SCHEMA_VERSION);
  t.is(CENTRAL_SCHEMA_VERSION, SCHEMA_MIGRATIONS.length);
  t.is(MIGRATIONS, SCHEMA_MIGRATIONS, "one list: schema.ts's");
  t.is(s.db.pragma("journal_mode", { simple: true }), "wal");
  t.is(s.db.pragma("synchronous", { simple: true }), 1);
  t.is(s.db.pragma("foreign_keys", { simple: true }), 1);
  t.is(s.db.pragma("auto_vacuum", { simple: true }), 2);
  const tables = (
    s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  for (const name of ["sensors", "sensor_health", "devices", "device_history", "findings", "finding_events"])
    t.true(tables.includes(name), name);
  t.true(tables.includes("counters"));
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("f1"), 1), T0);
  s.close();
  // Opened again: nothing to migrate, the data kept.
  const again = open(path);
  t.is(again.stats().findings.open, 1);
  again.close();
});

test("instances opening one new file at once migrate it once", async (t) => {
  const path = tmp(t);
  const mod = new URL("../../agent/central/store.js", import.meta.url).href;
  const code = `import { CentralStore } from ${JSON.stringify(mod)};
    const s = CentralStore.open(process.argv[1], { maxBytes: 1 << 30, retention: ${JSON.stringify(RETENTION)} });
    s.close();`;
  const runs = await Promise.all(
    Array.from(
      { length: 4 },
      () =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const p = spawn(process.execPath, ["--input-type=module", "-e", code, path], {
            stdio: ["ignore", "ignore", "pipe"],
          });
          let stderr = "";
          p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
          p.on("close", (c) => resolve({ code: c, stderr }));
        }),
    ),
  );
  for (const r of runs) t.is(r.code, 0, r.stderr);
  const s = open(path);
  t.is(s.db.pragma("user_version", { simple: true }), CENTRAL_SCHEMA_VERSION);
  s.close();
});

test("a database at version 1 (schema.ts only) is migrated and keeps its rows", (t) => {
  const path = tmp(t);
  const db = new Database(path);
  db.exec(SCHEMA_MIGRATIONS[0]!);
  db.pragma("user_version = 1");
  db.prepare("INSERT INTO sensors (site, sensor) VALUES (?, ?)").run(SITE, "old-1");
  db.close();
  const s = open(path);
  t.is(s.db.pragma("user_version", { simple: true }), MIGRATIONS.length);
  t.is(s.stats().sensors, 1);
  t.is(s.stats().evicted.health, 0, "the counters of migration 2");
  s.close();
});

test("a database newer than this version is refused, and left as it was", (t) => {
  const path = tmp(t);
  open(path).close();
  const db = new Database(path);
  db.pragma(`user_version = ${CENTRAL_SCHEMA_VERSION + 1}`);
  db.close();
  t.throws(() => open(path), { message: /newer/ });
  const check = new Database(path);
  t.is(check.pragma("user_version", { simple: true }), CENTRAL_SCHEMA_VERSION + 1);
  check.close();
});

test("revisions: a duplicate or older revision changes nothing; one row, one 'opened', also across two instances", (t) => {
  const path = tmp(t);
  const a = open(path);
  const b = open(path);
  t.is(a.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "high", 5), 5), T0), "opened");
  // The same revision on the retained state topic, at the other instance, and again after a restart.
  t.is(b.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "high", 5), 5), T0), "stale");
  t.is(a.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "high", 5), 5), T0), "stale");
  t.is(a.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "high", 4), 4), T0), "stale");
  t.is(b.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "critical", 9), 6), hours(1)), "updated");
  const row = a.db.prepare("SELECT revision, count, severity, severity_rank FROM findings").all();
  t.deepEqual(row, [{ revision: 6, count: 9, severity: "critical", severity_rank: 4 }]);
  t.deepEqual(
    events(a, "f1").map((e) => e[0]),
    ["opened"],
  );
  // The same finding id at another sensor is another finding.
  t.is(b.finding(SITE, "mr-2", fmsg("mr-2", finding("f1"), 1), T0), "opened");
  t.is(a.stats().findings.open, 2);

  t.is(a.device(SITE, "ct-1", dmsg("ct-1", device("d1"), 3), T0), "new");
  t.is(b.device(SITE, "ct-1", dmsg("ct-1", device("d1"), 3), T0), "stale");
  t.is(b.device(SITE, "ct-1", dmsg("ct-1", device("d1"), 2), T0), "stale");
  t.is(a.stats().devices, 1);
  t.is(a.stats().rows.history, 0);
  a.close();
  b.close();
});

test("lifecycle: opened, withdrawn (resolved), reopened, not seen (resolved), reopened; times are central's", (t) => {
  const s = open(tmp(t));
  const f = finding("f1");
  t.is(s.finding(SITE, "ct-1", fmsg("ct-1", f, 1), T0), "opened");
  t.deepEqual(lifecycle(s, "f1"), { lifecycle: "open", lifecycle_at: "2026-06-01T12:00:00.000000Z" });
  // An empty retained findings/f1: the sensor says it is gone.
  t.is(s.withdraw(SITE, "ct-1", "f1", hours(1)), 1);
  t.is(s.withdraw(SITE, "ct-1", "f1", hours(1)), 0, "already resolved");
  t.is(s.withdraw(SITE, "ct-1", "nope", hours(1)), 0);
  t.is(s.withdraw(SITE, "nobody", "f1", hours(1)), 0);
  t.deepEqual(lifecycle(s, "f1"), { lifecycle: "resolved", lifecycle_at: "2026-06-01T13:00:00.000000Z" });
  t.is(s.finding(SITE, "ct-1", fmsg("ct-1", f, 1), hours(2)), "stale", "the old revision does not reopen");
  t.is(s.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "medium", 2), 2), hours(3)), "reopened");
  t.is(lifecycle(s, "f1").lifecycle, "open");
  // No new revision for resolveAfterHours (72) while the sensor kept watching: the sweep resolves it, not
  // before. Without a health record that late, the sensor may have been off: nothing is resolved.
  t.deepEqual(s.sweep(hours(3 + 73)), { resolved: 0, riskExpired: 0 }, "no health: the sensor may be off");
  const watching = (h: number): HealthPayload => ({
    ...healthPayload("ct-1", hours(h).toISOString()),
    uptimeSeconds: (h + 10) * 3600, // its agent running since before T0
  });
  s.health(SITE, "ct-1", watching(3 + 71), hours(3 + 71));
  t.deepEqual(s.sweep(hours(3 + 71)), { resolved: 0, riskExpired: 0 });
  t.deepEqual(s.sweep(hours(3 + 73)), { resolved: 0, riskExpired: 0 }, "watched for 71 hours only");
  s.health(SITE, "ct-1", watching(3 + 72.5), hours(3 + 72.5));
  t.deepEqual(s.sweep(hours(3 + 73)), { resolved: 1, riskExpired: 0 });
  t.deepEqual(s.sweep(hours(3 + 74)), { resolved: 0, riskExpired: 0 }, "once");
  t.is(s.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "medium", 3), 3), hours(80)), "reopened");
  t.deepEqual(
    events(s, "f1").map(([kind, detail]) => [kind, JSON.parse(detail ?? "null") as unknown]),
    [
      ["opened", { revision: 1 }],
      ["resolved", { reason: "withdrawn" }],
      ["reopened", { revision: 2 }],
      ["resolved", { reason: "not-seen", since: "2026-06-01T15:00:00.000000Z" }],
      ["reopened", { revision: 3 }],
    ],
  );
  const at = s.db.prepare("SELECT at FROM finding_events ORDER BY pk").all() as { at: string }[];
  t.deepEqual(
    at.map((r) => r.at),
    [T0, hours(1), hours(3), hours(3 + 73), hours(80)].map((d) => d.toISOString().replace("Z", "000Z")),
  );
  s.close();
});

test("a finding the sensor reports again after it was resolved is untriaged again: its acknowledgement is cleared", (t) => {
  const s = open(tmp(t));
  t.is(s.finding(SITE, "ct-1", fmsg("ct-1", finding("f1"), 1), T0), "opened");
  const pk = (s.db.prepare("SELECT pk FROM findings").get() as { pk: number }).pk;
  t.true(applyAction(s.db, pk, { action: "acknowledge" }, "ana", hours(1)));
  t.true(applyAction(s.db, pk, { action: "assign", assignee: "pacs-team" }, "ana", hours(1)));
  // Still seen, acknowledged: a new revision keeps the acknowledgement.
  t.is(s.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "medium", 2), 2), hours(2)), "updated");
  const triage = () =>
    s.db.prepare("SELECT acknowledged_by, acknowledged_at, assignee FROM findings WHERE pk = ?").get(pk);
  t.like(triage(), { acknowledged_by: "ana", assignee: "pacs-team" });
  t.is(s.withdraw(SITE, "ct-1", "f1", hours(3)), 1);
  // Back weeks later: the team must see it again in the open list; the owner stays.
  t.is(s.finding(SITE, "ct-1", fmsg("ct-1", finding("f1", "medium", 3), 3), hours(500)), "reopened");
  t.deepEqual(triage(), { acknowledged_by: null, acknowledged_at: null, assignee: "pacs-team" });
  s.close();
});

test("a withdrawn finding is found by its topic level, percent-encoded ids included", (t) => {
  const s = open(tmp(t));
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("a/b+c"), 1), T0);
  t.is(s.withdraw(SITE, "ct-1", "a/b+c", T0), 0, "not a topic level");
  t.is(s.withdraw(SITE, "ct-1", encodeURIComponent("a/b+c"), T0), 1);
  s.close();
});

test("sweep clears risk acceptances past their expiry, with an event; a future one stays", (t) => {
  const s = open(tmp(t));
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("f1"), 1), T0);
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("f2"), 1), T0);
  // As the API writes them (its own time spelling: milliseconds).
  const accept = s.db.prepare(
    "UPDATE findings SET risk_accepted_by = 'ana', risk_reason = 'vendor fix due', risk_expires = ? WHERE finding_id = ?",
  );
  accept.run("2026-06-02T12:00:00.000Z", "f1");
  accept.run("2026-07-01T00:00:00Z", "f2");
  t.deepEqual(s.sweep(hours(23)), { resolved: 0, riskExpired: 0 });
  t.deepEqual(s.sweep(hours(24)), { resolved: 0, riskExpired: 1 });
  const rows = s.db
    .prepare(
      "SELECT finding_id, risk_accepted_by, risk_reason, risk_expires FROM findings ORDER BY finding_id",
    )
    .all();
  t.deepEqual(rows, [
    { finding_id: "f1", risk_accepted_by: null, risk_reason: null, risk_expires: null },
    {
      finding_id: "f2",
      risk_accepted_by: "ana",
      risk_reason: "vendor fix due",
      risk_expires: "2026-07-01T00:00:00Z",
    },
  ]);
  t.deepEqual(events(s, "f1").at(-1), [
    "risk-expired",
    JSON.stringify({ expires: "2026-06-02T12:00:00.000Z" }),
  ]);
  s.close();
});

test("drift: a new revision of a device records what was added, removed and changed", (t) => {
  const s = open(tmp(t));
  const v1: DeviceRecord = {
    ...device("mac-001122334455-10.1.2.3"),
    aeTitles: ["PACS1"],
    listeningPorts: [104, 3389],
    softwareVersions: ["5.1"],
    implementation: {
      implementationClassUid: "1.2.276.0.7230010.3.0.3.6.7",
      implementationVersionName: "OFFIS_DCMTK_367",
    },
    peers: ["ip-10.1.2.4"],
    modality: null,
    os: { name: "Windows 7", version: "SP1" },
  };
  const v2: DeviceRecord = {
    ...v1,
    aeTitles: ["PACS1", "PACS_NEW"],
    listeningPorts: [104, 11112],
    softwareVersions: ["5.2"],
    implementation: {
      implementationClassUid: "1.2.276.0.7230010.3.0.3.6.8",
      implementationVersionName: "OFFIS_DCMTK_368",
    },
    peers: ["ip-10.1.2.4", "ip-203.0.113.9"],
    modality: "CT",
    os: { name: "Windows 10", version: "1809" },
  };
  t.is(s.device(SITE, "ct-1", dmsg("ct-1", v1, 1), T0), "new");
  t.is(s.stats().rows.history, 0, "a new device is no drift");
  t.is(s.device(SITE, "ct-1", dmsg("ct-1", v2, 2), hours(1)), "changed");
  const rows = s.db
    .prepare("SELECT at, field, change, value, previous FROM device_history ORDER BY pk")
    .all() as Array<{ at: string; field: string; change: string; value: string; previous: string | null }>;
  t.deepEqual(
    rows.map((r) => [r.field, r.change, r.value, r.previous]),
    [
      ["aeTitles", "added", "PACS_NEW", null],
      ["softwareVersions", "added", "5.2", null],
      ["softwareVersions", "removed", "5.1", null],
      ["listeningPorts", "added", "11112", null],
      ["listeningPorts", "removed", "3389", null],
      ["peers", "added", "ip-203.0.113.9", null],
      [
        "implementation",
        "changed",
        "1.2.276.0.7230010.3.0.3.6.8 OFFIS_DCMTK_368",
        "1.2.276.0.7230010.3.0.3.6.7 OFFIS_DCMTK_367",
      ],
      ["os", "changed", "Windows 10 1809", "Windows 7 SP1"],
      ["modality", "added", "CT", null],
    ],
  );
  t.true(rows.every((r) => r.at === "2026-06-01T13:00:00.000000Z"));
  t.deepEqual(drift(v2, v2), []);
  // The filter columns follow the newest record; a peer outside networks.internal makes it external.
  const d = s.db.prepare("SELECT * FROM devices").get() as Record<string, unknown>;
  t.like(d, {
    revision: 2,
    ip: "10.1.2.3",
    ae_titles: "PACS1 PACS_NEW",
    ports: "104 11112",
    peer_count: 2,
    exposure: "external",
    modality: "CT",
  });
  s.close();
});

test("device columns: toolkit, class, search text, exposure from networks.internal", (t) => {
  const path = tmp(t);
  const report = JSON.parse(readFileSync("test/fixtures/lab/reports/store.json", "utf8")) as Report;
  const s = open(path);
  loadReport(s, report, { site: SITE, sensor: "lab", now: T0 });
  const rows = s.db.prepare("SELECT * FROM devices ORDER BY device_id").all() as Array<
    Record<string, unknown>
  >;
  t.is(rows.length, report.devices.length);
  for (const r of rows) {
    const rec = report.devices.find((d) => d.id === r.device_id)!;
    const tk = rec.toolkit as { name: string; version: string | null } | undefined;
    t.is(r.toolkit, tk ? [tk.name, tk.version].filter(Boolean).join(" ") : null);
    t.is(r.class, rec.class ?? null);
    t.is(r.exposure, "internal", "the lab's 10.77.0.0/24 is internal");
    const search = r.search as string;
    t.true(search.includes(rec.ip));
    for (const ae of rec.aeTitles) t.true(search.includes(ae.toLowerCase()));
    if (rec.manufacturer) t.true(search.includes(rec.manufacturer.toLowerCase()));
    t.is(search, search.toLowerCase());
  }
  s.close();
  // Where the site's internal networks do not include the lab's, its devices are exposed.
  const other = CentralStore.open(path, {
    maxBytes: 1 << 30,
    retention: RETENTION,
    internal: ["192.168.0.0/16"],
  });
  loadReport(other, report, { site: SITE, sensor: "lab", now: T0, revision: 2 });
  const exposure = other.db.prepare("SELECT DISTINCT exposure FROM devices").all();
  t.deepEqual(exposure, [{ exposure: "external" }]);
  other.close();
});

test("a finding that arrives before its device is linked to it when the device comes", (t) => {
  const s = open(tmp(t));
  s.finding(SITE, "ct-1", fmsg("ct-1", { ...finding("f1"), device: "ip-10.1.2.3" }, 1), T0);
  const pk = (): unknown =>
    (s.db.prepare("SELECT device_pk FROM findings").get() as { device_pk: unknown }).device_pk;
  t.is(pk(), null);
  s.device(SITE, "ct-1", dmsg("ct-1", device("ip-10.1.2.3"), 1), T0);
  const dpk = (s.db.prepare("SELECT pk FROM devices").get() as { pk: number }).pk;
  t.is(pk(), dpk);
  // The device of another sensor with the same id is not this one's.
  s.finding(SITE, "mr-2", fmsg("mr-2", { ...finding("g1"), device: "ip-10.1.2.3" }, 1), T0);
  t.is(
    (s.db.prepare("SELECT device_pk FROM findings WHERE finding_id = 'g1'").get() as { device_pk: unknown })
      .device_pk,
    null,
  );
  s.close();
});

test("remediation steps: DESIGN.md §5's 'points to', patching and the rest are 'other'; stored per finding", (t) => {
  t.deepEqual(
    REMEDIATION_STEPS.map((s) => s.id),
    ["firewall", "close-ports", "vpn", "access-control", "tls"],
  );
  t.deepEqual(FINDING_STEPS.at(-1), "other");
  const cases: Array<[string, FindingStep]> = [
    ["dicom.cleartext", "tls"],
    ["dicom.external-peer", "firewall"],
    ["dicom.any-ae-accepted", "access-control"],
    ["dicom.ae-scan", "firewall"],
    ["dicom.scanner", "firewall"],
    ["dicom.cleartext-credentials", "tls"],
    ["dicom.bulk-query", "access-control"],
    ["dicom.unknown-move-destination", "access-control"],
    ["dicom.vulnerable-implementation", "other"],
    ["dicom.default-port", "close-ports"],
    ["net.risky-service", "close-ports"],
    ["dicom.malformed", "other"],
    ["tls.weak", "tls"],
    ["inventory.new-device", "other"],
    ["dicom.duplicate-ae-title", "access-control"],
    ["os.unsupported", "other"],
    ["os.vulnerable", "other"],
    ["net.smbv1", "close-ports"],
    ["net.remote-access-external", "vpn"],
    ["net.port-outside-profile", "close-ports"],
    ["no.such-rule", "other"],
    ["constructor", "other"],
  ];
  for (const [rule, step] of cases) t.is(stepOf(rule), step, rule);
  const s = open(tmp(t));
  s.finding(SITE, "ct-1", fmsg("ct-1", { ...finding("f1"), rule: "dicom.external-peer" }, 1), T0);
  t.deepEqual(s.db.prepare("SELECT step FROM findings").all(), [{ step: "firewall" }]);
  s.close();
});

test("status and health: the same status again is no change; a health sample is kept once, the newest shown", (t) => {
  const s = open(tmp(t));
  const st = {
    state: "online" as const,
    version: "0.1.0",
    startedAt: "2026-06-01T11:00:00.000000Z",
    messageId: "m1",
  };
  t.true(s.status(SITE, "ct-1", st, T0));
  t.false(s.status(SITE, "ct-1", { ...st, messageId: "m1-again" }, hours(1)));
  t.true(s.status(SITE, "ct-1", { ...st, state: "offline", messageId: "m2" }, hours(2)));
  t.like(s.db.prepare("SELECT * FROM sensors").get() as object, {
    state: "offline",
    version: "0.1.0",
    state_at: "2026-06-01T14:00:00.000000Z",
    last_message_at: "2026-06-01T14:00:00.000000Z",
  });
  t.true(s.health(SITE, "ct-1", healthPayload("ct-1", "2026-06-01T12:01:00.000000Z"), T0));
  t.false(s.health(SITE, "ct-1", healthPayload("ct-1", "2026-06-01T12:01:00.000000Z"), T0), "a copy");
  t.true(s.health(SITE, "ct-1", healthPayload("ct-1", "2026-06-01T12:00:00.000000Z"), T0), "late, older");
  t.deepEqual(
    s.db
      .prepare("SELECT at, packets, bytes, drops, outbox_depth, rss_bytes FROM sensor_health ORDER BY at")
      .all(),
    [
      {
        at: "2026-06-01T12:00:00.000000Z",
        packets: 10,
        bytes: 1000,
        drops: 2,
        outbox_depth: 3,
        rss_bytes: 123456,
      },
      {
        at: "2026-06-01T12:01:00.000000Z",
        packets: 10,
        bytes: 1000,
        drops: 2,
        outbox_depth: 3,
        rss_bytes: 123456,
      },
    ],
  );
  t.is(
    (s.db.prepare("SELECT health_at FROM sensors").get() as { health_at: string }).health_at,
    "2026-06-01T12:01:00.000000Z",
  );
  s.close();
});

test("retention: old health, history and resolved findings go; an open finding keeps its whole history", (t) => {
  const s = open(tmp(t));
  const old = new Date(T0.getTime() - 100 * 86_400_000);
  s.health(SITE, "ct-1", healthPayload("ct-1", "2026-04-01T00:00:00.000000Z"), old);
  s.health(SITE, "ct-1", healthPayload("ct-1", "2026-05-31T00:00:00.000000Z"), T0);
  s.device(SITE, "ct-1", dmsg("ct-1", device("d1"), 1), old);
  s.device(SITE, "ct-1", dmsg("ct-1", { ...device("d1"), aeTitles: ["A2"] }, 2), old);
  s.device(SITE, "ct-1", dmsg("ct-1", { ...device("d1"), aeTitles: ["A3"] }, 3), T0);
  // f-open: opened 100 days ago and still open; f-gone: resolved 100 days ago; f-recent: resolved today.
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("f-open"), 1), old);
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("f-open"), 2), T0);
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("f-gone"), 1), old);
  s.withdraw(SITE, "ct-1", "f-gone", old);
  s.finding(SITE, "ct-1", fmsg("ct-1", finding("f-recent"), 1), old);
  s.withdraw(SITE, "ct-1", "f-recent", T0);
  const r = s.enforceRetention(T0);
  t.deepEqual(r.expired, { health: 1, history: 2, events: 3, findings: 1 });
  t.deepEqual(r.evicted, { health: 0, history: 0, events: 0, findings: 0 });
  t.false(r.overCap);
  const ids = (
    s.db.prepare("SELECT finding_id FROM findings ORDER BY finding_id").all() as { finding_id: string }[]
  ).map((x) => x.finding_id);
  t.deepEqual(ids, ["f-open", "f-recent"]);
  t.deepEqual(
    events(s, "f-open").map((e) => e[0]),
    ["opened"],
  );
  t.deepEqual(
    events(s, "f-recent").map((e) => e[0]),
    ["resolved"],
    "its 100-day-old 'opened' went",
  );
  t.is(s.stats().rows.history, 2);
  t.is(s.stats().rows.health, 1);
  s.close();
});

test("maxBytes: oldest health, history, events and resolved findings are evicted; never an open finding", (t) => {
  const path = tmp(t);
  let s = open(path);
  const big = "x".repeat(2000);
  s.db.transaction(() => {
    for (let i = 0; i < 300; i++)
      s.finding(SITE, "ct-1", fmsg("ct-1", { ...finding(`open-${i}`), evidence: big }, 1), T0);
    for (let i = 0; i < 300; i++) {
      s.finding(SITE, "ct-1", fmsg("ct-1", { ...finding(`done-${i}`), evidence: big }, 1), T0);
      s.withdraw(SITE, "ct-1", `done-${i}`, hours(i / 100));
    }
    for (let i = 0; i < 20_000; i++)
      s.health(SITE, "ct-1", healthPayload("ct-1", new Date(T0.getTime() + i * 1000).toISOString()), T0);
  })();
  // Retention applies first with a far cap: nothing is old enough, nothing goes.
  const full = s.enforceRetention(hours(1));
  t.deepEqual(full.evicted, { health: 0, history: 0, events: 0, findings: 0 });
  const used = s.usedBytes();
  s.close();

  // A cap that the health series alone can make room for.
  s = open(path, Math.floor(used * 0.97));
  let r = s.enforceRetention(hours(1));
  t.true(r.evicted.health > 0);
  t.deepEqual([r.evicted.events, r.evicted.findings], [0, 0], "health goes first");
  t.false(r.overCap);
  t.true(s.usedBytes() <= used * 0.97);
  t.is(s.stats().findings.open, 300);
  // The oldest samples went.
  const first = (s.db.prepare("SELECT min(at) AS at FROM sensor_health").get() as { at: string | null }).at;
  t.true(first === null || first > T0.toISOString().slice(0, 19));
  s.close();

  // A cap below the open findings alone: everything evictable goes, the open findings stay, over the cap.
  s = open(path, 64 << 10);
  r = s.enforceRetention(hours(1));
  t.true(r.overCap);
  const st = s.stats();
  t.is(st.findings.open, 300, "no open finding evicted");
  t.is(st.findings.resolved, 0);
  t.is(st.rows.health, 0);
  t.is(st.rows.events, 300, "the open findings' 'opened' events stay");
  t.is(
    (s.db.prepare("SELECT count(*) AS n FROM finding_events WHERE kind = 'opened'").get() as { n: number }).n,
    300,
  );
  t.true(st.evicted.findings === 300);
  t.true(st.evicted.health === 20_000);
  // The file shrank (incremental vacuum) and the counts survive a reopen.
  t.true(st.fileBytes < used);
  s.close();
  s = open(path, 64 << 10);
  t.like(s.stats().evicted, { health: 20_000, findings: 300 });
  t.true(s.stats().evicted.events >= 300);
  s.close();
});

test("loadReport: a lab report as one sensor's messages; loading it again counts nothing twice", (t) => {
  const s = open(tmp(t));
  const report = JSON.parse(readFileSync("test/fixtures/lab/reports/qr.json", "utf8")) as Report;
  const first = loadReport(s, report, { site: SITE, sensor: "lab", now: T0 });
  t.deepEqual(first, ["changed", ...report.devices.map(() => "new"), ...report.findings.map(() => "opened")]);
  const again = loadReport(s, report, { site: SITE, sensor: "lab", now: T0 });
  t.deepEqual(again, ["stale", ...report.devices.map(() => "stale"), ...report.findings.map(() => "stale")]);
  const third = loadReport(s, report, {
    site: SITE,
    sensor: "lab",
    now: hours(2),
    revision: 2,
    version: null,
  });
  t.deepEqual(third, [...report.devices.map(() => "changed"), ...report.findings.map(() => "updated")]);
  const st = s.stats();
  t.is(st.devices, report.devices.length);
  t.is(st.findings.open, report.findings.length);
  t.is(st.rows.events, report.findings.length);
  // The records are the report's, as published.
  const stored = (
    s.db.prepare("SELECT record FROM findings ORDER BY finding_id").all() as { record: string }[]
  ).map((r) => JSON.parse(r.record) as FindingRecord);
  t.deepEqual(
    stored,
    [...report.findings].sort((a, b) => (a.id < b.id ? -1 : 1)),
  );
  // A record outside the schema is refused, as ingest would refuse it.
  t.throws(
    () =>
      loadReport(
        s,
        { devices: [], findings: [{ ...report.findings[0]!, severity: "dire" as "high" }] },
        { site: SITE, sensor: "lab" },
      ),
    {
      message: /schema/,
    },
  );
  s.close();
});
