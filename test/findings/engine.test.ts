/**
 * The findings engine (agent/findings/engine.ts) itself: ordinary traffic end to end, stable finding ids and
 * evidence, deduplication and re-announcement, the cap on findings held, and rules that throw.
 */
import test from "ava";
import { defaultConfig, validateConfig } from "../../agent/config/config.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { FindingsEngine, MAX_FINDINGS, RULE_FAILED } from "../../agent/findings/engine.js";
import { defaultRules, type Rule } from "../../agent/findings/rules/index.js";
import type { Observation } from "../../agent/observations/types.js";
import {
  assoc,
  at,
  connection,
  dimse,
  ep,
  msg,
  pc,
  STUDY_ROOT_MOVE,
  VERIFICATION,
} from "../inventory/build.js";
import { Harness, pacs, modern, ordinaryDay } from "./harness.js";
import { isoFromMicros } from "../../agent/util/time.js";

test("ordinary clinical traffic raises nothing above low", (t) => {
  const h = new Harness();
  ordinaryDay(h);
  t.deepEqual(h.above("low"), []);
  const rules = new Set(h.finish().map((f) => f.rule));
  t.true(rules.has("dicom.cleartext"), "cleartext internal is reported, as low");
  t.true(rules.has("inventory.new-device"));
  t.is(h.rule("dicom.cleartext").find((f) => f.device === "ip-10.1.0.10")?.severity, "low");
});

test("ordinary traffic with a full policy raises nothing above low either", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: {
      knownAeTitles: { "10.1.0.5": ["CT01"], "10.1.0.10": ["PACS"], "10.1.0.30": ["WS1"] },
      allowedPeers: ["10.1.0.0/24"],
    },
  });
  const h = new Harness(config);
  ordinaryDay(h);
  t.deepEqual(h.above("low"), []);
});

test("findings have stable ids, counts, evidence and remediation", (t) => {
  const a = new Harness();
  ordinaryDay(a);
  const b = new Harness();
  ordinaryDay(b);
  const fa = a.finish();
  t.deepEqual(
    fa.map((f) => f.id),
    b.finish().map((f) => f.id),
  );
  const clear = fa.find((f) => f.rule === "dicom.cleartext" && f.peer?.startsWith("ip-10.1.0.5"))!;
  t.regex(clear.id, /^f-[0-9a-f]{16}$/);
  t.is(clear.count, 20, "one finding per pair, counted");
  const ev = clear.evidence as { flows: string[]; aeTitles: string[]; counts: Record<string, number> };
  t.is(ev.flows.length, 10, "flows are capped");
  t.deepEqual(ev.aeTitles, ["CT01", "PACS"]);
  t.is(ev.counts.associations, 20);
  t.regex(clear.remediation, /TLS/);
  t.is(clear.firstSeen, isoFromMicros(at(0)));
  t.is(clear.lastSeen, isoFromMicros(at(19)));
  // Three pairs (CT→PACS, WS→PACS, PACS→WS for the move): each announced once; repeats are not news.
  t.is(a.changes.filter(([r]) => r === "dicom.cleartext").length, 3);
});

test("the findings table is bounded: peer-chosen C-MOVE destinations cannot grow it without end", (t) => {
  const inventory = new Inventory(defaultConfig());
  const engine = new FindingsEngine(defaultConfig(), inventory, 64);
  let announced = 0;
  engine.onChange = (_f, change) => {
    if (change === "new") announced++;
  };
  const feed = (o: Observation): void => {
    inventory.observe(o);
    engine.observe(o);
  };
  // One high finding that must survive the flood of medium ones.
  feed(assoc(ep("203.0.113.9", 40000), pacs(), { ts: at(0), ...modern }));
  for (let i = 0; i < 500; i++) {
    const c = ep("10.1.0.30", 20000 + i);
    feed(
      dimse(c, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: `X${i}` }), {
        calling: "WS1",
        ts: at(1 + i),
      }),
    );
    feed(assoc(c, pacs(), { calling: "WS1", pcs: [pc(1, STUDY_ROOT_MOVE)], ts: at(1 + i), ...modern }));
  }
  const all = engine.findings();
  t.true(all.length <= 64, `${all.length} findings kept`);
  t.true(engine.evicted > 0);
  t.true(announced >= 500, "every finding was announced before it could be evicted");
  t.true(all.some((f) => f.rule === "dicom.external-peer" && f.severity === "high"));
});

test("a milder instance between worse ones does not re-announce a finding", (t) => {
  const h = new Harness();
  const sweep = (base: number, refusedAt: number | null): void => {
    for (let i = 0; i < 5; i++)
      h.feed(
        assoc(ep("10.1.0.66", 42000 + base + i), ep(`10.1.0.${100 + i}`, 104), {
          called: "ANY-SCP",
          pcs: [pc(1, VERIFICATION)],
          ts: at(base + i),
          ...(i === refusedAt ? { outcome: "rejected" as const } : modern),
        }),
      );
  };
  sweep(0, 2);
  // Later sweeps with every association accepted, then refused again: nothing new to announce.
  sweep(1000, null);
  sweep(2000, 1);
  sweep(3000, null);
  const events = h.changes.filter(([rule]) => rule === "dicom.scanner");
  t.deepEqual(events, [["dicom.scanner", "new", "high"]]);
});

