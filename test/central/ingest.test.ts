// The central's ingest against a real mosquitto with mutual TLS (certificates made by the pki/ scripts),
// fed by real agents replaying lab captures (runAgent, what `dicomtap run --replay` runs): the central
// started after the sensors published, restarted, stopped while they publish and started again, and two
// instances in one share group on one store. The truth each time is each sensor's own store: the central
// must hold every device and finding the sensor holds, at the same record, once.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import Database from "better-sqlite3";
import { runAgent } from "../../agent/agent/run.js";
import { validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { Store } from "../../agent/store/store.js";
import { CentralStore } from "../../agent/central/store.js";
import { Ingest, passing, subscriptions } from "../../agent/central/ingest.js";
import { MAX_BASELINE_BYTES } from "../../agent/central/baselines.js";
import { MAX_PAYLOAD_BYTES } from "../../agent/console/state.js";
import { Mosquitto, SitePki, removeDir, tempDir, type ClientPki } from "../helpers/mosquitto.js";
import { waitFor } from "../helpers/wait.js";
import { requires } from "../helpers/requires.js";
import { finding } from "../store/records.js";
import { baselineMessage, labBaseline } from "./seed.js";

const test = requires("mosquitto", "openssl");

const SITE = "st-marys";
const LAB = "test/fixtures/lab";
const RETENTION = { historyDays: 90, healthDays: 30, resolveAfterHours: 72 };

let dir = "";
let pki: SitePki;
let broker: Mosquitto;
const running: Central[] = [];

test.before(async () => {
  dir = tempDir("dicomtap-central-ingest-");
  pki = await SitePki.create(join(dir, "pki"), SITE);
  broker = await Mosquitto.start({ pki });
});

test.after.always(async () => {
  for (const c of running) await c.stop();
  await broker?.stop();
  removeDir(dir);
});

interface Central {
  store: CentralStore;
  ingest: Ingest;
  stop(): Promise<void>;
}

/** A central instance: its store at `path` and an Ingest with the console certificate. */
async function startCentral(path: string, clientId: string, shareGroup = "centrals"): Promise<Central> {
  const store = CentralStore.open(path, { maxBytes: 256 << 20, retention: RETENTION });
  const ingest = new Ingest({
    store,
    broker: { url: broker.url(), ca: pki.ca, cert: pki.console.cert, key: pki.console.key },
    shareGroup,
    clientId,
    backoff: { initialMs: 50, maxMs: 400 },
    log: () => undefined,
  });
  ingest.start();
  await ingest.whenSubscribed();
  let stopped = false;
  const c: Central = {
    store,
    ingest,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await ingest.stop();
      store.close();
    },
  };
  running.push(c);
  return c;
}

interface Sensor {
  id: string;
  config: Config;
}

const sensors = new Map<string, Sensor>();

async function sensor(id: string): Promise<Sensor> {
  const have = sensors.get(id);
  if (have) return have;
  const cert = await pki.sensor(id);
  const config = validateConfig({
    sensor: { id, site: SITE },
    store: { path: join(dir, `${id}.db`), maxBytes: 64 << 20 },
    broker: { url: broker.url(), ca: pki.ca, cert: cert.cert, key: cert.key },
    health: { intervalSeconds: 3600 },
  });
  const s = { id, config };
  sensors.set(id, s);
  return s;
}

/** The agent replaying `file` until the broker acknowledged everything (`dicomtap run --replay`). */
async function replay(s: Sensor, file: string): Promise<void> {
  await runAgent({
    config: s.config,
    replay: file,
    version: "0.1.0",
    log: () => undefined,
    drainTimeoutMs: 15_000,
  });
}

type Records = Map<string, unknown>;

/** What the sensor's own store holds: the records it published last. */
function truth(s: Sensor): { devices: Records; findings: Records } {
  const st = new Store({ path: s.config.store.path, maxBytes: 64 << 20, site: SITE, sensor: s.id });
  try {
    return {
      devices: new Map(st.devices().map((d) => [d.id, JSON.parse(JSON.stringify(d)) as unknown])),
      findings: new Map(st.findings().map((f) => [f.id, JSON.parse(JSON.stringify(f)) as unknown])),
    };
  } finally {
    st.close();
  }
}

