import test from "ava";
import fc from "fast-check";
import { PcapStreamParser, readCaptureFile } from "../../agent/capture/file.js";
import type { CaptureSummary } from "../../agent/capture/types.js";
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
} from "../../agent/capture/types.js";
import {
  type CapturePacket,
  ethernetIpv4Tcp,
  ipv4Tcp,
  pcapFile,
  pcapngBlock,
  pcapngEpb,
  pcapngFile,
  pcapngIdb,
  pcapngShb,
  pcapngSpb,
} from "./builders.js";
import { RecordingSink, type Seen, withTempFile } from "./helpers.js";

const TS0 = 1_700_000_000_123_456;

function frames(n: number, payloadSize = 10): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      ethernetIpv4Tcp({
        src: "10.0.0.1",
        dst: "10.0.0.2",
        sport: 40000 + i,
        dport: 104,
        seq: i * 1000,
        payload: Buffer.alloc(payloadSize + i, i),
      }),
    );
  }
  return out;
}

function packets(n: number, payloadSize = 10): CapturePacket[] {
  return frames(n, payloadSize).map((data, i) => ({ data, tsMicros: TS0 + i * 1_000_001 }));
}

function streamAll(
  chunks: Buffer[],
  counters?: { bytesCopied: number },
): { seen: Seen[]; summary: CaptureSummary } {
  const sink = new RecordingSink();
  const p = new PcapStreamParser(sink, counters ? { counters } : {});
  for (const c of chunks) p.push(c);
  return { seen: sink.seen, summary: p.end() };
}

function expected(pk: CapturePacket[], linktype = LINKTYPE_ETHERNET): Seen[] {
  return pk.map((p) => ({
    data: Buffer.from(p.data as Buffer).toString("hex"),
    tsMicros: p.tsMicros!,
    linktype,
    origLen: p.origLen ?? (p.data as Buffer).length,
  }));
}

for (const nanos of [false, true]) {
  for (const bigEndian of [false, true]) {
    test(`pcap ${nanos ? "ns" : "µs"} ${bigEndian ? "big" : "little"}-endian: every record, timestamp and length`, async (t) => {
      const pk = packets(5);
      pk[2]!.origLen = 9000;
      const file = pcapFile(pk, { nanos, bigEndian, linktype: LINKTYPE_ETHERNET });
      const sink = new RecordingSink();
      const counters = { bytesCopied: 0 };
      const summary = await withTempFile(file, (path) => readCaptureFile(path, sink, { counters }));
      t.deepEqual(sink.seen, expected(pk));
      const bytes = pk.reduce((a, p) => a + (p.data as Buffer).length, 0);
      t.deepEqual(summary, { format: "pcap", packets: 5, bytes, error: null });
      t.is(counters.bytesCopied, 0, "the whole file fits one read: nothing is carried");
      t.deepEqual(streamAll([file]).seen, sink.seen);
    });
  }
}

test("pcap nanosecond timestamps round down to microseconds", (t) => {
  const file = pcapFile([{ data: frames(1)[0]!, tsMicros: 0 }], { nanos: true });
  file.writeUInt32LE(1_999, 24 + 4); // 1999 ns
  t.is(streamAll([file]).seen[0]!.tsMicros, 1);
});

test("pcap link type comes from the file header (FCS bits masked)", (t) => {
  const pk = [{ data: ipv4Tcp({ src: "1.2.3.4", dst: "5.6.7.8", sport: 1, dport: 2 }), tsMicros: TS0 }];
  const file = pcapFile(pk, { linktype: LINKTYPE_RAW | 0x10000000 });
  t.deepEqual(streamAll([file]).seen, expected(pk, LINKTYPE_RAW));
});

