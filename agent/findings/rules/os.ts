/**
 * os.unsupported and os.vulnerable (issue 11): a device whose own traffic shows an operating system past
 * its end of support, or a Windows build that data/windows-builds.json ties to a wormable vulnerability
 * (MS17-010 EternalBlue, BlueKeep, DejaBlue, SMBGhost). Judged for the sender of every host observation
 * and for the server of a service, after the inventory has folded it, so a finding follows the evidence
 * as it grows: a device first known by its NTLM version becomes "high" once it is seen offering SMB or
 * RDP, the doors those flaws come in by. os.vulnerable is low while no door is seen, medium with one open
 * on a supported system, high with one open on an unsupported system.
 *
 * Only an OS named with medium or high confidence is judged (a TTL or a DHCP vendor class alone names a
 * family, never a version). End of support is compared with the capture's time, so an old capture is
 * judged as of when it was made. A build cannot show the patch level (the update revision is not on the
 * wire): os.vulnerable says so, and asks for the update to be checked, not assumed missing.
 * Points to: close unneeded ports (SMB, RDP) and update or isolate (DESIGN.md §5).
 */
import type { HostObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import type { RemoteAccessRecord } from "../../inventory/record.js";
import type { WormableCve } from "../../inventory/os.js";
import { isoFromMicros } from "../../util/time.js";
import type { Severity } from "../severity.js";
import { isServiceEvent } from "../../inventory/host.js";
import { MAX_TRACKED, type Rule, type RuleContext } from "./context.js";

/** Whether the service a vulnerability needs is offered by the device. */
export function conditionMet(condition: string, remote: readonly RemoteAccessRecord[]): boolean {
  const offers = (p: string, security?: (s: string | null) => boolean): boolean =>
    remote.some(
      (r) => r.role === "server" && r.protocol === p && (security === undefined || security(r.security)),
    );
  switch (condition) {
    case "smbv1":
      return offers("smb", (s) => s === "SMB1");
    case "smb311-compression":
      return offers("smb", (s) => s === "SMB 3.1.1 with compression");
    case "smb":
      return offers("smb");
    case "rdp":
      return offers("rdp");
    default:
      return false;
  }
}

/** A device still seen is judged again after this much capture time (one hour). */
const REJUDGE_MICROS = 3_600_000_000;

export class OsRules implements Rule {
  readonly ids = ["os.unsupported", "os.vulnerable"] as const;
  /**
   * What each device was last judged on (its OS, the doors it offers, the time's side of its end of
   * support), and when: a device's every SMB session or SYN does not make its finding count up; a change
   * of what the finding says does, and so does the device still being seen after REJUDGE_MICROS (so the
   * finding's lastSeen follows the device). Bounded (MAX_TRACKED, the oldest forgotten).
   */
  private readonly judged = new Map<string, { basis: string; ts: number; revision: number }>();

  constructor(private readonly ctx: RuleContext) {}

  onHost(o: HostObservation): void {
    // A SYN's TTL never names a version: nothing to judge (and a SYN flood must cost nothing here).
    if (o.event.kind === "tcp-syn") return;
    this.judge(o.host, o.tsMicros);
    // A service event also changes what its server offers (the doors that make a finding worse).
    const server = o.hostIsServer ? null : o.peer;
    if (server !== null && isServiceEvent(o.event)) this.judge(server, o.tsMicros);
  }

  private judge(ep: Endpoint, ts: number): void {
    const id = this.ctx.id(ep);
    // Nothing moved in what the inventory knows of the host: no record to build (the common case).
    const revision = this.ctx.inventory.hostRevision(ep);
    const seen = this.judged.get(id);
    if (revision === 0 || (seen !== undefined && seen.revision === revision && ts - seen.ts < REJUDGE_MICROS))
      return;
    const d = this.ctx.inventory.device(id);
    const os = d?.os;
    if (!d || !os || os.confidence === "low" || os.name === null) return;
    const offered = d.remoteAccess.filter(
      (r) => r.role === "server" && (r.protocol === "smb" || r.protocol === "rdp"),
    );
    const doors = [...new Set(offered.map((r) => r.protocol.toUpperCase()))];
    const details = {
      os: {
        name: os.name,
        version: os.version,
        build: os.build,
        edition: os.edition,
        confidence: os.confidence,
        endOfSupport: os.endOfSupport,
        evidence: os.evidence,
      },
      services: offered.map(
        (r) => `${r.protocol.toUpperCase()} on port ${r.port}${r.security ? ` (${r.security})` : ""}`,
      ),
    };
    const today = isoFromMicros(ts).slice(0, 10);
    const basis = [
      os.name,
      os.build,
      os.confidence,
      os.endOfSupport !== null && os.endOfSupport < today,
      ...d.remoteAccess.map((r) => `${r.protocol}/${r.port}/${r.role}/${r.security}`),
    ].join("|");
    const last = this.judged.get(id);
    if (last !== undefined && last.basis === basis && ts - last.ts < REJUDGE_MICROS) {
      last.revision = revision;
      return;
    }
    if (last === undefined && this.judged.size >= MAX_TRACKED)
      this.judged.delete(this.judged.keys().next().value as string);
    this.judged.set(id, { basis, ts, revision });
    const unsupported = os.endOfSupport !== null && os.endOfSupport.slice(0, 10) < today;
    if (os.endOfSupport !== null && unsupported) {
      const severity: Severity = doors.length > 0 ? "high" : "medium";
      this.ctx.hit({
        rule: "os.unsupported",
        severity,
        device: id,
        peer: null,
        key: "os",
        title:
          `${d.ip} runs ${os.name}${os.build !== null ? ` (build ${os.build})` : ""}, out of support since ${os.endOfSupport.slice(0, 10)}` +
          (doors.length > 0 ? `, and offers ${doors.join(" and ")}` : ""),
        ts,
        details,
        signature: `${os.name}|${doors.join(",")}`,
      });
    }
    if (os.wormableCves.length > 0) {
      const reachable = os.wormableCves.filter((c: WormableCve) => conditionMet(c.condition, d.remoteAccess));
      // A supported build is most likely patched (its updates exist): low unless the vulnerability's door
      // is open; medium when it is; high when it is and the system gets no updates any more.
      const severity: Severity = reachable.length === 0 ? "low" : unsupported ? "high" : "medium";
      const ids = os.wormableCves.map((c) => c.id);
      this.ctx.hit({
        rule: "os.vulnerable",
        severity,
        device: id,
        peer: null,
        key: "os",
        title:
          `${d.ip} (${os.name}${os.build !== null ? ` build ${os.build}` : ""}) is exposed to ${ids.join(", ")} unless patched` +
          (reachable.length > 0
            ? `; reachable through ${[...new Set(reachable.map((c) => c.condition))].join(", ")}`
            : ""),
        ts,
        details: {
          ...details,
          cves: os.wormableCves,
          reachable: reachable.map((c) => c.id),
          patchLevel:
            "not visible on the wire (the build carries no update revision): check the installed updates",
        },
        signature: `${ids.join(",")}|${reachable.map((c) => c.id).join(",")}`,
      });
    }
  }
}
