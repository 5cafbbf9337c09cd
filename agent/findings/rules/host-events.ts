/**
 * What the remote-access rules (smbv1.ts, rdp-weak-security.ts, vnc.ts, cleartext-login.ts,
 * remote-access-external.ts) and the engine (the connection a failing rule is counted on) need of a host
 * observation: its connection's two ends, whichever sent it.
 */
import type { HostObservation } from "../../observations/types.js";
import type { Endpoint } from "../../reassembly/types.js";
import { formatFlow } from "../../util/flow.js";

export interface ServiceEnds {
  server: Endpoint;
  client: Endpoint;
  flow: string;
}

/** The server and client of the connection that carried the event; null for a datagram. */
export function serviceEnds(o: HostObservation): ServiceEnds | null {
  if (o.peer === null) return null;
  const server = o.hostIsServer ? o.host : o.peer;
  const client = o.hostIsServer ? o.peer : o.host;
  return { server, client, flow: formatFlow(client, server) };
}
