/**
 * Issue 11: NTLMSSP ([MS-NLMP] 2.2.1) decoded from built messages and from a real LDAP NTLM bind, the
 * stream scanner split at every offset, random and mutated bytes, and the privacy rule: nothing of an
 * AUTHENTICATE's user, domain, responses, session key or MIC survives decoding.
 */
import test from "ava";
import fc from "fast-check";
import {
  decodeNtlmssp,
  findNtlmssp,
  MAX_NAME_CHARS,
  NTLM_SCAN_BUDGET,
  NtlmStreamScanner,
} from "../../agent/hosts/ntlm.js";
import type { HostIssues } from "../../agent/hosts/ntlm.js";
import type { AnomalyCode } from "../../agent/util/anomaly.js";
import {
  avPairs,
  chunks,
  FLAG_OEM,
  FLAG_TARGET_INFO,
  FLAG_UNICODE,
  FLAG_VERSION,
  ntlmAuthenticate,
  ntlmChallenge,
  ntlmNegotiate,
  spnego,
  utf16,
} from "./smb-builders.js";
import { feed, tcpStreams } from "./streams.js";

const CAPTURES = "../shared/captures/zeek/";

function recorder(): { issues: HostIssues; seen: { code: AnomalyCode; detail: string }[] } {
  const seen: { code: AnomalyCode; detail: string }[] = [];
  return { issues: (code, detail) => seen.push({ code, detail }), seen };
}

const V61 = { major: 6, minor: 1, build: 7601, revision: 15 };
const V10 = { major: 10, minor: 0, build: 20348, revision: 15 };

const challenge = (): Buffer =>
  ntlmChallenge(
    FLAG_UNICODE | FLAG_TARGET_INFO | FLAG_VERSION,
    V10,
    avPairs([
      [2, "HOSPITAL"],
      [1, "PACS01"],
      [4, "hospital.example"],
      [3, "pacs01.hospital.example"],
      [5, "hospital.example"],
      [7, Buffer.alloc(8, 0x42)], // MsvAvTimestamp: not a name, skipped
    ]),
  );

test("NEGOTIATE: flags, and VERSION only when flag V is set", (t) => {
  const withV = ntlmNegotiate(FLAG_UNICODE | FLAG_VERSION, V61);
  t.deepEqual(decodeNtlmssp(withV, 0, withV.length, "smb"), {
    kind: "ntlmssp",
    message: 1,
    version: V61,
    flags: (FLAG_UNICODE | FLAG_VERSION) >>> 0,
    target: null,
    workstation: null,
    carrier: "smb",
  });
  const noV = ntlmNegotiate(FLAG_UNICODE, V61);
  t.is(decodeNtlmssp(noV, 0, noV.length, "smb")!.version, null);
  // An old 16-byte NEGOTIATE that sets V without room for it: no version, no throw.
  t.is(decodeNtlmssp(withV, 0, 16, "other")!.version, null);
});

test("CHALLENGE: the server's names from TargetInfo and its VERSION", (t) => {
  const m = challenge();
  const e = decodeNtlmssp(m, 0, m.length, "ldap");
  t.deepEqual(e?.target, {
    netbiosComputer: "PACS01",
    netbiosDomain: "HOSPITAL",
    dnsComputer: "pacs01.hospital.example",
    dnsDomain: "hospital.example",
    dnsTree: "hospital.example",
  });
  t.deepEqual(e?.version, V10);
  t.is(e?.message, 2);
  t.is(e?.carrier, "ldap");
});

test("AUTHENTICATE: the workstation, Unicode or OEM by flag A", (t) => {
  const u = ntlmAuthenticate({ flags: FLAG_UNICODE | FLAG_VERSION, version: V61, workstation: "CT-CONSOLE" });
  const eu = decodeNtlmssp(u, 0, u.length, "smb");
  t.is(eu?.workstation, "CT-CONSOLE");
  t.deepEqual(eu?.version, V61);
  const o = ntlmAuthenticate({ flags: FLAG_OEM, workstation: "MR-HOST\u00e9" });
  t.is(decodeNtlmssp(o, 0, o.length, "smb")?.workstation, "MR-HOST\u00e9");
  t.is(decodeNtlmssp(o, 0, o.length, "smb")?.version, null);
});

