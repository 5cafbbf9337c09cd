/**
 * How the console writes times, counts and lists: one spelling everywhere, so a table scanned all day reads
 * the same on every page. Times are shown in the browser's local time zone, to the minute, with the full ISO
 * time (what the sensors and the API use) in the element's title; ages ("3 h ago") where recency matters.
 */
import { h, type Child } from "./dom.js";

const pad = (n: number): string => String(n).padStart(2, "0");

/** "2026-11-25 17:53" in local time, or "—". */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "2026-11-25" in local time. */
export function date(iso: string | null | undefined): string {
  return dateTime(iso).slice(0, 10);
}

/** "just now", "5 min ago", "3 h ago", "12 d ago" (or "in 3 d" for a future time). */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const future = t > now;
  const s = Math.abs(now - t) / 1000;
  let v: string;
  if (s < 60) return "just now";
  else if (s < 3600) v = `${Math.floor(s / 60)} min`;
  else if (s < 86400 * 2) v = `${Math.floor(s / 3600)} h`;
  else v = `${Math.floor(s / 86400)} d`;
  return future ? `in ${v}` : `${v} ago`;
}

/** A <time> showing the local date and time, the ISO time as its title. */
export function timeEl(iso: string | null | undefined, withAge = false): HTMLElement {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: iso }, withAge ? `${age(iso)}` : dateTime(iso));
}

/** 1234567 → "1 234 567" (thin spaces keep columns readable). */
export function num(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  return Math.round(n).toLocaleString("en-US").replace(/,/g, "\u2009");
}

/** Bytes as B/KiB/MiB/GiB/TiB. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A list field that the API may give as an array or a space-separated string. */
export function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x) => String(x));
  if (typeof v === "string") return v.split(/\s+/).filter((x) => x !== "");
  return [];
}

/** Text or a muted dash. */
export function orDash(v: unknown): Child {
  if (v === null || v === undefined || v === "") return h("span", { class: "muted" }, "—");
  return String(v);
}

/** Plural: "1 device", "3 devices". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${num(n)} ${n === 1 ? one : many}`;
}
