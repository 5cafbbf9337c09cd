import test from "ava";
import { looksLikeRfb, RfbStreamDecoder } from "../../agent/hosts/rfb.js";
import type { HostStreamSink } from "../../agent/hosts/types.js";
import {
  assertNoCanary,
  chunk,
  mutatedNeverThrows,
  randomNeverThrows,
  splitEverywhere,
  u32be,
} from "./split-check.js";
import { feed, tcpStreams } from "./streams.js";

const make = (s: HostStreamSink) => new RfbStreamDecoder(s);
/** Challenge and response bytes that must never surface (hex of them either). */
const CHALLENGE = Buffer.from("CHALLENGE-CANARY");
const RESPONSE = Buffer.from("RESPONSE-CANARY!");
const canaries = ["CHALLENGE-CANARY", "RESPONSE-CANARY", CHALLENGE.toString("hex"), RESPONSE.toString("hex")];

test("3.8 with VNC Authentication: versions, types offered, chosen, result", (t) => {
  const s = splitEverywhere(t, make, [
    chunk(1, "RFB 003.008\n"),
    chunk(0, "RFB 003.008\n"),
    chunk(1, Buffer.from([2, 2, 16])),
    chunk(0, Buffer.from([2])),
    chunk(1, CHALLENGE),
    chunk(0, RESPONSE),
    chunk(1, Buffer.concat([u32be(0), Buffer.from([0, 0x4, 0, 0x3, 0, 0, 0, 0])])),
  ]);
  t.deepEqual(
    s.events.map((x) => [x.dir, x.e]),
    [
      [1, { kind: "rfb-version", version: "003.008" }],
      [0, { kind: "rfb-version", version: "003.008" }],
      [1, { kind: "rfb-security", offered: [2, 16] }],
      [0, { kind: "rfb-chosen", type: 2 }],
      [1, { kind: "rfb-result", ok: true }],
    ],
  );
  t.deepEqual(s.anomalies, []);
  assertNoCanary(t, s, canaries);
});

test("3.8 with None: the SecurityResult follows the choice directly; a refusal is ok false", (t) => {
  const s = splitEverywhere(t, make, [
    chunk(1, "RFB 003.008\n"),
    chunk(0, "RFB 003.008\n"),
    chunk(1, Buffer.from([1, 1])),
    chunk(0, Buffer.from([1])),
    chunk(1, u32be(1)),
  ]);
  t.deepEqual(
    s.events.map((x) => x.e),
    [
      { kind: "rfb-version", version: "003.008" },
      { kind: "rfb-version", version: "003.008" },
      { kind: "rfb-security", offered: [1] },
      { kind: "rfb-chosen", type: 1 },
      { kind: "rfb-result", ok: false },
    ],
  );
});

test("3.7 with None: no SecurityResult, done after the choice", (t) => {
  const sink = feed(make, [
    chunk(1, "RFB 003.008\n"),
    chunk(0, "RFB 003.007\n"),
    chunk(1, Buffer.from([1, 1])),
    chunk(0, Buffer.from([1, 0])),
  ]);
  t.deepEqual(
    sink.events.map((x) => x.e.kind),
    ["rfb-version", "rfb-version", "rfb-security", "rfb-chosen"],
  );
  const d = new RfbStreamDecoder({ event: () => {}, anomaly: () => {} });
  for (const [dir, b] of [
    [1, "RFB 003.007\n"],
    [0, "RFB 003.007\n"],
    [1, "\x01\x01"],
    [0, "\x01"],
  ] as const) {
    t.false(d.done);
    d.data(dir, Buffer.from(b, "latin1"), 0, b.length, 0);
  }
  t.true(d.done);
});

test("3.3: the server imposes the type (u32); VNC Authentication then the result", (t) => {
  const s = splitEverywhere(t, make, [
    chunk(1, "RFB 003.008\n"),
    chunk(0, "RFB 003.003\n"),
    chunk(1, Buffer.concat([u32be(2), CHALLENGE])),
    chunk(0, RESPONSE),
    chunk(1, u32be(0)),
  ]);
  t.deepEqual(
    s.events.map((x) => [x.dir, x.e]),
    [
      [1, { kind: "rfb-version", version: "003.008" }],
      [0, { kind: "rfb-version", version: "003.003" }],
      [1, { kind: "rfb-security", offered: [2] }],
      [1, { kind: "rfb-chosen", type: 2 }],
      [1, { kind: "rfb-result", ok: true }],
    ],
  );
  assertNoCanary(t, s, canaries);
});

