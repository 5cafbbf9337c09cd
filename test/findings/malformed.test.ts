/**
 * dicom.malformed (rules/malformed.ts): malformed PDUs from ul/dimse anomalies, resolved to their flow's
 * endpoints; "not DICOM" on a DICOM port that turns out to be DICOM TLS is not malformed.
 */
import test from "ava";
import type { Observation } from "../../agent/observations/types.js";
import { anomaly, assoc, at, dimse, ep, msg, tlsObs } from "../inventory/build.js";
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

test("dicom.malformed over IPv6: an anomaly's flow is matched with or without brackets, by association, DIMSE or finish()", (t) => {
  const c = ep("fd77::5", 50123, "aa:bb:cc:00:00:05");
  const s = ep("fd77::10", 104, "aa:bb:cc:00:00:10");
  const bracketed = "[fd77::5]:50123-[fd77::10]:104";
  const bare = "fd77::5:50123-fd77::10:104";
  const flowless = (code: string, flow: string): Observation => ({
    ...anomaly(c, s, code),
    flow,
    client: null,
    server: null,
  });
  for (const resolve of [
    (h: Harness) => h.feed(assoc(c, s, modern)),
    (h: Harness) => h.feed(dimse(c, s, 0, msg("C-ECHO-RQ"))),
  ]) {
    const h = new Harness();
    h.feed(flowless("ul.invalid-pdu-length", bracketed), flowless("ul.pdv-too-short", bare));
    t.deepEqual(h.rule("dicom.malformed"), []);
    resolve(h);
    const f = h.rule("dicom.malformed");
    t.deepEqual(f.map((x) => x.key).sort(), ["ul.invalid-pdu-length", "ul.pdv-too-short"]);
    t.true(f.every((x) => x.device === "mac-aabbcc000010-fd77::10" && x.peer === "mac-aabbcc000005-fd77::5"));
    // The evidence keeps the flow as the anomaly spelt it.
    t.deepEqual(f.map((x) => (x.evidence as { flows: string[] }).flows[0]).sort(), [bare, bracketed].sort());
  }
  const late = new Harness();
  late.feed(flowless("ul.invalid-pdu-length", bracketed), flowless("ul.pdv-too-short", bare));
  const settled = late.finish().filter((x) => x.rule === "dicom.malformed");
  t.deepEqual(
    settled.map((x) => x.device),
    ["ip-fd77::10", "ip-fd77::10"],
    "resolved from either spelling at finish()",
  );
  // "Not DICOM" on a flow that shows a TLS handshake is DICOM TLS, whichever spelling the anomaly used.
  const tls = new Harness();
  tls.feed(flowless("ul.not-dicom-on-dicom-port", bare), tlsObs(c, s, "TLS 1.3", null, at(1)));
  t.deepEqual(
    tls.finish().filter((x) => x.rule === "dicom.malformed"),
    [],
  );
});
