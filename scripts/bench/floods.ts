/**
 * Hostile-traffic cost benchmark (issue 9, "a P-DATA-TF flood of tiny PDUs ... 23 times slower per byte"):
 * two captures of the same size on one TCP connection each, and the throughput of `analyze` on both.
 *
 *   pdv-flood  A-ASSOCIATE-RQ/AC, then P-DATA-TF PDUs of 12 bytes back to back, each one PDV item with an
 *              empty data-set fragment flagged last and no command before it (PS3.8 §9.3.5.1: a PDV item
 *              of length 2 is legal framing; PS3.7 §6.3.1: a data set without its command set is not),
 *              so every PDU is one `dimse.data-without-command` anomaly on the same flow; then release.
 *   pdv-varied the same flood made unpredictable: each PDU 1 or 2 data PDV items of 0..20 bytes on a random
 *              odd context ID, flagged last or not (no two neighbours need be alike: the general case)
 *   store      the same association doing what real traffic does: C-STORE-RQ of 512 KiB CT datasets in
 *              16 KiB P-DATA-TF PDUs, C-STORE-RSP after each, then release.
 *
 *   node dist/scripts/bench/floods.js [--mb 50] [--dir /tmp/dicomtap-floods] [--runs 3]
 *
 * Prints MB/s (capture file bytes / seconds of the whole analysis, best of --runs) and ns per byte for both,
 * and their ratio (the target: the flood costs no more per byte than the normal stream), for two pipelines:
 *
 *   current   agent/pipeline/pipeline.ts as it is: every anomaly, repeats included, is counted by
 *             anomaly() and observed downstream (guard, inventory, findings), one object per repeat;
 *   tallying  the same Pipeline plus tally() (withTally below, the change proposed for
 *             pipeline.ts): the first occurrence of a (code, flow) is counted and observed as today, its
 *             repeats are counted on the row (exact counts in the report and stats), not observed again.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCaptureFile } from "../../agent/capture/file.js";
import { defaultConfig } from "../../agent/config/config.js";
import { Analysis } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type {
  AnomalyCode,
  AnomalyFlow,
  AnomalyLayer,
  AnomalySink,
  AnomalyTally,
} from "../../agent/util/anomaly.js";
import {
  associateAc,
  associateRq,
  cStoreRq,
  dcmtk367,
  cStoreRsp,
  pdataHeader,
  releasePdu,
  UID,
} from "./dicom.js";
import { PcapWriter, Rng, TcpConnection, type Endpoint } from "./pcap.js";

export type HostileShape = "pdv-flood" | "pdv-varied" | "store";

export interface HostileCapture {
  shape: HostileShape;
  path: string;
  packets: number;
  bytes: number;
  /** P-DATA-TF PDUs (flood) or C-STORE-RQs (store) written. */
  units: number;
}

const CLIENT: Endpoint = {
  mac: Buffer.from([2, 0, 0, 0, 0, 0x10]),
  ip: Buffer.from([10, 251, 0, 10]),
  port: 40104,
};
const SERVER: Endpoint = {
  mac: Buffer.from([2, 0, 0, 0, 0, 0x20]),
  ip: Buffer.from([10, 251, 0, 20]),
  port: 104,
};
const PARAMS = dcmtk367("FLOODER", "ARCHIVE");
const CT = "1.2.840.10008.5.1.4.1.1.2";

