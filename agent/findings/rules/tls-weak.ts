/**
 * tls.weak: a TLS handshake on a DICOM port (PS3.15 Annex B; DICOM_TLS_PORTS) shows weak protection — SSL or
 * TLS below 1.2, a NULL, anonymous, export, RC4 or (3)DES cipher suite, an expired or not yet valid
 * certificate, an RSA or DSA key below 2048 bits, or a self-signed certificate. One finding per server port,
 * with the reasons of every handshake seen there.
 * Points to: TLS (DESIGN.md §5).
 */
import { isoFromMicros, microsFromIso } from "../../util/time.js";
import type { TlsObservation } from "../../observations/types.js";
import { DICOM_TLS_PORTS } from "../../dicom/sop.js";
import { suiteTraits } from "../../tls/suites.js";
import { formatEndpoint, formatFlow } from "../../util/flow.js";
import { compareSeverity, type Severity } from "../severity.js";
import type { Rule, RuleContext } from "./context.js";

export class TlsWeakRule implements Rule {
  readonly ids = ["tls.weak"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onTls(o: TlsObservation): void {
    // Encrypted DICOM cannot be told from HTTPS by its bytes: judge TLS on the DICOM ports only, so a
    // PACS's self-signed web interface on 443 is not reported as weak DICOM TLS. A NULL cipher shows its
    // bytes: DICOM decoded from it is DICOM TLS on whatever port.
    if (!DICOM_TLS_PORTS.has(o.server.port) && o.plaintextDicom !== true) return;
    const problems: string[] = [];
    let severity: Severity = "low";
    const raise = (s: Severity): void => {
      if (compareSeverity(s, severity) > 0) severity = s;
    };
    // The suite: NULL, anonymous and EXPORT suites give no real protection (high); RC4 (RFC 7465), DES and
    // 3DES (Sweet32) are broken or deprecated (medium). Its IANA name says which (tls/suites.ts).
    const suite = o.cipherSuite ?? null;
    const t = suiteTraits(suite ?? "");
    if (o.plaintext === true || t.nullCipher) {
      problems.push(
        o.plaintextDicom === true
          ? `NULL cipher: DICOM readable on the wire (${suite})`
          : `NULL cipher: no encryption (${suite})`,
      );
      raise("high");
    }
    if (t.anonymous) {
      problems.push(`anonymous key exchange, the server is not authenticated (${suite})`);
      raise("high");
    }
    if (t.export) {
      problems.push(`export-grade cipher suite (${suite})`);
      raise("high");
    }
    if (t.rc4 || t.des || t.tripleDes) {
      problems.push(`${t.rc4 ? "RC4" : t.tripleDes ? "3DES" : "DES"} cipher (${suite})`);
      raise("medium");
    }
    const v = o.version;
    if (v && /^SSL/.test(v)) {
      problems.push(`${v} (broken)`);
      raise("high");
    } else if (v === "TLS 1.0" || v === "TLS 1.1") {
      problems.push(`${v} is below TLS 1.2`);
      raise("medium");
    }
    const c = o.certificate;
    if (c) {
      const now = o.tsMicros;
      const notAfter = microsFromIso(c.notAfter);
      const notBefore = microsFromIso(c.notBefore);
      if (notAfter !== null && notAfter < now) {
        problems.push(`certificate expired on ${isoFromMicros(notAfter).slice(0, 10)}`);
        raise("medium");
      }
      if (notBefore !== null && notBefore > now) {
        problems.push("certificate not yet valid");
        raise("medium");
      }
      // NIST SP 800-57 / BSI TR-02102: RSA and DSA keys below 2048 bits no longer protect anything.
      const bits = c.keyBits ?? null;
      const rsaOrDsa = c.keyType === "rsa" || c.keyType === "rsa-pss" || c.keyType === "dsa";
      if (rsaOrDsa && bits !== null && bits < 2048) {
        problems.push(`${bits}-bit ${c.keyType === "dsa" ? "DSA" : "RSA"} key`);
        raise("medium");
      }
      if (c.selfSigned) problems.push("self-signed certificate");
    }
    if (problems.length === 0) return;
    // One finding per server port: the reasons of every handshake seen there are kept together, so clients
    // that negotiate differently do not make the finding's evidence flap (signature = the reasons).
    const device = this.ctx.id(o.server);
    const key = String(o.server.port);
    // The reasons already listed in the finding of this port.
    const prior = this.ctx.evidence("tls.weak", device, null, key)?.problems;
    const reasons = Array.isArray(prior) ? (prior as string[]).slice(0, 16) : [];
    for (const p of problems) if (!reasons.includes(p) && reasons.length < 16) reasons.push(p);
    this.ctx.hit({
      rule: "tls.weak",
      severity,
      device,
      peer: null,
      key,
      title: `Weak DICOM TLS on ${formatEndpoint(o.server)}: ${reasons.join(", ")}`,
      ts: o.tsMicros,
      flow: formatFlow(o.client, o.server),
      counts: { handshakes: 1 },
      details: {
        version: v,
        cipherSuite: suite,
        plaintext: o.plaintext === true || t.nullCipher,
        plaintextDicom: o.plaintextDicom === true,
        certificate: c
          ? {
              subject: c.subject,
              issuer: c.issuer,
              notBefore: c.notBefore,
              notAfter: c.notAfter,
              selfSigned: c.selfSigned,
              keyType: c.keyType ?? null,
              keyBits: c.keyBits ?? null,
            }
          : null,
        problems: reasons,
      },
      signature: reasons.join("|"),
    });
  }
}
