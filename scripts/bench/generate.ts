/**
 * Generates large, deterministic C-STORE captures for the benchmark (issue 2, "Performance").
 *
 * Shape "a": a size target (default 1 GiB) spread over many associations between several modalities
 * (CT, MR, CR) and two archives, a few associations in flight at once, every transfer syntax of
 * dicom.ts, max PDU 16 KiB and 64 KiB, images of 256 KiB to 2 MiB.
 * Shape "b": one association carrying N C-STOREs of small images (default 2000): the case where
 * tshark's per-conversation reassembly state keeps growing.
 * Shape "f": many findings (issue 4, the publish benchmark): H distinct client hosts (default 5000), each
 * making one short association (C-ECHO) to a PACS, one after the other at R associations per second of
 * capture time (default 200). Every client is a new device running a DCMTK version with known CVEs
 * (inventory.new-device, dicom.vulnerable-implementation, dicom.cleartext); one in four comes from
 * outside RFC 1918 (198.18.0.0/15, the benchmarking range of RFC 2544) through a router and adds
 * dicom.external-peer.
 *
 * Captures are cached in a folder with a manifest next to each file; a rerun with the same parameters
 * and generator version reuses them. Usage:
 *   node dist/scripts/bench/generate.js [--shape a|b|f] [--size 1G] [--count 2000] [--hosts 5000]
 *        [--rate 200] [--seed 1] [--dir D]
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  UID,
  ElementWriter,
  associateAc,
  cEchoRq,
  cEchoRsp,
  associateRq,
  cStoreRq,
  cStoreRsp,
  isEncapsulated,
  pdataHeader,
  releasePdu,
  syntaxOf,
  type AcceptedContext,
  type ProposedContext,
} from "./dicom.js";
import { PcapWriter, Rng, TcpConnection, type Endpoint } from "./pcap.js";

/** Bump when the bytes generated for the same options change, so cached captures are rebuilt. */
export const GENERATOR_VERSION = 2;

export type Shape = "a" | "b" | "f";

export interface GenerateOptions {
  shape: Shape;
  /** Shape a: stop starting C-STOREs once the file reaches this many bytes. */
  sizeBytes: number;
  /** Shape b: number of C-STOREs on the one association. */
  count: number;
  seed: number;
  dir: string;
  /** The receiver ACKs every this many full segments (0 = only at the end of each message). */
  ackEvery: number;
  /** Shape a: associations in flight at once. */
  concurrency: number;
  /** Shape f: distinct client hosts, one association each. */
  hosts: number;
  /** Shape f: associations started per second of capture time. */
  rate: number;
  force?: boolean;
  /** Progress lines on stderr. */
  verbose?: boolean;
}

export interface Manifest {
  generatorVersion: number;
  shape: Shape;
  seed: number;
  sizeTarget: number;
  count: number;
  ackEvery: number;
  concurrency: number;
  file: string;
  fileBytes: number;
  frameBytes: number;
  packets: number;
  associations: number;
  cStores: number;
  /** Server ports, for tshark's `-d tcp.port==N,dicom`. */
  serverPorts: number[];
  /** C-STOREs per transfer syntax UID. */
  transferSyntaxes: Record<string, number>;
  /** C-STOREs per max PDU length. */
  maxPdu: Record<string, number>;
  /** Fake patient names and IDs all start with this, so leak checks can grep the report for it. */
  canary: string;
  generatedSeconds: number;
  /** Shape f: what the capture must raise (see FindingsPlan). */
  findingsPlan?: FindingsPlan;
}

/**
 * Shape f: the devices and findings the capture is built to raise with the default config (networks.internal
 * = RFC 1918 and loopback), one per (rule, device, peer):
 *   inventory.new-device             every client and the PACS
 *   dicom.cleartext                  one per client (device: the PACS, peer: the client)
 *   dicom.vulnerable-implementation  one per client (DCMTK 3.6.5, below the fixed 3.6.7)
 *   dicom.external-peer              one per external client (inbound, accepted)
 *   dicom.default-port               one: the PACS serves DICOM on port 104
 */
