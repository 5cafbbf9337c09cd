import test from "ava";
import { FtpStreamDecoder, MAX_FTP_LINE, TelnetStreamDecoder } from "../../agent/hosts/cleartext-login.js";
import type { HostStreamSink } from "../../agent/hosts/types.js";
import {
  assertNoCanary,
  chunk,
  mutatedNeverThrows,
  randomNeverThrows,
  splitEverywhere,
} from "./split-check.js";
import { feed, RecordingSink, tcpStreams } from "./streams.js";

const ftp = (s: HostStreamSink) => new FtpStreamDecoder(s);
const telnet = (s: HostStreamSink) => new TelnetStreamDecoder(s);
const USER = "canary.user.a1b2";
const PASS = "Canary-Pass-9z8y";

const login = (result: string) => [
  chunk(1, "220 ProFTPD 1.3.5 Server (Modality FTP) [10.0.0.5]\r\n"),
  chunk(0, `USER ${USER}\r\n`),
  chunk(1, "331 Password required\r\n"),
  chunk(0, `PASS ${PASS}\r\n`),
  chunk(1, result),
];

test("FTP: banner, USER and PASS accepted (230), values never kept", (t) => {
  const s = splitEverywhere(t, ftp, login("230 User logged in\r\n"));
  t.deepEqual(
    s.events.map((x) => [x.dir, x.e]),
    [
      [1, { kind: "ftp-banner", text: "ProFTPD 1.3.5 Server (Modality FTP) [10.0.0.5]" }],
      [0, { kind: "ftp-login", accepted: true }],
    ],
  );
  assertNoCanary(t, s, [USER, PASS]);
});

test("FTP: 530 refuses the login; a multi-line 230 accepts it", (t) => {
  t.deepEqual(feed(ftp, login("530 Login incorrect.\r\n")).events.at(-1)!.e, {
    kind: "ftp-login",
    accepted: false,
  });
  const multi = splitEverywhere(t, ftp, login("230-Welcome\r\n  to the archive\r\n230 Done\r\n"));
  t.deepEqual(multi.events.at(-1)!.e, { kind: "ftp-login", accepted: true });
});

test("FTP: a multi-line greeting, 120 before 220, pipelined commands", (t) => {
  const s = splitEverywhere(t, ftp, [
    chunk(1, "120 Service ready in 1 minute\r\n"),
    chunk(1, "220-\r\n220-  Siemens syngo FTP\r\n   more text\r\n220 ready\r\n"),
    chunk(0, `USER ${USER}\r\nPASS ${PASS}\r\n`),
    chunk(1, "331 Password required\r\n530 Login incorrect\r\n"),
  ]);
  t.deepEqual(
    s.events.map((x) => x.e),
    [
      { kind: "ftp-banner", text: "Siemens syngo FTP" },
      { kind: "ftp-login", accepted: false },
    ],
  );
  assertNoCanary(t, s, [USER, PASS]);
});

test("FTP: a PASS without reply is reported with accepted null when the decoder stops (close, gap, cap)", (t) => {
  const chunks = login("").slice(0, 4);
  const viaClose = new RecordingSink();
  const d = new FtpStreamDecoder(viaClose);
  for (const c of chunks) if ("data" in c) d.data(c.dir, c.data, 0, c.data.length, 0);
  t.false(d.done);
  d.close(1);
  t.true(d.done);
  t.deepEqual(viaClose.events.at(-1)!.e, { kind: "ftp-login", accepted: null });
  d.close(2);
  t.is(viaClose.events.filter((x) => x.e.kind === "ftp-login").length, 1);
  const viaGap = feed(ftp, [...chunks, { dir: 1, gap: 100, tsMicros: 0 }]);
  t.deepEqual(viaGap.events.at(-1)!.e, { kind: "ftp-login", accepted: null });
  assertNoCanary(t, viaGap, [USER, PASS]);
  // Without PASS, nothing is reported.
  const noPass = feed(ftp, [...chunks.slice(0, 3), { dir: 1, gap: 100, tsMicros: 0 }]);
  t.deepEqual(
    noPass.events.map((x) => x.e.kind),
    ["ftp-banner"],
  );
});

