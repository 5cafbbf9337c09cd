// The console's state (dedupe, revisions, caps, hostile payloads) and its rendering, without a broker.
import test from "ava";
import fc from "fast-check";
import { ConsoleState, MAX_PAYLOAD_BYTES } from "../../agent/console/state.js";
import {
  eventLine,
  jsonLine,
  perSectionFor,
  renderText,
  safe,
  screenFrame,
} from "../../agent/console/render.js";
import { describeFailure, parseConsoleArgs, topicFilter } from "../../agent/console/console.js";
import { device, finding } from "../store/records.js";

const SITE = "st-marys";
const root = (sensor: string): string => `dicomtap/v1/${SITE}/${sensor}/`;
const bytes = (v: unknown): Buffer => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));

function findingMsg(sensor: string, id: string, revision: number, extra: object = {}): Buffer {
  const f = { ...finding(id, "high", revision), ...extra };
  return bytes({
    messageId: `${SITE}/${sensor}/finding/${id}/${revision}`,
    site: SITE,
    sensor,
    revision,
    finding: f,
  });
}

function deviceMsg(sensor: string, id: string, revision: number, extra: object = {}): Buffer {
  const d = { ...device(id), ...extra };
  return bytes({
    messageId: `${SITE}/${sensor}/device/${id}/${revision}`,
    site: SITE,
    sensor,
    revision,
    device: d,
  });
}

function statusMsg(state: "online" | "offline", conn: number): Buffer {
  return bytes({
    state,
    version: "0.1.0",
    startedAt: "2026-01-01T00:00:00Z",
    messageId: `s/${conn}/${state}`,
  });
}

test("findings: duplicates dropped, highest revision kept, events say new/changed", (t) => {
  const s = new ConsoleState();
  t.is(s.ingest(root("a") + "findings", findingMsg("a", "f1", 1))?.event, "finding");
  t.is(s.ingest(root("a") + "findings", findingMsg("a", "f1", 1)), null);
  const ev = s.ingest(root("a") + "findings", findingMsg("a", "f1", 3));
  t.like(ev, { event: "finding", change: "changed", revision: 3 });
  t.is(s.ingest(root("a") + "findings", findingMsg("a", "f1", 2)), null);
  // The same finding id on another sensor is another finding.
  t.like(s.ingest(root("b") + "findings", findingMsg("b", "f1", 1)), { change: "new" });
  t.like(s.counters, { messages: 5, duplicates: 1, stale: 1, invalid: 0, dropped: 0 });
  const snap = s.snapshot();
  t.deepEqual(
    snap.findings.map((f) => [f.sensor, f.finding.id, f.revision]),
    [
      ["a", "f1", 3],
      ["b", "f1", 1],
    ],
  );
});

test("a finding's retained state (findings/{id}) folds like its event; an empty one withdraws it", (t) => {
  const s = new ConsoleState();
  const state = (sensor: string, id: string, revision: number): Buffer => {
    const m = JSON.parse(findingMsg(sensor, id, revision).toString()) as { messageId: string };
    return bytes({ ...m, messageId: `${m.messageId}/state` });
  };
  // The state first (a console started late), then the same revision's event: not counted twice.
  t.like(s.ingest(root("a") + "findings/f1", state("a", "f1", 2)), { change: "new", revision: 2 });
  t.is(s.ingest(root("a") + "findings", findingMsg("a", "f1", 2)), null);
  t.like(s.ingest(root("a") + "findings", findingMsg("a", "f1", 3)), { change: "changed", revision: 3 });
  t.is(s.ingest(root("a") + "findings/f1", state("a", "f1", 3)), null);
  t.is(s.findings, 1);
  t.like(s.counters, { stale: 2, invalid: 0 });
  // A state on another finding's topic is refused: an empty message there would withdraw the wrong one.
  t.is(s.ingest(root("a") + "findings/f2", state("a", "f1", 4)), null);
  t.like(s.counters, { invalid: 1 });
  t.regex(s.recentInvalid.at(-1)!.reason, /finding id differs/);
  // An empty event is nothing; an empty state withdraws the finding.
  t.is(s.ingest(root("a") + "findings", new Uint8Array()), null);
  t.is(s.ingest(root("a") + "findings/nope", new Uint8Array()), null);
  t.like(s.ingest(root("a") + "findings/f1", new Uint8Array()), { event: "finding", change: "removed" });
  t.is(s.findings, 0);
  t.deepEqual(s.snapshot().findings, []);
});