test("names: control characters stripped, blank is null, too long is refused and reported", (t) => {
  const m = ntlmAuthenticate({ flags: FLAG_UNICODE, workstation: "WS\u0000\u001b[31m01\u0007" });
  t.is(decodeNtlmssp(m, 0, m.length, "smb")?.workstation, "WS[31m01");
  const blank = ntlmAuthenticate({ flags: FLAG_UNICODE, workstation: "\u0000\u0000" });
  t.is(decodeNtlmssp(blank, 0, blank.length, "smb")?.workstation, null);
  const r = recorder();
  const long = ntlmAuthenticate({ flags: FLAG_UNICODE, workstation: "W".repeat(MAX_NAME_CHARS + 1) });
  t.is(decodeNtlmssp(long, 0, long.length, "smb", r.issues)?.workstation, null);
  t.deepEqual(
    r.seen.map((s) => s.code),
    ["hosts.ntlm-name-too-long"],
  );
  const ok = ntlmAuthenticate({ flags: FLAG_UNICODE, workstation: "W".repeat(MAX_NAME_CHARS) });
  t.is(decodeNtlmssp(ok, 0, ok.length, "smb")?.workstation?.length, MAX_NAME_CHARS);
});

test("every offset and length is checked against the message bounds", (t) => {
  const m = challenge();
  // TargetInfo's offset beyond the message.
  const bad = Buffer.from(m);
  bad.writeUInt32LE(0xfffffff0, 44);
  const r = recorder();
  const e = decodeNtlmssp(bad, 0, bad.length, "smb", r.issues);
  t.is(e?.target, null);
  t.deepEqual(e?.version, V10);
  t.deepEqual(
    r.seen.map((s) => s.code),
    ["hosts.ntlm-malformed"],
  );
  // The message cut by its carrier: TargetInfo leaves it.
  const r2 = recorder();
  t.is(decodeNtlmssp(m, 0, m.length - 1, "smb", r2.issues)?.target, null);
  t.is(r2.seen.length, 1);
  // An AV pair longer than TargetInfo: the names before it are kept.
  const info = avPairs([
    [1, "PACS01"],
    [2, "X"],
  ]);
  info.writeUInt16LE(200, 4 + 12 + 2);
  const m3 = ntlmChallenge(FLAG_UNICODE, null, info);
  const r3 = recorder();
  const e3 = decodeNtlmssp(m3, 0, m3.length, "smb", r3.issues);
  t.is(e3?.target?.netbiosComputer, "PACS01");
  t.is(e3?.target?.netbiosDomain, null);
  t.is(r3.seen[0]?.code, "hosts.ntlm-malformed");
  // Shorter than the fixed header, unknown type, no signature.
  const r4 = recorder();
  t.is(decodeNtlmssp(m, 0, 40, "smb", r4.issues), null);
  const unknown = Buffer.from(m);
  unknown.writeUInt32LE(9, 8);
  t.is(decodeNtlmssp(unknown, 0, unknown.length, "smb", r4.issues), null);
  t.deepEqual(
    r4.seen.map((s) => s.code),
    ["hosts.ntlm-malformed", "hosts.ntlm-malformed"],
  );
  t.is(decodeNtlmssp(Buffer.from("NTLMSSX\0\x01\0\0\0"), 0, 12, "smb"), null);
  t.is(decodeNtlmssp(m, 5, m.length, "smb"), null);
});

test("privacy: an AUTHENTICATE's user, domain, responses, session key and MIC appear nowhere", (t) => {
  const secrets = {
    user: "Jane.Doe.Radiologist",
    domain: "SECRETDOMAIN",
    lm: Buffer.from("4c4d5245535053454352455421212121aabbccddeeff0011", "hex"),
    nt: Buffer.concat([Buffer.from("4e54524553505345435245543f3f3f3f", "hex"), Buffer.alloc(40, 0x5a)]),
    sessionKey: Buffer.from("53455353494f4e4b4559534543524554", "hex"),
    mic: Buffer.from("4d49435345435245544d494353454352", "hex"),
  };
  const needles = (b: Buffer): string[] => [b.toString("hex"), b.toString("base64"), b.toString("latin1")];
  const forbidden = [
    secrets.user,
    secrets.domain,
    ...needles(secrets.lm),
    ...needles(secrets.nt),
    ...needles(secrets.sessionKey),
    ...needles(secrets.mic),
  ];
  for (const flags of [FLAG_UNICODE | FLAG_VERSION, FLAG_OEM]) {
    const m = ntlmAuthenticate({ flags, version: V61, workstation: "WS01", ...secrets });
    // Whole, cut, wrapped in SPNEGO, and through the stream scanner.
    const r = recorder();
    const outputs: unknown[] = [];
    for (let end = 0; end <= m.length; end++) outputs.push(decodeNtlmssp(m, 0, end, "smb", r.issues));
    const wrapped = spnego(m);
    outputs.push(decodeNtlmssp(wrapped, findNtlmssp(wrapped, 0, wrapped.length), wrapped.length, "smb"));
    const sink = feed(
      (s) => new NtlmStreamScanner(s, "dcerpc"),
      chunks([0, wrapped]),
      (d) => Array.from({ length: d.length }, (_, i) => i),
    );
    outputs.push(sink.events, sink.anomalies, r.seen);
    const json = JSON.stringify(outputs);
    t.true(json.includes("WS01"));
    for (const f of forbidden) t.false(json.includes(f), f);
    // Nor in any case or as UTF-16 text.
    t.false(json.toLowerCase().includes(secrets.user.toLowerCase()));
  }
});