export interface FindingsPlan {
  hosts: number;
  externalHosts: number;
  devices: number;
  findings: number;
  /** Timestamp of the first packet (µs since the epoch) and capture time to the last one (s). */
  firstPacketMicros: number;
  captureSeconds: number;
  ratePerSecond: number;
}

export const CANARY = "BENCHCANARY";

export const DEFAULTS: GenerateOptions = {
  shape: "a",
  sizeBytes: 1 << 30,
  count: 2000,
  seed: 1,
  dir: "/tmp/dicomtap-bench",
  ackEvery: 2,
  concurrency: 3,
  hosts: 5000,
  rate: 200,
};

/** 2026-01-15T08:00:00Z: captures carry a fixed start time so they are byte-identical per seed. */
const START_MICROS = Date.UTC(2026, 0, 15, 8, 0, 0) * 1000;

/** Random bytes that pixel data is sliced from: pixel data is never built per image. */
const POOL_BYTES = 6 << 20;

interface Device {
  ae: string;
  ep: Endpoint;
  modality: "CT" | "MR" | "CR";
  sopClass: string;
  manufacturer: string;
  model: string;
  software: string;
  serial: string;
  station: string;
  nextPort: number;
}

interface Archive {
  ae: string;
  ep: Endpoint;
  implementationClassUid: string;
  implementationVersionName: string;
  /** Transfer syntaxes this archive turns down (result 4 in the A-ASSOCIATE-AC). */
  refuses: string[];
  maxPdu: number;
}

function ipv4(s: string): Buffer {
  return Buffer.from(s.split(".").map(Number));
}

function mac(last: number): Buffer {
  // Locally administered unicast addresses (02:...).
  return Buffer.from([0x02, 0xdc, 0x4d, 0x00, (last >> 8) & 0xff, last & 0xff]);
}

function device(
  n: number,
  modality: Device["modality"],
  manufacturer: string,
  model: string,
  software: string,
): Device {
  const sopClass =
    modality === "CT" ? UID.ctImageStorage : modality === "MR" ? UID.mrImageStorage : UID.crImageStorage;
  return {
    ae: `${modality}_ROOM${n}`,
    ep: { mac: mac(0x100 + n), ip: ipv4(`10.20.0.${10 + n}`), port: 0 },
    modality,
    sopClass,
    manufacturer,
    model,
    software,
    serial: `SN${(40213 + n * 7919).toString()}`,
    station: `${modality}STATION${n}`,
    nextPort: 40000 + n * 1500,
  };
}

function devices(): Device[] {
  return [
    device(1, "CT", "Bench Imaging Systems", "BIS Helix 64", "VA40C"),
    device(2, "CT", "Northwind Medical", "NW-CT 128", "3.2.1"),
    device(3, "MR", "Bench Imaging Systems", "BIS Magnet 1.5T", "VE11E"),
    device(4, "MR", "Contoso Radiology", "CR-MRI 3T", "R5.7.0"),
    device(5, "CR", "Northwind Medical", "NW-Digitizer", "2.0.17"),
    device(6, "CR", "Contoso Radiology", "CR-Plate 35", "11.4"),
  ];
}

function archives(): Archive[] {
  return [
    {
      ae: "PACS_MAIN",
      ep: { mac: mac(0x201), ip: ipv4("10.20.1.5"), port: 104 },
      implementationClassUid: "2.25.118930256392284521038445920193847561201",
      implementationVersionName: "BENCHPACS_4_2",
      refuses: [],
      maxPdu: 16384,
    },
    {
      ae: "ARCHIVE",
      ep: { mac: mac(0x202), ip: ipv4("10.20.1.6"), port: 11112 },
      implementationClassUid: "2.25.279118403382110295763118205528310471992",
      implementationVersionName: "BENCHARCH_1_9",
      refuses: [UID.explicitBE],
      maxPdu: 65536,
    },
  ];
}

const SCU_IMPL_UID = "2.25.301762919548822613098123445516107318854";
const SCU_IMPL_VERSION = "BENCHSCU_3_6";

class UidSource {
  private n = 0;
  constructor(private readonly root: string) {}
  next(): string {
    return `${this.root}.${(++this.n).toString()}`;
  }
}

