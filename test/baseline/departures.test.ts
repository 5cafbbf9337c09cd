/**
 * Baseline learning and departures (issue 13) on the real lab captures (test/fixtures/lab): the first
 * captures are the learning window, later ones are replayed with their timestamps shifted past it
 * (test/helpers/shift-pcap.ts), as one analysis the way `analyze` reads several files.
 */
import test from "ava";
import { join } from "node:path";
import { validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { Evidence } from "../../agent/findings/catalogue.js";
import type { FindingRecord } from "../../agent/report/types.js";
import { Harness } from "../findings/harness.js";
import { assoc, at, connection, ep } from "../inventory/build.js";
import { shiftPcap } from "../helpers/shift-pcap.js";

const lab = (name: string): string => join("test", "fixtures", "lab", name);
const DAY = 86_400;
const sensor = { id: "lab", site: "test" };
const departures = (fs: FindingRecord[]): FindingRecord[] => fs.filter((f) => f.rule.startsWith("baseline."));
const brief = (fs: FindingRecord[]): string[] =>
  departures(fs)
    .map((f) => `${f.rule} ${f.severity} ${f.title}`)
    .sort();

test("within the window everything is learned and nothing departs", async (t) => {
  const config = validateConfig({ sensor });
  const r = await analyzeFiles([lab("echo.pcap"), lab("store.pcap"), lab("qr.pcap")], { config });
  t.deepEqual(brief(r.report.findings), []);
  const doc = r.baseline!;
  t.is(doc.status, "learning");
  t.is(doc.window.end, null);
  const orthanc = doc.services.find((s) => s.aeTitle === "ORTHANC")!;
  const ops = (ae: string): string[] =>
    orthanc.peers.find((p) => p.aeTitle === ae)!.operations.map((o) => o.operation);
  t.deepEqual(ops("VIEWER1"), ["C-FIND", "C-GET"]);
  t.deepEqual(ops("MODALITY1"), ["C-ECHO", "C-MOVE", "C-STORE"]);
  const move = orthanc.peers
    .find((p) => p.aeTitle === "MODALITY1")!
    .operations.find((o) => o.operation === "C-MOVE");
  t.deepEqual(move!.moveDestinations, ["MODALITY1"]);
  // The archive served real sessions on its three ports; the modality's C-MOVE destination port too.
  const pacs = doc.devices.find((d) => d.ip === "10.77.0.20")!;
  t.deepEqual(
    pacs.listening.filter((l) => l.sessions > 0).map((l) => l.port),
    [104, 4242, 11112],
  );
});

test("after the window: new peers, a new listening port, new operations, each with evidence", async (t) => {
  const config = validateConfig({ sensor });
  const later = shiftPcap(lab("qr.pcap"), 15 * DAY);
  const r = await analyzeFiles([lab("echo.pcap"), lab("store.pcap"), later], { config });
  t.is(r.baseline!.status, "learned");
  t.deepEqual(brief(r.report.findings), [
    "baseline.new-operation low 10.77.0.10 (MODALITY1) started C-STORE on 10.77.0.20:4242 (ORTHANC), an operation not in the baseline for this peer",
    "baseline.new-operation medium 10.77.0.10 (MODALITY1) started C-MOVE on 10.77.0.20:4242 (ORTHANC), an operation not in the baseline for this peer",
    "baseline.new-peer low 10.77.0.10 (VIEWER1) used 10.77.0.20:4242 (ORTHANC), which did not have this peer in the baseline",
    "baseline.new-peer medium 10.77.0.20 (ORTHANC) used 10.77.0.10:11114 (MODALITY1), a service not in the baseline of 10.77.0.10",
    "baseline.new-service low 10.77.0.20 opened a session to 10.77.0.10:11114, a service it did not use in the baseline",
    "baseline.new-service medium 10.77.0.10 answers on port 11114, which it did not listen on in the baseline",
  ]);
  const peer = departures(r.report.findings).find((f) => f.title.includes("VIEWER1"))!;
  const ev = peer.evidence as Evidence;
  t.deepEqual(ev.aeTitles, ["VIEWER1", "ORTHANC"]);
  t.deepEqual(ev.baseline, { serviceLearned: true, peers: ["10.77.0.10 MODALITY1"], peerCount: 1 });
  // The operations of the latest association (C-FIND twice, then C-GET).
  t.deepEqual(ev.operations, ["C-GET"]);
  t.is(ev.counts.associations, 3);
  t.true(peer.firstSeen > r.baseline!.window.end!, "raised after the window");
  const move = departures(r.report.findings).find((f) => f.title.includes("C-MOVE"))!;
  const mev = move.evidence as Evidence;
  t.is(mev.moveDestination, "MODALITY1");
  t.deepEqual(mev.baseline, { operations: [{ operation: "C-ECHO", count: 1 }] });
  t.true(mev.flows.length > 0);
  // The baseline itself stays as learned: departures are not folded in.
  t.false(r.baseline!.services.some((s) => s.peers.some((p) => p.aeTitle === "VIEWER1")));
});

test("the same traffic again after the window departs from nothing", async (t) => {
  const config = validateConfig({ sensor });
  const files = [lab("echo.pcap"), lab("store.pcap"), lab("qr.pcap")];
  const later = files.map((f) => shiftPcap(f, 20 * DAY));
  const r = await analyzeFiles([...files, ...later], { config });
  t.deepEqual(brief(r.report.findings), []);
});

test("a C-MOVE to a new destination by a peer that always moved is a departure", async (t) => {
  const h = new Harness(validateConfig({ sensor, policy: { learning: { days: 1 } } }));
  const pacs = ep("10.1.0.20", 104);
  const move = (dest: string, seconds: number): void => {
    const c = ep("10.1.0.30");
    const ts = at(seconds);
    h.feed({
      kind: "dimse",
      tsMicros: ts,
      client: c,
      server: pacs,
      callingAE: "WS1",
      calledAE: "PACS",
      direction: 0,
      message: {
        command: "C-MOVE-RQ",
        messageId: 1,
        messageIdBeingRespondedTo: null,
        sopClassUid: "1.2.840.10008.5.1.4.1.2.2.2",
        sopInstanceUid: null,
        status: null,
        moveDestination: dest,
        priority: null,
        subOperations: null,
      },
    });
    h.feed(assoc(c, pacs, { calling: "WS1", called: "PACS", ts }));
  };
  move("WS1", 0);
  move("WS1", 2 * DAY);
  t.deepEqual(h.rule("baseline.new-operation"), []);
  move("ELSEWHERE", 2 * DAY + 10);
  const f = h.rule("baseline.new-operation");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "medium");
  const ev = f[0]!.evidence as Evidence;
  t.is(ev.moveDestination, "ELSEWHERE");
  t.deepEqual(ev.baseline, { operations: [{ operation: "C-MOVE", count: 1, moveDestinations: ["WS1"] }] });
});