/** What the central holds for one sensor. */
function held(store: CentralStore, sensorId: string): { devices: Records; findings: Records } {
  const q = (table: "devices" | "findings", idCol: string): Records =>
    new Map(
      (
        store.db
          .prepare(
            `SELECT t.${idCol} AS id, t.record FROM ${table} t JOIN sensors s ON s.pk = t.sensor_pk
             WHERE s.site = ? AND s.sensor = ?`,
          )
          .all(SITE, sensorId) as Array<{ id: string; record: string }>
      ).map((r) => [r.id, JSON.parse(r.record) as unknown]),
    );
  return { devices: q("devices", "device_id"), findings: q("findings", "finding_id") };
}

function same(a: Records, b: Records): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (JSON.stringify(v) !== JSON.stringify(b.get(k))) return false;
  return true;
}

/** Waits until the central holds exactly what each sensor holds. */
async function caughtUp(store: CentralStore, ids: string[], timeoutMs = 30_000): Promise<void> {
  const want = new Map(ids.map((id) => [id, truth(sensors.get(id)!)]));
  await waitFor(
    () =>
      ids.every((id) => {
        const h = held(store, id);
        const w = want.get(id)!;
        return same(h.devices, w.devices) && same(h.findings, w.findings);
      }),
    `the central to hold every device and finding of ${ids.join(", ")}`,
    { timeoutMs, everyMs: 100 },
  );
}

/** The findings (of one sensor, or all), their 'opened' events, and the most any one finding has. */
function openedOnce(
  store: CentralStore,
  sensorId: string | null = null,
): { findings: number; opened: number; maxOpenedPerFinding: number } {
  const r = store.db
    .prepare(
      `SELECT count(*) AS findings, sum(n) AS opened, max(n) AS maxOpened FROM
         (SELECT f.pk, (SELECT count(*) FROM finding_events e WHERE e.finding_pk = f.pk AND e.kind = 'opened') AS n
          FROM findings f JOIN sensors s ON s.pk = f.sensor_pk WHERE ? IS NULL OR s.sensor = ?)`,
    )
    .get(sensorId, sensorId) as { findings: number; opened: number | null; maxOpened: number | null };
  return { findings: r.findings, opened: r.opened ?? 0, maxOpenedPerFinding: r.maxOpened ?? 0 };
}

function eventCount(store: CentralStore): number {
  return (store.db.prepare("SELECT count(*) AS n FROM finding_events").get() as { n: number }).n;
}

/** A sensor's own MQTT client (its certificate), for messages the agent would not send. */
async function rawSensor(id: string, cert: ClientPki): Promise<MqttClient> {
  const c = mqtt.connect(broker.url(), {
    protocolVersion: 5,
    ca: readFileSync(pki.ca),
    cert: readFileSync(cert.cert),
    key: readFileSync(cert.key),
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    clientId: `raw-${id}`,
  });
  await new Promise<void>((res, rej) => {
    c.once("connect", () => res());
    c.once("error", rej);
  });
  return c;
}

function findingEvent(sensorId: string, id: string, revision: number): string {
  return JSON.stringify({
    messageId: `${SITE}/${sensorId}/finding/${id}/${revision}`,
    site: SITE,
    sensor: sensorId,
    revision,
    finding: finding(id, "high", revision),
  });
}

const centralDb = (name: string): string => join(dir, `${name}.db`);

/** Waits until no message has come for 500 ms. */
async function quiet(ingest: Ingest): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor(
    () => {
      const n = ingest.health().messages;
      if (n !== last) {
        last = n;
        since = Date.now();
      }
      return Date.now() - since >= 500;
    },
    "ingest to go quiet",
    { timeoutMs: 30_000, everyMs: 50 },
  );
}

