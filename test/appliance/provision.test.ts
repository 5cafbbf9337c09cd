/**
 * scripts/install and scripts/provision into a temporary root, as a field technician would run them:
 * install; provision step 1 (key and CSR on the device); the site CA signs (pki/sign-csr); provision
 * step 2 (certificate import, config, doctor). Every bad input is refused with a clear message and leaves
 * /etc/dicomtap exactly as it was. At the end the installed agent, with the config and certificates
 * provisioning made, publishes to a real mosquitto. Both steps silence the capture interface
 * (scripts/silence-capture-interface, files under the root; test/appliance/silent.test.ts applies them to
 * a mirror port). Root only (the capture interface and doctor's tcpdump probe).
 */
import test from "ava";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { Mosquitto, removeDir, SitePki, tempDir } from "../helpers/mosquitto.js";
import { requires } from "../helpers/requires.js";

const run = promisify(execFile);
const gate = requires("root", "mosquitto", "openssl");
const rootTest = gate.serial;

/** The compiled tree this test runs from (.build/NAME/ or dist/): what install copies to /opt/dicomtap. */
const BUILD = fileURLToPath(new URL("../../", import.meta.url));
const IF = `dtp${process.pid % 100000}`;
const SITE = "st-marys";
const ID = "ct-1";

