/**
 * Issue 11: decodeFrame reports UDP datagrams (DecodeResult.Udp) over every link layer and IP version,
 * bounded by the UDP length, the IP payload and the captured bytes.
 */
import test from "ava";
import fc from "fast-check";
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW } from "../../agent/capture/types.js";
import { decodeFrame, ipv4ToString, ipv6ToString, macToString } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import { ethernetFrame, ipv4Packet, ipv6Packet, sll2Frame, type Ipv6Extension } from "../capture/builders.js";

/** UDP header (RFC 768) + data; `length` overrides the Length field. The checksum is left 0 (none). */
function udpDatagram(sport: number, dport: number, data: Buffer, length?: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(length ?? 8 + data.length, 4);
  return Buffer.concat([h, data]);
}

function ipv4Udp(data: Buffer, o: { length?: number; ttl?: number; totalLength?: number } = {}): Buffer {
  return ipv4Packet({
    src: "10.0.0.7",
    dst: "255.255.255.255",
    protocol: 17,
    ttl: o.ttl ?? 128,
    totalLength: o.totalLength,
    payload: udpDatagram(68, 67, data, o.length),
  });
}

function ipv6Udp(
  data: Buffer,
  o: { length?: number; extensions?: Ipv6Extension[]; payloadLength?: number } = {},
) {
  return ipv6Packet({
    src: "fe80::1",
    dst: "ff02::1:2",
    nextHeader: 17,
    hopLimit: 1,
    extensions: o.extensions,
    payloadLength: o.payloadLength,
    payload: udpDatagram(546, 547, data, o.length),
  });
}

const DATA = Buffer.from("a datagram of some bytes");

function decode(frame: Buffer, lt: number, out = new TcpPacket()): [DecodeResult, TcpPacket] {
  return [decodeFrame(frame, 0, frame.length, lt, out), out];
}

function data(p: TcpPacket): string {
  return p.buf.toString("latin1", p.payloadStart, p.payloadEnd);
}

test("Ethernet/IPv4/UDP: addresses, ports, TTL, MACs and the data; no TCP fields", (t) => {
  const frame = ethernetFrame({
    etherType: 0x0800,
    srcMac: "00:1b:21:aa:bb:cc",
    dstMac: "ff:ff:ff:ff:ff:ff",
    payload: ipv4Udp(DATA),
  });
  const [r, p] = decode(frame, LINKTYPE_ETHERNET);
  t.is(r, DecodeResult.Udp);
  t.is(ipv4ToString(p.src4), "10.0.0.7");
  t.is(ipv4ToString(p.dst4), "255.255.255.255");
  t.is(p.srcPort, 68);
  t.is(p.dstPort, 67);
  t.is(p.ttl, 128);
  t.is(data(p), DATA.toString("latin1"));
  t.is(p.payloadMissing, 0);
  t.is(macToString(frame, p.macSrc), "00:1b:21:aa:bb:cc");
  t.is(macToString(frame, p.macDst), "ff:ff:ff:ff:ff:ff");
  t.deepEqual([p.flags, p.seq, p.ack, p.window, p.tcpOptionsStart, p.tcpOptionsEnd], [0, 0, 0, 0, 0, 0]);
  t.is(p.anomaly, "");
});

test("Ethernet padding after a short datagram is not data: the UDP length bounds it", (t) => {
  const frame = ethernetFrame({ etherType: 0x0800, payload: ipv4Udp(Buffer.from("hi")) });
  t.is(frame.length, 60);
  const [r, p] = decode(frame, LINKTYPE_ETHERNET);
  t.is(r, DecodeResult.Udp);
  t.is(data(p), "hi");
  // An IP payload longer than the UDP length: the UDP length still bounds the data (RFC 768).
  const longer = ipv4Udp(Buffer.from("hi\0\0\0\0"), { length: 10 });
  const [r2, q] = decode(longer, LINKTYPE_RAW);
  t.is(r2, DecodeResult.Udp);
  t.is(data(q), "hi");
});

test("802.1Q/QinQ and Linux SLL2 carry UDP too", (t) => {
  const [r, p] = decode(
    ethernetFrame({ etherType: 0x0800, vlan: [300, 42], payload: ipv4Udp(DATA) }),
    LINKTYPE_ETHERNET,
  );
  t.is(r, DecodeResult.Udp);
  t.is(p.vlan, 300);
  t.is(data(p), DATA.toString("latin1"));
  const [r2, q] = decode(sll2Frame({ protocol: 0x86dd, payload: ipv6Udp(DATA) }), LINKTYPE_LINUX_SLL2);
  t.is(r2, DecodeResult.Udp);
  t.is(q.dstPort, 547);
  t.is(data(q), DATA.toString("latin1"));
});

