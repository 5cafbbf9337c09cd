/**
 * Names for people: SOP classes, transfer syntaxes and tag keywords, from the table generated out of
 * dcmjs's dictionary (generated.ts). Lookups only; nothing here is used to decide how bytes are parsed.
 */
import { SOP_CLASS_NAMES, TAG_KEYWORDS, TRANSFER_SYNTAX_NAMES } from "./generated.js";

const hasOwn = Object.prototype.hasOwnProperty;

/** The name of a SOP class or transfer syntax UID, or null when dcmjs does not name it. */
export function uidName(uid: string): string | null {
  if (hasOwn.call(SOP_CLASS_NAMES, uid)) return SOP_CLASS_NAMES[uid] ?? null;
  if (hasOwn.call(TRANSFER_SYNTAX_NAMES, uid)) return TRANSFER_SYNTAX_NAMES[uid] ?? null;
  return null;
}

/** The keyword of a tag (group << 16 | element) the project uses, e.g. 0x00080060 → "Modality". */
export function tagKeyword(tag: number): string | null {
  const key = (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
  return hasOwn.call(TAG_KEYWORDS, key) ? (TAG_KEYWORDS[key] ?? null) : null;
}

/** Storage SOP classes (PS3.4 Annex B): dcmjs names them by the object ("CTImage"), PS3.6 adds "Storage". */
const STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1.";

/**
 * dcmjs's identifier spelled as PS3.6 names the UID: "CTImage" → "CT Image Storage",
 * "OphthalmicPhotography8BitImage" → "Ophthalmic Photography 8 Bit Image Storage", "Comprehensive3DSR" →
 * "Comprehensive 3D SR Storage". Transfer syntax names are already spaced and pass through.
 */
function spelled(uid: string, name: string): string {
  if (name.includes(" ")) return name;
  const words = name
    .replace(/(\d)D(?=[A-Z])/g, "$1D ") // 3DSR → 3D SR
    .replace(/([a-z])([A-Z0-9])/g, "$1 $2") // CTImage's "eI", "y8"
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2") // PETImage → PET Image
    .replace(/(\d)([A-Z][a-z])/g, "$1 $2"); // 8Bit → 8 Bit
  return uid.startsWith(STORAGE_ROOT) && !words.endsWith("Storage") ? `${words} Storage` : words;
}

/**
 * A UID as people read it: "CT Image Storage (1.2.840.10008.5.1.4.1.1.2)", "Explicit Little Endian
 * (1.2.840.10008.1.2.1)"; the bare UID when the dictionary does not name it.
 */
export function describeUid(uid: string): string {
  const name = uidName(uid);
  return name === null ? uid : `${spelled(uid, name)} (${uid})`;
}
