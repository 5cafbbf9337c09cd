// The agent killed with SIGKILL in the middle of publishing, then restarted: nothing lost.
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Mosquitto, SitePki, removeDir, tempDir } from "../helpers/mosquitto.js";
import { Collector, until } from "./console.js";
import { requires } from "../helpers/requires.js";

const test = requires("mosquitto", "openssl");

const CHILD = fileURLToPath(new URL("./fixtures/agent-child.js", import.meta.url));

let dir = "";
let pki: SitePki;
let broker: Mosquitto;

test.before(async () => {
  dir = tempDir("dicomtap-crash-");
  pki = await SitePki.create(join(dir, "pki"));
  broker = await Mosquitto.start({ pki });
});

test.after.always(async () => {
  await broker?.stop();
  removeDir(dir);
});

function child(config: object): { proc: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: string[] = [];
  let buf = "";
  proc.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return { proc, lines, exited };
}

test("SIGKILL mid-publish, restart: every committed finding arrives (duplicates allowed), in order", async (t) => {
  const s = await pki.sensor("ct-room-1");
  const db = join(dir, "agent.db");
  const brokerCfg = { url: broker.url(), ca: pki.ca, cert: s.cert, key: s.key };
  const col = await Collector.connect(broker.url(), pki, { clientId: "console-crash" });

  const first = child({ db, broker: brokerCfg, start: 0, count: 20000 });
  // Kill it while findings are still being committed and published.
  await until(() => col.findingIds().ids.length >= 100, 20_000, "publishing under way");
  first.proc.kill("SIGKILL");
  await first.exited;
  const committedSeen = first.lines.filter((l) => l.startsWith("committed")).length;

  // The broker sends the last will: the sensor is offline.
  await until(
    () => col.got.some((m) => m.topic.endsWith("/status") && m.payload.state === "offline"),
    10_000,
    "last will",
  );

  // Ground truth: what the killed process committed (the DB may hold commits it had no time to print).
  const rdb = new Database(db, { readonly: true });
  const committed = (rdb.prepare("SELECT id FROM findings ORDER BY id").all() as { id: string }[]).map(
    (r) => r.id,
  );
  const pending = (rdb.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number }).n;
  rdb.close();
  t.true(committed.length >= committedSeen);
  t.true(committed.length < 20000, "killed before the end");
  t.true(pending > 0, "messages were unacknowledged at the kill");
  t.log(
    `committed ${committed.length}, unacknowledged at the kill ${pending}, received ${col.findingIds().ids.length}`,
  );

  const second = child({ db, broker: brokerCfg, start: 0, count: 0 });
  t.is(await second.exited, 0);
  t.true(second.lines.includes("drained"));

  await until(() => col.findingIds().ids.length >= committed.length, 10_000, "all committed findings");
  const { ids, duplicates } = col.findingIds();
  // Every finding is new: all carry the store's first revision.
  const rev = ids[0]?.split("/").pop() ?? "?";
  t.deepEqual(
    ids,
    committed.map((id) => `st-marys/ct-room-1/finding/${id}/${rev}`),
  );
  t.log(`duplicates: ${duplicates}`);
  for (const m of col.got) t.is(m.invalid, null);
  await col.close();
});