interface Counts {
  associations: number;
  cStores: number;
  transferSyntaxes: Record<string, number>;
  maxPdu: Record<string, number>;
}

interface Image {
  rows: number;
  cols: number;
  /** Encapsulated: length of the single JPEG fragment. */
  fragment: number;
}

/** Makes the data set of one image as pieces: an element head (~1-2 KiB), pixel data views, a tail. */
class ImageFactory {
  private readonly pool: Buffer;
  private readonly uids: UidSource;
  private instance = 0;
  private readonly studyUid: string;
  private readonly seriesUid: string;
  private readonly frameUid: string;

  constructor(
    private readonly rng: Rng,
    seed: number,
  ) {
    this.pool = Buffer.allocUnsafe(POOL_BYTES);
    rng.fill(this.pool);
    this.uids = new UidSource(`2.25.${(7000000 + seed).toString()}${rng.u32().toString()}`);
    this.studyUid = this.uids.next();
    this.seriesUid = this.uids.next();
    this.frameUid = this.uids.next();
  }

  newInstanceUid(): string {
    return this.uids.next();
  }

  /** PS3.3 image pixel module + patient/study/equipment heads, in ascending tag order (PS3.5 §7.1). */
  build(dev: Device, ts: string, sopInstance: string, img: Image): { pieces: Buffer[]; length: number } {
    const r = this.rng;
    const e = new ElementWriter(syntaxOf(ts));
    const encapsulated = isEncapsulated(ts);
    const n = ++this.instance;
    const patient = r.int(1, 500);
    const ds = (v: number): string => v.toFixed(4);
    e.str(0x00080005, "CS", "ISO_IR 100");
    e.str(0x00080008, "CS", "ORIGINAL\\PRIMARY\\AXIAL");
    e.str(0x00080012, "DA", "20260115");
    e.str(0x00080013, "TM", "080000.000000");
    e.str(0x00080016, "UI", dev.sopClass);
    e.str(0x00080018, "UI", sopInstance);
    e.str(0x00080020, "DA", "20260115");
    e.str(0x00080021, "DA", "20260115");
    e.str(0x00080030, "TM", "075512");
    e.str(0x00080031, "TM", "075930");
    e.str(0x00080050, "SH", `${CANARY}A${patient.toString()}`);
    e.str(0x00080060, "CS", dev.modality);
    e.str(0x00080070, "LO", dev.manufacturer);
    e.str(0x00080080, "LO", "Bench General Hospital");
    e.str(0x00080081, "ST", "1 Benchmark Road, Testville");
    e.str(0x00080090, "PN", `${CANARY}^REFERRER`);
    e.str(0x00081010, "SH", dev.station);
    e.str(0x00081030, "LO", `${CANARY} STUDY ${dev.modality}`);
    e.sq(0x00081032, [
      (i) => {
        i.str(0x00080100, "SH", "BENCH01");
        i.str(0x00080102, "SH", "99BENCH");
        i.str(0x00080104, "LO", `${dev.modality} routine`);
      },
    ]);
    e.str(0x0008103e, "LO", `${CANARY} SERIES`);
    e.str(0x00081090, "LO", dev.model);
    e.str(0x00100010, "PN", `${CANARY}^PATIENT^${patient.toString()}`);
    e.str(0x00100020, "LO", `${CANARY}-PID-${patient.toString()}`);
    e.str(0x00100030, "DA", "19500101");
    e.str(0x00100040, "CS", r.u32() & 1 ? "F" : "M");
    e.str(0x00101010, "AS", "076Y");
    e.str(0x00180015, "CS", "CHEST");
    e.str(0x00180050, "DS", "1.25");
    e.str(0x00181000, "LO", dev.serial);
    e.str(0x00181020, "LO", dev.software);
    e.str(0x00181030, "LO", `${dev.modality} CHEST ROUTINE`);
    e.str(0x00185100, "CS", "HFS");
    e.str(0x0020000d, "UI", this.studyUid);
    e.str(0x0020000e, "UI", this.seriesUid);
    e.str(0x00200010, "SH", "4711");
    e.str(0x00200011, "IS", "3");
    e.str(0x00200013, "IS", n.toString());
    e.str(0x00200032, "DS", `-250\\-250\\${ds(n * -1.25)}`);
    e.str(0x00200037, "DS", "1\\0\\0\\0\\1\\0");
    e.str(0x00200052, "UI", this.frameUid);
    e.str(0x00201041, "DS", ds(n * -1.25));
    e.us(0x00280002, 1);
    e.str(0x00280004, "CS", "MONOCHROME2");
    e.us(0x00280010, img.rows);
    e.us(0x00280011, img.cols);
    e.str(0x00280030, "DS", "0.683594\\0.683594");
    const eightBit = ts === UID.jpegBaseline;
    e.us(0x00280100, eightBit ? 8 : 16);
    e.us(0x00280101, eightBit ? 8 : 12);
    e.us(0x00280102, eightBit ? 7 : 11);
    e.us(0x00280103, 0);
    e.str(0x00281050, "DS", "40");
    e.str(0x00281051, "DS", "400");
    e.str(0x00281052, "DS", "-1024");
    e.str(0x00281053, "DS", "1");
    // A private block, as most modalities write one: creator (0029,0010) and an opaque blob.
    e.str(0x00290010, "LO", "BENCH PRIVATE");
    const blob = Buffer.allocUnsafe(2 * r.int(100, 400));
    r.fill(blob);
    e.ob(0x00291010, blob);

    const off = r.int(0, POOL_BYTES - (2 << 20) - 16) & ~1;
    if (!encapsulated) {
      // Native pixel data (7FE0,0010) OW; byte order does not matter for random samples.
      const len = img.rows * img.cols * 2;
      e.header(0x7fe00010, "OW", len);
      const head = e.take();
      return { pieces: [head, this.pool.subarray(off, off + len)], length: head.length + len };
    }
    // Encapsulated (PS3.5 §A.4): OB of undefined length, an empty Basic Offset Table item, one fragment
    // holding a JPEG stream (SOI ... EOI), then the sequence delimiter.
    e.header(0x7fe00010, "OB", 0xffffffff);
    e.itemHeader(0xe000, 0);
    e.itemHeader(0xe000, img.fragment);
    const soi = Buffer.from([0xff, 0xd8, 0xff, ts === UID.jpegBaseline ? 0xc0 : 0xc3]);
    e.w.bytes(soi);
    const head = e.take();
    const body = img.fragment - 6;
    const tail = new ElementWriter(syntaxOf(ts));
    tail.w.bytes(Buffer.from([0xff, 0xd9]));
    tail.itemHeader(0xe0dd, 0);
    const tailBuf = tail.take();
    return {
      pieces: [head, this.pool.subarray(off, off + body), tailBuf],
      length: head.length + body + tailBuf.length,
    };
  }
}

