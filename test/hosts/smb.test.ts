/**
 * Issue 11: SMB on 445 and 139 — NEGOTIATE and SESSION_SETUP of SMB1 and SMB2/3 from built bytes and real
 * captures, split at every offset, bounded on bulk traffic, and never throwing on random or mutated bytes.
 */
import test from "ava";
import fc from "fast-check";
import { SMB_MAX_MESSAGES, SmbStreamDecoder } from "../../agent/hosts/smb.js";
import type { HostEvent, HostStreamSink } from "../../agent/hosts/types.js";
import {
  avPairs,
  chunks,
  compressionContext,
  context,
  direct,
  FLAG_OEM,
  FLAG_UNICODE,
  FLAG_VERSION,
  nbss,
  ntlmAuthenticate,
  ntlmChallenge,
  ntlmNegotiate,
  smb1NegotiateRequest,
  smb1NegotiateResponseLanman,
  smb1NegotiateResponseNt,
  smb1SessionSetupPlainRequest,
  smb1SessionSetupPlainResponse,
  smb1SessionSetupRequest,
  smb1SessionSetupResponse,
  smb2,
  smb2NegotiateRequest,
  smb2NegotiateResponse,
  smb2SessionSetupRequest,
  smb2SessionSetupResponse,
  spnego,
  STATUS_MORE_PROCESSING_REQUIRED,
} from "./smb-builders.js";
import { type Chunk, feed, tcpStreams } from "./streams.js";

const CAPTURES = "../shared/captures/zeek/";
const make = (s: HostStreamSink): SmbStreamDecoder => new SmbStreamDecoder(s);
const everyByte = (d: Buffer): number[] => Array.from({ length: d.length }, (_, i) => i);
const V = { major: 6, minor: 1, build: 7601, revision: 15 };

function kinds(events: { dir: number; e: HostEvent }[]): string[] {
  return events.map(({ dir, e }) => `${dir}:${e.kind}${e.kind === "ntlmssp" ? e.message : ""}`);
}

/** A whole SMB 3.1.1 conversation: NEGOTIATE with contexts, SPNEGO-wrapped NTLM, then bulk traffic. */
function smb311(): Chunk[] {
  const ctx = [context(1, Buffer.alloc(38)), compressionContext([2, 3, 0, 4, 9])];
  return chunks(
    [0, direct(smb2NegotiateRequest([0x0202, 0x0210, 0x0300, 0x0302, 0x0311, 0x0399], 0x01, 0x7f, ctx))],
    [
      1,
      direct(
        smb2NegotiateResponse(0x0311, 0x03, 0x2f, [context(1, Buffer.alloc(38)), compressionContext([2])]),
      ),
    ],
    [0, direct(smb2SessionSetupRequest(spnego(ntlmNegotiate(FLAG_UNICODE | FLAG_VERSION, V))))],
    [
      1,
      direct(
        smb2SessionSetupResponse(
          spnego(ntlmChallenge(FLAG_UNICODE | FLAG_VERSION, V, avPairs([[1, "MODALITY7"]]))),
          STATUS_MORE_PROCESSING_REQUIRED,
        ),
      ),
    ],
    [
      0,
      direct(
        smb2SessionSetupRequest(
          spnego(ntlmAuthenticate({ flags: FLAG_UNICODE, workstation: "READER2", user: "dr.who" })),
        ),
      ),
    ],
    [1, direct(smb2SessionSetupResponse(Buffer.alloc(0), 0))],
    [0, direct(smb2(9, false, 0, Buffer.alloc(5000, 0x77)))],
  );
}

