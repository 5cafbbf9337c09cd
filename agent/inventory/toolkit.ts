/**
 * Recognises the DICOM toolkit of a peer from what it announces in A-ASSOCIATE-RQ/AC: the Implementation
 * Class UID (PS3.7 D.3.3.2, a UID under the implementer's root) and the Implementation Version Name
 * (PS3.7 D.3.3.2.1, up to 16 characters, free form). The table and its sources are data/toolkits.json.
 */
import { toolkitTable, vulnerabilityTable, type ToolkitEntry, type VulnerabilityEntry } from "./tables.js";

export interface ToolkitInfo {
  name: string;
  /** "3.6.7" etc., or null when neither the UID nor the version name carries one. */
  version: string | null;
  /** Where the UID root / version name of this toolkit is documented (from the table). */
  source: string;
}

interface Compiled {
  entry: ToolkitEntry;
  names: RegExp[];
  uidVersion: RegExp | null;
}

let compiled: Compiled[] | null = null;

function table(): Compiled[] {
  if (!compiled) {
    compiled = toolkitTable().map((entry) => ({
      entry,
      names: entry.versionNamePatterns.map((p) => new RegExp(p)),
      uidVersion: entry.uidVersionPattern ? new RegExp(entry.uidVersionPattern) : null,
    }));
  }
  return compiled;
}

function versionFrom(m: RegExpExecArray | null): string | null {
  if (!m) return null;
  const parts = m.slice(1).filter((g): g is string => g !== undefined && g !== "");
  return parts.length > 0 ? parts.map((p) => String(Number(p))).join(".") : null;
}

/** A UID lies under a root when it equals it or continues it with "." (so 1.2.3 is not under 1.2.30). */
function underRoot(uid: string, root: string): boolean {
  return uid === root || (uid.startsWith(root) && uid.charCodeAt(root.length) === 0x2e);
}

export function recogniseToolkit(classUid: string | null, versionName: string | null): ToolkitInfo | null {
  const uid = classUid?.trim() ?? "";
  const name = versionName?.trim() ?? "";
  if (name) {
    for (const t of table()) {
      for (const re of t.names) {
        const m = re.exec(name);
        if (m) {
          const version =
            versionFrom(m) ?? (t.uidVersion && uid ? versionFrom(t.uidVersion.exec(uid)) : null);
          return { name: t.entry.name, version, source: t.entry.source };
        }
      }
    }
  }
  if (uid) {
    let best: Compiled | null = null;
    let bestLen = 0;
    for (const t of table()) {
      for (const root of t.entry.uidRoots) {
        if (root.length > bestLen && underRoot(uid, root)) {
          best = t;
          bestLen = root.length;
        }
      }
    }
    if (best) {
      const version = best.uidVersion ? versionFrom(best.uidVersion.exec(uid)) : null;
      return { name: best.entry.name, version, source: best.entry.source };
    }
  }
  return null;
}

/** Compares dotted numeric versions ("3.6.10" > "3.6.9"); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const x = Number(pa[i] ?? 0) || 0;
    const y = Number(pb[i] ?? 0) || 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** The known vulnerabilities of a toolkit version (a toolkit based on another inherits its CVEs only by name). */
export function vulnerabilitiesOf(toolkit: ToolkitInfo): VulnerabilityEntry[] {
  const v = toolkit.version;
  if (!v) return [];
  return vulnerabilityTable().filter(
    (e) =>
      e.toolkit === toolkit.name &&
      (e.introduced === undefined || compareVersions(v, e.introduced) >= 0) &&
      (e.lessThan === undefined || compareVersions(v, e.lessThan) < 0) &&
      (e.lessThanOrEqual === undefined || compareVersions(v, e.lessThanOrEqual) <= 0),
  );
}
