/**
 * Constant memory: a ~200 MB capture streamed through readCaptureFile + decodeFrame must not grow the
 * resident set by anything like the file size (the reader holds one 4 MiB buffer). Not a timing test.
 */
import test from "ava";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCaptureFile } from "../../agent/capture/file.js";
import type { PacketSink } from "../../agent/capture/types.js";
import { decodeFrame } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import { ethernetIpv4Tcp, pcapHeader, pcapRecord } from "./builders.js";

class CountingSink implements PacketSink {
  tcp = 0;
  payloadBytes = 0;
  private readonly pkt = new TcpPacket();
  packet(buf: Buffer, start: number, end: number, _ts: number, linktype: number): void {
    if (decodeFrame(buf, start, end, linktype, this.pkt) === DecodeResult.Tcp) {
      this.tcp++;
      this.payloadBytes += this.pkt.payloadEnd - this.pkt.payloadStart;
    }
  }
}

test("a 200 MB capture streams in constant memory", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-mem-"));
  const path = join(dir, "big.pcap");
  try {
    // One 1 MiB block of 1514-byte frames, written 200 times: 200 MiB on disk, little memory to build.
    const records: Buffer[] = [];
    for (let i = 0; i < 690; i++) {
      const frame = ethernetIpv4Tcp({
        src: "10.0.0.1",
        dst: "10.0.0.2",
        sport: 40000 + (i % 16),
        dport: 104,
        seq: i * 1460,
        payload: Buffer.alloc(1460, i),
      });
      records.push(pcapRecord({ data: frame, tsMicros: 1_700_000_000_000_000 + i }));
    }
    const block = Buffer.concat(records);
    const blocks = 200;
    const fd = openSync(path, "w");
    writeSync(fd, pcapHeader());
    for (let i = 0; i < blocks; i++) writeSync(fd, block);
    closeSync(fd);

    const sink = new CountingSink();
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const timer = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 20);
    const summary = await readCaptureFile(path, sink);
    clearInterval(timer);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);

    t.is(summary.error, null);
    t.is(summary.packets, 690 * blocks);
    t.is(sink.tcp, 690 * blocks);
    t.is(sink.payloadBytes, 690 * blocks * 1460);
    const grewMiB = (rssMax - rssBefore) / 2 ** 20;
    t.log(`file ${((block.length * blocks) / 2 ** 20).toFixed(0)} MiB, RSS grew ${grewMiB.toFixed(1)} MiB`);
    t.true(grewMiB < 64, `RSS grew ${grewMiB.toFixed(1)} MiB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
