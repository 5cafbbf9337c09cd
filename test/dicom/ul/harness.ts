/**
 * Test harness for the Upper Layer: a PdvConsumer that records what the framer hands it, a small
 * command-set reader that turns complete command PDVs into DimseMessageRecords (so connection tests see
 * messages without depending on the DIMSE layer under construction), and a sink that collects everything.
 */
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import type { DicomStats, DimseContext, PdvConsumer } from "../../../agent/dicom/types.js";
import type { Observation } from "../../../agent/observations/types.js";
import type { DimseMessageRecord } from "../../../agent/report/types.js";
import { DicomConnection } from "../../../agent/dicom/connection.js";
import type { ConnectionInfo, Direction, Endpoint } from "../../../agent/reassembly/types.js";

/** Records PDV calls as text lines and values as concatenated buffers. */
export class RecordingConsumer implements PdvConsumer {
  readonly log: string[] = [];
  /** Completed PDVs: pcId, command flag, last flag, value. */
  readonly pdvs: { pcId: number; isCommand: boolean; isLast: boolean; value: Buffer }[] = [];
  private cur: {
    pcId: number;
    isCommand: boolean;
    isLast: boolean;
    parts: Buffer[];
    declared: number;
  } | null = null;

  pdvBegin(pcId: number, isCommand: boolean, isLast: boolean, valueLength: number): void {
    this.log.push(`begin ${pcId} ${isCommand ? "C" : "D"}${isLast ? "L" : ""} ${valueLength}`);
    this.cur = { pcId, isCommand, isLast, parts: [], declared: valueLength };
  }

  pdvData(buf: Buffer, start: number, end: number): void {
    // Views are valid only during the call: copy.
    this.cur?.parts.push(Buffer.from(buf.subarray(start, end)));
  }

  pdvEnd(): void {
    const c = this.cur;
    if (c === null) {
      this.log.push("end-without-begin");
      return;
    }
    const value = Buffer.concat(c.parts);
    this.log.push(`end ${value.length}`);
    if (value.length !== c.declared) this.log.push(`length-mismatch ${value.length}/${c.declared}`);
    this.pdvs.push({ pcId: c.pcId, isCommand: c.isCommand, isLast: c.isLast, value });
    this.cur = null;
  }

  reset(reason: string): void {
    this.log.push(`reset ${reason}`);
    this.cur = null;
  }
}

const COMMANDS: Record<number, string> = {
  0x0001: "C-STORE-RQ",
  0x8001: "C-STORE-RSP",
  0x0030: "C-ECHO-RQ",
  0x8030: "C-ECHO-RSP",
  0x0020: "C-FIND-RQ",
  0x8020: "C-FIND-RSP",
};

/** Reads the few group 0000 elements the tests use from an implicit VR LE command set. */
export function readCommand(b: Buffer): DimseMessageRecord {
  const m: DimseMessageRecord = {
    command: "UNKNOWN",
    messageId: null,
    messageIdBeingRespondedTo: null,
    sopClassUid: null,
    sopInstanceUid: null,
    status: null,
    moveDestination: null,
    priority: null,
    subOperations: null,
  };
  let p = 0;
  while (p + 8 <= b.length) {
    const el = b.readUInt16LE(p + 2);
    const len = b.readUInt32LE(p + 4);
    if (p + 8 + len > b.length) break;
    const v = b.subarray(p + 8, p + 8 + len);
    const str = (): string => v.toString("latin1").replace(/[\0 ]+$/, "");
    const us = (): number | null => (v.length >= 2 ? v.readUInt16LE(0) : null);
    if (el === 0x0100) m.command = COMMANDS[us() ?? -1] ?? "UNKNOWN";
    else if (el === 0x0110) m.messageId = us();
    else if (el === 0x0120) m.messageIdBeingRespondedTo = us();
    else if (el === 0x0900) m.status = us();
    else if (el === 0x0700) m.priority = us();
    else if (el === 0x0002) m.sopClassUid = str();
    else if (el === 0x1000) m.sopInstanceUid = str();
    p += 8 + len;
  }
  return m;
}

