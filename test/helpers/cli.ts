/**
 * Runs the dicomtap command line as a child process, from the same compiled tree as the test (dist/ in
 * `npm test`), exactly as `bin/dicomtap.js` does.
 */
import { spawnSync } from "node:child_process";

const MAIN = new URL("../../agent/cli/main.js", import.meta.url).href;

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { input?: string; timeoutMs?: number } = {}): CliResult {
  const code = `import { main } from ${JSON.stringify(MAIN)}; process.exitCode = await main(process.argv.slice(1));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code, "--", ...args], {
    encoding: "utf8",
    input: opts.input ?? "",
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
