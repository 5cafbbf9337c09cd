/**
 * Issue 11: DHCP requests describe their client (RFC 2131, options RFC 2132 and RFC 4702); replies only
 * say their sender is a DHCP server.
 */
import test from "ava";
import fc from "fast-check";
import { readCaptureFile } from "../../agent/capture/file.js";
import { decodeFrame, ipv4ToString } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import { MAX_PRL, MAX_TEXT, decodeDhcp } from "../../agent/hosts/dhcp.js";
import type { DhcpEvent } from "../../agent/hosts/types.js";

/** A BOOTP message (RFC 2131 §2) with the magic cookie and the options given as [code, bytes]; End added. */
function dhcp(
  options: [number, Buffer | number[] | string][],
  o: { op?: number; mac?: string; hlen?: number; cookie?: number; end?: boolean } = {},
): Buffer {
  const h = Buffer.alloc(240);
  h[0] = o.op ?? 1;
  h[1] = 1;
  h[2] = o.hlen ?? 6;
  h.writeUInt32BE(0x3903f326, 4);
  Buffer.from((o.mac ?? "00:0b:82:01:fc:42").split(":").map((x) => parseInt(x, 16))).copy(h, 28);
  h.writeUInt32BE(o.cookie ?? 0x63825363, 236);
  const parts = [h];
  for (const [code, v] of options) {
    const b = typeof v === "string" ? Buffer.from(v, "latin1") : Buffer.from(v);
    parts.push(Buffer.from([code, b.length]), b);
  }
  if (o.end ?? true) parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}

function decode(b: Buffer): DhcpEvent | null {
  return decodeDhcp(b, 0, b.length);
}

const EMPTY = {
  kind: "dhcp",
  messageType: null,
  clientMac: "00:0b:82:01:fc:42",
  hostName: null,
  vendorClass: null,
  parameterRequestList: [],
  requestedAddress: null,
  fqdn: null,
};

test("a Windows DISCOVER: message type, host name, vendor class, PRL, requested address, ASCII FQDN", (t) => {
  const b = dhcp([
    [53, [1]],
    [61, [1, 0, 0x0b, 0x82, 1, 0xfc, 0x42]],
    [50, [192, 168, 1, 40]],
    [12, "CT-CONSOLE-01"],
    [81, [0, 0, 0, ...Buffer.from("ct-console-01.rad.example")]],
    [60, "MSFT 5.0"],
    [55, [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]],
    [0, []], // two Pad octets (0, 0)
  ]);
  t.deepEqual(decode(b), {
    ...EMPTY,
    messageType: 1,
    hostName: "CT-CONSOLE-01",
    vendorClass: "MSFT 5.0",
    parameterRequestList: [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252],
    requestedAddress: "192.168.1.40",
    fqdn: "ct-console-01.rad.example",
  });
});

test("option 81 in wire format (E flag), partial and fully qualified; pads are skipped", (t) => {
  const wire = (labels: string[], root: boolean) => [
    0x05, // S, E
    0,
    0,
    ...labels.flatMap((l) => [l.length, ...Buffer.from(l)]),
    ...(root ? [0] : []),
  ];
  const b = Buffer.concat([
    dhcp([[53, [3]]], { end: false }),
    Buffer.from([0, 0, 0]),
    dhcp([[81, wire(["mr3", "rad", "example"], true)]]).subarray(240),
  ]);
  t.is(decode(b)?.fqdn, "mr3.rad.example");
  t.is(decode(b)?.messageType, 3);
  t.is(decode(dhcp([[81, wire(["mr3"], false)]]))?.fqdn, "mr3");
  // A compression pointer is not allowed (RFC 4702 §2.3.1): the name stops there.
  t.is(decode(dhcp([[81, [4, 0, 0, 3, 0x61, 0x62, 0x63, 0xc0, 12]]]))?.fqdn, "abc");
  t.is(decode(dhcp([[81, [4, 0, 0]]]))?.fqdn, null);
  t.is(decode(dhcp([[81, [4, 0]]]))?.fqdn, null);
  // A label longer than the option: nothing.
  t.is(decode(dhcp([[81, [4, 0, 0, 9, 0x61]]]))?.fqdn, null);
});

test("strings: printable only, stop at NUL, capped; the PRL capped and concatenated across split options", (t) => {
  const e = decode(
    dhcp([
      [12, "host\x01name\0garbage"],
      [60, "x".repeat(200)],
      [55, Array.from({ length: 50 }, (_, i) => i + 1)],
      [55, Array.from({ length: 50 }, (_, i) => i + 100)],
      [12, "second"],
    ]),
  );
  t.is(e?.hostName, "host?name");
  t.is(e?.vendorClass, "x".repeat(MAX_TEXT));
  t.is(e?.parameterRequestList.length, MAX_PRL);
  t.deepEqual(e?.parameterRequestList.slice(48, 52), [49, 50, 100, 101]);
  t.is(decode(dhcp([[12, "   "]]))?.hostName, null);
  t.is(decode(dhcp([[12, "\0"]]))?.hostName, null);
});

