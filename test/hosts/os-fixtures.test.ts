/**
 * The OS and remote-access captures of test/fixtures/os/ (made by scripts/lab/os-lab, see its README):
 * they are there, small, and tshark (when installed) sees in each the protocols and values the README
 * says, so the decoders' tests can rely on them.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { requires } from "../helpers/requires.js";

const DIR = "test/fixtures/os";
const FILES = ["smb1", "smb3", "ftp", "dhcp", "http", "vnc"];
const tsharkTest = requires("tshark");

test("the captures are committed and small", (t) => {
  t.true(existsSync(`${DIR}/README.md`));
  for (const f of FILES) {
    const p = `${DIR}/${f}.pcap`;
    t.true(existsSync(p), p);
    const size = statSync(p).size;
    t.true(size > 24 && size < 1024 * 1024, `${p}: ${size} bytes`);
  }
});

/** tshark's fields of every frame matching the filter, one array per frame. */
function fields(file: string, filter: string, names: string[]): string[][] {
  const r = spawnSync(
    "tshark",
    ["-n", "-r", `${DIR}/${file}.pcap`, "-Y", filter, "-T", "fields", ...names.flatMap((n) => ["-e", n])],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`tshark: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split("\t"));
}

tsharkTest("tshark sees SMB1 with NTLMSSP and Samba's Native OS", (t) => {
  t.deepEqual(fields("smb1", "smb.cmd == 0x72 && smb.flags.response == 0", ["smb.dialect.name"]), [
    ["NT LANMAN 1.0,NT LM 0.12"],
  ]);
  const setup = fields("smb1", "ntlmssp.messagetype == 2", [
    "ntlmssp.version.major",
    "ntlmssp.version.minor",
    "ntlmssp.version.build_number",
    "smb.native_os",
    "smb.native_lanman",
  ]);
  t.deepEqual(setup, [["6", "1", "0", "Windows 6.1", "Samba 4.17.12-Debian"]]);
  t.is(fields("smb1", "smb2", ["frame.number"]).length, 0);
});

tsharkTest("tshark sees SMB 3.1.1 and the SMB1-to-SMB2 upgrade", (t) => {
  t.deepEqual(fields("smb3", "smb2.cmd == 0 && smb2.flags.response == 1", ["smb2.dialect"]), [
    ["0x0311"],
    ["0x02ff"],
    ["0x0311"],
  ]);
  t.deepEqual(fields("smb3", "smb.cmd == 0x72", ["smb.dialect.name"]), [
    ["NT LANMAN 1.0,NT LM 0.12,SMB 2.002,SMB 2.???"],
  ]);
  t.is(fields("smb3", "ntlmssp.messagetype == 3", ["frame.number"]).length, 2);
});

tsharkTest("tshark sees FTP, DHCP, HTTP and RFB", (t) => {
  t.deepEqual(fields("ftp", "ftp.response.code == 220", ["ftp.response.arg"])[0], ["(vsFTPd 3.0.3)"]);
  t.is(fields("ftp", "ftp.response.code == 230", ["frame.number"]).length, 3);
  t.deepEqual(
    fields("dhcp", "dhcp.option.dhcp == 1", ["dhcp.option.hostname", "dhcp.option.vendor_class_id"]),
    [["DTO-MODALITY-01", "dicomtap-os-lab 1.0"]],
  );
  t.deepEqual(
    fields("dhcp", "dhcp", ["dhcp.option.dhcp"]).map((f) => f[0]),
    ["1", "2", "3", "5", "7"],
  );
  t.deepEqual(fields("http", "http.request", ["http.user_agent"]), [
    ["dicomtap-os-lab/1.0 (modality console)"],
    ["curl/7.88.1"],
  ]);
  t.deepEqual(fields("http", "http.response", ["http.server"]), [
    ["dicomtap-os-lab/1.0"],
    ["dicomtap-os-lab/1.0"],
  ]);
  t.deepEqual(fields("vnc", "vnc.server_proto_ver", ["vnc.server_proto_ver"]), [["003.008"]]);
});
