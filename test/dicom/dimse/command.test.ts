import test from "ava";
import fc from "fast-check";
import { decodeCommandSet } from "../../../agent/dicom/dimse/command.js";
import { valueText } from "../../../agent/dicom/dataset/text.js";
import { decodeUid } from "../../../agent/dicom/ul/pdu.js";

/**
 * What a UID element must decode to: as the association's UIDs (decodeUid), null when only padding.
 * `bad` collects whether decodeUid found it invalid.
 */
function uidOf(b: Buffer, bad: { n: number }): string | null {
  let e = b.length;
  while (e > 0 && (b[e - 1] === 0 || b[e - 1] === 0x20)) e--;
  if (e === 0) return null;
  return decodeUid(b, 0, b.length, { issue: () => bad.n++ }, "x");
}

/** One command element in implicit VR little endian (PS3.7 §6.3.1): (0000,element), length, value. */
function element(el: number, value: Buffer): Buffer {
  const b = Buffer.alloc(8 + value.length);
  b.writeUInt16LE(0x0000, 0);
  b.writeUInt16LE(el, 2);
  b.writeUInt32LE(value.length, 4);
  value.copy(b, 8);
  return b;
}

function us(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
}

/** A C-MOVE-RQ naming a SOP class, an instance and a destination, so every cached field is decoded. */
function command(cls: Buffer, instance: Buffer, destination: Buffer): Buffer {
  return Buffer.concat([
    element(0x0002, cls),
    element(0x0100, us(0x0021)),
    element(0x0110, us(1)),
    element(0x0600, destination),
    element(0x0800, us(0x0101)),
    element(0x1000, instance),
  ]);
}

/** Values drawn from few bytes (digits, dot, padding, control and C1 bytes) so they repeat and collide. */
const value = fc.uint8Array({ minLength: 0, maxLength: 70 }).map((a) => {
  const alphabet = [0x31, 0x32, 0x2e, 0x20, 0x00, 0x01, 0x1b, 0x7f, 0x85, 0xe9];
  return Buffer.from(Array.from(a, (x) => alphabet[x % alphabet.length]!));
});

test("values served from the recent-value caches equal a fresh decode of their own bytes", (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(value, value, value), { minLength: 1, maxLength: 40 }), (msgs) => {
      for (const [cls, instance, destination] of msgs) {
        const buf = command(cls, instance, destination);
        const r = decodeCommandSet(buf, 0, buf.length);
        if (r.record === null) return false;
        const bad = { n: 0 };
        if (r.record.sopClassUid !== uidOf(cls, bad)) return false;
        if (r.record.sopInstanceUid !== uidOf(instance, bad)) return false;
        // Every invalid UID is reported (ul.uid-invalid, the first one's detail), and only those.
        if ((r.invalidUid !== null) !== bad.n > 0) return false;
        if (r.record.moveDestination !== valueText(destination, 0, Math.min(destination.length, 16)))
          return false;
      }
      return true;
    }),
  );
  t.pass();
});

test("a value whose control bytes were replaced is not served for different bytes", (t) => {
  // "1\x01" decodes to "1?"; the bytes "1?" must still decode to "1?" and "1\x02" to "1?" as well,
  // while "12" must not be taken for any of them.
  const seq = [Buffer.from("1\x01"), Buffer.from("1?"), Buffer.from("12"), Buffer.from("1\x02")];
  const got = seq.map((v) => {
    const buf = command(v, v, v);
    return decodeCommandSet(buf, 0, buf.length).record?.sopClassUid;
  });
  t.deepEqual(got, ["1?", "1?", "12", "1?"]);
});

test("command-set UIDs are validated like the association's: sanitised, reported, never cached", (t) => {
  const decode = (cls: Buffer, inst: Buffer) => {
    const buf = command(cls, inst, Buffer.from("STORESCP"));
    return decodeCommandSet(buf, 0, buf.length);
  };
  // Non-ASCII, control and letters: kept as "?" / themselves, and reported once per command set.
  const r = decode(Buffer.from([0x31, 0x2e, 0xe9, 0x2e, 0x01, 0x41]), Buffer.from("1.2.3\0", "latin1"));
  t.is(r.record?.sopClassUid, "1.?.?A");
  t.is(r.record?.sopInstanceUid, "1.2.3");
  t.regex(r.invalidUid ?? "", /^Affected SOP Class UID \(0000,0002\) is not a UID/);
  // Overlong (PS3.5 §9.1: at most 64): cut to 64 and reported.
  const long = decode(Buffer.from("1.2.840.10008.5.1.4.1.1.2"), Buffer.from("1." + "9".repeat(70)));
  t.is(long.record?.sopInstanceUid?.length, 64);
  t.regex(long.invalidUid ?? "", /^Affected SOP Instance UID \(0000,1000\)/);
  // Padding only (an empty value): null, no report; a valid UID with NUL padding: no report.
  const empty = decode(Buffer.from("  "), Buffer.from("1.2.3\0", "latin1"));
  t.is(empty.record?.sopClassUid, null);
  t.is(empty.invalidUid, null);
  // An invalid value is never served from the cache for other bytes, nor a valid one for invalid bytes.
  decode(Buffer.from("1.2.840.10008.1.1"), Buffer.from("1.2"));
  const again = decode(Buffer.from("1.2.840.10008.1.1 x"), Buffer.from("1.2"));
  t.is(again.record?.sopClassUid, "1.2.840.10008.1.1 x");
  t.not(again.invalidUid, null);
  // Requested SOP Class / Instance (N-ACTION, N-SET): the same.
  const req = Buffer.concat([
    element(0x0003, Buffer.from("1.2.x")),
    element(0x0100, us(0x0130)),
    element(0x0110, us(1)),
    element(0x0800, us(0x0101)),
    element(0x1001, Buffer.from([0x31, 0xff])),
  ]);
  const rr = decodeCommandSet(req, 0, req.length);
  t.is(rr.record?.sopClassUid, "1.2.x");
  t.is(rr.record?.sopInstanceUid, "1?");
  t.regex(rr.invalidUid ?? "", /^Requested SOP Class UID \(0000,0003\)/);
});
