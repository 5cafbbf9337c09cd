/**
 * dicom.ae-scan (rules/ae-scan.ts): bursts of association rejects from one source, or many called AE titles
 * tried on one server.
 */
import test from "ava";
import { assoc, at, ep } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("dicom.ae-scan: a burst of rejects, or many called AEs on one server", (t) => {
  const h = new Harness();
  for (let i = 0; i < 9; i++)
    h.feed(
      assoc(ep("10.1.0.66", 50000 + i), pacs(), { called: `GUESS${i}`, outcome: "rejected", ts: at(i) }),
    );
  t.is(
    h.rule("dicom.ae-scan").filter((f) => f.key === "rejects").length,
    0,
    "9 rejects are under the threshold of 10",
  );
  t.is(
    h.rule("dicom.ae-scan").filter((f) => f.key === "called-aes").length,
    1,
    "9 distinct called AEs are over 5",
  );
  h.feed(assoc(ep("10.1.0.66", 50010), pacs(), { called: "GUESS9", outcome: "rejected", ts: at(10) }));
  const rej = h.rule("dicom.ae-scan").find((f) => f.key === "rejects")!;
  t.is(rej.severity, "high");
  t.is(rej.device, "ip-10.1.0.66");

  const slow = new Harness();
  for (let i = 0; i < 12; i++)
    slow.feed(
      assoc(ep("10.1.0.66", 50000 + i), pacs(), { called: "PACS", outcome: "rejected", ts: at(i * 60) }),
    );
  t.deepEqual(slow.rule("dicom.ae-scan"), [], "rejects spread beyond the window are not a burst");
  const many = new Harness();
  for (let i = 0; i < 6; i++)
    many.feed(
      assoc(ep("10.1.0.30", 50000 + i), ep(`10.1.0.${100 + i}`, 104), { called: `PACS${i}`, ...modern }),
    );
  t.deepEqual(many.rule("dicom.ae-scan"), [], "one called AE on each of many servers is not a scan");
  const multi = new Harness();
  for (let i = 0; i < 8; i++)
    multi.feed(assoc(ep("10.1.0.30", 50000 + i), ep("10.1.0.10", 104 + i), { called: `AE${i}`, ...modern }));
  t.deepEqual(
    multi.rule("dicom.ae-scan"),
    [],
    "accepted associations to many AEs of one host are not a scan",
  );
});

test("dicom.ae-scan: a modality retrying one rejected request is low, not a high scan", (t) => {
  const h = new Harness();
  for (let i = 0; i < 10; i++)
    h.feed(
      assoc(ep("10.1.0.5", 50000 + i), pacs(), {
        calling: "CT01",
        called: "OLDPACS",
        outcome: "rejected",
        ts: at(i * 25),
      }),
    );
  const f = h.rule("dicom.ae-scan");
  t.deepEqual(
    f.map((x) => `${x.key}:${x.severity}`),
    ["rejects:low"],
  );
  t.regex(f[0]!.title, /same request/);
  // A different request joins the burst: now it looks like guessing.
  h.feed(
    assoc(ep("10.1.0.5", 50020), pacs(), {
      calling: "CT01",
      called: "OTHER",
      outcome: "rejected",
      ts: at(251),
    }),
  );
  t.is(h.rule("dicom.ae-scan").find((x) => x.key === "rejects")!.severity, "high");
  t.true(h.changes.some(([r, c, s]) => r === "dicom.ae-scan" && c === "changed" && s === "high"));
});
