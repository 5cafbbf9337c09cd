/**
 * Live capture on a real mirrored port (scripts/lab/mirror): DCMTK traffic between a modality and a PACS
 * namespace is copied by tc mirred onto the tap namespace's tap0, where LiveCapture (tcpdump child →
 * PcapStreamParser → Pipeline) must see the same associations as `analyzeFiles` of a tcpdump capture of
 * the PACS's own interface, and must send nothing: a capture of the far end of the mirror link, inbound
 * frames only, stays empty. Then the capture survives its child being killed, the interface going down
 * and up, and the interface disappearing and coming back.
 */
import test from "ava";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTcpdumpStatsLine, type TcpdumpStats } from "../../agent/capture/live.js";
import { readCaptureFile } from "../../agent/capture/file.js";
import { analyzeFiles } from "../../agent/pipeline/analyze.js";
import type { AssociationRecord } from "../../agent/report/types.js";
import {
  AgentProcess,
  echo,
  inNs,
  mirrorUp,
  notifyReceiver,
  Runner,
  SYNC_FILTER,
  run,
  sleep,
  startStorescp,
  startTcpdump,
  type MirrorLab,
} from "./lab.js";
import { requires } from "../helpers/requires.js";

test("tcpdump's counter lines (SIGUSR1 one-liner and the three exit lines) are parsed", (t) => {
  const s: TcpdumpStats = { captured: 0, receivedByFilter: 0, droppedByKernel: 0, droppedByInterface: 0 };
  t.true(
    parseTcpdumpStatsLine(
      "tcpdump: 12 packets captured, 15 packets received by filter, 3 packets dropped by kernel",
      s,
    ),
  );
  t.deepEqual(s, { captured: 12, receivedByFilter: 15, droppedByKernel: 3, droppedByInterface: 0 });
  t.true(parseTcpdumpStatsLine("1 packet dropped by kernel", s));
  t.true(parseTcpdumpStatsLine("7 packets dropped by interface", s));
  t.false(
    parseTcpdumpStatsLine(
      "tcpdump: listening on tap0, link-type EN10MB (Ethernet), snapshot length 262144 bytes",
      s,
    ),
  );
  t.deepEqual(s, { captured: 12, receivedByFilter: 15, droppedByKernel: 1, droppedByInterface: 7 });
});

const gate = requires("root", "netns", "tc", "tcpdump", "dcmtk");
const rootTest = gate.serial;

const DUMP = `(0008,0016) UI =SecondaryCaptureImageStorage
(0008,0018) UI [1.2.826.0.1.3680043.8.498.77.1]
(0008,0060) CS [OT]
(0008,0070) LO [Lab Devices Ltd]
(0008,1090) LO [LabModality 1]
(0020,000d) UI [1.2.826.0.1.3680043.8.498.77.2]
(0020,000e) UI [1.2.826.0.1.3680043.8.498.77.3]
`;

/** What must agree between the live and the offline view of one association. */
function shape(a: AssociationRecord): object {
  return {
    client: a.client,
    server: a.server,
    callingAE: a.callingAE,
    calledAE: a.calledAE,
    outcome: a.outcome,
    released: a.released,
    contexts: a.presentationContexts.map((p) => [p.abstractSyntax, p.result, p.transferSyntax]),
    messages: a.messages.map((m) => [m.command, m.messageId, m.sopInstanceUid, m.status]),
  };
}

async function withLab(fn: (lab: MirrorLab) => Promise<void>): Promise<void> {
  const lab = await mirrorUp();
  try {
    await fn(lab);
  } finally {
    await lab.down();
  }
}

