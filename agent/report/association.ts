/**
 * The report's association record (DESIGN.md §3), built by the report layer from what the connection
 * observed: the parser (agent/dicom/connection.ts) keeps its state in capture units (endpoints, microseconds)
 * and this module spells it for the report — endpoints as util/flow.ts writes them, times as util/time.ts.
 */
import { formatEndpoint, type FlowEndpoint } from "../util/flow.js";
import { isoFromMicros } from "../util/time.js";
import type { AssociationRecord, AssociationState } from "./types.js";

/** The report record of an association that ended; arrays are shared with the observation, not copied. */
export function associationRecord(o: {
  client: FlowEndpoint;
  server: FlowEndpoint;
  record: AssociationState;
}): AssociationRecord {
  const s = o.record;
  // Built field by field in the report's order (JSON output keeps insertion order); transportEnd is
  // optional in the type (records made before it existed): absent stays absent, present sits after
  // `released`.
  const r: Omit<AssociationRecord, "messages" | "messagesOmitted" | "captureGaps" | "start" | "end"> &
    Partial<AssociationRecord> = {
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
  };
  if (s.transportEnd !== undefined) r.transportEnd = s.transportEnd;
  r.messages = s.messages;
  r.messagesOmitted = s.messagesOmitted;
  r.captureGaps = s.captureGaps;
  r.start = isoFromMicros(s.startMicros);
  r.end = isoFromMicros(s.endMicros);
  return r as AssociationRecord;
}
