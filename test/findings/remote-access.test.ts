/**
 * Issue 11's remote-access findings from host observations (what agent/hosts/router.ts emits): net.smbv1,
 * net.rdp-weak-security, net.vnc-no-auth / net.vnc, net.cleartext-login, net.remote-access-external; and
 * what the inventory makes of them (remoteAccess, class "other" for hosts seen only this way).
 */
import test from "ava";
import { assoc, at, ep } from "../inventory/build.js";
import { hostObs, smbChosen, windowsSyn } from "../hosts/build.js";
import { Harness } from "./harness.js";

const pacs = (): ReturnType<typeof ep> => ep("10.1.0.20", 104, "02:00:00:00:00:20");

test("SMB1 negotiated with a DICOM device is high, with another host medium; SMB 3 raises nothing", (t) => {
  const h = new Harness();
  const archive = pacs();
  h.feed(assoc(ep("10.1.0.10", 40000), archive));
  const smbServer = { ...archive, port: 445 };
  const client = ep("10.1.0.30", 50000);
  h.feed(hostObs(smbServer, client, smbChosen(1, "NT LM 0.12"), { server: true }));
  const other = ep("10.1.0.40", 445);
  h.feed(hostObs(other, client, smbChosen(1, "NT LM 0.12"), { server: true }));
  h.feed(hostObs(ep("10.1.0.41", 445), client, smbChosen(2, "3.1.1"), { server: true }));
  const f = h.rule("net.smbv1");
  t.deepEqual(
    f.map((x) => [x.device, x.severity]).sort(),
    [
      [h.inventory.idFor(archive), "high"],
      [h.inventory.idFor(other), "medium"],
    ].sort(),
  );
  const dev = h.inventory.device(h.inventory.idFor(archive))!;
  t.deepEqual(
    dev.remoteAccess.map((r) => [r.protocol, r.port, r.role, r.security, r.peers]),
    [["smb", 445, "server", "SMB1", ["10.1.0.30"]]],
  );
});

test("RDP: Standard RDP Security is high, TLS without NLA medium, NLA nothing; a refusal nothing", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.30", 50001);
  const confirm = (ip: string, selected: number | null, failureCode: number | null = null) =>
    hostObs(
      ep(ip, 3389),
      c,
      { kind: "rdp-confirm", selectedProtocol: selected, flags: 0, failureCode },
      { server: true },
    );
  h.feed(
    confirm("10.1.0.50", 0),
    confirm("10.1.0.51", 1),
    confirm("10.1.0.52", 2),
    confirm("10.1.0.53", null, 5),
  );
  t.deepEqual(
    h
      .rule("net.rdp-weak-security")
      .map((f) => [f.device, f.severity])
      .sort(),
    [
      [h.inventory.idFor(ep("10.1.0.50")), "high"],
      [h.inventory.idFor(ep("10.1.0.51")), "medium"],
    ],
  );
  const nla = h.inventory.device(h.inventory.idFor(ep("10.1.0.52")))!;
  t.is(nla.class, "other", "an internal host seen only through its RDP is listed");
  t.deepEqual(nla.remoteAccess[0]!.security, "nla");
});

test("VNC: security type None offered or chosen is high; VNC with a password is medium", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.30", 50002);
  const open = ep("10.1.0.60", 5900);
  const locked = ep("10.1.0.61", 5901);
  h.feed(
    hostObs(open, c, { kind: "rfb-version", version: "RFB 003.008" }, { server: true }),
    hostObs(open, c, { kind: "rfb-security", offered: [1] }, { server: true }),
    hostObs(c, open, { kind: "rfb-chosen", type: 1 }),
    hostObs(locked, c, { kind: "rfb-version", version: "RFB 003.008" }, { server: true }),
    hostObs(locked, c, { kind: "rfb-security", offered: [2] }, { server: true }),
  );
  t.deepEqual(
    h.rule("net.vnc-no-auth").map((f) => [f.device, f.severity]),
    [[h.inventory.idFor(open), "high"]],
  );
  t.true(h.rule("net.vnc").some((f) => f.device === h.inventory.idFor(locked) && f.severity === "medium"));
  const dev = h.inventory.device(h.inventory.idFor(open))!;
  t.is(dev.remoteAccess.find((r) => r.role === "server")!.security, "none");
});

test("FTP and Telnet logins in clear are high, against the server, naming the client", (t) => {
  const h = new Harness();
  const client = ep("10.1.0.30", 50003);
  const ftp = ep("10.1.0.70", 21);
  const telnet = ep("10.1.0.71", 23);
  h.feed(
    hostObs(ftp, client, { kind: "ftp-banner", text: "220 (vsFTPd 3.0.3)" }, { server: true }),
    hostObs(client, ftp, { kind: "ftp-login", accepted: true }),
    hostObs(client, telnet, { kind: "telnet-login" }),
  );
  const f = h.rule("net.cleartext-login");
  t.deepEqual(f.map((x) => [x.device, x.peer, x.severity]).sort(), [
    [h.inventory.idFor(ftp), h.inventory.idFor(client), "high"],
    [h.inventory.idFor(telnet), h.inventory.idFor(client), "high"],
  ]);
  t.true(h.inventory.device(h.inventory.idFor(ftp))!.remoteAccess.some((r) => r.loginInClear));
});

