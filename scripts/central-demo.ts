/**
 * The central console in five minutes (README): on one machine, a site PKI made by pki/, a real mosquitto
 * with mutual TLS (scripts/lib/mosquitto.ts, configured like pki/mosquitto/dicomtap.conf), one sensor that
 * replays captures (`dicomtap run --replay`) and `dicomtap central` serving the web application on
 * 127.0.0.1. Prints the address and a generated admin password, and runs until ^C; then stops everything
 * and removes the temporary folder (keys included).
 *
 *   node dist/scripts/central-demo.js [--port 8443] [--sensors N] [CAPTURE...]
 *
 * Without captures it replays samples/imaging-room.pcap. With --sensors N (default 1), N sensors
 * ("room-1" ...) replay the same captures, as N imaging rooms would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, Mosquitto, removeDir, SitePki, tempDir } from "./lib/mosquitto.js";

const SITE = "demo-hospital";
const BIN = resolve("bin", "dicomtap.js");

function usage(): never {
  process.stderr.write("usage: central-demo.js [--port 8443] [--sensors N] [CAPTURE...]\n");
  process.exit(2);
}

function parse(argv: string[]): { port: number | null; sensors: number; captures: string[] } {
  const o = { port: null as number | null, sensors: 1, captures: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--port" || a === "--sensors") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 65535) usage();
      if (a === "--port") o.port = n;
      else o.sensors = Math.min(n, 50);
    } else if (a === "--help" || a === "-h") usage();
    else if (a.startsWith("-")) usage();
    else o.captures.push(resolve(a));
  }
  if (o.captures.length === 0) o.captures.push(resolve("samples", "imaging-room.pcap"));
  return o;
}

/** Runs `dicomtap ARGS`, writing `input` to its stdin; resolves with its exit code and output. */
function dicomtap(args: string[], input = ""): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.once("error", rej);
    p.once("exit", (code) => res({ code: code ?? 1, out, err }));
    p.stdin.end(input);
  });
}

// What runs, for the orderly stop at ^C: the central first (it closes its store), then the broker
// (it saves its persistence file), then the folder; removing it while they still write would leave it.
let broker: Mosquitto | null = null;
let central: ChildProcess | null = null;
let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    const c = central;
    if (c !== null && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      c.kill("SIGKILL");
    }
    await broker?.stop();
    if (dir !== null) removeDir(dir);
  }
  process.exit(code);
}

let dir: string | null = null;

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const d = tempDir("dicomtap-demo-");
  dir = d;
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void stop(0));
  process.on("exit", () => central?.kill("SIGKILL"));
  process.stderr.write(`site PKI and broker in ${d}\n`);
  const pki = await SitePki.create(d, SITE);
  // The central may be down while sensors publish: its persistent session queues their findings.
  const b = await Mosquitto.start({ pki, extra: ["max_queued_messages 100000"] });
  broker = b;

  const port = o.port ?? (await freePort());
  const centralConfig = join(d, "central.json");
  writeFileSync(
    centralConfig,
    JSON.stringify(
      {
        central: { listen: `127.0.0.1:${String(port)}`, store: { path: join(d, "central.db") } },
        broker: { url: b.url(), ca: pki.ca, cert: pki.console.cert, key: pki.console.key },
      },
      null,
      2,
    ),
  );
  const password = randomBytes(12).toString("base64url");
  const added = await dicomtap(
    ["central", "user", "add", "admin", "--role", "admin", "--config", centralConfig],
    password + "\n",
  );
  if (added.code !== 0) throw new Error(`central user add failed: ${added.err}`);

  const running = spawn(process.execPath, [BIN, "central", "--config", centralConfig], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  central = running;

  for (let n = 1; n <= o.sensors; n++) {
    const id = `room-${String(n)}`;
    const cert = await pki.sensor(id);
    const config = join(d, `${id}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        sensor: { id, site: SITE },
        store: { path: join(d, `${id}.db`) },
        broker: { url: b.url(), ca: pki.ca, cert: cert.cert, key: cert.key },
      }),
    );
    for (const capture of o.captures) {
      const r = await dicomtap(["run", "--config", config, "--replay", capture]);
      if (r.code !== 0) throw new Error(`sensor ${id} replay of ${capture} failed: ${r.err}`);
    }
    process.stderr.write(`sensor ${SITE}/${id} replayed ${String(o.captures.length)} capture(s)\n`);
  }

  process.stdout.write(
    [
      "",
      `central console: http://127.0.0.1:${String(port)}/`,
      "user:     admin",
      `password: ${password}`,
      "^C stops the central, the broker and removes the temporary folder.",
      "",
    ].join("\n"),
  );
  await new Promise<void>((res) => running.once("exit", () => res()));
  if (!stopping) {
    process.stderr.write("the central exited\n");
    await stop(1);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`central-demo: ${e instanceof Error ? e.message : String(e)}\n`);
  void stop(1);
});
