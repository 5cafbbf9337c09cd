/**
 * Issue 10: the catalogue of anomalies is complete, every row is filled in, and docs/anomalies.md is what
 * scripts/anomaly-doc.ts writes from it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import {
  ANOMALY_CATALOGUE,
  ANOMALY_CODES,
  isAnomalyCode,
  malformedSeverity,
} from "../../agent/util/anomaly-catalogue.js";
import { DOC_PATH, renderAnomalyDoc } from "../../scripts/anomaly-doc.js";

const LAYERS = new Set([
  "capture",
  "decode",
  "reassembly",
  "tls",
  "ul",
  "dimse",
  "dataset",
  "findings",
  "hosts",
]);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

test("every code has its layers, a clause, an origin, a dicom.malformed decision and a one-line description", (t) => {
  t.true(ANOMALY_CODES.length > 100);
  for (const code of ANOMALY_CODES) {
    const e = ANOMALY_CATALOGUE[code];
    t.regex(code, /^([a-z]+\.)?[a-z0-9]+(-[a-z0-9]+)*$/, code);
    t.true(e.layers.length > 0 && e.layers.every((l) => LAYERS.has(l)), code);
    t.true(e.clause.trim().length > 0, code);
    t.true(["peer", "capture", "sensor"].includes(e.origin), code);
    t.true(["none", "low", "medium"].includes(e.malformed), code);
    t.true(e.description.trim().length > 10 && !e.description.includes("\n"), code);
    t.regex(e.description, /\.$/, code);
  }
});

test("dicom.malformed: only Upper Layer and DIMSE codes raise it, never a reserved field", (t) => {
  for (const code of ANOMALY_CODES) {
    const e = ANOMALY_CATALOGUE[code];
    const sev = malformedSeverity(code);
    t.is(sev, e.malformed === "none" ? null : e.malformed, code);
    if (!e.layers.some((l) => l === "ul" || l === "dimse")) t.is(sev, null, code);
    if (code.includes("reserved")) t.is(sev, null, code);
    // Only a peer's doing is malformed DICOM: not what the capture lost, nor one of the sensor's own caps.
    if (e.origin !== "peer") t.is(sev, null, code);
  }
  // The findings rule's severe list (length and structure violations): medium.
  for (const code of ["ul.pdu-too-large", "ul.item-truncated", "dimse.command-too-large"])
    t.is(malformedSeverity(code), "medium");
  t.is(malformedSeverity("ul.pc-not-proposed"), "low");
  t.is(malformedSeverity("not.a-code"), null);
  t.false(isAnomalyCode("not.a-code"));
  t.false(isAnomalyCode("toString"));
});

test("the catalogue is exactly the codes the sources report: none missing, none dead", (t) => {
  // Every quoted string that looks like a code, in the parser and capture sources (the findings, the
  // console and the central read codes and name rules; of the findings only the engine reports one, a
  // failed rule).
  const skip = [
    "agent/findings/",
    "agent/console/",
    "agent/central/",
    "agent/cli/",
    "agent/util/anomaly-catalogue.ts",
  ];
  const literal =
    /["'`]((?:ul|dimse|dataset|tcp|tls|decode|capture|pcap|pcapng|internal|report|hosts)\.[a-z0-9-]+|anomaly-rows-capped)["'`]/g;
  const found = new Set<string>();
  for (const f of sources("agent")) {
    if (skip.some((s) => f.replace(/\\/g, "/").startsWith(s))) continue;
    for (const m of readFileSync(f, "utf8").matchAll(literal)) found.add(m[1]!);
  }
  if (readFileSync("agent/findings/engine.ts", "utf8").includes('"findings.rule-failed"'))
    found.add("findings.rule-failed");
  const missing = [...found].filter((c) => !isAnomalyCode(c)).sort();
  t.deepEqual(missing, [], "reported but not catalogued");
  const dead = ANOMALY_CODES.filter((c) => !found.has(c));
  t.deepEqual(dead, [], "catalogued but reported nowhere");
});

test("docs/anomalies.md is up to date (node dist/scripts/anomaly-doc.js writes it)", async (t) => {
  const committed = readFileSync(DOC_PATH, "utf8");
  t.is(committed, await renderAnomalyDoc());
  for (const code of ANOMALY_CODES) t.true(committed.includes(`\`${code}\``), code);
});
