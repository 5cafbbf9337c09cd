// The system probes of the health payload against fixture /proc and /sys trees written to a temp dir,
// and the disk of a real temp directory through statfs (compared with df's view of it).
import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  CpuLoad,
  cpuPercent,
  longestMount,
  parseLoadavg,
  parseMeminfo,
  parseMountinfo,
  parseProcStat,
  readDisk,
  readLoadAverage1m,
  readMemory,
  readTemperatureC,
} from "../../agent/health/probes.js";

/** A temp dir with the given files (path → content; a trailing "/" makes a directory). */
function tree(t: { teardown: (f: () => void) => void }, files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), "dicomtap-probes-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  write(root, files);
  return root;
}

function write(root: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    const path = join(root, p);
    if (p.endsWith("/")) {
      mkdirSync(path, { recursive: true });
    } else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  }
}

//                user nice system idle iowait irq softirq steal guest guest_nice
const STAT_1 = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1 2 3\n";
// +200 user (of which 50 guest, already inside user), +10 nice, +40 system, +600 idle, +50 iowait:
// busy 250 of 900 ticks.
const STAT_2 = "cpu  300 10 90 1400 100 0 0 0 50 0\ncpu0 150 5 45 700 50 0 0 0 25 0\nintr 1 2 3\n";

test("CPU percent from two /proc/stat samples; guest time is not counted twice", async (t) => {
  const proc = tree(t, { stat: STAT_1 });
  const cpu = new CpuLoad(proc, 0);
  t.is(await cpu.percent(), null, "no previous sample and no in-call sample");
  write(proc, { stat: STAT_2 });
  t.is(await cpu.percent(), 27.8); // 250 / 900
  t.is(await cpu.percent(), null, "no time passed between the samples");
  t.deepEqual(parseProcStat(STAT_1), { busy: 150, total: 1000 });
});

test("CPU percent: fewer columns (old kernels), decreasing iowait, garbage", (t) => {
  t.deepEqual(parseProcStat("cpu  10 0 10 80\n"), { busy: 20, total: 100 });
  t.is(parseProcStat("cpu0 1 2 3 4\n"), null, "no aggregate line");
  t.is(parseProcStat("cpu  a b c d\n"), null);
  t.is(parseProcStat(""), null);
  // iowait may go backwards (proc.rst): the percentage stays within 0–100.
  const a = parseProcStat("cpu  100 0 0 100 100 0 0 0\n")!;
  const b = parseProcStat("cpu  100 0 0 150 0 0 0 0\n")!;
  t.is(cpuPercent(a, b), null, "total went back: no reading");
  const c = parseProcStat("cpu  200 0 0 300 0 0 0 0\n")!;
  t.is(cpuPercent(b, c), 40);
});

test("CPU percent: the first call samples inside the call; the real /proc gives 0–100", async (t) => {
  const unchanged = tree(t, { stat: STAT_1 });
  t.is(await new CpuLoad(unchanged, 20).percent(), null, "two equal samples");
  const p = await new CpuLoad("/proc", 100).percent();
  t.true(p !== null && p >= 0 && p <= 100, String(p));
  t.is(await new CpuLoad(join(unchanged, "nope"), 20).percent(), null, "no /proc/stat");
});

test("meminfo: used = MemTotal − MemAvailable; old kernels; unreadable → null", async (t) => {
  const proc = tree(t, {
    meminfo:
      "MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     600 kB\nBuffers:   50 kB\nHugePages_Total:       0\n",
  });
  t.deepEqual(await readMemory(proc), { totalBytes: 1024000, usedBytes: 409600, availableBytes: 614400 });
  t.deepEqual(parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"), {
    totalBytes: 1024000,
    usedBytes: 600 * 1024,
    availableBytes: 400 * 1024,
  });
  t.is(parseMeminfo("MemFree: 100 kB\n"), null);
  t.is(await readMemory(tree(t, { "meminfo/": "" })), null, "a directory cannot be read as a file");
  t.is(await readMemory(tree(t)), null, "missing");
  const real = await readMemory("/proc");
  t.true(real !== null && real.totalBytes > 0 && real.usedBytes + real.availableBytes === real.totalBytes);
});

test("loadavg: the 1-minute field", async (t) => {
  t.is(await readLoadAverage1m(tree(t, { loadavg: "0.20 0.18 0.12 1/80 11206\n" })), 0.2);
  t.is(parseLoadavg("12.05 1 1 1/1 1"), 12.05);
  t.is(parseLoadavg(""), null);
  t.is(parseLoadavg("x 1 1"), null);
  t.is(await readLoadAverage1m(tree(t)), null);
});

test("temperature: the CPU's thermal zone in millidegrees wins over others", async (t) => {
  const sys = tree(t, {
    "class/thermal/thermal_zone0/type": "iwlwifi_1\n",
    "class/thermal/thermal_zone0/temp": "40000\n",
    "class/thermal/thermal_zone1/type": "acpitz\n",
    "class/thermal/thermal_zone1/temp": "27800\n",
    "class/thermal/thermal_zone2/type": "x86_pkg_temp\n",
    "class/thermal/thermal_zone2/temp": "51234\n",
    "class/thermal/cooling_device0/type": "Processor\n",
  });
  t.is(await readTemperatureC(sys), 51.2);
});

