import test from "ava";
import { workerExecArgv } from "../../agent/agent/capture-thread.js";

test("the capture worker keeps Node's flags but not the ones naming the main script", (t) => {
  t.deepEqual(
    workerExecArgv([
      "--max-old-space-size=96",
      "--input-type=module",
      "-e",
      "await main()",
      "--enable-source-maps",
    ]),
    ["--max-old-space-size=96", "--enable-source-maps"],
  );
  t.deepEqual(
    workerExecArgv(["--eval=1", "-p", "x", "--print", "y", "--input-type", "module", "--stack-size=900"]),
    ["--stack-size=900"],
  );
});
