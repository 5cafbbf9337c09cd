import test from "ava";
import { RdpStreamDecoder } from "../../agent/hosts/rdp.js";
import type { HostStreamSink } from "../../agent/hosts/types.js";
import {
  assertNoCanary,
  chunk,
  mutatedNeverThrows,
  randomNeverThrows,
  splitEverywhere,
  u16be,
  u16le,
  u32le,
} from "./split-check.js";
import { feed, tcpStreams } from "./streams.js";

const make = (s: HostStreamSink) => new RdpStreamDecoder(s);
const CANARY_USER = "CanaryUser4711";

/** RFC 1006 §6. */
function tpkt(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([3, 0]), u16be(payload.length + 4), payload]);
}
/** X.224 CR (0xE0) or CC (0xD0), class 0, with its variable part. */
function x224(code: number, variable: Buffer): Buffer {
  return Buffer.concat([Buffer.from([6 + variable.length, code, 0, 0, 0x12, 0x34, 0]), variable]);
}
function neg(type: number, flags: number, value: number, length = 8): Buffer {
  return Buffer.concat([Buffer.from([type, flags]), u16le(length), u32le(value)]);
}
function cr(opts: { cookie?: string; protocols?: number | null } = {}): Buffer {
  const parts: Buffer[] = [];
  if (opts.cookie !== undefined) parts.push(Buffer.from(`Cookie: mstshash=${opts.cookie}\r\n`, "latin1"));
  if (opts.protocols !== null) parts.push(neg(1, 0, opts.protocols ?? 0));
  return tpkt(x224(0xe0, Buffer.concat(parts)));
}
function cc(neg_: Buffer | null): Buffer {
  return tpkt(x224(0xd0, neg_ ?? Buffer.alloc(0)));
}
function dt(mcs: Buffer): Buffer {
  return tpkt(Buffer.concat([Buffer.from([2, 0xf0, 0x80]), mcs]));
}
function block(type: number, body: Buffer): Buffer {
  return Buffer.concat([u16le(type), u16le(body.length + 4), body]);
}
function csCore(version: number, build: number, name: string): Buffer {
  const nameBytes = Buffer.alloc(32);
  nameBytes.write(name, "utf16le");
  return block(
    0xc001,
    Buffer.concat([
      u32le(version),
      u16le(1024),
      u16le(768),
      u16le(0xca01),
      u16le(0xaa03),
      u32le(0x409),
      u32le(build),
      nameBytes,
      Buffer.alloc(8),
    ]),
  );
}
/** MCS Connect Initial/Response (BER tag 0x7F65/0x7F66) with some GCC bytes, the H.221 key, a PER length and the blocks. */
function mcs(tag: number, key: string, blocks: Buffer, perLength = blocks.length): Buffer {
  const len =
    perLength < 128 ? Buffer.from([perLength]) : Buffer.from([0x80 | (perLength >> 8), perLength & 0xff]);
  const gcc = Buffer.concat([
    Buffer.from([
      0x00, 0x05, 0x00, 0x14, 0x7c, 0x00, 0x01, 0x81, 0x2a, 0x00, 0x08, 0x00, 0x10, 0x00, 0x01, 0xc0, 0x00,
    ]),
    Buffer.from(key, "latin1"),
    len,
    blocks,
  ]);
  return Buffer.concat([
    Buffer.from([0x7f, tag, 0x82]),
    u16be(gcc.length + 8),
    Buffer.from([4, 1, 1, 4, 1, 1, 1, 1]),
    gcc,
  ]);
}
const clientMcs = (build = 7601, name = "CT-CONSOLE") =>
  dt(mcs(0x65, "Duca", Buffer.concat([block(0xc002, Buffer.alloc(8)), csCore(0x00080004, build, name)])));
const serverMcs = () => dt(mcs(0x66, "McDn", block(0x0c01, Buffer.concat([u32le(0x0008000c), u32le(0)]))));

test("Standard RDP Security: request with cookie, confirm, client and server core blocks", (t) => {
  const chunks = [
    chunk(0, cr({ cookie: CANARY_USER, protocols: 0 })),
    chunk(1, cc(neg(2, 0x1f, 0))),
    chunk(0, clientMcs()),
    chunk(1, serverMcs()),
  ];
  const s = splitEverywhere(t, make, chunks);
  t.deepEqual(s.events, [
    { dir: 0, e: { kind: "rdp-request", cookie: true, requestedProtocols: 0 } },
    { dir: 1, e: { kind: "rdp-confirm", selectedProtocol: 0, flags: 0x1f, failureCode: null } },
    {
      dir: 0,
      e: { kind: "rdp-client-core", version: 0x00080004, clientBuild: 7601, clientName: "CT-CONSOLE" },
    },
    { dir: 1, e: { kind: "rdp-server-core", version: 0x0008000c } },
  ]);
  t.deepEqual(s.anomalies, []);
  assertNoCanary(t, s, [CANARY_USER]);
});

