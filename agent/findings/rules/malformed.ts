/**
 * dicom.malformed: the UL or DIMSE layer reported a malformed or oversized PDU (an anomaly of layer "ul" or
 * "dimse"), or a protocol other than DICOM on a DICOM port. Length and structure violations that crash
 * parsers (the stuff of exploits) are medium, others low. Not raised for what is not the peer's fault
 * (consequences of lost packets, our own list caps), for legal values peers may mis-compare, for non-zero
 * reserved fields (PS3.8 §9.3.1: receivers ignore them; a fingerprint, see rules/scanner.ts), nor for
 * "not DICOM" on a flow that turned out to be DICOM TLS.
 *
 * Which codes raise it, and how high, is the anomaly catalogue's decision (util/anomaly-catalogue.ts,
 * malformedSeverity); this rule adds only the TLS exception.
 *
 * The finding is filed under the server's device with the client as peer. An anomaly waits for its
 * flow's association or DIMSE message (onEndpoints), so that the finding carries the association's capture
 * gaps and roles, or for a TLS handshake that clears "not DICOM on a DICOM port" (onTls); at finish() it
 * is raised with the connection the anomaly carries (with the MACs the link layer gave).
 * Points to: investigate, patch (DESIGN.md §5).
 */
import type {
  AnomalyObservation,
  AssociationObservation,
  DimseObservation,
  TlsObservation,
} from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { malformedSeverity } from "../../util/anomaly-catalogue.js";
import { formatEndpoint, formatFlow } from "../../util/flow.js";
import { BoundedMap } from "../bounded.js";
import { MAX_TRACKED, type Rule, type RuleContext } from "./context.js";

/** The UL layer's code for a non-DICOM protocol on a DICOM port; DICOM TLS is one, and not malformed. */
const NOT_DICOM = "ul.not-dicom-on-dicom-port";

export class MalformedRule implements Rule {
  readonly ids = ["dicom.malformed"] as const;
  /** Flows where a TLS handshake was seen (so "not DICOM on a DICOM port" is DICOM TLS). */
  private readonly tlsFlows = new BoundedMap<string, true>(MAX_TRACKED);
  /** Anomalies waiting for their flow's association, DIMSE message, TLS handshake or finish(), by flow. */
  private readonly pending = new BoundedMap<string, AnomalyObservation[]>(MAX_TRACKED);

  constructor(private readonly ctx: RuleContext) {}

  onAnomaly(o: AnomalyObservation): void {
    if (malformedSeverity(o.code) === null || o.flow === "" || !o.client || !o.server) return;
    if (o.code === NOT_DICOM && this.tlsFlows.has(o.flow)) return;
    // The anomaly waits for its flow's association or DIMSE message (onEndpoints): raised there, the
    // finding carries that association's capture gaps (what the capture lacked may be why the PDU looks
    // malformed, issue 8) and its roles; a TLS handshake read meanwhile clears "not DICOM" (onTls); at
    // finish() the anomaly's own endpoints are used.
    let list = this.pending.get(o.flow);
    if (!list) {
      list = [];
      this.pending.set(o.flow, list);
    }
    if (list.length < 64) list.push(o);
  }

  onEndpoints(o: AssociationObservation | DimseObservation): void {
    if (this.pending.size === 0) return;
    const flow = formatFlow(o.client, o.server);
    const list = this.pending.get(flow);
    if (!list) return;
    this.pending.delete(flow);
    for (const a of list) this.raise(a, o.client, o.server);
  }

  onTls(o: TlsObservation): void {
    const k = formatFlow(o.client, o.server);
    this.tlsFlows.set(k, true);
    const pending = this.pending.get(k);
    if (pending) {
      const rest = pending.filter((a) => a.code !== NOT_DICOM);
      if (rest.length > 0) this.pending.set(k, rest);
      else this.pending.delete(k);
    }
  }

  /** A TLS handshake on a DICOM port shows itself after the UL layer has called it "not DICOM". */
  finish(tsMicros: number, settleMicros: number): void {
    const due = tsMicros - settleMicros;
    for (const [flow, list] of this.pending) {
      if (list.some((a) => a.tsMicros > due)) continue;
      this.pending.delete(flow);
      for (const a of list) if (a.client && a.server) this.raise(a, a.client, a.server);
    }
  }

  private raise(o: AnomalyObservation, client: Endpoint, server: Endpoint): void {
    const notDicom = o.code === NOT_DICOM;
    if (notDicom && this.tlsFlows.has(o.flow)) return;
    this.ctx.hit({
      rule: "dicom.malformed",
      severity: malformedSeverity(o.code) ?? "low",
      device: this.ctx.id(server),
      peer: this.ctx.id(client),
      key: o.code,
      title: notDicom
        ? `A protocol other than DICOM from ${client.ip} on DICOM port ${server.port} of ${server.ip}`
        : // The anomaly does not say which side sent the bad PDU (an A-ASSOCIATE-AC comes from the server).
          `Malformed DICOM (${o.code}) between ${client.ip} and ${formatEndpoint(server)}`,
      ts: o.tsMicros,
      flow: o.flow || null,
      counts: { [o.code]: 1 },
      details: { code: o.code, layer: o.layer },
      signature: o.code,
    });
  }
}