interface AssociationPlan {
  dev: Device;
  arc: Archive;
  conn: TcpConnection;
  proposed: ProposedContext[];
  accepted: AcceptedContext[];
  /** Accepted contexts that carry the device's image storage class. */
  imageContexts: AcceptedContext[];
  maxImages: number;
  image: (r: Rng, ts: string) => Image;
}

/** Proposes the device's storage class several times with different transfer syntaxes, as storescu
 *  does with `--propose-*` options, plus secondary capture and verification. */
function negotiate(
  r: Rng,
  dev: Device,
  arc: Archive,
): { proposed: ProposedContext[]; accepted: AcceptedContext[] } {
  const nativeFirst = r.u32() & 1 ? [UID.explicitLE, UID.implicitLE] : [UID.implicitLE, UID.explicitLE];
  const proposed: ProposedContext[] = [
    { id: 1, abstractSyntax: dev.sopClass, transferSyntaxes: nativeFirst },
    { id: 3, abstractSyntax: dev.sopClass, transferSyntaxes: [UID.jpegLossless] },
    { id: 5, abstractSyntax: dev.sopClass, transferSyntaxes: [UID.jpegBaseline] },
    { id: 7, abstractSyntax: dev.sopClass, transferSyntaxes: [UID.explicitBE] },
    {
      id: 9,
      abstractSyntax: UID.secondaryCaptureStorage,
      transferSyntaxes: [UID.explicitLE, UID.implicitLE],
    },
    { id: 11, abstractSyntax: UID.verification, transferSyntaxes: [UID.implicitLE] },
  ];
  // The other image storage classes too, as a storage SCU's default list does.
  let id = 13;
  for (const sop of [UID.ctImageStorage, UID.mrImageStorage, UID.crImageStorage]) {
    if (sop === dev.sopClass) continue;
    proposed.push({ id, abstractSyntax: sop, transferSyntaxes: [UID.explicitLE, UID.implicitLE] });
    id += 2;
  }
  const accepted: AcceptedContext[] = proposed.map((pc) => {
    const ts = pc.transferSyntaxes[0]!;
    if (arc.refuses.includes(ts)) return { id: pc.id, result: 4, transferSyntax: ts };
    if (pc.abstractSyntax === UID.secondaryCaptureStorage && arc.ae === "ARCHIVE")
      return { id: pc.id, result: 3, transferSyntax: ts };
    return { id: pc.id, result: 0, transferSyntax: ts };
  });
  return { proposed, accepted };
}

