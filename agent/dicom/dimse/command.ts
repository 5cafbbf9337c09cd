/**
 * Command set decoding (PS3.7 §9.3 and Annex E). A command set is group 0000 only, always encoded in
 * implicit VR little endian whatever the presentation context's transfer syntax (PS3.7 §6.3.1):
 *
 *   +----+----+----+----+----+----+----+----+-----------
 *   | 0000    | element | value length      | value ...     repeated; (0000,0000) Command Group
 *   | (LE)    | (LE)    | (LE, 4 bytes)     |               Length comes first and counts the rest
 *   +----+----+----+----+----+----+----+----+-----------
 *
 * Only the elements a sensor needs are kept; the Error Comment (0000,0902) is free text written by the
 * peer and may echo anything, so it is never read.
 */
import type { DimseMessageRecord } from "../../report/types.js";
import type { CommandAnomalyCode } from "../../util/anomaly-catalogue.js";
import { valueText } from "../dataset/text.js";
import { decodeUid, MAX_UID_LENGTH, type UlIssues } from "../ul/pdu.js";

/** Command Field values and their PS3.7 names (PS3.7 §E.1, Table E.1-1 and §10.3, §9.3). */
export function commandName(field: number): string | null {
  switch (field) {
    case 0x0001:
      return "C-STORE-RQ";
    case 0x8001:
      return "C-STORE-RSP";
    case 0x0010:
      return "C-GET-RQ";
    case 0x8010:
      return "C-GET-RSP";
    case 0x0020:
      return "C-FIND-RQ";
    case 0x8020:
      return "C-FIND-RSP";
    case 0x0021:
      return "C-MOVE-RQ";
    case 0x8021:
      return "C-MOVE-RSP";
    case 0x0030:
      return "C-ECHO-RQ";
    case 0x8030:
      return "C-ECHO-RSP";
    case 0x0100:
      return "N-EVENT-REPORT-RQ";
    case 0x8100:
      return "N-EVENT-REPORT-RSP";
    case 0x0110:
      return "N-GET-RQ";
    case 0x8110:
      return "N-GET-RSP";
    case 0x0120:
      return "N-SET-RQ";
    case 0x8120:
      return "N-SET-RSP";
    case 0x0130:
      return "N-ACTION-RQ";
    case 0x8130:
      return "N-ACTION-RSP";
    case 0x0140:
      return "N-CREATE-RQ";
    case 0x8140:
      return "N-CREATE-RSP";
    case 0x0150:
      return "N-DELETE-RQ";
    case 0x8150:
      return "N-DELETE-RSP";
    case 0x0fff:
      return "C-CANCEL-RQ";
    default:
      return null;
  }
}

/** Sub-operation counts of C-GET/C-MOVE responses (PS3.7 §9.3.3.2, §9.3.4.2), null when absent. */
export interface SubOperationCounts {
  remaining: number | null; // (0000,1020)
  completed: number | null; // (0000,1021)
  failed: number | null; // (0000,1022)
  warning: number | null; // (0000,1023)
}

export interface CommandDecodeResult {
  /** null when no Command Field was found: the bytes are not a usable command set. */
  record: DimseMessageRecord | null;
  commandField: number | null;
  unknownCommandField: boolean;
  /** Command Data Set Type (0000,0800); 0x0101 means no data set follows; null when absent. */
  dataSetType: number | null;
  priority: number | null;
  /** Offending Element (0000,0901): the tags the peer complained about (AT, PS3.7 §C.4.2). */
  offendingElements: number[];
  subOperations: SubOperationCounts | null;
  /** First problem met (the decoder stops at structural problems), or null. */
  anomaly: CommandAnomalyCode | null;
  anomalyDetail: string;
  /**
   * Detail of the first SOP Class or Instance UID that is not a UID (PS3.5 §9.1: digits and dots, at most
   * 64 characters), reported as ul.uid-invalid like the association's UIDs; null when all are valid.
   */
  invalidUid: string | null;
}

/** AE titles are 16 bytes (PS3.5 §6.2); longer values are truncated, not kept whole. */
const AE_CAP = 16;
/**
 * Recently seen UIDs and AE titles, matched against the bytes in place (nothing is copied). An association
 * repeats the same few SOP Class UIDs in every command (e.g. 32 000 C-STOREs of one SOP class), and a
 * response repeats the SOP Instance UID of its request; every message record is kept for the report, so
 * returning the string already made spares a string per message and the memory to hold it. A value that
 * needed control characters replaced is never cached: a cached string is always the bytes' latin1 text.
 */
class InternCache {
  private readonly entries: string[];
  private next = 0;

  constructor(private readonly size: number) {
    this.entries = new Array<string>(size).fill("");
  }

  /** The cached string whose characters are the bytes buf[s, s + n), or null. */
  find(buf: Buffer, s: number, n: number): string | null {
    const entries = this.entries;
    for (let k = 0; k < entries.length; k++) {
      const t = entries[k]!;
      if (t.length !== n) continue;
      // UIDs sharing a root differ near the end: compare from there.
      let i = n - 1;
      while (i >= 0 && t.charCodeAt(i) === buf[s + i]) i--;
      if (i < 0) return t;
    }
    return null;
  }

