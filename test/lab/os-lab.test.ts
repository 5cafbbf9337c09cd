/**
 * Integration test of the OS and remote-access lab (scripts/lab/os-lab, issue 11): real Samba (SMB1 and
 * SMB 3.1.1), vsftpd with curl, dnsmasq with dhclient, node's http and x11vnc in throw-away network
 * namespaces, captured with tcpdump, then the fresh captures through `analyze`'s own path (analyzeFiles).
 * It checks on live traffic what test/hosts/golden.test.ts checks on the committed test/fixtures/os/
 * captures, and that the lab leaves nothing behind: no namespace, no /etc/netns entry, no daemon, no
 * listening socket on the host. Needs root and the tools (test/helpers/requires.ts): without them the test
 * is skipped under a title that says why; in CI a missing one is a failure.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { InventoryDevice } from "../../agent/inventory/record.js";
import type { Report } from "../../agent/report/types.js";
import { requires } from "../helpers/requires.js";
import { deviceAt, hostRules, reportOf } from "../hosts/build.js";

const execFileAsync = promisify(execFile);
const osLabTest = requires(
  "root",
  "netns",
  "ethtool",
  "tcpdump",
  "openssl",
  "samba",
  "vsftpd",
  "dnsmasq",
  "dhclient",
  "x11vnc",
);
const canaries = JSON.parse(await readFile("test/fixtures/patient-canaries.json", "utf8")) as Record<
  string,
  string
>;
const SCENES = ["smb1", "smb3", "ftp", "dhcp", "http", "vnc"];
/** The ports the lab's servers listen on inside their namespace (SMB, FTP, DHCP, HTTP, VNC). */
const LAB_PORTS = [445, 139, 21, 67, 68, 8080, 5900];

/** Host sockets listening on a lab port (TCP or UDP), in the test's own (the host's) namespace. */
async function hostListeners(): Promise<string[]> {
  const { stdout } = await execFileAsync("ss", ["-Hlntu"]);
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .filter((l) => LAB_PORTS.some((p) => new RegExp(`:${p.toString()}\\s`).test(l)));
}

/** Processes whose command line names the run's temp dir (/tmp/dto-RID.*), i.e. the lab's daemons. */
async function labProcesses(rid: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replace(/\0/g, " ");
      if (cmd.includes(`/tmp/dto-${rid}.`) || cmd.includes(`dto-${rid}-`)) out.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

osLabTest.serial(
  "os lab: fresh Samba, vsftpd, dnsmasq/dhclient, HTTP and x11vnc captures say what the committed fixtures say, and nothing is left behind",
  async (t) => {
    const before = await hostListeners();
    const dir = await mkdtemp(join(tmpdir(), "dicomtap-os-lab-"));
    try {
      await execFileAsync("scripts/lab/os-lab", [dir], { maxBuffer: 1 << 24, timeout: 50_000 });
      const log = await readFile(join(dir, "run.log"), "utf8");
      const rid = /^== run ([0-9a-f]{4}):/m.exec(log)?.[1];
      if (rid === undefined) return t.fail(`no run id in ${join(dir, "run.log")}`);
      for (const s of SCENES) t.true((await stat(join(dir, `${s}.pcap`))).size > 24, `${s}.pcap is empty`);

      // Nothing left behind: namespaces, their /etc/netns files, daemons, host listeners.
      const { stdout: netns } = await execFileAsync("ip", ["netns", "list"]);
      t.false(netns.includes(`dto-${rid}-`), "the lab's namespaces are gone");
      t.false(existsSync(`/etc/netns/dto-${rid}-cli`) || existsSync(`/etc/netns/dto-${rid}-srv`));
      t.deepEqual(await labProcesses(rid), [], "no lab process is left running");
      t.deepEqual(await hostListeners(), before, "nothing new listens on the host");

      const reports = new Map<string, Report>();
      for (const s of SCENES) reports.set(s, await reportOf(join(dir, `${s}.pcap`)));
      const r = (s: string): Report => reports.get(s)!;

      // Samba: NTLM 6.1 build 0 and Native OS "Windows 6.1" are not Windows; SMB1 is still net.smbv1.
      const samba = deviceAt(r("smb1"), "10.79.0.20");
      t.is(samba.os?.family, "unix");
      t.is(samba.os?.name, "Samba");
      t.deepEqual(samba.os?.wormableCves, []);
      t.deepEqual(hostRules(r("smb1")), ["net.smbv1:medium"]);
      // SMB 3.1.1 with Samba: the service is recorded, and raises nothing.
      const smb3 = deviceAt(r("smb3"), "10.79.0.20");
      t.is(smb3.os?.family, "unix");
      t.is(smb3.remoteAccess.find((a) => a.protocol === "smb" && a.role === "server")?.security, "SMB 3.1.1");
      t.deepEqual(hostRules(r("smb3")), [], "SMB 3.1.1 with Samba raises nothing");
      // FTP login in clear: high.
      t.deepEqual(hostRules(r("ftp")), ["net.cleartext-login:high"]);
      // DHCP names its client, listed as class other.
      const named = r("dhcp").devices.find((x) => (x as InventoryDevice).hostName === "DTO-MODALITY-01");
      t.truthy(named, "DHCP host name DTO-MODALITY-01");
      t.is(named?.class, "other");
      // x11vnc -nopw: VNC without authentication.
      t.deepEqual(hostRules(r("vnc")), ["net.vnc-no-auth:high"]);

      // The canary account's password and user name reach no report (FTP PASS, NTLM AUTHENTICATE).
      for (const s of SCENES) {
        const json = JSON.stringify(r(s));
        t.false(json.includes(canaries.userIdentityPasscode!), `${s}: password in the report`);
        t.false(json.includes(canaries.userIdentityUsername!), `${s}: user name in the report`);
      }
      // The password really crossed the wire in the FTP capture, so the check above means something.
      t.true((await readFile(join(dir, "ftp.pcap"))).includes(canaries.userIdentityPasscode!));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
