/**
 * The DIMSE assembler hands the shape of a C-FIND-RQ Identifier (QueryInfo) with the message event, and
 * only for a C-FIND-RQ whose Identifier arrived whole; never any key value.
 */
import test from "ava";
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import type { DimseEvents, EquipmentAttributes, QueryInfo } from "../../../agent/dicom/types.js";
import type { DimseMessageRecord } from "../../../agent/report/types.js";
import { command, CommandField, dataset, type DsElement } from "./builders.js";
import { at } from "../../helpers/flow.js";

const PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1";

class Events implements DimseEvents {
  readonly messages: { command: string; query: QueryInfo | null | undefined }[] = [];
  readonly equipments: EquipmentAttributes[] = [];
  message(msg: DimseMessageRecord, _pc: number, _ds: boolean, _ts: number, query?: QueryInfo | null): void {
    this.messages.push({ command: msg.command, query });
  }
  equipment(attrs: EquipmentAttributes): void {
    this.equipments.push(attrs);
  }
}

function assembler(ts: string): {
  asm: DimseAssembler;
  ev: Events;
  counters: Counters;
  anomalies: AnomalyCounter;
} {
  const ev = new Events();
  const counters: Counters = { bytesCopied: 0 };
  const anomalies = new AnomalyCounter();
  const asm = new DimseAssembler({
    connection: at("10.0.0.1:40000-10.0.0.2:104"),
    lookup: { transferSyntax: () => ts, abstractSyntax: () => PATIENT_ROOT_FIND },
    events: ev,
    anomalies,
    counters,
  });
  return { asm, ev, counters, anomalies };
}

function pdv(asm: DimseAssembler, isCommand: boolean, isLast: boolean, value: Buffer, slice: number): void {
  asm.pdvBegin(1, isCommand, isLast, value.length, 1);
  for (let o = 0; o < value.length; o += slice) asm.pdvData(value, o, Math.min(value.length, o + slice));
  asm.pdvEnd();
}

const identifier = (name: string): DsElement[] => [
  { tag: 0x00080052, vr: "CS", value: "PATIENT" },
  { tag: 0x00100010, vr: "PN", value: name },
  { tag: 0x00100020, vr: "LO", value: "" },
  // A key that an equipment walk would read: in an Identifier it is a match criterion, not equipment.
  { tag: 0x00181020, vr: "LO", value: "" },
];

const findRq = command({
  field: CommandField.C_FIND_RQ,
  messageId: 1,
  affectedSopClass: PATIENT_ROOT_FIND,
  priority: 0,
  dataSet: true,
});

for (const slice of [1, 3, 7, 1460]) {
  test(`C-FIND-RQ carries its query info, C-FIND-RSP none (slices of ${slice})`, (t) => {
    const { asm, ev, anomalies } = assembler("1.2.840.10008.1.2");
    pdv(asm, true, true, findRq, slice);
    pdv(asm, false, true, dataset(identifier(""), "implicit"), slice);
    pdv(asm, true, true, findRq, slice);
    pdv(asm, false, true, dataset(identifier("CANARY^QUERY"), "implicit"), slice);
    const rsp = command({
      field: CommandField.C_FIND_RSP,
      respondedTo: 1,
      affectedSopClass: PATIENT_ROOT_FIND,
      status: 0xff00,
      dataSet: true,
    });
    pdv(asm, true, true, rsp, slice);
    pdv(asm, false, true, dataset(identifier("CANARY^QUERY"), "implicit"), slice);
    t.deepEqual(ev.messages, [
      { command: "C-FIND-RQ", query: { level: "PATIENT", keys: 3, matchingKeys: 0 } },
      { command: "C-FIND-RQ", query: { level: "PATIENT", keys: 3, matchingKeys: 1 } },
      { command: "C-FIND-RSP", query: null },
    ]);
    t.deepEqual(ev.equipments, [], "empty keys are no equipment");
    t.is(anomalies.total, 0);
    t.false(JSON.stringify(ev.messages).includes("CANARY"));
  });
}

test("an Identifier cut by the next command gives no query info", (t) => {
  const { asm, ev } = assembler("1.2.840.10008.1.2.1");
  const ds = dataset(identifier(""), "explicit-le");
  pdv(asm, true, true, findRq, 64);
  pdv(asm, false, false, ds.subarray(0, 20), 64);
  pdv(asm, true, true, command({ field: CommandField.C_ECHO_RQ, messageId: 2 }), 64);
  t.deepEqual(
    ev.messages.map((m) => [m.command, m.query]),
    [
      ["C-FIND-RQ", null],
      ["C-ECHO-RQ", undefined],
    ],
  );
});

test("other messages with a data set carry no query info; equipment walks are unchanged", (t) => {
  const { asm, ev } = assembler("1.2.840.10008.1.2.1");
  pdv(
    asm,
    true,
    true,
    command({
      field: CommandField.C_STORE_RQ,
      messageId: 3,
      affectedSopClass: "1.2.840.10008.5.1.4.1.1.2",
      dataSet: true,
    }),
    64,
  );
  pdv(asm, false, true, dataset([{ tag: 0x00080060, vr: "CS", value: "CT" }], "explicit-le"), 64);
  t.deepEqual(ev.messages, [{ command: "C-STORE-RQ", query: null }]);
  t.is(ev.equipments[0]?.modality, "CT");
});
