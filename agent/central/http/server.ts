/**
 * The central console's HTTP(S) server (issue 12): the `/api/v1/` JSON API, its OpenAPI document, the
 * CSV/JSON exports and the web application's files, behind authentication (agent/central/auth.ts).
 *
 * Transport: HTTPS with `central.tls`; without it plain HTTP, and then only on a loopback address (the
 * config already insists; `start` checks again, on the address actually bound, so a `localhost` that
 * resolves elsewhere is refused too).
 *
 * Every response carries the security headers (a strict Content-Security-Policy among them; HSTS over
 * HTTPS); API responses are `no-store`. A request is checked in this order: route, method, credentials
 * (401 none, 403 role too low or CSRF token missing or wrong), then input (400), then it runs, so a
 * request without the right role changes nothing and learns nothing about the input checks.
 *
 * Requests are served from one better-sqlite3 connection, synchronously: each statement completes before
 * the next event, so no request sees half of another's transaction.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import {
  AuthError,
  LoginLimiter,
  addToken,
  addUser,
  authenticate,
  checkName,
  checkPassword,
  createSession,
  deleteSession,
  isRole,
  listTokens,
  listUsers,
  removeUser,
  revokeToken,
  roleAtLeast,
  sameSecret,
  sessionPrincipal,
  SESSION_TTL_MS,
  tokenPrincipal,
  type Principal,
  type Role,
} from "../auth.js";
import { applyAction, parseAction } from "./actions.js";
import { DEVICE_CSV_HEADER, FINDING_CSV_HEADER, csvRow, deviceCsvRow, findingCsvRow } from "./csv.js";
import type { Db } from "./db.js";
import { openApiDocument } from "./openapi.js";
import { BadRequest, bodyObject, bodyString, parseQuery } from "./params.js";
import {
  OVERVIEW_PARAMS,
  exportDevices,
  exportFindings,
  getDevice,
  getFinding,
  listDevices,
  listFindings,
  listSensors,
  overview,
  parseDeviceQuery,
  parseFindingQuery,
  parsePk,
} from "./queries.js";
import {
  PLAN_FILES,
  fileSafe,
  parsePlanQuery,
  parseSite,
  siteBaselines,
  siteSensors,
  sitePlan,
} from "./plan.js";
import { StaticFiles } from "./static.js";

export const SESSION_COOKIE = "dicomtap_session";
/** Largest request body accepted (JSON of an action, a login, a new user): far above any of them. */
export const MAX_BODY_BYTES = 64 << 10;

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface CentralHttpOptions {
  db: Db;
  listen: { host: string; port: number };
  /** PEM certificate chain and key; null: plain HTTP, loopback only. */
  tls: { cert: Buffer | string; key: Buffer | string } | null;
  /** Folders of the web application's files, searched in order. */
  webRoots: readonly string[];
  /** The service's health (ingest, store) for GET /api/v1/status. */
  status?: () => unknown;
  /** One line per notable event (logins, errors); never a password, token, cookie or record. */
  log?: (line: string) => void;
  now?: () => Date;
  /** Failed logins allowed per client address and per user name in `loginWindowMs`. */
  loginFailures?: number;
  loginWindowMs?: number;
}

const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|::ffff:127(\.\d{1,3}){3})$/;

/** True for a loopback host name or address (as `central.listen` accepts them). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || LOOPBACK.test(host);
}

/** An answer other than 2xx, thrown from a handler: the server writes {error, detail}. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

type Handler = (ctx: Context) => Promise<void> | void;

interface Route {
  /** The path after /api/v1, with `{pk}` for a record number and `{site}` for a site's name. */
  path: string;
  method: "GET" | "POST" | "DELETE";
  /** null: anyone (login, the OpenAPI document). */
  role: Role | null;
  handler: Handler;
}

interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  principal: Principal | null;
  pathParams: string[];
  now: Date;
}

