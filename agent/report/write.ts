/**
 * Writes the report as JSON piece by piece, byte for byte what JSON.stringify(report, null, 2) gives,
 * without ever holding the whole text: one association with tens of thousands of messages would otherwise
 * cost several times its size in memory at the very end of a run.
 */
import type { Writable } from "node:stream";
import type { Report } from "./types.js";

const FLUSH_AT = 1 << 20;
/** Arrays longer than this are written element by element; anything smaller is stringified at once. */
const STREAM_ARRAYS_LONGER_THAN = 16;

function indent(json: string, by: string): string {
  return json.replaceAll("\n", "\n" + by);
}

function isBig(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > STREAM_ARRAYS_LONGER_THAN || value.some(isBig);
  if (value !== null && typeof value === "object")
    return Object.values(value).some((v) => Array.isArray(v) && isBig(v));
  return false;
}

/** The JSON text of `value` at nesting indent `ind`, in pieces. */
function* pieces(value: unknown, ind: string): Generator<string> {
  if (!isBig(value)) {
    yield indent(JSON.stringify(value, null, 2) ?? "null", ind);
    return;
  }
  const inner = ind + "  ";
  if (Array.isArray(value)) {
    yield "[";
    for (let i = 0; i < value.length; i++) {
      yield i === 0 ? `\n${inner}` : `,\n${inner}`;
      yield* pieces(value[i], inner);
    }
    yield `\n${ind}]`;
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  yield "{";
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i]!;
    yield `${i === 0 ? "" : ","}\n${inner}${JSON.stringify(k)}: `;
    yield* pieces(v, inner);
  }
  yield `\n${ind}}`;
}

export async function writeReportJson(report: Report, out: Writable): Promise<void> {
  let pending = "";
  for (const piece of pieces(report, "")) {
    pending += piece;
    if (pending.length >= FLUSH_AT) {
      const chunk = pending;
      pending = "";
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once("drain", resolve));
    }
  }
  pending += "\n";
  if (!out.write(pending)) await new Promise<void>((resolve) => out.once("drain", resolve));
}