test("FTP: a 332 (need account) hands the decision to ACCT's reply", (t) => {
  const s = feed(ftp, [...login("332 Need account\r\n"), chunk(0, "ACCT x\r\n"), chunk(1, "230 ok\r\n")]);
  t.deepEqual(s.events.at(-1)!.e, { kind: "ftp-login", accepted: true });
});

test("FTP: AUTH TLS, 234, then tls-start and done; a refused AUTH goes on in clear", (t) => {
  const s = splitEverywhere(t, ftp, [
    chunk(1, "220 FileZilla Server 0.9.60 beta\r\n"),
    chunk(0, "AUTH TLS\r\n"),
    chunk(1, "234 Using authentication type TLS\r\n"),
    chunk(0, Buffer.from([0x16, 3, 1, 0, 2, 1, 0])),
  ]);
  t.deepEqual(
    s.events.map((x) => [x.dir, x.e]),
    [
      [1, { kind: "ftp-banner", text: "FileZilla Server 0.9.60 beta" }],
      [0, { kind: "ftp-auth-tls" }],
      [1, { kind: "tls-start" }],
    ],
  );
  const refused = feed(ftp, [
    chunk(1, "220 x\r\n"),
    chunk(0, "AUTH SSL\r\n"),
    chunk(1, "504 not supported\r\n"),
    chunk(0, `USER ${USER}\r\n`),
    chunk(1, "331 pw\r\n"),
    chunk(0, `PASS ${PASS}\r\n`),
    chunk(1, "230 ok\r\n"),
  ]);
  t.deepEqual(
    refused.events.map((x) => x.e.kind),
    ["ftp-banner", "ftp-auth-tls", "ftp-login"],
  );
});

test("FTP: banner text is printable ASCII, at most 120 characters", (t) => {
  const s = feed(ftp, [chunk(1, `220 \x01Caf\xe9 ${"x".repeat(300)}\r\n`)]);
  const e = s.events[0]!.e as { kind: "ftp-banner"; text: string };
  t.is(e.text.length, 120);
  t.true(e.text.startsWith("Caf x"));
});

test("FTP anomalies: a long line (never quoted), a line that is no reply", (t) => {
  const long = feed(ftp, [chunk(1, "220 hi\r\n"), chunk(0, `PASS ${PASS}${"y".repeat(MAX_FTP_LINE)}\r\n`)]);
  t.deepEqual(
    long.anomalies.map((a) => a.code),
    ["hosts.ftp-line-too-long"],
  );
  assertNoCanary(t, long, [PASS]);
  // The login was never seen as a command: nothing about it is reported.
  t.deepEqual(
    long.events.map((x) => x.e.kind),
    ["ftp-banner"],
  );
  // A line of exactly MAX_FTP_LINE bytes is fine.
  const edge = feed(ftp, [chunk(1, `220 ${"z".repeat(MAX_FTP_LINE - 4)}\r\n`)]);
  t.deepEqual(edge.anomalies, []);
  const bad = feed(ftp, [chunk(1, "SSH-2.0-OpenSSH_8.9\r\n")]);
  t.deepEqual(
    bad.anomalies.map((a) => a.code),
    ["hosts.ftp-bad-reply"],
  );
});

test("FTP: random bytes and mutated sessions never throw", (t) => {
  randomNeverThrows(t, ftp);
  mutatedNeverThrows(t, ftp, login("230 ok\r\n"));
});

