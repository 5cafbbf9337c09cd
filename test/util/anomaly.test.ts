import test from "ava";
import { AnomalyCounter } from "../../agent/util/anomaly.js";
import { at } from "../helpers/flow.js";

const A = at("10.0.0.1:40000-10.0.0.2:104");
const B = at("[fd00::1]:40001-[fd00::2]:104");

test("anomalies aggregate per code and flow", (t) => {
  const c = new AnomalyCounter();
  c.anomaly("ul.invalid-pdu-length", "ul", A, "x");
  c.anomaly("ul.invalid-pdu-length", "ul", A, "x");
  c.anomaly("ul.invalid-pdu-length", "ul", B, "x");
  t.is(c.total, 3);
  t.deepEqual(
    c.records().map((r) => [r.flow, r.count]),
    [
      [A.flow, 2],
      [B.flow, 1],
    ],
  );
});

test("distinct anomaly rows are capped and the excess is counted", (t) => {
  const c = new AnomalyCounter(2);
  for (let i = 0; i < 10; i++) c.anomaly("ul.resync", "ul", at(`10.0.0.1:${40000 + i}-10.0.0.2:104`), "");
  const rows = c.records();
  t.is(rows.length, 3);
  t.is(rows[2]!.code, "anomaly-rows-capped");
  t.is(rows[2]!.count, 8);
  t.is(c.total, 10);
});
