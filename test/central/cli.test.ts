/**
 * `dicomtap central user|token ...` as an administrator runs them, in a child process on a real config
 * and store file: the password comes from standard input (short ones refused), a new token is printed
 * alone on the last line and works as a bearer token against the real server, tokens are listed without
 * their secrets and revoked by number or name (then refused with 401), and usage errors exit 2.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authenticate } from "../../agent/central/auth.js";
import { openCentralStore } from "../../agent/central/http/db.js";
import { CentralHttp } from "../../agent/central/http/server.js";
import { runCli } from "../helpers/cli.js";
import { request } from "./helpers.js";

function setup(): { dir: string; config: string; store: string } {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-central-cli-"));
  const store = join(dir, "state", "central.db");
  const config = join(dir, "central.json");
  writeFileSync(
    config,
    JSON.stringify({
      central: { listen: "127.0.0.1:8443", store: { path: store } },
      broker: {
        url: "mqtts://127.0.0.1:8883",
        ca: join(dir, "ca.crt"),
        cert: join(dir, "console.crt"),
        key: join(dir, "console.key"),
      },
    }),
  );
  return { dir, config, store };
}

test("user add reads the password from standard input; short passwords and bad roles are refused; list and remove", async (t) => {
  const { dir, config, store } = setup();
  try {
    const added = runCli(["central", "user", "add", "alice", "--role", "analyst", "--config", config], {
      input: "correct horse battery staple\n",
    });
    t.is(added.status, 0, added.stderr);
    t.regex(added.stdout, /user alice added \(analyst\)/);
    t.false(added.stdout.includes("correct horse"), "the password is never echoed");
    const short = runCli(["central", "user", "add", "bob", "--role", "viewer", "--config", config], {
      input: "short\n",
    });
    t.is(short.status, 1);
    t.regex(short.stderr, /at least 12 characters/);
    const twice = runCli(["central", "user", "add", "alice", "--role", "viewer", "--config", config], {
      input: "another long password\n",
    });
    t.is(twice.status, 1);
    t.regex(twice.stderr, /exists/);
    const badRole = runCli(["central", "user", "add", "carol", "--role", "root", "--config", config], {
      input: "a long enough password\n",
    });
    t.is(badRole.status, 2);
    t.regex(badRole.stderr, /--role must be one of viewer, analyst, admin/);
    const noRole = runCli(["central", "user", "add", "carol", "--config", config], {
      input: "a long enough password\n",
    });
    t.is(noRole.status, 2);

    const central = openCentralStore(store);
    const db = central.db;
    try {
      const stored = db.prepare("SELECT password FROM users WHERE name = 'alice'").get() as {
        password: string;
      };
      t.regex(stored.password, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      t.truthy(await authenticate(db, "alice", "correct horse battery staple"));
      t.is(await authenticate(db, "alice", "correct horse battery stapl"), null);
    } finally {
      central.close();
    }
    const list = runCli(["central", "user", "list", "--config", config]);
    t.is(list.status, 0);
    t.regex(list.stdout, /^PK\s+NAME\s+ROLE/);
    t.regex(list.stdout, /\balice\s+analyst\b/);
    const removed = runCli(["central", "user", "remove", "alice", "--config", config]);
    t.is(removed.status, 0, removed.stderr);
    t.false(runCli(["central", "user", "list", "--config", config]).stdout.includes("alice"));
    t.is(runCli(["central", "user", "remove", "alice", "--config", config]).status, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("token add prints the token alone on the last line; it works as a bearer token until revoked", async (t) => {
  const { dir, config, store } = setup();
  try {
    const added = runCli(["central", "token", "add", "asset-sync", "--role", "viewer", "--config", config]);
    t.is(added.status, 0, added.stderr);
    const lines = added.stdout.trimEnd().split("\n");
    const token = lines.at(-1)!;
    t.regex(token, /^dtc_[A-Za-z0-9_-]{43}$/);
    t.true(lines.length >= 2, "an explanation above, the token alone below");
    t.is(added.stdout.split(token).length, 2, "printed once");
    const second = runCli(["central", "token", "add", "asset-sync", "--role", "analyst", "--config", config]);
    const token2 = second.stdout.trimEnd().split("\n").at(-1)!;

    const central = openCentralStore(store);
    const db = central.db;
    const http = new CentralHttp({ db, listen: { host: "127.0.0.1", port: 0 }, tls: null, webRoots: [] });
    await http.start();
    try {
      const call = (tok: string) =>
        request(`${http.address().url}/api/v1/devices`, { headers: { Authorization: `Bearer ${tok}` } });
      t.is((await call(token)).status, 200);
      t.is((await call(token2)).status, 200);
      t.is((await call(`${token}x`)).status, 401);

      const list = runCli(["central", "token", "list", "--config", config]);
      t.is(list.status, 0);
      t.false(list.stdout.includes(token), "list never shows a secret");
      t.regex(list.stdout, /asset-sync\s+viewer\s+\S+\s+20\d\d-/, "last use recorded");
      // Revoke by number, then by name (every unrevoked token of the name).
      const pk = /^(\d+)\s+asset-sync\s+viewer/m.exec(list.stdout)![1]!;
      const r1 = runCli(["central", "token", "revoke", pk, "--config", config]);
      t.is(r1.status, 0, r1.stderr);
      t.is((await call(token)).status, 401);
      t.is((await call(token2)).status, 200);
      const r2 = runCli(["central", "token", "revoke", "asset-sync", "--config", config]);
      t.is(r2.status, 0);
      t.regex(r2.stdout, /revoked/);
      t.is((await call(token2)).status, 401);
      t.is(runCli(["central", "token", "revoke", "asset-sync", "--config", config]).status, 1);
    } finally {
      await http.stop();
      central.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("central --help on each command exits 0 with the usage; usage errors exit 2", (t) => {
  for (const args of [
    ["central", "--help"],
    ["central", "user", "add", "--help"],
    ["central", "token", "-h"],
    ["help", "central"],
  ]) {
    const r = runCli(args);
    t.is(r.status, 0, args.join(" "));
    t.regex(r.stdout, /^usage: dicomtap central /);
    t.regex(r.stdout, /token add/);
  }
  for (const args of [
    ["central", "frobnicate"],
    ["central", "user"],
    ["central", "user", "add"],
    ["central", "token", "list", "extra"],
    ["central", "token", "revoke", "x", "--role", "admin"],
    ["central", "--bogus"],
  ]) {
    const r = runCli(args);
    t.is(r.status, 2, args.join(" "));
    t.regex(r.stderr, /usage: dicomtap central /);
  }
  const missing = runCli(["central", "user", "list", "--config", "/nonexistent/central.json"]);
  t.is(missing.status, 2);
  t.regex(missing.stderr, /config/);
});

test("user add at a terminal asks for the password and does not echo it", async (t) => {
  const { dir, config } = setup();
  try {
    // script(1) gives the command a pseudo-terminal; the line is typed 3 s later, after the prompt (a
    // terminal echoes what arrives before the echo is turned off, as it would for a person typing ahead).
    const cmd = `node bin/dicomtap.js central user add tty-user --role viewer --config ${config}`;
    const r = spawnSync(
      "sh",
      ["-c", `(sleep 3; printf 'a terminal typed password\\n') | script -qec "${cmd}" /dev/null`],
      { encoding: "utf8", timeout: 30_000 },
    );
    t.is(r.status, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /password \(at least 12 characters, not shown\)/);
    t.regex(r.stdout, /user tty-user added \(viewer\)/);
    t.false(r.stdout.includes("a terminal typed password"), r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
