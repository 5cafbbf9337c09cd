/**
 * The comparison behind the differential tests (differential.test.ts on committed captures,
 * test/lab/lab.test.ts on fresh lab captures): dicomtap's report against Wireshark's DICOM dissector (the
 * tshark oracle). Every association and DIMSE message that
 * tshark reports must be in the report, with the same AE titles, implementation class UID and version
 * name, max PDU length, presentation contexts and their results, outcome, reject/abort reasons, and for
 * messages the command, message IDs, SOP class and instance, status, move destination, priority and
 * sub-operation counts. And the report must not invent associations tshark does not see.
 *
 * Exceptions are where tshark is wrong (test/oracle/README.md has the evidence); each one is explicit below.
 */
import type { ExecutionContext } from "ava";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { AssociationRecord, DimseMessageRecord } from "../../agent/report/types.js";
import { runTshark, type OracleAssociation } from "./tshark.js";

/** Transfer syntaxes whose datasets are not encapsulated (PS3.5 §A.1-A.5). */
const NATIVE = new Set([
  "1.2.840.10008.1.2",
  "1.2.840.10008.1.2.1",
  "1.2.840.10008.1.2.2",
  "1.2.840.10008.1.2.1.99",
]);

/**
 * Known tshark 4.0 error 1: after an encapsulated (JPEG, RLE, ...) dataset, tshark fails to dissect the
 * next command set on that presentation context (shown as "PDV, Command", "Early termination of tag"), so
 * it loses that C-STORE-RSP. On such associations tshark's messages must be a subsequence of ours and
 * everything it lost must be a response.
 */
function tsharkLosesResponses(a: OracleAssociation): boolean {
  return a.presentationContexts.some(
    (p) => p.result === "acceptance" && p.transferSyntax !== null && !NATIVE.has(p.transferSyntax),
  );
}

/**
 * tshark has no notion of an association ended by its TCP connection: it calls "accepted" one whose
 * A-ASSOCIATE-AC it saw, however it ended. The report (issue 9) says "incomplete" with a transportEnd
 * when such an association was neither released nor aborted: the same fact, compared as tshark puts it.
 */
function oracleOutcome(a: AssociationRecord): AssociationRecord["outcome"] {
  return a.outcome === "incomplete" && a.transportEnd && a.acceptor !== null ? "accepted" : a.outcome;
}

function messageKey(m: DimseMessageRecord): string {
  return JSON.stringify([
    m.command,
    m.messageId,
    m.messageIdBeingRespondedTo,
    m.sopClassUid,
    m.sopInstanceUid,
    m.status,
    m.moveDestination,
    m.priority,
    m.subOperations,
  ]);
}

/** Compares dicomtap's report on `file` with tshark's view of it, as assertions on `t`. */
export async function compareWithOracle(t: ExecutionContext, file: string): Promise<void> {
  const [oracle, { report }] = await Promise.all([runTshark(file), analyzeFiles([file])]);
  const ours = new Map<string, AssociationRecord>();
  for (const a of report.associations) ours.set(`${a.client} ${a.server}`, a);
  t.deepEqual(
    report.associations.map((a) => `${a.client} ${a.server}`).sort(),
    oracle.associations.map((a) => `${a.client} ${a.server}`).sort(),
    "the same associations (by TCP connection)",
  );
  t.true(oracle.associations.length > 0, "tshark found no association: the oracle would test nothing");
  for (const o of oracle.associations) {
    const a = ours.get(`${o.client} ${o.server}`);
    const where = `${file} ${o.client} -> ${o.server} (tcp.stream ${o.stream}, frame ${o.frame})`;
    if (a === undefined) {
      t.fail(`missing association ${where}`);
      continue;
    }
    t.deepEqual(
      {
        callingAE: a.callingAE,
        calledAE: a.calledAE,
        applicationContext: a.applicationContext,
        requestor: a.requestor,
        acceptor: a.acceptor,
        userIdentity: a.userIdentity,
        outcome: oracleOutcome(a),
        reject: a.reject,
        abort: a.abort,
        released: a.released,
      },
      {
        callingAE: o.callingAE,
        calledAE: o.calledAE,
        applicationContext: o.applicationContext,
        requestor: o.requestor,
        acceptor: o.acceptor,
        userIdentity: o.userIdentity,
        outcome: o.outcome,
        reject: o.reject,
        abort: o.abort,
        released: o.released,
      },
      where,
    );
    t.deepEqual(
      a.presentationContexts.map((p) => ({
        id: p.id,
        abstractSyntax: p.abstractSyntax,
        transferSyntaxes: p.transferSyntaxes,
        result: p.result,
        transferSyntax: p.transferSyntax,
      })),
      o.presentationContexts,
      `presentation contexts of ${where}`,
    );
    const theirs = o.messages.map(messageKey);
    const mine = a.messages.map(messageKey);
    if (!tsharkLosesResponses(o)) {
      t.deepEqual(mine, theirs, `messages of ${where}`);
      continue;
    }
    // Exception 1 (see tsharkLosesResponses): subsequence, and only responses may be missing from tshark's.
    let i = 0;
    const onlyOurs: DimseMessageRecord[] = [];
    for (const [k, key] of mine.entries()) {
      if (i < theirs.length && theirs[i] === key) i++;
      else onlyOurs.push(a.messages[k]!);
    }
    t.is(i, theirs.length, `tshark's messages are not a subsequence of ours: ${where}`);
    t.true(
      onlyOurs.every((m) => m.command.endsWith("-RSP")),
      `messages only we report must be responses tshark lost: ${where}: ${onlyOurs.map((m) => m.command).join(",")}`,
    );
  }
}
