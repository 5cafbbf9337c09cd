/**
 * net.risky-service and dicom.default-port from real TCP handshakes (test/findings/ports-capture.sh, in a
 * throw-away network namespace, as root): SMB's port on a DICOM device is flagged, RDP's port on a host
 * without DICOM is not; port 104 open while DICOM runs on 11112 is the worse default-port case.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import { requires } from "../helpers/requires.js";

const rootTest = requires("root", "netns", "tcpdump", "dcmtk");

rootTest("risky services and port 104 from observed handshakes", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-ports-"));
  try {
    execFileSync("test/findings/ports-capture.sh", [dir], { stdio: "pipe", timeout: 60_000 });
    const { report } = await analyzeFiles([join(dir, "ports.pcap")]);
    const risky = report.findings.filter((f) => f.rule === "net.risky-service");
    t.deepEqual(
      risky.map((f) => `${f.key}:${f.severity}`),
      ["445:high"],
      "SMB on the DICOM device; RDP on 127.0.0.3 (no DICOM) is not an imaging device's",
    );
    const dp = report.findings.filter((f) => f.rule === "dicom.default-port");
    t.is(dp.length, 1);
    t.is(dp[0]!.severity, "medium");
    t.regex(dp[0]!.title, /Port 104 is open .* DICOM runs on port 11112/);
    const dev = report.devices.find((d) => d.ip === "127.0.0.1")!;
    t.deepEqual(dev.listeningPorts, [104, 445, 11112]);
    t.deepEqual(dev.dicomPorts, [11112]);
    t.false(
      report.devices.some((d) => d.ip === "127.0.0.3"),
      "a host without DICOM is not inventoried",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
