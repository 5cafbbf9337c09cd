/**
 * tls.weak (rules/tls-weak.ts): weak DICOM TLS handshakes (more cases in test/tls/weak.test.ts).
 */
import test from "ava";
import { ep, tlsObs } from "../inventory/build.js";
import { Harness } from "./harness.js";

test("tls.weak: old versions, expired and self-signed certificates on DICOM ports", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50001);
  const good = {
    subject: "CN=pacs",
    issuer: "CN=Site CA",
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2027-01-01T00:00:00.000Z",
    selfSigned: false,
  };
  h.feed(tlsObs(c, ep("10.1.0.10", 2762), "TLS 1.2", good));
  h.feed(tlsObs(c, ep("10.1.0.11", 2762), "TLS 1.3", null));
  t.deepEqual(h.rule("tls.weak"), []);
  h.feed(tlsObs(c, ep("10.1.0.12", 2762), "TLS 1.0", good));
  h.feed(tlsObs(c, ep("10.1.0.13", 2762), "TLS 1.2", { ...good, notAfter: "2025-01-01T00:00:00.000Z" }));
  h.feed(tlsObs(c, ep("10.1.0.14", 2762), "TLS 1.2", { ...good, issuer: "CN=pacs", selfSigned: true }));
  h.feed(tlsObs(c, ep("10.1.0.15", 443), "TLS 1.0", good));
  const f = h
    .rule("tls.weak")
    .map((x) => `${x.device}:${x.severity}`)
    .sort();
  t.deepEqual(f, ["ip-10.1.0.12:medium", "ip-10.1.0.13:medium", "ip-10.1.0.14:low"]);
});
