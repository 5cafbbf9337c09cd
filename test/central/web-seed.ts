/**
 * Fills a central store with real sensor records for the web application's browser test and for trying the
 * console at scale: the devices and findings of `dicomtap analyze --json` on a lab capture, written into the
 * tables of agent/central/schema.ts the way the ingest does (filter columns, the remediation step, an
 * 'opened' event), plus a health series per sensor for the overview's charts.
 *
 * Why SQL here and not the store's write API: the store and ingest (agent/central/store.ts) are built on
 * another branch at the same time as the web application; when they are merged, `seedReport` should call
 * CentralStore.device/finding instead, and this file keeps only the scaling of `seedScale`.
 *
 * `seedScale` multiplies the real records (new ids and addresses, the same shapes) to the sizes of the
 * issue's benchmark (10 000 devices, 50 000 findings) to see that the console stays fast.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Db } from "../../agent/central/http/db.js";
import type { DeviceRecord, FindingRecord, Report } from "../../agent/report/types.js";

const SEVERITY_RANK: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** DESIGN.md §5's "points to", first step named (patching, inventory, investigation: "other"). */
const STEP_OF_RULE: Record<string, string> = {
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
  "baseline.new-service": "access-control",
  "baseline.new-operation": "access-control",
  "net.port-outside-profile": "firewall",
};

export function stepOfRule(rule: string): string {
  return STEP_OF_RULE[rule] ?? "other";
}

/** The report of `dicomtap analyze --json` on a capture, made by the real CLI (bin/dicomtap.js). */
export function analyzeCapture(pcap: string, outJson: string): Report {
  execFileSync(process.execPath, ["bin/dicomtap.js", "analyze", pcap, "--json", outJson], {
    stdio: "ignore",
  });
  return JSON.parse(readFileSync(outJson, "utf8")) as Report;
}

interface SensorId {
  site: string;
  sensor: string;
}

