/**
 * Byte builders for DICOM Upper Layer PDUs and items (PS3.8 §9.3) and for small DIMSE command sets
 * (PS3.7 §9.3, implicit VR little endian), so tests can write whole associations byte for byte.
 * Every builder returns a fresh Buffer; lengths are computed, and can be overridden to build bad input.
 */

export const APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1";
export const IMPLICIT_VR_LE = "1.2.840.10008.1.2";
export const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1";
export const VERIFICATION = "1.2.840.10008.1.1";
export const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
export const DCMTK_IMPLEMENTATION_UID = "1.2.276.0.7230010.3.0.3.6.4";

const u16be = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
};
const u32be = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** A UID as carried on the wire: ASCII, padded with one NUL to an even length (PS3.5 §9.1). */
export function uid(s: string, pad = true): Buffer {
  const b = Buffer.from(s, "latin1");
  return pad && b.length % 2 === 1 ? Buffer.concat([b, Buffer.from([0])]) : b;
}

/** A 16-byte AE title field, space padded (PS3.8 §9.3.2). */
export function aeField(title: string): Buffer {
  const b = Buffer.alloc(16, 0x20);
  Buffer.from(title, "latin1").copy(b, 0, 0, 16);
  return b;
}

/** Any PDU: type, reserved, 4-byte big-endian length, body (PS3.8 §9.3.1). */
export function pdu(type: number, body: Buffer, opts: { reserved?: number; length?: number } = {}): Buffer {
  const h = Buffer.alloc(6);
  h[0] = type;
  h[1] = opts.reserved ?? 0;
  h.writeUInt32BE(opts.length ?? body.length, 2);
  return Buffer.concat([h, body]);
}

/** Any item or sub-item: type, reserved, 2-byte big-endian length, value. */
export function item(type: number, value: Buffer, opts: { reserved?: number; length?: number } = {}): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h[1] = opts.reserved ?? 0;
  h.writeUInt16BE(opts.length ?? value.length, 2);
  return Buffer.concat([h, value]);
}

export const applicationContextItem = (name = APPLICATION_CONTEXT): Buffer => item(0x10, uid(name));
export const abstractSyntaxItem = (s: string): Buffer => item(0x30, uid(s));
export const transferSyntaxItem = (s: string): Buffer => item(0x40, uid(s));

/** Presentation context item of an RQ (0x20): id, 3 reserved, abstract syntax, transfer syntaxes. */
export function presentationContextRq(
  id: number,
  abstractSyntax: string,
  transferSyntaxes: string[],
): Buffer {
  return item(
    0x20,
    Buffer.concat([
      Buffer.from([id, 0, 0, 0]),
      abstractSyntaxItem(abstractSyntax),
      ...transferSyntaxes.map(transferSyntaxItem),
    ]),
  );
}

/** Presentation context item of an AC (0x21): id, reserved, result/reason, reserved, one transfer syntax. */
export function presentationContextAc(id: number, result: number, transferSyntax: string): Buffer {
  return item(0x21, Buffer.concat([Buffer.from([id, 0, result, 0]), transferSyntaxItem(transferSyntax)]));
}

export const maxLengthItem = (n: number): Buffer => item(0x51, u32be(n));
export const implementationClassUidItem = (s: string): Buffer => item(0x52, uid(s));
export const implementationVersionNameItem = (s: string): Buffer => item(0x55, Buffer.from(s, "latin1"));
export const asyncOperationsItem = (invoked: number, performed: number): Buffer =>
  item(0x53, Buffer.concat([u16be(invoked), u16be(performed)]));

export function roleSelectionItem(sopClass: string, scu: number, scp: number): Buffer {
  const u = uid(sopClass, false);
  return item(0x54, Buffer.concat([u16be(u.length), u, Buffer.from([scu, scp])]));
}

export function extendedNegotiationItem(sopClass: string, info: Buffer): Buffer {
  const u = uid(sopClass, false);
  return item(0x56, Buffer.concat([u16be(u.length), u, info]));
}

