/**
 * Issue 11's privacy promise: credentials that cross the wire beside DICOM never leave the parser. The
 * lab's FTP and SMB scenes log in with the canary account of test/fixtures/patient-canaries.json
 * (scripts/lab/os-lab), and zeek's captures carry an NTLM AUTHENTICATE by "Administrator" of "CONTOSO", an
 * RDP routing cookie of "FTBCO\A70" and an LDAP NTLM bind by "User1". None of these may appear in a report,
 * the summary, a diagnostic, a published message, a log line or the store. (For DICOM the user-identity
 * username is reported by design; for FTP, SMB, NTLM and RDP no user name is kept at all.)
 */
import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { analyzeWithoutLeaks, replayWithoutLeaks } from "./leaks.js";

const canaries = JSON.parse(readFileSync("test/fixtures/patient-canaries.json", "utf8")) as Record<
  string,
  string
>;
const secrets = [
  canaries.userIdentityPasscode!,
  canaries.userIdentityUsername!,
  "Administrator",
  "CONTOSO\\Administrator",
  "FTBCO",
  "User1",
];
const needles = [
  ...secrets,
  ...secrets.map((s) => Buffer.from(s, "latin1").toString("hex")),
  ...secrets.map((s) => Buffer.from(s, "latin1").toString("base64")),
  // NTLM carries names in UTF-16LE.
  ...secrets.map((s) => Buffer.from(s, "utf16le").toString("latin1")),
];
const captures = [
  ...readdirSync("test/fixtures/os")
    .filter((f) => f.endsWith(".pcap"))
    .map((f) => join("test/fixtures/os", f)),
  ...["smb_smb2", "rdp_rdp-proprietary-encryption", "ldap_aduser1-ntlm", "ftp_ipv4"].map(
    (f) => `../shared/captures/zeek/${f}.pcap`,
  ),
];

function leaks(text: string): string[] {
  return needles.filter((n) => text.includes(n));
}

test("the captures really carry the credentials on the wire", (t) => {
  const all = Buffer.concat(captures.map((f) => readFileSync(f))).toString("latin1");
  for (const s of [canaries.userIdentityPasscode!, "FTBCO", "CONTOSO"])
    t.true(all.includes(s) || all.includes(Buffer.from(s, "utf16le").toString("latin1")), s);
});

test("analyze: no credential in the JSON report, the summary or the diagnostics", (t) => {
  const json = analyzeWithoutLeaks(t, captures, leaks);
  t.true(json.includes('"remoteAccess"'), "the report does describe these hosts");
});

test("run --replay: no credential in published messages, logs or the store's database file", async (t) => {
  const out = await replayWithoutLeaks(t, captures, leaks, { networks: { internal: ["0.0.0.0/0"] } });
  t.true(out.some((l) => l.includes("net.cleartext-login")));
});
