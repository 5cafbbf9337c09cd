// Compiles the payload schemas of schemas/ with ajv (JSON Schema 2020-12) for the tests.
import Ajv2020 from "ajv/dist/2020.js";
import { readFileSync } from "node:fs";

export type PayloadKind = "status" | "finding" | "device" | "health" | "baseline";

// ajv is CommonJS: under NodeNext the default import is module.exports, whose `default` is the class.
const ajv = new Ajv2020.default({ strict: true, allowUnionTypes: true, allErrors: true });
const validators = new Map(
  (["status", "finding", "device", "health", "baseline"] as const).map((k) => [
    k,
    ajv.compile(JSON.parse(readFileSync(`schemas/${k}.schema.json`, "utf8")) as object),
  ]),
);

/** Null when the payload is valid, else ajv's error text. */
export function schemaErrors(kind: PayloadKind, payload: unknown): string | null {
  const v = validators.get(kind)!;
  return v(payload) ? null : ajv.errorsText(v.errors);
}

/** The schema of a topic below dicomtap/v1/{site}/{sensor}/. */
export function kindOfTopic(topic: string): PayloadKind {
  const rest = topic.split("/").slice(4);
  if (rest[0] === "devices") return "device";
  if (rest[0] === "findings") return "finding";
  if (rest[0] === "status") return "status";
  if (rest[0] === "health") return "health";
  if (rest[0] === "baseline") return "baseline";
  throw new Error(`no schema for topic ${topic}`);
}
