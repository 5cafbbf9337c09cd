/**
 * `plan --check` (issue 13, "Check before applying"): replays captures through a plan and lists every
 * connection or association it would have blocked, so a reviewer sees what breaks before anything is
 * applied.
 *
 * Two layers, judged in this order for each TCP connection:
 * - firewall: the nftables rules (firewall.ts's decide(), the very list render-nft.ts writes), on the
 *   connection's addresses and server port. A dropped connection never carries its association, so it is one
 *   entry, with the AE titles and operations the capture showed on it.
 * - archive: the AE configuration of the archives (steps 3 and 4), on what the association asked for: the
 *   called AE title must be one the service port serves, the calling AE title one the plan allows from that
 *   address, and every operation (and C-MOVE destination) one that peer is allowed. Services the plan does
 *   not know, TLS-only ports (AE titles unseen) and associations picked up without their A-ASSOCIATE-RQ have
 *   no AE allowlist to judge by: they pass this layer.
 *
 * A connection is what the capture shows established: a SYN answered by a SYN-ACK, or one picked up
 * mid-stream. A SYN nobody answered, or answered with a RST, is no connection (nothing listened to break).
 */
import { operationOf } from "../baseline/learner.js";
import type { Operation } from "../baseline/types.js";
import type { Endpoint } from "../reassembly/types.js";
import type {
  AssociationObservation,
  DimseObservation,
  Observation,
  ObservationSink,
} from "../observations/types.js";
import { Pipeline } from "../pipeline/pipeline.js";
import { readCaptures, type FileResult } from "../pipeline/analyze.js";
import { formatEndpoint, formatFlow } from "../util/flow.js";
import { isoFromMicros } from "../util/time.js";
import { Firewall, firewallModel, type RuleKind } from "./firewall.js";
import type { Plan, ServiceAllowlist } from "./types.js";
import { OPERATIONS } from "../baseline/types.js";
import { trimAe } from "../findings/rules/context.js";

/** What the archive layer refuses. */
export type ArchiveRule = "called-ae" | "calling-peer" | "operation";

export interface BlockedEntry {
  layer: "firewall" | "archive";
  rule: Exclude<RuleKind, "default" | "exception" | "allow"> | ArchiveRule;
  reason: string;
  /** The connection's (or association's) start, ISO 8601 from the capture. */
  time: string;
  client: string;
  server: string;
  /** null when the connection carried no DICOM association (or it was not seen). */
  callingAE: string | null;
  calledAE: string | null;
  operations: Operation[];
  /** The association's outcome ("accepted", "rejected", ...), or null when there was none. */
  outcome: string | null;
}

export interface CheckResult {
  version: 1;
  plan: { site: string | null; sensor: string | null; generatedAt: string };
  files: string[];
  /** Connections replayed (each with its association, if any). */
  connections: number;
  associations: number;
  /** Connections that neither layer blocks. */
  passed: number;
  blocked: BlockedEntry[];
}

/** One association as the archive layer sees it. */
export interface AssociationFacts {
  client: string;
  server: { ip: string; port: number };
  callingAE: string | null;
  calledAE: string | null;
  /** Operations the requestor asked for, with C-MOVE destinations. */
  operations: { op: Operation; dest: string | null }[];
  /** No A-ASSOCIATE-RQ was seen: the AE titles are unknown. */
  midStream: boolean;
}

const ORDER = new Map(OPERATIONS.map((o, i) => [o, i]));

/** The archive layer's verdict: null when the association passes, else why it is refused. */
export function archiveDecision(
  allowlists: readonly ServiceAllowlist[],
  a: AssociationFacts,
): { rule: ArchiveRule; reason: string } | null {
  const onPort = allowlists.filter(
    (s) => s.ip === a.server.ip && s.port === a.server.port && s.aeTitle !== null,
  );
  if (onPort.length === 0 || a.midStream || a.calledAE === null) return null;
  const service = onPort.find((s) => s.aeTitle === a.calledAE);
  if (service === undefined)
    return {
      rule: "called-ae",
      reason: `called AE title ${JSON.stringify(a.calledAE)} is not served here (the plan allows ${onPort.map((s) => JSON.stringify(s.aeTitle)).join(", ")})`,
    };
  const peer = service.peers.find((p) => p.ip === a.client && p.aeTitle === a.callingAE);
  if (peer === undefined)
    return {
      rule: "calling-peer",
      reason: `calling AE title ${JSON.stringify(a.callingAE)} from ${a.client} is not an allowed peer of ${JSON.stringify(service.aeTitle)}`,
    };
  const refused: string[] = [];
  for (const { op, dest } of a.operations) {
    if (!peer.operations.includes(op)) refused.push(op);
    else if (op === "C-MOVE" && dest !== null && !peer.moveDestinations.includes(dest))
      refused.push(`C-MOVE to ${JSON.stringify(dest)}`);
  }
  if (refused.length > 0)
    return {
      rule: "operation",
      reason: `not allowed for this peer: ${[...new Set(refused)].join(", ")} (allowed: ${peer.operations.join(", ") || "none"})`,
    };
  return null;
}

