/**
 * Time helpers: the one spelling of a time in the report and in every MQTT payload. Capture timestamps
 * travel as integer microseconds since the Unix epoch; the report shows them as ISO 8601 UTC with six
 * fractional digits (DESIGN.md §3: "times are ISO 8601 from capture timestamps"). Wall-clock times in
 * payloads (status startedAt, health time, console snapshots) take the same unit and the same function,
 * so a consumer never meets two precisions in one stream.
 */

/**
 * ISO 8601 UTC string with microsecond precision, e.g. "2026-11-25T17:33:21.123456Z".
 * Microseconds are kept because several PDUs of one association often share a millisecond.
 * Non-finite or out-of-range input gives the epoch rather than throwing (capture files can lie).
 */
export function isoFromMicros(tsMicros: number): string {
  if (!Number.isFinite(tsMicros)) tsMicros = 0;
  let ms = Math.floor(tsMicros / 1000);
  let micros = Math.floor(tsMicros - ms * 1000);
  // Date supports ±8.64e15 ms; clamp so toISOString cannot throw a RangeError.
  if (ms > 8.64e15 || ms < -8.64e15) {
    ms = 0;
    micros = 0;
  }
  const iso = new Date(ms).toISOString(); // "YYYY-MM-DDTHH:MM:SS.mmmZ" (or ±YYYYYY for far years)
  return iso.slice(0, iso.length - 1) + String(micros).padStart(3, "0") + "Z";
}

/**
 * Wall-clock now, in microseconds since the epoch. The system clock (Date.now) has millisecond resolution,
 * so the last three digits are zero; it is still the clock to use, since it follows NTP corrections that a
 * monotonic clock would not.
 */
export function nowMicros(): number {
  return Date.now() * 1000;
}

/** isoFromMicros of a Date (a certificate's validity, a caller-supplied now); an invalid Date gives the epoch. */
export function isoFromDate(d: Date): string {
  return isoFromMicros(d.getTime() * 1000);
}

/** Wall-clock now as the report spells times. */
export function isoNow(): string {
  return isoFromMicros(nowMicros());
}

/**
 * Capture microseconds of a time the report wrote (the inverse of isoFromMicros, all six fractional digits
 * kept; Date.parse would drop the last three), or null when `s` is not such a time. Also reads fewer
 * fractional digits and offsets, so records written by older versions still parse.
 */
export function microsFromIso(s: string): number | null {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (m === null) return null;
  const ms = Date.parse(`${m[1]!}${m[3]!}`);
  if (!Number.isFinite(ms)) return null;
  const frac = (m[2] ?? "").padEnd(6, "0").slice(0, 6);
  return ms * 1000 + Number(frac);
}
