/**
 * Rewrites a classic pcap file with every record's timestamp moved by a number of seconds, into a new file:
 * the same traffic, later (the baseline tests replay lab captures past the learning window). pcap's layout
 * (the tcpdump/libpcap file format): a 24-byte global header whose magic number gives the byte order and
 * whether the fraction is micro- or nanoseconds, then records of a 16-byte header (ts_sec, ts_frac,
 * incl_len, orig_len) and incl_len bytes. Only ts_sec changes, so the fraction's unit does not matter.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

const MAGICS = new Set([0xa1b2c3d4, 0xa1b23c4d]);

/** The shifted copy of `path` in a new temporary directory; returns its path. */
export function shiftPcap(
  path: string,
  seconds: number,
  dir = mkdtempSync(join(tmpdir(), "dicomtap-shift-")),
): string {
  const buf = Buffer.from(readFileSync(path));
  const le = MAGICS.has(buf.readUInt32LE(0));
  if (!le && !MAGICS.has(buf.readUInt32BE(0))) throw new Error(`${path}: not a classic pcap file`);
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const put = (v: number, o: number): number => (le ? buf.writeUInt32LE(v, o) : buf.writeUInt32BE(v, o));
  let o = 24;
  while (o + 16 <= buf.length) {
    put(u32(o) + seconds, o);
    o += 16 + u32(o + 8);
  }
  const out = join(dir, `shifted-${seconds}-${basename(path)}`);
  writeFileSync(out, buf);
  return out;
}