test("pcap record with an absurd captured length is corrupt; earlier records were delivered", (t) => {
  const pk = packets(3);
  const file = pcapFile(pk, { snaplen: 65535 });
  const third = 24 + (16 + (pk[0]!.data as Buffer).length) + (16 + (pk[1]!.data as Buffer).length);
  file.writeUInt32LE(0x7fffffff, third + 8);
  const { seen, summary } = streamAll([file]);
  t.deepEqual(seen, expected(pk.slice(0, 2)));
  t.is(summary.error?.code, "pcap.bad-caplen");
  t.is(summary.error?.offset, third);
  t.is(summary.packets, 2);
});

test("a corrupt length is reported at once, not buffered up to hundreds of MiB (default cap)", async (t) => {
  // pcap: a header claiming a 2 GiB SnapLen, then a record claiming 64 MiB; pcapng: a block claiming 64 MiB.
  // Both files end right after that header: with a cap above 64 MiB the reader would grow its buffer to
  // the claimed size, read to the end of the file and only then say "truncated".
  const pk = packets(1);
  const pcap = pcapFile(pk, { snaplen: 0x7fffffff });
  const badRecord = Buffer.alloc(16);
  badRecord.writeUInt32LE(64 << 20, 8);
  badRecord.writeUInt32LE(64 << 20, 12);
  const pcapng = pcapngFile(pk);
  const badBlock = Buffer.alloc(12);
  badBlock.writeUInt32LE(6, 0);
  badBlock.writeUInt32LE(64 << 20, 4);
  for (const [file, code] of [
    [Buffer.concat([pcap, badRecord]), "pcap.bad-caplen"],
    [Buffer.concat([pcapng, badBlock]), "pcapng.block-too-large"],
  ] as const) {
    const sink = new RecordingSink();
    const summary = await withTempFile(file, (path) => readCaptureFile(path, sink));
    t.is(sink.seen.length, 1);
    t.is(summary.error?.code, code);
    const stream = streamAll([file]);
    t.is(stream.summary.error?.code, code);
  }
});

test("pcap: bad major version and unknown magic", (t) => {
  const file = pcapFile(packets(1));
  file.writeUInt16LE(3, 4);
  t.is(streamAll([file]).summary.error?.code, "pcap.bad-version");
  const junk = Buffer.from("GIF89a this is not a capture");
  t.deepEqual(streamAll([junk]).summary.error, {
    code: "capture.unknown-format",
    detail: "neither a pcap nor a pcapng file (unknown magic)",
    offset: 0,
  });
  t.is(streamAll([]).summary.error?.code, "capture.empty");
});

/** Offsets where each record of a pcap file starts, and the file's end. */
function pcapBoundaries(pk: CapturePacket[]): number[] {
  const b = [24];
  for (const p of pk) b.push(b[b.length - 1]! + 16 + (p.data as Buffer).length);
  return b;
}

test("pcap truncated at every offset: whole records delivered, the cut one reported where it starts", (t) => {
  const pk = packets(4);
  const file = pcapFile(pk);
  const bounds = pcapBoundaries(pk);
  for (let cut = 0; cut < file.length; cut++) {
    const { seen, summary } = streamAll([file.subarray(0, cut)]);
    const complete = bounds.filter((b) => b <= cut).length - 1;
    t.is(seen.length, Math.max(0, complete), `cut ${cut}`);
    if (cut === 0) t.is(summary.error?.code, "capture.empty");
    else if (bounds.includes(cut)) t.is(summary.error, null, `cut ${cut}`);
    else {
      t.is(summary.error?.code, "capture.truncated", `cut ${cut}`);
      t.is(summary.error?.offset, cut < 24 ? 0 : bounds[complete]!, `cut ${cut}`);
    }
  }
});

test("truncated file read from disk: mid-header and mid-record", async (t) => {
  const pk = packets(3);
  const file = pcapFile(pk);
  const bounds = pcapBoundaries(pk);
  for (const cut of [bounds[2]! + 7, bounds[2]! + 20]) {
    const sink = new RecordingSink();
    const summary = await withTempFile(file.subarray(0, cut), (path) =>
      readCaptureFile(path, sink, { chunkSize: 13 }),
    );
    t.deepEqual(sink.seen, expected(pk.slice(0, 2)));
    t.is(summary.error?.code, "capture.truncated");
    t.is(summary.error?.offset, bounds[2]);
  }
});

