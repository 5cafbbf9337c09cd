import test from "ava";
import { isoFromMicros } from "../../agent/util/time.js";
import { defaultConfig } from "../../agent/config/config.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { Analysis } from "../../agent/pipeline/analyze.js";
import type { DeviceRecord } from "../../agent/report/types.js";
import {
  assoc,
  at,
  connection,
  CT_IMAGE_STORAGE,
  DCM4CHE_5,
  dimse,
  ep,
  equipment,
  equipmentAttrs,
  msg,
  MWL_FIND,
  pc,
  STUDY_ROOT_FIND,
  STUDY_ROOT_MOVE,
  tlsObs,
} from "./build.js";

const MAC_CT = "00:50:56:9A:0B:0C";

function store(
  inv: Inventory,
  ct: ReturnType<typeof ep>,
  pacs: ReturnType<typeof ep>,
  attrs = equipmentAttrs(),
  ts = at(1),
) {
  inv.observe(
    dimse(ct, pacs, 0, msg("C-STORE-RQ", { sopClassUid: CT_IMAGE_STORAGE }), {
      ts,
      calling: "CT01",
      called: "PACS",
    }),
  );
  inv.observe(equipment(ct, pacs, attrs, { ts }));
  inv.observe(dimse(ct, pacs, 1, msg("C-STORE-RSP", { sopClassUid: CT_IMAGE_STORAGE, status: 0 }), { ts }));
}

test("a modality that stores its own images gets its equipment attributes and class", (t) => {
  const inv = new Inventory(defaultConfig());
  const ct = ep("10.1.0.5", 50001, MAC_CT);
  const pacs = ep("10.1.0.10", 104, "00:11:22:33:44:55");
  store(inv, ct, pacs);
  store(inv, ct, pacs);
  inv.observe(assoc(ct, pacs, { calling: "CT01", called: "PACS", ts: at(2), requestor: DCM4CHE_5 }));
  const d = inv.device("mac-0050569a0b0c-10.1.0.5");
  t.truthy(d, "keyed by MAC and IP");
  t.is(d!.class, "modality");
  t.regex(d!.classReason, /requestor.*modality CT/);
  t.is(d!.modality, "CT");
  t.is(d!.manufacturer, "ACME Medical");
  t.is(d!.model, "Scanmaster 64");
  t.is(d!.serialNumber, "SN-1234");
  t.is(d!.stationName, "CT01");
  t.deepEqual(d!.softwareVersions, ["VB20"]);
  t.deepEqual(d!.aeRoles, [{ aeTitle: "CT01", roles: ["SCU"] }]);
  t.deepEqual(d!.toolkit, { name: "dcm4che", version: "5.31.0", source: d!.toolkit!.source });
  t.is(d!.equipmentSeen.length, 1);
  t.is(d!.equipmentSeen[0]!.count, 2);
  const p = inv.device("mac-001122334455-10.1.0.10")!;
  t.deepEqual(p.roles, ["SCP"]);
  t.deepEqual(p.listeningPorts, [104]);
  t.is(p.modality, null, "the receiver is not the equipment");
  t.deepEqual(p.peers, [d!.id]);
  t.is(p.firstSeen, isoFromMicros(at(1)));
  t.is(p.lastSeen, isoFromMicros(at(2)));
  t.deepEqual(p.sopClasses, [CT_IMAGE_STORAGE]);
  t.deepEqual(p.transferSyntaxes, ["1.2.840.10008.1.2.1"]);
});

test("deviceIds lists the ids of devices(), in the same order, without building records", (t) => {
  const inv = new Inventory(defaultConfig());
  store(inv, ep("10.1.0.5", 50001, MAC_CT), ep("10.1.0.10", 104, "00:11:22:33:44:55"));
  t.deepEqual(
    [...inv.deviceIds()],
    inv.devices().map((d) => d.id),
  );
  t.is([...inv.deviceIds()].length, 2);
});

test("a PACS forwarding studies of several modalities keeps them apart from its own attributes", (t) => {
  const inv = new Inventory(defaultConfig());
  const ws = ep("10.1.0.30", 50010);
  const pacs = ep("10.1.0.10", 104);
  const ws2 = ep("10.1.0.31", 11112);
  // A workstation queries and moves; the PACS then stores to it with images of a CT and an MR.
  inv.observe(
    dimse(ws, pacs, 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND }), {
      calling: "WS1",
      called: "PACS",
    }),
  );
  inv.observe(
    dimse(ws, pacs, 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "WS1" }), {
      calling: "WS1",
      called: "PACS",
    }),
  );
  const out = ep("10.1.0.10", 50020);
  const wsScp = ep("10.1.0.30", 11112);
  store(inv, out, wsScp, equipmentAttrs());
  store(
    inv,
    out,
    wsScp,
    equipmentAttrs({
      modality: "MR",
      manufacturerModelName: "Magnetix",
      deviceSerialNumber: "SN-9",
      stationName: "MR01",
    }),
  );
  inv.observe(dimse(ws2, pacs, 0, msg("C-STORE-RQ", { sopClassUid: CT_IMAGE_STORAGE })));
  const p = inv.device("ip-10.1.0.10")!;
  t.is(p.class, "archive");
  t.regex(p.classReason, /Query\/Retrieve/);
  t.is(p.modality, null);
  t.is(p.manufacturer, null);
  t.deepEqual(p.equipmentSeen.map((e) => e.modality).sort(), ["CT", "MR"]);
  const w = inv.device("ip-10.1.0.30")!;
  t.is(w.class, "workstation");
  t.deepEqual(
    w.aeRoles,
    [
      { aeTitle: "WS1", roles: ["SCU"] },
      { aeTitle: "PACS", roles: ["SCP"] },
    ].sort((a, b) => (a.aeTitle < b.aeTitle ? -1 : 1)),
  );
});

