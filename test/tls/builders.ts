/**
 * Byte builders for TLS tests: records, handshake messages, alerts, certificates made with openssl, and
 * whole NULL-cipher sessions that wrap a DICOM conversation the way DCMTK's +pn profile does on the wire.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Turn } from "../dicom/ul/conversation.js";

export const CT_CHANGE_CIPHER_SPEC = 20;
export const CT_ALERT = 21;
export const CT_HANDSHAKE = 22;
export const CT_APPLICATION_DATA = 23;

export const TLS_RSA_WITH_NULL_SHA = 0x0002;
export const TLS_RSA_WITH_NULL_SHA256 = 0x003b;
export const TLS_AES_128_GCM_SHA256 = 0x1301;
export const TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xc02f;

const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);

/** A TLS record: type(1) version(2) length(2) fragment. */
export function record(type: number, fragment: Buffer, version = 0x0303): Buffer {
  return Buffer.concat([Buffer.from([type]), u16(version), u16(fragment.length), fragment]);
}

/** A handshake message: type(1) length(3) body. */
export function handshake(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), u24(body.length), body]);
}

export function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

/** ClientHello body (RFC 5246 §7.4.1.2) offering `suites`. */
export function clientHello(o: { version?: number; suites?: number[]; sessionId?: Buffer } = {}): Buffer {
  const suites = o.suites ?? [TLS_RSA_WITH_NULL_SHA256];
  const sid = o.sessionId ?? Buffer.alloc(0);
  return handshake(
    1,
    Buffer.concat([
      u16(o.version ?? 0x0303),
      Buffer.alloc(32, 0x11),
      Buffer.from([sid.length]),
      sid,
      u16(suites.length * 2),
      ...suites.map(u16),
      Buffer.from([1, 0]),
    ]),
  );
}

export const HRR_RANDOM = Buffer.from(
  "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c",
  "hex",
);

/** ServerHello body (RFC 5246 §7.4.1.3, RFC 8446 §4.1.3). */
export function serverHello(
  o: {
    version?: number;
    suite?: number;
    compression?: number;
    supportedVersion?: number;
    random?: Buffer;
    sessionId?: Buffer;
    extensions?: Buffer[];
  } = {},
): Buffer {
  const sid = o.sessionId ?? Buffer.alloc(32, 0x22);
  const exts = [...(o.extensions ?? [])];
  if (o.supportedVersion !== undefined) exts.push(extension(43, u16(o.supportedVersion)));
  const extBytes = Buffer.concat(exts);
  return handshake(
    2,
    Buffer.concat([
      u16(o.version ?? 0x0303),
      o.random ?? Buffer.alloc(32, 0x33),
      Buffer.from([sid.length]),
      sid,
      u16(o.suite ?? TLS_RSA_WITH_NULL_SHA256),
      Buffer.from([o.compression ?? 0]),
      ...(exts.length > 0 ? [u16(extBytes.length), extBytes] : []),
    ]),
  );
}

/** Certificate (TLS <= 1.2, RFC 5246 §7.4.2): the DER certificates, leaf first. */
export function certificateMsg(ders: Buffer[]): Buffer {
  const list = Buffer.concat(ders.map((d) => Buffer.concat([u24(d.length), d])));
  return handshake(11, Buffer.concat([u24(list.length), list]));
}

export const serverHelloDone = (): Buffer => handshake(14, Buffer.alloc(0));
export const alert = (level: number, description: number): Buffer => Buffer.from([level, description]);
export const ccs = (): Buffer => record(CT_CHANGE_CIPHER_SPEC, Buffer.from([1]));

/** A record protected by a NULL-cipher suite: the content in clear, then a MAC of `mac` bytes. */
export function nullRecord(type: number, content: Buffer, mac: number): Buffer {
  return record(type, Buffer.concat([content, Buffer.alloc(mac, 0x5a)]));
}

/** Splits application data into NULL-cipher records of at most `max` content bytes (2^14, RFC 5246 §6.2.1). */
export function nullRecords(data: Buffer, mac: number, max = 16384): Buffer {
  const out: Buffer[] = [];
  for (let p = 0; p < data.length; p += max)
    out.push(nullRecord(CT_APPLICATION_DATA, data.subarray(p, Math.min(data.length, p + max)), mac));
  return Buffer.concat(out);
}

// ---- certificates made with openssl in a temp dir ----

const dir = mkdtempSync(join(tmpdir(), "dicomtap-tlsb-"));
function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

/**
 * An expired certificate (valid 2020-01-01 .. 2021-01-01) and its key, `${name}.pem` and `${name}.key` in
 * `cwd`, issued by a throw-away CA ("CN=Old CA", old-ca.crt): `openssl ca` is what accepts explicit start
 * and end dates. `keyArgs` as for `openssl req` ("-newkey", "rsa:2048" by default).
 */
