/**
 * inventory.new-device (rules/new-device.ts): one info finding per device.
 */
import test from "ava";
import { defaultConfig } from "../../agent/config/config.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import { assoc, at, ep } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("inventory.new-device: one info finding per device, whichever order inventory and engine run", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern), assoc(ep("10.1.0.5", 50002), pacs(), modern));
  const f = h.rule("inventory.new-device");
  t.deepEqual(f.map((x) => x.device).sort(), ["ip-10.1.0.10", "ip-10.1.0.5"]);
  t.true(f.every((x) => x.severity === "info"));
  const config = defaultConfig();
  const inv = new Inventory(config);
  const eng = new FindingsEngine(config, inv);
  const o = assoc(ep("10.1.0.5", 50001), pacs(), modern);
  eng.observe(o);
  inv.observe(o);
  eng.finish(at(1));
  t.is(eng.findings().filter((x) => x.rule === "inventory.new-device").length, 2);
});
