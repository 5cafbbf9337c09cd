/**
 * TLS registry values dicomtap names in its reports: protocol versions, the cipher suites that matter for a
 * security judgement, and alert descriptions. Names are IANA's ("TLS Parameters" registry: TLS Cipher
 * Suites, TLS Alerts), as RFC 5246 Appendix A.5, RFC 8446 §B.4 and the RFCs that added suites spell them.
 *
 * The cipher suite table is deliberately not the whole registry: it lists the suites whose name tells a
 * security team something (NULL encryption, anonymous key exchange, EXPORT, RC4, DES and 3DES) and the
 * common AES, ChaCha20 and Camellia suites that DICOM stacks (DCMTK, dcm4che, OpenSSL, SChannel) negotiate.
 * Any other suite is reported by its code point, "0xC0A0"; what a suite is (NULL, anonymous, ...) is read
 * from its IANA name, which encodes it, so the judgement needs no second table.
 */

/** Names of protocol versions as reported ("TLS 1.2"); SSL 3.0 is 0x0300 (RFC 6101). */
export function tlsVersionName(v: number): string {
  if (v === 0x0300) return "SSL 3.0";
  if (v >= 0x0301 && v <= 0x0304) return `TLS 1.${v - 0x0301}`;
  if ((v & 0xff00) === 0x7f00) return `TLS 1.3 draft ${v & 0xff}`;
  return hex4(v);
}

