/**
 * Issue 9: damage confined to one pcapng packet is an anomaly and the file goes on. A packet naming an
 * interface no IDB described is skipped (capture.pcapng-unknown-interface); a timestamp that is no time
 * since 1970 in microseconds (before the epoch after if_tsoffset, past Number.MAX_SAFE_INTEGER, or on an
 * interface whose if_tsresol no 64-bit count can carry past 1970) keeps the packet with the time of the
 * packet before it (capture.timestamp-out-of-range).
 */
import test from "ava";
import fc from "fast-check";
import { PcapStreamParser, readCaptureFile } from "../../agent/capture/file.js";
import type { CaptureSummary, PacketSink } from "../../agent/capture/types.js";
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from "../../agent/capture/types.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import {
  AnomalyCounter,
  type AnomalyCode,
  type AnomalyFlow,
  type AnomalyLayer,
  type AnomalySink,
} from "../../agent/util/anomaly.js";
import {
  ethernetIpv4Tcp,
  pcapngBlock,
  pcapngEpb,
  pcapngIdb,
  pcapngShb,
  pcapngSpb,
  type PcapngInterface,
} from "./builders.js";
import { RecordingSink, type Seen, withTempFile } from "./helpers.js";

const T = 1_700_000_000_123_456n;

function frame(i: number): Buffer {
  return ethernetIpv4Tcp({
    src: "10.0.0.1",
    dst: "10.0.0.2",
    sport: 40000 + i,
    dport: 104,
    payload: `p${i}`,
  });
}

/** A sink that records packets and is an AnomalySink too, as the pipeline is. */
class Both extends RecordingSink implements AnomalySink {
  readonly counter = new AnomalyCounter();
  anomaly(code: AnomalyCode, layer: AnomalyLayer, flow: AnomalyFlow | null, detail: string): void {
    this.counter.anomaly(code, layer, flow, detail);
  }
}

function stream(
  chunks: Buffer[],
  anomalies: AnomalySink | null = null,
): { seen: Seen[]; summary: CaptureSummary } {
  const sink = new RecordingSink();
  const p = new PcapStreamParser(sink, { anomalies });
  for (const c of chunks) p.push(c);
  return { seen: sink.seen, summary: p.end() };
}

function counts(c: AnomalyCounter): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of c.records()) out[r.code] = (out[r.code] ?? 0) + r.count;
  return out;
}

/** An obsolete Packet Block (type 2): a 16-bit interface id, then as an EPB. */
function pcapngPb(p: { data: Buffer; interfaceId: number; tsUnits: bigint }): Buffer {
  const body = Buffer.alloc(20 + ((p.data.length + 3) & ~3));
  body.writeUInt16LE(p.interfaceId, 0);
  body.writeUInt32LE(Number(p.tsUnits >> 32n), 4);
  body.writeUInt32LE(Number(p.tsUnits & 0xffffffffn), 8);
  body.writeUInt32LE(p.data.length, 12);
  body.writeUInt32LE(p.data.length, 16);
  p.data.copy(body, 20);
  return pcapngBlock(2, body);
}

function unknownInterfaceFile(): Buffer {
  return Buffer.concat([
    pcapngShb(),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET }),
    pcapngEpb({ data: frame(0), interfaceId: 0, tsUnits: T }),
    pcapngEpb({ data: frame(1), interfaceId: 5, tsUnits: T + 1n }), // no IDB 5: skipped
    pcapngPb({ data: frame(2), interfaceId: 9, tsUnits: T + 2n }), // obsolete block, same
    pcapngEpb({ data: frame(3), interfaceId: 0, tsUnits: T + 3n }),
    // A new section forgets the interfaces: an SPB before its first IDB has none to belong to.
    pcapngShb(),
    pcapngSpb(frame(4)),
    pcapngIdb({ linktype: LINKTYPE_RAW }),
    pcapngEpb({ data: frame(5).subarray(14), interfaceId: 0, tsUnits: T + 5n }),
  ]);
}

