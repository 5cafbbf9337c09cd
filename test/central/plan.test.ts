/**
 * A site's plan through the central's API (issue 13), on the seeded store of helpers.ts: st-marys has two
 * sensors with baselines (one learning, one learned), county one sensor without any. Each format with its
 * Content-Type and Content-Disposition, for every role that reads; the merge of the site's baselines (the
 * services of both sensors in one plan, one nftables table); an empty plan that says why for a site without
 * a baseline; bad input refused; the baselines list.
 */
import anyTest, { type TestFn } from "ava";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { SiteBaselines } from "../../agent/central/http/plan.js";
import type { Plan } from "../../agent/plan/types.js";
import { validatePlan } from "../../agent/plan/validate.js";
import { login, request, startCentral, PASSWORD, type Central, type Credentials } from "./helpers.js";

const test = anyTest as TestFn<{ c: Central; creds: Record<string, Credentials> }>;

test.before(async (t) => {
  const c = await startCentral();
  const creds: Record<string, Credentials> = {};
  for (const role of ["viewer", "analyst", "admin"] as const)
    creds[role] = await login(c.base, role, PASSWORD[role]);
  creds.token = { headers: { Authorization: `Bearer ${c.tokens.viewer}` }, csrf: null };
  t.context = { c, creds };
});

test.after.always(async (t) => {
  await t.context.c?.close();
});

const FORMATS = {
  json: { type: /^application\/json; charset=utf-8$/, ext: "plan.json" },
  md: { type: /^text\/markdown; charset=utf-8$/, ext: "plan.md" },
  nft: { type: /^text\/plain; charset=utf-8$/, ext: "plan.nft" },
  csv: { type: /^text\/csv; charset=utf-8; header=present$/, ext: "allowlist.csv" },
  orthanc: { type: /^application\/json; charset=utf-8$/, ext: "orthanc.json" },
  dcmqrscp: { type: /^text\/plain; charset=utf-8$/, ext: "dcmqrscp.cfg" },
} as const;

test("every format for every reading role: its content type, a download with the site's file name", async (t) => {
  const { c, creds } = t.context;
  for (const who of ["viewer", "analyst", "admin", "token"]) {
    for (const [format, f] of Object.entries(FORMATS)) {
      const r = await request(`${c.base}/api/v1/sites/st-marys/plan?format=${format}`, {
        headers: creds[who]!.headers,
      });
      t.is(r.status, 200, `${who} ${format}: ${r.text.slice(0, 200)}`);
      t.regex(String(r.headers["content-type"]), f.type, format);
      t.regex(
        String(r.headers["content-disposition"]),
        new RegExp(
          `^attachment; filename="dicomtap-st-marys-\\d{4}-\\d\\d-\\d\\d-${f.ext.replace(".", "\\.")}"$`,
        ),
      );
      t.is(r.headers["cache-control"], "no-store");
      t.true(r.text.length > 0);
    }
  }
  const none = await request(`${c.base}/api/v1/sites/st-marys/plan?format=nft`);
  t.is(none.status, 401);
});

