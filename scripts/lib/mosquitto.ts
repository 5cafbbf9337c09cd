/**
 * A real mosquitto (the Debian package) on a free 127.0.0.1 port, configured like
 * pki/mosquitto/dicomtap.conf (mutual TLS, identity from the certificate CN, the ACL of
 * pki/mosquitto/acl), with a site PKI made by the pki/ scripts in a temporary directory.
 *
 * One implementation for the tests (test/helpers/mosquitto.ts re-exports it) and the publish benchmark
 * (scripts/bench): scripts never import from test/, so the shared code lives here.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
// Relative to the working directory: tests and `npm run bench` run from the project root.
const PKI = resolve("pki");

export interface ClientPki {
  cert: string;
  key: string;
}

/** A site CA with the broker and console certificates, in `dir`. */
export class SitePki {
  readonly caDir: string;
  readonly ca: string;
  readonly brokerCert: string;
  readonly brokerKey: string;
  readonly console: ClientPki;
  private issued = 0;

  private constructor(
    readonly dir: string,
    readonly site: string,
  ) {
    this.caDir = join(dir, "ca");
    this.ca = join(this.caDir, "ca.crt");
    this.brokerCert = join(dir, "broker", "broker.crt");
    this.brokerKey = join(dir, "broker", "broker.key");
    this.console = { cert: join(dir, "console", "console.crt"), key: join(dir, "console", "console.key") };
  }

  /**
   * Runs make-ca, make-broker-cert (for `brokerNames`: the first is the certificate's CN, all are in its
   * subjectAltName) and make-console-cert.
   */
  static async create(
    dir: string,
    site = "st-marys",
    brokerNames = ["localhost", "127.0.0.1"],
  ): Promise<SitePki> {
    const p = new SitePki(dir, site);
    await run(join(PKI, "make-ca"), [site, p.caDir]);
    await run(join(PKI, "make-broker-cert"), [p.caDir, join(dir, "broker"), ...brokerNames]);
    await run(join(PKI, "make-console-cert"), [p.caDir, join(dir, "console")]);
    return p;
  }

  /**
   * The sensor flow of pki/README.md: key and CSR made "on the sensor" (sensor-key-csr), signed by the CA
   * (sign-csr, with `signArgs` such as --expired). Each call gets its own folder, so one sensor id may be
   * issued several certificates.
   */
  async sensor(sensorId: string, signArgs: string[] = []): Promise<ClientPki> {
    const sdir = join(this.dir, "sensors", `${sensorId}-${String(++this.issued)}`);
    await run(join(PKI, "sensor-key-csr"), [sensorId, sdir]);
    const cert = join(sdir, "sensor.crt");
    await run(join(PKI, "sign-csr"), [this.caDir, join(sdir, "sensor.csr"), sensorId, cert, ...signArgs]);
    return { cert, key: join(sdir, "sensor.key") };
  }
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Brokers running and temporary folders not yet removed, for cleanUpOnExit. */
const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** A temp dir others may traverse (mosquitto runs as its own user); keys inside stay 0600. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o755);
  tempDirs.add(d);
  return d;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function cleanUpNow(): void {
  for (const p of running) p.kill("SIGKILL");
  running.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

let cleanUpInstalled = false;

/**
 * For a program (not the tests, whose runner owns the process): an exception or ^C must not leave a
 * broker running or keys in /tmp. On exit, kills the brokers still running and removes the temp dirs
 * not yet removed; SIGINT/SIGTERM end the program as their default action would, after cleaning up
 * ('exit' handlers do not run on a fatal signal). Idempotent.
 */
export function cleanUpOnExit(): void {
  if (cleanUpInstalled) return;
  cleanUpInstalled = true;
  process.on("exit", cleanUpNow);
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
      cleanUpNow();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
}

/** Gives the tree to the user mosquitto drops to when started as root, so it can read keys and persist. */
function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

function mosquittoUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("mosquitto:"));
  if (!line) return null;
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export interface MosquittoOptions {
  pki: SitePki;
  /**
   * autosave_interval: seconds between saves of the persistence file while running (it is saved on
   * SIGTERM in any case). Default 1; null leaves mosquitto's own default (30 min), for a benchmark that
   * should not pay for frequent saves.
   */
  autosaveSeconds?: number | null;
  /**
   * A certificate revocation list (pki/revoke writes CADIR/crl.pem) for the listener's `crlfile`: the
   * broker refuses client certificates it lists. Read by mosquitto when it starts (restart() after a
   * revocation). Default none.
   */
  crlfile?: string;
  /** Extra config lines. */
  extra?: string[];
}