test.serial("the subscriptions: events shared by the group, retained topics for each instance", (t) => {
  t.deepEqual(subscriptions("g"), [
    { filter: "$share/g/dicomtap/v1/+/+/findings", qos: 1 },
    { filter: "$share/g/dicomtap/v1/+/+/health", qos: 0 },
    { filter: "dicomtap/v1/+/+/status", qos: 1 },
    { filter: "dicomtap/v1/+/+/devices/+", qos: 1 },
    { filter: "dicomtap/v1/+/+/findings/+", qos: 1 },
    { filter: "dicomtap/v1/+/+/baseline", qos: 1 },
  ]);
});

test.serial(
  "store errors: busy and full pass (not acknowledged), a constraint or a type error does not",
  (t) => {
    const path = join(dir, "errors.db");
    const a = new Database(path);
    a.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
    a.prepare("INSERT INTO t VALUES (1)").run();
    const err = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return null;
    };
    const constraint = err(() => a.prepare("INSERT INTO t VALUES (1)").run());
    t.is((constraint as { code?: string }).code, "SQLITE_CONSTRAINT_PRIMARYKEY");
    t.false(passing(constraint));
    const b = new Database(path, { timeout: 0 });
    a.exec("BEGIN IMMEDIATE");
    const busy = err(() => b.prepare("INSERT INTO t VALUES (2)").run());
    a.exec("ROLLBACK");
    t.is((busy as { code?: string }).code, "SQLITE_BUSY");
    t.true(passing(busy));
    a.pragma(`max_page_count = ${String(a.pragma("page_count", { simple: true }))}`);
    const full = err(() => a.prepare("INSERT INTO t VALUES (?)").run(...[]));
    t.false(passing(full), "a binding error (missing parameter) is the message's");
    const fill = err(() => {
      for (let i = 10; ; i++) a.prepare("INSERT INTO t VALUES (?)").run(i * 1000);
    });
    t.is((fill as { code?: string }).code, "SQLITE_FULL");
    t.true(passing(fill));
    t.false(passing(new TypeError("x")));
    t.false(passing(null));
    a.close();
    b.close();
  },
);

test.serial("started after the sensors published: every device and finding, counts right", async (t) => {
  const plan: Array<[string, string]> = [
    ["s1", join(LAB, "store.pcap")],
    ["s2", join(LAB, "qr.pcap")],
    ["s3", "../shared/captures/nmap_dicom_ping_synthetic.pcap"],
  ];
  for (const [id, file] of plan) await replay(await sensor(id), file);

  const c = await startCentral(centralDb("c1"), "central-c1");
  await caughtUp(c.store, ["s1", "s2", "s3"]);
  // Counts: what `analyze` finds in each capture, once.
  let devices = 0;
  let findings = 0;
  for (const [id, file] of plan) {
    const { report } = await analyzeFiles([file], { config: sensors.get(id)!.config });
    const h = held(c.store, id);
    t.is(h.devices.size, report.devices.length, `${id} devices`);
    t.is(h.findings.size, report.findings.length, `${id} findings`);
    t.true(report.findings.length > 0, `${file} raises findings`);
    devices += report.devices.length;
    findings += report.findings.length;
  }
  const st = c.store.stats();
  t.is(st.devices, devices);
  t.deepEqual(st.findings, { open: findings, resolved: 0 });
  t.deepEqual(openedOnce(c.store), { findings, opened: findings, maxOpenedPerFinding: 1 });
  t.is(eventCount(c.store), findings);
  // Each sensor's status (offline: the agents stopped cleanly) and its version.
  const status = c.store.db.prepare("SELECT sensor, state, version FROM sensors ORDER BY sensor").all();
  t.deepEqual(status, [
    { sensor: "s1", state: "offline", version: "0.1.0" },
    { sensor: "s2", state: "offline", version: "0.1.0" },
    { sensor: "s3", state: "offline", version: "0.1.0" },
  ]);
  // Findings name their device; those the sensor has a record of are linked to it.
  const unlinked = c.store.db
    .prepare(
      `SELECT count(*) AS n FROM findings f JOIN devices d ON d.sensor_pk = f.sensor_pk AND d.device_id = f.device_id
       WHERE f.device_pk IS NOT d.pk`,
    )
    .get() as { n: number };
  t.is(unlinked.n, 0);
  t.is(c.ingest.health().invalid, 0, JSON.stringify(c.ingest.health().recentInvalid));
  await c.stop();
});

