// Publisher + Store against a real mosquitto over mutual TLS (certificates made by the pki/ scripts).
import test from "ava";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Publisher, backoffDelay, clientIdFor } from "../../agent/publish/publisher.js";
import { Store } from "../../agent/store/store.js";
import { Health } from "../../agent/health/health.js";
import type { Config } from "../../agent/config/types.js";
import { Mosquitto, SitePki, removeDir, tempDir, type ClientPki } from "../helpers/mosquitto.js";
import { device, finding } from "../store/records.js";
import { Collector, until } from "./console.js";
import { schemaErrors } from "./schemas.js";
import { requires } from "../helpers/requires.js";

/** The tests against a real mosquitto; backoff and client ids need nothing. */
const brokerTest = requires("mosquitto", "openssl");

const SENSOR = { id: "ct-room-1", site: "st-marys" };
let dir = "";
let pki: SitePki;
let broker: Mosquitto;
let sensorPki: ClientPki;
let n = 0;

brokerTest.before(async () => {
  dir = tempDir("dicomtap-publish-");
  pki = await SitePki.create(join(dir, "pki"));
  sensorPki = await pki.sensor(SENSOR.id);
  broker = await Mosquitto.start({ pki });
});

brokerTest.after.always(async () => {
  await broker?.stop();
  removeDir(dir);
});

function brokerConfig(): NonNullable<Config["broker"]> {
  return { url: broker.url(), ca: pki.ca, cert: sensorPki.cert, key: sensorPki.key };
}

function newStore(sensor = SENSOR, maxBytes = 64 << 20): Store {
  return new Store({ path: join(dir, `store-${n++}.db`), maxBytes, site: sensor.site, sensor: sensor.id });
}

/** The revision at the end of a finding's messageId (SITE/SENSOR/finding/ID/REVISION). */
function revisionOf(messageId: string | undefined): string {
  return messageId?.split("/").pop() ?? "?";
}

function quietLog(): (e: string, d: Record<string, unknown>) => void {
  return () => {};
}

test("backoff: exponential cap, half fixed and half jitter, bounded by the maximum", (t) => {
  t.is(backoffDelay(0, 1000, 60_000, 0), 500);
  t.is(backoffDelay(0, 1000, 60_000, 1), 1000);
  t.is(backoffDelay(3, 1000, 60_000, 0.5), 6000);
  t.is(backoffDelay(10, 1000, 60_000, 0), 30_000);
  t.is(backoffDelay(10, 1000, 60_000, 1), 60_000);
  t.is(backoffDelay(5000, 1000, 60_000, 1), 60_000);
});

test("client ids: distinct for sensors whose long names share a prefix, at most 64 characters", (t) => {
  t.is(clientIdFor("st-marys", "ct-room-1"), "dicomtap-st-marys-ct-room-1");
  const site = "st-marys-hospital-radiology-department-east";
  const a = clientIdFor(site, "ct-room-1-north-wing-level-2");
  const b = clientIdFor(site, "ct-room-1-north-wing-level-3");
  t.not(a, b);
  t.true(a.length <= 64 && b.length <= 64);
  t.is(clientIdFor(site, "ct-room-1-north-wing-level-2"), a, "stable across runs");
});

