/**
 * The OpenAPI 3.1 document of the central's API, served at /api/v1/openapi.json (issue 12, API), so
 * scripts and the hospital's tools can be written against a description rather than against the code.
 * test/central/openapi.test.ts checks that every route of the server and every query parameter each list
 * accepts is described here, so the document cannot fall behind.
 */
import { ACTIONS } from "./actions.js";
import {
  DEFAULT_LIMIT,
  DEVICE_SORT_KEYS,
  FINDING_SORT_KEYS,
  FINDING_STATES,
  MAX_LIMIT,
  SEVERITIES,
  STEP_IDS,
} from "./queries.js";
import { PLAN_FILES, PLAN_FORMATS } from "./plan.js";

type Json = Record<string, unknown>;

const str = (description: string, extra: Json = {}): Json => ({ type: "string", description, ...extra });
const nullable = (type: string, description: string): Json => ({ type: [type, "null"], description });
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const time = (description: string): Json => ({ type: ["string", "null"], format: "date-time", description });

function query(name: string, schema: Json, description: string): Json {
  return { name, in: "query", required: false, schema, description };
}

const sortParam = (keys: string[], dflt: string): Json =>
  query(
    "sort",
    { type: "string", pattern: `^-?(${keys.join("|")})(,-?(${keys.join("|")})){0,2}$` },
    `Up to three keys, comma-separated; a leading - sorts descending. Default ${dflt}.`,
  );

const PAGING = [
  query(
    "limit",
    { type: "integer", minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
    "Items per page.",
  ),
  query("offset", { type: "integer", minimum: 0, default: 0 }, "Items skipped."),
];

export const DEVICE_FILTER_PARAMS = [
  query(
    "q",
    { type: "string", maxLength: 200 },
    "Text search: IP, MAC, AE titles, manufacturer, model, modality, toolkit, station and host name, class, ports.",
  ),
  query("class", { type: "string" }, "Device class, e.g. modality, archive, workstation."),
  query("modality", { type: "string" }, "DICOM modality, e.g. CT (case-insensitive)."),
  query("manufacturer", { type: "string" }, "Part of the manufacturer's name (case-insensitive)."),
  query("model", { type: "string" }, "Part of the model name (case-insensitive)."),
  query("toolkit", { type: "string" }, "Part of the DICOM toolkit name and version, e.g. dcmtk 3.6."),
  query("ae", { type: "string" }, "An AE title the device uses (whole title, any case)."),
  query("port", { type: "integer", minimum: 1, maximum: 65535 }, "A port the device listens on."),
  query(
    "exposure",
    { type: "string", enum: ["internal", "external"] },
    "external: a DICOM peer outside the internal networks.",
  ),
  query("sensor", { type: "string" }, "Sensor id."),
  query("site", { type: "string" }, "Site."),
  sortParam(DEVICE_SORT_KEYS, "-lastSeen"),
];

export const FINDING_FILTER_PARAMS = [
  query(
    "state",
    { type: "string", enum: [...FINDING_STATES], default: "any" },
    "The finding's state (see Finding.state); unresolved: open, acknowledged or risk-accepted, every finding the sensor still sees (what the overview counts as open).",
  ),
  query(
    "severity",
    { type: "string", pattern: `^(${SEVERITIES.join("|")})(,(${SEVERITIES.join("|")}))*$` },
    "One or more severities, comma-separated.",
  ),
  query("rule", { type: "string" }, "Rule id, e.g. dicom.cleartext."),
  query("step", { type: "string", enum: [...STEP_IDS] }, "The remediation step the finding points to."),
  query("sensor", { type: "string" }, "Sensor id."),
  query("site", { type: "string" }, "Site."),
  query("device", { type: "string" }, "A device's pk (digits) or the sensor's device id."),
  query("assignee", { type: "string" }, "Assigned to."),
  query("q", { type: "string", maxLength: 200 }, "Text search in title, rule, finding id and device id."),
  sortParam(FINDING_SORT_KEYS, "-severity,-lastSeen"),
];

const pkParam = {
  name: "pk",
  in: "path",
  required: true,
  schema: { type: "integer", minimum: 1 },
  description: "Record number.",
};

const siteParam = {
  name: "site",
  in: "path",
  required: true,
  schema: { type: "string", minLength: 1, maxLength: 200 },
  description: "The site (as in the sensors' topics), percent-encoded.",
};

const errors = (...codes: number[]): Json =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description: {
          400: "Bad input: unknown or malformed parameter, wrong body.",
          401: "No credentials, or an unknown or revoked token.",
          403: "Role too low, or (with a session) X-CSRF-Token missing or wrong.",
          404: "No such record.",
          409: "Conflict (the name is taken).",
          429: "Too many failed logins: Retry-After says when to try again.",
        }[c],
        content: { "application/json": { schema: ref("Error") } },
      },
    ]),
  );

