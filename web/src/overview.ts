/**
 * `#/` — the page the security team keeps open: is every sensor up and seeing its traffic, what is open and
 * how bad, which of the five remediation steps it points to, and how the numbers move (findings opened and
 * resolved per day; each sensor's traffic and drops). Every count links to the list behind it. It refreshes
 * itself every minute while visible.
 */
import { h, replace, type Child } from "./dom.js";
import { api, SEVERITIES, STEPS, type Sensor } from "./api.js";
import { href } from "./router.js";
import { age, num, timeEl } from "./format.js";
import { barList, legend, sparkline, timeChart, type Series } from "./charts.js";
import { empty, errorBox, loading, pageHeader, section } from "./ui.js";

/** One bucket (an hour or a day) of a sensor's health: what it captured and dropped in it. */
interface TrafficPoint {
  at: string;
  packets: number;
  bytes: number;
  drops: number;
  outboxDepth: number | null;
}

interface SensorSeries {
  pk?: number;
  site: string;
  sensor: string;
  points: TrafficPoint[];
}

interface OverviewSensor extends Sensor {
  devices?: number;
  openFindings?: number;
}

/** GET /api/v1/overview?days=N. */
interface Overview {
  now: string;
  days: number;
  sensors: { total: number; online: number; offline: number; unknown: number; items: OverviewSensor[] };
  devices: { total: number; external: number };
  openFindings: { total: number; bySeverity: Record<string, number>; byStep: Record<string, number> };
  findingsOverTime: { day: string; opened: number; resolved: number }[];
  traffic: { bucket: "hour" | "day"; sensors: SensorSeries[] };
}

/** Days of the findings chart; hours of the traffic charts (hourly buckets). */
const FINDING_DAYS = 30;
const TRAFFIC_DAYS = 2;

/**
 * A bucket's bit rate: its bytes over its length, or over the part of it already past for the current one
 * (else the last hour would always look like a fall in traffic).
 */
function rates(points: TrafficPoint[], bucketMs: number, now: number): { t: number; v: number }[] {
  return points.map((p) => {
    const t = new Date(p.at).getTime();
    const span = Math.min(bucketMs, Math.max(60000, now - t));
    return { t, v: (p.bytes * 8) / (span / 1000) };
  });
}

function kpi(label: string, value: Child, link: string | null, className = ""): HTMLElement {
  const body = [h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, label)];
  return link
    ? h("a", { class: `kpi ${className}`, href: link }, body)
    : h("div", { class: `kpi ${className}` }, body);
}

