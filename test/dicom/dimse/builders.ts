/**
 * Byte builders for DIMSE command sets (PS3.7 §E, implicit VR LE) and datasets (PS3.5 §7) in implicit
 * VR LE, explicit VR LE and explicit VR BE, with defined or undefined-length sequences and pixel data.
 * Shared by the dimse, dataset and Upper Layer tests.
 */

// ---------------------------------------------------------------------------------------------------
// Command sets
// ---------------------------------------------------------------------------------------------------

/** One command element: a US number, a string (UI/AE, padded to even length) or raw bytes. */
export interface CommandElement {
  element: number;
  value: number | string | Buffer;
  /** Pad strings with NUL (UI) rather than space (AE/LO). Default: NUL for UIDs-looking strings. */
  pad?: 0 | 0x20;
}

function padEven(s: string, pad: number): Buffer {
  const b = Buffer.from(s, "latin1");
  if (b.length % 2 === 0) return b;
  return Buffer.concat([b, Buffer.from([pad])]);
}

/**
 * Encode a command set (group 0000, implicit VR LE), sorted by element, with (0000,0000) Command Group
 * Length first unless `groupLength` is false.
 */
export function commandSet(elements: CommandElement[], groupLength = true): Buffer {
  const sorted = [...elements].sort((a, b) => a.element - b.element);
  const parts: Buffer[] = [];
  for (const e of sorted) {
    let v: Buffer;
    if (typeof e.value === "number") {
      v = Buffer.alloc(2);
      v.writeUInt16LE(e.value);
    } else if (typeof e.value === "string") {
      v = padEven(e.value, e.pad ?? (/^[0-9.]*$/.test(e.value) ? 0x00 : 0x20));
    } else {
      v = e.value;
    }
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0x0000, 0);
    h.writeUInt16LE(e.element, 2);
    h.writeUInt32LE(v.length, 4);
    parts.push(h, v);
  }
  const body = Buffer.concat(parts);
  if (!groupLength) return body;
  const gl = Buffer.alloc(12);
  gl.writeUInt16LE(0x0000, 0);
  gl.writeUInt16LE(0x0000, 2);
  gl.writeUInt32LE(4, 4);
  gl.writeUInt32LE(body.length, 8);
  return Buffer.concat([gl, body]);
}

/** Command Field values (PS3.7 §E.1). */
export const CommandField = {
  C_STORE_RQ: 0x0001,
  C_STORE_RSP: 0x8001,
  C_GET_RQ: 0x0010,
  C_GET_RSP: 0x8010,
  C_FIND_RQ: 0x0020,
  C_FIND_RSP: 0x8020,
  C_MOVE_RQ: 0x0021,
  C_MOVE_RSP: 0x8021,
  C_ECHO_RQ: 0x0030,
  C_ECHO_RSP: 0x8030,
  N_EVENT_REPORT_RQ: 0x0100,
  N_EVENT_REPORT_RSP: 0x8100,
  N_GET_RQ: 0x0110,
  N_GET_RSP: 0x8110,
  N_SET_RQ: 0x0120,
  N_SET_RSP: 0x8120,
  N_ACTION_RQ: 0x0130,
  N_ACTION_RSP: 0x8130,
  N_CREATE_RQ: 0x0140,
  N_CREATE_RSP: 0x8140,
  N_DELETE_RQ: 0x0150,
  N_DELETE_RSP: 0x8150,
  C_CANCEL_RQ: 0x0fff,
} as const;

export const NO_DATA_SET = 0x0101;
export const DATA_SET_PRESENT = 0x0000;

export interface CommandOptions {
  field: number;
  messageId?: number;
  respondedTo?: number;
  affectedSopClass?: string;
  requestedSopClass?: string;
  affectedSopInstance?: string;
  requestedSopInstance?: string;
  priority?: number;
  status?: number;
  moveDestination?: string;
  dataSet?: boolean;
  errorComment?: string;
  subOperations?: [number, number, number, number];
}