const ok = (schema: Json, description = "OK"): Json => ({
  200: { description, content: { "application/json": { schema } } },
});

const page = (item: string): Json => ({
  type: "object",
  required: ["items", "total", "limit", "offset"],
  properties: {
    items: { type: "array", items: ref(item) },
    total: { type: "integer" },
    limit: { type: "integer" },
    offset: { type: "integer" },
  },
});

const list = (item: string): Json => ({
  type: "object",
  required: ["items", "total"],
  properties: { items: { type: "array", items: ref(item) }, total: { type: "integer" } },
});

function exportOp(summary: string, params: Json[], item: string, csv: boolean): Json {
  return {
    get: {
      summary,
      description: "The whole selection, no paging, streamed. Same filters as the list.",
      parameters: params,
      responses: {
        200: {
          description: csv
            ? "RFC 4180 CSV with a header row; cells starting with = + - @ tab or CR are prefixed with ' (formula injection)."
            : "A JSON array.",
          content: csv
            ? { "text/csv": { schema: { type: "string" } } }
            : { "application/json": { schema: { type: "array", items: ref(item) } } },
        },
        ...errors(400, 401, 403),
      },
    },
  };
}

const SCHEMAS: Json = {
  Error: {
    type: "object",
    required: ["error", "detail"],
    properties: {
      error: str("A stable code, e.g. unknown-parameter, csrf, forbidden."),
      detail: str("What is wrong, in a sentence."),
    },
  },
  Session: {
    type: "object",
    required: ["user", "role", "kind", "csrfToken"],
    properties: {
      user: str("User (or token) name."),
      role: { type: "string", enum: ["viewer", "analyst", "admin"] },
      kind: { type: "string", enum: ["session", "token"] },
      csrfToken: nullable(
        "string",
        "Send as X-CSRF-Token with every POST and DELETE of this session; null for a token.",
      ),
      expiresAt: { type: "string", format: "date-time" },
    },
  },
  Sensor: {
    type: "object",
    properties: {
      pk: { type: "integer" },
      site: { type: "string" },
      sensor: { type: "string" },
      state: { type: "string", enum: ["online", "offline", "unknown"] },
      version: nullable("string", "dicomtap version of the sensor."),
      startedAt: time("When the sensor started."),
      stateAt: time("When the state last changed (central time)."),
      lastMessageAt: time("Last valid message (central time)."),
      health: { description: "The last health message (schemas/health.schema.json), or null." },
      healthAt: time("Time of the last health message."),
      devices: { type: "integer" },
      openFindings: { type: "integer" },
    },
  },
  Device: {
    type: "object",
    properties: {
      pk: { type: "integer" },
      id: str("The sensor's device id."),
      site: { type: "string" },
      sensor: { type: "string" },
      ip: nullable("string", "IP address."),
      mac: nullable("string", "MAC address."),
      class: nullable("string", "Device class."),
      modality: nullable("string", "Modality."),
      manufacturer: nullable("string", "Manufacturer."),
      model: nullable("string", "Model."),
      toolkit: nullable("string", "DICOM toolkit and version."),
      aeTitles: { type: "array", items: { type: "string" } },
      ports: { type: "array", items: { type: "integer" } },
      peerCount: { type: "integer" },
      exposure: { type: "string", enum: ["internal", "external"] },
      firstSeen: time("First seen (capture time)."),
      lastSeen: time("Last seen (capture time)."),
      openFindings: { type: "integer" },
      record: {
        description:
          "The sensor's full device record (schemas/device.schema.json); exports and the detail only.",
      },
    },
  },
  DeviceDetail: {
    allOf: [
      ref("Device"),
      {
        type: "object",
        properties: {
          findings: { type: "array", items: ref("Finding") },
          peers: {
            type: "array",
            items: {
              type: "object",
              properties: {
                id: { type: "string" },
                pk: nullable("integer", "The peer's device pk when known."),
                ip: nullable("string", "IP."),
                aeTitles: { type: "array", items: { type: "string" } },
              },
            },
          },
          history: {
            type: "array",
            description: "Drift: what changed between revisions, newest first.",
            items: {
              type: "object",
              properties: {
                at: { type: "string", format: "date-time" },
                field: { type: "string" },
                change: { type: "string", enum: ["added", "removed", "changed"] },
                value: { type: "string" },
                previous: nullable("string", "Value before a change."),
              },
            },
          },
        },
      },
    ],
  },
  Finding: {
    type: "object",
    properties: {
      pk: { type: "integer" },
      id: str("The sensor's stable finding id."),
      rule: str("Rule id (DESIGN.md §5)."),
      severity: { type: "string", enum: [...SEVERITIES] },
      state: {
        type: "string",
        enum: ["open", "acknowledged", "risk-accepted", "resolved"],
        description:
          "resolved if the lifecycle is resolved, else risk-accepted while an acceptance runs, else acknowledged if acknowledged, else open.",
      },
      lifecycle: { type: "string", enum: ["open", "resolved"], description: "The sensor's view." },
      lifecycleAt: { type: "string", format: "date-time" },
      site: { type: "string" },
      sensor: { type: "string" },
      device: nullable("string", "The sensor's device id."),
      devicePk: nullable("integer", "The device's pk here, when known."),
      peer: nullable("string", "The peer's device id."),
      title: { type: "string" },
      evidence: { description: "Flows, AE titles, counts, times." },
      remediation: nullable("string", "The fix, in one sentence."),
      step: { type: "string", enum: [...STEP_IDS] },
      firstSeen: { type: "string", format: "date-time" },
      lastSeen: { type: "string", format: "date-time" },
      count: { type: "integer" },
      acknowledgedBy: nullable("string", "Who acknowledged it."),
      acknowledgedAt: time("When."),
      assignee: nullable("string", "Assigned to."),
      riskAcceptance: {
        type: ["object", "null"],
        properties: {
          by: { type: ["string", "null"] },
          reason: { type: ["string", "null"] },
          expires: { type: "string", format: "date-time" },
        },
      },
    },
  },
  FindingDetail: {
    allOf: [
      ref("Finding"),
      {
        type: "object",
        properties: {
          record: { description: "The sensor's finding record." },
          history: {
            type: "array",
            description: "Every transition and action, oldest first.",
            items: {
              type: "object",
              properties: {
                at: { type: "string", format: "date-time" },
                kind: str(
                  "opened, resolved, reopened, acknowledged, assigned, risk-accepted, risk-expired, reopen.",
                ),
                actor: nullable(
                  "string",
                  "The user (token:NAME for a token); null for the sensor or the staleness rule.",
                ),
                detail: { description: "reason, assignee, expiry ..." },
              },
            },
          },
        },
      },
    ],
  },
  Action: {
    type: "object",
    required: ["action"],
    additionalProperties: false,
    properties: {
      action: { type: "string", enum: [...ACTIONS] },
      assignee: nullable("string", "assign: the name (null unassigns)."),
      reason: str("accept-risk: required; others: optional note.", { maxLength: 1000 }),
      expires: str("accept-risk: YYYY-MM-DD or an ISO 8601 time, in the future and at most a year ahead."),
    },
  },
  User: {
    type: "object",
    properties: {
      pk: { type: "integer" },
      name: { type: "string" },
      role: { type: "string", enum: ["viewer", "analyst", "admin"] },
      createdAt: { type: "string", format: "date-time" },
      disabledAt: time("When disabled."),
    },
  },
  Token: {
    type: "object",
    properties: {
      pk: { type: "integer" },
      name: { type: "string" },
      role: { type: "string", enum: ["viewer", "analyst", "admin"] },
      createdAt: { type: "string", format: "date-time" },
      lastUsedAt: time("Last request made with it."),
      revokedAt: time("When revoked."),
    },
  },
  SiteBaselines: {
    type: "object",
    description:
      "The baselines a site's sensors published (retained on {site}/{sensor}/baseline) and their merge.",
    properties: {
      site: { type: "string" },
      sensors: { type: "array", items: { type: "string" }, description: "Every sensor of the site." },
      items: {
        type: "array",
        description: "One per sensor that published a baseline, by sensor.",
        items: {
          type: "object",
          properties: {
            sensor: { type: "string" },
            status: { type: "string", enum: ["learning", "learned", "approved"] },
            window: {
              type: "object",
              properties: {
                start: time("Capture time."),
                end: time("null while learning."),
                days: { type: "integer" },
              },
            },
            approved: { type: ["object", "null"] },
            services: { type: "integer" },
            peers: { type: "integer" },
            devices: { type: "integer" },
            bytes: { type: "integer" },
            receivedAt: { type: "string", format: "date-time" },
            changedAt: { type: "string", format: "date-time" },
            truncated: { type: "object" },
          },
        },
      },
      merged: {
        type: ["object", "null"],
        description:
          "The site's baseline as the plan uses it: the least advanced status, the earliest start and latest end (null while any learns); null without any baseline.",
      },
      notes: {
        type: "array",
        items: { type: "string" },
        description: "About the plan's source, e.g. no baseline yet.",
      },
    },
  },
  Plan: {
    type: "object",
    description:
      "The plan (schemas/plan.schema.json): exposure and firewall, ports to close, allowlists per DICOM service, encryption ordered by risk. Built from the site's baselines merged; a site without any gets the plan of an empty baseline.",
  },
  Overview: {
    type: "object",
    description:
      "Sensors online/offline, open findings by severity and step, findings over time, traffic per sensor.",
    properties: {
      now: { type: "string", format: "date-time" },
      days: { type: "integer" },
      sensors: {
        type: "object",
        properties: {
          total: { type: "integer" },
          online: { type: "integer" },
          offline: { type: "integer" },
          unknown: { type: "integer" },
          items: { type: "array", items: ref("Sensor") },
        },
      },
      devices: { type: "object", properties: { total: { type: "integer" }, external: { type: "integer" } } },
      openFindings: {
        type: "object",
        properties: {
          total: { type: "integer" },
          bySeverity: { type: "object", additionalProperties: { type: "integer" } },
          byStep: { type: "object", additionalProperties: { type: "integer" } },
        },
      },
      findingsOverTime: {
        type: "array",
        description: "Per day (UTC), oldest first: findings opened or reopened, and resolved.",
        items: {
          type: "object",
          properties: {
            day: { type: "string", format: "date" },
            opened: { type: "integer" },
            resolved: { type: "integer" },
          },
        },
      },
      traffic: {
        type: "object",
        properties: {
          bucket: { type: "string", enum: ["hour", "day"] },
          sensors: {
            type: "array",
            items: {
              type: "object",
              properties: {
                pk: { type: "integer" },
                site: { type: "string" },
                sensor: { type: "string" },
                points: {
                  type: "array",
                  description:
                    "Per bucket: increases of the sensor's packet, byte and drop counters; the largest outbox depth.",
                  items: {
                    type: "object",
                    properties: {
                      at: { type: "string", format: "date-time" },
                      packets: { type: "integer" },
                      bytes: { type: "integer" },
                      drops: { type: "integer" },
                      outboxDepth: { type: ["integer", "null"] },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** The document (built on each call: cheap, and nothing at import time). */
export function openApiDocument(): Json {
  const adminList = (summary: string, item: string): Json => ({
    summary,
    responses: { ...ok(list(item)), ...errors(401, 403) },
  });
  return {
    openapi: "3.1.0",
    info: {
      title: "dicomtap central",
      version: "1",
      description:
        "The central console's API: sensors, devices, findings and the team's actions. Authenticate with a session (POST /session; send X-CSRF-Token on changes) or Authorization: Bearer TOKEN (dicomtap central token add). Roles: viewer reads, analyst acts on findings, admin manages users and tokens. Unknown query parameters are refused (400).",
    },
    servers: [{ url: "/api/v1" }],
    security: [{ bearer: [] }, { session: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API token (dtc_...)." },
        session: { type: "apiKey", in: "cookie", name: "dicomtap_session" },
      },
      schemas: SCHEMAS,
    },
    paths: {
      "/openapi.json": {
        get: { summary: "This document.", security: [], responses: ok({ type: "object" }) },
      },
      "/session": {
        get: {
          summary: "Who is logged in, and the CSRF token.",
          responses: { ...ok(ref("Session")), ...errors(401) },
        },
        post: {
          summary: "Log in: sets the dicomtap_session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS).",
          security: [],
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["name", "password"],
                  properties: { name: { type: "string" }, password: { type: "string" } },
                },
              },
            },
          },
          responses: { ...ok(ref("Session")), ...errors(400, 401, 429) },
        },
        delete: {
          summary: "Log out.",
          security: [],
          responses: { ...ok({ type: "object" }), ...errors(403) },
        },
      },
      "/status": {
        get: {
          summary: "The service's health: HTTP counters, ingest and store.",
          responses: { ...ok({ type: "object" }), ...errors(401) },
        },
      },
      "/sensors": {
        get: {
          summary: "Every sensor with its state and last health.",
          responses: { ...ok(list("Sensor")), ...errors(401) },
        },
      },
      "/overview": {
        get: {
          summary: "The overview page's counts and series.",
          parameters: [
            query(
              "days",
              { type: "integer", minimum: 1, maximum: 366, default: 30 },
              "Days of series (hourly traffic up to 7 days, daily beyond).",
            ),
          ],
          responses: { ...ok(ref("Overview")), ...errors(400, 401) },
        },
      },
      "/devices": {
        get: {
          summary: "The inventory, filtered, sorted and paged.",
          parameters: [...DEVICE_FILTER_PARAMS, ...PAGING],
          responses: { ...ok(page("Device")), ...errors(400, 401) },
        },
      },
      "/devices/{pk}": {
        get: {
          summary: "A device with its record, findings, peers and history.",
          parameters: [pkParam],
          responses: { ...ok(ref("DeviceDetail")), ...errors(400, 401, 404) },
        },
      },
      "/devices.csv": exportOp("The inventory as CSV.", DEVICE_FILTER_PARAMS, "Device", true),
      "/devices.json": exportOp(
        "The inventory as JSON (with each full record).",
        DEVICE_FILTER_PARAMS,
        "Device",
        false,
      ),
      "/findings": {
        get: {
          summary: "Findings, filtered, sorted and paged.",
          parameters: [...FINDING_FILTER_PARAMS, ...PAGING],
          responses: { ...ok(page("Finding")), ...errors(400, 401) },
        },
      },
      "/findings/{pk}": {
        get: {
          summary: "A finding with its history.",
          parameters: [pkParam],
          responses: { ...ok(ref("FindingDetail")), ...errors(400, 401, 404) },
        },
      },
      "/findings/{pk}/actions": {
        post: {
          summary: "Acknowledge, assign, accept the risk or reopen (analyst).",
          parameters: [pkParam],
          requestBody: { required: true, content: { "application/json": { schema: ref("Action") } } },
          responses: {
            ...ok(ref("FindingDetail"), "The finding after the action."),
            ...errors(400, 401, 403, 404),
          },
        },
      },
      "/findings.csv": exportOp("Findings as CSV.", FINDING_FILTER_PARAMS, "Finding", true),
      "/findings.json": exportOp("Findings as JSON.", FINDING_FILTER_PARAMS, "Finding", false),
      "/sites/{site}/baselines": {
        get: {
          summary:
            "The baselines of a site's sensors: status, window, counts, and notes on the plan's source.",
          parameters: [siteParam],
          responses: { ...ok(ref("SiteBaselines")), ...errors(400, 401, 404) },
        },
      },
      "/sites/{site}/plan": {
        get: {
          summary:
            "The site's plan: the five remediation steps from its sensors' baselines, devices and open findings.",
          description:
            "Without format: the plan as JSON. With format: a file to download (Content-Disposition: attachment): " +
            PLAN_FORMATS.map((f) => `${f} (${PLAN_FILES[f].type.split(";")[0]!})`).join(", ") +
            ". A site with no baseline yet gets an empty plan. Every role may read it.",
          parameters: [
            siteParam,
            query(
              "format",
              { type: "string", enum: [...PLAN_FORMATS] },
              "The file format; absent: JSON, not as a download.",
            ),
          ],
          responses: {
            200: {
              description:
                "The plan: JSON (json, orthanc), Markdown (md), CSV (csv), or text/plain for nftables (nft: a complete table inet dicomtap for nft -f) and dcmqrscp.cfg (dcmqrscp).",
              content: {
                "application/json": { schema: ref("Plan") },
                "text/markdown": { schema: { type: "string" } },
                "text/csv": { schema: { type: "string" } },
                "text/plain": { schema: { type: "string" } },
              },
            },
            ...errors(400, 401, 404),
          },
        },
      },
      "/users": {
        get: adminList("Users (admin).", "User"),
        post: {
          summary: "Add a user (admin).",
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["name", "role", "password"],
                  properties: {
                    name: { type: "string" },
                    role: { type: "string", enum: ["viewer", "analyst", "admin"] },
                    password: { type: "string", minLength: 12 },
                  },
                },
              },
            },
          },
          responses: {
            201: { description: "Added.", content: { "application/json": { schema: ref("User") } } },
            ...errors(400, 401, 403, 409),
          },
        },
      },
      "/users/{pk}": {
        delete: {
          summary: "Remove a user and their sessions (admin).",
          parameters: [pkParam],
          responses: { ...ok(ref("User")), ...errors(400, 401, 403, 404, 409) },
        },
      },
      "/tokens": {
        get: adminList("API tokens (admin); never their secrets.", "Token"),
        post: {
          summary: "Add an API token (admin); the answer's token field is the secret, shown this once.",
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["name", "role"],
                  properties: {
                    name: { type: "string" },
                    role: { type: "string", enum: ["viewer", "analyst", "admin"] },
                  },
                },
              },
            },
          },
          responses: {
            201: {
              description: "Added.",
              content: {
                "application/json": {
                  schema: {
                    allOf: [ref("Token"), { type: "object", properties: { token: { type: "string" } } }],
                  },
                },
              },
            },
            ...errors(400, 401, 403),
          },
        },
      },
      "/tokens/{pk}": {
        delete: {
          summary: "Revoke a token (admin).",
          parameters: [pkParam],
          responses: { ...ok(ref("Token")), ...errors(400, 401, 403, 404) },
        },
      },
    },
  };
}
