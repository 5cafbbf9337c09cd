/**
 * Issue 11: weighing a host's OS evidence (agent/inventory/os.ts) with a stand-in Windows table, so the
 * rules of the weighing are tested apart from the data (test/hosts/windows.test.ts tests the table).
 */
import test from "ava";
import { addEvidence, HostState } from "../../agent/inventory/host.js";
import {
  inferOs,
  ntVersionOfBuild,
  osEvidenceOf,
  hostNameOf,
  type WindowsLookup,
} from "../../agent/inventory/os.js";
import type { HostEvent } from "../../agent/hosts/types.js";
import { browserAnnouncement, ntlm, windowsSyn } from "../hosts/build.js";

/** 6.1 is Windows 7 (client, 2020-01-14) or Server 2008 R2 (server, 2020-01-14); 10.0.14393 differs. */
const table: WindowsLookup = {
  product(major, minor, build, server) {
    if (major === 6 && minor === 1)
      return {
        name: server ? "Windows Server 2008 R2" : "Windows 7",
        endOfSupport: "2020-01-14",
        supportNote: null,
        cves: [
          {
            id: "CVE-2019-0708",
            cves: ["CVE-2019-0708"],
            name: "BlueKeep",
            condition: "rdp",
            source: "https://example.invalid/a",
          },
        ],
      };
    if (major === 10 && build === 14393)
      return {
        name: server ? "Windows Server 2016" : "Windows 10 1607",
        endOfSupport: server ? "2027-01-12" : "2019-04-09",
        supportNote: null,
        cves: [],
      };
    if (major === 5 && minor === 1)
      return { name: "Windows XP", endOfSupport: "2014-04-08", supportNote: null, cves: [] };
    if (major === 5 && minor === 2)
      return {
        name: server ? "Windows Server 2003" : "Windows XP x64",
        endOfSupport: "2015-07-14",
        supportNote: null,
        cves: [],
      };
    return null;
  },
};

function stateOf(...events: HostEvent[]): { h: HostState; edition: string | null } {
  const h = new HostState();
  let edition: string | null = null;
  let ts = 1_000_000;
  for (const e of events) {
    const ev = osEvidenceOf(e);
    if (ev) {
      addEvidence(h, ev.evidence, ts++);
      if (ev.edition) edition = ev.edition;
    }
  }
  return { h, edition };
}

const os = (...events: HostEvent[]) => {
  const { h, edition } = stateOf(...events);
  return inferOs(h, table, edition);
};

test("an NTLM version is strong: family, version, build; client and server undecided gives both names and the later end", (t) => {
  const r = os(ntlm(2, 10, 0, 14393))!;
  t.is(r.family, "windows");
  t.is(r.version, "10.0");
  t.is(r.build, 14393);
  t.is(r.confidence, "high");
  t.is(r.server, null);
  t.is(r.name, "Windows 10 1607 or Windows Server 2016");
  t.is(r.endOfSupport, "2027-01-12", "no device is called unsupported on a guess of its edition");
});

test("NTLM below Windows 2000's build is not Windows: Samba's 6.1 build 0, Linux's kernel version", (t) => {
  const samba = os(ntlm(2, 6, 1, 0))!;
  t.is(samba.family, "unix");
  t.is(samba.endOfSupport, null);
  t.deepEqual(samba.wormableCves, []);
  t.is(os(ntlm(1, 5, 15, 0))!.family, "unix");
  // With Samba's own Native LAN Manager string the product is named, and the two agree.
  const named = os(ntlm(2, 6, 1, 0), {
    kind: "smb1-native-os",
    request: false,
    nativeOs: "Windows 6.1",
    nativeLanMan: "Samba 4.17.12-Debian",
    primaryDomain: null,
  })!;
  t.is(named.name, "Samba");
  t.deepEqual(named.conflicts, []);
  t.is(named.confidence, "high");
});

