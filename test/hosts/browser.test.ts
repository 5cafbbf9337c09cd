/**
 * Issue 11: browser announcements on UDP 138 (NetBIOS datagram, RFC 1002 §4.4; SMB1 TRANSACTION to a
 * mailslot, [MS-CIFS] 2.2.4.33; [MS-BRWS] 2.2 frames).
 */
import test from "ava";
import fc from "fast-check";
import { readCaptureFile } from "../../agent/capture/file.js";
import { decodeFrame, ipv4ToString } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import { decodeBrowser } from "../../agent/hosts/browser.js";
import { MAX_TEXT } from "../../agent/hosts/dhcp.js";
import type { BrowserEvent } from "../../agent/hosts/types.js";

/** RFC 1001 §14.1 first-level encoding of a 15-character name and its suffix, as a label (length 32). */
function netbiosName(name: string, suffix: number, scope: string[] = []): Buffer {
  const raw = Buffer.concat([
    Buffer.from(name.padEnd(15, " ").slice(0, 15), "latin1"),
    Buffer.from([suffix]),
  ]);
  const enc = Buffer.alloc(32);
  raw.forEach((b, i) => {
    enc[2 * i] = 0x41 + (b >> 4);
    enc[2 * i + 1] = 0x41 + (b & 15);
  });
  const labels = scope.flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([Buffer.from([32]), enc, ...labels, Buffer.from([0])]);
}

interface Announcement {
  opcode?: number;
  name?: string;
  osMajor?: number;
  osMinor?: number;
  serverType?: number;
  comment?: string;
}

/** [MS-BRWS] 2.2.1 layout: opcode .. signature (32 bytes), then the NUL-terminated comment. */
function browserFrame(a: Announcement = {}): Buffer {
  const b = Buffer.alloc(32);
  b[0] = a.opcode ?? 1;
  b.writeUInt32LE(720000, 2);
  Buffer.from(a.name ?? "CT-CONSOLE-01", "latin1").copy(b, 6, 0, 16);
  b[22] = a.osMajor ?? 10;
  b[23] = a.osMinor ?? 0;
  b.writeUInt32LE(a.serverType ?? 0x00011003, 24);
  b[28] = 15;
  b[29] = 1;
  b.writeUInt16LE(0xaa55, 30);
  return Buffer.concat([b, Buffer.from(a.comment ?? "CT scanner console", "latin1"), Buffer.from([0])]);
}

/** SMB1 header + TRANSACTION request (3 setup words) to `mailslot`, carrying `data` ([MS-CIFS] 2.2.4.33.1). */
function smbTrans(
  data: Buffer,
  o: { mailslot?: string; command?: number; dataOffset?: number; flags2?: number } = {},
) {
  const h = Buffer.alloc(32);
  Buffer.from([0xff, 0x53, 0x4d, 0x42]).copy(h);
  h[4] = o.command ?? 0x25;
  h.writeUInt16LE(o.flags2 ?? 0, 10);
  const setup = 3;
  const wordCount = 14 + setup;
  const words = Buffer.alloc(2 * wordCount);
  const name = Buffer.from((o.mailslot ?? "\\MAILSLOT\\BROWSE") + "\0", "latin1");
  const dataOffset = 32 + 1 + words.length + 2 + name.length;
  words.writeUInt16LE(data.length, 2); // TotalDataCount
  words.writeUInt16LE(0, 18); // ParameterCount
  words.writeUInt16LE(dataOffset, 20); // ParameterOffset
  words.writeUInt16LE(data.length, 22); // DataCount
  words.writeUInt16LE(o.dataOffset ?? dataOffset, 24); // DataOffset
  words[26] = setup;
  words.writeUInt16LE(1, 28); // mailslot write
  words.writeUInt16LE(1, 30); // priority
  words.writeUInt16LE(2, 32); // class: unreliable and broadcast
  const byteCount = Buffer.alloc(2);
  byteCount.writeUInt16LE(name.length + data.length);
  return Buffer.concat([h, Buffer.from([wordCount]), words, byteCount, name, data]);
}

/** NetBIOS DIRECT_GROUP datagram (RFC 1002 §4.4.1) from CT-CONSOLE-01<00> to RADIOLOGY<1D>. */
function datagram(
  user: Buffer,
  o: { msgType?: number; flags?: number; dgmLength?: number; scope?: string[] } = {},
) {
  const names = Buffer.concat([
    netbiosName("CT-CONSOLE-01", 0, o.scope),
    netbiosName("RADIOLOGY", 0x1d, o.scope),
  ]);
  const h = Buffer.alloc(14);
  h[0] = o.msgType ?? 0x11;
  h[1] = o.flags ?? 0x02;
  h.writeUInt16BE(0x802b, 2);
  Buffer.from([10, 0, 0, 7]).copy(h, 4);
  h.writeUInt16BE(138, 8);
  h.writeUInt16BE(o.dgmLength ?? names.length + user.length, 10);
  return Buffer.concat([h, names, user]);
}

function decode(b: Buffer): BrowserEvent | null {
  return decodeBrowser(b, 0, b.length);
}

const WANT: BrowserEvent = {
  kind: "browser",
  opcode: 1,
  serverName: "CT-CONSOLE-01",
  osMajor: 10,
  osMinor: 0,
  serverType: 0x00011003,
  comment: "CT scanner console",
};

