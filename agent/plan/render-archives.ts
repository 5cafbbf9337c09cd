/**
 * Steps 3 and 4 as the AE configuration of common archives (issue 13):
 * - Orthanc: a configuration fragment per service, `DicomModalities` with one entry per allowed peer and its
 *   per-command flags (AllowEcho, AllowFind, AllowFindWorklist, AllowMove, AllowGet, AllowStore,
 *   AllowStorageCommitment: Orthanc's RemoteModalityParameters), the global `DicomAlwaysAllow*` options set to
 *   false so that only listed modalities are served, `DicomCheckCalledAet` and `DicomCheckModalityHost` (the
 *   calling address must be the modality's Host) set to true. Orthanc-looking services come first; every
 *   other archive gets the same table, as a generic list of who may do what.
 * - DCMTK dcmqrscp: a dcmqrscp.cfg per service port (HostTable of peers as (AETitle, Host, Port) and an
 *   AETable row per called AE title listing them: dcmqrcnf.txt §1.2, §1.4).
 * - DCMTK storescp: it has no AE title or peer allowlist; its only access control is TCP wrappers (+ac,
 *   hosts_access(5) with the daemon name storescp), which the output gives, with the firewall as the real
 *   control.
 * AE titles come from the wire: JSON.stringify escapes them for Orthanc; for the cfg and hosts files only a
 * conservative alphabet is written and anything else is left out with a comment showing it in hex.
 */
import { isIP } from "node:net";
import type { AllowedPeer, Plan, ServiceAllowlist } from "./types.js";

/** PS3.5 §6.2 AE: default repertoire without backslash and controls; here narrower, for the cfg's lexer. */
const SAFE_AE = /^[A-Za-z0-9_.+-](?:[A-Za-z0-9 _.+-]{0,14}[A-Za-z0-9_.+-])?$/;

export function safeAeTitle(ae: string | null): ae is string {
  return ae !== null && SAFE_AE.test(ae);
}

function hex(s: string): string {
  return Buffer.from(s, "utf8").toString("hex");
}

/** The port a peer's own SCP answers on, if the plan saw one under its AE title (C-MOVE destinations need it). */
function peerPort(plan: Plan, ip: string, ae: string | null): number | null {
  const s = plan.allowlists.find((x) => x.ip === ip && x.aeTitle === ae);
  return s?.port ?? null;
}

/** Where a move destination AE title was seen serving, if anywhere. */
function destination(plan: Plan, ae: string): ServiceAllowlist | undefined {
  return plan.allowlists.find((s) => s.aeTitle === ae);
}

function archives(plan: Plan): ServiceAllowlist[] {
  return plan.allowlists
    .filter((s) => s.aeTitle !== null)
    .sort((a, b) => Number(b.product === "orthanc") - Number(a.product === "orthanc"));
}

// ── Orthanc ──────────────────────────────────────────────────────────────────────────────────────────

interface OrthancModality {
  AET: string;
  Host: string;
  Port: number;
  AllowEcho: boolean;
  AllowFind: boolean;
  AllowFindWorklist: boolean;
  AllowMove: boolean;
  AllowGet: boolean;
  AllowStore: boolean;
  AllowStorageCommitment: boolean;
}

function modalityKey(ip: string, ae: string, taken: Set<string>): string {
  const base = `${ae}-${ip}`.replace(/[^A-Za-z0-9_-]/g, "_").toLowerCase();
  let k = base;
  for (let i = 2; taken.has(k); i++) k = `${base}-${i}`;
  taken.add(k);
  return k;
}