/** A learned PACS, then `n` new modalities storing to it after the window (a migration's re-pointing). */
function migration(config: Config, n: number, startSeconds = 2 * DAY): Harness {
  const h = new Harness(config);
  const pacs = ep("10.1.0.20", 104);
  h.feed(connection(ep("10.1.0.10"), pacs, "syn-ack", at(0)));
  h.feed(assoc(ep("10.1.0.10"), pacs, { calling: "CT1", called: "PACS", ts: at(1) }));
  for (let i = 0; i < n; i++) {
    const ts = at(startSeconds + i * 60);
    h.feed(assoc(ep(`10.1.2.${i + 1}`), pacs, { calling: `MOD${i}`, called: "PACS", ts }));
  }
  return h;
}

test("a burst of new peers folds into one finding with a count and a capped list", (t) => {
  const config = validateConfig({
    sensor,
    policy: { learning: { days: 1, burst: { count: 3, minutes: 30 } } },
  });
  const h = migration(config, 50);
  const found = h.rule("baseline.new-peer");
  const singles = found.filter((f) => f.device !== null);
  const bursts = found.filter((f) => f.device === null);
  t.is(singles.length, 3, "the first `count` are findings of their own");
  t.is(bursts.length, 1, "the rest are one finding");
  const b = bursts[0]!;
  const ev = b.evidence as Evidence;
  t.is(ev.counts.departures, 47);
  t.is((ev.departures as unknown[]).length, 32);
  t.is(ev.departuresNotListed, 15);
  t.deepEqual(ev.burst, { start: b.firstSeen, threshold: 3, minutes: 30 });
  t.regex(b.title, /^47 new-peer departures from the baseline since /);
  // Announced a handful of times, not once per new peer.
  const announced = h.announced("baseline.new-peer");
  t.true(announced.length <= 3 + 8, announced.join(" "));
  // A repeat of a folded departure is counted in the burst, not raised alone.
  const pacs = ep("10.1.0.20", 104);
  h.feed(assoc(ep("10.1.2.40"), pacs, { calling: "MOD39", called: "PACS", ts: at(2 * DAY + 50 * 60) }));
  t.is(h.rule("baseline.new-peer").length, 4);
});

