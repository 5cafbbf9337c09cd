/**
 * The capture files a command was given, as the command line reports them: each one that gave nothing is
 * an error (exit 1), a damaged one is named with its damage and was read up to it (`analyze`, `plan`).
 */
import type { FileResult } from "../pipeline/analyze.js";

/**
 * Why a file gave the analysis nothing at all, or null when it was read (perhaps up to damage, which its
 * error names). Not a capture, an empty file and a bare header are as useless as a missing file: exit 1.
 */
export function unreadable(f: FileResult): string | null {
  const s = f.summary;
  if (s === null) return f.error ?? "cannot be read";
  if (s.packets > 0) return null;
  const code = s.error?.code;
  if (code === "capture.empty") return "empty file: not a capture";
  if (code === "capture.unknown-format") return "not a capture file: neither pcap nor pcapng (unknown magic)";
  if (code === "capture.truncated" && s.error !== null && s.error.offset === 0)
    return `too short to be a capture: ${s.error.detail}`;
  if (f.error !== null) return `${f.error}; no packet could be read`;
  return `a ${s.format} header and no packet: nothing to analyse`;
}

/** Names each unreadable or damaged file on stderr; 1 when a file gave nothing, else 0. */
export function reportFiles(files: readonly FileResult[]): number {
  let status = 0;
  for (const f of files) {
    const why = unreadable(f);
    if (why !== null) {
      process.stderr.write(`dicomtap: ${f.path}: ${why}\n`);
      status = 1;
    } else if (f.error !== null) process.stderr.write(`dicomtap: ${f.path}: ${f.error}\n`);
  }
  return status;
}
