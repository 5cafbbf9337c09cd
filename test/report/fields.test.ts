/**
 * The report's contract for the fields issue 9 added (DESIGN.md §3: absent values are null, never
 * omitted): every DIMSE message has `dataset` (null, or {complete, bytes, stopped}) and every association
 * `transportEnd` (null, or {reason, side}), in the JSON `analyze --json` writes.
 */
import test from "ava";
import { PassThrough } from "node:stream";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { writeReportJson } from "../../agent/report/write.js";
import { associationRecord } from "../../agent/report/association.js";
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

test("the report layer spells an association's state: endpoints, microsecond times, transportEnd in its place", (t) => {
  const state = {
    client: "10.0.0.5:50123",
    server: "[fd00::9]:104",
    callingAE: "CT01",
    calledAE: "PACS",
    applicationContext: null,
    requestor: null,
    acceptor: null,
    userIdentity: null,
    presentationContexts: [],
    outcome: "incomplete" as const,
    reject: null,
    abort: null,
    released: false,
    transportEnd: { reason: "fin" as const, side: null },
    messages: [],
    messagesOmitted: 0,
    captureGaps: { count: 0, bytes: 0 },
    startMicros: 1_700_000_000_000_001,
    endMicros: 1_700_000_000_123_456,
  };
  const client = { ip: "10.0.0.5", port: 50123, mac: null };
  const server = { ip: "fd00::9", port: 104, mac: null };
  const r = associationRecord({ client, server, record: state });
  t.is(r.client, "10.0.0.5:50123");
  t.is(r.server, "[fd00::9]:104");
  t.is(r.start, "2023-11-14T22:13:20.000001Z");
  t.is(r.end, "2023-11-14T22:13:20.123456Z");
  t.deepEqual(Object.keys(r).slice(12, 15), ["released", "transportEnd", "messages"]);
  t.is(Object.keys(r).at(-1), "end");
  const { transportEnd: _gone, ...old } = state;
  t.false("transportEnd" in associationRecord({ client, server, record: old }), "absent stays absent");
});