test("remote access between an imaging device and a peer outside: RDP in, SSH out, TeamViewer by port; not for a non-DICOM host", (t) => {
  const h = new Harness();
  const modality = ep("10.1.0.10", 40000, "02:00:00:00:00:10");
  h.feed(assoc(modality, pacs()));
  const outside = ep("203.0.113.7", 61000);
  const rdp = { ...modality, port: 3389 };
  h.feed(
    hostObs(
      rdp,
      outside,
      { kind: "rdp-confirm", selectedProtocol: 2, flags: 0, failureCode: null },
      { server: true },
    ),
  );
  h.feed(
    hostObs({ ...modality, port: 40001 }, ep("198.51.100.9", 22), {
      kind: "ssh-banner",
      software: "OpenSSH_9.6",
    }),
  );
  h.feed({
    kind: "connection",
    tsMicros: at(2),
    client: { ...modality, port: 40002 },
    server: ep("198.51.100.10", 5938),
    handshake: "syn-ack",
  });
  // A workstation that is no DICOM device: its RDP from outside is another matter (no finding here).
  h.feed(
    hostObs(
      ep("10.1.0.90", 3389),
      outside,
      { kind: "rdp-confirm", selectedProtocol: 2, flags: 0, failureCode: null },
      { server: true },
    ),
  );
  const f = h.rule("net.remote-access-external");
  t.deepEqual(
    f
      .map((x) => x.evidence as { protocol: string; direction: string })
      .map((e) => `${e.protocol}:${e.direction}`)
      .sort(),
    ["RDP:inbound", "SSH:outbound", "TeamViewer:outbound"],
  );
  t.true(f.every((x) => x.severity === "high" && x.device === h.inventory.idFor(modality)));
});

test("hosts outside the internal networks are never inventoried from their system's traffic", (t) => {
  const h = new Harness();
  h.feed(hostObs(ep("203.0.113.5", 445), ep("10.1.0.30", 50004), smbChosen(2, "3.1.1"), { server: true }));
  t.is(h.inventory.device(h.inventory.idFor(ep("203.0.113.5"))), undefined);
  // The internal client is: it used SMB.
  const c = h.inventory.device(h.inventory.idFor(ep("10.1.0.30")))!;
  t.deepEqual(
    c.remoteAccess.map((r) => [r.protocol, r.role, r.peers]),
    [["smb", "client", ["203.0.113.5"]]],
  );
});

test("a SYN's fingerprint alone makes nobody a device, but is kept as a hint for a known one", (t) => {
  const h = new Harness();
  const syn = windowsSyn();
  h.feed(hostObs(ep("10.1.0.95", 50000), ep("10.1.0.20", 104), syn));
  t.is(h.inventory.device(h.inventory.idFor(ep("10.1.0.95"))), undefined);
  const known = ep("10.1.0.10", 40000);
  h.feed(assoc(known, pacs()), hostObs(known, pacs(), syn));
  const os = h.inventory.device(h.inventory.idFor(known))!.os!;
  t.is(os.family, "windows");
  t.is(os.confidence, "low");
  t.is(os.version, null);
});

test("a host first known from its DHCP request is announced as a new DICOM device when it first speaks DICOM", (t) => {
  const h = new Harness();
  const modality = ep("10.1.0.12", 68, "02:00:00:00:00:12");
  const dhcp = {
    kind: "dhcp" as const,
    messageType: 3,
    clientMac: "02:00:00:00:00:12",
    hostName: "CT-ROOM-2",
    vendorClass: "MSFT 5.0",
    parameterRequestList: [1, 3, 6, 15],
    requestedAddress: "10.1.0.12",
    fqdn: null,
  };
  h.feed(hostObs(modality, null, dhcp));
  t.deepEqual(h.rule("inventory.new-device"), [], "a host on the segment is no new DICOM device");
  t.is(h.inventory.device(h.inventory.idFor(modality))!.class, "other");
  h.feed(assoc({ ...modality, port: 40000 }, pacs(), { ts: at(30) }));
  const f = h.rule("inventory.new-device").filter((x) => x.device === h.inventory.idFor(modality));
  t.is(f.length, 1);
  t.is(h.inventory.device(h.inventory.idFor(modality))!.hostName, "CT-ROOM-2");
});

test("a modality seen offering SMB before its first association still gets net.risky-service when it speaks DICOM", (t) => {
  const h = new Harness();
  const modality = ep("10.1.0.13", 445, "02:00:00:00:00:13");
  h.feed(
    {
      kind: "connection",
      tsMicros: at(1),
      client: ep("10.1.0.30", 50010),
      server: modality,
      handshake: "syn-ack",
    },
    hostObs(modality, ep("10.1.0.30", 50010), smbChosen(2, "3.1.1"), { server: true }),
  );
  t.deepEqual(h.rule("net.risky-service"), []);
  h.feed(assoc({ ...modality, port: 40000 }, pacs(), { ts: at(20) }));
  t.deepEqual(
    h.rule("net.risky-service").map((f) => [f.device, f.key, f.severity]),
    [[h.inventory.idFor(modality), "445", "high"]],
  );
});
