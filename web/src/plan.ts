/**
 * `#/plan` and `#/plan/{site}` — the site's plan (issue 13): the five remediation steps the central builds
 * from what the site's sensors saw (their baselines merged, the devices and open findings), each a section
 * with its counts — 1 who reaches which server from outside and the firewall rules that close it, 2 the
 * ports to close, 3 and 4 per DICOM service the peers, AE titles and operations to allow, 5 the cleartext
 * traffic to move to DICOM TLS or a VPN, most urgent first — with the baseline's status (learning, learned,
 * approved; its window), the sensors that contributed, and the plan in each format to download.
 * Everything from the traffic (addresses, AE titles, reasons) goes in as text, never as markup.
 */
import { h, replace, type Child } from "./dom.js";
import {
  api,
  apiUrl,
  itemsOf,
  PLAN_FORMATS,
  type BaselineItem,
  type Plan,
  type Sensor,
  type SiteBaselines,
} from "./api.js";
import { dateTime, num, plural, timeEl } from "./format.js";
import { href } from "./router.js";
import { chips, empty, errorBox, fields, loading, pageHeader, section, smallTable } from "./ui.js";

/** Services drawn on the page; the downloads hold every one. */
const MAX_SERVICES_SHOWN = 200;
/** Rows drawn in a step's table. */
const MAX_ROWS = 500;

const STATUS_NOTE: Record<string, string> = {
  learning: "the learning window is open: the plan grows with the traffic",
  learned: "the window closed: review it, then approve it",
  approved: "reviewed and approved: the site's policy",
};

function statusBadge(status: string): HTMLElement {
  return h("span", { class: `state baseline-${status}`, title: STATUS_NOTE[status] ?? "" }, status);
}