/** Writes `len` bytes of `pieces` as P-DATA-TF PDUs of one PDV each, at most maxPdu long. */
function* sendPdvs(
  conn: TcpConnection,
  pcId: number,
  isCommand: boolean,
  pieces: Buffer[],
  len: number,
  maxPdu: number,
): Generator<void, void, void> {
  // The max length of PS3.8 §D.1 bounds the PDU's variable field: PDV header (4+2) + data.
  const maxData = maxPdu - 6;
  let pi = 0;
  let po = 0;
  let left = len;
  while (left > 0) {
    const n = Math.min(maxData, left);
    left -= n;
    conn.write(true, pdataHeader(pcId, isCommand, left === 0, n));
    let k = n;
    while (k > 0) {
      const p = pieces[pi]!;
      const take = Math.min(k, p.length - po);
      conn.write(true, take === p.length ? p : p.subarray(po, po + take));
      k -= take;
      po += take;
      if (po === p.length) {
        pi++;
        po = 0;
      }
    }
    yield;
  }
}

/** One association: handshake, A-ASSOCIATE-RQ/AC, C-STOREs, release, close. Yields after every PDU. */
function* association(
  w: PcapWriter,
  r: Rng,
  plan: AssociationPlan,
  images: ImageFactory,
  counts: Counts,
  stop: () => boolean,
): Generator<void, void, void> {
  const { dev, arc, conn } = plan;
  const rqParams = {
    calledAE: arc.ae,
    callingAE: dev.ae,
    maxPdu: 16384,
    implementationClassUid: SCU_IMPL_UID,
    implementationVersionName: SCU_IMPL_VERSION,
  };
  conn.open();
  yield;
  conn.write(true, associateRq(rqParams, plan.proposed));
  conn.push(true);
  w.idle(r.int(150, 600));
  conn.write(
    false,
    associateAc(
      {
        ...rqParams,
        maxPdu: arc.maxPdu,
        implementationClassUid: arc.implementationClassUid,
        implementationVersionName: arc.implementationVersionName,
      },
      plan.accepted,
    ),
  );
  conn.push(false);
  counts.associations++;
  yield;
  for (let i = 0; i < plan.maxImages && !(i > 0 && stop()); i++) {
    const pc = r.pick(plan.imageContexts);
    const sopInstance = images.newInstanceUid();
    const messageId = i + 1;
    const cmd = cStoreRq(messageId, dev.sopClass, sopInstance);
    // The command goes alone in its PDU and its own write (dcmtk flushes it before the data set).
    yield* sendPdvs(conn, pc.id, true, [cmd], cmd.length, arc.maxPdu);
    conn.push(true);
    const img = plan.image(r, pc.transferSyntax);
    const data = images.build(dev, pc.transferSyntax, sopInstance, img);
    yield* sendPdvs(conn, pc.id, false, data.pieces, data.length, arc.maxPdu);
    conn.push(true);
    w.idle(r.int(200, 2000));
    const rsp = cStoreRsp(messageId, dev.sopClass, sopInstance);
    conn.write(false, pdataHeader(pc.id, true, true, rsp.length));
    conn.write(false, rsp);
    conn.push(false);
    counts.cStores++;
    counts.transferSyntaxes[pc.transferSyntax] = (counts.transferSyntaxes[pc.transferSyntax] ?? 0) + 1;
    counts.maxPdu[arc.maxPdu] = (counts.maxPdu[arc.maxPdu] ?? 0) + 1;
    yield;
  }
  conn.write(true, releasePdu(0x05));
  conn.push(true);
  w.idle(r.int(50, 300));
  conn.write(false, releasePdu(0x06));
  conn.push(false);
  conn.close();
}

