/**
 * `dicomtap doctor`: checks a provisioned appliance and says, one line per check, what is wrong and how
 * to fix it. Exit status 1 when any check fails (warnings do not fail).
 *
 * Checks, in order: config valid; capture interface present and up; capture interface silent (the
 * kernel itself would otherwise send on the mirror port: no address, IPv6 disabled, no ARP replies; see
 * checkSilent); capture rights (a real, passive tcpdump start on the interface, which also compiles the
 * BPF filter); clock synchronised; disk space where the store lives; certificate chain, key and expiry;
 * broker reachable over mutual TLS with those certificates.
 * Interface checks read /sys/class/net and /proc/sys/net, which show the network namespace doctor runs
 * in: run it where the agent runs.
 */
import { spawn } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { dirname, join } from "node:path";
import { captureHelperPath } from "../capture/live.js";
import type { MqttTlsOptions } from "../publish/tls.js";
import { ArgWalker, DEFAULT_CONFIG_PATH } from "../cli/args.js";
import { loadConfig } from "../config/config.js";
import type { Config } from "../config/types.js";
import { isoFromDate } from "../util/time.js";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface CheckResult {
  check: string;
  status: CheckStatus;
  /** What was found. */
  message: string;
  /** What to do about it (fail and warn). */
  fix: string | null;
}

export interface DoctorOptions {
  configPath: string;
  sysClassNet?: string;
  procSysNet?: string;
  tcpdumpPath?: string;
  timedatectlPath?: string;
  chronycPath?: string;
  /** For the certificate expiry (tests); default now. */
  now?: Date;
  brokerTimeoutMs?: number;
  captureProbeMs?: number;
  /** Days before expiry that warn. */
  expiryWarnDays?: number;
  /** Free bytes below which the disk check fails. */
  minFreeBytes?: number;
}

const DAY_MS = 86_400_000;
const CAP_NET_RAW = 13;
/** id-kp-clientAuth (RFC 5280 §4.2.1.12): what the broker requires of a sensor's certificate. */
const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** IFF_NOARP (include/uapi/linux/if.h): the kernel neither resolves nor answers ARP on the interface. */
const IFF_NOARP = 0x80;
/** Installed by scripts/install; scripts/provision runs it for the capture interface. */
const SILENCER = "/opt/dicomtap/scripts/silence-capture-interface";

function r(check: string, status: CheckStatus, message: string, fix: string | null = null): CheckResult {
  return { check, status, message, fix };
}

/** Runs a program, collecting its output, killing it after `timeoutMs`. Never throws. */
function runProgram(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; out: string; err: string; spawnError: string | null }> {
  return new Promise((resolve) => {
    let out = "";
    let err = "";
    let done = false;
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const finish = (code: number | null, spawnError: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, out, err, spawnError });
    };
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()).length > 65536 && (out = out.slice(-65536)));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()).length > 65536 && (err = err.slice(-65536)));
    child.on("error", (e) => finish(null, e.message));
    child.on("close", (code) => finish(code, null));
  });
}

// ── individual checks ───────────────────────────────────────────────────────────────────────────

