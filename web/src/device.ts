/**
 * `#/devices/{pk}` — everything the sensor knows of one device: identity, equipment, DICOM (AE titles and
 * their roles, ports, implementation and toolkit, TLS), the operating system and its evidence, remote-access
 * services, the equipment its datasets named; its findings, its peers (linked to their own pages where the
 * central knows them) and its history: what changed between the sensor's revisions (drift: a new AE title,
 * software version, listening port or peer is what the team must notice). The whole record is at the end,
 * as the sensor published it.
 */
import { h, replace, type Child } from "./dom.js";
import { api, type DeviceDetail, type DriftRow, type FindingRow } from "./api.js";
import { href } from "./router.js";
import { age, dateTime, list, num, orDash, plural, timeEl } from "./format.js";
import {
  chips,
  empty,
  errorBox,
  exposureBadge,
  fields,
  loading,
  pageHeader,
  section,
  severityBadge,
  smallTable,
  stateBadge,
} from "./ui.js";

type Rec = Record<string, unknown>;

const str = (v: unknown): string | null =>
  typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : null;
const obj = (v: unknown): Rec | null =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Rec) : null;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function findingsTable(findings: FindingRow[]): HTMLElement {
  return smallTable(
    ["Severity", "Finding", "Rule", "State", "Count", "Last seen"],
    findings.map((f) => [
      severityBadge(f.severity),
      h("a", { href: href(`/findings/${f.pk}`) }, f.title),
      h("span", { class: "mono small" }, f.rule),
      stateBadge(f.state),
      num(f.count),
      h("span", { title: f.lastSeen }, age(f.lastSeen)),
    ]),
    [4],
  );
}

function identity(d: DeviceDetail, r: Rec): HTMLElement {
  return section(
    "Identity",
    fields([
      ["IP address", h("span", { class: "mono" }, d.ip ?? str(r.ip) ?? "—")],
      ["MAC address", str(r.mac) ? h("span", { class: "mono" }, str(r.mac)) : null],
      ["Host name", str(r.hostName)],
      [
        "Class",
        d.class
          ? [
              h("strong", null, d.class),
              str(r.classReason) ? h("span", { class: "muted" }, ` — ${str(r.classReason)}`) : null,
            ]
          : null,
      ],
      ["Exposure", exposureBadge(d.exposure)],
      ["Sensor", `${d.site} / ${d.sensor}`],
      ["Device id", h("span", { class: "mono small" }, d.id)],
      ["First seen", timeEl(d.firstSeen ?? str(r.firstSeen))],
      [
        "Last seen",
        [
          timeEl(d.lastSeen ?? str(r.lastSeen)),
          h("span", { class: "muted" }, ` (${age(d.lastSeen ?? str(r.lastSeen))})`),
        ],
      ],
    ]),
  );
}

function equipment(r: Rec): HTMLElement {
  return section(
    "Equipment",
    fields(
      [
        ["Modality", str(r.modality)],
        ["Manufacturer", str(r.manufacturer)],
        ["Model", str(r.model)],
        ["Station name", str(r.stationName)],
        ["Software versions", list(r.softwareVersions).length ? chips(list(r.softwareVersions)) : null],
        ["Serial number", str(r.serialNumber)],
        ["Institution", str(r.institutionName)],
      ],
      true,
    ),
  );
}

/** AE titles with their roles where the record says, and any title it lists without roles. */
function aeChips(aeRoles: Rec[], aeTitles: string[]): Child {
  const withRoles = new Set(aeRoles.map((a) => str(a.aeTitle)));
  const chipsOut: Child[] = aeRoles.map((a) =>
    h(
      "span",
      { class: "chip" },
      str(a.aeTitle) ?? "?",
      h("span", { class: "chip-note" }, ` ${list(a.roles).join("/")}`),
    ),
  );
  for (const ae of aeTitles) if (!withRoles.has(ae)) chipsOut.push(h("span", { class: "chip" }, ae));
  return chipsOut.length ? chipsOut : null;
}

