// `dicomtap run --replay` of the lab captures publishes, over mutual TLS to a real mosquitto, the same
// devices and findings that `dicomtap analyze` reports for the same file.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { runAgent } from "../../agent/agent/run.js";
import { validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { Store } from "../../agent/store/store.js";
import { Mosquitto, SitePki, removeDir, tempDir } from "../helpers/mosquitto.js";
import { Collector, until } from "../publish/console.js";
import { schemaErrors } from "../publish/schemas.js";
import { requires } from "../helpers/requires.js";

const test = requires("mosquitto", "openssl");

const LAB = "test/fixtures/lab";
const captures = [
  ...readdirSync(LAB)
    .filter((f) => f.endsWith(".pcap") || f.endsWith(".pcapng"))
    .map((f) => join(LAB, f)),
  "../shared/captures/nmap_dicom_ping_synthetic.pcap",
  "../shared/captures/tapirx_dicom_arq_2_get_testclient.pcap",
];

let dir = "";
let pki: SitePki;
let broker: Mosquitto;
let col: Collector;

test.before(async () => {
  dir = tempDir("dicomtap-run-");
  pki = await SitePki.create(join(dir, "pki"));
  broker = await Mosquitto.start({ pki });
  col = await Collector.connect(broker.url(), pki, { clientId: "console-run" });
});

test.after.always(async () => {
  await col?.close();
  await broker?.stop();
  removeDir(dir);
});

function sorted(entries: Array<[string, unknown]>): Array<[string, unknown]> {
  return entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function normal(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

/** The newest revision of each record published below `root` on `kind` topics, by record id. */
function latest(
  root: string,
  kind: "device" | "finding",
): Map<string, { revision: number; record: unknown }> {
  const out = new Map<string, { revision: number; record: unknown }>();
  for (const m of col.got) {
    if (!m.topic.startsWith(root)) continue;
    const rec = m.payload[kind] as { id: string } | undefined;
    if (!rec) continue;
    const revision = m.payload.revision as number;
    const have = out.get(rec.id);
    if (!have || have.revision < revision) out.set(rec.id, { revision, record: rec });
  }
  return out;
}

for (const [i, file] of captures.entries()) {
  const name = file.split("/").pop()!;
  test.serial(`run --replay ${name} publishes what analyze reports`, async (t) => {
    const sensorId = `lab-${i}`;
    const s = await pki.sensor(sensorId);
    const config: Config = validateConfig({
      sensor: { id: sensorId, site: "st-marys" },
      store: { path: join(dir, `${sensorId}.db`), maxBytes: 64 << 20 },
      broker: { url: broker.url(), ca: pki.ca, cert: s.cert, key: s.key },
      health: { intervalSeconds: 3600 },
    });
    const { report } = await analyzeFiles([file], { config });
    await runAgent({ config, replay: file, version: "0.1.0", log: () => {}, drainTimeoutMs: 10_000 });

    const root = `dicomtap/v1/st-marys/${sensorId}/`;
    // The agent returns once the broker acknowledged everything; the console may still be receiving.
    await until(
      () => col.got.some((m) => m.topic === root + "status" && m.payload.state === "offline"),
      10_000,
    );
    const devices = latest(root, "device");
    const findings = latest(root, "finding");
    t.deepEqual(
      sorted([...devices].map(([id, v]) => [id, v.record])),
      sorted(report.devices.map((d) => [d.id, normal(d)])),
    );
    t.deepEqual(
      sorted([...findings].map(([id, v]) => [id, v.record])),
      sorted(report.findings.map((f) => [f.id, normal(f)])),
    );
    const mine = col.got.filter((m) => m.topic.startsWith(root));
    t.true(
      mine.some((m) => m.topic === root + "health"),
      "a health message",
    );
    for (const m of mine) t.is(m.invalid, null, `${m.topic}: ${m.invalid}`);
    t.log(`${report.devices.length} devices, ${report.findings.length} findings, ${mine.length} messages`);
  });
}

test.serial("run --replay at capture speed and in print mode (no broker): the outbox is kept", async (t) => {
  const file = join(LAB, "echo.pcap");
  const config: Config = validateConfig({
    sensor: { id: "laptop", site: "st-marys" },
    store: { path: join(dir, "laptop.db"), maxBytes: 64 << 20 },
    health: { intervalSeconds: 3600 },
  });
  const { report } = await analyzeFiles([file], { config });
  const lines: string[] = [];
  await runAgent({
    config,
    replay: file,
    replaySpeed: "capture",
    out: { write: (l: string) => lines.push(l) },
    log: () => {},
  });
  const printed = lines.map((l) => JSON.parse(l) as { topic: string; payload: Record<string, unknown> });
  const findingIds = new Set(
    printed.filter((p) => p.topic.endsWith("/findings")).map((p) => (p.payload.finding as { id: string }).id),
  );
  t.deepEqual([...findingIds].sort(), report.findings.map((f) => f.id).sort());
  for (const p of printed) {
    const kind = p.topic.split("/")[4];
    const schema =
      kind === "devices" ? "device" : kind === "findings" ? "finding" : (kind as "status" | "health");
    t.is(schemaErrors(schema, p.payload), null);
  }
  t.is(printed[0]?.payload.state, "online");
  t.is(printed.at(-1)?.payload.state, "offline");
  // Nothing was acknowledged: every finding event is still in the outbox, and the newest message of
  // each device and of each finding's retained state (older retained ones are superseded).
  const store = new Store({
    path: config.store.path,
    maxBytes: 64 << 20,
    site: "st-marys",
    sensor: "laptop",
  });
  const retainedTopics = new Set(
    printed
      .filter(
        (p) =>
          p.topic.includes("/devices/") || p.topic.includes("/findings/") || p.topic.endsWith("/baseline"),
      )
      .map((p) => p.topic),
  );
  // The devices, the findings' states, and the baseline (issue 13).
  t.is(retainedTopics.size, report.devices.length + report.findings.length + 1);
  t.is(store.depth(), printed.filter((p) => p.topic.endsWith("/findings")).length + retainedTopics.size);
  store.close();
});