function checkInterface(ifname: string, sysClassNet = "/sys/class/net"): CheckResult {
  const dir = join(sysClassNet, ifname);
  if (!existsSync(dir)) {
    const present = (() => {
      try {
        return Object.keys(networkInterfaces()).filter((n) => n !== "lo");
      } catch {
        return [];
      }
    })();
    return r(
      "interface",
      "fail",
      `capture interface ${ifname} does not exist (present: ${present.join(", ") || "none"})`,
      `plug the mirror port's NIC in, or set capture.interface in the config to the interface on the SPAN/tap port`,
    );
  }
  let flags = 0;
  let oper = "unknown";
  try {
    flags = Number.parseInt(readFileSync(join(dir, "flags"), "utf8").trim(), 16);
    oper = readFileSync(join(dir, "operstate"), "utf8").trim();
  } catch {
    /* keep defaults */
  }
  if ((flags & 1) === 0) {
    return r(
      "interface",
      "fail",
      `capture interface ${ifname} is administratively down`,
      `bring it up without an address: sudo ip link set ${ifname} up (${SILENCER} ${ifname} installs a udev rule that does it at every boot and plug-in)`,
    );
  }
  const carrier =
    oper === "up" || oper === "unknown" ? "" : ` (link ${oper}: check the cable to the mirror port)`;
  return r(
    "interface",
    carrier ? "warn" : "ok",
    `capture interface ${ifname} is up${carrier}`,
    carrier ? "check the cable and that the switch's SPAN session is active" : null,
  );
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

/**
 * The capture interface sends nothing, whatever the agent does (DESIGN.md §1: never a single frame):
 * - no address: an IPv4 one brings DHCP and ARP, any one means something configures the interface;
 * - IPv6 disabled on it (or no IPv6 in the kernel): with IPv6 on, the kernel sends duplicate address
 *   detection, MLD reports and router solicitations as soon as the interface is up;
 * - no ARP replies: with arp_ignore 0 (the default) Linux answers a who-has for any of its addresses on
 *   any interface, so a broadcast request for the management address, mirrored onto this port, is
 *   answered from it. The kernel uses the larger of conf/all and conf/IF; 1 and 2 answer only for
 *   addresses of the interface itself (it has none), 8 never; 3 and the reserved 4-7 do answer. IFF_NOARP
 *   also stops it.
 */
export function checkSilent(
  ifname: string,
  sysClassNet = "/sys/class/net",
  procSysNet = "/proc/sys/net",
): CheckResult {
  if (!existsSync(join(sysClassNet, ifname))) return r("silent", "skip", `no interface ${ifname}`);
  const problems: string[] = [];
  const addrs = (networkInterfaces()[ifname] ?? []).map((a) => a.address);
  if (addrs.length > 0) {
    problems.push(
      `it has address(es) ${addrs.join(", ")} (whatever configures it sends from it: DHCP, ARP, neighbour discovery)`,
    );
  }
  let ipv6 = "IPv6 off";
  if (!existsSync(join(procSysNet, "ipv6"))) {
    ipv6 = "no IPv6 in this kernel";
  } else {
    const v = readTrimmed(join(procSysNet, "ipv6", "conf", ifname, "disable_ipv6"));
    if (v === "0") {
      problems.push(
        "IPv6 is enabled on it: the kernel sends neighbour solicitations (DAD), MLD reports and router solicitations whenever it comes up",
      );
    } else if (v !== "1") {
      problems.push("cannot read whether IPv6 is disabled on it");
    }
  }
  const flags = Number.parseInt(readTrimmed(join(sysClassNet, ifname, "flags")) ?? "0", 16);
  let arp: string;
  if ((flags & IFF_NOARP) !== 0) {
    arp = "NOARP";
  } else {
    const all = Number(readTrimmed(join(procSysNet, "ipv4", "conf", "all", "arp_ignore")));
    const own = Number(readTrimmed(join(procSysNet, "ipv4", "conf", ifname, "arp_ignore")));
    const eff = Math.max(all, own);
    arp = `arp_ignore=${eff}`;
    if (Number.isNaN(eff)) {
      problems.push("cannot read its arp_ignore");
    } else if (eff !== 1 && eff !== 2 && eff !== 8) {
      problems.push(
        `it answers ARP requests for the appliance's own addresses (arp_ignore=${eff}): a who-has for the management address, mirrored onto this port, is answered from it`,
      );
    }
  }
  if (problems.length > 0) {
    // The silencer removes link-local addresses itself; any other one could be the management NIC's, and
    // it wants --force for those.
    const routable = addrs.filter((a) => !/^(fe[89ab][0-9a-f]:|169\.254\.)/i.test(a));
    const how =
      routable.length > 0
        ? `${ifname} has address(es) ${routable.join(", ")}: if it is the mirror port and not the management NIC, sudo ${SILENCER} --force ${ifname}`
        : `sudo ${SILENCER} ${ifname}`;
    return r(
      "silent",
      "fail",
      `capture interface ${ifname} is not silent: ${problems.join("; ")}`,
      `${how} (scripts/provision runs it for the interface it is given: it disables IPv6 and ARP replies on ${ifname}, now and at every boot or plug-in, and keeps NetworkManager, dhcpcd and systemd-networkd off it)`,
    );
  }
  return r(
    "silent",
    "ok",
    `capture interface ${ifname} sends nothing: no address, ${ipv6}, no ARP replies (${arp})`,
  );
}

/** Bit `cap` of a hex capability mask from /proc/self/status. */
function hasCap(mask: string | undefined, cap: number): boolean {
  if (mask === undefined) return false;
  try {
    return ((BigInt("0x" + mask) >> BigInt(cap)) & 1n) === 1n;
  } catch {
    return false;
  }
}

async function checkCaptureRights(
  config: Config,
  tcpdumpPath = "tcpdump",
  probeMs = 1500,
  helperPath: string | null = captureHelperPath(),
): Promise<CheckResult> {
  // A real capture start, read-only and passive, with the program the agent will use (live.ts): it opens
  // the socket, compiles the filter, prints "listening on", and is stopped after probeMs.
  const cap = config.capture;
  const tool = cap.tool !== "auto" ? cap.tool : helperPath !== null ? "dicomtap-capture" : "tcpdump";
  const filter = cap.filter.trim() !== "" ? ["--", cap.filter] : [];
  const program = tool === "dicomtap-capture" ? (helperPath ?? "dicomtap-capture") : tcpdumpPath;
  const args =
    tool === "dicomtap-capture"
      ? ["-i", cap.interface, "-s", String(cap.snaplen), "-B", "1024", ...filter]
      : ["-i", cap.interface, "-n", "-c", "1", "-s", String(cap.snaplen), "-w", "/dev/null", ...filter];
  const res = await runProgram(program, args, probeMs);
  const status = (() => {
    try {
      return readFileSync("/proc/self/status", "utf8");
    } catch {
      return "";
    }
  })();
  const amb = /^CapAmb:\s*([0-9a-f]+)/m.exec(status)?.[1];
  const who =
    process.getuid?.() === 0
      ? "root"
      : hasCap(amb, CAP_NET_RAW)
        ? "CAP_NET_RAW (ambient)"
        : "no capture capability";
  if (res.spawnError !== null) {
    return r(
      "capture",
      "fail",
      `cannot run ${program}: ${res.spawnError}`,
      tool === "tcpdump"
        ? "install tcpdump: apt-get install tcpdump"
        : "rebuild the capture helper: scripts/build-native (needs gcc and libpcap-dev), or set capture.tool to tcpdump",
    );
  }
  if (/listening on/.test(res.err)) {
    const what = `${tool} can capture on ${cap.interface} with filter "${cap.filter}" (${who})`;
    // The fallback works, but costs more CPU per byte and up to a second of latency (live.ts).
    if (cap.tool === "auto" && tool === "tcpdump")
      return r(
        "capture",
        "warn",
        `${what}; the capture helper is not built, so capture goes through tcpdump (slower)`,
        "build it: apt-get install gcc libpcap-dev && scripts/build-native, then reinstall",
      );
    return r("capture", "ok", what);
  }
  const line =
    res.err
      .split("\n")
      .find((l) => l.trim() !== "" && !/packets? (captured|received|dropped)/.test(l))
      ?.trim() ?? `exit ${res.code}`;
  if (/permission|not permitted/i.test(line)) {
    return r(
      "capture",
      "fail",
      `no capture rights: ${line}`,
      "run the agent as the dicomtap service (systemd/dicomtap.service grants CAP_NET_RAW), or as root for a manual check",
    );
  }
  if (/syntax error|filter/i.test(line)) {
    return r(
      "capture",
      "fail",
      `capture.filter "${cap.filter}" is not a valid pcap filter: ${line}`,
      'fix capture.filter in the config (pcap-filter(7) syntax, e.g. "tcp")',
    );
  }
  return r(
    "capture",
    "fail",
    `${tool} cannot capture on ${cap.interface}: ${line}`,
    "see the interface check above",
  );
}

async function checkClock(timedatectl = "/usr/bin/timedatectl", chronyc = "chronyc"): Promise<CheckResult> {
  const fix =
    "enable time synchronisation: timedatectl set-ntp true (systemd-timesyncd) or install chrony, with an NTP server reachable from the management network";
  const td = await runProgram(timedatectl, ["show", "-p", "NTPSynchronized", "--value"], 3000);
  if (td.spawnError === null && td.code === 0) {
    const v = td.out.trim();
    if (v === "yes") return r("clock", "ok", "clock synchronised (timedatectl)");
    if (v === "no")
      return r(
        "clock",
        "fail",
        "clock not synchronised (timedatectl): certificates and event times depend on it",
        fix,
      );
  }
  const ch = await runProgram(chronyc, ["-n", "tracking"], 3000);
  if (ch.spawnError === null && ch.code === 0) {
    const leap = /Leap status\s*:\s*(.+)/.exec(ch.out)?.[1]?.trim();
    if (leap === "Normal") return r("clock", "ok", "clock synchronised (chrony)");
    if (leap !== undefined) return r("clock", "fail", `clock not synchronised (chrony: ${leap})`, fix);
  }
  // systemd-timesyncd touches this file once it has synchronised.
  if (existsSync("/run/systemd/timesync/synchronized"))
    return r("clock", "ok", "clock synchronised (systemd-timesyncd)");
  return r(
    "clock",
    "warn",
    "cannot tell whether the clock is synchronised (no timedatectl answer, no chrony)",
    fix,
  );
}

function nearestExisting(path: string): string {
  let p = path;
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

async function checkDisk(config: Config, minFree = 32 * 1024 * 1024): Promise<CheckResult> {
  const dir = nearestExisting(dirname(config.store.path));
  let avail: number;
  try {
    const s = await statfs(dir);
    avail = s.bavail * s.bsize;
  } catch (e) {
    return r(
      "disk",
      "fail",
      `cannot stat the filesystem of ${dir}: ${(e as Error).message}`,
      "create the store directory (StateDirectory=dicomtap does it under systemd)",
    );
  }
  let used = 0;
  for (const f of [config.store.path, config.store.path + "-wal", config.store.path + "-shm"]) {
    try {
      used += statSync(f).size;
    } catch {
      /* not there yet */
    }
  }
  const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  const growth = Math.max(0, config.store.maxBytes - used);
  if (avail < minFree) {
    return r(
      "disk",
      "fail",
      `only ${mib(avail)} free on the filesystem of ${dir} (need at least ${mib(minFree)})`,
      "free space there (old logs: journalctl --vacuum-size=100M) or move store.path to a larger filesystem",
    );
  }
  if (avail < growth) {
    return r(
      "disk",
      "warn",
      `${mib(avail)} free on the filesystem of ${dir}, less than the store may still grow (${mib(growth)})`,
      "free space or lower store.maxBytes",
    );
  }
  return r(
    "disk",
    "ok",
    `${mib(avail)} free on the filesystem of ${dir} (store ${mib(used)} of at most ${mib(config.store.maxBytes)})`,
  );
}

export function checkCertificates(config: Config, now = new Date(), warnDays = 30): CheckResult {
  const b = config.broker;
  if (b === null) {
    return r(
      "certificates",
      "warn",
      "no broker configured: findings stay in the appliance's outbox",
      "run scripts/provision with --broker-url, --ca and the signed certificate",
    );
  }
  const read = (what: string, path: string): string | CheckResult => {
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      return r(
        "certificates",
        "fail",
        `cannot read the ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? e})`,
        "re-run scripts/provision to import the certificates",
      );
    }
  };
  const caPem = read("CA certificate", b.ca);
  if (typeof caPem !== "string") return caPem;
  const certPem = read("sensor certificate", b.cert);
  if (typeof certPem !== "string") return certPem;
  const keyPem = read("sensor key", b.key);
  if (typeof keyPem !== "string") return keyPem;
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
    cert = new X509Certificate(certPem);
  } catch (e) {
    return r(
      "certificates",
      "fail",
      `a certificate is not valid PEM: ${(e as Error).message}`,
      "re-import the certificate and CA from the site CA",
    );
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    return r(
      "certificates",
      "fail",
      `${b.cert} is not signed by the CA in ${b.ca}`,
      "have the site CA sign this sensor's CSR (pki/sign-csr) and import the result with scripts/provision --signed-cert",
    );
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
      return r(
        "certificates",
        "fail",
        `${b.cert} does not belong to the key ${b.key}`,
        "import the certificate signed for this sensor's CSR (not another sensor's)",
      );
    }
  } catch (e) {
    return r(
      "certificates",
      "fail",
      `the key ${b.key} cannot be read: ${(e as Error).message}`,
      "re-run scripts/provision (it makes a new key and CSR if needed)",
    );
  }
  try {
    if ((statSync(b.key).mode & 0o007) !== 0) {
      return r("certificates", "fail", `the key ${b.key} is readable by every user`, `chmod 600 ${b.key}`);
    }
  } catch {
    /* read above succeeded; a stat race is not a finding */
  }
  const eku = cert.keyUsage ?? [];
  if (!eku.includes(OID_CLIENT_AUTH)) {
    return r(
      "certificates",
      "fail",
      `${b.cert} is not a TLS client certificate (no clientAuth usage)`,
      "sign the CSR with pki/sign-csr, which sets extendedKeyUsage clientAuth",
    );
  }
  // The broker's ACL confines the sensor to dicomtap/v1/<CN>/# (pki/sign-csr): the CN must be SITE/ID.
  const cn = /(?:^|\n)CN=(.*)/.exec(cert.subject)?.[1]?.trim();
  const want = `${config.sensor.site}/${config.sensor.id}`;
  if (cn !== undefined && cn !== want) {
    return r(
      "certificates",
      "fail",
      `the certificate is for "${cn}", the config is sensor "${want}": the broker would refuse its messages`,
      `sign the CSR again for sensor "${config.sensor.id}" with the CA of site "${config.sensor.site}"`,
    );
  }
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  const caTo = new Date(ca.validTo);
  const days = Math.floor((to.getTime() - now.getTime()) / DAY_MS);
  if (now < from) {
    return r(
      "certificates",
      "fail",
      `the certificate is not valid before ${isoFromDate(from)} (clock wrong?)`,
      "synchronise the clock (see the clock check)",
    );
  }
  if (now > to) {
    return r(
      "certificates",
      "fail",
      `the certificate expired on ${isoFromDate(to)}`,
      "make a new CSR (scripts/provision --renew), have it signed, and import it",
    );
  }
  if (now > caTo) {
    return r(
      "certificates",
      "fail",
      `the CA certificate expired on ${isoFromDate(caTo)}`,
      "the site CA must be renewed and its ca.crt imported",
    );
  }
  if (days < warnDays) {
    return r(
      "certificates",
      "warn",
      `the certificate expires in ${days} days (${isoFromDate(to)})`,
      "renew it: scripts/provision --renew, sign the CSR, import it",
    );
  }
  return r(
    "certificates",
    "ok",
    `certificate ${cn ?? "?"} chains to the CA and matches the key; ${days} days to expiry`,
  );
}