test("the decoder is done after both core blocks, and reads nothing after them", (t) => {
  const sink = { events: [] as unknown[], event: (e: unknown) => sink.events.push(e), anomaly: () => {} };
  const d = new RdpStreamDecoder(sink);
  for (const [dir, b] of [
    [0, cr({ protocols: 0 })],
    [1, cc(neg(2, 0, 0))],
    [0, clientMcs()],
  ] as const) {
    t.false(d.done);
    d.data(dir, b, 0, b.length, 0);
  }
  t.false(d.done);
  const s = serverMcs();
  d.data(1, s, 0, s.length, 0);
  t.true(d.done);
});

test("TLS, CredSSP, RDSTLS, CredSSP EX: tls-start from the server after the confirm, then done", (t) => {
  for (const selected of [1, 2, 4, 8]) {
    const chunks = [
      chunk(0, cr({ cookie: "x", protocols: 0xb })),
      chunk(1, cc(neg(2, 0, selected))),
      chunk(0, Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5])),
    ];
    const s = splitEverywhere(t, make, chunks);
    t.deepEqual(s.events, [
      { dir: 0, e: { kind: "rdp-request", cookie: true, requestedProtocols: 0xb } },
      { dir: 1, e: { kind: "rdp-confirm", selectedProtocol: selected, flags: 0, failureCode: null } },
      { dir: 1, e: { kind: "tls-start" } },
    ]);
    t.deepEqual(s.anomalies, []);
  }
});

test("RDP_NEG_FAILURE: the confirm carries the failure code and the decoder is done", (t) => {
  const s = splitEverywhere(t, make, [chunk(0, cr({ protocols: 1 })), chunk(1, cc(neg(3, 0, 2)))]);
  t.deepEqual(s.events, [
    { dir: 0, e: { kind: "rdp-request", cookie: false, requestedProtocols: 1 } },
    { dir: 1, e: { kind: "rdp-confirm", selectedProtocol: null, flags: 0, failureCode: 2 } },
  ]);
});

test("old client and server without RDP_NEG: nulls, then Standard RDP Security; a routing token is no cookie", (t) => {
  const token = tpkt(x224(0xe0, Buffer.from("Cookie-less routing token\r\n", "latin1")));
  const s = splitEverywhere(t, make, [
    chunk(0, token),
    chunk(1, cc(null)),
    chunk(0, clientMcs(2600, "OLD")),
    chunk(1, serverMcs()),
  ]);
  t.deepEqual(
    s.events.map((x) => x.e),
    [
      { kind: "rdp-request", cookie: false, requestedProtocols: null },
      { kind: "rdp-confirm", selectedProtocol: null, flags: 0, failureCode: null },
      { kind: "rdp-client-core", version: 0x00080004, clientBuild: 2600, clientName: "OLD" },
      { kind: "rdp-server-core", version: 0x0008000c },
    ],
  );
});

test("client bytes that arrive before the server's confirm wait for it", (t) => {
  const s = splitEverywhere(t, make, [
    chunk(0, Buffer.concat([cr({ protocols: 0 }), clientMcs()])),
    chunk(1, Buffer.concat([cc(neg(2, 0, 0)), serverMcs()])),
  ]);
  t.deepEqual(
    s.events.map((x) => x.e.kind),
    ["rdp-request", "rdp-confirm", "rdp-client-core", "rdp-server-core"],
  );
});

test("a PER length of two bytes before the user data", (t) => {
  const big = Buffer.concat([block(0xc002, Buffer.alloc(200)), csCore(0x0008000c, 22621, "WS-ÄÖ")]);
  const s = feed(make, [chunk(0, cr()), chunk(1, cc(neg(2, 0, 0))), chunk(0, dt(mcs(0x65, "Duca", big)))]);
  t.deepEqual(s.events[2]!.e, {
    kind: "rdp-client-core",
    version: 0x0008000c,
    clientBuild: 22621,
    clientName: "WS-ÄÖ",
  });
});