test("SMB2/3: NEGOTIATE with 3.1.1 contexts, SESSION_SETUP with NTLMSSP in SPNEGO, done after setup", (t) => {
  let d: SmbStreamDecoder | null = null;
  const s = feed((k) => (d = make(k)), smb311());
  t.deepEqual(kinds(s.events), [
    "0:smb-negotiate",
    "1:smb-negotiate",
    "0:ntlmssp1",
    "1:ntlmssp2",
    "0:ntlmssp3",
  ]);
  t.deepEqual(s.events[0]!.e, {
    kind: "smb-negotiate",
    smb: 2,
    request: true,
    dialects: ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1", "0x0399"],
    capabilities: 0x7f,
    signingRequired: false,
    compression: ["LZ77", "LZ77+Huffman", "Pattern_V1", "0x0009"],
  });
  t.deepEqual(s.events[1]!.e, {
    kind: "smb-negotiate",
    smb: 2,
    request: false,
    dialects: ["3.1.1"],
    capabilities: 0x2f,
    signingRequired: true,
    compression: ["LZ77"],
  });
  const ch = s.events[3]!.e;
  t.true(ch.kind === "ntlmssp" && ch.target?.netbiosComputer === "MODALITY7" && ch.carrier === "smb");
  const au = s.events[4]!.e;
  t.true(au.kind === "ntlmssp" && au.workstation === "READER2");
  t.false(JSON.stringify(s.events).includes("dr.who"));
  t.deepEqual(s.anomalies, []);
  t.true(d!.done);
});

test("split at every offset: the same events", (t) => {
  for (const conversation of [smb311(), smb1Conversation(), smb1Plain()]) {
    const expected = JSON.stringify(feed(make, conversation).events);
    const longest = Math.max(...conversation.map((c) => ("data" in c ? c.data.length : 0)));
    for (let k = 1; k < longest; k++)
      t.is(JSON.stringify(feed(make, conversation, () => [k]).events), expected);
    t.is(JSON.stringify(feed(make, conversation, everyByte).events), expected);
  }
});

/** SMB1 over NetBIOS (139): session request, NEGOTIATE, extended-security SESSION_SETUP with raw NTLMSSP. */
function smb1Conversation(): Chunk[] {
  return chunks(
    [0, nbss(0x81, Buffer.alloc(68, 0x20))],
    [1, nbss(0x82, Buffer.alloc(0))],
    [0, nbss(0x85, Buffer.alloc(0))],
    [0, nbss(0, smb1NegotiateRequest(["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12"]))],
    [1, nbss(0, smb1NegotiateResponseNt(2, 0x0f, 0x8000e3fd))],
    [
      0,
      nbss(
        0,
        smb1SessionSetupRequest(
          ntlmNegotiate(FLAG_UNICODE | FLAG_VERSION, V),
          "Windows 7 Professional 7601 Service Pack 1",
          "Windows 7 Professional 6.1",
        ),
      ),
    ],
    [
      1,
      nbss(
        0,
        smb1SessionSetupResponse(
          ntlmChallenge(
            FLAG_UNICODE | FLAG_VERSION,
            { major: 5, minor: 1, build: 2600, revision: 15 },
            avPairs([[1, "XRAY-WS"]]),
          ),
          "Windows 5.1",
          "Windows 2000 LAN Manager",
          STATUS_MORE_PROCESSING_REQUIRED,
        ),
      ),
    ],
    [
      0,
      nbss(
        0,
        smb1SessionSetupRequest(
          spnego(ntlmAuthenticate({ flags: FLAG_OEM, workstation: "CT01", user: "tech" })),
          "Unix",
          "Samba",
          false,
        ),
      ),
    ],
    [1, nbss(0, smb1SessionSetupResponse(Buffer.alloc(0), "Windows 5.1", "Windows 2000 LAN Manager", 0))],
  );
}

test("SMB1 on 139: NetBIOS control packets skipped, NEGOTIATE, NativeOS and NTLMSSP raw or in SPNEGO", (t) => {
  const s = feed(make, smb1Conversation());
  t.deepEqual(kinds(s.events), [
    "0:smb-negotiate",
    "1:smb-negotiate",
    "0:ntlmssp1",
    "0:smb1-native-os",
    "1:ntlmssp2",
    "1:smb1-native-os",
    "0:ntlmssp3",
    "0:smb1-native-os",
    "1:smb1-native-os",
  ]);
  t.deepEqual(s.events[0]!.e, {
    kind: "smb-negotiate",
    smb: 1,
    request: true,
    dialects: ["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12"],
    capabilities: null,
    signingRequired: null,
    compression: [],
  });
  t.deepEqual(s.events[1]!.e, {
    kind: "smb-negotiate",
    smb: 1,
    request: false,
    dialects: ["NT LM 0.12"],
    capabilities: 0x8000e3fd,
    signingRequired: true,
    compression: [],
  });
  t.deepEqual(s.events[3]!.e, {
    kind: "smb1-native-os",
    request: true,
    nativeOs: "Windows 7 Professional 7601 Service Pack 1",
    nativeLanMan: "Windows 7 Professional 6.1",
    primaryDomain: null,
  });
  const au = s.events[6]!.e;
  t.true(au.kind === "ntlmssp" && au.workstation === "CT01");
  t.deepEqual(s.events[7]!.e, {
    kind: "smb1-native-os",
    request: true,
    nativeOs: "Unix",
    nativeLanMan: "Samba",
    primaryDomain: null,
  });
  t.deepEqual(s.anomalies, []);
});