/** Writes (or reuses) the capture of `shape` holding about `mb` megabytes of DICOM bytes. */
export function hostileCapture(dir: string, shape: HostileShape, mb: number): HostileCapture {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `hostile-${shape}-${mb}MB.pcap`);
  const manifest = `${path}.json`;
  if (existsSync(path) && existsSync(manifest))
    return JSON.parse(readFileSync(manifest, "utf8")) as HostileCapture;
  const w = new PcapWriter(path, 1_767_225_600_000_000);
  const c = new TcpConnection(w, CLIENT, SERVER, 1000, 900000, { ackEvery: 2, windowShift: 7 });
  c.open();
  c.write(true, associateRq(PARAMS, [{ id: 1, abstractSyntax: CT, transferSyntaxes: [UID.explicitLE] }]));
  c.push(true);
  c.write(false, associateAc(PARAMS, [{ id: 1, result: 0, transferSyntax: UID.explicitLE }]));
  c.push(false);
  const target = mb * 1e6;
  let units = 0;
  if (shape === "pdv-flood") {
    // 64 KiB of back-to-back 12-byte PDUs, written again and again (views: the writer copies them once).
    const one = pdataHeader(1, false, true, 0);
    const block = Buffer.concat(Array.from({ length: 5461 }, () => one));
    for (let n = 0; n < target; n += block.length) {
      c.write(true, block);
      units += 5461;
    }
    c.push(true);
  } else if (shape === "pdv-varied") {
    const rng = new Rng(9);
    const block = Buffer.allocUnsafe(64 * 1024);
    for (let n = 0; n < target;) {
      let o = 0;
      while (o + 6 + 2 * (6 + 20) <= block.length) {
        const items = rng.int(1, 2);
        const start = o;
        o += 6;
        for (let i = 0; i < items; i++) {
          const v = rng.int(0, 20);
          block.writeUInt32BE(v + 2, o);
          block[o + 4] = 2 * rng.int(0, 127) + 1;
          block[o + 5] = rng.int(0, 1) * 2;
          block.fill(0x5a, o + 6, o + 6 + v);
          o += 6 + v;
        }
        block[start] = 0x04;
        block[start + 1] = 0;
        block.writeUInt32BE(o - start - 6, start + 2);
        units++;
      }
      // Each block is a fresh copy: the writer keeps views until it has segmented them.
      c.write(true, Buffer.from(block.subarray(0, o)));
      n += o;
    }
    c.push(true);
  } else {
    const dataset = ctDataset(512 * 1024);
    const datasetLength = dataset.length;
    const fragment = 16384 - 6;
    for (let n = 0; n < target; n += datasetLength) {
      units++;
      const inst = `1.2.826.0.1.3680043.2.1125.9.${units}`;
      const cmd = cStoreRq(units, CT, inst);
      c.write(true, pdataHeader(1, true, true, cmd.length));
      c.write(true, cmd);
      for (let o = 0; o < datasetLength; o += fragment) {
        const k = Math.min(fragment, datasetLength - o);
        c.write(true, pdataHeader(1, false, o + k === datasetLength, k));
        c.write(true, dataset.subarray(o, o + k));
      }
      c.push(true);
      const rsp = cStoreRsp(units, CT, inst);
      c.write(false, pdataHeader(1, true, true, rsp.length));
      c.write(false, rsp);
      c.push(false);
    }
  }
  c.write(true, releasePdu(0x05));
  c.push(true);
  c.write(false, releasePdu(0x06));
  c.push(false);
  c.close();
  w.close();
  const out: HostileCapture = { shape, path, packets: w.packets, bytes: w.fileBytes, units };
  writeFileSync(manifest, JSON.stringify(out));
  return out;
}

