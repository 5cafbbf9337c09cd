/**
 * The plan (issue 13): golden plans of the lab captures, --check against the capture it was made from and
 * against the scanner captures, nftables syntax (nft -c), hostile AE titles in every output, invalid plan
 * files refused with the reason.
 *
 * Regenerate the golden files after an intended change:
 *   npm run build && UPDATE_GOLDEN=1 npx ava test/plan/plan.test.ts
 */
import test from "ava";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig, validateConfig, ConfigError } from "../../agent/config/config.js";
import type { BaselineDocument } from "../../agent/baseline/types.js";
import { buildPlan } from "../../agent/plan/build.js";
import { checkCaptures } from "../../agent/plan/check.js";
import { Firewall, firewallModel } from "../../agent/plan/firewall.js";
import { renderDcmqrscp, renderOrthanc } from "../../agent/plan/render-archives.js";
import { renderCsv } from "../../agent/plan/render-csv.js";
import { renderMarkdown } from "../../agent/plan/render-md.js";
import { renderNft } from "../../agent/plan/render-nft.js";
import { evidenceFromCaptures } from "../../agent/plan/source.js";
import { validatePlan, PlanError } from "../../agent/plan/validate.js";
import type { Plan } from "../../agent/plan/types.js";
import { runCli } from "../helpers/cli.js";
import { requires } from "../helpers/requires.js";
import { NFT } from "../helpers/nft.js";
import { outsideProfile } from "../../agent/plan/profiles.js";

const LAB = join("test", "fixtures", "lab");
const SCANNER = join("test", "fixtures", "scanner");
const GOLDEN = join("test", "fixtures", "plan");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
/** The clinical lab scenes (every one but the impaired replays of store and qr). */
const LAB_FILES = ["echo", "store", "qr", "identity", "reject", "abort", "ipv6", "kill"].map((s) =>
  join(LAB, `${s}.pcap`),
);
const GENERATED_AT = "2027-01-15T08:00:00.000000Z";
const nftTest = requires("root", "nft");

async function planOf(files: string[], config = defaultConfig()): Promise<Plan> {
  const { files: _read, ...evidence } = await evidenceFromCaptures(files, config);
  return buildPlan({ ...evidence, config, source: { kind: "captures", files }, generatedAt: GENERATED_AT });
}

function golden(t: import("ava").ExecutionContext, name: string, actual: string): void {
  const path = join(GOLDEN, name);
  if (UPDATE) writeFileSync(path, actual);
  t.is(
    actual,
    readFileSync(path, "utf8"),
    `${path}: regenerate with UPDATE_GOLDEN=1 if the change is intended`,
  );
}

test("golden: the lab captures' plan, as JSON and Markdown, is what was committed", async (t) => {
  const plan = await planOf(LAB_FILES);
  golden(t, "lab.plan.json", JSON.stringify(plan, null, 2) + "\n");
  golden(t, "lab.plan.md", renderMarkdown(plan));
  golden(t, "lab.plan.nft", renderNft(plan));
  // The plan is its own schema's.
  t.notThrows(() => validatePlan(JSON.parse(JSON.stringify(plan))));
});

test("the plan holds the lab's services, roles and ports", async (t) => {
  const plan = await planOf(LAB_FILES);
  const orthanc = plan.allowlists.find((s) => s.aeTitle === "ORTHANC")!;
  t.is(orthanc.product, "orthanc");
  t.deepEqual(
    orthanc.peers.map((p) => [p.aeTitle, p.operations, p.moveDestinations]),
    [
      ["MODALITY1", ["C-ECHO", "C-STORE", "C-MOVE"], ["MODALITY1"]],
      ["VIEWER1", ["C-FIND", "C-GET"], []],
    ],
  );
  // The rejected called AE title (reject.pcap) is no service.
  t.false(plan.allowlists.some((s) => s.aeTitle === "NOT_ORTHANC"));
  // The identity scene's passcode in clear puts MODALITY1 -> ARCHIVE first in step 5.
  t.like(plan.encryption.cleartext[0], { peerAeTitle: "MODALITY1", aeTitle: "ARCHIVE", rank: 1 });
  t.true(plan.encryption.cleartext[0]!.credentialsInClear > 0);
  // Port 104 on the modality, which serves DICOM on 11114, is to close.
  t.like(
    plan.portsToClose.find((c) => c.ip === "10.77.0.10" && c.port === 104),
    { reason: "default-port" },
  );
});