interface Conn {
  client: Endpoint;
  server: Endpoint;
  ts: number;
  assoc: AssociationObservation | null;
  ops: { op: Operation; dest: string | null }[];
}

/** Collects established connections, their associations and the operations those carried. */
class Recorder implements ObservationSink {
  readonly conns = new Map<string, Conn>();

  private conn(client: Endpoint, server: Endpoint, ts: number): Conn {
    const key = formatFlow(client, server);
    let c = this.conns.get(key);
    if (c === undefined) {
      c = { client: { ...client }, server: { ...server }, ts, assoc: null, ops: [] };
      this.conns.set(key, c);
    }
    return c;
  }

  observe(o: Observation): void {
    if (o.kind === "connection") {
      if (o.handshake === "syn-ack" || o.handshake === "mid-stream")
        this.conn(o.client, o.server, o.tsMicros);
    } else if (o.kind === "dimse") this.dimse(o);
    else if (o.kind === "association") {
      const c = this.conn(o.client, o.server, o.record.startMicros || o.tsMicros);
      // A connection carries one association (PS3.8 §9.1: release ends the transport connection).
      if (c.assoc === null) c.assoc = o;
    }
  }

  private dimse(o: DimseObservation): void {
    const op = operationOf(o.message.command, o.message.sopClassUid, o.direction === 0);
    if (op === null) return;
    const c = this.conn(o.client, o.server, o.tsMicros);
    const dest = op === "C-MOVE" ? trimAe(o.message.moveDestination) : null;
    if (!c.ops.some((x) => x.op === op && x.dest === dest) && c.ops.length < 64) c.ops.push({ op, dest });
  }
}

/** Replays capture files through the plan's two layers. */
export async function checkCaptures(
  plan: Plan,
  files: string[],
): Promise<{ result: CheckResult; files: FileResult[] }> {
  const recorder = new Recorder();
  const pipeline = new Pipeline({ observations: recorder, maxReportAssociations: 0 });
  const fileResults = await readCaptures(files, pipeline);
  pipeline.finish();
  const result = judge(plan, [...recorder.conns.values()], files);
  return { result, files: fileResults };
}

function judge(plan: Plan, conns: Conn[], files: string[]): CheckResult {
  const fw = new Firewall(firewallModel(plan));
  const blocked: BlockedEntry[] = [];
  let passed = 0;
  let associations = 0;
  conns.sort(
    (a, b) => a.ts - b.ts || (formatFlow(a.client, a.server) < formatFlow(b.client, b.server) ? -1 : 1),
  );
  for (const c of conns) {
    const rec = c.assoc?.record ?? null;
    if (rec !== null) associations++;
    const calling = trimAe(rec?.callingAE ?? null);
    const called = trimAe(rec?.calledAE ?? null);
    const operations = [...new Set(c.ops.map((o) => o.op))].sort((a, b) => ORDER.get(a)! - ORDER.get(b)!);
    const base = {
      time: isoFromMicros(c.ts),
      client: formatEndpoint(c.client),
      server: formatEndpoint(c.server),
      callingAE: calling,
      calledAE: called,
      operations,
      outcome: rec?.outcome ?? null,
    };
    const d = fw.decide({ src: c.client.ip, dst: c.server.ip, dport: c.server.port });
    if (d.verdict === "drop") {
      blocked.push({ layer: "firewall", rule: d.rule as BlockedEntry["rule"], reason: d.reason, ...base });
      continue;
    }
    if (rec !== null) {
      const a = archiveDecision(plan.allowlists, {
        client: c.client.ip,
        server: { ip: c.server.ip, port: c.server.port },
        callingAE: calling,
        calledAE: called,
        operations: c.ops,
        midStream: c.assoc!.midStream,
      });
      if (a !== null) {
        blocked.push({ layer: "archive", rule: a.rule, reason: a.reason, ...base });
        continue;
      }
    }
    passed++;
  }
  return {
    version: 1,
    plan: { site: plan.site, sensor: plan.sensor, generatedAt: plan.generatedAt },
    files: [...files],
    connections: conns.length,
    associations,
    passed,
    blocked,
  };
}