function smb1Plain(): Chunk[] {
  return chunks(
    [0, direct(smb1NegotiateRequest(["LANMAN1.0", "LM1.2X002", "LANMAN2.1"]))],
    [1, direct(smb1NegotiateResponseLanman(2))],
    [
      0,
      direct(
        smb1SessionSetupPlainRequest(
          Buffer.from("OEMPASSWORD-SECRET"),
          Buffer.from("UNIPASSWORD-SECRET"),
          "john.smith",
          "RADIOLOGY",
          "Windows NT 4.0",
          "NT LAN Manager 4.0",
        ),
      ),
    ],
    [1, direct(smb1SessionSetupPlainResponse("Windows NT 4.0", "NT LAN Manager 4.0", "RADIOLOGY", false))],
  );
}

test("SMB1 without extended security: LANMAN negotiate, account name and passwords never kept", (t) => {
  const s = feed(make, smb1Plain());
  t.deepEqual(
    s.events.map((e) => e.e),
    [
      {
        kind: "smb-negotiate",
        smb: 1,
        request: true,
        dialects: ["LANMAN1.0", "LM1.2X002", "LANMAN2.1"],
        capabilities: null,
        signingRequired: null,
        compression: [],
      },
      {
        kind: "smb-negotiate",
        smb: 1,
        request: false,
        dialects: ["LANMAN2.1"],
        capabilities: null,
        signingRequired: null,
        compression: [],
      },
      {
        kind: "smb1-native-os",
        request: true,
        nativeOs: "Windows NT 4.0",
        nativeLanMan: "NT LAN Manager 4.0",
        primaryDomain: "RADIOLOGY",
      },
      {
        kind: "smb1-native-os",
        request: false,
        nativeOs: "Windows NT 4.0",
        nativeLanMan: "NT LAN Manager 4.0",
        primaryDomain: "RADIOLOGY",
      },
    ],
  );
  const json = JSON.stringify([s.events, s.anomalies]);
  for (const secret of ["john.smith", "SECRET", "PASSWORD"]) t.false(json.includes(secret), secret);
});

test("multi-protocol negotiate: SMB1 request offering SMB 2.???, SMB2 response 0x02ff, then SMB2", (t) => {
  const s = feed(
    make,
    chunks(
      [0, direct(smb1NegotiateRequest(["NT LM 0.12", "SMB 2.002", "SMB 2.???"]))],
      [1, direct(smb2NegotiateResponse(0x02ff, 0x01, 0x07))],
      [0, direct(smb2NegotiateRequest([0x0202, 0x0210], 0x02, 0))],
      [1, direct(smb2NegotiateResponse(0x0210, 0x01, 0x07))],
    ),
  );
  t.deepEqual(
    s.events.map((e) => [
      e.e.kind === "smb-negotiate" ? e.e.smb : 0,
      ...(e.e.kind === "smb-negotiate" ? e.e.dialects : []),
    ]),
    [
      [1, "NT LM 0.12", "SMB 2.002", "SMB 2.???"],
      [2, "0x02ff"],
      [2, "2.0.2", "2.1"],
      [2, "2.1"],
    ],
  );
  // An SMB1 response whose index has no request seen is named by its number; 0xFFFF is no dialect.
  const r = feed(
    make,
    chunks([1, direct(smb1NegotiateResponseNt(5, 0, 0))], [1, direct(smb1NegotiateResponseNt(0xffff, 0, 0))]),
  );
  t.deepEqual(
    r.events.map((e) => (e.e.kind === "smb-negotiate" ? e.e.dialects : null)),
    [["#5"], []],
  );
});

