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
