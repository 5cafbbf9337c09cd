/**
 * dicom.malformed (rules/malformed.ts): malformed PDUs from ul/dimse anomalies, resolved to their flow's
 * endpoints; "not DICOM" on a DICOM port that turns out to be DICOM TLS is not malformed.
 */
import test from "ava";
import { anomaly, assoc, at, ep, tlsObs } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("dicom.malformed from ul/dimse anomalies, not from other layers", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50001);
  h.feed(anomaly(c, pacs(), "ul.invalid-pdu-length"), anomaly(c, pacs(), "ul.invalid-pdu-length"));
  h.feed(anomaly(c, pacs(), "decode.bad-ip-checksum", "decode"));
  const f = h.rule("dicom.malformed");
  t.is(f.length, 1);
  t.is(f[0]!.count, 2);
  t.is(f[0]!.severity, "medium");
  t.is(f[0]!.device, "ip-10.1.0.10");
});

test("dicom.malformed waits for the flow's endpoints when the anomaly has none, so device ids carry MACs", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50123, "aa:bb:cc:00:00:05");
  const s = ep("10.1.0.10", 104, "aa:bb:cc:00:00:10");
  const a = anomaly(c, s, "ul.invalid-pdu-length");
  h.feed({ ...a, client: null, server: null });
  t.deepEqual(h.rule("dicom.malformed"), []);
  h.feed(assoc(c, s, modern));
  const f = h.rule("dicom.malformed");
  t.is(f.length, 1);
  t.is(f[0]!.device, "mac-aabbcc000010-10.1.0.10");
  t.is(f[0]!.peer, "mac-aabbcc000005-10.1.0.5");
  const late = new Harness();
  late.feed({ ...a, client: null, server: null });
  t.is(
    late.finish().filter((x) => x.rule === "dicom.malformed")[0]?.device,
    "ip-10.1.0.10",
    "resolved from the flow at finish()",
  );
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
