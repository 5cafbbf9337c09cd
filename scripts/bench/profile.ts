/**
 * Summarises a V8 .cpuprofile (written by `node --cpu-prof`): self time per function and per source
 * file, so the benchmark can say where analyze spends its time.
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  functions: SelfTime[];
  files: SelfTime[];
}

/** Shortens file URLs to a path relative to the project (or "node:internal" for Node's own code). */
function shortUrl(url: string): string {
  if (url === "") return "(native)";
  if (url.startsWith("node:")) return url;
  const i = url.indexOf("/agent/");
  if (i >= 0) return url.slice(i + 1);
  const j = url.lastIndexOf("/");
  return j >= 0 ? url.slice(j + 1) : url;
}

export function summariseProfile(path: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  // timeDeltas[i] is the time between sample i-1 and sample i; attribute it to sample i's node.
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!);
    const us = Math.max(0, deltas[i] ?? 0);
    if (!node) continue;
    total += us;
    const cf = node.callFrame;
    const where = shortUrl(cf.url);
    const name =
      cf.url === ""
        ? cf.functionName || "(anonymous)"
        : `${cf.functionName || "(anonymous)"} ${where}:${(cf.lineNumber + 1).toString()}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    file.set(where, (file.get(where) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: total > 0 ? (100 * us) / total : 0 }));
  return { totalMs: total / 1000, functions: rank(fn), files: rank(file) };
}

export function formatProfile(s: ProfileSummary): string {
  const lines = [`CPU profile: ${s.totalMs.toFixed(0)} ms sampled`, "", "self time by function:"];
  for (const f of s.functions)
    lines.push(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}`);
  lines.push("", "self time by file:");
  for (const f of s.files)
    lines.push(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}`);
  return lines.join("\n");
}
