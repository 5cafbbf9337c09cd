/**
 * How `dicomtap console` shows its state: a text screen for people, JSON lines for programs.
 *
 * Everything shown comes from sensors, and a sensor's strings (AE titles, manufacturer, model, finding
 * titles) were copied from the network it watches: they are hostile. Text output replaces control
 * characters (C0, DEL, C1: an ESC would let a peer drive the operator's terminal) and bidirectional
 * overrides (which reorder what is read) and cuts long values. JSON output relies on JSON.stringify's
 * escaping of C0 and escapes DEL and C1 as well, so a JSON line is safe to print on a terminal too.
 */
import type { ConsoleEvent, ConsoleSnapshot } from "./state.js";
import { SEVERITIES } from "../findings/severity.js";
import { isoFromMicros } from "../util/time.js";
import { describeUid } from "../dicom/dictionary/names.js";

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A value from a sensor made safe for a terminal: no control or bidi characters, at most `max` chars. */
export function safe(v: unknown, max = 48): string {
  const s =
    v === null || v === undefined ? "-" : typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
  const clean = s.replace(UNSAFE, "?");
  return clean.length > max ? clean.slice(0, max - 1) + "…" : clean;
}

/** SOP classes named on a device line; the rest are counted ("+N"). */
const SOP_SHOWN = 3;

/** A device's SOP classes as people read them, e.g. "CT Image Storage (1.2.840.10008.5.1.4.1.1.2)"; "" when none. */
function sopClasses(v: unknown): string {
  if (!Array.isArray(v)) return "";
  const uids = v.filter((u): u is string => typeof u === "string");
  if (uids.length === 0) return "";
  const shown = uids.slice(0, SOP_SHOWN).map((u) => safe(describeUid(u), 100));
  return `  sop ${shown.join(", ")}${uids.length > SOP_SHOWN ? ` +${uids.length - SOP_SHOWN}` : ""}`;
}

/** One JSON value on one line, with DEL and C1 escaped too (JSON.stringify leaves them raw). */
export function jsonLine(value: unknown): string {
  return (
    JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => {
      return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
    }) + "\n"
  );
}

/** The JSON line of an event (health is folded into the state but not streamed: it is periodic noise). */
export function eventLine(ev: ConsoleEvent, now = Date.now()): string | null {
  if (ev.event === "health") return null;
  return jsonLine({ time: isoFromMicros(now * 1000), ...ev });
}

function age(seconds: number | null): string {
  if (seconds === null) return "never";
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s + " " : s + " ".repeat(n - s.length);
}

/**
 * The state as lines of text: sensors with state and health age; devices per site/sensor; findings
 * grouped by severity (most severe first) with counts and last seen. `perSection` caps the entries listed
 * in each of the three sections (the screen passes what fits; `--once` lists everything), the rest is
 * summed up in one line, so a frame costs the same with ten devices or fifty thousand.
 */
export function renderText(
  snap: ConsoleSnapshot,
  title = "dicomtap console",
  perSection = Infinity,
): string[] {
  const out: string[] = [];
  const c = snap.counters;
  const more = (n: number, what: string): void => {
    if (n > 0) out.push(`  … and ${n} more ${what}`);
  };
  out.push(`${title} — ${snap.generatedAt}`);
  out.push(
    `${snap.sensors.length} sensors, ${snap.devices.length} devices, ${snap.findings.length} findings — ` +
      `messages ${c.messages}, invalid ${c.invalid}, duplicates ${c.duplicates}, stale ${c.stale}, ` +
      `dropped ${c.dropped}`,
  );
  out.push("");
  out.push("SENSORS");
  if (snap.sensors.length === 0) out.push("  (none yet)");
  for (const s of snap.sensors.slice(0, perSection)) {
    const h = s.health;
    const healthText = h
      ? `health ${age(s.healthAgeSeconds)}: packets ${safe(h.capture.packets)}, drops ${safe(h.capture.drops)}, ` +
        `anomalies ${safe(h.anomalies)}, outbox ${safe(h.outbox.depth)}`
      : "no health yet";
    out.push(
      `  ${pad(safe(`${s.site}/${s.sensor}`, 40), 28)}${pad(s.state, 8)}${pad(safe(s.version, 16), 9)}` +
        `status ${pad(age(s.statusAgeSeconds), 9)}${healthText}`,
    );
  }
  more(snap.sensors.length - perSection, "sensors");

  out.push("");
  out.push("FINDINGS");
  if (snap.findings.length === 0) out.push("  (none yet)");
  let listed = 0;
  for (const sev of SEVERITIES) {
    const list = snap.findings.filter((f) => f.finding.severity === sev);
    if (list.length === 0 || listed >= perSection) continue;
    out.push(`  ${sev.toUpperCase()} (${list.length})`);
    for (const f of list.slice(0, perSection - listed)) {
      const x = f.finding;
      out.push(
        `    ${pad(safe(x.rule, 32), 26)}${pad(safe(x.title, 60), 40)}device ${pad(safe(x.device, 24), 16)}` +
          `×${safe(x.count, 10)}  last ${safe(x.lastSeen, 30)}  ${safe(`${f.site}/${f.sensor}`, 40)}`,
      );
      listed++;
    }
  }
  more(snap.findings.length - listed, "findings");

  out.push("");
  out.push("DEVICES");
  if (snap.devices.length === 0) out.push("  (none yet)");
  let group = "";
  for (const d of snap.devices.slice(0, perSection)) {
    const g = `${d.site}/${d.sensor}`;
    if (g !== group) {
      group = g;
      out.push(`  ${safe(g, 60)}`);
    }
    const dev = d.device;
    const cls = typeof dev.class === "string" ? dev.class : "-";
    const maker = [dev.manufacturer, dev.model].filter((x) => x !== null && x !== undefined).join(" ");
    out.push(
      `    ${pad(safe(dev.ip, 39), 16)}${pad(safe(cls, 12), 12)}AE ${pad(safe(dev.aeTitles.join(","), 40), 20)}` +
        `${pad(safe(maker || null, 40), 24)}last ${safe(dev.lastSeen, 30)}${sopClasses(dev.sopClasses)}`,
    );
  }
  more(snap.devices.length - perSection, "devices");

  if (snap.recentInvalid.length > 0) {
    out.push("");
    out.push("LAST INVALID MESSAGES");
    for (const n of snap.recentInvalid.slice(-Math.min(10, perSection))) {
      out.push(`  ${safe(n.topic, 80)}: ${safe(n.reason, 100)}`);
    }
  }
  return out;
}

/** Entries per section that let a screen of `rows` show all three sections (about 16 fixed lines). */
export function perSectionFor(rows: number): number {
  return Math.max(2, Math.floor((rows - 16) / 3));
}

/**
 * A full-screen frame for a terminal of `rows`×`columns`: cursor home, each line cut to fit and its rest
 * erased, then everything below erased (ECMA-48 CUP, EL, ED). Overwriting in place instead of clearing
 * first keeps a redraw every second from flickering.
 */
export function screenFrame(lines: string[], rows: number, columns: number): string {
  const fit = rows > 1 ? lines.slice(0, rows - 1) : lines;
  if (rows > 1 && lines.length > fit.length)
    fit[fit.length - 1] = `… ${lines.length - fit.length + 1} more lines`;
  const width = Math.max(20, columns);
  const cut = fit.map((l) => (l.length > width ? l.slice(0, width - 1) + "…" : l));
  return "\x1b[H" + cut.map((l) => l + "\x1b[K").join("\n") + "\n\x1b[J";
}
