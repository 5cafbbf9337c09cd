/**
 * CSV of the inventory and findings exports (issue 12, Exports) for a hospital's asset database and for
 * spreadsheets. RFC 4180: CRLF line ends, fields with a comma, quote or line break quoted, quotes doubled.
 *
 * Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with = + - @ (or a tab
 * or carriage return before one) as a formula. AE titles, station names and manufacturers come off the
 * wire, from devices an attacker may control, so every cell starting with one of those characters gets a
 * leading apostrophe, which spreadsheets show as text. Numbers are written by us and never prefixed.
 */
import type { DeviceItem, FindingItem } from "./queries.js";

export type Cell = string | number | boolean | null | undefined;

/** One cell as CSV text: neutralised, then quoted when RFC 4180 needs it. */
export function csvCell(v: Cell): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(cells: readonly Cell[]): string {
  return `${cells.map(csvCell).join(",")}\r\n`;
}

export const DEVICE_CSV_HEADER = [
  "pk",
  "site",
  "sensor",
  "id",
  "ip",
  "mac",
  "class",
  "modality",
  "manufacturer",
  "model",
  "toolkit",
  "aeTitles",
  "ports",
  "peerCount",
  "exposure",
  "firstSeen",
  "lastSeen",
  "openFindings",
  "softwareVersions",
  "stationName",
] as const;

function strings(v: unknown): string {
  return Array.isArray(v) ? v.filter((x) => typeof x === "string" || typeof x === "number").join(" ") : "";
}

export function deviceCsvRow(d: DeviceItem): string {
  const r = (d.record ?? {}) as { softwareVersions?: unknown; stationName?: unknown };
  return csvRow([
    d.pk,
    d.site,
    d.sensor,
    d.id,
    d.ip,
    d.mac,
    d.class,
    d.modality,
    d.manufacturer,
    d.model,
    d.toolkit,
    d.aeTitles.join(" "),
    d.ports.join(" "),
    d.peerCount,
    d.exposure,
    d.firstSeen,
    d.lastSeen,
    d.openFindings,
    strings(r.softwareVersions),
    typeof r.stationName === "string" ? r.stationName : null,
  ]);
}

export const FINDING_CSV_HEADER = [
  "pk",
  "id",
  "site",
  "sensor",
  "rule",
  "severity",
  "state",
  "lifecycle",
  "step",
  "device",
  "devicePk",
  "peer",
  "title",
  "firstSeen",
  "lastSeen",
  "count",
  "acknowledgedBy",
  "acknowledgedAt",
  "assignee",
  "riskAcceptedBy",
  "riskReason",
  "riskExpires",
  "remediation",
] as const;

export function findingCsvRow(f: FindingItem): string {
  return csvRow([
    f.pk,
    f.id,
    f.site,
    f.sensor,
    f.rule,
    f.severity,
    f.state,
    f.lifecycle,
    f.step,
    f.device,
    f.devicePk,
    f.peer,
    f.title,
    f.firstSeen,
    f.lastSeen,
    f.count,
    f.acknowledgedBy,
    f.acknowledgedAt,
    f.assignee,
    f.riskAcceptance?.by,
    f.riskAcceptance?.reason,
    f.riskAcceptance?.expires,
    f.remediation,
  ]);
}
