/**
 * DICOM-port TLS made by openssl s_server/s_client and captured by tcpdump (test/tls/tls-capture.sh, in a
 * throw-away network namespace, as root), through the whole pipeline: the sniffer's observations become
 * tls.weak findings and TLS services of the inventory.
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { TlsService } from "../../agent/inventory/inventory.js";

test("openssl handshakes on DICOM ports: versions, certificates, tls.weak", async (t) => {
  if (process.getuid?.() !== 0)
    throw new Error("this test captures in a network namespace and must run as root");
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-tls-"));
  try {
    execFileSync("test/tls/tls-capture.sh", [dir], { stdio: "pipe", timeout: 60_000 });
    const { report, files } = await analyzeFiles([join(dir, "tls.pcap")]);
    t.is(files[0]!.error, null);
    t.is(report.stats.associations, 0);
    const weak = report.findings.filter((f) => f.rule === "tls.weak");
    t.deepEqual(
      weak.map((f) => `${f.key}:${f.severity}`).sort(),
      ["11112:medium", "2762:low"],
      JSON.stringify(weak.map((f) => f.title)),
    );
    t.regex(weak.find((f) => f.key === "11112")!.title, /expired on 2021-01-01/);
    t.regex(weak.find((f) => f.key === "2762")!.title, /self-signed/);
    t.deepEqual(
      report.findings.filter((f) => f.rule === "dicom.malformed"),
      [],
      "DICOM TLS is not malformed DICOM",
    );
    const server = report.devices.find((d) => (d.tlsServices as TlsService[] | undefined)?.length);
    const services = server!.tlsServices as TlsService[];
    t.deepEqual(
      services.map((s) => `${s.port} ${s.version} ${s.certificate?.subject ?? "-"}`),
      [
        "104 TLS 1.2 CN=leaf.test",
        "2762 TLS 1.2 CN=pacs.test",
        "4242 TLS 1.3 -",
        "11112 TLS 1.2 CN=old.test",
      ],
    );
    t.deepEqual(server!.listeningPorts, [104, 2762, 4242, 11112]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