function dicom(r: Rec): HTMLElement {
  const impl = obj(r.implementation);
  const tk = obj(r.toolkit);
  const aeRoles = arr(r.aeRoles)
    .map(obj)
    .filter((x): x is Rec => x !== null);
  const tls = arr(r.tlsServices)
    .map(obj)
    .filter((x): x is Rec => x !== null);
  return section(
    "DICOM",
    fields([
      ["AE titles", aeChips(aeRoles, list(r.aeTitles))],
      ["Roles", list(r.roles).join(", ") || null],
      ["Listening ports", list(r.listeningPorts).length ? chips(list(r.listeningPorts)) : null],
      ["DICOM ports", list(r.dicomPorts).length ? chips(list(r.dicomPorts)) : null],
      [
        "TLS",
        tls.length
          ? tls.map((t) =>
              h(
                "div",
                { class: "small" },
                Object.entries(t)
                  .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
                  .join(" · "),
              ),
            )
          : h("span", { class: "muted" }, "no TLS seen"),
      ],
      [
        "Toolkit",
        tk
          ? [
              h("strong", null, [str(tk.name), str(tk.version)].filter(Boolean).join(" ")),
              str(tk.source) ? h("div", { class: "muted small wrap" }, str(tk.source)) : null,
            ]
          : null,
      ],
      [
        "Implementation class",
        impl && str(impl.implementationClassUid)
          ? h("span", { class: "mono" }, str(impl.implementationClassUid))
          : null,
      ],
      ["Implementation version", impl ? str(impl.implementationVersionName) : null],
      [
        "SOP classes",
        list(r.sopClasses).length
          ? h(
              "details",
              null,
              h("summary", null, plural(list(r.sopClasses).length, "SOP class", "SOP classes")),
              h("div", { class: "mono small uid-list" }, list(r.sopClasses).join("\n")),
            )
          : null,
      ],
      [
        "Transfer syntaxes",
        list(r.transferSyntaxes).length
          ? h(
              "details",
              null,
              h(
                "summary",
                null,
                plural(list(r.transferSyntaxes).length, "transfer syntax", "transfer syntaxes"),
              ),
              h("div", { class: "mono small uid-list" }, list(r.transferSyntaxes).join("\n")),
            )
          : null,
      ],
    ]),
  );
}

function os(r: Rec): HTMLElement | null {
  const o = obj(r.os);
  if (!o) return null;
  const cves = arr(o.wormableCves).map((c) =>
    typeof c === "string" ? c : (str(obj(c)?.id) ?? str(obj(c)?.cve) ?? JSON.stringify(c)),
  );
  const evidence = arr(o.evidence)
    .map(obj)
    .filter((x): x is Rec => x !== null);
  const eos = str(o.endOfSupport);
  return section(
    "Operating system",
    fields([
      [
        "System",
        [str(o.name) ?? str(o.family), str(o.version), str(o.edition)].filter(Boolean).join(" ") || null,
      ],
      ["Build", str(o.build)],
      ["Server edition", o.server === null || o.server === undefined ? null : o.server ? "yes" : "no"],
      ["Confidence", str(o.confidence)],
      [
        "End of support",
        eos
          ? h(
              "span",
              { class: new Date(eos).getTime() < Date.now() ? "bad-text" : null },
              eos,
              str(o.supportNote) ? h("div", { class: "muted small" }, str(o.supportNote)) : null,
            )
          : null,
      ],
      ["Wormable CVEs", cves.length ? chips(cves, "chip chip-bad") : null],
      ["Conflicting evidence", [...list(o.conflicts), ...list(o.versionConflicts)].join(", ") || null],
      [
        "Evidence",
        evidence.length
          ? h(
              "ul",
              { class: "plain small" },
              evidence.map((e) =>
                h(
                  "li",
                  null,
                  h("span", { class: "muted" }, `${str(e.source) ?? ""}: `),
                  str(e.detail) ?? "",
                  str(e.time) ? h("span", { class: "muted" }, ` (${dateTime(str(e.time))})`) : null,
                ),
              ),
            )
          : null,
      ],
    ]),
  );
}

function remoteAccess(r: Rec): HTMLElement | null {
  const rows = arr(r.remoteAccess)
    .map(obj)
    .filter((x): x is Rec => x !== null);
  if (rows.length === 0) return null;
  return section(
    "Remote access",
    smallTable(
      ["Protocol", "Port", "Role", "Security", "Login in clear", "Peers", "Last seen"],
      rows.map((x) => [
        h("strong", null, str(x.protocol) ?? "?"),
        str(x.port) ?? "—",
        str(x.role) ?? "—",
        orDash(x.security),
        x.loginInClear === true ? h("span", { class: "bad-text" }, "yes") : "no",
        h(
          "span",
          { class: "mono small" },
          list(x.peers).slice(0, 5).join(", ") + (list(x.peers).length > 5 ? " …" : ""),
        ),
        h("span", { title: str(x.lastSeen) ?? "" }, age(str(x.lastSeen))),
      ]),
    ),
  );
}

