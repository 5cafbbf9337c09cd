/** Test helpers for capture readers: a sink that records copies, and temp-file handling. */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PacketSink } from "../../agent/capture/types.js";

export interface Seen {
  data: string;
  tsMicros: number;
  linktype: number;
  origLen: number;
}

/** Records a hex copy of every packet (views are valid only during the call). */
export class RecordingSink implements PacketSink {
  readonly seen: Seen[] = [];
  packet(buf: Buffer, start: number, end: number, tsMicros: number, linktype: number, origLen: number): void {
    if (!(start >= 0 && start <= end && end <= buf.length))
      throw new Error(`bad view ${start}..${end}/${buf.length}`);
    this.seen.push({ data: buf.toString("hex", start, end), tsMicros, linktype, origLen });
  }
}

/** Write `data` to a fresh temp file, run `fn` on its path, then delete it. */
export async function withTempFile<T>(data: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-cap-"));
  const path = join(dir, "capture.bin");
  writeFileSync(path, data);
  try {
    return await fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
