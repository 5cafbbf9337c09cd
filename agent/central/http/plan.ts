/**
 * A site's plan at the central (issue 13): the five remediation steps built by the plan module
 * (agent/plan/) from what the site's sensors published — their baselines, merged into one (baselines.ts
 * mergeBaselines: one firewall table and one allowlist per service for the whole site), the site's devices
 * and its open findings from the central store — and rendered in each of the plan's formats.
 *
 * A site whose sensors have published no baseline yet gets the plan of an empty baseline: every step
 * empty, and a note that says why (`notes` in the answer of /baselines, and the first line of the
 * Markdown), never an error: the page and a script can show it as it is.
 */
import type { BaselineDocument } from "../../baseline/types.js";
import { defaultConfig } from "../../config/config.js";
import { buildPlan } from "../../plan/build.js";
import { outsideProfile } from "../../plan/profiles.js";
import { renderDcmqrscp, renderOrthanc } from "../../plan/render-archives.js";
import { renderCsv } from "../../plan/render-csv.js";
import { renderMarkdown } from "../../plan/render-md.js";
import { renderNft } from "../../plan/render-nft.js";
import type { Plan } from "../../plan/types.js";
import { isoFromDate } from "../../util/time.js";
import type { DeviceRecord, FindingRecord } from "../../report/types.js";
import { mergeBaselines, type SensorBaseline } from "../baselines.js";
import type { Db } from "./db.js";
import { BadRequest, hasControl, oneOf, parseQuery } from "./params.js";

/** The plan's formats: ?format=… of GET /sites/{site}/plan. */
export const PLAN_FORMATS = ["json", "md", "nft", "csv", "orthanc", "dcmqrscp"] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

export const PLAN_PARAMS = { format: oneOf(PLAN_FORMATS) };

/** Content type and file name ending of each format. */
export const PLAN_FILES: Record<PlanFormat, { type: string; suffix: string }> = {
  json: { type: "application/json; charset=utf-8", suffix: "plan.json" },
  md: { type: "text/markdown; charset=utf-8", suffix: "plan.md" },
  nft: { type: "text/plain; charset=utf-8", suffix: "plan.nft" },
  csv: { type: "text/csv; charset=utf-8; header=present", suffix: "allowlist.csv" },
  orthanc: { type: "application/json; charset=utf-8", suffix: "orthanc.json" },
  dcmqrscp: { type: "text/plain; charset=utf-8", suffix: "dcmqrscp.cfg" },
};