test("tiny read chunks: records straddle every read and nothing changes", async (t) => {
  const pk = packets(6, 50);
  const file = pcapFile(pk, { nanos: true });
  for (const chunkSize of [1, 3, 16, 17, 100, 1 << 20]) {
    const sink = new RecordingSink();
    const counters = { bytesCopied: 0 };
    const summary = await withTempFile(file, (path) => readCaptureFile(path, sink, { chunkSize, counters }));
    t.deepEqual(sink.seen, expected(pk), `chunk ${chunkSize}`);
    t.is(summary.error, null);
    if (chunkSize < file.length) t.true(counters.bytesCopied > 0, "carried tails are counted");
  }
});

test("a record larger than the read buffer grows it", async (t) => {
  const pk = packets(3, 5000);
  const sink = new RecordingSink();
  const counters = { bytesCopied: 0 };
  const summary = await withTempFile(pcapFile(pk), (path) =>
    readCaptureFile(path, sink, { chunkSize: 256, counters }),
  );
  t.deepEqual(sink.seen, expected(pk));
  t.is(summary.error, null);
  t.true(counters.bytesCopied > 0);
});

test("a record larger than maxRecordBytes is reported, not buffered", async (t) => {
  const pk = packets(2, 5000);
  const sink = new RecordingSink();
  const summary = await withTempFile(pcapngFile(pk), (path) =>
    readCaptureFile(path, sink, { chunkSize: 256, maxRecordBytes: 4096 }),
  );
  t.is(sink.seen.length, 0);
  t.is(summary.error?.code, "pcapng.block-too-large");
});

test("stream parser: every split into two chunks, and byte by byte, gives the same packets", (t) => {
  const pk = packets(3, 20);
  for (const file of [pcapFile(pk), pcapngFile(pk, { bigEndian: true })]) {
    const want = expected(pk);
    for (let cut = 0; cut <= file.length; cut++) {
      const { seen, summary } = streamAll([file.subarray(0, cut), file.subarray(cut)]);
      t.deepEqual(seen, want, `cut ${cut}`);
      t.is(summary.error, null);
    }
    const counters = { bytesCopied: 0 };
    const bytes = [...file].map((b) => Buffer.from([b]));
    t.deepEqual(streamAll(bytes, counters).seen, want);
    t.true(counters.bytesCopied >= file.length - 4, "split records are copied and counted");
  }
});

test("stream parser: a chunk may be reused by the caller after push", (t) => {
  const pk = packets(3, 20);
  const file = pcapFile(pk);
  const sink = new RecordingSink();
  const p = new PcapStreamParser(sink);
  const scratch = Buffer.alloc(7);
  for (let off = 0; off < file.length; off += 7) {
    const n = file.copy(scratch, 0, off, off + 7);
    p.push(scratch.subarray(0, n));
    scratch.fill(0xee);
  }
  t.deepEqual(sink.seen, expected(pk));
  t.is(p.end().error, null);
});

