/**
 * The central console's benchmark (issue 12), `npm run bench -- --only central`:
 *
 * 1. Broker to store. 100 sensors, each with its own certificate of the site PKI, publish findings over
 *    mutual TLS to a real mosquitto the way the agent does (each finding on the `findings` stream, QoS 1,
 *    and retained on `findings/{id}`); `dicomtap central`'s Ingest writes them into its SQLite store.
 *    Measured: findings per second from the first publish to the last finding in the store. Beside it, the
 *    reference on the same broker and the same load: a bare MQTT subscriber with the same subscriptions
 *    that only counts (what the broker and mqtt.js deliver at most). The ratio is the share of the broker's
 *    delivery rate the central keeps up with. Each side runs on a fresh broker (no retained leftovers).
 * 2. Pages and API. A store seeded through the same write path with 10 000 devices and 50 000 findings
 *    (100 sensors; records made from the real ones `dicomtap analyze` reports for the bundled sample and
 *    lab captures, with their ids, addresses and AE titles varied), served by CentralHttp on loopback;
 *    p50 and p99 response times of the pages the web application loads and of the API routes, with a
 *    bearer token, sequential requests on a kept-alive connection. Beside three lists, a naive reference:
 *    the same page selected straight from the table (`SELECT * ... ORDER BY ... LIMIT 50`, what a list
 *    costs without the covering indexes of store migration 3), SQL alone without HTTP or JSON.
 *
 * Timing is wall clock on a shared machine: the best of the runs is reported for throughput, and
 * percentiles over many requests for latency. Nothing here is a test; tests check behaviour.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import mqtt, { type MqttClient } from "mqtt";
import { CentralStore, loadReport } from "../../agent/central/store.js";
import { Ingest } from "../../agent/central/ingest.js";
import { CentralHttp } from "../../agent/central/http/server.js";
import { addToken } from "../../agent/central/auth.js";
import { defaultWebRoots } from "../../agent/central/cli.js";
import { defaultCentral } from "../../agent/config/config.js";
import type { DeviceRecord, FindingRecord, Report } from "../../agent/report/types.js";
import { Mosquitto, SitePki, tempDir, removeDir, cleanUpOnExit } from "../lib/mosquitto.js";

export interface CentralBenchOptions {
  /** A report of real records (analyze --json) the synthetic ones are made from. */
  report: Pick<Report, "devices" | "findings">;
  sensors: number;
  /** Findings each sensor publishes in the ingest phase. */
  findingsPerSensor: number;
  devices: number;
  findings: number;
  /** Requests per route in the API phase. */
  requests: number;
  runs: number;
  dir: string;
  log: (msg: string) => void;
}

export interface IngestRun {
  findings: number;
  messages: number;
  seconds: number;
  perSecond: number;
}

export interface RouteTiming {
  route: string;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** The naive reference: the same page straight from the table, SQL alone (three lists); else null. */
  sqlP50Ms: number | null;
  bytes: number;
}

export interface CentralBenchResult {
  sensors: number;
  central: IngestRun;
  reference: IngestRun;
  seeded: { devices: number; findings: number; seconds: number; storeBytes: number };
  routes: RouteTiming[];
}

const SITE = "bench-site";
const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;

/** Finding `n` of sensor `s`: a real record with its id, device and times varied. */
function findingFor(base: readonly FindingRecord[], s: number, n: number, devices: number): FindingRecord {
  const f = base[n % base.length]!;
  const t = new Date(Date.UTC(2026, 10, 1) + n * 60_000).toISOString();
  return {
    ...f,
    id: `f-${s.toString(16).padStart(4, "0")}${n.toString(16).padStart(12, "0")}`,
    severity: SEVERITIES[(n * 7 + s) % SEVERITIES.length]!,
    device: deviceId(s, n % devices),
    firstSeen: t,
    lastSeen: t,
    count: 1 + (n % 17),
  };
}

function deviceId(s: number, d: number): string {
  return `mac-02${s.toString(16).padStart(4, "0")}${d.toString(16).padStart(6, "0")}-10.${String(s & 255)}.${String(d >> 8)}.${String(d & 255)}`;
}

