/**
 * Checks a baseline document before anything takes it up (`baseline import`, `analyze --baseline`, the
 * agent's store at start): the shape of schemas/baseline.schema.json (JSON Schema 2020-12, through ajv, the
 * schema the central and any reviewer's tools read too), then what a schema cannot say: addresses that are
 * addresses, AE titles of PS3.8 §9.3.2's repertoire, times in order, a service or a peer listed once, an
 * approval exactly when the status is approved.
 *
 * A bad document is refused whole with every reason, one line each, naming its key path as the config's
 * errors do (`services[2].peers[0].ip: "10.0.0.300" is not an IP address`); nothing is changed.
 */
import type { ErrorObject, ValidateFunction } from "ajv";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { compileSchema } from "../util/schemas.js";
import type { BaselineDocument } from "./types.js";

/** A document that cannot be used; `problems` holds one line per reason ("key.path: what is wrong"). */
export class BaselineError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "BaselineError";
  }
}

/** Reasons listed at most: a document wrong everywhere need not print a thousand lines. */
const MAX_PROBLEMS = 50;

let compiled: ValidateFunction | null = null;

function schema(): ValidateFunction {
  return (compiled ??= compileSchema("baseline", { allErrors: true, def: "document" }));
}

/** "/services/2/peers/0/ip" → "services[2].peers[0].ip". */
function keyPath(pointer: string): string {
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^\d+$/.test(part) ? `[${part}]` : out === "" ? part : `.${part}`;
  }
  return out || "(top level)";
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/** ajv's errors as reasons; the branches of a oneOf say little alone, so only the first per path is kept. */
function schemaProblems(errors: readonly ErrorObject[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    let path = keyPath(e.instancePath);
    let what = e.message ?? "is invalid";
    if (e.keyword === "additionalProperties") {
      path = keyPath(`${e.instancePath}/${String(e.params.additionalProperty)}`);
      what = "unknown key";
    } else if (e.keyword === "required") {
      path = keyPath(`${e.instancePath}/${String(e.params.missingProperty)}`);
      what = "is required";
    } else if (e.keyword === "enum") {
      what = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => show(v)).join(", ")}`;
    }
    if (seen.has(path)) continue;
    seen.add(path);
    out.push(`${path}: ${what}`);
  }
  return out;
}

// eslint-disable-next-line no-control-regex
const BAD_AE = /[\\\u0000-\u001f\u007f-\uffff]/;

/** What the schema cannot check (its shape holds already). */
function semanticProblems(d: BaselineDocument): string[] {
  const out: string[] = [];
  const ip = (v: string, path: string): void => {
    if (isIP(v) === 0) out.push(`${path}: ${show(v)} is not an IP address`);
  };
  const ae = (v: string | null, path: string): void => {
    if (v !== null && (v.trim() !== v || v === "" || BAD_AE.test(v)))
      out.push(
        `${path}: ${show(v)} is not an AE title (trimmed, 1 to 16 characters, no backslash or controls)`,
      );
  };
  const times = (first: string, last: string, path: string): void => {
    if (Date.parse(first) > Date.parse(last)) out.push(`${path}.lastSeen: before firstSeen (${first})`);
  };
  if (d.status === "approved" && d.approved === null)
    out.push('approved: is required when status is "approved" ({ "by", "at", "note" })');
  if (d.status !== "approved" && d.approved !== null)
    out.push(`approved: must be null when status is ${show(d.status)}`);
  if (d.status !== "learning" && d.window.start === null)
    out.push(`window.start: is required when status is ${show(d.status)}`);
  if (
    d.window.start !== null &&
    d.window.end !== null &&
    Date.parse(d.window.start) > Date.parse(d.window.end)
  )
    out.push(`window.end: before window.start (${d.window.start})`);
  const services = new Set<string>();
  d.services.forEach((s, i) => {
    const p = `services[${i}]`;
    ip(s.ip, `${p}.ip`);
    ae(s.aeTitle, `${p}.aeTitle`);
    times(s.firstSeen, s.lastSeen, p);
    const key = `${s.ip}|${s.port}|${s.aeTitle ?? ""}`;
    if (services.has(key)) out.push(`${p}: the service ${s.ip}:${s.port} ${show(s.aeTitle)} is listed twice`);
    services.add(key);
    const peers = new Set<string>();
    s.peers.forEach((peer, j) => {
      const q = `${p}.peers[${j}]`;
      ip(peer.ip, `${q}.ip`);
      ae(peer.aeTitle, `${q}.aeTitle`);
      times(peer.firstSeen, peer.lastSeen, q);
      const k = `${peer.ip}|${peer.aeTitle ?? ""}`;
      if (peers.has(k)) out.push(`${q}: the peer ${peer.ip} ${show(peer.aeTitle)} is listed twice`);
      peers.add(k);
      const ops = new Set<string>();
      peer.operations.forEach((u, k2) => {
        const r = `${q}.operations[${k2}]`;
        if (ops.has(u.operation)) out.push(`${r}: ${u.operation} is listed twice`);
        ops.add(u.operation);
        if (u.moveDestinations !== undefined && u.operation !== "C-MOVE")
          out.push(`${r}.moveDestinations: only a C-MOVE has move destinations`);
        u.moveDestinations?.forEach((m, n) => ae(m, `${r}.moveDestinations[${n}]`));
      });
    });
  });
  const devices = new Set<string>();
  d.devices.forEach((dev, i) => {
    const p = `devices[${i}]`;
    ip(dev.ip, `${p}.ip`);
    if (devices.has(dev.ip)) out.push(`${p}: the device ${dev.ip} is listed twice`);
    devices.add(dev.ip);
    const ports = new Set<number>();
    dev.listening.forEach((l, j) => {
      const q = `${p}.listening[${j}]`;
      if (ports.has(l.port)) out.push(`${q}: port ${l.port} is listed twice`);
      ports.add(l.port);
      times(l.firstSeen, l.lastSeen, q);
      l.clients.forEach((c, k) => ip(c, `${q}.clients[${k}]`));
    });
    dev.uses.forEach((u, j) => {
      const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(u);
      const port = m ? Number(m[3]) : 0;
      if (m === null || isIP(m[1] ?? m[2] ?? "") === 0 || port < 1 || port > 65535)
        out.push(`${p}.uses[${j}]: ${show(u)} is not IP:PORT ([IPv6]:PORT)`);
    });
  });
  return out;
}

/** The document if it is a valid baseline; else throws a BaselineError listing every reason. */
export function validateBaseline(raw: unknown): BaselineDocument {
  const v = schema();
  if (!v(raw)) throw new BaselineError(schemaProblems(v.errors ?? []).slice(0, MAX_PROBLEMS));
  const problems = semanticProblems(raw as BaselineDocument);
  if (problems.length > 0) throw new BaselineError(problems.slice(0, MAX_PROBLEMS));
  return raw as BaselineDocument;
}

/** Reads and validates a baseline file; a file that cannot be read or parsed is a BaselineError too. */
export function loadBaseline(path: string): BaselineDocument {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new BaselineError([`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BaselineError([`${path}: not valid JSON (${(e as Error).message})`]);
  }
  return validateBaseline(raw);
}
