/**
 * The unit in systemd/: `systemd-analyze verify` accepts it, `systemd-analyze security --offline=true`
 * rates its exposure at most 2.0, it grants exactly the capture capability, and the readiness/watchdog
 * path (SystemdNotifier → systemd/dicomtap-notify → $NOTIFY_SOCKET) delivers real datagrams.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { SystemdNotifier } from "../../agent/agent/sdnotify.js";
import { notifyReceiver as receiver } from "./lab.js";

const run = promisify(execFile);
const UNIT = resolve("systemd/dicomtap.service");
const HELPER = resolve("systemd/dicomtap-notify");

/** A copy of the unit whose ExecStart uses this machine's node (verify checks that the binary exists). */
function unitCopy(): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "dtunit-"));
  const text = readFileSync(UNIT, "utf8").replace(
    /^ExecStart=\/usr\/bin\/node /m,
    `ExecStart=${process.execPath} `,
  );
  const path = join(dir, "dicomtap.service");
  writeFileSync(path, text);
  return { dir, path };
}

test("systemd-analyze verify accepts the unit", async (t) => {
  const { dir, path } = unitCopy();
  try {
    const { stdout, stderr } = await run("systemd-analyze", ["verify", path]);
    // verify prints nothing for a clean unit; any line is a warning about it.
    t.is((stdout + stderr).trim(), "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("systemd-analyze security --offline=true: exposure at most 2.0", async (t) => {
  // --offline=true (systemd 252+) rates the unit file itself, without a running systemd.
  const res = await run("systemd-analyze", ["security", "--offline=true", "--no-pager", UNIT]).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
  const m = /Overall exposure level for dicomtap\.service: (\d+\.\d)/.exec(res.stdout);
  t.truthy(m, res.stdout + res.stderr);
  const exposure = Number(m![1]);
  t.log(`exposure ${exposure}`);
  t.true(exposure <= 2.0, `exposure ${exposure}`);
});

test("the unit grants CAP_NET_RAW only, keeps NoNewPrivileges, allows AF_PACKET, runs as dicomtap", (t) => {
  const text = readFileSync(UNIT, "utf8");
  const get = (k: string): string[] =>
    [...text.matchAll(new RegExp(`^${k}=(.*)$`, "gm"))].map((m) => m[1]!.trim());
  t.deepEqual(get("AmbientCapabilities"), ["CAP_NET_RAW"]);
  t.deepEqual(get("CapabilityBoundingSet"), ["CAP_NET_RAW"]);
  t.deepEqual(get("NoNewPrivileges"), ["yes"]);
  t.deepEqual(get("User"), ["dicomtap"]);
  t.deepEqual(get("Type"), ["notify"]);
  t.deepEqual(get("StateDirectory"), ["dicomtap"]);
  t.true(get("RestrictAddressFamilies")[0]!.split(/\s+/).includes("AF_PACKET"));
  t.deepEqual(get("ProtectSystem"), ["strict"]);
  t.true(get("WatchdogSec").length === 1);
  // The sysusers entry names the same user.
  t.regex(readFileSync(resolve("systemd/dicomtap.sysusers"), "utf8"), /^u dicomtap /m);
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const kind of ["path", "abstract"] as const) {
  test(`READY, STATUS and periodic WATCHDOG reach $NOTIFY_SOCKET (${kind} socket)`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "dtnotify-"));
    const address = kind === "path" ? join(dir, "notify") : `@dicomtap-test-${process.pid}-${Date.now()}`;
    const rx = await receiver(address);
    const n = new SystemdNotifier({
      env: {
        NOTIFY_SOCKET: address,
        WATCHDOG_USEC: "100000",
        WATCHDOG_PID: String(process.pid),
        PATH: process.env.PATH,
      },
      helper: HELPER,
    });
    try {
      t.true(n.enabled);
      t.is(n.watchdogIntervalMs, 50);
      n.ready("capturing on tap0");
      n.startWatchdog();
      await until(() => rx.lines.filter((l) => l === "WATCHDOG=1").length >= 3);
      t.deepEqual(rx.lines.slice(0, 2), ["READY=1", "STATUS=capturing on tap0"]);
      n.stopping();
      await n.close();
      await until(() => rx.lines.includes("STOPPING=1"));
    } finally {
      rx.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("outside systemd the notifier does nothing, and a watchdog meant for another PID is ignored", async (t) => {
  const off = new SystemdNotifier({ env: {}, helper: HELPER });
  t.false(off.enabled);
  t.is(off.watchdogIntervalMs, null);
  off.ready();
  await off.close();
  const other = new SystemdNotifier({
    env: { NOTIFY_SOCKET: "@nowhere-dicomtap", WATCHDOG_USEC: "100000", WATCHDOG_PID: "1" },
    helper: HELPER,
  });
  t.is(other.watchdogIntervalMs, null);
  await other.close();
});
