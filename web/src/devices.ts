/**
 * `#/devices` — the inventory: every device of every sensor in one server-paged table, searchable (IP, MAC,
 * AE titles, manufacturer, model, toolkit, station and host names, ports: the API's `q`), filterable by
 * class, exposure, sensor, modality, manufacturer, toolkit, AE title and port, sortable by any column, and
 * exportable as CSV or JSON with the same filters (for the hospital's asset database).
 */
import { h } from "./dom.js";
import { api, apiUrl, itemsOf, type DeviceRow, type Sensor } from "./api.js";
import { href } from "./router.js";
import { age, list, num, orDash } from "./format.js";
import { pagedTable, type Filter } from "./table.js";
import { exposureBadge, pageHeader } from "./ui.js";

export const CLASSES: [string, string][] = [
  ["", "Any class"],
  ["modality", "Modality"],
  ["archive", "Archive"],
  ["workstation", "Workstation"],
  ["unknown", "Unknown"],
  ["other", "Other"],
];

/** The sensor filter's options, as "site/sensor" would be ambiguous to the API: the sensor id alone. */
export async function sensorOptions(signal: AbortSignal): Promise<[string, string][]> {
  try {
    const sensors = itemsOf<Sensor>(await api.sensors(signal));
    const ids = [...new Set(sensors.map((x) => x.sensor))].sort();
    return [["", "Any sensor"], ...ids.map((id): [string, string] => [id, id])];
  } catch {
    return [["", "Any sensor"]];
  }
}

export function devicesPage(root: HTMLElement, params: URLSearchParams): () => void {
  const controller = new AbortController();
  const tableRoot = h("div");
  root.replaceChildren(pageHeader("Devices"), tableRoot);
  let stop: () => void = () => undefined;

  void sensorOptions(controller.signal).then((sensorOpts) => {
    if (controller.signal.aborted) return;
    const filters: Filter[] = [
      { key: "class", label: "Class", options: CLASSES },
      {
        key: "exposure",
        label: "Exposure",
        options: [
          ["", "Any exposure"],
          ["external", "External peer"],
          ["internal", "Internal only"],
        ],
      },
      { key: "sensor", label: "Sensor", options: sensorOpts },
      { key: "modality", label: "Modality", placeholder: "Modality", width: "narrow" },
      { key: "manufacturer", label: "Manufacturer", placeholder: "Manufacturer" },
      { key: "toolkit", label: "Toolkit", placeholder: "Toolkit" },
      { key: "ae", label: "AE title", placeholder: "AE title" },
      { key: "port", label: "Listening port", placeholder: "Port", width: "narrow" },
    ];
    stop = pagedTable<DeviceRow>(tableRoot, {
      params,
      filters,
      searchLabel: "Search IP, MAC, AE title, model… ( / )",
      defaultSort: "-lastSeen",
      fetch: (q, signal) => api.devices(q, signal),
      rowHref: (d) => href(`/devices/${d.pk}`),
      rowClass: (d) => (d.exposure === "external" ? "row-external" : ""),
      exports: (q) => [
        ["CSV", apiUrl("/devices.csv", q)],
        ["JSON", apiUrl("/devices.json", q)],
      ],
      noun: ["device", "devices"],
      emptyHint:
        "Devices appear when a sensor publishes its inventory (dicomtap/v1/{site}/{sensor}/devices/{id}).",
      columns: [
        {
          label: "IP",
          sort: "ip",
          cell: (d) => h("span", { class: "mono" }, d.ip ?? d.id),
          className: "nowrap",
        },
        {
          label: "AE titles",
          sort: "aeTitles",
          className: "nowrap",
          cell: (d) => {
            const aes = list(d.aeTitles);
            return aes.length === 0
              ? orDash(null)
              : h(
                  "span",
                  { class: "mono", title: aes.join(", ") },
                  aes.slice(0, 3).join(", "),
                  aes.length > 3 ? ` +${aes.length - 3}` : "",
                );
          },
        },
        { label: "Class", sort: "class", cell: (d) => orDash(d.class) },
        { label: "Mod.", sort: "modality", cell: (d) => orDash(d.modality), title: "Modality" },
        {
          label: "Manufacturer / model",
          sort: "manufacturer",
          cell: (d) =>
            d.manufacturer || d.model
              ? [d.manufacturer ?? "", d.model ? h("span", { class: "muted" }, ` ${d.model}`) : ""]
              : orDash(null),
        },
        { label: "Toolkit", sort: "toolkit", cell: (d) => orDash(d.toolkit) },
        {
          label: "Ports",
          sort: "ports",
          cell: (d) => {
            const ports = list(d.ports);
            return ports.length === 0
              ? orDash(null)
              : h(
                  "span",
                  { class: "mono", title: ports.join(" ") },
                  ports.slice(0, 4).join(" "),
                  ports.length > 4 ? " …" : "",
                );
          },
        },
        { label: "Peers", sort: "peerCount", cell: (d) => num(d.peerCount), className: "num" },
        { label: "Exposure", sort: "exposure", cell: (d) => exposureBadge(d.exposure) },
        {
          label: "Open",
          sort: "openFindings",
          title: "Open findings",
          className: "num",
          cell: (d) =>
            d.openFindings > 0
              ? h("span", { class: "count-badge" }, num(d.openFindings))
              : h("span", { class: "muted" }, "0"),
        },
        {
          label: "Sensor",
          sort: "sensor",
          cell: (d) => h("span", { title: `${d.site}/${d.sensor}` }, d.sensor),
          className: "nowrap",
        },
        {
          label: "Last seen",
          sort: "lastSeen",
          cell: (d) => h("span", { title: d.lastSeen ?? "" }, age(d.lastSeen)),
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
