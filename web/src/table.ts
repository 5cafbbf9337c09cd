/**
 * The server-paged list behind the devices and findings pages. With 10 000 devices and 50 000 findings the
 * browser never holds more than one page: search, filters, sort and paging are query parameters of the
 * API (`q`, the filters, `sort` with a `-` for descending, `limit`, `offset`), mirrored in the address so a
 * view can be shared. Typing is debounced and a request still running when the next starts is aborted, so
 * an answer never lands on a view that has moved on.
 *
 * Keyboard: `/` focuses the search box (main.ts), each row's first cell is a link (Tab, Enter), column
 * headers are buttons that sort, and the pager's buttons are reachable in order.
 */
import { h, replace, type Child } from "./dom.js";
import type { Page } from "./api.js";
import { replaceQuery } from "./router.js";
import { num } from "./format.js";
import { empty, errorBox } from "./ui.js";

export interface Column<T> {
  label: string;
  /** The API's sort key; no sort button without it. */
  sort?: string;
  cell: (row: T) => Child;
  className?: string;
  title?: string;
}

export interface Filter {
  key: string;
  label: string;
  /** A select's options as [value, label]; a text box without them. */
  options?: [string, string][];
  placeholder?: string;
  width?: "narrow" | "wide";
}

export interface TableOptions<T> {
  params: URLSearchParams;
  columns: Column<T>[];
  filters: Filter[];
  searchLabel: string;
  defaultSort: string;
  /** Values a param takes when absent from the address (e.g. state=open). */
  defaults?: Record<string, string>;
  fetch: (query: Record<string, string | number>, signal: AbortSignal) => Promise<Page<T>>;
  rowHref: (row: T) => string;
  rowClass?: (row: T) => string;
  /** Links (CSV, JSON) built from the current filters. */
  exports?: (query: Record<string, string>) => [string, string][];
  noun: [string, string];
  emptyHint: Child;
}

const PAGE_SIZES = [50, 100, 200, 500];

