/**
 * dicom.scanner by a C-ECHO sweep across hosts (rules/echo-sweep.ts).
 */
import test from "ava";
import { assoc, at, ep, pc, VERIFICATION } from "../inventory/build.js";
import { Harness, modern } from "./harness.js";

test("dicom.scanner: C-ECHO sweep across hosts", (t) => {
  const h = new Harness();
  for (let i = 0; i < 5; i++)
    h.feed(
      assoc(ep("10.1.0.66", 42000 + i), ep(`10.1.0.${100 + i}`, 104), {
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...modern,
      }),
    );
  const s = h.rule("dicom.scanner");
  t.is(s.length, 1);
  t.is(s[0]!.key, "echo-sweep");
  const n = new Harness();
  for (let i = 0; i < 10; i++)
    n.feed(
      assoc(ep("10.1.0.66", 42000 + i), ep("10.1.0.100", 104), {
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...modern,
      }),
    );
  t.deepEqual(n.rule("dicom.scanner"), [], "repeated echoes to one host (monitoring) are not a sweep");
});

test("dicom.scanner: a PACS verifying its known nodes is low; a sweep with refusals is high", (t) => {
  const h = new Harness();
  for (let i = 0; i < 6; i++)
    h.feed(
      assoc(ep("10.1.0.10", 42000 + i), ep(`10.1.0.${100 + i}`, 104), {
        calling: "PACS",
        called: `NODE${i}`,
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...modern,
      }),
    );
  t.deepEqual(
    h.rule("dicom.scanner").map((x) => `${x.key}:${x.severity}`),
    ["echo-sweep:low"],
  );
  const s = new Harness();
  for (let i = 0; i < 5; i++)
    s.feed(
      assoc(ep("10.1.0.66", 42000 + i), ep(`10.1.0.${100 + i}`, 104), {
        called: "ANY-SCP",
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...(i === 2 ? { outcome: "rejected" as const } : modern),
      }),
    );
  t.deepEqual(
    s.rule("dicom.scanner").map((x) => `${x.key}:${x.severity}`),
    ["echo-sweep:high"],
  );
});
