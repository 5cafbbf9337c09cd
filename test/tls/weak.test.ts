/**
 * tls.weak from TLS observations (DESIGN.md §5, issue 9): cipher suites (NULL, anonymous, export high;
 * RC4, DES, 3DES medium), versions, key sizes and certificates; one finding per server port with the
 * reasons of all its handshakes; and the guard's copy of the new observation fields.
 */
import test from "ava";
import { defaultConfig } from "../../agent/config/config.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import { guardObservation } from "../../agent/observations/guard.js";
import type { Observation, TlsObservation } from "../../agent/observations/types.js";
import type { FindingRecord } from "../../agent/report/types.js";

const T = Date.parse("2026-06-01T00:00:00Z") * 1000;
const client = { ip: "10.1.0.5", port: 50001, mac: null };
const server = (ip: string, port = 2762) => ({ ip, port, mac: null });
const goodCert = {
  subject: "CN=pacs",
  issuer: "CN=Site CA",
  notBefore: "2026-01-01T00:00:00.000Z",
  notAfter: "2027-01-01T00:00:00.000Z",
  selfSigned: false,
  keyType: "rsa",
  keyBits: 2048,
  keyCurve: null,
};

function obs(ip: string, o: Partial<TlsObservation> = {}, port = 2762): TlsObservation {
  return {
    kind: "tls",
    tsMicros: T,
    client,
    server: server(ip, port),
    version: "TLS 1.2",
    certificate: goodCert,
    cipherSuite: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    cipherSuiteId: 0xc02f,
    alerts: [],
    handshakeFailure: false,
    plaintext: false,
    plaintextDicom: false,
    ...o,
  };
}

/** A finding's evidence, for reading its rule-specific fields. */
const ev = (f: FindingRecord): Record<string, unknown> => f.evidence as Record<string, unknown>;

class Harness {
  readonly engine: FindingsEngine;
  readonly inventory: Inventory;
  readonly changes: string[] = [];
  constructor() {
    const config = defaultConfig();
    this.inventory = new Inventory(config);
    this.engine = new FindingsEngine(config, this.inventory);
    this.engine.onChange = (f, change) => {
      if (f.rule === "tls.weak") this.changes.push(`${f.device}:${change}:${f.severity}`);
    };
  }
  feed(...o: Observation[]): this {
    for (const x of o) {
      const g = guardObservation(x);
      this.inventory.observe(g);
      this.engine.observe(g);
    }
    return this;
  }
  weak(): FindingRecord[] {
    return this.engine.findings().filter((f) => f.rule === "tls.weak");
  }
  one(ip: string): FindingRecord | undefined {
    return this.weak().find((f) => f.device === `ip-${ip}`);
  }
}

test("a good TLS 1.2 or 1.3 configuration raises nothing", (t) => {
  const h = new Harness();
  h.feed(obs("10.1.0.10"));
  h.feed(obs("10.1.0.11", { version: "TLS 1.3", certificate: null, cipherSuite: "TLS_AES_256_GCM_SHA384" }));
  h.feed(
    obs("10.1.0.12", { certificate: { ...goodCert, keyType: "ec", keyBits: 256, keyCurve: "prime256v1" } }),
  );
  t.deepEqual(h.weak(), []);
});

test("cipher suites: NULL, anonymous and export high; RC4, DES and 3DES medium; the suite named", (t) => {
  const h = new Harness();
  h.feed(
    obs("10.1.0.20", { cipherSuite: "TLS_RSA_WITH_NULL_SHA256", plaintext: true, plaintextDicom: true }),
  );
  h.feed(obs("10.1.0.21", { cipherSuite: "TLS_RSA_WITH_NULL_SHA", plaintext: true }));
  h.feed(obs("10.1.0.22", { cipherSuite: "TLS_DH_anon_WITH_AES_128_CBC_SHA", certificate: null }));
  h.feed(obs("10.1.0.23", { cipherSuite: "TLS_RSA_EXPORT_WITH_RC4_40_MD5" }));
  h.feed(obs("10.1.0.24", { cipherSuite: "TLS_RSA_WITH_RC4_128_SHA" }));
  h.feed(obs("10.1.0.25", { cipherSuite: "TLS_RSA_WITH_3DES_EDE_CBC_SHA" }));
  h.feed(obs("10.1.0.26", { cipherSuite: "TLS_RSA_WITH_DES_CBC_SHA" }));
  h.feed(obs("10.1.0.27", { cipherSuite: "TLS_SHA256_SHA256", version: "TLS 1.3", plaintext: true }));
  const sev = (ip: string): string => h.one(ip)?.severity ?? "none";
  t.is(sev("10.1.0.20"), "high");
  t.is(sev("10.1.0.21"), "high");
  t.is(sev("10.1.0.22"), "high");
  t.is(sev("10.1.0.23"), "high");
  t.is(sev("10.1.0.24"), "medium");
  t.is(sev("10.1.0.25"), "medium");
  t.is(sev("10.1.0.26"), "medium");
  t.is(sev("10.1.0.27"), "high");
  const nul = h.one("10.1.0.20")!;
  t.regex(nul.title, /NULL cipher: DICOM readable on the wire/);
  t.regex(nul.title, /TLS_RSA_WITH_NULL_SHA256/);
  t.is(ev(nul).cipherSuite, "TLS_RSA_WITH_NULL_SHA256");
  t.is(ev(nul).plaintextDicom, true);
  t.deepEqual(ev(nul).flows, ["10.1.0.5:50001-10.1.0.20:2762"]);
  t.regex(h.one("10.1.0.21")!.title, /NULL cipher: no encryption/);
  t.regex(h.one("10.1.0.22")!.title, /anonymous key exchange/);
  t.regex(h.one("10.1.0.23")!.title, /export-grade.*RC4 cipher/);
  t.regex(h.one("10.1.0.25")!.title, /3DES cipher/);
  t.regex(h.one("10.1.0.26")!.title, /DES cipher \(TLS_RSA_WITH_DES_CBC_SHA\)/);
});

