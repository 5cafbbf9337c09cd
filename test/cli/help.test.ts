/**
 * The command line as a person uses it: every command answers --help (and -h, and `dicomtap help X`)
 * with its own usage on standard output and exit 0, without running anything; `dicomtap --help` lists
 * the commands; a usage error shows the usage of the command it was made in.
 */
import test from "ava";
import { runCli } from "../helpers/cli.js";

const COMMANDS = ["analyze", "run", "doctor", "console", "central"];

test("COMMAND --help and -h print that command's usage and exit 0", (t) => {
  for (const c of COMMANDS) {
    for (const flag of ["--help", "-h"]) {
      const r = runCli([c, flag]);
      t.is(r.status, 0, `${c} ${flag}: ${r.stderr}`);
      t.is(r.stderr, "", `${c} ${flag}`);
      t.true(r.stdout.startsWith(`usage: dicomtap ${c} `), `${c} ${flag}: ${r.stdout.slice(0, 80)}`);
      t.regex(r.stdout, /options:/);
      t.regex(r.stdout, /exit status:/);
      for (const other of COMMANDS.filter((o) => o !== c))
        t.false(r.stdout.includes(`usage: dicomtap ${other}`), `${c} ${flag} shows only its own usage`);
    }
    t.is(runCli(["help", c]).stdout, runCli([c, "--help"]).stdout);
  }
});

test("--help wins over anything else on the line, and nothing runs", (t) => {
  // run --help must not start the agent (no config at the default path here), nor analyze read a file.
  const run = runCli(["run", "--config", "/nonexistent/config.json", "--help"], { timeoutMs: 20_000 });
  t.is(run.status, 0);
  t.regex(run.stdout, /^usage: dicomtap run /);
  const analyze = runCli(["analyze", "/nonexistent.pcap", "-h"]);
  t.is(analyze.status, 0);
  t.regex(analyze.stdout, /^usage: dicomtap analyze /);
  const doctor = runCli(["doctor", "--bogus", "--help"]);
  t.is(doctor.status, 0);
  // After "--" a word is a file name, not an option.
  const file = runCli(["analyze", "--", "--help"]);
  t.is(file.status, 1);
  t.regex(file.stderr, /--help/);
});

test("dicomtap --help lists every command; no command at all is a usage error", (t) => {
  for (const args of [["--help"], ["-h"], ["help"]]) {
    const r = runCli(args);
    t.is(r.status, 0);
    t.regex(r.stdout, /^usage: dicomtap <command>/);
    for (const c of COMMANDS) t.regex(r.stdout, new RegExp(`^  ${c}\\b`, "m"), c);
    t.regex(r.stdout, /dicomtap COMMAND --help/);
  }
  const none = runCli([]);
  t.is(none.status, 2);
  t.regex(none.stdout, /^usage: dicomtap <command>/);
});

test("a usage error shows the usage of its own command; an unknown one the command list", (t) => {
  const a = runCli(["analyze", "--bogus", "x.pcap"]);
  t.is(a.status, 2);
  t.regex(a.stderr, /^dicomtap: unknown option --bogus\nusage: dicomtap analyze /);
  const r = runCli(["run", "--speed", "warp"]);
  t.is(r.status, 2);
  t.regex(r.stderr, /usage: dicomtap run /);
  const d = runCli(["doctor", "--frob"]);
  t.is(d.status, 2);
  t.regex(d.stderr, /usage: dicomtap doctor /);
  const c = runCli(["console", "--once", "x"]);
  t.is(c.status, 2);
  t.regex(c.stderr, /usage: dicomtap console /);
  const u = runCli(["frobnicate"]);
  t.is(u.status, 2);
  t.regex(u.stderr, /usage: dicomtap <command>/);
  const h = runCli(["help", "frobnicate"]);
  t.is(h.status, 2);
  t.regex(h.stderr, /no command frobnicate/);
});
