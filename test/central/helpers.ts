/**
 * Test helpers of the central's HTTP tests: a real CentralHttp on a free loopback port over a real store
 * file (seeded with analysed captures, see seed.ts), users of every role and API tokens, and a small HTTP
 * client over node:http/https (so a test can send exactly the headers and bytes it means, trust a CA of
 * its own, and read every response header).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addToken, addUser, revokeToken, type Role } from "../../agent/central/auth.js";
import { openCentralStore, type Db } from "../../agent/central/http/db.js";
import type { CentralStore } from "../../agent/central/store.js";
import { CentralHttp, type CentralHttpOptions } from "../../agent/central/http/server.js";
import { checkBaseline } from "../../agent/central/baselines.js";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import { analyzeCapture, baselineMessage, labBaseline, labReport, seedSensor } from "./seed.js";

export const PASSWORD: Record<Role, string> = {
  viewer: "viewer-password-1",
  analyst: "analyst-password-2",
  admin: "admin-password-3",
};

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A string or object (sent as JSON with Content-Type application/json unless headers say otherwise). */
  body?: string | Buffer | object;
  ca?: Buffer;
}

export function request(url: string, o: RequestOptions = {}): Promise<Response> {
  const u = new URL(url);
  const headers: Record<string, string> = { ...o.headers };
  let body: Buffer | undefined;
  if (o.body !== undefined) {
    body = Buffer.isBuffer(o.body)
      ? o.body
      : Buffer.from(typeof o.body === "string" ? o.body : JSON.stringify(o.body));
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type"))
      headers["Content-Type"] = "application/json";
    headers["Content-Length"] = String(body.length);
  }
  return new Promise((resolve, reject) => {
    // A connection per request: a kept-alive one may be closed by the server's idle timeout just as it is
    // reused (a test that blocks in spawnSync for longer), which would fail the test for the wrong reason.
    const opts = { method: o.method ?? "GET", headers, agent: false, ...(o.ca ? { ca: o.ca } : {}) };
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: <T>() => JSON.parse(text) as T,
        });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export interface Credentials {
  /** Headers that authenticate a request (cookie or bearer) and, for a session, its CSRF token. */
  headers: Record<string, string>;
  csrf: string | null;
}

/** Logs in and returns the session cookie and CSRF token. */
export async function login(base: string, name: string, password: string, ca?: Buffer): Promise<Credentials> {
  const r = await request(`${base}/api/v1/session`, {
    method: "POST",
    body: { name, password },
    ...(ca ? { ca } : {}),
  });
  if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${r.text}`);
  const setCookie = r.headers["set-cookie"]?.[0] ?? "";
  const cookie = setCookie.split(";")[0]!;
  return { headers: { Cookie: cookie }, csrf: r.json<{ csrfToken: string }>().csrfToken };
}

export interface Central {
  http: CentralHttp;
  db: Db;
  store: CentralStore;
  dir: string;
  base: string;
  tokens: { viewer: string; analyst: string; admin: string; revoked: string };
  close(): Promise<void>;
}

/** What the seeded store holds, for assertions. */
export interface Seeded {
  devices: number;
  findings: number;
}

let imagingRoom: ReturnType<typeof analyzeCapture> | null = null;
let baselines: Array<[string, string, BaselineDocument]> | null = null;

/**
 * The baselines of the seeded store: st-marys' two sensors each publish the one their capture teaches
 * (ct-room-1 still learning, lab-qr learned); county's lab-store has none yet (its plan is empty).
 */
async function seedBaselines(): Promise<Array<[string, string, BaselineDocument]>> {
  baselines ??= [
    ["st-marys", "ct-room-1", await labBaseline(["samples/imaging-room.pcap"], "st-marys", "ct-room-1")],
    ["st-marys", "lab-qr", await labBaseline(["test/fixtures/lab/qr.pcap"], "st-marys", "lab-qr", "learned")],
  ];
  return baselines;
}

/**
 * A store with three sensors' real records — samples/imaging-room.pcap analysed now, and the lab's
 * query/retrieve and store captures' reports — and the baselines of st-marys' two sensors, users viewer,
 * analyst, admin and tokens of each role plus a revoked one, behind a CentralHttp on 127.0.0.1.
 */
export async function startCentral(
  opts: Partial<CentralHttpOptions> & { seed?: boolean } = {},
): Promise<Central & { seeded: Seeded }> {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-central-"));
  const store = openCentralStore(join(dir, "central.db"));
  const db = store.db;
  const now = new Date();
  const seeded = { devices: 0, findings: 0 };
  if (opts.seed !== false) {
    imagingRoom ??= analyzeCapture("samples/imaging-room.pcap");
    for (const [site, sensor, report] of [
      ["st-marys", "ct-room-1", imagingRoom],
      ["st-marys", "lab-qr", labReport("qr")],
      ["county", "lab-store", labReport("store")],
    ] as const) {
      // Two days of health every half hour: the overview's hourly traffic and drops charts have lines.
      const s = seedSensor(store, {
        site,
        sensor,
        report,
        now,
        offline: sensor === "lab-store",
        healthSamples: 96,
        healthEveryMinutes: 30,
      });
      seeded.devices += s.devices;
      seeded.findings += s.findings;
    }
    for (const [site, sensor, doc] of await seedBaselines()) {
      const c = checkBaseline(
        `dicomtap/v1/${site}/${sensor}/baseline`,
        Buffer.from(baselineMessage(doc, site, sensor)),
      );
      if (!c.ok) throw new Error(`seed baseline ${sensor}: ${c.reason}`);
      store.applyBaseline(c, now);
    }
  }
  for (const role of ["viewer", "analyst", "admin"] as const) await addUser(db, role, role, PASSWORD[role]);
  const token = (name: string, role: Role): string => addToken(db, name, role).secret;
  const tokens = {
    viewer: token("script-viewer", "viewer"),
    analyst: token("script-analyst", "analyst"),
    admin: token("script-admin", "admin"),
    revoked: token("script-old", "admin"),
  };
  revokeToken(db, "script-old");
  const http = new CentralHttp({
    db,
    listen: { host: "127.0.0.1", port: 0 },
    tls: null,
    webRoots: [],
    ...opts,
  });
  await http.start();
  return {
    http,
    db,
    store,
    dir,
    base: http.address().url,
    tokens,
    seeded,
    close: async () => {
      await http.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
