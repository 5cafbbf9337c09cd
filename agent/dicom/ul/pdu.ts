/**
 * Pure decoders for the DICOM Upper Layer PDUs that carry association control (PS3.8 §9.3.2–§9.3.4,
 * §9.3.6–§9.3.8) and for the user information sub-items of PS3.7 Annex D.3.3.
 *
 * Every decoder reads `(buf, offset, end)`, checks the bound before each read, never throws, and reports
 * malformed input through `UlIssues` with a stable code, then skips to the end of the offending item.
 * All multi-byte integers of the Upper Layer are big endian (PS3.8 §9.3.1).
 *
 * Nothing secret is kept: of a user identity (PS3.7 D.3.3.7) only the type, the username (types 1 and 2)
 * and whether a secondary field was present survive decoding; the passcode or token bytes are never read
 * into a string, and no detail message quotes them.
 */

import { isUtf8 } from "node:buffer";
import type { AnomalyCode } from "../../util/anomaly-catalogue.js";

/** Receives malformed-input reports from the decoders; the caller adds layer and flow. */
export interface UlIssues {
  issue(code: AnomalyCode, detail: string): void;
}

// PDU types, PS3.8 §9.3.1 Table 9-1 (numbering used by §9.3.2 onwards).
export const PDU_ASSOCIATE_RQ = 0x01;
export const PDU_ASSOCIATE_AC = 0x02;
export const PDU_ASSOCIATE_RJ = 0x03;
export const PDU_P_DATA_TF = 0x04;
export const PDU_RELEASE_RQ = 0x05;
export const PDU_RELEASE_RP = 0x06;
export const PDU_ABORT = 0x07;

// Item and sub-item types, PS3.8 §9.3.2.1–§9.3.3.3 and PS3.7 Annex D.3.3.
const ITEM_APPLICATION_CONTEXT = 0x10;
const ITEM_PRESENTATION_CONTEXT_RQ = 0x20;
const ITEM_PRESENTATION_CONTEXT_AC = 0x21;
const ITEM_ABSTRACT_SYNTAX = 0x30;
const ITEM_TRANSFER_SYNTAX = 0x40;
const ITEM_USER_INFORMATION = 0x50;
const ITEM_MAXIMUM_LENGTH = 0x51;
const ITEM_IMPLEMENTATION_CLASS_UID = 0x52;
const ITEM_ASYNCHRONOUS_OPERATIONS_WINDOW = 0x53;
const ITEM_SCP_SCU_ROLE_SELECTION = 0x54;
const ITEM_IMPLEMENTATION_VERSION_NAME = 0x55;
const ITEM_SOP_CLASS_EXTENDED_NEGOTIATION = 0x56;
const ITEM_SOP_CLASS_COMMON_EXTENDED_NEGOTIATION = 0x57;
const ITEM_USER_IDENTITY_RQ = 0x58;
const ITEM_USER_IDENTITY_AC = 0x59;

/** PDU header: type (1), reserved (1), PDU-length (4, big endian) — PS3.8 §9.3.1. */
export const PDU_HEADER_LENGTH = 6;
/** Fixed part of A-ASSOCIATE-RQ/AC after the header: version 2 + reserved 2 + AEs 32 + reserved 32. */
const ASSOCIATE_FIXED_LENGTH = 68;

// Caps on lists a peer controls, so one hostile A-ASSOCIATE-RQ cannot grow memory without bound.
// Presentation context IDs are odd numbers 1..255 (PS3.8 §9.3.2.2), so 128 is the legitimate maximum.
const MAX_PRESENTATION_CONTEXTS = 256;
const MAX_TRANSFER_SYNTAXES_PER_CONTEXT = 64;
const MAX_NEGOTIATION_ITEMS = 256;
const MAX_RELATED_GENERAL_SOP_CLASSES = 64;
/** UIDs are at most 64 characters (PS3.5 §9.1). */
export const MAX_UID_LENGTH = 64;
/** A longer primary field is not kept as a username (it is reported, and a real one is short). */
export const MAX_USERNAME_BYTES = 128;

export interface PresentationContextItem {
  /** Presentation-context-ID: odd, 1..255 (PS3.8 §9.3.2.2). */
  id: number;
  /** Abstract syntax (SOP class) UID: RQ only (sub-item 0x30), else null. */
  abstractSyntax: string | null;
  /** Proposed transfer syntaxes (RQ), or the one the acceptor chose (AC, kept even when not significant). */
  transferSyntaxes: string[];
  /** Result/Reason of the AC item (PS3.8 §9.3.3.2): 0 acceptance .. 4; null in an RQ item. */
  result: number | null;
}

export interface RoleSelection {
  sopClassUid: string;
  /** SCU-role and SCP-role bytes (PS3.7 D.3.3.4): 0 or 1. */
  scuRole: number;
  scpRole: number;
}

export interface ExtendedNegotiation {
  sopClassUid: string;
  /** Length of the service-class-application-information; the bytes themselves are not kept. */
  applicationInformationLength: number;
}

export interface CommonExtendedNegotiation {
  sopClassUid: string;
  serviceClassUid: string;
  relatedGeneralSopClasses: string[];
}