test("SMB1 Native OS: 'Windows 5.1', a server's name with its build, an edition", (t) => {
  const xp = os({
    kind: "smb1-native-os",
    request: false,
    nativeOs: "Windows 5.1",
    nativeLanMan: "Windows 2000 LAN Manager",
    primaryDomain: null,
  })!;
  t.is(xp.name, "Windows XP");
  t.is(xp.version, "5.1");
  t.is(xp.endOfSupport, "2014-04-08");
  const srv = os({
    kind: "smb1-native-os",
    request: false,
    nativeOs: "Windows Server 2003 3790 Service Pack 2",
    nativeLanMan: "Windows Server 2003 5.2",
    primaryDomain: null,
  })!;
  t.is(srv.server, true);
  t.is(srv.build, 3790);
  t.is(srv.name, "Windows Server 2003");
  const seven = os({
    kind: "smb1-native-os",
    request: true,
    nativeOs: "Windows 7 Professional 7601 Service Pack 1",
    nativeLanMan: "Windows 7 Professional 6.1",
    primaryDomain: null,
  })!;
  t.is(seven.server, false);
  t.is(seven.edition, "Professional");
  t.is(seven.name, "Windows 7");
  t.deepEqual(
    seven.wormableCves.map((c) => c.id),
    ["CVE-2019-0708"],
  );
});

test("a browser announcement's server bits decide the edition NTLM leaves open", (t) => {
  const r = os(ntlm(2, 10, 0, 14393), browserAnnouncement(10, 0))!;
  t.is(r.server, false);
  t.is(r.name, "Windows 10 1607");
  t.is(r.endOfSupport, "2019-04-09");
});

test("signals that disagree lower the confidence and are named", (t) => {
  const r = os(ntlm(2, 6, 1, 7601), { kind: "ssh-banner", software: "OpenSSH_8.9p1 Ubuntu-3ubuntu0.6" })!;
  t.is(r.family, "windows");
  t.is(r.confidence, "medium");
  t.deepEqual(r.conflicts, ["linux"]);
  t.true(r.evidence.some((e) => /disagrees: linux/.test(e.detail)));
});

test("hints alone give the family with low confidence and no version", (t) => {
  const r = os(
    {
      kind: "dhcp",
      messageType: 3,
      clientMac: null,
      hostName: "ws1",
      vendorClass: "MSFT 5.0",
      parameterRequestList: [1, 3, 6],
      requestedAddress: null,
      fqdn: null,
    },
    windowsSyn(),
  )!;
  t.is(r.family, "windows");
  t.is(r.confidence, "low");
  t.is(r.version, null);
  t.is(r.name, "Windows");
});

test("Windows builds to NT versions; RDP's client build is only a hint (rdesktop sends a fixed one)", (t) => {
  t.deepEqual(ntVersionOfBuild(2600), { major: 5, minor: 1 });
  t.deepEqual(ntVersionOfBuild(7601), { major: 6, minor: 1 });
  t.deepEqual(ntVersionOfBuild(9600), { major: 6, minor: 3 });
  t.deepEqual(ntVersionOfBuild(19045), { major: 10, minor: 0 });
  t.is(ntVersionOfBuild(0), null);
  const r = os({ kind: "rdp-client-core", version: 0x80004, clientBuild: 7601, clientName: "CT-CONSOLE" })!;
  t.is(r.confidence, "low");
  t.is(r.build, 7601);
});

test("host names: NTLM's DNS name beats its NetBIOS name; DHCP's FQDN; a certificate's CN", (t) => {
  t.deepEqual(
    hostNameOf(
      ntlm(2, 10, 0, 20348, {
        target: {
          netbiosComputer: "DC1",
          netbiosDomain: "LAB",
          dnsComputer: "dc1.lab.local",
          dnsDomain: "lab.local",
          dnsTree: null,
        },
      }),
    ),
    { name: "dc1.lab.local", source: "ntlmssp-dns" },
  );
  t.deepEqual(hostNameOf(ntlm(3, 6, 1, 7601, { workstation: "CT-CONSOLE" })), {
    name: "CT-CONSOLE",
    source: "ntlmssp",
  });
  t.deepEqual(
    hostNameOf({
      kind: "tls-server",
      protocol: "rdp",
      version: "TLS 1.2",
      subject: "CN=ws-ct01.hospital.local",
      selfSigned: true,
    }),
    { name: "ws-ct01.hospital.local", source: "tls-certificate" },
  );
});

test("versions that disagree within a family are named and cost a notch; a hint's version does not", (t) => {
  const r = os(ntlm(2, 10, 0, 19045), browserAnnouncement(6, 1))!;
  t.is(r.version, "10.0", "the strongest claim names the version");
  t.deepEqual(r.versionConflicts, ["6.1"]);
  t.is(r.confidence, "medium");
  t.true(r.evidence.some((e) => /disagrees: version 6\.1/.test(e.detail)));
  const quiet = os(ntlm(2, 10, 0, 19045), {
    kind: "http-request",
    userAgent: "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)",
  })!;
  t.deepEqual(quiet.versionConflicts, []);
  t.is(quiet.confidence, "high");
});