brokerTest.serial(
  "round trip: status, retained devices, findings in order with messageId, health; schemas hold",
  async (t) => {
    const col = await Collector.connect(broker.url(), pki, { clientId: "console-rt" });
    const store = newStore();
    store.upsertDevice(device("ip-10.1.2.3"));
    for (let i = 0; i < 5; i++) store.upsertFinding(finding(`f${i}`, i % 2 ? "high" : "low"));
    const pub = new Publisher({
      store,
      sensor: SENSOR,
      broker: brokerConfig(),
      version: "0.1.0",
      log: quietLog(),
    });
    pub.start();
    await until(() => col.got.filter((m) => m.topic.endsWith("/findings")).length === 5, 10_000, "findings");
    // Enqueued after the connection: drained without waiting for anything else.
    store.upsertFinding(finding("f5", "critical"));
    await until(
      () => col.findingIds().ids.length === 6 && store.depth() === 0,
      10_000,
      "f5 and an empty outbox",
    );
    // Every finding is new: all carry the store's first revision.
    const rev = revisionOf(col.findingIds().ids[0]);
    t.deepEqual(
      col.findingIds().ids,
      [0, 1, 2, 3, 4, 5].map((i) => `st-marys/ct-room-1/finding/f${i}/${rev}`),
    );
    const health = new Health({
      sensor: SENSOR,
      storePath: join(dir, "x.db"),
      counters: () => ({
        capture: { packets: 10, bytes: 1000, drops: 0 },
        anomalies: 2,
        outbox: { depth: store.depth(), evicted: store.evicted(), bytes: store.bytes() },
        publisher: { ...pub.health() },
      }),
    });
    pub.publishHealth(await health.collect());
    await until(() => col.got.some((m) => m.topic.endsWith("/health")), 10_000, "health");
    const status = col.got.find((m) => m.topic === "dicomtap/v1/st-marys/ct-room-1/status");
    t.is(status?.payload.state, "online");
    const dev = col.got.find((m) => m.topic === "dicomtap/v1/st-marys/ct-room-1/devices/ip-10.1.2.3");
    t.is((dev?.payload.device as { id: string }).id, "ip-10.1.2.3");
    for (const m of col.got) {
      t.is(m.invalid, null, `${m.topic}: ${m.invalid}`);
      t.is(m.messageId, m.payload.messageId as string, `user property = payload messageId on ${m.topic}`);
    }
    // The device, and an event and a retained state per finding.
    t.like(pub.health(), { mode: "mqtt", connected: true, published: 13 });
    await pub.stop();
    await col.close();

    // A new subscriber gets the retained state: offline (clean stop), the device record and every
    // finding's state at its latest revision.
    const late = await Collector.connect(broker.url(), pki, { clientId: "console-late" });
    await until(() => late.got.length >= 8, 10_000, "retained messages");
    const retained = new Map(late.got.filter((m) => m.retain).map((m) => [m.topic, m.payload]));
    t.is(retained.get("dicomtap/v1/st-marys/ct-room-1/status")?.state, "offline");
    t.truthy(retained.get("dicomtap/v1/st-marys/ct-room-1/devices/ip-10.1.2.3"));
    for (let i = 0; i < 6; i++) {
      const state = retained.get(`dicomtap/v1/st-marys/ct-room-1/findings/f${i}`);
      t.is(state?.messageId, `st-marys/ct-room-1/finding/f${i}/${rev}/state`);
      t.is((state?.finding as { id: string } | undefined)?.id, `f${i}`);
    }
    t.false(
      late.got.some((m) => m.topic.endsWith("/findings")),
      "finding events are not retained",
    );
    await late.close();
    store.close();
  },
);

brokerTest.serial("broker stopped then restarted: every finding arrives, in order, none left", async (t) => {
  // A persistent console session: the broker queues for it across its own restart.
  const col = await Collector.connect(broker.url(), pki, {
    clientId: "console-restart",
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  });
  const store = newStore();
  const pub = new Publisher({
    store,
    sensor: SENSOR,
    broker: brokerConfig(),
    version: "0.1.0",
    backoff: { initialMs: 50, maxMs: 400 },
    window: 8,
    log: quietLog(),
  });
  pub.start();
  const total = 300;
  for (let i = 0; i < 150; i++) store.upsertFinding(finding(`r${i}`));
  // Stop the broker while the drain is under way.
  await until(() => col.findingIds().ids.length >= 10, 10_000, "first findings");
  await broker.stop();
  for (let i = 150; i < total; i++) store.upsertFinding(finding(`r${i}`));
  t.true(store.depth() > 0);
  // The publisher has seen the broker go (and keeps trying, backoff 50..400 ms) before it comes back.
  await until(() => !pub.health().connected, 10_000, "the publisher to notice the broker is gone");
  await broker.restart();
  await until(() => col.findingIds().ids.length >= total, 30_000, "all findings after restart");
  await until(() => store.depth() === 0, 10_000, "empty outbox");
  const { ids, duplicates } = col.findingIds();
  const rev = revisionOf(ids[0]);
  t.deepEqual(
    ids,
    Array.from({ length: total }, (_, i) => `st-marys/ct-room-1/finding/r${i}/${rev}`),
  );
  t.log(`duplicates after the restart: ${duplicates}; connects: ${pub.health().connects}`);
  t.true(pub.health().connects >= 2);
  await pub.stop();
  await col.close();
  store.close();
});

