import test from "ava";
import fc from "fast-check";
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import { DimseAssembler } from "../../../agent/dicom/dimse/assembler.js";
import type { DimseContext, DimseEvents, EquipmentAttributes } from "../../../agent/dicom/types.js";
import type { DimseMessageRecord } from "../../../agent/report/types.js";
import {
  command,
  CommandField,
  commandSet,
  DEFAULT_EQUIPMENT,
  imageDataset,
  SECRET_PATIENT_ID,
  SECRET_PATIENT_NAME,
  dataset,
  splitAt,
} from "./builders.js";
import { at } from "../../helpers/flow.js";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const INSTANCE = "1.2.826.0.1.3680043.2.1125.1.1";
const FLOW = "10.0.0.1:40000-10.0.0.2:104";

type Event =
  | { kind: "message"; msg: DimseMessageRecord; pcId: number; hasDataset: boolean; ts: number }
  | { kind: "equipment"; attrs: EquipmentAttributes; msg: DimseMessageRecord; pcId: number; ts: number };

class Harness implements DimseEvents {
  readonly events: Event[] = [];
  readonly anomalies = new AnomalyCounter();
  readonly counters: Counters = { bytesCopied: 0 };
  readonly asm: DimseAssembler;
  readonly ts = new Map<number, string | null>([
    [1, "1.2.840.10008.1.2"],
    [3, "1.2.840.10008.1.2.1"],
    [5, "1.2.840.10008.1.2.2"],
  ]);

  constructor() {
    const ctx: DimseContext = {
      connection: at(FLOW),
      lookup: {
        transferSyntax: (pc) => this.ts.get(pc) ?? null,
        abstractSyntax: () => CT,
      },
      events: this,
      anomalies: this.anomalies,
      counters: this.counters,
    };
    this.asm = new DimseAssembler(ctx);
  }

  message(msg: DimseMessageRecord, pcId: number, hasDataset: boolean, tsMicros: number): void {
    this.events.push({ kind: "message", msg, pcId, hasDataset, ts: tsMicros });
  }
  equipment(attrs: EquipmentAttributes, msg: DimseMessageRecord, pcId: number, tsMicros: number): void {
    this.events.push({ kind: "equipment", attrs, msg, pcId, ts: tsMicros });
  }

  /** One PDV, its value handed over in slices of at most `slice` bytes. */
  pdv(
    pcId: number,
    isCommand: boolean,
    isLast: boolean,
    value: Buffer,
    slice = value.length || 1,
    ts = 1,
  ): void {
    this.asm.pdvBegin(pcId, isCommand, isLast, value.length, ts);
    for (let o = 0; o < value.length; o += slice) {
      const end = Math.min(value.length, o + slice);
      // Hand a view into a bigger buffer, as the UL framer does, to catch start/end mistakes.
      const host = Buffer.concat([Buffer.from([0xee, 0xee]), value.subarray(o, end), Buffer.from([0xee])]);
      this.asm.pdvData(host, 2, 2 + (end - o));
    }
    this.asm.pdvEnd();
  }

  /** A whole message: command and optional dataset, fragmented into PDVs of `maxPdv` bytes. */
  send(pcId: number, cmd: Buffer, ds?: Buffer, maxPdv = 16384, slice = 1460): void {
    const frags = (b: Buffer): Buffer[] => {
      const out: Buffer[] = [];
      for (let o = 0; o < b.length; o += maxPdv) out.push(b.subarray(o, o + maxPdv));
      return out.length ? out : [b];
    };
    const c = frags(cmd);
    c.forEach((f, i) => this.pdv(pcId, true, i === c.length - 1, f, slice, 10));
    if (ds) {
      const d = frags(ds);
      d.forEach((f, i) => this.pdv(pcId, false, i === d.length - 1, f, slice, 20 + i));
    }
  }

  codes(): string[] {
    return this.anomalies.records().map((r) => r.code);
  }
  messages(): DimseMessageRecord[] {
    return this.events.flatMap((e) => (e.kind === "message" ? [e.msg] : []));
  }
}

const NULL_RECORD: DimseMessageRecord = {
  command: "",
  messageId: null,
  messageIdBeingRespondedTo: null,
  sopClassUid: null,
  sopInstanceUid: null,
  status: null,
  moveDestination: null,
  priority: null,
  subOperations: null,
  dataset: null,
};

