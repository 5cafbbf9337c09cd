/**
 * The central's API against a real server and a store holding analysed captures: every route for each
 * kind of caller (none, viewer, analyst, admin, API tokens, a revoked token) with 401/403 changing
 * nothing; CSRF; bad input of every kind answered 400 with the reason; the body cap; the login rate limit;
 * security headers; the lists' filters, sort and paging on real records; the finding actions and their
 * history; exports (CSV neutralised, JSON complete); static files.
 */
import anyTest, { type TestFn } from "ava";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONTENT_SECURITY_POLICY, MAX_BODY_BYTES } from "../../agent/central/http/server.js";
import type { DeviceItem, FindingDetail, FindingItem, Page } from "../../agent/central/http/queries.js";
import {
  PASSWORD,
  login,
  request,
  startCentral,
  type Central,
  type Credentials,
  type Seeded,
} from "./helpers.js";

const test = anyTest as TestFn<{ c: Central & { seeded: Seeded }; creds: Record<string, Credentials> }>;

type Caller = "none" | "viewer" | "analyst" | "admin" | "token-viewer" | "token-analyst" | "revoked";
const CALLERS: Caller[] = ["none", "viewer", "analyst", "admin", "token-viewer", "token-analyst", "revoked"];
const RANK = { viewer: 0, analyst: 1, admin: 2 } as const;

/** The server's log lines (logins, changes, errors): checked for secrets. */
const serviceLog: string[] = [];

test.before(async (t) => {
  const c = await startCentral({ log: (line) => serviceLog.push(line) });
  const creds: Record<string, Credentials> = { none: { headers: {}, csrf: null } };
  for (const role of ["viewer", "analyst", "admin"] as const)
    creds[role] = await login(c.base, role, PASSWORD[role]);
  creds["token-viewer"] = { headers: { Authorization: `Bearer ${c.tokens.viewer}` }, csrf: null };
  creds["token-analyst"] = { headers: { Authorization: `Bearer ${c.tokens.analyst}` }, csrf: null };
  creds.revoked = { headers: { Authorization: `Bearer ${c.tokens.revoked}` }, csrf: null };
  t.context = { c, creds };
});

test.after.always(async (t) => {
  await t.context.c?.close();
});

/** Everything a refused request must leave as it was (token last-use times aside). */
function snapshot(c: Central): string {
  const h = createHash("sha256");
  for (const sql of [
    "SELECT * FROM findings ORDER BY pk",
    "SELECT * FROM finding_events ORDER BY pk",
    "SELECT * FROM users ORDER BY pk",
    "SELECT pk, name, role, hash, revoked_at FROM tokens ORDER BY pk",
    "SELECT * FROM devices ORDER BY pk",
  ])
    h.update(JSON.stringify(c.db.prepare(sql).all()));
  return h.digest("hex");
}

function headersOf(creds: Credentials, method: string): Record<string, string> {
  return method !== "GET" && creds.csrf !== null
    ? { ...creds.headers, "X-CSRF-Token": creds.csrf }
    : creds.headers;
}

interface RouteCase {
  method: "GET" | "POST" | "DELETE";
  /** The path under /api/v1 (a function: some cases need a fresh target per caller). */
  path: (c: Central, caller: Caller) => string;
  body?: (caller: Caller) => object;
  need: "viewer" | "analyst" | "admin" | null;
  ok: number;
}

let unique = 0;
const CASES: RouteCase[] = [
  { method: "GET", path: () => "/openapi.json", need: null, ok: 200 },
  { method: "GET", path: () => "/session", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/status", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/sensors", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/overview?days=7", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/devices?limit=5", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/devices/1", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/devices.csv", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/devices.json", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/findings?state=any", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/findings/1", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/findings.csv", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/findings.json", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/sites/st-marys/baselines", need: "viewer", ok: 200 },
  { method: "GET", path: () => "/sites/st-marys/plan", need: "viewer", ok: 200 },
  ...["json", "md", "nft", "csv", "orthanc", "dcmqrscp"].map((format): RouteCase => ({
    method: "GET",
    path: () => `/sites/st-marys/plan?format=${format}`,
    need: "viewer",
    ok: 200,
  })),
  {
    method: "POST",
    path: () => "/findings/2/actions",
    body: (caller) => ({ action: "assign", assignee: `team-${caller}` }),
    need: "analyst",
    ok: 200,
  },
  { method: "GET", path: () => "/users", need: "admin", ok: 200 },
  {
    method: "POST",
    path: () => "/users",
    body: (caller) => ({ name: `new-${caller}-${++unique}`, role: "viewer", password: "a-long-password-x" }),
    need: "admin",
    ok: 201,
  },
  {
    method: "DELETE",
    path: (c) => {
      const r = c.db
        .prepare("INSERT INTO users (name, role, password, created_at) VALUES (?, 'viewer', 'x', ?)")
        .run(`doomed-${++unique}`, new Date().toISOString());
      return `/users/${r.lastInsertRowid}`;
    },
    need: "admin",
    ok: 200,
  },
  { method: "GET", path: () => "/tokens", need: "admin", ok: 200 },
  {
    method: "POST",
    path: () => "/tokens",
    body: () => ({ name: `tok-${++unique}`, role: "viewer" }),
    need: "admin",
    ok: 201,
  },
  {
    method: "DELETE",
    path: (c) => {
      const r = c.db
        .prepare("INSERT INTO tokens (name, role, hash, created_at) VALUES (?, 'viewer', ?, ?)")
        .run(`doomed-${++unique}`, `h${unique}`, new Date().toISOString());
      return `/tokens/${r.lastInsertRowid}`;
    },
    need: "admin",
    ok: 200,
  },
];

