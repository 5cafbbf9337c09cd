/**
 * `#/exports` — the inventory and the findings as files for the hospital's asset database and for auditors:
 * CSV (RFC 4180; cells that a spreadsheet would run as a formula are neutralised by the server) and JSON,
 * the whole store with no paging limit. The lists' own Export buttons carry their filters; here are the
 * common cuts, and how a script fetches the same with an API token.
 */
import { h, replace } from "./dom.js";
import { apiUrl } from "./api.js";
import { pageHeader, section } from "./ui.js";

function row(label: string, note: string, path: string, query: Record<string, string> = {}): HTMLElement {
  return h(
    "tr",
    null,
    h("th", { scope: "row" }, label, h("div", { class: "muted small" }, note)),
    h("td", null, h("a", { class: "button small", href: apiUrl(`${path}.csv`, query), download: "" }, "CSV")),
    h(
      "td",
      null,
      h("a", { class: "button small", href: apiUrl(`${path}.json`, query), download: "" }, "JSON"),
    ),
  );
}

export function exportsPage(root: HTMLElement): () => void {
  const origin = location.origin;
  replace(
    root,
    pageHeader("Exports"),
    section(
      "Files",
      h(
        "table",
        { class: "grid exports-table" },
        h("tbody", null, [
          row("Inventory", "Every device of every sensor", "/devices"),
          row("Devices with an external peer", "Exposure: external", "/devices", { exposure: "external" }),
          row("Open findings", "State open (not yet acknowledged or accepted)", "/findings", {
            state: "open",
          }),
          row("All findings", "Every state, resolved included: for audits", "/findings", { state: "any" }),
        ]),
      ),
      h("p", { class: "muted small" }, "The Devices and Findings pages export what their filters show."),
    ),
    section(
      "From a script",
      h(
        "p",
        null,
        "Create an API token (",
        h("code", null, "dicomtap central token add NAME --role viewer --config FILE"),
        " or Admin › Tokens), then:",
      ),
      h(
        "pre",
        { class: "code" },
        `curl -fsS -H "Authorization: Bearer $TOKEN" \\\n  ${origin}/api/v1/devices.csv > inventory.csv`,
      ),
      h(
        "p",
        { class: "muted small" },
        "The API is described at ",
        h("a", { href: "/api/v1/openapi.json" }, "/api/v1/openapi.json"),
        ".",
      ),
    ),
  );
  return () => undefined;
}