/** A command set with the usual elements of PS3.7 §9.3 / §10.3. */
export function command(o: CommandOptions): Buffer {
  const els: CommandElement[] = [{ element: 0x0100, value: o.field }];
  if (o.affectedSopClass !== undefined) els.push({ element: 0x0002, value: o.affectedSopClass });
  if (o.requestedSopClass !== undefined) els.push({ element: 0x0003, value: o.requestedSopClass });
  if (o.messageId !== undefined) els.push({ element: 0x0110, value: o.messageId });
  if (o.respondedTo !== undefined) els.push({ element: 0x0120, value: o.respondedTo });
  if (o.moveDestination !== undefined) els.push({ element: 0x0600, value: o.moveDestination, pad: 0x20 });
  if (o.priority !== undefined) els.push({ element: 0x0700, value: o.priority });
  els.push({ element: 0x0800, value: o.dataSet ? DATA_SET_PRESENT : NO_DATA_SET });
  if (o.status !== undefined) els.push({ element: 0x0900, value: o.status });
  if (o.errorComment !== undefined) els.push({ element: 0x0902, value: o.errorComment, pad: 0x20 });
  if (o.affectedSopInstance !== undefined) els.push({ element: 0x1000, value: o.affectedSopInstance });
  if (o.requestedSopInstance !== undefined) els.push({ element: 0x1001, value: o.requestedSopInstance });
  if (o.subOperations !== undefined) {
    o.subOperations.forEach((n, i) => els.push({ element: 0x1020 + i, value: n }));
  }
  return commandSet(els);
}

// ---------------------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------------------

export type Encoding = "implicit" | "explicit-le" | "explicit-be";

/** A data element: a string (padded per VR), raw bytes, or a sequence of items. */
export type DsElement =
  | { tag: number; vr: string; value: string | Buffer; undefinedLength?: false }
  | {
      tag: number;
      vr: "SQ" | "UN";
      items: DsElement[][];
      /** Encode the sequence with undefined length and a sequence delimitation item. */
      undefinedLength?: boolean;
      /** Encode each item with undefined length and an item delimitation item. */
      undefinedItems?: boolean;
    }
  | { tag: number; vr: "OB" | "OW"; fragments: Buffer[] }; // encapsulated (undefined length)

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

function u16(n: number, be: boolean): Buffer {
  const b = Buffer.alloc(2);
  if (be) b.writeUInt16BE(n);
  else b.writeUInt16LE(n);
  return b;
}
function u32(n: number, be: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (be) b.writeUInt32BE(n >>> 0);
  else b.writeUInt32LE(n >>> 0);
  return b;
}

function tagBytes(tag: number, be: boolean): Buffer {
  return Buffer.concat([u16(tag >>> 16, be), u16(tag & 0xffff, be)]);
}

function header(tag: number, vr: string, len: number, enc: Encoding): Buffer {
  const be = enc === "explicit-be";
  if (enc === "implicit") return Buffer.concat([tagBytes(tag, false), u32(len, false)]);
  if (LONG_VRS.has(vr)) {
    return Buffer.concat([tagBytes(tag, be), Buffer.from(vr, "latin1"), Buffer.alloc(2), u32(len, be)]);
  }
  return Buffer.concat([tagBytes(tag, be), Buffer.from(vr, "latin1"), u16(len, be)]);
}

function delimiter(tag: number, len: number, enc: Encoding): Buffer {
  const be = enc === "explicit-be";
  return Buffer.concat([tagBytes(tag, be), u32(len, be)]);
}

const ITEM = 0xfffee000;
const ITEM_DELIM = 0xfffee00d;
const SEQ_DELIM = 0xfffee0dd;
const UNDEFINED = 0xffffffff;

function stringValue(vr: string, s: string): Buffer {
  return padEven(s, vr === "UI" ? 0x00 : 0x20);
}

/** Encode elements in the given order (callers keep them ascending unless a test wants otherwise). */
export function dataset(elements: DsElement[], enc: Encoding): Buffer {
  const parts: Buffer[] = [];
  for (const e of elements) parts.push(element(e, enc));
  return Buffer.concat(parts);
}

function element(e: DsElement, enc: Encoding): Buffer {
  if ("items" in e) {
    // UN of undefined length holds implicit VR LE content (PS3.5 §6.2.2).
    const inner: Encoding = e.vr === "UN" ? "implicit" : enc;
    const items = e.items.map((it) => {
      const body = dataset(it, inner);
      if (e.undefinedItems) {
        return Buffer.concat([delimiter(ITEM, UNDEFINED, inner), body, delimiter(ITEM_DELIM, 0, inner)]);
      }
      return Buffer.concat([delimiter(ITEM, body.length, inner), body]);
    });
    const body = Buffer.concat(items);
    if (e.undefinedLength || e.vr === "UN") {
      return Buffer.concat([header(e.tag, e.vr, UNDEFINED, enc), body, delimiter(SEQ_DELIM, 0, inner)]);
    }
    return Buffer.concat([header(e.tag, e.vr, body.length, enc), body]);
  }
  if ("fragments" in e) {
    const frags = e.fragments.map((f) => Buffer.concat([delimiter(ITEM, f.length, enc), f]));
    return Buffer.concat([
      header(e.tag, e.vr, UNDEFINED, enc),
      delimiter(ITEM, 0, enc), // empty Basic Offset Table
      ...frags,
      delimiter(SEQ_DELIM, 0, enc),
    ]);
  }
  const v = typeof e.value === "string" ? stringValue(e.vr, e.value) : e.value;
  return Buffer.concat([header(e.tag, e.vr, v.length, enc), v]);
}

