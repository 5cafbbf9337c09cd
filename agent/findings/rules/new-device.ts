/**
 * inventory.new-device: a device seen for the first time (one info finding per device). The engine notices
 * new devices by the inventory's size after each observation and hands each to the rules' onNewDevice.
 * Points to: inventory (DESIGN.md §5).
 */
import type { AssociationObservation, DimseObservation } from "../../observations/types.js";
import type { DeviceRecord } from "../../report/types.js";
import { MAX_TRACKED, type Rule, type RuleContext } from "./context.js";

export class NewDeviceRule implements Rule {
  readonly ids = ["inventory.new-device"] as const;
  /**
   * Hosts that entered the inventory from their system's traffic alone (issue 11, class "other"): no new
   * DICOM device yet, and a DHCP renewal must not raise one finding per laptop. When one of them later
   * speaks DICOM it is announced then. Bounded (MAX_TRACKED, oldest forgotten).
   */
  private readonly waiting = new Set<string>();

  constructor(private readonly ctx: RuleContext) {}

  onEndpoints(o: AssociationObservation | DimseObservation): void {
    if (this.waiting.size === 0) return;
    for (const ep of [o.client, o.server]) {
      const id = this.ctx.id(ep);
      if (!this.waiting.has(id)) continue;
      this.waiting.delete(id);
      const d = this.ctx.inventory.device(id);
      if (d) this.announce(d, o.tsMicros);
    }
  }

  onNewDevice(d: DeviceRecord, ts: number): void {
    if (!this.ctx.inventory.isDicomDevice(d)) {
      if (this.waiting.size >= MAX_TRACKED) this.waiting.delete(this.waiting.values().next().value as string);
      this.waiting.add(d.id);
      return;
    }
    this.announce(d, ts);
  }

  private announce(d: DeviceRecord, ts: number): void {
    this.ctx.hit({
      rule: "inventory.new-device",
      severity: "info",
      device: d.id,
      peer: null,
      key: "new",
      title: `New DICOM device ${d.ip}${d.aeTitles.length ? ` (${d.aeTitles.join(", ")})` : ""}`,
      ts,
      aeTitles: d.aeTitles,
      details: { ip: d.ip, mac: d.mac },
      signature: "new",
    });
  }
}
