/**
 * The tshark oracle: runs Wireshark's DICOM dissector (tshark 4.0) over a capture and normalises what it
 * reports into the naming of agent/report/types.ts, so differential tests can hold dicomtap's report
 * against an independent implementation.
 *
 * How tshark is run (see tsharkArgs): TCP reassembly of out-of-order segments on, the DICOM heuristic on
 * (it finds an association on any port by its A-ASSOCIATE-RQ), DICOM's tag tree on (numeric values of
 * command elements instead of display text), JSON output with duplicate keys merged into arrays.
 *
 * Normalisation:
 * - One association per TCP stream that carries an A-ASSOCIATE-RQ (PS3.8 §7.1: one association per
 *   transport connection). The client is the sender of the RQ.
 * - AE titles are trimmed (PS3.8 §9.3.2: leading and trailing spaces are not significant).
 * - UIDs come from tshark's display strings, which are "Name (uid)" or "uid (Name)"; the dotted part is kept.
 * - Command Field values become PS3.7 names (PS3.7 §9.3, §10.3, Annex E), "UNKNOWN-0xNNNN" otherwise.
 * - Endpoints are "IP:PORT", IPv6 as "[IP]:PORT", like the report.
 * What tshark gets wrong (known) is listed in test/oracle/README.md with evidence.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type {
  AssociationOutcome,
  DimseMessageRecord,
  ImplementationInfo,
  PresentationContextResult,
  UserIdentityInfo,
} from "../../agent/report/types.js";

const execFileAsync = promisify(execFile);

export interface OraclePresentationContext {
  id: number;
  abstractSyntax: string | null;
  transferSyntaxes: string[];
  result: PresentationContextResult | null;
  transferSyntax: string | null;
}

export interface OracleAssociation {
  /** tshark's tcp.stream index, for messages in failures. */
  stream: number;
  /** Frame number of the A-ASSOCIATE-RQ. */
  frame: number;
  client: string;
  server: string;
  callingAE: string | null;
  calledAE: string | null;
  applicationContext: string | null;
  requestor: ImplementationInfo | null;
  acceptor: ImplementationInfo | null;
  userIdentity: UserIdentityInfo | null;
  presentationContexts: OraclePresentationContext[];
  outcome: AssociationOutcome;
  reject: { result: number; source: number; reason: number } | null;
  abort: { source: number; reason: number } | null;
  released: boolean;
  messages: DimseMessageRecord[];
}

export interface OracleResult {
  associations: OracleAssociation[];
  /** All DIMSE messages in capture order (also found under their association). */
  messages: DimseMessageRecord[];
  /** DIMSE messages on TCP streams where tshark saw no A-ASSOCIATE-RQ (mid-stream pick-up). */
  orphanMessages: DimseMessageRecord[];
}

export interface OracleOptions {
  /** Extra TCP ports to decode as DICOM even without an A-ASSOCIATE-RQ ("Decode As"). */
  ports?: number[];
}

export function tsharkArgs(file: string, opts: OracleOptions = {}): string[] {
  const args = [
    "-r",
    file,
    "-n",
    "-o",
    "tcp.reassemble_out_of_order:TRUE",
    "-o",
    "dicom.tag_tree:TRUE",
    "--enable-heuristic",
    "dicom_tcp",
  ];
  for (const p of opts.ports ?? []) args.push("-d", `tcp.port==${p},dicom`);
  args.push("-Y", "dicom", "-T", "json", "--no-duplicate-keys", "-J", "frame ip ipv6 tcp dicom");
  return args;
}