for (const tool of ["dicomtap-capture", "tcpdump"] as const)
  rootTest(
    `on a mirrored port the sensor sees what the PACS sees, and sends nothing (${tool})`,
    async (t) => {
      await withLab(async (lab) => {
        const dcm = join(lab.dir, "sc.dcm");
        writeFileSync(join(lab.dir, "sc.dump"), DUMP);
        await run("dump2dcm", ["--write-xfer-little", join(lab.dir, "sc.dump"), dcm]);
        await startStorescp(lab);
        const ref = join(lab.dir, "pacs.pcap");
        const refDump = await startTcpdump(lab.pacs, "pacs0", ref, [SYNC_FILTER]);
        // The far end of the mirror link, inbound only: any frame here was sent by the sensor on tap0.
        const sent = join(lab.dir, "sent.pcap");
        const sentDump = await startTcpdump(lab.mod, "mirror0", sent, ["-Q", "in"]);
        const runner = new Runner(lab.tap, "tap0", SYNC_FILTER, [], { RUNNER_TOOL: tool });
        await runner.listening(1);

        await echo(lab);
        await inNs(lab.mod, "storescu", ["-aet", "MODALITY1", "-aec", "PACS1", lab.pacsIp, "11112", dcm]);
        await inNs(lab.mod, "echoscu", [
          "-aet",
          "MODALITY1",
          "-aec",
          "PACS1",
          "--abort",
          lab.pacsIp,
          "11112",
        ]);
        // Everything sent so far is with the runner and in the PACS's capture (tcpdump's kernel block
        // timeout is a second, the helper's 100 ms: waited for, not guessed).
        await runner.sync(lab, [ref]);
        const final = await runner.final();
        await refDump.stop();
        await sentDump.stop();

        const offline = await analyzeFiles([ref]);
        const live = final.associations as AssociationRecord[];
        const byStart = (a: AssociationRecord, b: AssociationRecord) => a.start.localeCompare(b.start);
        t.is(offline.report.associations.length, 3);
        t.deepEqual(
          live.slice().sort(byStart).map(shape),
          offline.report.associations.slice().sort(byStart).map(shape),
        );
        t.deepEqual(
          live.map((a) => a.outcome).sort(),
          ["aborted", "accepted", "accepted"],
          "echo, store, aborted echo",
        );
        const stats = final.stats as { packets: number; dimseMessages: number };
        t.is(
          stats.packets,
          offline.report.stats.packets,
          "every TCP frame the PACS saw was mirrored and captured",
        );
        t.is(stats.dimseMessages, offline.report.stats.dimseMessages);
        const health = final.health as { packets: number; kernelDrops: number; restarts: number };
        t.is(health.packets, stats.packets);
        t.is(health.kernelDrops, 0);
        t.is(health.restarts, 0);

        let sentFrames = 0;
        const summary = await readCaptureFile(sent, { packet: () => void sentFrames++ });
        t.is(summary.error, null);
        t.is(sentFrames, 0, "the sensor sent no frame on the capture interface");
      });
    },
  );

rootTest(
  "capture survives the child being killed, the interface going down, and it disappearing",
  async (t) => {
    await withLab(async (lab) => {
      await startStorescp(lab);
      const runner = new Runner(lab.tap);
      const first = await runner.listening(1);
      await echo(lab, "ECHO1");
      // Let the kernel hand the block over (the helper's block timeout is 100 ms): what is still in the
      // ring when the child is killed is lost with it, as on an appliance.
      await runner.sync(lab);

      // 1. The capture child dies (OOM killer, a crash): restarted.
      process.kill(first.pid as number, "SIGKILL");
      const second = await runner.listening(2);
      t.not(second.pid, first.pid);
      await echo(lab, "ECHO2");

      // 2. The interface goes administratively down and comes back. libpcap 1.10 keeps the socket through
      // this (ENETDOWN is not fatal to it), so the same child captures again; either way nothing is lost.
      await inNs(lab.tap, "ip", ["link", "set", "tap0", "down"]);
      await sleep(400); // how long the outage lasts (the runner polls the interface every 100 ms)
      await inNs(lab.tap, "ip", ["link", "set", "tap0", "up"]);
      await runner.sync(lab); // capturing again
      await echo(lab, "ECHO3");
      await runner.sync(lab);

      // 3. The interface disappears (USB NIC unplugged; tcpdump exits with "The interface disappeared") and
      // comes back with the same name: the capture waits for it and starts again.
      const before = runner.events.filter((e) => e.event === "listening").length;
      await lab.replug();
      await runner.listening(before + 1);
      await echo(lab, "ECHO4");
      await runner.sync(lab);

      const final = await runner.final();
      const live = final.associations as AssociationRecord[];
      t.deepEqual(
        live.map((a) => `${a.callingAE}:${a.outcome}:${a.messages.map((m) => m.command).join(",")}`).sort(),
        ["ECHO1", "ECHO2", "ECHO3", "ECHO4"].map((ae) => `${ae}:accepted:C-ECHO-RQ,C-ECHO-RSP`),
      );
      const health = final.health as { restarts: number; running: boolean };
      t.true(health.restarts >= 2, `restarts ${health.restarts}`);
      t.log(`restarts: ${health.restarts}; log: ${(final.logs as string[]).join(" | ")}`);
    });
  },
);

