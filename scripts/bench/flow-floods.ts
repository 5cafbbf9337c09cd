/**
 * Flow floods for the memory benchmark (issue 9, "Memory under flow floods"): captures that open many
 * TCP flows, as a scan of a /16 or a misbehaving client does, to measure peak RSS of `analyze` and of the
 * agent whatever the number of flows.
 *
 *   syn     N SYN-only flows (a port scan: nothing answers)
 *   header  N flows, each handshake + the first 6 bytes of an A-ASSOCIATE-RQ header, never completed
 *   assoc   N short associations: handshake, A-ASSOCIATE-RQ/AC, A-RELEASE-RQ/RP, FIN
 *
 * Each flow has its own client address (10.A.B.C over a /8) so nothing is a retransmission of another.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { associateAc, associateRq, dcmtk367, releasePdu, UID } from "./dicom.js";
import { PcapWriter, TcpConnection, type Endpoint } from "./pcap.js";

export type FloodShape = "syn" | "header" | "assoc";

export interface FloodCapture {
  shape: FloodShape;
  flows: number;
  path: string;
  packets: number;
  bytes: number;
}

const SERVER: Endpoint = {
  mac: Buffer.from([0x02, 0, 0, 0, 0, 0x20]),
  ip: Buffer.from([10, 250, 0, 20]),
  port: 104,
};
const ROUTER_MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x01]);
const TCP_OPTS = { ackEvery: 0, windowShift: 7 };
const PARAMS = dcmtk367("SCANNER", "ARCHIVE");

function client(i: number): Endpoint {
  // Behind a router (one MAC), as a scan from another network arrives: addresses 10.0.0.1 upwards.
  const n = i + 1;
  return {
    mac: ROUTER_MAC,
    ip: Buffer.from([10, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]),
    port: 40000 + (i % 20000),
  };
}

/** Writes the capture (cached by shape and size) and returns where it is. */
export function floodCapture(dir: string, shape: FloodShape, flows: number): FloodCapture {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `flood-${shape}-${flows}.pcap`);
  const manifest = `${path}.json`;
  if (existsSync(path) && existsSync(manifest))
    return JSON.parse(readFileSync(manifest, "utf8")) as FloodCapture;
  const w = new PcapWriter(path, 1_767_225_600_000_000);
  const rq = associateRq(PARAMS, [
    { id: 1, abstractSyntax: UID.verification, transferSyntaxes: [UID.implicitLE] },
  ]);
  const ac = associateAc(PARAMS, [{ id: 1, result: 0, transferSyntax: UID.implicitLE }]);
  const header = rq.subarray(0, 6);
  for (let i = 0; i < flows; i++) {
    const c = new TcpConnection(w, client(i), SERVER, (i * 7919) >>> 0, (i * 104729) >>> 0, TCP_OPTS);
    if (shape === "syn") {
      c.synOnly();
      continue;
    }
    c.open();
    if (shape === "header") {
      c.write(true, header);
      c.push(true);
      continue;
    }
    c.write(true, rq);
    c.push(true);
    c.write(false, ac);
    c.push(false);
    c.write(true, releasePdu(0x05));
    c.push(true);
    c.write(false, releasePdu(0x06));
    c.push(false);
    c.close();
  }
  w.close();
  const out: FloodCapture = { shape, flows, path, packets: w.packets, bytes: w.fileBytes };
  writeFileSync(manifest, JSON.stringify(out));
  return out;
}

export interface FloodRow {
  capture: FloodCapture;
  tool: "analyze" | "run --replay";
  seconds: number;
  peakRssKiB: number;
  exitCode: number | null;
  tcpFlows: number | null;
  evicted: string | null;
}

export const FLOOD_SIZES: [FloodShape, number][] = [
  ["syn", 500_000],
  ["header", 100_000],
  ["assoc", 50_000],
];

/**
 * Runs `dicomtap analyze --json` and `dicomtap run --replay` (print mode, no broker) on each flood, as the
 * installed command runs (bin/dicomtap.js, whose first line sets the V8 heap limits), under GNU time for
 * the peak RSS (ru_maxrss of the process and the children it waited for).
 */
export function runFloods(dir: string, sizes: [FloodShape, number][], log: (m: string) => void): FloodRow[] {
  const bin = join(process.cwd(), "bin/dicomtap.js");
  const rows: FloodRow[] = [];
  for (const [shape, n] of sizes) {
    const capture = floodCapture(dir, shape, n);
    log(`flood ${shape}: ${n} flows, ${capture.packets} packets`);
    for (const tool of ["analyze", "run --replay"] as const) {
      const json = join(dir, "report.json");
      const config = join(dir, "config.json");
      rmSync(join(dir, "store.db"), { force: true });
      rmSync(join(dir, "store.db-wal"), { force: true });
      writeFileSync(
        config,
        JSON.stringify({ sensor: { id: "flood", site: "bench" }, store: { path: join(dir, "store.db") } }),
      );
      const args =
        tool === "analyze"
          ? [bin, "analyze", "--quiet", "--json", json, capture.path]
          : [bin, "run", "--config", config, "--replay", capture.path];
      const t0 = Date.now();
      const r = spawnSync("/usr/bin/time", ["-f", "%M", ...args], { encoding: "utf8", maxBuffer: 1 << 30 });
      const seconds = (Date.now() - t0) / 1000;
      const peak = Number(/(\d+)\s*$/.exec(r.stderr ?? "")?.[1] ?? NaN);
      let tcpFlows: number | null = null;
      let evicted: string | null = null;
      if (tool === "analyze" && r.status === 0) {
        const report = JSON.parse(readFileSync(json, "utf8")) as {
          stats: { tcpFlows: number };
          anomalies: { code: string; count: number }[];
        };
        tcpFlows = report.stats.tcpFlows;
        const full = report.anomalies.filter((a) => a.code === "tcp.flow-table-full");
        evicted = full.length > 0 ? `${full.reduce((s, a) => s + a.count, 0)}+` : "0";
      }
      rows.push({ capture, tool, seconds, peakRssKiB: peak, exitCode: r.status, tcpFlows, evicted });
    }
  }
  return rows;
}

export function formatFloods(rows: FloodRow[]): string {
  const out = [
    "| flood | flows | packets | command | exit | time | peak RSS |",
    "| ----- | ----- | ------- | ------- | ---- | ---- | -------- |",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.capture.shape} | ${r.capture.flows} | ${r.capture.packets} | ${r.tool} | ${String(r.exitCode)} | ` +
        `${r.seconds.toFixed(1)} s | ${(r.peakRssKiB / 1024).toFixed(0)} MiB |`,
    );
  }
  return out.join("\n") + "\n";
}
