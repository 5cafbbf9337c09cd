/**
 * Integration test of the lab (scripts/lab/run): real DCMTK tools and Orthanc in network namespaces,
 * captured with tcpdump, checked with the tshark oracle. Needs root and the tools (test/helpers/requires.ts):
 * without them the tests are skipped under a title that says why; in CI a missing one is a failure.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { compareWithOracle } from "../oracle/compare.js";
import { runTshark, type OracleAssociation, type OracleResult } from "../oracle/tshark.js";
import { requires } from "../helpers/requires.js";

const execFileAsync = promisify(execFile);
const labTest = requires("root", "netns", "tcpdump", "tshark", "dcmtk", "orthanc", "tc");
const impairTest = requires("root", "netns", "tcpdump", "tshark", "dcmtk", "orthanc", "tc", "iptables");
const canaries = JSON.parse(await readFile("test/fixtures/patient-canaries.json", "utf8")) as Record<
  string,
  string
>;

async function lab(args: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dicomtap-lab-"));
  await execFileAsync("scripts/lab/run", [dir, ...args], { maxBuffer: 1 << 26, timeout: 110_000 });
  return dir;
}

function summary(r: OracleResult): string[] {
  return r.associations.map(
    (a: OracleAssociation) =>
      `${a.callingAE}->${a.calledAE}:${a.server.replace(/^.*:/, "")} ${a.outcome} ${a.messages.map((m) => m.command).join(",")}`,
  );
}

const STORE_PAIR = "C-STORE-RQ,C-STORE-RSP";
// What each scene must show, association by association (known tshark error: no C-STORE-RSP after a
// JPEG/RLE dataset, see test/oracle/README.md).
const EXPECTED: Record<string, string[]> = {
  echo: [
    "MODALITY1->ARCHIVE:104 accepted C-ECHO-RQ,C-ECHO-RSP",
    "MODALITY1->ORTHANC:4242 accepted C-ECHO-RQ,C-ECHO-RSP",
  ],
  store: [
    `MODALITY1->ARCHIVE:104 accepted ${STORE_PAIR}`,
    `MODALITY1->ARCHIVE:104 accepted ${STORE_PAIR},${STORE_PAIR}`,
    `MODALITY1->STORE_BE:11112 accepted ${STORE_PAIR},${STORE_PAIR}`,
    "MODALITY1->ARCHIVE:104 accepted C-STORE-RQ",
    "MODALITY1->ARCHIVE:104 accepted C-STORE-RQ",
    `MODALITY1->ARCHIVE:104 accepted ${STORE_PAIR},${STORE_PAIR}`,
  ],
  qr: [
    `MODALITY1->ORTHANC:4242 accepted ${STORE_PAIR},${STORE_PAIR},${STORE_PAIR}`,
    "VIEWER1->ORTHANC:4242 accepted C-FIND-RQ,C-FIND-RSP,C-FIND-RSP",
    "VIEWER1->ORTHANC:4242 accepted C-FIND-RQ,C-FIND-RSP,C-FIND-RSP",
    "MODALITY1->ORTHANC:4242 accepted C-MOVE-RQ,C-MOVE-RSP,C-MOVE-RSP,C-MOVE-RSP",
    `ORTHANC->MODALITY1:11114 accepted ${STORE_PAIR},${STORE_PAIR},${STORE_PAIR}`,
    "VIEWER1->ORTHANC:4242 accepted C-GET-RQ,C-STORE-RQ,C-STORE-RSP,C-GET-RSP,C-GET-RSP",
  ],
  identity: [`MODALITY1->ARCHIVE:104 accepted ${STORE_PAIR}`],
  reject: ["MODALITY1->NOT_ORTHANC:4242 rejected "],
  abort: [
    `MODALITY1->ARCHIVE:104 aborted ${STORE_PAIR}`,
    "MODALITY1->ORTHANC:4242 aborted C-ECHO-RQ,C-ECHO-RSP",
  ],
  ipv6: [`MODALITY1->ARCHIVE:104 accepted ${STORE_PAIR},${STORE_PAIR}`],
};

labTest.serial("lab: every scene's captures hold the expected associations", async (t) => {
  const dir = await lab([]);
  try {
    for (const [scene, want] of Object.entries(EXPECTED)) {
      const r = await runTshark(join(dir, `${scene}.pcap`));
      t.deepEqual(summary(r), want, scene);
      t.is(r.orphanMessages.length, 0, scene);
    }
    const all = await runTshark(join(dir, "all.pcap"));
    t.deepEqual(summary(all), Object.values(EXPECTED).flat());
    // And dicomtap's report on this fresh capture agrees with tshark's (test/oracle/compare.ts).
    await compareWithOracle(t, join(dir, "all.pcap"));
    const ipv6 = await runTshark(join(dir, "ipv6.pcap"));
    t.regex(ipv6.associations[0]?.client ?? "", /^\[fd77::10\]:\d+$/);
    const id = await runTshark(join(dir, "identity.pcap"));
    t.deepEqual(id.associations[0]?.userIdentity, {
      type: 2,
      username: canaries["userIdentityUsername"] ?? "",
      passcodePresent: true,
    });
    // The fake patient data really crosses the wire, so leak tests on these captures can detect leaks.
    const bytes = await readFile(join(dir, "all.pcap"));
    for (const key of [
      "patientName",
      "patientId",
      "patientBirthDate",
      "accessionNumber",
      "userIdentityPasscode",
    ]) {
      t.true(bytes.includes(Buffer.from(canaries[key] ?? "-", "latin1")), key);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

impairTest.serial("lab --impair: drops, duplicates and reordering, yet the same associations", async (t) => {
  const dir = await lab(["--impair", "--scenes", "store,reject"]);
  try {
    const store = await runTshark(join(dir, "store.pcap"));
    t.deepEqual(summary(store), EXPECTED["store"]);
    t.deepEqual(summary(await runTshark(join(dir, "reject.pcap"))), EXPECTED["reject"]);
    await compareWithOracle(t, join(dir, "all.pcap"));
    // The impairment is visible: tshark's TCP analysis flags retransmissions and out-of-order segments.
    const { stdout } = await execFileAsync(
      "tshark",
      [
        "-r",
        join(dir, "store.pcap"),
        "-n",
        "-Y",
        "tcp.analysis.retransmission || tcp.analysis.out_of_order",
        "-T",
        "fields",
        "-e",
        "frame.number",
      ],
      { maxBuffer: 1 << 24 },
    );
    t.true(stdout.trim().split("\n").filter(Boolean).length > 0, "no retransmission or out-of-order segment");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
