/**
 * Issue 11: os.unsupported and os.vulnerable from the evidence a device's own traffic carries, judged with
 * the real Windows table (data/windows-builds.json) at the capture's time (test/inventory/build.ts's T0,
 * 2026-11-25).
 */
import test from "ava";
import { assoc, at, ep } from "../inventory/build.js";
import { browserAnnouncement, hostObs, ntlm, smbChosen } from "../hosts/build.js";
import { Harness } from "./harness.js";

const pacs = (): ReturnType<typeof ep> => ep("10.1.0.20", 104, "02:00:00:00:00:20");

test("an ordinary Windows 11 workstation using SMB 3 with a Windows Server 2022 file server: nothing above low", (t) => {
  const h = new Harness();
  const ws = ep("10.1.0.31", 50100);
  const fs = ep("10.1.0.5", 445);
  h.feed(
    hostObs(ws, fs, ntlm(1, 10, 0, 26200)),
    hostObs(fs, ws, smbChosen(2, "3.1.1"), { server: true }),
    hostObs(fs, ws, ntlm(2, 10, 0, 20348), { server: true }),
    hostObs(ws, fs, ntlm(3, 10, 0, 26200, { workstation: "WS-31" })),
  );
  t.deepEqual(h.above("low"), []);
  const d = h.inventory.device(h.inventory.idFor(ws))!;
  t.is(d.class, "other");
  t.is(d.hostName, "WS-31");
  t.is(d.os!.family, "windows");
  t.is(d.os!.build, 26200);
  t.is(d.os!.confidence, "high");
  t.is(h.inventory.device(h.inventory.idFor(fs))!.os!.name, "Windows Server 2022");
});

test("a Windows 7 modality offering SMB1 and RDP: unsupported and vulnerable, both high, reachable through them", (t) => {
  const h = new Harness();
  const modality = ep("10.1.0.10", 40000, "02:00:00:00:00:10");
  h.feed(assoc(modality, pacs()));
  const smb = { ...modality, port: 445 };
  const rdp = { ...modality, port: 3389 };
  const ws = ep("10.1.0.31", 50101);
  h.feed(
    hostObs(smb, ws, smbChosen(1, "NT LM 0.12"), { server: true, ts: at(5) }),
    hostObs(
      smb,
      ws,
      {
        kind: "smb1-native-os",
        request: false,
        nativeOs: "Windows 7 Embedded Standard 7601 Service Pack 1",
        nativeLanMan: "Windows 7 Embedded Standard 6.1",
        primaryDomain: null,
      },
      { server: true, ts: at(5) },
    ),
    hostObs(
      rdp,
      ws,
      { kind: "rdp-confirm", selectedProtocol: 2, flags: 0, failureCode: null },
      { server: true, ts: at(6) },
    ),
  );
  const dev = h.inventory.device(h.inventory.idFor(modality))!;
  t.is(dev.os!.name, "Windows 7 SP1");
  t.is(dev.os!.server, false);
  t.is(dev.os!.edition, "Embedded");
  const unsupported = h.rule("os.unsupported");
  t.is(unsupported.length, 1);
  t.is(unsupported[0]!.severity, "high");
  t.regex(unsupported[0]!.title, /Windows 7 SP1.*out of support since 2023-01-10, and offers RDP and SMB/);
  const vulnerable = h.rule("os.vulnerable");
  t.is(vulnerable.length, 1);
  t.is(vulnerable[0]!.severity, "high");
  const ev = vulnerable[0]!.evidence as { reachable: string[]; cves: { id: string }[]; patchLevel: string };
  t.deepEqual(ev.reachable.sort(), ["CVE-2019-0708", "CVE-2019-1181", "MS17-010"]);
  t.regex(ev.patchLevel, /not visible/);
  t.true(
    h.rule("net.smbv1").some((f) => f.severity === "high"),
    "SMB1 on a DICOM device",
  );
});

test("Windows 10 1607 or Server 2016, undecided: not called unsupported on a guess (Server 2016 runs to 2027)", (t) => {
  const h = new Harness();
  h.feed(hostObs(ep("10.1.0.40", 445), ep("10.1.0.31", 50102), ntlm(2, 10, 0, 14393), { server: true }));
  t.deepEqual(h.rule("os.unsupported"), []);
  // A browser announcement saying workstation decides it: 1607's LTSB ended 2026-10-13.
  h.feed(hostObs(ep("10.1.0.40", 138), null, browserAnnouncement(10, 0)));
  const f = h.rule("os.unsupported");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "medium");
  t.regex(f[0]!.title, /Windows 10 version 1607/);
});

test("Windows XP known by its NTLM version alone: unsupported medium, vulnerable low (no SMB or RDP seen offered)", (t) => {
  const h = new Harness();
  h.feed(hostObs(ep("10.1.0.41", 50000), ep("10.1.0.5", 445), ntlm(1, 5, 1, 2600)));
  const f = h.rule("os.unsupported");
  t.deepEqual(
    f.map((x) => x.severity),
    ["medium"],
  );
  t.deepEqual(
    h.rule("os.vulnerable").map((x) => x.severity),
    ["low"],
  );
});
