import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, defaultConfig, loadConfig, validateConfig } from "../../agent/config/config.js";
import { CidrSet } from "../../agent/config/cidr.js";

const sensor = { id: "ct-room-1", site: "st-marys" };

function err(t: import("ava").ExecutionContext, raw: unknown, expected: string): void {
  const e = t.throws(() => validateConfig(raw), { instanceOf: ConfigError });
  t.is(e?.message, expected);
}

test("a minimal config gets every default", (t) => {
  const c = validateConfig({ sensor });
  t.deepEqual(c.sensor, { ...sensor, room: null });
  t.is(c.broker, null);
  t.is(c.capture.snaplen, 262144);
  t.is(c.capture.bufferMiB, 64);
  t.is(c.capture.tool, "auto");
  t.true(c.networks.internal.includes("10.0.0.0/8"));
  t.true(c.networks.internal.includes("fe80::/10"));
  t.is(c.policy.thresholds.aeScanRejects, 10);
  t.deepEqual(c.policy.knownAeTitles, {});
});

test("the full example of DESIGN.md validates and keeps its values", (t) => {
  const raw = {
    sensor,
    capture: { interface: "eth1", filter: "tcp", snaplen: 65535 },
    networks: { internal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] },
    policy: {
      knownAeTitles: { "10.1.2.3": ["PACS1"] },
      allowedPeers: ["10.1.0.0/16"],
      approvedPorts: { "10.1.2.3": [104, 443] },
      thresholds: { aeScanRejects: 3 },
    },
    store: { path: "/var/lib/dicomtap/dicomtap.db", maxBytes: 268435456 },
    broker: { url: "mqtts://broker.example:8883", ca: "/a", cert: "/b", key: "/c" },
    health: { intervalSeconds: 30 },
  };
  const c = validateConfig(raw);
  t.deepEqual(c.networks.internal, raw.networks.internal);
  t.deepEqual(c.policy.knownAeTitles, { "10.1.2.3": ["PACS1"] });
  t.is(c.policy.thresholds.aeScanRejects, 3);
  t.is(c.policy.thresholds.aeScanWindowSeconds, 300, "unset thresholds keep their default");
  t.is(c.capture.snaplen, 65535);
  t.is(c.broker?.url, "mqtts://broker.example:8883");
  t.is(c.health.intervalSeconds, 30);
});

