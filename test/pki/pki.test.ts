// The pki/ scripts against a real mosquitto configured with pki/mosquitto/acl: mutual TLS round trip,
// refused clients, and the ACL that confines each sensor to its own topic subtree.
import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { Mosquitto, SitePki, removeDir, tempDir, type ClientPki } from "../helpers/mosquitto.js";
import { requires } from "../helpers/requires.js";

const test = requires("mosquitto", "openssl");

const run = promisify(execFile);

let dir = "";
let pki: SitePki;
let broker: Mosquitto;
let other: SitePki;

test.before(async () => {
  dir = tempDir("dicomtap-pki-");
  pki = await SitePki.create(join(dir, "site"));
  other = await SitePki.create(join(dir, "other"), "elsewhere");
  broker = await Mosquitto.start({ pki });
});

test.after.always(async () => {
  await broker?.stop();
  removeDir(dir);
});

/** Connects with MQTT 5; resolves with the client or rejects with the first error. */
function connect(
  url: string,
  ca: string,
  client: ClientPki | null,
  extra: IClientOptions = {},
): Promise<MqttClient> {
  return new Promise((res, rej) => {
    const c = mqtt.connect(url, {
      protocolVersion: 5,
      ca: readFileSync(ca),
      ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...extra,
    });
    c.once("connect", () => res(c));
    c.once("error", (e) => {
      c.end(true);
      rej(e);
    });
    c.once("close", () => rej(new Error("closed before CONNACK")));
  });
}

/** Subscribes as the console and collects what arrives. */
async function consoleCollector(): Promise<{
  client: MqttClient;
  got: Array<{ topic: string; payload: string }>;
}> {
  const client = await connect(broker.url(), pki.ca, pki.console);
  const got: Array<{ topic: string; payload: string }> = [];
  client.on("message", (topic, payload) => got.push({ topic, payload: payload.toString() }));
  await client.subscribeAsync("dicomtap/v1/#", { qos: 1 });
  return { client, got };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.serial(
  "scripts: CA decides the subject, CN is SITE/SENSOR, key stays 0600, names are checked",
  async (t) => {
    const s = await pki.sensor("ct-room-9");
    const subject = (
      await run("openssl", ["x509", "-in", s.cert, "-noout", "-subject", "-nameopt", "RFC2253"])
    ).stdout;
    t.regex(subject, /CN=st-marys\/ct-room-9/);
    t.regex(subject, /OU=st-marys/);
    t.is(statSync(s.key).mode & 0o777, 0o600);
    const verify = await run("openssl", ["verify", "-CAfile", pki.ca, s.cert]);
    t.regex(verify.stdout, /OK/);
    const pub = (await run("openssl", ["x509", "-in", s.cert, "-noout", "-text"])).stdout;
    t.regex(pub, /prime256v1|P-256/);
    t.regex(pub, /TLS Web Client Authentication/);
    for (const bad of ["a/b", "a+b", "a#", "", "-x", "a b"]) {
      await t.throwsAsync(run(resolve("pki/sensor-key-csr"), [bad, join(dir, "bad")]), undefined, bad);
    }
    await t.throwsAsync(run(resolve("pki/make-ca"), ["console", join(dir, "console-ca")]));
    await t.throwsAsync(run(resolve("pki/make-ca"), ["st-marys", pki.caDir]), undefined, "no overwrite");
  },
);

test.serial("round trip over mutual TLS: a sensor publishes, the console receives", async (t) => {
  const col = await consoleCollector();
  const s = await pki.sensor("ct-room-1");
  const c = await connect(broker.url(), pki.ca, s);
  // The same name the pki script wrote in the broker certificate's SAN is checked by Node.
  const c2 = await connect(`mqtts://localhost:${broker.port}`, pki.ca, s, { clientId: "by-name" });
  await c.publishAsync("dicomtap/v1/st-marys/ct-room-1/findings", "hello", {
    qos: 1,
    properties: { userProperties: { messageId: "m1" } },
  });
  await until(() => col.got.length === 1);
  t.deepEqual(col.got, [{ topic: "dicomtap/v1/st-marys/ct-room-1/findings", payload: "hello" }]);
  await c.endAsync();
  await c2.endAsync();
  await col.client.endAsync();
});

test.serial("refused: no client certificate", async (t) => {
  await t.throwsAsync(connect(broker.url(), pki.ca, null));
});

test.serial("refused: a client certificate from another CA", async (t) => {
  const foreign = await other.sensor("ct-room-1");
  await t.throwsAsync(connect(broker.url(), pki.ca, foreign));
});

test.serial("refused: an expired client certificate", async (t) => {
  const expired = await pki.sensor("ct-room-1", ["--expired"]);
  const dates = (await run("openssl", ["x509", "-in", expired.cert, "-noout", "-enddate"])).stdout;
  t.true(new Date(dates.replace("notAfter=", "").trim()).getTime() < Date.now());
  await t.throwsAsync(connect(broker.url(), pki.ca, expired));
  // The same key re-signed for a few days is accepted: the refusal was the dates.
  const fresh = await pki.sensor("ct-room-1", ["--days", "2"]);
  const c = await connect(broker.url(), pki.ca, fresh);
  await c.endAsync();
});

test.serial("refused by the client: a broker whose certificate does not name the host", async (t) => {
  const wrongDir = join(dir, "wrong-name");
  const wrong = await SitePki.create(wrongDir, "st-marys", ["broker.example"]);
  const b = await Mosquitto.start({ pki: wrong });
  try {
    const s = await wrong.sensor("ct-room-1");
    const err = await t.throwsAsync(connect(b.url(), wrong.ca, s));
    t.regex(String(err?.message), /altnames|IP: 127\.0\.0\.1 is not in the cert's list/i);
    // A broker certificate from another CA is refused too: only the site CA is pinned.
    await t.throwsAsync(connect(broker.url(), wrong.ca, s));
  } finally {
    await b.stop();
  }
});

test.serial("ACL: sensor A cannot publish below sensor B, another site, or above itself", async (t) => {
  const col = await consoleCollector();
  const a = await connect(broker.url(), pki.ca, await pki.sensor("ct-room-1"), { clientId: "a" });
  const forbidden = [
    "dicomtap/v1/st-marys/ct-room-2/findings",
    "dicomtap/v1/st-marys/ct-room-2/status",
    "dicomtap/v1/elsewhere/ct-room-1/findings",
    "dicomtap/v1/st-marys/findings",
    "dicomtap/v1/st-marys/ct-room-1x/findings",
  ];
  for (const topic of forbidden) {
    // Mosquitto answers a denied QoS 1 publish with PUBACK "not authorized" (0x87) on MQTT 5.
    await t.throwsAsync(a.publishAsync(topic, "forged", { qos: 1 }), { message: /Not authorized/ }, topic);
  }
  // A marker on A's own topic, sent after the forged ones on the same connection, arrives: had a
  // forged one passed, it would have arrived before it.
  await a.publishAsync("dicomtap/v1/st-marys/ct-room-1/findings", "marker", { qos: 1 });
  await until(() => col.got.some((m) => m.payload === "marker"));
  t.deepEqual(
    col.got.map((m) => m.payload),
    ["marker"],
  );
  // The console reads but cannot write.
  await t.throwsAsync(col.client.publishAsync("dicomtap/v1/st-marys/ct-room-1/findings", "x", { qos: 1 }), {
    message: /Not authorized/,
  });
  await a.endAsync();
  await col.client.endAsync();
});