/** Native images of 256 KiB to 2 MiB at 16 bits; JPEG fragments about half of that. */
function largeImage(r: Rng, dev: Device, ts: string): Image {
  const dims: [number, number][] =
    dev.modality === "CT"
      ? [
          [512, 512],
          [512, 512],
          [768, 512],
        ]
      : dev.modality === "MR"
        ? [
            [256, 512],
            [512, 512],
            [384, 512],
          ]
        : [
            [1024, 1024],
            [1024, 768],
            [768, 768],
          ];
  const [rows, cols] = r.pick(dims);
  const native = rows * cols * 2;
  const fragment = isEncapsulated(ts)
    ? Math.max(256 << 10, Math.floor((native * r.int(40, 70)) / 100)) & ~1
    : 0;
  return { rows, cols, fragment };
}

/** Small images (8-32 KiB) for the many-C-STOREs association. */
function smallImage(r: Rng, ts: string): Image {
  const [rows, cols] = r.pick<[number, number]>([
    [64, 64],
    [64, 128],
    [128, 128],
  ]);
  const fragment = isEncapsulated(ts) ? Math.floor((rows * cols * 2 * r.int(40, 70)) / 100) & ~1 : 0;
  return { rows, cols, fragment };
}

/** Shape f's clients announce DCMTK 3.6.5 (dcuid.h: root + ".0." + version, "OFFIS_DCMTK_" + version):
 *  below 3.6.7, so data/cves.json lists CVE-2022-2119 and others for it. */
const VULNERABLE_IMPL_UID = "1.2.276.0.7230010.3.0.3.6.5";
const VULNERABLE_IMPL_VERSION = "OFFIS_DCMTK_365";

/** One in this many shape-f clients is external. */
const EXTERNAL_EVERY = 4;

/** Shape f's n-th client (1-based): internal 10.30.0.0/15 with its own MAC, or external 198.18.0.0/15
 *  behind the site router's MAC. */
function findingsClient(n: number, router: Buffer): { ep: Endpoint; external: boolean } {
  const external = n % EXTERNAL_EVERY === 0;
  const hi = n >> 16;
  const ip = Buffer.from([external ? 198 : 10, (external ? 18 : 30) + hi, (n >> 8) & 0xff, n & 0xff]);
  const ownMac = Buffer.from([0x02, 0xdc, 0x4d, 0x10 + hi, (n >> 8) & 0xff, n & 0xff]);
  return { ep: { mac: external ? router : ownMac, ip, port: 40000 + (n % 20000) }, external };
}

/**
 * Shape f: H clients, each one association to the PACS (A-ASSOCIATE-RQ/AC, C-ECHO-RQ/RSP, A-RELEASE,
 * FIN), started at R per second of capture time, one after the other.
 */
