/**
 * The pure TLS decoders (agent/tls/handshake.ts) and registry names (agent/tls/suites.ts) on byte-built
 * messages and openssl-made certificates: every truncation, random and mutated bytes never throw.
 */
import test from "ava";
import fc from "fast-check";
import {
  parseCertificateList,
  parseClientHelloVersion,
  parseServerHello,
} from "../../agent/tls/handshake.js";
import {
  alertDescriptionName,
  alertLevelName,
  cipherSuiteName,
  nullCipherMacLength,
  suiteTraits,
  tlsVersionName,
} from "../../agent/tls/suites.js";
import {
  HRR_RANDOM,
  TLS_AES_128_GCM_SHA256,
  TLS_RSA_WITH_NULL_SHA256,
  certificateDer,
  certificateMsg,
  clientHello,
  extension,
  serverHello,
} from "./builders.js";

/** The body of a handshake message built with its 4-byte header. */
const body = (msg: Buffer): [Buffer, number, number] => {
  const host = Buffer.concat([Buffer.from("junk"), msg, Buffer.from("junk")]);
  return [host, 4 + 4, 4 + msg.length];
};

test("ServerHello of TLS 1.2: legacy version, suite, compression", (t) => {
  const h = parseServerHello(...body(serverHello({ suite: TLS_RSA_WITH_NULL_SHA256 })));
  t.deepEqual(h, {
    legacyVersion: 0x0303,
    version: 0x0303,
    cipherSuite: 0x003b,
    compression: 0,
    helloRetryRequest: false,
  });
  // Without extensions and with an empty session id (TLS <= 1.2 may omit both).
  const bare = parseServerHello(
    ...body(serverHello({ version: 0x0301, sessionId: Buffer.alloc(0), suite: 0x0005 })),
  );
  t.is(bare?.version, 0x0301);
  t.is(bare?.cipherSuite, 0x0005);
});

test("ServerHello of TLS 1.3: supported_versions selects the version; HelloRetryRequest is recognised", (t) => {
  const other = extension(51, Buffer.alloc(36, 1)); // key_share before supported_versions
  const h = parseServerHello(
    ...body(serverHello({ suite: TLS_AES_128_GCM_SHA256, supportedVersion: 0x0304, extensions: [other] })),
  );
  t.is(h?.legacyVersion, 0x0303);
  t.is(h?.version, 0x0304);
  t.false(h!.helloRetryRequest);
  const hrr = parseServerHello(
    ...body(serverHello({ suite: TLS_AES_128_GCM_SHA256, supportedVersion: 0x0304, random: HRR_RANDOM })),
  );
  t.true(hrr!.helloRetryRequest);
});

test("ServerHello: every truncation and inconsistent lengths give null, never a throw", (t) => {
  const msg = serverHello({ supportedVersion: 0x0304, extensions: [extension(51, Buffer.alloc(36, 1))] });
  const [host, start, end] = body(msg);
  for (let e = start; e < end; e++) {
    const r = parseServerHello(host, start, e);
    // The only valid prefix is the one that ends right after the compression method (no extensions).
    if (e === start + 38 + 32) t.not(r, null);
    else t.is(r, null, `cut at ${e - start}`);
  }
  const badSid = Buffer.from(msg);
  badSid[4 + 34] = 33; // session_id longer than 32
  t.is(parseServerHello(badSid, 4, badSid.length), null);
  t.is(parseClientHelloVersion(...body(clientHello({ version: 0x0301 }))), 0x0301);
  t.is(parseClientHelloVersion(Buffer.alloc(10), 0, 10), null);
});

test("certificates: RSA modulus bits, EC curve size, self-signed, validity", (t) => {
  for (const [key, type, bits, curve] of [
    ["rsa:1024", "rsa", 1024, null],
    ["rsa:2048", "rsa", 2048, null],
    ["ec:prime256v1", "ec", 256, "prime256v1"],
    ["ec:secp384r1", "ec", 384, "secp384r1"],
  ] as const) {
    const r = parseCertificateList(...body(certificateMsg([certificateDer(key)])));
    t.is(r.kind, "leaf", key);
    if (r.kind !== "leaf") continue;
    t.is(r.info.keyType, type, key);
    t.is(r.info.keyBits, bits, key);
    t.is(r.info.keyCurve, curve, key);
    t.is(r.info.subject, "CN=pacs.test");
    t.true(r.info.selfSigned);
    t.true(Date.parse(r.info.notAfter) > Date.now());
  }
  const old = parseCertificateList(...body(certificateMsg([certificateDer("rsa:2048", { expired: true })])));
  t.is(old.kind, "leaf");
  if (old.kind === "leaf") {
    t.is(old.info.notAfter, "2021-01-01T00:00:00.000000Z");
    t.is(old.info.issuer, "CN=Old CA");
    t.false(old.info.selfSigned);
  }
  t.is(parseCertificateList(...body(certificateMsg([]))).kind, "empty");
  t.is(parseCertificateList(...body(certificateMsg([Buffer.from("not a certificate")]))).kind, "invalid");
});

