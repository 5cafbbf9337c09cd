// `dicomtap console` against a real mosquitto over mutual TLS (certificates made by the pki/ scripts):
// two sensors publish with their own certificates, the console runs as a child process of the CLI.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { Mosquitto, SitePki, removeDir, tempDir, type ClientPki } from "../helpers/mosquitto.js";
import { runCli } from "../helpers/cli.js";
import { Publisher } from "../../agent/publish/publisher.js";
import { Store } from "../../agent/store/store.js";
import { parseConsoleArgs, runConsole } from "../../agent/console/console.js";
import { device, finding } from "../store/records.js";
import type { ConsoleSnapshot, Severity } from "../../agent/console/state.js";
import { requires } from "../helpers/requires.js";

const test = requires("mosquitto", "openssl");

const SITE = "st-marys";
let dir = "";
let pki: SitePki;
let broker: Mosquitto;
let ctPki: ClientPki;
let mrPki: ClientPki;

test.before(async () => {
  dir = tempDir("dicomtap-console-");
  pki = await SitePki.create(join(dir, "pki"), SITE);
  ctPki = await pki.sensor("ct-1");
  mrPki = await pki.sensor("mr-2");
  broker = await Mosquitto.start({ pki });
});

test.after.always(async () => {
  await broker?.stop();
  removeDir(dir);
});