function findingsCapture(w: PcapWriter, r: Rng, opts: GenerateOptions, counts: Counts): FindingsPlan {
  if (opts.hosts < 1 || opts.hosts > 131071) throw new Error("--hosts must be 1..131071");
  if (!(opts.rate > 0)) throw new Error("--rate must be positive");
  const pacs = archives()[0]!;
  const router = mac(0xfe);
  const tcpOpts = { ackEvery: opts.ackEvery, windowShift: 7 };
  const proposed: ProposedContext[] = [
    { id: 1, abstractSyntax: UID.verification, transferSyntaxes: [UID.implicitLE] },
    { id: 3, abstractSyntax: UID.ctImageStorage, transferSyntaxes: [UID.explicitLE, UID.implicitLE] },
  ];
  const accepted: AcceptedContext[] = [
    { id: 1, result: 0, transferSyntax: UID.implicitLE },
    { id: 3, result: 0, transferSyntax: UID.explicitLE },
  ];
  const first = w.clockMicros;
  let external = 0;
  for (let n = 1; n <= opts.hosts; n++) {
    const due = first + ((n - 1) * 1e6) / opts.rate;
    if (w.clockMicros < due) w.idle(due - w.clockMicros);
    const client = findingsClient(n, router);
    if (client.external) external++;
    const conn = new TcpConnection(w, client.ep, pacs.ep, r.u32(), r.u32(), tcpOpts);
    const rq = {
      calledAE: pacs.ae,
      callingAE: `VIEWER${n.toString()}`,
      maxPdu: 16384,
      implementationClassUid: VULNERABLE_IMPL_UID,
      implementationVersionName: VULNERABLE_IMPL_VERSION,
    };
    conn.open();
    conn.write(true, associateRq(rq, proposed));
    conn.push(true);
    w.idle(r.int(150, 600));
    const ac = {
      ...rq,
      maxPdu: pacs.maxPdu,
      implementationClassUid: pacs.implementationClassUid,
      implementationVersionName: pacs.implementationVersionName,
    };
    conn.write(false, associateAc(ac, accepted));
    conn.push(false);
    counts.associations++;
    const echo = cEchoRq(1);
    conn.write(true, pdataHeader(1, true, true, echo.length));
    conn.write(true, echo);
    conn.push(true);
    w.idle(r.int(100, 400));
    const rsp = cEchoRsp(1);
    conn.write(false, pdataHeader(1, true, true, rsp.length));
    conn.write(false, rsp);
    conn.push(false);
    conn.write(true, releasePdu(0x05));
    conn.push(true);
    w.idle(r.int(50, 300));
    conn.write(false, releasePdu(0x06));
    conn.push(false);
    conn.close();
  }
  const h = opts.hosts;
  return {
    hosts: h,
    externalHosts: external,
    devices: h + 1,
    // new-device (clients + PACS), cleartext, vulnerable-implementation, external-peer, default-port.
    findings: h + 1 + h + h + external + 1,
    firstPacketMicros: first,
    captureSeconds: (w.clockMicros - first) / 1e6,
    ratePerSecond: opts.rate,
  };
}

function captureName(o: GenerateOptions): string {
  const size =
    o.shape === "a"
      ? `${Math.round(o.sizeBytes / (1 << 20)).toString()}M`
      : o.shape === "f"
        ? `${o.hosts.toString()}h-r${o.rate.toString()}`
        : `${o.count.toString()}x`;
  return `${o.shape}-${size}-s${o.seed.toString()}-ack${o.ackEvery.toString()}.pcap`;
}

