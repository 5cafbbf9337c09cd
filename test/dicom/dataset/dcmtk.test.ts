/**
 * The walker on real files written by dcmtk's dump2dcm in every uncompressed transfer syntax (and
 * deflate), with undefined-length sequences; the Part 10 preamble and meta group are stripped first
 * (PS3.10 §7.1), which leaves exactly what a C-STORE carries in its P-DATA-TF PDVs.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import { DatasetWalker } from "../../../agent/dicom/dataset/walker.js";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import type { EquipmentAttributes } from "../../../agent/dicom/types.js";
import { command, CommandField, DEFAULT_EQUIPMENT, splitAt } from "../dimse/builders.js";
import { at } from "../../helpers/flow.js";
import { requires } from "../../helpers/requires.js";

const test = requires("dcmtk");

const DUMP = `(0008,0005) CS [ISO_IR 100]
(0008,0016) UI =CTImageStorage
(0008,0018) UI [1.2.826.0.1.3680043.2.1125.9.1]
(0008,0060) CS [CT]
(0008,0070) LO [ACME Medical Systems]
(0008,0080) LO [St Mary Hospital]
(0008,0090) PN [REFERRING^DOCTOR^SECRET]
(0008,1010) SH [CT01-ROOM1]
(0008,1030) LO [STUDY DESCRIPTION SECRET]
(0008,1032) SQ (Sequence with undefined length #=1)
  (fffe,e000) na (Item with undefined length #=2)
    (0008,0100) SH [SECRETCODE]
    (0008,0104) LO [SECRET MEANING]
  (fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
(0008,1090) LO [Scanmaster 9000]
(0010,0010) PN [DOE^JANE^SECRET]
(0010,0020) LO [PID-4242-SECRET]
(0018,1000) LO [SN-12345]
(0018,1020) LO [VA10A\\SP2]
(0028,0010) US 2
(0028,0011) US 2
(7fe0,0010) OW 0102\\0304\\0506\\0708
`;

/** Strip the 128-byte preamble, "DICM" and the explicit VR LE meta group; return TS and dataset. */
function stripPart10(file: Buffer): { ts: string; dataset: Buffer } {
  if (file.toString("latin1", 128, 132) !== "DICM") throw new Error("not a Part 10 file");
  let pos = 132;
  let ts = "";
  while (pos + 8 <= file.length && file.readUInt16LE(pos) === 0x0002) {
    const element = file.readUInt16LE(pos + 2);
    const vr = file.toString("latin1", pos + 4, pos + 6);
    const long = ["OB", "OW", "UN", "SQ", "UT", "UC", "UR"].includes(vr);
    const len = long ? file.readUInt32LE(pos + 8) : file.readUInt16LE(pos + 6);
    const v = pos + (long ? 12 : 8);
    if (element === 0x0010) ts = file.toString("latin1", v, v + len).replace(/\0+$/, "");
    pos = v + len;
  }
  return { ts, dataset: file.subarray(pos) };
}

const SYNTAXES = [
  ["+te", "1.2.840.10008.1.2.1"],
  ["+ti", "1.2.840.10008.1.2"],
  ["+tb", "1.2.840.10008.1.2.2"],
  ["+td", "1.2.840.10008.1.2.1.99"],
] as const;

function makeFiles(): Map<string, { ts: string; dataset: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-walker-"));
  try {
    writeFileSync(join(dir, "in.dump"), DUMP);
    const out = new Map<string, { ts: string; dataset: Buffer }>();
    for (const [opt] of SYNTAXES) {
      for (const lengths of ["-e", "+e"]) {
        const file = join(dir, `out${opt}${lengths}.dcm`);
        execFileSync("dump2dcm", ["-q", opt, lengths, join(dir, "in.dump"), file]);
        out.set(opt + lengths, stripPart10(readFileSync(file)));
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const files = makeFiles();

for (const [opt, uid] of SYNTAXES) {
  for (const lengths of ["-e", "+e"]) {
    test(`dump2dcm ${opt} ${lengths === "-e" ? "undefined" : "explicit"} lengths: attributes, any chunking`, (t) => {
      const f = files.get(opt + lengths)!;
      t.is(f.ts, uid);
      for (const cuts of [[], [1], [7, 13, 200], Array.from({ length: 50 }, (_, i) => i * 9)]) {
        const anomalies = new AnomalyCounter();
        const counters: Counters = { bytesCopied: 0 };
        const w = new DatasetWalker(anomalies, counters);
        w.begin(f.ts, null);
        for (const p of splitAt(f.dataset, cuts)) w.push(p, 0, p.length);
        const attrs = w.end();
        t.deepEqual(attrs, DEFAULT_EQUIPMENT);
        t.deepEqual(anomalies.records(), []);
        t.false(JSON.stringify(attrs).includes("SECRET"));
      }
    });
  }
}

test("a dcmtk dataset through the DIMSE assembler as a C-STORE-RQ", (t) => {
  const f = files.get("+ti-e")!;
  const found: EquipmentAttributes[] = [];
  const anomalies = new AnomalyCounter();
  const asm = new DimseAssembler({
    connection: at("10.0.0.1:40000-10.0.0.2:104"),
    lookup: { transferSyntax: () => f.ts, abstractSyntax: () => null },
    events: { message: () => undefined, equipment: (a) => found.push(a) },
    anomalies,
    counters: { bytesCopied: 0 },
  });
  const cmd = command({ field: CommandField.C_STORE_RQ, messageId: 1, dataSet: true });
  asm.pdvBegin(1, true, true, cmd.length, 0);
  asm.pdvData(cmd, 0, cmd.length);
  asm.pdvEnd();
  const half = f.dataset.length >> 1;
  asm.pdvBegin(1, false, false, half, 0);
  asm.pdvData(f.dataset, 0, half);
  asm.pdvEnd();
  asm.pdvBegin(1, false, true, f.dataset.length - half, 0);
  asm.pdvData(f.dataset, half, f.dataset.length);
  asm.pdvEnd();
  t.deepEqual(found, [DEFAULT_EQUIPMENT]);
  t.deepEqual(anomalies.records(), []);
});
