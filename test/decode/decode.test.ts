import test from "ava";
import fc from "fast-check";
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
} from "../../agent/capture/types.js";
import { decodeFrame, ipv4ToString, ipv6ToString, macToString } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import {
  ACK,
  PSH,
  SYN,
  ethernetFrame,
  ethernetIpv4Tcp,
  ethernetIpv6Tcp,
  ipv4Packet,
  ipv4Tcp,
  ipv6Packet,
  ipv6Tcp,
  nullFrame,
  sll2Frame,
  sllFrame,
  tcpSegment,
} from "../capture/builders.js";

const FLOW = {
  src: "10.1.2.3",
  dst: "192.168.200.4",
  sport: 49152,
  dport: 104,
  seq: 0xfffffff0,
  ack: 0x80000001,
};
const FLOW6 = { ...FLOW, src: "2001:db8::1", dst: "fe80::aa:bb" };
const PAYLOAD = Buffer.from("DICOM-UL payload bytes");

function decode(frame: Buffer, linktype: number, out = new TcpPacket()): [DecodeResult, TcpPacket] {
  return [decodeFrame(frame, 0, frame.length, linktype, out), out];
}

function payloadOf(p: TcpPacket): string {
  return p.buf.toString("latin1", p.payloadStart, p.payloadEnd);
}

/** Plain summary of the decoded fields (addresses as text), for deepEqual. */
function view(r: DecodeResult, p: TcpPacket) {
  return {
    r,
    src: p.ipVersion === 4 ? ipv4ToString(p.src4) : ipv6ToString(p.buf, p.src6),
    dst: p.ipVersion === 4 ? ipv4ToString(p.dst4) : ipv6ToString(p.buf, p.dst6),
    sport: p.srcPort,
    dport: p.dstPort,
    seq: p.seq,
    ack: p.ack,
    flags: p.flags,
    payload: payloadOf(p),
    missing: p.payloadMissing,
    anomaly: p.anomaly,
  };
}

const WANT4 = {
  r: DecodeResult.Tcp,
  src: "10.1.2.3",
  dst: "192.168.200.4",
  sport: 49152,
  dport: 104,
  seq: 0xfffffff0,
  ack: 0x80000001,
  flags: ACK | PSH,
  payload: PAYLOAD.toString("latin1"),
  missing: 0,
  anomaly: "",
};
const WANT6 = { ...WANT4, src: "2001:db8::1", dst: "fe80::aa:bb" };

test("Ethernet/IPv4/TCP: addresses, ports, unsigned seq/ack, flags, payload and MACs", (t) => {
  const frame = ethernetIpv4Tcp({
    ...FLOW,
    srcMac: "00:1b:21:aa:bb:cc",
    dstMac: "f4:8e:38:01:02:03",
    payload: PAYLOAD,
  });
  const [r, p] = decode(frame, LINKTYPE_ETHERNET);
  t.deepEqual(view(r, p), WANT4);
  t.is(macToString(frame, p.macSrc), "00:1b:21:aa:bb:cc");
  t.is(macToString(frame, p.macDst), "f4:8e:38:01:02:03");
  t.is(p.vlan, -1);
  t.is(p.ipVersion, 4);
  t.true(p.src4 > 0 && p.dst4 > 0x7fffffff, "unsigned");
});

test("Ethernet padding is not payload: the IP total length bounds it", (t) => {
  const frame = ethernetIpv4Tcp({ ...FLOW, flags: SYN });
  t.is(frame.length, 60);
  const [r, p] = decode(frame, LINKTYPE_ETHERNET);
  t.is(r, DecodeResult.Tcp);
  t.is(p.payloadEnd - p.payloadStart, 0);
  t.is(p.flags, SYN);
});

