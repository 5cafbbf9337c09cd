/**
 * The readable summary of `dicomtap analyze`: what a security engineer reads first. Devices and
 * findings grouped by severity, then associations, then anomalies. Never prints dataset values
 * beyond the device-describing attributes the report already holds.
 */
import type { AnalyzeResult } from "../pipeline/analyze.js";
import type { AssociationRecord, DeviceRecord, FindingRecord } from "../report/types.js";
import { SEVERITIES } from "../findings/severity.js";
import { describeUid } from "../dicom/dictionary/names.js";

/** Named UIDs listed per device or association line before "… N more" (the JSON report has them all). */
const MAX_NAMED = 8;

function named(uids: readonly string[]): string {
  const shown = uids.slice(0, MAX_NAMED).map(describeUid).join(", ");
  return uids.length > MAX_NAMED ? `${shown}, … ${uids.length - MAX_NAMED} more` : shown;
}

/** Accepted presentation contexts as people read them: "CT Image Storage (…) in Explicit Little Endian (…)". */
function acceptedContexts(a: AssociationRecord): string[] {
  const out: string[] = [];
  for (const pc of a.presentationContexts) {
    if (pc.result !== "acceptance" || pc.abstractSyntax === null) continue;
    const ts = pc.transferSyntax === null ? "" : ` in ${describeUid(pc.transferSyntax)}`;
    out.push(describeUid(pc.abstractSyntax) + ts);
  }
  return out;
}

function commandCounts(a: AssociationRecord): string {
  const counts = new Map<string, number>();
  for (const m of a.messages) counts.set(m.command, (counts.get(m.command) ?? 0) + 1);
  return [...counts].map(([c, n]) => `${c}×${n}`).join(" ");
}

function ae(v: string | null): string {
  return v === null ? "?" : v;
}

export function formatSummary(
  result: Pick<AnalyzeResult, "report" | "files">,
  opts: { maxAssociations?: number } = {},
): string {
  const { report, files } = result;
  const out: string[] = [];
  const s = report.stats;
  out.push("dicomtap analyze");
  for (const f of files) {
    const code = f.summary?.error?.code;
    const what =
      f.summary === null
        ? "not read"
        : code === "capture.unknown-format" || code === "capture.empty"
          ? "not a capture"
          : `${f.summary.format}, ${f.summary.packets} packets`;
    out.push(`  ${f.path}: ${what}${f.error ? ` — ${f.error}` : ""}`);
  }
  out.push(
    `  ${s.packets} packets, ${s.bytes} bytes, ${s.tcpFlows} TCP flows, ${s.dicomFlows} DICOM flows, ` +
      `${s.associations} associations, ${s.dimseMessages} DIMSE messages, ${s.anomalies} anomalies`,
  );
  out.push("");

  out.push(`Devices (${report.devices.length})`);
  for (const d of report.devices) {
    const cls = typeof d["class"] === "string" ? d["class"] : "unknown";
    const what = [d.manufacturer, d.model, d.modality].filter((x) => x !== null).join(" ");
    out.push(
      `  ${d.ip}${d.mac ? ` (${d.mac})` : ""}  ${cls}  AE ${d.aeTitles.join(",") || "-"}` +
        `  ports ${d.listeningPorts.join(",") || "-"}${what ? `  ${what}` : ""}`,
    );
    if (d.sopClasses.length > 0) out.push(`      SOP classes: ${named(d.sopClasses)}`);
    const sys = systemLine(d);
    if (sys !== null) out.push(`      ${sys}`);
  }
  out.push("");

  out.push(`Findings (${report.findings.length})`);
  const bySeverity = new Map<string, FindingRecord[]>();
  for (const f of report.findings) {
    const list = bySeverity.get(f.severity) ?? [];
    list.push(f);
    bySeverity.set(f.severity, list);
  }
  for (const sev of SEVERITIES) {
    const list = bySeverity.get(sev);
    if (!list) continue;
    out.push(`  ${sev.toUpperCase()} (${list.length})`);
    for (const f of list) {
      out.push(`    [${f.rule}] ${f.title}${f.count > 1 ? ` (×${f.count})` : ""}`);
      out.push(`      → ${f.remediation}`);
    }
  }
  out.push("");

  const max = opts.maxAssociations ?? 50;
  out.push(`Associations (${report.associations.length})`);
  for (const a of report.associations.slice(0, max)) {
    const accepted = a.presentationContexts.filter((pc) => pc.result === "acceptance").length;
    out.push(
      `  ${a.start}  ${a.client} → ${a.server}  ${ae(a.callingAE)} → ${ae(a.calledAE)}  ${a.outcome}` +
        `${a.released ? ", released" : ""}  contexts ${accepted}/${a.presentationContexts.length}` +
        `${a.userIdentity ? `  user-identity type ${a.userIdentity.type}` : ""}`,
    );
    const contexts = acceptedContexts(a);
    for (const c of contexts.slice(0, MAX_NAMED)) out.push(`      ${c}`);
    if (contexts.length > MAX_NAMED) out.push(`      … ${contexts.length - MAX_NAMED} more contexts`);
    if (a.messages.length > 0) out.push(`      ${commandCounts(a)}`);
  }
  if (report.associations.length > max) out.push(`  … ${report.associations.length - max} more (see --json)`);
  out.push("");

  out.push(`Anomalies (${report.anomalies.length} kinds)`);
  for (const a of [...report.anomalies].sort((x, y) => y.count - x.count).slice(0, 20)) {
    out.push(`  ${a.code} ×${a.count}  [${a.layer}] ${a.flow}${a.detail ? `  ${a.detail}` : ""}`);
  }
  return out.join("\n") + "\n";
}

/**
 * A device's system and remote access (issue 11), one line: "Windows XP (high confidence), host
 * TEST-F7DFBC3FE9, offers SMB/445 SMB1, uses RDP/3389 nla"; null when nothing is known.
 */
function systemLine(d: DeviceRecord): string | null {
  const parts: string[] = [];
  const os = d["os"] as
    { name: string | null; confidence: string; endOfSupport: string | null } | null | undefined;
  if (os && os.name)
    parts.push(
      `${os.name} (${os.confidence} confidence${os.endOfSupport ? `, support ends ${os.endOfSupport}` : ""})`,
    );
  if (typeof d["hostName"] === "string") parts.push(`host ${d["hostName"]}`);
  const remote = Array.isArray(d["remoteAccess"])
    ? (d["remoteAccess"] as { protocol: string; port: number; role: string; security: string | null }[])
    : [];
  for (const r of remote)
    parts.push(
      `${r.role === "server" ? "offers" : "uses"} ${r.protocol.toUpperCase()}/${r.port}${r.security ? ` ${r.security}` : ""}`,
    );
  return parts.length === 0 ? null : parts.join(", ");
}
