/**
 * Who may use the central console, and how they prove it (issue 12, Security): users with a role and a
 * scrypt password hash, browser sessions with a CSRF token, API tokens for scripts, and the login rate
 * limiter. Shared by the HTTP server (agent/central/http/server.ts) and the `dicomtap central user|token`
 * commands (agent/central/cli.ts), which both work on the store's `users`, `tokens` and `sessions` tables
 * (agent/central/schema.ts).
 *
 * Secrets never stored: passwords as `scrypt$N$r$p$salt$hash` (memory-hard, node:crypto), session cookies
 * and API tokens as their SHA-256 (they are 32 random bytes: a fast hash is enough, and a lookup by hash
 * needs no per-row salt). Nothing here logs a password, token or cookie.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import type { Db } from "./http/db.js";
import { isoFromDate } from "../util/time.js";

export const ROLES = ["viewer", "analyst", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** viewer < analyst < admin: a role may do what every lower role may. */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}

/** A user or token name: shown in the console and in finding histories, so printable and short. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

/** A session lasts this long from login (absolute: a console left open all day logs in again next day). */
export const SESSION_TTL_MS = 12 * 3600 * 1000;

/**
 * scrypt parameters: N=2^15, r=8, p=1 (32 MiB and about 0.1 s per hash), the cost OWASP's password
 * storage guidance names for scrypt. maxmem must be raised above Node's 32 MiB default, which is exactly
 * 128*N*r and refused.
 */
const SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r * p }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** The stored form of a password: `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** A hash of no one's password: login of an unknown name costs the same time as a wrong password. */
let decoy: Promise<string> | null = null;

/**
 * True when `password` matches `stored`; a malformed stored hash never matches. With `stored` null (an
 * unknown user) a decoy hash is checked, so the answer takes as long as for a known user.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (stored === null) {
    decoy ??= hashPassword(randomBytes(16).toString("hex"));
    await verifyPassword(password, await decoy);
    return false;
  }
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Bounds, so a tampered row cannot make a login allocate gigabytes.
  if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const expected = Buffer.from(m[5]!, "base64");
  if (expected.length !== KEY_LENGTH) return false;
  const key = await scryptAsync(password, Buffer.from(m[4]!, "base64"), N, r, p);
  return timingSafeEqual(key, expected);
}

/** SHA-256 (hex) of a session cookie or API token: what the store keeps. */
export function secretHash(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Equality of two secrets without a timing side channel on where they first differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

function randomSecret(): string {
  return randomBytes(32).toString("base64url");
}

export const TOKEN_PREFIX = "dtc_";

/** Why a name, role or password is refused; null when it is acceptable. */
export function checkName(name: unknown): string | null {
  if (typeof name !== "string") return "must be a string";
  if (!NAME_PATTERN.test(name))
    return "must be 1-64 characters of A-Z a-z 0-9 . _ @ - starting with a letter or digit";
  return null;
}

export function checkPassword(password: unknown): string | null {
  if (typeof password !== "string") return "must be a string";
  if ([...password].length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return null;
}

// ---------------------------------------------------------------------------------------------- users

export interface UserInfo {
  pk: number;
  name: string;
  role: Role;
  createdAt: string;
  disabledAt: string | null;
}

interface UserRow {
  pk: number;
  name: string;
  role: string;
  password: string;
  created_at: string;
  disabled_at: string | null;
}

function userInfo(r: UserRow): UserInfo {
  return { pk: r.pk, name: r.name, role: r.role as Role, createdAt: r.created_at, disabledAt: r.disabled_at };
}

/** A refused change of users or tokens (a name taken, an unknown name): the caller says why. */
export class AuthError extends Error {
  constructor(
    message: string,
    readonly code: "exists" | "not-found" | "invalid",
  ) {
    super(message);
    this.name = "AuthError";
  }
}

export async function addUser(
  db: Db,
  name: string,
  role: Role,
  password: string,
  now = new Date(),
): Promise<UserInfo> {
  const bad = checkName(name) ?? (isRole(role) ? null : "unknown role");
  if (bad !== null) throw new AuthError(`user name ${bad}`, "invalid");
  const pw = checkPassword(password);
  if (pw !== null) throw new AuthError(`password ${pw}`, "invalid");
  const hash = await hashPassword(password);
  const exists = db.prepare("SELECT 1 FROM users WHERE name = ?").get(name);
  if (exists !== undefined) throw new AuthError(`a user named ${name} exists`, "exists");
  const r = db
    .prepare("INSERT INTO users (name, role, password, created_at) VALUES (?, ?, ?, ?)")
    .run(name, role, hash, isoFromDate(now));
  return { pk: Number(r.lastInsertRowid), name, role, createdAt: isoFromDate(now), disabledAt: null };
}

export function listUsers(db: Db): UserInfo[] {
  return (db.prepare("SELECT * FROM users ORDER BY name").all() as UserRow[]).map(userInfo);
}

/** Removes a user by pk or name; its sessions go with it (ON DELETE CASCADE). Returns the user removed. */
export function removeUser(db: Db, which: number | string): UserInfo {
  const row = (
    typeof which === "number"
      ? db.prepare("SELECT * FROM users WHERE pk = ?").get(which)
      : db.prepare("SELECT * FROM users WHERE name = ?").get(which)
  ) as UserRow | undefined;
  if (row === undefined) throw new AuthError(`no user ${String(which)}`, "not-found");
  db.prepare("DELETE FROM users WHERE pk = ?").run(row.pk);
  return userInfo(row);
}

// --------------------------------------------------------------------------------------------- tokens

export interface TokenInfo {
  pk: number;
  name: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface TokenRow {
  pk: number;
  name: string;
  role: string;
  hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

function tokenInfo(r: TokenRow): TokenInfo {
  return {
    pk: r.pk,
    name: r.name,
    role: r.role as Role,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

/** Creates an API token; the secret is returned once here and never again (the store keeps its hash). */
export function addToken(
  db: Db,
  name: string,
  role: Role,
  now = new Date(),
): { token: TokenInfo; secret: string } {
  const bad = checkName(name) ?? (isRole(role) ? null : "unknown role");
  if (bad !== null) throw new AuthError(`token name ${bad}`, "invalid");
  const secret = TOKEN_PREFIX + randomSecret();
  const r = db
    .prepare("INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)")
    .run(name, role, secretHash(secret), isoFromDate(now));
  return {
    token: {
      pk: Number(r.lastInsertRowid),
      name,
      role,
      createdAt: isoFromDate(now),
      lastUsedAt: null,
      revokedAt: null,
    },
    secret,
  };
}

export function listTokens(db: Db): TokenInfo[] {
  return (db.prepare("SELECT * FROM tokens ORDER BY pk").all() as TokenRow[]).map(tokenInfo);
}

/**
 * Revokes tokens by pk, or every unrevoked token of a name; returns those revoked (none: AuthError). A
 * revoked token stays listed, with its revocation time, for the audit trail.
 */
export function revokeToken(db: Db, which: number | string, now = new Date()): TokenInfo[] {
  const rows = (
    typeof which === "number"
      ? db.prepare("SELECT * FROM tokens WHERE pk = ? AND revoked_at IS NULL").all(which)
      : db.prepare("SELECT * FROM tokens WHERE name = ? AND revoked_at IS NULL").all(which)
  ) as TokenRow[];
  if (rows.length === 0) throw new AuthError(`no unrevoked token ${String(which)}`, "not-found");
  const at = isoFromDate(now);
  const stmt = db.prepare("UPDATE tokens SET revoked_at = ? WHERE pk = ?");
  db.transaction(() => {
    for (const r of rows) stmt.run(at, r.pk);
  })();
  return rows.map((r) => tokenInfo({ ...r, revoked_at: at }));
}

// ------------------------------------------------------------------------------- request principals

/** Who a request acts as. `csrf` is the session's token (null for an API token: no cookie, no CSRF). */
export interface Principal {
  kind: "session" | "token";
  name: string;
  role: Role;
  csrf: string | null;
  /** The store row: the user's pk for a session, the token's pk for a token. */
  pk: number;
}

/** The principal of `Authorization: Bearer TOKEN`, or null for an unknown or revoked token. */
export function tokenPrincipal(db: Db, secret: string, now = new Date()): Principal | null {
  if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return null;
  const row = db
    .prepare("SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL")
    .get(secretHash(secret)) as TokenRow | undefined;
  if (row === undefined || !isRole(row.role)) return null;
  db.prepare("UPDATE tokens SET last_used_at = ? WHERE pk = ?").run(isoFromDate(now), row.pk);
  return { kind: "token", name: row.name, role: row.role, csrf: null, pk: row.pk };
}

/** Checks a name and password; resolves with the user, or null (unknown, disabled or wrong password). */
export async function authenticate(db: Db, name: string, password: string): Promise<UserInfo | null> {
  const row = db.prepare("SELECT * FROM users WHERE name = ?").get(name) as UserRow | undefined;
  const ok = await verifyPassword(password, row?.password ?? null);
  if (!ok || row === undefined || row.disabled_at !== null || !isRole(row.role)) return null;
  return userInfo(row);
}

/** Opens a session for a user: the cookie value (returned once) and its CSRF token. */
export function createSession(
  db: Db,
  userPk: number,
  now = new Date(),
): { cookie: string; csrf: string; expiresAt: string } {
  const cookie = randomSecret();
  const csrf = randomSecret();
  const expiresAt = isoFromDate(new Date(now.getTime() + SESSION_TTL_MS));
  db.transaction(() => {
    // Expired sessions are dropped here, at each login, so the table stays as small as the live ones.
    db.prepare("DELETE FROM sessions WHERE expires_at <= ?").run(isoFromDate(now));
    db.prepare(
      "INSERT INTO sessions (hash, user_pk, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    ).run(secretHash(cookie), userPk, csrf, isoFromDate(now), expiresAt);
  })();
  return { cookie, csrf, expiresAt };
}

/** The principal of a session cookie, or null (unknown, expired, user removed or disabled). */
export function sessionPrincipal(db: Db, cookie: string, now = new Date()): Principal | null {
  if (cookie.length === 0 || cookie.length > 200) return null;
  const row = db
    .prepare(
      `SELECT u.pk AS pk, u.name AS name, u.role AS role, s.csrf AS csrf FROM sessions s JOIN users u ON u.pk = s.user_pk
       WHERE s.hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL`,
    )
    .get(secretHash(cookie), isoFromDate(now)) as
    { pk: number; name: string; role: string; csrf: string } | undefined;
  if (row === undefined || !isRole(row.role)) return null;
  return { kind: "session", name: row.name, role: row.role, csrf: row.csrf, pk: row.pk };
}

export function deleteSession(db: Db, cookie: string): void {
  db.prepare("DELETE FROM sessions WHERE hash = ?").run(secretHash(cookie));
}

// -------------------------------------------------------------------------------------- rate limit

/**
 * Failed logins per key (a client address, a user name) in a sliding window: after `max` failures within
 * `windowMs` the key is refused until the oldest failure leaves the window. Counting by name too stops a
 * guesser that spreads over many addresses; counting by address stops one that tries many names. The
 * table is bounded (`maxKeys`): the stalest keys are forgotten first.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly max = 5,
    readonly windowMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** Milliseconds until `key` may try again, or 0 when it may now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const list = this.recent(key, now);
    if (list.length < this.max) return 0;
    return list[list.length - this.max]! + this.windowMs - now;
  }

  fail(key: string, now = Date.now()): void {
    const list = this.recent(key, now);
    list.push(now);
    this.failures.delete(key);
    this.failures.set(key, list.slice(-this.max));
    while (this.failures.size > this.maxKeys) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
  }

  /** Takes back one failure recorded at `at` (an attempt counted before its check, which succeeded). */
  forgive(key: string, at: number): void {
    const list = this.failures.get(key);
    if (list === undefined) return;
    const i = list.lastIndexOf(at);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.failures.delete(key);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    return list;
  }
}
