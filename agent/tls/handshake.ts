/**
 * Pure, bounds-checked decoders of the TLS handshake messages dicomtap reads in clear, over
 * (buf, start, end) = one handshake message body (after its 4-byte header). They return null for a body
 * too short or inconsistent to hold the message, never throw, and copy nothing but what they return.
 */
import { X509Certificate } from "node:crypto";
import { isoFromMicros } from "../util/time.js";

/**
 * ClientHello (RFC 5246 §7.4.1.2, RFC 8446 §4.1.2); only the legacy version is needed (who offered what is
 * not judged, and TLS 1.3's supported_versions in the ServerHello says what was chosen):
 *   0      2                34     35        35+n
 *   +------+----------------+------+---------+----------------------+--------------------+------------+
 *   | ver  | random (32)    | sidL | sid (n) | cipher_suites (2+m)  | compression (1+k)  | extensions |
 *   +------+----------------+------+---------+----------------------+--------------------+------------+
 */
export function parseClientHelloVersion(b: Buffer, start: number, end: number): number | null {
  // version + random + session_id length + an empty cipher_suites vector + one compression method: 39 bytes.
  if (end - start < 2 + 32 + 1) return null;
  return b.readUInt16BE(start);
}

/** What a ServerHello chose. */
export interface ServerHello {
  /** legacy_version: what TLS <= 1.2 negotiated; 0x0303 in TLS 1.3. */
  legacyVersion: number;
  /** The negotiated version: supported_versions (RFC 8446 §4.2.1) when present, else legacyVersion. */
  version: number;
  cipherSuite: number;
  /** CompressionMethod (RFC 5246 §7.4.1.3, RFC 3749): 0 null, 1 DEFLATE. */
  compression: number;
  /** A HelloRetryRequest (RFC 8446 §4.1.4): a ServerHello whose random is the special value. */
  helloRetryRequest: boolean;
}

const EXT_SUPPORTED_VERSIONS = 43;

/** RFC 8446 §4.1.3: the Random of a HelloRetryRequest is SHA-256("HelloRetryRequest"). */
const HRR_RANDOM = Buffer.from("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c", "hex");

/**
 * ServerHello (RFC 5246 §7.4.1.3, RFC 8446 §4.1.3):
 *   0      2                34     35        35+n     37+n   38+n
 *   +------+----------------+------+---------+--------+------+----------------------------------+
 *   | ver  | random (32)    | sidL | sid (n) | suite  | comp | extensions: len(2) {type len data} |
 *   +------+----------------+------+---------+--------+------+----------------------------------+
 *   session_id is at most 32 bytes; extensions may be absent in TLS <= 1.2.
 */
export function parseServerHello(b: Buffer, start: number, end: number): ServerHello | null {
  if (end - start < 38) return null;
  const legacyVersion = b.readUInt16BE(start);
  const helloRetryRequest = b.compare(HRR_RANDOM, 0, 32, start + 2, start + 34) === 0;
  let p = start + 34;
  const sidLen = b[p]!;
  if (sidLen > 32) return null;
  p += 1 + sidLen;
  if (p + 3 > end) return null;
  const cipherSuite = b.readUInt16BE(p);
  const compression = b[p + 2]!;
  p += 3;
  const hello: ServerHello = {
    legacyVersion,
    version: legacyVersion,
    cipherSuite,
    compression,
    helloRetryRequest,
  };
  if (p === end) return hello; // no extensions (TLS <= 1.2 may omit them)
  if (p + 2 > end) return null;
  const extEnd = p + 2 + b.readUInt16BE(p);
  if (extEnd > end) return null;
  p += 2;
  while (p + 4 <= extEnd) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return null;
    // In a ServerHello, supported_versions holds the one selected version (RFC 8446 §4.2.1).
    if (type === EXT_SUPPORTED_VERSIONS && len === 2) hello.version = b.readUInt16BE(p);
    p += len;
  }
  return hello;
}

/** The server certificate as a report shows it (no extensions, no serial: what a security team checks). */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  selfSigned: boolean;
  /** node:crypto's asymmetricKeyType: "rsa", "rsa-pss", "ec", "ed25519", "ed448", "dsa", ...; null if unknown. */
  keyType: string | null;
  /** RSA/DSA modulus bits, or the size of the EC curve's field; null if unknown. */
  keyBits: number | null;
  /** The EC named curve ("prime256v1", ...), null for other keys. */
  keyCurve: string | null;
}

/** The outcome of reading a Certificate message: no certificate at all, an unreadable one, or its leaf. */
export type CertificateResult =
  { kind: "empty" } | { kind: "invalid" } | { kind: "leaf"; info: CertificateInfo };

/**
 * Certificate, TLS <= 1.2 (RFC 5246 §7.4.2); the sender's own (leaf) certificate comes first:
 *   +----------------------+---------------------+---------------+---------------------+-----
 *   | list length (24 BE)  | cert length (24 BE) | DER (length)  | cert length (24 BE) | ...
 *   +----------------------+---------------------+---------------+---------------------+-----
 */
export function parseCertificateList(b: Buffer, start: number, end: number): CertificateResult {
  if (end - start < 3) return { kind: "invalid" };
  const listEnd = start + 3 + b.readUIntBE(start, 3);
  if (listEnd > end) return { kind: "invalid" };
  const p = start + 3;
  if (p === listEnd) return { kind: "empty" }; // an anonymous or client side with nothing to send
  if (p + 3 > listEnd) return { kind: "invalid" };
  const len = b.readUIntBE(p, 3);
  if (len === 0 || p + 3 + len > listEnd) return { kind: "invalid" };
  const info = describeCertificate(b.subarray(p + 3, p + 3 + len));
  return info === null ? { kind: "invalid" } : { kind: "leaf", info };
}

/** Field sizes in bits of the named curves TLS servers use (SEC 2, RFC 5639, RFC 8032). */
const CURVE_BITS: Readonly<Record<string, number>> = {
  prime192v1: 192,
  secp224r1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  brainpoolP256r1: 256,
  brainpoolP384r1: 384,
  brainpoolP512r1: 512,
};

/** A DER X.509 certificate described with node:crypto (which does the bounds-checked DER parsing). */
function describeCertificate(der: Buffer): CertificateInfo | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return null;
  }
  let selfSigned = false;
  try {
    // Self-issued (subject = issuer, RFC 5280 §6.1) and its own key verifies its signature.
    selfSigned = cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    selfSigned = false;
  }
  let keyType: string | null = null;
  let keyBits: number | null = null;
  let keyCurve: string | null = null;
  try {
    const key = cert.publicKey;
    keyType = key.asymmetricKeyType ?? null;
    const d = key.asymmetricKeyDetails;
    if (d?.modulusLength !== undefined) keyBits = d.modulusLength;
    if (d?.namedCurve !== undefined) {
      keyCurve = d.namedCurve;
      keyBits = CURVE_BITS[d.namedCurve] ?? null;
    }
    if (keyType === "ed25519" || keyType === "x25519") keyBits = 255;
    if (keyType === "ed448" || keyType === "x448") keyBits = 448;
  } catch {
    // A key type node:crypto cannot load (e.g. GOST): the rest of the certificate still describes it.
  }
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    notBefore: isoDate(cert.validFrom),
    notAfter: isoDate(cert.validTo),
    selfSigned,
    keyType,
    keyBits,
    keyCurve,
  };
}

function oneLine(dn: string): string {
  return dn.split("\n").filter(Boolean).join(", ");
}

function isoDate(s: string): string {
  const t = Date.parse(s);
  return Number.isFinite(t) ? isoFromMicros(t * 1000) : s;
}
