/**
 * LiveCapture's own handling of its tcpdump child, on the loopback interface (root only, as in CI). The
 * mirrored-port behaviour (same associations as offline, nothing sent, restarts) is in test/appliance.
 */
import { LiveCapture, type LiveCaptureHealth } from "../../agent/capture/live.js";
import { requires } from "../helpers/requires.js";

const rootTest = requires("root", "tcpdump");

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!cond()) throw new Error(`gave up waiting: ${what}`);
}

rootTest(
  "asking for counters before tcpdump listens does not kill it; once it listens, it answers",
  async (t) => {
    const reports: LiveCaptureHealth[] = [];
    const cap = new LiveCapture({
      interface: "lo",
      // A port nothing uses: the counters, not the frames, are under test.
      filter: "tcp port 9",
      snaplen: 262144,
      sink: { packet: () => undefined },
      statsIntervalMs: 3_600_000,
      backoff: { initialMs: 50, maxMs: 50 },
      log: () => undefined,
      onStats: (h) => void reports.push(h),
    });
    cap.start();
    try {
      const pid = cap.childPid();
      t.not(pid, null);
      // At once, as the periodic timer may do right after a restart: the child has no SIGUSR1 handler yet.
      cap.requestStats();
      await until(() => cap.health().listening, "tcpdump listening on lo");
      t.is(cap.health().restarts, 0, cap.health().lastError ?? "");
      t.is(cap.childPid(), pid);
      cap.requestStats();
      await until(() => reports.length > 0, "tcpdump's counters after SIGUSR1");
      t.true(cap.health().running);
      t.is(cap.childPid(), pid);
    } finally {
      await cap.stop();
    }
    t.false(cap.health().running);
  },
);