test("--check: a plan made from the lab captures blocks none of their accepted associations", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-plan-"));
  try {
    const planPath = join(dir, "plan.json");
    const made = runCli(["plan", "--json", planPath, "--markdown", join(dir, "plan.md"), ...LAB_FILES]);
    t.is(made.status, 0, made.stderr);
    const out = join(dir, "check.json");
    const r = runCli(["plan", "--check", planPath, "--json", out, ...LAB_FILES]);
    const check = JSON.parse(readFileSync(out, "utf8")) as {
      blocked: { outcome: string | null; calledAE: string | null; layer: string }[];
      passed: number;
      connections: number;
    };
    // Only the association the PACS itself rejected (reject.pcap: called AE NOT_ORTHANC) is listed.
    t.deepEqual(
      check.blocked.map((b) => [b.layer, b.calledAE, b.outcome]),
      [["archive", "NOT_ORTHANC", "rejected"]],
    );
    t.false(check.blocked.some((b) => b.outcome === "accepted" || b.outcome === "aborted"));
    t.is(check.passed, check.connections - 1);
    // Something blocked: exit 1, and the text names it.
    t.is(r.status, 1, r.stderr);
    t.regex(r.stdout, /blocked by archive \(called-ae\).*NOT_ORTHANC/);
    // Without the rejected scene nothing is blocked: exit 0.
    const clean = runCli(["plan", "--check", planPath, ...LAB_FILES.filter((f) => !f.includes("reject"))]);
    t.is(clean.status, 0, clean.stdout + clean.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--check: a plan of the clinical scanner-lab traffic blocks the nmap scans, the probes and the AE guessing", async (t) => {
  // The scanner captures are another address plan (10.78.0.0/24) than the lab's (10.77.0.0/24): the plan is
  // made from their own clinical associations (duplicate-ae.pcap: two modalities echoing three archives).
  const plan = await planOf([join(SCANNER, "duplicate-ae.pcap")]);
  const self = await checkCaptures(plan, [join(SCANNER, "duplicate-ae.pcap")]);
  t.is(self.result.blocked.length, 0);
  for (const name of [
    "nmap-storescp",
    "nmap-orthanc",
    "nmap-fork-silent",
    "nmap-nse-identity",
    "silent-probe",
    "echoscu-guess",
  ]) {
    const { result } = await checkCaptures(plan, [join(SCANNER, `${name}.pcap`)]);
    t.true(result.connections > 0, name);
    t.is(result.passed, 0, `${name}: every connection blocked`);
    t.is(result.blocked.length, result.connections, name);
    if (name === "echoscu-guess")
      // The modality is an allowed address, so the firewall lets it through; the archive refuses the titles.
      t.true(
        result.blocked.every((b) => b.layer === "archive" && b.rule === "called-ae"),
        name,
      );
    else
      t.true(
        result.blocked.every((b) => b.layer === "firewall" && b.client.startsWith("10.78.0.66:")),
        name,
      );
  }
  // nmap's any-AE probes (ECHOSCU -> ANY-SCP) are among them.
  const { result } = await checkCaptures(plan, [join(SCANNER, "nmap-storescp.pcap")]);
  t.true(result.blocked.some((b) => b.calledAE === "ANY-SCP"));
});

test("the firewall's rule order: exceptions, outside sources, ports to close, allowlist, service ports, the rest", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    plan: {
      exceptions: [{ peer: "203.0.113.0/24", server: "10.0.0.5", port: 104, reason: "teleradiology" }],
    },
  });
  const baseline: BaselineDocument = {
    version: 1,
    site: "x",
    sensor: "s",
    status: "learned",
    window: { start: "2026-01-01T00:00:00.000000Z", end: "2026-01-15T00:00:00.000000Z", days: 14 },
    approved: null,
    internal: config.networks.internal,
    services: [
      {
        ip: "10.0.0.5",
        port: 104,
        aeTitle: "PACS",
        tls: false,
        peers: [peer("10.0.0.7", "CT1"), peer("198.51.100.9", "REMOTE")],
        firstSeen: T,
        lastSeen: T,
      },
    ],
    devices: [
      {
        ip: "10.0.0.5",
        mac: null,
        internal: true,
        listening: [listening(104, 3), listening(22, 2), listening(3389, 0)],
        uses: [],
      },
    ],
    truncated: { services: 0, peers: 0, devices: 0 },
  };
  const plan = buildPlan({ baseline, devices: [], findings: [], config, generatedAt: T });
  const fw = new Firewall(firewallModel(plan));
  const d = (src: string, dport: number): string => {
    const x = fw.decide({ src, dst: "10.0.0.5", dport });
    return `${x.verdict}/${x.rule}`;
  };
  t.is(d("203.0.113.4", 104), "accept/exception");
  t.is(d("198.51.100.9", 104), "drop/external"); // seen, but outside: step 1 blocks it
  t.is(d("10.0.0.7", 3389), "drop/closed");
  t.is(d("10.0.0.7", 104), "accept/allow");
  t.is(d("10.0.0.8", 104), "drop/service");
  t.is(d("10.0.0.8", 22), "accept/default");
  t.is(d("10.0.0.8", 11112), "drop/closed"); // a DICOM port the PACS does not use
  t.like(plan.exposure.exposed[0], { ip: "10.0.0.5", port: 104 });
  t.false(plan.exposure.exposed[0]!.peers[0]!.excepted);
});