test("temperature: Raspberry Pi cpu-thermal; acpitz when nothing better; hwmon fallback", async (t) => {
  t.is(
    await readTemperatureC(
      tree(t, {
        "class/thermal/thermal_zone0/type": "cpu-thermal\n",
        "class/thermal/thermal_zone0/temp": "48692\n",
      }),
    ),
    48.7,
  );
  t.is(
    await readTemperatureC(
      tree(t, {
        "class/thermal/thermal_zone0/type": "iwlwifi_1\n",
        "class/thermal/thermal_zone0/temp": "39000\n",
        "class/thermal/thermal_zone1/type": "acpitz\n",
        "class/thermal/thermal_zone1/temp": "27800\n",
      }),
    ),
    27.8,
  );
  t.is(
    await readTemperatureC(
      tree(t, {
        "class/hwmon/hwmon0/name": "nvme\n",
        "class/hwmon/hwmon0/temp1_input": "33850\n",
        "class/hwmon/hwmon1/name": "coretemp\n",
        "class/hwmon/hwmon1/temp1_input": "45000\n",
      }),
    ),
    45,
  );
});

test("temperature: no sensor, unreadable or implausible → null", async (t) => {
  t.is(await readTemperatureC(tree(t)), null, "no /sys/class at all (a VM)");
  t.is(await readTemperatureC(tree(t, { "class/thermal/": "", "class/hwmon/": "" })), null, "empty classes");
  t.is(
    await readTemperatureC(
      tree(t, {
        "class/thermal/thermal_zone0/type": "cpu-thermal\n",
        "class/thermal/thermal_zone0/temp/": "",
      }),
    ),
    null,
    "temp cannot be read",
  );
  t.is(
    await readTemperatureC(
      tree(t, {
        "class/thermal/thermal_zone0/type": "soc\n",
        "class/thermal/thermal_zone0/temp": "-274000\n",
      }),
    ),
    null,
  );
  t.is(
    await readTemperatureC(
      tree(t, { "class/thermal/thermal_zone0/type": "soc\n", "class/thermal/thermal_zone0/temp": "hot\n" }),
    ),
    null,
  );
  // An unreadable zone does not hide a readable one.
  t.is(
    await readTemperatureC(
      tree(t, {
        "class/thermal/thermal_zone0/type": "cpu-thermal\n",
        "class/thermal/thermal_zone0/temp/": "",
        "class/thermal/thermal_zone1/type": "acpitz\n",
        "class/thermal/thermal_zone1/temp": "30000\n",
      }),
    ),
    30,
  );
});

test("mountinfo: mount points unescaped; the longest prefix on a path boundary wins", (t) => {
  const mi = [
    "21 26 0:20 / /proc rw,relatime - proc proc rw",
    "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
    "30 26 254:1 / /var rw,relatime shared:1 - ext4 /dev/vdb rw",
    "31 30 254:2 / /var/lib/dicom\\040tap rw,relatime - ext4 /dev/vdc rw",
    "32 30 254:3 / /var/lib/dicomtap-old rw,relatime - ext4 /dev/vdd rw",
    "",
  ].join("\n");
  const m = parseMountinfo(mi);
  t.deepEqual(m, ["/proc", "/", "/var", "/var/lib/dicom tap", "/var/lib/dicomtap-old"]);
  t.is(longestMount(m, "/var/lib/dicom tap/db"), "/var/lib/dicom tap");
  t.is(longestMount(m, "/var/lib/dicomtap"), "/var", "not /var/lib/dicomtap-old: prefix on a boundary");
  t.is(longestMount(m, "/var"), "/var");
  t.is(longestMount(m, "/home/x"), "/");
  t.is(longestMount([], "/x"), null);
});

test("disk: statfs of a real temp directory, as df shows it; a store not created yet walks up", async (t) => {
  const dir = tree(t);
  const d = await readDisk(join(dir, "not", "yet", "s.db"), "/proc");
  t.truthy(d);
  const [size, avail, target] = execFileSync("df", ["-B1", "--output=size,avail,target", dir], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")[1]!
    .trim()
    .split(/\s+/);
  t.is(d!.mount, target ?? "?");
  t.is(d!.sizeBytes, Number(size));
  // Others write to the same disk meanwhile: available agrees within 1 %.
  t.true(Math.abs(d!.availableBytes - Number(avail)) <= d!.sizeBytes * 0.01);
  t.true(d!.usedBytes >= 0 && d!.usedBytes + d!.availableBytes <= d!.sizeBytes);
  t.true(dir.startsWith(d!.mount));
  // Without mountinfo, the sizes stay and the directory measured stands in for the mount point.
  const noMounts = await readDisk(join(dir, "s.db"), tree(t));
  t.is(noMounts?.sizeBytes, d!.sizeBytes);
  t.true(noMounts!.mount.endsWith(dir.split("/").pop()!));
});