test("a single sender with one identity that also acts as an archive is not attributed", (t) => {
  const inv = new Inventory(defaultConfig());
  const router = ep("10.1.0.40", 50030);
  const pacs = ep("10.1.0.10", 104);
  const mod = ep("10.1.0.41", 50031);
  const routerScp = ep("10.1.0.40", 104);
  store(inv, mod, routerScp); // something stores to the router
  store(inv, router, pacs); // and the router forwards the same equipment
  const r = inv.device("ip-10.1.0.40")!;
  t.is(r.modality, null);
  t.is(r.equipmentSeen.length, 1);
  t.not(r.class, "modality");
});

test("MPPS and worklist make a modality; MPPS attributes are its own", (t) => {
  const inv = new Inventory(defaultConfig());
  const us = ep("10.1.0.50", 50040);
  const ris = ep("10.1.0.60", 104);
  inv.observe(dimse(us, ris, 0, msg("C-FIND-RQ", { sopClassUid: MWL_FIND })));
  t.is(inv.device("ip-10.1.0.50")!.class, "modality");
  t.regex(inv.device("ip-10.1.0.50")!.classReason, /Worklist/);
  inv.observe(dimse(us, ris, 0, msg("N-CREATE-RQ", { sopClassUid: "1.2.840.10008.3.1.2.3.3" })));
  inv.observe(
    equipment(us, ris, equipmentAttrs({ modality: "US", stationName: "US02" }), {
      command: "N-CREATE-RQ",
      sop: "1.2.840.10008.3.1.2.3.3",
    }),
  );
  const d = inv.device("ip-10.1.0.50")!;
  t.is(d.modality, "US");
  t.is(d.stationName, "US02");
  t.regex(d.classReason, /Performed Procedure Step/);
  t.is(inv.device("ip-10.1.0.60")!.class, "unknown");
});

test("rejected associations do not give the server the called AE; listening ports come from SYN-ACKs", (t) => {
  const inv = new Inventory(defaultConfig());
  const scanner = ep("10.9.9.9", 40001);
  const scp = ep("10.1.0.10", 104);
  inv.observe(connection(ep("10.1.0.99", 40002), ep("10.1.0.10", 3389)));
  inv.observe(connection(ep("10.1.0.99", 40003), ep("10.1.0.11", 445)));
  t.is(inv.size, 0, "handshakes alone do not make devices");
  inv.observe(assoc(scanner, scp, { calling: "ECHOSCU", called: "GUESS1", outcome: "rejected" }));
  const s = inv.device("ip-10.1.0.10")!;
  t.deepEqual(s.aeTitles, []);
  t.deepEqual(s.listeningPorts, [3389], "merged from the side table; 104 not yet shown to be DICOM");
  inv.observe(assoc(scanner, scp, { calling: "ECHOSCU", called: "PACS" }));
  t.deepEqual(inv.device("ip-10.1.0.10")!.aeTitles, ["PACS"]);
  t.deepEqual(inv.device("ip-10.1.0.10")!.listeningPorts, [104, 3389]);
  t.deepEqual(inv.device("ip-10.9.9.9")!.roles, ["SCU"]);
  t.deepEqual(inv.listeningPortsOf("10.1.0.11"), [445]);
});

test("an observation without MAC joins the device with that IP; ids are stable", (t) => {
  const inv = new Inventory(defaultConfig());
  inv.observe(assoc(ep("10.1.0.5", 50001, "aa:bb:cc:dd:ee:ff"), ep("10.1.0.10", 104, "aa:bb:cc:dd:ee:00")));
  inv.observe(assoc(ep("10.1.0.5", 50002, null), ep("10.1.0.10", 104, null)));
  t.deepEqual(
    inv.devices().map((d) => d.id),
    ["mac-aabbccddeeff-10.1.0.5", "mac-aabbccddee00-10.1.0.10"],
  );
  // Behind a router, hosts share a MAC but stay apart by IP.
  inv.observe(assoc(ep("192.0.2.7", 50003, "aa:bb:cc:dd:ee:01"), ep("10.1.0.10", 104, "aa:bb:cc:dd:ee:00")));
  inv.observe(assoc(ep("192.0.2.8", 50004, "aa:bb:cc:dd:ee:01"), ep("10.1.0.10", 104, "aa:bb:cc:dd:ee:00")));
  t.is(inv.size, 4);
  t.is(inv.idFor({ ip: "10.9.9.9", mac: null }), "ip-10.9.9.9");
});