export function commonExtendedNegotiationItem(
  sopClass: string,
  serviceClass: string,
  related: string[],
): Buffer {
  const s = uid(sopClass, false);
  const c = uid(serviceClass, false);
  const rel = Buffer.concat(
    related.map((r) => {
      const u = uid(r, false);
      return Buffer.concat([u16be(u.length), u]);
    }),
  );
  // PS3.7 D.3.3.6: byte 1 is the sub-item version (0).
  return item(0x57, Buffer.concat([u16be(s.length), s, u16be(c.length), c, u16be(rel.length), rel]));
}

/** User identity RQ (0x58): type, positive-response-requested, primary field, secondary field. */
export function userIdentityRqItem(
  type: number,
  positiveResponse: boolean,
  primary: string | Buffer,
  secondary: string | Buffer,
): Buffer {
  const p = typeof primary === "string" ? Buffer.from(primary, "utf8") : primary;
  const s = typeof secondary === "string" ? Buffer.from(secondary, "utf8") : secondary;
  return item(
    0x58,
    Buffer.concat([Buffer.from([type, positiveResponse ? 1 : 0]), u16be(p.length), p, u16be(s.length), s]),
  );
}

/** User identity AC (0x59): server response. */
export function userIdentityAcItem(response: Buffer): Buffer {
  return item(0x59, Buffer.concat([u16be(response.length), response]));
}

export const userInformationItem = (subItems: Buffer[]): Buffer => item(0x50, Buffer.concat(subItems));

export interface AssociateOptions {
  calledAE?: string;
  callingAE?: string;
  protocolVersion?: number;
  /** Whole item list after the fixed part; replaces the defaults below when given. */
  items?: Buffer[];
  applicationContext?: string;
  presentationContexts?: Buffer[];
  /** User information sub-items; null leaves the item out. */
  userInformation?: Buffer[] | null;
  /** Bytes to write into the 32 reserved bytes (PDU offsets 42..73), by PDU offset. */
  reserved?: Record<number, number>;
}

function associate(type: 1 | 2, o: AssociateOptions): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(o.protocolVersion ?? 1, 0);
  aeField(o.calledAE ?? "ANY-SCP").copy(fixed, 4);
  aeField(o.callingAE ?? "ECHOSCU").copy(fixed, 20);
  for (const [off, v] of Object.entries(o.reserved ?? {})) fixed[Number(off) - 6] = v;
  const items = o.items ?? [
    applicationContextItem(o.applicationContext),
    ...(o.presentationContexts ??
      (type === 1
        ? [presentationContextRq(1, VERIFICATION, [IMPLICIT_VR_LE])]
        : [presentationContextAc(1, 0, IMPLICIT_VR_LE)])),
    ...(o.userInformation === null
      ? []
      : [
          userInformationItem(
            o.userInformation ?? [
              maxLengthItem(16384),
              implementationClassUidItem(DCMTK_IMPLEMENTATION_UID),
              implementationVersionNameItem("OFFIS_DCMTK_364"),
            ],
          ),
        ]),
  ];
  return pdu(type, Buffer.concat([fixed, ...items]));
}

export const associateRq = (o: AssociateOptions = {}): Buffer => associate(1, o);
export const associateAc = (o: AssociateOptions = {}): Buffer => associate(2, o);
export const associateRj = (result: number, source: number, reason: number): Buffer =>
  pdu(3, Buffer.from([0, result, source, reason]));
export const releaseRq = (): Buffer => pdu(5, Buffer.alloc(4));
export const releaseRp = (): Buffer => pdu(6, Buffer.alloc(4));
export const abort = (source: number, reason: number): Buffer => pdu(7, Buffer.from([0, 0, source, reason]));

/** One PDV item (PS3.8 §9.3.5.1): length, presentation context ID, message control header, value. */
export function pdv(
  pcId: number,
  isCommand: boolean,
  isLast: boolean,
  value: Buffer,
  lengthOverride?: number,
): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt32BE(lengthOverride ?? value.length + 2, 0);
  h[4] = pcId;
  h[5] = (isCommand ? 1 : 0) | (isLast ? 2 : 0);
  return Buffer.concat([h, value]);
}

/** A P-DATA-TF holding the given PDV items. */
export const pdataTf = (pdvs: Buffer[]): Buffer => pdu(4, Buffer.concat(pdvs));

