import test from "ava";
import * as b from "./builders.js";
import {
  decodeAbort,
  decodeAeTitle,
  decodeAssociatePdu,
  decodeAssociateRj,
  decodeCommonExtendedNegotiation,
  decodeExtendedNegotiation,
  decodePresentationContextAc,
  decodePresentationContextRq,
  decodeRelease,
  decodeRoleSelection,
  decodeUid,
  decodeUserIdentityAc,
  decodeUserIdentityRq,
  decodeUserInformation,
  MAX_USERNAME_BYTES,
  PDU_ASSOCIATE_AC,
  PDU_ASSOCIATE_RQ,
  type UlIssues,
} from "../../../agent/dicom/ul/pdu.js";

function collector(): UlIssues & { list: [string, string][]; codes: () => string[] } {
  const list: [string, string][] = [];
  return { list, issue: (c, d) => list.push([c, d]), codes: () => list.map((x) => x[0]) };
}

/** Value bounds of a built item (after its 4-byte header). */
const value = (item: Buffer): [Buffer, number, number] => [item, 4, item.length];

test("AE titles: trimmed of spaces; control characters, non-ISO 646 and backslash are reported", (t) => {
  const plain = collector();
  t.is(decodeAeTitle(b.aeField("STORESCU"), 0, plain, "calling"), "STORESCU");
  t.deepEqual(plain.list, []);
  const i = collector();
  t.is(decodeAeTitle(b.aeField("  STORESCU"), 0, i, "calling"), "STORESCU");
  t.deepEqual(i.codes(), ["ul.ae-title-leading-spaces"]);
  const bad = b.aeField("AB\\CD");
  bad[10] = 0x01;
  bad[11] = 0xe9;
  const j = collector();
  t.is(decodeAeTitle(bad, 0, j, "called"), "AB?CD     ??");
  t.deepEqual(j.codes(), ["ul.ae-title-invalid"]);
  const empty = collector();
  t.is(decodeAeTitle(Buffer.alloc(16, 0x20), 0, empty, "called"), "");
  t.deepEqual(empty.codes(), ["ul.ae-title-blank"]);
});

test("UIDs: trailing NUL padding is stripped; bad characters and overlong UIDs are reported", (t) => {
  const i = collector();
  const u = b.uid("1.2.840.10008.1.2.1");
  t.is(u.length, 20);
  t.is(decodeUid(u, 0, u.length, i, "x"), "1.2.840.10008.1.2.1");
  t.deepEqual(i.list, []);
  const bad = Buffer.from("1.2.3a\x01");
  t.is(decodeUid(bad, 0, bad.length, i, "x"), "1.2.3a?");
  const long = Buffer.from("1." + "2".repeat(80));
  t.is(decodeUid(long, 0, long.length, i, "x").length, 64);
  t.deepEqual(i.codes(), ["ul.uid-invalid", "ul.uid-invalid"]);
});

test("presentation context RQ (0x20): id, abstract syntax, transfer syntaxes", (t) => {
  const i = collector();
  const pc = decodePresentationContextRq(
    ...value(b.presentationContextRq(7, b.CT_IMAGE_STORAGE, [b.EXPLICIT_VR_LE, b.IMPLICIT_VR_LE])),
    i,
  );
  t.deepEqual(pc, {
    id: 7,
    abstractSyntax: b.CT_IMAGE_STORAGE,
    transferSyntaxes: [b.EXPLICIT_VR_LE, b.IMPLICIT_VR_LE],
    result: null,
  });
  t.deepEqual(i.list, []);
});

test("presentation context RQ: even ID, no transfer syntax, two abstract syntaxes, unknown sub-item", (t) => {
  const i = collector();
  const it = b.item(
    0x20,
    Buffer.concat([
      Buffer.from([2, 0, 0, 0]),
      b.abstractSyntaxItem("1.2.3"),
      b.abstractSyntaxItem("1.2.4"),
      b.item(0x77, Buffer.from("zz")),
    ]),
  );
  const pc = decodePresentationContextRq(...value(it), i);
  t.is(pc!.abstractSyntax, "1.2.3");
  t.deepEqual(i.codes(), [
    "ul.pc-id-invalid",
    "ul.unknown-item",
    "ul.pc-abstract-syntax-count",
    "ul.pc-no-transfer-syntax",
  ]);
  const short = collector();
  t.is(decodePresentationContextRq(Buffer.from([1, 0]), 0, 2, short), null);
  t.deepEqual(short.codes(), ["ul.item-truncated"]);
});

