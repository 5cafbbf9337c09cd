/**
 * Text of short DICOM string values (UI, AE, CS, SH, LO) for reports: decoded as latin1 (the default
 * repertoire ISO-IR 6 is ASCII, PS3.5 §6.1.2.2; other character sets are not interpreted here), with the
 * padding of PS3.5 §6.2 trimmed and any control character (C0, DEL, C1) replaced by "?", so no report,
 * log line or terminal ever receives raw control bytes from the wire.
 */

/** Decode buf[start, end): trailing NUL/space and leading space trimmed; null when nothing is left. */
export function valueText(buf: Buffer, start: number, end: number): string | null {
  let e = end;
  while (e > start && (buf[e - 1] === 0x00 || buf[e - 1] === 0x20)) e--;
  let s = start;
  while (s < e && buf[s] === 0x20) s++;
  if (s === e) return null;
  let clean = true;
  for (let i = s; i < e; i++) {
    const c = buf[i] ?? 0;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      clean = false;
      break;
    }
  }
  const text = buf.toString("latin1", s, e);
  if (clean) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? "?" : text.charAt(i);
  }
  return out;
}
