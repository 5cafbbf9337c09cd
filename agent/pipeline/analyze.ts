/**
 * Offline analysis (`dicomtap analyze`): the whole pipeline over capture files, then inventory and
 * findings, folded into the version-1 report of DESIGN.md §3.
 */
import { baselineDocument } from "../baseline/document.js";
import type { BaselineDocument } from "../baseline/types.js";
import { windowsTable } from "../hosts/windows.js";
import { modelProfileTable } from "../profiles/profiles.js";
import { readCaptureFile } from "../capture/file.js";
import type { CaptureSummary } from "../capture/types.js";
import { defaultConfig } from "../config/config.js";
import type { Config } from "../config/types.js";
import { FindingsEngine } from "../findings/engine.js";
import { compareSeverity } from "../findings/severity.js";
import { Inventory } from "../inventory/inventory.js";
import { DimseSeen } from "../inventory/replay.js";
import { ObservationGuard } from "../observations/guard.js";
import type { Observation, ObservationSink } from "../observations/types.js";
import type { Report } from "../report/types.js";
import { Pipeline, type PipelineOptions } from "./pipeline.js";

export interface AnalyzeOptions {
  config?: Config;
  /**
   * A baseline to judge the captures against (issue 13, `analyze --baseline`): departures from it are
   * findings from the first packet. The config should already carry its policy when it is approved
   * (baseline/policy.ts effectiveConfig).
   */
  baseline?: BaselineDocument;
  pipeline?: Omit<PipelineOptions, "observations">;
}

export interface FileResult {
  path: string;
  /** Null when the file could not be opened or is not a capture at all. */
  summary: CaptureSummary | null;
  /** Why the file could not be read, or where it was damaged. */
  error: string | null;
}

export interface AnalyzeResult {
  report: Report;
  files: FileResult[];
  /** The baseline after the captures: learned from them, or the one given, with what quiet periods added. */
  readonly baseline?: BaselineDocument | null;
}

/** Inventory and findings behind the guard that keeps anything but allowed fields out (issue 3). */
export class Analysis implements ObservationSink {
  readonly inventory: Inventory;
  readonly findings: FindingsEngine;
  /**
   * DIMSE messages come twice: as DimseObservations while they happen and in the association record at
   * its end. Inventory and findings act on the DimseObservations; an association that came without them
   * (records replayed from elsewhere) has its messages replayed here, once, for both.
   */
  private readonly dimseSeen = new DimseSeen();
  /** Keeps anything but allowed fields out; its endpoint copies (two) are this analysis's. */
  private readonly guard = new ObservationGuard();

  constructor(config: Config) {
    // The Windows table is read and checked now, not at the first Windows host: a damaged data/ fails
    // at start with its problems listed, never later inside a record.
    windowsTable();
    // The same for the device profiles (data/model-profiles.json), which the findings consult per device.
    modelProfileTable();
    this.inventory = new Inventory(config);
    this.findings = new FindingsEngine(config, this.inventory);
  }

  observe(o: Observation): void {
    const clean = this.guard.guard(o);
    if (clean.kind === "dimse") this.dimseSeen.saw(clean);
    else if (clean.kind === "association") for (const m of this.dimseSeen.replay(clean)) this.deliver(m);
    this.deliver(clean);
  }

  private deliver(o: Observation): void {
    this.inventory.observe(o);
    this.findings.observe(o);
  }
}

export async function analyzeFiles(paths: string[], opts: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const config = opts.config ?? defaultConfig();
  const analysis = new Analysis(config);
  if (opts.baseline !== undefined) analysis.findings.baseline?.load(opts.baseline);
  const pipeline = new Pipeline({ ...opts.pipeline, observations: analysis });
  // A findings rule that fails on an observation is counted with the parse anomalies (layer "findings").
  analysis.findings.anomalies = pipeline.anomalyCounter;
  const files = await readCaptures(paths, pipeline);
  // Connections may continue from one rotated file into the next, so they close only at the very end.
  pipeline.finish();
  analysis.findings.finish(pipeline.nowMicros);

  const associations = [...pipeline.associations()].sort((a, b) =>
    a.start < b.start ? -1 : a.start > b.start ? 1 : 0,
  );
  const findings = analysis.findings.findings().sort((a, b) => compareSeverity(b.severity, a.severity));
  const report: Report = {
    version: 1,
    stats: pipeline.stats(),
    associations,
    devices: analysis.inventory.devices(),
    findings,
    anomalies: pipeline.anomalyCounter.records(),
  };
  const rule = analysis.findings.baseline;
  return {
    report,
    files,
    // Made when asked for (plan, tests): `analyze` itself never needs the document.
    get baseline(): BaselineDocument | null {
      return rule === null ? null : baselineDocument(rule, config);
    },
  };
}

/**
 * Reads capture files into a pipeline, in order (several files are one capture: its connections go on
 * from one rotated file into the next; the caller finishes the pipeline). A damaged file is read up to the
 * damage and an unreadable one is named; each is also counted as a capture anomaly.
 */
export async function readCaptures(paths: readonly string[], pipeline: Pipeline): Promise<FileResult[]> {
  const files: FileResult[] = [];
  for (const path of paths) {
    try {
      const summary = await readCaptureFile(path, pipeline, { counters: pipeline.counters });
      let error: string | null = null;
      if (summary.error !== null) {
        error = `${summary.error.code} at byte ${summary.error.offset}: ${summary.error.detail}`;
        pipeline.anomalyCounter.anomaly(
          summary.error.code,
          "capture",
          null,
          `${path}: ${summary.error.detail}`,
        );
      }
      files.push({ path, summary, error });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      pipeline.anomalyCounter.anomaly("capture.unreadable", "capture", null, `${path}: ${message}`);
      files.push({ path, summary: null, error: message });
    }
  }
  return files;
}
