import test from "ava";
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
      code: `x.${i}`,
      flow: 'a\nb "quoted" ünïcode',
      layer: "ul" as const,
      detail: "line\none",
      count: i,
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
