/** Host observations for the inventory and findings tests of issue 11 (what the router emits). */
import { validateConfig } from "../../agent/config/config.js";
import type { HostEvent, NtlmEvent, TcpFingerprintEvent } from "../../agent/hosts/types.js";
import type { InventoryDevice } from "../../agent/inventory/record.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { Report } from "../../agent/report/types.js";
import type { HostObservation } from "../../agent/observations/types.js";
import type { Endpoint } from "../../agent/reassembly/types.js";
import { at } from "../inventory/build.js";

/** An event sent by `host` (the server of the connection when hostIsServer) to `peer`. */
export function hostObs(
  host: Endpoint,
  peer: Endpoint | null,
  event: HostEvent,
  o: { server?: boolean; ts?: number } = {},
): HostObservation {
  return { kind: "host", tsMicros: o.ts ?? at(1), host, peer, hostIsServer: o.server ?? false, event };
}

/** An NTLMSSP message with a VERSION. */
export function ntlm(
  message: 1 | 2 | 3,
  major: number,
  minor: number,
  build: number,
  extra: Partial<NtlmEvent> = {},
): NtlmEvent {
  return {
    kind: "ntlmssp",
    message,
    version: { major, minor, build, revision: 15 },
    flags: 0x02000000,
    target: null,
    workstation: null,
    carrier: "smb",
    ...extra,
  };
}

/** An SMB NEGOTIATE response choosing `dialect`. */
export function smbChosen(smb: 1 | 2, dialect: string): HostEvent {
  return {
    kind: "smb-negotiate",
    smb,
    request: false,
    dialects: [dialect],
    capabilities: null,
    signingRequired: null,
    compression: [],
  };
}

/**
 * A config whose internal networks are everything: the third-party captures use public addresses in
 * places, and a host is inventoried from its system's traffic only inside the internal networks.
 */
export const EVERYTHING_INTERNAL = validateConfig({
  sensor: { id: "s", site: "x" },
  networks: { internal: ["0.0.0.0/0", "::/0"] },
});

/** The report `analyze` makes of one capture, with EVERYTHING_INTERNAL. */
export async function reportOf(path: string): Promise<Report> {
  return (await analyzeFiles([path], { config: EVERYTHING_INTERNAL })).report;
}

/** The device of an address in a report (throws, naming the devices there, when it has none). */
export function deviceAt(r: Report, ip: string): InventoryDevice {
  const d = r.devices.find((x) => x.ip === ip) as InventoryDevice | undefined;
  if (!d) throw new Error(`no device ${ip} in ${r.devices.map((x) => x.ip).join(", ")}`);
  return d;
}

/** The findings of a report beyond the DICOM ones and new devices, as "rule:severity", sorted. */
export const hostRules = (r: Report): string[] =>
  r.findings
    .filter((f) => !f.rule.startsWith("dicom.") && f.rule !== "inventory.new-device")
    .map((f) => `${f.rule}:${f.severity}`)
    .sort();

/** A Windows-like SYN fingerprint event (initial TTL 128). */
export function windowsSyn(): TcpFingerprintEvent {
  return {
    kind: "tcp-syn",
    synAck: false,
    ttl: 127,
    initialTtl: 128,
    window: 64240,
    mss: 1460,
    windowScale: 8,
    options: "MNWNNS",
    family: "windows",
  };
}

/** A host announcement of a Windows workstation (SV_TYPE_NT | workstation | server service bits). */
export function browserAnnouncement(major: number, minor: number, serverName = "CT-CONSOLE"): HostEvent {
  return {
    kind: "browser",
    opcode: 1,
    serverName,
    osMajor: major,
    osMinor: minor,
    serverType: 0x1003,
    comment: null,
  };
}