/** The broker log kept for error messages; the rest is dropped. */
const LOG_LIMIT = 100_000;

export class Mosquitto {
  port = 0;
  private proc: ChildProcess | null = null;
  private log = "";

  private constructor(private readonly confPath: string) {}

  /** Writes the config (ACL of pki/mosquitto/acl) and starts the broker on a free port. */
  static async start(opts: MosquittoOptions): Promise<Mosquitto> {
    const dir = join(opts.pki.dir, "broker-run");
    const m = new Mosquitto(join(dir, "mosquitto.conf"));
    m.port = await freePort();
    const autosave = opts.autosaveSeconds === undefined ? 1 : opts.autosaveSeconds;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "data"), { recursive: true });
    writeFileSync(join(dir, "acl"), readFileSync(join(PKI, "mosquitto", "acl")));
    writeFileSync(
      m.confPath,
      [
        "per_listener_settings false",
        "allow_anonymous false",
        "persistence true",
        `persistence_location ${join(dir, "data")}/`,
        ...(autosave === null ? [] : [`autosave_interval ${String(autosave)}`]),
        // stderr: stdout to a pipe is block-buffered by libc, the "running" line would sit there.
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        // The "running" line the start waits for is logged at information level.
        "log_type information",
        "log_type subscribe",
        `listener ${String(m.port)} 127.0.0.1`,
        `cafile ${opts.pki.ca}`,
        `certfile ${opts.pki.brokerCert}`,
        `keyfile ${opts.pki.brokerKey}`,
        ...(opts.crlfile === undefined ? [] : [`crlfile ${opts.crlfile}`]),
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.2",
        `acl_file ${join(dir, "acl")}`,
        // As pki/mosquitto/dicomtap.conf: a persistent session (a central console away for a while) keeps
        // its QoS 1 messages instead of mosquitto's default 1000.
        "max_queued_messages 100000",
        ...(opts.extra ?? []),
        "",
      ].join("\n"),
    );
    const user = mosquittoUser();
    if (user) {
      // mosquitto started as root drops to user `mosquitto`: it must reach the temp dir, read the keys
      // and write its persistence file.
      chownTree(opts.pki.dir, user.uid, user.gid);
      chmodSync(opts.pki.dir, 0o755);
    }
    await m.launch();
    return m;
  }

  private async launch(): Promise<void> {
    this.log = "";
    const proc = spawn("mosquitto", ["-c", this.confPath], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    running.add(proc);
    proc.once("exit", () => running.delete(proc));
    const keep = (d: Buffer): void => {
      if (this.log.length < LOG_LIMIT) this.log += d.toString();
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    const deadline = Date.now() + 10_000;
    while (!/mosquitto version \S+ running/.test(this.log)) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited ${String(proc.exitCode)}:\n${this.log}`);
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`mosquitto did not start:\n${this.log}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Stops the broker (SIGTERM: it saves its persistence file) and waits for it to exit; SIGKILL if it
   * has not exited within 5 s.
   */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  }

  /** Starts it again on the same port with the same persistence. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  logText(): string {
    return this.log;
  }

  url(host = "127.0.0.1"): string {
    return `mqtts://${host}:${String(this.port)}`;
  }
}
