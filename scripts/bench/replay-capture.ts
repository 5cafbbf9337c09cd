/**
 * The replay capture of the live benchmark (issue 8, "The benchmark"): the committed lab captures
 * (test/fixtures/lab/*.pcap: real DCMTK/Orthanc traffic, Ethernet, MTU 1500) copied N times into one
 * classic pcap (microseconds) that tcpreplay sends onto the lab's veth pair.
 *
 * One copy holds every lab capture once, in the order of their first packets and with their own times
 * (they were recorded one after the other, so no shift is needed unless two overlap). Copy k:
 *   - IPv4: the third octet of every address + k × step, step = the span of third octets the sources use
 *     (10.77.0.x and 10.77.1.x: step 2), so copy 3's PACS is 10.77.6.20;
 *   - IPv6: byte 5 of every address (the third group) + k × step the same way (fd77::20 → fd77:0:3::20);
 *   - timestamps + k × (one copy's span + COPY_GAP), so copies follow each other;
 *   - the IPv4 header checksum and the TCP/UDP checksum recomputed for the new addresses.
 * No two copies share a TCP connection, so `analyze` of the file and a live capture of its replay see the
 * same associations N times over, and every copy is a new set of devices. Checksums must be right: the
 * receiver's GRO (a NIC-like setting of the lab) verifies TCP checksums and coalesces only valid segments.
 *
 * Addresses that name no host are left alone: IPv4 0.0.0.0/8 and 224.0.0.0 up (multicast, broadcast), IPv6
 * :: and ff00::/8 (a DHCP DISCOVER from 0.0.0.0 to 255.255.255.255 stays one).
 *
 * The mixed capture of the benchmark (bench.ts --only mixed, issue 11) is made the same way from an explicit
 * list of sources (the lab's DICOM captures, the os lab's SMB/FTP/DHCP/HTTP/VNC captures and zeek's SMB2
 * file copy) with `pack`: each source then starts FILE_GAP after the previous one ends, whatever its own
 * time (captures recorded years apart would make a copy span years).
 *
 * Cached like generate.ts: a manifest next to the file names the sources (size and SHA-256) and the copy
 * count; a rerun with the same inputs reuses the file. Usage:
 *   node dist/scripts/bench/replay-capture.js [--copies 23] [--dir /tmp/dicomtap-bench/live] [--force]
 *        [--name replay] [--pack] [--fixtures DIR | FILE.pcap ...]
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { readCaptureFile } from "../../agent/capture/file.js";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { installRoot } from "../../agent/util/root.js";
import { fold, sum16 } from "./pcap.js";

/** Bump when the bytes written for the same inputs change, so cached files are rebuilt. */
export const REPLAY_VERSION = 1;

/**
 * 23 copies of the nine lab captures (2 816 frames) make 64 768 frames, about the 65 812 of the issue's
 * measurements: 58 MB at MTU 1500, half a second at 1 Gbit/s.
 */
export const DEFAULT_COPIES = 23;

/** Idle capture time between two copies (µs): flows of one copy are long idle when the next begins. */
const COPY_GAP_MICROS = 1_000_000;
/** Between two source files of one copy, when they would overlap in time (µs). */
const FILE_GAP_MICROS = 1_000;

export interface ReplayManifest {
  version: number;
  copies: number;
  /** Sources laid end to end (ReplayOptions.pack). */
  packed: boolean;
  sources: { name: string; bytes: number; sha256: string; frames: number }[];
  file: string;
  fileBytes: number;
  frames: number;
  /** Sum of frame lengths: the bytes tcpreplay puts on the wire (without preamble and gaps). */
  frameBytes: number;
  firstMicros: number;
  lastMicros: number;
  /** One copy's span of capture time including COPY_GAP (µs). */
  copySpanMicros: number;
  ipv4Step: number;
  ipv6Step: number;
  /** TCP/UDP checksums written (every TCP/UDP segment of a whole IPv4 or IPv6 packet). */
  checksumsRecomputed: number;
  /** Of those, how many were wrong in the source (the lab captures were fixed: expected 0). */
  checksumsWrongInSource: number;
  /** Frames left as they were (not IPv4/IPv6, fragments, extension headers). */
  framesUnchanged: number;
  builtSeconds: number;
}

