/**
 * net.port-outside-profile (issue 13): a DICOM device whose model has a device profile (profiles/profiles.ts:
 * the site's policy.profiles first, then data/model-profiles.json) answers a TCP handshake on a port that
 * profile does not document. The vendor's documents list what the product needs; anything else answering is
 * a port to close (DESIGN.md §5: close unneeded ports), and the finding carries the profile and its source
 * as the evidence for the change request. Not raised for ports policy.approvedPorts allows on that address.
 *
 * When: the port may be seen before the device names its model (a SYN-ACK comes before the first dataset
 * head, and the inventory attributes equipment only once its behaviour says the equipment is its own), so a
 * device is judged when a port answers (each SYN-ACK counts), when it first becomes a DICOM device (the ports
 * it already had), and again at every finish() — end of capture and each live settling tick — for the
 * devices watched (MAX_TRACKED, oldest forgotten), which is when a model learnt later meets its ports.
 * A settling pass raises a (profile, port) pair once; it does not count ticks.
 *
 * Severity medium for every port, RDP, SMB, VNC and Telnet included: net.risky-service already raises those
 * (high for all but FTP) on any DICOM device, profile or not, and keeps doing so. Both findings stand on
 * purpose: risky-service says the service is dangerous, this one that the vendor does not need it (the
 * evidence for closing it without breaking the product); raising this one high too would count one open
 * port as two high findings. A vendor that documents RDP for its remote service clears this finding, never
 * risky-service's.
 */
import type { ConnectionObservation } from "../../observations/types.js";
import type { DeviceRecord } from "../../report/types.js";
import { formatFlow } from "../../util/flow.js";
import { documentedPort, profileFor, profileLabel } from "../../profiles/profiles.js";
import { BoundedMap } from "../bounded.js";
import { MAX_TRACKED, type Rule, type RuleContext } from "./context.js";

interface Watched {
  ip: string;
  mac: string | null;
  /** "profile label|port" pairs raised, so a settling pass does not raise them again. */
  raised: Set<string>;
}

export class PortOutsideProfileRule implements Rule {
  readonly ids = ["net.port-outside-profile"] as const;
  /** DICOM devices with listening ports, by device id: judged again at finish(). */
  private readonly watched = new BoundedMap<string, Watched>(MAX_TRACKED);

  constructor(private readonly ctx: RuleContext) {}

  onConnection(o: ConnectionObservation): void {
    if (o.handshake !== "syn-ack" || !this.ctx.inventory.isDicomDevice(o.server)) return;
    const w = this.watch(o.server.ip, o.server.mac);
    this.judge(w, o.tsMicros, o.server.port, formatFlow(o.client, o.server));
  }

  onNewDevice(d: DeviceRecord, ts: number): void {
    if (this.ctx.inventory.listeningPortsOf(d.ip).length === 0) return;
    this.judge(this.watch(d.ip, d.mac), ts, null);
  }

  finish(tsMicros: number): void {
    for (const w of this.watched.values()) this.judge(w, tsMicros, null);
  }

  private watch(ip: string, mac: string | null): Watched {
    const id = this.ctx.id({ ip, mac });
    let w = this.watched.get(id);
    if (!w) {
      w = { ip, mac, raised: new Set() };
      this.watched.set(id, w);
    }
    return w;
  }

  /** `port` is the port that just answered (always raised); null: every listening port, new pairs only. */
  private judge(w: Watched, ts: number, port: number | null, flow: string | null = null): void {
    const ep = { ip: w.ip, mac: w.mac };
    const identity = this.ctx.inventory.equipmentOf(ep);
    if (identity === null) return;
    const profile = profileFor(identity, this.ctx.config.policy.profiles);
    if (profile === null) return;
    const label = profileLabel(profile);
    const approved = this.ctx.config.policy.approvedPorts[w.ip] ?? [];
    const ports = port !== null ? [port] : this.ctx.inventory.listeningPortsOf(w.ip);
    for (const p of ports) {
      if (documentedPort(profile, p) !== null || approved.includes(p)) continue;
      const pair = `${label}|${p}`;
      if (port === null && w.raised.has(pair)) continue;
      w.raised.add(pair);
      const named = [identity.manufacturer, identity.model].filter((x) => x !== null).join(" ");
      this.ctx.hit({
        rule: "net.port-outside-profile",
        severity: "medium",
        device: this.ctx.id(ep),
        peer: null,
        key: String(p),
        title: `Port ${p} answers on ${w.ip} (${named}), but the vendor's profile does not list it`,
        ts,
        flow,
        details: {
          port: p,
          device: { ...identity, softwareVersions: [...identity.softwareVersions] },
          profile: {
            manufacturer: profile.manufacturer,
            model: profile.model,
            softwareVersions: profile.softwareVersions,
            origin: profile.origin,
            ports: profile.ports.map((x) => `${x.text}/${x.protocol}`),
          },
          source: { ...profile.source },
        },
        signature: pair,
      });
    }
  }
}
