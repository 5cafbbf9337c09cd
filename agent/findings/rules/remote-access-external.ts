/**
 * net.remote-access-external (issue 11): RDP, VNC, SMB, SSH, Telnet or FTP (seen as the protocol), or a
 * remote-support tool (by its port), between an imaging device (a device seen speaking DICOM) and a peer
 * outside config.networks.internal. Remote service from the internet straight to a modality is how
 * vendors' and attackers' sessions alike reach it; it belongs behind a VPN or the vendor's gateway. High.
 * Points to: firewall external access / VPN (DESIGN.md §5).
 */
import type { ConnectionObservation, HostObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { formatFlow } from "../../util/flow.js";
import type { Rule, RuleContext } from "./context.js";
import { serviceEnds } from "./host-events.js";

const PROTOCOL_OF: Record<string, string> = {
  "smb-negotiate": "SMB",
  "smb1-native-os": "SMB",
  "rdp-request": "RDP",
  "rdp-confirm": "RDP",
  "rfb-version": "VNC",
  "ssh-banner": "SSH",
  "telnet-banner": "Telnet",
  "telnet-login": "Telnet",
  "ftp-banner": "FTP",
  "ftp-login": "FTP",
};

/** The server's event that opens a session (one per connection), for counting sessions. */
const SESSION_OPENERS = new Set([
  "smb-negotiate",
  "rdp-confirm",
  "rfb-version",
  "ssh-banner",
  "telnet-banner",
  "ftp-banner",
]);

/**
 * Remote-support tools recognised by the server port of a connection their client opens: TeamViewer's
 * 5938 (TeamViewer's "Which ports are used by TeamViewer?" article) and AnyDesk's 7070 (AnyDesk's
 * firewall documentation). Their sessions are encrypted, so the port is what the wire shows.
 */
const REMOTE_SUPPORT_PORTS: Record<number, string> = { 5938: "TeamViewer", 7070: "AnyDesk" };

export class RemoteAccessExternalRule implements Rule {
  readonly ids = ["net.remote-access-external"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onHost(o: HostObservation): void {
    const protocol = PROTOCOL_OF[o.event.kind];
    const ends = serviceEnds(o);
    if (protocol === undefined || ends === null) return;
    // One session is counted once: on the server's first word of it (its confirm, banner or negotiate).
    const session = o.hostIsServer && SESSION_OPENERS.has(o.event.kind);
    this.judge(protocol, ends.server, ends.client, ends.flow, o.tsMicros, session ? 1 : 0);
  }

  onConnection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack") return;
    const tool = REMOTE_SUPPORT_PORTS[o.server.port];
    if (tool !== undefined)
      this.judge(tool, o.server, o.client, formatFlow(o.client, o.server), o.tsMicros, 1);
  }

  private judge(
    protocol: string,
    server: Endpoint,
    client: Endpoint,
    flow: string,
    ts: number,
    sessions: number,
  ): void {
    const inside = (ep: Endpoint): boolean => this.ctx.isInternal(ep.ip);
    // One end is an imaging device inside, the other outside.
    let device: Endpoint;
    let peer: Endpoint;
    if (inside(server) && !inside(client) && this.ctx.inventory.isDicomDevice(server))
      [device, peer] = [server, client];
    else if (inside(client) && !inside(server) && this.ctx.inventory.isDicomDevice(client))
      [device, peer] = [client, server];
    else return;
    const inbound = device === server;
    this.ctx.hit({
      rule: "net.remote-access-external",
      severity: "high",
      device: this.ctx.id(device),
      peer: this.ctx.id(peer),
      key: `${protocol}/${server.port}`,
      title: inbound
        ? `${protocol} to imaging device ${device.ip} port ${server.port} from outside (${peer.ip})`
        : `Imaging device ${device.ip} opens ${protocol} to ${peer.ip} port ${server.port} outside`,
      ts,
      flow,
      counts: { sessions },
      details: {
        protocol,
        port: server.port,
        direction: inbound ? "inbound" : "outbound",
        external: peer.ip,
      },
      signature: `${protocol}|${inbound}`,
    });
  }
}