test("pcapng: two interfaces with different link types and resolutions, SPB and unknown blocks", (t) => {
  const eth = frames(1)[0]!;
  const raw = ipv4Tcp({ src: "10.1.1.1", dst: "10.1.1.2", sport: 5000, dport: 11112, payload: "hello" });
  const sll = Buffer.concat([Buffer.alloc(16), raw]);
  const file = Buffer.concat([
    pcapngShb(false, [[4, "dicomtap test"]]),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET, snaplen: 100 }),
    pcapngBlock(4, Buffer.alloc(12)), // Name Resolution Block
    pcapngIdb({ linktype: LINKTYPE_RAW, tsresol: 9, tsoffset: 10 }),
    pcapngIdb({ linktype: LINKTYPE_LINUX_SLL, tsresol: 0x80 | 20 }),
    pcapngEpb({ data: eth, interfaceId: 0, tsUnits: 1_700_000_000_000_001n }),
    pcapngEpb({ data: raw, interfaceId: 1, tsUnits: 1_700_000_000_123_456_789n, origLen: 1500 }),
    pcapngBlock(5, Buffer.alloc(20)), // Interface Statistics Block
    pcapngBlock(0x40000bad, Buffer.from("custom block body")),
    pcapngEpb({ data: sll, interfaceId: 2, tsUnits: (1_700_000_000n << 20n) + (1n << 19n) }),
    pcapngSpb(Buffer.concat([eth, Buffer.alloc(200, 1)]), 2000),
  ]);
  const { seen, summary } = streamAll([file]);
  t.is(summary.error, null);
  t.is(summary.format, "pcapng");
  t.deepEqual(seen, [
    {
      data: eth.toString("hex"),
      tsMicros: 1_700_000_000_000_001,
      linktype: LINKTYPE_ETHERNET,
      origLen: eth.length,
    },
    { data: raw.toString("hex"), tsMicros: 1_700_000_010_123_456, linktype: LINKTYPE_RAW, origLen: 1500 },
    {
      data: sll.toString("hex"),
      tsMicros: 1_700_000_000_500_000,
      linktype: LINKTYPE_LINUX_SLL,
      origLen: sll.length,
    },
    // SPB: captured length is the snap length of interface 0; its time is the last one seen.
    {
      data: Buffer.concat([eth, Buffer.alloc(200, 1)])
        .subarray(0, 100)
        .toString("hex"),
      tsMicros: 1_700_000_000_500_000,
      linktype: LINKTYPE_ETHERNET,
      origLen: 2000,
    },
  ]);
  t.is(summary.packets, 4);
});

test("pcapng: a new section restarts byte order and interfaces", (t) => {
  const a = packets(2);
  const b = [{ data: sll2Raw(), tsMicros: TS0 + 5 }];
  const file = Buffer.concat([
    pcapngFile(a),
    pcapngFile(b, { bigEndian: true, interfaces: [{ linktype: LINKTYPE_LINUX_SLL2, tsresol: 3 }] }),
  ]);
  const { seen, summary } = streamAll([file]);
  t.is(summary.error, null);
  const want = [...expected(a), ...expected(b, LINKTYPE_LINUX_SLL2)];
  want[2]!.tsMicros = Math.floor((TS0 + 5) / 1000) * 1000; // millisecond resolution
  t.deepEqual(seen, want);
});

function sll2Raw(): Buffer {
  return Buffer.concat([Buffer.alloc(20), ipv4Tcp({ src: "1.1.1.1", dst: "2.2.2.2", sport: 3, dport: 4 })]);
}

test("pcapng: bad lengths and bad magic are corrupt (an undescribed interface is not: see pcapng-anomalies)", (t) => {
  const pk = packets(2);
  const good = pcapngFile(pk);
  const bad1 = Buffer.concat([good, pcapngEpb({ data: "x", interfaceId: 3, tsUnits: 0n })]);
  let r = streamAll([bad1]);
  // Issue 9: one packet on an undescribed interface used to end the file; it is skipped and counted.
  t.is(r.summary.error, null);
  t.is(r.seen.length, 2);

  const bad2 = Buffer.from(good);
  const lastEpb = good.length - pcapngEpb({ data: pk[1]!.data, tsUnits: 0n }).length;
  bad2.writeUInt32LE(13, lastEpb + 4);
  r = streamAll([bad2]);
  t.is(r.summary.error?.code, "pcapng.bad-block-length");
  t.is(r.seen.length, 1);

  const bad3 = Buffer.from(good);
  bad3.writeUInt32LE(12345, good.length - 4);
  r = streamAll([bad3]);
  t.is(r.summary.error?.code, "pcapng.length-mismatch");
  t.is(r.seen.length, 1);

  const bad4 = Buffer.from(good);
  bad4.writeUInt32LE(0xdeadbeef, 8);
  t.is(streamAll([bad4]).summary.error?.code, "pcapng.bad-byte-order-magic");

  const bad5 = Buffer.from(good);
  bad5.writeUInt16LE(2, 12);
  t.is(streamAll([bad5]).summary.error?.code, "pcapng.bad-version");

  // A packet block before any IDB: skipped, and the file goes on.
  const bad6 = Buffer.concat([pcapngShb(), pcapngBlock(6, Buffer.alloc(20))]);
  t.is(streamAll([bad6]).summary.error, null);
  t.is(streamAll([bad6]).summary.packets, 0);
});

