import test from "ava";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "../../agent/util/root.js";
import {
  candidates,
  isWindowsBuild,
  kindFromServerType,
  nativeOsVersion,
  validateWindowsTable,
  windowsRelease,
  windowsTable,
} from "../../agent/hosts/windows.js";

function rawTable(): { releases: Record<string, unknown>[]; vulnerabilities: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(join(dataDir(), "windows-builds.json"), "utf8")) as {
    releases: Record<string, unknown>[];
    vulnerabilities: Record<string, unknown>[];
  };
}

test("the table loads and validates: sources with URLs, ISO dates, builds unique per kind", (t) => {
  const tbl = windowsTable();
  t.true(tbl.releases.length >= 40);
  const iso = /^\d{4}-\d{2}-\d{2}$/;
  const seen = new Set<string>();
  for (const r of tbl.releases) {
    t.regex(r.source, /https:\/\/\S+/, r.name);
    t.regex(r.endOfSupport, iso, r.name);
    for (const e of r.longTermEditions) {
      t.regex(e.endOfSupport, iso, e.name);
      t.regex(e.source, /https:\/\//, e.name);
    }
    for (const b of r.builds) {
      const key = `${r.kind} ${r.major}.${r.minor}.${b}`;
      t.false(seen.has(key), key);
      seen.add(key);
    }
  }
  for (const v of tbl.vulnerabilities) t.regex(v.source, /https:\/\//, v.id);
});

test("validation names what is wrong", (t) => {
  const bad = rawTable();
  bad.releases[0]!.source = "Microsoft said so";
  bad.releases[1]!.endOfSupport = "13 July 2010";
  bad.releases.push({ ...bad.releases[2]! });
  bad.releases[3]!.wormable = ["MS99-999"];
  const err = t.throws(() => validateWindowsTable(bad));
  t.regex(err.message, /source has no URL/);
  t.regex(err.message, /endOfSupport not an ISO date/);
  t.regex(err.message, /build client 5\.1\.2600 also in/);
  t.regex(err.message, /unknown wormable id MS99-999/);
  t.throws(() => validateWindowsTable(null));
});

test("the rows the brief asks for are there", (t) => {
  const want: [number, number, number, string | null, string | null][] = [
    [5, 0, 2195, "Windows 2000 Professional", "Windows 2000 Server"],
    [5, 1, 2600, "Windows XP", null],
    [5, 2, 3790, "Windows XP Professional x64 Edition", "Windows Server 2003"],
    [6, 0, 6000, "Windows Vista", null],
    [6, 0, 6002, "Windows Vista", "Windows Server 2008"],
    [6, 1, 7601, "Windows 7", "Windows Server 2008 R2"],
    [6, 2, 9200, "Windows 8", "Windows Server 2012"],
    [6, 3, 9600, "Windows 8.1", "Windows Server 2012 R2"],
    [10, 0, 14393, "Windows 10 version 1607", "Windows Server 2016"],
    [10, 0, 17763, "Windows 10 version 1809", "Windows Server 2019"],
    [10, 0, 18362, "Windows 10 version 1903", "Windows Server, version 1903"],
    [10, 0, 19045, "Windows 10 version 22H2", null],
    [10, 0, 20348, null, "Windows Server 2022"],
    [10, 0, 22000, "Windows 11 version 21H2", null],
    [10, 0, 22631, "Windows 11 version 23H2", null],
    [10, 0, 26100, "Windows 11 version 24H2", "Windows Server 2025"],
  ];
  for (const [major, minor, build, client, server] of want) {
    const r = windowsRelease(major, minor, build);
    t.deepEqual(r?.names, { client, server }, `${major}.${minor}.${build}`);
  }
  for (const b of [10240, 10586, 15063, 16299, 17134, 18363, 19041, 19042, 19043, 19044])
    t.truthy(windowsRelease(10, 0, b)?.client, String(b));
});

test("end of support, long-term editions and service packs", (t) => {
  const w10 = windowsRelease(10, 0, 19045)!;
  t.is(w10.client!.endOfSupport, "2025-10-14");
  const ltsc = windowsRelease(10, 0, 17763)!;
  t.is(ltsc.client!.endOfSupport, "2020-11-10");
  t.deepEqual(
    ltsc.client!.longTermEditions.map((e) => [e.name, e.endOfSupport]),
    [["Windows 10 Enterprise LTSC 2019", "2029-01-09"]],
  );
  t.is(ltsc.server!.endOfSupport, "2029-01-09");
  t.is(windowsRelease(10, 0, 14393)!.client!.longTermEditions[0]!.endOfSupport, "2026-10-13");
  t.is(windowsRelease(10, 0, 19044)!.client!.longTermEditions.length, 2);
  t.is(windowsRelease(6, 1, 7601)!.servicePack, "SP1");
  t.is(windowsRelease(6, 1, 7600)!.servicePack, null);
  t.is(windowsRelease(5, 1, 2600)!.client!.endOfSupport, "2014-04-08");
  // 19041 is the base of 20H2..22H2: a host may announce it.
  t.deepEqual(
    windowsRelease(10, 0, 19041)!
      .sameBase.filter((p) => p.kind === "client")
      .map((p) => p.release),
    ["20H2", "21H1", "21H2", "22H2"],
  );
});

test("wormable vulnerabilities with their conditions", (t) => {
  const ids = (major: number, minor: number, build: number): string[] =>
    windowsRelease(major, minor, build)!.wormable.map(
      (w) => `${w.vulnerability.id}:${w.vulnerability.condition}`,
    );
  t.deepEqual(ids(5, 1, 2600), ["MS08-067:smb", "MS17-010:smbv1", "CVE-2019-0708:rdp"]);
  t.deepEqual(ids(6, 1, 7601), ["MS17-010:smbv1", "CVE-2019-0708:rdp", "CVE-2019-1181:rdp"]);
  t.deepEqual(ids(6, 3, 9600), ["MS17-010:smbv1", "CVE-2019-1181:rdp"]);
  t.deepEqual(ids(10, 0, 18363), ["CVE-2020-0796:smb311-compression"]);
  t.deepEqual(ids(10, 0, 19045), []);
  // Windows 8 (client) had MS17-010's out-of-band update but is not on the DejaBlue list; Server 2012 is.
  const w8 = windowsRelease(6, 2, 9200)!;
  t.deepEqual(
    w8.wormable.map((w) => [w.vulnerability.id, w.kinds]),
    [
      ["MS17-010", ["client", "server"]],
      ["CVE-2019-1181", ["server"]],
    ],
  );
  t.deepEqual(
    windowsRelease(10, 0, 14393)!.wormable.find((w) => w.vulnerability.id === "MS17-010")?.vulnerability.cves,
    ["CVE-2017-0143", "CVE-2017-0144", "CVE-2017-0145", "CVE-2017-0146", "CVE-2017-0147", "CVE-2017-0148"],
  );
});

test("not Windows, unknown builds", (t) => {
  t.false(isWindowsBuild(0)); // Samba: 6.1 build 0
  t.false(isWindowsBuild(2194));
  t.true(isWindowsBuild(2195));
  t.is(windowsRelease(6, 1, 0), null);
  t.is(windowsRelease(10, 0, 27000), null);
  t.is(windowsRelease(6, 1, 9600), null);
});

test("client or server by other evidence", (t) => {
  const r = windowsRelease(6, 1, 7601)!;
  t.deepEqual(
    candidates(r, null).map((p) => p.name),
    ["Windows 7", "Windows Server 2008 R2"],
  );
  t.deepEqual(
    candidates(r, "server").map((p) => p.name),
    ["Windows Server 2008 R2"],
  );
  t.deepEqual(
    candidates(windowsRelease(10, 0, 20348)!, "client").map((p) => p.name),
    ["Windows Server 2022"],
  );
  t.is(kindFromServerType(0x00011003), "client"); // workstation, server, NT, potential browser
  t.is(kindFromServerType(0x00009003), "server"); // + SV_TYPE_SERVER_NT
  t.is(kindFromServerType(0x0000100b), "server"); // + domain controller
  t.is(kindFromServerType(0x00000803), null); // Xenix/Samba-like, no NT bit
});

test("SMB1 Native OS strings", (t) => {
  t.like(nativeOsVersion("Windows 5.1"), { family: "windows", major: 5, minor: 1, build: null, kind: null });
  t.like(nativeOsVersion("Windows 5.0\u0000"), { family: "windows", major: 5, minor: 0 });
  t.deepEqual(nativeOsVersion("Windows Server 2003 3790 Service Pack 2"), {
    family: "windows",
    major: 5,
    minor: 2,
    build: 3790,
    servicePack: "Service Pack 2",
    kind: "server",
  });
  t.deepEqual(nativeOsVersion("Windows 7 Professional 7601 Service Pack 1"), {
    family: "windows",
    major: 6,
    minor: 1,
    build: 7601,
    servicePack: "Service Pack 1",
    kind: "client",
  });
  t.like(nativeOsVersion("Windows Server 2008 R2 Enterprise 7601 Service Pack 1"), {
    major: 6,
    minor: 1,
    build: 7601,
    kind: "server",
  });
  t.like(nativeOsVersion("Windows Server 2016 Standard 14393"), {
    major: 10,
    minor: 0,
    build: 14393,
    kind: "server",
  });
  t.like(nativeOsVersion("Windows Server 2003 5.2"), { major: 5, minor: 2, build: null, kind: "server" });
  t.like(nativeOsVersion("Windows Server 2012"), { build: null, major: null, kind: "server" });
  t.like(nativeOsVersion("Unix"), { family: "unix", major: null });
  t.like(nativeOsVersion("Samba 4.17.12-Debian"), { family: "samba", build: null });
  t.like(nativeOsVersion("VxWorks"), { family: "other" });
  // Samba's server in test/fixtures/os/smb1.pcap: Native OS "Windows 6.1", Native LAN Manager "Samba ...".
  t.like(nativeOsVersion("Windows 6.1", "Samba 4.17.12-Debian"), { family: "samba", major: null });
  t.like(nativeOsVersion("Windows 5.1", "Windows 2000 LAN Manager"), {
    family: "windows",
    major: 5,
    minor: 1,
  });
  t.is(nativeOsVersion("  "), null);
});
