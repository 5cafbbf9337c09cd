/**
 * dicom.malformed: the UL or DIMSE layer reported a malformed or oversized PDU (an anomaly of layer "ul" or
 * "dimse"), or a protocol other than DICOM on a DICOM port. Length and structure violations that crash
 * parsers (the stuff of exploits) are medium, others low. Not raised for what is not the peer's fault
 * (consequences of lost packets, our own list caps), for legal values peers may mis-compare, for non-zero
 * reserved fields (PS3.8 §9.3.1: receivers ignore them; a fingerprint, see rules/scanner.ts), nor for
 * "not DICOM" on a flow that turned out to be DICOM TLS.
 *
 * The finding is filed under the server's device with the client as peer, so it needs the flow's endpoints
 * with their MACs. An anomaly that carries no endpoints waits for them (an association or DIMSE message on
 * its flow, onEndpoints) or, at finish(), has them parsed from its flow string. All matching of flow strings
 * lives here: anomalies are reported by flow, and a flow has been spelt two ways (IPv6 with and without
 * brackets; see spellings()).
 * Points to: investigate, patch (DESIGN.md §5).
 */
import type {
  AnomalyObservation,
  AssociationObservation,
  DimseObservation,
  TlsObservation,
} from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { formatEndpoint, formatFlow, parseFlow, type FlowEndpoint } from "../../util/flow.js";
import { BoundedMap } from "../bounded.js";
import { MAX_TRACKED, type Rule, type RuleContext } from "./context.js";

/**
 * Anomaly codes that are not the peer's fault: consequences of packets the capture lost, or of our own
 * list caps. They stay in the report's anomalies but raise no dicom.malformed.
 */
const CAPTURE_ARTIFACTS = new Set([
  // Legal AE titles that peers may still mis-compare (PS3.5 Table 6.2-1): noted, not malformed.
  "ul.ae-title-lower-case",
  "ul.ae-title-leading-spaces",
  "ul.resync",
  "ul.resync-failed",
  "ul.pdu-lost-in-gap",
  "ul.list-capped",
  "ul.messages-capped",
]);
/** Length and structure violations that crash parsers (the stuff of exploits): medium. Others are low. */
const SEVERE_MALFORMED = new Set([
  "ul.pdu-too-large",
  "ul.pdu-too-short",
  "ul.invalid-pdu-length",
  "ul.invalid-pdu-header",
  "ul.unknown-pdu-type",
  "ul.pdv-exceeds-pdu",
  "ul.pdv-too-short",
  "ul.item-exceeds-parent",
  "ul.item-length-invalid",
  "ul.item-truncated",
  "dimse.command-too-large",
  "dimse.command-element-beyond-end",
  "dimse.command-truncated-element",
]);
/** The UL layer's code for a non-DICOM protocol on a DICOM port; DICOM TLS is one, and not malformed. */
const NOT_DICOM = "ul.not-dicom-on-dicom-port";

/**
 * The spellings an anomaly's flow may have for these endpoints: util/flow.ts's (IPv6 in brackets, as the
 * pipeline writes anomalies) and the older one without brackets. Identical for IPv4.
 */
function spellings(client: FlowEndpoint, server: FlowEndpoint): string[] {
  const bracketed = formatFlow(client, server);
  const bare = `${client.ip}:${client.port}-${server.ip}:${server.port}`;
  return bare === bracketed ? [bracketed] : [bracketed, bare];
}

/** A flow string in either spelling → its endpoints (without MAC), or null. */
function endpointsOf(flow: string): [Endpoint, Endpoint] | null {
  const p = parseFlow(flow);
  if (p)
    return [
      { ...p.client, mac: null },
      { ...p.server, mac: null },
    ];
  const m = /^\[?([^\]]+?)\]?:(\d+)-\[?([^\]]+?)\]?:(\d+)$/.exec(flow);
  if (!m) return null;
  return [
    { ip: m[1]!, port: Number(m[2]), mac: null },
    { ip: m[3]!, port: Number(m[4]), mac: null },
  ];
}

export class MalformedRule implements Rule {
  readonly ids = ["dicom.malformed"] as const;
  /** Flows where a TLS handshake was seen (so "not DICOM on a DICOM port" is DICOM TLS). */
  private readonly tlsFlows = new BoundedMap<string, true>(MAX_TRACKED);
  /** Malformed-PDU anomalies waiting for their flow's endpoints (with MACs) to be known. */
  private readonly pending = new BoundedMap<string, AnomalyObservation[]>(MAX_TRACKED);

  constructor(private readonly ctx: RuleContext) {}

  onAnomaly(o: AnomalyObservation): void {
    if (o.layer !== "ul" && o.layer !== "dimse") return;
    // PS3.8 §9.3.1: receivers ignore reserved fields, and DCMTK itself fills one with 0xFF, so a non-zero
    // reserved field is a fingerprint (rules/scanner.ts), not a malformed PDU.
    if (o.code.includes("reserved") || CAPTURE_ARTIFACTS.has(o.code)) return;
    if (o.code === NOT_DICOM && this.tlsFlows.has(o.flow)) return;
    if (o.client && o.server) {
      this.raise(o, o.client, o.server);
      return;
    }
    // The pipeline reports anomalies by flow only; the endpoints (and MACs, hence device ids) become
    // known with the flow's association or DIMSE observations, or are parsed from the flow at finish().
    let list = this.pending.get(o.flow);
    if (!list) {
      list = [];
      this.pending.set(o.flow, list);
    }
    if (list.length < 64) list.push(o);
  }

  onEndpoints(o: AssociationObservation | DimseObservation): void {
    if (this.pending.size === 0) return;
    const flows = spellings(o.client, o.server);
    // An association record spells its own flow.
    if (o.kind === "association") flows.unshift(`${o.record.client}-${o.record.server}`);
    for (const f of flows) {
      const list = this.pending.get(f);
      if (!list) continue;
      this.pending.delete(f);
      for (const a of list) this.raise(a, o.client, o.server);
    }
  }

  onTls(o: TlsObservation): void {
    for (const k of spellings(o.client, o.server)) {
      this.tlsFlows.set(k, true);
      const pending = this.pending.get(k);
      if (pending) {
        const rest = pending.filter((a) => a.code !== NOT_DICOM);
        if (rest.length > 0) this.pending.set(k, rest);
        else this.pending.delete(k);
      }
    }
  }

  /** A TLS handshake on a DICOM port shows itself after the UL layer has called it "not DICOM". */
  finish(tsMicros: number, settleMicros: number): void {
    const due = tsMicros - settleMicros;
    for (const [flow, list] of this.pending) {
      if (list.some((a) => a.tsMicros > due)) continue;
      this.pending.delete(flow);
      const eps = endpointsOf(flow);
      if (eps) for (const a of list) this.raise(a, eps[0], eps[1]);
    }
  }

  private raise(o: AnomalyObservation, client: Endpoint, server: Endpoint): void {
    const notDicom = o.code === NOT_DICOM;
    if (notDicom && this.tlsFlows.has(o.flow)) return;
    this.ctx.hit({
      rule: "dicom.malformed",
      severity: SEVERE_MALFORMED.has(o.code) ? "medium" : "low",
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
