/**
 * `#/findings` — every finding of every sensor, server-paged: open ones first by default (what the team
 * works from), filterable by state, severity, remediation step, rule, sensor and device, searchable, sortable,
 * and exportable as CSV or JSON with the same filters.
 */
import { h } from "./dom.js";
import { api, apiUrl, SEVERITIES, STEPS, stepLabel, stepShort, type FindingRow } from "./api.js";
import { href } from "./router.js";
import { age, num } from "./format.js";
import { pagedTable, type Filter } from "./table.js";
import { pageHeader, severityBadge, stateBadge } from "./ui.js";
import { sensorOptions } from "./devices.js";

export const STATES: [string, string][] = [
  ["open", "Open"],
  ["acknowledged", "Acknowledged"],
  ["risk-accepted", "Risk accepted"],
  ["resolved", "Resolved"],
  ["unresolved", "Unresolved (open, acknowledged, accepted)"],
  ["any", "Any state"],
];

export function findingsPage(root: HTMLElement, params: URLSearchParams): () => void {
  const controller = new AbortController();
  const tableRoot = h("div");
  root.replaceChildren(pageHeader("Findings"), tableRoot);
  let stop: () => void = () => undefined;

  void sensorOptions(controller.signal).then((sensorOpts) => {
    if (controller.signal.aborted) return;
    const filters: Filter[] = [
      { key: "state", label: "State", options: STATES },
      {
        key: "severity",
        label: "Severity",
        options: [["", "Any severity"], ...SEVERITIES.map((x): [string, string] => [x, x])],
      },
      {
        key: "step",
        label: "Remediation step",
        options: [["", "Any step"], ...STEPS.map((x): [string, string] => [x.id, x.short])],
      },
      { key: "sensor", label: "Sensor", options: sensorOpts },
      { key: "rule", label: "Rule", placeholder: "Rule, e.g. dicom.cleartext" },
      { key: "device", label: "Device (pk or sensor's device id)", placeholder: "Device", width: "narrow" },
    ];
    stop = pagedTable<FindingRow>(tableRoot, {
      params,
      filters,
      defaults: { state: "open" },
      searchLabel: "Search titles, rules, devices… ( / )",
      defaultSort: "-severity",
      fetch: (q, signal) => api.findings(q, signal),
      rowHref: (f) => href(`/findings/${f.pk}`),
      rowClass: (f) => `row-${f.state}`,
      exports: (q) => [
        ["CSV", apiUrl("/findings.csv", q)],
        ["JSON", apiUrl("/findings.json", q)],
      ],
      noun: ["finding", "findings"],
      emptyHint:
        "Findings appear as sensors raise them; resolved ones are under the state filter's “Resolved”.",
      columns: [
        { label: "Severity", sort: "severity", cell: (f) => severityBadge(f.severity) },
        {
          label: "Finding",
          sort: "title",
          cell: (f) => h("span", { class: "finding-title", title: f.title }, f.title),
          className: "wide",
        },
        {
          label: "Rule",
          sort: "rule",
          cell: (f) => h("span", { class: "mono small" }, f.rule),
          className: "nowrap",
        },
        {
          label: "State",
          sort: "state",
          className: "nowrap",
          cell: (f) => [
            stateBadge(f.state),
            f.assignee ? h("span", { class: "muted small", title: "Assignee" }, ` → ${f.assignee}`) : null,
          ],
        },
        {
          label: "Step",
          sort: "step",
          cell: (f) => h("span", { class: "small", title: stepLabel(f.step) }, stepShort(f.step)),
          className: "nowrap",
        },
        {
          label: "Device",
          sort: "device",
          cell: (f) =>
            f.devicePk !== null && f.devicePk !== undefined
              ? h(
                  "a",
                  { href: href(`/devices/${f.devicePk}`), class: "mono small", title: f.device ?? "" },
                  deviceLabel(f.device),
                )
              : h("span", { class: "mono small muted", title: f.device ?? "" }, deviceLabel(f.device)),
        },
        {
          label: "Sensor",
          sort: "sensor",
          cell: (f) => h("span", { title: `${f.site}/${f.sensor}` }, f.sensor),
          className: "nowrap",
        },
        { label: "Count", sort: "count", cell: (f) => num(f.count), className: "num" },
        {
          label: "Last seen",
          sort: "lastSeen",
          cell: (f) => h("span", { title: f.lastSeen }, age(f.lastSeen)),
          className: "nowrap",
        },
      ],
    });
  });

  return () => {
    controller.abort();
    stop();
  };
}

/** A sensor's device id ("mac-ca8d87f44b73-10.77.0.10") shown by its address, the part people recognise. */
export function deviceLabel(id: string | null): string {
  if (!id) return "—";
  const m = /^mac-[0-9a-f]{12}-(.+)$/.exec(id);
  return m ? m[1]! : id;
}
