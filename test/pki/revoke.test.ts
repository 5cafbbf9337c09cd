// pki/revoke against a real mosquitto given the CA's crl.pem as crlfile: once the broker has loaded
// the list, the revoked sensor certificate is refused in the TLS handshake while another sensor of the
// same site still connects.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import { Mosquitto, SitePki, removeDir, tempDir, type ClientPki } from "../helpers/mosquitto.js";
import { requires } from "../helpers/requires.js";

const test = requires("mosquitto", "openssl");

const run = promisify(execFile);
const REVOKE = "pki/revoke";

let dir = "";
let pki: SitePki;
let broker: Mosquitto;

test.before(async () => {
  dir = tempDir("dicomtap-revoke-");
  pki = await SitePki.create(join(dir, "site"));
  broker = await Mosquitto.start({ pki, crlfile: join(pki.caDir, "crl.pem") });
});

test.after.always(async () => {
  await broker?.stop();
  removeDir(dir);
});

/** Connects with MQTT 5 and disconnects; resolves true on CONNACK, false when refused or closed. */
async function connects(client: ClientPki, id: string): Promise<boolean> {
  const c: MqttClient = mqtt.connect(broker.url(), {
    protocolVersion: 5,
    clientId: id,
    ca: readFileSync(pki.ca),
    cert: readFileSync(client.cert),
    key: readFileSync(client.key),
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  const ok = await new Promise<boolean>((res) => {
    c.once("connect", () => res(true));
    c.once("error", () => res(false));
    c.once("close", () => res(false));
  });
  await c.endAsync(true);
  return ok;
}

function revokedSerials(crl: string): Promise<string> {
  return run("openssl", ["crl", "-in", crl, "-noout", "-text"]).then((r) => r.stdout);
}

test.serial(
  "a revoked sensor is refused once the broker loads the CRL; another sensor still connects",
  async (t) => {
    const a = await pki.sensor("ct-room-1");
    const b = await pki.sensor("mr-room-2");
    t.true(await connects(a, "a-before"), "with the empty list of make-ca, every sensor connects");
    t.true(await connects(b, "b-before"));

    const { stdout } = await run(REVOKE, [pki.caDir, a.cert, "--reason", "keyCompromise"]);
    t.regex(stdout, /revoked .*keyCompromise/);
    const serial = (await run("openssl", ["x509", "-in", a.cert, "-noout", "-serial"])).stdout
      .trim()
      .split("=")[1]!;
    const list = await revokedSerials(join(pki.caDir, "crl.pem"));
    t.true(list.includes(serial), "the CRL lists the revoked serial");
    t.regex(list, /Key Compromise/);

    // mosquitto reads crlfile when it starts: until then the old list applies.
    await broker.restart();
    t.false(await connects(a, "a-after"), "the revoked certificate is refused");
    t.true(await connects(b, "b-after"), "another sensor of the site still connects");
    t.regex(broker.logText(), /certificate verify failed/);

    // Revoking again is harmless; the list is re-issued and still lists it.
    const again = await run(REVOKE, [pki.caDir, a.cert]);
    t.regex(again.stdout, /already revoked/);
    t.true((await revokedSerials(join(pki.caDir, "crl.pem"))).includes(serial));
  },
);

test.serial("revoke refuses a certificate of another CA and bad options", async (t) => {
  const other = await SitePki.create(join(dir, "other"), "elsewhere");
  const foreign = await other.sensor("ct-room-1");
  const e = await t.throwsAsync(run(REVOKE, [pki.caDir, foreign.cert]));
  t.regex(String((e as { stderr?: string }).stderr), /not issued by the CA/);
  await t.throwsAsync(run(REVOKE, [pki.caDir, "--crl-only", "--crl-days", "0"]));
  await t.throwsAsync(run(REVOKE, [pki.caDir, foreign.cert, "--reason", "because"]));
  await t.throwsAsync(run(REVOKE, [join(dir, "nowhere"), "--crl-only"]));
  const ok = await run(REVOKE, [pki.caDir, "--crl-only", "--crl-days", "30"]);
  t.regex(ok.stdout, /valid 30 days/);
});
