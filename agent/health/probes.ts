/**
 * The system part of the health payload, read from /proc, /sys and statfs(2) (issue 8, issue 10 "Health
 * must not stall capture"). systeminformation's fsSize and cpuTemperature shelled out with execSync (df,
 * cat, sensors) and stalled the event loop 55–400 ms per sample. Here every read is a libuv file-system
 * request (fs.promises) on the thread pool: the event loop only parses a few hundred bytes of text. No
 * probe ever spawns a process.
 *
 * Every probe is total: a missing or unreadable file, or text that does not parse, gives null (the
 * payload says "not available"), never an exception. The roots are injectable so tests can point them
 * at fixture trees.
 *
 * Kernel documentation: Documentation/filesystems/proc.rst (/proc/stat, /proc/meminfo, /proc/loadavg,
 * /proc/<pid>/mountinfo), Documentation/driver-api/thermal/sysfs-api.rst (thermal zones) and
 * Documentation/hwmon/sysfs-interface.rst (hwmon).
 */
import { readdir, readFile, realpath, statfs } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

export interface ProbeRoots {
  /** Default "/proc". */
  procRoot: string;
  /** Default "/sys". */
  sysRoot: string;
}

export const DEFAULT_ROOTS: ProbeRoots = { procRoot: "/proc", sysRoot: "/sys" };

export interface MemoryInfo {
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
}

export interface DiskInfo {
  mount: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
}

const text = (path: string): Promise<string | null> => readFile(path, "latin1").catch(() => null);

// ---------------------------------------------------------------------------------------------------
// CPU: /proc/stat

/** Cumulative CPU time of all CPUs, in USER_HZ ticks: the part spent working, and the whole. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/**
 * The aggregate "cpu" line of /proc/stat (proc.rst, "Miscellaneous kernel statistics in /proc/stat"):
 *
 *   cpu  user nice system idle iowait irq softirq steal guest guest_nice
 *
 * in USER_HZ since boot, summed over all CPUs. Older kernels print fewer columns (steal since 2.6.11,
 * guest since 2.6.24, guest_nice since 2.6.33); missing ones count as 0.
 * - guest and guest_nice are already included in user and nice (the kernel accounts a vCPU's time to
 *   both), so they are not added again.
 * - iowait is idle time (the CPU waits, it could run something else); proc.rst warns it is unreliable
 *   and can even decrease, which is why deltas are clamped in cpuPercent.
 * - steal (time the hypervisor gave to someone else) counts as busy, as systeminformation counted it.
 */
export function parseProcStat(s: string): CpuTimes | null {
  const line = s.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) return null;
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n) || n < 0)) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** The share of CPU time spent working between two samples, 0–100; null when no time passed. */
export function cpuPercent(prev: CpuTimes, next: CpuTimes): number | null {
  const total = next.total - prev.total;
  if (!(total > 0)) return null;
  const busy = Math.min(Math.max(next.busy - prev.busy, 0), total);
  return Math.round((busy / total) * 1000) / 10;
}

async function readCpuTimes(procRoot: string): Promise<CpuTimes | null> {
  const s = await text(join(procRoot, "stat"));
  return s === null ? null : parseProcStat(s);
}

/**
 * CPU load in percent since the previous call. The first call has no previous sample: it takes a short
 * one inside the call (an awaited timer, not a busy wait), or gives null when firstSampleMs is 0.
 */
export class CpuLoad {
  private prev: CpuTimes | null = null;

  constructor(
    private readonly procRoot: string,
    private readonly firstSampleMs: number,
  ) {}

  async percent(): Promise<number | null> {
    if (this.prev === null && this.firstSampleMs > 0) {
      this.prev = await readCpuTimes(this.procRoot);
      await new Promise((r) => setTimeout(r, this.firstSampleMs));
    }
    const next = await readCpuTimes(this.procRoot);
    const prev = this.prev;
    // An unreadable sample keeps the last good one, so the next reading covers the whole gap.
    if (next !== null) this.prev = next;
    return prev === null || next === null ? null : cpuPercent(prev, next);
  }
}

// ---------------------------------------------------------------------------------------------------
// Load average: /proc/loadavg

/** "0.20 0.18 0.12 1/80 11206": the first field is the 1-minute load average (proc.rst, /proc/loadavg). */
export function parseLoadavg(s: string): number | null {
  const first = s.trim().split(/\s+/)[0];
  if (first === undefined || !/^\d+(\.\d+)?$/.test(first)) return null;
  return Number(first);
}

export async function readLoadAverage1m(procRoot: string): Promise<number | null> {
  const s = await text(join(procRoot, "loadavg"));
  return s === null ? null : parseLoadavg(s);
}

// ---------------------------------------------------------------------------------------------------
// Memory: /proc/meminfo

/**
 * MemTotal and MemAvailable (proc.rst, "meminfo"; kB = KiB). MemAvailable is the kernel's own estimate
 * of what new programs can get without swapping (page cache and reclaimable slab included), so used =
 * total − available is what is really taken. Kernels before 3.14 lack it: MemFree + Buffers + Cached is
 * the old approximation.
 */
export function parseMeminfo(s: string): MemoryInfo | null {
  const kb = new Map<string, number>();
  for (const line of s.split("\n")) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]));
  }
  const total = kb.get("MemTotal");
  if (total === undefined) return null;
  let avail = kb.get("MemAvailable");
  if (avail === undefined) {
    const free = kb.get("MemFree");
    if (free === undefined) return null;
    avail = free + (kb.get("Buffers") ?? 0) + (kb.get("Cached") ?? 0);
  }
  avail = Math.min(avail, total);
  return { totalBytes: total * 1024, usedBytes: (total - avail) * 1024, availableBytes: avail * 1024 };
}