test("IPv6/UDP after extension headers; hop limit; a real fragment is not decoded", (t) => {
  const frame = ipv6Udp(DATA, {
    extensions: [{ type: 0, body: Buffer.alloc(6) }, { type: 60, body: Buffer.alloc(14) }, { type: 44 }],
  });
  const [r, p] = decode(frame, LINKTYPE_RAW);
  t.is(r, DecodeResult.Udp);
  t.is(p.ipVersion, 6);
  t.is(ipv6ToString(p.buf, p.src6), "fe80::1");
  t.is(ipv6ToString(p.buf, p.dst6), "ff02::1:2");
  t.is(p.srcPort, 546);
  t.is(p.ttl, 1);
  t.is(data(p), DATA.toString("latin1"));
  t.is(
    decode(ipv6Udp(DATA, { extensions: [{ type: 44, more: true }] }), LINKTYPE_RAW)[0],
    DecodeResult.Fragment,
  );
  // A jumbogram (RFC 2675 §4): UDP Length 0, the IP payload is the bound.
  const [rj, j] = decode(ipv6Udp(DATA, { length: 0 }), LINKTYPE_RAW);
  t.is(rj, DecodeResult.Udp);
  t.is(data(j), DATA.toString("latin1"));
});

test("bad UDP lengths are Malformed, decode.udp-length; a too short IP payload, decode.udp-datagram-too-short", (t) => {
  for (const [frame, code] of [
    [ipv4Udp(DATA, { length: 7 }), "decode.udp-length"],
    [ipv4Udp(DATA, { length: 0 }), "decode.udp-length"], // 0 is a jumbogram's only, IPv6
    [ipv4Udp(DATA, { length: 8 + DATA.length + 1 }), "decode.udp-length"],
    [ipv6Udp(DATA, { length: 3 }), "decode.udp-length"],
    [ipv6Udp(DATA, { length: 8 + DATA.length + 1 }), "decode.udp-length"],
    [ipv4Udp(DATA, { totalLength: 27 }), "decode.udp-datagram-too-short"],
    [ipv6Udp(DATA, { payloadLength: 7 }), "decode.udp-datagram-too-short"],
  ] as const) {
    const [r, p] = decode(frame, LINKTYPE_RAW);
    t.is(r, DecodeResult.Malformed, code);
    t.is(p.anomaly, code);
  }
});

test("cut by the snap length: inside the UDP header Truncated, in the data counted as missing", (t) => {
  const frame = ethernetFrame({ etherType: 0x0800, vlan: 9, payload: ipv4Udp(DATA) });
  const udpStart = 14 + 4 + 20;
  for (let cut = 0; cut <= udpStart + 8 + DATA.length; cut++) {
    const [r, p] = decode(frame.subarray(0, cut), LINKTYPE_ETHERNET);
    if (cut < udpStart + 8) {
      t.is(r, DecodeResult.Truncated, `cut ${cut}`);
      t.regex(p.anomaly, /^decode\.truncated-/);
      if (cut >= udpStart) t.is(p.anomaly, "decode.truncated-udp");
    } else {
      t.is(r, DecodeResult.Udp, `cut ${cut}`);
      t.is(p.payloadEnd, cut);
      t.is(p.payloadMissing, DATA.length - (cut - udpStart - 8));
    }
  }
});

test("fuzz: mutated and cut UDP frames never throw and keep the data inside the frame and the UDP length", (t) => {
  const frames = fc.oneof(
    fc
      .uint8Array({ maxLength: 60 })
      .map(
        (d) =>
          [
            ethernetFrame({ etherType: 0x0800, payload: ipv4Udp(Buffer.from(d)) }),
            LINKTYPE_ETHERNET,
          ] as const,
      ),
    fc
      .uint8Array({ maxLength: 60 })
      .map(
        (d) => [ipv6Udp(Buffer.from(d), { extensions: [{ type: 0 }, { type: 44 }] }), LINKTYPE_RAW] as const,
      ),
  );
  fc.assert(
    fc.property(
      frames,
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
      fc.nat(),
      ([frame, lt], muts, cut) => {
        const f = Buffer.from(frame);
        for (const [at, v] of muts) f[at % f.length] = v;
        const g = f.subarray(0, cut % (f.length + 1));
        // Decoded inside a bigger buffer: nothing read past `end`.
        const big = Buffer.concat([g, Buffer.from([0, 0x11, 0xff, 0xff])]);
        const out = new TcpPacket();
        const r = decodeFrame(big, 0, g.length, lt, out);
        if (r !== DecodeResult.Udp) return true;
        const udpLength = big.readUInt16BE(out.payloadStart - 4);
        return (
          out.payloadStart <= out.payloadEnd &&
          out.payloadEnd <= g.length &&
          (udpLength === 0 || out.payloadEnd - out.payloadStart + out.payloadMissing === udpLength - 8)
        );
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});