test("presentation context AC (0x21): result/reason and the chosen transfer syntax", (t) => {
  const i = collector();
  t.deepEqual(decodePresentationContextAc(...value(b.presentationContextAc(3, 4, b.IMPLICIT_VR_LE)), i), {
    id: 3,
    abstractSyntax: null,
    transferSyntaxes: [b.IMPLICIT_VR_LE],
    result: 4,
  });
  t.deepEqual(i.list, []);
});

test("presentation context AC: result out of range and reserved bytes are reported", (t) => {
  const i = collector();
  const it = b.item(
    0x21,
    Buffer.concat([
      Buffer.from([3, 9, 5, 0]),
      b.transferSyntaxItem(b.IMPLICIT_VR_LE),
      b.transferSyntaxItem(b.IMPLICIT_VR_LE),
    ]),
  );
  const pc = decodePresentationContextAc(...value(it), i);
  t.is(pc!.result, 5);
  t.deepEqual(i.codes(), ["ul.nonzero-reserved", "ul.pc-result-invalid", "ul.pc-transfer-syntax-count"]);
});

test("user information sub-items 0x51..0x57 decode", (t) => {
  const i = collector();
  const ui = decodeUserInformation(
    ...value(
      b.userInformationItem([
        b.maxLengthItem(0),
        b.implementationClassUidItem(b.DCMTK_IMPLEMENTATION_UID),
        b.asyncOperationsItem(3, 1),
        b.roleSelectionItem(b.CT_IMAGE_STORAGE, 0, 1),
        b.implementationVersionNameItem("OFFIS_DCMTK_364"),
        b.extendedNegotiationItem(b.CT_IMAGE_STORAGE, Buffer.from([1, 0, 1])),
        b.commonExtendedNegotiationItem(b.CT_IMAGE_STORAGE, "1.2.840.10008.4.2", [
          "1.2.840.10008.5.1.4.1.1.2.1",
          "1.2.3",
        ]),
      ]),
    ),
    i,
    PDU_ASSOCIATE_RQ,
  );
  t.deepEqual(i.list, []);
  t.deepEqual(ui, {
    maxLength: 0,
    implementationClassUid: b.DCMTK_IMPLEMENTATION_UID,
    implementationVersionName: "OFFIS_DCMTK_364",
    asynchronousOperations: { invoked: 3, performed: 1 },
    roleSelections: [{ sopClassUid: b.CT_IMAGE_STORAGE, scuRole: 0, scpRole: 1 }],
    extendedNegotiations: [{ sopClassUid: b.CT_IMAGE_STORAGE, applicationInformationLength: 3 }],
    commonExtendedNegotiations: [
      {
        sopClassUid: b.CT_IMAGE_STORAGE,
        serviceClassUid: "1.2.840.10008.4.2",
        relatedGeneralSopClasses: ["1.2.840.10008.5.1.4.1.1.2.1", "1.2.3"],
      },
    ],
    userIdentity: null,
    userIdentityResponse: null,
  });
});

test("user information: bad lengths, unknown and misplaced sub-items are reported and skipped", (t) => {
  const i = collector();
  const ui = decodeUserInformation(
    ...value(
      b.userInformationItem([
        b.item(0x51, Buffer.from([0, 1])),
        b.item(0x5f, Buffer.from("whatever")),
        b.userIdentityAcItem(Buffer.alloc(0)),
        b.item(0x53, Buffer.from([0])),
        b.item(0x54, Buffer.from([0, 40, 0x31])),
        b.implementationVersionNameItem("NAME_TOO_LONG_FOR_16"),
        b.implementationClassUidItem("1.2.5"),
      ]),
    ),
    i,
    PDU_ASSOCIATE_RQ,
  );
  t.is(ui.maxLength, null);
  t.is(ui.implementationClassUid, "1.2.5"); // decoding went on after the bad ones
  t.is(ui.implementationVersionName, "NAME_TOO_LONG_FO");
  t.deepEqual(i.codes(), [
    "ul.item-length-invalid",
    "ul.unknown-item",
    "ul.unexpected-item",
    "ul.item-length-invalid",
    "ul.item-truncated",
    "ul.version-name-invalid",
  ]);
});

