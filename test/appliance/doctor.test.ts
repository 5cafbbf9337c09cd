/**
 * `dicomtap doctor` against real broken preconditions: a missing interface, an expired certificate, a
 * certificate of another sensor, an unreachable broker, a full disk (a tiny tmpfs, filled), an addressed
 * capture interface, one with IPv6 on or answering ARP; and a healthy setup with a real mosquitto that
 * passes. Root only (tmpfs mounts, veth interfaces, tcpdump), except the "silent" check on injected
 * /sys and /proc trees.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { checkCertificates, checkSilent, runDoctor, type CheckResult } from "../../agent/doctor/doctor.js";
import { validateConfig } from "../../agent/config/config.js";
import { freePort, Mosquitto, removeDir, SitePki, tempDir, type ClientPki } from "../helpers/mosquitto.js";
import { requires } from "../helpers/requires.js";

const run = promisify(execFile);
const gate = requires("root", "netns", "tcpdump", "mosquitto", "openssl");
const rootTest = gate.serial;

let dir = "";
let pki: SitePki;
let sensor: ClientPki;
let broker: Mosquitto;
/**
 * A veth end in this namespace, up, without any address, IPv6 or ARP replies: what a mirror port should
 * look like (scripts/silence-capture-interface's settings).
 */
const IF = `dtd${process.pid % 100000}`;

test.before(async () => {
  if (!gate.ok) return;
  dir = tempDir("dtdoctor-");
  pki = await SitePki.create(join(dir, "pki"));
  sensor = await pki.sensor("ct-1");
  broker = await Mosquitto.start({ pki });
  await run("ip", ["link", "add", IF, "type", "veth", "peer", "name", `${IF}p`]);
  for (const i of [IF, `${IF}p`]) {
    await run("sysctl", ["-qw", `net.ipv6.conf.${i}.disable_ipv6=1`]);
    await run("ip", ["link", "set", i, "up"]);
  }
  await run("sysctl", ["-qw", `net.ipv4.conf.${IF}.arp_ignore=8`]);
});

test.after.always(async () => {
  if (!gate.ok) return;
  await broker?.stop();
  await run("ip", ["link", "del", IF]).catch(() => undefined);
  await run("umount", [join(dir, "tiny")]).catch(() => undefined);
  removeDir(dir);
});