export class CentralHttp {
  private server: Server | null = null;
  private readonly db: Db;
  private readonly https: boolean;
  private readonly files: StaticFiles;
  private readonly limiter: LoginLimiter;
  private readonly log: (line: string) => void;
  private readonly now: () => Date;
  private readonly routes: Route[];
  private readonly counters = { requests: 0, errors: 0, loginsFailed: 0, loginsLimited: 0 };

  constructor(private readonly opts: CentralHttpOptions) {
    if (opts.tls === null && !isLoopbackHost(opts.listen.host))
      throw new Error(
        `central: without central.tls the central listens only on a loopback address, not ${opts.listen.host}`,
      );
    this.db = opts.db;
    this.https = opts.tls !== null;
    this.files = new StaticFiles(opts.webRoots);
    this.limiter = new LoginLimiter(opts.loginFailures ?? 5, opts.loginWindowMs ?? 60_000);
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? (() => new Date());
    this.routes = this.buildRoutes();
  }

  /** Listens; resolves once bound. Refuses (and closes) a plain-HTTP listener bound off loopback. */
  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    const server = this.opts.tls
      ? createHttpsServer(
          { cert: this.opts.tls.cert, key: this.opts.tls.key, minVersion: "TLSv1.2" },
          handler,
        )
      : createHttpServer(handler);
    // Slow clients may not hold a connection forever (slowloris): headers within 20 s, a request within 60 s.
    server.headersTimeout = 20_000;
    server.requestTimeout = 60_000;
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 100;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.listen.port, this.opts.listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    const bound = (server.address() as AddressInfo).address;
    if (this.opts.tls === null && !LOOPBACK.test(bound)) {
      await this.stop();
      throw new Error(
        `central: ${this.opts.listen.host} resolved to ${bound}, not a loopback address; refusing plain HTTP`,
      );
    }
  }

  /** The bound address (for tests and the start-up line). */
  address(): { host: string; port: number; url: string } {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) throw new Error("central: the HTTP server is not listening");
    const host = isIP(a.address) === 6 ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `${this.https ? "https" : "http"}://${host}:${a.port}` };
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s === null) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
      // Requests in flight get a moment to finish; then their connections are cut.
      setTimeout(() => s.closeAllConnections(), 2000).unref();
    });
  }

  health(): {
    listening: boolean;
    https: boolean;
    requests: number;
    errors: number;
    loginsFailed: number;
    loginsLimited: number;
  } {
    return { listening: this.server !== null, https: this.https, ...this.counters };
  }

  /** Method, path (under /api/v1) and role of every API route: what the OpenAPI document must describe. */
  routeList(): Array<{ method: string; path: string; role: Role | null }> {
    return this.routes.map((r) => ({ method: r.method, path: r.path, role: r.role }));
  }

  // ------------------------------------------------------------------------------------------ dispatch

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    this.securityHeaders(res);
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://central.invalid");
    } catch {
      this.sendError(res, new HttpError(400, "bad-url", "the request URL cannot be parsed"));
      return;
    }
    // DNS rebinding: over plain HTTP the listener is on loopback, and a page of another site whose name
    // its owner points at 127.0.0.1 would reach it as its own origin. A browser always sends the name it
    // resolved as Host, so only loopback names are served.
    if (!this.https && !isLoopbackHost(hostOf(req.headers.host))) {
      this.sendError(
        res,
        new HttpError(421, "misdirected", "over plain HTTP the central answers only to a loopback host name"),
      );
      return;
    }
    try {
      if (url.pathname.startsWith("/api/")) {
        res.setHeader("Cache-Control", "no-store");
        await this.api(req, res, url);
      } else this.serveFile(req, res, url);
    } catch (err) {
      if (err instanceof BadRequest) this.sendError(res, new HttpError(400, err.error, err.detail));
      else if (err instanceof HttpError) this.sendError(res, err);
      else {
        this.counters.errors++;
        this.log(`central: ${req.method ?? "?"} ${url.pathname}: ${(err as Error).message}`);
        this.sendError(res, new HttpError(500, "internal", "the request failed; the service log says why"));
      }
    }
  }

  private securityHeaders(res: ServerResponse): void {
    res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    if (this.https) res.setHeader("Strict-Transport-Security", "max-age=31536000");
  }

  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const prefix = "/api/v1";
    if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`))
      throw new HttpError(404, "not-found", "the API is under /api/v1/");
    const rest = url.pathname.slice(prefix.length);
    const matches = this.routes.flatMap((r) => {
      const params = matchPath(r.path, rest);
      return params === null ? [] : [{ route: r, params }];
    });
    if (matches.length === 0) throw new HttpError(404, "not-found", `no API resource ${url.pathname}`);
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "");
    const hit = matches.find((m) => m.route.method === method);
    if (hit === undefined) {
      const allow = [...new Set(matches.map((m) => m.route.method))].join(", ");
      throw new HttpError(405, "method-not-allowed", `${url.pathname} takes ${allow}`, { Allow: allow });
    }
    const now = this.now();
    const principal = this.principal(req, now);
    const { route } = hit;
    if (route.role !== null) {
      if (principal === null)
        throw new HttpError(401, "unauthenticated", "log in, or send Authorization: Bearer TOKEN");
      if (!roleAtLeast(principal.role, route.role))
        throw new HttpError(
          403,
          "forbidden",
          `this needs the ${route.role} role; you have ${principal.role}`,
        );
    }
    // CSRF: a change made with a session cookie must carry the session's token in X-CSRF-Token, which a
    // page of another origin cannot read or set (SameSite=Strict is the second wall). Logging in again
    // changes nothing of the old session's; it needs none (its JSON body cannot come from a plain form).
    if (
      method !== "GET" &&
      principal?.kind === "session" &&
      !(route.method === "POST" && route.path === "/session")
    ) {
      const sent = req.headers["x-csrf-token"];
      if (typeof sent !== "string" || !sameSecret(sent, principal.csrf!))
        throw new HttpError(403, "csrf", "missing or wrong X-CSRF-Token header");
    }
    await route.handler({ req, res, url, principal, pathParams: hit.params, now });
  }

  /** Credentials of a request: a bearer token if it sends one (a wrong one is 401), else a session cookie. */
  private principal(req: IncomingMessage, now: Date): Principal | null {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(auth);
      const p = m ? tokenPrincipal(this.db, m[1]!, now) : null;
      if (p === null)
        throw new HttpError(401, "bad-token", "the bearer token is unknown or revoked", {
          "WWW-Authenticate": "Bearer",
        });
      return p;
    }
    const cookie = sessionCookie(req);
    return cookie === null ? null : sessionPrincipal(this.db, cookie, now);
  }

  // ------------------------------------------------------------------------------------------- routes

  private buildRoutes(): Route[] {
    const r = (method: Route["method"], path: string, role: Role | null, handler: Handler): Route => ({
      method,
      path,
      role,
      handler,
    });
    const noQuery = (ctx: Context): void => void parseQuery(ctx.url.searchParams, {});
    return [
      r("GET", "/openapi.json", null, (ctx) => {
        noQuery(ctx);
        this.json(ctx, 200, openApiDocument());
      }),
      r("POST", "/session", null, (ctx) => this.login(ctx)),
      r("GET", "/session", "viewer", (ctx) => {
        noQuery(ctx);
        const p = ctx.principal!;
        this.json(ctx, 200, { user: p.name, role: p.role, kind: p.kind, csrfToken: p.csrf });
      }),
      r("DELETE", "/session", null, (ctx) => {
        noQuery(ctx);
        const cookie = sessionCookie(ctx.req);
        if (cookie !== null) deleteSession(this.db, cookie);
        ctx.res.setHeader("Set-Cookie", this.cookie("", 0));
        this.json(ctx, 200, { loggedOut: true });
      }),
      r("GET", "/status", "viewer", (ctx) => {
        noQuery(ctx);
        this.json(ctx, 200, {
          now: ctx.now.toISOString(),
          http: this.health(),
          service: this.opts.status?.() ?? null,
        });
      }),
      r("GET", "/sensors", "viewer", (ctx) => {
        noQuery(ctx);
        const items = listSensors(this.db);
        this.json(ctx, 200, { items, total: items.length });
      }),
      r("GET", "/overview", "viewer", (ctx) => {
        const q = parseQuery(ctx.url.searchParams, OVERVIEW_PARAMS);
        this.json(ctx, 200, overview(this.db, q.days ?? 30, ctx.now));
      }),
      r("GET", "/devices", "viewer", (ctx) =>
        this.json(ctx, 200, listDevices(this.db, parseDeviceQuery(ctx.url.searchParams, true))),
      ),
      r("GET", "/devices.csv", "viewer", async (ctx) => {
        const q = parseDeviceQuery(ctx.url.searchParams, false);
        await this.stream(
          ctx,
          "csv",
          "devices",
          csvRow(DEVICE_CSV_HEADER),
          exportDevices(this.db, q),
          deviceCsvRow,
        );
      }),
      r("GET", "/devices.json", "viewer", async (ctx) => {
        const q = parseDeviceQuery(ctx.url.searchParams, false);
        await this.stream(ctx, "json", "devices", "", exportDevices(this.db, q), (d) => JSON.stringify(d));
      }),
      r("GET", "/devices/{pk}", "viewer", (ctx) => {
        noQuery(ctx);
        const d = getDevice(this.db, parsePk(ctx.pathParams[0]!), ctx.now);
        if (d === null) throw new HttpError(404, "not-found", "no such device");
        this.json(ctx, 200, d);
      }),
      r("GET", "/findings", "viewer", (ctx) =>
        this.json(ctx, 200, listFindings(this.db, parseFindingQuery(ctx.url.searchParams, true), ctx.now)),
      ),
      r("GET", "/findings.csv", "viewer", async (ctx) => {
        const q = parseFindingQuery(ctx.url.searchParams, false);
        await this.stream(
          ctx,
          "csv",
          "findings",
          csvRow(FINDING_CSV_HEADER),
          exportFindings(this.db, q, ctx.now),
          findingCsvRow,
        );
      }),
      r("GET", "/findings.json", "viewer", async (ctx) => {
        const q = parseFindingQuery(ctx.url.searchParams, false);
        await this.stream(ctx, "json", "findings", "", exportFindings(this.db, q, ctx.now), (f) =>
          JSON.stringify(f),
        );
      }),
      r("GET", "/findings/{pk}", "viewer", (ctx) => {
        noQuery(ctx);
        const f = getFinding(this.db, parsePk(ctx.pathParams[0]!), ctx.now);
        if (f === null) throw new HttpError(404, "not-found", "no such finding");
        this.json(ctx, 200, f);
      }),
      r("POST", "/findings/{pk}/actions", "analyst", async (ctx) => {
        noQuery(ctx);
        const pk = parsePk(ctx.pathParams[0]!);
        const action = parseAction(await this.body(ctx), ctx.now);
        const p = ctx.principal!;
        const actor = p.kind === "token" ? `token:${p.name}` : p.name;
        if (!applyAction(this.db, pk, action, actor, ctx.now))
          throw new HttpError(404, "not-found", "no such finding");
        this.json(ctx, 200, getFinding(this.db, pk, ctx.now));
      }),
      r("GET", "/sites/{site}/baselines", "viewer", (ctx) => {
        noQuery(ctx);
        const site = this.knownSite(ctx);
        this.json(ctx, 200, siteBaselines(this.db, site));
      }),
      r("GET", "/sites/{site}/plan", "viewer", (ctx) => {
        const { format, download } = parsePlanQuery(ctx.url.searchParams);
        const site = this.knownSite(ctx);
        const { plan, text } = sitePlan(this.db, site, format, ctx.now);
        const file = PLAN_FILES[format];
        const body = Buffer.from(text ?? JSON.stringify(plan, null, download ? 2 : undefined));
        const stamp = ctx.now.toISOString().slice(0, 10);
        ctx.res.writeHead(200, {
          "Content-Type": file.type,
          "Content-Length": body.length,
          ...(download
            ? {
                "Content-Disposition": `attachment; filename="dicomtap-${fileSafe(site)}-${stamp}-${file.suffix}"`,
              }
            : {}),
        });
        ctx.res.end(ctx.req.method === "HEAD" ? undefined : body);
      }),
      r("GET", "/users", "admin", (ctx) => {
        noQuery(ctx);
        const items = listUsers(this.db);
        this.json(ctx, 200, { items, total: items.length });
      }),
      r("POST", "/users", "admin", async (ctx) => {
        noQuery(ctx);
        const o = bodyObject(await this.body(ctx), ["name", "role", "password"]);
        const name = bodyString(o, "name", { required: true, max: 64 })!;
        const role = bodyString(o, "role", { required: true, max: 16 })!;
        const password = bodyString(o, "password", { required: true, max: 1024 })!;
        const bad = checkName(name);
        if (bad !== null) throw new BadRequest("bad-body", `name ${bad}`);
        if (!isRole(role)) throw new BadRequest("bad-body", "role must be viewer, analyst or admin");
        const pw = checkPassword(password);
        if (pw !== null) throw new BadRequest("bad-body", `password ${pw}`);
        const user = await addUser(this.db, name, role, password, ctx.now).catch(authFailure);
        this.log(`central: ${ctx.principal!.name} added user ${name} (${role})`);
        this.json(ctx, 201, user);
      }),
      r("DELETE", "/users/{pk}", "admin", (ctx) => {
        noQuery(ctx);
        const pk = parsePk(ctx.pathParams[0]!);
        if (ctx.principal!.kind === "session" && ctx.principal!.pk === pk)
          throw new HttpError(
            409,
            "conflict",
            "an administrator cannot remove their own user while logged in",
          );
        const user = (() => {
          try {
            return removeUser(this.db, pk);
          } catch (err) {
            return authFailure(err);
          }
        })();
        this.log(`central: ${ctx.principal!.name} removed user ${user.name}`);
        this.json(ctx, 200, user);
      }),
      r("GET", "/tokens", "admin", (ctx) => {
        noQuery(ctx);
        const items = listTokens(this.db);
        this.json(ctx, 200, { items, total: items.length });
      }),
      r("POST", "/tokens", "admin", async (ctx) => {
        noQuery(ctx);
        const o = bodyObject(await this.body(ctx), ["name", "role"]);
        const name = bodyString(o, "name", { required: true, max: 64 })!;
        const role = bodyString(o, "role", { required: true, max: 16 })!;
        const bad = checkName(name);
        if (bad !== null) throw new BadRequest("bad-body", `name ${bad}`);
        if (!isRole(role)) throw new BadRequest("bad-body", "role must be viewer, analyst or admin");
        const { token, secret } = addToken(this.db, name, role, ctx.now);
        this.log(`central: ${ctx.principal!.name} added token ${name} (${role})`);
        this.json(ctx, 201, { ...token, token: secret });
      }),
      r("DELETE", "/tokens/{pk}", "admin", (ctx) => {
        noQuery(ctx);
        const pk = parsePk(ctx.pathParams[0]!);
        let revoked;
        try {
          revoked = revokeToken(this.db, pk, ctx.now);
        } catch (err) {
          authFailure(err);
        }
        this.log(`central: ${ctx.principal!.name} revoked token ${pk}`);
        this.json(ctx, 200, revoked![0]);
      }),
    ];
  }

  /** The {site} of the path: a site the central has a sensor of, else 404. */
  private knownSite(ctx: Context): string {
    const site = parseSite(ctx.pathParams[0]!);
    if (siteSensors(this.db, site).length === 0)
      throw new HttpError(404, "not-found", "no sensor of this site has reported");
    return site;
  }

  /** POST /session: name and password → session cookie and CSRF token; rate limited per address and name. */
  private async login(ctx: Context): Promise<void> {
    parseQuery(ctx.url.searchParams, {});
    const o = bodyObject(await this.body(ctx), ["name", "password"]);
    const name = bodyString(o, "name", { required: true, max: 64 })!;
    const password = bodyString(o, "password", { required: true, max: 1024 })!;
    const ip = ctx.req.socket.remoteAddress ?? "unknown";
    const keys = [`ip:${ip}`, `user:${name}`];
    const t = ctx.now.getTime();
    const wait = Math.max(...keys.map((k) => this.limiter.retryAfterMs(k, t)));
    if (wait > 0) {
      this.counters.loginsLimited++;
      throw new HttpError(429, "too-many-logins", "too many failed logins; try again later", {
        "Retry-After": String(Math.ceil(wait / 1000)),
      });
    }
    // Counted as a failure before the password check: scrypt takes a tenth of a second, and guesses sent
    // in parallel would otherwise all pass the limiter before the first failure is recorded. A success
    // takes its count back below.
    for (const k of keys) this.limiter.fail(k, t);
    const user = await authenticate(this.db, name, password);
    if (user === null) {
      this.counters.loginsFailed++;
      // The name only when it is a user's: people type their password into the name box.
      const known = this.db.prepare("SELECT 1 FROM users WHERE name = ?").get(name) !== undefined;
      this.log(`central: failed login for ${known ? JSON.stringify(name) : "an unknown user"} from ${ip}`);
      throw new HttpError(401, "bad-login", "wrong user name or password");
    }
    this.limiter.reset(`user:${name}`);
    this.limiter.forgive(`ip:${ip}`, t);
    const s = createSession(this.db, user.pk, ctx.now);
    ctx.res.setHeader("Set-Cookie", this.cookie(s.cookie, SESSION_TTL_MS / 1000));
    this.log(`central: ${name} logged in from ${ip}`);
    this.json(ctx, 200, {
      user: user.name,
      role: user.role,
      kind: "session",
      csrfToken: s.csrf,
      expiresAt: s.expiresAt,
    });
  }

  /**
   * Secure always, as the issue asks: over HTTPS the browser then never sends the cookie in clear; over
   * plain HTTP the central listens only on loopback, which browsers treat as a secure context (W3C Secure
   * Contexts §3.2, "potentially trustworthy" 127.0.0.0/8, ::1 and localhost), so the cookie still comes back.
   */
  private cookie(value: string, maxAgeSeconds: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}; Secure`;
  }

  // ------------------------------------------------------------------------------------------ helpers

  /** Reads a JSON request body of at most MAX_BODY_BYTES; anything else is a 400. */
  private async body(ctx: Context): Promise<unknown> {
    const { req } = ctx;
    const type = req.headers["content-type"] ?? "";
    // Only JSON: an HTML form of another site can post urlencoded or text/plain without a preflight.
    if (!/^application\/json\s*(;|$)/i.test(type))
      throw new BadRequest("bad-content-type", "the body must be JSON (Content-Type: application/json)");
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) {
      ctx.res.setHeader("Connection", "close");
      req.resume();
      throw new BadRequest("body-too-large", `the body must be at most ${MAX_BODY_BYTES} bytes`);
    }
    // Events, not `for await`: leaving an async iterator early destroys the socket, and the client would
    // see a reset instead of the 400 that says why.
    const chunks = await new Promise<Buffer[] | null>((resolve, reject) => {
      const got: Buffer[] = [];
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        if (size > MAX_BODY_BYTES) return; // already refused: the rest is read and dropped
        size += chunk.length;
        if (size > MAX_BODY_BYTES) resolve(null);
        else got.push(chunk);
      });
      req.once("end", () => resolve(got));
      req.once("error", reject);
    });
    if (chunks === null) {
      ctx.res.setHeader("Connection", "close");
      throw new BadRequest("body-too-large", `the body must be at most ${MAX_BODY_BYTES} bytes`);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    } catch {
      throw new BadRequest("bad-json", "the body is not valid JSON");
    }
  }

  private json(ctx: Context, status: number, value: unknown): void {
    const body = Buffer.from(JSON.stringify(value));
    ctx.res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": body.length,
    });
    ctx.res.end(ctx.req.method === "HEAD" ? undefined : body);
  }

  /**
   * Streams an export: CSV rows, or a JSON array written element by element, waiting for the client to
   * drain between batches (a slow client costs memory for one batch, never the whole export).
   */
  private async stream<T>(
    ctx: Context,
    kind: "csv" | "json",
    name: string,
    header: string,
    batches: Generator<T[]>,
    row: (item: T) => string,
  ): Promise<void> {
    const { res } = ctx;
    const stamp = ctx.now.toISOString().slice(0, 10);
    res.writeHead(200, {
      "Content-Type":
        kind === "csv" ? "text/csv; charset=utf-8; header=present" : "application/json; charset=utf-8",
      "Content-Disposition": `attachment; filename="dicomtap-${name}-${stamp}.${kind}"`,
    });
    if (ctx.req.method === "HEAD") {
      res.end();
      return;
    }
    let first = true;
    const write = async (s: string): Promise<void> => {
      if (!res.write(s) && !res.destroyed)
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
    };
    await write(kind === "csv" ? header : "[");
    for (const batch of batches) {
      if (res.destroyed) return;
      let text = "";
      for (const item of batch) {
        if (kind === "json") {
          text += `${first ? "\n" : ",\n"}${row(item)}`;
          first = false;
        } else text += row(item);
      }
      await write(text);
      // A batch that fit the socket's buffer resolves at once: yield to the event loop anyway, so a
      // 100 MB export shares the process with the MQTT ingest and other requests instead of holding
      // it for seconds (the keepalive of the broker connection among them).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    res.end(kind === "json" ? "\n]\n" : "");
  }

  private sendError(res: ServerResponse, e: HttpError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = Buffer.from(JSON.stringify({ error: e.error, detail: e.detail }));
    res.writeHead(e.status, {
      ...e.headers,
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": body.length,
      "Cache-Control": "no-store",
    });
    res.end(body);
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method !== "GET" && req.method !== "HEAD")
      throw new HttpError(405, "method-not-allowed", "the web application's files take GET", {
        Allow: "GET, HEAD",
      });
    const file = this.files.lookup(url.pathname);
    if (file === null) {
      if (url.pathname === "/" && !this.files.available)
        throw new HttpError(
          404,
          "no-web-app",
          "the web application is not built here; the API is under /api/v1/",
        );
      throw new HttpError(404, "not-found", "no such file");
    }
    res.setHeader("ETag", file.etag);
    res.setHeader("Cache-Control", file.cacheControl);
    const inm = req.headers["if-none-match"];
    if (typeof inm === "string" && inm.split(",").some((t) => t.trim() === file.etag)) {
      res.writeHead(304);
      res.end();
      return;
    }
    res.writeHead(200, { "Content-Type": file.contentType, "Content-Length": file.body.length });
    res.end(req.method === "HEAD" ? undefined : file.body);
  }
}

/** The path parameters of `pattern` (segments `{pk}`, `{site}`) in `path`, or null when it does not match. */
function matchPath(pattern: string, path: string): string[] | null {
  const a = pattern.split("/");
  const b = path.split("/");
  if (a.length !== b.length) return null;
  const params: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "{pk}" || (a[i] === "{site}" && b[i] !== "")) params.push(b[i]!);
    else if (a[i] !== b[i]) return null;
  }
  return params;
}

/** The host name of a Host header (without the port, an IPv6 address without its brackets); "" if none. */
function hostOf(header: string | undefined): string {
  if (header === undefined) return "";
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:]*))(?::\d{1,5})?$/.exec(header.trim());
  return m === null ? "" : (m[1] ?? m[2] ?? "").toLowerCase();
}

function sessionCookie(req: IncomingMessage): string | null {
  const header = req.headers.cookie;
  if (header === undefined) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return null;
}

function authFailure(err: unknown): never {
  if (err instanceof AuthError)
    throw err.code === "exists"
      ? new HttpError(409, "conflict", err.message)
      : err.code === "not-found"
        ? new HttpError(404, "not-found", err.message)
        : new BadRequest("bad-body", err.message);
  throw err;
}