test("versions and certificates: SSL 3.0, TLS 1.0/1.1, RSA under 2048 bits, expired, not yet valid, self-signed", (t) => {
  const h = new Harness();
  h.feed(obs("10.1.0.30", { version: "SSL 3.0" }));
  h.feed(obs("10.1.0.31", { version: "TLS 1.1" }));
  h.feed(obs("10.1.0.32", { certificate: { ...goodCert, keyBits: 1024 } }));
  h.feed(obs("10.1.0.33", { certificate: { ...goodCert, keyType: "rsa-pss", keyBits: 1536 } }));
  h.feed(obs("10.1.0.34", { certificate: { ...goodCert, notAfter: "2025-01-01T00:00:00.000Z" } }));
  h.feed(obs("10.1.0.35", { certificate: { ...goodCert, notBefore: "2027-01-01T00:00:00.000Z" } }));
  h.feed(obs("10.1.0.36", { certificate: { ...goodCert, issuer: "CN=pacs", selfSigned: true } }));
  h.feed(obs("10.1.0.37", { certificate: { ...goodCert, keyType: "ec", keyBits: 256 } }));
  const got = h
    .weak()
    .map((f) => `${f.device}:${f.severity}`)
    .sort();
  t.deepEqual(got, [
    "ip-10.1.0.30:high",
    "ip-10.1.0.31:medium",
    "ip-10.1.0.32:medium",
    "ip-10.1.0.33:medium",
    "ip-10.1.0.34:medium",
    "ip-10.1.0.35:medium",
    "ip-10.1.0.36:low",
  ]);
  t.regex(h.one("10.1.0.32")!.title, /1024-bit RSA key/);
  t.is((ev(h.one("10.1.0.32")!).certificate as { keyBits: number }).keyBits, 1024);
  t.regex(h.one("10.1.0.34")!.title, /expired on 2025-01-01/);
});

test("one finding per server port, with the reasons of every handshake; it does not flap", (t) => {
  const h = new Harness();
  const a = obs("10.1.0.40", { cipherSuite: "TLS_RSA_WITH_NULL_SHA", plaintext: true, plaintextDicom: true });
  const b = obs("10.1.0.40", { version: "TLS 1.0", client: { ...client, port: 50002 } });
  h.feed(a, b, a, b, a);
  const w = h.weak();
  t.is(w.length, 1);
  const f = w[0]!;
  t.is(f.severity, "high");
  t.is(f.count, 5);
  t.deepEqual(ev(f).problems, [
    "NULL cipher: DICOM readable on the wire (TLS_RSA_WITH_NULL_SHA)",
    "TLS 1.0 is below TLS 1.2",
  ]);
  t.deepEqual(ev(f).flows, ["10.1.0.5:50001-10.1.0.40:2762", "10.1.0.5:50002-10.1.0.40:2762"]);
  // New, then changed once when the second reason joined; repeats are not news.
  t.deepEqual(h.changes, ["ip-10.1.0.40:new:high", "ip-10.1.0.40:changed:high"]);
});

test("ports: DICOM TLS ports are judged, other ports only when DICOM was seen in a NULL cipher's plaintext", (t) => {
  const h = new Harness();
  h.feed(obs("10.1.0.50", { cipherSuite: "TLS_RSA_WITH_NULL_SHA", plaintext: true }, 443));
  h.feed(
    obs("10.1.0.51", { cipherSuite: "TLS_RSA_WITH_NULL_SHA", plaintext: true, plaintextDicom: true }, 8443),
  );
  t.deepEqual(
    h.weak().map((f) => f.device),
    ["ip-10.1.0.51"],
  );
});

test("observations without the new fields (stored before them) are judged as before", (t) => {
  const h = new Harness();
  const old: TlsObservation = {
    kind: "tls",
    tsMicros: T,
    client,
    server: server("10.1.0.60"),
    version: "TLS 1.0",
    certificate: null,
  };
  h.feed(old);
  t.is(h.one("10.1.0.60")?.severity, "medium");
  t.deepEqual(guardObservation(old), old, "absent stays absent");
});

test("the guard copies the new TLS fields and nothing else", (t) => {
  const full = obs("10.1.0.70", {
    alerts: [{ from: "server", level: "fatal", description: "handshake_failure" }],
    handshakeFailure: true,
  });
  t.deepEqual(guardObservation(structuredClone(full)), full);
  const dirty = structuredClone(full) as unknown as Record<string, unknown>;
  dirty.applicationData = "PATIENT^NAME";
  (dirty.certificate as Record<string, unknown>).privateKey = "secret";
  (dirty.alerts as Record<string, unknown>[])[0]!.extra = "x";
  dirty.alerts = [...(dirty.alerts as unknown[]), ...Array.from({ length: 20 }, () => ({ from: "evil" }))];
  dirty.cipherSuite = "x".repeat(1000);
  const g = guardObservation(dirty as unknown as Observation) as TlsObservation;
  const s = JSON.stringify(g);
  t.false(s.includes("PATIENT"));
  t.false(s.includes("secret"));
  t.false(s.includes('"extra"'));
  t.is(g.alerts!.length, 8);
  t.is(g.alerts![1]!.from, "client");
  t.true(g.cipherSuite!.length <= 128);
});
