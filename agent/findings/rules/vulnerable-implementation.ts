/**
 * dicom.vulnerable-implementation: an association's requestor or acceptor announces the Implementation
 * Class UID / Implementation Version Name (PS3.7 D.3.3.2, D.3.3.2.1) of a DICOM stack with known CVEs
 * (inventory/toolkit.ts). One finding per device and toolkit version; raised from accepted associations
 * that are not a scanner's (a scanner's announced identity is borrowed, not the device's).
 * Points to: patching (DESIGN.md §5).
 */
import type { Endpoint } from "../../reassembly/types.js";
import type { ImplementationInfo } from "../../report/types.js";
import { recogniseToolkit, vulnerabilitiesOf, type ToolkitInfo } from "../../inventory/toolkit.js";
import type { AssociationEvent, Rule, RuleContext } from "./context.js";

/**
 * The finding's rule-specific evidence, built in this one place: what was announced, the toolkit it names,
 * its CVEs, and the caveat that an announced version may carry backported fixes.
 */
function details(
  impl: ImplementationInfo,
  tk: ToolkitInfo,
  vulns: ReturnType<typeof vulnerabilitiesOf>,
): Record<string, unknown> {
  return {
    implementationClassUid: impl.implementationClassUid,
    implementationVersionName: impl.implementationVersionName,
    toolkit: tk,
    cves: vulns.map((v) => ({ cve: v.cve, cvss: v.cvss, summary: v.summary, source: v.source })),
    note: "version as announced on the wire; vendors and distributions may have backported fixes",
  };
}

export class VulnerableImplementationRule implements Rule {
  readonly ids = ["dicom.vulnerable-implementation"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onAssociation(a: AssociationEvent): void {
    if (!a.accepted || a.scanner) return;
    this.judge(a.o.client, a.o.record.requestor, a.ts, a.flow);
    this.judge(a.o.server, a.o.record.acceptor, a.ts, a.flow);
  }

  private judge(ep: Endpoint, impl: ImplementationInfo | null, ts: number, flow: string): void {
    if (!impl) return;
    const tk = recogniseToolkit(impl.implementationClassUid, impl.implementationVersionName);
    if (!tk) return;
    const vulns = vulnerabilitiesOf(tk);
    if (vulns.length === 0) return;
    const cves = vulns.map((v) => v.cve);
    this.ctx.hit({
      rule: "dicom.vulnerable-implementation",
      severity: "medium",
      device: this.ctx.id(ep),
      peer: null,
      key: `${tk.name} ${tk.version ?? ""}`,
      title: `${ep.ip} runs ${tk.name} ${tk.version} with ${cves.length} known vulnerabilities`,
      ts,
      flow,
      counts: { associations: 1 },
      details: details(impl, tk, vulns),
      signature: cves.join(","),
    });
  }
}
