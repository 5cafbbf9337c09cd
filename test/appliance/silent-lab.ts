/**
 * Helpers of silent.test.ts: the mirrored-port lab of lab.ts with tap0's IPv6 left at the kernel's
 * default (MIRROR_TAP_IPV6=default), as a freshly installed appliance has it; the frames of a capture;
 * scripts/silence-capture-interface and `dicomtap doctor` run inside a namespace. Root only.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { CheckResult } from "../../agent/doctor/doctor.js";
import { MIRROR, run, type MirrorLab } from "./lab.js";

export const SILENCER = resolve("scripts/silence-capture-interface");

/** Like lab.ts's mirrorUp, but tap0 keeps the kernel's IPv6 default (on). */
export async function mirrorUpDefaultIpv6(): Promise<MirrorLab> {
  const rid =
    randomBytes(3)
      .toString("hex")
      .replace(/[^a-z0-9]/g, "")
      .slice(0, 6) || "s1";
  const env = { ...process.env, MIRROR_TAP_IPV6: "default" };
  await run(MIRROR, ["up", rid], { env });
  const dir = mkdtempSync(join(tmpdir(), "dtsil-"));
  return {
    rid,
    mod: `dtm-${rid}-mod`,
    pacs: `dtm-${rid}-pacs`,
    tap: `dtm-${rid}-tap`,
    modIp: "10.78.0.10",
    pacsIp: "10.78.0.20",
    dir,
    down: async () => {
      await run(MIRROR, ["down", rid]);
      rmSync(dir, { recursive: true, force: true });
    },
    replug: async () => {
      await run(MIRROR, ["replug", rid], { env });
    },
  };
}

/** One line per frame of a pcap file (tcpdump -n -e: with the MAC addresses). */
export async function frames(pcap: string): Promise<string[]> {
  const { stdout } = await run("tcpdump", ["-r", pcap, "-n", "-e"], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split("\n").filter((l) => l.trim() !== "");
}

/** Runs scripts/silence-capture-interface in namespace `ns`; never throws (the exit code is returned). */
export async function silence(
  ns: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run("ip", ["netns", "exec", ns, SILENCER, ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? -1,
      stdout: e.stdout ?? "",
      stderr: e.stderr ?? "",
    }),
  );
}

/**
 * `dicomtap doctor --json` (the command's own code, doctorCommand) in namespace `ns`, where it reads that
 * namespace's /sys/class/net and /proc/sys/net.
 */
export async function doctorIn(ns: string, configPath: string): Promise<CheckResult[]> {
  const mod = new URL("../../agent/doctor/doctor.js", import.meta.url).href;
  const code = `const { doctorCommand } = await import(${JSON.stringify(mod)});
    process.exitCode = await doctorCommand(["--config", ${JSON.stringify(configPath)}, "--json"]);`;
  const out = await run("ip", ["netns", "exec", ns, process.execPath, "--input-type=module", "-e", code], {
    timeout: 60_000,
  }).then(
    (r) => r.stdout,
    (e: { stdout?: string }) => e.stdout ?? "",
  );
  return JSON.parse(out) as CheckResult[];
}