/** True when tshark can be run. */
export async function tsharkAvailable(): Promise<boolean> {
  try {
    await execFileAsync("tshark", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

export async function runTshark(file: string, opts: OracleOptions = {}): Promise<OracleResult> {
  const { stdout } = await execFileAsync("tshark", tsharkArgs(file, opts), {
    maxBuffer: 1 << 30,
    env: { ...process.env, LC_ALL: "C" },
  });
  return normalise(JSON.parse(stdout === "" ? "[]" : stdout) as unknown);
}

// ---- JSON walking helpers (tshark's JSON: objects keyed by field name or display label) ----

type J = Record<string, unknown>;

function isObj(v: unknown): v is J {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Values of a key; --no-duplicate-keys turns repeated keys into arrays. */
function all(o: J, key: string): unknown[] {
  const v = o[key];
  if (v === undefined) return [];
  return Array.isArray(v) ? (v as unknown[]) : [v];
}

function str(o: J, key: string): string | null {
  const v = all(o, key)[0];
  return typeof v === "string" ? v : null;
}

function num(o: J, key: string): number | null {
  const s = str(o, key);
  if (s === null) return null;
  const n = s.startsWith("0x") ? parseInt(s, 16) : Number(s);
  return Number.isFinite(n) ? n : null;
}

/** Every object below `node` (depth first, document order) for which `pred` holds; does not descend
 * into a match when `stop` is set. */
function find(node: unknown, pred: (o: J) => boolean, stop: boolean, outList: J[] = []): J[] {
  if (Array.isArray(node)) {
    for (const v of node) find(v, pred, stop, outList);
  } else if (isObj(node)) {
    const hit = pred(node);
    if (hit) outList.push(node);
    if (!hit || !stop) for (const v of Object.values(node)) find(v, pred, stop, outList);
  }
  return outList;
}

function itemsOfType(node: unknown, type: number): J[] {
  return find(node, (o) => num(o, "dicom.assoc.item.type") === type, true);
}

/** "Name (1.2.3)" or "1.2.3 (Name)" or "1.2.3" → "1.2.3". */
export function uidOf(display: string | null): string | null {
  if (display === null) return null;
  const s = display.trim();
  const tail = /\(([0-9]+(?:\.[0-9]+)+)\)$/.exec(s);
  if (tail?.[1] !== undefined) return tail[1];
  const head = /^([0-9]+(?:\.[0-9]+)+)/.exec(s);
  if (head?.[1] !== undefined) return head[1];
  return s;
}

function trimAe(s: string | null): string | null {
  return s === null ? null : s.trim();
}

// PS3.7 Annex E (Command Dictionary), Command Field values.
const COMMANDS: ReadonlyMap<number, string> = new Map([
  [0x0001, "C-STORE-RQ"],
  [0x8001, "C-STORE-RSP"],
  [0x0010, "C-GET-RQ"],
  [0x8010, "C-GET-RSP"],
  [0x0020, "C-FIND-RQ"],
  [0x8020, "C-FIND-RSP"],
  [0x0021, "C-MOVE-RQ"],
  [0x8021, "C-MOVE-RSP"],
  [0x0030, "C-ECHO-RQ"],
  [0x8030, "C-ECHO-RSP"],
  [0x0100, "N-EVENT-REPORT-RQ"],
  [0x8100, "N-EVENT-REPORT-RSP"],
  [0x0110, "N-GET-RQ"],
  [0x8110, "N-GET-RSP"],
  [0x0120, "N-SET-RQ"],
  [0x8120, "N-SET-RSP"],
  [0x0130, "N-ACTION-RQ"],
  [0x8130, "N-ACTION-RSP"],
  [0x0140, "N-CREATE-RQ"],
  [0x8140, "N-CREATE-RSP"],
  [0x0150, "N-DELETE-RQ"],
  [0x8150, "N-DELETE-RSP"],
  [0x0fff, "C-CANCEL-RQ"],
]);

export function commandName(field: number): string {
  return COMMANDS.get(field) ?? `UNKNOWN-0x${field.toString(16).toUpperCase().padStart(4, "0")}`;
}

const RESULTS: readonly PresentationContextResult[] = [
  "acceptance",
  "user-rejection",
  "no-reason",
  "abstract-syntax-not-supported",
  "transfer-syntaxes-not-supported",
];

function implementation(pdu: J): ImplementationInfo {
  const ui = itemsOfType(pdu, 0x50)[0];
  if (ui === undefined)
    return { implementationClassUid: null, implementationVersionName: null, maxPduLength: null };
  const maxLen = itemsOfType(ui, 0x51)[0];
  const cls = itemsOfType(ui, 0x52)[0];
  const ver = itemsOfType(ui, 0x55)[0];
  return {
    implementationClassUid: cls ? str(cls, "dicom.userinfo.uid") : null,
    implementationVersionName: ver ? str(ver, "dicom.userinfo.version") : null,
    maxPduLength: maxLen ? num(maxLen, "dicom.max_pdu_len") : null,
  };
}

function userIdentity(pdu: J): UserIdentityInfo | null {
  const item = itemsOfType(pdu, 0x58)[0];
  if (item === undefined) return null;
  const type = num(item, "dicom.userinfo.user_identify.type") ?? 0;
  const secondary = num(item, "dicom.userinfo.user_identify.secondary_field_length") ?? 0;
  return {
    type,
    username: type === 1 || type === 2 ? str(item, "dicom.userinfo.user_identify.primary_field") : null,
    passcodePresent: secondary > 0,
  };
}

/** The message of one command set, from the tag tree nodes of a PDV (group 0000 only). */
function message(pdv: J): DimseMessageRecord | null {
  const tags = find(pdv, (o) => str(o, "dicom.tag") !== null, true);
  const byTag = new Map<number, J>();
  for (const t of tags) {
    const tag = num(t, "dicom.tag");
    if (tag !== null && tag >>> 16 === 0 && !byTag.has(tag)) byTag.set(tag, t);
  }
  const field = byTag.get(0x0100);
  if (field === undefined) return null;
  const u16 = (tag: number): number | null => {
    const t = byTag.get(tag);
    return t ? num(t, "dicom.tag.value.16u") : null;
  };
  const s = (tag: number): string | null => {
    const t = byTag.get(tag);
    return t ? str(t, "dicom.tag.value.str") : null;
  };
  const fieldValue = u16(0x0100);
  const command = fieldValue === null ? "UNKNOWN" : commandName(fieldValue);
  return {
    command,
    messageId: u16(0x0110),
    messageIdBeingRespondedTo: u16(0x0120),
    sopClassUid: uidOf(s(0x0002) ?? s(0x0003)),
    sopInstanceUid: uidOf(s(0x1000) ?? s(0x1001)),
    status: u16(0x0900),
    moveDestination: trimAe(s(0x0600)),
    priority: u16(0x0700),
    // PS3.7 §9.3.3.2 (C-GET-RSP) and §9.3.4.2 (C-MOVE-RSP): Number of Remaining/Completed/Failed/Warning
    // Sub-operations (0000,1020..1023).
    subOperations:
      command === "C-GET-RSP" || command === "C-MOVE-RSP"
        ? { remaining: u16(0x1020), completed: u16(0x1021), failed: u16(0x1022), warning: u16(0x1023) }
        : null,
  };
}

function endpoint(layers: J, side: "src" | "dst"): string {
  const tcp = isObj(layers["tcp"]) ? layers["tcp"] : {};
  const port = str(tcp, side === "src" ? "tcp.srcport" : "tcp.dstport") ?? "?";
  const ip4 = isObj(layers["ip"]) ? str(layers["ip"], `ip.${side}`) : null;
  if (ip4 !== null) return `${ip4}:${port}`;
  const ip6 = isObj(layers["ipv6"]) ? str(layers["ipv6"], `ipv6.${side}`) : null;
  return `[${ip6 ?? "?"}]:${port}`;
}

/** Turns tshark's JSON (an array of packets) into the oracle's result. */
export function normalise(packets: unknown): OracleResult {
  const byStream = new Map<number, OracleAssociation>();
  const associations: OracleAssociation[] = [];
  const messages: DimseMessageRecord[] = [];
  const orphanMessages: DimseMessageRecord[] = [];
  if (!Array.isArray(packets)) return { associations, messages, orphanMessages };
  for (const p of packets) {
    if (!isObj(p) || !isObj(p["_source"]) || !isObj(p["_source"]["layers"])) continue;
    const layers = p["_source"]["layers"];
    const tcp = isObj(layers["tcp"]) ? layers["tcp"] : {};
    const stream = num(tcp, "tcp.stream") ?? -1;
    const frame = isObj(layers["frame"]) ? (num(layers["frame"], "frame.number") ?? 0) : 0;
    for (const pdu of all(layers, "dicom")) {
      if (!isObj(pdu)) continue;
      const type = num(pdu, "dicom.pdu.type");
      let a = byStream.get(stream);
      if (type === 1) {
        const head = find(pdu, (o) => o["dicom.assoc.ae.called"] !== undefined, true)[0] ?? {};
        const actx = itemsOfType(pdu, 0x10)[0];
        a = {
          stream,
          frame,
          client: endpoint(layers, "src"),
          server: endpoint(layers, "dst"),
          callingAE: trimAe(str(head, "dicom.assoc.ae.calling")),
          calledAE: trimAe(str(head, "dicom.assoc.ae.called")),
          applicationContext: actx ? uidOf(str(actx, "dicom.actx")) : null,
          requestor: implementation(pdu),
          acceptor: null,
          userIdentity: userIdentity(pdu),
          presentationContexts: itemsOfType(pdu, 0x20).map((pc) => {
            const abs = itemsOfType(pc, 0x30)[0];
            return {
              id: num(pc, "dicom.pctx.id") ?? -1,
              abstractSyntax: abs ? uidOf(str(abs, "dicom.pctx.abss.syntax")) : null,
              transferSyntaxes: itemsOfType(pc, 0x40).map(
                (ts) => uidOf(str(ts, "dicom.pctx.xfer.syntax")) ?? "",
              ),
              result: null,
              transferSyntax: null,
            };
          }),
          outcome: "incomplete",
          reject: null,
          abort: null,
          released: false,
          messages: [],
        };
        byStream.set(stream, a);
        associations.push(a);
        continue;
      }
      if (type === 4) {
        for (const pdv of find(pdu, (o) => o["dicom.pdv.ctx"] !== undefined, true)) {
          const m = message(pdv);
          if (m === null) continue;
          messages.push(m);
          if (a) a.messages.push(m);
          else orphanMessages.push(m);
        }
        continue;
      }
      if (a === undefined) continue;
      if (type === 2) {
        a.acceptor = implementation(pdu);
        a.outcome = "accepted";
        for (const pc of itemsOfType(pdu, 0x21)) {
          const id = num(pc, "dicom.pctx.id");
          const rq = a.presentationContexts.find((x) => x.id === id);
          if (rq === undefined) continue;
          const r = num(pc, "dicom.pctx.result");
          rq.result = r === null ? null : (RESULTS[r] ?? null);
          const ts = itemsOfType(pc, 0x40)[0];
          rq.transferSyntax =
            rq.result === "acceptance" && ts ? uidOf(str(ts, "dicom.pctx.xfer.syntax")) : null;
        }
      } else if (type === 3) {
        const rj = find(pdu, (o) => o["dicom.assoc.reject.result"] !== undefined, true)[0] ?? {};
        a.outcome = "rejected";
        a.reject = {
          result: num(rj, "dicom.assoc.reject.result") ?? -1,
          source: num(rj, "dicom.assoc.reject.source") ?? -1,
          reason: num(rj, "dicom.assoc.reject.reason") ?? -1,
        };
      } else if (type === 6) {
        a.released = true;
      } else if (type === 7) {
        const ab = find(pdu, (o) => o["dicom.assoc.abort.source"] !== undefined, true)[0] ?? {};
        a.outcome = "aborted";
        a.abort = {
          source: num(ab, "dicom.assoc.abort.source") ?? -1,
          reason: num(ab, "dicom.assoc.abort.reason") ?? -1,
        };
      }
    }
  }
  return { associations, messages, orphanMessages };
}