export function renderOrthanc(plan: Plan): string {
  const notes: string[] = [
    "One entry per DICOM service (called AE title): merge its 'orthanc' object into that archive's Orthanc configuration (Orthanc services first; for other archives it is the same allowlist in Orthanc's terms).",
    "DicomModalities lists each allowed peer with the commands the traffic showed it using; DicomAlwaysAllow* false makes Orthanc refuse everyone else; DicomCheckModalityHost true makes it check the peer's address too.",
    "Ports of peers that were never seen serving DICOM are 104: Orthanc connects to them only for C-MOVE (set the real port before moving to them).",
  ];
  const out = archives(plan).map((s) => {
    const taken = new Set<string>();
    const mods: Record<string, OrthancModality> = {};
    const skipped: string[] = [];
    const add = (ip: string, ae: string, ops: readonly string[]): void => {
      mods[modalityKey(ip, ae, taken)] = {
        AET: ae,
        Host: ip,
        Port: peerPort(plan, ip, ae) ?? 104,
        AllowEcho: ops.includes("C-ECHO"),
        AllowFind: ops.includes("C-FIND"),
        AllowFindWorklist: ops.includes("worklist"),
        AllowMove: ops.includes("C-MOVE"),
        AllowGet: ops.includes("C-GET"),
        AllowStore: ops.includes("C-STORE"),
        AllowStorageCommitment: ops.includes("storage-commitment"),
      };
    };
    for (const p of s.peers) {
      if (p.aeTitle === null) skipped.push(`${p.ip}: AE title not seen (TLS)`);
      else add(p.ip, p.aeTitle, p.operations);
    }
    // C-MOVE destinations must be known modalities for Orthanc to send to them (nothing else allowed).
    for (const p of s.peers)
      for (const d of p.moveDestinations) {
        if (Object.values(mods).some((m) => m.AET === d)) continue;
        const where = destination(plan, d);
        if (where === undefined)
          skipped.push(`C-MOVE destination ${JSON.stringify(d)}: its address was not seen`);
        else add(where.ip, d, []);
      }
    return {
      service: `${s.ip}:${s.port}`,
      calledAE: s.aeTitle,
      looksLikeOrthanc: s.product === "orthanc",
      skipped,
      orthanc: {
        DicomAet: s.aeTitle,
        DicomPort: s.port,
        DicomCheckCalledAet: true,
        DicomCheckModalityHost: true,
        DicomAlwaysAllowEcho: false,
        DicomAlwaysAllowStore: false,
        DicomAlwaysAllowFind: false,
        DicomAlwaysAllowFindWorklist: false,
        DicomAlwaysAllowGet: false,
        DicomAlwaysAllowMove: false,
        DicomModalities: mods,
      },
    };
  });
  return (
    JSON.stringify(
      { generatedBy: "dicomtap plan", site: plan.site, generatedAt: plan.generatedAt, notes, archives: out },
      null,
      2,
    ) + "\n"
  );
}

// ── DCMTK ────────────────────────────────────────────────────────────────────────────────────────────

function access(peers: readonly AllowedPeer[]): "R" | "W" | "RW" {
  const write = peers.some((p) => p.operations.includes("C-STORE"));
  const read = peers.some((p) => p.operations.some((o) => o === "C-FIND" || o === "C-MOVE" || o === "C-GET"));
  return write && read ? "RW" : write ? "W" : "R";
}

