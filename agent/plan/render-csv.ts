/**
 * The plan as a vendor-neutral CSV (issue 13): one row per thing to allow or block, with the columns
 * source, destination, port, operation, action, reason — for firewall and archive teams whose tools are
 * not nftables. RFC 4180: CRLF line ends, every field quoted, quotes doubled, so an AE title with commas,
 * quotes or line breaks stays inside its field. A field that starts with =, +, - or @ is prefixed with a
 * quote character so a spreadsheet does not run it as a formula (CWE-1236).
 */
import type { Plan } from "./types.js";

export function csvField(v: string | number): string {
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

const HEADER = ["source", "destination", "port", "operation", "action", "reason"];

export function renderCsv(plan: Plan): string {
  const rows: (string | number)[][] = [];
  const ae = (a: string | null): string => (a === null ? "" : ` (${a})`);
  for (const e of plan.exceptions)
    rows.push([e.peer, e.server, e.port ?? "any", "tcp", "allow", `step 1 exception: ${e.reason}`]);
  for (const ip of plan.exposure.protect)
    rows.push([
      "outside the internal networks",
      ip,
      "any",
      "tcp",
      "block",
      "step 1: internal server closed to outside sources",
    ]);
  for (const c of plan.portsToClose)
    rows.push(["any", c.ip, c.port, "tcp", "block", `step 2: close port (${c.reason}): ${c.detail}`]);
  for (const s of plan.allowlists) {
    for (const p of s.peers) {
      const ops = p.operations.length > 0 ? p.operations : ["association"];
      for (const op of ops) {
        const dests =
          op === "C-MOVE" && p.moveDestinations.length > 0 ? ` to ${p.moveDestinations.join(" ")}` : "";
        rows.push([
          `${p.ip}${ae(p.aeTitle)}`,
          `${s.ip}${ae(s.aeTitle)}`,
          s.port,
          `${op}${dests}`,
          "allow",
          `steps 3-4: seen ${p.associations} association(s) ${p.firstSeen} .. ${p.lastSeen}`,
        ]);
      }
    }
    rows.push([
      "any other",
      `${s.ip}${ae(s.aeTitle)}`,
      s.port,
      "any",
      "block",
      "steps 3-4: not an allowlisted peer of this service",
    ]);
  }
  for (const c of plan.encryption.cleartext)
    rows.push([
      `${c.peer}${ae(c.peerAeTitle)}`,
      `${c.server}${ae(c.aeTitle)}`,
      c.port,
      c.operations.join(" ") || "association",
      "encrypt",
      `step 5 (rank ${c.rank}): move to DICOM TLS or a VPN: ${c.why}`,
    ]);
  return [HEADER, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}