const CASES: Array<[string, Parameters<typeof command>[0], Partial<DimseMessageRecord>]> = [
  [
    "C-STORE-RQ",
    {
      field: CommandField.C_STORE_RQ,
      messageId: 7,
      affectedSopClass: CT,
      affectedSopInstance: INSTANCE,
      priority: 0,
    },
    { messageId: 7, sopClassUid: CT, sopInstanceUid: INSTANCE, priority: 0 },
  ],
  [
    "C-STORE-RSP",
    {
      field: CommandField.C_STORE_RSP,
      respondedTo: 7,
      affectedSopClass: CT,
      affectedSopInstance: INSTANCE,
      status: 0,
    },
    { messageIdBeingRespondedTo: 7, sopClassUid: CT, sopInstanceUid: INSTANCE, status: 0 },
  ],
  [
    "C-GET-RQ",
    { field: CommandField.C_GET_RQ, messageId: 1, affectedSopClass: "1.2.840.10008.5.1.4.1.2.2.3" },
    { messageId: 1, sopClassUid: "1.2.840.10008.5.1.4.1.2.2.3" },
  ],
  [
    "C-GET-RSP",
    { field: CommandField.C_GET_RSP, respondedTo: 1, status: 0xff00, subOperations: [3, 1, 0, 0] },
    {
      messageIdBeingRespondedTo: 1,
      status: 0xff00,
      subOperations: { remaining: 3, completed: 1, failed: 0, warning: 0 },
    },
  ],
  [
    "C-FIND-RQ",
    {
      field: CommandField.C_FIND_RQ,
      messageId: 2,
      affectedSopClass: "1.2.840.10008.5.1.4.1.2.1.1",
      priority: 2,
    },
    { messageId: 2, sopClassUid: "1.2.840.10008.5.1.4.1.2.1.1", priority: 2 },
  ],
  [
    "C-FIND-RSP",
    { field: CommandField.C_FIND_RSP, respondedTo: 2, status: 0xff00 },
    { messageIdBeingRespondedTo: 2, status: 0xff00 },
  ],
  [
    "C-MOVE-RQ",
    {
      field: CommandField.C_MOVE_RQ,
      messageId: 3,
      moveDestination: "STORESCP",
      affectedSopClass: "1.2.840.10008.5.1.4.1.2.2.2",
    },
    { messageId: 3, moveDestination: "STORESCP", sopClassUid: "1.2.840.10008.5.1.4.1.2.2.2" },
  ],
  [
    "C-MOVE-RSP",
    { field: CommandField.C_MOVE_RSP, respondedTo: 3, status: 0xa702 },
    { messageIdBeingRespondedTo: 3, status: 0xa702 },
  ],
  [
    "C-ECHO-RQ",
    { field: CommandField.C_ECHO_RQ, messageId: 4, affectedSopClass: "1.2.840.10008.1.1" },
    { messageId: 4, sopClassUid: "1.2.840.10008.1.1" },
  ],
  [
    "C-ECHO-RSP",
    { field: CommandField.C_ECHO_RSP, respondedTo: 4, affectedSopClass: "1.2.840.10008.1.1", status: 0 },
    { messageIdBeingRespondedTo: 4, sopClassUid: "1.2.840.10008.1.1", status: 0 },
  ],
  [
    "N-EVENT-REPORT-RQ",
    {
      field: CommandField.N_EVENT_REPORT_RQ,
      messageId: 5,
      affectedSopClass: "1.2.840.10008.1.20.1",
      affectedSopInstance: "1.2.840.10008.1.20.1.1",
    },
    { messageId: 5, sopClassUid: "1.2.840.10008.1.20.1", sopInstanceUid: "1.2.840.10008.1.20.1.1" },
  ],
  [
    "N-EVENT-REPORT-RSP",
    { field: CommandField.N_EVENT_REPORT_RSP, respondedTo: 5, status: 0 },
    { messageIdBeingRespondedTo: 5, status: 0 },
  ],
  [
    "N-GET-RQ",
    {
      field: CommandField.N_GET_RQ,
      messageId: 6,
      requestedSopClass: "1.2.840.10008.5.1.1.16",
      requestedSopInstance: "1.2.840.10008.5.1.1.17",
    },
    { messageId: 6, sopClassUid: "1.2.840.10008.5.1.1.16", sopInstanceUid: "1.2.840.10008.5.1.1.17" },
  ],
  [
    "N-GET-RSP",
    { field: CommandField.N_GET_RSP, respondedTo: 6, status: 0x0107 },
    { messageIdBeingRespondedTo: 6, status: 0x0107 },
  ],
  [
    "N-SET-RQ",
    { field: CommandField.N_SET_RQ, messageId: 8, requestedSopClass: "1.2.840.10008.3.1.2.3.3" },
    { messageId: 8, sopClassUid: "1.2.840.10008.3.1.2.3.3" },
  ],
  [
    "N-SET-RSP",
    { field: CommandField.N_SET_RSP, respondedTo: 8, status: 0 },
    { messageIdBeingRespondedTo: 8, status: 0 },
  ],
  [
    "N-ACTION-RQ",
    {
      field: CommandField.N_ACTION_RQ,
      messageId: 9,
      requestedSopClass: "1.2.840.10008.1.20.1",
      requestedSopInstance: "1.2.840.10008.1.20.1.1",
    },
    { messageId: 9, sopClassUid: "1.2.840.10008.1.20.1", sopInstanceUid: "1.2.840.10008.1.20.1.1" },
  ],
  [
    "N-ACTION-RSP",
    { field: CommandField.N_ACTION_RSP, respondedTo: 9, status: 0 },
    { messageIdBeingRespondedTo: 9, status: 0 },
  ],
  [
    "N-CREATE-RQ",
    { field: CommandField.N_CREATE_RQ, messageId: 10, affectedSopClass: "1.2.840.10008.3.1.2.3.3" },
    { messageId: 10, sopClassUid: "1.2.840.10008.3.1.2.3.3" },
  ],
  [
    "N-CREATE-RSP",
    { field: CommandField.N_CREATE_RSP, respondedTo: 10, status: 0, affectedSopInstance: "1.2.3.4" },
    { messageIdBeingRespondedTo: 10, status: 0, sopInstanceUid: "1.2.3.4" },
  ],
  [
    "N-DELETE-RQ",
    {
      field: CommandField.N_DELETE_RQ,
      messageId: 11,
      requestedSopClass: "1.2.840.10008.5.1.1.1",
      requestedSopInstance: "1.2.3.5",
    },
    { messageId: 11, sopClassUid: "1.2.840.10008.5.1.1.1", sopInstanceUid: "1.2.3.5" },
  ],
  [
    "N-DELETE-RSP",
    { field: CommandField.N_DELETE_RSP, respondedTo: 11, status: 0 },
    { messageIdBeingRespondedTo: 11, status: 0 },
  ],
  ["C-CANCEL-RQ", { field: CommandField.C_CANCEL_RQ, respondedTo: 2 }, { messageIdBeingRespondedTo: 2 }],
];