const T = "2026-01-02T00:00:00.000000Z";

function peer(ip: string, ae: string | null): BaselineDocument["services"][number]["peers"][number] {
  return {
    ip,
    aeTitle: ae,
    internal: ip.startsWith("10."),
    associations: 2,
    credentialsInClear: 0,
    operations: [{ operation: "C-STORE", count: 2, firstSeen: T, lastSeen: T }],
    firstSeen: T,
    lastSeen: T,
  };
}

function listening(port: number, sessions: number): BaselineDocument["devices"][number]["listening"][number] {
  return {
    port,
    connections: sessions + 1,
    sessions,
    associations: 0,
    clients: [],
    firstSeen: T,
    lastSeen: T,
  };
}

// ── hostile AE titles ──────────────────────────────────────────────────────────────────────────────

const HOSTILE = [
  'X" accept\n}\nchain evil {',
  "A;B}{C\r\nD",
  "=cmd|' /C calc'!A0",
  "`|</td><script>",
  'PEER,1,"2"\n3',
  "(AE), host, 1",
];

function hostilePlan(titles: (string | null)[]): Plan {
  const config = defaultConfig();
  const baseline: BaselineDocument = {
    version: 1,
    site: "x",
    sensor: "s",
    status: "learned",
    window: { start: T, end: T, days: 14 },
    approved: null,
    internal: config.networks.internal,
    services: titles.map((ae, i) => ({
      ip: "10.0.0.5",
      port: 104 + i,
      aeTitle: ae,
      tls: false,
      peers: [
        {
          ...peer(`10.0.0.${10 + i}`, ae),
          operations: [
            { operation: "C-MOVE", count: 1, moveDestinations: [ae ?? "D"], firstSeen: T, lastSeen: T },
          ],
        },
      ],
      firstSeen: T,
      lastSeen: T,
    })),
    devices: [],
    truncated: { services: 0, peers: 0, devices: 0 },
  };
  return buildPlan({ baseline, devices: [], findings: [], config, generatedAt: T });
}

/** The lines of an nft file that are not comments or blank: its rules and set elements. */
function nftStatements(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => l !== "");
}