export interface ReplayOptions {
  dir: string;
  copies: number;
  /** Folder with the lab captures; default test/fixtures/lab of this repository. */
  fixtures?: string;
  /** The source captures themselves, instead of every .pcap of `fixtures`. */
  sources?: string[];
  /** Base name of the capture and its manifest in `dir` (default "replay"). */
  name?: string;
  /** Each source FILE_GAP after the previous one's end, instead of at its own time unless they overlap. */
  pack?: boolean;
  force?: boolean;
  log?: (msg: string) => void;
}

/** test/fixtures/lab, found from the compiled file (dist/scripts/bench/ or .build/NAME/scripts/bench/). */
export function defaultFixtures(): string {
  const root = installRoot();
  const c = root === null ? null : join(root, "test", "fixtures", "lab");
  return c !== null && existsSync(c) ? c : resolve("test/fixtures/lab");
}

interface Frame {
  ts: number;
  bytes: Buffer;
}

interface Source {
  name: string;
  bytes: number;
  sha256: string;
  frames: Frame[];
}

async function readSource(path: string): Promise<Source> {
  const raw = readFileSync(path);
  const frames: Frame[] = [];
  let badLink = -1;
  const summary = await readCaptureFile(path, {
    packet(buf, start, end, tsMicros, linktype, origLen) {
      if (linktype !== LINKTYPE_ETHERNET) badLink = linktype;
      // A frame cut by the snap length cannot be replayed as it was on the wire.
      if (origLen !== end - start) throw new Error(`${path}: a frame was truncated by the snap length`);
      // The reader's views are valid only during this call.
      frames.push({ ts: tsMicros, bytes: Buffer.from(buf.subarray(start, end)) });
    },
  });
  if (summary.error !== null) throw new Error(`${path}: ${summary.error.code}: ${summary.error.detail}`);
  if (badLink >= 0) throw new Error(`${path}: link type ${badLink.toString()}, not Ethernet`);
  return {
    name: basename(path),
    bytes: raw.length,
    sha256: createHash("sha256").update(raw).digest("hex"),
    frames,
  };
}

/** Where the network layer starts and its ethertype, past any 802.1Q/802.1ad tags; null if too short. */
function l3(f: Buffer): { off: number; type: number } | null {
  let off = 12;
  if (f.length < off + 2) return null;
  let type = f.readUInt16BE(off);
  while ((type === 0x8100 || type === 0x88a8) && f.length >= off + 6) {
    off += 4;
    type = f.readUInt16BE(off);
  }
  return { off: off + 2, type };
}

/** An IPv4 address (at `at`) of a host: not 0.0.0.0/8, multicast or broadcast. */
const hostV4 = (f: Buffer, at: number): boolean => f[at]! !== 0 && f[at]! < 224;
/** An IPv6 address (at `at`) of a host: not multicast (ff00::/8) or the unspecified address. */
const hostV6 = (f: Buffer, at: number): boolean => {
  if (f[at] === 0xff) return false;
  for (let i = at; i < at + 16; i++) if (f[i] !== 0) return true;
  return false;
};

/**
 * The bytes whose values get shifted: IPv4 third octets and IPv6 byte 5, of source and destination, when
 * the address names a host.
 */
function addressBytes(f: Buffer): { v4: number[]; v6: number[] } {
  const n = l3(f);
  if (n === null) return { v4: [], v6: [] };
  if (n.type === 0x0800 && f.length >= n.off + 20 && f[n.off]! >> 4 === 4)
    return { v4: [n.off + 12, n.off + 16].filter((a) => hostV4(f, a)).map((a) => a + 2), v6: [] };
  if (n.type === 0x86dd && f.length >= n.off + 40)
    return { v4: [], v6: [n.off + 8, n.off + 24].filter((a) => hostV6(f, a)).map((a) => a + 5) };
  return { v4: [], v6: [] };
}

