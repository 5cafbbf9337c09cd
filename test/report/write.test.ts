import test from "ava";
import fc from "fast-check";
import { PassThrough } from "node:stream";
import { writeReportJson } from "../../agent/report/write.js";
import type { Report } from "../../agent/report/types.js";

async function written(report: Report, highWaterMark = 16): Promise<string> {
  const out = new PassThrough({ highWaterMark });
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  await writeReportJson(report, out);
  out.end();
  return Buffer.concat(chunks).toString("utf8");
}

const empty: Report = {
  version: 1,
  stats: {
    packets: 0,
    bytes: 0,
    tcpFlows: 0,
    dicomFlows: 0,
    associations: 0,
    dimseMessages: 0,
    anomalies: 0,
    bytesCopied: 0,
  },
  associations: [],
  devices: [],
  findings: [],
  anomalies: [],
};

test("streamed JSON is exactly JSON.stringify with two-space indent", async (t) => {
  t.is(await written(empty), JSON.stringify(empty, null, 2) + "\n");
  const busy: Report = {
    ...empty,
    anomalies: Array.from({ length: 3000 }, (_, i) => ({
      code: i % 2 === 0 ? ("ul.resync" as const) : ("tcp.gap" as const),
      flow: 'a\nb "quoted" ünïcode',
      layer: "ul" as const,
      detail: "line\none",
      count: i,
      client: i % 3 === 0 ? null : { ip: "fd00::1", port: i },
      server: i % 3 === 0 ? null : { ip: "10.0.0.2", port: 104 },
    })),
    devices: [],
    findings: [],
  };
  const text = await written(busy);
  t.is(text, JSON.stringify(busy, null, 2) + "\n");
  t.deepEqual(JSON.parse(text), busy);
  // Big arrays nested inside objects inside arrays (messages of an association) stream too.
  const nested = {
    ...empty,
    associations: [
      { a: 1, messages: Array.from({ length: 40 }, (_, i) => ({ i, x: null, y: [1, [2]] })), z: {} },
    ],
  } as unknown as Report;
  t.is(await written(nested), JSON.stringify(nested, null, 2) + "\n");
});

test("big arrays mixing small and big elements, at every depth, with odd values, stay byte-identical", async (t) => {
  const small = (i: number): unknown => ({
    i,
    s: `é"\n${i}`,
    n: null,
    u: undefined,
    e: [],
    o: {},
    a: [i, [i]],
  });
  // Runs of small elements longer than a batch, broken by big ones (arrays over 16, objects holding them).
  const mixed: unknown[] = [];
  for (let i = 0; i < 300; i++) {
    if (i % 97 === 5) mixed.push(Array.from({ length: 20 }, (_, j) => small(j)));
    else if (i % 61 === 7) mixed.push({ k: i, list: Array.from({ length: 17 }, (_, j) => [j, small(j)]) });
    else mixed.push(i % 5 === 0 ? (i % 2 === 0 ? undefined : i) : small(i));
  }
  let deep: unknown = mixed;
  for (let d = 0; d < 6; d++) deep = { d, [`level${d}`]: deep, tail: d % 2 === 0 ? [deep] : "x" };
  const report = { ...empty, associations: [deep, mixed] } as unknown as Report;
  t.is(await written(report), JSON.stringify(report, null, 2) + "\n");
});

test("property: any JSON value under a report key is written as JSON.stringify does", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.jsonValue({ maxDepth: 4 }), { maxLength: 60 }),
      fc.array(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 40 }), { maxLength: 4 }),
      async (items, nested) => {
        const report = {
          ...empty,
          associations: [{ messages: items, more: nested }, items],
          anomalies: nested,
        } as unknown as Report;
        return (await written(report, 1 << 20)) === JSON.stringify(report, null, 2) + "\n";
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});
