/**
 * net.port-outside-profile (rules/port-outside-profile.ts): a DICOM device whose model has a profile answers
 * on a port the profile does not list. From observations (the rule's timing) and from frames carrying a
 * byte-built data set through the whole pipeline (the model as the dataset head names it).
 */
import test from "ava";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { defaultConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { Analysis } from "../../agent/pipeline/analyze.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import { portsOutsideProfile } from "../../agent/profiles/profiles.js";
import { ACK, RST, SYN, ethernetIpv4Tcp } from "../capture/builders.js";
import * as b from "../dicom/ul/builders.js";
import { STORE_INSTANCE, storeConversation } from "../dicom/ul/conversation.js";
import { sessionFrames, type Frame } from "../pipeline/session.js";
import { assoc, at, connection, ep, equipment, equipmentAttrs } from "../inventory/build.js";
import { Harness, modern, pacs, withPolicy } from "./harness.js";

const RULE = "net.port-outside-profile";
const orthanc = equipmentAttrs({
  manufacturer: "Orthanc",
  manufacturerModelName: "Orthanc",
  softwareVersions: ["1.12.1"],
});
const dev = (): ReturnType<typeof ep> => ep("10.1.0.5", 50001);
/** The device sends its own images (so the inventory attributes the equipment to it). */
const ownImages = (a = orthanc, ts = at(1)) => equipment(dev(), pacs(), a, { ts });
const answers = (port: number, ts = at(2)) =>
  connection(ep("10.1.0.99", 40000 + (port % 1000)), ep("10.1.0.5", port), "syn-ack", ts);

test("raised for an undocumented port of a device with a profile; documented ports are not", (t) => {
  const h = new Harness();
  h.feed(assoc(dev(), pacs(), modern), ownImages(), answers(4242), answers(8042), answers(8787));
  const f = h.rule(RULE);
  t.deepEqual(
    f.map((x) => [x.device, x.key, x.severity]),
    [["ip-10.1.0.5", "8787", "medium"]],
  );
  const ev = f[0]!.evidence as Record<string, unknown>;
  t.is(ev.port, 8787);
  t.deepEqual(ev.device, { manufacturer: "Orthanc", model: "Orthanc", softwareVersions: ["1.12.1"] });
  t.like(ev.profile, {
    manufacturer: "Orthanc",
    model: "Orthanc",
    softwareVersions: ">=1.9.0",
    origin: "shipped",
  });
  t.like(ev.source, { url: "https://orthanc.uclouvain.be/book/users/configuration.html" });
  t.regex((ev.source as { title: string }).title, /Orthanc Book/);
  t.deepEqual((ev.flows as string[]).length, 1);
  t.regex(f[0]!.title, /Port 8787 answers on 10\.1\.0\.5 \(Orthanc Orthanc\)/);
  t.regex(f[0]!.remediation, /^Close unneeded ports/);
  h.feed(answers(8787, at(3)));
  t.is(h.rule(RULE)[0]!.count, 2, "each answer counts");
});

test("a model learnt after the port answered is judged at finish(), once", (t) => {
  const h = new Harness();
  h.feed(assoc(dev(), pacs(), modern), answers(8787));
  t.deepEqual(h.rule(RULE), [], "no model yet");
  h.feed(ownImages(orthanc, at(5)));
  t.deepEqual(h.rule(RULE), [], "the equipment itself is not routed to the rules");
  h.finish(at(6));
  t.deepEqual(
    h.rule(RULE).map((x) => [x.key, x.count]),
    [["8787", 1]],
  );
  h.finish(at(7));
  h.finish(at(8));
  t.is(h.rule(RULE)[0]!.count, 1, "settling passes do not count up");
  t.deepEqual(h.announced(RULE), ["new:medium"]);
});

test("ports a device had before it spoke DICOM are judged when it becomes a DICOM device", (t) => {
  const h = new Harness();
  h.feed(answers(8787, at(0)), ownImages(orthanc, at(1)));
  t.deepEqual(
    h.rule(RULE).map((x) => x.key),
    ["8787"],
  );
});

test("not raised: no profile, a version outside every range, an approved port, a host that is no DICOM device", (t) => {
  const acme = new Harness();
  acme.feed(assoc(dev(), pacs(), modern), ownImages(equipmentAttrs()), answers(8787));
  t.deepEqual(
    acme.finish().filter((f) => f.rule === RULE),
    [],
  );
  const unknownVersion = new Harness();
  unknownVersion.feed(
    assoc(dev(), pacs(), modern),
    ownImages(
      equipmentAttrs({
        manufacturer: "Orthanc",
        manufacturerModelName: "Orthanc",
        softwareVersions: ["mainline"],
      }),
    ),
    answers(8787),
  );
  t.deepEqual(
    unknownVersion.finish().filter((f) => f.rule === RULE),
    [],
  );
  const approved = new Harness(withPolicy({ approvedPorts: { "10.1.0.5": [8787] } }));
  approved.feed(assoc(dev(), pacs(), modern), ownImages(), answers(8787));
  t.deepEqual(
    approved.finish().filter((f) => f.rule === RULE),
    [],
  );
  const notDicom = new Harness();
  notDicom.feed(answers(8787));
  t.deepEqual(
    notDicom.finish().filter((f) => f.rule === RULE),
    [],
  );
});

test("a site profile overrides the shipped one; RDP outside the profile is medium here, high under net.risky-service", (t) => {
  const config = withPolicy({
    profiles: [
      {
        manufacturer: "Orthanc",
        model: "Orthanc",
        softwareVersions: null,
        ports: [
          { port: 4242, protocol: "dicom", role: "scp" },
          { port: 8787, protocol: "other", role: "service", note: "our monitoring agent" },
        ],
        source: { title: "Radiology IT change CR-1234", url: null, retrieved: "2026-11-01" },
      },
    ],
  });
  const h = new Harness(config);
  h.feed(assoc(dev(), pacs(), modern), ownImages(), answers(8787), answers(8042), answers(3389));
  const f = h.rule(RULE);
  t.deepEqual(
    f.map((x) => [x.key, x.severity]),
    [
      ["8042", "medium"],
      ["3389", "medium"],
    ],
  );
  t.like((f[0]!.evidence as Record<string, unknown>).profile, { origin: "site", softwareVersions: null });
  t.like((f[0]!.evidence as Record<string, unknown>).source, {
    title: "Radiology IT change CR-1234",
    url: null,
  });
  t.deepEqual(
    h.rule("net.risky-service").map((x) => [x.key, x.severity]),
    [["3389", "high"]],
  );
});

// ---- the whole pipeline: frames with a byte-built data set ----

/** A CT-like data set head whose equipment is the given manufacturer, model and software versions. */
function datasetOf(manufacturer: string, model: string, versions: string): Buffer {
  return Buffer.concat([
    b.explicitElement(0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\AXIAL"),
    b.explicitElement(0x0008, 0x0016, "UI", b.CT_IMAGE_STORAGE),
    b.explicitElement(0x0008, 0x0018, "UI", STORE_INSTANCE),
    b.explicitElement(0x0008, 0x0060, "CS", "CT"),
    b.explicitElement(0x0008, 0x0070, "LO", manufacturer),
    b.explicitElement(0x0008, 0x1090, "LO", model),
    b.explicitElement(0x0018, 0x1020, "LO", versions),
  ]);
}

/** 10.20.0.1 (the sender of the conversation, MAC 02:..:01) answers a handshake on `port` and resets. */
function answerFrames(port: number, ts: number): Frame[] {
  const peer = {
    src: "10.20.0.9",
    dst: "10.20.0.1",
    sport: 45000,
    dport: port,
    srcMac: "02:00:00:00:00:09",
    dstMac: "02:00:00:00:00:01",
  };
  const back = {
    src: "10.20.0.1",
    dst: "10.20.0.9",
    sport: port,
    dport: 45000,
    srcMac: "02:00:00:00:00:01",
    dstMac: "02:00:00:00:00:09",
  };
  return [
    { data: ethernetIpv4Tcp({ ...peer, seq: 100, ack: 0, flags: SYN }), tsMicros: ts },
    { data: ethernetIpv4Tcp({ ...back, seq: 900, ack: 101, flags: SYN | ACK }), tsMicros: ts + 1 },
    { data: ethernetIpv4Tcp({ ...peer, seq: 101, ack: 901, flags: ACK }), tsMicros: ts + 2 },
    { data: ethernetIpv4Tcp({ ...peer, seq: 101, ack: 901, flags: RST }), tsMicros: ts + 3 },
  ];
}

function analyse(frames: readonly Frame[], config: Config = defaultConfig()): Analysis {
  const analysis = new Analysis(config);
  const p = new Pipeline({ observations: analysis });
  for (const f of frames) p.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  p.finish();
  analysis.findings.finish(p.nowMicros);
  return analysis;
}

test("whole pipeline: the model from the data set head meets the ports, whichever came first", (t) => {
  const store = sessionFrames(storeConversation(datasetOf("Orthanc", "Orthanc", "1.12.1\\mainline")));
  const last = store.at(-1)!.tsMicros;
  for (const [order, frames] of [
    [
      "ports after the images",
      [...store, ...answerFrames(4242, last + 10), ...answerFrames(8787, last + 20)],
    ],
    ["ports before the images", [...answerFrames(4242, 0), ...answerFrames(8787, 10), ...store]],
  ] as const) {
    const a = analyse(frames);
    const d = a.inventory.devices().find((x) => x.ip === "10.20.0.1")!;
    t.like(d, { manufacturer: "Orthanc", model: "Orthanc", softwareVersions: ["1.12.1", "mainline"] }, order);
    t.deepEqual(d.listeningPorts, [4242, 8787], order);
    t.deepEqual(portsOutsideProfile(d)?.ports, [8787], order);
    t.deepEqual(
      a.findings
        .findings()
        .filter((f) => f.rule === RULE)
        .map((f) => [f.device, f.key]),
      [[d.id, "8787"]],
      order,
    );
  }
  const other = analyse([
    ...sessionFrames(storeConversation(datasetOf("ACME Medical", "Scanomatic 9000", "VA10"))),
    ...answerFrames(8787, 1e16),
  ]);
  t.deepEqual(
    other.findings.findings().filter((f) => f.rule === RULE),
    [],
    "no profile for that model",
  );
});