interface Fixup {
  recomputed: number;
  wrong: number;
  unchanged: number;
}

/** A whole TCP/UDP (or other) segment: its protocol, where it lies, and the sum of its pseudo header. */
interface L4 {
  proto: number;
  l4: number;
  l4Len: number;
  pseudo: number;
}

/**
 * The transport segment of an IPv4 packet that is whole (no fragment, not cut short) or of an IPv6 packet
 * whose first next header is it (the lab captures carry no extension headers); null otherwise.
 */
function l4Span(f: Buffer, n: { off: number; type: number }): L4 | null {
  const ip = n.off;
  if (n.type === 0x0800) {
    const ihl = (f[ip]! & 0x0f) * 4;
    const total = f.readUInt16BE(ip + 2);
    // A fragment's checksum covers the whole datagram: not checked (the lab captures have none).
    if (ihl < 20 || total < ihl || ip + total > f.length || (f.readUInt16BE(ip + 6) & 0x3fff) !== 0)
      return null;
    const proto = f[ip + 9]!;
    const l4Len = total - ihl;
    return { proto, l4: ip + ihl, l4Len, pseudo: sum16(f, ip + 12, ip + 20, proto + l4Len) };
  }
  if (n.type === 0x86dd) {
    const l4Len = f.readUInt16BE(ip + 4);
    if (ip + 40 + l4Len > f.length) return null;
    const proto = f[ip + 6]!;
    return { proto, l4: ip + 40, l4Len, pseudo: sum16(f, ip + 8, ip + 40, proto + l4Len) };
  }
  return null;
}

/**
 * Rewrites the checksums of frame `f` after its addresses changed: the IPv4 header checksum, then TCP (6)
 * or UDP (17) over the pseudo header where l4Span finds the whole segment.
 */
function fixChecksums(f: Buffer, wasValid: boolean | null, st: Fixup): void {
  const n = l3(f);
  if (n === null) {
    st.unchanged++;
    return;
  }
  if (n.type === 0x0800) {
    const ip = n.off;
    const ihl = (f[ip]! & 0x0f) * 4;
    const total = f.readUInt16BE(ip + 2);
    if (ihl < 20 || ip + total > f.length || total < ihl) {
      st.unchanged++;
      return;
    }
    f.writeUInt16BE(0, ip + 10);
    f.writeUInt16BE(fold(sum16(f, ip, ip + ihl, 0)), ip + 10);
  }
  const s = l4Span(f, n);
  const at = s === null ? -1 : s.proto === 6 ? 16 : s.proto === 17 ? 6 : -1;
  if (
    s === null ||
    at < 0 ||
    s.l4Len < at + 2 ||
    (s.proto === 17 && n.type === 0x0800 && f.readUInt16BE(s.l4 + 6) === 0)
  ) {
    // Not a whole TCP/UDP segment, or IPv4 UDP without a checksum (0 means none there).
    st.unchanged++;
    return;
  }
  f.writeUInt16BE(0, s.l4 + at);
  let c = fold(sum16(f, s.l4, s.l4 + s.l4Len, s.pseudo));
  if (s.proto === 17 && c === 0) c = 0xffff;
  f.writeUInt16BE(c, s.l4 + at);
  st.recomputed++;
  if (wasValid === false) st.wrong++;
}

/** Whether the TCP/UDP checksum of an unmodified frame verifies; null when it is not checked. */
function l4Valid(f: Buffer): boolean | null {
  const n = l3(f);
  const s = n === null ? null : l4Span(f, n);
  if (s === null || (s.proto !== 6 && s.proto !== 17)) return null;
  // A correct checksum makes the one's-complement sum over pseudo header and segment 0xffff.
  return fold(sum16(f, s.l4, s.l4 + s.l4Len, s.pseudo)) === 0;
}

