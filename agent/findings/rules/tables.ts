/**
 * The findings rules' data tables (data/scanners.json, data/probe-ae-titles.json, data/default-ae-titles.json),
 * each with the sources of its values: read once on first use, nothing at import time (DESIGN.md §6
 * principle 7). AE titles are compared trimmed (PS3.8 §9.3.2 pads them with spaces to 16 bytes) and in upper
 * case: a scanner's "any-scp" probes as well as "ANY-SCP".
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir as findDataDir } from "../../util/root.js";

/** One scanner identity (data/scanners.json); see that file's description for the matching rules. */
export interface ScannerEntry {
  /** The dicom.scanner finding key: the entries of one tool share their finding. */
  key: string;
  tool: string;
  name: string;
  implementationClassUids?: string[];
  implementationClassUidRoots?: string[];
  implementationVersionNames?: string[];
  implementationVersionNamePrefixes?: string[];
  callingAETitles?: string[];
  noImplementationClassUid?: boolean;
  /** Behaviours of which one must also be seen: [] when the identity is the tool's own. */
  corroboratedBy: ("reserved-header" | "silent-association")[];
  source: string;
}

export interface ProbeEntry {
  aeTitle: string;
  usedBy: string[];
  source: string;
}

export interface DefaultAeEntry {
  aeTitle: string;
  toolkit: string;
  role: "calling" | "called";
  source: string;
}

/** The canonical form AE titles are compared in. */
export function aeKey(ae: string): string {
  return ae.trim().toUpperCase();
}

function read<T>(file: string, field: string): T[] {
  const raw = JSON.parse(readFileSync(join(findDataDir(), file), "utf8")) as Record<string, unknown>;
  const list = raw[field];
  if (!Array.isArray(list)) throw new Error(`data/${file}: "${field}" is not a list`);
  return list as T[];
}

let scanners: ScannerEntry[] | null = null;
let probes: Map<string, ProbeEntry> | null = null;
let defaults: Map<string, DefaultAeEntry> | null = null;

export function scannerTable(): ScannerEntry[] {
  return (scanners ??= read<ScannerEntry>("scanners.json", "scanners"));
}

/** Probe called AE titles by aeKey(). */
export function probeTable(): Map<string, ProbeEntry> {
  return (probes ??= new Map(
    read<ProbeEntry>("probe-ae-titles.json", "probes").map((p) => [aeKey(p.aeTitle), p]),
  ));
}

/** Toolkits' default AE titles by aeKey(). */
export function defaultAeTable(): Map<string, DefaultAeEntry> {
  return (defaults ??= new Map(
    read<DefaultAeEntry>("default-ae-titles.json", "defaults").map((d) => [aeKey(d.aeTitle), d]),
  ));
}

/** The probe entry of a called AE title, or null. */
export function probeCalledAE(ae: string | null): ProbeEntry | null {
  return ae ? (probeTable().get(aeKey(ae)) ?? null) : null;
}