/** A sensor's MQTT client with its own certificate and the agent's last will (retained offline status). */
async function sensorClient(id: string, cert: ClientPki): Promise<MqttClient> {
  const root = `dicomtap/v1/${SITE}/${id}/`;
  const will = {
    state: "offline",
    version: "0.1.0",
    startedAt: "2026-01-01T00:00:00.000Z",
    messageId: `${id}/will`,
  };
  const c = mqtt.connect(broker.url(), {
    protocolVersion: 5,
    ca: readFileSync(pki.ca),
    cert: readFileSync(cert.cert),
    key: readFileSync(cert.key),
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    clientId: `sensor-${id}`,
    will: { topic: root + "status", payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
  });
  await new Promise<void>((res, rej) => {
    c.once("connect", () => res());
    c.once("error", rej);
  });
  return c;
}

async function pub(c: MqttClient, topic: string, payload: unknown, retain = false): Promise<void> {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  await c.publishAsync(topic, body, { qos: 1, retain });
}

function status(id: string, state: "online" | "offline", conn: number): object {
  const startedAt = "2026-01-01T00:00:00.000Z";
  return {
    state,
    version: "0.1.0",
    startedAt,
    messageId: `${SITE}/${id}/status/${startedAt}/${conn}/${state}`,
  };
}

function findingMsg(sensor: string, id: string, revision: number, severity: Severity = "medium"): object {
  const f = finding(id, severity, revision);
  return {
    messageId: `${SITE}/${sensor}/finding/${id}/${revision}`,
    site: SITE,
    sensor,
    revision,
    finding: f,
  };
}

function deviceMsg(sensor: string, id: string, revision: number, manufacturer = "ACME"): object {
  const d = { ...device(id), manufacturer, class: "archive" };
  return { messageId: `${SITE}/${sensor}/device/${id}/${revision}`, site: SITE, sensor, revision, device: d };
}

function health(sensor: string): object {
  const time = new Date().toISOString();
  return {
    messageId: `${SITE}/${sensor}/health/${time}`,
    site: SITE,
    sensor,
    time,
    uptimeSeconds: 60,
    system: { loadPercent: null, loadAverage1m: null, memory: null, disk: null, temperatureC: null },
    capture: { packets: 1234, bytes: 567890, drops: 0 },
    anomalies: 0,
    outbox: { depth: 0, evicted: 0, bytes: 0 },
    publisher: null,
  };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `dicomtap console ARGS` (the compiled CLI, as test/helpers/cli.ts does, but without blocking
 * this process: the sensors publish while it runs). Resolves `ready` once it has subscribed.
 */
function startConsole(args: string[]): { ready: Promise<void>; done: Promise<Run> } {
  const main = new URL("../../agent/cli/main.js", import.meta.url).href;
  const code = `import { main } from ${JSON.stringify(main)}; process.exitCode = await main(process.argv.slice(1));`;
  const p = spawn(process.execPath, ["--input-type=module", "-e", code, "--", "console", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((res) => (onReady = res));
  p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  p.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes('"event":"subscribed"')) onReady();
  });
  const done = new Promise<Run>((res) => p.on("close", (c) => res({ code: c, stdout, stderr })));
  return {
    ready: Promise.race([ready, done.then((r) => Promise.reject(new Error(`console exited: ${r.stderr}`)))]),
    done,
  };
}

function tlsArgs(client: ClientPki = pki.console): string[] {
  return ["--broker", broker.url("localhost"), "--ca", pki.ca, "--cert", client.cert, "--key", client.key];
}

test.serial(
  "two sensors: deduped findings at their latest revision, devices, an offline sensor after its will, hostile payloads counted",
  async (t) => {
    const ct = await sensorClient("ct-1", ctPki);
    const mr = await sensorClient("mr-2", mrPki);
    const ctRoot = `dicomtap/v1/${SITE}/ct-1/`;
    const mrRoot = `dicomtap/v1/${SITE}/mr-2/`;
    // Retained before the console exists: it must get them on subscribing.
    await pub(ct, ctRoot + "status", status("ct-1", "online", 1), true);
    await pub(mr, mrRoot + "status", status("mr-2", "online", 1), true);
    await pub(ct, ctRoot + "devices/ip-10.1.2.3", deviceMsg("ct-1", "ip-10.1.2.3", 1), true);
    await pub(mr, mrRoot + "devices/ip-10.9.9.9", deviceMsg("mr-2", "ip-10.9.9.9", 1), true);

    const con = startConsole([...tlsArgs(), "--once", "3", "--json"]);
    await con.ready;

    // At least once: the same finding message twice, then revision 3, then revision 2 arriving late.
    await pub(ct, ctRoot + "findings", findingMsg("ct-1", "f1", 1));
    await pub(ct, ctRoot + "findings", findingMsg("ct-1", "f1", 1));
    await pub(ct, ctRoot + "findings", findingMsg("ct-1", "f1", 3));
    await pub(ct, ctRoot + "findings", findingMsg("ct-1", "f1", 2));
    await pub(ct, ctRoot + "findings", findingMsg("ct-1", "f2", 1, "high"));
    // Health is QoS 0, as the agent sends it; the QoS 1 message after it is acknowledged only once the
    // broker has read it (one TCP stream, in order).
    await mr.publishAsync(mrRoot + "health", JSON.stringify(health("mr-2")), { qos: 0 });
    await pub(mr, mrRoot + "findings", findingMsg("mr-2", "g1", 1, "critical"));
    await pub(ct, ctRoot + "devices/ip-10.1.2.3", deviceMsg("ct-1", "ip-10.1.2.3", 2, "ACME Medical"), true);
    // Hostile or broken: not JSON, outside the schema, claiming to be the other sensor, a terminal escape.
    await pub(ct, ctRoot + "findings", "{not json");
    await pub(ct, ctRoot + "findings", { ...findingMsg("ct-1", "f9", 1), extra: 1 });
    await pub(ct, ctRoot + "findings", findingMsg("mr-2", "spoof", 1));
    await pub(ct, ctRoot + "devices/x", { ...deviceMsg("ct-1", "x", 1), device: { id: "x" } }, true);
    await pub(ct, ctRoot + "bogus", "{}");
    // mr-2 drops off the network without a DISCONNECT: the broker publishes its last will.
    mr.stream.destroy();

    const r = await con.done;
    await ct.endAsync();
    t.is(r.code, 0, r.stderr);
    const snap = JSON.parse(r.stdout) as ConsoleSnapshot;

    t.deepEqual(
      snap.sensors.map((s) => [s.site, s.sensor, s.state]),
      [
        [SITE, "ct-1", "online"],
        [SITE, "mr-2", "offline"],
      ],
    );
    t.deepEqual(
      snap.findings.map((f) => [f.sensor, f.finding.id, f.revision, f.finding.severity, f.finding.count]),
      [
        ["ct-1", "f2", 1, "high", 1],
        ["ct-1", "f1", 3, "medium", 3],
        ["mr-2", "g1", 1, "critical", 1],
      ],
    );
    t.deepEqual(
      snap.devices.map((d) => [d.sensor, d.device.id, d.revision, d.device.manufacturer]),
      [
        ["ct-1", "ip-10.1.2.3", 2, "ACME Medical"],
        ["mr-2", "ip-10.9.9.9", 1, "ACME"],
      ],
    );
    const mrHealth = snap.sensors[1]!;
    t.is(mrHealth.health?.capture.packets, 1234, JSON.stringify(snap.recentInvalid));
    t.true(mrHealth.healthAgeSeconds !== null && mrHealth.healthAgeSeconds <= 5);
    t.is(snap.sensors[0]!.health, null);
    t.is(snap.counters.duplicates, 1);
    t.is(snap.counters.stale, 1);
    t.is(snap.counters.invalid, 5);
    t.true(snap.recentInvalid.some((n) => n.reason.includes("site/sensor differ")));
    t.true(snap.recentInvalid.some((n) => n.reason === "not JSON"));
  },
);

test.serial("what the agent's own Store and Publisher send is shown as is", async (t) => {
  const store = new Store({ path: ":memory:", maxBytes: 16 << 20, site: SITE, sensor: "us-3" });
  const us3 = await pki.sensor("us-3");
  const con = startConsole([...tlsArgs(), "--once", "2", "--json"]);
  await con.ready;
  store.upsertDevice({ ...device("ip-10.7.7.7"), ip: "10.7.7.7" });
  store.upsertFinding(finding("agent-1", "low"));
  store.upsertFinding(finding("agent-1", "low", 5));
  // The revision of the finding's second version, as the store numbered it.
  const rev = (JSON.parse(store.peek(10).at(-1)!.payload) as { revision: number }).revision;
  const publisher = new Publisher({
    store,
    sensor: { id: "us-3", site: SITE, room: null },
    broker: { url: broker.url("localhost"), ca: pki.ca, cert: us3.cert, key: us3.key },
    version: "9.9.9",
    log: () => undefined,
  });
  publisher.start();
  const r = await con.done;
  await publisher.stop();
  store.close();
  t.is(r.code, 0, r.stderr);
  const snap = JSON.parse(r.stdout) as ConsoleSnapshot;
  const us = snap.sensors.find((s) => s.sensor === "us-3");
  // Stopped cleanly after the console left: it saw the sensor online.
  t.like(us, { state: "online", version: "9.9.9", devices: 1, findings: 1 });
  t.deepEqual(
    snap.findings.filter((f) => f.sensor === "us-3").map((f) => [f.finding.id, f.revision, f.finding.count]),
    [["agent-1", rev, 5]],
  );
  // (The only invalid message is the hostile retained one of the first test.)
  t.deepEqual(
    snap.recentInvalid.map((n) => n.topic),
    [`dicomtap/v1/${SITE}/ct-1/devices/x`],
  );
});

test.serial("text output of --once, and a console limited to one site", async (t) => {
  const con = startConsole([...tlsArgs(), "--once", "1", "--site", "elsewhere", "--json"]);
  await con.ready;
  const other = startConsole([...tlsArgs(), "--once", "1"]);
  const [r, text] = await Promise.all([con.done, other.done]);
  t.is(r.code, 0, r.stderr);
  const snap = JSON.parse(r.stdout) as ConsoleSnapshot;
  t.is(snap.sensors.length, 0);
  t.is(text.code, 0, text.stderr);
  // Retained state of the first test: both sensors and the devices, grouped by sensor.
  t.regex(text.stdout, /SENSORS\n {2}st-marys\/ct-1 +online/);
  t.regex(text.stdout, /st-marys\/mr-2 +offline/);
  t.regex(text.stdout, /DEVICES\n {2}st-marys\/ct-1\n {4}10\.1\.2\.3 +archive +AE PACS1 +ACME Medical/);
});

test.serial("a shared subscription receives live messages", async (t) => {
  const ct = await sensorClient("ct-1", ctPki);
  const con = startConsole([...tlsArgs(), "--once", "2", "--json", "--share", "consoles"]);
  await con.ready;
  await pub(ct, `dicomtap/v1/${SITE}/ct-1/findings`, findingMsg("ct-1", "shared-1", 1, "low"));
  const r = await con.done;
  await ct.endAsync();
  t.is(r.code, 0, r.stderr);
  const snap = JSON.parse(r.stdout) as ConsoleSnapshot;
  // (us-3's finding of an earlier test is retained on findings/agent-1.)
  t.deepEqual(
    snap.findings.filter((f) => f.sensor === "ct-1").map((f) => f.finding.id),
    ["shared-1"],
  );
});

test.serial("live JSON lines: one per new or changed finding, device and status", async (t) => {
  const ct = await sensorClient("ct-1", ctPki);
  const main = new URL("../../agent/cli/main.js", import.meta.url).href;
  const code = `import { main } from ${JSON.stringify(main)}; process.exitCode = await main(process.argv.slice(1));`;
  const p = spawn(
    process.execPath,
    ["--input-type=module", "-e", code, "--", "console", ...tlsArgs(), "--json"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  p.stdout.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res) => p.on("close", (c) => res(c)));
  const until = async (cond: () => boolean): Promise<void> => {
    const end = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out; stdout ${out} stderr ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => err.includes('"event":"subscribed"'));
  await pub(ct, `dicomtap/v1/${SITE}/ct-1/findings`, findingMsg("ct-1", "live-1", 1));
  await pub(ct, `dicomtap/v1/${SITE}/ct-1/findings`, findingMsg("ct-1", "live-1", 1));
  await pub(ct, `dicomtap/v1/${SITE}/ct-1/findings`, findingMsg("ct-1", "live-1", 2));
  await until(() => out.includes('"revision":2'));
  p.kill("SIGINT");
  t.is(await exited, 0);
  await ct.endAsync();
  const events = out
    .trim()
    .split("\n")
    .map(
      (l) => JSON.parse(l) as { event: string; change?: string; finding?: { id: string }; state?: string },
    );
  const live = events.filter((e) => e.event === "finding" && e.finding?.id === "live-1").map((e) => e.change);
  t.deepEqual(live, ["new", "changed"]);
  // The retained state comes first as events too.
  t.true(events.some((e) => e.event === "status" && e.state === "online"));
  t.true(events.some((e) => e.event === "device"));
});

test.serial(
  "refused: a certificate of another CA, a broker of another name or CA, a sensor certificate, unreadable files",
  async (t) => {
    // Another site: its CA, its console certificate, and a broker whose certificate names broker.invalid only.
    const other = await SitePki.create(join(dir, "other-pki"), "other", ["broker.invalid"]);
    const otherBroker = await Mosquitto.start({ pki: other });
    try {
      const foreign = runCli(["console", ...tlsArgs(other.console), "--once", "1"], { timeoutMs: 20_000 });
      t.is(foreign.status, 1, foreign.stderr);
      t.regex(
        foreign.stderr,
        /^dicomtap: console: mqtts:\/\/localhost:\d+: the broker refused our certificate \(TLS alert "unknown ca"\)/,
      );
      t.is(foreign.stdout, "");

      // Our CA does not vouch for that broker; with its own CA, its name is not the one we dialled.
      const otherArgs = ["--cert", other.console.cert, "--key", other.console.key, "--once", "1"];
      const untrusted = runCli(["console", "--broker", otherBroker.url(), "--ca", pki.ca, ...otherArgs]);
      t.is(untrusted.status, 1, untrusted.stderr);
      t.regex(untrusted.stderr, /the broker's certificate failed verification/);
      const misnamed = runCli(["console", "--broker", otherBroker.url(), "--ca", other.ca, ...otherArgs]);
      t.is(misnamed.status, 1, misnamed.stderr);
      t.regex(
        misnamed.stderr,
        /the broker's certificate failed verification .*127\.0\.0\.1 is not in the cert's list/,
      );
    } finally {
      await otherBroker.stop();
    }

    // Accepted as st-marys/ct-1, which the ACL lets write its own topics and read nothing: mosquitto 2.0
    // grants the subscription and delivers nothing, so the console warns.
    const sensor = runCli(["console", ...tlsArgs(ctPki), "--once", "1", "--json"], { timeoutMs: 20_000 });
    t.is(sensor.status, 0, sensor.stderr);
    t.regex(sensor.stderr, /certificate is CN=st-marys\/ct-1, not CN=console/);
    t.is((JSON.parse(sensor.stdout) as ConsoleSnapshot).sensors.length, 0);

    const missing = runCli([
      "console",
      ...tlsArgs({ cert: join(dir, "nope.crt"), key: pki.console.key }),
      "--once",
      "1",
    ]);
    t.is(missing.status, 1);
    t.regex(missing.stderr, /cannot read TLS files: .*nope\.crt/);

    const closed = runCli(["console", ...tlsArgs(), "--broker", "mqtts://127.0.0.1:1", "--once", "1"]);
    t.is(closed.status, 1);
    t.regex(closed.stderr, /cannot connect \(connect ECONNREFUSED/);
  },
);

test.serial(
  "a persistent session (--client-id) gets the findings published while the console was away",
  async (t) => {
    const args = [...tlsArgs(), "--client-id", "console-test-session", "--once", "0.5", "--json"];
    const first = runCli(["console", ...args], { timeoutMs: 20_000 });
    t.is(first.status, 0, first.stderr);
    const ct = await sensorClient("ct-1", ctPki);
    await pub(ct, `dicomtap/v1/${SITE}/ct-1/findings`, findingMsg("ct-1", "while-away", 1, "info"));
    await ct.endAsync();
    const second = startConsole(args);
    const r = await second.done;
    t.is(r.code, 0, r.stderr);
    // ct-1 published its findings as events only; us-3's finding of an earlier test is retained.
    const ids = (JSON.parse(r.stdout) as ConsoleSnapshot).findings
      .filter((f) => f.sensor === "ct-1")
      .map((f) => f.finding.id);
    t.deepEqual(ids, ["while-away"]);
  },
);

test.serial(
  "the terminal screen: drawn in the alternate buffer, redrawn, restored when stopped",
  async (t) => {
    const out: string[] = [];
    const err: string[] = [];
    const ac = new AbortController();
    const opts = parseConsoleArgs([...tlsArgs(), "--site", SITE], (m) => new Error(m));
    const running = runConsole(opts, {
      out: { write: (s: string) => out.push(s) },
      err: { write: (s: string) => err.push(s) },
      tty: { rows: 30, columns: 120 },
      signal: ac.signal,
    });
    const end = Date.now() + 10_000;
    // Retained status and devices arrive after the first frame; a later frame shows them.
    while (!out.some((f) => /st-marys\/mr-2 +offline/.test(f)) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    t.is(await running, 0, err.join(""));
    t.is(out[0], "\x1b[?1049h\x1b[?25l");
    t.is(out.at(-1), "\x1b[?25h\x1b[?1049l");
    const frame = out.find((f) => /st-marys\/mr-2 +offline/.test(f));
    t.truthy(frame);
    t.true(frame!.startsWith("\x1b[H") && frame!.endsWith("\n\x1b[J"));
    const plain = frame!.replaceAll("\x1b[H", "").replaceAll("\x1b[K", "").replaceAll("\x1b[J", "");
    t.regex(plain, /DEVICES\n {2}st-marys\/ct-1\n {4}10\.1\.2\.3 +archive/);
    t.true(plain.split("\n").every((l) => l.length <= 120));
    t.deepEqual(err, []);
  },
);

test.serial("the console config file: used, and validated with clear errors", (t) => {
  const good = join(dir, "console.json");
  writeFileSync(
    good,
    JSON.stringify({
      broker: { url: broker.url("localhost"), ca: pki.ca, cert: pki.console.cert, key: pki.console.key },
    }),
  );
  const ok = runCli(["console", "--config", good, "--once", "1", "--json"], { timeoutMs: 20_000 });
  t.is(ok.status, 0, ok.stderr);
  t.true((JSON.parse(ok.stdout) as ConsoleSnapshot).sensors.length >= 1);

  const cases: [object | string, RegExp][] = [
    [{}, /broker: is required/],
    [
      { broker: { url: "mqtt://h:1883", ca: "a", cert: "b", key: "c" } },
      /broker\.url: "mqtt:\/\/h:1883" must be an mqtts:\/\/ URL/,
    ],
    [{ broker: { url: "mqtts://h", ca: "a", cert: "b" } }, /broker\.key: is required/],
    [{ broker: { url: "mqtts://h", ca: "a", cert: "b", key: "c", port: 1 } }, /broker\.port: unknown key/],
    [
      { broker: { url: "mqtts://h", ca: "a", cert: "b", key: "c" }, site: "a/b" },
      /site "a\/b" must be one topic level/,
    ],
    ["{", /not valid JSON/],
  ];
  for (const [body, re] of cases) {
    const f = join(dir, "bad.json");
    writeFileSync(f, typeof body === "string" ? body : JSON.stringify(body));
    const r = runCli(["console", "--config", f]);
    t.is(r.status, 2, JSON.stringify(body));
    t.regex(r.stderr, /^dicomtap: config: /);
    t.regex(r.stderr, re);
  }
  const usage = runCli(["console", "--broker", "mqtts://h:8883", "--ca", "a"]);
  t.is(usage.status, 2);
  t.regex(usage.stderr, /console: missing --cert/);
});