  remember(v: string): void {
    this.entries[this.next] = v;
    this.next = this.next + 1 === this.size ? 0 : this.next + 1;
  }

  /**
   * Text of an AE value capped at `cap` bytes, as valueText makes it, served from the cache when the
   * bytes match a recent value.
   */
  text(buf: Buffer, start: number, len: number, cap: number): string | null {
    // The trimming of valueText (trailing NUL/space, leading space), so the lookup sees the same bytes.
    let e = start + Math.min(len, cap);
    while (e > start && (buf[e - 1] === 0x00 || buf[e - 1] === 0x20)) e--;
    let s = start;
    while (s < e && buf[s] === 0x20) s++;
    if (s === e) return null;
    const n = e - s;
    const hit = this.find(buf, s, n);
    if (hit !== null) return hit;
    const v = valueText(buf, s, e);
    if (v !== null && v.length === n && !hasReplacement(buf, s, e)) this.remember(v);
    return v;
  }

  /**
   * A UID value (PS3.5 §9.1): validated and sanitised exactly as the association's UIDs are (ul/pdu.ts
   * decodeUid: trailing NUL/space padding stripped; digits and dots, at most 64 characters; any other
   * byte reported as ul.uid-invalid and shown as itself when printable ASCII, else "?"; cut to 64). Only
   * valid UIDs enter the cache, so a hit needs no check. Null when the value is empty (absent).
   */
  uid(buf: Buffer, start: number, len: number, issues: UlIssues, what: string): string | null {
    let e = start + len;
    while (e > start && (buf[e - 1] === 0x00 || buf[e - 1] === 0x20)) e--;
    if (e === start) return null;
    const n = e - start;
    if (n <= MAX_UID_LENGTH) {
      const hit = this.find(buf, start, n);
      if (hit !== null) return hit;
    }
    let valid = n <= MAX_UID_LENGTH;
    for (let i = start; valid && i < e; i++) {
      const c = buf[i]!;
      valid = (c >= 0x30 && c <= 0x39) || c === 0x2e;
    }
    if (!valid) return decodeUid(buf, start, e, issues, what);
    const v = buf.toString("latin1", start, e);
    this.remember(v);
    return v;
  }
}

/**
 * The command-set decoder with its intern caches (20 strings in all): owned by whoever decodes commands
 * (one per pipeline, shared by its DIMSE assemblers), so nothing is kept at module level.
 */
export class CommandDecoder {
  /** Collects the first ul.uid-invalid detail of one command set (reset by decode). */
  readonly uidIssue: UlIssues & { detail: string | null } = {
    detail: null,
    issue(_code: string, detail: string): void {
      this.detail ??= detail;
    },
  };
  /** SOP Class UIDs: few distinct values per capture. */
  readonly classes = new InternCache(8);
  /** SOP Instance UIDs: a response names the instance of a request sent shortly before. */
  readonly instances = new InternCache(8);
  /** Move Destinations (AE titles). */
  readonly destinations = new InternCache(4);

  /** Decode the command set in buf[start, end). Never throws; problems are returned as an anomaly code. */
  decode(buf: Buffer, start: number, end: number): CommandDecodeResult {
    return decodeWith(this, buf, start, end);
  }
}

