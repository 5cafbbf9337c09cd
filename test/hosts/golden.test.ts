/**
 * Issue 11 end to end on real traffic: the captures of ../shared/captures/zeek/ (real Windows, Samba, RDP,
 * VNC, DHCP, LDAP and FTP) and of test/fixtures/os/ (Samba, vsftpd, dnsmasq/dhclient, x11vnc in the lab's
 * namespaces) through `analyze`'s own path (analyzeFiles): what the inventory says of each host's system
 * and remote access, and the findings. The zeek captures use public addresses in places, so the internal
 * networks are set to everything here (a host is inventoried from its system's traffic only inside them).
 */
import test from "ava";
import { deviceAt, hostRules, reportOf } from "./build.js";
import type { InventoryDevice } from "../../agent/inventory/record.js";

const ZEEK = "../shared/captures/zeek";

test("smb_raw_ntlm_in_smb: a Windows XP server (Native OS, NTLM 5.1.2600, browser announcement) offering SMB1", async (t) => {
  const r = await reportOf(`${ZEEK}/smb_raw_ntlm_in_smb.pcap`);
  const xp = deviceAt(r, "192.168.56.101");
  t.is(xp.class, "other");
  t.is(xp.os!.name, "Windows XP");
  t.is(xp.os!.version, "5.1");
  t.is(xp.os!.build, 2600);
  t.is(xp.os!.confidence, "high");
  t.deepEqual(xp.os!.conflicts, []);
  t.deepEqual(
    xp.os!.evidence.map((e) => e.source).sort(),
    ["browser", "ntlmssp", "smb1-native-os", "tcp-syn"].sort(),
  );
  t.deepEqual(
    xp.os!.wormableCves.map((c) => c.id),
    ["MS08-067", "MS17-010", "CVE-2019-0708"],
  );
  t.deepEqual(
    xp.remoteAccess.map((a) => [a.protocol, a.port, a.role, a.security]),
    [["smb", 445, "server", "SMB1"]],
  );
  const client = deviceAt(r, "192.168.56.1");
  t.is(client.hostName, "BABYBOOK");
  t.is(client.os!.build, 7600);
  // At the capture's time XP was still supported (its last Embedded edition ran to 2019): its open SMB1
  // door makes MS17-010 medium; the Windows 7 client offers nothing: low.
  t.deepEqual(hostRules(r), ["net.smbv1:medium", "os.vulnerable:low", "os.vulnerable:medium"]);
  const v = r.findings.find((f) => f.rule === "os.vulnerable" && f.severity === "medium")!;
  t.is(v.device, xp.id);
  t.regex(v.title, /MS17-010.*reachable through/);
});

test("smb_smb2 and smb_smb3: NTLM versions of Vista/2008 and of 10.0.14393, host names from the CHALLENGE", async (t) => {
  const r2 = await reportOf(`${ZEEK}/smb_smb2.pcap`);
  const server = deviceAt(r2, "10.0.0.12");
  t.is(server.hostName, "SERVER002.contoso.com");
  t.is(server.os!.name, "Windows Vista SP1 or Windows Server 2008 SP1");
  t.deepEqual(
    server.remoteAccess.map((a) => a.security),
    ["SMB 2.0.2"],
  );
  t.is(deviceAt(r2, "10.0.0.11").hostName, "SERVER01");
  const r3 = await reportOf(`${ZEEK}/smb_smb3.pcap`);
  const ws2016 = deviceAt(r3, "10.160.65.202");
  t.is(ws2016.hostName, "WS2016.suse.de");
  t.is(ws2016.os!.build, 14393);
  t.is(ws2016.os!.server, null, "client and server share build 14393");
  t.is(ws2016.os!.endOfSupport, "2027-01-12");
});

test("ldap_aduser1-ntlm: Windows Server 2022 from an LDAP NTLM bind; the user's name is nowhere", async (t) => {
  const r = await reportOf(`${ZEEK}/ldap_aduser1-ntlm.pcap`);
  const dc = deviceAt(r, "192.168.226.136");
  t.is(dc.os!.name, "Windows Server 2022");
  t.is(dc.hostName, "WIN-VGO56I95EAK.ADHACKING.local");
  t.false(JSON.stringify(r).includes("User1"));
});