test("findNtlmssp: inside SPNEGO, bounded by end", (t) => {
  const m = ntlmNegotiate(FLAG_UNICODE);
  const w = spnego(m);
  const at = findNtlmssp(w, 0, w.length);
  t.true(at > 0);
  t.is(w.subarray(at, at + 8).toString("latin1"), "NTLMSSP\0");
  t.is(findNtlmssp(w, 0, at + 7), -1);
  t.is(findNtlmssp(w, at + 1, w.length), -1);
  t.is(findNtlmssp(w, -5, w.length + 100), at);
  t.is(findNtlmssp(Buffer.alloc(4), 0, 4), -1);
});

/** An LDAP-like conversation: NTLM tokens inside other bytes, both ways. */
function ldapLike(): ReturnType<typeof chunks> {
  const wrap = (tag: number, token: Buffer): Buffer =>
    Buffer.concat([
      Buffer.from([0x30, 0x84, 0, 0, 0, 0, 0x02, 0x01, tag, 0x60, 0x0a]),
      Buffer.from("sicily"),
      token,
    ]);
  return chunks(
    [0, wrap(1, ntlmNegotiate(FLAG_UNICODE | FLAG_VERSION, V61))],
    [1, wrap(1, challenge())],
    [
      0,
      wrap(
        2,
        ntlmAuthenticate({
          flags: FLAG_UNICODE,
          workstation: "US-ROOM-3",
          user: "someone",
          nt: Buffer.alloc(24, 7),
        }),
      ),
    ],
    [1, Buffer.from("after the bind: nothing more is read")],
  );
}

test("NtlmStreamScanner: the same events whole, cut at every offset, and byte by byte", (t) => {
  const c = ldapLike();
  const make = (s: Parameters<typeof feed>[0] extends (x: infer S) => unknown ? S : never) =>
    new NtlmStreamScanner(s, "ldap");
  const whole = feed(make, c);
  t.deepEqual(
    whole.events.map((e) => [e.dir, e.e.kind === "ntlmssp" ? e.e.message : 0]),
    [
      [0, 1],
      [1, 2],
      [0, 3],
    ],
  );
  t.deepEqual(whole.anomalies, []);
  const expected = JSON.stringify(whole.events);
  const longest = Math.max(...c.map((x) => ("data" in x ? x.data.length : 0)));
  for (let k = 1; k < longest; k++)
    t.is(JSON.stringify(feed(make, c, () => [k]).events), expected, `cut at ${k}`);
  for (let k = 2; k < 16; k++) {
    const every = (d: Buffer) => Array.from({ length: Math.ceil(d.length / k) }, (_, i) => i * k);
    t.is(JSON.stringify(feed(make, c, every).events), expected, `every ${k}`);
  }
  t.is(JSON.stringify(feed(make, c, (d) => Array.from({ length: d.length }, (_, i) => i)).events), expected);
});

test("NtlmStreamScanner: done after AUTHENTICATE, or after the budget both ways", (t) => {
  const auth = ntlmAuthenticate({ flags: FLAG_UNICODE, workstation: "A" });
  const s1 = feed((s) => new NtlmStreamScanner(s, "other"), chunks([0, auth], [1, challenge()]));
  t.is(s1.events.length, 1);
  // A signature beyond the first 64 KiB is not looked for.
  const late = Buffer.concat([Buffer.alloc(NTLM_SCAN_BUDGET - 4, 0x41), challenge()]);
  let scanner: NtlmStreamScanner | null = null;
  const s2 = feed(
    (s) => (scanner = new NtlmStreamScanner(s, "other")),
    chunks([1, late], [0, Buffer.alloc(NTLM_SCAN_BUDGET, 0x41)]),
    (d) => Array.from({ length: Math.ceil(d.length / 1000) }, (_, i) => i * 1000),
  );
  t.is(s2.events.length, 0);
  t.true(scanner!.done);
  // A gap drops what straddled it; the scan goes on.
  const m = challenge();
  const s3 = feed(
    (s) => new NtlmStreamScanner(s, "other"),
    [
      { dir: 1, data: m.subarray(0, 30), tsMicros: 1 },
      { dir: 1, gap: 100, tsMicros: 2 },
      { dir: 1, data: m, tsMicros: 3 },
    ],
  );
  t.is(s3.events.length, 1);
});

