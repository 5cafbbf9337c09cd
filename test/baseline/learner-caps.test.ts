/**
 * The learner's caps (issue 13, and the memory budget of issue 9): hostile traffic — an SCP that accepts any
 * called and calling AE title, forged handshakes from thousands of addresses — fills the tables up to their
 * caps and no further; what the caps turned away is counted in `truncated`, and a document at the caps loads
 * back within them.
 */
import test from "ava";
import { BaselineLearner, LIMITS } from "../../agent/baseline/learner.js";
import type { ConnectionObservation } from "../../agent/observations/types.js";

const T0 = 1_764_000_000_000_000;

function ip4(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function flood(learner: BaselineLearner): void {
  // 2 000 called AE titles × 20 calling titles: 40 000 would-be peers on one promiscuous port.
  for (let s = 0; s < 2000; s++)
    for (let p = 0; p < 20; p++)
      learner.association(
        {
          client: { ip: ip4(1000 + p), port: 40000, mac: null },
          server: { ip: "10.9.0.1", port: 104, mac: null },
          flow: `f${s}-${p}`,
          start: T0,
          ts: T0 + s,
          calling: `CALLING${p}`,
          called: `CALLED${s}`,
          credentials: false,
        },
        true,
      );
  // 5 000 forged servers answering on 40 ports each, with a session from 10 clients each.
  for (let d = 0; d < 5000; d++)
    for (let port = 1; port <= 40; port++)
      for (let c = 0; c < 10; c++) {
        const o: ConnectionObservation = {
          kind: "connection",
          tsMicros: T0 + d,
          client: { ip: ip4(200_000 + c), port: 50000, mac: null },
          server: { ip: ip4(100_000 + d), port, mac: null },
          handshake: c === 0 ? "syn-ack" : "served",
        };
        learner.connection(o);
      }
}

test("hostile traffic fills the learner to its caps, no further, and counts the rest", (t) => {
  const learner = new BaselineLearner(() => true);
  flood(learner);
  const doc = learner.tables();
  t.is(doc.services.length, LIMITS.services);
  const peers = doc.services.reduce((n, s) => n + s.peers.length, 0);
  t.is(peers, LIMITS.peers);
  t.true(doc.truncated.services > 0 && doc.truncated.peers > 0 && doc.truncated.devices > 0);
  t.is(doc.devices.length, LIMITS.devices);
  const ports = doc.devices.reduce((n, d) => n + d.listening.length, 0);
  t.true(ports <= LIMITS.ports, `${ports} ports`);
  const clients = doc.devices.reduce((n, d) => n + d.listening.reduce((m, l) => m + l.clients.length, 0), 0);
  t.true(clients <= LIMITS.clients, `${clients} clients`);
  // An absence where a cap was reached proves nothing.
  t.true(learner.incomplete("peers", "10.9.0.1", 104, "CALLED0"));

  // The document at the caps loads back within them.
  const again = new BaselineLearner(() => true);
  again.load(doc);
  const back = again.tables();
  t.is(
    back.services.reduce((n, s) => n + s.peers.length, 0),
    LIMITS.peers,
  );
  t.is(
    back.devices.reduce((n, d) => n + d.listening.length, 0),
    ports,
  );
});