test("RDP: Standard RDP Security is high; the client's build and name; TLS/NLA names the server by its certificate", async (t) => {
  const std = await reportOf(`${ZEEK}/rdp_rdp-proprietary-encryption.pcap`);
  // The client build is only a hint (rdesktop sends a fixed one): no OS finding on it.
  t.deepEqual(hostRules(std), ["net.rdp-weak-security:high"]);
  const client = deviceAt(std, "172.21.128.16");
  t.is(client.hostName, "FROG-POND");
  t.is(client.os!.build, 6000);
  t.false(JSON.stringify(std).includes("A70"), "the routing cookie's user name is not kept");
  const tls = await reportOf(`${ZEEK}/rdp_rdp-to-ssl.pcap`);
  const server = deviceAt(tls, "192.168.1.150");
  t.is(server.hostName, "WIN2K8R2.awakecoding.ath.cx");
  t.deepEqual(
    server.remoteAccess.map((a) => [a.protocol, a.role, a.security]),
    [["rdp", "server", "nla"]],
  );
  t.deepEqual(hostRules(tls), []);
});

test("VNC: a password-protected server is net.vnc (medium); the lab's x11vnc without one is net.vnc-no-auth (high)", async (t) => {
  const mac = await reportOf(`${ZEEK}/rfb_vnc-mac-to-linux.pcap`);
  t.deepEqual(hostRules(mac), ["net.vnc:medium"]);
  t.is(deviceAt(mac, "192.168.2.125").remoteAccess[0]!.security, "vnc-auth");
  const lab = await reportOf("test/fixtures/os/vnc.pcap");
  t.deepEqual(hostRules(lab), ["net.vnc-no-auth:high"]);
});

test("FTP logins in clear (NetBSD's server, and the lab's vsftpd) are high; the password is nowhere", async (t) => {
  const netbsd = await reportOf(`${ZEEK}/ftp_ipv4.pcap`);
  t.deepEqual(hostRules(netbsd), ["net.cleartext-login:high"]);
  const lab = await reportOf("test/fixtures/os/ftp.pcap");
  t.deepEqual(hostRules(lab), ["net.cleartext-login:high"]);
  const json = JSON.stringify(lab);
  t.false(json.includes("CanaryPass!42"));
  t.false(json.includes("canarytech"));
});

test("Samba in the lab: NTLM 6.1 build 0 and 'Windows 6.1' as Native OS are not Windows; SMB1 is still net.smbv1", async (t) => {
  const r = await reportOf("test/fixtures/os/smb1.pcap");
  const server = deviceAt(r, "10.79.0.20");
  t.is(server.os!.family, "unix");
  t.is(server.os!.name, "Samba");
  t.deepEqual(server.os!.wormableCves, []);
  t.deepEqual(hostRules(r), ["net.smbv1:medium"]);
  const r3 = await reportOf("test/fixtures/os/smb3.pcap");
  t.deepEqual(hostRules(r3), [], "SMB 3.1.1 with Samba raises nothing");
  t.is(deviceAt(r3, "10.79.0.20").remoteAccess.find((a) => a.role === "server")!.security, "SMB 3.1.1");
});

test("DHCP names its clients (zeek's and the lab's dhclient) and lists them as class other", async (t) => {
  const z = await reportOf(`${ZEEK}/dhcp_dhcp.pcap`);
  t.is(deviceAt(z, "192.168.211.194").hostName, "btest.is.cool");
  const lab = await reportOf("test/fixtures/os/dhcp.pcap");
  const d = lab.devices.find((x) => (x as InventoryDevice).hostName === "DTO-MODALITY-01") as InventoryDevice;
  t.truthy(d);
  t.is(d.class, "other");
});

test("the DICOM lab captures: their devices keep their DICOM class, and only SYN hints say Unix-like", async (t) => {
  const r = await reportOf("samples/imaging-room.pcap");
  for (const d of r.devices as InventoryDevice[]) {
    t.not(d.class, "other");
    if (d.os) {
      t.is(d.os.family, "unix");
      t.is(d.os.confidence, "low");
    }
    t.deepEqual(d.remoteAccess, []);
  }
});