test("errors name the key path and the problem", (t) => {
  err(t, {}, 'sensor: is required ({ "id": ..., "site": ... })');
  err(t, { sensor: { id: "a" } }, "sensor.site: is required");
  err(
    t,
    { sensor, policy: { allowedPeers: ["10.0.0.0/8", "::1", "10.0.0.0/33"] } },
    'policy.allowedPeers[2]: "10.0.0.0/33" is not a CIDR (prefix longer than 32)',
  );
  err(
    t,
    { sensor, networks: { internal: ["10.0.0/8"] } },
    'networks.internal[0]: "10.0.0/8" is not a CIDR (bad address)',
  );
  err(
    t,
    { sensor, polcy: {} },
    "polcy: unknown key (allowed: sensor, capture, networks, policy, store, broker, health, central, plan)",
  );
  err(
    t,
    { sensor, policy: { thresholds: { aeScanReject: 3 } } },
    "policy.thresholds.aeScanReject: unknown key (allowed: aeScanRejects, aeScanDistinctCalledAEs, aeScanWindowSeconds, bulkQueryFinds, bulkQueryWindowSeconds, echoSweepHosts, echoSweepWindowSeconds, bulkQueryMatches)",
  );
  err(
    t,
    { sensor, policy: { thresholds: { aeScanRejects: 0 } } },
    "policy.thresholds.aeScanRejects: 0 is out of range 1..10000",
  );
  // Event-count thresholds size per-source windows in the findings engine: bounded.
  err(
    t,
    { sensor, policy: { thresholds: { bulkQueryFinds: 50_000_000 } } },
    "policy.thresholds.bulkQueryFinds: 50000000 is out of range 1..10000",
  );
  err(
    t,
    { sensor, policy: { thresholds: { echoSweepWindowSeconds: 10_000_000 } } },
    "policy.thresholds.echoSweepWindowSeconds: 10000000 is out of range 1..86400",
  );
  err(
    t,
    { sensor, policy: { approvedPorts: { "10.1.2.3": [104, 70000] } } },
    "policy.approvedPorts.10.1.2.3[1]: 70000 is out of range 1..65535",
  );
  err(
    t,
    { sensor, policy: { knownAeTitles: { pacs: ["PACS1"] } } },
    'policy.knownAeTitles.pacs: "pacs" is not an IP address',
  );
  err(
    t,
    { sensor, policy: { knownAeTitles: { "10.0.0.1": ["A_VERY_LONG_AE_TITLE"] } } },
    'policy.knownAeTitles.10.0.0.1[0]: "A_VERY_LONG_AE_TITLE" is not an AE title (1 to 16 characters)',
  );
  err(t, { sensor, capture: { snaplen: "big" } }, 'capture.snaplen: must be an integer, got "big"');
  err(t, { sensor, capture: { bufferMiB: 0 } }, "capture.bufferMiB: 0 is out of range 1..2048");
  err(
    t,
    { sensor, capture: { tool: "wireshark" } },
    'capture.tool: "wireshark" must be "auto", "dicomtap-capture" or "tcpdump"',
  );
  err(
    t,
    { sensor, broker: { url: "mqtt://x:1883", ca: "a", cert: "b", key: "c" } },
    'broker.url: "mqtt://x:1883" must be an mqtts:// URL',
  );
  // Every missing key of the broker at once, not one per run.
  err(
    t,
    { sensor, broker: { url: "mqtts://x:8883" } },
    "broker.ca: is required\nbroker.cert: is required\nbroker.key: is required",
  );
  err(t, { sensor: { id: "a/b", site: "s" } }, "sensor.id: \"a/b\" must not contain '/', '+', '#' or spaces");
  err(t, [], "(top level): must be an object, got []");
  err(
    t,
    { sensor, networks: { internal: [] } },
    "networks.internal: must list at least one CIDR (with none, every peer counts as external)",
  );
});

