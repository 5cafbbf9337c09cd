/**
 * `#/` — the page the security team keeps open: is every sensor up and seeing its traffic, what is open and
 * how bad, which of the five remediation steps it points to, and how the numbers move (findings opened and
 * resolved per day; each sensor's traffic and drops). Every count links to the list behind it. It refreshes
 * itself every minute while visible.
 */
import { h, replace, type Child } from "./dom.js";
import { api, itemsOf, SEVERITIES, STEPS, type Sensor } from "./api.js";
import { href } from "./router.js";
import { age, num, timeEl } from "./format.js";
import { barList, legend, sparkline, timeChart, type Series } from "./charts.js";
import { empty, errorBox, loading, pageHeader, section } from "./ui.js";

/** One point of a sensor's health series (cumulative capture counters, as the sensor sends them). */
interface HealthPoint {
  at: string;
  packets?: number | null;
  bytes?: number | null;
  drops?: number | null;
  outboxDepth?: number | null;
}

interface SensorSeries {
  site: string;
  sensor: string;
  points: HealthPoint[];
}

/** GET /api/v1/overview. */
interface Overview {
  bySeverity?: Record<string, number>;
  byStep?: Record<string, number>;
  sensors?: { online?: number; offline?: number; unknown?: number; total?: number };
  devices?: { total?: number; external?: number };
  findingsOverTime?: { day: string; opened: number; resolved: number }[];
  sensorSeries?: SensorSeries[];
  [extra: string]: unknown;
}

/** Per-interval values from cumulative counters; a counter that went down (the sensor restarted) starts again. */
export function deltas(points: HealthPoint[], key: "packets" | "bytes" | "drops"): { t: number; v: number; dt: number }[] {
  const out: { t: number; v: number; dt: number }[] = [];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const va = a[key];
    const vb = b[key];
    if (typeof va !== "number" || typeof vb !== "number") continue;
    const t = new Date(b.at).getTime();
    const dt = (t - new Date(a.at).getTime()) / 1000;
    if (!(dt > 0)) continue;
    out.push({ t, v: vb >= va ? vb - va : vb, dt });
  }
  return out;
}

function kpi(label: string, value: Child, link: string | null, className = ""): HTMLElement {
  const body = [h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, label)];
  return link ? h("a", { class: `kpi ${className}`, href: link }, body) : h("div", { class: `kpi ${className}` }, body);
}

function sensorTable(sensors: Sensor[], series: SensorSeries[]): HTMLElement {
  if (sensors.length === 0) {
    return empty(
      "No sensor has reported yet.",
      "Sensors appear here when their first status or health message reaches the broker (dicomtap/v1/{site}/{sensor}/status).",
    );
  }
  const seriesOf = (x: Sensor): SensorSeries | undefined => series.find((p) => p.site === x.site && p.sensor === x.sensor);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "grid" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Site", "Sensor", "State", "Version", "Last health", "Packets", "Traffic", "Drops", "Drops (series)", "Outbox"].map((l) =>
            h("th", { scope: "col", class: /Packets|Drops$|Outbox/.test(l) ? "num" : null }, l),
          ),
        ),
      ),
      h(
        "tbody",
        null,
        sensors.map((x) => {
          const hl = x.health ?? {};
          const ser = seriesOf(x);
          const traffic = ser ? deltas(ser.points, "bytes").map((p) => (p.v * 8) / p.dt) : [];
          const dropSeries = ser ? deltas(ser.points, "drops").map((p) => p.v) : [];
          const drops = hl.capture?.drops ?? null;
          const outbox = hl.outbox?.depth ?? null;
          const stale = x.healthAt !== null && Date.now() - new Date(x.healthAt).getTime() > 10 * 60 * 1000;
          return h(
            "tr",
            null,
            h("td", null, x.site),
            h("td", null, h("a", { href: href("/devices", { sensor: x.sensor, site: x.site }), title: "This sensor's devices" }, x.sensor)),
            h("td", null, h("span", { class: `state state-${x.state === "online" ? "ok" : x.state === "offline" ? "bad" : "unknown"}`, title: x.stateAt ? `since ${x.stateAt}` : null }, x.state)),
            h("td", { class: "mono" }, x.version ?? "—"),
            h("td", { class: stale ? "warn-text" : null, title: x.healthAt ?? null }, x.healthAt ? age(x.healthAt) : "—"),
            h("td", { class: "num" }, num(hl.capture?.packets)),
            h("td", null, sparkline(traffic, "s-traffic", traffic.length ? `traffic, last ${bitRate(traffic[traffic.length - 1]!)}` : "traffic")),
            h("td", { class: `num${drops ? " bad-text" : ""}` }, num(drops)),
            h("td", null, sparkline(dropSeries, "s-drops", `drops per interval, last ${num(dropSeries[dropSeries.length - 1])}`)),
            h("td", { class: `num${outbox && outbox > 1000 ? " warn-text" : ""}` }, num(outbox)),
          );
        }),
      ),
    ),
  );
}

