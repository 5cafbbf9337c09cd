/**
 * Test helper: fills a central store with real sensor records — the reports `dicomtap analyze` makes of
 * the repository's captures (samples/imaging-room.pcap, run here through the command line, and the lab
 * captures' committed reports in test/fixtures/lab/reports) — as the HTTP tests' data.
 *
 * The rows are written with SQL in the shape agent/central/schema.ts documents, filling the filter
 * columns the way the store's write API does (toolkit "name version", the search text, exposure, the
 * remediation step). When the central store (agent/central/store.ts) is merged, this helper is meant
 * to go through its write API instead; the tests do not change.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "../../agent/central/http/db.js";
import type { DeviceRecord, FindingRecord, Report } from "../../agent/report/types.js";
import { runCli } from "../helpers/cli.js";

const SEVERITY_RANK: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** The remediation step each rule points to (DESIGN.md §5's "points to" column; the first named). */
const STEP: Record<string, string> = {
  "dicom.cleartext": "tls",
  "dicom.external-peer": "firewall",
  "dicom.any-ae-accepted": "access-control",
  "dicom.ae-scan": "firewall",
  "dicom.scanner": "firewall",
  "dicom.cleartext-credentials": "tls",
  "dicom.bulk-query": "access-control",
  "dicom.unknown-move-destination": "access-control",
  "dicom.default-port": "close-ports",
  "net.risky-service": "close-ports",
  "tls.weak": "tls",
  "dicom.duplicate-ae-title": "access-control",
  "net.smbv1": "close-ports",
  "net.rdp-weak-security": "close-ports",
  "net.vnc": "close-ports",
  "net.vnc-no-auth": "close-ports",
  "net.cleartext-login": "close-ports",
  "net.remote-access-external": "vpn",
  "baseline.new-peer": "access-control",
  "baseline.new-service": "firewall",
  "baseline.new-operation": "access-control",
  "net.port-outside-profile": "firewall",
};

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

function toolkit(d: DeviceRecord): string | null {
  const t = d.toolkit as { name?: unknown; version?: unknown } | null | undefined;
  if (t === null || t === undefined || typeof t.name !== "string") return null;
  return typeof t.version === "string" ? `${t.name} ${t.version}` : t.name;
}

export interface SeedOptions {
  site: string;
  sensor: string;
  report: Report;
  /** Central time of the messages. */
  now: Date;
  state?: "online" | "offline";
  /** Health samples (one a minute, ending at `now`). */
  healthSamples?: number;
}

/** Writes one sensor's report: the sensor, its devices, findings with an "opened" event, health samples. */
export function seedSensor(db: Db, o: SeedOptions): { sensorPk: number; devices: number; findings: number } {
  const at = o.now.toISOString();
  return db.transaction(() => {
    const health = {
      time: at,
      capture: { packets: o.report.stats.packets, bytes: o.report.stats.bytes, drops: 0 },
      outbox: { depth: 0 },
    };
    const sensorPk = Number(
      db
        .prepare(
          `INSERT INTO sensors (site, sensor, state, version, started_at, state_at, last_message_at, health, health_at)
           VALUES (?, ?, ?, '0.1.0', ?, ?, ?, ?, ?)`,
        )
        .run(o.site, o.sensor, o.state ?? "online", at, at, at, JSON.stringify(health), at).lastInsertRowid,
    );
    const samples = o.healthSamples ?? 5;
    const h = db.prepare(
      "INSERT INTO sensor_health (sensor_pk, at, packets, bytes, drops, outbox_depth, rss_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    for (let i = 0; i < samples; i++) {
      const t = new Date(o.now.getTime() - (samples - 1 - i) * 60_000).toISOString();
      const share = (i + 1) / samples;
      h.run(
        sensorPk,
        t,
        Math.round(o.report.stats.packets * share),
        Math.round(o.report.stats.bytes * share),
        i,
        i,
        50 << 20,
      );
    }
    const external = new Set(
      o.report.findings
        .filter((f) => f.rule === "dicom.external-peer")
        .map((f) => f.device)
        .filter((d) => d !== null),
    );
    const devPk = new Map<string, number>();
    const dev = db.prepare(
      `INSERT INTO devices (sensor_pk, device_id, revision, record, ip, mac, class, modality, manufacturer, model, toolkit,
         ae_titles, ports, peer_count, exposure, search, first_seen, last_seen, received_at)
       VALUES (@sensor, @id, 1, @record, @ip, @mac, @class, @modality, @manufacturer, @model, @toolkit, @ae, @ports,
         @peers, @exposure, @search, @first, @last, @at)`,
    );
    for (const d of o.report.devices) {
      const tk = toolkit(d);
      const cls = typeof d.class === "string" ? d.class : null;
      const peers = Array.isArray(d.peers) ? d.peers.length : 0;
      const search = [
        d.ip,
        d.mac,
        ...d.aeTitles,
        d.manufacturer,
        d.model,
        d.modality,
        tk,
        d.stationName,
        d.hostName,
        cls,
        ...d.listeningPorts,
      ]
        .filter((x) => x !== null && x !== undefined)
        .join(" ")
        .toLowerCase();
      const r = dev.run({
        sensor: sensorPk,
        id: d.id,
        record: JSON.stringify(d),
        ip: d.ip,
        mac: d.mac,
        class: cls,
        modality: d.modality,
        manufacturer: d.manufacturer,
        model: d.model,
        toolkit: tk,
        ae: d.aeTitles.join(" "),
        ports: d.listeningPorts.join(" "),
        peers,
        exposure: external.has(d.id) ? "external" : "internal",
        search,
        first: d.firstSeen,
        last: d.lastSeen,
        at,
      });
      devPk.set(d.id, Number(r.lastInsertRowid));
    }
    const fnd = db.prepare(
      `INSERT INTO findings (sensor_pk, finding_id, revision, record, rule, severity, severity_rank, step, device_id, device_pk,
         peer_id, title, first_seen, last_seen, count, lifecycle, lifecycle_at, received_at)
       VALUES (@sensor, @id, 1, @record, @rule, @severity, @rank, @step, @device, @devicePk, @peer, @title, @first, @last,
         @count, 'open', @at, @at)`,
    );
    const ev = db.prepare(
      "INSERT INTO finding_events (finding_pk, at, kind, actor, detail) VALUES (?, ?, 'opened', NULL, ?)",
    );
    for (const f of o.report.findings as FindingRecord[]) {
      const r = fnd.run({
        sensor: sensorPk,
        id: f.id,
        record: JSON.stringify(f),
        rule: f.rule,
        severity: f.severity,
        rank: SEVERITY_RANK[f.severity] ?? 0,
        step: STEP[f.rule] ?? "other",
        device: f.device,
        devicePk: f.device === null ? null : (devPk.get(f.device) ?? null),
        peer: f.peer,
        title: f.title,
        first: f.firstSeen,
        last: f.lastSeen,
        count: f.count,
        at,
      });
      ev.run(Number(r.lastInsertRowid), at, JSON.stringify({ revision: 1 }));
    }
    return { sensorPk, devices: o.report.devices.length, findings: o.report.findings.length };
  })();
}