/** RFC 4180 records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') throw new Error(`unquoted field at ${i}`);
    let j = i + 1;
    let field = "";
    for (;;) {
      if (text[j] === '"' && text[j + 1] === '"') {
        field += '"';
        j += 2;
      } else if (text[j] === '"') break;
      else field += text[j++];
    }
    row.push(field);
    i = j + 1;
    if (text[i] === ",") i++;
    else if (text.startsWith("\r\n", i)) {
      rows.push(row);
      row = [];
      i += 2;
    } else throw new Error(`garbage after a field at ${i}`);
  }
  return rows;
}

test("hostile AE titles cannot add a rule, a CSV field or a cfg line", (t) => {
  const benign = hostilePlan(HOSTILE.map((_, i) => `SAFE${i}`));
  const hostile = hostilePlan(HOSTILE);
  // nftables: the same statements (comments aside) whatever the titles.
  t.deepEqual(nftStatements(renderNft(hostile)), nftStatements(renderNft(benign)));
  // CSV: as many records, six fields each, and each hostile title read back whole.
  const rows = parseCsv(renderCsv(hostile));
  t.is(rows.length, parseCsv(renderCsv(benign)).length);
  t.true(rows.every((r) => r.length === 6));
  t.true(rows.some((r) => r[0] === `10.0.0.14 (${HOSTILE[4]!})`));
  // No field starts a spreadsheet formula.
  t.true(rows.every((r) => r.every((f) => !/^[=+\-@]/.test(f))));
  // dcmqrscp.cfg: every line that is not a comment is one the format defines, and no hostile title is on it.
  const cfg = renderDcmqrscp(hostile);
  for (const line of cfg.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    t.regex(
      line,
      /^(NetworkTCPPort|MaxPDUSize|MaxAssociations|HostTable|VendorTable|AETable|peer\d+ = \(|[A-Za-z0-9_.+ -]+ \/var\/lib)/,
    );
  }
  t.true(cfg.includes("skipped"));
  // Orthanc: valid JSON with the titles intact (JSON escapes them).
  const orthanc = JSON.parse(renderOrthanc(hostile)) as { archives: { calledAE: string }[] };
  t.deepEqual(
    orthanc.archives.map((a) => a.calledAE),
    HOSTILE,
  );
  // Markdown: a title never breaks out of its table cell (no unescaped pipe, no line break).
  const md = renderMarkdown(hostile);
  for (const line of md.split("\n").filter((l) => l.startsWith("| 10.0.0.")))
    t.is(line.split(/(?<!\\)\|/).length, 7, line);
});

nftTest("nft -c accepts the emitted rules: the lab's, and those of hostile AE titles", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-nft-"));
  try {
    for (const [name, plan] of [
      ["lab", await planOf(LAB_FILES)],
      ["hostile", hostilePlan(HOSTILE)],
      ["scanner", await planOf([join(SCANNER, "duplicate-ae.pcap")])],
    ] as const) {
      const path = join(dir, `${name}.nft`);
      writeFileSync(path, renderNft(plan));
      const r = spawnSync(NFT!, ["-c", "-f", path], { encoding: "utf8" });
      t.is(r.status, 0, `${name}: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ── bad input ──────────────────────────────────────────────────────────────────────────────────────

test("a plan file that is not valid is refused with the reasons, exit 2", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-plan-"));
  try {
    const good = await planOf([join(LAB, "echo.pcap")]);
    const cases: [string, unknown, RegExp][] = [
      ["not-json", "{", /not JSON/],
      ["version", { ...good, version: 2 }, /\/version: must be equal to constant/],
      ["extra", { ...good, firewall: {} }, /additional properties \(firewall\)/],
      [
        "bad-ip",
        { ...good, exposure: { ...good.exposure, protect: ["10.0.0.300"] } },
        /\/exposure\/protect\/0: "10.0.0.300" is not an IP address/,
      ],
      [
        "bad-op",
        {
          ...good,
          allowlists: [
            { ...good.allowlists[0], peers: [{ ...good.allowlists[0]!.peers[0], operations: ["C-HACK"] }] },
          ],
        },
        /operations\/0: must be equal to one of the allowed values/,
      ],
    ];
    for (const [name, content, reason] of cases) {
      const path = join(dir, `${name}.json`);
      writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
      const r = runCli(["plan", "--check", path, join(LAB, "echo.pcap")]);
      t.is(r.status, 2, name);
      t.regex(r.stderr, reason, name);
      t.is(r.stdout, "", name);
    }
    t.throws(() => validatePlan({}), { instanceOf: PlanError });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("plan.exceptions is validated, each problem naming its key", (t) => {
  const e = t.throws(
    () =>
      validateConfig({
        sensor: { id: "s", site: "x" },
        plan: {
          exceptions: [
            { peer: "203.0.113.0/33", server: "10.0.0.5", reason: "x" },
            { peer: "203.0.113.0/24", server: "pacs", port: 0, reason: "" },
            { peer: "203.0.113.0/24", server: "10.0.0.5", reason: "a\nb", extra: 1 },
          ],
        },
      }),
    { instanceOf: ConfigError },
  );
  const problems = (e as ConfigError).problems.join("\n");
  t.regex(problems, /plan\.exceptions\[0\]\.peer: "203\.0\.113\.0\/33" is not a CIDR/);
  t.regex(problems, /plan\.exceptions\[1\]\.server: "pacs" is not an IP address/);
  t.regex(problems, /plan\.exceptions\[1\]\.port: 0 is out of range/);
  t.regex(problems, /plan\.exceptions\[1\]\.reason: must not be empty/);
  t.regex(problems, /plan\.exceptions\[2\]\.reason: .* must be one line/);
  t.regex(problems, /plan\.exceptions\[2\]\.extra: unknown key/);
});

test("plan usage errors exit 2", (t) => {
  t.is(runCli(["plan"]).status, 2);
  t.is(runCli(["plan", "--check", "p.json"]).status, 2);
  t.is(runCli(["plan", "--check", "p.json", "--nft", "x", "f.pcap"]).status, 2);
  const help = runCli(["plan", "--help"]);
  t.is(help.status, 0);
  t.regex(help.stdout, /--check PLAN/);
});

const dcmtkTest = requires("dcmtk");

dcmtkTest.serial(
  "dcmqrscp runs with the emitted dcmqrscp.cfg: the allowed peer's AE title passes, another is refused",
  async (t) => {
    const plan = await planOf([join(LAB, "qr.pcap")]);
    const cfg = renderDcmqrscp(plan);
    const section = cfg.split(/^# ==== /m).find((s) => s.startsWith("dcmqrscp.cfg for 10.77.0.20:4242"));
    t.truthy(section);
    const dir = mkdtempSync(join(tmpdir(), "dicomtap-dcmqrscp-"));
    const port = 40000 + (process.pid % 20000);
    // The lab's addresses become loopback, the port a free one, the storage area a temporary directory.
    const text = ("# " + section!)
      .replace(/10\.77\.0\.10/g, "127.0.0.1")
      .replace(/NetworkTCPPort {2}= \d+/, `NetworkTCPPort  = ${port}`)
      .replace(/\/var\/lib\/dcmtk\/db\/ORTHANC/, join(dir, "db"));
    mkdirSync(join(dir, "db"));
    writeFileSync(join(dir, "dcmqrscp.cfg"), text);
    const scp = spawn("dcmqrscp", ["--disable-host-lookup", "-c", join(dir, "dcmqrscp.cfg"), String(port)], {
      stdio: "ignore",
    });
    try {
      const echo = (ae: string): number | null =>
        spawnSync("echoscu", ["-to", "3", "-aet", ae, "-aec", "ORTHANC", "127.0.0.1", String(port)], {
          timeout: 10_000,
        }).status;
      const end = Date.now() + 10_000;
      while (echo("VIEWER1") !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      t.is(echo("VIEWER1"), 0, "VIEWER1 is an allowed peer of ORTHANC");
      t.not(echo("INTRUDER"), 0, "an AE title the plan does not list is refused");
    } finally {
      scp.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("step 2 lists the listening ports a device's vendor profile does not document", async (t) => {
  const config = defaultConfig();
  const { files: _read, ...evidence } = await evidenceFromCaptures([join(LAB, "qr.pcap")], config);
  // The PACS of the lab, as an Orthanc 1.10 that states itself in its datasets, answering on SSH too.
  const devices = evidence.devices.map((d) =>
    d.ip === "10.77.0.20"
      ? {
          ...d,
          manufacturer: "Orthanc",
          model: "Orthanc",
          softwareVersions: ["1.10.1"],
          listeningPorts: [22, 4242, 8042],
        }
      : d,
  );
  const plan = buildPlan({
    ...evidence,
    devices,
    config,
    portsOutsideProfile: outsideProfile([]),
    generatedAt: GENERATED_AT,
  });
  const outside = plan.portsToClose.filter((c) => c.reason === "outside-profile");
  t.deepEqual(
    outside.map((c) => [c.ip, c.port]),
    [["10.77.0.20", 22]],
  );
  t.regex(outside[0]!.profile ?? "", /^Orthanc Orthanc >=1\.9\.0 \(Orthanc Book/);
  // Without the hook, no port is closed for a profile.
  const bare = buildPlan({ ...evidence, devices, config, generatedAt: GENERATED_AT });
  t.false(bare.portsToClose.some((c) => c.reason === "outside-profile"));
});