test("802.1Q, QinQ (0x88a8 and 0x9100) stacks: outermost VLAN id", (t) => {
  for (const [vlan, outerTpid] of [
    [100, undefined],
    [[200, 300], 0x88a8],
    [[201, 301], 0x9100],
    [[7, 8, 9], 0x8100],
  ] as const) {
    const frame = ethernetIpv4Tcp({ ...FLOW, payload: PAYLOAD, vlan: vlan as number | number[], outerTpid });
    const [r, p] = decode(frame, LINKTYPE_ETHERNET);
    t.deepEqual(view(r, p), WANT4);
    t.is(p.vlan, Array.isArray(vlan) ? vlan[0] : vlan);
  }
  const deep = ethernetIpv4Tcp({ ...FLOW, vlan: [1, 2, 3, 4, 5, 6, 7, 8, 9], outerTpid: 0x8100 });
  t.is(decode(deep, LINKTYPE_ETHERNET)[0], DecodeResult.Malformed);
  t.is(decode(deep, LINKTYPE_ETHERNET)[1].anomaly, "decode.vlan-too-many-tags");
});

test("Ethernet/IPv6/TCP", (t) => {
  const frame = ethernetIpv6Tcp({ ...FLOW6, payload: PAYLOAD, vlan: 5 });
  const [r, p] = decode(frame, LINKTYPE_ETHERNET);
  t.deepEqual(view(r, p), WANT6);
  t.is(p.ipVersion, 6);
  t.is(p.vlan, 5);
});

test("Linux SLL and SLL2 carry the source MAC only", (t) => {
  const ip = ipv4Tcp({ ...FLOW, payload: PAYLOAD });
  const ip6 = ipv6Tcp({ ...FLOW6, payload: PAYLOAD });
  for (const [frame, lt, want] of [
    [sllFrame({ protocol: 0x0800, payload: ip, srcMac: "aa:bb:cc:dd:ee:ff" }), LINKTYPE_LINUX_SLL, WANT4],
    [sllFrame({ protocol: 0x86dd, payload: ip6, srcMac: "aa:bb:cc:dd:ee:ff" }), LINKTYPE_LINUX_SLL, WANT6],
    [sll2Frame({ protocol: 0x0800, payload: ip, srcMac: "aa:bb:cc:dd:ee:ff" }), LINKTYPE_LINUX_SLL2, WANT4],
    [sll2Frame({ protocol: 0x86dd, payload: ip6, srcMac: "aa:bb:cc:dd:ee:ff" }), LINKTYPE_LINUX_SLL2, WANT6],
  ] as const) {
    const [r, p] = decode(frame, lt);
    t.deepEqual(view(r, p), want);
    t.is(macToString(frame, p.macSrc), "aa:bb:cc:dd:ee:ff");
    t.is(p.macDst, -1);
  }
  t.is(
    decode(sllFrame({ protocol: 0x0806, payload: Buffer.alloc(28) }), LINKTYPE_LINUX_SLL)[0],
    DecodeResult.NotTcp,
  );
});

test("raw IP link types (101, 228, 229) and BSD loopback (0, 108)", (t) => {
  const ip = ipv4Tcp({ ...FLOW, payload: PAYLOAD });
  const ip6 = ipv6Tcp({ ...FLOW6, payload: PAYLOAD });
  t.deepEqual(view(...decode(ip, LINKTYPE_RAW)), WANT4);
  t.deepEqual(view(...decode(ip6, LINKTYPE_RAW)), WANT6);
  t.deepEqual(view(...decode(ip, LINKTYPE_IPV4)), WANT4);
  t.deepEqual(view(...decode(ip6, LINKTYPE_IPV6)), WANT6);
  t.is(decode(ip6, LINKTYPE_IPV4)[1].anomaly, "decode.ipv4-bad-version");
  t.is(decode(Buffer.from([0x50, 1, 2]), LINKTYPE_RAW)[1].anomaly, "decode.ip-bad-version");
  t.deepEqual(view(...decode(nullFrame(2, ip), LINKTYPE_NULL)), WANT4);
  t.deepEqual(view(...decode(nullFrame(2, ip, true), LINKTYPE_NULL)), WANT4);
  for (const af of [10, 24, 28, 30]) {
    t.deepEqual(view(...decode(nullFrame(af, ip6), LINKTYPE_NULL)), WANT6);
    t.deepEqual(view(...decode(nullFrame(af, ip6, true), LINKTYPE_LOOP)), WANT6);
  }
  t.is(decode(nullFrame(7, ip), LINKTYPE_NULL)[0], DecodeResult.NotTcp);
  const [r, p] = decode(ip, 147);
  t.is(r, DecodeResult.UnsupportedLinktype);
  t.is(p.anomaly, "decode.unsupported-linktype");
});

