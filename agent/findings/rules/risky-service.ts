/**
 * net.risky-service: a DICOM device answers a TCP handshake on FTP, Telnet, SMB, RDP or VNC — services that
 * have no place on an imaging device's network face (and the way wormable CVEs reach Windows-based
 * modalities). Judged on each SYN-ACK from a DICOM device, and for the ports a device already had open when
 * it becomes known as a DICOM device. Not raised for ports policy.approvedPorts allows on that address.
 * Points to: close unneeded ports (DESIGN.md §5).
 */
import type {
  AssociationObservation,
  ConnectionObservation,
  DimseObservation,
} from "../../observations/types.js";
import type { DeviceRecord } from "../../report/types.js";
import { formatFlow } from "../../util/flow.js";
import type { Severity } from "../severity.js";
import { MAX_TRACKED, type Rule, type RuleContext } from "./context.js";

/** Services that must not answer on imaging devices, and how bad it is when they do. */
const RISKY_PORTS: Record<number, { name: string; severity: Severity }> = {
  21: { name: "FTP", severity: "medium" },
  23: { name: "Telnet", severity: "high" },
  445: { name: "SMB", severity: "high" },
  3389: { name: "RDP", severity: "high" },
  5900: { name: "VNC", severity: "high" },
};

export class RiskyServiceRule implements Rule {
  readonly ids = ["net.risky-service"] as const;
  /**
   * Hosts inventoried before they spoke DICOM (issue 11: known from their system's traffic): their ports
   * are judged when they first do. Bounded (MAX_TRACKED, oldest forgotten).
   */
  private readonly waiting = new Set<string>();

  constructor(private readonly ctx: RuleContext) {}

  onEndpoints(o: AssociationObservation | DimseObservation): void {
    if (this.waiting.size === 0) return;
    for (const ep of [o.client, o.server]) {
      const id = this.ctx.id(ep);
      if (!this.waiting.delete(id)) continue;
      for (const port of this.ctx.inventory.listeningPortsOf(ep.ip))
        this.judge(ep.ip, ep.mac, port, o.tsMicros);
    }
  }

  onConnection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack") return;
    if (RISKY_PORTS[o.server.port] && this.ctx.inventory.isDicomDevice(o.server))
      this.judge(o.server.ip, o.server.mac, o.server.port, o.tsMicros, formatFlow(o.client, o.server));
  }

  onNewDevice(d: DeviceRecord, ts: number): void {
    // Hosts known only from their system's traffic (issue 11) are no DICOM devices: not yet.
    if (!this.ctx.inventory.isDicomDevice(d)) {
      if (this.waiting.size >= MAX_TRACKED) this.waiting.delete(this.waiting.values().next().value as string);
      this.waiting.add(d.id);
      return;
    }
    for (const port of this.ctx.inventory.listeningPortsOf(d.ip)) this.judge(d.ip, d.mac, port, ts);
  }

  private judge(ip: string, mac: string | null, port: number, ts: number, flow: string | null = null): void {
    const risky = RISKY_PORTS[port];
    if (!risky) return;
    if (this.ctx.config.policy.approvedPorts[ip]?.includes(port)) return;
    this.ctx.hit({
      rule: "net.risky-service",
      severity: risky.severity,
      device: this.ctx.id({ ip, mac }),
      peer: null,
      key: String(port),
      title: `${risky.name} (port ${port}) answers on DICOM device ${ip}`,
      ts,
      flow,
      details: { service: risky.name, port },
      signature: String(port),
    });
  }
}