/** Explicit VR little endian element with a 2-byte length (PS3.5 §7.1.2). */
function element(group: number, el: number, vr: string, text: string): Buffer {
  let v = Buffer.from(text, "latin1");
  if (v.length % 2 === 1) v = Buffer.concat([v, Buffer.from([vr === "UI" ? 0 : 0x20])]);
  const h = Buffer.alloc(8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(el, 2);
  h.write(vr, 4, "latin1");
  h.writeUInt16LE(v.length, 6);
  return Buffer.concat([h, v]);
}

/** A CT data set of `size` bytes: equipment attributes, then Pixel Data (7FE0,0010) OW filling the rest. */
function ctDataset(size: number): Buffer {
  const head = Buffer.concat([
    element(0x0008, 0x0016, "UI", CT),
    element(0x0008, 0x0018, "UI", "1.2.826.0.1.3680043.2.1125.9.1"),
    element(0x0008, 0x0060, "CS", "CT"),
    element(0x0008, 0x0070, "LO", "ACME Medical"),
    element(0x0008, 0x1090, "LO", "Scanomatic 9000"),
    element(0x0018, 0x1020, "LO", "VA10"),
  ]);
  const pixelHeader = Buffer.alloc(12);
  pixelHeader.writeUInt16LE(0x7fe0, 0);
  pixelHeader.writeUInt16LE(0x0010, 2);
  pixelHeader.write("OW", 4, "latin1");
  const pixels = (size - head.length - 12) & ~1;
  pixelHeader.writeUInt32LE(pixels, 8);
  return Buffer.concat([head, pixelHeader, Buffer.alloc(pixels, 0x5a)]);
}

/**
 * The proposed Pipeline.tally (issue 9): report the first occurrence as anomaly() does (counted, and
 * observed downstream), count the repeats on its row. As a method of Pipeline it is these two lines; here it
 * is added to one instance (and a Pipeline that has its own is left as it is).
 */
export function withTally(p: Pipeline): Pipeline {
  const sink = p as Pipeline & Pick<AnomalySink, "tally">;
  sink.tally ??= (
    code: AnomalyCode,
    layer: AnomalyLayer,
    at: AnomalyFlow | null,
    detail: string,
  ): AnomalyTally => {
    p.anomaly(code, layer, at, detail);
    return p.anomalyCounter.repeats(code, at);
  };
  return p;
}

export type PipelineKind = "current" | "tallying";

export interface HostileRun {
  shape: HostileShape;
  pipeline: PipelineKind;
  /** Capture file bytes per second of process CPU time (user + system), best run. */
  mbPerSecond: number;
  nsPerByte: number;
  cpuSeconds: number;
  wallSeconds: number;
  anomalies: number;
  dimseMessages: number;
}

/**
 * One whole analysis of a capture, as analyzeFiles does it (pipeline, guard, inventory, findings, the
 * report's lists), with the given pipeline class. CPU time is measured besides wall time: on a shared
 * machine it is the steadier of the two.
 */
export async function analyzeOnce(cap: HostileCapture, kind: PipelineKind): Promise<HostileRun> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const analysis = new Analysis(defaultConfig());
  const made = new Pipeline({ observations: analysis });
  const pipeline = kind === "current" ? made : withTally(made);
  await readCaptureFile(cap.path, pipeline, { counters: pipeline.counters });
  pipeline.finish();
  analysis.findings.finish(pipeline.nowMicros);
  const stats = pipeline.stats();
  void pipeline.anomalyCounter.records();
  void analysis.findings.findings();
  void analysis.inventory.devices();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const size = statSync(cap.path).size;
  return {
    shape: cap.shape,
    pipeline: kind,
    mbPerSecond: size / 1e6 / cpu,
    nsPerByte: (cpu * 1e9) / size,
    cpuSeconds: cpu,
    wallSeconds: wall,
    anomalies: stats.anomalies,
    dimseMessages: stats.dimseMessages,
  };
}

async function main(argv: string[]): Promise<void> {
  let mb = 50;
  let dir = "/tmp/dicomtap-floods";
  let runs = 7;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--mb") mb = Number(argv[++i]);
    else if (a === "--dir") dir = argv[++i] ?? dir;
    else if (a === "--runs") runs = Number(argv[++i]);
    else throw new Error(`floods: unknown argument ${a}`);
  }
  const caps = [
    hostileCapture(dir, "store", mb),
    hostileCapture(dir, "pdv-flood", mb),
    hostileCapture(dir, "pdv-varied", mb),
  ];
  const kinds: PipelineKind[] = ["current", "tallying"];
  // Interleaved, best of `runs` each: the first runs also warm the code up, as a long capture would.
  const best = new Map<string, HostileRun>();
  for (let i = 0; i < runs; i++)
    for (const kind of kinds)
      for (const cap of caps) {
        const r = await analyzeOnce(cap, kind);
        const key = `${kind} ${cap.shape}`;
        const prev = best.get(key);
        if (prev === undefined || r.cpuSeconds < prev.cpuSeconds) best.set(key, r);
      }
  for (const kind of kinds) {
    for (const cap of caps) {
      const r = best.get(`${kind} ${cap.shape}`)!;
      console.log(
        `${kind.padEnd(8)} ${cap.shape.padEnd(10)} ${(cap.bytes / 1e6).toFixed(1).padStart(6)} MB ` +
          `${String(cap.packets).padStart(7)} packets  cpu ${r.cpuSeconds.toFixed(3)} s  wall ${r.wallSeconds.toFixed(3)} s  ` +
          `${r.mbPerSecond.toFixed(0).padStart(5)} MB/s  ${r.nsPerByte.toFixed(2).padStart(5)} ns/B  ` +
          `anomalies ${r.anomalies}  messages ${r.dimseMessages}`,
      );
    }
    const store = best.get(`${kind} store`)!;
    for (const shape of ["pdv-flood", "pdv-varied"] as const) {
      const flood = best.get(`${kind} ${shape}`)!;
      console.log(
        `${kind.padEnd(8)} ${shape} cost per byte / normal stream cost per byte: ${(flood.nsPerByte / store.nsPerByte).toFixed(2)}`,
      );
    }
  }
}

if (process.argv[1]?.endsWith("floods.js")) await main(process.argv.slice(2));
