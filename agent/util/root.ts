/**
 * Where this installation's files are: the one place that turns the compiled module's location into paths.
 *
 *   install root   package.json (name "dicomtap"), data/, schemas/, systemd/ — the repository in development,
 *                  /opt/dicomtap on an appliance (scripts/install)
 *   output root    the compiler's output: agent/ and bin/dicomtap-capture — dist/ (also on an appliance),
 *                  or another outDir such as .build/NAME/ in development
 *
 * Nothing is computed at import time; each call looks again (a few stat calls, made at start-up).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** How far up from the output root the install root may be (dist/ → root; .build/NAME/ → root). */
const MAX_UP = 6;

/** The compiler's output folder holding agent/ (this file is <out>/agent/util/root.js). */
export function outputRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url));
}

function isInstallRoot(dir: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown };
    return pkg.name === "dicomtap";
  } catch {
    return false;
  }
}

/** The install root: the nearest folder at or above the output root with dicomtap's package.json; else null. */
export function installRoot(): string | null {
  let dir = outputRoot();
  for (let i = 0; i <= MAX_UP; i++) {
    if (isInstallRoot(dir)) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/**
 * A path below the install root, e.g. installPath("data", "toolkits.json"). Throws, naming what was
 * looked for, when there is no install root or the path is not there.
 */
export function installPath(...parts: string[]): string {
  const root = installRoot();
  if (root === null) throw new Error(`no dicomtap package.json above ${outputRoot()}`);
  const p = join(root, ...parts);
  if (!existsSync(p)) throw new Error(`${join(...parts)} not found in the installation at ${root}`);
  return p;
}

/** The version in our package.json, or "unknown" when there is none. */
export function packageVersion(): string {
  const root = installRoot();
  if (root === null) return "unknown";
  try {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** data/: the toolkit, CVE, scanner and probe tables the findings and inventory read at run time. */
export function dataDir(): string {
  return installPath("data");
}

/** schemas/: the payload schemas the console checks messages against. */
export function schemasDir(): string {
  return installPath("schemas");
}
