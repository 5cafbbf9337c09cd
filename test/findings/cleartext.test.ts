/**
 * dicom.cleartext (rules/cleartext.ts): accepted associations in clear, higher across the network boundary.
 */
import test from "ava";
import { assoc, ep } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("dicom.cleartext and dicom.external-peer: higher for external peers, none for internal", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("203.0.113.7", 50001), pacs(), { calling: "REMOTE", ...modern }));
  const ext = h.rule("dicom.external-peer");
  t.is(ext.length, 1);
  t.is(ext[0]!.severity, "high");
  t.is(ext[0]!.device, "ip-10.1.0.10");
  t.is(ext[0]!.peer, "ip-203.0.113.7");
  t.is(h.rule("dicom.cleartext")[0]!.severity, "high");
  h.feed(assoc(ep("10.1.0.20", 50001), ep("198.51.100.9", 104), { ...modern }));
  t.is(h.rule("dicom.external-peer").find((f) => f.key === "outbound")?.severity, "medium");
  const n = new Harness();
  n.feed(assoc(ep("10.1.0.20", 50001), pacs(), modern));
  t.deepEqual(n.rule("dicom.external-peer"), []);
});