function expected(route: RouteCase, caller: Caller): number {
  if (caller === "revoked") return 401;
  if (route.need === null) return route.ok;
  if (caller === "none") return 401;
  const role = caller.startsWith("token-")
    ? (caller.slice(6) as "viewer" | "analyst")
    : (caller as "viewer" | "analyst" | "admin");
  return RANK[role] >= RANK[route.need] ? route.ok : 403;
}

test.serial(
  "every route for each caller: 2xx with the role, 401 without credentials or with a revoked token, 403 below it; refusals change nothing",
  async (t) => {
    const { c, creds } = t.context;
    for (const route of CASES) {
      for (const caller of CALLERS) {
        const path = route.path(c, caller);
        const before = snapshot(c);
        const r = await request(`${c.base}/api/v1${path}`, {
          method: route.method,
          headers: headersOf(creds[caller]!, route.method),
          ...(route.body ? { body: route.body(caller) } : {}),
        });
        const want = expected(route, caller);
        t.is(r.status, want, `${route.method} ${path} as ${caller}: ${r.text.slice(0, 200)}`);
        if (want >= 400) {
          t.is(snapshot(c), before, `${route.method} ${path} as ${caller} changed the store`);
          const e = r.json<{ error: string; detail: string }>();
          t.true(typeof e.error === "string" && typeof e.detail === "string");
        }
        if (want === 401 && caller === "revoked") t.is(r.headers["www-authenticate"], "Bearer");
      }
    }
  },
);

test.serial(
  "a session's changes need X-CSRF-Token: missing or wrong is 403 and changes nothing; a token needs none",
  async (t) => {
    const { c, creds } = t.context;
    const url = `${c.base}/api/v1/findings/3/actions`;
    const body = { action: "acknowledge" };
    const before = snapshot(c);
    const missing = await request(url, { method: "POST", headers: creds.analyst!.headers, body });
    t.is(missing.status, 403);
    t.is(missing.json<{ error: string }>().error, "csrf");
    const wrong = await request(url, {
      method: "POST",
      headers: { ...creds.analyst!.headers, "X-CSRF-Token": "x".repeat(43) },
      body,
    });
    t.is(wrong.status, 403);
    // Another session's token is wrong too.
    const other = await request(url, {
      method: "POST",
      headers: { ...creds.analyst!.headers, "X-CSRF-Token": creds.admin!.csrf! },
      body,
    });
    t.is(other.status, 403);
    t.is(snapshot(c), before);
    const right = await request(url, {
      method: "POST",
      headers: { ...creds.analyst!.headers, "X-CSRF-Token": creds.analyst!.csrf! },
      body,
    });
    t.is(right.status, 200, right.text);
    t.is(right.json<FindingDetail>().state, "acknowledged");
    const byToken = await request(`${c.base}/api/v1/findings/4/actions`, {
      method: "POST",
      headers: creds["token-analyst"]!.headers,
      body,
    });
    t.is(byToken.status, 200);
    t.is(byToken.json<FindingDetail>().acknowledgedBy, "token:script-analyst");
    // Logging out needs it as well.
    const out = await request(`${c.base}/api/v1/session`, {
      method: "DELETE",
      headers: creds.viewer!.headers,
    });
    t.is(out.status, 403);
  },
);