export function expiredCertificate(
  cwd: string,
  name: string,
  subj: string,
  keyArgs: readonly string[] = ["-newkey", "rsa:2048"],
): void {
  const run = (...args: string[]): void => void execFileSync("openssl", args, { cwd, stdio: "pipe" });
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "old-ca.key",
    "-out",
    "old-ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=Old CA",
  );
  writeFileSync(
    join(cwd, "ca.cnf"),
    "[ca]\ndefault_ca=c\n[c]\ndir=.\ndatabase=./index.txt\nnew_certs_dir=.\nserial=./serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n",
  );
  writeFileSync(join(cwd, "index.txt"), "");
  writeFileSync(join(cwd, "serial"), "01\n");
  run("req", ...keyArgs, "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj);
  run(
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-cert",
    "old-ca.crt",
    "-keyfile",
    "old-ca.key",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20210101000000Z",
    "-in",
    `${name}.csr`,
    "-out",
    `${name}.pem`,
    "-notext",
  );
}

const made = new Map<string, Buffer>();

/**
 * A DER certificate: self-signed with the given key ("rsa:1024", "rsa:2048", "ec:prime256v1"), valid for
 * two days from now unless `expired` (2020-01-01 .. 2021-01-01, issued by a throw-away CA).
 */
export function certificateDer(key: string, o: { expired?: boolean; cn?: string } = {}): Buffer {
  const id = `${key}-${o.expired ? "old" : "new"}-${o.cn ?? "pacs.test"}`;
  const have = made.get(id);
  if (have) return have;
  const name = id.replace(/[^a-z0-9]/gi, "_");
  const keyArgs = key.startsWith("ec:")
    ? ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${key.slice(3)}`]
    : ["-newkey", key];
  const subj = `/CN=${o.cn ?? "pacs.test"}`;
  if (!o.expired) {
    openssl(
      "req",
      "-x509",
      ...keyArgs,
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      subj,
    );
  } else {
    expiredCertificate(dir, name, subj, keyArgs);
  }
  openssl("x509", "-in", `${name}.pem`, "-outform", "DER", "-out", `${name}.der`);
  const der = readFileSync(join(dir, `${name}.der`));
  made.set(id, der);
  return der;
}

// ---- whole sessions ----

export interface NullSessionOptions {
  suite?: number;
  /** MAC length of the suite (SHA-1 20, SHA-256 32). */
  mac?: number;
  certificate?: Buffer;
  /** Content bytes per application-data record. */
  recordSize?: number;
  version?: number;
}

/**
 * A TLS 1.2 session with a NULL-cipher suite carrying `app` (turns of application data): full handshake,
 * each side's ChangeCipherSpec and Finished (content + MAC), the application data in records, then
 * close_notify from both sides. Timestamps are those of the turns.
 */
export function nullSession(app: Turn[], o: NullSessionOptions = {}): Turn[] {
  const mac = o.mac ?? 32;
  const suite = o.suite ?? TLS_RSA_WITH_NULL_SHA256;
  const version = o.version ?? 0x0303;
  const t0 = (app[0]?.ts ?? 1_700_000_000_000_000) - 10_000;
  const finished = handshake(20, Buffer.alloc(12, 0x77));
  const serverFlight = [serverHello({ suite, version })];
  if (o.certificate) serverFlight.push(certificateMsg([o.certificate]));
  serverFlight.push(serverHelloDone());
  const turns: Turn[] = [
    { dir: 0, bytes: record(CT_HANDSHAKE, clientHello({ suites: [suite], version }), 0x0301), ts: t0 },
    { dir: 1, bytes: record(CT_HANDSHAKE, Buffer.concat(serverFlight), version), ts: t0 + 1 },
    {
      dir: 0,
      bytes: Buffer.concat([
        record(CT_HANDSHAKE, handshake(16, Buffer.alloc(130, 0x44)), version),
        record(CT_CHANGE_CIPHER_SPEC, Buffer.from([1]), version),
        nullRecord(CT_HANDSHAKE, finished, mac),
      ]),
      ts: t0 + 2,
    },
    {
      dir: 1,
      bytes: Buffer.concat([
        record(CT_CHANGE_CIPHER_SPEC, Buffer.from([1]), version),
        nullRecord(CT_HANDSHAKE, finished, mac),
      ]),
      ts: t0 + 3,
    },
  ];
  for (const t of app) turns.push({ dir: t.dir, bytes: nullRecords(t.bytes, mac, o.recordSize), ts: t.ts });
  const last = app.at(-1)?.ts ?? t0 + 4;
  turns.push({ dir: 0, bytes: nullRecord(CT_ALERT, alert(1, 0), mac), ts: last + 1 });
  turns.push({ dir: 1, bytes: nullRecord(CT_ALERT, alert(1, 0), mac), ts: last + 2 });
  return turns;
}
