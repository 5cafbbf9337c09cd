/**
 * One spelling for endpoints and flows, everywhere a flow is written down (report, anomalies, findings'
 * evidence, MQTT payloads, logs): "IP:PORT" with an IPv6 address in brackets (RFC 3986 §3.2.2, as
 * URLs write it), and a flow as "CLIENT-SERVER", client first. The spelling splits back with parseFlow.
 */

export interface FlowEndpoint {
  ip: string;
  port: number;
}

/** "10.0.0.1:104" or "[fd77::10]:104". */
export function formatEndpoint(e: FlowEndpoint): string {
  return e.ip.includes(":") ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/**
 * "CLIENT-SERVER", each as formatEndpoint writes it. join() makes one flat string (a template literal
 * would keep a rope of a node per part): every open connection keeps its flow, thousands at once.
 */
export function formatFlow(client: FlowEndpoint, server: FlowEndpoint): string {
  return [formatEndpoint(client), formatEndpoint(server)].join("-");
}

const ENDPOINT = String.raw`(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d{1,5})`;
const FLOW = new RegExp(`^${ENDPOINT}-${ENDPOINT}$`);

/** The two endpoints of a flow written by formatFlow, or null for anything else. */
export function parseFlow(flow: string): { client: FlowEndpoint; server: FlowEndpoint } | null {
  const m = FLOW.exec(flow);
  if (!m) return null;
  const ip = (s: string): string => (s.startsWith("[") ? s.slice(1, -1) : s);
  return {
    client: { ip: ip(m[1]!), port: Number(m[2]) },
    server: { ip: ip(m[3]!), port: Number(m[4]) },
  };
}
