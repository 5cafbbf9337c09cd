/**
 * The console's client of the central's `/api/v1/` (issue 12): the shapes it answers with, and one
 * `request` that sends the session cookie (same origin) and, on every state-changing request, the session's
 * CSRF token in `X-CSRF-Token`, which the server requires of cookie sessions. A 401 means the session ended
 * (expired, logged out elsewhere): the app goes back to its login page.
 */

export type Role = "viewer" | "analyst" | "admin";
export type Severity = "info" | "low" | "medium" | "high" | "critical";
export type FindingState = "open" | "acknowledged" | "risk-accepted" | "resolved";

/** Severities, most severe first: the order of every list and chart. */
export const SEVERITIES: readonly Severity[] = ["critical", "high", "medium", "low", "info"];

/** The remediation steps a finding points to (agent/central/steps.ts), in the order of the design. */
export const STEPS: readonly { id: string; label: string; short: string }[] = [
  { id: "firewall", label: "Firewall external access", short: "Firewall" },
  { id: "close-ports", label: "Close unneeded ports", short: "Close ports" },
  { id: "vpn", label: "VPN for remote access", short: "VPN" },
  { id: "access-control", label: "Role-based access, IP allowlists", short: "Access control" },
  { id: "tls", label: "DICOM over TLS", short: "DICOM TLS" },
  { id: "other", label: "Other: patching, inventory", short: "Other" },
];

export function stepLabel(id: string | null | undefined): string {
  return STEPS.find((st) => st.id === id)?.label ?? id ?? "—";
}

/** The step's short name, for table cells and filters. */
export function stepShort(id: string | null | undefined): string {
  return STEPS.find((st) => st.id === id)?.short ?? id ?? "—";
}

