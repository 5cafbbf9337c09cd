// An agent restarted on the same store (reboot, crash, upgrade) does not make the console see findings
// go back nor known devices announced as new again: `dicomtap run --replay` twice on one store, through
// a real mosquitto over mutual TLS.
import { join } from "node:path";
import { runAgent } from "../../agent/agent/run.js";
import { validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import type { DeviceRecord, FindingRecord } from "../../agent/report/types.js";
import { Mosquitto, SitePki, removeDir, tempDir } from "../helpers/mosquitto.js";
import { Collector, until, type Received } from "../publish/console.js";
import { requires } from "../helpers/requires.js";

const test = requires("mosquitto", "openssl");

let dir = "";
let pki: SitePki;
let broker: Mosquitto;
let col: Collector;

test.before(async () => {
  dir = tempDir("dicomtap-restart-");
  pki = await SitePki.create(join(dir, "pki"));
  broker = await Mosquitto.start({ pki });
  col = await Collector.connect(broker.url(), pki, { clientId: "console-restart" });
});

test.after.always(async () => {
  await col?.close();
  await broker?.stop();
  removeDir(dir);
});

interface Kept {
  revision: number;
  finding: FindingRecord;
}

/** What a console keeps (agent/console/state.ts): the highest revision of each finding. */
function keep(msgs: Received[], into: Map<string, Kept>): void {
  for (const m of msgs) {
    const f = m.payload.finding as FindingRecord | undefined;
    if (!f) continue;
    const revision = m.payload.revision as number;
    const have = into.get(f.id);
    if (!have || have.revision < revision) into.set(f.id, { revision, finding: f });
  }
}

test.serial(
  "run twice on one store with one capture: no finding goes back, no device is new again",
  async (t) => {
    const file = "../shared/captures/nmap_dicom_ping_synthetic.pcap";
    const s = await pki.sensor("ct-room-2");
    const config: Config = validateConfig({
      sensor: { id: "ct-room-2", site: "st-marys" },
      store: { path: join(dir, "agent.db"), maxBytes: 64 << 20 },
      broker: { url: broker.url(), ca: pki.ca, cert: s.cert, key: s.key },
      health: { intervalSeconds: 3600 },
    });
    const root = "dicomtap/v1/st-marys/ct-room-2/";
    const mine = (from: number): Received[] => col.got.slice(from).filter((m) => m.topic.startsWith(root));
    const offlines = (): number =>
      col.got.filter((m) => m.topic === root + "status" && m.payload.state === "offline").length;
    const logs: string[] = [];

    await runAgent({ config, replay: file, log: () => {}, drainTimeoutMs: 10_000 });
    await until(() => offlines() === 1, 10_000);
    const run1 = mine(0);
    const kept = new Map<string, Kept>();
    keep(run1, kept);
    const newDevices1 = [...kept.values()].filter((k) => k.finding.rule === "inventory.new-device");
    t.true(newDevices1.length > 0, "the first run announces its devices");
    const devices1 = new Map(
      run1.filter((m) => m.payload.device).map((m) => [(m.payload.device as DeviceRecord).id, m]),
    );
    const first1 = new Map([...kept].map(([id, k]) => [id, structuredClone(k)]));

    const mark = col.got.length;
    await runAgent({ config, replay: file, log: (m) => logs.push(m), drainTimeoutMs: 10_000 });
    await until(() => offlines() === 2, 10_000);
    const run2 = mine(mark);
    t.true(
      logs.some((l) => l.startsWith(`restored ${devices1.size} devices`)),
      logs.join("\n"),
    );
    for (const m of run2) t.is(m.invalid, null, `${m.topic}: ${m.invalid}`);

    // No inventory.new-device finding is published again.
    t.deepEqual(
      run2.filter((m) => (m.payload.finding as FindingRecord | undefined)?.rule === "inventory.new-device"),
      [],
    );
    // Every finding message of the second run is newer than what the console kept, and not behind it.
    const findings2 = run2.filter((m) => m.payload.finding);
    t.true(findings2.length > 0, "the second run's counts reach the console");
    for (const m of findings2) {
      const f = m.payload.finding as FindingRecord;
      const before = first1.get(f.id);
      if (!before) continue;
      t.true((m.payload.revision as number) > before.revision, `${f.id}: revision grows`);
      t.true(f.count >= before.finding.count, `${f.id}: count ${f.count} < ${before.finding.count}`);
      t.true(f.firstSeen <= before.finding.firstSeen, `${f.id}: firstSeen moved later`);
    }
    keep(run2, kept);
    for (const [id, k] of first1) {
      const now = kept.get(id)!;
      t.is(now.finding.firstSeen, k.finding.firstSeen, `${id}: firstSeen kept`);
      // The capture was seen twice: counts are the stored ones plus those of the second run.
      if (k.finding.rule !== "inventory.new-device") t.is(now.finding.count, 2 * k.finding.count, id);
    }
    // Known devices are not announced again (the same capture changes nothing visible about them).
    t.deepEqual(
      run2.filter((m) => m.payload.device).map((m) => (m.payload.device as DeviceRecord).id),
      [],
    );
  },
);
