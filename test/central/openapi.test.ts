/**
 * The OpenAPI document cannot fall behind the server: every route the server answers is a path and
 * method of the document (and nothing else is), every list's and export's query parameters are exactly
 * those the server accepts, and the document is OpenAPI 3.1 with every $ref resolving. Also the unit
 * checks of CSV cells (formula neutralisation, RFC 4180 quoting) and of the password hash format.
 */
import test from "ava";
import { hashPassword, LoginLimiter, verifyPassword } from "../../agent/central/auth.js";
import { csvCell, csvRow } from "../../agent/central/http/csv.js";
import { openCentralStore } from "../../agent/central/http/db.js";
import { openApiDocument } from "../../agent/central/http/openapi.js";
import {
  DEVICE_EXPORT_PARAMS,
  DEVICE_LIST_PARAMS,
  FINDING_EXPORT_PARAMS,
  FINDING_LIST_PARAMS,
  OVERVIEW_PARAMS,
} from "../../agent/central/http/queries.js";
import { CentralHttp } from "../../agent/central/http/server.js";
import { PLAN_PARAMS } from "../../agent/central/http/plan.js";

interface Op {
  parameters?: Array<{ name: string; in: string }>;
}
type Doc = { openapi: string; paths: Record<string, Record<string, Op>> } & Record<string, unknown>;

test("every route is documented, and only those; query parameters match what the server accepts", (t) => {
  const doc = openApiDocument() as Doc;
  t.is(doc.openapi, "3.1.0");
  const store = openCentralStore(":memory:");
  const db = store.db;
  try {
    const http = new CentralHttp({ db, listen: { host: "127.0.0.1", port: 0 }, tls: null, webRoots: [] });
    const routes = http
      .routeList()
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    t.deepEqual(documented, routes);
  } finally {
    store.close();
  }
  const names = (path: string): string[] =>
    (doc.paths[path]!.get!.parameters ?? [])
      .filter((p) => p.in === "query")
      .map((p) => p.name)
      .sort();
  t.deepEqual(names("/devices"), Object.keys(DEVICE_LIST_PARAMS).sort());
  t.deepEqual(names("/devices.csv"), Object.keys(DEVICE_EXPORT_PARAMS).sort());
  t.deepEqual(names("/devices.json"), Object.keys(DEVICE_EXPORT_PARAMS).sort());
  t.deepEqual(names("/findings"), Object.keys(FINDING_LIST_PARAMS).sort());
  t.deepEqual(names("/findings.csv"), Object.keys(FINDING_EXPORT_PARAMS).sort());
  t.deepEqual(names("/overview"), Object.keys(OVERVIEW_PARAMS).sort());
  t.deepEqual(names("/sites/{site}/plan"), Object.keys(PLAN_PARAMS).sort());
  t.deepEqual(names("/sites/{site}/baselines"), []);
  // Every $ref points at a schema the document defines.
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
    (m) => m[1]!,
  );
  t.true(refs.length > 10);
  for (const r of refs) t.true(Object.hasOwn(schemas, r), r);
});

test("CSV cells: formulas neutralised, RFC 4180 quoting, numbers as written", (t) => {
  t.is(csvCell("=1+1"), "'=1+1");
  t.is(csvCell("+1"), "'+1");
  t.is(csvCell("-2"), "'-2");
  t.is(csvCell("@SUM(A1)"), "'@SUM(A1)");
  t.is(csvCell("\tx"), "'\tx");
  t.is(csvCell("\r=x"), '"\'\r=x"');
  t.is(csvCell('=HYPERLINK("a")'), `"'=HYPERLINK(""a"")"`);
  t.is(csvCell("a,b"), '"a,b"');
  t.is(csvCell("line\nbreak"), '"line\nbreak"');
  t.is(csvCell("PACS1"), "PACS1");
  t.is(csvCell(-5), "-5");
  t.is(csvCell(null), "");
  t.is(csvRow(["a", 1, null, "x,y"]), 'a,1,,"x,y"\r\n');
});

test("password hashes: scrypt N=2^15 r=8 p=1, salted, verified, tampering refused", async (t) => {
  const a = await hashPassword("correct horse battery staple");
  const b = await hashPassword("correct horse battery staple");
  t.regex(a, /^scrypt\$32768\$8\$1\$/);
  t.not(a, b, "salted");
  t.true(await verifyPassword("correct horse battery staple", a));
  t.false(await verifyPassword("correct horse battery stapler", a));
  t.false(await verifyPassword("correct horse battery staple", a.replace(/\$32768\$/, "$1048577$")));
  t.false(await verifyPassword("correct horse battery staple", "plain"));
  t.false(await verifyPassword("anything", null));
});

test("login limiter: sliding window per key, bounded table", (t) => {
  const l = new LoginLimiter(3, 1000, 2);
  for (let i = 0; i < 3; i++) l.fail("k", 100 * i);
  t.is(l.retryAfterMs("k", 250), 750);
  t.is(l.retryAfterMs("k", 1001), 0);
  l.fail("a", 0);
  l.fail("b", 0);
  l.fail("c", 0);
  // Only two keys kept: the oldest ("k") was forgotten.
  t.is(l.retryAfterMs("k", 300), 0);
});