test("a capture timestamp out of Date's range does not throw from inventory or findings", (t) => {
  // A pcapng EPB may carry any 64-bit timestamp; 2^64 microseconds is far beyond what Date can show.
  const h = new Harness();
  const huge = 2 ** 64;
  const a = assoc(ep("203.0.113.5", 40000), pacs(), modern);
  t.notThrows(() => {
    h.feed({ ...a, tsMicros: huge });
    h.feed(connection(ep("10.1.0.5", 40001), ep("10.1.0.10", 3389), "syn-ack", huge));
    h.finish();
    h.inventory.devices();
  });
  t.true(h.engine.findings().length > 0);
});

test("AE titles in evidence freeze at the cap: an AE brute force does not re-announce a finding for each title", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.10": ["PACS"] } },
  });
  const h = new Harness(config);
  // An SCP that accepts any called AE title, tried with 100 of them.
  for (let i = 0; i < 100; i++)
    h.feed(
      assoc(ep("10.1.0.66", 40000 + i), pacs(), {
        calling: "SCAN",
        called: `GUESS${i}`,
        ts: at(i),
        ...modern,
      }),
    );
  const f = h.rule("dicom.any-ae-accepted").find((x) => x.key === "called")!;
  const ev = f.evidence as { aeTitles: string[]; aeTitlesNotListed?: number };
  t.is(f.count, 100);
  t.deepEqual(
    ev.aeTitles,
    Array.from({ length: 32 }, (_, i) => `GUESS${i}`),
    "the first 32 are kept, not the latest",
  );
  t.is(ev.aeTitlesNotListed, 68);
  const announced = h.changes.filter(([r]) => r === "dicom.any-ae-accepted");
  t.is(announced.length, 32, "new, then one change per title until the list is full; none after");
  t.deepEqual(announced[0], ["dicom.any-ae-accepted", "new", "medium"]);
  // A title already listed neither re-announces nor counts as not listed.
  h.feed(
    assoc(ep("10.1.0.66", 41000), pacs(), { calling: "SCAN", called: "GUESS3", ts: at(200), ...modern }),
  );
  t.is(h.changes.filter(([r]) => r === "dicom.any-ae-accepted").length, 32);
  const again = h.rule("dicom.any-ae-accepted").find((x) => x.key === "called")!;
  t.is((again.evidence as { aeTitlesNotListed?: number }).aeTitlesNotListed, 68);
  t.is(again.count, 101);
});

test("a rule that throws costs only that observation: an anomaly of layer findings names it, the others go on", (t) => {
  const config = defaultConfig();
  const inventory = new Inventory(config);
  let calls = 0;
  // Throws on every DIMSE message and on CT01's associations; counts the others.
  const boom: Rule = {
    ids: ["dicom.cleartext"],
    onAssociation(a) {
      calls++;
      if (a.calling === "CT01") throw new TypeError("CANARY^PATIENT");
    },
    onDimse() {
      throw new RangeError("boom");
    },
  };
  const engine = new FindingsEngine(config, inventory, MAX_FINDINGS, (ctx) => [boom, ...defaultRules(ctx)]);
  const anomalies: [string, string, string, string][] = [];
  engine.anomalies = {
    anomaly: (code, layer, at, detail) => anomalies.push([code, layer, at?.flow ?? "", detail]),
  };
  const plain = new Harness(config);
  const both = {
    feed(...obs: Observation[]) {
      for (const o of obs) {
        plain.feed(o);
        inventory.observe(o);
        t.notThrows(() => engine.observe(o));
      }
      return this;
    },
  } as unknown as Harness;
  ordinaryDay(both);
  t.notThrows(() => engine.finish(at(10_000)));
  // Every other rule saw every observation: the findings are those of an engine without the failing rule.
  t.deepEqual(engine.findings(), plain.finish());
  t.is(calls, 22, "the rule still gets the observations after those it threw on");
  // 40 DIMSE messages of the stores and 8 of the query and retrieve, and the 20 stores' associations.
  t.is(engine.ruleFailures, 40 + 8 + 20);
  t.is(anomalies.length, engine.ruleFailures);
  t.deepEqual(anomalies[0], [
    RULE_FAILED,
    "findings",
    "10.1.0.5:51000-10.1.0.10:104",
    "dicom.cleartext: RangeError",
  ]);
  t.true(anomalies.some(([, , , d]) => d === "dicom.cleartext: TypeError"));
  t.false(JSON.stringify(anomalies).includes("CANARY"), "the error's message is not carried");
});
