/**
 * Test helper: fills a central store with real sensor records — the reports `dicomtap analyze` makes of
 * the repository's captures (samples/imaging-room.pcap, run here through the command line, and the lab
 * captures' committed reports in test/fixtures/lab/reports) — as the HTTP tests' data. Everything goes
 * through the store's own write path (loadReport: the payload checks and CentralStore.apply that ingest
 * uses; status and health messages through CentralStore.status/health), so the rows are what a running
 * central would hold.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadReport, type CentralStore } from "../../agent/central/store.js";
import { baselineDocument } from "../../agent/baseline/document.js";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import { readCaptureFile } from "../../agent/capture/file.js";
import { defaultConfig } from "../../agent/config/config.js";
import { Analysis } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type { Report } from "../../agent/report/types.js";
import { runCli } from "../helpers/cli.js";

/** `dicomtap analyze FILE --json`: the real report of a capture. */
export function analyzeCapture(file: string): Report {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-seed-"));
  try {
    const out = join(dir, "report.json");
    const r = runCli(["analyze", file, "--json", out, "-q"]);
    if (r.status !== 0) throw new Error(`analyze ${file}: ${r.stderr}`);
    return JSON.parse(readFileSync(out, "utf8")) as Report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A committed lab report (test/fixtures/lab/reports/NAME.json). */
export function labReport(name: string): Report {
  return JSON.parse(
    readFileSync(join("test", "fixtures", "lab", "reports", `${name}.json`), "utf8"),
  ) as Report;
}

export interface SeedOptions {
  site: string;
  sensor: string;
  report: Report;
  /** Central time of the messages. */
  now: Date;
  /** A sensor that said goodbye (its last will) after publishing. */
  offline?: boolean;
  /** Health samples ending at `now` (capture counters growing to the report's totals). */
  healthSamples?: number;
  /** Minutes between health samples (default 1; the overview's hourly charts need hours of them). */
  healthEveryMinutes?: number;
}

/** Publishes one sensor's report into the store, as the sensor and the ingest would. */
export function seedSensor(store: CentralStore, o: SeedOptions): { devices: number; findings: number } {
  const results = loadReport(store, o.report, {
    site: o.site,
    sensor: o.sensor,
    now: o.now,
    version: "0.1.0",
  });
  if (results.includes("stale"))
    throw new Error(`seed ${o.sensor}: a record was stale: ${results.join(" ")}`);
  const samples = o.healthSamples ?? 5;
  const every = (o.healthEveryMinutes ?? 1) * 60_000;
  for (let i = 0; i < samples; i++) {
    const time = new Date(o.now.getTime() - (samples - 1 - i) * every).toISOString();
    const share = (i + 1) / samples;
    store.health(
      o.site,
      o.sensor,
      {
        messageId: `${o.site}/${o.sensor}/health/${time}`,
        time,
        uptimeSeconds: (every / 1000) * (i + 1),
        capture: {
          packets: Math.round(o.report.stats.packets * share),
          bytes: Math.round(o.report.stats.bytes * share),
          drops: i,
        },
        anomalies: o.report.stats.anomalies,
        outbox: { depth: i, evicted: 0, bytes: 0 },
      },
      o.now,
    );
  }
  if (o.offline === true)
    store.status(
      o.site,
      o.sensor,
      {
        state: "offline",
        version: "0.1.0",
        startedAt: o.now.toISOString(),
        messageId: `${o.site}/${o.sensor}/offline`,
      },
      o.now,
    );
  return { devices: o.report.devices.length, findings: o.report.findings.length };
}

/**
 * The baseline document a sensor of `site` learns from captures (agent/baseline/document.ts), as it would
 * publish it on `baseline`: the whole pipeline over the files with a learning window longer than the
 * capture (366 days), so the document is "learning" unless `status` says otherwise.
 */
export async function labBaseline(
  files: readonly string[],
  site: string,
  sensor: string,
  status?: BaselineDocument["status"],
): Promise<BaselineDocument> {
  const config = defaultConfig();
  config.sensor = { ...config.sensor, id: sensor, site };
  config.policy.learning.days = 366;
  const a = new Analysis(config);
  const p = new Pipeline({ observations: a });
  for (const f of files) await readCaptureFile(f, p, { counters: p.counters });
  p.finish();
  a.findings.finish(p.nowMicros);
  const rule = a.findings.baseline;
  if (rule === null) throw new Error("the findings engine has no baseline rule");
  const doc = baselineDocument(rule, config);
  if (status === undefined) return doc;
  return {
    ...doc,
    status,
    window: {
      ...doc.window,
      end: status === "learning" ? null : (doc.services[0]?.lastSeen ?? doc.window.start),
    },
    approved: status === "approved" ? { by: "biomed", at: "2026-12-01T09:00:00Z", note: null } : null,
  };
}

/** The retained `baseline` message of a sensor (schemas/baseline.schema.json $defs/message), as JSON. */
export function baselineMessage(doc: BaselineDocument, site: string, sensor: string, revision = 1): string {
  return JSON.stringify({
    messageId: `${site}/${sensor}/baseline/${revision}`,
    site,
    sensor,
    revision,
    baseline: doc,
  });
}