test("a burst ends after burst.minutes without a departure; the next one starts afresh", (t) => {
  const config = validateConfig({
    sensor,
    policy: { learning: { days: 1, burst: { count: 2, minutes: 5 } } },
  });
  const h = migration(config, 6);
  // 6 peers a minute apart: 2 alone, then one burst of 4.
  t.is(h.rule("baseline.new-peer").length, 3);
  const pacs = ep("10.1.0.20", 104);
  h.feed(assoc(ep("10.1.3.1"), pacs, { calling: "LATE", called: "PACS", ts: at(3 * DAY) }));
  const late = h.rule("baseline.new-peer").filter((f) => f.title.includes("LATE"));
  t.is(late.length, 1, "alone again once the burst went quiet");
});

test("a quiet period learns departures into the baseline instead of raising them", async (t) => {
  const base = { sensor, policy: { learning: { days: 14 } } };
  const later = shiftPcap(lab("qr.pcap"), 15 * DAY);
  const quiet = validateConfig({
    ...base,
    policy: {
      learning: {
        days: 14,
        quietPeriods: [
          { from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z", reason: "PACS migration" },
        ],
      },
    },
  });
  const r = await analyzeFiles([lab("echo.pcap"), lab("store.pcap"), later], { config: quiet });
  t.deepEqual(brief(r.report.findings), []);
  const orthanc = r.baseline!.services.find((s) => s.aeTitle === "ORTHANC")!;
  t.true(
    orthanc.peers.some((p) => p.aeTitle === "VIEWER1"),
    "the new peer is in the baseline now",
  );
  // The same traffic once more, after the quiet period: nothing departs, it was learned.
  const after = shiftPcap(lab("qr.pcap"), 60 * DAY);
  const r2 = await analyzeFiles([lab("echo.pcap"), lab("store.pcap"), later, after], { config: quiet });
  t.deepEqual(brief(r2.report.findings), []);
});

test("policy.services lists a peer and its operations: no departure for them", async (t) => {
  const later = shiftPcap(lab("qr.pcap"), 15 * DAY);
  const config = validateConfig({
    sensor,
    policy: {
      services: [
        {
          ip: "10.77.0.20",
          port: 4242,
          aeTitle: "ORTHANC",
          peers: [
            { ip: "10.77.0.10", aeTitle: "VIEWER1", operations: [] },
            { ip: "10.77.0.10", aeTitle: "MODALITY1", operations: ["C-STORE"] },
          ],
        },
      ],
    },
  });
  const r = await analyzeFiles([lab("echo.pcap"), lab("store.pcap"), later], { config });
  const titles = brief(r.report.findings);
  t.false(titles.some((x) => x.includes("VIEWER1")));
  t.false(titles.some((x) => x.includes("started C-STORE")));
  t.true(
    titles.some((x) => x.includes("started C-MOVE")),
    "C-MOVE is not listed for MODALITY1",
  );
});

test("no baseline, no departures: learning.days 0 and nothing imported", async (t) => {
  const config = validateConfig({ sensor, policy: { learning: { days: 0 } } });
  const r = await analyzeFiles([lab("echo.pcap"), lab("qr.pcap")], { config });
  t.deepEqual(brief(r.report.findings), []);
  t.is(r.baseline!.services.length, 0);
});