export function renderDcmqrscp(plan: Plan): string {
  const byPort = new Map<string, ServiceAllowlist[]>();
  for (const s of plan.allowlists) {
    if (s.aeTitle === null || isIP(s.ip) === 0) continue;
    const k = `${s.ip}|${s.port}`;
    byPort.set(k, [...(byPort.get(k) ?? []), s]);
  }
  const out: string[] = [
    `# dicomtap plan: DCMTK configuration, site ${safeComment(plan.site ?? "-")}, generated ${safeComment(plan.generatedAt)}`,
    "# One dcmqrscp.cfg per DICOM service port below (split at the ==== lines), then the storescp note.",
    "# dcmqrscp refuses peers not listed for a local AE title (dcmqrcnf.txt, Application Entity Table).",
    "# Run it with --disable-host-lookup (-dhl) so a peer's host is its IP address as written here.",
    "# Its Access (R, W, RW) is per local AE title, not per peer: where peers of one AE title have",
    "# different roles (one stores, another queries), give the roles separate AE titles to separate them.",
    "",
  ];
  for (const services of byPort.values()) {
    const { ip, port } = services[0]!;
    const hosts: string[] = [];
    const names = new Map<string, string>();
    const skipped: string[] = [];
    const hostName = (peerIp: string, ae: string, portNote: number | null): string | null => {
      if (!safeAeTitle(ae)) {
        skipped.push(
          `# skipped: an AE title this format cannot carry safely (hex ${hex(ae)}) from ${peerIp}`,
        );
        return null;
      }
      const key = `${peerIp}|${ae}`;
      let n = names.get(key);
      if (n === undefined) {
        n = `peer${names.size + 1}`;
        names.set(key, n);
        if (portNote === null)
          hosts.push(
            `# ${n}: its own DICOM port was not seen (104 written): dcmqrscp uses it only to send to it (C-MOVE)`,
          );
        hosts.push(`${n} = (${ae}, ${peerIp}, ${portNote ?? 104})`);
      }
      return n;
    };
    const rows: string[] = [];
    for (const s of services) {
      if (!safeAeTitle(s.aeTitle)) {
        rows.push(`# skipped: the called AE title (hex ${hex(s.aeTitle ?? "")}) cannot be written safely`);
        continue;
      }
      const peers: string[] = [];
      const roles: string[] = [];
      for (const p of s.peers) {
        if (p.aeTitle === null) continue;
        const n = hostName(p.ip, p.aeTitle, peerPort(plan, p.ip, p.aeTitle));
        if (n === null) continue;
        peers.push(n);
        roles.push(`${n} ${p.operations.join(" ") || "association only"}`);
        for (const d of p.moveDestinations) {
          const where = destination(plan, d);
          if (where !== undefined) hostName(where.ip, d, where.port);
          else skipped.push(`# C-MOVE destination not seen serving, add it by hand: hex ${hex(d)}`);
        }
      }
      rows.push(`# ${s.aeTitle}: ${roles.join("; ") || "no peer with a readable AE title"}`);
      // No peer at all would make the row's peer list empty, which dcmqrscp cannot read: leave it out.
      if (peers.length > 0)
        rows.push(
          `${s.aeTitle} /var/lib/dcmtk/db/${s.aeTitle.replace(/ /g, "_")} ${access(s.peers)} (200, 1024mb) ${peers.join(", ")}`,
        );
    }
    out.push(
      `# ==== dcmqrscp.cfg for ${isIP(ip) === 6 ? `[${ip}]` : ip}:${port} ====`,
      `NetworkTCPPort  = ${port}`,
      "MaxPDUSize      = 16384",
      "MaxAssociations = 16",
      "",
      "HostTable BEGIN",
      ...hosts,
      "HostTable END",
      "",
      "VendorTable BEGIN",
      "VendorTable END",
      "",
      "AETable BEGIN",
      ...rows,
      "AETable END",
      ...[...new Set(skipped)],
      "",
    );
  }
  out.push(
    "# ==== storescp ====",
    "# storescp has no allowlist of calling AE titles or peers, and accepts any called AE title: the",
    "# firewall rules (dicomtap plan --nft) are what restricts it. Its only access control is TCP wrappers:",
    "# run it with --access-control (+ac), on a build with TCP wrapper support, and use (hosts_access(5)):",
    "#   /etc/hosts.deny:  storescp: ALL",
    "#   /etc/hosts.allow: storescp: <the peer addresses below>",
  );
  const storescp = new Map<string, Set<string>>();
  for (const s of plan.allowlists) {
    if (s.product !== "dcmtk") continue;
    const k = isIP(s.ip) === 6 ? `[${s.ip}]:${s.port}` : `${s.ip}:${s.port}`;
    const set = storescp.get(k) ?? new Set<string>();
    for (const p of s.peers) if (isIP(p.ip) !== 0) set.add(isIP(p.ip) === 6 ? `[${p.ip}]` : p.ip);
    storescp.set(k, set);
  }
  for (const [k, set] of storescp) out.push(`#   ${k}: storescp: ${[...set].join(" ")}`);
  return out.join("\n") + "\n";
}

function safeComment(s: string): string {
  return s.replace(/[^A-Za-z0-9 _.:+-]/g, "?");
}
