/**
 * dicom.scanner by identity: what a scanner's A-ASSOCIATE-RQ announces (Implementation Class UID, PS3.7
 * D.3.3.2; Implementation Version Name, D.3.3.2.1; calling AE title), matched against data/scanners.json.
 * Some tools have an identity of their own (nmap's NSE library with "NMAP_NSE"): that is enough. Others borrow
 * a real toolkit's (nmap 7.x announces DCMTK 3.6.2 and calls itself ECHOSCU, exactly as DCMTK's echoscu does):
 * those need corroboration by a behaviour no real toolkit shows (see Corroboration), or every echoscu in a
 * hospital would be called a scanner.
 */
import type { ImplementationInfo } from "../../report/types.js";
import { aeKey, scannerTable, type ScannerEntry } from "./tables.js";

/**
 * - reserved-header: non-zero bytes among the 32 reserved bytes of the A-ASSOCIATE-RQ header (PS3.8 §9.3.2,
 *   PDU offsets 42-73), which nmap's dicom.lua packs from a number;
 * - silent-association: accepted, then ended by the transport (FIN, RST, idle) with no P-DATA-TF, no
 *   A-RELEASE-RQ and no A-ABORT: the A-ASSOCIATE-AC was all the requestor wanted (a probe).
 */
export type Corroboration = "reserved-header" | "silent-association";

export interface ScannerMatch {
  entry: ScannerEntry;
  /** Why: the identifiers that matched, as sentences for the evidence. */
  reasons: string[];
}

function underRoot(uid: string, root: string): boolean {
  return uid === root || (uid.startsWith(root) && uid.charCodeAt(root.length) === 0x2e);
}

/** The identity part of an entry, without corroboration: the reasons it matched, or null. */
function identity(e: ScannerEntry, req: ImplementationInfo | null, calling: string | null): string[] | null {
  const uid = req?.implementationClassUid?.trim() ?? "";
  const name = req?.implementationVersionName?.trim() ?? "";
  const reasons: string[] = [];
  const uidSet = (e.implementationClassUids?.length ?? 0) + (e.implementationClassUidRoots?.length ?? 0) > 0;
  const nameSet =
    (e.implementationVersionNames?.length ?? 0) + (e.implementationVersionNamePrefixes?.length ?? 0) > 0;
  if (uidSet || nameSet) {
    // Either identifier suffices: a tool may be configured to change one of them.
    const uidHit =
      uid !== "" &&
      ((e.implementationClassUids ?? []).includes(uid) ||
        (e.implementationClassUidRoots ?? []).some((r) => underRoot(uid, r)));
    const nameHit =
      name !== "" &&
      ((e.implementationVersionNames ?? []).includes(name) ||
        (e.implementationVersionNamePrefixes ?? []).some((p) => name.startsWith(p)));
    if (!uidHit && !nameHit) return null;
    if (uidHit) reasons.push(`implementation class UID ${uid}`);
    if (nameHit) reasons.push(`implementation version name ${name}`);
  }
  if (e.callingAETitles) {
    if (!calling || !e.callingAETitles.some((a) => aeKey(a) === aeKey(calling))) return null;
    reasons.push(`calling AE title ${calling}`);
  }
  if (e.noImplementationClassUid) {
    if (uid !== "") return null;
    reasons.push("no implementation class UID (mandatory, PS3.7 D.3.3.2)");
  }
  return reasons.length > 0 ? reasons : null;
}

const CORROBORATION_REASON: Record<Corroboration, string> = {
  "reserved-header": "non-zero reserved bytes in the A-ASSOCIATE-RQ header (PS3.8 §9.3.2)",
  "silent-association": "accepted, then left without a message, release or abort",
};

/** The first table entry the request matches, given the behaviours already seen on the association. */
export function recogniseScanner(
  req: ImplementationInfo | null,
  calling: string | null,
  seen: ReadonlySet<Corroboration>,
): ScannerMatch | null {
  for (const e of scannerTable()) {
    const reasons = identity(e, req, calling);
    if (!reasons) continue;
    if (e.corroboratedBy.length === 0) return { entry: e, reasons };
    const c = e.corroboratedBy.find((b) => seen.has(b));
    if (c) return { entry: e, reasons: [...reasons, CORROBORATION_REASON[c]] };
  }
  return null;
}

/** Whether a request has a borrowed scanner identity that the given behaviour would corroborate. */
export function wouldCorroborate(
  req: ImplementationInfo | null,
  calling: string | null,
  behaviour: Corroboration,
): boolean {
  return scannerTable().some(
    (e) => e.corroboratedBy.includes(behaviour) && identity(e, req, calling) !== null,
  );
}