export async function readMemory(procRoot: string): Promise<MemoryInfo | null> {
  const s = await text(join(procRoot, "meminfo"));
  return s === null ? null : parseMeminfo(s);
}

// ---------------------------------------------------------------------------------------------------
// Disk: statfs(2) and /proc/self/mountinfo

/** mountinfo escapes space, tab, newline and backslash in paths as \ooo (octal). */
const unescapeMount = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * The mount points of /proc/<pid>/mountinfo (proc.rst, "/proc/<pid>/mountinfo"):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
 *
 * Field 5 is the mount point relative to the process's root.
 */
export function parseMountinfo(s: string): string[] {
  const out: string[] = [];
  for (const line of s.split("\n")) {
    const f = line.split(" ");
    if (f.length >= 5 && f[4]!.startsWith("/")) out.push(unescapeMount(f[4]!));
  }
  return out;
}

/** The mount point that holds `dir`: the longest one that is `dir` or a parent of it. */
export function longestMount(mounts: readonly string[], dir: string): string | null {
  let best: string | null = null;
  for (const m of mounts) {
    const under = dir === m || dir.startsWith(m.endsWith("/") ? m : m + "/");
    if (under && (best === null || m.length > best.length)) best = m;
  }
  return best;
}

/** The store's directory, or its nearest existing ancestor (the store may not exist yet), resolved. */
async function existingDir(storePath: string): Promise<string | null> {
  let dir = resolve(dirname(storePath));
  for (;;) {
    const real = await realpath(dir).catch(() => null);
    if (real !== null) return real;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/**
 * The filesystem that holds the store file, as df shows it: size = blocks × bsize, available = what an
 * unprivileged writer may still use (bavail), used = blocks − bfree (the root-reserved blocks are neither
 * used nor available, as in df). The mount point comes from mountinfo; when that cannot be read, the
 * directory measured stands in for it.
 */
export async function readDisk(storePath: string, procRoot: string): Promise<DiskInfo | null> {
  const dir = await existingDir(storePath);
  if (dir === null) return null;
  const [st, mi] = await Promise.all([
    statfs(dir).catch(() => null),
    text(join(procRoot, "self", "mountinfo")),
  ]);
  if (st === null) return null;
  const b = st.bsize;
  return {
    mount: (mi === null ? null : longestMount(parseMountinfo(mi), dir)) ?? dir,
    sizeBytes: st.blocks * b,
    usedBytes: Math.max(st.blocks - st.bfree, 0) * b,
    availableBytes: st.bavail * b,
  };
}

// ---------------------------------------------------------------------------------------------------
// Temperature: /sys/class/thermal and /sys/class/hwmon

/** Zone types and hwmon names that measure the CPU or SoC die (Raspberry Pi, Intel, AMD, common ARM). */
const CPU_SENSOR =
  /^(cpu[-_ ]?thermal|cpu|x86_pkg_temp|soc[-_ ]?thermal|soc|coretemp|k10temp|zenpower|cpu\d*[-_].*|.*[-_]cpu)$/i;

/** Sensors that may sit on any board but say nothing about the CPU: used only when nothing else is. */
const UNRELATED = /^(iwlwifi.*|ath\d+.*|nvme|acpi_?fan|battery|BAT\d|.*wifi.*)$/i;

/** Thermal and hwmon temperatures are millidegrees Celsius; a reading outside this range is no reading. */
const MIN_MILLI_C = -60_000;
const MAX_MILLI_C = 200_000;

interface Sensor {
  label: string;
  milliC: number;
}

async function sensor(labelPath: string, tempPath: string): Promise<Sensor | null> {
  const [label, t] = await Promise.all([text(labelPath), text(tempPath)]);
  const raw = t?.trim();
  if (raw === undefined || !/^-?\d+$/.test(raw)) return null;
  const milliC = Number(raw);
  if (milliC < MIN_MILLI_C || milliC > MAX_MILLI_C) return null;
  return { label: label?.trim() ?? "", milliC };
}

async function listSensors(dir: string, entry: RegExp, label: string, temp: string): Promise<Sensor[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const picked = names
    .filter((n) => entry.test(n))
    .sort((a, b) => Number(a.replace(/\D+/g, "")) - Number(b.replace(/\D+/g, "")));
  const read = await Promise.all(picked.map((n) => sensor(join(dir, n, label), join(dir, n, temp))));
  return read.filter((s): s is Sensor => s !== null);
}

/**
 * The CPU/SoC temperature in °C (one decimal), or null where the board has none (most VMs). Thermal
 * zones first (the Pi's "cpu-thermal", Intel's "x86_pkg_temp", ARM SoCs' "soc-thermal"), then hwmon's
 * temp1_input (coretemp, k10temp). A sensor of the CPU wins over any other; otherwise the first zone that
 * is not known to measure something else (ACPI's "acpitz" on PCs), then the first hwmon.
 */
export async function readTemperatureC(sysRoot: string): Promise<number | null> {
  const [zones, hwmons] = await Promise.all([
    listSensors(join(sysRoot, "class", "thermal"), /^thermal_zone\d+$/, "type", "temp"),
    listSensors(join(sysRoot, "class", "hwmon"), /^hwmon\d+$/, "name", "temp1_input"),
  ]);
  const all = [...zones, ...hwmons];
  const best =
    all.find((s) => CPU_SENSOR.test(s.label)) ??
    zones.find((s) => !UNRELATED.test(s.label)) ??
    hwmons.find((s) => !UNRELATED.test(s.label)) ??
    null;
  return best === null ? null : Math.round(best.milliC / 100) / 10;
}