/** Builds the table into `root` and keeps it in step with its query; returns a function that stops it. */
export function pagedTable<T>(root: HTMLElement, o: TableOptions<T>): () => void {
  const state = new URLSearchParams(o.params);
  for (const [k, v] of Object.entries(o.defaults ?? {})) if (!state.has(k)) state.set(k, v);
  let controller: AbortController | null = null;
  let timer: number | undefined;
  let stopped = false;

  const get = (k: string): string => state.get(k) ?? "";
  const limit = (): number => {
    const n = Number(get("limit"));
    return PAGE_SIZES.includes(n) ? n : 50;
  };
  const offset = (): number => Math.max(0, Math.floor(Number(get("offset")) || 0));

  const search = h("input", {
    type: "search",
    class: "search",
    placeholder: o.searchLabel,
    "aria-label": o.searchLabel,
    "data-search": "",
    value: get("q"),
    autocomplete: "off",
    spellcheck: "false",
  });
  search.addEventListener("input", () => {
    set("q", search.value.trim(), 250);
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && search.value !== "") {
      search.value = "";
      set("q", "", 0);
    }
  });

  const filterEls = o.filters.map((f) => {
    let el: HTMLInputElement | HTMLSelectElement;
    if (f.options) {
      el = h(
        "select",
        { "aria-label": f.label, title: f.label },
        f.options.map(([value, label]) => h("option", { value }, label)),
      );
      el.value = get(f.key);
      el.addEventListener("change", () => set(f.key, el.value, 0));
    } else {
      el = h("input", {
        type: "text",
        class: f.width === "narrow" ? "narrow" : f.width === "wide" ? "wide" : null,
        placeholder: f.placeholder ?? f.label,
        "aria-label": f.label,
        title: f.label,
        value: get(f.key),
        autocomplete: "off",
        spellcheck: "false",
      });
      el.addEventListener("input", () => set(f.key, el.value.trim(), 300));
    }
    return { f, el };
  });

  const clear = h(
    "button",
    { type: "button", class: "link-button", title: "Clear the search and every filter" },
    "Clear",
  );
  clear.addEventListener("click", () => {
    search.value = "";
    for (const { f, el } of filterEls) {
      el.value = o.defaults?.[f.key] ?? "";
    }
    for (const k of [...state.keys()]) if (k !== "sort" && k !== "limit") state.delete(k);
    for (const [k, v] of Object.entries(o.defaults ?? {})) state.set(k, v);
    schedule(0);
  });

  const exportsBox = h("span", { class: "exports" });
  const summary = h("span", { class: "summary", "aria-live": "polite" });
  const footSummary = h("span", { class: "summary" });
  const body = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });

  replace(
    root,
    h(
      "div",
      { class: "toolbar" },
      search,
      filterEls.map(({ el }) => el),
      clear,
    ),
    h("div", { class: "toolbar-2" }, summary, h("span", { class: "spacer" }), exportsBox),
    body,
    h("div", { class: "table-foot" }, footSummary, pager),
  );

  function set(key: string, value: string, delay: number): void {
    if (value === "") state.delete(key);
    else state.set(key, value);
    state.delete("offset");
    schedule(delay);
  }

  function schedule(delay: number): void {
    window.clearTimeout(timer);
    if (delay === 0) void load();
    else timer = window.setTimeout(() => void load(), delay);
  }

  function query(): Record<string, string | number> {
    const q: Record<string, string | number> = {};
    for (const [k, v] of state.entries()) if (v !== "") q[k] = v;
    q.sort = get("sort") || o.defaultSort;
    q.limit = limit();
    q.offset = offset();
    return q;
  }

  function renderExports(): void {
    if (!o.exports) return;
    const q: Record<string, string> = {};
    for (const [k, v] of state.entries()) if (k !== "limit" && k !== "offset" && v !== "") q[k] = v;
    replace(
      exportsBox,
      "Export ",
      o.exports(q).map(([label, url]) => h("a", { href: url, class: "button small", download: "" }, label)),
    );
  }

  function header(): HTMLElement {
    const sort = get("sort") || o.defaultSort;
    const key = sort.replace(/^-/, "");
    const desc = sort.startsWith("-");
    return h(
      "thead",
      null,
      h(
        "tr",
        null,
        o.columns.map((c) => {
          if (!c.sort)
            return h("th", { class: c.className ?? null, scope: "col", title: c.title ?? null }, c.label);
          const active = c.sort === key;
          const btn = h(
            "button",
            {
              type: "button",
              class: `sort${active ? " active" : ""}`,
              title: c.title ?? `Sort by ${c.label.toLowerCase()}`,
            },
            c.label,
            active ? h("span", { class: "arrow", "aria-hidden": "true" }, desc ? "▼" : "▲") : null,
          );
          btn.addEventListener("click", () => {
            // A first click on a time or count column sorts newest/largest first: what one looks for.
            const next = active
              ? desc
                ? c.sort!
                : `-${c.sort!}`
              : `${/seen|count|findings|severity|at$/i.test(c.sort!) ? "-" : ""}${c.sort!}`;
            set("sort", next, 0);
          });
          return h(
            "th",
            {
              class: c.className ?? null,
              scope: "col",
              "aria-sort": active ? (desc ? "descending" : "ascending") : null,
            },
            btn,
          );
        }),
      ),
    );
  }

  function row(item: T): HTMLElement {
    const link = o.rowHref(item);
    const tr = h(
      "tr",
      { class: o.rowClass?.(item) ?? null },
      o.columns.map((c, i) => {
        const content = c.cell(item);
        return h(
          "td",
          { class: c.className ?? null },
          i === 0 ? h("a", { href: link, class: "row-link" }, content) : content,
        );
      }),
    );
    // The whole row is a target for the mouse; the first cell's link is the keyboard's.
    tr.addEventListener("click", (e) => {
      const t = e.target as HTMLElement;
      if (t.closest("a, button, input, select") || window.getSelection()?.toString()) return;
      location.hash = link.slice(1);
    });
    return tr;
  }

  function renderPager(page: Page<T>): void {
    const lim = page.limit || limit();
    const off = page.offset || 0;
    const first = page.total === 0 ? 0 : off + 1;
    const last = Math.min(off + page.items.length, page.total);
    const text =
      page.total === 0
        ? ""
        : `${num(first)}–${num(last)} of ${num(page.total)} ${page.total === 1 ? o.noun[0] : o.noun[1]}`;
    replace(summary, text);
    replace(footSummary, text);
    const go = (to: number): void => {
      state.set("offset", String(Math.max(0, to)));
      if (to <= 0) state.delete("offset");
      schedule(0);
      body.scrollTop = 0;
    };
    const prev = h(
      "button",
      { type: "button", class: "button small", disabled: off <= 0, title: "Previous page" },
      "‹ Prev",
    );
    prev.addEventListener("click", () => go(off - lim));
    const next = h(
      "button",
      { type: "button", class: "button small", disabled: off + lim >= page.total, title: "Next page" },
      "Next ›",
    );
    next.addEventListener("click", () => go(off + lim));
    const size = h(
      "select",
      { "aria-label": "Rows per page", title: "Rows per page" },
      PAGE_SIZES.map((n) => h("option", { value: String(n) }, `${n} / page`)),
    );
    size.value = String(lim);
    size.addEventListener("change", () => set("limit", size.value === "50" ? "" : size.value, 0));
    const pages = Math.max(1, Math.ceil(page.total / lim));
    replace(
      pager,
      size,
      prev,
      h("span", { class: "page-no" }, `page ${num(Math.floor(off / lim) + 1)} of ${num(pages)}`),
      next,
    );
  }

  async function load(): Promise<void> {
    controller?.abort();
    const c = new AbortController();
    controller = c;
    replaceQuery(withoutDefaults());
    renderExports();
    body.classList.add("stale");
    try {
      const page = await o.fetch(query(), c.signal);
      if (stopped || c.signal.aborted) return;
      const items = page.items ?? [];
      if (items.length === 0 && (page.offset ?? 0) > 0 && page.total > 0) {
        // The filters shrank the list below this page: go back to its start.
        state.delete("offset");
        return load();
      }
      const table =
        items.length === 0
          ? empty(
              [...state.keys()].some((k) => k !== "sort" && k !== "limit" && state.get(k) !== o.defaults?.[k])
                ? `No ${o.noun[1]} match these filters.`
                : `No ${o.noun[1]} yet.`,
              o.emptyHint,
            )
          : h("table", { class: "grid" }, header(), h("tbody", null, items.map(row)));
      replace(body, table);
      renderPager(page);
    } catch (err) {
      if (c.signal.aborted || stopped) return;
      replace(body, errorBox(err));
      replace(pager);
      replace(summary);
      replace(footSummary);
    } finally {
      if (controller === c) body.classList.remove("stale");
    }
  }

  /** The address keeps only what differs from the defaults. */
  function withoutDefaults(): URLSearchParams {
    const p = new URLSearchParams();
    for (const [k, v] of state.entries()) {
      if (v === "" || (k === "sort" && v === o.defaultSort)) continue;
      p.set(k, v);
    }
    return p;
  }

  void load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    controller?.abort();
  };
}
