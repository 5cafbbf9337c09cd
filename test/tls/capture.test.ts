/**
 * DICOM-port TLS made by openssl s_server/s_client and captured by tcpdump (test/tls/tls-capture.sh, in a
 * throw-away network namespace, as root), through the whole pipeline: the sniffer's observations (versions,
 * suites, certificates and their keys, alerts) become tls.weak findings and TLS services of the inventory;
 * good TLS 1.2 and 1.3 configurations raise nothing.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCaptureFile } from "../../agent/capture/file.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type { TlsService } from "../../agent/inventory/inventory.js";
import type { Observation, TlsObservation } from "../../agent/observations/types.js";
import { requires } from "../helpers/requires.js";

const rootTest = requires("root", "netns", "tcpdump", "openssl");

rootTest(
  "openssl handshakes on DICOM ports: versions, suites, certificates, keys, alerts, tls.weak",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "dicomtap-tls-"));
    try {
      execFileSync("test/tls/tls-capture.sh", [dir], { stdio: "pipe", timeout: 60_000 });
      const pcap = join(dir, "tls.pcap");
      const { report, files } = await analyzeFiles([pcap]);
      t.is(files[0]!.error, null);
      t.is(report.stats.associations, 0);
      const ipOf = new Map(report.devices.map((d) => [d.id, d.ip]));
      const weak = report.findings.filter((f) => f.rule === "tls.weak");
      t.deepEqual(
        weak.map((f) => `${ipOf.get(f.device ?? "")}:${f.key}:${f.severity}`).sort(),
        [
          "127.0.0.1:11112:medium",
          "127.0.0.1:2762:low",
          "127.0.0.2:2762:medium",
          "127.0.0.3:2762:high",
          "127.0.0.5:2762:high",
        ],
        JSON.stringify(weak.map((f) => f.title)),
      );
      const title = (ip: string, port: string): string =>
        weak.find((f) => ipOf.get(f.device ?? "") === ip && f.key === port)!.title;
      t.regex(title("127.0.0.1", "11112"), /expired on 2021-01-01/);
      t.regex(title("127.0.0.1", "2762"), /self-signed/);
      t.regex(title("127.0.0.2", "2762"), /1024-bit RSA key/);
      t.regex(title("127.0.0.3", "2762"), /anonymous key exchange.*TLS_DH_anon_WITH_AES_256_GCM_SHA384/);
      t.regex(title("127.0.0.5", "2762"), /NULL cipher: no encryption \(TLS_RSA_WITH_NULL_SHA256\)/);
      t.deepEqual(
        report.findings.filter((f) => f.rule === "dicom.malformed"),
        [],
        "DICOM TLS is not malformed DICOM",
      );
      t.deepEqual(report.anomalies, []);
      const server = report.devices.find((d) => d.ip === "127.0.0.1")!;
      const services = server.tlsServices as TlsService[];
      t.deepEqual(
        services.map(
          (s) => `${s.port} ${s.version} ${s.certificate?.subject ?? "-"} ${s.certificate?.keyBits ?? "-"}`,
        ),
        [
          "104 TLS 1.2 CN=leaf.test 2048",
          "2762 TLS 1.2 CN=pacs.test 2048",
          "4242 TLS 1.3 - -",
          "11112 TLS 1.2 CN=old.test 2048",
        ],
      );
      t.deepEqual(server.listeningPorts, [104, 2762, 4242, 11112]);

      // The observations themselves: suites, and the refused handshake with its alert.
      const tls: TlsObservation[] = [];
      const p = new Pipeline({
        observations: { observe: (o: Observation) => (o.kind === "tls" ? tls.push(o) : 0) },
      });
      await readCaptureFile(pcap, p, { counters: p.counters });
      p.finish();
      const at = (ip: string, port = 2762): TlsObservation =>
        tls.find((o) => o.server.ip === ip && o.server.port === port)!;
      t.is(tls.length, 8);
      t.is(at("127.0.0.1", 4242).cipherSuite, "TLS_AES_256_GCM_SHA384");
      t.regex(at("127.0.0.1", 104).cipherSuite ?? "", /^TLS_ECDHE_RSA_WITH_AES_\d+_GCM_SHA\d+$/);
      const refused = at("127.0.0.4");
      t.is(refused.version, null);
      t.true(refused.handshakeFailure);
      t.deepEqual(refused.alerts, [{ from: "server", level: "fatal", description: "protocol_version" }]);
      const nul = at("127.0.0.5");
      t.true(nul.plaintext);
      t.false(nul.plaintextDicom, "a line of text is not DICOM");
      t.false(nul.handshakeFailure);
      for (const o of tls) if (o !== refused) t.false(o.handshakeFailure, `${o.server.ip}:${o.server.port}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