export interface UserIdentityRequest {
  /** User-Identity-Type (PS3.7 D.3.3.7.1): 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT. */
  type: number;
  positiveResponseRequested: boolean;
  /** The primary field for types 1 and 2; null for token types (a token is never kept). */
  username: string | null;
  /** True when the secondary field (the passcode of type 2) is non-empty. Its bytes are never kept. */
  passcodePresent: boolean;
}

export interface UserIdentityResponse {
  /** True when the acceptor sent a non-empty server response (PS3.7 D.3.3.7.2); its bytes are not kept. */
  serverResponsePresent: boolean;
}

export interface UserInformation {
  /** Maximum-length-received (sub-item 0x51); 0 means no limit (PS3.8 D.1.1). */
  maxLength: number | null;
  implementationClassUid: string | null;
  implementationVersionName: string | null;
  asynchronousOperations: { invoked: number; performed: number } | null;
  roleSelections: RoleSelection[];
  extendedNegotiations: ExtendedNegotiation[];
  commonExtendedNegotiations: CommonExtendedNegotiation[];
  userIdentity: UserIdentityRequest | null;
  userIdentityResponse: UserIdentityResponse | null;
}

export interface AssociatePdu {
  pduType: typeof PDU_ASSOCIATE_RQ | typeof PDU_ASSOCIATE_AC;
  protocolVersion: number;
  /** Decoded leniently by decodeAeTitle: padding trimmed, control characters "?", "" when blank. */
  calledAE: string;
  callingAE: string;
  applicationContext: string | null;
  presentationContexts: PresentationContextItem[];
  userInformation: UserInformation | null;
}

export interface AssociateRjPdu {
  /** 1 rejected-permanent, 2 rejected-transient (PS3.8 §9.3.4). */
  result: number;
  /** 1 service-user, 2 service-provider (ACSE), 3 service-provider (presentation). */
  source: number;
  reason: number;
}

export interface AbortPdu {
  /** 0 service-user, 2 service-provider (PS3.8 §9.3.8); 1 is reserved. */
  source: number;
  reason: number;
}

const hex2 = (n: number): string => "0x" + n.toString(16).padStart(2, "0");

/** PS3.8 name of a PDU type, for anomaly details. */
export function pduName(type: number): string {
  switch (type) {
    case PDU_ASSOCIATE_RQ:
      return "A-ASSOCIATE-RQ";
    case PDU_ASSOCIATE_AC:
      return "A-ASSOCIATE-AC";
    case PDU_ASSOCIATE_RJ:
      return "A-ASSOCIATE-RJ";
    case PDU_P_DATA_TF:
      return "P-DATA-TF";
    case PDU_RELEASE_RQ:
      return "A-RELEASE-RQ";
    case PDU_RELEASE_RP:
      return "A-RELEASE-RP";
    case PDU_ABORT:
      return "A-ABORT";
    default:
      return "PDU " + hex2(type);
  }
}

/** Big-endian reads; callers have checked the bound. */
const u16 = (b: Buffer, o: number): number => ((b[o]! << 8) | b[o + 1]!) >>> 0;
const u32 = (b: Buffer, o: number): number =>
  b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
export { u16 as readU16BE, u32 as readU32BE };

/**
 * Printable ISO 646 text (0x20..0x7E) from bytes; anything else becomes "?" so a report never carries
 * control characters or bytes of an unknown character set. Returns [text, allPrintable].
 */
function asciiText(buf: Buffer, start: number, end: number, forbidBackslash: boolean): [string, boolean] {
  let s = "";
  let ok = true;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c > 0x7e || (forbidBackslash && c === 0x5c)) {
      ok = false;
      s += "?";
    } else s += String.fromCharCode(c);
  }
  return [s, ok];
}

/**
 * An AE title field (PS3.8 §9.3.2, Table 9-11): 16 bytes of the ISO 646 default repertoire without
 * control characters and without backslash (PS3.5 §6.2, VR AE), space padded, leading and trailing spaces
 * not significant. Decoded as real modalities send it, leniently, and flagged, never refused (issue 9):
 *
 *   trailing NULs and spaces   trimmed (NUL padding: ul.ae-title-nul-padded)
 *   leading spaces             trimmed (ul.ae-title-leading-spaces; legal, but peers compare untrimmed)
 *   control / non-ISO 646 / \  shown as "?" (ul.ae-title-invalid)
 *   lower case                 kept as sent (ul.ae-title-lower-case; legal, but peers compare exactly)
 *   all spaces or NULs         "" (ul.ae-title-blank: "shall not be used", PS3.5 Table 6.2-1)
 *
 * A NUL inside the title (before its last significant character) is a control character like any other.
 */