for (const [name, opts, expected] of CASES) {
  test(`decodes ${name}`, (t) => {
    const h = new Harness();
    h.send(3, command(opts));
    t.deepEqual(h.codes(), []);
    t.is(h.events.length, 1);
    const e = h.events[0]!;
    t.is(e.kind, "message");
    if (e.kind !== "message") return;
    t.deepEqual(e.msg, { ...NULL_RECORD, command: name, ...expected });
    t.is(e.pcId, 3);
    t.false(e.hasDataset);
    // A command set in one slice is decoded in place.
    t.is(h.counters.bytesCopied, 0);
  });
}

test("unknown command field: UNKNOWN-0xNNNN and an anomaly", (t) => {
  const h = new Harness();
  h.send(1, command({ field: 0x4242, messageId: 1 }));
  t.is(h.messages()[0]?.command, "UNKNOWN-0x4242");
  t.deepEqual(h.codes(), ["dimse.unknown-command-field"]);
});

for (const [pc, enc] of [
  [1, "implicit"],
  [3, "explicit-le"],
  [5, "explicit-be"],
] as const) {
  test(`C-STORE-RQ with a dataset (${enc}): message, then equipment`, (t) => {
    const h = new Harness();
    const cmd = command({
      field: CommandField.C_STORE_RQ,
      messageId: 1,
      affectedSopClass: CT,
      affectedSopInstance: INSTANCE,
      dataSet: true,
    });
    h.send(pc, cmd, imageDataset(enc, { nestedSequences: true, pixelBytes: 100_000 }), 4096, 1000);
    t.deepEqual(h.codes(), []);
    t.is(h.events.length, 2);
    const [m, q] = h.events;
    t.is(m?.kind, "message");
    t.true(m?.kind === "message" && m.hasDataset && m.msg.command === "C-STORE-RQ" && m.ts === 10);
    t.is(q?.kind, "equipment");
    if (q?.kind !== "equipment") return;
    t.deepEqual(q.attrs, DEFAULT_EQUIPMENT);
    t.is(q.msg.sopInstanceUid, INSTANCE);
    t.is(q.pcId, pc);
  });
}