/**
 * A PdvConsumer for connection tests: gathers command fragments and, on the last one, reports the message
 * through the context's events (it ignores datasets). It also keeps the presentation context lookups it saw.
 */
export class CommandConsumer implements PdvConsumer {
  private parts: Buffer[] = [];
  private isCommand = false;
  private isLast = false;
  private pcId = 0;
  private ts = 0;
  readonly resets: string[] = [];
  readonly transferSyntaxesSeen: (string | null)[] = [];

  constructor(readonly ctx: DimseContext) {}

  pdvBegin(pcId: number, isCommand: boolean, isLast: boolean, _len: number, tsMicros: number): void {
    this.pcId = pcId;
    this.isCommand = isCommand;
    this.isLast = isLast;
    this.ts = tsMicros;
    if (!isCommand) this.parts = [];
  }

  pdvData(buf: Buffer, start: number, end: number): void {
    if (this.isCommand) this.parts.push(Buffer.from(buf.subarray(start, end)));
  }

  pdvEnd(): void {
    if (!this.isCommand || !this.isLast) return;
    const msg = readCommand(Buffer.concat(this.parts));
    this.parts = [];
    this.transferSyntaxesSeen.push(this.ctx.lookup.transferSyntax(this.pcId));
    this.ctx.events.message(msg, this.pcId, false, this.ts);
  }

  reset(reason: string): void {
    this.resets.push(reason);
    this.parts = [];
  }
}

export const CLIENT: Endpoint = { ip: "10.0.0.5", port: 50123, mac: null };
export const SERVER: Endpoint = { ip: "10.0.0.9", port: 104, mac: null };

export function connectionInfo(over: Partial<ConnectionInfo> = {}): ConnectionInfo {
  const client = over.client ?? CLIENT;
  const server = over.server ?? SERVER;
  return {
    id: 1,
    client,
    server,
    handshakeSeen: true,
    flow: `${client.ip}:${client.port}-${server.ip}:${server.port}`,
    startMicros: 1_700_000_000_000_000,
    ...over,
  };
}

/** A DicomConnection wired to collectors. */
export class Harness {
  readonly observations: Observation[] = [];
  readonly anomalies = new AnomalyCounter();
  readonly counters: Counters = { bytesCopied: 0 };
  readonly stats: DicomStats = { dicomFlows: 0, associations: 0, dimseMessages: 0 };
  readonly consumers: CommandConsumer[] = [];
  readonly conn: DicomConnection;

  constructor(info: ConnectionInfo = connectionInfo(), consumer?: (ctx: DimseContext) => PdvConsumer) {
    this.conn = new DicomConnection(info, {
      observations: { observe: (o) => this.observations.push(o) },
      anomalies: this.anomalies,
      counters: this.counters,
      stats: this.stats,
      pdvConsumer:
        consumer ??
        ((ctx) => {
          const c = new CommandConsumer(ctx);
          this.consumers.push(c);
          return c;
        }),
    });
  }

  /** Feed one direction's bytes in chunks of the given sizes (the last chunk takes the rest). */
  feed(dir: Direction, bytes: Buffer, ts = 1_700_000_000_000_000, cuts: number[] = []): void {
    let p = 0;
    for (const c of cuts) {
      if (c <= p || c >= bytes.length) continue;
      this.conn.data(dir, bytes, p, c, ts);
      p = c;
    }
    if (p < bytes.length) this.conn.data(dir, bytes, p, bytes.length, ts);
  }

  codes(): string[] {
    return this.anomalies.records().map((r) => r.code);
  }

  associations(): Extract<Observation, { kind: "association" }>[] {
    return this.observations.filter(
      (o): o is Extract<Observation, { kind: "association" }> => o.kind === "association",
    );
  }
}