export function decodeAeTitle(buf: Buffer, offset: number, issues: UlIssues, which: string): string {
  const start = offset;
  let end = Math.min(offset + 16, buf.length);
  let nulPadded = false;
  while (end > start && (buf[end - 1] === 0x20 || buf[end - 1] === 0x00)) {
    if (buf[end - 1] === 0x00) nulPadded = true;
    end--;
  }
  let s = start;
  while (s < end && buf[s] === 0x20) s++;
  if (s === end) {
    issues.issue("ul.ae-title-blank", `${which} AE title is blank (all spaces or NULs)`);
    return "";
  }
  const [title, ok] = asciiText(buf, s, end, true);
  if (!ok)
    issues.issue("ul.ae-title-invalid", `${which} AE title has bytes outside ISO 646 or control characters`);
  if (nulPadded) issues.issue("ul.ae-title-nul-padded", `${which} AE title is padded with NULs, not spaces`);
  if (s > start) issues.issue("ul.ae-title-leading-spaces", `${which} AE title starts with spaces`);
  if (/[a-z]/.test(title)) issues.issue("ul.ae-title-lower-case", `${which} AE title has lower-case letters`);
  return title;
}

/**
 * A UID value (PS3.5 §9.1): digits and dots, at most 64 characters. Senders pad an odd length with one
 * NUL (and some with spaces); the padding is stripped. An invalid UID is kept (with "?" for unprintable
 * bytes, cut to 64 characters) and reported.
 */
export function decodeUid(buf: Buffer, start: number, end: number, issues: UlIssues, what: string): string {
  while (end > start && (buf[end - 1] === 0 || buf[end - 1] === 0x20)) end--;
  let bad = end - start > MAX_UID_LENGTH || end === start;
  const stop = Math.min(end, start + MAX_UID_LENGTH);
  let printable = true;
  for (let i = start; i < stop; i++) {
    const c = buf[i]!;
    if ((c >= 0x30 && c <= 0x39) || c === 0x2e) continue;
    bad = true;
    if (c < 0x20 || c > 0x7e) printable = false;
  }
  if (bad) issues.issue("ul.uid-invalid", `${what} is not a UID of digits and dots up to 64 characters`);
  if (!printable) {
    let s = "";
    for (let i = start; i < stop; i++) {
      const c = buf[i]!;
      s += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : "?";
    }
    return s;
  }
  return buf.toString("latin1", start, stop);
}

/**
 * The same few dozen UIDs (transfer syntaxes, SOP classes) come in every A-ASSOCIATE PDU, up to 128
 * presentation contexts each: one shared string each, instead of a copy per context (the report keeps
 * thousands of these records; memory budget of agent/pipeline/pipeline.ts). Owned by the pipeline (one
 * for all its connections) and bounded: cleared when full.
 */
export class UidInterner {
  private readonly strings = new Map<string, string>();

  constructor(private readonly max = 4096) {}

  intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    if (this.strings.size >= this.max) this.strings.clear();
    this.strings.set(s, s);
    return s;
  }

  /** intern of a UID that may be absent. */
  internOrNull(s: string | null): string | null {
    return s === null ? null : this.intern(s);
  }
}

/**
 * Item header shared by all items and sub-items (PS3.8 §9.3.2.1 onwards):
 *
 *   0        1          2..3
 *   +--------+----------+-------------------+-----------------
 *   | type   | reserved | item-length (BE)  | value (item-length bytes)
 *   +--------+----------+-------------------+-----------------
 *
 * Calls `each(type, valueStart, valueEnd)` for every complete item in [offset, end); an item whose length
 * runs past `end` is reported and ends the walk (the parent's bound wins). `reservedChecked` tells whether
 * byte 1 is reserved (it is not for 0x57, where it holds the sub-item version).
 */
function walkItems(
  buf: Buffer,
  offset: number,
  end: number,
  issues: UlIssues,
  where: string,
  each: (type: number, start: number, end: number) => void,
): void {
  let p = offset;
  while (p < end) {
    if (end - p < 4) {
      issues.issue("ul.item-truncated", `${where}: ${end - p} trailing bytes are too few for an item header`);
      return;
    }
    const type = buf[p]!;
    const len = u16(buf, p + 2);
    if (p + 4 + len > end) {
      issues.issue(
        "ul.item-exceeds-parent",
        `${where}: item ${hex2(type)} length ${len} runs past its parent`,
      );
      return;
    }
    if (buf[p + 1] !== 0 && type !== ITEM_SOP_CLASS_COMMON_EXTENDED_NEGOTIATION)
      issues.issue("ul.nonzero-reserved", `${where}: reserved byte of item ${hex2(type)} is not zero`);
    each(type, p + 4, p + 4 + len);
    p += 4 + len;
  }
}

/**
 * Presentation context item of an A-ASSOCIATE-RQ (PS3.8 §9.3.2.2), value part:
 *
 *   0          1         2         3         4..
 *   +----------+---------+---------+---------+----------------------------------------------+
 *   | pc-id    | reserved| reserved| reserved| one abstract syntax 0x30, transfer syntaxes 0x40 |
 *   +----------+---------+---------+---------+----------------------------------------------+
 */