test("every PDV fragment size gives the same result", (t) => {
  const cmd = command({ field: CommandField.C_STORE_RQ, messageId: 1, affectedSopClass: CT, dataSet: true });
  const ds = imageDataset("explicit-le", { nestedSequences: true, pixelBytes: 200 });
  for (let size = 1; size <= Math.max(cmd.length, ds.length) + 1; size += 3) {
    const h = new Harness();
    h.send(3, cmd, ds, size, Math.max(1, size >> 1));
    t.deepEqual(h.codes(), [], `size ${size}`);
    const q = h.events[1];
    t.true(
      q?.kind === "equipment" && JSON.stringify(q.attrs) === JSON.stringify(DEFAULT_EQUIPMENT),
      `size ${size}`,
    );
  }
});

test("a 512 KiB C-STORE copies less than 1 KiB", (t) => {
  const h = new Harness();
  const cmd = command({
    field: CommandField.C_STORE_RQ,
    messageId: 1,
    affectedSopClass: CT,
    affectedSopInstance: INSTANCE,
    dataSet: true,
  });
  const ds = imageDataset("explicit-le", { pixelBytes: 512 * 1024 });
  for (let i = 0; i < 3; i++) h.send(3, cmd, ds, 16378, 1448);
  t.is(h.messages().length, 3);
  t.true(h.counters.bytesCopied < 1024, `copied ${h.counters.bytesCopied}`);
  // Command fragments split across slices are copied (and counted), still tiny.
  const h2 = new Harness();
  h2.send(3, cmd, ds, 16378, 7);
  t.true(h2.counters.bytesCopied > 0 && h2.counters.bytesCopied < 1024, `copied ${h2.counters.bytesCopied}`);
});

test("unknown transfer syntax: the dataset encoding is detected", (t) => {
  const h = new Harness();
  h.send(
    9,
    command({ field: CommandField.C_STORE_RQ, messageId: 1, dataSet: true }),
    imageDataset("implicit"),
  );
  const q = h.events[1];
  t.true(q?.kind === "equipment" && q.attrs.modality === "CT");
});

test("anomaly: data PDV without a preceding command", (t) => {
  const h = new Harness();
  h.pdv(1, false, true, imageDataset("implicit"));
  t.deepEqual(h.codes(), ["dimse.data-without-command"]);
  t.is(h.events.length, 0);
  t.is(h.anomalies.records()[0]?.layer, "dimse");
  t.is(h.anomalies.records()[0]?.flow, FLOW);
});

test("anomaly: command PDV inside a dataset; the cut message is still reported", (t) => {
  const h = new Harness();
  const ds = imageDataset("explicit-le", { pixelBytes: 1000 });
  h.send(3, command({ field: CommandField.C_STORE_RQ, messageId: 1, dataSet: true }));
  h.pdv(3, false, false, ds.subarray(0, 700));
  h.send(3, command({ field: CommandField.C_ECHO_RQ, messageId: 2 }));
  t.deepEqual(h.codes(), ["dimse.command-inside-dataset"]);
  t.deepEqual(
    h.events.map((e) => e.kind + ":" + e.msg.command),
    ["message:C-STORE-RQ", "equipment:C-STORE-RQ", "message:C-ECHO-RQ"],
  );
  t.deepEqual(h.messages()[0]?.dataset, { complete: false, bytes: 700, stopped: "next-command" });
  t.is(h.messages()[1]?.dataset, null);
});

test("anomaly: presentation context id mismatch", (t) => {
  const h = new Harness();
  h.send(3, command({ field: CommandField.C_STORE_RQ, messageId: 1, dataSet: true }));
  h.pdv(1, false, true, imageDataset("implicit"));
  t.deepEqual(h.codes(), ["dimse.pc-id-mismatch"]);
  h.pdv(3, false, true, imageDataset("explicit-le"));
  t.is(h.events.length, 2);
  // Command fragments on two contexts.
  const h2 = new Harness();
  const cmd = command({ field: CommandField.C_ECHO_RQ, messageId: 1 });
  h2.pdv(1, true, false, cmd.subarray(0, 10));
  h2.pdv(3, true, true, cmd);
  t.deepEqual(h2.codes(), ["dimse.pc-id-mismatch"]);
  t.is(h2.messages()[0]?.command, "C-ECHO-RQ");
});

