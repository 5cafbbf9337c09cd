import test from "ava";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { workerExecArgv } from "../../agent/agent/capture-thread.js";

test("the capture worker keeps Node's flags but not the ones naming the main script, nor V8's", (t) => {
  t.deepEqual(
    workerExecArgv([
      "--max-old-space-size=96",
      "--max-semi-space-size=2",
      "--input-type=module",
      "-e",
      "await main()",
      "--enable-source-maps",
    ]),
    ["--enable-source-maps"],
  );
  t.deepEqual(
    workerExecArgv(["--eval=1", "-p", "x", "--print", "y", "--input-type", "module", "--stack-size=900"]),
    [],
  );
});

test("a worker starts with what workerExecArgv keeps of the flags bin/dicomtap.js and the unit pass", async (t) => {
  // The installed command's first line (and the unit's ExecStart) set V8 heap limits; a worker given them
  // throws ERR_WORKER_INVALID_EXEC_ARGV, which stopped `dicomtap run` on any interface.
  const shebang = readFileSync("bin/dicomtap.js", "utf8").split("\n")[0]!;
  const flags = shebang.split(/\s+/).filter((w) => w.startsWith("--"));
  t.true(
    flags.some((f) => f.startsWith("--max-old-space-size")),
    shebang,
  );
  const unit = readFileSync("systemd/dicomtap.service", "utf8");
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!;
  const unitFlags = exec.split(/\s+/).filter((w) => w.startsWith("--") && !w.startsWith("--config"));
  for (const argv of [flags, unitFlags]) {
    t.throws(() => new Worker("0", { eval: true, execArgv: argv }), { code: "ERR_WORKER_INVALID_EXEC_ARGV" });
    const w = new Worker("0", { eval: true, execArgv: workerExecArgv(argv) });
    t.is(await new Promise<number>((r) => w.once("exit", r)), 0);
  }
});
