/**
 * `scripts/install --central` into temporary roots (--root): the central console's tree (the agent, the
 * web application where defaultWebRoots() looks), its unit with this machine's node, its user in group
 * dicomtap, /etc/dicomtap and its state directory, no config written and the service not enabled; it
 * re-runs, needs neither tcpdump nor openssl, and the installed `dicomtap central`, run as its user from
 * the installed tree, serves the web application. The sensor's install is what it was, and both install
 * on one host in either order, each run keeping the other. Root only (users and owners in the root).
 */
import test from "ava";
import { execFile, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort, removeDir, tempDir } from "../helpers/mosquitto.js";
import { installedNode } from "../helpers/installed.js";
import { requires } from "../helpers/requires.js";
import { request } from "../central/helpers.js";

const run = promisify(execFile);
const gate = requires("root");
const rootTest = gate.serial;

/** The compiled tree this test runs from (.build/NAME/ or dist/): what install copies to /opt/dicomtap. */
const BUILD = fileURLToPath(new URL("../../", import.meta.url));
const OPT = "opt/dicomtap";
const CENTRAL_UNIT = "etc/systemd/system/dicomtap-central.service";
const SENSOR_UNIT = "etc/systemd/system/dicomtap.service";
/** What only the sensor needs, in its install. */
const SENSOR_ONLY = [
  SENSOR_UNIT,
  "usr/lib/sysusers.d/dicomtap.conf",
  "usr/lib/tmpfiles.d/dicomtap.conf",
  `${OPT}/scripts/provision`,
  `${OPT}/scripts/silence-capture-interface`,
  `${OPT}/pki/sensor-key-csr`,
  `${OPT}/systemd/dicomtap.service`,
];
/** What only the central needs, in its install. */
const CENTRAL_ONLY = [
  CENTRAL_UNIT,
  "usr/lib/sysusers.d/dicomtap-central.conf",
  "usr/lib/tmpfiles.d/dicomtap-central.conf",
  "var/lib/dicomtap-central",
  `${OPT}/web/static/index.html`,
  `${OPT}/web/static/app.css`,
  `${OPT}/dist/web/main.js`,
  `${OPT}/systemd/dicomtap-central.service`,
];

let dir = "";
/** A `node` that is not /usr/bin/node (a wrapper), so the units' ExecStart shows the substitution. */
let nodeWrapper = "";
/** PATH with every tool of this machine except tcpdump and openssl. */
let pathWithoutCapture = "";

test.before(() => {
  if (!gate.ok) return;
  dir = tempDir("dtinst-");
  mkdirSync(join(dir, "nodebin"));
  nodeWrapper = join(dir, "nodebin", "node");
  writeFileSync(nodeWrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
  const shim = join(dir, "shim");
  mkdirSync(shim);
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    if (d === "" || !existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (name === "tcpdump" || name === "openssl" || existsSync(join(shim, name))) continue;
      symlinkSync(join(d, name), join(shim, name));
    }
  }
  pathWithoutCapture = shim;
});

