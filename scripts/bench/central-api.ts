/**
 * The central console's page and API response times (issue 12's benchmark): a store of 10 000 devices and
 * 50 000 findings from 100 sensors, written through the store's own write path (CentralStore.device and
 * .finding, as ingest writes them), then the requests the web application makes — list pages with and
 * without filters, sorts, detail pages, the overview, exports — each timed over a real HTTP connection
 * to a real CentralHttp; p50 and p99 per request.
 *
 * The records are the real ones `dicomtap analyze` makes of samples/imaging-room.pcap, copied per sensor
 * with their ids and addresses renumbered, so the JSON sizes and the filter columns are those of real
 * devices and findings.
 *
 *   node dist/scripts/bench/central-api.js [--devices 10000] [--findings 50000] [--sensors 100] [--runs 50]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { addToken } from "../../agent/central/auth.js";
import { openCentralStore } from "../../agent/central/http/db.js";
import { CentralHttp } from "../../agent/central/http/server.js";
import type { DeviceRecord, FindingRecord, Report } from "../../agent/report/types.js";
import { installRoot } from "../../agent/util/root.js";

export interface CentralApiOptions {
  devices: number;
  findings: number;
  sensors: number;
  runs: number;
}

export interface CentralApiRow {
  name: string;
  path: string;
  p50Ms: number;
  p99Ms: number;
  bytes: number;
}

export interface CentralApiResult {
  seedSeconds: number;
  storeBytes: number;
  rows: CentralApiRow[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function get(base: string, path: string, token: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      { headers: { Authorization: `Bearer ${token}` }, agent: false },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The imaging room's report: `dicomtap analyze` run now, so the records are this build's. */