/** Device `d` of sensor `s`: a real record with its id, address and AE titles varied. */
function deviceFor(base: readonly DeviceRecord[], s: number, d: number): DeviceRecord {
  const r = base[d % base.length]!;
  return {
    ...r,
    id: deviceId(s, d),
    ip: `10.${String(s & 255)}.${String(d >> 8)}.${String(d & 255)}`,
    aeTitles: r.aeTitles.length > 0 ? [`AE${String(s)}_${String(d)}`.slice(0, 16)] : [],
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- phase 1: broker to store ----

async function connect(url: string, ca: string, cert: string, key: string, id: string): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    ca: readFileSync(ca),
    cert: readFileSync(cert),
    key: readFileSync(key),
    rejectUnauthorized: true,
    clientId: id,
    clean: true,
    reconnectPeriod: 0,
  });
  await new Promise<void>((res, rej) => {
    client.once("connect", () => res());
    client.once("error", rej);
  });
  client.on("error", () => undefined);
  return client;
}

/** Publishes what `sensors` agents would: each finding on the stream and retained on its state topic. */
async function publishAll(
  clients: readonly MqttClient[],
  base: readonly FindingRecord[],
  perSensor: number,
): Promise<number> {
  let messages = 0;
  await Promise.all(
    clients.map(async (c, s) => {
      const sensor = `s${String(s)}`;
      const root = `dicomtap/v1/${SITE}/${sensor}/`;
      for (let n = 0; n < perSensor; n++) {
        const finding = findingFor(base, s, n, 100);
        const revision = 1;
        const messageId = `${SITE}/${sensor}/finding/${finding.id}/${String(revision)}`;
        const payload = JSON.stringify({ messageId, site: SITE, sensor, revision, finding });
        const state = JSON.stringify({
          messageId: messageId + "/state",
          site: SITE,
          sensor,
          revision,
          finding,
        });
        await Promise.all([
          c.publishAsync(root + "findings", payload, { qos: 1 }),
          c.publishAsync(root + "findings/" + finding.id, state, { qos: 1, retain: true }),
        ]);
        messages += 2;
      }
    }),
  );
  return messages;
}

