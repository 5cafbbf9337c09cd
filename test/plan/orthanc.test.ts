/**
 * The plan's Orthanc output (`plan --orthanc`, renderOrthanc) in a real Orthanc (issue 13): the lab captures'
 * plan, with the modality's address made 127.0.0.1 (and MODALITY1's own DICOM port a free one, for C-MOVE),
 * is rendered; the ORTHANC service's fragment is merged into a minimal configuration (its own storage in a
 * temporary directory, a free DICOM port, no HTTP server, no plugins) and Orthanc is started with it.
 *
 * What Orthanc (1.10.1 on Debian 12) does with that fragment, checked with DCMTK's tools and, for the exact
 * PDUs, with a raw association (test/dicom/ul/builders.ts):
 * - a calling AE title not in DicomModalities: A-ASSOCIATE-RJ, rejected-permanent, service user, reason 3
 *   (calling AE title not recognised);
 * - a called AE title other than ORTHANC (DicomCheckCalledAet): A-ASSOCIATE-RJ 1/1/7;
 * - a listed peer from another address (DicomCheckModalityHost): rejected like an unknown AE title;
 * - a listed peer asking for a command its Allow* flag forbids: the association is accepted, and at the
 *   request Orthanc sends no DIMSE response but an A-ABORT (source service user, reason 0). The DCMTK tools
 *   print "Peer aborted Association"; echoscu, findscu and movescu still exit 0, so their output is checked.
 * Needs Orthanc and DCMTK (test/helpers/requires.ts); Orthanc is stopped and the directories removed even
 * when the test fails.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionContext } from "ava";
import { defaultConfig } from "../../agent/config/config.js";
import { buildPlan } from "../../agent/plan/build.js";
import { renderOrthanc } from "../../agent/plan/render-archives.js";
import { evidenceFromCaptures } from "../../agent/plan/source.js";
import type { Plan } from "../../agent/plan/types.js";
import { validatePlan } from "../../agent/plan/validate.js";
import { associateRq, cEchoRq, pdataTf, pdv, releaseRq } from "../dicom/ul/builders.js";
import { ctFile } from "../helpers/ct-file.js";
import { freePort } from "../helpers/mosquitto.js";
import { requires } from "../helpers/requires.js";
import { waitFor, waitForPort } from "../helpers/wait.js";

const orthancTest = requires("orthanc", "dcmtk");

const LAB = join("test", "fixtures", "lab");
const FILES = [join(LAB, "echo.pcap"), join(LAB, "qr.pcap")];
const MODALITY = "10.77.0.10";

async function labPlan(): Promise<Plan> {
  const config = defaultConfig();
  const { files: _read, ...evidence } = await evidenceFromCaptures(FILES, config);
  return buildPlan({
    ...evidence,
    config,
    source: { kind: "captures", files: FILES },
    generatedAt: "2027-01-15T08:00:00.000000Z",
  });
}

/** The plan as it would be on loopback: the modality's address 127.0.0.1, MODALITY1's SCP on `movePort`. */
function onLoopback(plan: Plan, movePort: number): Plan {
  const moved = JSON.parse(JSON.stringify(plan).replaceAll(`"${MODALITY}"`, '"127.0.0.1"')) as Plan;
  const scp = moved.allowlists.find((s) => s.aeTitle === "MODALITY1" && s.ip === "127.0.0.1");
  if (scp === undefined) throw new Error("the lab plan has no MODALITY1 service");
  scp.port = movePort;
  // Still a plan: what `plan --orthanc` would be given after editing the JSON.
  return validatePlan(JSON.parse(JSON.stringify(moved)));
}

/** The `orthanc` object renderOrthanc writes for the ORTHANC service. */
function orthancFragment(plan: Plan): Record<string, unknown> {
  const out = JSON.parse(renderOrthanc(plan)) as {
    archives: { calledAE: string; looksLikeOrthanc: boolean; orthanc: Record<string, unknown> }[];
  };
  const a = out.archives.find((x) => x.calledAE === "ORTHANC");
  if (a === undefined || !a.looksLikeOrthanc) throw new Error("no Orthanc service ORTHANC in the output");
  return a.orthanc;
}

interface RunningOrthanc {
  port: number;
  dir: string;
  log: () => string;
  stop: () => Promise<void>;
}

/** Orthanc with `fragment` merged into a minimal configuration; DicomPort is replaced by a free port. */
async function startOrthanc(fragment: Record<string, unknown>): Promise<RunningOrthanc> {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-orthanc-"));
  const port = await freePort();
  const config = {
    Name: "dicomtap-plan-test",
    StorageDirectory: join(dir, "db"),
    IndexDirectory: join(dir, "db"),
    HttpServerEnabled: false,
    DicomServerEnabled: true,
    Plugins: [],
    ...fragment,
    DicomPort: port,
  };
  writeFileSync(join(dir, "orthanc.json"), JSON.stringify(config, null, 2));
  let text = "";
  const child: ChildProcess = spawn("Orthanc", [join(dir, "orthanc.json")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (text += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (text += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`Orthanc exited (${child.exitCode}): ${text}`);
      return /DICOM server listening with AET ORTHANC on port: (\d+)/.test(text);
    }, "Orthanc's DICOM server");
    await waitForPort(port);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, dir, log: () => text, stop };
}

