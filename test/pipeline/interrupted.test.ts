/**
 * Issue 9 through the whole pipeline (frames → reassembly → DICOM → inventory, findings): interrupted
 * transfers are reported with how far their data set got and why it stopped, and an association that the
 * TCP connection ended (RST, FIN, idle) without A-RELEASE or A-ABORT is "incomplete" with its
 * transportEnd. On byte-built frames, on the committed lab capture of a killed storescu
 * (test/fixtures/lab/kill.pcap) and, as root, on a fresh one made by scripts/lab/run --scenes kill.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import test from "ava";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { defaultConfig } from "../../agent/config/config.js";
import { Analysis, analyzeFiles } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type { AssociationRecord, Report } from "../../agent/report/types.js";
import { ACK, RST, ethernetIpv4Tcp } from "../capture/builders.js";
import * as b from "../dicom/ul/builders.js";
import { STORE_INSTANCE, storeConversation, T0, type Turn } from "../dicom/ul/conversation.js";
import { sessionFrames, type Frame } from "./session.js";
import { requires } from "../helpers/requires.js";

const labTest = requires("root", "netns", "tc", "tcpdump", "dcmtk", "orthanc");

const execFileAsync = promisify(execFile);

/** RQ, AC, C-ECHO pair, then a C-STORE-RQ whose 20 000-byte data set stops after `sent` bytes. */
function interrupted(sent: number): Turn[] {
  const dataset = Buffer.concat([b.ctDataset(STORE_INSTANCE), Buffer.alloc(20_000 - 220, 0x11)]);
  const [rq, ac, echo, echoRsp] = storeConversation();
  const cmd = b.pdataTf([b.pdv(3, true, true, b.cStoreRq(2, b.CT_IMAGE_STORAGE, STORE_INSTANCE))]);
  const data = b.fragments(3, false, dataset, 4000).map((p) => b.pdataTf([p]));
  const dataBytes = Buffer.concat(data);
  return [
    rq!,
    ac!,
    echo!,
    echoRsp!,
    { dir: 0, bytes: Buffer.concat([cmd, dataBytes.subarray(0, sent)]), ts: T0 + 4000 },
  ];
}

/** Frames of the turns with their FIN teardown replaced by an RST from the client. */
function withRst(turns: Turn[]): Frame[] {
  const frames = sessionFrames(turns).slice(0, -3);
  const sent = turns.filter((t) => t.dir === 0).reduce((n, t) => n + t.bytes.length, 0);
  const got = turns.filter((t) => t.dir === 1).reduce((n, t) => n + t.bytes.length, 0);
  const last = frames.at(-1)!.tsMicros;
  frames.push({
    data: ethernetIpv4Tcp({
      src: "10.20.0.1",
      dst: "10.20.0.2",
      sport: 40123,
      dport: 104,
      seq: 1001 + sent,
      ack: 5001 + got,
      flags: RST | ACK,
    }),
    tsMicros: last + 10,
  });
  return frames;
}

function run(frames: Frame[], after?: (p: Pipeline) => void): { p: Pipeline; analysis: Analysis } {
  const analysis = new Analysis(defaultConfig());
  const p = new Pipeline({ observations: analysis });
  for (const f of frames) p.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  after?.(p);
  p.finish();
  analysis.findings.finish(p.nowMicros);
  return { p, analysis };
}

function only(p: Pipeline): AssociationRecord {
  const as = p.associations();
  if (as.length !== 1) throw new Error(`${as.length} associations`);
  return as[0]!;
}

test("a reset in the middle of a C-STORE: the message with its bytes, reset; the association incomplete", (t) => {
  const { p, analysis } = run(withRst(interrupted(6000)));
  const a = only(p);
  t.is(a.outcome, "incomplete");
  // The reassembler says which direction sent the RST (StreamHandler.close's side): the client, the requestor.
  t.deepEqual(a.transportEnd, { reason: "rst", side: "requestor" });
  t.false(a.released);
  const store = a.messages.find((m) => m.command === "C-STORE-RQ");
  t.deepEqual(store?.dataset?.complete, false);
  t.is(store?.dataset?.stopped, "reset");
  // Whole P-DATA-TFs of 4000-byte fragments, and the part of the next one the capture holds.
  t.true(store!.dataset!.bytes >= 4000 && store!.dataset!.bytes <= 6000, String(store!.dataset!.bytes));
  t.is(p.stats().dimseMessages, 3);
  // Findings still see an association that was accepted and carried messages.
  t.truthy(analysis.findings.findings().find((f) => f.rule === "dicom.cleartext"));
  // The device sent a C-STORE: the inventory knows its SOP class and the modality from the data set head.
  const modality = analysis.inventory.devices().find((d) => d.ip === "10.20.0.1");
  t.true(modality?.sopClasses.includes(b.CT_IMAGE_STORAGE));
});

