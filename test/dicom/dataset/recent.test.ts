import test from "ava";
import fc from "fast-check";
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import { DatasetWalker, EXPLICIT_VR_LITTLE_ENDIAN } from "../../../agent/dicom/dataset/walker.js";
import type { EquipmentAttributes } from "../../../agent/dicom/types.js";
import { imageDataset } from "../dimse/builders.js";

function walk(w: DatasetWalker, ds: Buffer): EquipmentAttributes | null {
  w.begin(EXPLICIT_VR_LITTLE_ENDIAN, null);
  w.push(ds, 0, ds.length);
  return w.end();
}

/** Text drawn from few characters (incl. ESC and C1, which the walker replaces) so values repeat. */
const text = fc
  .array(fc.constantFrom("A", "B", " ", "\x1b", "\x85", "?", "\\"), { minLength: 0, maxLength: 6 })
  .map((a) => a.join(""));

test("one walker reused over many data sets reads what a fresh walker reads from each", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ modality: text, manufacturer: text, station: text, software: text }), {
        minLength: 1,
        maxLength: 30,
      }),
      (sets) => {
        const counters: Counters = { bytesCopied: 0 };
        const reused = new DatasetWalker(new AnomalyCounter(), counters);
        for (const o of sets) {
          const ds = imageDataset("explicit-le", o);
          const fresh = walk(new DatasetWalker(new AnomalyCounter(), { bytesCopied: 0 }), ds);
          t.deepEqual(walk(reused, ds), fresh);
        }
      },
    ),
  );
});