brokerTest.serial("a PUBACK with an error reason code keeps the row in the outbox", async (t) => {
  // The certificate says st-marys/ct-room-1 but the config claims ct-room-2: the ACL refuses.
  const other = { id: "ct-room-2", site: "st-marys" };
  const store = newStore(other);
  store.upsertFinding(finding("x1"));
  store.upsertFinding(finding("x2"));
  const pub = new Publisher({
    store,
    sensor: other,
    broker: brokerConfig(),
    version: "0.1.0",
    backoff: { initialMs: 50, maxMs: 200 },
    log: quietLog(),
  });
  pub.start();
  try {
    await until(() => pub.health().connects >= 2, 10_000, "refusal and reconnect");
    t.regex(String(pub.health().lastError), /Not authorized/);
    t.is(store.depth(), 4);
    t.is(pub.health().published, 0);
  } finally {
    await pub.stop();
    store.close();
  }
});

brokerTest.serial(
  "refused TLS: the publisher checks the broker's host name against its certificate",
  async (t) => {
    const wrong = await SitePki.create(join(dir, "wrong"), "st-marys", ["broker.example"]);
    const b = await Mosquitto.start({ pki: wrong });
    const s = await wrong.sensor(SENSOR.id);
    const store = newStore();
    store.upsertFinding(finding("h1"));
    const pub = new Publisher({
      store,
      sensor: SENSOR,
      broker: { url: b.url(), ca: wrong.ca, cert: s.cert, key: s.key },
      version: "0.1.0",
      backoff: { initialMs: 50, maxMs: 200 },
      log: quietLog(),
    });
    pub.start();
    try {
      await until(() => pub.health().lastError !== null, 10_000, "an error");
      t.regex(String(pub.health().lastError), /altnames|not in the cert/i);
      t.false(pub.health().connected);
      t.is(store.depth(), 2);
    } finally {
      await pub.stop();
      await b.stop();
      store.close();
    }
  },
);

brokerTest.serial(
  "a store that refuses to delete acknowledged rows: no crash, rows kept, deleted once it can",
  async (t) => {
    const path = join(dir, `store-${n++}.db`);
    const store = new Store({ path, maxBytes: 64 << 20, site: SENSOR.site, sensor: SENSOR.id });
    for (let i = 0; i < 3; i++) store.upsertFinding(finding(`k${i}`));
    // As a full disk or an I/O error would, SQLite refuses the deletes that acknowledgements make.
    const other = new Database(path);
    other.exec(`CREATE TRIGGER refuse BEFORE DELETE ON outbox
              BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END`);
    const col = await Collector.connect(broker.url(), pki, { clientId: "console-store-fail" });
    const pub = new Publisher({
      store,
      sensor: SENSOR,
      broker: brokerConfig(),
      version: "0.1.0",
      log: quietLog(),
    });
    pub.start();
    try {
      await until(() => col.findingIds().ids.length === 3, 10_000, "the findings");
      await until(() => /simulated/.test(String(pub.health().lastError)), 10_000, "the store error");
      // Three events and three retained states.
      t.is(store.depth(), 6, "the rows stay while the store cannot delete them");
      t.is(pub.health().published, 0);
      other.exec("DROP TRIGGER refuse");
      await until(() => store.depth() === 0, 10_000, "acknowledged rows deleted on the retry");
      t.is(pub.health().published, 6);
    } finally {
      other.close();
      await pub.stop();
      await col.close();
      store.close();
    }
  },
);

brokerTest.serial(
  "print mode: without a broker, JSON lines of what would be published; the outbox is kept",
  async (t) => {
    const store = newStore();
    store.upsertDevice(device("ip-10.9.9.9"));
    store.upsertFinding(finding("p1", "high"));
    const lines: string[] = [];
    const pub = new Publisher({
      store,
      sensor: SENSOR,
      broker: null,
      version: "0.1.0",
      out: { write: (s: string) => lines.push(s) },
      log: quietLog(),
    });
    pub.start();
    store.upsertFinding(finding("p2", "low"));
    await until(() => lines.length === 6, 5000, "printed lines");
    const parsed = lines.map((l) => JSON.parse(l) as { topic: string; retain: boolean; payload: unknown });
    t.deepEqual(
      parsed.map((p) => [p.topic.split("/").slice(4).join("/"), p.retain]),
      [
        ["status", true],
        ["devices/ip-10.9.9.9", true],
        ["findings", false],
        ["findings/p1", true],
        ["findings", false],
        ["findings/p2", true],
      ],
    );
    t.is(schemaErrors("status", parsed[0]!.payload), null);
    t.is(schemaErrors("device", parsed[1]!.payload), null);
    t.is(schemaErrors("finding", parsed[2]!.payload), null);
    t.is(schemaErrors("finding", parsed[3]!.payload), null);
    t.is(store.depth(), 5, "nothing acknowledged");
    t.is(pub.health().mode, "print");
    await pub.stop();
    t.is(store.depth(), 5);
    store.close();
  },
);
