/**
 * dicom.unknown-move-destination (rules/unknown-move-destination.ts): C-MOVE to AE titles nobody knows.
 */
import test from "ava";
import { validateConfig } from "../../agent/config/config.js";
import { assoc, at, dimse, ep, msg, pc, STUDY_ROOT_MOVE } from "../inventory/build.js";
import { Harness, pacs, modern, ordinaryDay } from "./harness.js";

test("dicom.unknown-move-destination: unknown AE flagged, seen or policy AEs not", (t) => {
  const h = new Harness();
  const ws = ep("10.1.0.30", 50002);
  h.feed(
    dimse(ws, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "EXFIL" }), {
      calling: "WS1",
    }),
  );
  h.feed(assoc(ws, pacs(), { calling: "WS1", pcs: [pc(1, STUDY_ROOT_MOVE)], ...modern }));
  const f = h.rule("dicom.unknown-move-destination");
  t.is(f.length, 1);
  t.is(f[0]!.key, "EXFIL");
  t.is(f[0]!.device, "ip-10.1.0.10");
  const n = new Harness();
  ordinaryDay(n);
  n.finish();
  t.deepEqual(n.rule("dicom.unknown-move-destination"), [], "WS1 answered the sub-association");
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.77": ["VIEWER"] } },
  });
  const p = new Harness(config);
  p.feed(
    dimse(ws, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "VIEWER" }), {
      calling: "WS1",
    }),
  );
  t.deepEqual(
    p.finish().filter((x) => x.rule === "dicom.unknown-move-destination"),
    [],
  );
});

test("dicom.unknown-move-destination: a live tick does not judge a C-MOVE before its sub-association", (t) => {
  const h = new Harness();
  const ws = ep("10.1.0.30", 50002);
  h.feed(
    dimse(ws, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "WS1" }), {
      calling: "WS1",
      called: "PACS",
      ts: at(31),
    }),
  );
  h.engine.finish(at(31.25), 30e6);
  t.deepEqual(h.rule("dicom.unknown-move-destination"), [], "too young to judge");
  // The sub-association to WS1 shows its first message, then the C-MOVE's association ends.
  const sub = ep("10.1.0.10", 50100);
  const wsScp = ep("10.1.0.30", 11112);
  h.feed(
    dimse(sub, wsScp, 0, msg("C-STORE-RQ", { sopClassUid: "1.2.840.10008.5.1.4.1.1.2" }), {
      calling: "PACS",
      called: "WS1",
      ts: at(32),
    }),
  );
  h.engine.finish(at(40), 30e6);
  t.deepEqual(h.rule("dicom.unknown-move-destination"), []);
  h.engine.finish(at(100), 30e6);
  t.deepEqual(h.rule("dicom.unknown-move-destination"), [], "WS1 answered the sub-association");
});