test("IPv4 options are skipped; fragments are reported, not decoded", (t) => {
  const withOpts = ipv4Packet({
    src: FLOW.src,
    dst: FLOW.dst,
    options: Buffer.from([0x94, 4, 0, 0, 1, 1, 1]),
    payload: tcpSegment({ ...FLOW, payload: PAYLOAD }),
  });
  t.deepEqual(view(...decode(withOpts, LINKTYPE_RAW)), WANT4);
  const seg = tcpSegment({ ...FLOW, payload: PAYLOAD });
  for (const frag of [{ mf: true }, { fragmentOffset: 3 }, { mf: true, fragmentOffset: 3 }]) {
    const [r, p] = decode(
      ipv4Packet({ src: FLOW.src, dst: FLOW.dst, payload: seg, df: false, ...frag }),
      LINKTYPE_RAW,
    );
    t.is(r, DecodeResult.Fragment);
    t.is(ipv4ToString(p.src4), FLOW.src);
  }
  const udp = ipv4Packet({
    src: FLOW.src,
    dst: FLOW.dst,
    protocol: 17,
    payload: Buffer.from([0, 1, 0, 2, 0, 8, 0, 0]),
  });
  t.is(decode(udp, LINKTYPE_RAW)[0], DecodeResult.Udp);
  const icmp = ipv4Packet({ src: FLOW.src, dst: FLOW.dst, protocol: 1, payload: Buffer.alloc(8) });
  t.is(decode(icmp, LINKTYPE_RAW)[0], DecodeResult.NotTcp);
  t.is(
    decode(ethernetFrame({ etherType: 0x0806, payload: Buffer.alloc(28) }), LINKTYPE_ETHERNET)[0],
    DecodeResult.NotTcp,
  );
});

test("IPv6 extension headers are walked; fragments and over-long chains are reported", (t) => {
  const exts = [
    { type: 0, body: Buffer.alloc(6) },
    { type: 60, body: Buffer.alloc(14) },
    { type: 43, body: Buffer.from([0, 0, 0, 0, 0, 0]) },
    { type: 51, body: Buffer.alloc(10) },
    { type: 44 }, // atomic fragment (RFC 6946): a whole packet
  ];
  t.deepEqual(
    view(...decode(ipv6Tcp({ ...FLOW6, payload: PAYLOAD, extensions: exts }), LINKTYPE_RAW)),
    WANT6,
  );
  for (const frag of [
    { type: 44, more: true },
    { type: 44, fragmentOffset: 100 },
  ]) {
    const [r, p] = decode(
      ipv6Tcp({ ...FLOW6, payload: PAYLOAD, extensions: [exts[0]!, frag] }),
      LINKTYPE_RAW,
    );
    t.is(r, DecodeResult.Fragment);
    t.is(ipv6ToString(p.buf, p.dst6), "fe80::aa:bb");
  }
  const long = Array.from({ length: 9 }, () => ({ type: 60 }));
  const [r, p] = decode(ipv6Tcp({ ...FLOW6, extensions: long }), LINKTYPE_RAW);
  t.is(r, DecodeResult.Malformed);
  t.is(p.anomaly, "decode.ipv6-too-many-ext");
  const beyond = ipv6Packet({
    src: FLOW6.src,
    dst: FLOW6.dst,
    extensions: [{ type: 0, body: Buffer.alloc(30) }],
    payloadLength: 8,
  });
  t.is(decode(beyond, LINKTYPE_RAW)[1].anomaly, "decode.ipv6-ext-beyond-payload");
  t.is(
    decode(ipv6Packet({ src: FLOW6.src, dst: FLOW6.dst, nextHeader: 59 }), LINKTYPE_RAW)[0],
    DecodeResult.NotTcp,
  );
});

