/**
 * systemd/dicomtap-central.service: `systemd-analyze verify` accepts it, `systemd-analyze security
 * --offline=true` rates its exposure at most 2.0 (like the sensor's unit), and it runs as its own user
 * with no capability at all, a strict read-only system and its store in StateDirectory.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { defaultCentral } from "../../agent/config/config.js";
const run = promisify(execFile);
const UNIT = resolve("systemd/dicomtap-central.service");

test("systemd-analyze verify accepts the central unit", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dtunit-"));
  try {
    // verify checks that ExecStart's binary exists: use this machine's node.
    const path = join(dir, "dicomtap-central.service");
    writeFileSync(
      path,
      readFileSync(UNIT, "utf8").replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `),
    );
    const { stdout, stderr } = await run("systemd-analyze", ["verify", path]);
    t.is((stdout + stderr).trim(), "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("systemd-analyze security --offline=true: exposure at most 2.0", async (t) => {
  const res = await run("systemd-analyze", ["security", "--offline=true", "--no-pager", UNIT]).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
  const m = /Overall exposure level for dicomtap-central\.service: (\d+\.\d)/.exec(res.stdout);
  t.truthy(m, res.stdout + res.stderr);
  t.log(`exposure ${m![1]}`);
  t.true(Number(m![1]) <= 2.0);
});

test("its own user, no capabilities, strict sandbox, the store in its state directory", (t) => {
  const text = readFileSync(UNIT, "utf8");
  const get = (k: string): string[] =>
    [...text.matchAll(new RegExp(`^${k}=(.*)$`, "gm"))].map((m) => m[1]!.trim());
  t.deepEqual(get("User"), ["dicomtap-central"]);
  t.deepEqual(get("CapabilityBoundingSet"), [""]);
  t.deepEqual(get("AmbientCapabilities"), [""]);
  t.deepEqual(get("NoNewPrivileges"), ["yes"]);
  t.deepEqual(get("ProtectSystem"), ["strict"]);
  t.deepEqual(get("StateDirectory"), ["dicomtap-central"]);
  t.deepEqual(get("Type"), ["notify"]);
  t.false(get("RestrictAddressFamilies")[0]!.includes("AF_PACKET"));
  t.regex(get("ExecStart")[0]!, / central --config \/etc\/dicomtap\/central\.json$/);
  // The default store path is inside the state directory, the only place the unit lets it write.
  t.true(defaultCentral().store.path.startsWith("/var/lib/dicomtap-central/"));
  t.regex(readFileSync(resolve("systemd/dicomtap-central.sysusers"), "utf8"), /^u dicomtap-central /m);
});