function writeConfig(
  name: string,
  over: { iface?: string; url?: string; cert?: ClientPki; store?: string; sensorId?: string },
): string {
  const c = over.cert ?? sensor;
  const cfg = {
    sensor: { id: over.sensorId ?? "ct-1", site: "st-marys" },
    capture: { interface: over.iface ?? IF, filter: "tcp" },
    store: { path: over.store ?? join(dir, "store", "dicomtap.db") },
    broker: { url: over.url ?? broker.url(), ca: pki.ca, cert: c.cert, key: c.key },
  };
  validateConfig(cfg);
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

const by = (rs: CheckResult[], check: string): CheckResult => rs.find((r) => r.check === check)!;
const doctor = (configPath: string) => runDoctor({ configPath, brokerTimeoutMs: 3000, captureProbeMs: 1000 });

rootTest("a healthy appliance passes every check (the clock may be unknown here)", async (t) => {
  const rs = await doctor(writeConfig("good", {}));
  for (const r of rs) t.log(`${r.status} ${r.check}: ${r.message}`);
  for (const name of ["config", "interface", "silent", "capture", "disk", "certificates", "broker"]) {
    t.is(by(rs, name).status, "ok", `${name}: ${by(rs, name).message}`);
  }
  t.not(by(rs, "clock").status, "skip");
});

rootTest("a missing capture interface fails, and silent and capture are skipped", async (t) => {
  const rs = await doctor(writeConfig("noif", { iface: "dtnope0" }));
  t.is(by(rs, "interface").status, "fail");
  t.regex(by(rs, "interface").message, /dtnope0 does not exist/);
  t.truthy(by(rs, "interface").fix);
  t.is(by(rs, "silent").status, "skip");
  t.is(by(rs, "capture").status, "skip");
});

rootTest("an interface with an address is not silent; one that is down fails", async (t) => {
  await run("ip", ["addr", "add", "192.0.2.77/32", "dev", IF]);
  try {
    const rs = await doctor(writeConfig("addr", {}));
    t.is(by(rs, "interface").status, "ok");
    t.is(by(rs, "silent").status, "fail");
    t.regex(by(rs, "silent").message, /192\.0\.2\.77/);
    t.regex(
      by(rs, "silent").fix ?? "",
      new RegExp(`192\\.0\\.2\\.77: if it is the mirror port .*silence-capture-interface --force ${IF} `),
    );
  } finally {
    await run("ip", ["addr", "del", "192.0.2.77/32", "dev", IF]);
  }
  await run("ip", ["link", "set", IF, "down"]);
  try {
    const rs = await doctor(writeConfig("down", {}));
    t.is(by(rs, "interface").status, "fail");
    t.regex(by(rs, "interface").message, /administratively down/);
  } finally {
    await run("ip", ["link", "set", IF, "up"]);
  }
});

rootTest("IPv6 on the capture interface, or ARP replies from it, fail the silent check", async (t) => {
  await run("sysctl", ["-qw", `net.ipv6.conf.${IF}.disable_ipv6=0`]);
  try {
    const rs = await doctor(writeConfig("v6", {}));
    t.is(by(rs, "silent").status, "fail");
    t.regex(by(rs, "silent").message, /IPv6 is enabled on it: .*router solicitations/);
    t.regex(
      by(rs, "silent").fix ?? "",
      new RegExp(`^sudo /opt/dicomtap/scripts/silence-capture-interface ${IF} `),
    );
  } finally {
    await run("sysctl", ["-qw", `net.ipv6.conf.${IF}.disable_ipv6=1`]);
  }
  await run("sysctl", ["-qw", `net.ipv4.conf.${IF}.arp_ignore=0`]);
  try {
    let rs = await doctor(writeConfig("arp", {}));
    t.is(by(rs, "silent").status, "fail");
    t.regex(by(rs, "silent").message, /answers ARP requests .*arp_ignore=0/);
    // IFF_NOARP stops ARP on the interface as well.
    await run("ip", ["link", "set", IF, "arp", "off"]);
    rs = await doctor(writeConfig("noarp", {}));
    t.is(by(rs, "silent").status, "ok", by(rs, "silent").message);
    t.regex(by(rs, "silent").message, /NOARP/);
  } finally {
    await run("ip", ["link", "set", IF, "arp", "on"]);
    await run("sysctl", ["-qw", `net.ipv4.conf.${IF}.arp_ignore=8`]);
  }
});

/** A /sys/class/net and /proc/sys/net of one interface, as checkSilent reads them. */
function fakeNet(over: { flags?: string; ipv6?: string | null; arpAll?: string; arpOwn?: string }): {
  sys: string;
  proc: string;
  done(): void;
} {
  const d = mkdtempSync(join(tmpdir(), "dtsilent-"));
  const put = (p: string, v: string): void => {
    mkdirSync(dirname(join(d, p)), { recursive: true });
    writeFileSync(join(d, p), v + "\n");
  };
  put("sys/dtfake0/flags", over.flags ?? "0x1003");
  put("proc/ipv4/conf/all/arp_ignore", over.arpAll ?? "0");
  put("proc/ipv4/conf/dtfake0/arp_ignore", over.arpOwn ?? "8");
  if (over.ipv6 !== null) put("proc/ipv6/conf/dtfake0/disable_ipv6", over.ipv6 ?? "1");
  return {
    sys: join(d, "sys"),
    proc: join(d, "proc"),
    done: () => rmSync(d, { recursive: true, force: true }),
  };
}

test("the silent check reads the namespace's /sys and /proc: IPv6, arp_ignore (the larger of all and the interface), NOARP", (t) => {
  const cases: [string, Parameters<typeof fakeNet>[0], CheckResult["status"], RegExp][] = [
    ["silenced", {}, "ok", /no address, IPv6 off, no ARP replies \(arp_ignore=8\)/],
    ["no IPv6 in the kernel", { ipv6: null }, "ok", /no IPv6 in this kernel/],
    ["IPv6 on", { ipv6: "0" }, "fail", /IPv6 is enabled on it/],
    ["arp_ignore 0", { arpOwn: "0" }, "fail", /arp_ignore=0/],
    ["all=8 covers the interface", { arpAll: "8", arpOwn: "0" }, "ok", /arp_ignore=8/],
    ["1 answers only for the interface's own addresses (none)", { arpOwn: "1" }, "ok", /arp_ignore=1/],
    ["3 answers for every global address", { arpAll: "3", arpOwn: "0" }, "fail", /arp_ignore=3/],
    ["NOARP", { flags: "0x1083", arpOwn: "0" }, "ok", /NOARP/],
  ];
  for (const [what, over, status, msg] of cases) {
    const f = fakeNet(over);
    try {
      const r = checkSilent("dtfake0", f.sys, f.proc);
      t.is(r.status, status, `${what}: ${r.message}`);
      t.regex(r.message, msg, what);
      t.is(r.fix === null, status === "ok", what);
    } finally {
      f.done();
    }
  }
  t.is(checkSilent("dtfake0", "/nonexistent", "/nonexistent").status, "skip");
});

rootTest("an expired certificate fails the certificate check and the broker refuses it", async (t) => {
  const expired = await pki.sensor("ct-1", ["--expired"]);
  const rs = await doctor(writeConfig("expired", { cert: expired }));
  t.is(by(rs, "certificates").status, "fail");
  t.regex(by(rs, "certificates").message, /expired on/);
  t.is(by(rs, "broker").status, "fail");
});

rootTest("a certificate close to expiry warns with the days left", (t) => {
  const cfg = validateConfig(
    JSON.parse(
      JSON.stringify({
        sensor: { id: "ct-1", site: "st-marys" },
        broker: { url: "mqtts://x", ca: pki.ca, cert: sensor.cert, key: sensor.key },
      }),
    ),
  );
  const soon = new Date(Date.now() + 820 * 86_400_000);
  const r = checkCertificates(cfg, soon);
  t.is(r.status, "warn");
  t.regex(r.message, /expires in \d days/);
});

rootTest("another sensor's certificate, or a key that does not match, fails", async (t) => {
  const other = await pki.sensor("mr-2");
  let rs = await doctor(writeConfig("other", { cert: other }));
  t.is(by(rs, "certificates").status, "fail");
  t.regex(by(rs, "certificates").message, /st-marys\/mr-2.*st-marys\/ct-1/);
  rs = await doctor(writeConfig("mismatch", { cert: { cert: other.cert, key: sensor.key } }));
  t.is(by(rs, "certificates").status, "fail");
  t.regex(by(rs, "certificates").message, /does not belong to the key/);
});

rootTest("an unreachable broker fails with what to check", async (t) => {
  const port = await freePort();
  const rs = await doctor(writeConfig("unreach", { url: `mqtts://127.0.0.1:${port}` }));
  t.is(by(rs, "certificates").status, "ok");
  t.is(by(rs, "broker").status, "fail");
  t.regex(by(rs, "broker").message, /ECONNREFUSED/);
  t.regex(by(rs, "broker").fix ?? "", /nothing listens/);
});

rootTest("a full disk (a tiny tmpfs, filled) fails the disk check", async (t) => {
  const tiny = join(dir, "tiny");
  mkdirSync(tiny, { recursive: true });
  await run("mount", ["-t", "tmpfs", "-o", "size=40m", "dtdoctor-tiny", tiny]);
  const store = join(tiny, "store", "dicomtap.db");
  const before = await doctor(writeConfig("disk", { store }));
  t.not(by(before, "disk").status, "fail", by(before, "disk").message);
  // Fill it: dd stops at ENOSPC (non-zero exit), leaving the filesystem full.
  await run("dd", ["if=/dev/zero", `of=${join(tiny, "fill")}`, "bs=1M", "count=64"]).catch(() => undefined);
  const after = await doctor(writeConfig("disk", { store }));
  t.is(by(after, "disk").status, "fail");
  t.regex(by(after, "disk").message, /only 0\.0 MiB free/);
});

rootTest("the command prints one line per check and exits 1 when one fails", async (t) => {
  const main = new URL("../../agent/cli/main.js", import.meta.url).pathname;
  const cfg = writeConfig("cli", { iface: "dtnope0" });
  const code = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(["doctor", "--config", ${JSON.stringify(cfg)}]);`;
  const res = await run(process.execPath, ["--input-type=module", "-e", code]).catch(
    (e: { code: number; stdout: string }) => e,
  );
  t.is((res as { code?: number }).code, 1);
  const lines = res.stdout.trim().split("\n");
  t.is(lines.length, 9, res.stdout);
  t.regex(lines[1]!, /^\[FAIL\] interface: .*dtnope0.* -> fix: /);
  t.regex(lines[2]!, /^\[skip\] silent: /);
  t.regex(lines[8]!, /doctor: 1 check\(s\) failed/);
  // A broken config is one failed line, not a stack trace.
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ sensor: { id: "a/b", site: "s" } }));
  const res2 = await run(process.execPath, [
    "--input-type=module",
    "-e",
    code.replace(JSON.stringify(cfg), JSON.stringify(bad)),
  ]).catch((e: { code: number; stdout: string }) => e);
  t.is((res2 as { code?: number }).code, 1);
  t.regex(res2.stdout, /^\[FAIL\] config: sensor\.id: .* -> fix: /);
});
