/**
 * dicom.unknown-move-destination: a C-MOVE-RQ (PS3.4 C.4.2) names a Move Destination AE title that is not
 * known — not listed in policy.knownAeTitles or, without a policy, not seen on the network as any device's
 * AE title. The SCP sends the images to whatever address it has configured for that title: a C-MOVE to a
 * stranger is how studies leave the hospital.
 * Judged when the C-MOVE's association ends (its sub-association to the destination has been seen by then,
 * so the destination's AE title is known to the inventory), or at finish() for associations still open.
 * Points to: AE allowlists (DESIGN.md §5).
 */
import type { DimseObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { formatFlow } from "../../util/flow.js";
import { BoundedMap } from "../bounded.js";
import { MAX_TRACKED, trimAe, type AssociationEvent, type Rule, type RuleContext } from "./context.js";

interface PendingMove {
  dest: string;
  callingAE: string | null;
  client: Endpoint;
  server: Endpoint;
  flow: string;
  ts: number;
}

export class UnknownMoveDestinationRule implements Rule {
  readonly ids = ["dicom.unknown-move-destination"] as const;
  private readonly knownAll = new Set<string>();
  /** C-MOVEs per flow, waiting for their association to end. */
  private readonly pendingMoves = new BoundedMap<string, PendingMove[]>(MAX_TRACKED);

  constructor(private readonly ctx: RuleContext) {
    for (const list of Object.values(ctx.config.policy.knownAeTitles))
      for (const ae of list) this.knownAll.add(ae);
  }

  onDimse(o: DimseObservation): void {
    const m = o.message;
    if (m.command !== "C-MOVE-RQ" || o.direction !== 0 || !m.moveDestination) return;
    const dest = m.moveDestination.trim();
    if (!dest) return;
    const flow = formatFlow(o.client, o.server);
    let list = this.pendingMoves.get(flow);
    if (!list) {
      list = [];
      this.pendingMoves.set(flow, list);
    }
    if (list.length < 64 && !list.some((p) => p.dest === dest))
      list.push({
        dest,
        callingAE: trimAe(o.callingAE),
        client: o.client,
        server: o.server,
        flow,
        ts: o.tsMicros,
      });
  }

  onAssociation(a: AssociationEvent): void {
    const key = formatFlow(a.o.client, a.o.server);
    const moves = this.pendingMoves.get(key);
    if (!moves) return;
    this.pendingMoves.delete(key);
    for (const m of moves) this.evaluate(m);
  }

  /** A C-MOVE whose sub-association may not have started yet is not judged before settleMicros. */
  finish(tsMicros: number, settleMicros: number): void {
    const due = tsMicros - settleMicros;
    for (const [flow, moves] of this.pendingMoves) {
      if (moves.some((m) => m.ts > due)) continue;
      this.pendingMoves.delete(flow);
      for (const m of moves) this.evaluate(m);
    }
  }

  /**
   * Known: listed in the policy's AE titles, or — without a policy — seen on the network as a device's AE
   * title; or the requestor moving to itself (the ordinary retrieve: the images go back to who asked, not to
   * a third party) unless the policy describes the requestor's address without that title. The self-move
   * holds with a policy for other hosts too: a site that lists only its PACS would otherwise see every
   * workstation's retrieve as a medium finding.
   */
  private evaluate(m: PendingMove): void {
    const policy = this.ctx.config.policy.knownAeTitles;
    const selfMove = m.dest === m.callingAE && !policy[m.client.ip];
    const known =
      selfMove ||
      (this.knownAll.size > 0 ? this.knownAll.has(m.dest) : this.ctx.inventory.hasAeTitle(m.dest));
    if (known) return;
    this.ctx.hit({
      rule: "dicom.unknown-move-destination",
      severity: "medium",
      device: this.ctx.id(m.server),
      peer: this.ctx.id(m.client),
      key: m.dest,
      title: `${m.client.ip} asked ${m.server.ip} to C-MOVE to unknown AE title "${m.dest}"`,
      ts: m.ts,
      flow: m.flow,
      aeTitles: [m.callingAE, m.dest],
      counts: { moves: 1 },
      details: { moveDestination: m.dest },
    });
  }
}
