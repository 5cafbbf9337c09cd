/**
 * Device classification (agent/inventory/classify.ts) on device state directly: the rules in order, the
 * first that holds wins, with its reason; classFor agrees with classOf.
 */
import test from "ava";
import { classFor, classOf, ownEquipment } from "../../agent/inventory/classify.js";
import { DeviceState } from "../../agent/inventory/device.js";
import type { EquipmentAttributes } from "../../agent/dicom/types.js";

const CT: EquipmentAttributes = {
  modality: "CT",
  manufacturer: "ACME",
  institutionName: null,
  stationName: "CT01",
  manufacturerModelName: "Scan 9",
  deviceSerialNumber: null,
  softwareVersions: [],
};

const device = (): DeviceState => new DeviceState("ip-10.1.0.5", "10.1.0.5", null, 0, 0);

test("the first rule that holds classes the device, and says why", (t) => {
  const d = device();
  t.deepEqual(classOf(d), { cls: "unknown", reason: "no DICOM service beyond association or C-ECHO seen" });
  d.echoOnly = false;
  t.deepEqual(classOf(d), { cls: "unknown", reason: "its DICOM traffic does not match a class" });
  d.storeSent = 3;
  d.writableEquipment().set("ct", { attrs: CT, acquisition: true, count: 3, first: 0, last: 0 });
  t.deepEqual(classOf(d), {
    cls: "modality",
    reason: "stores images as association requestor naming one equipment (modality CT)",
  });
  t.is(ownEquipment(d), CT);
  // Answering Query/Retrieve wins over everything, and an archive's equipment is not its own.
  d.qrScp = 1;
  t.deepEqual(classOf(d), {
    cls: "archive",
    reason: "answers Query/Retrieve requests (C-FIND/C-MOVE/C-GET) as SCP",
  });
  t.is(ownEquipment(d), null);
});

test("equipment is not the sender's own when it came only with derived objects or from C-GET sub-operations", (t) => {
  const d = device();
  d.storeSent = 1;
  d.writableEquipment().set("ct", { attrs: CT, acquisition: false, count: 1, first: 0, last: 0 });
  t.is(ownEquipment(d), null);
  d.equipment.get("ct")!.acquisition = true;
  t.is(ownEquipment(d), CT);
  d.storeSentNotAsRequestor = 1;
  t.is(ownEquipment(d), null);
  // MPPS: the device reports for itself, whatever else it sends.
  d.own = { ...CT, stationName: "CT01-OWN" };
  t.is(ownEquipment(d)?.stationName, "CT01-OWN");
  d.mppsScu = 1;
  t.is(classOf(d).cls, "modality");
});

test("classFor gives classOf's class", (t) => {
  const d = device();
  const steps: ((x: DeviceState) => void)[] = [
    (x) => (x.echoOnly = false),
    (x) => x.writableTls().set(2762, { version: "TLS 1.3", certificate: null, last: 0 }),
    (x) => (x.qrScu = 1),
    (x) => x.writableStoreReceivedFrom().add("ip-10.1.0.6"),
    (x) => (x.worklistScu = 1),
    (x) => x.writableStoreReceivedFrom().add("ip-10.1.0.7"),
  ];
  for (const step of steps) {
    step(d);
    t.is(classFor(d), classOf(d).cls);
  }
  t.is(classFor(d), "archive");
});

test("collections most devices never fill read empty until their first entry, which makes the device's own", (t) => {
  const a = device();
  const b = device();
  t.is(a.listeningPorts.size, 0);
  t.is(a.tls.size, 0);
  t.false(a.isDicom());
  a.writableListeningPorts().add(104);
  a.writableDicomPorts().add(104);
  a.writableEquipment().set("ct", { attrs: CT, acquisition: true, count: 1, first: 0, last: 0 });
  a.writableStoreReceivedFrom().add("ip-10.1.0.6");
  t.deepEqual([...a.listeningPorts], [104]);
  t.is(a.writableListeningPorts(), a.writableListeningPorts(), "made once");
  t.true(a.isDicom());
  // The shared empty collections stayed empty: another device sees none of it.
  t.is(b.listeningPorts.size, 0);
  t.is(b.dicomPorts.size, 0);
  t.is(b.equipment.size, 0);
  t.is(b.storeReceivedFrom.size, 0);
});
