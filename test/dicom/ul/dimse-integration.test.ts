/**
 * The Upper Layer with the real DIMSE layer behind it: a DicomConnection whose PdvConsumer factory makes
 * DimseAssemblers, fed a whole association cut at every offset.
 */
import test from "ava";
import fc from "fast-check";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import * as b from "./builders.js";
import { connectionInfo, Harness } from "./harness.js";
import { replay, storeConversation, totalLength, STORE_INSTANCE } from "./conversation.js";

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
