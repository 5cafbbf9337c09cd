/**
 * How the installed command starts Node: the environment and flags of bin/dicomtap.js's first line
 * (`#!/usr/bin/env -S NAME=VALUE ... node --flag ...`), which the systemd unit repeats. Tests that start
 * the agent in-process-free use them, so they run it as it runs on the appliance.
 */
import { readFileSync } from "node:fs";

export function installedNode(): { env: Record<string, string>; flags: string[] } {
  const first = readFileSync(new URL("../../../bin/dicomtap.js", import.meta.url), "utf8").split("\n")[0]!;
  const words = first.replace(/^#!\/usr\/bin\/env\s+-S\s+/, "").split(/\s+/);
  const env: Record<string, string> = {};
  const flags: string[] = [];
  for (const w of words) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(w);
    if (m) env[m[1]!] = m[2]!;
    else if (w.startsWith("--")) flags.push(w);
  }
  return { env, flags };
}
