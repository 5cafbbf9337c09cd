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
import { pcapFile, pcapngFile } from "../capture/builders.js";

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
  // Issue 9: how the TCP connection ended an association neither released nor aborted (null here).
  "transportEnd",
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
  // Issue 10 added the flow's endpoints (null for a file-level anomaly) beside the flow string.
  for (const x of rep.anomalies)
    t.deepEqual(Object.keys(x).sort(), ["client", "code", "count", "detail", "flow", "layer", "server"]);
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
    t.is(g.status, 1, "not a capture at all: exit 1, like an unreadable file");
    t.regex(g.stderr, /garbage\.pcap: not a capture file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an empty file, a text file, a bare header or a file cut inside its header exits 1 and says why", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-cli-"));
  try {
    const cases: Array<[string, Buffer, RegExp]> = [
      ["empty.pcap", Buffer.alloc(0), /empty\.pcap: empty file: not a capture/],
      ["notes.txt", Buffer.from("GET / HTTP/1.1\r\nHost: pacs\r\n\r\n"), /notes\.txt: not a capture file/],
      ["tiny.pcap", Buffer.from([0xd4, 0xc3]), /tiny\.pcap: too short to be a capture/],
      ["header.pcap", pcapFile([]), /header\.pcap: a pcap header and no packet: nothing to analyse/],
      ["header.pcapng", pcapngFile([]), /header\.pcapng: a pcapng header and no packet: nothing to analyse/],
      ["cut.pcap", pcapFile([]).subarray(0, 20), /cut\.pcap: too short to be a capture/],
      [
        "v3.pcap",
        Buffer.from(pcapFile([])).fill(3, 4, 5),
        /v3\.pcap: pcap\.bad-version .*; no packet could be read/,
      ],
    ];
    for (const [name, bytes, why] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      const r = runCli(["analyze", "--json", "-", path]);
      t.is(r.status, 1, name);
      t.regex(r.stderr, why, name);
      // The report is still written: the run itself worked, the file gave it nothing.
      t.is((JSON.parse(r.stdout) as Report).stats.packets, 0, name);
    }
    // One useless file among good ones: the good ones are analysed, the status still says so.
    const mixed = runCli(["analyze", "--json", "-", NMAP, join(dir, "empty.pcap")]);
    t.is(mixed.status, 1);
    t.is((JSON.parse(mixed.stdout) as Report).stats.packets, 14);
    t.regex(mixed.stderr, /empty\.pcap: not a capture/, "the summary's file line");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a config with several problems: analyze exits 2 and lists every one with its key path", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-cli-"));
  try {
    const cfg = join(dir, "config.json");
    writeFileSync(cfg, JSON.stringify({ sensor: { id: "ct-1" }, capture: { interfac: "eth1" } }));
    for (const args of [
      ["analyze", "--config", cfg, NMAP],
      ["run", "--config", cfg],
    ]) {
      const r = runCli(args);
      t.is(r.status, 2, args[0]);
      t.is(
        r.stderr,
        "dicomtap: config: sensor.site: is required\n" +
          "dicomtap: config: capture.interfac: unknown key (allowed: interface, filter, snaplen, bufferMiB, tool)\n",
        args[0],
      );
    }
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