export async function checkBroker(config: Config, timeoutMs = 5000): Promise<CheckResult> {
  const b = config.broker;
  if (b === null) return r("broker", "skip", "no broker configured");
  const { default: mqtt } = await import("mqtt");
  const { mutualTlsOptions, readTlsFiles } = await import("../publish/tls.js");
  let tls: ReturnType<typeof readTlsFiles>;
  try {
    tls = readTlsFiles(b);
  } catch {
    return r("broker", "skip", "certificates unreadable (see above)");
  }
  return new Promise<CheckResult>((resolve) => {
    let done = false;
    // A client id of its own, so the check never takes over the running agent's session.
    let client: ReturnType<typeof mqtt.connect>;
    try {
      // The same mutual TLS as the agent's publisher: doctor must not pass where the agent fails.
      const options: MqttTlsOptions = {
        ...mutualTlsOptions(b.url, tls),
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: timeoutMs,
        clientId: `dicomtap-doctor-${process.pid}-${Date.now().toString(36)}`,
      };
      client = mqtt.connect(b.url, options);
    } catch (e) {
      // Node refuses a key that does not match the certificate before connecting.
      resolve(
        r(
          "broker",
          "fail",
          `cannot set up TLS with these certificates: ${(e as Error).message}`,
          "fix the certificates first (see above)",
        ),
      );
      return;
    }
    const finish = (res: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.end(true);
      resolve(res);
    };
    const timer = setTimeout(
      () =>
        finish(
          r(
            "broker",
            "fail",
            `no answer from ${b.url} within ${timeoutMs} ms`,
            "check the broker address, routing and firewall (TCP to the broker's port) from the management interface",
          ),
        ),
      timeoutMs + 500,
    );
    client.on("connect", () =>
      finish(r("broker", "ok", `connected to ${b.url} with the sensor certificate (MQTT 5, TLS)`)),
    );
    client.on("error", (e: Error & { code?: string | number }) => {
      const msg = e.message;
      let fix = "check the broker address and that it runs";
      if (/ENETUNREACH|EHOSTUNREACH|ETIMEDOUT/.test(msg))
        fix = "no route to the broker: check the management interface's address, gateway and firewall";
      else if (/ECONNREFUSED/.test(msg))
        fix = "nothing listens there: check the broker's address and port, and that mosquitto runs";
      else if (/ENOTFOUND|EAI_AGAIN/.test(msg))
        fix = "the broker's name does not resolve: check DNS or use its address";
      else if (/certificate|self.signed|altname|SSL|alert/i.test(msg))
        fix =
          "the broker's certificate does not match the CA or its name: check --ca and the names in the broker certificate";
      else if (/Not authorized|Bad User Name|refused/i.test(msg))
        fix =
          "the broker refused this sensor's certificate: check that it is signed by the broker's CA and not revoked";
      finish(r("broker", "fail", `cannot connect to ${b.url}: ${msg}`, fix));
    });
    client.on("close", () =>
      finish(
        r(
          "broker",
          "fail",
          `${b.url} closed the connection during the handshake`,
          "the broker refused the TLS client certificate: check it is signed by the broker's CA",
        ),
      ),
    );
  });
}

