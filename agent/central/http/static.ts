/**
 * Serves the web application's files (issue 12, "no external network resources": every script, style and
 * icon comes from dicomtap itself): the static folder (index.html, app.css, favicon) and the compiled
 * scripts, looked up in a list of root folders in order.
 *
 * Only files under a root are served: the URL path is decoded once, must be made of plain segments (no
 * `..`, no dot-files, no backslash or NUL), and the resolved real path (symbolic links followed) must stay
 * inside the root's real path. Responses carry a strong ETag (SHA-256 of the content); a file whose name
 * holds a content hash (`app.3f2a9c1d.js`) is cached for a year as immutable, others are revalidated
 * (`no-cache`) so an upgrade shows at the next load.
 */
import { createHash } from "node:crypto";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { extname, join, sep } from "node:path";
import { hasControl } from "./params.js";

export const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

export interface StaticFile {
  body: Buffer;
  contentType: string;
  etag: string;
  cacheControl: string;
}

/** Largest file served (the app is a few hundred KiB; anything bigger is not ours). */
const MAX_FILE_BYTES = 8 << 20;

export class StaticFiles {
  private readonly roots: string[];
  private readonly cache = new Map<string, { mtimeMs: number; size: number; file: StaticFile }>();

  /** `roots`: folders searched in order; those that do not exist are skipped. */
  constructor(roots: readonly string[]) {
    this.roots = roots.flatMap((r) => {
      try {
        return statSync(r).isDirectory() ? [realpathSync(r)] : [];
      } catch {
        return [];
      }
    });
  }

  /** True when at least one root exists (else the server answers `/` with a hint to build the app). */
  get available(): boolean {
    return this.roots.length > 0;
  }

  /**
   * The file for a URL path (already without its query), or null: not found, or a path that is not a
   * plain relative file name. `/` is index.html.
   */
  lookup(urlPath: string): StaticFile | null {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return null;
    }
    if (decoded === "/") decoded = "/index.html";
    const segments = decoded.split("/").slice(1);
    if (segments.length === 0 || segments.length > 8) return null;
    for (const s of segments)
      if (s === "" || s.startsWith(".") || /[\\:]/.test(s) || hasControl(s) || s.length > 255) return null;
    const type = CONTENT_TYPES[extname(decoded).toLowerCase()];
    if (type === undefined) return null;
    for (const root of this.roots) {
      const path = join(root, ...segments);
      let real: string;
      try {
        real = realpathSync(path);
      } catch {
        continue;
      }
      if (!real.startsWith(root + sep)) continue;
      const st = statSync(real);
      if (!st.isFile() || st.size > MAX_FILE_BYTES) continue;
      const hit = this.cache.get(real);
      if (hit !== undefined && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.file;
      const body = readFileSync(real);
      const file: StaticFile = {
        body,
        contentType: type,
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
        cacheControl: /\.[0-9a-f]{8,}\.[a-z0-9]+$/.test(real)
          ? "public, max-age=31536000, immutable"
          : "no-cache",
      };
      this.cache.set(real, { mtimeMs: st.mtimeMs, size: st.size, file });
      return file;
    }
    return null;
  }
}
