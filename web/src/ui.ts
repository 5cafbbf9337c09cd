/**
 * Small pieces every page uses: severity and state badges (one colour per severity across the whole
 * console), the page header, empty and error states, and a definition list for "everything known".
 */
import { h, type Child } from "./dom.js";
import type { FindingState, Severity } from "./api.js";
import { ApiError } from "./api.js";

export function severityBadge(sev: Severity | string): HTMLElement {
  return h("span", { class: `sev sev-${sev}` }, sev);
}

const STATE_LABEL: Record<FindingState, string> = {
  open: "open",
  acknowledged: "acknowledged",
  "risk-accepted": "risk accepted",
  resolved: "resolved",
};

export function stateBadge(state: FindingState | string): HTMLElement {
  return h("span", { class: `state state-${state}` }, STATE_LABEL[state as FindingState] ?? state);
}

export function exposureBadge(exposure: string | null | undefined): Child {
  if (exposure === "external")
    return h(
      "span",
      { class: "tag tag-warn", title: "A DICOM peer outside the internal networks" },
      "external",
    );
  return h("span", { class: "muted small" }, exposure ?? "internal");
}

export function pageHeader(title: Child, ...extra: Child[]): HTMLElement {
  return h(
    "header",
    { class: "page-head" },
    h("h1", null, title),
    h("div", { class: "page-head-extra" }, ...extra),
  );
}

/** An empty state: what is missing, and why that may be normal. */
export function empty(title: string, hint?: Child): HTMLElement {
  return h(
    "div",
    { class: "empty" },
    h("p", { class: "empty-title" }, title),
    hint ? h("p", { class: "empty-hint" }, hint) : null,
  );
}

export function errorBox(err: unknown): HTMLElement {
  let text: string;
  if (err instanceof ApiError) {
    text =
      err.status === 403
        ? "Your role does not allow this."
        : err.status === 404
          ? "Not found: it may have been removed by retention, or the address is wrong."
          : err.message;
  } else if (err instanceof Error) {
    text = err.name === "TypeError" ? "The central service cannot be reached." : err.message;
  } else {
    text = String(err);
  }
  return h("div", { class: "error", role: "alert" }, text);
}

export function loading(): HTMLElement {
  return h("div", { class: "loading", "aria-busy": "true" }, "Loading…");
}

/** A definition list of label/value pairs; null values are left out unless `keepEmpty`. */
export function fields(rows: [string, Child][], keepEmpty = false): HTMLElement {
  const dl = h("dl", { class: "fields" });
  for (const [label, value] of rows) {
    const emptyValue =
      value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0);
    if (emptyValue && !keepEmpty) continue;
    dl.append(h("dt", null, label), h("dd", null, emptyValue ? h("span", { class: "muted" }, "—") : value));
  }
  return dl;
}

export function section(title: Child, ...children: Child[]): HTMLElement {
  return h("section", { class: "panel" }, h("h2", null, title), ...children);
}

/** Chips of short values (AE titles, ports). */
export function chips(values: (string | number)[], className = "chip"): Child {
  if (values.length === 0) return h("span", { class: "muted" }, "—");
  return values.map((v) => h("span", { class: className }, String(v)));
}

/**
 * A compact table of rows of cells; the columns in `numeric` are right-aligned. Wrapped in a div of class
 * `wrap` (scrolls sideways when narrow), or bare when `wrap` is null (the page wraps it itself).
 */
export function smallTable(
  headers: Child[],
  rows: Child[][],
  numeric: number[] = [],
  wrap: string | null = "table-wrap",
): HTMLElement {
  const table = h(
    "table",
    { class: "grid compact" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        headers.map((x, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, x)),
      ),
    ),
    h(
      "tbody",
      null,
      rows.map((r) =>
        h(
          "tr",
          null,
          r.map((c, i) => h("td", { class: numeric.includes(i) ? "num" : null }, c)),
        ),
      ),
    ),
  );
  return wrap === null ? table : h("div", { class: wrap }, table);
}