test("anomalies: no TPKT, no CR, a cookie without CR LF, RDP_NEG of the wrong length, a block overrunning the user data", (t) => {
  t.deepEqual(
    feed(make, [chunk(0, "GET / HTTP/1.1\r\n\r\n")]).anomalies.map((a) => a.code),
    ["hosts.rdp-bad-tpkt"],
  );
  t.deepEqual(
    feed(make, [chunk(0, tpkt(x224(0xf0, Buffer.alloc(0))))]).anomalies.map((a) => a.code),
    ["hosts.rdp-bad-x224"],
  );
  const noCrLf = feed(make, [chunk(0, tpkt(x224(0xe0, Buffer.from(`Cookie: mstshash=${CANARY_USER}`))))]);
  t.deepEqual(
    noCrLf.anomalies.map((a) => a.code),
    ["hosts.rdp-bad-x224"],
  );
  assertNoCanary(t, noCrLf, [CANARY_USER]);
  t.deepEqual(
    feed(make, [chunk(0, tpkt(x224(0xe0, neg(1, 0, 3, 12))))]).anomalies.map((a) => a.code),
    ["hosts.rdp-bad-x224"],
  );
  const overrun = Buffer.concat([u16le(0xc002), u16le(400), Buffer.alloc(8)]);
  const s = feed(make, [
    chunk(0, cr()),
    chunk(1, cc(neg(2, 0, 0))),
    chunk(0, dt(mcs(0x65, "Duca", overrun))),
  ]);
  t.deepEqual(
    s.anomalies.map((a) => a.code),
    ["hosts.rdp-bad-user-data"],
  );
});

test("a TPKT above the cap is not collected: the direction stops", (t) => {
  const sink = { event: () => {}, anomaly: () => {} };
  const d = new RdpStreamDecoder(sink);
  const b = Buffer.from([3, 0, 0xff, 0xff]);
  d.data(0, b, 0, b.length, 0);
  d.data(1, b, 0, b.length, 0);
  t.true(d.done);
});

test("random bytes and mutated exchanges never throw", (t) => {
  randomNeverThrows(t, make);
  mutatedNeverThrows(t, make, [
    chunk(0, cr({ cookie: "u", protocols: 0 })),
    chunk(1, cc(neg(2, 0, 0))),
    chunk(0, clientMcs()),
    chunk(1, serverMcs()),
  ]);
});

const ZEEK = "../shared/captures/zeek/";

test("golden: rdp-proprietary-encryption.pcap (TLS refused, then Standard RDP Security, client build 6000)", async (t) => {
  const streams = await tcpStreams(`${ZEEK}rdp_rdp-proprietary-encryption.pcap`);
  const byPort = new Map(streams.map((s) => [s.info.client.port, s]));
  const first = feed(make, byPort.get(1311)!.chunks);
  t.deepEqual(
    first.events.map((x) => [x.dir, x.e]),
    [
      [0, { kind: "rdp-request", cookie: true, requestedProtocols: 1 }],
      [1, { kind: "rdp-confirm", selectedProtocol: null, flags: 0, failureCode: 2 }],
    ],
  );
  const second = splitEverywhere(t, make, byPort.get(1312)!.chunks.slice(0, 6));
  t.deepEqual(
    second.events.map((x) => [x.dir, x.e]),
    [
      [0, { kind: "rdp-request", cookie: true, requestedProtocols: 0 }],
      [1, { kind: "rdp-confirm", selectedProtocol: 0, flags: 0, failureCode: null }],
      [0, { kind: "rdp-client-core", version: 0x00080004, clientBuild: 6000, clientName: "FROG-POND" }],
      [1, { kind: "rdp-server-core", version: 0x00080004 }],
    ],
  );
  t.deepEqual(feed(make, byPort.get(1312)!.chunks).events, second.events);
  t.deepEqual([...first.anomalies, ...second.anomalies], []);
  // The cookie's user name (FTBCO\A70) is not kept.
  assertNoCanary(t, first, ["FTBCO", "A70"]);
  assertNoCanary(t, second, ["FTBCO", "A70"]);
});

test("golden: rdp-x509.pcap (Standard RDP Security, client build 9600)", async (t) => {
  const [s] = await tcpStreams(`${ZEEK}rdp_rdp-x509.pcap`);
  const r = feed(make, s!.chunks);
  t.deepEqual(
    r.events.map((x) => [x.dir, x.e]),
    [
      [0, { kind: "rdp-request", cookie: true, requestedProtocols: 0 }],
      [1, { kind: "rdp-confirm", selectedProtocol: 0, flags: 0, failureCode: null }],
      [0, { kind: "rdp-client-core", version: 0x00080004, clientBuild: 9600, clientName: "JOHN-PC-LAPTOP" }],
      [1, { kind: "rdp-server-core", version: 0x00080004 }],
    ],
  );
  t.deepEqual(r.anomalies, []);
});

test("golden: rdp-to-ssl.pcap (CredSSP negotiated: tls-start)", async (t) => {
  const streams = await tcpStreams(`${ZEEK}rdp_rdp-to-ssl.pcap`);
  t.is(streams.length, 2);
  for (const s of streams) {
    const r = feed(make, s.chunks);
    t.deepEqual(
      r.events.map((x) => [x.dir, x.e]),
      [
        [0, { kind: "rdp-request", cookie: true, requestedProtocols: 3 }],
        [1, { kind: "rdp-confirm", selectedProtocol: 2, flags: 1, failureCode: null }],
        [1, { kind: "tls-start" }],
      ],
    );
    assertNoCanary(t, r, ["AWAKECODI"]);
  }
});