function sampleReport(root: string): Report {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-bench-central-"));
  try {
    const out = join(dir, "report.json");
    const r = spawnSync(
      process.execPath,
      [
        join(root, "bin", "dicomtap.js"),
        "analyze",
        join(root, "samples", "imaging-room.pcap"),
        "--json",
        out,
        "-q",
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`analyze: ${r.stderr}`);
    return JSON.parse(readFileSync(out, "utf8")) as Report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runCentralApi(o: CentralApiOptions): Promise<CentralApiResult> {
  const root = installRoot();
  if (root === null) throw new Error("no dicomtap installation root");
  const report = sampleReport(root);
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-bench-central-"));
  const store = openCentralStore(join(dir, "central.db"), { maxBytes: 8 << 30 });
  try {
    const t0 = performance.now();
    const perSensorDevices = Math.ceil(o.devices / o.sensors);
    const perSensorFindings = Math.ceil(o.findings / o.sensors);
    const now = new Date();
    let devices = 0;
    let findings = 0;
    for (let s = 0; s < o.sensors; s++) {
      const site = `site-${s % 10}`;
      const sensor = `room-${s}`;
      const ids: string[] = [];
      store.db.transaction(() => {
        for (let i = 0; i < perSensorDevices && devices < o.devices; i++, devices++) {
          const base = report.devices[i % report.devices.length]!;
          const ip = `10.${s}.${i >> 8}.${i & 255}`;
          const d: DeviceRecord = {
            ...base,
            id: `dev-${ip}`,
            ip,
            aeTitles: base.aeTitles.map((a) => `${a}_${i}`.slice(0, 16)),
          };
          ids.push(d.id);
          store.device(
            site,
            sensor,
            { messageId: `${sensor}/d/${i}`, site, sensor, revision: 1, device: d },
            now,
          );
        }
        for (let i = 0; i < perSensorFindings && findings < o.findings; i++, findings++) {
          const base = report.findings[i % report.findings.length]!;
          const f: FindingRecord = { ...base, id: `f-${s}-${i}`, device: ids[i % ids.length] ?? null };
          store.finding(
            site,
            sensor,
            { messageId: `${sensor}/f/${i}`, site, sensor, revision: 1, finding: f },
            now,
          );
        }
      })();
    }
    const seedSeconds = (performance.now() - t0) / 1000;
    const token = addToken(store.db, "bench", "viewer").secret;
    const http = new CentralHttp({
      db: store.db,
      listen: { host: "127.0.0.1", port: 0 },
      tls: null,
      webRoots: [],
    });
    await http.start();
    try {
      const base = http.address().url;
      // A sensor in the middle: its devices' addresses are 10.{sensor}.x.y.
      const mid = Math.floor(o.sensors / 2);
      const requests: Array<[string, string, number]> = [
        ["devices: first page", "/api/v1/devices", o.runs],
        [
          "devices: a middle page by IP",
          `/api/v1/devices?offset=${Math.floor(o.devices / 2)}&limit=50&sort=ip`,
          o.runs,
        ],
        ["devices: search", `/api/v1/devices?q=10.${mid}.`, o.runs],
        ["devices: by AE title", "/api/v1/devices?ae=ARCHIVE_7", o.runs],
        ["devices: most open findings", "/api/v1/devices?sort=-openFindings", o.runs],
        ["device page", `/api/v1/devices/${Math.ceil(o.devices / 2)}`, o.runs],
        ["findings: first page", "/api/v1/findings", o.runs],
        ["findings: open, high+critical", "/api/v1/findings?state=open&severity=high,critical", o.runs],
        ["findings: by rule, by step", "/api/v1/findings?rule=dicom.cleartext&step=tls", o.runs],
        ["findings: search", `/api/v1/findings?q=10.${mid}.`, o.runs],
        ["finding page", `/api/v1/findings/${Math.ceil(o.findings / 2)}`, o.runs],
        ["overview (30 days)", "/api/v1/overview", o.runs],
        ["sensors", "/api/v1/sensors", o.runs],
        ["devices.csv (all)", "/api/v1/devices.csv", Math.max(3, Math.floor(o.runs / 10))],
        ["findings.json (all)", "/api/v1/findings.json", Math.max(3, Math.floor(o.runs / 10))],
      ];
      const rows: CentralApiRow[] = [];
      for (const [name, path, runs] of requests) {
        const times: number[] = [];
        let bytes = 0;
        for (let i = 0; i < runs; i++) {
          const t = performance.now();
          const r = await get(base, path, token);
          times.push(performance.now() - t);
          if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
          bytes = r.bytes;
        }
        times.sort((a, b) => a - b);
        rows.push({ name, path, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), bytes });
      }
      return { seedSeconds, storeBytes: store.usedBytes(), rows };
    } finally {
      await http.stop();
    }
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatCentralApi(o: CentralApiOptions, r: CentralApiResult): string {
  const lines = [
    `central API: ${o.devices} devices, ${o.findings} findings, ${o.sensors} sensors (store ${(r.storeBytes / 2 ** 20).toFixed(0)} MiB, written in ${r.seedSeconds.toFixed(1)} s)`,
    `${"request".padEnd(32)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"bytes".padStart(10)}`,
    ...r.rows.map(
      (x) =>
        `${x.name.padEnd(32)} ${x.p50Ms.toFixed(1).padStart(8)} ${x.p99Ms.toFixed(1).padStart(8)} ${String(x.bytes).padStart(10)}`,
    ),
  ];
  return lines.join("\n") + "\n";
}

function parseArgs(argv: string[]): CentralApiOptions {
  const o: CentralApiOptions = { devices: 10_000, findings: 50_000, sensors: 100, runs: 50 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = Number(argv[i + 1]);
    const key = {
      "--devices": "devices",
      "--findings": "findings",
      "--sensors": "sensors",
      "--runs": "runs",
    }[a] as keyof CentralApiOptions | undefined;
    if (key === undefined || !Number.isSafeInteger(v) || v < 1)
      throw new Error(`usage: central-api [--devices N] [--findings N] [--sensors N] [--runs N] (${a}?)`);
    o[key] = v;
    i++;
  }
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const o = parseArgs(process.argv.slice(2));
  process.stdout.write(formatCentralApi(o, await runCentralApi(o)));
}
