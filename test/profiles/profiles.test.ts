/**
 * Device profiles (agent/profiles/profiles.ts): version ranges, name matching, the row checker, the shipped
 * table (against the loader and schemas/model-profile.schema.json), and the site's rows before the table's.
 */
import test from "ava";
import Ajv2020 from "ajv/dist/2020.js";
import { readFileSync } from "node:fs";
import {
  compareVersions,
  modelProfileTable,
  nameMatches,
  parseProfiles,
  parseVersion,
  parseVersionRange,
  portsOutsideProfile,
  profileFor,
  validateModelProfileTable,
  versionInRange,
  type ModelProfile,
  type VersionBound,
} from "../../agent/profiles/profiles.js";

const range = (s: string): VersionBound[] => {
  const r = parseVersionRange(s);
  if (typeof r === "string") throw new Error(r);
  return r;
};
const inRange = (v: string, r: string): boolean => versionInRange(v, range(r));

/** One site row, valid unless changed. */
function row(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    manufacturer: "ACME Medical",
    model: "Scanomatic 9000",
    softwareVersions: ">=3.0 <4",
    ports: [
      { port: 104, protocol: "dicom", role: "scp" },
      { range: "8000-8010", protocol: "https", role: "service", note: "service UI" },
    ],
    source: { title: "ACME MDS2 form, 2025 edition", url: null, retrieved: "2026-01-15" },
    ...extra,
  };
}

function site(...rows: Record<string, unknown>[]): ModelProfile[] {
  const { profiles, problems } = parseProfiles(rows, "policy.profiles", "site");
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return profiles;
}

test("versions: dotted numbers with a vendor suffix; anything else is unknown", (t) => {
  t.deepEqual(parseVersion("1.9.0"), [1, 9, 0]);
  t.deepEqual(parseVersion(" v5.22.1-SNAPSHOT "), [5, 22, 1]);
  t.deepEqual(parseVersion("3.0 SP2"), [3, 0]);
  t.deepEqual(parseVersion("2015"), [2015]);
  t.is(parseVersion("VB10A"), null);
  t.is(parseVersion("syngo MR E11"), null);
  t.is(parseVersion(""), null);
  t.is(parseVersion("1.2.3.4.5.6.7.8.9"), null, "more components than a version has");
  t.is(parseVersion("12345678901"), null, "more digits than a version has");
  t.is(compareVersions([1, 9], [1, 9, 0]), 0);
  t.is(compareVersions([1, 10], [1, 9, 5]), 1);
  t.is(compareVersions([0, 9], [1]), -1);
});

test("ranges: bounds, edges, suffixes, exact vendor text, and unknown versions outside bounded ranges", (t) => {
  t.true(inRange("3.0", ">=3.0 <4"));
  t.true(inRange("3.9.99", ">=3.0 <4"));
  t.false(inRange("4", ">=3.0 <4"), "upper bound excluded");
  t.false(inRange("4.0.0", ">=3.0 <4"));
  t.false(inRange("2.99", ">=3.0 <4"));
  t.true(inRange("1.9.0", ">= 1.9.0"), "operator apart from its version");
  t.true(inRange("1.9", ">=1.9.0"), "missing components are 0");
  t.false(inRange("1.8.9", ">=1.9.0"));
  t.true(inRange("1.9.0-beta", ">=1.9.0"), "the suffix is not compared");
  t.true(inRange("1.12.1", ">1.9"));
  t.false(inRange("1.9", ">1.9"));
  t.true(inRange("1.9", "<=1.9"));
  t.true(inRange("2.1", "2.1"), "a bare version is =");
  t.false(inRange("2.1.1", "=2.1"));
  t.true(inRange("vb10a", "=VB10A"), "vendor text compared exactly, case-insensitively");
  t.false(inRange("VB10A", ">=1"), "unknown versions match no bounded range");
  t.false(inRange("syngo", "<100"));
  t.false(inRange("", ">=0"));
  for (const [bad, why] of [
    ["", "is empty"],
    [">=", "has no version"],
    [">=x", "needs a dotted numeric version"],
    ["<VB10", "needs a dotted numeric version"],
    [">=1.9.0-beta", "needs a dotted numeric version"],
    [">=4 <3", "matches no version"],
    [">2 <2", "matches no version"],
    ["=2 >2", "matches no version"],
    [">=1 =<2", "is not a comparison"],
  ] as const) {
    const r = parseVersionRange(bad);
    t.true(typeof r === "string" && r.includes(why), `${JSON.stringify(bad)}: ${String(r)}`);
  }
  t.deepEqual(range(">=2 <=2"), [
    { op: ">=", version: [2] },
    { op: "<=", version: [2] },
  ]);
});

