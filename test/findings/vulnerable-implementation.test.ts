/**
 * dicom.vulnerable-implementation (rules/vulnerable-implementation.ts): DICOM stacks with known CVEs.
 */
import test from "ava";
import { assoc, ep } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("dicom.vulnerable-implementation: DCMTK 3.6.7 named with CVEs; current dcm4che not", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50001), pacs()));
  const f = h.rule("dicom.vulnerable-implementation");
  t.deepEqual(
    f.map((x) => x.device).sort(),
    ["ip-10.1.0.10", "ip-10.1.0.5"],
    "requestor and acceptor: one per device",
  );
  const ev = f[0]!.evidence as { cves: { cve: string; source: string }[] };
  t.true(ev.cves.some((c) => c.cve === "CVE-2024-34508"));
  t.false(ev.cves.some((c) => c.cve === "CVE-2022-2119"));
  t.is(f[0]!.severity, "medium");
  const n = new Harness();
  n.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  t.deepEqual(n.rule("dicom.vulnerable-implementation"), []);
});
