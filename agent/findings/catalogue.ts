/**
 * The rule catalogue (DESIGN.md §5): stable rule ids and their one-sentence remediations, and the shape of
 * what a rule raises (Hit) and of the evidence a finding carries. The rules themselves live in rules/, one
 * module per rule id (or per tight family); the engine (engine.ts) folds their hits into findings.
 */
import type { Severity } from "./severity.js";

/** The rule catalogue: stable ids and their one-sentence remediations (DESIGN.md §5). */
export const RULES = {
  "dicom.cleartext":
    "Protect DICOM with TLS (PS3.15 Annex B, port 2762) or carry it over a VPN between sites.",
  "dicom.external-peer":
    "Block DICOM from outside the internal networks at the firewall, or allow named peers only, through a VPN.",
  "dicom.any-ae-accepted":
    "Configure the SCP to accept only its own called AE title and an allowlist of calling AE titles and addresses.",
  "dicom.ae-scan":
    "Find and stop the source, and block it at the firewall; restrict the SCP to known AE titles.",
  "dicom.scanner": "Identify the scanning host; if not an authorised test, block it at the firewall.",
  "dicom.cleartext-credentials":
    "Send user identity only over DICOM TLS, and change the passcode that crossed the network in clear.",
  "dicom.bulk-query":
    "Check that the querying AE is authorised for bulk access, and limit query scope and volume with role-based access.",
  "dicom.unknown-move-destination":
    "Restrict C-MOVE destinations on the SCP to a configured list of AE titles and addresses.",
  "dicom.vulnerable-implementation":
    "Update the DICOM software to a fixed version (ask the vendor whether it carries the fixes).",
  "dicom.default-port":
    "Close port 104 where DICOM is served on another port, or move DICOM to TLS on port 2762.",
  "net.risky-service":
    "Close or firewall this service on the imaging device; use the vendor's remote-service gateway instead.",
  "net.port-outside-profile":
    "Close unneeded ports: close or firewall this port, which the vendor's profile for the device does not list, or record it in policy.approvedPorts if the site needs it.",
  "dicom.malformed": "Identify the sender of malformed DICOM and check the receiving device for updates.",
  "tls.weak":
    "Use TLS 1.2 or later with an encrypting, authenticated cipher suite (no NULL, anonymous, export, RC4 or DES) and a certificate from the site's CA with an RSA key of 2048 bits or more, within its validity period.",
  "inventory.new-device": "Confirm the new device is expected and record it in the asset inventory.",
  "os.unsupported":
    "Upgrade the system to a supported version (or get the vendor's extended support); until then isolate it: no SMB or RDP from the network, firewall it to its DICOM peers.",
  "os.vulnerable":
    "Install the security update that fixes these vulnerabilities (check with the vendor that it is approved for the device), and close SMB and RDP to the network until it is in.",
  "net.smbv1":
    "Disable SMBv1 on the device and its peers, and use SMB 3 with signing; ask the vendor for the supported setting.",
  "net.rdp-weak-security":
    "Require Network Level Authentication (CredSSP) for RDP, and reach the device only through the vendor's remote-service gateway or a VPN.",
  "net.vnc-no-auth":
    "Turn off VNC or require a strong password and TLS (VeNCrypt); reach it only through a VPN or the vendor's gateway.",
  "net.vnc":
    "Close VNC on the imaging network, or reach it only through a VPN or the vendor's remote-service gateway.",
  "net.cleartext-login":
    "Replace FTP and Telnet with SFTP or SSH (or FTPS), and change the password that crossed the network in clear.",
  "net.remote-access-external":
    "Firewall remote access to imaging devices from outside the internal networks; use a VPN or the vendor's remote-service gateway with role-based access.",
  "dicom.duplicate-ae-title":
    "Give every DICOM node its own AE title, and on the SCPs allow each title only from its own address (AE title and IP allowlists).",
  "baseline.new-peer":
    "Confirm the new peer is authorised; if so approve it into the baseline and the service's allowlist, if not block it at the firewall and on the SCP.",
  "baseline.new-service":
    "Confirm the device is meant to serve or use this port; if not close it, and if so approve it into the baseline and the firewall rules.",
  "baseline.new-operation":
    "Confirm the peer is meant to use this operation (role-based access: who may store, query or retrieve); if not restrict it on the SCP.",
} as const;
export type RuleId = keyof typeof RULES;

/** Evidence common to all findings; rule-specific facts go alongside. */
export interface Evidence {
  flows: string[];
  /** The first MAX_LIST distinct AE titles, in the order seen; frozen once full (see FindingsEngine.hit). */
  aeTitles: string[];
  /**
   * AE titles met after aeTitles was full, counted per occurrence (telling them apart would need the
   * unbounded memory the cap is there to avoid). Absent while nothing overflowed.
   */
  aeTitlesNotListed?: number;
  counts: Record<string, number>;
  firstSeen: string;
  lastSeen: string;
  [detail: string]: unknown;
}

/** What a rule raises; the engine folds it into the finding of (rule, device, peer, key). */
export interface Hit {
  rule: RuleId;
  severity: Severity;
  device: string | null;
  peer: string | null;
  key: string;
  title: string;
  ts: number;
  flow?: string | null;
  aeTitles?: (string | null)[];
  /** Counters to add to evidence.counts. */
  counts?: Record<string, number>;
  /** Rule-specific evidence to set (replaces previous values of those fields). */
  details?: Record<string, unknown>;
  /** Key evidence: a change re-raises the finding. Defaults to the AE titles and the title. */
  signature?: string;
}
