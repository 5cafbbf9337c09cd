/**
 * `dicomtap analyze` as a user runs it: the report's contract (DESIGN.md §3: every field present, null
 * rather than omitted), the summary, exit statuses, and damaged files analysed up to the damage.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Report } from "../../agent/report/types.js";
import { runCli } from "../helpers/cli.js";

const NMAP = "../shared/captures/nmap_dicom_ping_synthetic.pcap";
const TAPIRX = "../shared/captures/tapirx_dicom_arq_2_get_testclient.pcap";

const STATS = [
  "packets",
  "bytes",
  "tcpFlows",
  "dicomFlows",
  "associations",
  "dimseMessages",
  "anomalies",
  "bytesCopied",
];
const ASSOCIATION = [
  "client",
  "server",
  "callingAE",
  "calledAE",
  "applicationContext",
  "requestor",
  "acceptor",
  "userIdentity",
  "presentationContexts",
  "outcome",
  "reject",
  "abort",
  "released",
  "messages",
  "messagesOmitted",
  "captureGaps",
  "start",
  "end",
];

function report(args: string[]): Report {
  const r = runCli(["analyze", "--json", "-", ...args]);
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Report;
}

test("--json - writes the version-1 report with every field, and the summary goes to stderr", (t) => {
  const r = runCli(["analyze", "--json", "-", NMAP]);
  t.is(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as Report;
  t.is(rep.version, 1);
  t.deepEqual(Object.keys(rep).sort(), [
    "anomalies",
    "associations",
    "devices",
    "findings",
    "stats",
    "version",
  ]);
  t.deepEqual(Object.keys(rep.stats).sort(), [...STATS].sort());
  t.is(rep.stats.packets, 14);
  t.is(rep.associations.length, 1);
  const a = rep.associations[0]!;
  t.deepEqual(Object.keys(a).sort(), [...ASSOCIATION].sort());
  t.is(a.callingAE, "ECHOSCU");
  t.is(a.calledAE, "ANY-SCP");
  t.is(a.outcome, "rejected");
  t.deepEqual(a.reject, { result: 1, source: 1, reason: 7 });
  t.is(a.acceptor, null);
  t.regex(a.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  for (const pc of a.presentationContexts) {
    t.deepEqual(Object.keys(pc).sort(), [
      "abstractSyntax",
      "id",
      "result",
      "transferSyntax",
      "transferSyntaxes",
    ]);
  }
  t.true(rep.anomalies.some((x) => x.code === "ul.nonzero-reserved-header" && x.count === 1));
  for (const x of rep.anomalies)
    t.deepEqual(Object.keys(x).sort(), ["code", "count", "detail", "flow", "layer"]);
  t.regex(r.stderr, /Associations \(1\)/);
});

test("the readable summary names associations, AE titles and anomalies", (t) => {
  const r = runCli(["analyze", NMAP]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /ECHOSCU → ANY-SCP\s+rejected/);
  t.regex(r.stdout, /ul\.nonzero-reserved-header ×1/);
  t.regex(r.stdout, /Findings \(\d+\)/);
});

test("several files are one capture; --json OUT writes a file", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-cli-"));
  try {
    const out = join(dir, "r.json");
    const r = runCli(["analyze", "--quiet", "--json", out, NMAP, TAPIRX]);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, "");
    const rep = JSON.parse(readFileSync(out, "utf8")) as Report;
    t.is(rep.stats.packets, 16);
    t.is(rep.associations.length, 2);
    const big = rep.associations.find((a) => a.presentationContexts.length === 123);
    t.truthy(big);
    t.is(big!.outcome, "incomplete");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a truncated capture is analysed up to the damage and reported; a missing file exits 1", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-cli-"));
  try {
    const whole = readFileSync(NMAP);
    const cut = join(dir, "cut.pcap");
    writeFileSync(cut, whole.subarray(0, whole.length - 30));
    const r = runCli(["analyze", "--json", "-", cut]);
    t.is(r.status, 0);
    t.regex(r.stderr, /truncated/);
    const rep = JSON.parse(r.stdout) as Report;
    t.is(rep.stats.packets, 13);
    t.true(rep.anomalies.some((x) => x.layer === "capture"));

    const missing = runCli(["analyze", join(dir, "nope.pcap")]);
    t.is(missing.status, 1);
    t.regex(missing.stderr, /nope\.pcap/);

    const garbage = join(dir, "garbage.pcap");
    writeFileSync(garbage, Buffer.from("this is not a capture file at all"));
    const g = runCli(["analyze", "--json", "-", garbage]);
    t.true(g.status === 0 || g.status === 1);
    t.regex(g.stderr, /garbage\.pcap/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("usage errors exit 2 with the usage text", (t) => {
  for (const args of [["analyze"], ["analyze", "--bogus", NMAP], ["frobnicate"], ["analyze", "--json"]]) {
    const r = runCli(args);
    t.is(r.status, 2, args.join(" "));
    t.regex(r.stderr, /usage: dicomtap/);
  }
  t.is(runCli(["--help"]).status, 0);
  t.regex(runCli(["--version"]).stdout, /^dicomtap \d+\.\d+\.\d+/);
});

test("the same file analysed twice gives the same report", (t) => {
  t.deepEqual(report([TAPIRX]), report([TAPIRX]));
});

test("--json - into a reader that stops early (| head) ends quietly, not with an EPIPE stack trace", (t) => {
  // About 250 KB of report: far more than a pipe holds (64 KiB) once `head` has gone.
  const files = [TAPIRX, NMAP, ...Array.from({ length: 30 }, () => TAPIRX)];
  const main = new URL("../../agent/cli/main.js", import.meta.url).href;
  const code = `import { main } from ${JSON.stringify(main)}; process.exitCode = await main(process.argv.slice(1));`;
  const script = `"$0" --input-type=module -e "$1" -- analyze --quiet --json - "\${@:2}" | head -c 10 >/dev/null; exit \${PIPESTATUS[0]}`;
  const r = spawnSync("bash", ["-c", script, process.execPath, code, ...files], { encoding: "utf8" });
  t.is(r.stderr, "");
  t.is(r.status, 0);
});
