/**
 * Issue 11: SYN and SYN/ACK fingerprints (RFC 9293 §3.1 options, the initial TTL guessed from the TTL).
 */
import test from "ava";
import fc from "fast-check";
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from "../../agent/capture/types.js";
import { readCaptureFile } from "../../agent/capture/file.js";
import { decodeFrame } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import { tcpFingerprint } from "../../agent/hosts/tcp-fingerprint.js";
import type { TcpFingerprintEvent } from "../../agent/hosts/types.js";
import {
  ACK,
  FIN,
  PSH,
  RST,
  SYN,
  ethernetIpv4Tcp,
  ipv4Packet,
  ipv6Tcp,
  tcpSegment,
} from "../capture/builders.js";

const FLOW = { src: "10.0.0.7", dst: "10.0.0.8", sport: 49700, dport: 104 };

/** Decode a raw IPv4 SYN with these options, TTL and window, and fingerprint it. */
function fp(
  options: number[],
  o: { ttl?: number; window?: number; flags?: number } = {},
): TcpFingerprintEvent | null {
  const frame = ipv4Packet({
    ...FLOW,
    ttl: o.ttl ?? 128,
    payload: tcpSegment({
      ...FLOW,
      flags: o.flags ?? SYN,
      window: o.window ?? 64240,
      options: Buffer.from(options),
    }),
  });
  const p = new TcpPacket();
  if (decodeFrame(frame, 0, frame.length, LINKTYPE_RAW, p) !== DecodeResult.Tcp) return null;
  return tcpFingerprint(p);
}

// Windows 10's SYN: MSS 1460, NOP, WS 8, NOP, NOP, SACK permitted.
const WIN = [2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
// Linux's SYN: MSS 1460, SACK permitted, timestamps, NOP, WS 7.
const LINUX = [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];

test("a Windows SYN and a Linux SYN/ACK", (t) => {
  t.deepEqual(fp(WIN, { ttl: 127, window: 64240 }), {
    kind: "tcp-syn",
    synAck: false,
    ttl: 127,
    initialTtl: 128,
    window: 64240,
    mss: 1460,
    windowScale: 8,
    options: "MNWNNS",
    family: "windows",
  });
  t.deepEqual(fp(LINUX, { ttl: 61, window: 65160, flags: SYN | ACK }), {
    kind: "tcp-syn",
    synAck: true,
    ttl: 61,
    initialTtl: 64,
    window: 65160,
    mss: 1460,
    windowScale: 7,
    options: "MSTNW",
    family: "unix",
  });
});

test("initial TTL and family: 32 none, 64 unix, 128 windows, 255 network; 0 and 1 count as 32", (t) => {
  for (const [ttl, initial, family] of [
    [0, 32, null],
    [1, 32, null],
    [32, 32, null],
    [33, 64, "unix"],
    [64, 64, "unix"],
    [65, 128, "windows"],
    [128, 128, "windows"],
    [129, 255, "network"],
    [255, 255, "network"],
  ] as const) {
    const e = fp([], { ttl });
    t.is(e?.initialTtl, initial, `ttl ${ttl}`);
    t.is(e?.family, family, `ttl ${ttl}`);
    t.is(e?.options, "", "no options");
    t.is(e?.mss, null);
    t.is(e?.windowScale, null);
  }
});

test("only a SYN or SYN/ACK (no FIN, no RST) is fingerprinted", (t) => {
  for (const flags of [ACK, ACK | PSH, FIN | ACK, RST, 0, SYN | RST, SYN | FIN])
    t.is(fp(WIN, { flags }), null, `flags ${flags}`);
  t.truthy(fp(WIN, { flags: SYN | PSH }));
});

test("options: End stops the walk, unknown kinds are ?n, odd lengths keep the kind without a value, a broken list stops", (t) => {
  t.is(fp([2, 4, 5, 0xb4, 0, 1, 1, 1])?.options, "ME");
  t.is(fp([30, 6, 1, 2, 3, 4, 34, 2, 1])?.options, "?30?34NE"); // padded with an End
  const odd = fp([2, 3, 5, 3, 2, 9]);
  t.deepEqual([odd?.options, odd?.mss, odd?.windowScale], ["MW", null, null]);
  // Length 1 (below 2), and a length past the header: the walk stops.
  t.is(fp([1, 2, 1, 1, 1])?.options, "N");
  t.is(fp([1, 8, 10, 0, 0, 0])?.options, "N");
  // IPv6 gives the hop limit.
  const frame = ipv6Tcp({
    src: "fd77::10",
    dst: "fd77::20",
    sport: 1,
    dport: 2,
    flags: SYN,
    options: Buffer.from(WIN),
  });
  const p = new TcpPacket();
  t.is(decodeFrame(frame, 0, frame.length, LINKTYPE_RAW, p), DecodeResult.Tcp);
  t.is(tcpFingerprint(p)?.ttl, 64);
  t.is(tcpFingerprint(p)?.options, "MNWNNS");
});

test("fuzz: any options never throw and give a short option string", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(255), fc.nat(0xffff), (opts, ttl, window) => {
      const frame = ethernetIpv4Tcp({ ...FLOW, flags: SYN, window, options: Buffer.from(opts) });
      frame[14 + 8] = ttl;
      const p = new TcpPacket();
      if (decodeFrame(frame, 0, frame.length, LINKTYPE_ETHERNET, p) !== DecodeResult.Tcp) return false;
      const e = tcpFingerprint(p);
      return (
        e !== null &&
        e.ttl === ttl &&
        e.window === window &&
        e.options.length <= 40 * 4 &&
        (e.mss === null || e.mss <= 0xffff) &&
        [32, 64, 128, 255].includes(e.initialTtl)
      );
    }),
    { numRuns: 3000 },
  );
  // A TcpPacket whose option range lies past its buffer (misuse) reads nothing.
  const p = new TcpPacket();
  p.flags = SYN;
  p.tcpOptionsStart = 10;
  p.tcpOptionsEnd = 50;
  t.is(tcpFingerprint(p)?.options, "");
  t.pass();
});