export interface Session {
  user: string;
  role: Role;
  csrfToken: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface SensorHealth {
  time?: string;
  uptimeSeconds?: number;
  capture?: { packets?: number; bytes?: number; drops?: number; kernelDrops?: number };
  outbox?: { depth?: number };
  system?: { loadPercent?: number | null; temperatureC?: number | null };
  [extra: string]: unknown;
}

export interface Sensor {
  pk?: number;
  site: string;
  sensor: string;
  state: "online" | "offline" | "unknown";
  version: string | null;
  startedAt: string | null;
  stateAt: string | null;
  lastMessageAt: string | null;
  health: SensorHealth | null;
  healthAt: string | null;
}

export interface DeviceRow {
  pk: number;
  id: string;
  site: string;
  sensor: string;
  ip: string | null;
  mac: string | null;
  class: string | null;
  modality: string | null;
  manufacturer: string | null;
  model: string | null;
  toolkit: string | null;
  aeTitles: string[] | string;
  ports: number[] | string;
  peerCount: number;
  exposure: "internal" | "external";
  firstSeen: string | null;
  lastSeen: string | null;
  openFindings: number;
}

export interface DevicePeer {
  id: string;
  pk: number | null;
  ip?: string | null;
  aeTitles?: string[] | string | null;
  class?: string | null;
  [extra: string]: unknown;
}

export interface DriftRow {
  at: string;
  field: string;
  change: "added" | "removed" | "changed" | string;
  value: string;
  previous: string | null;
}

export interface DeviceDetail extends DeviceRow {
  record: Record<string, unknown>;
  findings: FindingRow[];
  peers: DevicePeer[];
  history: DriftRow[];
}

export interface RiskAcceptance {
  by: string;
  reason: string;
  expires: string;
}

export interface FindingRow {
  pk: number;
  id: string;
  rule: string;
  severity: Severity;
  state: FindingState;
  lifecycle: "open" | "resolved";
  site: string;
  sensor: string;
  device: string | null;
  devicePk: number | null;
  peer: string | null;
  title: string;
  evidence: unknown;
  remediation: string | null;
  step: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  assignee: string | null;
  riskAcceptance: RiskAcceptance | null;
}

export interface FindingEvent {
  at: string;
  kind: string;
  actor: string | null;
  detail: Record<string, unknown> | string | null;
}

export interface FindingDetail extends FindingRow {
  history: FindingEvent[];
}

export interface User {
  pk: number;
  name: string;
  role: Role;
  createdAt: string;
  disabledAt: string | null;
}

export interface Token {
  pk: number;
  name: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The plan of a site (agent/plan/types.ts Plan, schemas/plan.schema.json): what the Plan page shows. */
export interface PlanPeer {
  ip: string;
  aeTitle: string | null;
  internal: boolean;
  operations: string[];
  moveDestinations: string[];
  associations: number;
  firstSeen: string;
  lastSeen: string;
}

export interface Plan {
  version: number;
  site: string | null;
  generatedAt: string;
  source: { window: { start: string | null; end: string | null }; baselineStatus: string };
  internal: string[];
  exceptions: Array<{ peer: string; server: string; port: number | null; reason: string }>;
  exposure: {
    exposed: Array<{
      ip: string;
      port: number;
      aeTitles: string[];
      peers: Array<{
        ip: string;
        aeTitles: string[];
        associations: number;
        excepted: boolean;
        firstSeen: string;
        lastSeen: string;
      }>;
      firstSeen: string;
      lastSeen: string;
    }>;
    protect: string[];
  };
  portsToClose: Array<{
    ip: string;
    port: number;
    reason: string;
    listening: boolean;
    connections: number;
    profile: string | null;
    detail: string;
  }>;
  allowlists: Array<{
    ip: string;
    port: number;
    aeTitle: string | null;
    tls: boolean;
    product: string | null;
    peers: PlanPeer[];
    firstSeen: string;
    lastSeen: string;
  }>;
  encryption: {
    cleartext: Array<{
      server: string;
      port: number;
      aeTitle: string | null;
      peer: string;
      peerAeTitle: string | null;
      external: boolean;
      credentialsInClear: number;
      associations: number;
      operations: string[];
      rank: number;
      why: string;
    }>;
    tls: Array<{ ip: string; port: number; peers: string[] }>;
  };
  truncated: { services: number; peers: number; devices: number };
}

/** One sensor's baseline (GET /sites/{site}/baselines). */
export interface BaselineItem {
  sensor: string;
  status: "learning" | "learned" | "approved";
  window: { start: string | null; end: string | null; days: number };
  approved: { by: string; at: string; note: string | null } | null;
  services: number;
  peers: number;
  devices: number;
  bytes: number;
  receivedAt: string;
  changedAt: string;
}

export interface SiteBaselines {
  site: string;
  sensors: string[];
  items: BaselineItem[];
  merged: {
    status: BaselineItem["status"];
    window: BaselineItem["window"];
    approved: BaselineItem["approved"];
  } | null;
  notes: string[];
}

/** The plan's download formats (?format=), with the label and what each is for. */
export const PLAN_FORMATS: readonly { id: string; label: string; note: string }[] = [
  { id: "md", label: "Markdown", note: "the plan for people" },
  { id: "json", label: "JSON", note: "for plan --check and scripts" },
  { id: "nft", label: "nftables", note: "table inet dicomtap" },
  { id: "csv", label: "CSV", note: "source, destination, port, operation, reason" },
  { id: "orthanc", label: "Orthanc", note: "DicomModalities" },
  { id: "dcmqrscp", label: "dcmqrscp", note: "dcmtk AE configuration" },
];

/** An answer other than 2xx: the status and the server's {error, detail}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail: string | null,
  ) {
    super(detail ? `${error}: ${detail}` : error);
  }
}

const BASE = "/api/v1";
let csrf: string | null = null;
let onUnauthorized: () => void = () => undefined;

/** What the app does when a request answers 401 (the session ended). */
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export function setCsrf(token: string | null): void {
  csrf = token;
}

/** `/api/v1` + path + the query's non-empty values. */
export function apiUrl(path: string, query: Record<string, string | number | null | undefined> = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== null && v !== undefined && v !== "") qs.set(k, String(v));
  }
  const q = qs.toString();
  return `${BASE}${path}${q ? `?${q}` : ""}`;
}

