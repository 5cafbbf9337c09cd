import test from "ava";
import { isoFromDate, isoFromMicros, isoNow, microsFromIso, nowMicros } from "../../agent/util/time.js";
import { Publisher } from "../../agent/publish/publisher.js";

const MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

test("ISO 8601 with microseconds from capture timestamps", (t) => {
  t.is(isoFromMicros(0), "1970-01-01T00:00:00.000000Z");
  t.is(isoFromMicros(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
  t.is(isoFromMicros(1_700_000_000_000_001), "2023-11-14T22:13:20.000001Z");
  t.is(isoFromMicros(-1), "1969-12-31T23:59:59.999999Z");
  t.is(isoFromMicros(Number.NaN), "1970-01-01T00:00:00.000000Z");
  t.is(isoFromMicros(1e30), "1970-01-01T00:00:00.000000Z");
});

test("wall-clock times take the same function and precision", (t) => {
  t.regex(isoNow(), MICROS);
  t.is(nowMicros() % 1000, 0, "the system clock has millisecond resolution");
  t.is(isoFromDate(new Date("2024-05-01T10:00:00.123Z")), "2024-05-01T10:00:00.123000Z");
  t.is(isoFromDate(new Date("not a date")), "1970-01-01T00:00:00.000000Z");
});

test("the status payload's startedAt has microsecond precision", (t) => {
  const p = new Publisher({ sensor: { id: "s", site: "x" }, broker: null, store: {} as never, version: "0" });
  t.regex(p.startedAt, MICROS);
});

test("microsFromIso reads back what isoFromMicros writes, and older spellings", (t) => {
  for (const us of [0, 1_700_000_000_123_456, 1_700_000_000_000_001, -1])
    t.is(microsFromIso(isoFromMicros(us)), us);
  t.is(microsFromIso("2023-11-14T22:13:20.123Z"), 1_700_000_000_123_000);
  t.is(microsFromIso("2023-11-14T22:13:20Z"), 1_700_000_000_000_000);
  t.is(microsFromIso("2023-11-14T23:13:20.5+01:00"), 1_700_000_000_500_000);
  t.is(microsFromIso("yesterday"), null);
  t.is(microsFromIso("2023-13-45T22:13:20Z"), null);
});
