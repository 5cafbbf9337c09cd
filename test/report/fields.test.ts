/**
 * The report's contract for the fields issue 9 added (DESIGN.md §3: absent values are null, never
 * omitted): every DIMSE message has `dataset` (null, or {complete, bytes, stopped}) and every association
 * `transportEnd` (null, or {reason, side}), in the JSON `analyze --json` writes.
 */
import test from "ava";
import { PassThrough } from "node:stream";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { writeReportJson } from "../../agent/report/write.js";
import type { Report } from "../../agent/report/types.js";

async function json(files: string[]): Promise<Report> {
  const { report } = await analyzeFiles(files);
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  await writeReportJson(report, out);
  out.end();
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Report;
}

test("dataset and transportEnd are present in every message and association, null or complete", async (t) => {
  const r = await json([
    "test/fixtures/lab/store.pcap",
    "test/fixtures/lab/kill.pcap",
    "test/fixtures/lab/abort.pcap",
  ]);
  t.true(r.associations.length >= 8);
  let withDataset = 0;
  for (const a of r.associations) {
    t.true("transportEnd" in a, a.client);
    t.true(a.transportEnd === null || (typeof a.transportEnd === "object" && "reason" in a.transportEnd));
    // Released or aborted: the transport did not end them.
    if (a.released || a.outcome === "aborted") t.is(a.transportEnd, null);
    for (const m of a.messages) {
      t.true("dataset" in m, `${a.client} ${m.command}`);
      if (m.dataset === null) continue;
      withDataset++;
      t.deepEqual(Object.keys(m.dataset!).sort(), ["bytes", "complete", "stopped"]);
      t.is(m.dataset!.stopped === null, m.dataset!.complete);
    }
  }
  // Every C-STORE-RQ of the lab carries a data set: the store scene's are whole, kill's is not.
  const stores = r.associations.flatMap((a) => a.messages.filter((m) => m.command === "C-STORE-RQ"));
  t.is(withDataset, stores.length);
  t.is(stores.filter((m) => m.dataset?.complete === false).length, 1);
  t.true(stores.every((m) => m.dataset!.bytes > 0));
});
