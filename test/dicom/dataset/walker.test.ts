import test from "ava";
import fc from "fast-check";
import { deflateRawSync } from "node:zlib";
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import {
  DatasetWalker,
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  IMPLICIT_VR_LITTLE_ENDIAN,
  JPIP_HTJ2K_REFERENCED_DEFLATE,
  JPIP_REFERENCED_DEFLATE,
} from "../../../agent/dicom/dataset/walker.js";
import type { EquipmentAttributes } from "../../../agent/dicom/types.js";
import {
  dataset,
  DEFAULT_EQUIPMENT,
  imageDataset,
  SECRET_PATIENT_ID,
  SECRET_PATIENT_NAME,
  splitAt,
  type Encoding,
} from "../dimse/builders.js";
import { at } from "../../helpers/flow.js";

const TS: Record<Encoding, string> = {
  implicit: IMPLICIT_VR_LITTLE_ENDIAN,
  "explicit-le": EXPLICIT_VR_LITTLE_ENDIAN,
  "explicit-be": EXPLICIT_VR_BIG_ENDIAN,
};
const ENCODINGS: Encoding[] = ["implicit", "explicit-le", "explicit-be"];

interface WalkResult {
  attrs: EquipmentAttributes | null;
  anomalies: AnomalyCounter;
  counters: Counters;
  walker: DatasetWalker;
}

function walk(pieces: Buffer[], ts: string | null, walker?: DatasetWalker): WalkResult {
  const anomalies = new AnomalyCounter();
  const counters: Counters = { bytesCopied: 0 };
  const w = walker ?? new DatasetWalker(anomalies, counters);
  w.begin(ts, at("10.0.0.1:1000-10.0.0.2:104"));
  for (const p of pieces) w.push(p, 0, p.length);
  const attrs = w.end();
  return { attrs, anomalies, counters, walker: w };
}

for (const enc of ENCODINGS) {
  test(`reads the equipment attributes (${enc})`, (t) => {
    const r = walk([imageDataset(enc, { pixelBytes: 4096 })], TS[enc]);
    t.deepEqual(r.attrs, DEFAULT_EQUIPMENT);
    t.is(r.anomalies.total, 0);
    // Stopped at the first tag after (0018,1020): the pixel data was never examined.
    t.true(r.walker.tailSkipped >= 4096);
    t.true(r.walker.examined < 400, `examined ${r.walker.examined}`);
    t.is(r.counters.bytesCopied, 0);
  });

  test(`walks undefined-length sequences and items before the wanted tags (${enc})`, (t) => {
    const r = walk([imageDataset(enc, { nestedSequences: true })], TS[enc]);
    t.deepEqual(r.attrs, DEFAULT_EQUIPMENT);
    t.is(r.anomalies.total, 0);
  });

  test(`split at every offset gives the same attributes (${enc})`, (t) => {
    const buf = imageDataset(enc, { nestedSequences: true, pixelBytes: 64 });
    const anomalies = new AnomalyCounter();
    const counters: Counters = { bytesCopied: 0 };
    const w = new DatasetWalker(anomalies, counters);
    for (let i = 1; i < buf.length; i++) {
      const r = walk(splitAt(buf, [i]), TS[enc], w);
      t.deepEqual(r.attrs, DEFAULT_EQUIPMENT, `split at ${i}`);
    }
    t.is(anomalies.total, 0);
  });

  test(`random chunkings give the same attributes (${enc})`, (t) => {
    const buf = imageDataset(enc, { nestedSequences: true, pixelBytes: 256 });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: buf.length - 1 }), { maxLength: 40 }), (cuts) => {
        const r = walk(splitAt(buf, cuts), TS[enc]);
        return JSON.stringify(r.attrs) === JSON.stringify(DEFAULT_EQUIPMENT) && r.anomalies.total === 0;
      }),
      { numRuns: 300 },
    );
    t.pass();
  });

  test(`byte-by-byte feeding works and copies only headers and wanted values (${enc})`, (t) => {
    const buf = imageDataset(enc, { pixelBytes: 1024 });
    const pieces: Buffer[] = [];
    for (let i = 0; i < buf.length; i++) pieces.push(buf.subarray(i, i + 1));
    const r = walk(pieces, TS[enc]);
    t.deepEqual(r.attrs, DEFAULT_EQUIPMENT);
    t.true(r.counters.bytesCopied < 600, `copied ${r.counters.bytesCopied}`);
  });

  test(`transfer syntax unknown: the encoding is detected (${enc})`, (t) => {
    const r = walk([imageDataset(enc, { nestedSequences: true })], null);
    t.deepEqual(r.attrs, DEFAULT_EQUIPMENT);
    t.is(r.anomalies.total, 0);
  });
}

