/**
 * net.risky-service: a DICOM device answers a TCP handshake on FTP, Telnet, SMB, RDP or VNC — services that
 * have no place on an imaging device's network face (and the way wormable CVEs reach Windows-based
 * modalities). Judged on each SYN-ACK from a DICOM device, and for the ports a device already had open when
 * it becomes known as a DICOM device. Not raised for ports policy.approvedPorts allows on that address.
 * Points to: close unneeded ports (DESIGN.md §5).
 */
import type { ConnectionObservation } from "../../observations/types.js";
import type { DeviceRecord } from "../../report/types.js";
import { formatFlow } from "../../util/flow.js";
import type { Severity } from "../severity.js";
import type { Rule, RuleContext } from "./context.js";

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
  constructor(private readonly ctx: RuleContext) {}

  onConnection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack") return;
    if (RISKY_PORTS[o.server.port] && this.ctx.inventory.isDicomDevice(o.server))
      this.judge(o.server.ip, o.server.mac, o.server.port, o.tsMicros, formatFlow(o.client, o.server));
  }

  onNewDevice(d: DeviceRecord, ts: number): void {
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