test("names: case-insensitive after trimming, * for any run, never a missing value", (t) => {
  t.true(nameMatches("ACME Medical", "  acme   medical "));
  t.false(nameMatches("ACME Medical", "ACME Medical Systems"));
  t.true(nameMatches("ACME*", "ACME Medical Systems"));
  t.true(nameMatches("*Medical*", "ACME Medical Systems"));
  t.true(nameMatches("dcm4chee-arc*", "dcm4chee-arc-light"));
  t.true(nameMatches("a*b*c", "aXbYc"));
  t.false(nameMatches("a*b*c", "acb"));
  t.false(nameMatches("ab*ba", "aba"), "the prefix and suffix may not overlap");
  t.true(nameMatches("*", "anything"));
  t.false(nameMatches("*", ""));
  t.false(nameMatches("*", null));
});

test("the shipped table passes the loader and the JSON schema, and every row cites a source", (t) => {
  const rows = modelProfileTable();
  t.true(rows.length >= 3);
  for (const p of rows) {
    t.is(p.origin, "shipped");
    t.regex(p.source.url ?? "", /^https:\/\//, `${p.manufacturer} ${p.model}`);
    t.regex(p.source.retrieved, /^\d{4}-\d{2}-\d{2}$/);
    t.true(p.ports.length > 0);
  }
  const ajv = new Ajv2020.default({ strict: true, allowUnionTypes: true, allErrors: true });
  const validate = ajv.compile(
    JSON.parse(readFileSync("schemas/model-profile.schema.json", "utf8")) as object,
  );
  const data = JSON.parse(readFileSync("data/model-profiles.json", "utf8")) as unknown;
  t.true(validate(data), ajv.errorsText(validate.errors));
  // The schema and the loader agree on a bad row.
  const bad = { version: 1, profiles: [{ ...row(), source: { title: "x", retrieved: "2026-01-01" } }] };
  t.false(validate(bad));
  t.throws(() => validateModelProfileTable(bad), { message: /profiles\[0\]\.source\.url: is required/ });
});

test("the shipped table: Orthanc's rows split by version at DICOM TLS, dcm4chee-arc by wildcard", (t) => {
  const o = profileFor({ manufacturer: "Orthanc", model: "ORTHANC", softwareVersions: ["1.12.1"] });
  t.is(o?.transport.tls, "supported");
  t.deepEqual(
    o?.ports.map((p) => p.from),
    [4242, 8042],
  );
  const old = profileFor({ manufacturer: "Orthanc", model: "Orthanc", softwareVersions: ["1.5.4"] });
  t.is(old?.transport.tls, "not-supported");
  t.is(profileFor({ manufacturer: "Orthanc", model: "Orthanc", softwareVersions: ["mainline"] }), null);
  t.is(profileFor({ manufacturer: "Orthanc", model: null, softwareVersions: ["1.12.1"] }), null);
  const arc = profileFor({
    manufacturer: "dcm4che.org",
    model: "dcm4chee-arc-light",
    softwareVersions: ["5.33.0"],
  });
  t.is(arc?.softwareVersions, ">=5 <6");
  t.deepEqual(
    portsOutsideProfile({
      manufacturer: "dcm4che.org",
      model: "dcm4chee-arc-light",
      softwareVersions: ["5.33.0"],
      listeningPorts: [8787, 11112, 2762, 22, 9990],
    })?.ports,
    [22, 8787],
  );
  t.is(
    portsOutsideProfile({ manufacturer: "ACME", model: "X", softwareVersions: [], listeningPorts: [1] }),
    null,
    "no profile: nothing to say",
  );
});

test("site profiles come before the shipped table; within a list the first match wins", (t) => {
  const orthanc = { manufacturer: "Orthanc", model: "Orthanc", softwareVersions: ["1.12.1"] };
  const mine = site(
    row({
      manufacturer: "orthanc",
      model: "*",
      softwareVersions: null,
      ports: [{ port: "4242", protocol: "dicom-tls", role: "scp" }],
    }),
    row({ manufacturer: "Orthanc", model: "Orthanc", softwareVersions: null, ports: [] }),
  );
  const p = profileFor(orthanc, mine);
  t.is(p?.origin, "site");
  t.is(p?.ports[0]?.protocol, "dicom-tls");
  t.deepEqual(portsOutsideProfile({ ...orthanc, listeningPorts: [4242, 8042] }, mine)?.ports, [8042]);
  // A site row that does not match this version leaves the device to the shipped table.
  const other = site(row({ manufacturer: "Orthanc", model: "Orthanc", softwareVersions: "<1" }));
  t.is(profileFor(orthanc, other)?.origin, "shipped");
  const acme = site(row());
  t.is(
    profileFor(
      { manufacturer: "ACME Medical", model: "Scanomatic 9000", softwareVersions: ["VA10", "3.2"] },
      acme,
    )?.origin,
    "site",
    "any of its versions",
  );
  t.is(
    profileFor({ manufacturer: "ACME Medical", model: "Scanomatic 9000", softwareVersions: ["4.0"] }, acme),
    null,
  );
  t.deepEqual(
    portsOutsideProfile(
      {
        manufacturer: "ACME Medical",
        model: "Scanomatic 9000",
        softwareVersions: ["3.1"],
        listeningPorts: [104, 8005, 8011, 3389],
      },
      acme,
    )?.ports,
    [3389, 8011],
  );
});

test("bad rows are refused with the key path and the reason, and the whole list with them", (t) => {
  const problems = (r: unknown): string[] => {
    const out = parseProfiles(r, "policy.profiles", "site");
    t.deepEqual(out.profiles, [], "nothing kept from a list with a bad row");
    return out.problems;
  };
  t.deepEqual(
    problems([
      row(),
      row({
        ports: [
          { port: 104, protocol: "dicom", role: "scp" },
          { range: "9000-80", protocol: "http", role: "service" },
        ],
      }),
    ]),
    ['policy.profiles[1].ports[1]: "9000-80" is not a port range (start above end)'],
  );
  t.deepEqual(
    problems([
      row({
        softwareVersions: ">=x",
        colour: "red",
        ports: [
          { range: "80", protocol: "http", role: "service" },
          { port: 70000, protocol: "gopher", role: "server" },
          { port: 1, range: "1-2", protocol: "http", role: "service" },
          { range: "1-99999", protocol: "http", role: "service" },
        ],
        transport: { tls: "yes" },
        source: { title: "x", url: "ftp://x", retrieved: "2026-02-30" },
      }),
      row({ source: undefined }),
      "ACME",
    ]),
    [
      "policy.profiles[0].colour: unknown key (allowed: manufacturer, model, softwareVersions, ports, roles, transport, peers, note, source)",
      'policy.profiles[0].softwareVersions: ">=x" is not a version range (">=x": >= needs a dotted numeric version such as 1.9 or 3.0.2)',
      'policy.profiles[0].ports[0]: "80" is not a port range ("START-END", e.g. "8000-8010")',
      "policy.profiles[0].ports[1]: 70000 is not a port (1..65535)",
      'policy.profiles[0].ports[1].protocol: "gopher" must be one of "dicom", "dicom-tls", "http", "https", "hl7", "hl7-tls", "ssh", "rdp", "smb", "vnc", "telnet", "ftp", "other"',
      'policy.profiles[0].ports[1].role: "server" must be one of "scp", "scu", "both", "service"',
      'policy.profiles[0].ports[2]: needs exactly one of "port" (104) and "range" ("8000-8010")',
      'policy.profiles[0].ports[3]: "1-99999" is not a port range (ports are 1..65535)',
      'policy.profiles[0].transport.tls: "yes" must be one of "required", "supported", "not-supported", "unknown"',
      'policy.profiles[0].source.url: "ftp://x" is not an http(s) URL',
      'policy.profiles[0].source.retrieved: "2026-02-30" is not a date (YYYY-MM-DD)',
      'policy.profiles[1].source: is required: every profile names where its ports are documented ({ "title", "url", "retrieved" })',
      'policy.profiles[2]: must be an object, got "ACME"',
    ],
  );
  t.deepEqual(problems([row({ softwareVersions: undefined })]), [
    'policy.profiles[0].softwareVersions: is required (a range such as ">=3.0 <4", or null for any version)',
  ]);
  t.deepEqual(problems({}), ["policy.profiles: must be an array of profiles, got {}"]);
  // The shipped table needs a URL; a site row may name an internal document by title alone.
  t.deepEqual(parseProfiles([row()], "profiles", "shipped").problems, [
    "profiles[0].source.url: must be a string, got null",
  ]);
});
