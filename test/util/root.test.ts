import test from "ava";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  dataDir,
  installPath,
  installRoot,
  outputRoot,
  packageVersion,
  schemasDir,
} from "../../agent/util/root.js";

test("one install root: package.json, data/, schemas/; the output root holds agent/", (t) => {
  const root = installRoot();
  t.truthy(root);
  const pkg = JSON.parse(readFileSync(join(root!, "package.json"), "utf8")) as { version: string };
  t.is(packageVersion(), pkg.version);
  t.true(existsSync(join(dataDir(), "toolkits.json")));
  t.true(existsSync(join(schemasDir(), "status.schema.json")));
  t.true(existsSync(join(outputRoot(), "agent", "util", "root.js")));
  t.throws(() => installPath("no-such-folder"), { message: /no-such-folder not found/ });
});