test("user identity RQ (0x58): username for types 1 and 2, never a passcode or token", (t) => {
  const i = collector();
  t.deepEqual(decodeUserIdentityRq(...value(b.userIdentityRqItem(1, false, "alice", "")), i), {
    type: 1,
    positiveResponseRequested: false,
    username: "alice",
    passcodePresent: false,
  });
  t.deepEqual(decodeUserIdentityRq(...value(b.userIdentityRqItem(2, true, "bob", "hunter2")), i), {
    type: 2,
    positiveResponseRequested: true,
    username: "bob",
    passcodePresent: true,
  });
  for (const type of [3, 4, 5])
    t.deepEqual(decodeUserIdentityRq(...value(b.userIdentityRqItem(type, true, "eyJhbGciOi.token", "")), i), {
      type,
      positiveResponseRequested: true,
      username: null,
      passcodePresent: false,
    });
  t.deepEqual(i.list, []);
  // Not a username: over-long, a C1 or C0 control, not UTF-8. Nothing kept, each reported.
  for (const bad of [
    Buffer.from("x".repeat(MAX_USERNAME_BYTES + 1)),
    Buffer.from("a\u0085b"),
    Buffer.from("a\nb"),
    Buffer.from("a\u007fb"),
    Buffer.from([0x61, 0x80, 0x20, 0x62]),
    Buffer.from([0x61, 0xc3]),
  ]) {
    const v = Buffer.concat([Buffer.from([1, 0, 0, bad.length]), bad, Buffer.from([0, 0])]);
    t.is(decodeUserIdentityRq(v, 0, v.length, i)!.username, null, bad.toString("hex"));
  }
  t.deepEqual(i.codes(), Array(6).fill("ul.user-identity-username-invalid"));
  i.list.length = 0;
  // Longest allowed, and UTF-8 beyond ASCII, are kept.
  t.is(
    decodeUserIdentityRq(...value(b.userIdentityRqItem(1, false, "y".repeat(MAX_USERNAME_BYTES), "")), i)!
      .username!.length,
    MAX_USERNAME_BYTES,
  );
  t.is(decodeUserIdentityRq(...value(b.userIdentityRqItem(1, false, "jürgen", "")), i)!.username, "jürgen");
  t.deepEqual(i.list, []);
  // Type 2 without a passcode, bad type, primary field past the item.
  t.is(decodeUserIdentityRq(...value(b.userIdentityRqItem(2, false, "carol", "")), i)!.username, null);
  decodeUserIdentityRq(...value(b.userIdentityRqItem(0, false, "x", "")), i);
  t.is(decodeUserIdentityRq(Buffer.from([1, 0, 0, 9, 0x41]), 0, 5, i)!.username, null);
  t.is(decodeUserIdentityRq(Buffer.from([1, 0, 0]), 0, 3, i), null);
  t.deepEqual(i.codes(), [
    "ul.user-identity-no-passcode",
    "ul.user-identity-type-invalid",
    "ul.user-identity-length-mismatch",
    "ul.item-truncated",
  ]);
});

test("user identity AC (0x59): only whether a server response was sent", (t) => {
  const i = collector();
  t.deepEqual(decodeUserIdentityAc(...value(b.userIdentityAcItem(Buffer.from("kerberos-reply"))), i), {
    serverResponsePresent: true,
  });
  t.deepEqual(decodeUserIdentityAc(...value(b.userIdentityAcItem(Buffer.alloc(0))), i), {
    serverResponsePresent: false,
  });
  t.deepEqual(i.list, []);
});

test("role selection, extended and common extended negotiation: truncation is reported", (t) => {
  const i = collector();
  t.is(decodeRoleSelection(Buffer.from([0, 5, 0x31]), 0, 3, i), null);
  t.is(decodeExtendedNegotiation(Buffer.from([0, 5, 0x31]), 0, 3, i), null);
  const cen = b.commonExtendedNegotiationItem("1.2", "1.3", ["1.4"]);
  t.is(decodeCommonExtendedNegotiation(cen, 4, cen.length - 3, i), null);
  t.deepEqual(i.codes(), ["ul.item-truncated", "ul.item-truncated", "ul.item-truncated"]);
});

test("A-ASSOCIATE-RQ: fixed fields, items, and a non-zero reserved byte at offset 42", (t) => {
  const i = collector();
  const rq = b.associateRq({
    callingAE: "ECHOSCU",
    calledAE: "ANY-SCP",
    reserved: { 42: 0x30 },
    presentationContexts: [b.presentationContextRq(1, b.VERIFICATION, [b.IMPLICIT_VR_LE])],
    userInformation: [
      b.maxLengthItem(16384),
      b.implementationClassUidItem(b.DCMTK_IMPLEMENTATION_UID),
      b.userIdentityRqItem(2, false, "u", "p"),
    ],
  });
  const pdu = decodeAssociatePdu(rq, 0, rq.length, i)!;
  t.is(pdu.pduType, PDU_ASSOCIATE_RQ);
  t.is(pdu.protocolVersion, 1);
  t.is(pdu.callingAE, "ECHOSCU");
  t.is(pdu.calledAE, "ANY-SCP");
  t.is(pdu.applicationContext, b.APPLICATION_CONTEXT);
  t.is(pdu.presentationContexts.length, 1);
  t.is(pdu.userInformation!.maxLength, 16384);
  t.deepEqual(pdu.userInformation!.userIdentity, {
    type: 2,
    positiveResponseRequested: false,
    username: "u",
    passcodePresent: true,
  });
  t.deepEqual(i.list, [
    ["ul.nonzero-reserved-header", "A-ASSOCIATE-RQ reserved bytes at PDU offset 42 not zero"],
  ]);
});

