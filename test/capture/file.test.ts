/**
 * The file reader overlaps reads with parsing (two buffers, a read split in parts A and B). Whatever the
 * overlap does, the packets delivered, the summary and the bytes counted as copied must be those of the
 * plain one-buffer loop: read `size - tail` bytes after the tail, parse, move the tail to the front, grow
 * for a record larger than the buffer. `oneBufferRead` below is that loop, over the file's bytes in memory.
 */
import test from "ava";
import fc from "fast-check";
import { CaptureCore, DEFAULT_MAX_RECORD_BYTES, readCaptureFile } from "../../agent/capture/file.js";
import type { CaptureSummary } from "../../agent/capture/types.js";
import { type CapturePacket, pcapFile, pcapngFile } from "./builders.js";
import { RecordingSink, type Seen, withTempFile } from "./helpers.js";

interface Outcome {
  seen: Seen[];
  summary: CaptureSummary;
  bytesCopied: number;
}

/** The one-buffer loop (the reader before double buffering), reading from `file` in memory. */
function oneBufferRead(
  file: Buffer,
  chunkSize: number,
  opts: { maxRecordBytes?: number; abortAfterPackets?: number } = {},
): Outcome {
  const sink = new RecordingSink();
  const core = new CaptureCore(sink, opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES);
  let bytesCopied = 0;
  let buf = Buffer.alloc(chunkSize);
  let fill = 0;
  let abs = 0;
  while (true) {
    if (opts.abortAfterPackets !== undefined && sink.seen.length >= opts.abortAfterPackets) {
      return {
        seen: sink.seen,
        summary: {
          ...core.summary(0, abs),
          error: { code: "capture.aborted", detail: "read aborted by the caller", offset: abs },
        },
        bytesCopied,
      };
    }
    const pos = abs + fill;
    const bytesRead = Math.max(0, Math.min(buf.length - fill, file.length - pos));
    if (bytesRead === 0) break;
    file.copy(buf, fill, pos, pos + bytesRead);
    fill += bytesRead;
    const c = core.parse(buf, 0, fill, abs);
    if (core.error !== null) break;
    const tail = fill - c;
    if (c > 0 && tail > 0) {
      buf.copyWithin(0, c, fill);
      bytesCopied += tail;
    }
    abs += c;
    fill = tail;
    const needed = core.needed;
    if (needed > buf.length) {
      const bigger = Buffer.alloc(needed);
      buf.copy(bigger, 0, 0, fill);
      bytesCopied += fill;
      buf = bigger;
    } else if (buf.length > chunkSize && fill <= chunkSize && needed <= chunkSize) {
      const normal = Buffer.alloc(chunkSize);
      buf.copy(normal, 0, 0, fill);
      bytesCopied += fill;
      buf = normal;
    }
  }
  return { seen: sink.seen, summary: core.summary(fill, abs + fill), bytesCopied };
}

/** Aborts its signal once it has seen `after` packets (the reader checks between reads). */
class AbortingSink extends RecordingSink {
  readonly controller = new AbortController();
  constructor(private readonly after: number) {
    super();
  }
  override packet(b: Buffer, s: number, e: number, ts: number, lt: number, ol: number): void {
    super.packet(b, s, e, ts, lt, ol);
    if (this.seen.length >= this.after) this.controller.abort();
  }
}

async function fileRead(
  file: Buffer,
  chunkSize: number,
  opts: { maxRecordBytes?: number; abortAfterPackets?: number; readAhead?: boolean } = {},
): Promise<Outcome> {
  const sink =
    opts.abortAfterPackets !== undefined ? new AbortingSink(opts.abortAfterPackets) : new RecordingSink();
  const counters = { bytesCopied: 0 };
  const summary = await withTempFile(file, (path) =>
    readCaptureFile(path, sink, {
      chunkSize,
      counters,
      readAhead: opts.readAhead ?? true,
      ...(opts.maxRecordBytes !== undefined ? { maxRecordBytes: opts.maxRecordBytes } : {}),
      ...(sink instanceof AbortingSink ? { signal: sink.controller.signal } : {}),
    }),
  );
  return { seen: sink.seen, summary, bytesCopied: counters.bytesCopied };
}

function records(sizes: number[]): CapturePacket[] {
  return sizes.map((n, i) => ({
    data: Buffer.alloc(n, (i * 7 + 1) & 0xff),
    tsMicros: 1_700_000_000_000_000 + i,
  }));
}

test("records longer than the head room but shorter than a read: same as the one-buffer loop", async (t) => {
  // chunkSize 800 gives a head room of 100 bytes: most tails are longer, some shorter.
  const file = pcapFile(records([300, 40, 290, 10, 500, 0, 777, 60, 300, 300, 300]));
  for (const chunkSize of [800, 801, 1000, 1500]) {
    const got = await fileRead(file, chunkSize);
    t.deepEqual(got, oneBufferRead(file, chunkSize), `chunk ${chunkSize}`);
    t.is(got.seen.length, 11);
    t.true(got.bytesCopied > 0);
  }
});

