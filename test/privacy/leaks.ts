/**
 * The two ways the privacy tests look for leaks (canaries.test.ts for patient data and the DICOM passcode,
 * hosts.test.ts for the credentials beside DICOM): through `analyze` (the JSON report, the summary, the
 * diagnostics) and through the agent's `run --replay` (published messages, log lines, every file of the
 * store). `leaks` says which needles a text holds.
 */
import type { ExecutionContext } from "ava";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAgent } from "../../agent/agent/run.js";
import { validateConfig } from "../../agent/config/config.js";
import { runCli } from "../helpers/cli.js";

export type Leaks = (text: string) => string[];

/** analyze --json and the summary of `captures`: no needle anywhere. Returns the JSON report's text. */
export function analyzeWithoutLeaks(t: ExecutionContext, captures: string[], leaks: Leaks): string {
  const r = runCli(["analyze", "--json", "-", ...captures]);
  t.is(r.status, 0, r.stderr);
  t.deepEqual(leaks(r.stdout), []);
  t.deepEqual(leaks(r.stderr), []);
  const summary = runCli(["analyze", ...captures]);
  t.deepEqual(leaks(summary.stdout + summary.stderr), []);
  return r.stdout;
}

/**
 * run --replay of each capture into one store (config `extra` on top of a named sensor): no needle in the
 * published lines, the log lines or any file of the store. Returns the published lines.
 */
export async function replayWithoutLeaks(
  t: ExecutionContext,
  captures: string[],
  leaks: Leaks,
  extra: Record<string, unknown> = {},
): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-privacy-"));
  try {
    const config = validateConfig({
      sensor: { id: "privacy", site: "lab" },
      store: { path: join(dir, "store.db") },
      ...extra,
    });
    const out: string[] = [];
    const logs: string[] = [];
    for (const file of captures) {
      await runAgent({
        config,
        replay: file,
        out: { write: (l: string) => out.push(l) },
        log: (m: string) => logs.push(m),
      });
    }
    t.true(out.length > 0);
    t.deepEqual(leaks(out.join("\n")), []);
    t.deepEqual(leaks(logs.join("\n")), []);
    for (const f of readdirSync(dir))
      t.deepEqual(leaks(readFileSync(join(dir, f)).toString("latin1")), [], f);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