test("status: online, the will's offline, online again; an empty retained message clears", (t) => {
  const s = new ConsoleState();
  s.ingest(root("a") + "status", statusMsg("online", 1));
  s.ingest(root("a") + "status", statusMsg("offline", 2));
  t.is(s.snapshot().sensors[0]?.state, "offline");
  s.ingest(root("a") + "status", statusMsg("online", 3));
  t.is(s.snapshot().sensors[0]?.state, "online");
  t.like(s.ingest(root("a") + "status", Buffer.alloc(0)), { event: "status", state: "cleared" });
  t.is(s.snapshot().sensors[0]?.state, "unknown");
});

test("devices: revisions, removal by an empty retained message on its topic", (t) => {
  const s = new ConsoleState();
  s.ingest(root("a") + "devices/ip-10.1.2.3", deviceMsg("a", "ip-10.1.2.3", 2, { manufacturer: "New" }));
  t.is(s.ingest(root("a") + "devices/ip-10.1.2.3", deviceMsg("a", "ip-10.1.2.3", 1)), null);
  t.is(s.snapshot().devices[0]?.device.manufacturer, "New");
  t.is(s.ingest(root("a") + "devices/other", Buffer.alloc(0)), null);
  t.like(s.ingest(root("a") + "devices/ip-10.1.2.3", Buffer.alloc(0)), {
    event: "device",
    change: "removed",
  });
  t.is(s.devices, 0);
  t.is(s.snapshot().devices.length, 0);
});

test("invalid: wrong topic, too large, not JSON, schema, site/sensor not the topic's, long messageId", (t) => {
  const s = new ConsoleState();
  const cases: [string, Buffer][] = [
    ["dicomtap/v2/x/y/findings", findingMsg("y", "f", 1)],
    [root("a") + "findings/extra", findingMsg("a", "f", 1)],
    [root("a") + "devices", deviceMsg("a", "d", 1)],
    [root("a") + "findings", Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20)],
    [root("a") + "findings", bytes("\u00ff{")],
    [root("a") + "findings", bytes({ messageId: "x" })],
    [root("a") + "findings", findingMsg("a", "f", 1, { severity: "apocalypse" })],
    [root("a") + "findings", findingMsg("b", "f", 1)],
    [root("a") + "devices/d", deviceMsg("a", "d", 0)],
    [root("a") + "status", bytes({ state: "online", version: "1", startedAt: "yesterday", messageId: "m" })],
    [root("a") + "health", bytes({ messageId: "h" })],
    [
      root("a") + "findings",
      bytes({ messageId: "m".repeat(600), site: SITE, sensor: "a", revision: 1, finding: finding("f") }),
    ],
  ];
  for (const [topic, payload] of cases) t.is(s.ingest(topic, payload), null, topic);
  t.is(s.counters.invalid, cases.length);
  t.is(s.sensors.size, 0);
  t.is(s.recentInvalid.length, 10);
});

test("caps: sensors, findings, devices and held bytes; a dropped message may be taken later", (t) => {
  const s = new ConsoleState({ maxSensors: 2, maxFindings: 3, maxDevices: 1 });
  for (let i = 0; i < 5; i++) s.ingest(root("a") + "findings", findingMsg("a", `f${i}`, 1));
  s.ingest(root("b") + "devices/d1", deviceMsg("b", "d1", 1));
  s.ingest(root("b") + "devices/d2", deviceMsg("b", "d2", 1));
  s.ingest(root("c") + "status", statusMsg("online", 1));
  t.is(s.findings, 3);
  t.is(s.devices, 1);
  t.is(s.sensors.size, 2);
  t.is(s.counters.dropped, 4);
  // Updates of kept entries still go through.
  t.like(s.ingest(root("a") + "findings", findingMsg("a", "f0", 2)), { change: "changed" });
  // d2 was dropped, not remembered: once d1 is gone the same message (redelivered) is taken.
  t.truthy(s.ingest(root("b") + "devices/d1", Buffer.alloc(0)));
  t.like(s.ingest(root("b") + "devices/d2", deviceMsg("b", "d2", 1)), { change: "new" });
  const first = findingMsg("a", "x", 1);
  const small = new ConsoleState({ maxHeldBytes: first.length + 10 });
  t.truthy(small.ingest(root("a") + "findings", first));
  t.is(small.ingest(root("a") + "findings", findingMsg("a", "y", 1)), null);
  t.is(small.counters.dropped, 1);
});