/** The sensor's row (created online with a health record and 48 h of health series). */
export function seedSensor(
  db: Db,
  s: SensorId,
  now: Date,
  opts: { state?: string; packets?: number; bytes?: number } = {},
): number {
  const existing = db
    .prepare("SELECT pk FROM sensors WHERE site = ? AND sensor = ?")
    .get(s.site, s.sensor) as { pk: number } | undefined;
  if (existing) return existing.pk;
  const iso = now.toISOString();
  const started = new Date(now.getTime() - 48 * 3600e3).toISOString();
  const packets = opts.packets ?? 1_000_000;
  const bytes = opts.bytes ?? 800_000_000;
  const health = {
    time: iso,
    uptimeSeconds: 48 * 3600,
    capture: { packets, bytes, drops: 0, kernelDrops: 0, interfaceDrops: 0 },
    outbox: { depth: 0, evicted: 0 },
  };
  const pk = Number(
    db
      .prepare(
        `INSERT INTO sensors (site, sensor, state, version, started_at, state_at, last_message_at, health, health_at)
         VALUES (?, ?, ?, '0.1.0', ?, ?, ?, ?, ?)`,
      )
      .run(s.site, s.sensor, opts.state ?? "online", started, started, iso, JSON.stringify(health), iso)
      .lastInsertRowid,
  );
  // Cumulative counters every 10 minutes, growing with a day/night shape, as a sensor's health messages do.
  const insert = db.prepare(
    "INSERT INTO sensor_health (sensor_pk, at, packets, bytes, drops, outbox_depth, rss_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const steps = 48 * 6;
  let p = 0;
  let b = 0;
  let d = 0;
  for (let i = 0; i <= steps; i++) {
    const t = now.getTime() - (steps - i) * 600e3;
    const hour = new Date(t).getUTCHours();
    const load = 0.25 + 0.75 * Math.max(0, Math.sin(((hour - 6) / 24) * 2 * Math.PI));
    p += Math.round((packets / steps) * load * 1.3);
    b += Math.round((bytes / steps) * load * 1.3);
    if (i % 97 === 40) d += 12;
    insert.run(pk, new Date(t).toISOString(), p, b, d, i % 50 === 0 ? 4 : 0, 60_000_000);
  }
  return pk;
}

function words(v: unknown): string[] {
  return Array.isArray(v) ? v.map((x) => String(x)) : [];
}

function toolkitOf(rec: DeviceRecord): string | null {
  const tk = rec.toolkit as { name?: string; version?: string | null } | null | undefined;
  if (!tk || typeof tk.name !== "string") return null;
  return tk.version ? `${tk.name} ${tk.version}` : tk.name;
}

/** Inserts (or replaces) one device row, as the ingest does; returns its pk. */
export function seedDevice(
  db: Db,
  sensorPk: number,
  rec: DeviceRecord,
  exposure: "internal" | "external",
  receivedAt: string,
): number {
  const aes = words(rec.aeTitles);
  const ports = words(rec.listeningPorts);
  const toolkit = toolkitOf(rec);
  const str = (v: unknown): string => (typeof v === "string" ? v : "");
  const search = [
    rec.ip,
    rec.mac,
    ...aes,
    rec.manufacturer,
    rec.model,
    rec.modality,
    toolkit,
    rec.stationName,
    str(rec.hostName),
    str(rec.class),
    ...ports,
  ]
    .filter((x) => x !== null && x !== undefined && x !== "")
    .join(" ")
    .toLowerCase();
  const r = db
    .prepare(
      `INSERT INTO devices (sensor_pk, device_id, revision, record, ip, mac, class, modality, manufacturer, model, toolkit,
         ae_titles, ports, peer_count, exposure, search, first_seen, last_seen, received_at)
       VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      sensorPk,
      rec.id,
      JSON.stringify(rec),
      rec.ip,
      rec.mac,
      typeof rec.class === "string" ? rec.class : null,
      rec.modality,
      rec.manufacturer,
      rec.model,
      toolkit,
      aes.join(" "),
      ports.join(" "),
      words(rec.peers).length,
      exposure,
      search,
      rec.firstSeen,
      rec.lastSeen,
      receivedAt,
    );
  return Number(r.lastInsertRowid);
}

/** Inserts one open finding with its 'opened' event; returns its pk. */
export function seedFinding(
  db: Db,
  sensorPk: number,
  rec: FindingRecord,
  receivedAt: string,
  lifecycle: "open" | "resolved" = "open",
): number {
  const devicePk = rec.device
    ? ((
        db
          .prepare("SELECT pk FROM devices WHERE sensor_pk = ? AND device_id = ?")
          .get(sensorPk, rec.device) as { pk: number } | undefined
      )?.pk ?? null)
    : null;
  const r = db
    .prepare(
      `INSERT INTO findings (sensor_pk, finding_id, revision, record, rule, severity, severity_rank, step, device_id, device_pk,
         peer_id, title, first_seen, last_seen, count, lifecycle, lifecycle_at, received_at)
       VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      sensorPk,
      rec.id,
      JSON.stringify(rec),
      rec.rule,
      rec.severity,
      SEVERITY_RANK[rec.severity] ?? 0,
      stepOfRule(rec.rule),
      rec.device,
      devicePk,
      rec.peer,
      rec.title,
      rec.firstSeen,
      rec.lastSeen,
      rec.count,
      lifecycle,
      receivedAt,
      receivedAt,
    );
  const pk = Number(r.lastInsertRowid);
  const ev = db.prepare(
    "INSERT INTO finding_events (finding_pk, at, kind, actor, detail) VALUES (?, ?, ?, NULL, ?)",
  );
  ev.run(pk, receivedAt, "opened", JSON.stringify({ revision: 1 }));
  if (lifecycle === "resolved") {
    const later = new Date(new Date(receivedAt).getTime() + 3 * 3600e3).toISOString();
    ev.run(pk, later, "resolved", JSON.stringify({ reason: "not-seen" }));
    db.prepare("UPDATE findings SET lifecycle_at = ? WHERE pk = ?").run(later, pk);
  }
  return pk;
}

/** Devices with a dicom.external-peer finding are exposed (the ingest decides from networks.internal). */
function exposures(report: Report): Set<string> {
  return new Set(
    report.findings.filter((f) => f.rule === "dicom.external-peer" && f.device).map((f) => f.device!),
  );
}

/** One sensor's report, as its retained devices and findings would arrive. */
export function seedReport(db: Db, s: SensorId, report: Report, now: Date): void {
  const iso = now.toISOString();
  db.transaction(() => {
    const sensorPk = seedSensor(db, s, now, {
      packets: report.stats.packets * 1000,
      bytes: report.stats.bytes * 1000,
    });
    const external = exposures(report);
    for (const d of report.devices)
      seedDevice(db, sensorPk, d, external.has(d.id) ? "external" : "internal", iso);
    for (const f of report.findings) seedFinding(db, sensorPk, f, iso);
  })();
}

/**
 * `devices` devices over `sensors` sensors, each a copy of one of the report's devices with its own id and
 * address, and about `findingsPerDevice` findings each (copies of the report's findings of that device's
 * original, rotated through the other rules when it has few), opened over the last 30 days, a tenth resolved.
 */
export function seedScale(
  db: Db,
  report: Report,
  opts: { devices: number; findings: number; sensors: number },
  now: Date,
): void {
  const base = report.devices;
  const rules = report.findings;
  db.transaction(() => {
    const sensorPks: number[] = [];
    for (let i = 0; i < opts.sensors; i++) {
      sensorPks.push(
        seedSensor(
          db,
          { site: `site-${1 + (i % 4)}`, sensor: `room-${String(i + 1).padStart(3, "0")}` },
          now,
          { state: i % 17 === 16 ? "offline" : "online" },
        ),
      );
    }
    const ids: { sensorPk: number; id: string; ip: string }[] = [];
    for (let i = 0; i < opts.devices; i++) {
      const b = base[i % base.length]!;
      const ip = `10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
      const id = `mac-02${i.toString(16).padStart(10, "0")}-${ip}`;
      const sensorPk = sensorPks[i % sensorPks.length]!;
      const aeTitles = [...words(b.aeTitles).map((a) => `${a.slice(0, 10)}_${i}`)];
      const rec = {
        ...b,
        id,
        ip,
        mac: `02:00:${[2, 3, 4, 5].map((k) => ((i >> (8 * (5 - k))) & 255).toString(16).padStart(2, "0")).join(":")}`,
        aeTitles,
        aeRoles: [],
        peers: [],
      };
      seedDevice(db, sensorPk, rec, i % 23 === 0 ? "external" : "internal", now.toISOString());
      ids.push({ sensorPk, id, ip });
    }
    for (let k = 0; k < opts.findings; k++) {
      const dev = ids[k % ids.length]!;
      const r = rules[k % rules.length]!;
      const at = new Date(now.getTime() - (k % 30) * 86400e3 - (k % 1440) * 60e3).toISOString();
      const rec: FindingRecord = {
        ...r,
        id: `f-${k.toString(16).padStart(16, "0")}`,
        device: dev.id,
        peer: null,
        title: r.title.replace(/10\.77\.0\.\d+|fd77::\d+/, dev.ip),
        firstSeen: at,
        lastSeen: at,
      };
      seedFinding(db, dev.sensorPk, rec, at, k % 10 === 9 ? "resolved" : "open");
    }
  })();
}
