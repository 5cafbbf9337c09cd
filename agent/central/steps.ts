/**
 * The remediation steps a finding points to (DESIGN.md §1 and §5 "points to"), for the central console's
 * overview ("open findings by remediation step") and its findings filter. A hospital's security team works
 * by fix, not by rule: one firewall change closes every external-peer, AE-scan and scanner finding of a
 * room, so the console counts findings under the five fixes the issue names. Rules whose first remedy is
 * none of the five (patching, inventory, investigation) count as "other".
 *
 * Rule ids are stable (DESIGN.md §5); a rule this table does not know (a newer sensor's) is "other" until
 * it is added here, which changes only how it is grouped, never whether it is shown. The step is stored
 * in each finding's row when it is written (agent/central/store.ts), so a change here applies to findings
 * written after it.
 */

/** The five remediation steps, in the order DESIGN.md §1 gives them. */
export const REMEDIATION_STEPS = [
  { id: "firewall", label: "Firewall external access" },
  { id: "close-ports", label: "Close unneeded ports" },
  { id: "vpn", label: "VPN for remote access" },
  { id: "access-control", label: "Role-based access and IP allowlists" },
  { id: "tls", label: "DICOM over TLS" },
] as const;

export type StepId = (typeof REMEDIATION_STEPS)[number]["id"];

/** A step id or "other", as stored in findings.step. */
export type FindingStep = StepId | "other";

/** Every value of findings.step, for validating the API's filter. */
export const FINDING_STEPS: readonly FindingStep[] = [...REMEDIATION_STEPS.map((s) => s.id), "other"];

/**
 * Each rule's step: the first of the five in its "points to" column of DESIGN.md §5 (so dicom.cleartext,
 * "TLS, VPN", is "tls"). Where the table lists a group of rules with "close ports, VPN", the external
 * remote-access rule is "vpn" (the fix for remote access from outside is a VPN, not closing the service
 * the vendor needs) and the others "close-ports"; net.port-outside-profile is "close-ports" (a port the
 * vendor's profile does not list is a port to close), the baseline departures "access-control".
 */
const STEP_OF_RULE: Readonly<Record<string, StepId>> = {
  "dicom.cleartext": "tls",
  "dicom.external-peer": "firewall",
  "dicom.any-ae-accepted": "access-control",
  "dicom.ae-scan": "firewall",
  "dicom.scanner": "firewall",
  "dicom.cleartext-credentials": "tls",
  "dicom.bulk-query": "access-control",
  "dicom.unknown-move-destination": "access-control",
  "dicom.default-port": "close-ports",
  "net.risky-service": "close-ports",
  "tls.weak": "tls",
  "dicom.duplicate-ae-title": "access-control",
  "net.smbv1": "close-ports",
  "net.rdp-weak-security": "close-ports",
  "net.vnc": "close-ports",
  "net.vnc-no-auth": "close-ports",
  "net.cleartext-login": "close-ports",
  "net.remote-access-external": "vpn",
  "baseline.new-peer": "access-control",
  "baseline.new-service": "access-control",
  "baseline.new-operation": "access-control",
  "net.port-outside-profile": "close-ports",
  // Not listed, so "other": dicom.vulnerable-implementation, os.unsupported, os.vulnerable (patching),
  // dicom.malformed (investigate), inventory.new-device (inventory).
};

/** The remediation step a finding of `rule` points to. */
export function stepOf(rule: string): FindingStep {
  return Object.hasOwn(STEP_OF_RULE, rule) ? STEP_OF_RULE[rule]! : "other";
}

/** The label of a step ("Other" for findings that point to none of the five). */
export function stepLabel(step: FindingStep): string {
  return REMEDIATION_STEPS.find((s) => s.id === step)?.label ?? "Other";
}