export function decodePresentationContextRq(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
): PresentationContextItem | null {
  if (end - start < 4) {
    issues.issue("ul.item-truncated", "presentation context (RQ) shorter than 4 bytes");
    return null;
  }
  const id = buf[start]!;
  checkPcId(id, issues);
  // Byte 2 is where the AC carries result/reason; DCMTK (the most common toolkit) sends 0xFF there in every
  // RQ. The byte is "not tested" (PS3.8 §9.3.2.2), so that value is taken as the toolkit's habit, not news.
  const b2 = buf[start + 2];
  if (buf[start + 1] !== 0 || (b2 !== 0 && b2 !== 0xff) || buf[start + 3] !== 0)
    issues.issue("ul.nonzero-reserved", `presentation context ${id} (RQ): reserved bytes are not zero`);
  const pc: PresentationContextItem = { id, abstractSyntax: null, transferSyntaxes: [], result: null };
  let abstractCount = 0;
  walkItems(buf, start + 4, end, issues, `presentation context ${id}`, (type, s, e) => {
    if (type === ITEM_ABSTRACT_SYNTAX) {
      abstractCount++;
      const uid = decodeUid(buf, s, e, issues, "abstract syntax");
      if (pc.abstractSyntax === null) pc.abstractSyntax = uid;
    } else if (type === ITEM_TRANSFER_SYNTAX) {
      const uid = decodeUid(buf, s, e, issues, "transfer syntax");
      if (pc.transferSyntaxes.length < MAX_TRANSFER_SYNTAXES_PER_CONTEXT) pc.transferSyntaxes.push(uid);
      else
        issues.issue(
          "ul.list-capped",
          `presentation context ${id}: more than ${MAX_TRANSFER_SYNTAXES_PER_CONTEXT} transfer syntaxes`,
        );
    } else
      issues.issue("ul.unknown-item", `presentation context ${id} (RQ): unexpected sub-item ${hex2(type)}`);
  });
  // PS3.8 §9.3.2.2: exactly one abstract syntax and one or more transfer syntaxes.
  if (abstractCount !== 1)
    issues.issue(
      "ul.pc-abstract-syntax-count",
      `presentation context ${id}: ${abstractCount} abstract syntaxes`,
    );
  if (pc.transferSyntaxes.length === 0)
    issues.issue("ul.pc-no-transfer-syntax", `presentation context ${id}: no transfer syntax`);
  return pc;
}

/**
 * Presentation context item of an A-ASSOCIATE-AC (PS3.8 §9.3.3.2), value part:
 *
 *   0          1         2               3         4..
 *   +----------+---------+---------------+---------+------------------------+
 *   | pc-id    | reserved| result/reason | reserved| one transfer syntax 0x40 |
 *   +----------+---------+---------------+---------+------------------------+
 *
 * Result: 0 acceptance, 1 user-rejection, 2 no-reason (provider rejection), 3 abstract-syntax-not-supported,
 * 4 transfer-syntaxes-not-supported. The transfer syntax is significant only on acceptance.
 */
export function decodePresentationContextAc(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
): PresentationContextItem | null {
  if (end - start < 4) {
    issues.issue("ul.item-truncated", "presentation context (AC) shorter than 4 bytes");
    return null;
  }
  const id = buf[start]!;
  checkPcId(id, issues);
  const result = buf[start + 2]!;
  if (buf[start + 1] !== 0 || buf[start + 3] !== 0)
    issues.issue("ul.nonzero-reserved", `presentation context ${id} (AC): reserved bytes are not zero`);
  if (result > 4) issues.issue("ul.pc-result-invalid", `presentation context ${id}: result/reason ${result}`);
  const pc: PresentationContextItem = { id, abstractSyntax: null, transferSyntaxes: [], result };
  walkItems(buf, start + 4, end, issues, `presentation context ${id} (AC)`, (type, s, e) => {
    if (type === ITEM_TRANSFER_SYNTAX) {
      if (pc.transferSyntaxes.length === 0)
        pc.transferSyntaxes.push(decodeUid(buf, s, e, issues, "transfer syntax"));
      else
        issues.issue(
          "ul.pc-transfer-syntax-count",
          `presentation context ${id} (AC): more than one transfer syntax`,
        );
    } else
      issues.issue("ul.unknown-item", `presentation context ${id} (AC): unexpected sub-item ${hex2(type)}`);
  });
  return pc;
}

function checkPcId(id: number, issues: UlIssues): void {
  // PS3.8 §9.3.2.2: presentation-context-IDs are odd integers between 1 and 255.
  if ((id & 1) === 0) issues.issue("ul.pc-id-invalid", `presentation context ID ${id} is not odd`);
}

/** SCP/SCU role selection (PS3.7 D.3.3.4): uid-length (2), SOP class UID, SCU-role (1), SCP-role (1). */
export function decodeRoleSelection(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
): RoleSelection | null {
  if (end - start < 2) return truncated(issues, "SCP/SCU role selection");
  const n = u16(buf, start);
  if (start + 2 + n + 2 > end) return truncated(issues, "SCP/SCU role selection");
  const sopClassUid = decodeUid(buf, start + 2, start + 2 + n, issues, "role selection SOP class");
  const scuRole = buf[start + 2 + n]!;
  const scpRole = buf[start + 3 + n]!;
  if (scuRole > 1 || scpRole > 1)
    issues.issue("ul.role-invalid", `role selection values ${scuRole}/${scpRole}`);
  return { sopClassUid, scuRole, scpRole };
}

