/**
 * Issue 9: command-set UIDs (Affected/Requested SOP Class and Instance UID, (0000,0002), (0000,0003),
 * (0000,1000), (0000,1001)) are validated like the association's UIDs (ul/pdu.ts decodeUid, anomaly
 * ul.uid-invalid): non-ASCII bytes never reach a message's sopClassUid nor a device's sopClasses.
 */
import test from "ava";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { defaultConfig } from "../../agent/config/config.js";
import { Analysis } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import * as b from "../dicom/ul/builders.js";
import { commandSet } from "../dicom/dimse/builders.js";
import { storeConversation, T0, type Turn } from "../dicom/ul/conversation.js";
import { sessionFrames } from "./session.js";

const us = (n: number): Buffer => Buffer.from([n & 0xff, n >> 8]);

/** A C-ECHO-RQ whose Affected SOP Class UID bytes are given raw. */
function echo(cls: Buffer, messageId: number): Buffer {
  return commandSet([
    { element: 0x0002, value: cls },
    { element: 0x0100, value: us(0x0030) },
    { element: 0x0110, value: us(messageId) },
    { element: 0x0800, value: us(0x0101) },
  ]);
}

test("a C-ECHO-RQ with non-ASCII bytes in its SOP Class UID: sanitised text, ul.uid-invalid, clean inventory", (t) => {
  const [rq, ac] = storeConversation();
  const bad = Buffer.from([...Buffer.from("1.2.840.10008.1.1"), 0xe9, 0xff, 0x0a, 0x41]);
  const turns: Turn[] = [
    rq!,
    ac!,
    { dir: 0, bytes: b.pdataTf([b.pdv(1, true, true, echo(bad, 1))]), ts: T0 + 2000 },
    { dir: 1, bytes: b.pdataTf([b.pdv(1, true, true, b.cEchoRsp(1))]), ts: T0 + 3000 },
    { dir: 0, bytes: b.pdataTf([b.pdv(1, true, true, echo(bad, 2))]), ts: T0 + 4000 },
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 5000 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 6000 },
  ];
  const analysis = new Analysis(defaultConfig());
  const p = new Pipeline({ observations: analysis });
  for (const f of sessionFrames(turns))
    p.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  p.finish();
  analysis.findings.finish(p.nowMicros);
  const [a] = p.associations();
  t.deepEqual(
    a!.messages.map((m) => m.sopClassUid),
    ["1.2.840.10008.1.1???A", b.VERIFICATION, "1.2.840.10008.1.1???A"],
  );
  const rows = p.anomalyCounter.records().filter((r) => r.code === "ul.uid-invalid");
  t.deepEqual(
    rows.map((r) => [r.layer, r.count, r.detail]),
    [["dimse", 2, "Affected SOP Class UID (0000,0002) is not a UID of digits and dots up to 64 characters"]],
  );
  const printable = /^[\x20-\x7e]*$/;
  for (const d of analysis.inventory.devices()) for (const c of d.sopClasses) t.regex(c, printable);
  t.false(JSON.stringify(analysis.inventory.devices()).includes("\u00e9"));
});