async function synsOf(path: string): Promise<TcpFingerprintEvent[]> {
  const out: TcpFingerprintEvent[] = [];
  const pkt = new TcpPacket();
  await readCaptureFile(
    path,
    {
      packet(buf, start, end, _ts, linktype) {
        if (decodeFrame(buf, start, end, linktype, pkt) !== DecodeResult.Tcp) return;
        const e = tcpFingerprint(pkt);
        if (e) out.push(e);
      },
    },
    { anomalies: null },
  );
  return out;
}

test("golden: real Windows SYNs (zeek's RDP captures) and Linux SYNs (the lab's)", async (t) => {
  const win = await synsOf("../shared/captures/zeek/rdp_rdp-to-ssl.pcap");
  // tshark -Y tcp.flags.syn==1: frames 1 and 2, TTL 128, window 8192, MSS 1460, WS 8, options 2,1,3,1,1,4.
  t.deepEqual(win.slice(0, 2), [
    {
      kind: "tcp-syn",
      synAck: false,
      ttl: 128,
      initialTtl: 128,
      window: 8192,
      mss: 1460,
      windowScale: 8,
      options: "MNWNNS",
      family: "windows",
    },
    {
      kind: "tcp-syn",
      synAck: true,
      ttl: 128,
      initialTtl: 128,
      window: 8192,
      mss: 1460,
      windowScale: 8,
      options: "MNWNNS",
      family: "windows",
    },
  ]);
  t.true(win.every((e) => e.family === "windows"));
  const x509 = await synsOf("../shared/captures/zeek/rdp_rdp-x509.pcap");
  t.like(x509[0], { synAck: false, mss: 1398, window: 8192, family: "windows" });
  t.like(x509[1], { synAck: true, mss: 1460, window: 64240, windowScale: 0, family: "windows" });
  // Linux 5.x/6.x: window 64240 (SYN) and 65160 (SYN/ACK), MSS, SACK, timestamps, NOP, WS 10.
  const linux = await synsOf("test/fixtures/lab/echo.pcap");
  t.deepEqual(linux.slice(0, 2), [
    {
      kind: "tcp-syn",
      synAck: false,
      ttl: 64,
      initialTtl: 64,
      window: 64240,
      mss: 1460,
      windowScale: 10,
      options: "MSTNW",
      family: "unix",
    },
    {
      kind: "tcp-syn",
      synAck: true,
      ttl: 64,
      initialTtl: 64,
      window: 65160,
      mss: 1460,
      windowScale: 10,
      options: "MSTNW",
      family: "unix",
    },
  ]);
  const v6 = await synsOf("test/fixtures/lab/ipv6.pcap");
  t.like(v6[0], { synAck: false, ttl: 64, window: 64800, mss: 1440, windowScale: 10, options: "MSTNW" });
  t.like(v6[1], { synAck: true, window: 64260, mss: 1440 });
});