function bitRate(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kbit/s`;
  return `${Math.round(bps)} bit/s`;
}

function trafficChart(series: SensorSeries[]): HTMLElement {
  const palette = ["c1", "c2", "c3", "c4", "c5", "c6"];
  const traffic: Series[] = series.slice(0, 6).map((ser, i) => ({
    label: `${ser.site}/${ser.sensor}`,
    className: palette[i % palette.length]!,
    points: deltas(ser.points, "bytes").map((p) => ({ t: p.t, v: (p.v * 8) / p.dt })),
  }));
  const drops: Series[] = series.slice(0, 6).map((ser, i) => ({
    label: `${ser.site}/${ser.sensor}`,
    className: palette[i % palette.length]!,
    points: deltas(ser.points, "drops").map((p) => ({ t: p.t, v: p.v })),
  }));
  const more = series.length > 6 ? h("p", { class: "muted small" }, `The first 6 of ${series.length} sensors; the table above lists them all.`) : null;
  return h(
    "div",
    { class: "cols-2" },
    section("Traffic per sensor", timeChart(traffic, { label: "Traffic per sensor, bits per second", format: (v) => bitRate(v).replace("bit/s", "") }), legend(traffic), more),
    section("Capture drops per sensor", timeChart(drops, { label: "Frames dropped per health interval" }), legend(drops), more),
  );
}

export function overviewPage(root: HTMLElement): () => void {
  const controller = new AbortController();
  let timer: number | undefined;
  replace(root, pageHeader("Overview"), loading());

  async function load(first: boolean): Promise<void> {
    try {
      const [ov, sensorsRaw] = await Promise.all([api.overview(controller.signal) as Promise<Overview>, api.sensors(controller.signal)]);
      if (controller.signal.aborted) return;
      const sensors = itemsOf<Sensor>(sensorsRaw);
      const bySev = ov.bySeverity ?? {};
      const byStep = ov.byStep ?? {};
      const open = SEVERITIES.reduce((n, sv) => n + (bySev[sv] ?? 0), 0);
      const online = ov.sensors?.online ?? sensors.filter((x) => x.state === "online").length;
      const offline = ov.sensors?.offline ?? sensors.filter((x) => x.state === "offline").length;
      const days = ov.findingsOverTime ?? [];
      const overTime: Series[] = [
        { label: "Opened", className: "c-opened", bars: true, points: days.map((d) => ({ t: new Date(`${d.day}T12:00:00`).getTime(), v: d.opened })) },
        { label: "Resolved", className: "c-resolved", bars: true, points: days.map((d) => ({ t: new Date(`${d.day}T12:00:00`).getTime(), v: d.resolved })) },
      ];
      const updated = new Date().toISOString();
      replace(
        root,
        pageHeader("Overview", h("span", { class: "muted small" }, "Updated ", timeEl(updated), " · refreshes every minute")),
        h(
          "div",
          { class: "kpis" },
          kpi("open findings", num(open), href("/findings", { state: "open" })),
          kpi("critical", num(bySev.critical ?? 0), href("/findings", { state: "open", severity: "critical" }), (bySev.critical ?? 0) > 0 ? "kpi-critical" : ""),
          kpi("high", num(bySev.high ?? 0), href("/findings", { state: "open", severity: "high" }), (bySev.high ?? 0) > 0 ? "kpi-high" : ""),
          ov.devices?.total !== undefined ? kpi("devices", num(ov.devices.total), href("/devices")) : null,
          ov.devices?.external !== undefined
            ? kpi("with an external peer", num(ov.devices.external), href("/devices", { exposure: "external" }), ov.devices.external > 0 ? "kpi-warn" : "")
            : null,
          kpi("sensors online", `${num(online)} / ${num(online + offline + (ov.sensors?.unknown ?? 0))}`, null, offline > 0 ? "kpi-warn" : "kpi-ok"),
        ),
        h(
          "div",
          { class: "cols-3" },
          section(
            "Open findings by severity",
            barList(
              SEVERITIES.map((sv) => ({ label: sv, value: bySev[sv] ?? 0, href: href("/findings", { state: "open", severity: sv }), className: `sev-bg-${sv}` })),
              "Nothing open. Findings appear here as sensors raise them.",
            ),
          ),
          section(
            "Open findings by remediation step",
            barList(
              STEPS.map((st) => ({ label: st.label, value: byStep[st.id] ?? 0, href: href("/findings", { state: "open", step: st.id }), className: "step-bg" })),
              "Nothing open.",
            ),
          ),
          section(
            "Findings over time",
            timeChart(overTime, { label: "Findings opened and resolved per day", height: 150 }),
            legend(overTime),
          ),
        ),
        section(h("span", null, "Sensors ", h("span", { class: "muted small" }, `${num(online)} online, ${num(offline)} offline`)), sensorTable(sensors, ov.sensorSeries ?? [])),
        (ov.sensorSeries ?? []).length > 0 ? trafficChart(ov.sensorSeries ?? []) : null,
      );
    } catch (err) {
      if (controller.signal.aborted) return;
      if (first) replace(root, pageHeader("Overview"), errorBox(err));
    }
  }

  void load(true);
  timer = window.setInterval(() => {
    if (document.visibilityState === "visible") void load(false);
  }, 60000);
  return () => {
    controller.abort();
    window.clearInterval(timer);
  };
}
