/**
 * Reads a plan file back (`plan --check PLAN.json`): JSON Schema 2020-12 (schemas/plan.schema.json, ajv),
 * then what a schema cannot say — every address parses as an IP, every network as a CIDR. A plan that fails
 * is refused with every reason, one line each naming where (issue 13: "refused with the reason, changing
 * nothing"); a plan edited by hand must not turn into firewall rules that mean something else.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ValidateFunction } from "ajv";
import { parseCidr } from "../config/cidr.js";
import { compileSchema } from "../util/schemas.js";
import type { Plan } from "./types.js";

export class PlanError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "PlanError";
  }
}

let validator: ValidateFunction | null = null;

function schema(): ValidateFunction {
  return (validator ??= compileSchema("plan", { allErrors: true }));
}

/** Checks a parsed plan; returns it typed, or throws PlanError with every problem. */
export function validatePlan(raw: unknown): Plan {
  const v = schema();
  if (!v(raw)) {
    const problems = (v.errors ?? []).slice(0, 50).map((e) => {
      const where = e.instancePath === "" ? "(top level)" : e.instancePath;
      const extra =
        e.keyword === "additionalProperties"
          ? ` (${String((e.params as { additionalProperty?: unknown }).additionalProperty)})`
          : e.keyword === "enum"
            ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})`
            : "";
      return `${where}: ${e.message ?? e.keyword}${extra}`;
    });
    throw new PlanError(problems);
  }
  const plan = raw as Plan;
  const problems: string[] = [];
  const ip = (path: string, s: string): void => {
    if (isIP(s) === 0) problems.push(`${path}: ${JSON.stringify(s)} is not an IP address`);
  };
  const cidr = (path: string, s: string): void => {
    const p = parseCidr(s);
    if (typeof p === "string") problems.push(`${path}: ${JSON.stringify(s)} ${p}`);
  };
  plan.internal.forEach((c, i) => cidr(`/internal/${i}`, c));
  plan.exceptions.forEach((e, i) => {
    cidr(`/exceptions/${i}/peer`, e.peer);
    ip(`/exceptions/${i}/server`, e.server);
  });
  plan.exposure.protect.forEach((s, i) => ip(`/exposure/protect/${i}`, s));
  plan.exposure.exposed.forEach((e, i) => {
    ip(`/exposure/exposed/${i}/ip`, e.ip);
    e.peers.forEach((p, j) => ip(`/exposure/exposed/${i}/peers/${j}/ip`, p.ip));
  });
  plan.portsToClose.forEach((c, i) => ip(`/portsToClose/${i}/ip`, c.ip));
  plan.allowlists.forEach((s, i) => {
    ip(`/allowlists/${i}/ip`, s.ip);
    s.peers.forEach((p, j) => ip(`/allowlists/${i}/peers/${j}/ip`, p.ip));
  });
  plan.encryption.cleartext.forEach((c, i) => {
    ip(`/encryption/cleartext/${i}/server`, c.server);
    ip(`/encryption/cleartext/${i}/peer`, c.peer);
  });
  plan.encryption.tls.forEach((t, i) => {
    ip(`/encryption/tls/${i}/ip`, t.ip);
    t.peers.forEach((p, j) => ip(`/encryption/tls/${i}/peers/${j}`, p));
  });
  if (problems.length > 0) throw new PlanError(problems.slice(0, 50));
  return plan;
}

/** Reads and validates a plan file. */
export function loadPlan(path: string): Plan {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new PlanError([`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PlanError([`${path}: not JSON (${(e as Error).message})`]);
  }
  try {
    return validatePlan(raw);
  } catch (e) {
    if (e instanceof PlanError) throw new PlanError(e.problems.map((p) => `${path}: ${p}`));
    throw e;
  }
}
