/**
 * `dicomtap plan --store DB` (issue 13): the plan from the baseline the agent keeps in its store equals the
 * plan made from the same traffic as captures, and a store with no baseline, or a damaged one, is refused
 * with the reason.
 */
import test from "ava";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAgent } from "../../agent/agent/run.js";
import { validateConfig } from "../../agent/config/config.js";
import type { Plan } from "../../agent/plan/types.js";
import { Store } from "../../agent/store/store.js";
import { runCli } from "../helpers/cli.js";

const qr = join("test", "fixtures", "lab", "qr.pcap");

test("plan --store: the agent's stored baseline gives the plan the capture gives", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-plan-store-"));
  const path = join(dir, "agent.db");
  const config = validateConfig({
    sensor: { id: "s1", site: "lab" },
    store: { path },
    policy: { learning: { days: 30 } },
  });
  await runAgent({ config, replay: qr, out: { write: () => {} }, log: () => {} });

  const fromStore = runCli(["plan", "--store", path, "--json", join(dir, "store.json")]);
  t.is(fromStore.status, 0, fromStore.stderr);
  const fromCapture = runCli(["plan", qr, "--json", join(dir, "capture.json")]);
  t.is(fromCapture.status, 0, fromCapture.stderr);
  const a = JSON.parse(readFileSync(join(dir, "store.json"), "utf8")) as Plan;
  const b = JSON.parse(readFileSync(join(dir, "capture.json"), "utf8")) as Plan;
  t.is(a.source.kind, "store");
  t.deepEqual(a.source.files, [path]);
  t.true(a.allowlists.length > 0);
  t.deepEqual(a.allowlists, b.allowlists);
  t.deepEqual(a.portsToClose, b.portsToClose);
  t.deepEqual(a.exposure, b.exposure);
  t.deepEqual(a.encryption, b.encryption);
});

test("plan --store: no store, no baseline, or a damaged one is refused with the reason", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-plan-store-bad-"));
  const missing = runCli(["plan", "--store", join(dir, "none.db")]);
  t.is(missing.status, 1);
  t.regex(missing.stderr, /no such store/);

  const path = join(dir, "empty.db");
  new Store({ path, maxBytes: 16 << 20, site: "lab", sensor: "s1" }).close();
  const empty = runCli(["plan", "--store", path]);
  t.is(empty.status, 1);
  t.regex(empty.stderr, /holds no baseline yet/);
  t.is(empty.stdout, "");
});