rootTest(
  "as the unit runs it (a plain user, ambient CAP_NET_RAW only, no new privileges) capture works",
  async (t) => {
    // The same credentials systemd/dicomtap.service gives the agent: User= (here nobody),
    // AmbientCapabilities=CAP_NET_RAW, CapabilityBoundingSet=CAP_NET_RAW, NoNewPrivileges=yes.
    const asUnit = [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--inh-caps=-all,+net_raw",
      "--ambient-caps=+net_raw",
      "--bounding-set=-all,+net_raw",
      "--no-new-privs",
    ];
    await withLab(async (lab) => {
      await startStorescp(lab);
      const runner = new Runner(lab.tap, "tap0", SYNC_FILTER, asUnit);
      await runner.listening(1);
      await echo(lab, "UNPRIVILEGED");
      await runner.sync(lab);
      const final = await runner.final();
      const live = final.associations as AssociationRecord[];
      t.deepEqual(
        live.map((a) => [a.callingAE, a.outcome]),
        [["UNPRIVILEGED", "accepted"]],
      );
    });
    // Without the capability the child is refused, and says so.
    await withLab(async (lab) => {
      const noCap = asUnit
        .map((a) => (a.includes("net_raw") ? a.replace(/,?\+net_raw/, "") : a))
        .filter((a) => a !== "--ambient-caps=");
      const runner = new Runner(lab.tap, "tap0", SYNC_FILTER, noCap);
      await runner.error(/permi/i);
      const final = await runner.final();
      const health = final.health as { listening: boolean; lastError: string | null };
      t.false(health.listening);
      t.regex(health.lastError ?? "", /permi/i);
    });
  },
);

rootTest("when the agent stalls, the kernel's drops show up in health", async (t) => {
  await withLab(async (lab) => {
    // About 8 MB of DICOM: thousands of frames while the sink is stuck for 3 s behind a 64 KiB pipe and a
    // 256 KiB kernel ring.
    const big = join(lab.dir, "big.dcm");
    writeFileSync(join(lab.dir, "big.dump"), DUMP);
    await run("dump2dcm", ["--write-xfer-little", join(lab.dir, "big.dump"), big]);
    // The bulk: a Pixel Data element (7FE0,0010) OB appended to the explicit VR little endian dataset
    // (tag, VR "OB", 2 reserved bytes, 32-bit length; PS3.5 §7.1.2).
    const len = 8 * 1024 * 1024;
    const head = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0, 0, 0, 0]);
    head.writeUInt32LE(len, 8);
    appendFileSync(big, Buffer.concat([head, Buffer.alloc(len, 0x55)]));
    await startStorescp(lab);
    const runner = new Runner(lab.tap, "tap0", SYNC_FILTER, [], {
      RUNNER_STALL_MS: "3000",
      RUNNER_BUFFER_KIB: "256",
    });
    await runner.listening(1);
    await inNs(lab.mod, "storescu", ["-aet", "MODALITY1", "-aec", "PACS1", lab.pacsIp, "11112", big]);
    // The sink is stuck for 3 s: the sync datagrams get through once it has drained what the kernel kept.
    await runner.sync(lab, [], 20_000);
    const final = await runner.final();
    const health = final.health as { packets: number; kernelDrops: number };
    t.log(`captured ${health.packets}, kernel drops ${health.kernelDrops}`);
    t.true(health.kernelDrops > 0, "drops counted");
  });
});

