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
import { BoundedMap } from "../bounded.js";
import type { AssociationEvent, Rule, RuleContext } from "./context.js";

/** What one toolkit version's findings share: the CVE list of their evidence and the finding's signature. */
interface Advisory {
  cves: readonly { cve: string; cvss: number | null; summary: string; source: string }[];
  ids: readonly string[];
}

/** Toolkit versions whose advisory is kept; the versions come from the wire, so they are capped. */
const MAX_ADVISORIES = 256;

/**
 * The finding's rule-specific evidence, built in this one place: what was announced, the toolkit it names,
 * its CVEs (one frozen list per toolkit version, shared by every device's finding: a flood of associations
 * from thousands of addresses must not copy the advisories' text thousands of times, issue 9), and the
 * caveat that an announced version may carry backported fixes.
 */
function details(impl: ImplementationInfo, tk: ToolkitInfo, advisory: Advisory): Record<string, unknown> {
  return {
    implementationClassUid: impl.implementationClassUid,
    implementationVersionName: impl.implementationVersionName,
    toolkit: tk,
    cves: advisory.cves,
    note: "version as announced on the wire; vendors and distributions may have backported fixes",
  };
}

export class VulnerableImplementationRule implements Rule {
  readonly ids = ["dicom.vulnerable-implementation"] as const;

  private readonly advisories = new BoundedMap<string, Advisory | null>(MAX_ADVISORIES);

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
    const key = `${tk.name} ${tk.version ?? ""}`;
    const advisory = this.advisory(key, tk);
    if (advisory === null) return;
    this.ctx.hit({
      rule: "dicom.vulnerable-implementation",
      severity: "medium",
      device: this.ctx.id(ep),
      peer: null,
      key,
      title: `${ep.ip} runs ${tk.name} ${tk.version} with ${advisory.ids.length} known vulnerabilities`,
      ts,
      flow,
      counts: { associations: 1 },
      details: details(impl, tk, advisory),
      signature: advisory.ids.join(","),
    });
  }

  /** The toolkit version's advisory (null: no known CVE), made once per version. */
  private advisory(key: string, tk: ToolkitInfo): Advisory | null {
    let a = this.advisories.get(key);
    if (a === undefined) {
      const vulns = vulnerabilitiesOf(tk);
      a =
        vulns.length === 0
          ? null
          : {
              cves: Object.freeze(
                vulns.map((v) =>
                  Object.freeze({ cve: v.cve, cvss: v.cvss, summary: v.summary, source: v.source }),
                ),
              ),
              ids: Object.freeze(vulns.map((v) => v.cve)),
            };
      this.advisories.set(key, a);
    }
    return a;
  }
}
