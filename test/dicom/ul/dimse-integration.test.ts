/**
 * The Upper Layer with the real DIMSE layer behind it: a DicomConnection whose PdvConsumer factory makes
 * DimseAssemblers, fed a whole association cut at every offset.
 */
import test from "ava";
import fc from "fast-check";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import * as b from "./builders.js";
import { connectionInfo, Harness } from "./harness.js";
import { replay, storeConversation, totalLength, STORE_INSTANCE, T0, type Turn } from "./conversation.js";
import { command, CommandField } from "../dimse/builders.js";

const PATIENT = "DOE^JOHN^SECRETPATIENT";
const dataset = Buffer.concat([
  b.explicitElement(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.2"),
  b.explicitElement(0x0008, 0x0060, "CS", "CT"),
  b.explicitElement(0x0008, 0x0070, "LO", "ACME Medical"),
  b.explicitElement(0x0008, 0x1010, "SH", "CTROOM1"),
  b.explicitElement(0x0010, 0x0010, "PN", PATIENT),
  b.explicitElement(0x0018, 0x1020, "LO", "VA10\\VA20"),
]);

function run(cuts: number[]): Harness {
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  replay(h, storeConversation(dataset), cuts);
  return h;
}

const view = (h: Harness): string =>
  JSON.stringify({ o: h.observations, a: h.anomalies.records(), s: h.stats });

test("real DIMSE assembler: messages, equipment, and no patient data, for every cut", (t) => {
  const h = run([]);
  t.deepEqual(h.codes(), []);
  const [a] = h.associations();
  t.deepEqual(
    a!.record.messages.map((m) => m.command),
    ["C-ECHO-RQ", "C-ECHO-RSP", "C-STORE-RQ", "C-STORE-RSP"],
  );
  t.is(a!.record.messages[2]!.sopInstanceUid, STORE_INSTANCE);
  t.is(h.stats.dimseMessages, 4);
  const eq = h.observations.find((o) => o.kind === "equipment");
  t.truthy(eq);
  if (eq?.kind === "equipment") {
    t.is(eq.senderAE, "CT_SCANNER");
    t.is(eq.receiverAE, "PACS");
    t.is(eq.sender.port, 50123);
    t.is(eq.command, "C-STORE-RQ");
    t.is(eq.attributes.modality, "CT");
    t.is(eq.attributes.manufacturer, "ACME Medical");
  }
  const expected = view(h);
  t.false(expected.includes("SECRETPATIENT"));
  const total = totalLength(storeConversation(dataset));
  for (let k = 1; k < total; k++) {
    const v = view(run([k]));
    if (v !== expected) {
      t.is(v, expected, `cut at ${k}`);
      return;
    }
  }
});

test("real DIMSE assembler behind mutated streams: nothing throws, no patient data leaks", (t) => {
  const turns = storeConversation(dataset);
  const total = totalLength(turns);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(total - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.uniqueArray(fc.integer({ min: 1, max: total - 1 }), { maxLength: 20 }),
      (mutations, cuts) => {
        const mutated = turns.map((x) => ({ ...x, bytes: Buffer.from(x.bytes) }));
        for (const [at, v] of mutations) {
          let off = at;
          for (const m of mutated) {
            if (off < m.bytes.length) {
              m.bytes[off] = v;
              break;
            }
            off -= m.bytes.length;
          }
        }
        const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
        replay(h, mutated, cuts);
        return !view(h).includes("SECRETPATIENT");
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

/** findscu -P -k QueryRetrieveLevel=PATIENT -k PatientName -k PatientID, then one on a canary name. */
function findConversation(): Turn[] {
  const PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1";
  const rq = b.associateRq({
    callingAE: "VIEWER1",
    calledAE: "ARCHIVE",
    presentationContexts: [b.presentationContextRq(1, PATIENT_ROOT_FIND, [b.EXPLICIT_VR_LE])],
    userInformation: [b.maxLengthItem(16384)],
  });
  const ac = b.associateAc({
    callingAE: "VIEWER1",
    calledAE: "ARCHIVE",
    presentationContexts: [b.presentationContextAc(1, 0, b.EXPLICIT_VR_LE)],
    userInformation: [b.maxLengthItem(16384)],
  });
  const identifier = (name: string): Buffer =>
    Buffer.concat([
      b.explicitElement(0x0008, 0x0052, "CS", "PATIENT"),
      b.explicitElement(0x0010, 0x0010, "PN", name),
      b.explicitElement(0x0010, 0x0020, "LO", ""),
    ]);
  const find = (id: number, name: string): Buffer => {
    const cmd = command({
      field: CommandField.C_FIND_RQ,
      messageId: id,
      affectedSopClass: PATIENT_ROOT_FIND,
      priority: 0,
      dataSet: true,
    });
    const ds = identifier(name);
    return b.pdataTf([
      b.pdv(1, true, true, cmd),
      b.pdv(1, false, false, ds.subarray(0, 9)),
      b.pdv(1, false, true, ds.subarray(9)),
    ]);
  };
  const rsp = (id: number): Buffer =>
    b.pdataTf([
      b.pdv(
        1,
        true,
        true,
        command({
          field: CommandField.C_FIND_RSP,
          respondedTo: id,
          affectedSopClass: PATIENT_ROOT_FIND,
          status: 0,
        }),
      ),
    ]);
  return [
    { dir: 0, bytes: rq, ts: T0 },
    { dir: 1, bytes: ac, ts: T0 + 1000 },
    { dir: 0, bytes: find(1, ""), ts: T0 + 2000 },
    { dir: 1, bytes: rsp(1), ts: T0 + 3000 },
    { dir: 0, bytes: find(2, "CANARY^QUERY"), ts: T0 + 4000 },
    { dir: 1, bytes: rsp(2), ts: T0 + 5000 },
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 6000 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 7000 },
  ];
}

test("C-FIND-RQ observations carry the Identifier's shape, never its values, for every cut", (t) => {
  const runFind = (cuts: number[]): Harness => {
    const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
    replay(h, findConversation(), cuts);
    return h;
  };
  const h = runFind([]);
  t.deepEqual(h.codes(), []);
  const finds = h.observations.flatMap((o) =>
    o.kind === "dimse" ? [`${o.message.command} ${o.direction} ${JSON.stringify(o.query)}`] : [],
  );
  t.deepEqual(finds, [
    'C-FIND-RQ 0 {"level":"PATIENT","keys":2,"matchingKeys":0}',
    "C-FIND-RSP 1 null",
    'C-FIND-RQ 0 {"level":"PATIENT","keys":2,"matchingKeys":1}',
    "C-FIND-RSP 1 null",
  ]);
  const expected = view(h);
  t.false(expected.includes("CANARY"));
  const total = totalLength(findConversation());
  for (let k = 1; k < total; k++) {
    const v = view(runFind([k]));
    if (v !== expected) {
      t.is(v, expected, `cut at ${k}`);
      return;
    }
  }
});

test("data PDVs whose command was lost (mid-stream pickup, a gap) are passed over without an anomaly", (t) => {
  const store = command({
    field: CommandField.C_STORE_RQ,
    messageId: 5,
    affectedSopClass: "1.2.840.10008.5.1.4.1.1.2",
    affectedSopInstance: "1.2.3.5",
    dataSet: true,
  });
  const data = (last: boolean): Buffer => b.pdataTf([b.pdv(1, false, last, dataset)]);
  const cmd = b.pdataTf([b.pdv(1, true, true, store)]);
  // Picked up mid-stream: the tail of a data set first, then a whole message.
  const mid = new Harness(connectionInfo({ handshakeSeen: false }), (ctx) => new DimseAssembler(ctx));
  mid.feed(0, Buffer.concat([data(false), data(true), cmd, data(true)]), T0);
  mid.conn.close("fin", T0 + 1);
  t.deepEqual(mid.codes(), []);
  t.deepEqual(
    mid.associations()[0]!.record.messages.map((m) => m.messageId),
    [5],
  );
  // A gap over a PDU boundary in the middle of a data set: the rest of that data set is no one's fault.
  const h = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  const ct = b.CT_IMAGE_STORAGE;
  h.feed(
    0,
    b.associateRq({ presentationContexts: [b.presentationContextRq(1, ct, [b.EXPLICIT_VR_LE])] }),
    T0,
  );
  h.feed(1, b.associateAc({ presentationContexts: [b.presentationContextAc(1, 0, b.EXPLICIT_VR_LE)] }), T0);
  h.feed(0, Buffer.concat([cmd, data(false)]), T0);
  h.conn.gap(0, 10_000, T0);
  h.feed(0, Buffer.concat([data(false), data(true), cmd, data(true)]), T0);
  h.conn.close("fin", T0 + 1);
  t.deepEqual(h.codes(), ["ul.resync"]);
  t.deepEqual(
    h.associations()[0]!.record.messages.map((m) => m.messageId),
    [5, 5],
  );
  // Without a loss, a data PDV without a command is still the peer's doing.
  const bad = new Harness(connectionInfo(), (ctx) => new DimseAssembler(ctx));
  bad.feed(0, Buffer.concat([b.associateRq(), data(true)]), T0);
  t.deepEqual(bad.codes(), ["dimse.data-without-command"]);
});