test("replies keep only their message type and chaddr; BOOTP without option 53 and other ops are null", (t) => {
  const ack = dhcp(
    [
      [53, [5]],
      [12, "assigned-name"],
      [60, "ArubaAP"],
      [55, [1, 2]],
    ],
    { op: 2 },
  );
  t.deepEqual(decode(ack), { ...EMPTY, messageType: 5 });
  t.is(decode(dhcp([[12, "x"]], { op: 2 })), null);
  t.is(decode(dhcp([[53, [1]]], { op: 3 })), null);
  t.is(decode(dhcp([[53, [1]]], { cookie: 0x63825362 })), null);
  t.is(decode(dhcp([[53, [1]]]).subarray(0, 239)), null);
  t.deepEqual(decode(dhcp([], { hlen: 0 })), { ...EMPTY, clientMac: null });
  t.is(decode(dhcp([], { hlen: 17 }))?.clientMac, null);
  t.is(decode(dhcp([], { hlen: 3 }))?.clientMac, "00:0b:82");
});

test("a cut or broken option list keeps what came before it; bad bounds are null", (t) => {
  const b = dhcp([
    [53, [1]],
    [12, "modality"],
    [60, "dhcpcd-9.4.1"],
  ]);
  const at60 = b.indexOf("dhcpcd") - 2;
  for (let cut = 240; cut < b.length; cut++) {
    const e = decode(b.subarray(0, cut));
    t.truthy(e, `cut ${cut}`);
    if (cut >= at60 + 14) t.is(e?.vendorClass, "dhcpcd-9.4.1");
    else t.is(e?.vendorClass, null, `cut ${cut}`);
  }
  t.is(decodeDhcp(b, 10, 5), null);
  t.is(decodeDhcp(b, 0, b.length + 1), null);
  t.is(decodeDhcp(b, -1, b.length), null);
});

function bounded(e: DhcpEvent | null): boolean {
  if (e === null) return true;
  const s = [e.hostName, e.vendorClass, e.fqdn, e.requestedAddress, e.clientMac];
  return (
    s.every((x) => x === null || (x.length <= MAX_TEXT && /^[\x20-\x7e]+$/.test(x))) &&
    e.parameterRequestList.length <= MAX_PRL &&
    (e.messageType === null || (e.messageType >= 0 && e.messageType <= 255))
  );
}

test("fuzz: random and mutated messages never throw, never read past end, and stay bounded", (t) => {
  const valid = dhcp([
    [53, [1]],
    [12, "CT-CONSOLE-01"],
    [81, [5, 0, 0, 3, 0x61, 0x62, 0x63, 0]],
    [60, "MSFT 5.0"],
    [55, [1, 3, 6, 15]],
    [50, [10, 0, 0, 1]],
  ]);
  const check = (b: Buffer): boolean => {
    const e = decodeDhcp(b, 0, b.length);
    // The same bytes inside a bigger buffer: nothing past `end` is read.
    const big = Buffer.concat([Buffer.from([9, 9]), b, Buffer.from([55, 200, 12, 40])]);
    return bounded(e) && JSON.stringify(decodeDhcp(big, 2, 2 + b.length)) === JSON.stringify(e);
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (a) => {
      const b = Buffer.from(a);
      if (b.length >= 240) b.writeUInt32BE(0x63825363, 236);
      return check(b);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.nat(), (muts, cut) => {
      const b = Buffer.from(valid);
      for (const [at, v] of muts) b[240 + (at % (b.length - 240))] = v;
      return check(b.subarray(0, cut % (b.length + 1)));
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test("golden: the DHCP exchange of zeek's dhcp_dhcp.pcap", async (t) => {
  const got: { src: string; sport: number; e: DhcpEvent | null }[] = [];
  const pkt = new TcpPacket();
  await readCaptureFile(
    "../shared/captures/zeek/dhcp_dhcp.pcap",
    {
      packet(buf, start, end, _ts, linktype) {
        if (decodeFrame(buf, start, end, linktype, pkt) !== DecodeResult.Udp) return;
        if (pkt.dstPort !== 67 && pkt.dstPort !== 68) return;
        got.push({
          src: ipv4ToString(pkt.src4),
          sport: pkt.srcPort,
          e: decodeDhcp(pkt.buf, pkt.payloadStart, pkt.payloadEnd),
        });
      },
    },
    { anomalies: null },
  );
  const mac = "90:b1:1c:99:49:29";
  const client = (messageType: number, requestedAddress: string | null, hostName: string | null) => ({
    src: "0.0.0.0",
    sport: 68,
    e: {
      kind: "dhcp",
      messageType,
      clientMac: mac,
      hostName,
      vendorClass: null,
      parameterRequestList: [],
      requestedAddress,
      fqdn: null,
    },
  });
  const server = (messageType: number) => ({
    src: "128.2.6.152",
    sport: 67,
    e: { ...EMPTY, clientMac: mac, messageType },
  });
  // tshark -r ../shared/captures/zeek/dhcp_dhcp.pcap -V -Y dhcp: DISCOVER, OFFER, REQUEST, NAK, REQUEST,
  // ACK, DECLINE, RELEASE, INFORM; the client names itself btest.is.cool, sends no vendor class nor PRL;
  // the server's "ArubaAP" vendor class (option 60 in the OFFER and ACK) is not the client's.
  t.deepEqual(got, [
    client(1, "192.168.211.194", "btest.is.cool"),
    server(2),
    client(3, "192.168.211.194", "btest.is.cool"),
    server(6),
    client(3, "128.2.6.189", "btest.is.cool"),
    server(5),
    client(4, null, null),
    client(7, null, null),
    client(8, "128.2.6.189", "btest.is.cool"),
  ]);
});
