/**
 * Writes the report as JSON piece by piece, byte for byte what JSON.stringify(report, null, 2) gives,
 * without ever holding the whole text: one association with tens of thousands of messages would otherwise
 * cost several times its size in memory at the very end of a run.
 *
 * Cost: a big array is walked once; each element is classed big or small once, and runs of small elements
 * are stringified together (one native JSON.stringify per batch rather than per element), so writing stays
 * cheap next to the analysis even for 32 000 messages in one association.
 */
import type { Writable } from "node:stream";
import type { Report } from "./types.js";

/**
 * Text handed to the stream at once. Small on purpose: text waiting here survives young-generation
 * collections, and at 1 MiB that alone grew the heap (and the run's peak RSS) by about 10 MiB.
 */
const FLUSH_AT = 1 << 16;
/** Arrays longer than this are written element by element; anything smaller is stringified at once. */
const STREAM_ARRAYS_LONGER_THAN = 16;
/** Small elements of a big array stringified per call: bounds the text held for one batch. */
const BATCH = 64;

/**
 * JSON.stringify(value, null, 2) as it appears nested at indent `ind` (two spaces per level): every line
 * after the first indented by `ind` more. Rather than re-indenting the text (a replace over every line costs
 * more than the stringify itself), the value is wrapped in one single-element array per level, so that
 * JSON.stringify indents it where it belongs, and the wrapper's brackets are cut off (two views, no copy):
 *   depth 2:  "[\n  [\n    " + value + "\n  ]\n]"
 * An undefined or function value becomes "null" there, as JSON.stringify(value) ?? "null" would give.
 */
function nested(value: unknown, ind: string): string {
  const depth = ind.length >> 1;
  if (depth === 0) return JSON.stringify(value, null, 2) ?? "null";
  let wrapped: unknown = value;
  for (let i = 0; i < depth; i++) wrapped = [wrapped];
  const s = JSON.stringify(wrapped, null, 2);
  return s.slice(wrapperHead(depth), s.length - wrapperTail(depth));
}

const heads: number[] = [0];
const tails: number[] = [0];

/** Length of the text before the value in `depth` nested arrays: "[\n" + "  [\n" + ... + indent. */
function wrapperHead(depth: number): number {
  let n = heads[depth];
  if (n === undefined) {
    n = 0;
    for (let j = 0; j < depth; j++) n += 2 * j + 2;
    n += 2 * depth;
    heads[depth] = n;
  }
  return n;
}

/** Length of the text after the value in `depth` nested arrays: "\n" + indent + "]" per level. */
function wrapperTail(depth: number): number {
  let n = tails[depth];
  if (n === undefined) {
    n = 0;
    for (let j = 0; j < depth; j++) n += 2 * j + 2;
    tails[depth] = n;
  }
  return n;
}

function isBig(value: unknown): boolean {
  if (Array.isArray(value)) {
    if (value.length > STREAM_ARRAYS_LONGER_THAN) return true;
    for (const v of value) if (isBig(v)) return true;
    return false;
  }
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    for (const k in o) {
      if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
      const v = o[k];
      if (Array.isArray(v) && isBig(v)) return true;
    }
  }
  return false;
}

/**
 * The elements batch[0..n) as they appear inside their enclosing array at indent `ind`: each on its own
 * line ("\n" + ind + "  " + element), separated by commas, without the brackets: the batch as an array
 * at `ind` is "[\n" + ind + "  " + e0 + ",\n" + ... + "\n" + ind + "]"; dropping the first "[" and the
 * last line gives exactly what writing the elements one by one would.
 */
function batchText(batch: unknown[], ind: string): string {
  const s = nested(batch, ind);
  return s.slice(1, s.length - ind.length - 2);
}

/** The JSON text of `value` at nesting indent `ind`, in pieces. */
function* pieces(value: unknown, ind: string): Generator<string> {
  if (!isBig(value)) {
    yield nested(value, ind);
    return;
  }
  yield* bigPieces(value as object, ind);
}

/** As pieces() for a value already known to be big (an array or an object holding a big array). */
function* bigPieces(value: object, ind: string): Generator<string> {
  const inner = ind + "  ";
  if (Array.isArray(value)) {
    yield "[";
    const batch: unknown[] = [];
    let first = true;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (!isBig(v)) {
        batch.push(v);
        if (batch.length < BATCH) continue;
        yield first ? batchText(batch, ind) : "," + batchText(batch, ind);
        first = false;
        batch.length = 0;
        continue;
      }
      if (batch.length > 0) {
        yield first ? batchText(batch, ind) : "," + batchText(batch, ind);
        first = false;
        batch.length = 0;
      }
      yield first ? `\n${inner}` : `,\n${inner}`;
      first = false;
      yield* bigPieces(v as object, inner);
    }
    if (batch.length > 0) yield first ? batchText(batch, ind) : "," + batchText(batch, ind);
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
