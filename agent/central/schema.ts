/**
 * The central store's schema (issue 12), as versioned migrations: `MIGRATIONS[i]` takes a database at
 * version i to version i + 1, in one transaction, and `PRAGMA user_version` holds the version reached.
 * A migration once released is never edited; a change of the schema is a new entry at the end.
 *
 * Keys: a sensor is (site, sensor); a device or finding is its sensor's id for it within that sensor
 * (`device_id`, `finding_id`, the ids of the report), so two sensors that see one host keep two rows, as
 * they publish two records. Each table has an integer `pk` for joins and for the API's device and finding
 * pages (`/api/v1/devices/{pk}`); the API also carries the sensor's ids.
 *
 * Revisions: a device or finding row keeps the highest revision its sensor published (schemas/); a
 * message with a revision not above it is a duplicate or stale and changes nothing, so delivery at least
 * once, retained copies after a restart and several central instances never count anything twice.
 *
 * Nothing here holds patient data: records are the sensors' device and finding records, which hold
 * device-describing attributes only; users' passwords are scrypt hashes, tokens and sessions SHA-256.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the first schema.
  `
  CREATE TABLE sensors (
    pk            INTEGER PRIMARY KEY,
    site          TEXT NOT NULL,
    sensor        TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'unknown',   -- online | offline | unknown (no status yet)
    version       TEXT,
    started_at    TEXT,
    state_at      TEXT,                              -- central time the state last changed
    last_message_at TEXT,                            -- central time of the last valid message
    health        TEXT,                              -- the last health payload (JSON)
    health_at     TEXT,                              -- its own time
    UNIQUE (site, sensor)
  );

  -- One row per health message kept (retention.healthDays): the charts' series.
  CREATE TABLE sensor_health (
    sensor_pk     INTEGER NOT NULL REFERENCES sensors(pk) ON DELETE CASCADE,
    at            TEXT NOT NULL,
    packets       INTEGER,
    bytes         INTEGER,
    drops         INTEGER,
    outbox_depth  INTEGER,
    rss_bytes     INTEGER
  );
  CREATE INDEX sensor_health_at ON sensor_health (sensor_pk, at);

  CREATE TABLE devices (
    pk            INTEGER PRIMARY KEY,
    sensor_pk     INTEGER NOT NULL REFERENCES sensors(pk),
    device_id     TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    record        TEXT NOT NULL,                     -- the sensor's DeviceRecord (JSON)
    -- Columns the inventory table filters and sorts by, taken from record at each write:
    ip            TEXT,
    mac           TEXT,
    class         TEXT,
    modality      TEXT,
    manufacturer  TEXT,
    model         TEXT,
    toolkit       TEXT,                              -- toolkit name and version, e.g. "dcmtk 3.6.7"
    ae_titles     TEXT NOT NULL DEFAULT '',          -- space separated, for search
    ports         TEXT NOT NULL DEFAULT '',          -- listening ports, space separated
    peer_count    INTEGER NOT NULL DEFAULT 0,
    exposure      TEXT NOT NULL DEFAULT 'internal',  -- internal | external (an external DICOM peer)
    search        TEXT NOT NULL DEFAULT '',          -- lower-case text of the searchable fields
    first_seen    TEXT,
    last_seen     TEXT,
    received_at   TEXT NOT NULL,                     -- central time of the last new revision
    UNIQUE (sensor_pk, device_id)
  );
  CREATE INDEX devices_last_seen ON devices (last_seen);
  CREATE INDEX devices_ip ON devices (ip);

  -- Drift: what changed in a device between revisions (a new AE title, software version, listening
  -- port, peer, implementation, OS ...), one row per added or removed value.
  CREATE TABLE device_history (
    pk            INTEGER PRIMARY KEY,
    device_pk     INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
    at            TEXT NOT NULL,                     -- central time
    field         TEXT NOT NULL,                     -- aeTitles | softwareVersions | listeningPorts | peers | ...
    change        TEXT NOT NULL,                     -- added | removed | changed
    value         TEXT NOT NULL,
    previous      TEXT
  );
  CREATE INDEX device_history_device ON device_history (device_pk, at);
  CREATE INDEX device_history_at ON device_history (at);

  CREATE TABLE findings (
    pk            INTEGER PRIMARY KEY,
    sensor_pk     INTEGER NOT NULL REFERENCES sensors(pk),
    finding_id    TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    record        TEXT NOT NULL,                     -- the sensor's FindingRecord (JSON)
    rule          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,                  -- info 0 .. critical 4, for sorting
    step          TEXT NOT NULL,                     -- the remediation step it points to (see types.ts)
    device_id     TEXT,                              -- the sensor's device id
    device_pk     INTEGER REFERENCES devices(pk),    -- set once that device is known here
    peer_id       TEXT,
    title         TEXT NOT NULL,
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL,
    count         INTEGER NOT NULL,
    -- Lifecycle (the sensor's view): open | resolved; the team's triage beside it.
    lifecycle     TEXT NOT NULL DEFAULT 'open',
    lifecycle_at  TEXT NOT NULL,
    received_at   TEXT NOT NULL,                     -- central time of the last new revision
    acknowledged_by TEXT,
    acknowledged_at TEXT,
    assignee      TEXT,
    risk_accepted_by TEXT,
    risk_reason   TEXT,
    risk_expires  TEXT,
    UNIQUE (sensor_pk, finding_id)
  );
  CREATE INDEX findings_lifecycle ON findings (lifecycle, severity_rank);
  CREATE INDEX findings_rule ON findings (rule);
  CREATE INDEX findings_device ON findings (device_pk);
  CREATE INDEX findings_last_seen ON findings (last_seen);

  -- Every transition and action of a finding: opened, resolved, reopened (by the sensor or the
  -- staleness rule: actor NULL), acknowledged, assigned, risk-accepted, reopen (by a user: actor set).
  CREATE TABLE finding_events (
    pk            INTEGER PRIMARY KEY,
    finding_pk    INTEGER NOT NULL REFERENCES findings(pk) ON DELETE CASCADE,
    at            TEXT NOT NULL,
    kind          TEXT NOT NULL,
    actor         TEXT,
    detail        TEXT                               -- JSON: reason, assignee, expiry, revision ...
  );
  CREATE INDEX finding_events_finding ON finding_events (finding_pk, at);
  CREATE INDEX finding_events_at ON finding_events (at);

  CREATE TABLE users (
    pk            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,                     -- viewer | analyst | admin
    password      TEXT NOT NULL,                     -- scrypt$N$r$p$salt$hash (base64)
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
  );

  CREATE TABLE tokens (
    pk            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,                     -- viewer | analyst | admin
    hash          TEXT NOT NULL UNIQUE,              -- SHA-256 of the token (hex)
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
  );

  CREATE TABLE sessions (
    hash          TEXT PRIMARY KEY,                  -- SHA-256 of the cookie value (hex)
    user_pk       INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    csrf          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
  );
  `,
  // 2: what the write side (store.ts) needs beyond the first schema: persistent eviction counters; indexes for the
  // retention of health samples by time, for linking findings to a device that arrives after them, and
  // for evicting resolved findings oldest first.
  `
  CREATE TABLE counters (
    name          TEXT PRIMARY KEY,
    value         INTEGER NOT NULL
  );
  INSERT INTO counters (name, value) VALUES
    ('evicted_health', 0), ('evicted_history', 0), ('evicted_events', 0), ('evicted_findings', 0);
  CREATE INDEX sensor_health_time ON sensor_health (at);
  CREATE INDEX findings_sensor_device ON findings (sensor_pk, device_id);
  CREATE INDEX findings_lifecycle_at ON findings (lifecycle, lifecycle_at);
  `,
  // 3: the read side's (agent/central/http/queries.ts) covering indexes. A row's JSON record comes before
  // the filter columns in migration 1's tables, so filtering or counting from the table reads every
  // record's overflow pages (about 18 kB a device): with 10 000 devices a search read 180 MB. These
  // indexes hold every column the lists filter, sort and count by, so a page is chosen from the index
  // alone and only its 50 rows are read from the table. findings_device_open makes a device's open
  // findings a count within the index.
  `
  CREATE INDEX devices_list ON devices (last_seen, sensor_pk, device_id, ip, mac, class, modality, manufacturer,
    model, toolkit, ae_titles, ports, peer_count, exposure, first_seen, search);
  CREATE INDEX findings_list ON findings (severity_rank, last_seen, sensor_pk, finding_id, rule, severity, step,
    device_id, device_pk, lifecycle, lifecycle_at, first_seen, count, acknowledged_at, assignee, risk_expires, title);
  CREATE INDEX findings_device_open ON findings (device_pk, lifecycle);
  `,
  // 4: baselines (issue 13): the latest baseline document each sensor published retained on
  // `{site}/{sensor}/baseline` (agent/baseline/types.ts), one row per sensor at its highest revision, the
  // source of a site's plan.
  // Like a device record it is current state, not history: replaced by the next document, removed when the
  // sensor clears its retained topic, never expired or evicted; its size is capped at ingest (8 MiB).
  `
  CREATE TABLE baselines (
    sensor_pk     INTEGER PRIMARY KEY REFERENCES sensors(pk) ON DELETE CASCADE,
    status        TEXT NOT NULL,                     -- learning | learned | approved
    window_start  TEXT,                              -- capture time
    window_end    TEXT,
    window_days   INTEGER NOT NULL,
    services      INTEGER NOT NULL,                  -- counts, for lists without reading the document
    peers         INTEGER NOT NULL,
    devices       INTEGER NOT NULL,
    document      TEXT NOT NULL,                     -- the BaselineDocument (JSON)
    bytes         INTEGER NOT NULL,
    revision      INTEGER NOT NULL,                  -- the sensor's; a copy not above it changes nothing
    message_id    TEXT NOT NULL,
    received_at   TEXT NOT NULL,                     -- central time a copy last arrived
    changed_at    TEXT NOT NULL                      -- central time the document last changed
  );
  `,
];
