/**
 * The JSON Schemas of schemas/ (JSON Schema 2020-12) compiled by ajv, strict, for the checks that read
 * them: the console's payload checks, the baseline and plan documents.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { schemasDir } from "./root.js";

/**
 * schemas/NAME.schema.json compiled; with `def`, only its `$defs/DEF` (a schema holding several documents).
 * `allErrors`: list every error (for people fixing a file), or stop at the first (enough to refuse, and a
 * hostile payload costs less).
 */
export function compileSchema(name: string, opts: { allErrors: boolean; def?: string }): ValidateFunction {
  // ajv is CommonJS: under NodeNext the default import is module.exports, whose `default` is the class.
  const ajv = new Ajv2020.default({ strict: true, allowUnionTypes: true, allErrors: opts.allErrors });
  const doc = JSON.parse(readFileSync(join(schemasDir(), `${name}.schema.json`), "utf8")) as { $id?: string };
  if (opts.def === undefined) return ajv.compile(doc);
  ajv.addSchema(doc);
  return ajv.compile({ $ref: `${doc.$id}#/$defs/${opts.def}` });
}