test.serial("restarted: the retained catch-up finds nothing new and counts nothing twice", async (t) => {
  const path = centralDb("c1");
  const before = { stats: CentralStore.open(path, { maxBytes: 1 << 30, retention: RETENTION }) };
  const statsBefore = before.stats.stats();
  const eventsBefore = eventCount(before.stats);
  before.stats.close();
  const c = await startCentral(path, "central-c1");
  // Every retained message comes again: a status, the devices and the finding states of each sensor.
  const retained = ["s1", "s2", "s3"]
    .map((id) => truth(sensors.get(id)!))
    .reduce((n, x) => n + 1 + x.devices.size + x.findings.size, 0);
  await waitFor(() => c.ingest.health().messages >= retained, "the retained messages", { timeoutMs: 20_000 });
  const r = c.ingest.health().results;
  t.is(r.opened ?? 0, 0);
  t.is(r.new ?? 0, 0);
  t.is(r.updated ?? 0, 0);
  t.is(r.reopened ?? 0, 0);
  t.true((r.stale ?? 0) >= retained - 3, JSON.stringify(r));
  const st = c.store.stats();
  t.is(st.devices, statsBefore.devices);
  t.deepEqual(st.findings, statsBefore.findings);
  t.is(eventCount(c.store), eventsBefore);
  await c.stop();
});

test.serial("stopped while the sensors publish and started again: nothing missing, none twice", async (t) => {
  const path = centralDb("c1");
  let c = await startCentral(path, "central-c1");
  const seen = c.ingest.health().messages;
  // s1 replays another capture (its findings change: new revisions), s4 is new.
  const s1 = sensors.get("s1")!;
  const s4 = await sensor("s4");
  const publishing = Promise.all([
    replay(s1, join(LAB, "kill.pcap")),
    replay(s4, join(LAB, "impaired-store.pcap")),
  ]);
  // Stopped as soon as the first of their messages came in, while the rest is still being published.
  await waitFor(() => c.ingest.health().messages > seen, "the first message of the new replays", {
    timeoutMs: 20_000,
    everyMs: 5,
  });
  await c.stop();
  await publishing;
  const downTruth = truth(s1);
  t.true(downTruth.findings.size > 0);

  c = await startCentral(path, "central-c1");
  await caughtUp(c.store, ["s1", "s2", "s3", "s4"]);
  const o = openedOnce(c.store);
  t.is(o.maxOpenedPerFinding, 1, "no finding opened twice");
  t.is(o.opened, o.findings);
  const expected = ["s1", "s2", "s3", "s4"].reduce((n, id) => n + truth(sensors.get(id)!).findings.size, 0);
  t.is(c.store.stats().findings.open, expected);
  // s1's findings carry the sensor's merged counts of both replays, not a sum made twice here.
  for (const [id, rec] of held(c.store, "s1").findings)
    t.is((rec as { count: number }).count, (downTruth.findings.get(id) as { count: number }).count, id);
  // Nothing but lifecycle events of the sensors: opened once each, none resolved or reopened.
  const kinds = c.store.db.prepare("SELECT DISTINCT kind FROM finding_events").all();
  t.deepEqual(kinds, [{ kind: "opened" }]);
  await c.stop();
});

