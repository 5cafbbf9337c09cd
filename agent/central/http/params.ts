/**
 * Input checks of the central's API: query strings and JSON bodies are checked against a list of known
 * names and types before anything reads the store, and every refusal is a `BadRequest` that the server
 * answers with 400 {error, detail}. An unknown query parameter is refused rather than ignored, so a
 * misspelt filter (`?sevrity=high`) never silently returns everything.
 */

/** A request the API refuses: 400 with a stable error code and a sentence naming the parameter. */
export class BadRequest extends Error {
  constructor(
    readonly error: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = "BadRequest";
  }
}

/** True when `s` holds a control or bidi/invisible format character: never wanted in a name, a filter or a path. */
export function hasControl(s: string): boolean {
  // C0, DEL, C1, and the invisible and bidirectional format characters (a name shown reversed).
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/.test(s);
}

/** Parses one query parameter's text; throws BadRequest naming `name` when it does not fit. */
export type ParamParser<T> = (text: string, name: string) => T;

/**
 * Reads the query parameters named in `spec` (each at most once); an unknown name, a repeated one or a
 * value its parser refuses is a BadRequest. Absent parameters are absent from the result.
 */
export function parseQuery<S extends Record<string, ParamParser<unknown>>>(
  params: URLSearchParams,
  spec: S,
): { [K in keyof S]?: ReturnType<S[K]> } {
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const [name, text] of params) {
    if (!Object.hasOwn(spec, name))
      throw new BadRequest(
        "unknown-parameter",
        `unknown query parameter ${JSON.stringify(name)}; known: ${Object.keys(spec).join(", ") || "none"}`,
      );
    if (seen.has(name)) throw new BadRequest("repeated-parameter", `query parameter ${name} is given twice`);
    seen.add(name);
    out[name] = spec[name]!(text, name);
  }
  return out as { [K in keyof S]?: ReturnType<S[K]> };
}

/** A non-empty text of at most `max` characters. */
export function text(max = 200): ParamParser<string> {
  return (v, name) => {
    if (v.length === 0) throw new BadRequest("bad-parameter", `${name} must not be empty`);
    if (v.length > max) throw new BadRequest("bad-parameter", `${name} must be at most ${max} characters`);
    if (hasControl(v)) throw new BadRequest("bad-parameter", `${name} must not contain control characters`);
    return v;
  };
}

/** An integer in [min, max], written in decimal digits only. */
export function integer(min: number, max: number): ParamParser<number> {
  return (v, name) => {
    if (!/^-?\d{1,16}$/.test(v)) throw new BadRequest("bad-parameter", `${name} must be an integer`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new BadRequest("bad-parameter", `${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** One of a fixed list of words. */
export function oneOf<T extends string>(values: readonly T[]): ParamParser<T> {
  return (v, name) => {
    if (!(values as readonly string[]).includes(v))
      throw new BadRequest("bad-parameter", `${name} must be one of ${values.join(", ")}`);
    return v as T;
  };
}

/** A comma-separated list of words of a fixed list (`severity=high,critical`). */
export function someOf<T extends string>(values: readonly T[]): ParamParser<T[]> {
  const one = oneOf(values);
  return (v, name) => [...new Set(v.split(",").map((w) => one(w, name)))];
}

/**
 * A sort order: up to three comma-separated keys of `keys`, each with an optional `-` for descending.
 * Only these whitelisted keys ever reach SQL (as the column expressions they map to).
 */
export interface SortKey {
  key: string;
  descending: boolean;
}

export function sortOf(keys: readonly string[]): ParamParser<SortKey[]> {
  return (v, name) => {
    const parts = v.split(",");
    if (parts.length > 3) throw new BadRequest("bad-parameter", `${name} takes at most three keys`);
    return parts.map((p) => {
      const descending = p.startsWith("-");
      const key = descending ? p.slice(1) : p;
      if (!keys.includes(key))
        throw new BadRequest(
          "bad-parameter",
          `${name}: unknown key ${JSON.stringify(key)}; known: ${keys.join(", ")}`,
        );
      return { key, descending };
    });
  };
}

/** A JSON object body: refuses arrays, scalars, and keys outside `allowed`. */
export function bodyObject(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new BadRequest("bad-body", "the body must be a JSON object");
  for (const k of Object.keys(body))
    if (!allowed.includes(k))
      throw new BadRequest("bad-body", `unknown field ${JSON.stringify(k)}; known: ${allowed.join(", ")}`);
  return body as Record<string, unknown>;
}

/** A required or optional string field of a body, checked for type and length. */
export function bodyString(
  o: Record<string, unknown>,
  key: string,
  opts: { required: boolean; max: number },
): string | undefined {
  const v = o[key];
  if (v === undefined) {
    if (opts.required) throw new BadRequest("bad-body", `${key} is required`);
    return undefined;
  }
  if (typeof v !== "string") throw new BadRequest("bad-body", `${key} must be a string`);
  if (v.length === 0 && opts.required) throw new BadRequest("bad-body", `${key} must not be empty`);
  if (v.length > opts.max) throw new BadRequest("bad-body", `${key} must be at most ${opts.max} characters`);
  return v;
}