test("onChange fires for new devices and visible changes, not for lastSeen alone", (t) => {
  const inv = new Inventory(defaultConfig());
  const seen: DeviceRecord[] = [];
  inv.onChange = (d) => seen.push(d);
  const a = ep("10.1.0.5", 50001);
  const b = ep("10.1.0.10", 104);
  inv.observe(assoc(a, b, { ts: at(1) }));
  t.deepEqual(seen.map((d) => d.id).sort(), ["ip-10.1.0.10", "ip-10.1.0.5"]);
  seen.length = 0;
  inv.observe(assoc(ep("10.1.0.5", 50002), b, { ts: at(5) }));
  t.is(seen.length, 0);
  t.is(inv.device("ip-10.1.0.10")!.lastSeen, isoFromMicros(at(5)));
  inv.observe(assoc(ep("10.1.0.5", 50003), b, { ts: at(6), called: "PACS2" }));
  t.deepEqual(
    seen.map((d) => d.id),
    ["ip-10.1.0.10"],
  );
});

test("association records replay their messages, once for inventory and findings, when no DIMSE observations came", (t) => {
  // The replay lives in Analysis, in front of both consumers (agent/pipeline/analyze.ts).
  const analysis = new Analysis(defaultConfig());
  const inv = analysis.inventory;
  const ws = ep("10.1.0.30", 50010);
  const pacs = ep("10.1.0.10", 104);
  analysis.observe(
    assoc(ws, pacs, {
      calling: "WS1",
      pcs: [pc(1, STUDY_ROOT_FIND)],
      messages: [
        msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND }),
        msg("C-FIND-RSP", { sopClassUid: STUDY_ROOT_FIND, status: 0 }),
      ],
    }),
  );
  t.is(inv.device("ip-10.1.0.10")!.class, "archive");
  t.is(inv.device("ip-10.1.0.30")!.class, "workstation");
});

test("derived objects alone (secondary capture, SR) do not attribute equipment to the sender", (t) => {
  const inv = new Inventory(defaultConfig());
  const ws = ep("10.1.0.30", 50010);
  const pacs = ep("10.1.0.10", 104);
  const sc = "1.2.840.10008.5.1.4.1.1.7";
  inv.observe(dimse(ws, pacs, 0, msg("C-STORE-RQ", { sopClassUid: sc })));
  inv.observe(equipment(ws, pacs, equipmentAttrs(), { sop: sc }));
  inv.observe(equipment(ws, pacs, equipmentAttrs(), { sop: "1.2.840.10008.5.1.4.1.1.88.22" }));
  const d = inv.device("ip-10.1.0.30")!;
  t.is(d.modality, null);
  t.is(d.equipmentSeen[0]!.count, 2);
  inv.observe(equipment(ws, pacs, equipmentAttrs()));
  t.is(inv.device("ip-10.1.0.30")!.modality, "CT", "an acquisition object from the same identity settles it");
});

test("the device table is capped: a flood of spoofed requestors cannot grow it without end", (t) => {
  const inv = new Inventory(defaultConfig(), 100);
  const pacs = ep("10.1.0.10", 104);
  for (let i = 0; i < 1000; i++)
    inv.observe(assoc(ep(`10.2.${i >> 8}.${i & 255}`, 40000), pacs, { calling: "X", ts: at(i) }));
  t.is(inv.size, 100);
  t.is(inv.devicesDropped, 1000 - 99);
  // Devices already known keep learning.
  inv.observe(assoc(ep("10.2.0.1", 40001), pacs, { calling: "Y", called: "PACS", ts: at(2000), ...{} }));
  t.deepEqual(inv.devices().find((d) => d.ip === "10.2.0.1")!.aeTitles, ["X", "Y"]);
});

test("a browser on a PACS's HTTPS port is not made a DICOM device; a DICOM TLS client is", (t) => {
  const inv = new Inventory(defaultConfig());
  const pacs = ep("10.1.0.10", 104);
  inv.observe(assoc(ep("10.1.0.5", 50001), pacs, { ts: at(1) }));
  const cert = null;
  inv.observe(tlsObs(ep("10.1.0.77", 51000), ep("10.1.0.10", 443), "TLS 1.3", cert, at(2)));
  t.false(
    inv.devices().some((d) => d.ip === "10.1.0.77"),
    "the laptop browsing the web viewer",
  );
  t.deepEqual(inv.devices().find((d) => d.ip === "10.1.0.10")!.listeningPorts, [104, 443]);
  inv.observe(tlsObs(ep("10.1.0.78", 51001), ep("10.1.0.10", 2762), "TLS 1.3", cert, at(3)));
  t.true(inv.devices().some((d) => d.ip === "10.1.0.78"));
});