rootTest(
  "`dicomtap run` on the mirror port: READY and WATCHDOG to systemd, and the devices it saw",
  async (t) => {
    await withLab(async (lab) => {
      await startStorescp(lab);
      const config = join(lab.dir, "config.json");
      writeFileSync(
        config,
        JSON.stringify({
          sensor: { id: "ct-1", site: "lab" },
          capture: { interface: "tap0", filter: "tcp" },
          store: { path: join(lab.dir, "dicomtap.db") },
          health: { intervalSeconds: 1 },
        }),
      );
      const notify = join(lab.dir, "notify");
      const rx = await notifyReceiver(notify);
      // A path socket: unlike an abstract one it is reachable from the tap namespace.
      const agent = new AgentProcess(lab.tap, config, { NOTIFY_SOCKET: notify, WATCHDOG_USEC: "200000" });
      try {
        await agent.until(() => rx.lines.includes("READY=1"), "no READY=1");
        // READY=1 and STATUS= are two datagrams: the second may be read a moment later.
        await agent.until(() => rx.lines.includes("STATUS=capturing on tap0"), "no STATUS line");
        await agent.until(
          () => /listening on tap0/.test(agent.err),
          "the capture child did not start listening",
        );
        await echo(lab, "MODALITY7");
        // Print mode (no broker): each outbox row is one JSON line on stdout.
        await agent.until(
          () => /devices\//.test(agent.out) && /MODALITY7/.test(agent.out),
          "the modality was not reported",
        );
        await agent.until(() => rx.lines.filter((l) => l === "WATCHDOG=1").length >= 2, "no watchdog pings");
        const { code } = await agent.stop();
        t.is(code, 0, agent.err);
        await agent.until(() => rx.lines.includes("STOPPING=1"), "no STOPPING=1");
      } finally {
        agent.kill();
        rx.stop();
      }
    });
  },
);

rootTest(
  "SIGTERM right after the traffic: everything learned is printed, and the stop takes under a second",
  async (t) => {
    await withLab(async (lab) => {
      await startStorescp(lab);
      const config = join(lab.dir, "config.json");
      for (let round = 1; round <= 4; round++) {
        writeFileSync(
          config,
          JSON.stringify({
            sensor: { id: "ct-1", site: "lab" },
            capture: { interface: "tap0", filter: "tcp" },
            store: { path: join(lab.dir, `round-${round}.db`) },
            health: { intervalSeconds: 60 },
          }),
        );
        const agent = new AgentProcess(lab.tap, config);
        try {
          await agent.until(() => /"state":"online"/.test(agent.out), "not online");
          await agent.until(
            () => /listening on tap0/.test(agent.err),
            "the capture child did not start listening",
          );
          const ae = `ROUND${round}`;
          await echo(lab, ae);
          // No waiting: the echo's last frames may still be in the kernel ring, the capture thread or the
          // store's pending batch when the signal comes.
          const { code, ms } = await agent.stop();
          t.is(code, 0, agent.err);
          t.true(ms < 1000, `stop took ${ms} ms`);
          const msgs = agent.messages();
          const device = msgs.find(
            (m) => m.topic.includes("/devices/") && JSON.stringify(m.payload).includes(`"${ae}"`),
          );
          t.truthy(device, `round ${round}: the modality's device record was printed`);
          const health = msgs.filter((m) => m.topic.endsWith("/health")).at(-1)?.payload as
            | { traffic?: { associations: number; dimseMessages: number }; capture: { kernelDrops?: number } }
            | undefined;
          t.deepEqual(
            health?.traffic?.associations,
            1,
            `round ${round}: final health counts the association`,
          );
          t.deepEqual(health?.traffic?.dimseMessages, 2);
          t.is(health?.capture.kernelDrops, 0);
          t.is(msgs.at(-1)?.topic.endsWith("/status"), true, "offline status last");
        } finally {
          agent.kill();
        }
      }
    });
  },
);