// ── the whole run ───────────────────────────────────────────────────────────────────────────────

export async function runDoctor(opts: DoctorOptions): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  let config: Config;
  try {
    config = loadConfig(opts.configPath);
    out.push(
      r("config", "ok", `${opts.configPath} is valid (sensor ${config.sensor.site}/${config.sensor.id})`),
    );
  } catch (e) {
    out.push(r("config", "fail", (e as Error).message, "fix the config file, or re-run scripts/provision"));
    return out;
  }
  const iface = checkInterface(config.capture.interface, opts.sysClassNet);
  out.push(iface);
  out.push(checkSilent(config.capture.interface, opts.sysClassNet, opts.procSysNet));
  if (
    iface.status === "fail" &&
    !existsSync(join(opts.sysClassNet ?? "/sys/class/net", config.capture.interface))
  ) {
    out.push(r("capture", "skip", "no interface to capture on"));
  } else {
    out.push(await checkCaptureRights(config, opts.tcpdumpPath, opts.captureProbeMs));
  }
  out.push(await checkClock(opts.timedatectlPath, opts.chronycPath));
  out.push(await checkDisk(config, opts.minFreeBytes));
  const certs = checkCertificates(config, opts.now, opts.expiryWarnDays);
  out.push(certs);
  out.push(await checkBroker(config, opts.brokerTimeoutMs));
  return out;
}