/** A GET whose answer is text (a plan rendered as nftables, Markdown ...). */
export async function requestText(
  path: string,
  query: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<string> {
  const res = await fetch(apiUrl(path, query), { credentials: "same-origin", signal });
  const text = await res.text();
  if (!res.ok) {
    let e: { error?: unknown; detail?: unknown } = {};
    try {
      e = JSON.parse(text) as typeof e;
    } catch {
      // Not the API's JSON error.
    }
    if (res.status === 401) onUnauthorized();
    throw new ApiError(
      res.status,
      typeof e.error === "string" ? e.error : res.statusText || `HTTP ${res.status}`,
      typeof e.detail === "string" ? e.detail : null,
    );
  }
  return text;
}

export async function request<T>(
  method: "GET" | "POST" | "DELETE",
  path: string,
  options: {
    query?: Record<string, string | number | null | undefined>;
    body?: unknown;
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET" && csrf !== null) headers["X-CSRF-Token"] = csrf;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const res = await fetch(apiUrl(path, options.query), {
    method,
    headers,
    body,
    credentials: "same-origin",
    signal: options.signal,
  });
  const text = await res.text();
  let data: unknown = null;
  if (text !== "") {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = (data ?? {}) as { error?: unknown; detail?: unknown };
    const err = new ApiError(
      res.status,
      typeof e.error === "string" ? e.error : res.statusText || `HTTP ${res.status}`,
      typeof e.detail === "string" ? e.detail : null,
    );
    if (res.status === 401 && path !== "/session") onUnauthorized();
    throw err;
  }
  return data as T;
}

export const api = {
  session: () => request<Session>("GET", "/session"),
  login: (name: string, password: string) =>
    request<Session>("POST", "/session", { body: { name, password } }),
  logout: () => request<unknown>("DELETE", "/session"),
  overview: (query: { days: number }, signal?: AbortSignal) =>
    request<unknown>("GET", "/overview", { query, signal }),
  sensors: (signal?: AbortSignal) => request<unknown>("GET", "/sensors", { signal }),
  devices: (query: Record<string, string | number>, signal?: AbortSignal) =>
    request<Page<DeviceRow>>("GET", "/devices", { query, signal }),
  device: (pk: string, signal?: AbortSignal) =>
    request<DeviceDetail>("GET", `/devices/${encodeURIComponent(pk)}`, { signal }),
  findings: (query: Record<string, string | number>, signal?: AbortSignal) =>
    request<Page<FindingRow>>("GET", "/findings", { query, signal }),
  finding: (pk: string, signal?: AbortSignal) =>
    request<FindingDetail>("GET", `/findings/${encodeURIComponent(pk)}`, { signal }),
  act: (pk: number, body: { action: string; assignee?: string; reason?: string; expires?: string }) =>
    request<FindingDetail>("POST", `/findings/${pk}/actions`, { body }),
  plan: (site: string, signal?: AbortSignal) =>
    request<Plan>("GET", `/sites/${encodeURIComponent(site)}/plan`, { signal }),
  planText: (site: string, format: string, signal?: AbortSignal) =>
    requestText(`/sites/${encodeURIComponent(site)}/plan`, { format }, signal),
  baselines: (site: string, signal?: AbortSignal) =>
    request<SiteBaselines>("GET", `/sites/${encodeURIComponent(site)}/baselines`, { signal }),
  users: (signal?: AbortSignal) => request<unknown>("GET", "/users", { signal }),
  addUser: (name: string, role: Role, password: string) =>
    request<unknown>("POST", "/users", { body: { name, role, password } }),
  tokens: (signal?: AbortSignal) => request<unknown>("GET", "/tokens", { signal }),
  addToken: (name: string, role: Role) =>
    request<{ token: string }>("POST", "/tokens", { body: { name, role } }),
  revokeToken: (pk: number) => request<unknown>("DELETE", `/tokens/${pk}`),
  removeUser: (pk: number) => request<unknown>("DELETE", `/users/${pk}`),
};

/** A list answer that may be a bare array or wrapped ({items}). */
export function itemsOf<T>(data: unknown, key = "items"): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data !== null && typeof data === "object") {
    const v = (data as Record<string, unknown>)[key];
    if (Array.isArray(v)) return v as T[];
  }
  return [];
}