test("HostAnnouncement and LocalMasterAnnouncement: name, OS version, server type, comment", (t) => {
  t.deepEqual(decode(datagram(smbTrans(browserFrame()))), WANT);
  t.deepEqual(decode(datagram(smbTrans(browserFrame({ opcode: 15, osMajor: 6, osMinor: 1, comment: "" })))), {
    ...WANT,
    opcode: 15,
    osMajor: 6,
    osMinor: 1,
    comment: null,
  });
  // \MAILSLOT\LANMAN, any case; DIRECT_UNIQUE and BROADCAST datagrams; a NetBIOS scope.
  t.deepEqual(decode(datagram(smbTrans(browserFrame(), { mailslot: "\\mailslot\\lanman" }))), WANT);
  t.deepEqual(decode(datagram(smbTrans(browserFrame()), { msgType: 0x10, scope: ["rad", "example"] })), WANT);
  t.deepEqual(decode(datagram(smbTrans(browserFrame()), { msgType: 0x12 })), WANT);
});

test("DomainAnnouncement: the sender's name is the local master's; the workgroup is not a host", (t) => {
  const e = decode(datagram(smbTrans(browserFrame({ opcode: 12, name: "RADIOLOGY", comment: "PACS-DC" }))));
  t.deepEqual(e, { ...WANT, opcode: 12, serverName: "PACS-DC", comment: null });
});

test("names and comments: NUL-padded, printable only, capped", (t) => {
  const e = decode(
    datagram(smbTrans(browserFrame({ name: "MR\x01\0\0\0\0\0\0\0\0\0\0\0\0\0", comment: "c".repeat(300) }))),
  );
  t.is(e?.serverName, "MR?");
  t.is(e?.comment, "c".repeat(MAX_TEXT));
  t.is(decode(datagram(smbTrans(browserFrame({ name: "\0".repeat(16) }))))?.serverName, null);
});

test("everything else on port 138 is null", (t) => {
  const ok = browserFrame();
  for (const [why, b] of [
    ["election request", datagram(smbTrans(Buffer.concat([Buffer.from([8, 1]), Buffer.alloc(40)])))],
    ["other mailslot", datagram(smbTrans(ok, { mailslot: "\\MAILSLOT\\NET\\NETLOGON" }))],
    ["other mailslot, same length", datagram(smbTrans(ok, { mailslot: "\\MAILSLOT\\BROWSX" }))],
    ["not TRANSACTION", datagram(smbTrans(ok, { command: 0x32 }))],
    ["Unicode", datagram(smbTrans(ok, { flags2: 0x8000 }))],
    ["DataOffset in the header", datagram(smbTrans(ok, { dataOffset: 10 }))],
    ["DataOffset past the end", datagram(smbTrans(ok, { dataOffset: 4000 }))],
    ["a fragment (M)", datagram(smbTrans(ok), { flags: 0x03 })],
    ["a later fragment", datagram(smbTrans(ok), { flags: 0x00 })],
    ["error datagram", datagram(smbTrans(ok), { msgType: 0x13 })],
    ["DGM_LENGTH cuts the data", datagram(smbTrans(ok), { dgmLength: 100 })],
    ["short frame", datagram(smbTrans(ok.subarray(0, 31)))],
    ["not SMB", datagram(Buffer.alloc(120, 0x41))],
  ] as const) {
    t.is(decode(b), null, why);
  }
  const b = datagram(smbTrans(ok));
  for (let cut = 0; cut < b.length - ok.length + 32; cut++)
    t.is(decode(b.subarray(0, cut)), null, `cut ${cut}`);
  t.is(decodeBrowser(b, 5, 4), null);
  t.is(decodeBrowser(b, 0, b.length + 1), null);
});

test("fuzz: random and mutated datagrams never throw, never read past end, and stay bounded", (t) => {
  const valid = datagram(smbTrans(browserFrame()));
  const check = (b: Buffer): boolean => {
    const e = decodeBrowser(b, 0, b.length);
    const big = Buffer.concat([Buffer.from([0x11]), b, Buffer.alloc(64, 0x41)]);
    if (JSON.stringify(decodeBrowser(big, 1, 1 + b.length)) !== JSON.stringify(e)) return false;
    if (e === null) return true;
    return [e.serverName, e.comment].every(
      (s) => s === null || (s.length <= MAX_TEXT && /^[\x20-\x7e]+$/.test(s)),
    );
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (a) => check(Buffer.from(a))),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.nat(), (muts, cut) => {
      const b = Buffer.from(valid);
      for (const [at, v] of muts) b[at % b.length] = v;
      return check(b.subarray(0, cut % (b.length + 1)));
    }),
    { numRuns: 4000 },
  );
  t.pass();
});

test("golden: the Windows XP LocalMasterAnnouncements of zeek's smb_raw_ntlm_in_smb.pcap", async (t) => {
  const got: { src: string; e: BrowserEvent | null }[] = [];
  const pkt = new TcpPacket();
  await readCaptureFile(
    "../shared/captures/zeek/smb_raw_ntlm_in_smb.pcap",
    {
      packet(buf, start, end, _ts, linktype) {
        if (decodeFrame(buf, start, end, linktype, pkt) !== DecodeResult.Udp || pkt.dstPort !== 138) return;
        got.push({
          src: ipv4ToString(pkt.src4),
          e: decodeBrowser(pkt.buf, pkt.payloadStart, pkt.payloadEnd),
        });
      },
    },
    { anomalies: null },
  );
  // tshark -r ../shared/captures/zeek/smb_raw_ntlm_in_smb.pcap -V -Y browser: Local Master Announcement,
  // frames 46 and 47: TEST-F7DFBC3FE9, OS 5.1 (Windows XP), server type 0x00051003, empty comment.
  t.is(got.length, 2);
  for (const g of got) {
    t.deepEqual(g, {
      src: "192.168.56.101",
      e: {
        kind: "browser",
        opcode: 15,
        serverName: "TEST-F7DFBC3FE9",
        osMajor: 5,
        osMinor: 1,
        serverType: 0x00051003,
        comment: null,
      },
    });
  }
});
