/**
 * Test helpers for the RDP, RFB, FTP/Telnet and HTTP decoders (issue 11): byte building, the same events
 * whatever the segment boundaries, and random or mutated input that must not throw.
 */
import type { ExecutionContext } from "ava";
import fc from "fast-check";
import type { HostStreamDecoder, HostStreamSink } from "../../agent/hosts/types.js";
import type { Direction } from "../../agent/reassembly/types.js";
import { feed, type Chunk, type RecordingSink } from "./streams.js";

export type Make = (sink: HostStreamSink) => HostStreamDecoder;

export function chunk(dir: Direction, data: Buffer | string, tsMicros = 0): Chunk {
  return { dir, data: typeof data === "string" ? Buffer.from(data, "latin1") : data, tsMicros };
}

export function u16be(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
export function u16le(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
export function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
export function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** What a run recorded, as one comparable string. */
export function record(s: RecordingSink): string {
  return JSON.stringify({ events: s.events, anomalies: s.anomalies });
}

/**
 * Feeds the chunks whole, then cut at every single offset k (each chunk cut at k), then cut at every
 * byte, and checks the events and anomalies are the same each time. Returns the whole run.
 */
export function splitEverywhere(t: ExecutionContext, make: Make, chunks: readonly Chunk[]): RecordingSink {
  const whole = feed(make, chunks);
  const expected = record(whole);
  const longest = Math.max(0, ...chunks.map((c) => ("data" in c ? c.data.length : 0)));
  for (let k = 1; k < longest; k++) t.is(record(feed(make, chunks, () => [k])), expected, `cut at ${k}`);
  t.is(
    record(feed(make, chunks, (d) => Array.from({ length: d.length }, (_, i) => i))),
    expected,
    "cut at every byte",
  );
  return whole;
}

/** Random chunks of either side: never a throw, and few events. */
export function randomNeverThrows(t: ExecutionContext, make: Make, maxEvents = 40): void {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ dir: fc.constantFrom<Direction>(0, 1), data: fc.uint8Array({ maxLength: 300 }) }),
        {
          maxLength: 12,
        },
      ),
      (parts) => {
        const s = feed(
          make,
          parts.map((p) => chunk(p.dir, Buffer.from(p.data))),
        );
        return s.events.length <= maxEvents && s.anomalies.length <= maxEvents;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
}

/** The fixture with bytes changed, cut or repeated: never a throw, and few events. */
export function mutatedNeverThrows(
  t: ExecutionContext,
  make: Make,
  chunks: readonly Chunk[],
  maxEvents = 40,
): void {
  const datas = chunks.filter((c): c is Chunk & { data: Buffer } => "data" in c);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          which: fc.nat(datas.length - 1),
          at: fc.nat(),
          byte: fc.integer({ min: 0, max: 255 }),
          cutTo: fc.option(fc.nat()),
        }),
        { maxLength: 8 },
      ),
      fc.nat(64),
      (mutations, cut) => {
        const copies = datas.map((c) => ({ ...c, data: Buffer.from(c.data) }));
        for (const m of mutations) {
          const c = copies[m.which]!;
          if (c.data.length === 0) continue;
          c.data[m.at % c.data.length] = m.byte;
          if (m.cutTo !== null) c.data = c.data.subarray(0, m.cutTo % (c.data.length + 1));
        }
        const s = feed(make, copies, () => [cut]);
        return s.events.length <= maxEvents && s.anomalies.length <= maxEvents;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
}

/** None of the canaries appears in any event or anomaly detail. */
export function assertNoCanary(t: ExecutionContext, s: RecordingSink, canaries: readonly string[]): void {
  const text = record(s);
  for (const c of canaries) t.false(text.toLowerCase().includes(c.toLowerCase()), `canary ${c} leaked`);
}