/** True when valueText would have replaced a control character in buf[s, e). */
function hasReplacement(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = buf[i] ?? 0;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * Decode the command set in buf[start, end) with a decoder of its own (no interning across calls): for
 * tests and one-off callers; the pipeline's assemblers share their owner's CommandDecoder.
 */
export function decodeCommandSet(buf: Buffer, start: number, end: number): CommandDecodeResult {
  return new CommandDecoder().decode(buf, start, end);
}

function decodeWith(d: CommandDecoder, buf: Buffer, start: number, end: number): CommandDecodeResult {
  const { uidIssue, classes, instances, destinations } = d;
  const r: CommandDecodeResult = {
    record: null,
    commandField: null,
    unknownCommandField: false,
    dataSetType: null,
    priority: null,
    offendingElements: [],
    subOperations: null,
    anomaly: null,
    anomalyDetail: "",
    invalidUid: null,
  };
  uidIssue.detail = null;
  let affectedClass: string | null = null;
  let requestedClass: string | null = null;
  let affectedInstance: string | null = null;
  let requestedInstance: string | null = null;
  let messageId: number | null = null;
  let respondedTo: number | null = null;
  let status: number | null = null;
  let moveDestination: string | null = null;
  let pos = start;
  let lastElement = -1;
  while (pos < end) {
    if (end - pos < 8) {
      r.anomaly = "dimse.command-truncated-element";
      r.anomalyDetail = `${end - pos} bytes left, less than an element header`;
      break;
    }
    // The 8 header bytes are known to be present: plain byte arithmetic, no Buffer.read* checks.
    const group = buf[pos]! | (buf[pos + 1]! << 8);
    const element = buf[pos + 2]! | (buf[pos + 3]! << 8);
    const len = (buf[pos + 4]! | (buf[pos + 5]! << 8) | (buf[pos + 6]! << 16)) + buf[pos + 7]! * 0x1000000;
    const v = pos + 8;
    if (group !== 0x0000) {
      r.anomaly = "dimse.command-not-group-0000";
      r.anomalyDetail = `element (${hex4(group)},${hex4(element)}) in a command set`;
      break;
    }
    if (len > end - v) {
      r.anomaly = "dimse.command-element-beyond-end";
      r.anomalyDetail = `element (0000,${hex4(element)}) length ${len} beyond the command set`;
      break;
    }
    if (element <= lastElement) {
      // PS3.5 §7.1: ascending order; decoding goes on, the values are still well delimited.
      r.anomaly ??= "dimse.command-tag-order";
      if (r.anomalyDetail === "") r.anomalyDetail = `(0000,${hex4(element)}) out of order`;
    }
    lastElement = element;
    pos = v + len;
    switch (element) {
      case 0x0002: // Affected SOP Class UID
        affectedClass = classes.uid(buf, v, len, uidIssue, "Affected SOP Class UID (0000,0002)");
        break;
      case 0x0003: // Requested SOP Class UID
        requestedClass = classes.uid(buf, v, len, uidIssue, "Requested SOP Class UID (0000,0003)");
        break;
      case 0x0100: // Command Field
        r.commandField = us(buf, v, len);
        break;
      case 0x0110: // Message ID
        messageId = us(buf, v, len);
        break;
      case 0x0120: // Message ID Being Responded To
        respondedTo = us(buf, v, len);
        break;
      case 0x0600: // Move Destination (AE)
        moveDestination = destinations.text(buf, v, len, AE_CAP);
        break;
      case 0x0700: // Priority
        r.priority = us(buf, v, len);
        break;
      case 0x0800: // Command Data Set Type
        r.dataSetType = us(buf, v, len);
        break;
      case 0x0900: // Status
        status = us(buf, v, len);
        break;
      case 0x0901: // Offending Element (AT, VM 1-n): group and element, each US
        for (let o = v; o + 4 <= v + len && r.offendingElements.length < 16; o += 4) {
          r.offendingElements.push(((buf.readUInt16LE(o) << 16) | buf.readUInt16LE(o + 2)) >>> 0);
        }
        break;
      case 0x1000: // Affected SOP Instance UID
        affectedInstance = instances.uid(buf, v, len, uidIssue, "Affected SOP Instance UID (0000,1000)");
        break;
      case 0x1001: // Requested SOP Instance UID
        requestedInstance = instances.uid(buf, v, len, uidIssue, "Requested SOP Instance UID (0000,1001)");
        break;
      case 0x1020: // Number of Remaining Sub-operations
      case 0x1021: // Number of Completed Sub-operations
      case 0x1022: // Number of Failed Sub-operations
      case 0x1023: {
        // Number of Warning Sub-operations
        r.subOperations ??= { remaining: null, completed: null, failed: null, warning: null };
        const n = us(buf, v, len);
        if (element === 0x1020) r.subOperations.remaining = n;
        else if (element === 0x1021) r.subOperations.completed = n;
        else if (element === 0x1022) r.subOperations.failed = n;
        else r.subOperations.warning = n;
        break;
      }
      case 0x0000: {
        // Command Group Length: the bytes after this element (PS3.7 §E.1). Decoding goes by element
        // lengths regardless; a mismatch is reported because well-behaved stacks never produce one.
        if (len === 4 && buf.readUInt32LE(v) !== end - pos && r.anomaly === null) {
          r.anomaly = "dimse.command-group-length-mismatch";
          r.anomalyDetail = `group length ${buf.readUInt32LE(v)}, ${end - pos} bytes follow`;
        }
        break;
      }
      default:
        // (0000,0902) Error Comment and the rest: not needed, not read.
        break;
    }
  }
  r.invalidUid = uidIssue.detail;
  if (r.commandField === null) {
    if (r.anomaly === null) {
      r.anomaly = "dimse.missing-command-field";
      r.anomalyDetail = "no Command Field (0000,0100)";
    }
    return r;
  }
  let name = commandName(r.commandField);
  if (name === null) {
    name = `UNKNOWN-0x${hex4(r.commandField)}`;
    r.unknownCommandField = true;
  }
  const isResponse = (r.commandField & 0x8000) !== 0;
  r.record = {
    command: name,
    messageId,
    messageIdBeingRespondedTo: respondedTo,
    sopClassUid: affectedClass ?? requestedClass,
    sopInstanceUid: affectedInstance ?? requestedInstance,
    // Status belongs to responses (PS3.7 §9.1.1.1.9); a request carrying one is not reported as such.
    status: isResponse ? status : null,
    moveDestination,
    priority: r.priority,
    subOperations: r.subOperations,
    // Set when the message is emitted: null here, a DatasetInfo once a data set followed (assembler.ts).
    dataset: null,
  };
  return r;
}

/** A US value (2 bytes LE); null when the length is not 2 (malformed, but not worth stopping for). */
function us(buf: Buffer, v: number, len: number): number | null {
  return len >= 2 ? buf[v]! | (buf[v + 1]! << 8) : null;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}
