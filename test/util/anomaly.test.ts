import test from "ava";
import { AnomalyCounter } from "../../agent/util/anomaly.js";

test("anomalies aggregate per code and flow", (t) => {
  const c = new AnomalyCounter();
  c.anomaly("ul.invalid-pdu-length", "ul", "a", "x");
  c.anomaly("ul.invalid-pdu-length", "ul", "a", "x");
  c.anomaly("ul.invalid-pdu-length", "ul", "b", "x");
  t.is(c.total, 3);
  t.deepEqual(
    c.records().map((r) => [r.flow, r.count]),
    [
      ["a", 2],
      ["b", 1],
    ],
  );
});

test("distinct anomaly rows are capped and the excess is counted", (t) => {
  const c = new AnomalyCounter(2);
  for (let i = 0; i < 10; i++) c.anomaly("x", "ul", String(i), "");
  const rows = c.records();
  t.is(rows.length, 3);
  t.is(rows[2]!.code, "anomaly-rows-capped");
  t.is(rows[2]!.count, 8);
  t.is(c.total, 10);
});
