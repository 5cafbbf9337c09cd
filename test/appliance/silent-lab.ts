/**
 * Helpers of silent.test.ts (whose lab is lab.ts's mirrorUp with tap0's IPv6 left at the kernel's default,
 * as a freshly installed appliance has it): the frames of a capture; scripts/silence-capture-interface
 * and `dicomtap doctor` run inside a namespace. Root only.
 */
import { resolve } from "node:path";
import type { CheckResult } from "../../agent/doctor/doctor.js";
import { run } from "./lab.js";

export const SILENCER = resolve("scripts/silence-capture-interface");

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