/** SOP class extended negotiation (PS3.7 D.3.3.5): uid-length (2), SOP class UID, application information. */
export function decodeExtendedNegotiation(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
): ExtendedNegotiation | null {
  if (end - start < 2) return truncated(issues, "SOP class extended negotiation");
  const n = u16(buf, start);
  if (start + 2 + n > end) return truncated(issues, "SOP class extended negotiation");
  return {
    sopClassUid: decodeUid(buf, start + 2, start + 2 + n, issues, "extended negotiation SOP class"),
    applicationInformationLength: end - (start + 2 + n),
  };
}

/**
 * SOP class common extended negotiation (PS3.7 D.3.3.6). Byte 1 of the item header is the sub-item
 * version (0), not a reserved byte. Value part:
 *
 *   sop-class-uid-length (2) | SOP class UID | service-class-uid-length (2) | service class UID |
 *   related-general-sop-class-identification-length (2) | { uid-length (2) | related general SOP class UID }*
 */
export function decodeCommonExtendedNegotiation(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
): CommonExtendedNegotiation | null {
  const what = "SOP class common extended negotiation";
  let p = start;
  if (end - p < 2) return truncated(issues, what);
  const n1 = u16(buf, p);
  if (p + 2 + n1 + 2 > end) return truncated(issues, what);
  const sopClassUid = decodeUid(buf, p + 2, p + 2 + n1, issues, "common extended negotiation SOP class");
  p += 2 + n1;
  const n2 = u16(buf, p);
  if (p + 2 + n2 + 2 > end) return truncated(issues, what);
  const serviceClassUid = decodeUid(
    buf,
    p + 2,
    p + 2 + n2,
    issues,
    "common extended negotiation service class",
  );
  p += 2 + n2;
  const n3 = u16(buf, p);
  p += 2;
  if (p + n3 > end) return truncated(issues, what);
  const relEnd = p + n3;
  const relatedGeneralSopClasses: string[] = [];
  while (p < relEnd) {
    if (relEnd - p < 2) {
      truncated(issues, what);
      break;
    }
    const n = u16(buf, p);
    if (p + 2 + n > relEnd) {
      truncated(issues, what);
      break;
    }
    const uid = decodeUid(buf, p + 2, p + 2 + n, issues, "related general SOP class");
    if (relatedGeneralSopClasses.length < MAX_RELATED_GENERAL_SOP_CLASSES) relatedGeneralSopClasses.push(uid);
    else {
      issues.issue(
        "ul.list-capped",
        `more than ${MAX_RELATED_GENERAL_SOP_CLASSES} related general SOP classes`,
      );
      break;
    }
    p += 2 + n;
  }
  return { sopClassUid, serviceClassUid, relatedGeneralSopClasses };
}

/**
 * User identity negotiation, A-ASSOCIATE-RQ sub-item 0x58 (PS3.7 D.3.3.7.1), value part:
 *
 *   0      1                            2..3                 4..          k..k+1                k+2..
 *   +------+----------------------------+--------------------+------------+---------------------+-----------+
 *   | type | positive-response-requested| primary-field-len  | primary    | secondary-field-len | secondary |
 *   +------+----------------------------+--------------------+------------+---------------------+-----------+
 *
 * Type 1 username, 2 username and passcode, 3 Kerberos ticket, 4 SAML assertion, 5 JSON Web Token.
 * Only the username of types 1 and 2 is decoded; the secondary field is measured, never read.
 *
 * Privacy: a byte of the primary field is kept only when nothing about the sub-item suggests that its
 * lengths lie, because a primary-field-length stretched over the secondary-field-length would carry the
 * passcode out as part of the "username". All of these must hold, else no username is kept and an
 * anomaly says why:
 *   - the two lengths tile the sub-item exactly: 4 + primary + 2 + secondary = item length
 *     (ul.user-identity-length-mismatch);
 *   - type 2 declares a non-empty secondary field: an empty one may be the trailing bytes after a
 *     primary field that swallowed the passcode (ul.user-identity-no-passcode);
 *   - the primary field is well-formed UTF-8 (D.3.3.7.1) of at most MAX_USERNAME_BYTES, with no C0, DEL
 *     or C1 control character (ul.user-identity-username-invalid). A swallowed secondary-field-length
 *     puts one there whenever one of its two bytes is below 0x20: every passcode under 8 KiB, in either
 *     byte order.
 * What is left is a sender that declares a secondary length of 8 KiB or more whose two bytes read as
 * text, a primary length that covers it and trailing bytes that tile: by the encoding those bytes are
 * then the username, and no decoder can tell otherwise.
 */