async function ingestRun(o: CentralBenchOptions, side: "central" | "reference"): Promise<IngestRun> {
  const dir = tempDir("dicomtap-bench-central-");
  try {
    const pki = await SitePki.create(dir, SITE);
    const broker = await Mosquitto.start({
      pki,
      autosaveSeconds: null,
      extra: ["max_queued_messages 1000000", "max_inflight_messages 0"],
    });
    try {
      const clients: MqttClient[] = [];
      for (let s = 0; s < o.sensors; s++) {
        const p = await pki.sensor(`s${String(s)}`);
        clients.push(await connect(broker.url(), pki.ca, p.cert, p.key, `bench-s${String(s)}`));
      }
      const total = o.sensors * o.findingsPerSensor;
      let done: () => number;
      let stop: () => Promise<void>;
      if (side === "central") {
        const store = CentralStore.open(join(dir, "central.db"), {
          maxBytes: 1 << 30,
          retention: defaultCentral().retention,
        });
        const ingest = new Ingest({
          store,
          broker: { url: broker.url(), ca: pki.ca, cert: pki.console.cert, key: pki.console.key },
          shareGroup: "bench",
          clientId: "bench-central",
          log: () => undefined,
        });
        ingest.start();
        await ingest.whenSubscribed();
        const count = store.db.prepare("SELECT count(*) AS n FROM findings");
        done = () => (count.get() as { n: number }).n;
        stop = async () => {
          await ingest.stop();
          store.close();
        };
      } else {
        // The reference: the same subscriptions, each delivery only counted (findings by id, once).
        const c = await connect(broker.url(), pki.ca, pki.console.cert, pki.console.key, "bench-reference");
        const seen = new Set<string>();
        c.on("message", (topic, payload) => {
          if (!topic.includes("/findings")) return;
          const id = (JSON.parse(payload.toString()) as { finding?: { id?: string } }).finding?.id;
          if (id !== undefined) seen.add(topic.split("/")[3] + "/" + id);
        });
        await c.subscribeAsync(
          [
            "$share/bench/dicomtap/v1/+/+/findings",
            "dicomtap/v1/+/+/findings/+",
            "dicomtap/v1/+/+/devices/+",
            "dicomtap/v1/+/+/status",
          ],
          { qos: 1 },
        );
        done = () => seen.size;
        stop = async () => {
          await c.endAsync();
        };
      }
      const t0 = performance.now();
      const messages = await publishAll(clients, o.report.findings, o.findingsPerSensor);
      while (done() < total) {
        if (performance.now() - t0 > 600_000)
          throw new Error(`${side}: only ${String(done())} of ${String(total)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const seconds = (performance.now() - t0) / 1000;
      await stop();
      await Promise.all(clients.map((c) => c.endAsync()));
      return { findings: total, messages, seconds, perSecond: total / seconds };
    } finally {
      await broker.stop();
    }
  } finally {
    removeDir(dir);
  }
}

// ---- phase 2: pages and API ----

function get(
  agent: Agent,
  port: number,
  path: string,
  token: string,
): Promise<{ status: number; bytes: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(
      { host: "127.0.0.1", port, path, agent, headers: { authorization: `Bearer ${token}` } },
      (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (d: Buffer) => chunks.push(d));
        r.on("end", () => {
          const body = Buffer.concat(chunks);
          res({ status: r.statusCode ?? 0, bytes: body.length, body: body.toString() });
        });
        r.on("error", rej);
      },
    );
    req.on("error", rej);
    req.end();
  });
}

async function apiRun(o: CentralBenchOptions): Promise<Pick<CentralBenchResult, "seeded" | "routes">> {
  const dir = join(o.dir, "central-api");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const store = CentralStore.open(join(dir, "central.db"), {
    maxBytes: 4 << 30,
    retention: defaultCentral().retention,
  });
  const t0 = performance.now();
  const perSensorDevices = Math.ceil(o.devices / o.sensors);
  const perSensorFindings = Math.ceil(o.findings / o.sensors);
  for (let s = 0; s < o.sensors; s++) {
    const devices = Array.from({ length: perSensorDevices }, (_, d) => deviceFor(o.report.devices, s, d));
    const findings = Array.from({ length: perSensorFindings }, (_, n) =>
      findingFor(o.report.findings, s, n, perSensorDevices),
    );
    store.db.transaction(() =>
      loadReport(store, { devices, findings }, { site: SITE, sensor: `s${String(s)}` }),
    )();
  }
  const seeded = {
    devices: (store.db.prepare("SELECT count(*) AS n FROM devices").get() as { n: number }).n,
    findings: (store.db.prepare("SELECT count(*) AS n FROM findings").get() as { n: number }).n,
    seconds: (performance.now() - t0) / 1000,
    storeBytes: store.usedBytes(),
  };
  o.log(
    `seeded ${String(seeded.devices)} devices, ${String(seeded.findings)} findings in ${seeded.seconds.toFixed(1)} s`,
  );
  const { secret } = addToken(store.db, "bench", "analyst");
  const http = new CentralHttp({
    db: store.db,
    listen: { host: "127.0.0.1", port: 0 },
    tls: null,
    webRoots: defaultWebRoots(),
    log: () => undefined,
  });
  await http.start();
  const port = http.address().port;
  const somePk = (sql: string): number => (store.db.prepare(sql).get() as { pk: number }).pk;
  const devicePk = somePk("SELECT pk FROM devices ORDER BY pk LIMIT 1 OFFSET 5000");
  const findingPk = somePk("SELECT pk FROM findings ORDER BY pk LIMIT 1 OFFSET 25000");
  const ae = `AE${String(Math.floor(o.sensors / 2))}_`;
  const routes: Array<{ path: string; requests?: number; sql?: string }> = [
    { path: "/" },
    { path: "/api/v1/overview" },
    { path: "/api/v1/sensors" },
    { path: "/api/v1/devices?limit=50", sql: "SELECT * FROM devices ORDER BY last_seen DESC, pk LIMIT 50" },
    {
      path: `/api/v1/devices?q=${ae}&limit=50`,
      sql: `SELECT * FROM devices WHERE search LIKE '%${ae.toLowerCase()}%' ORDER BY last_seen DESC LIMIT 50`,
    },
    { path: "/api/v1/devices?sort=ip&offset=9000&limit=50" },
    { path: `/api/v1/devices/${String(devicePk)}` },
    {
      path: "/api/v1/findings?limit=50",
      sql: "SELECT * FROM findings WHERE lifecycle = 'open' ORDER BY severity_rank DESC, last_seen DESC LIMIT 50",
    },
    { path: "/api/v1/findings?severity=high&state=open&limit=50" },
    { path: "/api/v1/findings?sort=-lastSeen&offset=45000&limit=100" },
    { path: `/api/v1/findings/${String(findingPk)}` },
    { path: "/api/v1/findings.csv", requests: 5 },
    { path: "/api/v1/devices.csv", requests: 5 },
  ];
  const timings: RouteTiming[] = [];
  try {
    for (const r of routes) {
      const n = r.requests ?? o.requests;
      // A connection of its own per route, kept alive across its requests: one left idle while the previous
      // route's SQL reference ran would meet the server's keep-alive timeout (a reset on reuse).
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const first = await get(agent, port, r.path, secret);
      if (first.status !== 200)
        throw new Error(`${r.path}: HTTP ${String(first.status)} ${first.body.slice(0, 200)}`);
      const ms: number[] = [];
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const res = await get(agent, port, r.path, secret);
        ms.push(performance.now() - t);
        bytes = res.bytes;
      }
      ms.sort((a, b) => a - b);
      let sqlP50Ms: number | null = null;
      if (r.sql !== undefined) {
        const stmt = store.db.prepare(r.sql);
        const sqlMs: number[] = [];
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          stmt.all();
          sqlMs.push(performance.now() - t);
        }
        sqlMs.sort((a, b) => a - b);
        sqlP50Ms = percentile(sqlMs, 50);
      }
      agent.destroy();
      timings.push({
        route: r.path,
        requests: n,
        p50Ms: percentile(ms, 50),
        p99Ms: percentile(ms, 99),
        sqlP50Ms,
        bytes,
      });
      o.log(`${r.path}: p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms`);
    }
  } finally {
    await http.stop();
    store.close();
  }
  return { seeded, routes: timings };
}

export async function runCentralBench(o: CentralBenchOptions): Promise<CentralBenchResult> {
  cleanUpOnExit();
  let central: IngestRun | null = null;
  let reference: IngestRun | null = null;
  for (let i = 0; i < o.runs; i++) {
    const r = await ingestRun(o, "reference");
    o.log(`reference subscriber: ${String(r.findings)} findings in ${r.seconds.toFixed(2)} s`);
    if (reference === null || r.seconds < reference.seconds) reference = r;
    const c = await ingestRun(o, "central");
    o.log(`central: ${String(c.findings)} findings in ${c.seconds.toFixed(2)} s`);
    if (central === null || c.seconds < central.seconds) central = c;
  }
  const api = await apiRun(o);
  return { sensors: o.sensors, central: central!, reference: reference!, ...api };
}

export function formatCentral(r: CentralBenchResult): string {
  const lines = [
    `central console (issue 12): broker to store, ${String(r.sensors)} sensors over mutual TLS, best run`,
    `  central (Ingest -> SQLite)   ${String(r.central.findings)} findings (${String(r.central.messages)} messages) in ${r.central.seconds.toFixed(2)} s: ${Math.round(r.central.perSecond).toString()} findings/s`,
    `  reference (count only)       ${String(r.reference.findings)} findings in ${r.reference.seconds.toFixed(2)} s: ${Math.round(r.reference.perSecond).toString()} findings/s`,
    `  ratio central / reference    ${(r.central.perSecond / r.reference.perSecond).toFixed(2)}`,
    "",
    `pages and API with ${String(r.seeded.devices)} devices and ${String(r.seeded.findings)} findings (store ${(r.seeded.storeBytes / 2 ** 20).toFixed(0)} MiB, seeded in ${r.seeded.seconds.toFixed(1)} s)`,
    "  route                                                   p50 ms   p99 ms   SQL p50 ms   bytes",
    ...r.routes.map(
      (t) =>
        `  ${t.route.padEnd(55)} ${t.p50Ms.toFixed(1).padStart(7)} ${t.p99Ms.toFixed(1).padStart(8)} ${(t.sqlP50Ms === null ? "" : t.sqlP50Ms.toFixed(1)).padStart(12)} ${String(t.bytes).padStart(8)}`,
    ),
  ];
  return lines.join("\n") + "\n";
}