function sensorTable(sensors: OverviewSensor[], series: SensorSeries[], now: number): HTMLElement {
  if (sensors.length === 0) {
    return empty(
      "No sensor has reported yet.",
      "Sensors appear here when their first status or health message reaches the broker (dicomtap/v1/{site}/{sensor}/status).",
    );
  }
  const seriesOf = (x: Sensor): SensorSeries | undefined =>
    series.find((p) => p.site === x.site && p.sensor === x.sensor);
  const HOUR = 3600000;
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
          [
            "Site",
            "Sensor",
            "State",
            "Version",
            "Last health",
            "Devices",
            "Open findings",
            "Packets",
            "Traffic (48 h)",
            "Drops",
            "Drops (48 h)",
            "Outbox",
          ].map((l) =>
            h("th", { scope: "col", class: /Packets|Drops$|Outbox|Devices|Open/.test(l) ? "num" : null }, l),
          ),
        ),
      ),
      h(
        "tbody",
        null,
        sensors.map((x) => {
          const hl = x.health ?? {};
          const ser = seriesOf(x);
          const traffic = ser ? rates(ser.points, HOUR, now).map((p) => p.v) : [];
          const dropSeries = ser ? ser.points.map((p) => p.drops) : [];
          const drops = hl.capture?.drops ?? null;
          const outbox = hl.outbox?.depth ?? null;
          const stale = x.healthAt !== null && Date.now() - new Date(x.healthAt).getTime() > 10 * 60 * 1000;
          return h(
            "tr",
            null,
            h("td", null, x.site),
            h(
              "td",
              null,
              h(
                "a",
                {
                  href: href("/devices", { sensor: x.sensor, site: x.site }),
                  title: "This sensor's devices",
                },
                x.sensor,
              ),
            ),
            h(
              "td",
              null,
              h(
                "span",
                {
                  class: `state state-${x.state === "online" ? "ok" : x.state === "offline" ? "bad" : "unknown"}`,
                  title: x.stateAt ? `since ${x.stateAt}` : null,
                },
                x.state,
              ),
            ),
            h("td", { class: "mono" }, x.version ?? "—"),
            h(
              "td",
              { class: stale ? "warn-text" : null, title: x.healthAt ?? null },
              x.healthAt ? age(x.healthAt) : "—",
            ),
            h(
              "td",
              { class: "num" },
              x.devices !== undefined
                ? h("a", { href: href("/devices", { sensor: x.sensor, site: x.site }) }, num(x.devices))
                : "—",
            ),
            h(
              "td",
              { class: "num" },
              x.openFindings !== undefined
                ? h(
                    "a",
                    { href: href("/findings", { sensor: x.sensor, site: x.site, state: "unresolved" }) },
                    num(x.openFindings),
                  )
                : "—",
            ),
            h("td", { class: "num" }, num(hl.capture?.packets)),
            h(
              "td",
              null,
              sparkline(
                traffic,
                "s-traffic",
                traffic.length ? `traffic, last ${bitRate(traffic[traffic.length - 1]!)}` : "traffic",
              ),
            ),
            h("td", { class: `num${drops ? " bad-text" : ""}` }, num(drops)),
            h(
              "td",
              null,
              sparkline(
                dropSeries,
                "s-drops",
                `drops per hour, last ${num(dropSeries[dropSeries.length - 1])}`,
              ),
            ),
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

function trafficChart(series: SensorSeries[], now: number): HTMLElement {
  const palette = ["c1", "c2", "c3", "c4", "c5", "c6"];
  // Six lines stay readable: the busiest sensors for traffic, those that dropped most for drops.
  const total = (ser: SensorSeries, k: "bytes" | "drops"): number => ser.points.reduce((n, p) => n + p[k], 0);
  const top = (k: "bytes" | "drops"): SensorSeries[] =>
    [...series].sort((a, b) => total(b, k) - total(a, k)).slice(0, 6);
  const traffic: Series[] = top("bytes").map((ser, i) => ({
    label: `${ser.site}/${ser.sensor}`,
    className: palette[i % palette.length]!,
    points: rates(ser.points, 3600000, now),
  }));
  const drops: Series[] = top("drops").map((ser, i) => ({
    label: `${ser.site}/${ser.sensor}`,
    className: palette[i % palette.length]!,
    points: ser.points.map((p) => ({ t: new Date(p.at).getTime(), v: p.drops })),
  }));
  const more =
    series.length > 6
      ? h(
          "p",
          { class: "muted small" },
          `The 6 sensors with the most of it, of ${series.length}; the table above lists them all.`,
        )
      : null;
  return h(
    "div",
    { class: "cols-2" },
    section(
      h("span", null, "Traffic per sensor ", h("span", { class: "muted small" }, "bit/s, hourly, last 48 h")),
      timeChart(traffic, {
        tooShort: "Not enough history yet: a line needs two hours of health reports",
        label: "Traffic per sensor, bits per second",
        format: (v) => bitRate(v).replace(/ ?bit\/s/, ""),
      }),
      legend(traffic),
      more,
    ),
    section(
      h(
        "span",
        null,
        "Capture drops per sensor ",
        h("span", { class: "muted small" }, "frames per hour, last 48 h"),
      ),
      timeChart(drops, {
        tooShort: "Not enough history yet: a line needs two hours of health reports",
        label: "Frames the capture dropped per hour",
      }),
      legend(drops),
      more,
    ),
  );
}

export function overviewPage(root: HTMLElement): () => void {
  const controller = new AbortController();
  replace(root, pageHeader("Overview"), loading());

  async function load(first: boolean): Promise<void> {
    try {
      // The counts first; the hourly traffic of the last two days (a second, heavier answer) fills the
      // sensor table's sparklines and the traffic charts when it comes.
      const trafficAnswer = api.overview({ days: TRAFFIC_DAYS }, controller.signal) as Promise<Overview>;
      trafficAnswer.catch(() => undefined);
      const ov = (await api.overview({ days: FINDING_DAYS }, controller.signal)) as Overview;
      if (controller.signal.aborted) return;
      const now = new Date(ov.now).getTime() || Date.now();
      // What needs attention first: sensors offline or never heard from, then the rest by site and name.
      const rank = (x: Sensor): number => (x.state === "online" ? 1 : 0);
      const sensors = [...(ov.sensors.items ?? [])].sort((a, b) => rank(a) - rank(b));
      const bySev = ov.openFindings.bySeverity ?? {};
      const byStep = ov.openFindings.byStep ?? {};
      const open = ov.openFindings.total ?? SEVERITIES.reduce((n, sv) => n + (bySev[sv] ?? 0), 0);
      const online = ov.sensors.online ?? 0;
      const offline = ov.sensors.offline ?? 0;
      const sensorBox = h("div", null, sensorTable(sensors, [], now));
      const trafficBox = h("div");
      const days = ov.findingsOverTime ?? [];
      const overTime: Series[] = [
        {
          label: "Opened",
          className: "c-opened",
          bars: true,
          points: days.map((d) => ({ t: new Date(`${d.day}T12:00:00Z`).getTime(), v: d.opened })),
        },
        {
          label: "Resolved",
          className: "c-resolved",
          bars: true,
          points: days.map((d) => ({ t: new Date(`${d.day}T12:00:00Z`).getTime(), v: d.resolved })),
        },
      ];
      const updated = new Date().toISOString();
      replace(
        root,
        pageHeader(
          "Overview",
          h("span", { class: "muted small" }, "Updated ", timeEl(updated), " · refreshes every minute"),
        ),
        h(
          "div",
          { class: "kpis" },
          kpi("open findings", num(open), href("/findings", { state: "unresolved" })),
          kpi(
            "critical",
            num(bySev.critical ?? 0),
            href("/findings", { state: "unresolved", severity: "critical" }),
            (bySev.critical ?? 0) > 0 ? "kpi-critical" : "",
          ),
          kpi(
            "high",
            num(bySev.high ?? 0),
            href("/findings", { state: "unresolved", severity: "high" }),
            (bySev.high ?? 0) > 0 ? "kpi-high" : "",
          ),
          kpi("devices", num(ov.devices.total), href("/devices")),
          kpi(
            "with an external peer",
            num(ov.devices.external),
            href("/devices", { exposure: "external" }),
            ov.devices.external > 0 ? "kpi-warn" : "",
          ),
          kpi(
            "sensors online",
            `${num(online)} / ${num(ov.sensors.total)}`,
            null,
            offline > 0 ? "kpi-warn" : ov.sensors.total > 0 ? "kpi-ok" : "",
          ),
        ),
        h(
          "div",
          { class: "cols-3" },
          section(
            "Open findings by severity",
            barList(
              SEVERITIES.map((sv) => ({
                label: sv,
                value: bySev[sv] ?? 0,
                href: href("/findings", { state: "unresolved", severity: sv }),
                className: `sev-bg-${sv}`,
              })),
              "Nothing open. Findings appear here as sensors raise them.",
            ),
          ),
          section(
            "Open findings by remediation step",
            barList(
              STEPS.map((st) => ({
                label: st.label,
                value: byStep[st.id] ?? 0,
                href: href("/findings", { state: "unresolved", step: st.id }),
                className: "step-bg",
              })),
              "Nothing open.",
            ),
          ),
          section(
            "Findings over time",
            timeChart(overTime, { label: "Findings opened and resolved per day", height: 150 }),
            legend(overTime),
          ),
        ),
        section(
          h(
            "span",
            null,
            "Sensors ",
            h("span", { class: "muted small" }, `${num(online)} online, ${num(offline)} offline`),
          ),
          sensorBox,
        ),
        trafficBox,
      );
      const tr = await trafficAnswer;
      if (controller.signal.aborted) return;
      const series = tr.traffic?.sensors ?? [];
      replace(sensorBox, sensorTable(sensors, series, now));
      replace(trafficBox, series.some((x) => x.points.length > 0) ? trafficChart(series, now) : null);
    } catch (err) {
      if (controller.signal.aborted) return;
      if (first) replace(root, pageHeader("Overview"), errorBox(err));
    }
  }

  void load(true);
  const timer = window.setInterval(() => {
    if (document.visibilityState === "visible") void load(false);
  }, 60000);
  return () => {
    controller.abort();
    window.clearInterval(timer);
  };
}
