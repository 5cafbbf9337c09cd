/**
 * dicom.default-port: DICOM served on port 104, the well-known port (PS3.8 Annex G) that every scanner
 * tries first (low); worse, port 104 open on a device whose DICOM runs on another port (medium): a port
 * nothing needs, answering anyway. Not raised where policy.approvedPorts allows 104 on that address.
 * Points to: close unneeded ports (DESIGN.md §5).
 */
import type { ConnectionObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { formatFlow } from "../../util/flow.js";
import { BoundedMap } from "../bounded.js";
import { MAX_TRACKED, type AssociationEvent, type Rule, type RuleContext } from "./context.js";

export class DefaultPortRule implements Rule {
  readonly ids = ["dicom.default-port"] as const;
  /**
   * Devices (by IP) where port 104 answered a handshake while DICOM was seen only on other ports: judged at
   * finish(), because the association on that connection shows its first message only after the handshake.
   */
  private readonly pending104 = new BoundedMap<string, { server: Endpoint; ts: number; flow: string | null }>(
    MAX_TRACKED,
  );

  constructor(private readonly ctx: RuleContext) {}

  onConnection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack") return;
    if (o.server.port === 104 && this.ctx.inventory.isDicomDevice(o.server))
      this.judge(o.server, o.tsMicros, formatFlow(o.client, o.server));
  }

  onAssociation(a: AssociationEvent): void {
    if (!a.accepted) return;
    const server = a.o.server;
    const dev = this.ctx.inventory.device(this.ctx.id(server));
    const dicomPorts = (dev?.dicomPorts as number[] | undefined) ?? [];
    if (server.port === 104 || dicomPorts.length > 0) this.judge(server, a.ts, a.flow);
  }

  /** A port-104 connection whose association has not shown a message yet is not judged before settleMicros. */
  finish(tsMicros: number, settleMicros: number): void {
    const due = tsMicros - settleMicros;
    for (const [ip, p] of this.pending104) {
      if (p.ts > due) continue;
      this.pending104.delete(ip);
      this.judge(p.server, p.ts, p.flow, true);
    }
  }

  /**
   * "Used" (DICOM seen on 104) is raised at once. "Unused" (104 answers, DICOM seen only elsewhere) waits
   * for finish() (`settled`): a handshake on 104 comes before the first message of its association, and a
   * PACS serving DICOM on both 104 and 11112 must not be told that 104 is unused.
   */
  private judge(server: Endpoint, ts: number, flow: string | null = null, settled = false): void {
    const ip = server.ip;
    if (this.ctx.config.policy.approvedPorts[ip]?.includes(104)) return;
    const dev = this.ctx.inventory.device(this.ctx.id(server));
    const dicomPorts = (dev?.dicomPorts as number[] | undefined) ?? [];
    const listening = this.ctx.inventory.listeningPortsOf(ip);
    const dicomOn104 = dicomPorts.includes(104);
    const elsewhere = dicomPorts.filter((p) => p !== 104);
    if (dicomOn104) this.pending104.delete(ip);
    if (!dicomOn104 && !(listening.includes(104) && elsewhere.length > 0)) return;
    const unused = !dicomOn104;
    if (unused && !settled) {
      if (!this.pending104.has(ip)) this.pending104.set(ip, { server, ts, flow });
      return;
    }
    this.ctx.hit({
      rule: "dicom.default-port",
      severity: unused ? "medium" : "low",
      device: this.ctx.id(server),
      peer: null,
      key: "104",
      title: unused
        ? `Port 104 is open on ${ip} but DICOM runs on port ${elsewhere.join(", ")}`
        : `DICOM is served on the default port 104 on ${ip}`,
      ts,
      flow,
      details: { dicomPorts, listeningPorts: listening },
      signature: unused ? "unused" : "used",
    });
  }
}