test.serial(
  "two instances in one share group on one store: every event taken once, nothing counted twice",
  async (t) => {
    const path = centralDb("pair");
    const a = await startCentral(path, "central-a", "pair");
    const b = await startCentral(path, "central-b", "pair");
    // Both catch up from the retained messages; then two more sensors publish while both run.
    await caughtUp(a.store, ["s1", "s2", "s3", "s4"]);
    // (Certificates one at a time: the CA's serial file is not made for concurrent signing.)
    const s5 = await sensor("s5");
    const s6 = await sensor("s6");
    await Promise.all([replay(s5, join(LAB, "identity.pcap")), replay(s6, join(LAB, "ipv6.pcap"))]);
    const all = ["s1", "s2", "s3", "s4", "s5", "s6"];
    await caughtUp(a.store, all);
    let o = openedOnce(a.store);
    t.is(o.maxOpenedPerFinding, 1);
    t.is(o.opened, o.findings);

    // Events only (not retained): the share group hands each to one instance.
    const opened = (): [number, number] => [
      a.ingest.health().results.opened ?? 0,
      b.ingest.health().results.opened ?? 0,
    ];
    const [a0, b0] = opened();
    const raw = await rawSensor("s7", await pki.sensor("s7"));
    const n = 20;
    for (let i = 0; i < n; i++)
      await raw.publishAsync(`dicomtap/v1/${SITE}/s7/findings`, findingEvent("s7", `ev-${i}`, 1), { qos: 1 });
    await waitFor(() => held(a.store, "s7").findings.size === n, "the events of s7", { timeoutMs: 20_000 });
    await waitFor(
      () => opened()[0] - a0 + opened()[1] - b0 === n,
      "both instances to account for every event",
    );
    const [a1, b1] = opened();
    t.log(`events taken: ${a1 - a0} by a, ${b1 - b0} by b`);
    t.true(a1 - a0 > 0 && b1 - b0 > 0, "both instances of the group took some");
    t.is(a1 - a0 + b1 - b0, n, "none taken by both");
    await raw.endAsync();
    o = openedOnce(a.store);
    t.is(o.maxOpenedPerFinding, 1);
    t.is(o.opened, o.findings);
    const expected = all.reduce((x, id) => x + truth(sensors.get(id)!).findings.size, 0) + n;
    t.is(b.store.stats().findings.open, expected);
    await a.stop();
    await b.stop();
  },
);

