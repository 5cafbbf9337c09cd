/**
 * The overview's charts, drawn as SVG by hand: a time series (findings opened and resolved per day, a
 * sensor's traffic) with axes and a legend, sparklines for the sensor table, and horizontal bars for counts
 * that link to the list they count. No chart library: these few shapes do not earn a dependency, and the
 * console must serve every byte itself. Colours come from classes in app.css (the CSP allows no inline
 * style attributes); every point carries a <title>, so hovering shows its value.
 */
import { h, s, type Child } from "./dom.js";
import { num } from "./format.js";

export interface Series {
  label: string;
  /** A class of app.css: its stroke/fill colour. */
  className: string;
  points: { t: number; v: number }[];
  /** Bars instead of a line (counts per day). */
  bars?: boolean;
}

/** 0, 1, 2, 5, 10, 20, 50 … : a round step for about `n` ticks up to max. */
function niceStep(max: number, n: number): number {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function short(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(+n.toFixed(2));
}

const DAY = 86400000;

function tickLabel(t: number, span: number): string {
  const d = new Date(t);
  const md = `${d.getMonth() + 1}/${d.getDate()}`;
  if (span > 2 * DAY) return md;
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** A time series chart; `format` writes a value for the axis and the hover titles. */
export function timeChart(
  series: Series[],
  opts: { height?: number; label: string; format?: (v: number) => string; tooShort?: string } = { label: "" },
): SVGSVGElement {
  const W = 640;
  const H = opts.height ?? 190;
  const m = { l: 44, r: 18, t: 10, b: 24 };
  const fmt = opts.format ?? short;
  const all = series.flatMap((x) => x.points);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.label });
  // A line needs two moments: a sensor that has reported for less than one bucket says so instead.
  const moments = new Set(all.map((p) => p.t)).size;
  const drawable = series.some((x) => x.bars) ? all.length > 0 : moments > 1;
  if (!drawable) {
    svg.append(
      s(
        "text",
        { x: W / 2, y: H / 2, class: "chart-empty", "text-anchor": "middle" },
        all.length === 0 ? "No data in this period" : (opts.tooShort ?? "Not enough history yet"),
      ),
    );
    return svg;
  }
  let t0 = Math.min(...all.map((p) => p.t));
  let t1 = Math.max(...all.map((p) => p.t));
  const hasBars = series.some((x) => x.bars);
  if (hasBars) {
    // Bars are centred on their day: leave half a day at each end.
    t0 -= DAY / 2;
    t1 += DAY / 2;
  }
  if (t1 === t0) t1 = t0 + 1;
  const vmax = Math.max(1, ...all.map((p) => p.v));
  const step = niceStep(vmax, 4);
  const top = Math.ceil(vmax / step) * step;
  const x = (t: number): number => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
  const y = (v: number): number => H - m.b - (v / top) * (H - m.t - m.b);

  const grid = s("g", { class: "grid-lines" });
  for (let v = 0; v <= top + step / 2; v += step) {
    grid.append(
      s("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }),
      s("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, fmt(v)),
    );
  }
  const span = t1 - t0;
  const ticks = 6;
  if (hasBars) {
    // Daily bars: label bar centres, counted back from the last day (so today has its label); the
    // axis's ends are half a day outside the first and last bar and would name a day with no bar.
    const days = Math.round(span / DAY);
    const every = Math.max(1, Math.ceil(days / ticks));
    for (let k = 0; k < days; k += every) {
      const t = t1 - DAY / 2 - k * DAY;
      grid.append(
        s("text", { x: x(t), y: H - 6, "text-anchor": "middle", class: "axis" }, tickLabel(t, span)),
      );
    }
  } else
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + (span * i) / ticks;
      const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
      grid.append(s("text", { x: x(t), y: H - 6, "text-anchor": anchor, class: "axis" }, tickLabel(t, span)));
    }
  svg.append(grid);

  const barSeries = series.filter((x) => x.bars);
  series.forEach((ser) => {
    const g = s("g", { class: ser.className });
    if (ser.bars) {
      const k = barSeries.indexOf(ser);
      const slot = ((W - m.l - m.r) / Math.max(1, span / DAY)) * 0.8;
      const bw = Math.max(1, slot / barSeries.length);
      for (const p of ser.points) {
        const bx = x(p.t) - slot / 2 + k * bw;
        g.append(
          s(
            "rect",
            {
              x: bx,
              y: y(p.v),
              width: Math.max(1, bw - 1),
              height: Math.max(0, y(0) - y(p.v)),
              class: "bar",
            },
            s("title", null, `${new Date(p.t).toDateString()}: ${fmt(p.v)} ${ser.label.toLowerCase()}`),
          ),
        );
      }
    } else {
      const pts = [...ser.points].sort((a, b) => a.t - b.t);
      const d = pts.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
      g.append(s("path", { d, class: "line" }));
      if (pts.length <= 60) {
        for (const p of pts) {
          g.append(
            s(
              "circle",
              { cx: x(p.t), cy: y(p.v), r: 2.5, class: "dot" },
              s("title", null, `${new Date(p.t).toLocaleString()}: ${fmt(p.v)}`),
            ),
          );
        }
      }
    }
    svg.append(g);
  });
  return svg;
}

export function legend(series: Series[]): HTMLElement {
  return h(
    "div",
    { class: "legend" },
    series.map((x) =>
      h("span", { class: `legend-item ${x.className}` }, h("span", { class: "swatch" }), x.label),
    ),
  );
}

/** A small line of values (a sensor's traffic), no axes; the last value in its title. */
export function sparkline(values: number[], className: string, title: string): Child {
  if (values.length < 2) return h("span", { class: "muted" }, "—");
  const W = 96;
  const H = 22;
  const max = Math.max(...values);
  const min = Math.min(0, ...values);
  const range = max - min || 1;
  const d = values
    .map(
      (v, i) =>
        `${i === 0 ? "M" : "L"}${((i / (values.length - 1)) * (W - 2) + 1).toFixed(1)},${(H - 2 - ((v - min) / range) * (H - 4)).toFixed(1)}`,
    )
    .join("");
  return s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: `spark ${className}`, role: "img", "aria-label": title },
    s("title", null, title),
    s("path", { d, class: "line" }),
  );
}

/** Horizontal bars: label, bar, count; each a link to the list it counts. */
export function barList(
  rows: { label: Child; value: number; href: string; className: string }[],
  emptyText: string,
): HTMLElement {
  const max = Math.max(0, ...rows.map((r) => r.value));
  if (max === 0) return h("p", { class: "muted small" }, emptyText);
  return h(
    "ul",
    { class: "bars" },
    rows.map((r) => {
      const fill = h("span", { class: `bar-fill ${r.className}` });
      fill.style.width = `${max === 0 ? 0 : Math.max(r.value > 0 ? 2 : 0, (r.value / max) * 100)}%`;
      return h(
        "li",
        null,
        h(
          "a",
          { href: r.href },
          h("span", { class: "bar-label" }, r.label),
          h("span", { class: "bar-track" }, fill),
          h("span", { class: "bar-value" }, num(r.value)),
        ),
      );
    }),
  );
}
