/**
 * dicom.external-peer (rules/external-peer.ts): DICOM peers outside the internal networks, and internal
 * callers missing from the allowed peers.
 */
import test from "ava";
import { validateConfig } from "../../agent/config/config.js";
import { assoc, ep } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("dicom.external-peer: a rejected attempt from outside is medium; allowedPeers flags internal strangers", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("203.0.113.7", 50001), pacs(), { outcome: "rejected" }));
  t.is(h.rule("dicom.external-peer")[0]!.severity, "medium");
  t.deepEqual(h.rule("dicom.cleartext"), [], "no cleartext finding for a rejected association");
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { allowedPeers: ["10.1.0.0/24"] },
  });
  const a = new Harness(config);
  a.feed(assoc(ep("10.2.0.5", 50001), pacs(), modern));
  a.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  const f = a.rule("dicom.external-peer");
  t.is(f.length, 1);
  t.is(f[0]!.key, "not-allowed");
  t.is(f[0]!.peer, "ip-10.2.0.5");
});
