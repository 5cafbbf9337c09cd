// Inventory.restore: after a restart the agent seeds inventory with the devices its store kept, so known
// devices are neither announced again as new nor published as less known than before.
import { isoFromMicros } from "../../agent/util/time.js";
import test from "ava";
import { defaultConfig } from "../../agent/config/config.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import type { DeviceRecord } from "../../agent/report/types.js";
import {
  assoc,
  at,
  CT_IMAGE_STORAGE,
  DCM4CHE_5,
  dimse,
  ep,
  equipment,
  equipmentAttrs,
  msg,
  tlsObs,
} from "./build.js";

const MAC_CT = "00:50:56:9A:0B:0C";
const MAC_PACS = "00:11:22:33:44:55";

/** A first run: a CT stores its own images on a PACS; a TLS service on the PACS. */
function firstRun(): Inventory {
  const inv = new Inventory(defaultConfig());
  const ct = ep("10.1.0.5", 50001, MAC_CT);
  const pacs = ep("10.1.0.10", 104, MAC_PACS);
  for (const s of [1, 2]) {
    const ts = at(s);
    inv.observe(
      dimse(ct, pacs, 0, msg("C-STORE-RQ", { sopClassUid: CT_IMAGE_STORAGE }), {
        ts,
        calling: "CT01",
        called: "PACS",
      }),
    );
    inv.observe(equipment(ct, pacs, equipmentAttrs(), { ts }));
    inv.observe(dimse(ct, pacs, 1, msg("C-STORE-RSP", { sopClassUid: CT_IMAGE_STORAGE, status: 0 }), { ts }));
  }
  inv.observe(assoc(ct, pacs, { calling: "CT01", called: "PACS", ts: at(3), requestor: DCM4CHE_5 }));
  const cert = {
    subject: "CN=pacs",
    issuer: "CN=pacs",
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2027-01-01T00:00:00.000Z",
    selfSigned: true,
  };
  inv.observe(tlsObs(ep("10.1.0.20", 50100), ep("10.1.0.10", 2762, MAC_PACS), "TLS 1.3", cert, at(4)));
  return inv;
}

/** As the store keeps them: JSON. */
function stored(inv: Inventory): DeviceRecord[] {
  return JSON.parse(JSON.stringify(inv.devices())) as DeviceRecord[];
}

function byId(records: DeviceRecord[]): DeviceRecord[] {
  return [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

test("restored devices come back as they were stored, and are not counted as first seen in this run", (t) => {
  const records = stored(firstRun());
  t.true(records.length >= 2);
  const inv = new Inventory(defaultConfig());
  const changes: string[] = [];
  inv.onChange = (d) => changes.push(d.id);
  t.is(inv.restore(records), records.length);
  t.is(inv.size, 0, "size counts devices first seen in this run");
  t.deepEqual(inv.devicesSince(0), []);
  t.deepEqual(byId(stored(inv)), byId(records), "the same records, class and equipment included");
  t.deepEqual(changes, [], "restoring announces nothing");
  t.true(inv.hasAeTitle("CT01"));
  t.true(inv.isDicomDevice({ ip: "10.1.0.5", mac: MAC_CT }));
  t.is(inv.restore(records), 0, "known ids are skipped");
});

test("traffic of a restored device updates it in place: no new device, the stored class stands", (t) => {
  const records = stored(firstRun());
  const inv = new Inventory(defaultConfig());
  inv.restore(records);
  const changes: string[] = [];
  inv.onChange = (d) => changes.push(d.id);
  const ct = ep("10.1.0.5", 50002, MAC_CT);
  const pacs = ep("10.1.0.10", 104, MAC_PACS);
  // A C-ECHO alone says nothing about the CT's class; its stored class (modality) must stay.
  inv.observe(assoc(ct, pacs, { calling: "CT01", called: "PACS", ts: at(100), requestor: DCM4CHE_5 }));
  t.is(inv.size, 0);
  const d = inv.device("mac-0050569a0b0c-10.1.0.5")!;
  const before = records.find((r) => r.id === d.id)!;
  t.is(d.class, before.class as typeof d.class);
  t.is(d.modality, "CT");
  t.is(d.firstSeen, before.firstSeen, "firstSeen never moves later");
  t.is(d.lastSeen, isoFromMicros(at(100)));
  // A new AE title on a restored device is a visible change: announced as a change of that device.
  inv.observe(assoc(ct, pacs, { calling: "CT01B", called: "PACS", ts: at(101), requestor: DCM4CHE_5 }));
  t.true(changes.includes(d.id));
  t.deepEqual(inv.device(d.id)!.aeTitles, ["CT01", "CT01B"]);
  // A host never seen before is still a new device.
  inv.observe(assoc(ep("10.1.0.6", 50003), pacs, { calling: "MR01", called: "PACS", ts: at(102) }));
  t.deepEqual(
    inv.devicesSince(0).map((x) => x.id),
    ["ip-10.1.0.6"],
  );
});

test("the findings engine raises inventory.new-device only for devices not restored", (t) => {
  const records = stored(firstRun());
  const config = defaultConfig();
  const inv = new Inventory(config);
  inv.restore(records);
  const eng = new FindingsEngine(config, inv);
  const pacs = ep("10.1.0.10", 104, MAC_PACS);
  for (const o of [
    assoc(ep("10.1.0.5", 50004, MAC_CT), pacs, { calling: "CT01", called: "PACS", ts: at(200) }),
    assoc(ep("10.1.0.7", 50005, null), pacs, { calling: "US01", called: "PACS", ts: at(201) }),
  ]) {
    inv.observe(o);
    eng.observe(o);
  }
  eng.finish(at(300));
  t.deepEqual(
    eng
      .findings()
      .filter((f) => f.rule === "inventory.new-device")
      .map((f) => f.device),
    ["ip-10.1.0.7"],
  );
});

test("restoring fills at most 3/4 of the device cap, newest first; malformed records are skipped", (t) => {
  const inv = new Inventory(defaultConfig(), 4);
  const base = stored(firstRun())[0]!;
  const rec = (n: number, lastSeen: string): DeviceRecord => ({
    ...base,
    id: `ip-10.9.0.${n}`,
    ip: `10.9.0.${n}`,
    mac: null,
    lastSeen,
  });
  const recs = [
    rec(1, "2026-01-01T00:00:00.000Z"),
    { ...base, id: 7 } as unknown as DeviceRecord,
    { ...rec(2, "2026-03-01T00:00:00.000Z"), firstSeen: "garbage", aeRoles: "x" },
    rec(3, "2026-02-01T00:00:00.000Z"),
    rec(4, "2026-04-01T00:00:00.000Z"),
    rec(5, "2025-01-01T00:00:00.000Z"),
  ];
  t.is(inv.restore(recs), 3);
  t.deepEqual(
    inv
      .devices()
      .map((d) => d.id)
      .sort(),
    ["ip-10.9.0.2", "ip-10.9.0.3", "ip-10.9.0.4"],
    "the most recently seen",
  );
  t.is(inv.device("ip-10.9.0.2")!.firstSeen, isoFromMicros(0));
  t.is(inv.devicesDropped, 0, "not restoring a stale device drops nothing seen in this run");
  const pacs = ep("10.9.0.9", 104);
  inv.observe(assoc(ep("10.9.0.8", 50006), pacs, { calling: "A", called: "B", ts: at(1) }));
  t.is(inv.size, 1, "room for one new device: the server was refused by the cap");
  t.is(inv.devicesDropped, 1);
});