test("hostile input never throws and never grows the state past its caps", (t) => {
  const s = new ConsoleState({ maxSensors: 4, maxFindings: 8, maxDevices: 8 });
  const topic = fc.oneof(
    fc.constantFrom(
      root("a") + "findings",
      root("b") + "status",
      root("a") + "health",
      root("a") + "devices/d",
    ),
    fc.string(),
  );
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.json().map((j) => Buffer.from(j)),
    fc
      .record({
        messageId: fc.string(),
        site: fc.constant(SITE),
        sensor: fc.constant("a"),
        revision: fc.integer(),
      })
      .chain((r) =>
        fc.record({ finding: fc.anything() }).map((x) => Buffer.from(JSON.stringify({ ...r, ...x }) ?? "")),
      ),
    fc.integer({ min: 1, max: 1000 }).map((n) => findingMsg("a", `f${n}`, 1 + (n % 3))),
  );
  fc.assert(
    fc.property(topic, payload, (tp, p) => {
      s.ingest(tp, p);
      return s.findings <= 8 && s.devices <= 8 && s.sensors.size <= 4;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("rendering: terminal controls and bidi overrides from sensors are neutralised", (t) => {
  t.is(safe("PACS\x1b[2J\u202eevil\u0085"), "PACS?[2J?evil?");
  t.is(safe("x".repeat(100), 10), "xxxxxxxxx…");
  t.is(safe(null), "-");
  const line = jsonLine({ a: "\x1b\u007f\u0085\u2028" });
  // eslint-disable-next-line no-control-regex
  t.false(/[\u0000-\u001f\u007f-\u009f\u2028]/.test(line.slice(0, -1)));
  t.deepEqual(JSON.parse(line), { a: "\x1b\u007f\u0085\u2028" });

  const s = new ConsoleState();
  s.ingest(root("a") + "status", statusMsg("online", 1));
  s.ingest(
    root("a") + "devices/d",
    deviceMsg("a", "d", 1, { aeTitles: ["\x1b]0;pwned\x07"], class: "modality" }),
  );
  s.ingest(root("a") + "findings", findingMsg("a", "f", 1, { title: "bad\x1b[31m" }));
  const text = renderText(s.snapshot()).join("\n");
  // eslint-disable-next-line no-control-regex
  t.false(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(text));
  t.regex(text, /HIGH \(1\)/);
  t.regex(text, /modality +AE \?\]0;pwned\?/);
  const frame = screenFrame(renderText(s.snapshot()), 5, 40);
  const rows = frame
    .split("\n")
    .map((l) => l.replaceAll("\x1b[H", "").replaceAll("\x1b[K", "").replaceAll("\x1b[J", ""));
  t.is(rows.length, 5);
  t.regex(rows[3]!, /^… \d+ more lines$/);
  t.is(rows[4], "");
  t.true(rows.every((l) => l.length <= 40));
});

test("rendering: a screen lists a few entries per section, most severe findings first, and sums up the rest", (t) => {
  const s = new ConsoleState();
  for (let i = 0; i < 30; i++) s.ingest(root("a") + `devices/d${i}`, deviceMsg("a", `d${i}`, 1));
  for (let i = 0; i < 20; i++) s.ingest(root("a") + "findings", findingMsg("a", `h${i}`, 1));
  s.ingest(root("b") + "findings", findingMsg("b", "crit", 1, { severity: "critical" }));
  const lines = renderText(s.snapshot(), "t", perSectionFor(24));
  t.is(perSectionFor(24), 2);
  const text = lines.join("\n");
  t.regex(
    text,
    /FINDINGS\n {2}CRITICAL \(1\)\n {4}dicom\.cleartext.*st-marys\/b\n {2}HIGH \(20\)\n {4}.*\n {2}… and 19 more findings/,
  );
  t.regex(text, /… and 28 more devices/);
  t.true(lines.length <= 23);
  // --once lists everything.
  t.is(renderText(s.snapshot()).filter((l) => l.startsWith("    ")).length, 30 + 21);
});

test("event lines: one JSON object per finding, device and status; health is not streamed", (t) => {
  const s = new ConsoleState();
  const ev = s.ingest(root("a") + "findings", findingMsg("a", "f", 1))!;
  const line = eventLine(ev, 0)!;
  t.like(JSON.parse(line), {
    time: "1970-01-01T00:00:00.000000Z",
    event: "finding",
    change: "new",
    sensor: "a",
  });
  t.is(line.indexOf("\n"), line.length - 1);
  t.is(eventLine({ event: "health", site: SITE, sensor: "a" }), null);
});

test("arguments: filters, shared subscriptions, usage errors", (t) => {
  t.is(topicFilter(null, null), "dicomtap/v1/+/+/#");
  t.is(topicFilter("st-marys", "consoles"), "$share/consoles/dicomtap/v1/st-marys/+/#");
  const err = (m: string): Error => new Error(m);
  const base = ["--broker", "mqtts://b:8883", "--ca", "ca", "--cert", "c", "--key", "k"];
  t.like(parseConsoleArgs([...base, "--once", "2", "--json"], err), {
    onceSeconds: 2,
    json: true,
    site: null,
  });
  t.throws(() => parseConsoleArgs([...base, "--site", "a+b"], err), { message: /one topic level/ });
  t.throws(() => parseConsoleArgs([...base, "--share", "g/1"], err), { message: /one topic level/ });
  t.throws(() => parseConsoleArgs([...base, "--once", "0"], err), { message: /--once needs seconds/ });
  t.throws(() => parseConsoleArgs([...base, "--once", "-1"], err), { message: /--once needs seconds/ });
  t.throws(() => parseConsoleArgs(["--broker", "mqtt://b", "--ca", "a", "--cert", "c", "--key", "k"], err), {
    message: /mqtts:\/\//,
  });
  t.throws(() => parseConsoleArgs([...base, "--bogus"], err), { message: /unknown option --bogus/ });
});

test("connection failures are described by their cause", (t) => {
  const tls = new Error(
    "80CC:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert certificate required:x.c:1601",
  );
  t.is(describeFailure(tls), 'the broker refused our certificate (TLS alert "certificate required")');
  const connack = Object.assign(new Error("Connection refused: Not authorized"), { code: 135 });
  t.regex(
    describeFailure(connack),
    /refused the connection \(Connection refused: Not authorized, reason code 0x87\)/,
  );
  const expired = Object.assign(new Error("certificate has expired"), { code: "CERT_HAS_EXPIRED" });
  t.regex(describeFailure(expired), /broker's certificate failed verification/);
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  t.is(describeFailure(refused), "cannot connect (connect ECONNREFUSED 127.0.0.1:1)");
});

test("a device line names its SOP classes from the DICOM dictionary, with the UID", (t) => {
  const s = new ConsoleState();
  s.ingest(
    root("a") + "devices/d",
    deviceMsg("a", "d", 1, {
      sopClasses: ["1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.1"],
    }),
  );
  const line = renderText(s.snapshot()).find((l) => l.includes("10.1.2.3"))!;
  t.regex(
    line,
    /sop CT Image Storage \(1\.2\.840\.10008\.5\.1\.4\.1\.1\.2\), 1\.2\.3\.4, MR Image Storage \(1\.2\.840\.10008\.5\.1\.4\.1\.1\.4\) \+1$/,
  );
});