test("malformed headers get stable anomaly codes", (t) => {
  const seg = tcpSegment({ ...FLOW, payload: PAYLOAD });
  const cases: [Buffer, number, DecodeResult, string][] = [
    [
      ipv4Packet({ ...FLOW, version: 5, payload: seg }),
      LINKTYPE_IPV4,
      DecodeResult.Malformed,
      "decode.ipv4-bad-version",
    ],
    [
      ipv4Packet({ ...FLOW, ihlWords: 4, payload: seg }),
      LINKTYPE_RAW,
      DecodeResult.Malformed,
      "decode.ipv4-bad-ihl",
    ],
    [
      ipv4Packet({ ...FLOW, totalLength: 19, payload: seg }),
      LINKTYPE_RAW,
      DecodeResult.Malformed,
      "decode.ipv4-bad-total-length",
    ],
    [ipv4Tcp({ ...FLOW, dataOffsetWords: 4 }), LINKTYPE_RAW, DecodeResult.Malformed, "decode.tcp-bad-offset"],
    [
      ipv4Tcp({ ...FLOW, dataOffsetWords: 15 }),
      LINKTYPE_RAW,
      DecodeResult.Malformed,
      "decode.tcp-offset-beyond-segment",
    ],
    [
      ipv4Packet({ ...FLOW, totalLength: 30, payload: seg }),
      LINKTYPE_RAW,
      DecodeResult.Malformed,
      "decode.tcp-segment-too-short",
    ],
    [
      ipv6Packet({ ...FLOW6, version: 4, payload: seg }),
      LINKTYPE_IPV6,
      DecodeResult.Malformed,
      "decode.ipv6-bad-version",
    ],
    [Buffer.alloc(13), LINKTYPE_ETHERNET, DecodeResult.Truncated, "decode.truncated-ethernet"],
    [Buffer.from("810000", "hex"), LINKTYPE_NULL, DecodeResult.Truncated, "decode.truncated-loopback"],
  ];
  for (const [frame, lt, want, code] of cases) {
    const [r, p] = decode(frame, lt);
    t.is(r, want, code);
    t.is(p.anomaly as string, code);
  }
  const out = new TcpPacket();
  t.is(decodeFrame(Buffer.alloc(10), 5, 20, LINKTYPE_RAW, out), DecodeResult.Malformed);
  t.is(out.anomaly, "decode.bad-bounds");
});

test("TTL / hop limit, unscaled window and the TCP options' place", (t) => {
  const options = Buffer.from("020405b40103030801010402", "hex"); // MSS 1460, NOP, WS 8, NOP NOP, SACK-permitted
  const [r, p] = decode(
    ethernetIpv4Tcp({ ...FLOW, flags: SYN, window: 64240, options, vlan: 12 }),
    LINKTYPE_ETHERNET,
  );
  t.is(r, DecodeResult.Tcp);
  t.is(p.ttl, 64);
  t.is(p.window, 64240);
  t.is(p.tcpOptionsEnd - p.tcpOptionsStart, 12);
  t.is(p.tcpOptionsEnd, p.payloadStart);
  t.deepEqual(p.buf.subarray(p.tcpOptionsStart, p.tcpOptionsEnd), options);
  const v4 = ipv4Packet({ ...FLOW, ttl: 128, payload: tcpSegment({ ...FLOW, window: 0 }) });
  const [, q] = decode(v4, LINKTYPE_RAW);
  t.is(q.ttl, 128);
  t.is(q.window, 0);
  t.is(q.tcpOptionsStart, q.tcpOptionsEnd, "no options: an empty range");
  t.is(q.tcpOptionsStart, 40);
  const v6 = ipv6Packet({ ...FLOW6, hopLimit: 255, payload: tcpSegment({ ...FLOW6, window: 1234 }) });
  const [, s6] = decode(v6, LINKTYPE_IPV6);
  t.is(s6.ttl, 255);
  t.is(s6.window, 1234);
  // The struct is reused: a frame that stops early leaves no field of the previous one behind.
  const out = new TcpPacket();
  decode(v6, LINKTYPE_IPV6, out);
  t.is(decode(Buffer.alloc(13), LINKTYPE_ETHERNET, out)[0], DecodeResult.Truncated);
  t.deepEqual([out.ttl, out.window, out.tcpOptionsStart, out.tcpOptionsEnd], [0, 0, 0, 0]);
});

