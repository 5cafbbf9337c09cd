/**
 * The budget shared by all connections for association PDUs that straddle segments (Counters.collectBudget):
 * many connections each trickling a large A-ASSOCIATE-RQ cannot hold more than the budget, the excess is
 * reported, and every byte comes back when the connections close.
 */
import test from "ava";
import { DicomConnection } from "../../../agent/dicom/connection.js";
import type { DicomStats } from "../../../agent/dicom/types.js";
import { AnomalyCounter, type Counters } from "../../../agent/util/anomaly.js";
import * as b from "./builders.js";
import { CommandConsumer, connectionInfo } from "./harness.js";

const BUDGET = 100_000;

/** An A-ASSOCIATE-RQ of about 40 KiB: 120 presentation contexts with long transfer syntax lists. */
function bigRq(): Buffer {
  const pcs = [];
  for (let i = 0; i < 120; i++) {
    pcs.push(b.presentationContextRq(2 * i + 1, b.CT_IMAGE_STORAGE, Array(10).fill(b.EXPLICIT_VR_LE)));
  }
  return b.associateRq({ callingAE: "TRICKLE", calledAE: "PACS", presentationContexts: pcs });
}

test("held PDUs never exceed the shared budget, and closing gives it all back", (t) => {
  const rq = bigRq();
  t.true(rq.length > 30_000 && rq.length < 256 * 1024);
  const counters: Counters = { bytesCopied: 0, collectBudget: BUDGET };
  const anomalies = new AnomalyCounter();
  const stats: DicomStats = { dicomFlows: 0, associations: 0, dimseMessages: 0 };
  const conns: DicomConnection[] = [];
  for (let i = 0; i < 50; i++) {
    const conn = new DicomConnection(
      connectionInfo({ id: i, client: { ip: "10.0.0.5", port: 40000 + i, mac: null } }),
      {
        observations: { observe: () => {} },
        anomalies,
        counters,
        stats,
        pdvConsumer: (ctx) => new CommandConsumer(ctx),
      },
    );
    conns.push(conn);
    // All but the last byte, in 1000-byte segments: the PDU is being collected and never completes.
    for (let p = 0; p < rq.length - 1; p += 1000) conn.data(0, rq, p, Math.min(p + 1000, rq.length - 1), 1);
    t.true(counters.collectBudget! >= 0);
  }
  t.true(anomalies.records().some((r) => r.code === "ul.collect-budget-exhausted"));
  t.true(counters.collectBudget! < BUDGET);
  for (const c of conns) c.close("end-of-capture", 2);
  t.is(counters.collectBudget, BUDGET);
});

test("with budget to spare a straddling A-ASSOCIATE-RQ is decoded and its bytes returned", (t) => {
  const rq = bigRq();
  const counters: Counters = { bytesCopied: 0, collectBudget: BUDGET };
  const observed: string[] = [];
  const conn = new DicomConnection(connectionInfo(), {
    observations: {
      observe: (o) => observed.push(o.kind === "association" ? (o.record.callingAE ?? "") : o.kind),
    },
    anomalies: new AnomalyCounter(),
    counters,
    stats: { dicomFlows: 0, associations: 0, dimseMessages: 0 },
    pdvConsumer: (ctx) => new CommandConsumer(ctx),
  });
  for (let p = 0; p < rq.length; p += 1000) conn.data(0, rq, p, Math.min(p + 1000, rq.length), 1);
  t.is(counters.collectBudget, BUDGET);
  conn.close("fin", 2);
  t.deepEqual(observed, ["TRICKLE"]);
});