/** Split a message value into PDV items of at most `maxValue` bytes, the last one flagged. */
export function fragments(pcId: number, isCommand: boolean, value: Buffer, maxValue: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < value.length || out.length === 0; off += maxValue) {
    const end = Math.min(value.length, off + maxValue);
    out.push(pdv(pcId, isCommand, end === value.length, value.subarray(off, end)));
  }
  return out;
}

// ---- DIMSE command sets (PS3.7 §9.3 and §E: group 0000, implicit VR little endian) ----

/** One implicit VR little endian element: tag group, element, 4-byte length, value (even length). */
export function implicitElement(group: number, element: number, value: Buffer): Buffer {
  const v = value.length % 2 === 1 ? Buffer.concat([value, Buffer.from([0])]) : value;
  const h = Buffer.alloc(8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(element, 2);
  h.writeUInt32LE(v.length, 4);
  return Buffer.concat([h, v]);
}

const us = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};

/** A command set from (element, value) pairs of group 0000, with Command Group Length (0000,0000) first. */
export function commandSet(elements: [number, Buffer][]): Buffer {
  const body = Buffer.concat(elements.sort((a, b) => a[0] - b[0]).map(([e, v]) => implicitElement(0, e, v)));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([implicitElement(0, 0, len), body]);
}

const NO_DATASET = 0x0101;

export const cEchoRq = (messageId: number): Buffer =>
  commandSet([
    [0x0002, uid(VERIFICATION)],
    [0x0100, us(0x0030)],
    [0x0110, us(messageId)],
    [0x0800, us(NO_DATASET)],
  ]);

export const cEchoRsp = (messageId: number, status = 0): Buffer =>
  commandSet([
    [0x0002, uid(VERIFICATION)],
    [0x0100, us(0x8030)],
    [0x0120, us(messageId)],
    [0x0800, us(NO_DATASET)],
    [0x0900, us(status)],
  ]);

export const cStoreRq = (messageId: number, sopClass: string, sopInstance: string): Buffer =>
  commandSet([
    [0x0002, uid(sopClass)],
    [0x0100, us(0x0001)],
    [0x0110, us(messageId)],
    [0x0700, us(0)],
    [0x0800, us(0x0000)],
    [0x1000, uid(sopInstance)],
  ]);

export const cStoreRsp = (messageId: number, sopClass: string, sopInstance: string, status = 0): Buffer =>
  commandSet([
    [0x0002, uid(sopClass)],
    [0x0100, us(0x8001)],
    [0x0120, us(messageId)],
    [0x0800, us(NO_DATASET)],
    [0x0900, us(status)],
    [0x1000, uid(sopInstance)],
  ]);

// ---- Data sets (PS3.5 §7.1.2, explicit VR little endian) ----

/** One explicit VR little endian element with a 2-byte length (VRs other than OB, OW, SQ, UN, UT, ...). */
export function explicitElement(group: number, element: number, vr: string, text: string): Buffer {
  let v = Buffer.from(text, "latin1");
  // Even length: UIDs pad with NUL, text with a space (PS3.5 §6.2).
  if (v.length % 2 === 1) v = Buffer.concat([v, Buffer.from(vr === "UI" ? [0] : [0x20])]);
  const h = Buffer.alloc(8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(element, 2);
  h.write(vr, 4, "latin1");
  h.writeUInt16LE(v.length, 6);
  return Buffer.concat([h, v]);
}

/** The head of a CT image data set with equipment attributes only (no patient module). */
export function ctDataset(sopInstance: string): Buffer {
  return Buffer.concat([
    explicitElement(0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\AXIAL"),
    explicitElement(0x0008, 0x0016, "UI", CT_IMAGE_STORAGE),
    explicitElement(0x0008, 0x0018, "UI", sopInstance),
    explicitElement(0x0008, 0x0060, "CS", "CT"),
    explicitElement(0x0008, 0x0070, "LO", "ACME Medical"),
    explicitElement(0x0008, 0x1010, "SH", "CTROOM1"),
    explicitElement(0x0008, 0x1090, "LO", "Scanomatic 9000"),
    explicitElement(0x0018, 0x1020, "LO", "VA10\\VA20"),
    explicitElement(0x0020, 0x0013, "IS", "1"),
  ]);
}