test("IPv4 total length 0 (offloaded super-frame) takes the captured length", (t) => {
  const frame = ipv4Packet({ ...FLOW, totalLength: 0, payload: tcpSegment({ ...FLOW, payload: PAYLOAD }) });
  t.deepEqual(view(...decode(frame, LINKTYPE_RAW)), WANT4);
});

test("cut by the snap length: headers cut are Truncated, payload cut is counted as missing", (t) => {
  for (const [frame, lt] of [
    [
      ethernetIpv4Tcp({ ...FLOW, payload: PAYLOAD, vlan: [1, 2], options: Buffer.alloc(8, 1) }),
      LINKTYPE_ETHERNET,
    ],
    [
      ethernetIpv6Tcp({ ...FLOW6, payload: PAYLOAD, extensions: [{ type: 0 }, { type: 44 }] }),
      LINKTYPE_ETHERNET,
    ],
    [sllFrame({ protocol: 0x0800, payload: ipv4Tcp({ ...FLOW, payload: PAYLOAD }) }), LINKTYPE_LINUX_SLL],
    [sll2Frame({ protocol: 0x86dd, payload: ipv6Tcp({ ...FLOW6, payload: PAYLOAD }) }), LINKTYPE_LINUX_SLL2],
  ] as const) {
    const full = decode(frame, lt)[1];
    const payloadStart = full.payloadStart;
    for (let cut = 0; cut < frame.length; cut++) {
      const [r, p] = decode(frame.subarray(0, cut), lt);
      if (cut < payloadStart) {
        t.is(r, DecodeResult.Truncated, `cut ${cut}`);
        t.regex(p.anomaly, /^decode\.truncated-/);
      } else {
        t.is(r, DecodeResult.Tcp, `cut ${cut}`);
        t.is(p.payloadEnd, cut);
        t.is(p.payloadMissing, PAYLOAD.length - (cut - payloadStart));
      }
    }
  }
});

test("address strings: IPv4, MAC, and RFC 5952 IPv6", (t) => {
  t.is(ipv4ToString(0xc0a80001), "192.168.0.1");
  t.is(ipv4ToString(0xffffffff), "255.255.255.255");
  t.is(ipv4ToString(0), "0.0.0.0");
  t.is(macToString(Buffer.from("00a0c9ffee01", "hex"), 0), "00:a0:c9:ff:ee:01");
  t.is(macToString(Buffer.alloc(5), 0), "");
  const v6 = (hex: string) => ipv6ToString(Buffer.from(hex, "hex"), 0);
  t.is(v6("20010db8000000000000000000000001"), "2001:db8::1");
  t.is(v6("20010db8000000010000000000000001"), "2001:db8:0:1::1"); // longest run
  t.is(v6("20010db8000000000001000000000001"), "2001:db8::1:0:0:1"); // first of equal runs
  t.is(v6("20010db8000000010001000100010001"), "2001:db8:0:1:1:1:1:1"); // a single 0 is not compressed
  t.is(v6("00000000000000000000000000000000"), "::");
  t.is(v6("00000000000000000000000000000001"), "::1");
  t.is(v6("fe800000000000000000000000000000"), "fe80::");
  t.is(v6("20010DB8ABCD00120000000000000000".toLowerCase()), "2001:db8:abcd:12::");
  t.is(v6("00000000000000000000ffffc0000280"), "::ffff:192.0.2.128");
  t.is(ipv6ToString(Buffer.alloc(16), 1), "");
});

