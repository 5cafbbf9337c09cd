/** The readable summary of `dicomtap analyze` names SOP classes and transfer syntaxes for people. */
import test from "ava";
import { formatSummary } from "../../agent/cli/summary.js";
import type { AssociationRecord, Report } from "../../agent/report/types.js";
import { device } from "../store/records.js";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";

function association(): AssociationRecord {
  return {
    client: "10.1.0.5:50001",
    server: "10.1.0.10:104",
    callingAE: "CT01",
    calledAE: "PACS",
    applicationContext: "1.2.840.10008.3.1.1.1",
    requestor: null,
    acceptor: null,
    userIdentity: null,
    presentationContexts: [
      {
        id: 1,
        abstractSyntax: CT,
        transferSyntaxes: [EXPLICIT_LE],
        result: "acceptance",
        transferSyntax: EXPLICIT_LE,
      },
      {
        id: 3,
        abstractSyntax: "1.2.3.4",
        transferSyntaxes: ["1.2.3.5"],
        result: "acceptance",
        transferSyntax: "1.2.3.5",
      },
      {
        id: 5,
        abstractSyntax: CT,
        transferSyntaxes: [],
        result: "abstract-syntax-not-supported",
        transferSyntax: null,
      },
    ],
    outcome: "accepted",
    reject: null,
    abort: null,
    released: true,
    messages: [],
    messagesOmitted: 0,
    captureGaps: { count: 0, bytes: 0 },
    start: "2026-11-25T08:00:00.000000Z",
    end: "2026-11-25T08:00:01.000000Z",
  };
}

test("devices and accepted presentation contexts are named by the dictionary, the UID kept", (t) => {
  const report = {
    version: 1,
    stats: {
      packets: 1,
      bytes: 1,
      tcpFlows: 1,
      dicomFlows: 1,
      associations: 1,
      dimseMessages: 0,
      anomalies: 0,
      bytesCopied: 0,
    },
    associations: [association()],
    devices: [{ ...device("d"), sopClasses: [CT, "1.2.3.4"] }],
    findings: [],
    anomalies: [],
  } as unknown as Report;
  const lines = formatSummary({ report, files: [] }).split("\n");
  t.true(lines.includes("      SOP classes: CT Image Storage (1.2.840.10008.5.1.4.1.1.2), 1.2.3.4"));
  t.true(
    lines.includes(
      "      CT Image Storage (1.2.840.10008.5.1.4.1.1.2) in Explicit Little Endian (1.2.840.10008.1.2.1)",
    ),
  );
  t.true(lines.includes("      1.2.3.4 in 1.2.3.5"), "unnamed UIDs stay bare");
  t.is(lines.filter((l) => l.includes("CT Image Storage")).length, 2, "rejected contexts are not listed");
});
