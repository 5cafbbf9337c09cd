/**
 * The data tables of data/ (toolkits.json, cves.json): found by walking up from this module to the
 * project root, read once on first use (nothing happens at import time, DESIGN.md §6 principle 7).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface ToolkitEntry {
  name: string;
  basedOn?: string;
  uidRoots: string[];
  versionNamePatterns: string[];
  uidVersionPattern: string | null;
  source: string;
}

export interface VulnerabilityEntry {
  toolkit: string;
  cve: string;
  introduced?: string;
  lessThan?: string;
  lessThanOrEqual?: string;
  cvss: number | null;
  summary: string;
  source: string;
}

let dataDir: string | null = null;

/** The data/ folder of the project: from agent/inventory (sources) or <out>/agent/inventory (compiled). */
export function findDataDir(): string {
  if (dataDir) return dataDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, "data", "toolkits.json"))) return (dataDir = join(dir, "data"));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error("data/toolkits.json not found above " + fileURLToPath(import.meta.url));
}

let toolkits: ToolkitEntry[] | null = null;
let vulnerabilities: VulnerabilityEntry[] | null = null;

export function toolkitTable(): ToolkitEntry[] {
  if (!toolkits) {
    const raw = JSON.parse(readFileSync(join(findDataDir(), "toolkits.json"), "utf8")) as {
      toolkits: ToolkitEntry[];
    };
    toolkits = raw.toolkits;
  }
  return toolkits;
}

export function vulnerabilityTable(): VulnerabilityEntry[] {
  if (!vulnerabilities) {
    const raw = JSON.parse(readFileSync(join(findDataDir(), "cves.json"), "utf8")) as {
      vulnerabilities: VulnerabilityEntry[];
    };
    vulnerabilities = raw.vulnerabilities;
  }
  return vulnerabilities;
}