test("certificate list: every truncation and mutation is invalid or a leaf, never a throw", (t) => {
  const msg = certificateMsg([certificateDer("rsa:2048"), certificateDer("ec:prime256v1")]);
  const [host, start, end] = body(msg);
  for (let e = start; e < end; e += 7) {
    const r = parseCertificateList(host, start, e);
    t.true(r.kind === "invalid" || r.kind === "leaf");
  }
  fc.assert(
    fc.property(fc.nat(msg.length - 1), fc.uint8Array({ minLength: 1, maxLength: 16 }), (at, noise) => {
      const m = Buffer.from(msg);
      Buffer.from(noise).copy(m, at);
      parseCertificateList(m, 4, m.length);
      parseServerHello(m, 4, m.length);
      return true;
    }),
    { numRuns: 300 },
  );
});

test("random bytes never throw in any decoder", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
      const b = Buffer.from(bytes);
      const e = Math.min(cut, b.length);
      parseServerHello(b, 0, e);
      parseClientHelloVersion(b, 0, e);
      parseCertificateList(b, 0, e);
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test("registry names: versions, suites, traits, NULL MAC lengths, alerts", (t) => {
  t.is(tlsVersionName(0x0300), "SSL 3.0");
  t.is(tlsVersionName(0x0302), "TLS 1.1");
  t.is(tlsVersionName(0x0304), "TLS 1.3");
  t.is(tlsVersionName(0x7f17), "TLS 1.3 draft 23");
  t.is(cipherSuiteName(0x003b), "TLS_RSA_WITH_NULL_SHA256");
  t.is(cipherSuiteName(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
  t.is(cipherSuiteName(0x1303), "TLS_CHACHA20_POLY1305_SHA256");
  t.is(cipherSuiteName(0xc0a0), "0xC0A0");
  t.is(cipherSuiteName(0x0a0a), "0x0A0A");
  const traits = (id: number): string[] =>
    Object.entries(suiteTraits(cipherSuiteName(id)))
      .filter(([, v]) => v)
      .map(([k]) => k);
  t.deepEqual(traits(0x0002), ["nullCipher"]);
  t.deepEqual(traits(0xc015), ["nullCipher", "anonymous"]);
  t.deepEqual(traits(0x0034), ["anonymous"]);
  t.deepEqual(traits(0x0003), ["export", "rc4"]);
  t.deepEqual(traits(0x0014), ["export", "des"]);
  t.deepEqual(traits(0x0005), ["rc4"]);
  t.deepEqual(traits(0x0009), ["des"]);
  t.deepEqual(traits(0xc012), ["tripleDes"]);
  t.deepEqual(traits(0xc0b4), ["nullCipher"]);
  t.deepEqual(traits(0xc02f), []);
  t.deepEqual(traits(0x1301), []);
  t.deepEqual(traits(0xc0a0), []);
  t.is(nullCipherMacLength("TLS_RSA_WITH_NULL_MD5"), 16);
  t.is(nullCipherMacLength("TLS_RSA_WITH_NULL_SHA"), 20);
  t.is(nullCipherMacLength("TLS_RSA_WITH_NULL_SHA256"), 32);
  t.is(nullCipherMacLength("TLS_PSK_WITH_NULL_SHA384"), 48);
  t.is(nullCipherMacLength("TLS_SHA256_SHA256"), null);
  t.is(nullCipherMacLength("TLS_RSA_WITH_AES_128_CBC_SHA"), null);
  t.is(alertDescriptionName(40), "handshake_failure");
  t.is(alertDescriptionName(70), "protocol_version");
  t.is(alertDescriptionName(200), "unknown(200)");
  t.is(alertLevelName(1), "warning");
  t.is(alertLevelName(2), "fatal");
  t.is(alertLevelName(9), "unknown(9)");
});