test("pcapng truncated at every offset: whole blocks delivered, then capture.truncated", (t) => {
  const pk = packets(3);
  const file = pcapngFile(pk);
  const epbLen = pk.map((p) => pcapngEpb({ data: p.data, tsUnits: 0n }).length);
  const firstEpb = file.length - epbLen.reduce((a, b) => a + b, 0);
  const bounds = [firstEpb];
  for (const l of epbLen) bounds.push(bounds[bounds.length - 1]! + l);
  const shb = pcapngShb().length;
  const clean = [shb, shb + pcapngIdb({ linktype: 1 }).length, ...bounds];
  for (let cut = 1; cut < file.length; cut++) {
    const { seen, summary } = streamAll([file.subarray(0, cut)]);
    const complete = Math.max(0, bounds.filter((b) => b <= cut).length - 1);
    t.is(seen.length, complete, `cut ${cut}`);
    if (clean.includes(cut)) t.is(summary.error, null);
    else t.is(summary.error?.code, "capture.truncated", `cut ${cut}`);
  }
});

test("an aborted read stops between reads and says so", async (t) => {
  const ac = new AbortController();
  ac.abort();
  const sink = new RecordingSink();
  const summary = await withTempFile(pcapFile(packets(2)), (path) =>
    readCaptureFile(path, sink, { signal: ac.signal }),
  );
  t.is(summary.error?.code, "capture.aborted");
  t.is(sink.seen.length, 0);
});

test("a missing file rejects (I/O error, not a capture anomaly)", async (t) => {
  await t.throwsAsync(readCaptureFile("/nonexistent/dicomtap.pcap", new RecordingSink()));
});

const fileArb = fc
  .tuple(
    fc.array(fc.uint8Array({ minLength: 0, maxLength: 80 }), { maxLength: 6 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([datas, ng, be]) =>
    ng
      ? pcapngFile(
          datas.map((d, i) => ({ data: d, interfaceId: i % 2, tsMicros: i })),
          { bigEndian: be, interfaces: [{ linktype: 1 }, { linktype: 101, tsresol: 9 }] },
        )
      : pcapFile(
          datas.map((d, i) => ({ data: d, tsMicros: i })),
          { bigEndian: be, nanos: !be },
        ),
  );

test("fuzz: mutated capture files never throw and chunking never changes the result", (t) => {
  fc.assert(
    fc.property(
      fileArb,
      fc.array(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })), { maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
      (file, mutations, sizes) => {
        const f = Buffer.from(file);
        for (const [at, bytes] of mutations) Buffer.from(bytes).copy(f, at % f.length);
        const whole = streamAll([f]);
        const chunks: Buffer[] = [];
        for (let off = 0, i = 0; off < f.length; i++) {
          const n = sizes[i % sizes.length]!;
          chunks.push(f.subarray(off, off + n));
          off += n;
        }
        const split = streamAll(chunks);
        return JSON.stringify(split) === JSON.stringify(whole);
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test("fuzz: random bytes after a valid magic never throw", (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(
        Buffer.from("d4c3b2a1", "hex"),
        Buffer.from("a1b23c4d", "hex"),
        Buffer.from("0a0d0d0a", "hex"),
      ),
      fc.uint8Array({ maxLength: 300 }),
      (magic, rest) => {
        const r = streamAll([Buffer.concat([magic, rest])]);
        return r.summary.packets === r.seen.length;
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});
