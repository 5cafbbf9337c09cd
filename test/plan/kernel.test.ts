/**
 * The plan's nftables rules in a real kernel (issue 13, "Check before applying"): three network namespaces
 * on a bridge — a server running storescp, an allowed client and an unknown one.
 *   1. The allowed client's echoscu and storescu are captured; the plan is made from that capture.
 *   2. Both clients run without rules, captured: `plan --check` on it must list exactly the unknown client's
 *      connections as blocked, by the firewall layer.
 *   3. The plan's nft output is loaded in the server namespace (nft -f): the allowed client still passes, the
 *      unknown one times out — what --check said.
 * Needs root, network namespaces, tcpdump, DCMTK and nft (test/helpers/requires.ts); namespaces are removed
 * even when the test fails.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli } from "../helpers/cli.js";
import { ctFile } from "../helpers/ct-file.js";
import { requires } from "../helpers/requires.js";
import { NFT } from "../helpers/nft.js";

const kernelTest = requires("root", "netns", "tcpdump", "dcmtk", "nft");

const SERVER = "10.79.0.1";
const ALLOWED = "10.79.0.10";
const UNKNOWN = "10.79.0.66";
const PORT = 11112;

function sh(
  args: string[],
  opts: { allowFail?: boolean; timeoutMs?: number } = {},
): { status: number | null; out: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8", timeout: opts.timeoutMs ?? 30_000 });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (!opts.allowFail && r.status !== 0) throw new Error(`${args.join(" ")} failed (${r.status}): ${out}`);
  return { status: r.status, out };
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
}

kernelTest.serial(
  "the kernel drops what plan --check says the plan blocks, and passes the rest",
  async (t) => {
    const tag = `dt${process.pid % 100000}`;
    const ns = { srv: `${tag}-srv`, ok: `${tag}-ok`, bad: `${tag}-bad` };
    const dir = mkdtempSync(join(tmpdir(), "dicomtap-kernel-"));
    const children: ChildProcess[] = [];
    const inNs = (n: string, ...args: string[]): string[] => ["ip", "netns", "exec", n, ...args];
    t.teardown(() => {
      for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
      for (const n of Object.values(ns)) sh(["ip", "netns", "del", n], { allowFail: true });
      rmSync(dir, { recursive: true, force: true });
    });

    // ── topology: a bridge in the server namespace, one veth per client ──
    for (const n of Object.values(ns)) sh(["ip", "netns", "add", n]);
    sh(inNs(ns.srv, "ip", "link", "add", "br0", "type", "bridge"));
    sh(inNs(ns.srv, "ip", "addr", "add", `${SERVER}/24`, "dev", "br0"));
    sh(inNs(ns.srv, "ip", "link", "set", "br0", "up"));
    sh(inNs(ns.srv, "ip", "link", "set", "lo", "up"));
    for (const [name, ip] of [
      [ns.ok, ALLOWED],
      [ns.bad, UNKNOWN],
    ] as const) {
      const short = name === ns.ok ? "ok" : "bad";
      sh([
        "ip",
        "link",
        "add",
        `${tag}${short}`,
        "netns",
        ns.srv,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        name,
      ]);
      sh(inNs(ns.srv, "ip", "link", "set", `${tag}${short}`, "master", "br0", "up"));
      sh(inNs(name, "ip", "addr", "add", `${ip}/24`, "dev", "eth0"));
      sh(inNs(name, "ip", "link", "set", "eth0", "up"));
      sh(inNs(name, "ip", "link", "set", "lo", "up"));
    }

    // The bridge forwards once its ports are up: wait for the links and the bridge ports.
    for (const n of [ns.ok, ns.bad])
      await waitFor(`${n}'s link up`, () => /state UP/.test(sh(inNs(n, "ip", "link", "show", "eth0")).out));
    await waitFor(
      "both bridge ports forwarding",
      () => (sh(inNs(ns.srv, "bridge", "link", "show")).out.match(/state forwarding/g) ?? []).length === 2,
    );

    // ── the server: storescp ──
    const store = join(dir, "store");
    sh(["mkdir", "-p", store]);
    const scp = spawn(
      "ip",
      ["netns", "exec", ns.srv, "storescp", "-aet", "STORESCP", "-od", store, String(PORT)],
      {
        stdio: "ignore",
      },
    );
    children.push(scp);
    await waitFor("storescp listening", () =>
      sh(inNs(ns.srv, "ss", "-ltn"), { allowFail: true }).out.includes(`:${PORT}`),
    );

    const dcm = ctFile(dir, { root: "1.2.826.0.1.3680043.10.1234.1", patientName: "KERNEL^TEST" });

    const capture = async (name: string, run: () => void): Promise<string> => {
      const pcap = join(dir, `${name}.pcap`);
      const log = join(dir, `${name}.log`);
      writeFileSync(log, "");
      const td = spawn("sh", [
        "-c",
        `exec ip netns exec ${ns.srv} tcpdump -i br0 -U -B 32768 -s 0 -w ${pcap} 'tcp or udp port 9' 2>${log}`,
      ]);
      children.push(td);
      await waitFor("tcpdump listening", () => readFileSync(log, "utf8").includes("listening on"));
      run();
      // An end marker (a UDP datagram to the discard port, across br0), then wait until tcpdump wrote it: -U
      // writes packets as libpcap hands them over, a block at a time, so everything before it is there too
      // (test/helpers/capture.sh does the same on loopback).
      const marker = `dicomtap-plan-end-${name}-${process.pid}`;
      sh(inNs(ns.srv, "bash", "-c", `printf %s '${marker}' >/dev/udp/${ALLOWED}/9`), { allowFail: true });
      await waitFor(`the end marker in ${pcap}`, () => readFileSync(pcap).includes(marker));
      td.kill("SIGTERM");
      await new Promise((r) => td.once("exit", r));
      return pcap;
    };
    const echo = (n: string, ae: string) =>
      sh(inNs(n, "echoscu", "-to", "3", "-ta", "3", "-aet", ae, "-aec", "STORESCP", SERVER, String(PORT)), {
        allowFail: true,
        timeoutMs: 20_000,
      });
    const storeTo = (n: string, ae: string) =>
      sh(
        inNs(
          n,
          "storescu",
          "-to",
          "3",
          "-ta",
          "3",
          "-aet",
          ae,
          "-aec",
          "STORESCP",
          SERVER,
          String(PORT),
          dcm,
        ),
        {
          allowFail: true,
          timeoutMs: 20_000,
        },
      );

    // 1. The allowed client's traffic, and the plan made from it.
    const learn = await capture("learn", () => {
      t.is(echo(ns.ok, "OKSCU").status, 0);
      t.is(storeTo(ns.ok, "OKSCU").status, 0);
    });
    const planPath = join(dir, "plan.json");
    const nftPath = join(dir, "plan.nft");
    const made = runCli([
      "plan",
      "--json",
      planPath,
      "--nft",
      nftPath,
      "--markdown",
      join(dir, "plan.md"),
      learn,
    ]);
    t.is(made.status, 0, made.stderr);

    // 2. Both clients without rules; --check lists the unknown client's connections, and only those.
    const both = await capture("both", () => {
      t.is(echo(ns.ok, "OKSCU").status, 0);
      t.is(storeTo(ns.ok, "OKSCU").status, 0);
      t.is(echo(ns.bad, "BADSCU").status, 0, "without rules storescp serves anyone");
      t.is(storeTo(ns.bad, "BADSCU").status, 0);
    });
    const checkPath = join(dir, "check.json");
    const check = runCli(["plan", "--check", planPath, "--json", checkPath, both]);
    t.is(check.status, 1, check.stdout + check.stderr);
    const result = JSON.parse(readFileSync(checkPath, "utf8")) as {
      passed: number;
      blocked: { layer: string; rule: string; client: string; server: string; callingAE: string | null }[];
    };
    t.is(result.blocked.length, 2, check.stdout);
    t.true(result.blocked.every((b) => b.layer === "firewall" && b.rule === "service"));
    t.true(
      result.blocked.every((b) => b.client.startsWith(`${UNKNOWN}:`) && b.server === `${SERVER}:${PORT}`),
    );
    t.deepEqual(
      result.blocked.map((b) => b.callingAE),
      ["BADSCU", "BADSCU"],
    );
    t.is(result.passed, 2);

    // 3. The rules in the server's kernel: the allowed client passes, the unknown one is dropped.
    sh(inNs(ns.srv, NFT!, "-f", nftPath));
    t.is(echo(ns.ok, "OKSCU").status, 0, "the allowed peer still passes");
    t.is(storeTo(ns.ok, "OKSCU").status, 0);
    const dropped = echo(ns.bad, "BADSCU");
    t.not(
      dropped.status,
      0,
      "the unknown peer is dropped\n" + dropped.out + sh(inNs(ns.srv, NFT!, "list", "ruleset")).out,
    );
    t.regex(dropped.out, /time(d)? ?out|Timeout|timed out/i);
    t.not(storeTo(ns.bad, "BADSCU").status, 0);
    // The rules stay loaded as one table of ours (nft delete table inet dicomtap removes them).
    t.regex(sh(inNs(ns.srv, NFT!, "list", "table", "inet", "dicomtap")).out, /chain decide/);
  },
);
