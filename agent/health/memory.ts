/**
 * The agent's own memory in the health payload (issue 9, "Memory under flow floods"): the process's
 * resident set now and at its peak, and each thread's V8 heap. The unit caps the agent's memory
 * (systemd/dicomtap.service) and the budget is 128 MiB; when a flood pushes towards it, the operator (and
 * the benchmark) must see which thread holds what: the capture thread (flow table, inventory, findings)
 * or the main thread (store commits, publishing). The main and capture threads have separate V8 heaps, so
 * each samples its own (v8.getHeapStatistics() reads counters, no heap walk) on its housekeeping tick and
 * keeps the largest used size since the last health record.
 *
 * The peak resident set is the kernel's high-water mark, VmHWM of /proc/self/status (proc.rst, "Contents
 * of the status fields"): it covers every thread and native allocation (SQLite, libuv, buffers), which no
 * heap figure does.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { getHeapStatistics } from "node:v8";

/** One thread's V8 heap, in bytes. */
export interface HeapFigures {
  /** Live objects at the last sample. */
  usedBytes: number;
  /** What the heap has reserved from the system at the last sample. */
  totalBytes: number;
  /** The largest `usedBytes` sampled since the previous health record. */
  peakUsedBytes: number;
}

export interface ProcessMemory {
  /** Resident set of the whole agent process (every thread, native memory included) when sampled. */
  rssBytes: number;
  /** The kernel's high-water mark of the resident set since the process started; null where unreadable. */
  peakRssBytes: number | null;
  /** Each thread's heap; capture is null when capture runs in this thread or has not reported yet. */
  heap: { main: HeapFigures | null; capture: HeapFigures | null };
}

/** Samples this thread's heap; take() gives the window's figures and starts a new window. */
export class HeapWatch {
  private peak = 0;
  private last: { used: number; total: number } | null = null;

  sample(): void {
    const s = getHeapStatistics();
    this.last = { used: s.used_heap_size, total: s.total_heap_size };
    if (s.used_heap_size > this.peak) this.peak = s.used_heap_size;
  }

  /** The figures so far (sampling once more), and a new window. */
  take(): HeapFigures {
    const f = this.peek();
    this.peak = 0;
    return f;
  }

  /** The figures so far, sampling once more, without starting a new window. */
  peek(): HeapFigures {
    this.sample();
    const last = this.last ?? { used: 0, total: 0 };
    return { usedBytes: last.used, totalBytes: last.total, peakUsedBytes: this.peak };
  }
}

/** VmHWM of a /proc/<pid>/status text, in bytes, or null. */
export function parsePeakRss(status: string): number | null {
  const m = /^VmHWM:\s+(\d+)\s+kB\s*$/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

/** The process's peak resident set (VmHWM of procRoot/self/status), or null where unreadable. */
export async function readPeakRss(procRoot: string): Promise<number | null> {
  try {
    return parsePeakRss(await readFile(join(procRoot, "self", "status"), "latin1"));
  } catch {
    return null;
  }
}
