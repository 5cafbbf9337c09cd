import test from "ava";
import { isoFromMicros } from "../../agent/util/time.js";

test("ISO 8601 with microseconds from capture timestamps", (t) => {
  t.is(isoFromMicros(0), "1970-01-01T00:00:00.000000Z");
  t.is(isoFromMicros(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
  t.is(isoFromMicros(1_700_000_000_000_001), "2023-11-14T22:13:20.000001Z");
  t.is(isoFromMicros(-1), "1969-12-31T23:59:59.999999Z");
  t.is(isoFromMicros(Number.NaN), "1970-01-01T00:00:00.000000Z");
  t.is(isoFromMicros(1e30), "1970-01-01T00:00:00.000000Z");
});