function equipmentSeen(r: Rec): HTMLElement | null {
  const rows = arr(r.equipmentSeen)
    .map(obj)
    .filter((x): x is Rec => x !== null);
  if (rows.length === 0) return null;
  return section(
    h(
      "span",
      null,
      "Equipment named in its datasets ",
      h("span", { class: "muted small" }, "(not necessarily itself: an archive forwards others' images)"),
    ),
    smallTable(
      ["Modality", "Manufacturer", "Model", "Station", "Software", "Datasets", "Last seen"],
      rows.map((x) => [
        orDash(x.modality),
        orDash(x.manufacturer),
        orDash(x.model),
        orDash(x.stationName),
        list(x.softwareVersions).join(", ") || "—",
        num(Number(x.count)),
        h("span", { title: str(x.lastSeen) ?? "" }, age(str(x.lastSeen))),
      ]),
      [5],
    ),
  );
}

function peers(d: DeviceDetail): HTMLElement {
  if (d.peers.length === 0) return section("Peers", empty("No DICOM peer seen yet."));
  return section(
    h("span", null, "Peers ", h("span", { class: "muted small" }, `${d.peers.length}`)),
    smallTable(
      ["Peer", "AE titles", "Device id"],
      d.peers.map((p) => {
        const label = str(p.ip) ?? p.id;
        return [
          p.pk !== null && p.pk !== undefined
            ? h("a", { href: href(`/devices/${p.pk}`), class: "mono" }, label)
            : h("span", { class: "mono", title: "Not in the central's inventory" }, label),
          h("span", { class: "mono" }, list(p.aeTitles).join(", ") || "—"),
          h("span", { class: "mono small muted" }, p.id),
        ];
      }),
    ),
  );
}

const CHANGE_CLASS: Record<string, string> = {
  added: "drift-added",
  removed: "drift-removed",
  changed: "drift-changed",
};

function history(rows: DriftRow[]): HTMLElement {
  if (rows.length === 0) {
    return section(
      "History",
      empty(
        "No change recorded.",
        "Changes between the sensor's revisions of this record (drift) appear here: a new AE title, software version, listening port or peer.",
      ),
    );
  }
  const sorted = [...rows].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  return section(
    h(
      "span",
      null,
      "History ",
      h("span", { class: "muted small" }, "what changed between the sensor's revisions"),
    ),
    smallTable(
      ["When", "Field", "Change", "Value", "Before"],
      sorted.map((x) => [
        timeEl(x.at),
        x.field,
        h("span", { class: `drift ${CHANGE_CLASS[x.change] ?? ""}` }, x.change),
        h("span", { class: "mono" }, x.value),
        x.previous ? h("span", { class: "mono muted" }, x.previous) : orDash(null),
      ]),
    ),
  );
}

export function devicePage(root: HTMLElement, pk: string): () => void {
  const controller = new AbortController();
  replace(root, pageHeader("Device"), loading());
  void api
    .device(pk, controller.signal)
    .then((d) => {
      if (controller.signal.aborted) return;
      const r = d.record ?? {};
      const aes = list(d.aeTitles).length ? list(d.aeTitles) : list(r.aeTitles);
      const title = h(
        "span",
        null,
        h("span", { class: "mono" }, d.ip ?? d.id),
        aes.length ? h("span", { class: "title-note mono" }, aes.join(", ")) : null,
      );
      const open = d.findings.filter((f) => f.state !== "resolved");
      replace(
        root,
        h("nav", { class: "crumbs" }, h("a", { href: "#/devices" }, "Devices"), " / ", d.ip ?? d.id),
        pageHeader(
          title,
          d.class ? h("span", { class: "tag" }, d.class) : null,
          exposureBadge(d.exposure),
          open.length
            ? h(
                "a",
                { class: "count-badge", href: href("/findings", { device: d.pk, state: "any" }) },
                `${open.length} open`,
              )
            : null,
        ),
        h(
          "div",
          { class: "cols-2" },
          h("div", null, identity(d, r), dicom(r)),
          h("div", null, equipment(r), os(r), remoteAccess(r)),
        ),
        section(
          h(
            "span",
            null,
            "Findings ",
            h("span", { class: "muted small" }, `${open.length} open of ${d.findings.length}`),
          ),
          d.findings.length ? findingsTable(d.findings) : empty("No finding for this device."),
        ),
        h("div", { class: "cols-2" }, peers(d), history(d.history ?? [])),
        equipmentSeen(r),
        section(
          "Record",
          h(
            "details",
            null,
            h("summary", null, "The device record as the sensor published it (JSON)"),
            h("pre", { class: "json" }, JSON.stringify(r, null, 2)),
          ),
        ),
      );
      document.title = `${d.ip ?? d.id} · dicomtap central`;
    })
    .catch((err: unknown) => {
      if (controller.signal.aborted) return;
      replace(
        root,
        h("nav", { class: "crumbs" }, h("a", { href: "#/devices" }, "Devices")),
        pageHeader("Device"),
        errorBox(err),
      );
    });
  return () => controller.abort();
}
