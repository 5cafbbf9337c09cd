/**
 * The data tables of data/ (toolkits.json, cves.json): found by util/root.ts's dataDir(), read once on
 * first use (nothing happens at import time, DESIGN.md §6 principle 7).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "../util/root.js";

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

let toolkits: ToolkitEntry[] | null = null;
let vulnerabilities: VulnerabilityEntry[] | null = null;

export function toolkitTable(): ToolkitEntry[] {
  if (!toolkits) {
    const raw = JSON.parse(readFileSync(join(dataDir(), "toolkits.json"), "utf8")) as {
      toolkits: ToolkitEntry[];
    };
    toolkits = raw.toolkits;
  }
  return toolkits;
}

export function vulnerabilityTable(): VulnerabilityEntry[] {
  if (!vulnerabilities) {
    const raw = JSON.parse(readFileSync(join(dataDir(), "cves.json"), "utf8")) as {
      vulnerabilities: VulnerabilityEntry[];
    };
    vulnerabilities = raw.vulnerabilities;
  }
  return vulnerabilities;
}