test("bounded: bulk messages are skipped without being kept, and a direction stops after its message budget", (t) => {
  // A 10 MB WRITE before any session setup (a connection picked up late): skipped by counting.
  const write = direct(smb2(9, false, 0, Buffer.alloc(100)));
  write.writeUInt32BE(10_000_000 + 64);
  const tail = Buffer.alloc(70_000, 0x55);
  const s = feed(make, chunks([0, write], [0, tail], [0, tail]));
  t.deepEqual(s.events, []);
  t.deepEqual(s.anomalies, []);
  // SMB_MAX_MESSAGES small messages each way: then done, and a NEGOTIATE after them is not read.
  const echo = direct(smb2(13, false, 0, Buffer.alloc(4)));
  const echoR = direct(smb2(13, true, 0, Buffer.alloc(4)));
  let d: SmbStreamDecoder | null = null;
  const many = feed(
    (k) => (d = make(k)),
    chunks(
      [0, Buffer.concat(Array<Buffer>(SMB_MAX_MESSAGES).fill(echo))],
      [1, Buffer.concat(Array<Buffer>(SMB_MAX_MESSAGES).fill(echoR))],
      [0, direct(smb2NegotiateRequest([0x0202], 0, 0))],
      [1, direct(smb2NegotiateResponse(0x0202, 0, 0))],
    ),
  );
  t.deepEqual(many.events, []);
  t.true(d!.done);
  // Encrypted (transform header 0xFD) messages are skipped quietly.
  const enc = Buffer.alloc(80, 0x33);
  enc.writeUInt32BE(0xfd534d42, 0);
  t.deepEqual(
    feed(make, chunks([0, direct(enc)], [0, direct(smb2NegotiateRequest([0x0300], 0, 0))])).events.length,
    1,
  );
});

test("not SMB, a gap, malformed fields: reported or stopped, never thrown", (t) => {
  let d: SmbStreamDecoder | null = null;
  const http = feed((k) => (d = make(k)), chunks([0, Buffer.from("GET / HTTP/1.1\r\n\r\n")]));
  t.deepEqual(
    http.anomalies.map((a) => a.code),
    ["hosts.smb-not-smb"],
  );
  t.true(d!.done);
  const other = feed(make, chunks([0, direct(Buffer.from("\x00\x01\x02\x03 not smb at all"))]));
  t.deepEqual(
    other.anomalies.map((a) => a.code),
    ["hosts.smb-not-smb"],
  );
  const gap = feed(
    (k) => (d = make(k)),
    [
      { dir: 0, gap: 10, tsMicros: 1 },
      { dir: 0, data: direct(smb2NegotiateRequest([0x0202], 0, 0)), tsMicros: 2 },
    ],
  );
  t.deepEqual(gap.events, []);
  t.true(d!.done);
  // A security buffer offset beyond the message; a dialect count beyond it; a cut negotiate context.
  const setup = smb2SessionSetupRequest(Buffer.from("x"));
  setup.writeUInt16LE(5000, 64 + 12);
  const neg = smb2NegotiateRequest([0x0202], 0, 0);
  neg.writeUInt16LE(40, 64 + 2);
  const ctx = smb2NegotiateResponse(0x0311, 0, 0, [compressionContext([1])]);
  const s = feed(
    make,
    chunks([0, direct(setup)], [0, direct(neg)], [1, direct(ctx.subarray(0, ctx.length - 4))]),
  );
  t.deepEqual(
    s.anomalies.map((a) => a.code),
    ["hosts.smb-malformed", "hosts.smb-malformed", "hosts.smb-malformed"],
  );
  t.deepEqual(
    s.events.map((e) => (e.e.kind === "smb-negotiate" ? e.e.dialects.length : -1)),
    [1, 1],
  );
  // A NativeOS longer than the cap.
  const long = feed(make, chunks([1, direct(smb1SessionSetupPlainResponse("W".repeat(300), "LM", "D"))]));
  t.deepEqual(
    long.anomalies.map((a) => a.code),
    ["hosts.smb-string-too-long"],
  );
  t.deepEqual(long.events[0]!.e, {
    kind: "smb1-native-os",
    request: false,
    nativeOs: null,
    nativeLanMan: "LM",
    primaryDomain: "D",
  });
});