test("A-ASSOCIATE-AC: AE fields are not tested; items of the RQ are unexpected", (t) => {
  const i = collector();
  const ac = b.associateAc({
    callingAE: "\u0001bad",
    items: [
      b.applicationContextItem(),
      b.presentationContextRq(1, "1.2", ["1.2"]),
      b.presentationContextAc(1, 0, "1.2"),
      b.userInformationItem([]),
    ],
  });
  const pdu = decodeAssociatePdu(ac, 0, ac.length, i)!;
  t.is(pdu.pduType, PDU_ASSOCIATE_AC);
  t.is(pdu.presentationContexts.length, 1);
  t.deepEqual(i.codes(), ["ul.unexpected-item"]);
});

test("A-ASSOCIATE: missing items, an item past the PDU end, a short PDU, a bad version", (t) => {
  const i = collector();
  const rq = b.associateRq({
    protocolVersion: 2,
    items: [b.item(0x10, b.uid(b.APPLICATION_CONTEXT), { length: 500 })],
  });
  const pdu = decodeAssociatePdu(rq, 0, rq.length, i)!;
  t.is(pdu.applicationContext, null);
  t.deepEqual(i.codes(), [
    "ul.protocol-version",
    "ul.item-exceeds-parent",
    "ul.missing-item",
    "ul.missing-item",
    "ul.missing-item",
  ]);
  const j = collector();
  t.is(decodeAssociatePdu(rq, 0, 50, j), null);
  t.deepEqual(j.codes(), ["ul.pdu-too-short"]);
  // The end bound wins over a larger buffer: trailing junk past `end` is never read.
  const k = collector();
  const padded = Buffer.concat([b.associateRq(), Buffer.from([0x10, 0, 0, 1, 0x31])]);
  decodeAssociatePdu(padded, 0, padded.length - 5, k);
  t.deepEqual(k.list, []);
});

test("A-ASSOCIATE-RJ, A-ABORT, A-RELEASE", (t) => {
  const i = collector();
  t.deepEqual(decodeAssociateRj(b.associateRj(2, 3, 1), 0, 10, i), { result: 2, source: 3, reason: 1 });
  t.deepEqual(decodeAbort(b.abort(2, 6), 0, 10, i), { source: 2, reason: 6 });
  t.true(decodeRelease(b.releaseRq(), 0, 10, i));
  t.true(decodeRelease(b.releaseRp(), 0, 10, i));
  t.deepEqual(i.list, []);
  decodeAssociateRj(b.associateRj(0, 9, 1), 0, 10, i);
  decodeAbort(b.abort(1, 0), 0, 10, i);
  decodeAbort(b.pdu(7, Buffer.from([1, 0, 2, 9])), 0, 10, i);
  decodeRelease(b.pdu(5, Buffer.from([0, 0, 0, 1])), 0, 10, i);
  t.is(decodeAbort(b.abort(0, 0), 0, 9, i), null);
  t.deepEqual(i.codes(), [
    "ul.reject-invalid",
    "ul.abort-invalid",
    "ul.nonzero-reserved",
    "ul.abort-invalid",
    "ul.nonzero-reserved",
    "ul.pdu-too-short",
  ]);
  t.is(PDU_ASSOCIATE_AC, 2);
});

test("presentation context RQ reserved bytes: DCMTK's 0xFF at byte 2 is its habit, anything else is reported", (t) => {
  const build = (b2: number): Buffer =>
    b.item(
      0x20,
      Buffer.concat([Buffer.from([1, 0, b2, 0]), b.abstractSyntaxItem("1.2"), b.transferSyntaxItem("1.2")]),
    );
  const i = collector();
  decodePresentationContextRq(...value(build(0xff)), i);
  t.deepEqual(i.list, []);
  decodePresentationContextRq(...value(build(0x01)), i);
  t.deepEqual(i.codes(), ["ul.nonzero-reserved"]);
});