export function decodeUserIdentityRq(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
): UserIdentityRequest | null {
  if (end - start < 4) return truncated(issues, "user identity");
  const type = buf[start]!;
  const positiveResponseRequested = buf[start + 1] === 1;
  if (type < 1 || type > 5) issues.issue("ul.user-identity-type-invalid", `user identity type ${type}`);
  const primaryLength = u16(buf, start + 2);
  const primaryStart = start + 4;
  const k = primaryStart + primaryLength;
  // The secondary-field-length is mandatory in the encoding, 0 when there is no secondary field.
  const secondaryLength = k + 2 <= end ? u16(buf, k) : -1;
  const exact = secondaryLength >= 0 && k + 2 + secondaryLength === end;
  if (!exact) {
    issues.issue(
      "ul.user-identity-length-mismatch",
      `user identity fields (primary ${primaryLength}, secondary ${secondaryLength < 0 ? "absent" : secondaryLength}) ` +
        `do not fill its ${end - start}-byte value; no username kept`,
    );
    // Which bytes are the passcode is unknown: for type 2 assume one was sent (the conservative reading
    // for dicom.cleartext-credentials); otherwise only a declared non-empty secondary field counts.
    return {
      type,
      positiveResponseRequested,
      username: null,
      passcodePresent: type === 2 || secondaryLength > 0,
    };
  }
  const passcodePresent = secondaryLength > 0;
  if (type === 2 && !passcodePresent)
    issues.issue("ul.user-identity-no-passcode", "user identity type 2 without a passcode; no username kept");
  let username: string | null = null;
  if (type === 1 || (type === 2 && passcodePresent)) {
    const why = usernameFault(buf, primaryStart, k);
    if (why)
      issues.issue(
        "ul.user-identity-username-invalid",
        `user identity primary field ${why}; no username kept`,
      );
    else username = buf.toString("utf8", primaryStart, k);
  }
  return { type, positiveResponseRequested, username, passcodePresent };
}

/** User identity negotiation, A-ASSOCIATE-AC sub-item 0x59 (PS3.7 D.3.3.7.2): server-response-length (2), response. */
export function decodeUserIdentityAc(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
): UserIdentityResponse | null {
  if (end - start < 2) return truncated(issues, "user identity response");
  const n = u16(buf, start);
  if (start + 2 + n > end)
    issues.issue("ul.item-truncated", "user identity server response runs past the item");
  return { serverResponsePresent: n > 0 };
}

/** Why the bytes cannot be a username (PS3.7 D.3.3.7.1: a UTF-8 string), or null when they can. */
function usernameFault(buf: Buffer, start: number, end: number): string | null {
  if (end - start > MAX_USERNAME_BYTES) return `is longer than ${MAX_USERNAME_BYTES} bytes`;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c === 0x7f) return "holds a control byte";
    // C1 controls U+0080..U+009F are encoded C2 80..C2 9F.
    if (c === 0xc2 && i + 1 < end && buf[i + 1]! <= 0x9f) return "holds a control character";
  }
  if (!isUtf8(buf.subarray(start, end))) return "is not UTF-8";
  return null;
}

function truncated(issues: UlIssues, what: string): null {
  issues.issue("ul.item-truncated", `${what} is shorter than its fields`);
  return null;
}

function emptyUserInformation(): UserInformation {
  return {
    maxLength: null,
    implementationClassUid: null,
    implementationVersionName: null,
    asynchronousOperations: null,
    roleSelections: [],
    extendedNegotiations: [],
    commonExtendedNegotiations: [],
    userIdentity: null,
    userIdentityResponse: null,
  };
}

/**
 * User information item 0x50 (PS3.8 §9.3.2.3 / §9.3.3.3), value part: a sequence of sub-items.
 * `pduType` says which of the RQ-only (0x58) and AC-only (0x59) sub-items are expected.
 */
export function decodeUserInformation(
  buf: Buffer,
  start: number,
  end: number,
  issues: UlIssues,
  pduType: number,
): UserInformation {
  const ui = emptyUserInformation();
  walkItems(buf, start, end, issues, "user information", (type, s, e) => {
    switch (type) {
      case ITEM_MAXIMUM_LENGTH: // PS3.8 D.1.1: maximum-length-received, 4 bytes
        if (e - s === 4) ui.maxLength = u32(buf, s);
        else issues.issue("ul.item-length-invalid", `maximum length sub-item of ${e - s} bytes, expected 4`);
        break;
      case ITEM_IMPLEMENTATION_CLASS_UID: // PS3.7 D.3.3.2
        ui.implementationClassUid = decodeUid(buf, s, e, issues, "implementation class UID");
        break;
      case ITEM_IMPLEMENTATION_VERSION_NAME: {
        // PS3.7 D.3.3.2: 1 to 16 characters of the ISO 646 default repertoire. Some senders pad with
        // spaces or NULs; the padding is not part of the name.
        let stop = e;
        while (stop > s && (buf[stop - 1] === 0 || buf[stop - 1] === 0x20)) stop--;
        const [name, ok] = asciiText(buf, s, Math.min(stop, s + 16), false);
        if (!ok || stop - s > 16 || stop === s)
          issues.issue(
            "ul.version-name-invalid",
            "implementation version name is not 1-16 ISO 646 characters",
          );
        ui.implementationVersionName = name.trimStart();
        break;
      }
      case ITEM_ASYNCHRONOUS_OPERATIONS_WINDOW: // PS3.7 D.3.3.3: invoked (2), performed (2)
        if (e - s === 4) ui.asynchronousOperations = { invoked: u16(buf, s), performed: u16(buf, s + 2) };
        else
          issues.issue(
            "ul.item-length-invalid",
            `asynchronous operations window of ${e - s} bytes, expected 4`,
          );
        break;
      case ITEM_SCP_SCU_ROLE_SELECTION: {
        const r = decodeRoleSelection(buf, s, e, issues);
        if (r) pushCapped(ui.roleSelections, r, issues, "role selections");
        break;
      }
      case ITEM_SOP_CLASS_EXTENDED_NEGOTIATION: {
        const x = decodeExtendedNegotiation(buf, s, e, issues);
        if (x) pushCapped(ui.extendedNegotiations, x, issues, "extended negotiations");
        break;
      }
      case ITEM_SOP_CLASS_COMMON_EXTENDED_NEGOTIATION: {
        const x = decodeCommonExtendedNegotiation(buf, s, e, issues);
        if (x) pushCapped(ui.commonExtendedNegotiations, x, issues, "common extended negotiations");
        break;
      }
      case ITEM_USER_IDENTITY_RQ:
        if (pduType !== PDU_ASSOCIATE_RQ)
          issues.issue("ul.unexpected-item", "user identity request sub-item in an A-ASSOCIATE-AC");
        ui.userIdentity = decodeUserIdentityRq(buf, s, e, issues);
        break;
      case ITEM_USER_IDENTITY_AC:
        if (pduType !== PDU_ASSOCIATE_AC)
          issues.issue("ul.unexpected-item", "user identity response sub-item in an A-ASSOCIATE-RQ");
        ui.userIdentityResponse = decodeUserIdentityAc(buf, s, e, issues);
        break;
      default:
        issues.issue("ul.unknown-item", `user information: unknown sub-item ${hex2(type)} skipped`);
    }
  });
  return ui;
}