test("the same transfer ended by FIN, or by silence, says so", (t) => {
  const fin = only(run(sessionFrames(interrupted(9000))).p);
  t.is(fin.outcome, "incomplete");
  // sessionFrames closes from the client first: the requestor's FIN was the first seen.
  t.deepEqual(fin.transportEnd, { reason: "fin", side: "requestor" });
  t.is(fin.messages.find((m) => m.command === "C-STORE-RQ")?.dataset?.stopped, "connection-closed");
  // No teardown at all: the connection goes idle (expire), or the capture ends.
  const frames = sessionFrames(interrupted(9000)).slice(0, -3);
  const idle = only(run(frames, (p) => p.expire(frames.at(-1)!.tsMicros + 3_600_000_000)).p);
  t.is(idle.outcome, "incomplete");
  t.deepEqual(idle.transportEnd, { reason: "idle", side: null });
  t.is(idle.messages.find((m) => m.command === "C-STORE-RQ")?.dataset?.stopped, "idle");
  const eoc = only(run(frames).p);
  t.deepEqual(eoc.transportEnd, { reason: "end-of-capture", side: null });
  t.is(eoc.messages.find((m) => m.command === "C-STORE-RQ")?.dataset?.stopped, "end-of-capture");
});

test("a whole conversation released: nothing changes (accepted, released, no transport end, whole data set)", (t) => {
  const a = only(run(sessionFrames(storeConversation())).p);
  t.is(a.outcome, "accepted");
  t.true(a.released);
  t.is(a.transportEnd, null);
  t.deepEqual(
    a.messages.map((m) => m.dataset?.complete ?? null),
    [null, null, true, null],
  );
});

function checkKill(t: import("ava").ExecutionContext, report: Report): void {
  t.is(report.associations.length, 1);
  const a = report.associations[0]!;
  t.is(a.callingAE, "MODALITY1");
  t.is(a.calledAE, "ARCHIVE");
  // storescp answers the vanished peer with an A-ABORT (DCMTK: "DIMSE failure (aborting association)").
  t.is(a.outcome, "aborted");
  const store = a.messages.find((m) => m.command === "C-STORE-RQ");
  t.truthy(store, "the interrupted C-STORE-RQ is reported");
  t.is(store?.sopClassUid, "1.2.840.10008.5.1.4.1.1.2");
  t.is(store?.dataset?.complete, false);
  t.is(store?.dataset?.stopped, "aborted");
  // ct-big.dcm is 2 MiB; about a second of it at 1 Mbit/s crossed the wire.
  t.true(store!.dataset!.bytes > 20_000 && store!.dataset!.bytes < 1_000_000, String(store!.dataset!.bytes));
  t.false(a.messages.some((m) => m.command === "C-STORE-RSP"));
  // The equipment at the head of the data set was read all the same.
  const modality = report.devices.find((d) => d.aeTitles.includes("MODALITY1"));
  t.is(modality?.modality, "CT");
}

test("lab capture: storescu killed mid-dataset (test/fixtures/lab/kill.pcap)", async (t) => {
  const { report } = await analyzeFiles(["test/fixtures/lab/kill.pcap"]);
  checkKill(t, report);
  t.deepEqual(report.anomalies, []);
});

labTest.serial("lab: a fresh kill-mid-transfer capture from scripts/lab/run --scenes kill", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dicomtap-kill-"));
  try {
    await execFileAsync("scripts/lab/run", [dir, "--scenes", "kill"], {
      maxBuffer: 1 << 24,
      timeout: 110_000,
    });
    const { report } = await analyzeFiles([join(dir, "kill.pcap")]);
    checkKill(t, report);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