test("anomaly: data PDV before the last command fragment", (t) => {
  const h = new Harness();
  const cmd = command({ field: CommandField.C_ECHO_RQ, messageId: 1 });
  h.pdv(1, true, false, cmd.subarray(0, 10));
  h.pdv(1, false, true, Buffer.alloc(8));
  t.deepEqual(h.codes(), ["dimse.data-inside-command"]);
  t.is(h.events.length, 0);
});

test("anomaly: a command set announcing a dataset followed by a command", (t) => {
  const h = new Harness();
  h.send(1, command({ field: CommandField.C_FIND_RQ, messageId: 1, dataSet: true }));
  h.send(1, command({ field: CommandField.C_FIND_RQ, messageId: 2, dataSet: true }), dataset([], "implicit"));
  t.deepEqual(h.codes(), ["dimse.missing-dataset"]);
  t.deepEqual(
    h.messages().map((m) => m.messageId),
    [1, 2],
  );
});

test("anomaly: element length beyond the command set, missing command field, not group 0000", (t) => {
  const good = command({ field: CommandField.C_ECHO_RQ, messageId: 1 });
  const h = new Harness();
  const bad = Buffer.from(good);
  bad.writeUInt32LE(0x7fffffff, 12 + 4); // first element after the group length
  h.send(1, bad);
  t.deepEqual(h.codes(), ["dimse.command-element-beyond-end"]);
  t.is(h.events.length, 0);

  const h2 = new Harness();
  h2.send(1, commandSet([{ element: 0x0110, value: 1 }]));
  t.deepEqual(h2.codes(), ["dimse.missing-command-field"]);

  const h3 = new Harness();
  h3.send(1, Buffer.concat([good, Buffer.from([0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0, 0x43, 0x54])]));
  t.deepEqual(h3.codes(), ["dimse.command-not-group-0000"]);
  t.is(h3.messages()[0]?.command, "C-ECHO-RQ");

  const h4 = new Harness();
  h4.send(1, good.subarray(0, good.length - 3));
  t.deepEqual(h4.codes(), ["dimse.command-truncated-element", "dimse.missing-data-set-type"]);

  const h6 = new Harness();
  const wrongLength = Buffer.from(good);
  wrongLength.writeUInt32LE(4, 8); // (0000,0000) Command Group Length says 4
  h6.send(1, wrongLength);
  t.deepEqual(h6.codes(), ["dimse.command-group-length-mismatch"]);
  t.is(h6.messages()[0]?.command, "C-ECHO-RQ");

  const h5 = new Harness();
  h5.send(1, commandSet([{ element: 0x0100, value: 0x0030 }]));
  t.deepEqual(h5.codes(), ["dimse.missing-data-set-type"]);
  t.is(h5.messages()[0]?.command, "C-ECHO-RQ");
});

test("anomaly: command set too large", (t) => {
  const h = new Harness();
  const big = commandSet([
    { element: 0x0100, value: 0x0030 },
    { element: 0x0800, value: 0x0101 },
    { element: 0x0902, value: Buffer.alloc(70_000, 0x41) },
  ]);
  h.send(1, big, undefined, 16384, 4096);
  t.deepEqual(h.codes(), ["dimse.command-too-large"]);
  t.is(h.events.length, 0);
  t.true(h.counters.bytesCopied <= 64 * 1024);
  h.send(1, command({ field: CommandField.C_ECHO_RQ, messageId: 1 }));
  t.is(h.messages().length, 1);
});

test("reset drops partial state and reports a message whose command was complete", (t) => {
  const h = new Harness();
  const cmd = command({ field: CommandField.C_ECHO_RQ, messageId: 1 });
  h.pdv(1, true, false, cmd.subarray(0, 20));
  h.asm.reset("gap");
  h.pdv(1, true, true, cmd.subarray(20));
  t.is(h.events.length, 0);
  // The tail of a command cut by the gap is capture loss, not malformed DICOM: no anomaly.
  t.deepEqual(h.codes(), []);

  const h2 = new Harness();
  h2.send(3, command({ field: CommandField.C_STORE_RQ, messageId: 5, dataSet: true }));
  h2.asm.pdvBegin(3, false, true, 1000, 1);
  h2.asm.pdvData(imageDataset("explicit-le"), 0, 300);
  h2.asm.reset("gap");
  t.deepEqual(
    h2.events.map((e) => e.kind),
    ["message", "equipment"],
  );
  t.deepEqual(h2.messages()[0]?.dataset, { complete: false, bytes: 300, stopped: "gap" });
  h2.send(3, command({ field: CommandField.C_ECHO_RQ, messageId: 6 }));
  t.deepEqual(h2.codes(), []);
  t.is(h2.messages()[1]?.messageId, 6);
});