test.after.always(() => {
  if (gate.ok) removeDir(dir);
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function install(root: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(
      resolve("scripts/install"),
      ["--root", root, "--no-apt", "--build", BUILD, ...args],
      { env: { ...process.env, NODE: nodeWrapper, ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: Number(err.code ?? -1), stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

/** The users and groups of a root: name → [uid or gid, members]. */
function accounts(root: string): {
  users: Map<string, { uid: number; gid: number; home: string; shell: string }>;
  groups: Map<string, { gid: number; members: string[] }>;
} {
  const users = new Map<string, { uid: number; gid: number; home: string; shell: string }>();
  for (const line of readFileSync(join(root, "etc/passwd"), "utf8").split("\n").filter(Boolean)) {
    const f = line.split(":");
    users.set(f[0]!, { uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! });
  }
  const groups = new Map<string, { gid: number; members: string[] }>();
  for (const line of readFileSync(join(root, "etc/group"), "utf8").split("\n").filter(Boolean)) {
    const f = line.split(":");
    groups.set(f[0]!, { gid: Number(f[2]), members: f[3] ? f[3].split(",") : [] });
  }
  return { users, groups };
}

const unitLines = (text: string, key: string): string[] =>
  [...text.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]!);

let centralRoot = "";

rootTest(
  "install --central: the tree with the web application, its unit, user and directories; re-runs",
  async (t) => {
    centralRoot = join(dir, "central");
    for (let i = 0; i < 2; i++) {
      const r = await install(centralRoot, ["--central"]);
      t.is(r.code, 0, r.stderr);
      t.regex(r.stdout, /installed .* to /);
      // It says what to write and where the recipe is, and how to start; it starts nothing.
      t.regex(r.stdout, /write \/etc\/dicomtap\/central\.json/);
      t.regex(r.stdout, /README\.md, "Central console in five minutes"/);
      t.regex(r.stdout, /systemctl enable --now dicomtap-central/);
      t.notRegex(r.stdout, /scripts\/provision|capture helper/);
    }
    for (const f of [
      ...CENTRAL_ONLY,
      `${OPT}/package.json`,
      `${OPT}/bin/dicomtap.js`,
      `${OPT}/dist/agent/central/cli.js`,
      `${OPT}/web/static/favicon.svg`,
      `${OPT}/systemd/dicomtap-notify`,
      `${OPT}/node_modules/mqtt/package.json`,
      `${OPT}/node_modules/better-sqlite3/package.json`,
      `${OPT}/schemas/finding.schema.json`,
      "etc/dicomtap/pki",
    ])
      t.true(existsSync(join(centralRoot, f)), f);
    // Nothing of the sensor, no development leftovers, no config, not enabled.
    for (const f of [
      ...SENSOR_ONLY,
      `${OPT}/dist/bin/dicomtap-capture`,
      `${OPT}/dist/web/.tsbuildinfo`,
      `${OPT}/node_modules/typescript`,
      "etc/dicomtap/central.json",
      "etc/systemd/system/multi-user.target.wants",
    ])
      t.false(existsSync(join(centralRoot, f)), f);
    t.deepEqual(
      readdirSync(join(centralRoot, `${OPT}/dist/web`)).sort(),
      readdirSync(join(BUILD, "web"))
        .filter((f) => !f.startsWith(".") && !f.endsWith(".map"))
        .sort(),
    );
    t.is(readlinkSync(join(centralRoot, "usr/local/bin/dicomtap")), "/opt/dicomtap/bin/dicomtap.js");

    // The unit as in systemd/, with the node found at install in ExecStart.
    const unit = readFileSync(join(centralRoot, CENTRAL_UNIT), "utf8");
    t.deepEqual(unitLines(unit, "ExecStart"), [
      `${nodeWrapper} /opt/dicomtap/bin/dicomtap.js central --config /etc/dicomtap/central.json`,
    ]);
    t.is(
      unit.replace(/^ExecStart=.*$/m, ""),
      readFileSync(resolve("systemd/dicomtap-central.service"), "utf8").replace(/^ExecStart=.*$/m, ""),
    );

    // Its user, in group dicomtap (which owns /etc/dicomtap), and the unit's state directory, as
    // StateDirectory=dicomtap-central with StateDirectoryMode=0750 would make it.
    const { users, groups } = accounts(centralRoot);
    const user = users.get("dicomtap-central");
    t.truthy(user);
    t.is(user!.home, "/var/lib/dicomtap-central");
    t.is(user!.shell, "/usr/sbin/nologin");
    t.false(users.has("dicomtap"));
    t.deepEqual(groups.get("dicomtap")?.members, ["dicomtap-central"]);
    // The state directory the unit names, with its owner and mode (and the one the user's home names).
    const stateDir = `/var/lib/${unitLines(unit, "StateDirectory")[0]}`;
    t.is(stateDir, user!.home);
    t.is(unitLines(unit, "WorkingDirectory")[0], stateDir);
    const state = statSync(join(centralRoot, stateDir));
    t.is(state.uid, user!.uid);
    t.is(state.gid, user!.gid);
    t.is(state.mode & 0o777, parseInt(unitLines(unit, "StateDirectoryMode")[0]!, 8));
    for (const d of ["etc/dicomtap", "etc/dicomtap/pki"]) {
      const st = statSync(join(centralRoot, d));
      t.is(st.uid, 0, d);
      t.is(st.gid, groups.get("dicomtap")!.gid, d);
      t.is(st.mode & 0o777, 0o750, d);
    }
  },
);

rootTest(
  "the installed central, as its user, serves the web application from the installed tree",
  async (t) => {
    t.truthy(centralRoot, "needs the install of the first test");
    const { users, groups } = accounts(centralRoot);
    const user = users.get("dicomtap-central")!;
    const port = await freePort();
    // A loopback config where the unit reads it, readable through group dicomtap only; the broker is not
    // there (the ingest retries; the web application is served meanwhile).
    const config = join(centralRoot, "etc/dicomtap/central.json");
    const pki = "/nonexistent/pki";
    writeFileSync(
      config,
      JSON.stringify({
        central: {
          listen: `127.0.0.1:${port}`,
          store: { path: join(centralRoot, "var/lib/dicomtap-central/central.db") },
        },
        broker: {
          url: "mqtts://127.0.0.1:1",
          ca: `${pki}/ca.crt`,
          cert: `${pki}/console.crt`,
          key: `${pki}/console.key`,
        },
      }),
    );
    chownSync(config, 0, groups.get("dicomtap")!.gid);
    chmodSync(config, 0o640);
    t.teardown(() => rmSync(config, { force: true }));

    const { env, flags } = installedNode();
    const child = spawn(
      "setpriv",
      [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        `--groups=${groups.get("dicomtap")!.gid}`,
        "--",
        process.execPath,
        ...flags,
        join(centralRoot, OPT, "bin/dicomtap.js"),
        "central",
        "--config",
        config,
      ],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    t.teardown(() => void child.kill("SIGKILL"));
    const base = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`central did not start:\n${stderr}`)), 20_000);
      const look = (): void => {
        const m = /serving (http:\/\/[^\s,]+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          res(m[1]!.replace(/\/$/, ""));
        }
      };
      child.stderr.on("data", look);
      void exited.then(() => {
        clearTimeout(timer);
        rej(new Error(`central exited:\n${stderr}`));
      });
    });

    const web = join(centralRoot, OPT);
    const index = await request(`${base}/`);
    t.is(index.status, 200);
    t.regex(String(index.headers["content-type"]), /^text\/html/);
    t.is(index.text, readFileSync(join(web, "web/static/index.html"), "utf8"));
    // Everything the page loads, and a module the app imports, come from the installed tree.
    const loaded = [...index.text.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
    t.deepEqual(loaded.sort(), ["/app.css", "/favicon.svg", "/main.js"]);
    const main = readFileSync(join(web, "dist/web/main.js"), "utf8");
    const imported = /from "\.\/([\w-]+\.js)"/.exec(main)?.[1];
    t.truthy(imported, "main.js imports a module");
    for (const path of [...loaded, `/${imported}`]) {
      const r = await request(`${base}${path}`);
      t.is(r.status, 200, path);
      const file = existsSync(join(web, "web/static", path))
        ? join(web, "web/static", path)
        : join(web, "dist/web", path);
      t.is(r.text, readFileSync(file, "utf8"), path);
    }
    t.is((await request(`${base}/api/v1/openapi.json`)).status, 200);
    // The store was made by the service's user in its state directory.
    t.is(lstatSync(join(centralRoot, "var/lib/dicomtap-central/central.db")).uid, user.uid);

    child.kill("SIGTERM");
    t.is(await exited, 0, stderr);
  },
);

rootTest(
  "install --central needs neither tcpdump nor openssl; the sensor's install still does",
  async (t) => {
    const root = join(dir, "no-capture");
    const env = { PATH: pathWithoutCapture };
    const central = await install(root, ["--central"], env);
    t.is(central.code, 0, central.stderr);
    t.true(existsSync(join(root, CENTRAL_UNIT)));
    const sensor = await install(join(dir, "no-capture-sensor"), [], env);
    t.is(sensor.code, 1);
    t.regex(sensor.stderr, /tcpdump is missing/);
  },
);

rootTest("the sensor's install is as before: no central, no web application", async (t) => {
  const root = join(dir, "sensor");
  const r = await install(root, []);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /next: scripts\/provision/);
  t.notRegex(r.stdout, /central/);
  for (const f of SENSOR_ONLY) t.true(existsSync(join(root, f)), f);
  for (const f of [...CENTRAL_ONLY, `${OPT}/web`, `${OPT}/dist/web`]) t.false(existsSync(join(root, f)), f);
  t.false(accounts(root).users.has("dicomtap-central"));
  t.regex(
    readFileSync(join(root, SENSOR_UNIT), "utf8"),
    new RegExp(`^ExecStart=${nodeWrapper} (--\\S+ )*/opt/dicomtap/bin/dicomtap\\.js run `, "m"),
  );
});

for (const order of [
  ["sensor", "central"],
  ["central", "sensor"],
] as const) {
  rootTest(
    `sensor and central on one host (${order.join(" then ")}); a re-run of either keeps both`,
    async (t) => {
      const root = join(dir, `both-${order[0]}`);
      const installed = new Set<string>();
      for (const what of [...order, ...order]) {
        const r = await install(root, what === "central" ? ["--central"] : []);
        t.is(r.code, 0, r.stderr);
        // A run for one also updates the other when it is installed, and says so.
        const other = what === "central" ? "sensor" : "central";
        if (installed.has(other))
          t.regex(r.stdout, new RegExp(`the ${other} \\(\\S+\\) is installed here too`));
        installed.add(what);
        for (const role of installed)
          for (const f of role === "sensor" ? SENSOR_ONLY : CENTRAL_ONLY)
            t.true(existsSync(join(root, f)), `after ${what}: ${f}`);
      }
      for (const f of [...SENSOR_ONLY, ...CENTRAL_ONLY]) t.true(existsSync(join(root, f)), f);
      const { users, groups } = accounts(root);
      const dicomtap = groups.get("dicomtap")!;
      t.is(users.get("dicomtap")?.gid, dicomtap.gid);
      t.deepEqual(dicomtap.members, ["dicomtap-central"]);
      t.is(statSync(join(root, "var/lib/dicomtap")).uid, users.get("dicomtap")!.uid);
      t.is(statSync(join(root, "var/lib/dicomtap-central")).uid, users.get("dicomtap-central")!.uid);
      for (const u of [SENSOR_UNIT, CENTRAL_UNIT])
        t.true(
          unitLines(readFileSync(join(root, u), "utf8"), "ExecStart")[0]!.startsWith(`${nodeWrapper} `),
          u,
        );
    },
  );
}