test("the plan of a site merges its sensors' baselines: both sensors' services, one firewall table", async (t) => {
  const { c, creds } = t.context;
  const h = creds.viewer!.headers;
  const r = await request(`${c.base}/api/v1/sites/st-marys/plan`, { headers: h });
  t.is(r.status, 200);
  t.is(r.headers["content-disposition"], undefined, "the plain API answer is no download");
  const plan = r.json<Plan>();
  t.is(plan.site, "st-marys");
  t.is(plan.sensor, null);
  t.is(plan.source.baselineStatus, "learning", "one sensor still learns: the site's plan is provisional");
  t.deepEqual(plan.source.files, ["st-marys/ct-room-1", "st-marys/lab-qr"], "the sensors it is made of");
  // What plan --check reads: the download is a valid plan file.
  const file = await request(`${c.base}/api/v1/sites/st-marys/plan?format=json`, { headers: h });
  t.notThrows(() => validatePlan(file.json()));
  const services = plan.allowlists.map((s) => `${s.ip}:${s.port}`);
  // lab-qr's archive (10.77.0.20:4242, Orthanc) and the imaging room's services, in one plan.
  t.true(services.includes("10.77.0.20:4242"), services.join(" "));
  t.true(
    services.some((s) => !s.startsWith("10.77.")),
    "the imaging room's services are there too",
  );
  t.true(plan.encryption.cleartext.length > 0);
  const nft = await request(`${c.base}/api/v1/sites/st-marys/plan?format=nft`, { headers: h });
  t.is((nft.text.match(/^table inet dicomtap \{/gm) ?? []).length, 1, "one table for the site");
  if (existsSync("/usr/sbin/nft")) {
    // nft -c parses and checks without a kernel table when it can; without the rights it says so.
    const check = spawnSync("/usr/sbin/nft", ["-c", "-f", "-"], { input: nft.text, encoding: "utf8" });
    if (check.status !== 0 && /Operation not permitted|permission/i.test(check.stderr))
      t.log("nft -c needs CAP_NET_ADMIN here: not checked");
    else t.is(check.status, 0, check.stderr);
  }
  const md = await request(`${c.base}/api/v1/sites/st-marys/plan?format=md`, { headers: h });
  t.regex(md.text, /still learning/);
  t.regex(md.text, /10\.77\.0\.20/);
  const csv = await request(`${c.base}/api/v1/sites/st-marys/plan?format=csv`, { headers: h });
  t.regex(csv.text.split(/\r?\n/)[0]!, /source.*destination.*port.*operation.*reason/i);
  const orthanc = await request(`${c.base}/api/v1/sites/st-marys/plan?format=orthanc`, { headers: h });
  t.notThrows(() => orthanc.json());
  // HEAD: the headers without the body.
  const head = await request(`${c.base}/api/v1/sites/st-marys/plan?format=md`, {
    headers: h,
    method: "HEAD",
  });
  t.is(head.status, 200);
  t.is(head.text, "");
});

test("the baselines of a site: each sensor's status and window, the merge's head, notes", async (t) => {
  const { c, creds } = t.context;
  const r = await request(`${c.base}/api/v1/sites/st-marys/baselines`, { headers: creds.viewer!.headers });
  t.is(r.status, 200);
  const b = r.json<SiteBaselines>();
  t.deepEqual(b.sensors, ["ct-room-1", "lab-qr"]);
  t.deepEqual(
    b.items.map((i) => [i.sensor, i.status]),
    [
      ["ct-room-1", "learning"],
      ["lab-qr", "learned"],
    ],
  );
  t.true(b.items.every((i) => i.services > 0 && i.bytes > 0));
  t.is(b.merged?.status, "learning");
  t.is(b.merged?.window.end, null);
  t.true(b.notes.some((n) => /still learning/.test(n)));
});

test("a site without a baseline gets an empty plan that says so; an unknown site is 404", async (t) => {
  const { c, creds } = t.context;
  const h = creds.viewer!.headers;
  const r = await request(`${c.base}/api/v1/sites/county/plan`, { headers: h });
  t.is(r.status, 200, r.text);
  const plan = r.json<Plan>();
  t.is(plan.site, "county");
  t.deepEqual(plan.allowlists, []);
  t.deepEqual(plan.exposure.exposed, []);
  t.deepEqual(plan.encryption.cleartext, []);
  t.notThrows(() => validatePlan(plan));
  const md = await request(`${c.base}/api/v1/sites/county/plan?format=md`, { headers: h });
  t.is(md.status, 200);
  t.regex(md.text, /No sensor of this site has published a baseline yet/);
  const nft = await request(`${c.base}/api/v1/sites/county/plan?format=nft`, { headers: h });
  t.is(nft.status, 200);
  const b = await request(`${c.base}/api/v1/sites/county/baselines`, { headers: h });
  t.deepEqual(b.json<SiteBaselines>().items, []);
  t.is(b.json<SiteBaselines>().merged, null);
  t.regex(b.json<SiteBaselines>().notes[0]!, /no.*baseline/i);
  for (const path of ["/sites/nowhere/plan", "/sites/nowhere/baselines"]) {
    const x = await request(`${c.base}/api/v1${path}`, { headers: h });
    t.is(x.status, 404, path);
    t.is(x.json<{ error: string }>().error, "not-found");
  }
});

test("bad input: unknown format or parameter, a site with / + # or control characters, percent-garbage", async (t) => {
  const { c, creds } = t.context;
  const h = creds.viewer!.headers;
  const err = async (path: string): Promise<[number, string]> => {
    const r = await request(`${c.base}/api/v1${path}`, { headers: h });
    return [r.status, r.json<{ error: string }>().error];
  };
  t.deepEqual(await err("/sites/st-marys/plan?format=pdf"), [400, "bad-parameter"]);
  t.deepEqual(await err("/sites/st-marys/plan?format=md&format=nft"), [400, "repeated-parameter"]);
  t.deepEqual(await err("/sites/st-marys/plan?site=x"), [400, "unknown-parameter"]);
  t.deepEqual(await err("/sites/st-marys/baselines?format=md"), [400, "unknown-parameter"]);
  t.deepEqual(await err("/sites/a%2Fb/plan"), [400, "bad-site"]);
  t.deepEqual(await err("/sites/a%2Bb/plan"), [400, "bad-site"]);
  t.deepEqual(await err("/sites/a%00b/plan"), [400, "bad-site"]);
  t.deepEqual(await err("/sites/%E0%A4%A/plan"), [400, "bad-site"]);
  t.deepEqual(await err(`/sites/${"x".repeat(201)}/plan`), [400, "bad-site"]);
  t.deepEqual(await err("/sites//plan"), [404, "not-found"]);
  const post = await request(`${c.base}/api/v1/sites/st-marys/plan`, {
    method: "POST",
    headers: { ...h, "X-CSRF-Token": creds.viewer!.csrf! },
    body: {},
  });
  t.is(post.status, 405);
  t.is(post.headers.allow, "GET");
});
