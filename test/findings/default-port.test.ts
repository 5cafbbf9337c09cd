/**
 * dicom.default-port (rules/default-port.ts): DICOM on port 104, or 104 open while DICOM runs elsewhere.
 */
import test from "ava";
import { validateConfig } from "../../agent/config/config.js";
import { assoc, at, connection, dimse, ep, msg } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("dicom.default-port: low on 104, medium when 104 listens but DICOM runs elsewhere", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  t.is(h.rule("dicom.default-port")[0]?.severity, "low");
  const w = new Harness();
  const scp = ep("10.1.0.11", 11112);
  w.feed(assoc(ep("10.1.0.5", 50001), scp, modern));
  t.deepEqual(w.rule("dicom.default-port"), []);
  w.feed(connection(ep("10.1.0.99", 40000), ep("10.1.0.11", 104)));
  t.deepEqual(w.rule("dicom.default-port"), [], "judged when settled, not at the handshake");
  w.finish();
  const f = w.rule("dicom.default-port");
  t.is(f[0]?.severity, "medium");
  t.regex(f[0]!.title, /open.*11112/);
  const approved = new Harness(
    validateConfig({ sensor: { id: "s", site: "x" }, policy: { approvedPorts: { "10.1.0.10": [104] } } }),
  );
  approved.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  t.deepEqual(approved.rule("dicom.default-port"), []);
});

test("dicom.default-port: a PACS serving DICOM on 104 and 11112 is not told 104 is unused", (t) => {
  // The handshake on 104 comes before the first message of its association: judging "unused" at the
  // SYN-ACK raised a medium finding for every PACS that listens on both ports.
  const h = new Harness();
  const scp = ep("10.1.0.11", 11112);
  h.feed(assoc(ep("10.1.0.5", 50001), scp, { ts: at(0), ...modern }));
  const c = ep("10.1.0.6", 50002);
  const on104 = ep("10.1.0.11", 104);
  h.feed(connection(c, on104, "syn-ack", at(1)));
  // A live tick before the first message: too young to settle.
  h.engine.finish(at(1.1), 30e6);
  h.feed(
    dimse(c, on104, 0, msg("C-STORE-RQ", { sopClassUid: "1.2.840.10008.5.1.4.1.1.2" }), { ts: at(1.2) }),
  );
  h.feed(assoc(c, on104, { ts: at(2), ...modern }));
  const f = h.finish().filter((x) => x.rule === "dicom.default-port");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "low");
  t.regex(f[0]!.title, /default port 104/);
});