test("golden: ftp_ipv4.pcap (NetBSD ftpd banner, anonymous USER/PASS accepted)", async (t) => {
  const streams = await tcpStreams("../shared/captures/zeek/ftp_ipv4.pcap");
  const control = streams.find((s) => s.info.server.port === 21)!;
  const s = splitEverywhere(t, ftp, control.chunks.slice(0, 8));
  t.deepEqual(
    s.events.map((x) => [x.dir, x.e]),
    [
      [1, { kind: "ftp-banner", text: "ftp.NetBSD.org FTP server (NetBSD-ftpd 20100320) ready." }],
      [0, { kind: "ftp-login", accepted: true }],
    ],
  );
  t.deepEqual(feed(ftp, control.chunks).events, s.events);
  t.deepEqual(s.anomalies, []);
  // The password typed was "test" and the user "anonymous" (tshark): neither is kept.
  assertNoCanary(t, s, ["anonymous", "PASS"]);
  t.false(JSON.stringify(s.events).includes('"test"'));
});

// ── Telnet ──────────────────────────────────────────────────────────────────────────────────────
const IAC = 255;
const negotiation = Buffer.from([IAC, 253, 24, IAC, 253, 32, IAC, 251, 1, IAC, 250, 24, 1, IAC, 240]);
const TYPED = "canaryTyped77";

test("Telnet: negotiation stripped, banner, login prompt answered", (t) => {
  const s = splitEverywhere(t, telnet, [
    chunk(1, negotiation),
    chunk(0, Buffer.from([IAC, 251, 24, IAC, 250, 24, 0, 0x76, 0x74, IAC, 240])),
    chunk(1, "\r\nPhilips CT Console 4.1\r\n\r\n"),
    chunk(1, Buffer.concat([Buffer.from("ct01 Login: "), Buffer.from([IAC, 251, 3])])),
    chunk(0, `${TYPED}\r\n`),
    chunk(1, "Password: "),
    chunk(0, `${TYPED}-pw\r\n`),
  ]);
  t.deepEqual(
    s.events.map((x) => [x.dir, x.e]),
    [
      [1, { kind: "telnet-banner", text: "Philips CT Console 4.1 ct01 Login:" }],
      [0, { kind: "telnet-login" }],
    ],
  );
  assertNoCanary(t, s, [TYPED]);
});

test("Telnet: 'Username:' in any case; client data before a prompt is no login", (t) => {
  const s = feed(telnet, [chunk(1, "Welcome\r\n"), chunk(0, "x"), chunk(1, "USERNAME:"), chunk(0, TYPED)]);
  t.deepEqual(
    s.events.map((x) => x.e),
    [{ kind: "telnet-banner", text: "Welcome" }, { kind: "telnet-login" }],
  );
  const noPrompt = feed(telnet, [chunk(1, "BusyBox v1.2 shell\r\n# "), chunk(0, `ls ${TYPED}\r\n`)]);
  t.deepEqual(
    noPrompt.events.map((x) => x.e),
    [{ kind: "telnet-banner", text: "BusyBox v1.2 shell #" }],
  );
  assertNoCanary(t, noPrompt, [TYPED]);
});

test("Telnet: IAC IAC is a data byte; an unclosed subnegotiation is an anomaly", (t) => {
  const s = feed(telnet, [chunk(1, Buffer.from([0x41, IAC, IAC, 0x42, 0x3a])), chunk(0, "x")]);
  t.deepEqual(s.events[0]!.e, { kind: "telnet-banner", text: "AB:" });
  const sb = feed(telnet, [chunk(1, Buffer.concat([Buffer.from([IAC, 250, 24]), Buffer.alloc(600, 1)]))]);
  t.deepEqual(
    sb.anomalies.map((a) => a.code),
    ["hosts.telnet-subnegotiation-too-long"],
  );
});

test("Telnet: done after the login or the byte cap", (t) => {
  const d = new TelnetStreamDecoder(new RecordingSink());
  const big = Buffer.alloc(17 * 1024, 0x61);
  d.data(1, big, 0, big.length, 0);
  t.true(d.done);
});

test("Telnet: random bytes and mutated sessions never throw", (t) => {
  randomNeverThrows(t, telnet);
  mutatedNeverThrows(t, telnet, [chunk(1, negotiation), chunk(1, "host login: "), chunk(0, "root\r\n")]);
});