test("patient data and error comments never reach events or anomalies", (t) => {
  const h = new Harness();
  for (const [pc, enc] of [
    [1, "implicit"],
    [3, "explicit-le"],
    [5, "explicit-be"],
  ] as const) {
    h.send(
      pc,
      command({ field: CommandField.C_STORE_RQ, messageId: 1, affectedSopClass: CT, dataSet: true }),
      imageDataset(enc, { nestedSequences: true, pixelBytes: 4000 }),
      999,
      77,
    );
    h.send(
      pc,
      command({
        field: CommandField.C_STORE_RSP,
        respondedTo: 1,
        status: 0xc000,
        errorComment: `bad ${SECRET_PATIENT_NAME}`,
      }),
    );
    // A C-FIND identifier is mostly patient keys.
    const ident = dataset(
      [
        { tag: 0x00080052, vr: "CS", value: "STUDY" },
        { tag: 0x00100010, vr: "PN", value: SECRET_PATIENT_NAME },
        { tag: 0x00100020, vr: "LO", value: SECRET_PATIENT_ID },
      ],
      enc,
    );
    h.send(pc, command({ field: CommandField.C_FIND_RQ, messageId: 2, dataSet: true }), ident);
    // Broken datasets too.
    h.send(
      pc,
      command({ field: CommandField.C_STORE_RQ, messageId: 3, dataSet: true }),
      imageDataset(enc).subarray(0, 333),
    );
    h.pdv(pc, false, true, ident);
  }
  const json = JSON.stringify([h.events, h.anomalies.records()]);
  t.false(json.includes("SECRET"));
  t.true(h.events.some((e) => e.kind === "equipment"));
});

test("random and mutated command sets and PDV sequences never throw", (t) => {
  const cmds = CASES.map(([, o]) => command({ ...o, dataSet: true }));
  const ds = imageDataset("explicit-le", { nestedSequences: true, pixelBytes: 64 });
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          which: fc.nat(cmds.length - 1),
          isCommand: fc.boolean(),
          isLast: fc.boolean(),
          pc: fc.constantFrom(1, 3, 5, 9),
          flips: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
          cut: fc.nat(),
          reset: fc.boolean(),
        }),
        { maxLength: 12 },
      ),
      (steps) => {
        const h = new Harness();
        for (const s of steps) {
          const src = Buffer.from(s.isCommand ? cmds[s.which]! : ds);
          for (const [at, v] of s.flips) src[at % src.length] = v;
          const parts = splitAt(src, [s.cut % src.length]);
          h.asm.pdvBegin(s.pc, s.isCommand, s.isLast, src.length, 1);
          for (const p of parts) h.asm.pdvData(p, 0, p.length);
          h.asm.pdvEnd();
          if (s.reset && s.cut % 5 === 0) h.asm.reset("gap");
        }
        return !JSON.stringify([h.events, h.anomalies.records()]).includes("SECRET");
      },
    ),
    { numRuns: 1500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, last) => {
      const h = new Harness();
      h.pdv(1, true, last, Buffer.from(bytes));
      h.pdv(1, false, true, Buffer.from(bytes));
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test("after a loss, the tail of a command whose start was lost is passed over silently", (t) => {
  for (const slice of [1, 3, 1000]) {
    const h = new Harness();
    const cmd = command({
      field: CommandField.C_ECHO_RQ,
      messageId: 5,
      affectedSopClass: "1.2.840.10008.1.1",
    });
    h.asm.reset("gap");
    // The second half of a command (its start, with (0000,0000), was lost in the gap).
    h.pdv(1, true, true, cmd.subarray(20), slice);
    t.deepEqual(h.codes(), [], `slice ${slice}`);
    t.is(h.messages().length, 0);
    // The next whole command is decoded, even when its first bytes arrive one at a time.
    h.pdv(1, true, true, cmd, slice);
    t.deepEqual(
      h.messages().map((m) => [m.command, m.messageId]),
      [["C-ECHO-RQ", 5]],
    );
    t.deepEqual(h.codes(), []);
  }
  // Without a loss, a command that does not open with (0000,0000) is still decoded and judged as usual.
  const h = new Harness();
  h.pdv(1, true, true, command({ field: CommandField.C_ECHO_RQ, messageId: 6 }).subarray(12));
  t.is(h.messages().length, 1);
});