function pushCapped<T>(list: T[], v: T, issues: UlIssues, what: string): void {
  if (list.length < MAX_NEGOTIATION_ITEMS) list.push(v);
  else if (list.length === MAX_NEGOTIATION_ITEMS)
    issues.issue("ul.list-capped", `more than ${MAX_NEGOTIATION_ITEMS} ${what}`);
}

/**
 * A-ASSOCIATE-RQ (PS3.8 §9.3.2) and A-ASSOCIATE-AC (§9.3.3), the whole PDU from its type byte:
 *
 *   0     1    2..5        6..7      8..9   10..25          26..41          42..73      74..
 *   +-----+----+-----------+---------+------+---------------+---------------+-----------+-----------------------+
 *   | 01/ | 00 | PDU-length| protocol| rsvd | called AE     | calling AE    | reserved  | items: 0x10, 0x20/0x21,|
 *   | 02  |    | (BE)      | version |      | (16, padded)  | (16, padded)  | (32)      | 0x50                  |
 *   +-----+----+-----------+---------+------+---------------+---------------+-----------+-----------------------+
 *
 * In the AC the AE fields and the 32 bytes are reserved but echo the RQ; they are decoded, not tested.
 * `end` bounds the read even when the PDU-length says more (the framer passes exactly one PDU).
 */
export function decodeAssociatePdu(
  buf: Buffer,
  offset: number,
  end: number,
  issues: UlIssues,
): AssociatePdu | null {
  end = Math.min(end, buf.length);
  if (end - offset < PDU_HEADER_LENGTH + ASSOCIATE_FIXED_LENGTH) {
    issues.issue(
      "ul.pdu-too-short",
      `A-ASSOCIATE PDU of ${end - offset} bytes is shorter than its fixed fields`,
    );
    return null;
  }
  const pduType = buf[offset]!;
  if (pduType !== PDU_ASSOCIATE_RQ && pduType !== PDU_ASSOCIATE_AC) return null;
  const name = pduName(pduType);
  const protocolVersion = u16(buf, offset + 6);
  // PS3.8 §9.3.2: bit 0 of the protocol version is set (version 1); other bits are reserved.
  if ((protocolVersion & 1) === 0)
    issues.issue("ul.protocol-version", `${name} protocol version ${protocolVersion}`);
  const isRq = pduType === PDU_ASSOCIATE_RQ;
  if (buf[offset + 8] !== 0 || buf[offset + 9] !== 0)
    issues.issue("ul.nonzero-reserved", `${name} reserved bytes at PDU offset 8-9 are not zero`);
  const calledAE = decodeAeTitle(buf, offset + 10, isRq ? issues : SILENT, "called");
  const callingAE = decodeAeTitle(buf, offset + 26, isRq ? issues : SILENT, "calling");
  if (isRq) {
    // A code of its own: the 32 reserved bytes after the AE titles are where nmap's dicom-ping leaves a
    // non-zero byte (a scanner fingerprint), unlike the reserved fields DCMTK itself fills.
    for (let i = 42; i < 74; i++)
      if (buf[offset + i] !== 0) {
        issues.issue("ul.nonzero-reserved-header", `${name} reserved bytes at PDU offset ${i} not zero`);
        break;
      }
  }
  const pdu: AssociatePdu = {
    pduType,
    protocolVersion,
    calledAE,
    callingAE,
    applicationContext: null,
    presentationContexts: [],
    userInformation: null,
  };
  const pcType = isRq ? ITEM_PRESENTATION_CONTEXT_RQ : ITEM_PRESENTATION_CONTEXT_AC;
  let pcCapped = false;
  walkItems(buf, offset + PDU_HEADER_LENGTH + ASSOCIATE_FIXED_LENGTH, end, issues, name, (type, s, e) => {
    if (type === ITEM_APPLICATION_CONTEXT) {
      if (pdu.applicationContext !== null)
        issues.issue("ul.duplicate-item", `${name}: more than one application context`);
      else pdu.applicationContext = decodeUid(buf, s, e, issues, "application context name");
    } else if (type === pcType) {
      const pc = isRq
        ? decodePresentationContextRq(buf, s, e, issues)
        : decodePresentationContextAc(buf, s, e, issues);
      if (pc === null) return;
      if (pdu.presentationContexts.length < MAX_PRESENTATION_CONTEXTS) pdu.presentationContexts.push(pc);
      else if (!pcCapped) {
        pcCapped = true;
        issues.issue(
          "ul.list-capped",
          `${name}: more than ${MAX_PRESENTATION_CONTEXTS} presentation contexts`,
        );
      }
    } else if (type === ITEM_USER_INFORMATION) {
      if (pdu.userInformation !== null)
        issues.issue("ul.duplicate-item", `${name}: more than one user information item`);
      else pdu.userInformation = decodeUserInformation(buf, s, e, issues, pduType);
    } else if (type === ITEM_PRESENTATION_CONTEXT_RQ || type === ITEM_PRESENTATION_CONTEXT_AC) {
      issues.issue("ul.unexpected-item", `${name}: presentation context item ${hex2(type)} of the other PDU`);
    } else issues.issue("ul.unknown-item", `${name}: unknown item ${hex2(type)} skipped`);
  });
  if (pdu.applicationContext === null)
    issues.issue("ul.missing-item", `${name} without an application context item`);
  if (isRq && pdu.presentationContexts.length === 0)
    issues.issue("ul.missing-item", `${name} without presentation contexts`);
  if (pdu.userInformation === null)
    issues.issue("ul.missing-item", `${name} without a user information item`);
  return pdu;
}