test("failures: 3.3 type 0 and 3.8 no types, with a reason string that is skipped", (t) => {
  const reason = Buffer.concat([u32be(14), Buffer.from("too many tries")]);
  const a = splitEverywhere(t, make, [
    chunk(1, "RFB 003.003\n"),
    chunk(0, "RFB 003.003\n"),
    chunk(1, Buffer.concat([u32be(0), reason])),
  ]);
  t.deepEqual(a.events.at(-1)!.e, { kind: "rfb-security", offered: [] });
  const b = splitEverywhere(t, make, [
    chunk(1, "RFB 003.008\n"),
    chunk(0, "RFB 003.008\n"),
    chunk(1, Buffer.concat([Buffer.from([0]), reason])),
  ]);
  t.deepEqual(b.events.at(-1)!.e, { kind: "rfb-security", offered: [] });
});

test("other versions: 3.5 is read as 3.3, Apple's 3.889 as 3.8", (t) => {
  const a = feed(make, [chunk(1, "RFB 003.008\n"), chunk(0, "RFB 003.005\n"), chunk(1, u32be(1))]);
  t.deepEqual(a.events.at(-1)!.e, { kind: "rfb-chosen", type: 1 });
  const b = feed(make, [
    chunk(1, "RFB 003.889\n"),
    chunk(0, "RFB 003.889\n"),
    chunk(1, Buffer.from([2, 30, 2])),
    chunk(0, Buffer.from([30])),
  ]);
  t.deepEqual(
    b.events.map((x) => x.e),
    [
      { kind: "rfb-version", version: "003.889" },
      { kind: "rfb-version", version: "003.889" },
      { kind: "rfb-security", offered: [30, 2] },
      { kind: "rfb-chosen", type: 30 },
    ],
  );
});

test("a bad ProtocolVersion is an anomaly, and the decoder is done", (t) => {
  const s = feed(make, [chunk(1, "SSH-2.0-Open\n")]);
  t.deepEqual(
    s.anomalies.map((a) => a.code),
    ["hosts.rfb-bad-version"],
  );
  t.deepEqual(s.events, []);
  const c = feed(make, [chunk(1, "RFB 003.008\n"), chunk(0, "RFB 3.8\n\n\n\n\n\n")]);
  t.deepEqual(
    c.anomalies.map((a) => a.code),
    ["hosts.rfb-bad-version"],
  );
});

test("looksLikeRfb", (t) => {
  t.true(looksLikeRfb(Buffer.from("xxRFB 003.008\n"), 2, 14));
  t.false(looksLikeRfb(Buffer.from("RFB"), 0, 3));
  t.false(looksLikeRfb(Buffer.from("RFB 003"), 1, 7));
  t.false(looksLikeRfb(Buffer.from("GET / HTTP/1.1"), 0, 14));
});

test("a side that floods before its turn is capped", (t) => {
  const d = new RfbStreamDecoder({ event: () => {}, anomaly: () => {} });
  const junk = Buffer.alloc(4096, 0x41);
  d.data(0, junk, 0, junk.length, 0);
  t.true(d.done);
});

test("random bytes and mutated handshakes never throw", (t) => {
  randomNeverThrows(t, make);
  mutatedNeverThrows(t, make, [
    chunk(1, "RFB 003.008\n"),
    chunk(0, "RFB 003.008\n"),
    chunk(1, Buffer.from([2, 2, 16])),
    chunk(0, Buffer.from([2])),
    chunk(1, CHALLENGE),
    chunk(0, RESPONSE),
    chunk(1, u32be(0)),
  ]);
});

test("golden: vnc-mac-to-linux.pcap (server 3.8, client 3.3, VNC Authentication failed then succeeded)", async (t) => {
  const streams = await tcpStreams("../shared/captures/zeek/rfb_vnc-mac-to-linux.pcap");
  const results = streams.map((s) => {
    t.is(s.info.server.port, 5901);
    return { port: s.info.client.port, r: feed(make, s.chunks) };
  });
  const byPort = new Map(results.map((x) => [x.port, x.r]));
  const head = [
    [1, { kind: "rfb-version", version: "003.008" }],
    [0, { kind: "rfb-version", version: "003.003" }],
    [1, { kind: "rfb-security", offered: [2] }],
    [1, { kind: "rfb-chosen", type: 2 }],
  ];
  t.deepEqual(byPort.get(49251)!.events, []); // a connection without payload
  t.deepEqual(
    byPort.get(49256)!.events.map((x) => [x.dir, x.e]),
    head,
  ); // the client went away before answering the challenge
  t.deepEqual(
    byPort.get(49257)!.events.map((x) => [x.dir, x.e]),
    [...head, [1, { kind: "rfb-result", ok: false }]],
  );
  t.deepEqual(
    byPort.get(49259)!.events.map((x) => [x.dir, x.e]),
    [...head, [1, { kind: "rfb-result", ok: true }]],
  );
  for (const { r } of results) t.deepEqual(r.anomalies, []);
  const first = streams.find((s) => s.info.client.port === 49259)!;
  t.true(looksLikeRfb((first.chunks[0] as { data: Buffer }).data, 0, 12));
  splitEverywhere(t, make, first.chunks.slice(0, 8));
});