test("encapsulated pixel data syntaxes use explicit VR LE headers", (t) => {
  const buf = imageDataset("explicit-le", { fragments: [Buffer.alloc(100, 1), Buffer.alloc(50, 2)] });
  const r = walk([buf], "1.2.840.10008.1.2.4.50");
  t.deepEqual(r.attrs, DEFAULT_EQUIPMENT);
});

test("UN of undefined length holds implicit VR LE content (PS3.5 §6.2.2)", (t) => {
  const buf = dataset(
    [
      { tag: 0x00080060, vr: "CS", value: "MR" },
      {
        tag: 0x00080068, // anything between the wanted tags
        vr: "UN",
        items: [[{ tag: 0x00100010, vr: "PN", value: SECRET_PATIENT_NAME }], []],
      },
      { tag: 0x00080070, vr: "LO", value: "Maker" },
    ],
    "explicit-le",
  );
  const r = walk([buf], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(r.attrs?.modality, "MR");
  t.is(r.attrs?.manufacturer, "Maker");
  t.is(r.anomalies.total, 0);
});

test("deflated explicit VR LE: the head is inflated, bounded and counted", (t) => {
  const plain = imageDataset("explicit-le", { pixelBytes: 200_000 });
  const deflated = deflateRawSync(plain);
  const r = walk(splitAt(deflated, [7, 100, 3000]), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN);
  t.deepEqual(r.attrs, DEFAULT_EQUIPMENT);
  t.is(r.anomalies.total, 0);
  // Compressed head (≤ 8 KiB) plus inflated head (≤ 32 KiB), never the 200 kB of pixels.
  t.true(
    r.counters.bytesCopied > 0 && r.counters.bytesCopied <= 40 * 1024,
    `copied ${r.counters.bytesCopied}`,
  );
});

test("the JPIP Referenced Deflate transfer syntaxes deflate the data set too (PS3.5 A.7)", (t) => {
  const deflated = deflateRawSync(imageDataset("explicit-le", { pixelBytes: 2000 }));
  for (const ts of [JPIP_REFERENCED_DEFLATE, JPIP_HTJ2K_REFERENCED_DEFLATE]) {
    const r = walk(splitAt(deflated, [50]), ts);
    t.deepEqual(r.attrs, DEFAULT_EQUIPMENT, ts);
    t.is(r.anomalies.total, 0, ts);
  }
});

test("a deflate bomb is bounded and a broken deflate stream is an anomaly", (t) => {
  const bomb = deflateRawSync(Buffer.alloc(50_000_000));
  const r = walk([bomb], DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(r.attrs, null);
  t.true(r.counters.bytesCopied <= 40 * 1024);
  const bad = walk([Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02])], DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(bad.anomalies.records()[0]?.code, "dataset.inflate-failed");
});

test("values are capped, trimmed, and control characters replaced", (t) => {
  const long = "X".repeat(1000);
  const buf = dataset(
    [
      { tag: 0x00080060, vr: "CS", value: "  CT " },
      { tag: 0x00080070, vr: "LO", value: "Bad\u0085Name\u001bX\u0000" },
      { tag: 0x00080080, vr: "LO", value: long },
      { tag: 0x00081010, vr: "SH", value: "" },
      { tag: 0x00181020, vr: "LO", value: "\\ V1 \\\\V2 " },
    ],
    "explicit-le",
  );
  const r = walk(splitAt(buf, [50, 300, 700]), EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(r.attrs?.modality, "CT");
  t.is(r.attrs?.manufacturer, "Bad?Name?X");
  t.is(r.attrs?.institutionName, "X".repeat(256));
  t.is(r.attrs?.stationName, null);
  t.deepEqual(r.attrs?.softwareVersions, ["V1", "V2"]);
  // The straddling long value copied at most the cap.
  t.true(r.counters.bytesCopied <= 256 + 24);
});

test("a text value with control bytes is malformed (its length ran into other elements)", (t) => {
  const buf = dataset(
    [
      { tag: 0x00080060, vr: "CS", value: "CT" },
      { tag: 0x00080070, vr: "LO", value: "Bad\u0001Name" },
    ],
    "explicit-le",
  );
  const r = walk([buf], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(r.attrs, null);
  t.is(firstCode(r), "dataset.invalid-value");
});

test("no wanted attribute: null", (t) => {
  const buf = dataset([{ tag: 0x00100010, vr: "PN", value: SECRET_PATIENT_NAME }], "explicit-le");
  t.is(walk([buf], EXPLICIT_VR_LITTLE_ENDIAN).attrs, null);
});

function firstCode(r: WalkResult): string | undefined {
  return r.anomalies.records()[0]?.code;
}

test("malformed: odd length, tag order, length beyond the end, bad VR, stray delimiter", (t) => {
  const odd = Buffer.concat([
    dataset([{ tag: 0x00080060, vr: "CS", value: "CT" }], "explicit-le"),
    Buffer.from([0x08, 0x00, 0x70, 0x00, 0x4c, 0x4f, 0x03, 0x00, 0x41, 0x42, 0x43]),
  ]);
  const r1 = walk([odd], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(firstCode(r1), "dataset.odd-length");
  t.is(r1.attrs, null); // what came before is dropped: a malformed dataset is not trusted
  t.is(r1.anomalies.records()[0]?.layer, "dataset");

  const backwards = dataset(
    [
      { tag: 0x00080070, vr: "LO", value: "A" },
      { tag: 0x00080060, vr: "CS", value: "CT" },
    ],
    "explicit-le",
  );
  const r2 = walk([backwards], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(firstCode(r2), "dataset.tag-order");
  t.is(r2.attrs, null);

  const full = dataset([{ tag: 0x00080070, vr: "LO", value: "ACME" }], "explicit-le");
  const r3 = walk([full.subarray(0, full.length - 2)], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(firstCode(r3), "dataset.truncated");
  t.is(r3.attrs, null);

  const r4 = walk(
    [Buffer.from([0x08, 0x00, 0x60, 0x00, 0x63, 0x73, 0x02, 0x00, 0x43, 0x54])],
    EXPLICIT_VR_LITTLE_ENDIAN,
  );
  t.is(firstCode(r4), "dataset.invalid-vr");

  const r5 = walk([Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(firstCode(r5), "dataset.unexpected-delimiter");

  const openSeq = dataset(
    [{ tag: 0x00081032, vr: "SQ", undefinedLength: true, undefinedItems: true, items: [[]] }],
    "explicit-le",
  );
  const r6 = walk([openSeq.subarray(0, openSeq.length - 8)], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(firstCode(r6), "dataset.truncated");
});

test("the examined head is capped: many small elements before the wanted tags end the walk quietly", (t) => {
  const els: Parameters<typeof dataset>[0] = [];
  for (let e = 0x1000; e < 0x1000 + 9000; e++) els.push({ tag: 0x00090000 | e, vr: "LO", value: "PV" });
  els.push({ tag: 0x00181020, vr: "LO", value: "V1" });
  const r = walk([dataset(els, "explicit-le")], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(r.attrs, null);
  t.is(r.anomalies.total, 0);
  t.true(r.walker.examined <= 64 * 1024 + 12);
});

test("deep nesting is capped", (t) => {
  let inner: Parameters<typeof dataset>[0] = [{ tag: 0x00100010, vr: "PN", value: "X" }];
  for (let i = 0; i < 40; i++) {
    inner = [{ tag: 0x00081032, vr: "SQ", undefinedLength: true, undefinedItems: true, items: [inner] }];
  }
  const r = walk([dataset(inner, "explicit-le")], EXPLICIT_VR_LITTLE_ENDIAN);
  t.is(firstCode(r), "dataset.nesting-too-deep");
});

test("patient data never leaves the walker (attributes and anomalies)", (t) => {
  for (const enc of ENCODINGS) {
    const buf = imageDataset(enc, { nestedSequences: true, pixelBytes: 100 });
    // Mutations too: whatever the walker makes of broken bytes, it must not read secrets.
    const variants = [buf, buf.subarray(0, 200), Buffer.concat([buf.subarray(0, 150), buf.subarray(160)])];
    for (const v of variants) {
      const r = walk([v], TS[enc]);
      const json = JSON.stringify([r.attrs, r.anomalies.records()]);
      t.false(json.includes("SECRET"), json);
      t.false(json.includes(SECRET_PATIENT_NAME) || json.includes(SECRET_PATIENT_ID));
    }
  }
});

test("random and mutated datasets never throw and copy little", (t) => {
  const base = ENCODINGS.map((e) => imageDataset(e, { nestedSequences: true, pixelBytes: 64 }));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.constantFrom<string | null>(
        null,
        IMPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_BIG_ENDIAN,
      ),
      (which, flips, cuts, ts) => {
        const buf = Buffer.from(base[which]!);
        for (const [at, v] of flips) buf[at % buf.length] = v;
        const r = walk(
          splitAt(
            buf,
            cuts.map((c) => c % buf.length),
          ),
          ts,
        );
        const json = JSON.stringify([r.attrs, r.anomalies.records()]);
        return !json.includes("SECRET") && r.counters.bytesCopied <= buf.length;
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.constantFrom<string | null>(null, EXPLICIT_VR_BIG_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN),
      (bytes, ts) => {
        walk([Buffer.from(bytes)], ts);
        return true;
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});