function endpoint(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function windowText(w: { start: string | null; end: string | null; days?: number }): Child {
  if (w.start === null) return h("span", { class: "muted" }, "nothing seen yet");
  return [
    timeEl(w.start),
    " – ",
    w.end === null ? h("span", { class: "muted" }, "open") : timeEl(w.end),
    w.days ? h("span", { class: "muted small" }, ` (${plural(w.days, "day")} window)`) : null,
  ];
}

function more(total: number, shown: number, what: string): Child {
  return total > shown
    ? h(
        "p",
        { class: "muted small" },
        `… and ${num(total - shown)} more ${what}: download the plan for all of them.`,
      )
    : null;
}

/** A step with nothing in it, and why (compact, inside the step's panel); without a baseline, that is why. */
function nothing(p: Plan, text: string): HTMLElement {
  return h(
    "p",
    { class: "step-empty" },
    p.source.window.start === null ? "Nothing to plan yet: no traffic in the baseline." : text,
  );
}

function stepTitle(n: string, title: string, ...counts: string[]): HTMLElement {
  return h(
    "span",
    { class: "step-title" },
    h("span", { class: "step-no" }, n),
    title,
    counts.map((c) => h("span", { class: "step-count" }, c)),
  );
}

// ------------------------------------------------------------------------------------------ sections

function baselinePanel(b: SiteBaselines): HTMLElement {
  const without = b.sensors.filter((s) => !b.items.some((i) => i.sensor === s));
  return section(
    "Baseline",
    b.merged === null
      ? empty(b.notes[0] ?? "No baseline yet.", "A sensor publishes its baseline once it has seen traffic.")
      : fields([
          [
            "Status",
            [
              statusBadge(b.merged.status),
              h("span", { class: "muted small" }, ` ${STATUS_NOTE[b.merged.status] ?? ""}`),
            ],
          ],
          ["Window", windowText(b.merged.window)],
          [
            "Approved",
            b.merged.approved
              ? [
                  b.merged.approved.by,
                  " · ",
                  timeEl(b.merged.approved.at),
                  b.merged.approved.note ? ` · ${b.merged.approved.note}` : null,
                ]
              : null,
          ],
          ["Sensors", `${num(b.items.length)} of ${num(b.sensors.length)} contributed`],
        ]),
    b.items.length
      ? smallTable(
          ["Sensor", "Status", "Window", "Services", "Peers", "Devices", "Received"],
          b.items.map((i: BaselineItem) => [
            h("span", { class: "mono nowrap" }, i.sensor),
            statusBadge(i.status),
            windowText(i.window),
            num(i.services),
            num(i.peers),
            num(i.devices),
            h("span", { class: "nowrap", title: i.receivedAt }, dateTime(i.receivedAt)),
          ]),
          [3, 4, 5],
        )
      : null,
    without.length && b.items.length
      ? h("p", { class: "muted small" }, "No baseline yet from: ", chips(without))
      : null,
    b.merged === null ? null : b.notes.map((n) => h("p", { class: "note" }, n)),
  );
}

function downloads(site: string): HTMLElement {
  return section(
    "Download",
    h(
      "div",
      { class: "downloads" },
      PLAN_FORMATS.map((f) =>
        h(
          "a",
          {
            class: "button small",
            href: apiUrl(`/sites/${encodeURIComponent(site)}/plan`, { format: f.id }),
            download: "",
            "data-format": f.id,
            title: f.note,
          },
          f.label,
        ),
      ),
    ),
    h(
      "p",
      { class: "muted small" },
      "Check the plan against captures before applying it: ",
      h("code", null, "dicomtap plan --check plan.json FILE..."),
    ),
  );
}

function firewallRules(site: string): HTMLElement {
  const pre = h("pre", { class: "code nft" }, "Loading…");
  const details = h("details", { class: "rules" }, h("summary", null, "Firewall rules (nftables)"), pre);
  let loaded = false;
  details.addEventListener("toggle", () => {
    if (!details.open || loaded) return;
    loaded = true;
    api
      .planText(site, "nft")
      .then((text) => {
        pre.textContent = text;
      })
      .catch((err: unknown) => {
        loaded = false;
        replace(pre, errorBox(err));
      });
  });
  return details;
}

function exposureStep(site: string, p: Plan): HTMLElement {
  const e = p.exposure;
  const outside = new Set(e.exposed.flatMap((x) => x.peers.map((q) => q.ip)));
  return section(
    stepTitle(
      "1",
      "Firewall external access",
      plural(e.exposed.length, "exposed port"),
      plural(outside.size, "outside peer"),
      `${plural(e.protect.length, "server")} to protect`,
    ),
    e.exposed.length
      ? smallTable(
          ["Server", "Called AE", "Reached from", "Associations", "First seen", "Last seen"],
          e.exposed.slice(0, MAX_ROWS).map((x) => [
            h("span", { class: "mono" }, endpoint(x.ip, x.port)),
            chips(x.aeTitles),
            h(
              "ul",
              { class: "plain" },
              x.peers.map((q) =>
                h(
                  "li",
                  null,
                  h("span", { class: "mono" }, q.ip),
                  q.aeTitles.length ? [" ", chips(q.aeTitles)] : null,
                  q.excepted ? h("span", { class: "tag" }, "exception") : null,
                ),
              ),
            ),
            num(x.peers.reduce((n, q) => n + q.associations, 0)),
            timeEl(x.firstSeen),
            timeEl(x.lastSeen),
          ]),
          [3],
        )
      : nothing(p, "No server was reached from outside the internal networks."),
    more(e.exposed.length, MAX_ROWS, "exposed ports"),
    e.protect.length
      ? h(
          "div",
          { class: "step-block" },
          h("h3", null, "Closed to sources outside ", chips(p.internal)),
          chips(e.protect.slice(0, MAX_ROWS)),
          more(e.protect.length, MAX_ROWS, "servers"),
        )
      : null,
    p.exceptions.length
      ? h(
          "div",
          { class: "step-block" },
          h("h3", null, "Exceptions"),
          smallTable(
            ["Peer", "Server", "Port", "Reason"],
            p.exceptions.map((x) => [
              h("span", { class: "mono" }, x.peer),
              h("span", { class: "mono" }, x.server),
              x.port === null ? "any" : String(x.port),
              x.reason,
            ]),
          ),
        )
      : null,
    firewallRules(site),
  );
}

const CLOSE_REASON: Record<string, string> = {
  unused: "never used",
  "default-port": "port 104, DICOM runs elsewhere",
  "dicom-port-unused": "DICOM port unused",
  "outside-profile": "outside the vendor's profile",
};

function portsStep(p: Plan): HTMLElement {
  const ports = p.portsToClose;
  const devices = new Set(ports.map((x) => x.ip));
  return section(
    stepTitle("2", "Close unneeded ports", plural(ports.length, "port"), plural(devices.size, "device")),
    ports.length
      ? smallTable(
          ["Device", "Port", "Why", "Connections", "Detail"],
          ports
            .slice(0, MAX_ROWS)
            .map((x) => [
              h("span", { class: "mono" }, x.ip),
              h("span", { class: "mono" }, String(x.port)),
              h("span", { class: `tag close-${x.reason}` }, CLOSE_REASON[x.reason] ?? x.reason),
              num(x.connections),
              x.detail,
            ]),
          [3],
        )
      : nothing(p, "No port to close: every listening port seen carried real sessions."),
    more(ports.length, MAX_ROWS, "ports"),
  );
}

function allowlistStep(p: Plan): HTMLElement {
  const services = p.allowlists;
  const peers = services.reduce((n, s) => n + s.peers.length, 0);
  return section(
    stepTitle(
      "3–4",
      "Allowlists: peers, AE titles and operations per DICOM service",
      plural(services.length, "service"),
      plural(peers, "allowed peer"),
    ),
    services.length
      ? services.slice(0, MAX_SERVICES_SHOWN).map((s) =>
          h(
            "div",
            { class: "service" },
            h(
              "h3",
              null,
              h("span", { class: "mono" }, endpoint(s.ip, s.port)),
              " ",
              s.aeTitle === null
                ? h("span", { class: "muted" }, "AE title not seen")
                : h("span", { class: "chip" }, s.aeTitle),
              s.tls ? h("span", { class: "tag tag-ok" }, "TLS") : null,
              s.product ? h("span", { class: "tag" }, s.product) : null,
              h("span", { class: "muted small" }, ` ${plural(s.peers.length, "peer")}`),
            ),
            smallTable(
              ["Peer", "Calling AE", "Where", "Operations", "Move destinations", "Associations", "Last seen"],
              s.peers
                .slice(0, MAX_ROWS)
                .map((q) => [
                  h("span", { class: "mono" }, q.ip),
                  q.aeTitle === null
                    ? h("span", { class: "muted" }, "—")
                    : h("span", { class: "mono" }, q.aeTitle),
                  q.internal
                    ? h("span", { class: "muted small" }, "internal")
                    : h("span", { class: "tag tag-warn" }, "external"),
                  chips(q.operations, "chip op"),
                  q.moveDestinations.length ? chips(q.moveDestinations) : h("span", { class: "muted" }, "—"),
                  num(q.associations),
                  timeEl(q.lastSeen),
                ]),
              [5],
            ),
          ),
        )
      : nothing(p, "No DICOM service with a peer was seen yet."),
    more(services.length, MAX_SERVICES_SHOWN, "services"),
  );
}

function encryptionStep(p: Plan): HTMLElement {
  const e = p.encryption;
  const external = e.cleartext.filter((x) => x.external).length;
  const credentials = e.cleartext.filter((x) => x.credentialsInClear > 0).length;
  return section(
    stepTitle(
      "5",
      "DICOM over TLS or a VPN",
      plural(e.cleartext.length, "cleartext flow"),
      `${num(external)} external`,
      `${num(credentials)} with credentials in clear`,
    ),
    e.cleartext.length
      ? smallTable(
          ["#", "Server", "Peer", "Where", "Credentials in clear", "Associations", "Operations", "Why"],
          [...e.cleartext]
            .sort((a, b) => a.rank - b.rank)
            .slice(0, MAX_ROWS)
            .map((x) => [
              String(x.rank),
              [
                h("span", { class: "mono" }, endpoint(x.server, x.port)),
                x.aeTitle ? [" ", h("span", { class: "chip" }, x.aeTitle)] : null,
              ],
              [
                h("span", { class: "mono" }, x.peer),
                x.peerAeTitle ? [" ", h("span", { class: "chip" }, x.peerAeTitle)] : null,
              ],
              x.external
                ? h("span", { class: "tag tag-warn" }, "external")
                : h("span", { class: "muted small" }, "internal"),
              x.credentialsInClear ? h("span", { class: "bad-text" }, num(x.credentialsInClear)) : "0",
              num(x.associations),
              chips(x.operations, "chip op"),
              x.why,
            ]),
          [0, 4, 5],
        )
      : nothing(p, "No cleartext DICOM association was seen."),
    more(e.cleartext.length, MAX_ROWS, "flows"),
    h(
      "div",
      { class: "step-block" },
      h("h3", null, "Already speaking DICOM TLS"),
      e.tls.length
        ? h(
            "ul",
            { class: "plain" },
            e.tls.map((s) =>
              h("li", null, h("span", { class: "mono" }, endpoint(s.ip, s.port)), " from ", chips(s.peers)),
            ),
          )
        : h("p", { class: "muted small" }, "No service was seen speaking TLS."),
    ),
  );
}

// -------------------------------------------------------------------------------------------- pages

function sitePicker(sites: string[], current: string | null): Child {
  if (sites.length < 2) return null;
  const select = h(
    "select",
    { "aria-label": "Site", id: "plan-site" },
    sites.map((s) => h("option", { value: s, selected: s === current }, s)),
  );
  select.addEventListener("change", () => {
    location.hash = href(`/plan/${encodeURIComponent(select.value)}`);
  });
  return select;
}

function sitesOf(sensors: Sensor[]): string[] {
  return [...new Set(sensors.map((s) => s.site))].sort();
}

/** `#/plan`: the sites; with one site, its plan. */
export function plansPage(root: HTMLElement): () => void {
  const controller = new AbortController();
  replace(root, pageHeader("Plan"), loading());
  api
    .sensors(controller.signal)
    .then((data) => {
      if (controller.signal.aborted) return;
      const sensors = itemsOf<Sensor>(data);
      const sites = sitesOf(sensors);
      if (sites.length === 1) {
        location.replace(href(`/plan/${encodeURIComponent(sites[0]!)}`));
        return;
      }
      replace(
        root,
        pageHeader("Plan"),
        section(
          "Sites",
          sites.length
            ? smallTable(
                ["Site", "Sensors"],
                sites.map((s) => [
                  h("a", { href: href(`/plan/${encodeURIComponent(s)}`) }, s),
                  chips(sensors.filter((x) => x.site === s).map((x) => x.sensor)),
                ]),
              )
            : empty("No sensor has reported yet.", "The plan is made from what the sensors publish."),
        ),
      );
    })
    .catch((err: unknown) => {
      if (!controller.signal.aborted) replace(root, pageHeader("Plan"), errorBox(err));
    });
  return () => controller.abort();
}

/** `#/plan/{site}`. */
export function planPage(root: HTMLElement, site: string): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  replace(root, pageHeader("Plan", h("span", { class: "mono" }, site)), loading());
  Promise.all([api.plan(site, signal), api.baselines(site, signal), api.sensors(signal)])
    .then(([plan, baselines, sensors]) => {
      if (signal.aborted) return;
      replace(
        root,
        h("nav", { class: "crumbs" }, h("a", { href: "#/plan" }, "Plan"), " / ", site),
        pageHeader(
          h("span", null, "Plan ", h("span", { class: "mono" }, site)),
          baselines.merged
            ? statusBadge(baselines.merged.status)
            : h("span", { class: "tag" }, "no baseline"),
          h("span", { class: "muted small" }, "made ", timeEl(plan.generatedAt)),
          sitePicker(sitesOf(itemsOf<Sensor>(sensors)), site),
        ),
        h(
          "div",
          { class: "cols-main-side" },
          h("div", null, baselinePanel(baselines)),
          h("div", null, downloads(site)),
        ),
        exposureStep(site, plan),
        portsStep(plan),
        allowlistStep(plan),
        encryptionStep(plan),
      );
    })
    .catch((err: unknown) => {
      if (!signal.aborted)
        replace(root, pageHeader("Plan", h("span", { class: "mono" }, site)), errorBox(err));
    });
  return () => controller.abort();
}
