/**
 * inventory.new-device: a DICOM device seen for the first time (one info finding per device). The engine
 * notices new devices by the inventory's size after each observation and hands each to the rules'
 * onNewDevice once it speaks DICOM (a host listed from its system's traffic alone waits until it does).
 * Points to: inventory (DESIGN.md §5).
 */
import type { DeviceRecord } from "../../report/types.js";
import type { Rule, RuleContext } from "./context.js";

export class NewDeviceRule implements Rule {
  readonly ids = ["inventory.new-device"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onNewDevice(d: DeviceRecord, ts: number): void {
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