interface Run {
  status: number | null;
  out: string;
}

function dcmtk(tool: string, args: string[]): Run {
  const r = spawnSync(tool, ["-v", "-to", "5", "-ta", "5", "-td", "5", ...args], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

const PATIENT = ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=PLANTEST13"];

/**
 * A raw association from 127.0.0.1: A-ASSOCIATE-RQ with the Verification context; on A-ASSOCIATE-AC a
 * C-ECHO-RQ, on its response an A-RELEASE-RQ. Resolves with every PDU received, whole, once the connection
 * is closed.
 */
function rawEcho(port: number, callingAE: string, calledAE: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    const pdus: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no end of the association after 10 s; PDU types ${pdus.map((p) => p[0]).join(",")}`));
    }, 10_000);
    sock.once("connect", () => sock.write(associateRq({ callingAE, calledAE })));
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 6 && buf.length >= 6 + buf.readUInt32BE(2)) {
        const p = buf.subarray(0, 6 + buf.readUInt32BE(2));
        buf = buf.subarray(p.length);
        pdus.push(p);
        if (p[0] === 0x02) sock.write(pdataTf([pdv(1, true, true, cEchoRq(1))]));
        else if (p[0] === 0x04) sock.write(releaseRq());
        // After A-RELEASE-RP, A-ASSOCIATE-RJ or A-ABORT the requestor closes the connection (PS3.8 §9.1).
        else if (p[0] === 0x06 || p[0] === 0x03 || p[0] === 0x07) sock.end();
      }
    });
    sock.on("error", () => undefined); // a reset after the abort: the PDUs so far are the answer
    sock.once("close", () => {
      clearTimeout(timer);
      resolve(pdus);
    });
  });
}

const hex = (b: Buffer): string => b.toString("hex");
/** A-ASSOCIATE-RJ: result 1 (permanent), source 1 (service user), `reason`. */
const rj = (reason: number): string => hex(Buffer.from([3, 0, 0, 0, 0, 4, 0, 1, 1, reason]));
/** A-ABORT from the service user (source 0), reason 0. */
const ABORT = hex(Buffer.from([7, 0, 0, 0, 0, 4, 0, 0, 0, 0]));

/** The association was accepted and the request sent, then Orthanc aborted it: no DIMSE response. */
function abortedAtRequest(t: ExecutionContext, r: Run, what: string): void {
  t.regex(r.out, /Association Accepted/, `${what}: the association is accepted\n${r.out}`);
  t.regex(r.out, /Peer aborted Association/i, `${what}: then aborted by Orthanc\n${r.out}`);
  t.notRegex(r.out, /Received \S+ Response|Response \(Success\)|Completed Suboperations *: [1-9]/, r.out);
}

function rejectedCalling(t: ExecutionContext, r: Run, what: string): void {
  t.not(r.status, 0, what);
  t.regex(r.out, /Association Rejected/, `${what}\n${r.out}`);
  t.regex(r.out, /Reason: Calling AE Title Not Recognized/, `${what}\n${r.out}`);
}

orthancTest.serial(
  "Orthanc runs with the emitted fragment: each peer may do what the plan allows, and nothing else",
  async (t) => {
    const work = mkdtempSync(join(tmpdir(), "dicomtap-orthanc-scu-"));
    const children: ChildProcess[] = [];
    let orthanc: RunningOrthanc | null = null;
    try {
      const movePort = await freePort();
      const fragment = orthancFragment(onLoopback(await labPlan(), movePort));
      t.like(fragment, {
        DicomAet: "ORTHANC",
        DicomCheckCalledAet: true,
        DicomCheckModalityHost: true,
        DicomAlwaysAllowEcho: false,
        DicomAlwaysAllowStore: false,
      });
      const o = await startOrthanc(fragment);
      orthanc = o;
      const { port } = o;
      const at = ["127.0.0.1", String(port)];
      const dcm = ctFile(work, {
        root: "1.2.826.0.1.3680043.10.1234.13",
        patientName: "PLAN^ORTHANC",
        patientId: "PLANTEST13",
      });
      const aec = (calling: string, called = "ORTHANC"): string[] => ["-aet", calling, "-aec", called];

      // MODALITY1 (C-ECHO, C-STORE, C-MOVE to MODALITY1 in the captures) echoes and stores.
      const echo = dcmtk("echoscu", [...aec("MODALITY1"), ...at]);
      t.is(echo.status, 0, echo.out);
      t.regex(echo.out, /Received Echo Response \(Success\)/);
      const store = dcmtk("storescu", [...aec("MODALITY1"), ...at, dcm]);
      t.is(store.status, 0, store.out);
      t.regex(store.out, /Received Store Response \(Success\)/);
      // ...and moves to itself: the destination's entry (Host, Port) is where Orthanc sends.
      const moved = join(work, "moved");
      mkdirSync(moved);
      const scp = spawn("storescp", ["-aet", "MODALITY1", "-od", moved, String(movePort)], {
        stdio: "ignore",
      });
      children.push(scp);
      await waitForPort(movePort);
      const move = dcmtk("movescu", [...aec("MODALITY1"), "-aem", "MODALITY1", ...PATIENT, ...at]);
      t.is(move.status, 0, move.out);
      await waitFor(() => readdirSync(moved).length === 1, "the moved instance at MODALITY1's storescp");

      // VIEWER1 (C-FIND, C-GET) queries and retrieves.
      const find = dcmtk("findscu", [...aec("VIEWER1"), ...PATIENT, ...at]);
      t.is(find.status, 0, find.out);
      t.regex(find.out, /Received Final Find Response \(Success\)/, find.out);
      t.regex(find.out, /PLANTEST13/);
      const got = join(work, "got");
      mkdirSync(got);
      const get = dcmtk("getscu", [...aec("VIEWER1"), "-od", got, ...PATIENT, ...at]);
      t.is(get.status, 0, get.out);
      t.is(readdirSync(got).length, 1, get.out);

      // An allowed peer asking for a command it was not seen using: accepted, then aborted at the request.
      abortedAtRequest(t, dcmtk("storescu", [...aec("VIEWER1"), ...at, dcm]), "VIEWER1 C-STORE");
      abortedAtRequest(t, dcmtk("echoscu", [...aec("VIEWER1"), ...at]), "VIEWER1 C-ECHO");
      abortedAtRequest(
        t,
        dcmtk("movescu", [...aec("VIEWER1"), "-aem", "MODALITY1", ...PATIENT, ...at]),
        "VIEWER1 C-MOVE",
      );
      abortedAtRequest(t, dcmtk("findscu", [...aec("MODALITY1"), ...PATIENT, ...at]), "MODALITY1 C-FIND");
      abortedAtRequest(
        t,
        dcmtk("getscu", [...aec("MODALITY1"), "-od", got, ...PATIENT, ...at]),
        "MODALITY1 C-GET",
      );
      t.is(readdirSync(got).length, 1, "nothing more was retrieved");
      for (const [cmd, ae] of [
        ["Store", "VIEWER1"],
        ["Echo", "VIEWER1"],
        ["Move", "VIEWER1"],
        ["Find", "MODALITY1"],
        ["Get", "MODALITY1"],
      ] as const)
        await waitFor(
          () => o.log().includes(`Rejected ${cmd} request from remote DICOM modality with AET "${ae}"`),
          `Orthanc's log line for the refused ${cmd} of ${ae}`,
        );

      // An AE title the plan does not list: rejected at association, for every command.
      rejectedCalling(t, dcmtk("echoscu", [...aec("INTRUDER"), ...at]), "INTRUDER C-ECHO");
      rejectedCalling(t, dcmtk("storescu", [...aec("INTRUDER"), ...at, dcm]), "INTRUDER C-STORE");
      // The wrong called AE title (DicomCheckCalledAet): rejected at association.
      const called = dcmtk("echoscu", [...aec("MODALITY1", "NOT_ORTHANC"), ...at]);
      t.not(called.status, 0);
      t.regex(called.out, /Reason: Called AE Title Not Recognized/, called.out);

      // The same, PDU by PDU.
      t.deepEqual(
        (await rawEcho(port, "MODALITY1", "ORTHANC")).map((p) => p[0]),
        [0x02, 0x04, 0x06],
      );
      t.deepEqual((await rawEcho(port, "INTRUDER", "ORTHANC")).map(hex), [rj(3)]);
      t.deepEqual((await rawEcho(port, "MODALITY1", "NOT_ORTHANC")).map(hex), [rj(7)]);
      const refused = await rawEcho(port, "VIEWER1", "ORTHANC");
      t.deepEqual(
        refused.map((p, i) => (i === 0 ? p[0] : hex(p))),
        [0x02, ABORT],
        "VIEWER1's C-ECHO: A-ASSOCIATE-AC, then A-ABORT instead of a C-ECHO-RSP",
      );
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
      await orthanc?.stop();
      rmSync(work, { recursive: true, force: true });
    }
  },
);

orthancTest.serial(
  "DicomCheckModalityHost: with the lab's addresses in the fragment, MODALITY1 from 127.0.0.1 is rejected",
  async (t) => {
    const fragment = orthancFragment(await labPlan());
    const orthanc = await startOrthanc(fragment);
    try {
      const at = ["127.0.0.1", String(orthanc.port)];
      rejectedCalling(
        t,
        dcmtk("echoscu", ["-aet", "MODALITY1", "-aec", "ORTHANC", ...at]),
        "MODALITY1 elsewhere",
      );
      t.deepEqual((await rawEcho(orthanc.port, "MODALITY1", "ORTHANC")).map(hex), [rj(3)]);
      await waitFor(
        () => orthanc.log().includes("Rejected association for remote AET MODALITY1 on IP 127.0.0.1"),
        "Orthanc's log line for the rejected association",
      );
    } finally {
      await orthanc.stop();
    }
  },
);