test.serial("bad input is 400 with the reason, and changes nothing", async (t) => {
  const { c, creds } = t.context;
  const h = creds["token-analyst"]!.headers;
  const get = async (path: string): Promise<{ status: number; error: string; detail: string }> => {
    const r = await request(`${c.base}/api/v1${path}`, { headers: h });
    const e = r.status === 400 ? r.json<{ error: string; detail: string }>() : { error: "", detail: r.text };
    return { status: r.status, ...e };
  };
  for (const [path, error, mention] of [
    ["/devices?sevrity=high", "unknown-parameter", "sevrity"],
    ["/findings?sevrity=high", "unknown-parameter", "sevrity"],
    ["/findings?severity=urgent", "bad-parameter", "severity"],
    ["/findings?state=closed", "bad-parameter", "state"],
    ["/findings?step=prayer", "bad-parameter", "step"],
    ["/devices?limit=0", "bad-parameter", "limit"],
    ["/devices?limit=1001", "bad-parameter", "limit"],
    ["/devices?limit=ten", "bad-parameter", "limit"],
    ["/findings?offset=-1", "bad-parameter", "offset"],
    ["/devices?limit=5&limit=6", "repeated-parameter", "limit"],
    ["/devices?sort=password", "bad-parameter", "sort"],
    ["/devices?sort=ip,mac,class,model", "bad-parameter", "sort"],
    ["/devices?port=70000", "bad-parameter", "port"],
    ["/devices?exposure=dmz", "bad-parameter", "exposure"],
    ["/devices?q=", "bad-parameter", "q"],
    ["/devices.csv?limit=5", "unknown-parameter", "limit"],
    ["/overview?days=0", "bad-parameter", "days"],
    ["/sensors?x=1", "unknown-parameter", "x"],
    ["/devices/abc", "bad-path", "abc"],
    ["/findings/0", "bad-path", "0"],
    ["/findings/1?expand=all", "unknown-parameter", "expand"],
  ] as const) {
    const r = await get(path);
    t.is(r.status, 400, path);
    t.is(r.error, error, path);
    t.true(r.detail.includes(mention), `${path}: ${r.detail}`);
  }
  t.is((await get("/devices/999999")).status, 404);
  t.is((await get("/findings/999999")).status, 404);
  t.is((await get("/nothing")).status, 404);

  const before = snapshot(c);
  const post = (body: string | object, headers: Record<string, string> = {}) =>
    request(`${c.base}/api/v1/findings/1/actions`, { method: "POST", headers: { ...h, ...headers }, body });
  const inAYear = new Date(Date.now() + 400 * 86_400_000).toISOString();
  const now = new Date();
  const nextApril = `${now.getUTCFullYear() + (now.getUTCMonth() >= 3 ? 1 : 0)}-04`;
  for (const [body, mention] of [
    [{ action: 5 }, "action"],
    [{ action: "delete" }, "action"],
    [{}, "action"],
    [{ action: "acknowledge", extra: 1 }, "extra"],
    [{ action: "assign" }, "assignee"],
    [{ action: "assign", assignee: 7 }, "assignee"],
    [{ action: "acknowledge", assignee: "bob" }, "assignee"],
    [
      { action: "accept-risk", expires: new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10) },
      "reason",
    ],
    [{ action: "accept-risk", reason: "vendor fix due", expires: "2020-01-01" }, "future"],
    [{ action: "accept-risk", reason: "vendor fix due", expires: inAYear }, "one year"],
    [{ action: "accept-risk", reason: "vendor fix due", expires: "next week" }, "expires"],
    // A day that does not exist (JavaScript's Date would roll it over to May 1), both forms.
    [{ action: "accept-risk", reason: "vendor fix due", expires: `${nextApril}-31` }, "expires"],
    [{ action: "accept-risk", reason: "vendor fix due", expires: `${nextApril}-31T10:00:00Z` }, "expires"],
    // Bidirectional overrides would show another name in the history than the one stored.
    [{ action: "assign", assignee: "mallory\u202eecila" }, "assignee"],
    [
      {
        action: "accept-risk",
        reason: "   ",
        expires: new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10),
      },
      "reason",
    ],
    [[1, 2], "object"],
    ["null", "object"],
    ["{not json", "JSON"],
  ] as const) {
    const r = await post(body as object);
    t.is(r.status, 400, JSON.stringify(body));
    t.true(r.json<{ detail: string }>().detail.includes(mention), `${JSON.stringify(body)}: ${r.text}`);
  }
  const form = await post("action=acknowledge", { "Content-Type": "application/x-www-form-urlencoded" });
  t.is(form.status, 400);
  t.is(form.json<{ error: string }>().error, "bad-content-type");
  t.is(snapshot(c), before);
});

