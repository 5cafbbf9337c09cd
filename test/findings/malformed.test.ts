/**
 * dicom.malformed (rules/malformed.ts): malformed PDUs from ul/dimse anomalies, resolved to their flow's
 * endpoints; "not DICOM" on a DICOM port that turns out to be DICOM TLS is not malformed.
 */
import test from "ava";
import { anomaly, assoc, at, dimse, ep, msg, tlsObs } from "../inventory/build.js";
import { Harness, pacs, modern, patch } from "./harness.js";

test("dicom.malformed from ul/dimse anomalies, not from other layers", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50001);
  h.feed(anomaly(c, pacs(), "ul.invalid-pdu-length"), anomaly(c, pacs(), "ul.invalid-pdu-length"));
  h.feed(anomaly(c, pacs(), "decode.bad-ip-checksum", "decode"));
  t.deepEqual(h.rule("dicom.malformed"), [], "waits for the flow's association");
  h.feed(assoc(c, pacs(), modern));
  const f = h.rule("dicom.malformed");
  t.is(f.length, 1);
  t.is(f[0]!.count, 2);
  t.is(f[0]!.severity, "medium");
  t.is(f[0]!.device, "ip-10.1.0.10");
});

test("dicom.malformed files under the anomaly's own endpoints at finish(), MACs included; an anomaly without a connection raises nothing", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50123, "aa:bb:cc:00:00:05");
  const s = ep("10.1.0.10", 104, "aa:bb:cc:00:00:10");
  const a = anomaly(c, s, "ul.invalid-pdu-length");
  h.feed(a);
  const f = h.finish().filter((x) => x.rule === "dicom.malformed");
  t.is(f.length, 1);
  t.is(f[0]!.device, "mac-aabbcc000010-10.1.0.10");
  t.is(f[0]!.peer, "mac-aabbcc000005-10.1.0.5");
  const none = new Harness();
  none.feed({ ...a, flow: "", client: null, server: null });
  t.deepEqual(
    none.finish().filter((x) => x.rule === "dicom.malformed"),
    [],
  );
});

test("'not DICOM on a DICOM port' waits for the flow's association, or for finish()", (t) => {
  const c = ep("10.1.0.5", 50123, "aa:bb:cc:00:00:05");
  const s = ep("10.1.0.10", 104, "aa:bb:cc:00:00:10");
  const h = new Harness();
  h.feed(anomaly(c, s, "ul.not-dicom-on-dicom-port"));
  t.deepEqual(h.rule("dicom.malformed"), []);
  h.feed(assoc(c, s, modern));
  t.is(h.rule("dicom.malformed")[0]?.device, "mac-aabbcc000010-10.1.0.10");
  const late = new Harness();
  late.feed(anomaly(c, s, "ul.not-dicom-on-dicom-port"));
  t.is(late.finish().filter((x) => x.rule === "dicom.malformed")[0]?.peer, "mac-aabbcc000005-10.1.0.5");
});

test("a live tick does not call DICOM TLS on port 11112 'not DICOM' before its handshake is read", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50123);
  const s = ep("10.1.0.10", 11112);
  const a = anomaly(c, s, "ul.not-dicom-on-dicom-port", "ul", at(5));
  h.feed({ ...a, client: null, server: null });
  h.engine.finish(at(5.1), 30e6);
  h.feed(tlsObs(c, s, "TLS 1.3", null, at(5.2)));
  t.deepEqual(
    h.finish().filter((x) => x.rule === "dicom.malformed"),
    [],
  );
});

test("dicom.malformed over IPv6: the flow in brackets, devices from the anomaly's endpoints; DICOM TLS is not 'not DICOM'", (t) => {
  const c = ep("fd77::5", 50123, "aa:bb:cc:00:00:05");
  const s = ep("fd77::10", 104, "aa:bb:cc:00:00:10");
  const h = new Harness();
  h.feed(anomaly(c, s, "ul.invalid-pdu-length"), anomaly(c, s, "ul.pdv-too-short"));
  h.feed(dimse(c, s, 0, msg("C-ECHO-RQ")));
  const f = h.rule("dicom.malformed");
  t.deepEqual(f.map((x) => x.key).sort(), ["ul.invalid-pdu-length", "ul.pdv-too-short"]);
  t.true(f.every((x) => x.device === "mac-aabbcc000010-fd77::10" && x.peer === "mac-aabbcc000005-fd77::5"));
  t.true(f.every((x) => (x.evidence as { flows: string[] }).flows[0] === "[fd77::5]:50123-[fd77::10]:104"));
  t.true(f.every((x) => x.title.includes("[fd77::10]:104")));
  // "Not DICOM" on a flow that then shows a TLS handshake is DICOM TLS.
  const tls = new Harness();
  tls.feed(anomaly(c, s, "ul.not-dicom-on-dicom-port"), tlsObs(c, s, "TLS 1.3", null, at(1)));
  t.deepEqual(
    tls.finish().filter((x) => x.rule === "dicom.malformed"),
    [],
  );
});

test("dicom.malformed raised with its association carries that association's capture gaps", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50124);
  h.feed(anomaly(c, pacs(), "ul.invalid-pdu-length"));
  h.feed(patch(assoc(c, pacs(), modern), { captureGaps: { count: 2, bytes: 1400 } }));
  const f = h.rule("dicom.malformed");
  t.is(f.length, 1);
  t.like((f[0]!.evidence as { counts: Record<string, number> }).counts, {
    "ul.invalid-pdu-length": 1,
    captureGaps: 2,
    captureGapBytes: 1400,
  });
});
