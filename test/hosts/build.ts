/** Host observations for the inventory and findings tests of issue 11 (what the router emits). */
import type { HostEvent, NtlmEvent } from "../../agent/hosts/types.js";
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