let dir = "";
let root = "";
let pki: SitePki;
let broker: Mosquitto;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function provision(args: string[], input?: string): Promise<Result> {
  return new Promise((res) => {
    const p = spawn(join(root, "opt/dicomtap/scripts/provision"), ["--root", root, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.stdin.end(input ?? "");
    p.on("close", (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

/** Every file under /etc/dicomtap with its mode and a hash of its content. */
function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else
        out[p.slice(root.length)] =
          `${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16)}`;
    }
  };
  walk(join(root, "etc/dicomtap"));
  return out;
}

const base = (url = broker.url()): string[] => [
  "--non-interactive",
  "--sensor-id",
  ID,
  "--site",
  SITE,
  "--interface",
  IF,
  "--broker-url",
  url,
];
const pending = (): string => join(root, "etc/dicomtap/pki/pending");

test.before(async () => {
  if (!gate.ok) return;
  dir = tempDir("dtprov-");
  root = join(dir, "root");
  pki = await SitePki.create(join(dir, "pki"), SITE);
  broker = await Mosquitto.start({ pki });
  // The capture interface: a veth end without address, IPv6 or ARP replies, like a silenced mirror port
  // (under --root provision writes the silencing files but applies nothing; doctor checks this one).
  await run("ip", ["link", "add", IF, "type", "veth", "peer", "name", `${IF}p`]);
  for (const i of [IF, `${IF}p`]) {
    await run("sysctl", ["-qw", `net.ipv6.conf.${i}.disable_ipv6=1`]);
    await run("ip", ["link", "set", i, "up"]);
  }
  await run("sysctl", ["-qw", `net.ipv4.conf.${IF}.arp_ignore=8`]);
});

const SILENCE_CONF = (): string => join(root, "etc/sysctl.d/60-dicomtap-capture.conf");

test.after.always(async () => {
  if (!gate.ok) return;
  await broker?.stop();
  await run("ip", ["link", "del", IF]).catch(() => undefined);
  removeDir(dir);
});

rootTest("install puts the tree, the unit, the user and the directories in place, and re-runs", async (t) => {
  for (let i = 0; i < 2; i++) {
    const { stdout } = await run(resolve("scripts/install"), ["--root", root, "--no-apt", "--build", BUILD]);
    t.regex(stdout, /installed .* to /);
  }
  t.regex(
    readFileSync(join(root, "etc/passwd"), "utf8"),
    /^dicomtap:x:\d+:\d+:.*:\/var\/lib\/dicomtap:\/usr\/sbin\/nologin$/m,
  );
  const unit = readFileSync(join(root, "etc/systemd/system/dicomtap.service"), "utf8");
  // Node's own flags (the V8 heap limits of the memory budget) may stand between node and the script.
  t.regex(unit, new RegExp(`^ExecStart=\\S*node (--\\S+ )*/opt/dicomtap/bin/dicomtap\\.js run`, "m"));
  for (const f of [
    "usr/lib/sysusers.d/dicomtap.conf",
    "usr/lib/tmpfiles.d/dicomtap.conf",
    "opt/dicomtap/systemd/dicomtap-notify",
    "opt/dicomtap/pki/sensor-key-csr",
    "opt/dicomtap/node_modules/mqtt/package.json",
    "opt/dicomtap/node_modules/better-sqlite3/package.json",
    "opt/dicomtap/data/toolkits.json",
    "opt/dicomtap/data/cves.json",
    "opt/dicomtap/schemas/finding.schema.json",
  ]) {
    t.true(existsSync(join(root, f)), f);
  }
  // No development tooling on the appliance.
  t.false(existsSync(join(root, "opt/dicomtap/node_modules/typescript")));
  t.true(statSync(join(root, "etc/dicomtap/pki")).isDirectory());
  t.is(statSync(join(root, "etc/dicomtap/pki")).mode & 0o007, 0);
  const { stdout } = await run(process.execPath, [join(root, "opt/dicomtap/bin/dicomtap.js"), "--version"]);
  t.regex(stdout, /^dicomtap \d+\.\d+\.\d+/);
});

rootTest("bad input is refused with a clear message and changes nothing", async (t) => {
  // The veth's peer gets an address, as the management NIC has one.
  await run("ip", ["addr", "add", "192.0.2.7/32", "dev", `${IF}p`]);
  t.teardown(() => run("ip", ["addr", "del", "192.0.2.7/32", "dev", `${IF}p`]).catch(() => undefined));
  const before = snapshot();
  const cases: [string, string[], RegExp][] = [
    ["sensor id with a slash", ["--sensor-id", "ct/1"], /sensor id 'ct\/1' must be 1-64 characters/],
    ["sensor id with a wildcard", ["--sensor-id", "ct+1"], /sensor id 'ct\+1'/],
    ["sensor id with a space", ["--sensor-id", "ct 1"], /sensor id 'ct 1'/],
    ["site with a #", ["--site", "st#marys"], /site 'st#marys'/],
    ["unknown interface", ["--interface", "dtnope0"], /interface 'dtnope0' does not exist/],
    ["loopback", ["--interface", "lo"], /'lo' cannot be a capture interface/],
    ["plain MQTT URL", ["--broker-url", "mqtt://broker:1883"], /must look like mqtts:\/\/HOST\[:PORT\]/],
    ["URL with a path", ["--broker-url", "mqtts://broker/x y"], /must look like mqtts/],
    ["port out of range", ["--broker-url", "mqtts://broker:70000"], /port 70000 is out of range/],
    [
      "an interface with an address",
      ["--interface", `${IF}p`],
      /interface 'dtp\d+p' has address\(es\) 192\.0\.2\.7\/32/,
    ],
    [
      "capture filter with a typo",
      ["--filter", "tcp prot 104"],
      /capture filter 'tcp prot 104' is not valid/,
    ],
  ];
  for (const [what, over, msg] of cases) {
    const args = base();
    for (let i = 0; i < over.length; i += 2) {
      const at = args.indexOf(over[i]!);
      if (at < 0) args.push(over[i]!, over[i + 1]!);
      else args[at + 1] = over[i + 1]!;
    }
    const r = await provision(args);
    t.not(r.code, 0, what);
    t.regex(r.stderr, msg, what);
    t.deepEqual(snapshot(), before, `${what}: nothing written`);
  }
  const missing = await provision([
    "--non-interactive",
    "--sensor-id",
    ID,
    "--site",
    SITE,
    "--interface",
    IF,
  ]);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /--broker-url is required/);
  t.deepEqual(snapshot(), before);
  t.false(existsSync(SILENCE_CONF()), "bad input silences nothing either");
});

rootTest("step 1 makes the key and CSR on the device; bad certificates are refused", async (t) => {
  const r = await provision(base());
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /pki\/sign-csr CADIR sensor\.csr ct-1 sensor\.crt/);
  t.true(existsSync(join(pending(), "sensor.csr")));
  t.is(statSync(join(pending(), "sensor.key")).mode & 0o077, 0);
  t.false(existsSync(join(root, "etc/dicomtap/config.json")));
  // Running step 1 again keeps the waiting key (the CSR may already be at the CA).
  const key = readFileSync(join(pending(), "sensor.key"));
  t.is((await provision(base())).code, 0);
  t.deepEqual(readFileSync(join(pending(), "sensor.key")), key);
  // Step 1 already silences the capture interface (the appliance may wait on the mirror port for its
  // certificate): the settings name IF, and a re-run leaves them as they are.
  t.regex(
    readFileSync(SILENCE_CONF(), "utf8"),
    new RegExp(`^net\\.ipv6\\.conf\\.${IF}\\.disable_ipv6 = 1$`, "m"),
  );
  t.regex(
    readFileSync(join(root, "etc/udev/rules.d/90-dicomtap-capture.rules"), "utf8"),
    new RegExp(`NAME=="${IF}"`),
  );
  // An IPv6 link-local address, what the OS gives an interface nobody configured, is no reason to refuse
  // it: it says nothing about management use, and the silencing removes it.
  await run("sysctl", ["-qw", `net.ipv6.conf.${IF}.disable_ipv6=0`]);
  try {
    for (let i = 0; i < 50; i++) {
      if (/inet6 fe80::/.test((await run("ip", ["-6", "addr", "show", "dev", IF])).stdout)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.regex((await run("ip", ["-6", "addr", "show", "dev", IF])).stdout, /inet6 fe80::/);
    const ll = await provision(base());
    t.is(ll.code, 0, ll.stderr);
  } finally {
    await run("sysctl", ["-qw", `net.ipv6.conf.${IF}.disable_ipv6=1`]);
  }

  const before = snapshot();
  const csr = join(pending(), "sensor.csr");
  const other = await pki.sensor("mr-2");
  const wrongId = join(dir, "wrong-id.crt");
  await run(resolve("pki/sign-csr"), [pki.caDir, csr, "mr-2", wrongId]);
  const expired = join(dir, "expired.crt");
  await run(resolve("pki/sign-csr"), [pki.caDir, csr, ID, expired, "--expired"]);
  const otherCa = await SitePki.create(join(dir, "pki2"), SITE);
  const foreign = join(dir, "foreign.crt");
  await run(resolve("pki/sign-csr"), [otherCa.caDir, csr, ID, foreign]);
  const good = join(dir, "good.crt");
  await run(resolve("pki/sign-csr"), [pki.caDir, csr, ID, good]);
  const cases: [string, string, string, RegExp][] = [
    ["another sensor's certificate", pki.ca, other.cert, /does not match this sensor's key/],
    ["signed for another sensor id", pki.ca, wrongId, /certificate is for "st-marys\/mr-2"/],
    ["expired", pki.ca, expired, /expired on/],
    ["signed by another CA", pki.ca, foreign, /is not signed by the CA/],
    ["a leaf given as the CA", good, good, /not (signed by the CA|a CA certificate)/],
    ["not a certificate", pki.ca, csr, /refused|does not match/],
  ];
  for (const [what, ca, cert, msg] of cases) {
    const res = await provision([...base(), "--ca", ca, "--signed-cert", cert]);
    t.not(res.code, 0, what);
    t.regex(res.stderr, msg, `${what}: ${res.stderr}`);
    t.deepEqual(snapshot(), before, `${what}: nothing written`);
  }
});

rootTest("step 2 imports the certificate, writes a valid config, and doctor passes", async (t) => {
  const good = join(dir, "good.crt");
  const r = await provision([...base(), "--room", "CT 2", "--ca", pki.ca, "--signed-cert", good]);
  t.log(r.stdout);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /configured sensor st-marys\/ct-1 \(CT 2\)/);
  t.regex(r.stdout, /\[ ok \] broker: connected/);
  t.regex(r.stdout, /doctor: all checks passed/);
  const cfg = JSON.parse(readFileSync(join(root, "etc/dicomtap/config.json"), "utf8"));
  t.deepEqual(cfg.sensor, { id: ID, site: SITE, room: "CT 2" });
  t.is(cfg.capture.interface, IF);
  t.is(cfg.broker.key, join(root, "etc/dicomtap/pki/sensor.key"));
  t.false(existsSync(pending()), "the pending key was promoted");
  t.is(statSync(cfg.broker.key).mode & 0o007, 0);
  t.is(statSync(join(root, "etc/dicomtap/config.json")).mode & 0o007, 0);

  // Re-runnable: change the room only, keeping key and certificate.
  const key = readFileSync(cfg.broker.key);
  const again = await provision([...base(), "--room", "CT 3"]);
  t.is(again.code, 0, again.stderr);
  t.is(JSON.parse(readFileSync(join(root, "etc/dicomtap/config.json"), "utf8")).sensor.room, "CT 3");
  t.deepEqual(readFileSync(cfg.broker.key), key);

  // Prompt mode: Enter keeps each current value; the room gets a new one.
  const prompted = await provision(["--interactive"], "\n\nCT 4\n\n\n\n");
  t.is(prompted.code, 0, prompted.stderr);
  const now = JSON.parse(readFileSync(join(root, "etc/dicomtap/config.json"), "utf8"));
  t.deepEqual(now.sensor, { id: ID, site: SITE, room: "CT 4" });
  t.is(now.broker.url, broker.url());
});

rootTest(
  "the provisioned sensor publishes to a real mosquitto with the certificates it was given",
  async (t) => {
    const topic = `dicomtap/v1/${SITE}/${ID}/#`;
    const sub = await mqtt.connectAsync(broker.url(), {
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.console.cert),
      key: readFileSync(pki.console.key),
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId: "test-console",
    });
    const got: string[] = [];
    sub.on("message", (tp) => got.push(tp));
    await sub.subscribeAsync(topic, { qos: 1 });
    try {
      const config = join(root, "etc/dicomtap/config.json");
      await run(
        process.execPath,
        [
          join(root, "opt/dicomtap/bin/dicomtap.js"),
          "run",
          "--config",
          config,
          "--replay",
          resolve("test/fixtures/lab/echo.pcap"),
        ],
        { timeout: 60_000 },
      );
      const end = Date.now() + 10_000;
      while (
        !(got.some((x) => x.endsWith("/status")) && got.some((x) => x.includes("/devices/"))) &&
        Date.now() < end
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      t.true(
        got.some((x) => x === `dicomtap/v1/${SITE}/${ID}/status`),
        got.join(" "),
      );
      t.true(
        got.some((x) => x.startsWith(`dicomtap/v1/${SITE}/${ID}/devices/`)),
        got.join(" "),
      );
    } finally {
      await sub.endAsync();
    }
  },
);