const SILENT: UlIssues = { issue() {} };

/**
 * A-ASSOCIATE-RJ (PS3.8 §9.3.4), the whole PDU:
 *
 *   0    1    2..5              6         7        8        9
 *   +----+----+-----------------+---------+--------+--------+--------------+
 *   | 03 | 00 | PDU-length = 4  | reserved| result | source | reason/diag. |
 *   +----+----+-----------------+---------+--------+--------+--------------+
 */
export function decodeAssociateRj(
  buf: Buffer,
  offset: number,
  end: number,
  issues: UlIssues,
): AssociateRjPdu | null {
  end = Math.min(end, buf.length);
  if (end - offset < 10) {
    issues.issue("ul.pdu-too-short", "A-ASSOCIATE-RJ shorter than 10 bytes");
    return null;
  }
  if (buf[offset + 6] !== 0)
    issues.issue("ul.nonzero-reserved", "A-ASSOCIATE-RJ reserved byte at PDU offset 6 not zero");
  const result = buf[offset + 7]!;
  const source = buf[offset + 8]!;
  const reason = buf[offset + 9]!;
  if (result < 1 || result > 2 || source < 1 || source > 3)
    issues.issue(
      "ul.reject-invalid",
      `A-ASSOCIATE-RJ result ${result} source ${source} outside PS3.8 Table 9-21`,
    );
  return { result, source, reason };
}

/**
 * A-ABORT (PS3.8 §9.3.8), the whole PDU:
 *
 *   0    1    2..5             6..7      8        9
 *   +----+----+----------------+---------+--------+--------------+
 *   | 07 | 00 | PDU-length = 4 | reserved| source | reason/diag. |
 *   +----+----+----------------+---------+--------+--------------+
 */
export function decodeAbort(buf: Buffer, offset: number, end: number, issues: UlIssues): AbortPdu | null {
  end = Math.min(end, buf.length);
  if (end - offset < 10) {
    issues.issue("ul.pdu-too-short", "A-ABORT shorter than 10 bytes");
    return null;
  }
  if (buf[offset + 6] !== 0 || buf[offset + 7] !== 0)
    issues.issue("ul.nonzero-reserved", "A-ABORT reserved bytes at PDU offset 6-7 not zero");
  const source = buf[offset + 8]!;
  const reason = buf[offset + 9]!;
  if (source !== 0 && source !== 2) issues.issue("ul.abort-invalid", `A-ABORT source ${source}`);
  else if (source === 2 && reason > 6) issues.issue("ul.abort-invalid", `A-ABORT reason ${reason}`);
  return { source, reason };
}

/**
 * A-RELEASE-RQ (PS3.8 §9.3.6) and A-RELEASE-RP (§9.3.7): a 6-byte header and 4 reserved bytes.
 * Returns false (and reports) when the PDU is short; reserved bytes are reported, not fatal.
 */
export function decodeRelease(buf: Buffer, offset: number, end: number, issues: UlIssues): boolean {
  end = Math.min(end, buf.length);
  const name = pduName(buf[offset] ?? 0);
  if (end - offset < 10) {
    issues.issue("ul.pdu-too-short", `${name} shorter than 10 bytes`);
    return false;
  }
  for (let i = 6; i < 10; i++)
    if (buf[offset + i] !== 0) {
      issues.issue("ul.nonzero-reserved", `${name} reserved bytes at PDU offset 6-9 not zero`);
      break;
    }
  return true;
}
