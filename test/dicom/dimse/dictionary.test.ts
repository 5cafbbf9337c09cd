import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeUid, tagKeyword, uidName } from "../../../agent/dicom/dictionary/names.js";

test("uidName names SOP classes and transfer syntaxes from dcmjs", (t) => {
  t.is(uidName("1.2.840.10008.5.1.4.1.1.2"), "CTImage");
  t.is(uidName("1.2.840.10008.5.1.4.1.1.4"), "MRImage");
  t.is(uidName("1.2.840.10008.1.2"), "Implicit Little Endian");
  t.is(uidName("1.2.840.10008.1.2.2"), "Explicit Big Endian");
  t.is(uidName("1.2.3.4"), null);
  t.is(uidName("toString"), null);
  t.is(uidName("__proto__"), null);
});

test("tagKeyword names the tags the walker and the command decoder read", (t) => {
  t.is(tagKeyword(0x00080060), "Modality");
  t.is(tagKeyword(0x00181020), "SoftwareVersions");
  t.is(tagKeyword(0x00000100), "CommandField");
  t.is(tagKeyword(0xfffee0dd), "SequenceDelimitationItem");
  t.is(tagKeyword(0x00100010), null); // patient tags are not in the table: nothing reads them
});

test("the committed generated table is what the generator writes from dcmjs today", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-dict-"));
  try {
    // The compiled generator sits next to the compiled tests: <out>/scripts/gen-dictionary.js.
    const script = fileURLToPath(new URL("../../../scripts/gen-dictionary.js", import.meta.url));
    const out = join(dir, "generated.ts");
    execFileSync(process.execPath, [script, out], { stdio: "pipe" });
    t.is(readFileSync(out, "utf8"), readFileSync("agent/dicom/dictionary/generated.ts", "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("describeUid spells the dictionary's names as PS3.6 does and keeps the UID", (t) => {
  t.is(describeUid("1.2.840.10008.5.1.4.1.1.2"), "CT Image Storage (1.2.840.10008.5.1.4.1.1.2)");
  t.is(describeUid("1.2.840.10008.5.1.4.1.1.128"), "PET Image Storage (1.2.840.10008.5.1.4.1.1.128)");
  t.is(
    describeUid("1.2.840.10008.5.1.4.1.1.77.1.5.1"),
    "Ophthalmic Photography 8 Bit Image Storage (1.2.840.10008.5.1.4.1.1.77.1.5.1)",
  );
  t.is(
    describeUid("1.2.840.10008.5.1.4.1.1.88.34"),
    "Comprehensive 3D SR Storage (1.2.840.10008.5.1.4.1.1.88.34)",
  );
  t.is(describeUid("1.2.840.10008.1.2.1"), "Explicit Little Endian (1.2.840.10008.1.2.1)");
  t.is(describeUid("1.2.3.4"), "1.2.3.4");
  t.is(describeUid("__proto__"), "__proto__");
});