function hex4(v: number): string {
  return `0x${v.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** IANA cipher suite names by code point (see the module comment for what is listed). */
const SUITES: ReadonlyMap<number, string> = new Map<number, string>([
  // RFC 5246 Appendix A.5 and C: the original suites, NULL, RC4, DES, 3DES and the EXPORT ones of RFC 2246.
  [0x0000, "TLS_NULL_WITH_NULL_NULL"],
  [0x0001, "TLS_RSA_WITH_NULL_MD5"],
  [0x0002, "TLS_RSA_WITH_NULL_SHA"],
  [0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"],
  [0x0004, "TLS_RSA_WITH_RC4_128_MD5"],
  [0x0005, "TLS_RSA_WITH_RC4_128_SHA"],
  [0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"],
  [0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"],
  [0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"],
  [0x0009, "TLS_RSA_WITH_DES_CBC_SHA"],
  [0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
  [0x000b, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA"],
  [0x000c, "TLS_DH_DSS_WITH_DES_CBC_SHA"],
  [0x000d, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA"],
  [0x000e, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA"],
  [0x000f, "TLS_DH_RSA_WITH_DES_CBC_SHA"],
  [0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA"],
  [0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"],
  [0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"],
  [0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"],
  [0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"],
  [0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"],
  [0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"],
  [0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"],
  [0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"],
  [0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA"],
  [0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA"],
  [0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"],
  // RFC 4785: pre-shared keys with NULL encryption.
  [0x002c, "TLS_PSK_WITH_NULL_SHA"],
  [0x002d, "TLS_DHE_PSK_WITH_NULL_SHA"],
  [0x002e, "TLS_RSA_PSK_WITH_NULL_SHA"],
  // RFC 5246 (from RFC 3268): AES-CBC.
  [0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"],
  [0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"],
  [0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"],
  [0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"],
  [0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"],
  [0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"],
  [0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"],
  [0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA"],
  [0x003b, "TLS_RSA_WITH_NULL_SHA256"],
  [0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"],
  [0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"],
  [0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"],
  [0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"],
  [0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA"],
  [0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"],
  [0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA"],
  [0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"],
  [0x006a, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"],
  [0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"],
  [0x006c, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"],
  [0x006d, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"],
  [0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"],
  [0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA"],
  [0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"],
  [0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA"],
  // RFC 4279: PSK with RC4 and 3DES.
  [0x008a, "TLS_PSK_WITH_RC4_128_SHA"],
  [0x008b, "TLS_PSK_WITH_3DES_EDE_CBC_SHA"],
  [0x008e, "TLS_DHE_PSK_WITH_RC4_128_SHA"],
  [0x008f, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA"],
  [0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA"],
  [0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA"],
  // RFC 5288: AES-GCM.
  [0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"],
  [0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"],
  [0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"],
  [0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"],
  [0x00a2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"],
  [0x00a3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"],
  [0x00a6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"],
  [0x00a7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"],
  // RFC 5487: PSK with NULL and SHA-256/384.
  [0x00b0, "TLS_PSK_WITH_NULL_SHA256"],
  [0x00b1, "TLS_PSK_WITH_NULL_SHA384"],
  [0x00b4, "TLS_DHE_PSK_WITH_NULL_SHA256"],
  [0x00b5, "TLS_DHE_PSK_WITH_NULL_SHA384"],
  [0x00b8, "TLS_RSA_PSK_WITH_NULL_SHA256"],
  [0x00b9, "TLS_RSA_PSK_WITH_NULL_SHA384"],
  [0x00ba, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256"],
  [0x00be, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"],
  [0x00c0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256"],
  [0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"],
  // RFC 8446 §B.4: TLS 1.3.
  [0x1301, "TLS_AES_128_GCM_SHA256"],
  [0x1302, "TLS_AES_256_GCM_SHA384"],
  [0x1303, "TLS_CHACHA20_POLY1305_SHA256"],
  [0x1304, "TLS_AES_128_CCM_SHA256"],
  [0x1305, "TLS_AES_128_CCM_8_SHA256"],
  // RFC 8422 (was RFC 4492): elliptic-curve suites, NULL, RC4, 3DES and anonymous ones included.
  [0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"],
  [0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"],
  [0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"],
  [0xc004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"],
  [0xc005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"],
  [0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA"],
  [0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"],
  [0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"],
  [0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"],
  [0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"],
  [0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA"],
  [0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA"],
  [0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"],
  [0xc00e, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"],
  [0xc00f, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"],
  [0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA"],
  [0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"],
  [0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"],
  [0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"],
  [0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"],
  [0xc015, "TLS_ECDH_anon_WITH_NULL_SHA"],
  [0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA"],
  [0xc017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"],
  [0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"],
  [0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"],
  // RFC 5289: ECC with SHA-256/384 and GCM.
  [0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"],
  [0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"],
  [0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"],
  [0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"],
  [0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
  [0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
  [0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
  [0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
  // RFC 5489: ECDHE-PSK, RC4, 3DES and NULL ones.
  [0xc033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA"],
  [0xc034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA"],
  [0xc039, "TLS_ECDHE_PSK_WITH_NULL_SHA"],
  [0xc03a, "TLS_ECDHE_PSK_WITH_NULL_SHA256"],
  [0xc03b, "TLS_ECDHE_PSK_WITH_NULL_SHA384"],
  // RFC 6655: AES-CCM.
  [0xc09c, "TLS_RSA_WITH_AES_128_CCM"],
  [0xc09d, "TLS_RSA_WITH_AES_256_CCM"],
  [0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM"],
  [0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM"],
  // RFC 9150: TLS 1.3 integrity-only suites (HMAC, no encryption).
  [0xc0b4, "TLS_SHA256_SHA256"],
  [0xc0b5, "TLS_SHA384_SHA384"],
  // RFC 7905: ChaCha20-Poly1305.
  [0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"],
  [0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"],
  [0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"],
]);

/** The IANA name of a cipher suite, or its code point as "0xC0A0" when it is not in the table. */
export function cipherSuiteName(id: number): string {
  return SUITES.get(id) ?? hex4(id);
}

/** What a cipher suite's name says about the protection it gives. */
export interface SuiteTraits {
  /** No encryption: records carry the plaintext and a MAC (RFC 5246 §6.2.3.1 with NULL; RFC 9150). */
  nullCipher: boolean;
  /** Anonymous key exchange: no server authentication, open to a man in the middle (RFC 5246 §F.1.1.1). */
  anonymous: boolean;
  /** EXPORT grade: 40/56-bit keys or 512-bit key exchange, broken since the 1990s (RFC 2246 §A.5). */
  export: boolean;
  /** RC4, prohibited by RFC 7465. */
  rc4: boolean;
  /** Single DES (56-bit, RFC 5469 deprecates it). */
  des: boolean;
  /** Triple DES: 64-bit blocks, Sweet32 (CVE-2016-2183). */
  tripleDes: boolean;
}

/** Traits read from an IANA suite name (an unnamed "0x...." suite has none). */
export function suiteTraits(name: string): SuiteTraits {
  return {
    nullCipher: /_WITH_NULL_/.test(name) || name === "TLS_SHA256_SHA256" || name === "TLS_SHA384_SHA384",
    anonymous: /_anon_/.test(name),
    export: /_EXPORT(1024)?_/.test(name),
    rc4: /_RC4_/.test(name),
    des: /_DES(40)?_CBC_/.test(name),
    tripleDes: /_3DES_/.test(name),
  };
}

/**
 * Bytes of the MAC that follow the content of each record protected by a NULL-cipher suite
 * (RFC 5246 §6.2.3.1 GenericStreamCipher: content, then MAC of mac_length = the hash's output: MD5 16,
 * SHA-1 20, SHA-256 32, SHA-384 48). Null when the suite is not a TLS 1.2-style NULL suite.
 */
export function nullCipherMacLength(name: string): number | null {
  if (!/_WITH_NULL_/.test(name)) return null;
  if (name === "TLS_NULL_WITH_NULL_NULL") return 0;
  if (name.endsWith("_MD5")) return 16;
  if (name.endsWith("_SHA")) return 20;
  if (name.endsWith("_SHA256")) return 32;
  if (name.endsWith("_SHA384")) return 48;
  return null;
}

/** RFC 8446 §6 and RFC 5246 §7.2 AlertDescription names (IANA "TLS Alerts"). */
const ALERTS: ReadonlyMap<number, string> = new Map<number, string>([
  [0, "close_notify"],
  [10, "unexpected_message"],
  [20, "bad_record_mac"],
  [21, "decryption_failed"],
  [22, "record_overflow"],
  [30, "decompression_failure"],
  [40, "handshake_failure"],
  [41, "no_certificate"],
  [42, "bad_certificate"],
  [43, "unsupported_certificate"],
  [44, "certificate_revoked"],
  [45, "certificate_expired"],
  [46, "certificate_unknown"],
  [47, "illegal_parameter"],
  [48, "unknown_ca"],
  [49, "access_denied"],
  [50, "decode_error"],
  [51, "decrypt_error"],
  [60, "export_restriction"],
  [70, "protocol_version"],
  [71, "insufficient_security"],
  [80, "internal_error"],
  [86, "inappropriate_fallback"],
  [90, "user_canceled"],
  [100, "no_renegotiation"],
  [109, "missing_extension"],
  [110, "unsupported_extension"],
  [111, "certificate_unobtainable"],
  [112, "unrecognized_name"],
  [113, "bad_certificate_status_response"],
  [114, "bad_certificate_hash_value"],
  [115, "unknown_psk_identity"],
  [116, "certificate_required"],
  [120, "no_application_protocol"],
]);

/** An alert description's name, or "unknown(N)". */
export function alertDescriptionName(d: number): string {
  return ALERTS.get(d) ?? `unknown(${d})`;
}

/** RFC 5246 §7.2 AlertLevel: warning(1), fatal(2). */
export function alertLevelName(l: number): string {
  return l === 1 ? "warning" : l === 2 ? "fatal" : `unknown(${l})`;
}