test("a packet on an undescribed interface is skipped and counted; the file goes on", async (t) => {
  const file = unknownInterfaceFile();
  const a = new AnomalyCounter();
  const r = stream([file], a);
  t.is(r.summary.error, null);
  t.is(r.summary.packets, 3);
  t.deepEqual(
    r.seen.map((s) => s.tsMicros),
    [Number(T), Number(T + 3n), Number(T + 5n)],
  );
  t.deepEqual(
    r.seen.map((s) => s.linktype),
    [LINKTYPE_ETHERNET, LINKTYPE_ETHERNET, LINKTYPE_RAW],
  );
  t.deepEqual(counts(a), { "capture.pcapng-unknown-interface": 3 });
  const row = a.records()[0]!;
  t.is(row.layer, "capture");
  t.regex(row.detail, /interface 5, which no IDB described/);

  // The file reader reports to the sink itself when it is an AnomalySink (as the pipeline is) ...
  const both = new Both();
  const s = await withTempFile(file, (path) => readCaptureFile(path, both, { chunkSize: 64 }));
  t.deepEqual(both.seen, r.seen);
  t.deepEqual(s, r.summary);
  t.deepEqual(counts(both.counter), { "capture.pcapng-unknown-interface": 3 });
  // ... and to nobody when told so, delivering the same packets.
  const quiet = new Both();
  await withTempFile(file, (path) => readCaptureFile(path, quiet, { anomalies: null }));
  t.deepEqual(quiet.seen, r.seen);
  t.deepEqual(counts(quiet.counter), {});
});

test("undescribed interfaces: every split into two chunks gives the same packets and anomalies", (t) => {
  const file = unknownInterfaceFile();
  const whole = stream([file], new AnomalyCounter());
  for (let cut = 1; cut < file.length; cut++) {
    const a = new AnomalyCounter();
    const r = stream([file.subarray(0, cut), file.subarray(cut)], a);
    t.deepEqual(r, whole, `cut ${cut}`);
    t.is(a.total, 3, `cut ${cut}`);
  }
});

const BAD: PcapngInterface[] = [
  { linktype: LINKTYPE_ETHERNET, tsoffset: -2_000_000_000 }, // 1.7e9 s - 2e9 s: before 1970
  { linktype: LINKTYPE_ETHERNET, tsresol: 0 }, // seconds: 2^40 s overflows microseconds
  { linktype: LINKTYPE_ETHERNET, tsresol: 25 }, // 10^-25 s: a 64-bit count never leaves 1970
  { linktype: LINKTYPE_ETHERNET, tsresol: 0x80 | 70 }, // 2^-70 s: likewise
  { linktype: LINKTYPE_ETHERNET, tsoffset: 9_000_000_000 }, // 9e9 s ahead: past MAX_SAFE_INTEGER µs
];

for (const bigEndian of [false, true]) {
  test(`timestamps out of range keep the time of the packet before, with an anomaly each (${bigEndian ? "big" : "little"}-endian)`, (t) => {
    const ifcs: PcapngInterface[] = [{ linktype: LINKTYPE_ETHERNET }, ...BAD];
    const blocks = [pcapngShb(bigEndian), ...ifcs.map((i) => pcapngIdb(i, bigEndian))];
    // A bad one first (no time before it: the epoch), then a good one, then one on each bad interface.
    blocks.push(pcapngEpb({ data: frame(0), interfaceId: 1, tsUnits: T / 1_000_000n }, bigEndian));
    blocks.push(pcapngEpb({ data: frame(1), interfaceId: 0, tsUnits: T }, bigEndian));
    const units = [T / 1_000_000n, 1n << 40n, 5n, 5n, T];
    BAD.forEach((_, i) =>
      blocks.push(pcapngEpb({ data: frame(2 + i), interfaceId: 1 + i, tsUnits: units[i]! }, bigEndian)),
    );
    blocks.push(pcapngEpb({ data: frame(9), interfaceId: 0, tsUnits: T + 7n }, bigEndian));
    const a = new AnomalyCounter();
    const r = stream([Buffer.concat(blocks)], a);
    t.is(r.summary.error, null);
    t.is(r.seen.length, 8, "every packet is kept");
    t.deepEqual(
      r.seen.map((s) => s.tsMicros),
      [0, Number(T), Number(T), Number(T), Number(T), Number(T), Number(T), Number(T + 7n)],
    );
    t.deepEqual(counts(a), { "capture.timestamp-out-of-range": 6 });
    t.true(a.records().every((x) => x.layer === "capture"));
  });
}