/** Returns the capture for these options, generating it unless a matching cached one exists. */
export function ensureCapture(opts: GenerateOptions): Manifest {
  mkdirSync(opts.dir, { recursive: true });
  const file = resolve(join(opts.dir, captureName(opts)));
  const manifestPath = file + ".json";
  if (!opts.force && existsSync(file) && existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
    if (m.generatorVersion === GENERATOR_VERSION) return m;
  }
  const t0 = process.hrtime.bigint();
  const tmp = file + ".part";
  const w = new PcapWriter(tmp, START_MICROS);
  const r = new Rng(opts.seed * 0x9e3779b1);
  const images = new ImageFactory(r, opts.seed);
  const counts: Counts = { associations: 0, cStores: 0, transferSyntaxes: {}, maxPdu: {} };
  const devs = devices();
  const arcs = archives();
  const tcpOpts = { ackEvery: opts.ackEvery, windowShift: 7 };
  let first = true;

  const plan = (
    dev: Device,
    arc: Archive,
    maxImages: number,
    image: AssociationPlan["image"],
  ): AssociationPlan => {
    const { proposed, accepted } = negotiate(r, dev, arc);
    const imageContexts = accepted.filter(
      (a) => a.result === 0 && proposed.find((p) => p.id === a.id)?.abstractSyntax === dev.sopClass,
    );
    const client = { ...dev.ep, port: dev.nextPort++ };
    // The first connection starts 1 MiB below 2^32 so sequence wrap-around happens early.
    const clientIsn = first ? 0xfff00000 : r.u32();
    first = false;
    const conn = new TcpConnection(w, client, arc.ep, clientIsn, r.u32(), tcpOpts);
    return { dev, arc, conn, proposed, accepted, imageContexts, maxImages, image };
  };

  let lastReport = 0;
  const progress = (): void => {
    if (!opts.verbose || w.fileBytes - lastReport < 256 << 20) return;
    lastReport = w.fileBytes;
    process.stderr.write(`  generated ${(w.fileBytes / (1 << 20)).toFixed(0)} MiB\n`);
  };

  let findingsPlan: FindingsPlan | undefined;
  if (opts.shape === "f") {
    findingsPlan = findingsCapture(w, r, opts, counts);
  } else if (opts.shape === "a") {
    const stop = (): boolean => w.fileBytes >= opts.sizeBytes;
    const active: Generator<void, void, void>[] = [];
    const start = (): void => {
      const dev = r.pick(devs);
      const arc = r.pick(arcs);
      const p = plan(dev, arc, r.int(3, 30), (rr, ts) => largeImage(rr, dev, ts));
      active.push(association(w, r, p, images, counts, stop));
    };
    for (let i = 0; i < opts.concurrency; i++) start();
    while (active.length > 0) {
      const i = r.u32() % active.length;
      if (active[i]!.next().done === true) {
        active.splice(i, 1);
        if (!stop()) start();
      }
      progress();
    }
  } else {
    const dev = devs[0]!;
    const arc = arcs[0]!;
    const p = plan(dev, arc, opts.count, (rr, ts) => smallImage(rr, ts));
    const g = association(w, r, p, images, counts, () => false);
    while (g.next().done !== true) progress();
  }
  w.close();
  renameSync(tmp, file);
  const m: Manifest = {
    generatorVersion: GENERATOR_VERSION,
    shape: opts.shape,
    seed: opts.seed,
    sizeTarget: opts.shape === "a" ? opts.sizeBytes : 0,
    count: opts.shape === "b" ? opts.count : opts.shape === "f" ? opts.hosts : 0,
    ackEvery: opts.ackEvery,
    concurrency: opts.concurrency,
    file,
    fileBytes: w.fileBytes,
    frameBytes: w.frameBytes,
    packets: w.packets,
    associations: counts.associations,
    cStores: counts.cStores,
    serverPorts: opts.shape === "a" ? arcs.map((a) => a.ep.port) : [arcs[0]!.ep.port],
    transferSyntaxes: counts.transferSyntaxes,
    maxPdu: counts.maxPdu,
    canary: CANARY,
    generatedSeconds: Number(process.hrtime.bigint() - t0) / 1e9,
    ...(findingsPlan ? { findingsPlan } : {}),
  };
  writeFileSync(manifestPath, JSON.stringify(m, null, 2) + "\n");
  return m;
}

/** Parses sizes like 1G, 200M, 512K or a plain byte count. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]i?B?)?$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  const unit = (m[2] ?? "").charAt(0).toUpperCase();
  const mult = unit === "G" ? 1 << 30 : unit === "M" ? 1 << 20 : unit === "K" ? 1 << 10 : 1;
  return Math.round(Number(m[1]) * mult);
}

function cli(argv: string[]): void {
  const o: GenerateOptions = { ...DEFAULTS, verbose: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === "--shape") {
      const s = v();
      o.shape = s === "b" || s === "f" ? s : "a";
    } else if (a === "--hosts") o.hosts = Number(v());
    else if (a === "--rate") o.rate = Number(v());
    else if (a === "--size") o.sizeBytes = parseSize(v());
    else if (a === "--count") o.count = Number(v());
    else if (a === "--seed") o.seed = Number(v());
    else if (a === "--dir") o.dir = v();
    else if (a === "--ack-every") o.ackEvery = Number(v());
    else if (a === "--concurrency") o.concurrency = Number(v());
    else if (a === "--force") o.force = true;
    else throw new Error(`unknown option ${a}`);
  }
  const m = ensureCapture(o);
  process.stdout.write(JSON.stringify(m, null, 2) + "\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  cli(process.argv.slice(2));
}
