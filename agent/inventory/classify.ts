/**
 * Classification of a device (modality, archive, workstation or unknown) with the reason, from its behaviour
 * counters and the equipment it names (DESIGN.md §2, issue 3). The rules are tried in order and the first
 * that holds wins (classCase); the reason says which held, in words for the device record's classReason.
 *
 * Equipment. The sender of a C-STORE is not always the equipment that made the image: a PACS forwards
 * studies of many modalities (C-MOVE sub-operations are C-STOREs it initiates). Equipment named in datasets
 * is kept per sender and becomes the device's own modality/manufacturer/model only when the evidence says the
 * sender is that equipment (ownEquipment): it sends MPPS for itself (PS3.4 Annex F), or it always stores as
 * the association requestor, never acts as an archive (no Query/Retrieve SCP, no C-STORE received from
 * others), exactly one equipment identity appears in what it sends, and that identity came with acquisition
 * objects (not only secondary captures, reports or presentation states, which a workstation makes naming
 * the original equipment).
 */
import type { EquipmentAttributes } from "../dicom/types.js";
import type { DeviceState } from "./device.js";

/** "other": no DICOM seen; a host of the segment known from its system's own traffic (issue 11). */
export type DeviceClass = "modality" | "archive" | "workstation" | "unknown" | "other";

/** True when the device behaves as an archive: answers Query/Retrieve or receives C-STOREs from others. */
function actsAsArchive(d: DeviceState): boolean {
  return d.qrScp > 0 || d.storeReceivedFrom.size > 0;
}

/** The device's own equipment attributes, when the evidence attributes them to it (see module comment). */
export function ownEquipment(d: DeviceState): EquipmentAttributes | null {
  if (d.own) return d.own;
  if (d.equipment.size !== 1 || d.storeSentNotAsRequestor > 0 || actsAsArchive(d)) return null;
  const only = d.equipment.values().next().value;
  return only && only.acquisition ? only.attrs : null;
}

/** Which rule of classOf() applies (the rules in order; the first that holds wins). */
const enum ClassCase {
  QrScp,
  StoreFromMany,
  Mpps,
  Worklist,
  OwnEquipment,
  QrScu,
  StoreFromOne,
  Forwarder,
  TlsOnly,
  EchoOnly,
  HostOnly,
  Other,
}

/** The class each ClassCase gives, indexed by the case. */
const CASE_CLASS: readonly DeviceClass[] = [
  "archive",
  "archive",
  "modality",
  "modality",
  "modality",
  "workstation",
  "archive",
  "unknown",
  "unknown",
  "unknown",
  "other",
  "unknown",
];

/** The rule that classes the device; cheap (no strings), as the DIMSE path asks it for every request. */
function classCase(d: DeviceState): ClassCase {
  if (d.qrScp > 0) return ClassCase.QrScp;
  if (d.storeReceivedFrom.size >= 2) return ClassCase.StoreFromMany;
  if (d.mppsScu > 0) return ClassCase.Mpps;
  if (d.worklistScu > 0) return ClassCase.Worklist;
  if (d.storeSent > 0 && ownEquipment(d)) return ClassCase.OwnEquipment;
  if (d.qrScu > 0) return ClassCase.QrScu;
  if (d.storeReceivedFrom.size === 1) return ClassCase.StoreFromOne;
  if (d.storeSent > 0 && d.equipment.size > 1) return ClassCase.Forwarder;
  if (d.tls.size > 0 && d.aeRoles.size === 0) return ClassCase.TlsOnly;
  if (d.host !== null && d.aeRoles.size === 0 && d.dicomPorts.size === 0 && d.peers.size === 0)
    return ClassCase.HostOnly;
  if (d.echoOnly) return ClassCase.EchoOnly;
  return ClassCase.Other;
}

export function classOf(d: DeviceState): { cls: DeviceClass; reason: string } {
  const c = classCase(d);
  return { cls: CASE_CLASS[c]!, reason: classReason(d, c) };
}

function classReason(d: DeviceState, c: ClassCase): string {
  switch (c) {
    case ClassCase.QrScp:
      return "answers Query/Retrieve requests (C-FIND/C-MOVE/C-GET) as SCP";
    case ClassCase.StoreFromMany:
      return `receives C-STORE from ${d.storeReceivedFrom.size} devices`;
    case ClassCase.Mpps:
      return "reports Modality Performed Procedure Steps (N-CREATE/N-SET)";
    case ClassCase.Worklist:
      return "queries the Modality Worklist";
    case ClassCase.OwnEquipment: {
      const own = ownEquipment(d);
      return `stores images as association requestor naming one equipment${own?.modality ? ` (modality ${own.modality})` : ""}`;
    }
    case ClassCase.QrScu:
      return "queries and retrieves from an archive as SCU";
    case ClassCase.StoreFromOne:
      return "receives C-STORE (storage SCP)";
    case ClassCase.Forwarder:
      return `sends images of ${d.equipment.size} different equipment (a router or forwarder?)`;
    case ClassCase.TlsOnly:
      return `serves DICOM TLS on port ${[...d.tls.keys()].join(", ")}; its traffic is encrypted`;
    case ClassCase.EchoOnly:
      return "no DICOM service beyond association or C-ECHO seen";
    case ClassCase.HostOnly:
      return "no DICOM seen; known from its own system's traffic (remote access, file sharing, DHCP, announcements)";
    default:
      return "its DICOM traffic does not match a class";
  }
}

/** The class alone, without building the reason (the DIMSE path compares it before and after a request). */
export function classFor(d: DeviceState): DeviceClass {
  return CASE_CLASS[classCase(d)]!;
}
