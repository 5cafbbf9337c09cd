/**
 * DIMSE messages are observed twice: as DimseObservations while they happen, and in the association
 * record when the association ends. Consumers act on the DimseObservations; when a pipeline emitted none
 * for an association (e.g. replaying stored association records), its messages are replayed from the
 * record instead, with the direction inferred from the command (PS3.7 §9.1, §10.1): requests go from the
 * requestor, except C-STOREs inside a C-GET association (sub-operations, PS3.4 C.4.3) and
 * N-EVENT-REPORT-RQ (storage commitment results), which come from the acceptor.
 */
import type { AssociationObservation, DimseObservation } from "../observations/types.js";
import { formatFlow } from "../util/flow.js";

/** Remembers which associations had DimseObservations (bounded; entries leave when the association ends). */
export class DimseSeen {
  private readonly flows = new Set<string>();
  /** The last flow's endpoints and key: messages come in runs per association, so the key is built once. */
  private lastClientIp = "";
  private lastClientPort = -1;
  private lastServerIp = "";
  private lastServerPort = -1;
  private lastKey = "";
  constructor(private readonly max = 65536) {}

  saw(o: DimseObservation): void {
    const c = o.client;
    const s = o.server;
    let key = this.lastKey;
    if (
      c.port !== this.lastClientPort ||
      s.port !== this.lastServerPort ||
      c.ip !== this.lastClientIp ||
      s.ip !== this.lastServerIp
    ) {
      key = formatFlow(c, s);
      this.lastClientIp = c.ip;
      this.lastClientPort = c.port;
      this.lastServerIp = s.ip;
      this.lastServerPort = s.port;
      this.lastKey = key;
    }
    if (this.flows.has(key)) return;
    // Full: forget the oldest flow (an association that never ended) rather than stop remembering.
    if (this.flows.size >= this.max) this.flows.delete(this.flows.values().next().value as string);
    this.flows.add(key);
  }

  /** The DimseObservations to replay for an ended association (none when they were already observed). */
  replay(o: AssociationObservation): DimseObservation[] {
    const key = formatFlow(o.client, o.server);
    if (this.flows.delete(key)) return [];
    const r = o.record;
    const hasGet = r.messages.some((m) => m.command === "C-GET-RQ");
    return r.messages.map((message) => {
      const rq = message.command.endsWith("-RQ");
      const fromAcceptor =
        message.command === "N-EVENT-REPORT-RQ" || (hasGet && message.command === "C-STORE-RQ");
      const direction: 0 | 1 = rq === !fromAcceptor ? 0 : 1;
      return {
        kind: "dimse",
        tsMicros: o.tsMicros,
        client: o.client,
        server: o.server,
        callingAE: r.callingAE,
        calledAE: r.calledAE,
        direction,
        message,
      };
    });
  }
}