test("small records straddling every read, read ahead in parts A and B: same as the one-buffer loop", async (t) => {
  const sizes = Array.from({ length: 400 }, (_, i) => (i * 37) % 90);
  for (const file of [pcapFile(records(sizes)), pcapngFile(records(sizes), { bigEndian: true })]) {
    for (const chunkSize of [8, 9, 64, 100, 333, 4096, 1 << 20]) {
      t.deepEqual(await fileRead(file, chunkSize), oneBufferRead(file, chunkSize), `chunk ${chunkSize}`);
    }
  }
});

test("a record larger than a read grows the buffer, then the reader goes back to two buffers", async (t) => {
  const file = pcapFile(records([20, 30, 5000, 20, 25, 30, 35, 4000, 10, 10, 10, 10]));
  for (const chunkSize of [64, 256, 1024]) {
    const got = await fileRead(file, chunkSize);
    t.deepEqual(got, oneBufferRead(file, chunkSize), `chunk ${chunkSize}`);
    t.is(got.summary.error, null);
    t.is(got.seen.length, 12);
  }
});

test("tiny chunks (no head room) behave as the one-buffer loop", async (t) => {
  const file = pcapngFile(records([3, 0, 17, 5]));
  for (const chunkSize of [1, 2, 3, 7]) {
    t.deepEqual(await fileRead(file, chunkSize), oneBufferRead(file, chunkSize), `chunk ${chunkSize}`);
  }
});

test("without read-ahead (one CPU) the reader is the one-buffer loop too", async (t) => {
  const file = pcapFile(records(Array.from({ length: 120 }, (_, i) => (i * 53) % 700)));
  for (const chunkSize of [64, 800, 4096]) {
    const got = await fileRead(file, chunkSize, { readAhead: false });
    t.deepEqual(got, oneBufferRead(file, chunkSize), `chunk ${chunkSize}`);
  }
});

test("truncated and corrupt files with a read in flight: same deliveries and errors", async (t) => {
  const whole = pcapFile(records(Array.from({ length: 50 }, (_, i) => 10 + i * 3)));
  const corrupt = Buffer.from(whole);
  // The 31st record's CapLen (records start after the 24-byte header) becomes absurd.
  let at = 24;
  for (let i = 0; i < 30; i++) at += 16 + corrupt.readUInt32LE(at + 8);
  corrupt.writeUInt32LE(0x7fffffff, at + 8);
  for (const file of [whole.subarray(0, whole.length - 7), whole.subarray(0, 1000), corrupt]) {
    for (const chunkSize of [64, 200, 512]) {
      const got = await fileRead(file, chunkSize);
      t.deepEqual(got, oneBufferRead(file, chunkSize), `chunk ${chunkSize}`);
      t.not(got.summary.error, null);
    }
  }
});

test("an abort while the next read is in flight stops after the chunk being parsed", async (t) => {
  const file = pcapFile(records(Array.from({ length: 60 }, (_, i) => 20 + (i % 9) * 11)));
  for (const chunkSize of [128, 400]) {
    const got = await fileRead(file, chunkSize, { abortAfterPackets: 5 });
    t.deepEqual(got, oneBufferRead(file, chunkSize, { abortAfterPackets: 5 }));
    t.is(got.summary.error?.code, "capture.aborted");
    t.true(got.seen.length >= 5 && got.seen.length < 60);
  }
});

test("a sink that throws rejects the read (the read in flight is awaited, not left dangling)", async (t) => {
  const file = pcapFile(records(Array.from({ length: 100 }, () => 50)));
  class Throwing extends RecordingSink {
    override packet(b: Buffer, s: number, e: number, ts: number, lt: number, ol: number): void {
      super.packet(b, s, e, ts, lt, ol);
      if (this.seen.length === 30) throw new Error("sink failed");
    }
  }
  const sink = new Throwing();
  await withTempFile(file, (path) =>
    t.throwsAsync(readCaptureFile(path, sink, { chunkSize: 1000 }), { message: "sink failed" }),
  );
  t.is(sink.seen.length, 30);
});

test("property: any records, any chunk size, any cap: exactly the one-buffer loop", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 30 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 4096 }),
      fc.option(fc.integer({ min: 64, max: 4096 }), { nil: undefined }),
      fc.nat(),
      async (sizes, ng, chunkSize, maxRecordBytes, cut) => {
        const full = ng ? pcapngFile(records(sizes)) : pcapFile(records(sizes));
        // Sometimes truncated somewhere.
        const file = cut % 3 === 0 ? full.subarray(0, cut % (full.length + 1)) : full;
        const opts = maxRecordBytes !== undefined ? { maxRecordBytes } : {};
        const got = await fileRead(file, chunkSize, opts);
        const want = oneBufferRead(file, chunkSize, opts);
        return JSON.stringify(got) === JSON.stringify(want);
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
