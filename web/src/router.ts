/**
 * Hash routes (`#/devices?q=orthanc&sort=-lastSeen`): the page and its filters live in the address, so
 * Back and Forward work, a view can be bookmarked or pasted to a colleague, and a reload comes back to it.
 * Pages change their own query with `replaceQuery`, which rewrites the address without a new history entry
 * or a re-render (typing in a search box must not rebuild the page under the cursor).
 */

export interface Route {
  /** Path segments: "#/devices/12" → ["devices", "12"]. */
  path: string[];
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const raw = location.hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? "" : raw.slice(q + 1);
  const path = pathPart
    .split("/")
    .filter((x) => x !== "")
    .map((x) => decodeURIComponent(x));
  return { path, params: new URLSearchParams(query) };
}

/** "#/devices?q=x" from a path and the non-empty params. */
export function href(
  path: string,
  params: Record<string, string | number | null | undefined> | URLSearchParams = {},
): string {
  const qs = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? [...params.entries()] : Object.entries(params);
  for (const [k, v] of entries) {
    if (v !== null && v !== undefined && v !== "") qs.set(k, String(v));
  }
  const q = qs.toString();
  return `#${path}${q ? `?${q}` : ""}`;
}

export function navigate(
  path: string,
  params: Record<string, string | number | null | undefined> = {},
): void {
  location.hash = href(path, params).slice(1);
}

/** Rewrites the current route's query in place (no history entry, no hashchange, no re-render). */
export function replaceQuery(params: URLSearchParams): void {
  const route = currentRoute();
  const path = `/${route.path.map(encodeURIComponent).join("/")}`;
  history.replaceState(history.state, "", href(path, params));
}
