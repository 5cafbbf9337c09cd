/**
 * The report's association record (DESIGN.md §3), built by the report layer from what the connection
 * observed: the parser (agent/dicom/connection.ts) keeps its state in capture units (endpoints, microseconds)
 * and this module spells it for the report — endpoints as util/flow.ts writes them, times as util/time.ts.
 */
import type { AssociationObservation } from "../observations/types.js";
import { formatEndpoint } from "../util/flow.js";
import { isoFromMicros } from "../util/time.js";
import type { AssociationRecord } from "./types.js";

/** The report record of an association that ended; arrays are shared with the observation, not copied. */
export function associationRecord(o: AssociationObservation): AssociationRecord {
  const s = o.record;
  // Built field by field in the report's order (JSON output keeps insertion order).
  const r: AssociationRecord = {
    client: formatEndpoint(o.client),
    server: formatEndpoint(o.server),
    callingAE: s.callingAE,
    calledAE: s.calledAE,
    applicationContext: s.applicationContext,
    requestor: s.requestor,
    acceptor: s.acceptor,
    userIdentity: s.userIdentity,
    presentationContexts: s.presentationContexts,
    outcome: s.outcome,
    reject: s.reject,
    abort: s.abort,
    released: s.released,
    messages: s.messages,
    messagesOmitted: s.messagesOmitted,
    captureGaps: s.captureGaps,
    start: isoFromMicros(s.startMicros),
    end: isoFromMicros(s.endMicros),
  };
  // Optional in the type (records made before it existed): absent stays absent, in its place.
  if (s.transportEnd !== undefined) return insertTransportEnd(r, s.transportEnd);
  return r;
}

/** r with transportEnd after `released`, where the report has always written it. */
function insertTransportEnd(r: AssociationRecord, t: AssociationRecord["transportEnd"]): AssociationRecord {
  const { messages, messagesOmitted, captureGaps, start, end, ...head } = r;
  return { ...head, transportEnd: t, messages, messagesOmitted, captureGaps, start, end };
}