const LABEL: Record<CheckStatus, string> = { ok: "[ ok ]", warn: "[warn]", fail: "[FAIL]", skip: "[skip]" };

function formatResults(results: CheckResult[]): string {
  return results
    .map(
      (c) =>
        `${LABEL[c.status]} ${c.check}: ${c.message}${c.fix !== null && (c.status === "fail" || c.status === "warn") ? ` -> fix: ${c.fix}` : ""}\n`,
    )
    .join("");
}

/** `dicomtap doctor [--config FILE]`; returns the exit status. */
export async function doctorCommand(
  argv: string[],
  usageError: (msg: string) => Error = (m) => new Error(m),
): Promise<number> {
  let configPath = DEFAULT_CONFIG_PATH;
  let json = false;
  const w = new ArgWalker(argv, usageError);
  for (let a = w.next(); a !== undefined; a = w.next()) {
    if (a === "--config") configPath = w.value(a);
    else if (a.startsWith("--config=")) configPath = a.slice(9);
    else if (a === "--json") json = true;
    else throw usageError(`unknown option ${a}`);
  }
  const results = await runDoctor({ configPath });
  process.stdout.write(json ? JSON.stringify(results, null, 2) + "\n" : formatResults(results));
  const failed = results.filter((c) => c.status === "fail").length;
  if (!json)
    process.stdout.write(
      failed === 0 ? "doctor: all checks passed\n" : `doctor: ${failed} check(s) failed\n`,
    );
  return failed === 0 ? 0 : 1;
}