test("the edges of the range: the epoch and MAX_SAFE_INTEGER µs are in it, one beyond is not", (t) => {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  const file = Buffer.concat([
    pcapngShb(),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET }),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET, tsoffset: -1 }),
    pcapngEpb({ data: frame(0), interfaceId: 0, tsUnits: 0n }),
    pcapngEpb({ data: frame(1), interfaceId: 1, tsUnits: 1_000_000n }), // 1 s minus 1 s: the epoch
    pcapngEpb({ data: frame(2), interfaceId: 0, tsUnits: max }),
    pcapngEpb({ data: frame(3), interfaceId: 0, tsUnits: max + 1n }),
    pcapngEpb({ data: frame(4), interfaceId: 1, tsUnits: 999_999n }), // one µs before the epoch
  ]);
  const a = new AnomalyCounter();
  const r = stream([file], a);
  t.deepEqual(
    r.seen.map((s) => s.tsMicros),
    [0, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  );
  t.is(a.total, 2);
});

test("fine decimal resolutions divide exactly (10^-13 s and finer, beyond the double path)", (t) => {
  const units = 1_234_567_890_123_456_789n;
  const file = Buffer.concat([
    pcapngShb(),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET, tsresol: 13 }),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET, tsresol: 19 }),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET, tsresol: 9 }),
    pcapngEpb({ data: frame(0), interfaceId: 0, tsUnits: units }),
    pcapngEpb({ data: frame(1), interfaceId: 1, tsUnits: units }),
    pcapngEpb({ data: frame(2), interfaceId: 2, tsUnits: units }),
  ]);
  const a = new AnomalyCounter();
  const r = stream([file], a);
  t.deepEqual(
    r.seen.map((s) => s.tsMicros),
    [Number(units / 10_000_000n), Number(units / 10_000_000_000_000n), Number(units / 1000n)],
  );
  t.is(a.total, 0);
});

test("through analyze: both anomalies reach the report, and the packets around them are analysed", async (t) => {
  const file = Buffer.concat([
    unknownInterfaceFile(),
    pcapngShb(),
    pcapngIdb({ linktype: LINKTYPE_ETHERNET, tsoffset: -2_000_000_000 }),
    pcapngEpb({ data: frame(7), interfaceId: 0, tsUnits: T / 1_000_000n }),
  ]);
  const { report, files } = await withTempFile(file, (path) => analyzeFiles([path]));
  t.is(files[0]!.error, null);
  t.is(report.stats.packets, 4);
  const byCode = new Map(report.anomalies.map((a) => [a.code, a]));
  t.is(byCode.get("capture.pcapng-unknown-interface")?.count, 3);
  t.is(byCode.get("capture.timestamp-out-of-range")?.count, 1);
  t.is(byCode.get("capture.timestamp-out-of-range")?.layer, "capture");
});

test("fuzz: any if_tsresol, if_tsoffset, interface id and stamp: never throws, every time a safe µs count", (t) => {
  const idbArb = fc.record({
    linktype: fc.constantFrom(LINKTYPE_ETHERNET, LINKTYPE_RAW),
    tsresol: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    tsoffset: fc.option(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { nil: undefined }),
  });
  const epbArb = fc.record({
    interfaceId: fc.integer({ min: 0, max: 5 }),
    tsUnits: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    data: fc.uint8Array({ maxLength: 40 }),
  });
  fc.assert(
    fc.property(
      fc.array(idbArb, { maxLength: 4 }),
      fc.array(epbArb, { maxLength: 12 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 64 }),
      (idbs, epbs, be, chunk) => {
        const file = Buffer.concat([
          pcapngShb(be),
          ...idbs.map((i) => pcapngIdb(i, be)),
          ...epbs.map((e) => pcapngEpb({ ...e, data: Buffer.from(e.data) }, be)),
        ]);
        const a = new AnomalyCounter();
        const chunks: Buffer[] = [];
        for (let off = 0; off < file.length; off += chunk) chunks.push(file.subarray(off, off + chunk));
        const r = stream(chunks, a);
        const described = epbs.filter((e) => e.interfaceId < idbs.length).length;
        const unknown = counts(a)["capture.pcapng-unknown-interface"] ?? 0;
        return (
          r.summary.error === null &&
          r.seen.length === described &&
          unknown === epbs.length - described &&
          r.seen.every((s) => Number.isSafeInteger(s.tsMicros) && s.tsMicros >= 0)
        );
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

// A PacketSink type check: Both is accepted where a PacketSink is expected.
const _sink: PacketSink = new Both();
void _sink;
