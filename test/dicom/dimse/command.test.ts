import test from "ava";
import fc from "fast-check";
import { decodeCommandSet } from "../../../agent/dicom/dimse/command.js";
import { valueText } from "../../../agent/dicom/dataset/text.js";

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
        if (r.record.sopClassUid !== valueText(cls, 0, Math.min(cls.length, 64))) return false;
        if (r.record.sopInstanceUid !== valueText(instance, 0, Math.min(instance.length, 64))) return false;
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