const pcapHeader = (): Buffer => {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0); // microsecond timestamps
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(262144, 16);
  h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return h;
};

/** Builds the replay capture, or reuses the cached one made from the same sources and copy count. */
export async function ensureReplayCapture(o: ReplayOptions): Promise<ReplayManifest> {
  const t0 = process.hrtime.bigint();
  const log = o.log ?? (() => undefined);
  const fixtures = o.fixtures ?? defaultFixtures();
  const paths =
    o.sources ??
    readdirSync(fixtures)
      .filter((n) => n.endsWith(".pcap"))
      .map((n) => join(fixtures, n));
  // In name order, as the cache check compares them.
  paths.sort((a, b) => basename(a).localeCompare(basename(b)));
  if (paths.length === 0) throw new Error(`no .pcap files in ${fixtures}`);
  if (!Number.isInteger(o.copies) || o.copies < 1) throw new Error(`copies must be a positive integer`);
  const pack = o.pack ?? false;
  mkdirSync(o.dir, { recursive: true });
  const file = join(o.dir, `${o.name ?? "replay"}.pcap`);
  const manifestPath = join(o.dir, `${o.name ?? "replay"}.manifest.json`);
  // The cache key: sizes and hashes of the sources (cheap: a few MB), the copy count, the version.
  const keyOf = (p: string): { name: string; bytes: number; sha256: string } => {
    const raw = readFileSync(p);
    return { name: basename(p), bytes: raw.length, sha256: createHash("sha256").update(raw).digest("hex") };
  };
  const keys = paths.map(keyOf);
  if (!o.force && existsSync(manifestPath) && existsSync(file)) {
    try {
      const m = JSON.parse(readFileSync(manifestPath, "utf8")) as ReplayManifest;
      const same =
        m.version === REPLAY_VERSION &&
        m.copies === o.copies &&
        (m.packed === true) === pack &&
        m.sources.length === keys.length &&
        m.sources.every((s, i) => s.name === keys[i]!.name && s.sha256 === keys[i]!.sha256) &&
        statSync(file).size === m.fileBytes;
      if (same) {
        log(`reusing ${file}`);
        return m;
      }
    } catch {
      // unreadable manifest: rebuild
    }
  }
  log(`building ${file}: ${o.copies.toString()} copies of ${paths.length.toString()} captures`);
  const sources: Source[] = [];
  for (const p of paths) sources.push(await readSource(p));
  // Sources in the order of their first packets, each after the previous one's end (they already are).
  sources.sort((a, b) => (a.frames[0]?.ts ?? 0) - (b.frames[0]?.ts ?? 0));
  const copy: Frame[] = [];
  let prevEnd = -Infinity;
  for (const s of sources) {
    if (s.frames.length === 0) continue;
    const first = s.frames[0]!.ts;
    const last = s.frames.reduce((m, f) => Math.max(m, f.ts), first);
    const shift =
      prevEnd === -Infinity ? 0 : pack || first <= prevEnd ? prevEnd + FILE_GAP_MICROS - first : 0;
    for (const f of s.frames) copy.push({ ts: f.ts + shift, bytes: f.bytes });
    prevEnd = last + shift;
  }
  const firstTs = copy[0]!.ts;
  const span = prevEnd - firstTs + COPY_GAP_MICROS;
  // Steps: the range of the shifted byte over all frames, so copy k's values never meet copy j's.
  let v4min = 256;
  let v4max = -1;
  let v6min = 256;
  let v6max = -1;
  const valid: (boolean | null)[] = [];
  for (const f of copy) {
    const a = addressBytes(f.bytes);
    for (const i of a.v4) {
      v4min = Math.min(v4min, f.bytes[i]!);
      v4max = Math.max(v4max, f.bytes[i]!);
    }
    for (const i of a.v6) {
      v6min = Math.min(v6min, f.bytes[i]!);
      v6max = Math.max(v6max, f.bytes[i]!);
    }
    valid.push(l4Valid(f.bytes));
  }
  const v4step = v4max < 0 ? 0 : v4max - v4min + 1;
  const v6step = v6max < 0 ? 0 : v6max - v6min + 1;
  if (v4max >= 0 && v4min + v4step * o.copies - 1 > 255)
    throw new Error(
      `${o.copies.toString()} copies do not fit the IPv4 third octet (step ${v4step.toString()})`,
    );
  if (v6max >= 0 && v6min + v6step * o.copies - 1 > 255)
    throw new Error(`${o.copies.toString()} copies do not fit IPv6 byte 5 (step ${v6step.toString()})`);

  const st: Fixup = { recomputed: 0, wrong: 0, unchanged: 0 };
  const tmp = `${file}.tmp-${process.pid.toString()}`;
  const parts: Buffer[] = [pcapHeader()];
  let frameBytes = 0;
  let lastTs = 0;
  for (let k = 0; k < o.copies; k++) {
    for (let i = 0; i < copy.length; i++) {
      const src = copy[i]!;
      const rec = Buffer.allocUnsafe(16 + src.bytes.length);
      const f = rec.subarray(16);
      src.bytes.copy(f);
      const a = addressBytes(f);
      for (const j of a.v4) f[j] = f[j]! + v4step * k;
      for (const j of a.v6) f[j] = f[j]! + v6step * k;
      fixChecksums(f, valid[i]!, st);
      const ts = src.ts + k * span;
      const sec = Math.floor(ts / 1e6);
      rec.writeUInt32LE(sec, 0);
      rec.writeUInt32LE(ts - sec * 1e6, 4);
      rec.writeUInt32LE(f.length, 8);
      rec.writeUInt32LE(f.length, 12);
      parts.push(rec);
      frameBytes += f.length;
      lastTs = ts;
    }
  }
  const out = Buffer.concat(parts);
  writeFileSync(tmp, out);
  renameSync(tmp, file);
  const m: ReplayManifest = {
    version: REPLAY_VERSION,
    copies: o.copies,
    packed: pack,
    sources: sources.map((s) => ({
      name: s.name,
      bytes: s.bytes,
      sha256: s.sha256,
      frames: s.frames.length,
    })),
    file,
    fileBytes: out.length,
    frames: copy.length * o.copies,
    frameBytes,
    firstMicros: firstTs,
    lastMicros: lastTs,
    copySpanMicros: span,
    ipv4Step: v4step,
    ipv6Step: v6step,
    checksumsRecomputed: st.recomputed,
    checksumsWrongInSource: st.wrong,
    framesUnchanged: st.unchanged,
    builtSeconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
  // The manifest keeps the sources in name order, as the cache check compares them.
  m.sources.sort((a, b) => a.name.localeCompare(b.name));
  writeFileSync(manifestPath, JSON.stringify(m, null, 2) + "\n");
  return m;
}

async function cli(argv: string[]): Promise<void> {
  const o: ReplayOptions = {
    dir: "/tmp/dicomtap-bench/live",
    copies: DEFAULT_COPIES,
    log: (m) => process.stderr.write(`${m}\n`),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === "--copies") o.copies = Number(v());
    else if (a === "--dir") o.dir = v();
    else if (a === "--fixtures") o.fixtures = v();
    else if (a === "--name") o.name = v();
    else if (a === "--pack") o.pack = true;
    else if (a === "--force") o.force = true;
    else if (a.endsWith(".pcap") && !a.startsWith("-")) (o.sources ??= []).push(a);
    else throw new Error(`unknown option ${a}`);
  }
  const m = await ensureReplayCapture(o);
  process.stdout.write(JSON.stringify(m, null, 2) + "\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await cli(process.argv.slice(2));
}