test.serial("a body over the cap is refused with 400, declared or chunked", async (t) => {
  const { c, creds } = t.context;
  const big = JSON.stringify({ action: "acknowledge", reason: "x".repeat(MAX_BODY_BYTES) });
  const before = snapshot(c);
  const r = await request(`${c.base}/api/v1/findings/1/actions`, {
    method: "POST",
    headers: creds["token-analyst"]!.headers,
    body: big,
  });
  t.is(r.status, 400);
  t.is(r.json<{ error: string }>().error, "body-too-large");
  // Chunked (no Content-Length): counted while read.
  const { request: raw } = await import("node:http");
  const status = await new Promise<number>((resolve, reject) => {
    const req = raw(
      `${c.base}/api/v1/findings/1/actions`,
      {
        method: "POST",
        headers: {
          ...creds["token-analyst"]!.headers,
          "Content-Type": "application/json",
          "Transfer-Encoding": "chunked",
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    for (let i = 0; i < 10; i++) req.write("x".repeat(10_000));
    req.end();
  });
  t.is(status, 400);
  t.is(snapshot(c), before);
  // A body at the cap's size but of valid JSON is read.
  const fits = JSON.stringify({ action: "acknowledge", reason: "y".repeat(900) });
  t.is(
    (
      await request(`${c.base}/api/v1/findings/5/actions`, {
        method: "POST",
        headers: creds["token-analyst"]!.headers,
        body: fits,
      })
    ).status,
    200,
  );
});

test.serial(
  "security headers on API answers, errors and files; no HSTS over plain HTTP; API not cached",
  async (t) => {
    const { c, creds } = t.context;
    for (const [path, headers] of [
      ["/api/v1/sensors", creds.viewer!.headers],
      ["/api/v1/sensors", {}],
      ["/api/v1/nothing", {}],
      ["/missing.js", {}],
    ] as const) {
      const r = await request(`${c.base}${path}`, { headers });
      t.is(r.headers["content-security-policy"], CONTENT_SECURITY_POLICY, path);
      t.is(r.headers["x-content-type-options"], "nosniff", path);
      t.is(r.headers["referrer-policy"], "no-referrer", path);
      t.is(r.headers["x-frame-options"], "DENY", path);
      t.is(r.headers["strict-transport-security"], undefined, path);
      if (path.startsWith("/api/")) t.is(r.headers["cache-control"], "no-store", path);
    }
    t.regex(CONTENT_SECURITY_POLICY, /default-src 'self'; script-src 'self'; style-src 'self'/);
    t.regex(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  },
);

test.serial(
  "login: cookie attributes, wrong password 401, GET/DELETE session, logout ends the session",
  async (t) => {
    const { c } = t.context;
    const r = await request(`${c.base}/api/v1/session`, {
      method: "POST",
      body: { name: "viewer", password: PASSWORD.viewer },
    });
    t.is(r.status, 200);
    const cookie = r.headers["set-cookie"]![0]!;
    t.regex(cookie, /^dicomtap_session=[A-Za-z0-9_-]{43}; /);
    t.regex(cookie, /HttpOnly/);
    t.regex(cookie, /SameSite=Strict/);
    t.regex(cookie, /Path=\//);
    // Secure even on loopback HTTP: browsers count loopback as a secure context (the browser test logs in so).
    t.regex(cookie, /; Secure$/);
    // The store holds the cookie's SHA-256, not the cookie.
    const value = cookie.split(";")[0]!.split("=")[1]!;
    t.is(
      (c.db.prepare("SELECT COUNT(*) AS n FROM sessions WHERE hash = ?").get(value) as { n: number }).n,
      0,
    );
    t.is(
      (
        c.db
          .prepare("SELECT COUNT(*) AS n FROM sessions WHERE hash = ?")
          .get(createHash("sha256").update(value).digest("hex")) as { n: number }
      ).n,
      1,
    );
    const headers = { Cookie: cookie.split(";")[0]! };
    const me = await request(`${c.base}/api/v1/session`, { headers });
    t.deepEqual(me.json(), {
      user: "viewer",
      role: "viewer",
      kind: "session",
      csrfToken: r.json<{ csrfToken: string }>().csrfToken,
    });
    const out = await request(`${c.base}/api/v1/session`, {
      method: "DELETE",
      headers: { ...headers, "X-CSRF-Token": r.json<{ csrfToken: string }>().csrfToken },
    });
    t.is(out.status, 200);
    t.regex(out.headers["set-cookie"]![0]!, /Max-Age=0/);
    t.is((await request(`${c.base}/api/v1/session`, { headers })).status, 401);
    const bad = await request(`${c.base}/api/v1/session`, {
      method: "POST",
      body: { name: "viewer", password: "wrong-password-here" },
    });
    t.is(bad.status, 401);
    t.is(bad.headers["set-cookie"], undefined);
    const unknown = await request(`${c.base}/api/v1/session`, {
      method: "POST",
      body: { name: "nobody", password: "wrong-password-here" },
    });
    t.is(unknown.status, 401);
    t.is(unknown.json<{ detail: string }>().detail, bad.json<{ detail: string }>().detail);
  },
);

test("login rate limit: after 5 failures per address or per name, 429 with Retry-After, even for the right password", async (t) => {
  const c = await startCentral({ seed: false, loginFailures: 5, loginWindowMs: 60_000 });
  try {
    const attempt = (password: string) =>
      request(`${c.base}/api/v1/session`, { method: "POST", body: { name: "analyst", password } });
    for (let i = 0; i < 5; i++) t.is((await attempt(`wrong-guess-${i}-pass`)).status, 401);
    const limited = await attempt(PASSWORD.analyst);
    t.is(limited.status, 429);
    const retry = Number(limited.headers["retry-after"]);
    t.true(retry >= 1 && retry <= 60, String(retry));
    t.is(limited.json<{ error: string }>().error, "too-many-logins");
    t.is(limited.headers["set-cookie"], undefined);
    t.is(c.http.health().loginsLimited, 1);
  } finally {
    await c.close();
  }
});

test("login rate limit holds for guesses sent in parallel: at most 5 reach the password check", async (t) => {
  // Each check takes scrypt's tenth of a second: guesses sent at once must not all pass the limiter
  // before the first failure is counted.
  const c = await startCentral({ seed: false, loginFailures: 5, loginWindowMs: 60_000 });
  try {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(`${c.base}/api/v1/session`, {
          method: "POST",
          body: { name: "admin", password: `parallel-guess-${i}` },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    t.is(statuses.filter((s) => s === 401).length, 5, statuses.join(" "));
    t.is(statuses.filter((s) => s === 429).length, 15, statuses.join(" "));
  } finally {
    await c.close();
  }
});

test("a successful login frees its name and its address's place for that success", async (t) => {
  const c = await startCentral({ seed: false, loginFailures: 2, loginWindowMs: 60_000 });
  try {
    const attempt = (name: string, password: string) =>
      request(`${c.base}/api/v1/session`, { method: "POST", body: { name, password } });
    for (let i = 0; i < 3; i++) t.is((await attempt("viewer", PASSWORD.viewer)).status, 200);
    t.is((await attempt("viewer", "wrong-guess-1-pass")).status, 401);
    t.is((await attempt("analyst", PASSWORD.analyst)).status, 200);
  } finally {
    await c.close();
  }
});

test("the overview's open counts are what its links list: state=unresolved, acknowledged and accepted included", async (t) => {
  const c = await startCentral({});
  try {
    const h = { authorization: `Bearer ${c.tokens.analyst}` };
    const get = async <T>(path: string): Promise<T> =>
      (await request(`${c.base}/api/v1${path}`, { headers: h })).json<T>();
    const open = await get<Page<FindingItem>>("/findings?state=open&limit=2");
    for (const [i, body] of [
      { action: "acknowledge" },
      {
        action: "accept-risk",
        reason: "vendor cannot patch",
        expires: new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10),
      },
    ].entries()) {
      const r = await request(`${c.base}/api/v1/findings/${open.items[i]!.pk}/actions`, {
        method: "POST",
        headers: h,
        body,
      });
      t.is(r.status, 200);
    }
    const ov = await get<{ openFindings: { total: number; bySeverity: Record<string, number> } }>(
      "/overview",
    );
    const unresolved = await get<Page<FindingItem>>("/findings?state=unresolved&limit=1");
    t.is(unresolved.total, ov.openFindings.total);
    t.is((await get<Page<FindingItem>>("/findings?state=open&limit=1")).total, ov.openFindings.total - 2);
    const high = await get<Page<FindingItem>>("/findings?state=unresolved&severity=high&limit=1");
    t.is(high.total, ov.openFindings.bySeverity.high ?? -1);
  } finally {
    await c.close();
  }
});

test("a failed login logs the name only when it is a user's: a password typed into the name box stays out of the log", async (t) => {
  const lines: string[] = [];
  const c = await startCentral({ seed: false, log: (l) => lines.push(l) });
  try {
    const attempt = (name: string, password: string) =>
      request(`${c.base}/api/v1/session`, { method: "POST", body: { name, password } });
    t.is((await attempt("Tr0ub4dor&3-horse", "x")).status, 401);
    t.is((await attempt("viewer", "wrong-guess-1-pass")).status, 401);
    const log = lines.join("\n");
    t.false(log.includes("Tr0ub4dor"), log);
    t.regex(log, /failed login for an unknown user from 127\.0\.0\.1/);
    t.regex(log, /failed login for "viewer" from 127\.0\.0\.1/);
  } finally {
    await c.close();
  }
});

test("the rate limit forgets failures after its window", async (t) => {
  // The server's clock, moved by the test: scrypt's time under a loaded test run must not age the window.
  let clock = Date.now();
  const c = await startCentral({
    seed: false,
    loginFailures: 2,
    loginWindowMs: 60_000,
    now: () => new Date(clock),
  });
  try {
    const attempt = (password: string) =>
      request(`${c.base}/api/v1/session`, { method: "POST", body: { name: "viewer", password } });
    t.is((await attempt("wrong-guess-1-pass")).status, 401);
    t.is((await attempt("wrong-guess-2-pass")).status, 401);
    t.is((await attempt(PASSWORD.viewer)).status, 429);
    clock += 59_000;
    t.is((await attempt(PASSWORD.viewer)).status, 429);
    clock += 1_001;
    t.is((await attempt(PASSWORD.viewer)).status, 200);
  } finally {
    await c.close();
  }
});

test.serial("lists: real devices and findings, filters, sort, paging; totals match the store", async (t) => {
  const { c, creds } = t.context;
  const h = creds.viewer!.headers;
  const get = async <T>(path: string): Promise<T> => {
    const r = await request(`${c.base}/api/v1${path}`, { headers: h });
    t.is(r.status, 200, `${path}: ${r.text}`);
    return r.json<T>();
  };
  const all = await get<Page<DeviceItem>>("/devices?limit=1000");
  t.is(all.total, c.seeded.devices);
  t.is(all.items.length, c.seeded.devices);
  t.true(c.seeded.devices >= 6, String(c.seeded.devices));
  // The imaging room's DCMTK workstation by its AE title; the title is whole-word (MODALITY is not MODALITY1).
  const ae = await get<Page<DeviceItem>>("/devices?ae=MODALITY1");
  t.true(ae.total >= 1);
  for (const d of ae.items) t.true(d.aeTitles.includes("MODALITY1"));
  t.is((await get<Page<DeviceItem>>("/devices?ae=MODALITY")).total, 0);
  // Typed in lower case, as an analyst would: the same devices.
  t.is((await get<Page<DeviceItem>>("/devices?ae=modality1")).total, ae.total);
  const dcmtk = await get<Page<DeviceItem>>("/devices?toolkit=dcmtk&sensor=ct-room-1");
  t.true(dcmtk.total >= 1);
  for (const d of dcmtk.items) t.regex(d.toolkit ?? "", /DCMTK/i);
  const q = await get<Page<DeviceItem>>("/devices?q=10.77.0.10");
  t.true(q.items.some((d) => d.ip === "10.77.0.10"));
  // A LIKE wildcard in q is text, not a wildcard.
  t.is((await get<Page<DeviceItem>>("/devices?q=%25")).total, 0);
  const site = await get<Page<DeviceItem>>("/devices?site=county");
  t.true(site.total >= 1 && site.items.every((d) => d.site === "county"));
  // Paging: two pages of 2 are the first four of the same order, total unchanged.
  const p1 = await get<Page<DeviceItem>>("/devices?sort=ip&limit=2");
  const p2 = await get<Page<DeviceItem>>("/devices?sort=ip&limit=2&offset=2");
  const four = await get<Page<DeviceItem>>("/devices?sort=ip&limit=4");
  t.deepEqual(
    [...p1.items, ...p2.items].map((d) => d.pk),
    four.items.map((d) => d.pk),
  );
  t.is(p2.offset, 2);
  t.is(p2.limit, 2);
  t.is(p2.total, all.total);
  const ips = (await get<Page<DeviceItem>>("/devices?sort=-ip&limit=1000")).items.map((d) => d.ip ?? "");
  t.deepEqual(ips, [...ips].sort().reverse());
  const byOpen = (await get<Page<DeviceItem>>("/devices?sort=-openFindings&limit=1000")).items.map(
    (d) => d.openFindings,
  );
  t.deepEqual(
    byOpen,
    [...byOpen].sort((a, b) => b - a),
  );

  const findings = await get<Page<FindingItem>>("/findings?limit=1000");
  t.is(findings.total, c.seeded.findings);
  const f = findings.items[0]!;
  for (const k of [
    "pk",
    "id",
    "rule",
    "severity",
    "state",
    "site",
    "sensor",
    "device",
    "title",
    "evidence",
    "remediation",
    "firstSeen",
    "lastSeen",
    "count",
    "step",
    "devicePk",
  ])
    t.true(k in f, k);
  const ranks = findings.items.map((x) => ["info", "low", "medium", "high", "critical"].indexOf(x.severity));
  t.deepEqual(
    ranks,
    [...ranks].sort((a, b) => b - a),
    "default sort: most severe first",
  );
  const high = await get<Page<FindingItem>>("/findings?severity=high,critical&limit=1000");
  t.true(high.total > 0);
  t.true(high.items.every((x) => x.severity === "high" || x.severity === "critical"));
  const cleartext = await get<Page<FindingItem>>("/findings?rule=dicom.cleartext&limit=1000");
  t.true(
    cleartext.total > 0 && cleartext.items.every((x) => x.rule === "dicom.cleartext" && x.step === "tls"),
  );
  const dev = cleartext.items.find((x) => x.devicePk !== null)!;
  const byPk = await get<Page<FindingItem>>(`/findings?device=${dev.devicePk}&limit=1000`);
  t.true(byPk.items.every((x) => x.devicePk === dev.devicePk));
  const byId = await get<Page<FindingItem>>(
    `/findings?device=${encodeURIComponent(dev.device!)}&sensor=${dev.sensor}&limit=1000`,
  );
  t.deepEqual(byId.items.map((x) => x.pk).sort(), byPk.items.map((x) => x.pk).sort());
  const steps = await get<Page<FindingItem>>("/findings?step=close-ports&limit=1000");
  t.true(steps.items.every((x) => x.step === "close-ports"));

  const detail = await get<{
    record: { id: string };
    findings: FindingItem[];
    peers: Array<{ id: string; pk: number | null }>;
  }>(`/devices/${dev.devicePk}`);
  t.is(detail.record.id, dev.device!);
  t.true(detail.findings.some((x) => x.pk === dev.pk));
  // Peers of the same sensor resolve to their device pages.
  const withPeers = all.items.find((d) => d.peerCount > 0)!;
  const wp = await get<{ peers: Array<{ id: string; pk: number | null }> }>(`/devices/${withPeers.pk}`);
  t.true(wp.peers.length > 0);
  t.true(wp.peers.some((p) => p.pk !== null));

  const sensors = await get<{ items: Array<{ sensor: string; state: string; devices: number }> }>("/sensors");
  t.deepEqual(sensors.items.map((s) => s.sensor).sort(), ["ct-room-1", "lab-qr", "lab-store"]);
  const ov = await get<{
    sensors: { online: number; offline: number };
    openFindings: { total: number; bySeverity: Record<string, number>; byStep: Record<string, number> };
    findingsOverTime: Array<{ day: string; opened: number }>;
    traffic: { sensors: Array<{ points: Array<{ packets: number }> }> };
  }>("/overview?days=7");
  t.is(ov.sensors.online, 2);
  t.is(ov.sensors.offline, 1);
  t.is(ov.findingsOverTime.length, 7);
  t.is(ov.findingsOverTime.at(-1)!.opened, c.seeded.findings);
  t.is(
    Object.values(ov.openFindings.byStep).reduce((a, b) => a + b, 0),
    ov.openFindings.total,
  );
  t.true(ov.traffic.sensors.every((s) => s.points.length > 0));
});

test.serial(
  "finding actions: acknowledge, assign, accept-risk, reopen — state, who and when, history",
  async (t) => {
    const { c, creds } = t.context;
    const h = { ...creds.analyst!.headers, "X-CSRF-Token": creds.analyst!.csrf! };
    const pk = 6;
    const act = async (body: object): Promise<FindingDetail> => {
      const r = await request(`${c.base}/api/v1/findings/${pk}/actions`, {
        method: "POST",
        headers: h,
        body,
      });
      t.is(r.status, 200, r.text);
      return r.json<FindingDetail>();
    };
    let f = await act({ action: "acknowledge", reason: "seen, ticket 42" });
    t.is(f.state, "acknowledged");
    t.is(f.acknowledgedBy, "analyst");
    f = await act({ action: "assign", assignee: "pacs-team" });
    t.is(f.assignee, "pacs-team");
    const day = new Date(Date.now() + 90 * 86_400_000).toISOString().slice(0, 10);
    f = await act({ action: "accept-risk", reason: "vendor patch in Q3", expires: day });
    t.is(f.state, "risk-accepted");
    t.deepEqual(f.riskAcceptance, {
      by: "analyst",
      reason: "vendor patch in Q3",
      expires: `${day}T23:59:59.999000Z`,
    });
    const listed = await request(`${c.base}/api/v1/findings?state=risk-accepted&limit=1000`, { headers: h });
    t.true(listed.json<Page<FindingItem>>().items.some((x) => x.pk === pk));
    f = await act({ action: "reopen" });
    t.is(f.state, "open");
    t.is(f.riskAcceptance, null);
    t.is(f.acknowledgedBy, null);
    t.is(f.assignee, "pacs-team");
    t.deepEqual(
      f.history.map((e) => [e.kind, e.actor]),
      [
        ["opened", null],
        ["acknowledged", "analyst"],
        ["assigned", "analyst"],
        ["risk-accepted", "analyst"],
        ["reopen", "analyst"],
      ],
    );
    t.deepEqual(f.history[1]!.detail, { reason: "seen, ticket 42" });
    // An acceptance that has run out is no longer the state.
    c.db
      .prepare(
        "UPDATE findings SET risk_expires = ?, risk_reason = 'old', risk_accepted_by = 'x' WHERE pk = ?",
      )
      .run("2000-01-01T00:00:00.000Z", pk);
    const after = await request(`${c.base}/api/v1/findings/${pk}`, { headers: h });
    t.is(after.json<FindingDetail>().state, "open");
    t.is(after.json<FindingDetail>().riskAcceptance, null);
    t.is(
      (
        await request(`${c.base}/api/v1/findings/999999/actions`, {
          method: "POST",
          headers: h,
          body: { action: "acknowledge" },
        })
      ).status,
      404,
    );
  },
);

test.serial(
  "exports: CSV is RFC 4180 with formula cells neutralised; JSON holds every selected record",
  async (t) => {
    const { c, creds } = t.context;
    const h = creds.viewer!.headers;
    // A device whose station name came off the wire as a formula (a hostile or broken device).
    const row = c.db.prepare("SELECT pk, record FROM devices ORDER BY pk LIMIT 1").get() as {
      pk: number;
      record: string;
    };
    const rec = JSON.parse(row.record) as Record<string, unknown>;
    rec.stationName = '=HYPERLINK("http://x.invalid","click")';
    c.db
      .prepare("UPDATE devices SET record = ?, manufacturer = ?, model = ? WHERE pk = ?")
      .run(JSON.stringify(rec), "+cmd|' /C calc'!A0", 'Model, "X"\nline2', row.pk);
    const csv = await request(`${c.base}/api/v1/devices.csv`, { headers: h });
    t.is(csv.status, 200);
    t.regex(csv.headers["content-type"]!, /^text\/csv/);
    t.regex(
      csv.headers["content-disposition"]!,
      /^attachment; filename="dicomtap-devices-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const lines = csv.text.split("\r\n");
    t.true(lines[0]!.startsWith("pk,site,sensor,id,ip,mac,class"));
    t.true(csv.text.includes(`"'=HYPERLINK(""http://x.invalid"",""click"")"`));
    t.true(csv.text.includes(",'+cmd|' /C calc'!A0,"));
    t.true(csv.text.includes('"Model, ""X""\nline2"'));
    t.false(/(^|,)[=+@]/m.test(csv.text.replace(/"[^"]*"/g, "")), "no unquoted cell starts with = + @");
    const json = await request(`${c.base}/api/v1/devices.json`, { headers: h });
    const items = json.json<DeviceItem[]>();
    t.is(items.length, c.seeded.devices);
    t.true(items.every((d) => typeof d.record === "object" && d.record !== null));
    const filtered = await request(`${c.base}/api/v1/findings.json?severity=high`, { headers: h });
    const list = await request(`${c.base}/api/v1/findings?severity=high&limit=1000`, { headers: h });
    t.deepEqual(
      filtered.json<FindingItem[]>().map((f) => f.pk),
      list.json<Page<FindingItem>>().items.map((f) => f.pk),
    );
    const fcsv = await request(`${c.base}/api/v1/findings.csv?state=any`, { headers: h });
    t.is(fcsv.text.split("\r\n").filter((l) => /^\d+,/.test(l)).length, c.seeded.findings);
  },
);

test.serial(
  "no patient data or passcode in any answer, export or the service log (lab canaries)",
  async (t) => {
    const { c, creds } = t.context;
    const canaries = JSON.parse(readFileSync("test/fixtures/patient-canaries.json", "utf8")) as Record<
      string,
      string
    >;
    const secrets = [
      "patientName",
      "patientId",
      "patientBirthDate",
      "accessionNumber",
      "studyDescription",
      "referringPhysicianName",
      "otherPatientIds",
      "userIdentityPasscode",
    ]
      .map((k) => canaries[k]!)
      .flatMap((v) => [v, v.replaceAll("^", " ")]);
    const h = creds.admin!.headers;
    let seen = "";
    for (const path of [
      "/devices.json",
      "/devices.csv",
      "/findings.json",
      "/findings.csv",
      "/overview",
      "/sensors",
      "/status",
      "/users",
      "/tokens",
    ]) {
      const r = await request(`${c.base}/api/v1${path}`, { headers: h });
      t.is(r.status, 200, path);
      seen += r.text;
    }
    for (const pk of [1, 2, 3])
      seen += (await request(`${c.base}/api/v1/devices/${pk}`, { headers: h })).text;
    for (const pk of [1, 2, 3])
      seen += (await request(`${c.base}/api/v1/findings/${pk}`, { headers: h })).text;
    t.true(
      seen.includes("dicom.cleartext-credentials"),
      "the identity finding is there, without its passcode",
    );
    for (const secret of secrets) t.false(seen.toLowerCase().includes(secret.toLowerCase()), secret);
    // Passwords and tokens are never answered back (only their hashes are stored, and those are not shown).
    t.false(seen.includes(PASSWORD.admin));
    t.false(seen.includes(c.tokens.viewer));
    t.false(/scrypt\$/.test(seen));
    const log = serviceLog.join("\n");
    t.regex(log, /analyst logged in from 127\.0\.0\.1/);
    t.regex(log, /failed login for "viewer"/);
    for (const secret of [
      ...secrets,
      ...Object.values(PASSWORD),
      c.tokens.viewer,
      c.tokens.analyst,
      "wrong-password-here",
    ])
      t.false(log.includes(secret), secret);
    t.false(/dtc_|dicomtap_session=/.test(log));
  },
);

test("static files: index at /, content types, ETag and 304, no traversal, no dot-files", async (t) => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const root = mkdtempSync(join(tmpdir(), "dicomtap-web-"));
  const outside = mkdtempSync(join(tmpdir(), "dicomtap-secret-"));
  writeFileSync(join(root, "index.html"), "<!doctype html><title>dicomtap</title>");
  writeFileSync(join(root, "app.js"), "export {};\n");
  writeFileSync(join(root, "app.0123abcd.css"), "body{}\n");
  writeFileSync(join(root, ".env"), "SECRET=1\n");
  mkdirSync(join(root, "sub"));
  writeFileSync(join(outside, "secret.txt"), "secret\n");
  const { symlinkSync } = await import("node:fs");
  symlinkSync(join(outside, "secret.txt"), join(root, "sub", "link.txt"));
  const c = await startCentral({ seed: false, webRoots: [root] });
  try {
    const index = await request(`${c.base}/`);
    t.is(index.status, 200);
    t.is(index.headers["content-type"], "text/html; charset=utf-8");
    t.is(index.headers["cache-control"], "no-cache");
    t.is(index.headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    const again = await request(`${c.base}/`, { headers: { "If-None-Match": index.headers.etag! } });
    t.is(again.status, 304);
    t.is((await request(`${c.base}/app.js`)).headers["content-type"], "text/javascript; charset=utf-8");
    t.is(
      (await request(`${c.base}/app.0123abcd.css`)).headers["cache-control"],
      "public, max-age=31536000, immutable",
    );
    for (const path of [
      "/../package.json",
      "/%2e%2e/package.json",
      "/sub/..%2f..%2fpackage.json",
      "/.env",
      "/sub/link.txt",
      "/sub/",
      "/%00.js",
      "/nothing.html",
    ]) {
      const r = await request(`${c.base}${path}`);
      t.is(r.status, 404, path);
      t.false(r.text.includes("SECRET") || r.text.includes("secret\n") || r.text.includes('"name"'), path);
    }
    t.is((await request(`${c.base}/index.html`, { method: "POST", body: {} })).status, 405);
  } finally {
    await c.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

test("plain HTTP answers only to loopback host names (DNS rebinding)", async (t) => {
  const c = await startCentral({ seed: false });
  try {
    const port = c.http.address().port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "LOCALHOST"])
      t.is((await request(`${c.base}/api/v1/openapi.json`, { headers: { Host: host } })).status, 200, host);
    for (const host of [`evil.example:${port}`, "10.0.0.1", "127.0.0.1.evil.example"]) {
      const r = await request(`${c.base}/api/v1/openapi.json`, { headers: { Host: host } });
      t.is(r.status, 421, host);
      t.is(r.headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    }
  } finally {
    await c.close();
  }
});

test("wrong method is 405 with Allow", async (t) => {
  const c = await startCentral({ seed: false });
  try {
    const r = await request(`${c.base}/api/v1/devices`, { method: "DELETE" });
    t.is(r.status, 405);
    t.is(r.headers.allow, "GET");
  } finally {
    await c.close();
  }
});
