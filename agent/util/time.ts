/**
 * Time helpers. Capture timestamps travel as integer microseconds since the Unix epoch; the report shows
 * them as ISO 8601 (DESIGN.md §3: "times are ISO 8601 from capture timestamps").
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