test("random and mutated bytes never throw and give bounded output", (t) => {
  const conversations = [smb311(), smb1Conversation(), smb1Plain()];
  fc.assert(
    fc.property(
      fc.nat({ max: conversations.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 16 }),
      fc.nat({ max: 200 }),
      (which, flips, cut) => {
        const c = conversations[which]!.map((x) => ("data" in x ? { ...x, data: Buffer.from(x.data) } : x));
        for (const [i, at, v] of flips) {
          const x = c[i % c.length]!;
          if ("data" in x) x.data[at % x.data.length] = v;
        }
        const s = feed(make, c, (d) => [cut % (d.length + 1)]);
        t.true(s.events.length <= 16);
        t.true(JSON.stringify(s.events).length < 16 * 4096);
      },
    ),
    { numRuns: 1500 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 6 }),
      fc.boolean(),
      (parts, framed) => {
        const c = chunks(
          ...parts.map((p, i): [0 | 1, Buffer] => [
            (i & 1) as 0 | 1,
            framed
              ? direct(Buffer.concat([Buffer.from([0xfe, 0x53, 0x4d, 0x42]), Buffer.from(p)]))
              : Buffer.from(p),
          ]),
        );
        feed(make, c, (d) => [d.length >> 1]);
      },
    ),
    { numRuns: 1500 },
  );
  t.pass();
});

// ── golden captures ─────────────────────────────────────────────────────────────────────────────────

async function golden(file: string): Promise<{ dir: number; e: HostEvent }[][]> {
  const out: { dir: number; e: HostEvent }[][] = [];
  for (const s of await tcpStreams(CAPTURES + file)) {
    const whole = feed(make, s.chunks);
    out.push(whole.events);
  }
  return out;
}

async function goldenBytewise(t: import("ava").ExecutionContext, file: string): Promise<void> {
  for (const s of await tcpStreams(CAPTURES + file)) {
    const whole = feed(make, s.chunks);
    t.deepEqual(feed(make, s.chunks, everyByte).events, whole.events, `${file} byte by byte`);
    t.deepEqual(whole.anomalies, [], file);
  }
}

test("golden: smb_smb2.pcap (SMB 2.002, NTLMSSP 6.0 build 6001 both ways)", async (t) => {
  const [events] = await golden("smb_smb2.pcap");
  t.deepEqual(kinds(events!), [
    "0:smb-negotiate",
    "1:smb-negotiate",
    "0:ntlmssp1",
    "1:ntlmssp2",
    "0:ntlmssp3",
  ]);
  t.deepEqual(events![0]!.e.kind === "smb-negotiate" && events![0]!.e.dialects.slice(-2), [
    "NT LM 0.12",
    "SMB 2.002",
  ]);
  t.deepEqual(events![1]!.e, {
    kind: "smb-negotiate",
    smb: 2,
    request: false,
    dialects: ["2.0.2"],
    capabilities: 1,
    signingRequired: false,
    compression: [],
  });
  const v6 = { major: 6, minor: 0, build: 6001, revision: 15 };
  for (const i of [2, 3, 4]) t.deepEqual(events![i]!.e.kind === "ntlmssp" && events![i]!.e.version, v6);
  t.deepEqual(events![3]!.e.kind === "ntlmssp" && events![3]!.e.target, {
    netbiosComputer: "SERVER002",
    netbiosDomain: "CONTOSO",
    dnsComputer: "SERVER002.contoso.com",
    dnsDomain: "contoso.com",
    dnsTree: "contoso.com",
  });
  t.is(events![4]!.e.kind === "ntlmssp" && events![4]!.e.workstation, "SERVER01");
  t.false(JSON.stringify(events).includes("Administrator"));
  await goldenBytewise(t, "smb_smb2.pcap");
});

test("golden: smb_smb3.pcap (SMB 3.0, server NTLMSSP 10.0 build 14393)", async (t) => {
  const [events] = await golden("smb_smb3.pcap");
  t.deepEqual(kinds(events!), [
    "0:smb-negotiate",
    "1:smb-negotiate",
    "0:ntlmssp1",
    "1:ntlmssp2",
    "0:ntlmssp3",
  ]);
  t.deepEqual(
    events!.slice(0, 2).map((e) => e.e),
    [
      {
        kind: "smb-negotiate",
        smb: 2,
        request: true,
        dialects: ["3.0"],
        capabilities: 0x57,
        signingRequired: false,
        compression: [],
      },
      {
        kind: "smb-negotiate",
        smb: 2,
        request: false,
        dialects: ["3.0"],
        capabilities: 0x47,
        signingRequired: true,
        compression: [],
      },
    ],
  );
  const ch = events![3]!.e;
  t.true(ch.kind === "ntlmssp");
  if (ch.kind === "ntlmssp") {
    t.deepEqual(ch.version, { major: 10, minor: 0, build: 14393, revision: 15 });
    t.is(ch.target?.netbiosComputer, "WS2016");
    t.is(ch.target?.dnsComputer, "WS2016.suse.de");
    t.is(ch.flags, 0xe2890235);
  }
  t.false(JSON.stringify(events).includes("administrator"));
  await goldenBytewise(t, "smb_smb3.pcap");
});