/** A site name from the path: what a topic level may be (no / + # or NUL), bounded, no control characters. */
export function parseSite(raw: string): string {
  let site: string;
  try {
    site = decodeURIComponent(raw);
  } catch {
    throw new BadRequest("bad-site", "the site in the path is not valid percent-encoding");
  }
  if (site === "" || site.length > 200 || hasControl(site) || /[/+#]/.test(site))
    throw new BadRequest(
      "bad-site",
      "the site must be 1 to 200 characters, without / + # or control characters",
    );
  return site;
}

/** A site's name as part of a file name: letters, digits, dot, dash and underscore. */
export function fileSafe(site: string): string {
  return site.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64) || "site";
}

/** One sensor's baseline as the API lists it (without the document). */
export interface BaselineItem {
  sensor: string;
  status: BaselineDocument["status"];
  window: { start: string | null; end: string | null; days: number };
  approved: BaselineDocument["approved"];
  services: number;
  peers: number;
  devices: number;
  bytes: number;
  receivedAt: string;
  changedAt: string;
  truncated: BaselineDocument["truncated"];
}

export interface SiteBaselines {
  site: string;
  /** Every sensor of the site, and which of them have published a baseline. */
  sensors: string[];
  items: BaselineItem[];
  /** The merge's head: status, window and approval of the site as a whole; null without any baseline. */
  merged: Pick<BaselineDocument, "status" | "window" | "approved" | "internal" | "truncated"> | null;
  /** Sentences about the plan's source, e.g. that no sensor has published a baseline yet. */
  notes: string[];
}

interface BaselineRow {
  sensor: string;
  status: BaselineDocument["status"];
  window_start: string | null;
  window_end: string | null;
  window_days: number;
  services: number;
  peers: number;
  devices: number;
  bytes: number;
  received_at: string;
  changed_at: string;
  document: string;
}

/** The sensors of a site (sorted); empty for a site the central has never heard of. */
export function siteSensors(db: Db, site: string): string[] {
  return (
    db.prepare("SELECT sensor FROM sensors WHERE site = ? ORDER BY sensor").all(site) as Array<{
      sensor: string;
    }>
  ).map((r) => r.sensor);
}

function baselineRows(db: Db, site: string): BaselineRow[] {
  return db
    .prepare(
      `SELECT s.sensor, b.status, b.window_start, b.window_end, b.window_days, b.services, b.peers, b.devices,
         b.bytes, b.received_at, b.changed_at, b.document
       FROM baselines b JOIN sensors s ON s.pk = b.sensor_pk WHERE s.site = ? ORDER BY s.sensor`,
    )
    .all(site) as BaselineRow[];
}

function parsed(rows: BaselineRow[]): Array<SensorBaseline & { row: BaselineRow }> {
  const out: Array<SensorBaseline & { row: BaselineRow }> = [];
  for (const row of rows) {
    try {
      out.push({
        sensor: row.sensor,
        document: JSON.parse(row.document) as BaselineDocument,
        receivedAt: row.received_at,
        row,
      });
    } catch {
      // Stored after the checks, so only a damaged database gets here: that sensor is left out.
    }
  }
  return out;
}

function notesOf(sensors: string[], withBaseline: string[], merged: BaselineDocument | null): string[] {
  const notes: string[] = [];
  if (merged === null) {
    notes.push(
      sensors.length === 0
        ? "No sensor of this site has reported yet."
        : "No sensor of this site has published a baseline yet: the plan is empty until one does.",
    );
    return notes;
  }
  const without = sensors.filter((s) => !withBaseline.includes(s));
  if (without.length > 0)
    notes.push(`Sensors without a baseline yet, not part of this plan: ${without.join(", ")}.`);
  if (merged.status === "learning")
    notes.push(
      "The baseline is still learning: the plan is provisional and will grow until the window closes.",
    );
  else if (merged.status === "learned")
    notes.push("The baseline is learned but not approved: review it before applying the plan.");
  const t = merged.truncated;
  if (t.services + t.peers + t.devices > 0)
    notes.push(
      `The baselines' caps turned away ${t.services} services, ${t.peers} peers and ${t.devices} devices: the plan covers what was kept.`,
    );
  return notes;
}

/** The baselines of a site's sensors, their merge's head and notes (GET /sites/{site}/baselines). */
export function siteBaselines(db: Db, site: string): SiteBaselines {
  const sensors = siteSensors(db, site);
  const docs = parsed(baselineRows(db, site));
  const items: BaselineItem[] = docs.map(({ row, document }) => ({
    sensor: row.sensor,
    status: row.status,
    window: { start: row.window_start, end: row.window_end, days: row.window_days },
    approved: document.approved,
    services: row.services,
    peers: row.peers,
    devices: row.devices,
    bytes: row.bytes,
    receivedAt: row.received_at,
    changedAt: row.changed_at,
    truncated: document.truncated,
  }));
  const merged = mergeBaselines(site, docs);
  return {
    site,
    sensors,
    items,
    merged:
      merged === null
        ? null
        : {
            status: merged.status,
            window: merged.window,
            approved: merged.approved,
            internal: merged.internal,
            truncated: merged.truncated,
          },
    notes: notesOf(
      sensors,
      items.map((i) => i.sensor),
      merged,
    ),
  };
}

/** What the plan of a site is built from. */
export interface SitePlanInputs {
  site: string;
  sensors: string[];
  /** The merged baseline; an empty "learning" one when no sensor has published any. */
  baseline: BaselineDocument;
  hasBaseline: boolean;
  /** The sensors whose baselines are merged into it. */
  contributors: string[];
  devices: DeviceRecord[];
  findings: FindingRecord[];
  notes: string[];
}

/** An empty baseline: the source of the empty plan of a site without any. */
export function emptyBaseline(site: string, internal: readonly string[]): BaselineDocument {
  return {
    version: 1,
    site,
    sensor: null,
    status: "learning",
    window: { start: null, end: null, days: 0 },
    approved: null,
    internal: [...internal],
    services: [],
    devices: [],
    truncated: { services: 0, peers: 0, devices: 0 },
  };
}

/**
 * The site's merged baseline, its devices (one per sensor's device id: two sensors that see one host keep
 * the record seen last) and its open findings (the sensors' view: lifecycle open, whatever the triage).
 */
export function sitePlanInputs(db: Db, site: string, internal: readonly string[]): SitePlanInputs {
  const sensors = siteSensors(db, site);
  const docs = parsed(baselineRows(db, site));
  const merged = mergeBaselines(site, docs);
  const devices = new Map<string, DeviceRecord>();
  for (const r of db
    .prepare(
      `SELECT d.record FROM devices d JOIN sensors s ON s.pk = d.sensor_pk WHERE s.site = ?
       ORDER BY d.last_seen, d.pk`,
    )
    .iterate(site) as Iterable<{ record: string }>) {
    try {
      const d = JSON.parse(r.record) as DeviceRecord;
      devices.set(d.id, d);
    } catch {
      // A damaged stored record: left out.
    }
  }
  const findings = new Map<string, FindingRecord>();
  for (const r of db
    .prepare(
      `SELECT f.record FROM findings f JOIN sensors s ON s.pk = f.sensor_pk
       WHERE s.site = ? AND f.lifecycle = 'open' ORDER BY f.last_seen, f.pk`,
    )
    .iterate(site) as Iterable<{ record: string }>) {
    try {
      const f = JSON.parse(r.record) as FindingRecord;
      findings.set(f.id, f);
    } catch {
      // As above.
    }
  }
  return {
    site,
    sensors,
    baseline: merged ?? emptyBaseline(site, internal),
    hasBaseline: merged !== null,
    contributors: docs.map((d) => d.sensor),
    devices: [...devices.values()],
    findings: [...findings.values()],
    notes: notesOf(
      sensors,
      docs.map((d) => d.sensor),
      merged,
    ),
  };
}

/** ?format= of the plan route; absent: JSON, shown rather than downloaded. */
export function parsePlanQuery(params: URLSearchParams): { format: PlanFormat; download: boolean } {
  const q = parseQuery(params, PLAN_PARAMS);
  return { format: q.format ?? "json", download: q.format !== undefined };
}

/** The networks a site without any baseline is planned for: the config's default internal networks. */
function defaultInternal(): string[] {
  return [...defaultConfig().networks.internal];
}

/** The renderers of the formats other than JSON. */
const RENDERERS: Record<Exclude<PlanFormat, "json">, (plan: Plan) => string> = {
  md: renderMarkdown,
  nft: renderNft,
  csv: renderCsv,
  orthanc: renderOrthanc,
  dcmqrscp: renderDcmqrscp,
};

/**
 * The plan of a site, and its text in `format` (null for JSON, which the caller serialises). Built with the
 * plan module's own builder from the site's inputs (sitePlanInputs), with the default config but for the
 * internal networks, which are the baselines' (what "outside" meant when they were learnt); the central
 * has no plan exceptions of its own. The notes on the source (no baseline yet, still learning) head the
 * Markdown, the format for people.
 */
export function sitePlan(
  db: Db,
  site: string,
  format: PlanFormat,
  now: Date,
): { plan: Plan; text: string | null; inputs: SitePlanInputs } {
  const inputs = sitePlanInputs(db, site, defaultInternal());
  const config = defaultConfig();
  config.sensor = { ...config.sensor, id: "central", site };
  if (inputs.baseline.internal.length > 0) config.networks.internal = [...inputs.baseline.internal];
  const plan = buildPlan({
    baseline: inputs.baseline,
    devices: inputs.devices,
    findings: inputs.findings,
    config,
    // The shipped device profiles (the central has no site profiles of its own).
    portsOutsideProfile: outsideProfile([]),
    // The sensors whose baselines it is made of, as the site/sensor of their topics.
    source: { kind: "store", files: inputs.contributors.map((sensor) => `${site}/${sensor}`) },
    generatedAt: isoFromDate(now),
  });
  plan.site = site;
  plan.sensor = null;
  if (format === "json") return { plan, text: null, inputs };
  let text = RENDERERS[format](plan);
  if (format === "md" && inputs.notes.length > 0) {
    // After the title line, when the Markdown starts with one.
    const notes =
      inputs.notes.map((n) => `> ${n.replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`)}`).join("\n>\n") + "\n\n";
    const nl = text.indexOf("\n");
    text =
      text.startsWith("# ") && nl >= 0
        ? `${text.slice(0, nl + 1)}\n${notes}${text.slice(nl + 1).replace(/^\n/, "")}`
        : notes + text;
  }
  return { plan, text, inputs };
}