test("a config with several problems lists them all at once, each with its key path", (t) => {
  // The case: an unknown key used to hide behind a missing sensor.site.
  const e = t.throws(() => validateConfig({ sensor: { id: "ct-1" }, capture: { interfac: "eth1" } }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(e?.problems, [
    "sensor.site: is required",
    "capture.interfac: unknown key (allowed: interface, filter, snaplen, bufferMiB, tool)",
  ]);
  t.is(e?.message, e?.problems.join("\n"));

  const many = t.throws(
    () =>
      validateConfig({
        polcy: {},
        sensor: { id: "a/b", room: 3 },
        capture: { snaplen: 10, tool: "wireshark", interfac: "eth1" },
        networks: { internal: ["10.0.0/8", "10.0.0.0/8", "::1/129"] },
        policy: {
          allowedPeers: "10.0.0.0/8",
          knownAeTitles: { pacs: ["PACS1"], "10.0.0.1": ["OK", "A_VERY_LONG_AE_TITLE", 7] },
          approvedPorts: { "10.1.2.3": [104, 0, 70000] },
          thresholds: { aeScanReject: 3, bulkQueryFinds: 0 },
        },
        store: { maxBytes: 1 },
        broker: { url: "mqtt://x:1883", ca: "", extra: 1 },
        health: { intervalSeconds: 0 },
      }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(many?.problems, [
    "polcy: unknown key (allowed: sensor, capture, networks, policy, store, broker, health, central, plan)",
    "sensor.id: \"a/b\" must not contain '/', '+', '#' or spaces",
    "sensor.site: is required",
    "sensor.room: must be a string, got 3",
    "capture.interfac: unknown key (allowed: interface, filter, snaplen, bufferMiB, tool)",
    "capture.snaplen: 10 is out of range 64..262144",
    'capture.tool: "wireshark" must be "auto", "dicomtap-capture" or "tcpdump"',
    'networks.internal[0]: "10.0.0/8" is not a CIDR (bad address)',
    'networks.internal[2]: "::1/129" is not a CIDR (prefix longer than 128)',
    'policy.knownAeTitles.pacs: "pacs" is not an IP address',
    'policy.knownAeTitles.10.0.0.1[1]: "A_VERY_LONG_AE_TITLE" is not an AE title (1 to 16 characters)',
    "policy.knownAeTitles.10.0.0.1[2]: must be a string, got 7",
    'policy.allowedPeers: must be an array, got "10.0.0.0/8"',
    "policy.approvedPorts.10.1.2.3[1]: 0 is out of range 1..65535",
    "policy.approvedPorts.10.1.2.3[2]: 70000 is out of range 1..65535",
    "policy.thresholds.aeScanReject: unknown key (allowed: aeScanRejects, aeScanDistinctCalledAEs, aeScanWindowSeconds, bulkQueryFinds, bulkQueryWindowSeconds, echoSweepHosts, echoSweepWindowSeconds, bulkQueryMatches)",
    "policy.thresholds.bulkQueryFinds: 0 is out of range 1..10000",
    "store.maxBytes: 1 is out of range 1048576..9007199254740991",
    "broker.extra: unknown key (allowed: url, ca, cert, key)",
    'broker.url: "mqtt://x:1883" must be an mqtts:// URL',
    "broker.ca: must not be empty",
    "broker.cert: is required",
    "broker.key: is required",
    "health.intervalSeconds: 0 is out of range 1..86400",
  ]);
  // A file that is not an object at all has that one problem.
  t.deepEqual(t.throws(() => validateConfig("x"), { instanceOf: ConfigError })?.problems, [
    '(top level): must be an object, got "x"',
  ]);
});

test("loadConfig reads a file and reports unreadable or invalid JSON", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-config-"));
  const good = join(dir, "good.json");
  writeFileSync(good, JSON.stringify({ sensor }));
  t.is(loadConfig(good).sensor.id, "ct-room-1");
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{ sensor: ");
  t.regex(
    t.throws(() => loadConfig(bad), { instanceOf: ConfigError })?.message ?? "",
    /bad\.json: not valid JSON/,
  );
  t.regex(
    t.throws(() => loadConfig(join(dir, "none.json")), { instanceOf: ConfigError })?.message ?? "",
    /none\.json: cannot read \(ENOENT\)/,
  );
});

test("defaultConfig is the offline sensor with internal networks that match private addresses", (t) => {
  const c = defaultConfig();
  t.deepEqual(c.sensor, { id: "offline", site: "local", room: null });
  const internal = new CidrSet(c.networks.internal);
  for (const ip of [
    "10.1.2.3",
    "172.31.255.1",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.10.20",
    "::1",
    "fd12::5",
    "fe80::1",
    "::ffff:10.0.0.7",
  ])
    t.true(internal.has(ip), ip);
  for (const ip of ["8.8.8.8", "172.32.0.1", "2001:db8::1", "not-an-ip"]) t.false(internal.has(ip), ip);
  // A fresh object every time: callers may change their copy.
  c.policy.allowedPeers.push("1.2.3.4/32");
  t.deepEqual(defaultConfig().policy.allowedPeers, []);
});

test("policy keys are spelled as the decoder spells addresses, so an IPv6 key in any spelling matches", (t) => {
  const c = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: {
      knownAeTitles: { "FE80:0:0::1": ["PACS1"], "fe80::0001": ["PACS2"], "::FFFF:10.1.2.3": ["MOD"] },
      approvedPorts: { "2001:0DB8::0104": [104] },
    },
  });
  t.deepEqual(c.policy.knownAeTitles, { "fe80::1": ["PACS1", "PACS2"], "::ffff:10.1.2.3": ["MOD"] });
  t.deepEqual(c.policy.approvedPorts, { "2001:db8::104": [104] });
});

test("policy.learning and policy.services (issue 13): defaults, and every problem named by its key path", (t) => {
  const d = validateConfig({ sensor: { id: "s", site: "x" } });
  t.deepEqual(d.policy.learning, { days: 14, burst: { count: 5, minutes: 60 }, quietPeriods: [] });
  t.deepEqual(d.policy.services, []);
  const ok = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: {
      learning: {
        burst: { count: 10 },
        quietPeriods: [
          { from: "2026-03-01T18:00:00Z", to: "2026-03-02T06:00:00+01:00", reason: "PACS migration" },
        ],
      },
      services: [
        { ip: "FD77::20", port: 104, peers: [{ ip: "10.1.0.9", aeTitle: "CT1", operations: ["C-STORE"] }] },
      ],
    },
  });
  t.deepEqual(ok.policy.learning.burst, { count: 10, minutes: 60 });
  t.deepEqual(ok.policy.services, [
    {
      ip: "fd77::20",
      port: 104,
      aeTitle: null,
      peers: [{ ip: "10.1.0.9", aeTitle: "CT1", operations: ["C-STORE"] }],
    },
  ]);
  const e = t.throws(
    () =>
      validateConfig({
        sensor: { id: "s", site: "x" },
        policy: {
          learning: {
            burst: { count: 0, hours: 1 },
            quietPeriods: [
              { from: "2026-03-02T00:00:00Z", to: "2026-03-01T00:00:00Z" },
              { from: "yesterday", to: "2026-03-01T00:00:00Z", reason: "x" },
            ],
          },
          services: [
            { ip: "10.0.0.300", port: 104, peers: [{ ip: "10.1.0.9", operations: ["C-DELETE"] }] },
            { port: 0 },
          ],
        },
      }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(
    [...e.problems],
    [
      "policy.learning.burst.hours: unknown key (allowed: count, minutes)",
      "policy.learning.burst.count: 0 is out of range 1..10000",
      "policy.learning.quietPeriods[0].reason: is required",
      'policy.learning.quietPeriods[0]: "from" (2026-03-02T00:00:00Z) must be before "to" (2026-03-01T00:00:00Z)',
      'policy.learning.quietPeriods[1].from: "yesterday" is not an ISO 8601 time with a zone (e.g. "2026-03-01T18:00:00Z")',
      'policy.services[0].ip: "10.0.0.300" is not an IP address',
      'policy.services[0].peers[0].operations[0]: "C-DELETE" is not an operation (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET, worklist, storage-commitment, mpps, other)',
      "policy.services[1].ip: is required",
      "policy.services[1].port: 0 is out of range 1..65535",
      "policy.services[1].peers: is required",
    ],
  );
});

test("policy.profiles: empty by default; site rows kept; a bad row refuses the config naming the key and the reason", (t) => {
  t.deepEqual(validateConfig({ sensor }).policy.profiles, []);
  const good = {
    manufacturer: "ACME Medical",
    model: "Scanomatic*",
    softwareVersions: ">=3.0 <4",
    ports: [
      { port: 104, protocol: "dicom", role: "scp" },
      { range: "8000-8010", protocol: "https", role: "service" },
    ],
    source: { title: "ACME MDS2 form", url: null, retrieved: "2026-01-15" },
  };
  const c = validateConfig({ sensor, policy: { profiles: [good] } });
  t.like(c.policy.profiles[0], {
    manufacturer: "ACME Medical",
    origin: "site",
    softwareVersions: ">=3.0 <4",
  });
  t.deepEqual(
    c.policy.profiles[0]!.ports.map((p) => [p.from, p.to]),
    [
      [104, 104],
      [8000, 8010],
    ],
  );
  const bad = {
    ...good,
    ports: [good.ports[0], { range: "9000-80", protocol: "http", role: "service" }],
  };
  err(
    t,
    { sensor, policy: { profiles: [bad] } },
    'policy.profiles[0].ports[1]: "9000-80" is not a port range (start above end)',
  );
  err(
    t,
    { sensor, policy: { profiles: [{ ...good, softwareVersions: ">=3 <2" }] } },
    'policy.profiles[0].softwareVersions: ">=3 <2" is not a version range (matches no version (lower bound above upper bound))',
  );
  err(
    t,
    { sensor, policy: { profiles: [{ ...good, vendor: "ACME" }] } },
    "policy.profiles[0].vendor: unknown key (allowed: manufacturer, model, softwareVersions, ports, roles, transport, peers, note, source)",
  );
  // Other sections' problems are listed with it, and no half-checked config comes back.
  const e = t.throws(
    () => validateConfig({ sensor, capture: { snaplen: 1 }, policy: { profiles: [bad, good] } }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(e?.problems, [
    "capture.snaplen: 1 is out of range 64..262144",
    'policy.profiles[0].ports[1]: "9000-80" is not a port range (start above end)',
  ]);
});
