/**
 * SOP class families that classify what a device does (PS3.4 annexes): the one home of SOP class UIDs that
 * code reasons about (inventory and findings import them from here). Only prefixes and the few UIDs the
 * inventory and findings reason about; names for people come from ./dictionary (dictionaryName).
 */

/** Verification SOP Class (PS3.4 Annex A). */
export const VERIFICATION = "1.2.840.10008.1.1";
/** Storage SOP classes live under this root (PS3.4 Annex B, PS3.6 Annex A). */
const STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1.";
/** Query/Retrieve Information Models (PS3.4 Annex C): Patient Root .2.1.x, Study Root .2.2.x, ... */
const QUERY_RETRIEVE_ROOT = "1.2.840.10008.5.1.4.1.2.";
/** Patient Root and Study Root C-FIND (the levels where universal matching returns whole archives). */
const PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1";
const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const PATIENT_STUDY_ONLY_FIND = "1.2.840.10008.5.1.4.1.2.3.1";
/** Modality Worklist Information Model - FIND (PS3.4 Annex K). */
export const MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31";
/** Modality Performed Procedure Step SOP Class (PS3.4 Annex F). */
export const MPPS = "1.2.840.10008.3.1.2.3.3";

export function isStorage(uid: string | null): boolean {
  return uid !== null && uid.startsWith(STORAGE_ROOT);
}

export function isQueryRetrieve(uid: string | null): boolean {
  return uid !== null && uid.startsWith(QUERY_RETRIEVE_ROOT);
}

/** C-FIND information models whose universal matching walks patients or studies (not the worklist). */
export function isPatientOrStudyFind(uid: string | null): boolean {
  return uid === PATIENT_ROOT_FIND || uid === STUDY_ROOT_FIND || uid === PATIENT_STUDY_ONLY_FIND;
}

/**
 * Ports where TLS is taken to carry DICOM: 2762 dicom-tls (PS3.15 Annex B.1, IANA), 2761 dicom-iscl,
 * 104 and 11112 (IANA "dicom"), 4242 (Orthanc's default). DICOM over TLS on other ports is recognised
 * when the host is already known to speak DICOM.
 */
export const DICOM_TLS_PORTS: ReadonlySet<number> = new Set([2762, 2761, 104, 11112, 4242]);

/**
 * Storage SOP classes of objects made after acquisition, often by another system than the equipment named
 * in them: secondary capture (.7), presentation states (.11), structured reports and key objects (.88),
 * raw data (.66), encapsulated documents (.104). They do not show that the sender is that equipment.
 */
const DERIVED_PREFIXES = ["7", "11", "88", "66", "104"].map((p) => STORAGE_ROOT + p);

export function isDerivedObject(uid: string | null): boolean {
  if (uid === null) return false;
  for (const p of DERIVED_PREFIXES) if (uid === p || uid.startsWith(p + ".")) return true;
  return false;
}