test("NtlmStreamScanner: a message whose payload lies beyond the 4 KiB tail is reported, not waited for", (t) => {
  const info = avPairs([[1, "X".repeat(2500)]]);
  const m = ntlmChallenge(FLAG_UNICODE, null, info);
  const s = feed(
    (k) => new NtlmStreamScanner(k, "other"),
    chunks([1, m]),
    () => [100],
  );
  t.is(s.events.length, 1);
  t.is(s.events[0]!.e.kind === "ntlmssp" && s.events[0]!.e.target, null);
  t.deepEqual(
    s.anomalies.map((a) => a.code),
    ["hosts.ntlm-malformed"],
  );
});

const messages = [
  ntlmNegotiate(FLAG_UNICODE | FLAG_VERSION, V61),
  challenge(),
  ntlmAuthenticate({
    flags: FLAG_UNICODE | FLAG_VERSION,
    version: V61,
    workstation: "WS",
    user: "u",
    nt: utf16("x"),
  }),
  ntlmAuthenticate({ flags: FLAG_OEM, workstation: "WS" }),
];

test("random and mutated bytes never throw and give bounded output", (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...messages),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
      fc.nat(),
      (m, flips, cut) => {
        const b = Buffer.from(m);
        for (const [at, v] of flips) b[at % b.length] = v;
        const end = cut % (b.length + 1);
        const e = decodeNtlmssp(b, 0, end, "smb", () => {});
        if (e !== null) t.true(JSON.stringify(e).length < 8 * MAX_NAME_CHARS);
        const s = feed(
          (k) => new NtlmStreamScanner(k, "other"),
          chunks([0, b], [1, b]),
          () => [cut % 97],
        );
        t.true(s.events.length <= 4);
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, sig) => {
      const b = Buffer.concat([sig ? Buffer.from("NTLMSSP\0") : Buffer.alloc(0), Buffer.from(bytes)]);
      decodeNtlmssp(b, 0, b.length, "other", () => {});
      findNtlmssp(b, 0, b.length);
      feed(
        (k) => new NtlmStreamScanner(k, "other"),
        chunks([0, b]),
        (d) => [d.length >> 1],
      );
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("golden: the LDAP NTLM bind of ldap_aduser1-ntlm.pcap", async (t) => {
  const [stream] = await tcpStreams(CAPTURES + "ldap_aduser1-ntlm.pcap");
  const make = (s: Parameters<typeof feed>[0] extends (x: infer S) => unknown ? S : never) =>
    new NtlmStreamScanner(s, "ldap");
  const sink = feed(make, stream!.chunks);
  t.deepEqual(
    sink.events.map((e) => ({ dir: e.dir, ...e.e })),
    [
      {
        dir: 0,
        kind: "ntlmssp",
        message: 1,
        version: null,
        flags: 0xa0880205,
        target: null,
        workstation: null,
        carrier: "ldap",
      },
      {
        dir: 1,
        kind: "ntlmssp",
        message: 2,
        version: { major: 10, minor: 0, build: 20348, revision: 15 },
        flags: 0xa2890205,
        target: {
          netbiosComputer: "WIN-VGO56I95EAK",
          netbiosDomain: "ADHACKING",
          dnsComputer: "WIN-VGO56I95EAK.ADHACKING.local",
          dnsDomain: "ADHACKING.local",
          dnsTree: "ADHACKING.local",
        },
        workstation: null,
        carrier: "ldap",
      },
      {
        dir: 0,
        kind: "ntlmssp",
        message: 3,
        version: null,
        flags: 0xa0880205,
        target: null,
        workstation: null,
        carrier: "ldap",
      },
    ],
  );
  t.deepEqual(sink.anomalies, []);
  // The user name of the bind (User1) is not in any event.
  t.false(JSON.stringify(sink.events).includes("User1"));
  const bytewise = feed(make, stream!.chunks, (d) => Array.from({ length: d.length }, (_, i) => i));
  t.deepEqual(bytewise.events, sink.events);
});
