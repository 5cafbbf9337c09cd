/**
 * Integration test with real DICOM peers: DCMTK's echoscu and storescu talk to storescp over loopback,
 * tcpdump records it, and the TCP payloads (extracted with tshark, as the capture and reassembly stages
 * are tested on their own) are fed to DicomConnections with the real DIMSE layer behind them.
 * Needs dcmtk, tcpdump, tshark and the right to capture on lo (test/helpers/requires.ts).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import type { Endpoint } from "../../../agent/reassembly/types.js";
import { connectionInfo, Harness } from "./harness.js";
import { requires } from "../../helpers/requires.js";
import { captureEndMarker, waitForLine, waitForPort } from "../../helpers/wait.js";

// Capturing on lo needs root (CI runs tests as root).
const itest = requires("root", "dcmtk", "tcpdump", "tshark");

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });

/**
 * tcpdump writing packets in order (the end marker relies on it); resolves once it listens. Not
 * --immediate-mode: its ring holds only about 30 packets on loopback (one 64 KiB slot each).
 */
async function startTcpdump(file: string, port: number): Promise<ChildProcess> {
  const p = spawn(
    "tcpdump",
    // The UDP port takes captureEndMarker's datagram; analyse() reads TCP only.
    ["-i", "lo", "-U", "-B", "32768", "-n", "-Z", "root", "-w", file, `tcp port ${port} or udp port ${port}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  await waitForLine(p.stderr, /listening on/, "tcpdump on lo");
  return p;
}

const stop = (p: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (p.exitCode !== null || p.pid === undefined) return resolve();
    p.once("exit", () => resolve());
    p.kill("SIGINT");
  });

/** Feeds each TCP connection of a capture to its own Harness (roles from the SYN). */
function analyse(file: string): Harness[] {
  const out = execFileSync(
    "tshark",
    [
      "-r",
      file,
      "-Y",
      "tcp",
      "-T",
      "fields",
      "-e",
      "frame.time_epoch",
      "-e",
      "ip.src",
      "-e",
      "tcp.srcport",
      "-e",
      "ip.dst",
      "-e",
      "tcp.dstport",
      "-e",
      "tcp.flags.syn",
      "-e",
      "tcp.flags.ack",
      "-e",
      "tcp.payload",
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  const conns = new Map<string, { h: Harness; client: Endpoint }>();
  for (const line of out.split("\n")) {
    if (line.trim() === "") continue;
    const [ts, sip, sport, dip, dport, syn, ack, hex] = line.split("\t");
    const src: Endpoint = { ip: sip!, port: Number(sport), mac: null };
    const dst: Endpoint = { ip: dip!, port: Number(dport), mac: null };
    const key = [`${sip}:${sport}`, `${dip}:${dport}`].sort().join("|");
    let c = conns.get(key);
    if (c === undefined) {
      // The SYN (without ACK) names the client; every connection here starts with one.
      const isSyn = (syn === "1" || syn === "True") && !(ack === "1" || ack === "True");
      const [client, server] = isSyn ? [src, dst] : [dst, src];
      const h = new Harness(
        connectionInfo({
          client,
          server,
          handshakeSeen: isSyn,
          flow: `${client.ip}:${client.port}-${server.ip}:${server.port}`,
        }),
        (ctx) => new DimseAssembler(ctx),
      );
      c = { h, client };
      conns.set(key, c);
    }
    if (hex === undefined || hex === "") continue;
    const payload = Buffer.from(hex.replace(/:/g, ""), "hex");
    const dir = src.ip === c.client.ip && src.port === c.client.port ? 0 : 1;
    c.h.conn.data(dir, payload, 0, payload.length, Math.round(Number(ts) * 1e6));
  }
  for (const c of conns.values()) c.h.conn.close("fin", 0);
  return [...conns.values()].map((c) => c.h);
}

const DUMP = `(0008,0016) UI =CTImageStorage
(0008,0018) UI [1.2.826.0.1.3680043.2.1125.9.1]
(0008,0060) CS [CT]
(0008,0070) LO [ACME Medical]
(0008,1010) SH [CTROOM1]
(0008,1090) LO [Scanomatic 9000]
(0010,0010) PN [DOE^SECRETPATIENT]
(0010,0020) LO [PID-SECRET-42]
(0018,1020) LO [VA10\\VA20]
(0020,000d) UI [1.2.826.0.1.3680043.2.1125.9.2]
(0020,000e) UI [1.2.826.0.1.3680043.2.1125.9.3]
`;

itest("DCMTK echoscu and storescu against storescp, captured on loopback", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-ul-"));
  const procs: ChildProcess[] = [];
  try {
    writeFileSync(join(dir, "ct.dump"), DUMP);
    execFileSync("dump2dcm", [join(dir, "ct.dump"), join(dir, "ct.dcm")], { stdio: "ignore" });
    const port = await freePort();
    const scp = spawn("storescp", ["-aet", "PACS", "--ignore", String(port)], { stdio: "ignore" });
    procs.push(scp);
    await waitForPort(port);
    const pcap = join(dir, "dcmtk.pcap");
    const dump = await startTcpdump(pcap, port);
    procs.push(dump);
    execFileSync("echoscu", ["-aet", "MODALITY", "-aec", "PACS", "127.0.0.1", String(port)], {
      stdio: "ignore",
      timeout: 20_000,
    });
    execFileSync(
      "storescu",
      ["-aet", "CT_SCANNER", "-aec", "PACS", "127.0.0.1", String(port), join(dir, "ct.dcm")],
      {
        stdio: "ignore",
        timeout: 20_000,
      },
    );
    await captureEndMarker(pcap, port);
    await stop(dump);
    const hs = analyse(pcap);
    t.is(hs.length, 2);
    const [echo, store] = hs.map((h) => h.associations()[0]!.record);
    t.is(echo!.callingAE, "MODALITY");
    t.is(echo!.calledAE, "PACS");
    t.is(echo!.outcome, "accepted");
    t.true(echo!.released);
    t.regex(echo!.requestor!.implementationClassUid!, /^1\.2\.276\.0\.7230010\.3\./);
    t.regex(echo!.acceptor!.implementationVersionName!, /^OFFIS_DCMTK_/);
    t.deepEqual(
      echo!.messages.map((m) => [m.command, m.status]),
      [
        ["C-ECHO-RQ", null],
        ["C-ECHO-RSP", 0],
      ],
    );
    t.is(store!.callingAE, "CT_SCANNER");
    t.deepEqual(
      store!.messages.map((m) => [m.command, m.sopInstanceUid, m.status]),
      [
        ["C-STORE-RQ", "1.2.826.0.1.3680043.2.1125.9.1", null],
        ["C-STORE-RSP", "1.2.826.0.1.3680043.2.1125.9.1", 0],
      ],
    );
    const ct = store!.presentationContexts.find((pc) => pc.abstractSyntax === "1.2.840.10008.5.1.4.1.1.2");
    t.is(ct?.result, "acceptance");
    const storeHarness = hs[1]!;
    const eq = storeHarness.observations.find((o) => o.kind === "equipment");
    t.truthy(eq);
    if (eq?.kind === "equipment") {
      t.is(eq.senderAE, "CT_SCANNER");
      t.is(eq.attributes.modality, "CT");
      t.is(eq.attributes.manufacturer, "ACME Medical");
      t.is(eq.attributes.manufacturerModelName, "Scanomatic 9000");
    }
    for (const h of hs) {
      t.deepEqual(h.anomalies.records(), []);
      t.deepEqual(h.stats.dicomFlows, 1);
      const all = JSON.stringify(h.observations) + JSON.stringify(h.anomalies.records());
      t.false(all.includes("SECRET"));
    }
  } finally {
    for (const p of procs) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
});