test("golden: smb_raw_ntlm_in_smb.pcap (SMB1, raw NTLMSSP; server Windows 5.1 / 5.1.2600, client 6.1.7600)", async (t) => {
  const streams = await golden("smb_raw_ntlm_in_smb.pcap");
  t.deepEqual(streams.slice(0, 2), [[], []]); // two connections closed at once
  const events = streams[2]!;
  t.deepEqual(kinds(events), [
    "0:smb-negotiate",
    "1:smb-negotiate",
    "0:ntlmssp1",
    "0:smb1-native-os",
    "1:ntlmssp2",
    "1:smb1-native-os",
    "0:ntlmssp3",
    "0:smb1-native-os",
    "1:smb1-native-os",
  ]);
  t.deepEqual(events[0]!.e.kind === "smb-negotiate" && events[0]!.e.dialects, [
    "NT LM 0.12",
    "SMB 2.002",
    "SMB 2.???",
  ]);
  t.deepEqual(events[1]!.e, {
    kind: "smb-negotiate",
    smb: 1,
    request: false,
    dialects: ["NT LM 0.12"],
    capabilities: 0x8000e3fd,
    signingRequired: false,
    compression: [],
  });
  t.deepEqual(events[2]!.e.kind === "ntlmssp" && events[2]!.e.version, {
    major: 6,
    minor: 1,
    build: 7600,
    revision: 0,
  });
  t.deepEqual(events[4]!.e.kind === "ntlmssp" && events[4]!.e.version, {
    major: 5,
    minor: 1,
    build: 2600,
    revision: 15,
  });
  t.is(events[4]!.e.kind === "ntlmssp" && events[4]!.e.target?.netbiosComputer, "TEST-F7DFBC3FE9");
  t.deepEqual(events[3]!.e, {
    kind: "smb1-native-os",
    request: true,
    nativeOs: "Mac OS X 10.10",
    nativeLanMan: "SMBFS 3.0.0",
    primaryDomain: null,
  });
  t.deepEqual(events[5]!.e, {
    kind: "smb1-native-os",
    request: false,
    nativeOs: "Windows 5.1",
    nativeLanMan: "Windows 2000 LAN Manager",
    primaryDomain: null,
  });
  t.is(events[6]!.e.kind === "ntlmssp" && events[6]!.e.workstation, "BABYBOOK");
  t.false(JSON.stringify(events).includes('"test"'));
  await goldenBytewise(t, "smb_raw_ntlm_in_smb.pcap");
});

test("golden: smb_cifs_negotiate_lanman.pcap (LANMAN dialects, LANMAN2.1 chosen)", async (t) => {
  const [events] = await golden("smb_cifs_negotiate_lanman.pcap");
  t.deepEqual(
    events!.map((e) => e.e),
    [
      {
        kind: "smb-negotiate",
        smb: 1,
        request: true,
        dialects: ["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "LM1.2X002", "LANMAN2.1"],
        capabilities: null,
        signingRequired: null,
        compression: [],
      },
      {
        kind: "smb-negotiate",
        smb: 1,
        request: false,
        dialects: ["LANMAN2.1"],
        capabilities: null,
        signingRequired: null,
        compression: [],
      },
    ],
  );
  await goldenBytewise(t, "smb_cifs_negotiate_lanman.pcap");
});

test("golden: smb_smb1.pcap (SMB2 traffic picked up after its session setup: nothing to say, nothing wrong)", async (t) => {
  const streams = await golden("smb_smb1.pcap");
  t.deepEqual(streams, [[]]);
  await goldenBytewise(t, "smb_smb1.pcap");
});
