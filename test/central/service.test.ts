/**
 * `dicomtap central --config FILE` end to end, as an operator runs it: a real mosquitto with mutual TLS
 * (site PKI from pki/), the central in its own process over HTTPS with a certificate from
 * pki/make-central-cert, and a sensor (`dicomtap run --replay`) replaying samples/imaging-room.pcap. The API
 * then shows that sensor, every device and every finding the same capture gives `dicomtap analyze`; an
 * API token made with `central token add` reads it; SIGTERM stops the service cleanly (exit 0).
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { DeviceItem, FindingItem, Page } from "../../agent/central/http/queries.js";
import { Mosquitto, SitePki, freePort, removeDir, tempDir } from "../helpers/mosquitto.js";
import { requires } from "../helpers/requires.js";
import { runCli } from "../helpers/cli.js";
import { request } from "./helpers.js";
import { analyzeCapture } from "./seed.js";

const test = requires("mosquitto", "openssl");
const run = promisify(execFile);
const MAIN = new URL("../../agent/cli/main.js", import.meta.url).href;
const CAPTURE = "samples/imaging-room.pcap";

async function until<T>(what: string, get: () => Promise<T | null>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("central follows a replaying sensor through mosquitto and serves it over HTTPS; SIGTERM stops it", async (t) => {
  const dir = tempDir("dicomtap-central-svc-");
  const pki = await SitePki.create(join(dir, "site"));
  const broker = await Mosquitto.start({ pki });
  try {
    await run(resolve("pki/make-central-cert"), [pki.caDir, join(dir, "https"), "localhost", "127.0.0.1"]);
    const port = await freePort();
    const centralConfig = join(dir, "central.json");
    writeFileSync(
      centralConfig,
      JSON.stringify({
        central: {
          listen: `127.0.0.1:${port}`,
          tls: { cert: join(dir, "https", "central.crt"), key: join(dir, "https", "central.key") },
          store: { path: join(dir, "state", "central.db") },
          clientId: "central-test",
        },
        broker: { url: broker.url(), ca: pki.ca, cert: pki.console.cert, key: pki.console.key },
      }),
    );
    const added = runCli(["central", "token", "add", "ci", "--role", "viewer", "--config", centralConfig]);
    t.is(added.status, 0, added.stderr);
    const token = added.stdout.trimEnd().split("\n").at(-1)!;

    const code = `import { main } from ${JSON.stringify(MAIN)}; process.exitCode = await main(process.argv.slice(1));`;
    const central = spawn(
      process.execPath,
      ["--input-type=module", "-e", code, "--", "central", "--config", centralConfig],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    central.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => central.once("exit", (c) => r(c)));
    try {
      const ca = readFileSync(pki.ca);
      const base = `https://localhost:${port}`;
      const auth = { Authorization: `Bearer ${token}` };
      await until("the central to serve", async () =>
        (await request(`${base}/api/v1/status`, { headers: auth, ca })).status === 200 ? true : null,
      );
      t.regex(stderr, new RegExp(`serving https://127\\.0\\.0\\.1:${port}`));

      // The sensor: its own certificate, the broker, and a replay of the sample capture.
      const sensorPki = await pki.sensor("ct-room-1");
      const sensorConfig = join(dir, "sensor.json");
      writeFileSync(
        sensorConfig,
        JSON.stringify({
          sensor: { id: "ct-room-1", site: pki.site },
          store: { path: join(dir, "sensor.db") },
          broker: { url: broker.url(), ca: pki.ca, cert: sensorPki.cert, key: sensorPki.key },
        }),
      );
      await run(
        process.execPath,
        [resolve("bin/dicomtap.js"), "run", "--config", sensorConfig, "--replay", resolve(CAPTURE)],
        {
          timeout: 120_000,
        },
      );

      const report = analyzeCapture(CAPTURE);
      const findings = await until("every finding", async () => {
        const r = await request(`${base}/api/v1/findings?limit=1000`, { headers: auth, ca });
        const page = r.json<Page<FindingItem>>();
        return page.total >= report.findings.length ? page : null;
      });
      t.deepEqual(findings.items.map((f) => f.id).sort(), report.findings.map((f) => f.id).sort());
      t.true(findings.items.every((f) => f.site === pki.site && f.sensor === "ct-room-1"));
      const devices = (await request(`${base}/api/v1/devices?limit=1000`, { headers: auth, ca })).json<
        Page<DeviceItem>
      >();
      t.deepEqual(devices.items.map((d) => d.id).sort(), report.devices.map((d) => d.id).sort());
      const sensors = (await request(`${base}/api/v1/sensors`, { headers: auth, ca })).json<{
        items: Array<{ sensor: string }>;
      }>();
      t.deepEqual(
        sensors.items.map((s) => s.sensor),
        ["ct-room-1"],
      );
      const status = (await request(`${base}/api/v1/status`, { headers: auth, ca })).json<{
        service: { ingest: { connected: boolean }; lifecycle: { runs: number } };
      }>();
      t.true(status.service.ingest.connected);
      // The lifecycle timer runs (its first pass one interval after start, after the catch-up).
      t.is(typeof status.service.lifecycle.runs, "number");
      // A viewer token reads, and may not act.
      const act = await request(`${base}/api/v1/findings/${findings.items[0]!.pk}/actions`, {
        method: "POST",
        headers: auth,
        body: { action: "acknowledge" },
        ca,
      });
      t.is(act.status, 403);
    } finally {
      central.kill("SIGTERM");
      t.is(await exited, 0, stderr);
    }
    t.false(/password|dtc_/.test(stderr), "no secret in the service log");
  } finally {
    await broker.stop();
    removeDir(dir);
  }
});