test.serial(
  "a write that fails for a while is not acknowledged: the broker sends it again and it is kept once",
  async (t) => {
    const path = centralDb("refuse");
    const c = await startCentral(path, "central-refuse", "refuse");
    // The retained catch-up first, so that the write that fails below is the finding's.
    await caughtUp(c.store, ["s1", "s2", "s3", "s4", "s5", "s6"]);
    await quiet(c.ingest);
    // Another writer holds the lock past busy_timeout (5 s): the write fails with SQLITE_BUSY.
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const raw = await rawSensor("s8", await pki.sensor("s8"));
    // Only on the event stream: if the first delivery was acknowledged and lost, nothing would bring it back.
    await raw.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, findingEvent("s8", "refused-1", 1), { qos: 1 });
    await waitFor(() => c.ingest.health().storeFailures > 0, "the refused write", { timeoutMs: 30_000 });
    t.regex(String(c.ingest.health().lastError), /locked|busy/i);
    other.exec("COMMIT");
    t.is(held(c.store, "s8").findings.size, 0);
    await waitFor(() => held(c.store, "s8").findings.size === 1, "the message sent again", {
      timeoutMs: 30_000,
    });
    t.true(c.ingest.health().connects >= 2, "reconnected to have it sent again");
    t.is(c.ingest.health().rejected, 0);
    // (The other sensors' retained findings came too.)
    t.deepEqual(openedOnce(c.store, "s8"), { findings: 1, opened: 1, maxOpenedPerFinding: 1 });

    // A message the store refuses for good (here a trigger's constraint) is acknowledged and counted: it
    // does not come back after a reconnect, and what follows it is taken.
    other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON findings WHEN NEW.finding_id LIKE 'poison-%'
                BEGIN SELECT RAISE(ABORT, 'simulated constraint'); END`);
    await raw.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, findingEvent("s8", "poison-1", 1), { qos: 1 });
    await raw.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, findingEvent("s8", "behind-1", 1), { qos: 1 });
    await waitFor(() => held(c.store, "s8").findings.has("behind-1"), "the message behind the refused one");
    t.is(c.ingest.health().rejected, 1);
    t.regex(String(c.ingest.health().lastError), /simulated constraint/);
    const connects = c.ingest.health().connects;
    await raw.endAsync();
    await broker.restart();
    await waitFor(
      () => c.ingest.health().connects > connects && c.ingest.health().subscribed,
      "a new connection",
    );
    const again = await rawSensor("s8", await pki.sensor("s8"));
    // Resent messages come before new ones on the resumed session (MQTT 5 §4.4).
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, findingEvent("s8", "behind-2", 1), {
      qos: 1,
    });
    await waitFor(() => held(c.store, "s8").findings.has("behind-2"), "a message after the reconnect");
    t.is(
      c.ingest.health().rejected,
      1,
      `the refused message was acknowledged: not sent again (${c.ingest.health().lastError})`,
    );
    other.exec("DROP TRIGGER refuse");
    other.close();

    // Hostile or broken messages are counted, never stored, never fatal.
    const invalid = c.ingest.health().invalid;
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, findingEvent("s9", "spoof", 1), { qos: 1 });
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, "{not json", { qos: 1 });
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings/other`, findingEvent("s8", "mismatch", 1), {
      qos: 1,
      retain: true,
    });
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, "x".repeat(MAX_PAYLOAD_BYTES + 1), {
      qos: 1,
    });
    // Far larger than the Maximum Packet Size ingest announced: the broker does not even send it.
    const huge = "x".repeat(MAX_BASELINE_BYTES + (256 << 10));
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, huge, { qos: 1 });
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings`, findingEvent("s8", "after", 1), { qos: 1 });
    await waitFor(
      () => held(c.store, "s8").findings.has("after"),
      "the valid message after the hostile ones",
    );
    t.is(c.ingest.health().invalid - invalid, 4, JSON.stringify(c.ingest.health().recentInvalid));
    t.deepEqual(
      c.ingest
        .health()
        .recentInvalid.slice(-4)
        .map((n) => n.reason),
      [
        "site/sensor differ from the topic",
        "not JSON",
        "finding id differs from the topic",
        `payload over ${MAX_PAYLOAD_BYTES} bytes`,
      ],
    );
    t.deepEqual([...held(c.store, "s8").findings.keys()].sort(), [
      "after",
      "behind-1",
      "behind-2",
      "refused-1",
    ]);
    t.false(c.store.db.prepare("SELECT 1 FROM sensors WHERE sensor = 's9'").get() !== undefined);
    // An empty retained state withdraws the finding: resolved.
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings/other`, "", { qos: 1, retain: true });
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings/after`, findingEvent("s8", "after", 2), {
      qos: 1,
      retain: true,
    });
    await again.publishAsync(`dicomtap/v1/${SITE}/s8/findings/after`, "", { qos: 1, retain: true });
    await waitFor(
      () =>
        (
          c.store.db.prepare("SELECT lifecycle FROM findings WHERE finding_id = 'after'").get() as {
            lifecycle: string;
          }
        ).lifecycle === "resolved",
      "the withdrawn finding resolved",
    );
    await again.endAsync();
    await c.stop();
  },
);

test.serial(
  "baselines: retained documents caught up by a central started later, replaced, cleared; bad ones counted and refused",
  async (t) => {
    const raw = await rawSensor("bl1", await pki.sensor("bl1"));
    const qr = await labBaseline([join(LAB, "qr.pcap")], SITE, "bl1");
    const learned = await labBaseline(
      [join(LAB, "qr.pcap"), join(LAB, "store.pcap")],
      SITE,
      "bl1",
      "learned",
    );
    const topic = `dicomtap/v1/${SITE}/bl1/baseline`;
    // Published before any central runs: retained, it comes with the catch-up.
    await raw.publishAsync(topic, baselineMessage(qr, SITE, "bl1", 1), { qos: 1, retain: true });
    const c = await startCentral(centralDb("baseline"), "central-baseline", "baseline");
    const row = (store = c.store): { status: string; services: number; document: string } | undefined =>
      store.db
        .prepare(
          `SELECT b.status, b.services, b.document FROM baselines b JOIN sensors s ON s.pk = b.sensor_pk
           WHERE s.site = ? AND s.sensor = 'bl1'`,
        )
        .get(SITE) as { status: string; services: number; document: string } | undefined;
    await waitFor(() => row() !== undefined, "the retained baseline");
    t.deepEqual(JSON.parse(row()!.document), qr);
    t.is(row()!.services, qr.services.length);

    // The agents that replayed captures above published theirs (retained, through their outbox): the
    // central holds what each sensor's own store holds, at its revision.
    const agents = ["s1", "s2", "s4"];
    const heldCount = (): number =>
      (
        c.store.db
          .prepare(
            `SELECT count(*) AS n FROM baselines b JOIN sensors s ON s.pk = b.sensor_pk
             WHERE s.site = ? AND s.sensor IN ('s1', 's2', 's4')`,
          )
          .get(SITE) as { n: number }
      ).n;
    await waitFor(() => heldCount() === agents.length, "the agents' baselines");
    for (const id of agents) {
      const st = new Store({
        path: sensors.get(id)!.config.store.path,
        maxBytes: 64 << 20,
        site: SITE,
        sensor: id,
      });
      const own = st.baseline();
      st.close();
      t.truthy(own, `${id} keeps a baseline`);
      const held = c.store.db
        .prepare(
          `SELECT b.revision, b.document FROM baselines b JOIN sensors s ON s.pk = b.sensor_pk
           WHERE s.site = ? AND s.sensor = ?`,
        )
        .get(SITE, id) as { revision: number; document: string } | undefined;
      t.is(held?.revision, own!.revision, id);
      t.deepEqual(JSON.parse(held!.document), own!.document, id);
    }

    // A new document replaces it; bad ones are counted, refused, and what follows them is taken.
    const invalid = c.ingest.health().invalid;
    await raw.publishAsync(topic, "{not json", { qos: 1 });
    await raw.publishAsync(topic, baselineMessage({ ...qr, services: "many" } as never, SITE, "bl1", 2), {
      qos: 1,
    });
    await raw.publishAsync(topic, baselineMessage(qr, SITE, "other", 2), { qos: 1 });
    // Over the baseline cap but under the Maximum Packet Size: delivered, refused by its size.
    await raw.publishAsync(topic, Buffer.alloc(MAX_BASELINE_BYTES + 1, 0x20), { qos: 1 });
    // An older revision (a late copy) changes nothing; the next one replaces the document.
    await raw.publishAsync(topic, baselineMessage(learned, SITE, "bl1", 1), { qos: 1 });
    await raw.publishAsync(topic, baselineMessage(learned, SITE, "bl1", 2), { qos: 1, retain: true });
    await waitFor(() => row()?.status === "learned", "the learned baseline");
    t.is(row()!.services, learned.services.length);
    t.is(c.ingest.health().invalid - invalid, 4);
    t.deepEqual(
      c.ingest
        .health()
        .recentInvalid.slice(-4)
        .map((n) => n.reason),
      [
        "not JSON",
        "baseline: services: must be array",
        "site/sensor differ from the topic",
        `baseline over ${MAX_BASELINE_BYTES} bytes`,
      ],
    );
    t.is(c.ingest.health().rejected, 0);
    t.true(c.ingest.health().connected);

    // Restarted: the retained copy comes again and changes nothing.
    const before = c.store.stats().baselines;
    await c.stop();
    const again = await startCentral(centralDb("baseline"), "central-baseline", "baseline");
    await quiet(again.ingest);
    const received = again.store.db.prepare("SELECT received_at, changed_at FROM baselines").get() as {
      received_at: string;
      changed_at: string;
    };
    t.true(received.received_at > received.changed_at, "the copy arrived and changed nothing");
    t.deepEqual(again.store.stats().baselines, before);
    // Cleared by the sensor (an empty retained message): gone.
    await raw.publishAsync(topic, "", { qos: 1, retain: true });
    await waitFor(() => again.store.stats().baselines.count === before.count - 1, "the cleared baseline");
    t.is(row(again.store), undefined);
    t.is(again.ingest.health().results.withdrawn, 1);
    await raw.endAsync();
    await again.stop();
  },
);