/** Patient attributes that must never leave the parser (used by leak tests). */
export const SECRET_PATIENT_NAME = "DOE^JANE^SECRET";
export const SECRET_PATIENT_ID = "PID-4242-SECRET";

export interface ImageOptions {
  modality?: string;
  manufacturer?: string;
  institution?: string;
  station?: string;
  model?: string;
  serial?: string;
  software?: string;
  /** Pixel data length in bytes (native OW); 0 for none. */
  pixelBytes?: number;
  /** Put an undefined-length sequence with nested undefined-length items before the wanted tags. */
  nestedSequences?: boolean;
  /** Encapsulated pixel data fragments instead of native pixel data. */
  fragments?: Buffer[];
}

/** A typical image dataset: SOP common, equipment, patient (secret), equipment group 0018, pixel data. */
export function imageDataset(enc: Encoding, o: ImageOptions = {}): Buffer {
  const els: DsElement[] = [
    { tag: 0x00080005, vr: "CS", value: "ISO_IR 100" },
    { tag: 0x00080016, vr: "UI", value: "1.2.840.10008.5.1.4.1.1.2" },
    { tag: 0x00080018, vr: "UI", value: "1.2.3.4.5.6.7.8.9" },
    { tag: 0x00080020, vr: "DA", value: "20260101" },
    { tag: 0x00080050, vr: "SH", value: "ACC-SECRET-1" },
    { tag: 0x00080060, vr: "CS", value: o.modality ?? "CT" },
    { tag: 0x00080070, vr: "LO", value: o.manufacturer ?? "ACME Medical Systems" },
    { tag: 0x00080080, vr: "LO", value: o.institution ?? "St Mary Hospital" },
    { tag: 0x00080090, vr: "PN", value: "REFERRING^DOCTOR^SECRET" },
  ];
  if (o.nestedSequences) {
    els.push({
      tag: 0x00080096, // Referring Physician Identification Sequence
      vr: "SQ",
      undefinedLength: true,
      undefinedItems: true,
      items: [
        [
          { tag: 0x00080100, vr: "SH", value: "CODE-SECRET" },
          {
            tag: 0x00080104, // a nested sequence inside the item (not a real layout; tests nesting)
            vr: "SQ",
            undefinedLength: true,
            undefinedItems: false,
            items: [[{ tag: 0x00100010, vr: "PN", value: SECRET_PATIENT_NAME }]],
          },
        ],
        [{ tag: 0x00080102, vr: "SH", value: "DCM" }],
      ],
    });
  }
  els.push(
    { tag: 0x00081010, vr: "SH", value: o.station ?? "CT01-ROOM1" },
    { tag: 0x00081030, vr: "LO", value: "STUDY DESCRIPTION SECRET" },
    { tag: 0x00081090, vr: "LO", value: o.model ?? "Scanmaster 9000" },
    { tag: 0x00100010, vr: "PN", value: SECRET_PATIENT_NAME },
    { tag: 0x00100020, vr: "LO", value: SECRET_PATIENT_ID },
    { tag: 0x00100030, vr: "DA", value: "19700101" },
    { tag: 0x00181000, vr: "LO", value: o.serial ?? "SN-12345" },
    { tag: 0x00181020, vr: "LO", value: o.software ?? "VA10A\\SP2" },
    { tag: 0x00200010, vr: "SH", value: "STUDYID-SECRET" },
    { tag: 0x00280010, vr: "US", value: Buffer.from([0, 2]) },
  );
  if (o.fragments) els.push({ tag: 0x7fe00010, vr: "OB", fragments: o.fragments });
  else if ((o.pixelBytes ?? 0) > 0) {
    els.push({ tag: 0x7fe00010, vr: "OW", value: Buffer.alloc(o.pixelBytes ?? 0, 0x5a) });
  }
  return dataset(els, enc);
}

/** The attributes imageDataset() writes with default options. */
export const DEFAULT_EQUIPMENT = {
  modality: "CT",
  manufacturer: "ACME Medical Systems",
  institutionName: "St Mary Hospital",
  stationName: "CT01-ROOM1",
  manufacturerModelName: "Scanmaster 9000",
  deviceSerialNumber: "SN-12345",
  softwareVersions: ["VA10A", "SP2"],
};

/** Split a buffer into pieces at the given cut offsets (sorted, deduplicated, within bounds). */
export function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const cs = [...new Set(cuts.filter((c) => c > 0 && c < buf.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cs) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}