test("IPv6 text agrees with the WHATWG URL serializer (same compression rules)", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
        minLength: 8,
        maxLength: 8,
      }),
      (groups) => {
        const b = Buffer.alloc(16);
        groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
        const s = ipv6ToString(b, 0);
        if (s.startsWith("::ffff:") && s.includes(".")) return true;
        return new URL(`http://[${s}]/`).hostname === `[${s}]`;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

const LINKTYPES = [
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_NULL,
  LINKTYPE_LOOP,
];

/** Decoding inside a larger buffer (garbage after `end`) must equal decoding an exact copy: no read past end. */
function checkBounded(frame: Uint8Array, lt: number, slack: Uint8Array): boolean {
  const exact = Buffer.from(frame);
  const a = new TcpPacket();
  const ra = decodeFrame(exact, 0, exact.length, lt, a);
  const big = Buffer.concat([Buffer.from(slack), exact, Buffer.from(slack)]);
  const b = new TcpPacket();
  const rb = decodeFrame(big, slack.length, slack.length + exact.length, lt, b);
  const shift = (p: TcpPacket, off: number) => ({
    ...p,
    buf: null,
    src6: p.ipVersion === 6 ? p.src6 - off : 0,
    dst6: p.ipVersion === 6 ? p.dst6 - off : 0,
    macSrc: p.macSrc < 0 ? -1 : p.macSrc - off,
    macDst: p.macDst < 0 ? -1 : p.macDst - off,
    tcpOptionsStart: p.tcpOptionsStart === 0 ? 0 : p.tcpOptionsStart - off,
    tcpOptionsEnd: p.tcpOptionsEnd === 0 ? 0 : p.tcpOptionsEnd - off,
    payloadStart: p.payloadStart === 0 ? 0 : p.payloadStart - off,
    payloadEnd: p.payloadEnd === 0 ? 0 : p.payloadEnd - off,
  });
  if (ra !== rb) return false;
  if (
    (ra === DecodeResult.Tcp || ra === DecodeResult.Udp) &&
    !(a.payloadStart <= a.payloadEnd && a.payloadEnd <= exact.length)
  )
    return false;
  if (
    ra === DecodeResult.Tcp &&
    !(
      a.tcpOptionsStart <= a.tcpOptionsEnd &&
      a.tcpOptionsEnd === a.payloadStart &&
      a.tcpOptionsEnd - a.tcpOptionsStart <= 40
    )
  )
    return false;
  return JSON.stringify(shift(a, 0)) === JSON.stringify(shift(b, slack.length));
}

test("fuzz: random bytes on every link type never throw and never read past end", (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 120 }),
      fc.constantFrom(...LINKTYPES),
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      checkBounded,
    ),
    { numRuns: 3000 },
  );
  t.pass();
});

test("fuzz: mutated and cut valid frames never throw and never read past end", (t) => {
  const frameArb = fc.oneof(
    fc
      .record({
        payload: fc.uint8Array({ maxLength: 40 }),
        vlan: fc.option(fc.array(fc.nat(4095), { minLength: 1, maxLength: 3 }), { nil: undefined }),
      })
      .map(
        ({ payload, vlan }) =>
          [ethernetIpv4Tcp({ ...FLOW, payload: Buffer.from(payload), vlan }), LINKTYPE_ETHERNET] as const,
      ),
    fc.uint8Array({ maxLength: 40 }).map(
      (payload) =>
        [
          ethernetIpv6Tcp({
            ...FLOW6,
            payload: Buffer.from(payload),
            extensions: [{ type: 0 }, { type: 60 }, { type: 44 }],
          }),
          LINKTYPE_ETHERNET,
        ] as const,
    ),
    fc
      .uint8Array({ maxLength: 40 })
      .map(
        (payload) =>
          [
            sllFrame({ protocol: 0x0800, payload: ipv4Tcp({ ...FLOW, payload: Buffer.from(payload) }) }),
            LINKTYPE_LINUX_SLL,
          ] as const,
      ),
    fc
      .uint8Array({ maxLength: 40 })
      .map(
        (payload) =>
          [
            sll2Frame({ protocol: 0x86dd, payload: ipv6Tcp({ ...FLOW6, payload: Buffer.from(payload) }) }),
            LINKTYPE_LINUX_SLL2,
          ] as const,
      ),
    fc
      .uint8Array({ maxLength: 40 })
      .map(
        (payload) =>
          [nullFrame(2, ipv4Tcp({ ...FLOW, payload: Buffer.from(payload) })), LINKTYPE_NULL] as const,
      ),
  );
  fc.assert(
    fc.property(
      frameArb,
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 5 }),
      fc.nat(),
      ([frame, lt], muts, cut) => {
        const f = Buffer.from(frame);
        for (const [at, v] of muts) f[at % f.length] = v;
        return checkBounded(f.subarray(0, cut % (f.length + 1)), lt, Buffer.from([0xff, 0x45, 0x60]));
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});
