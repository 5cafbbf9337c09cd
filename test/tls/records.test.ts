/**
 * The TLS sniffer's record layer on byte-built sessions: negotiated suite and version, certificate key,
 * alerts and handshake failures, and the NULL cipher's plaintext handed on without record headers and
 * MACs, whatever the cuts; gaps, short records, renegotiation and compression; random bytes never throw.
 */
import test from "ava";
import fc from "fast-check";
import { TlsSniffer, type PlaintextSink } from "../../agent/tls/sniffer.js";
import { AnomalyCounter } from "../../agent/util/anomaly.js";
import type { Observation, TlsObservation } from "../../agent/observations/types.js";
import type { ConnectionInfo, Direction } from "../../agent/reassembly/types.js";
import type { Turn } from "../dicom/ul/conversation.js";
import {
  CT_ALERT,
  CT_APPLICATION_DATA,
  CT_CHANGE_CIPHER_SPEC,
  CT_HANDSHAKE,
  HRR_RANDOM,
  TLS_AES_128_GCM_SHA256,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
  TLS_RSA_WITH_NULL_SHA,
  alert,
  ccs,
  certificateDer,
  certificateMsg,
  clientHello,
  nullRecord,
  nullSession,
  record,
  serverHello,
  serverHelloDone,
} from "./builders.js";

const info: ConnectionInfo = {
  id: 1,
  client: { ip: "10.1.0.5", port: 50001, mac: null },
  server: { ip: "10.1.0.10", port: 2762, mac: null },
  handshakeSeen: true,
  flow: "10.1.0.5:50001-10.1.0.10:2762",
  startMicros: 0,
};

class Collect implements PlaintextSink {
  readonly bytes: [Buffer[], Buffer[]] = [[], []];
  readonly gaps: [Direction, number][] = [];
  plaintext(dir: Direction, buf: Buffer, start: number, end: number): void {
    // Copied here only to compare; the sniffer hands views.
    this.bytes[dir].push(Buffer.from(buf.subarray(start, end)));
  }
  plaintextGap(dir: Direction, length: number): void {
    this.gaps.push([dir, length]);
  }
  text(dir: Direction): Buffer {
    return Buffer.concat(this.bytes[dir]);
  }
}

interface Run {
  observations: TlsObservation[];
  anomalies: AnomalyCounter;
  sink: Collect;
  sniffer: TlsSniffer;
  copied: number;
}

/**
 * Feeds the turns, each cut into pieces of `cut` bytes (0: whole), inside junk so a read past `end` shows;
 * the host buffer is scribbled over after each call, so a view kept past it would fail the comparison.
 * `gapAt` inserts a gap before the turn of that index.
 */
function run(turns: Turn[], o: { cut?: number; gapAt?: number; sink?: boolean; close?: boolean } = {}): Run {
  const observations: TlsObservation[] = [];
  const anomalies = new AnomalyCounter();
  const counters = { bytesCopied: 0, collectBudget: 1 << 20 };
  const sniffer = new TlsSniffer(
    info,
    { observe: (ob: Observation) => observations.push(ob as TlsObservation) },
    { anomalies, counters },
  );
  const sink = new Collect();
  if (o.sink !== false) sniffer.plaintextSink = sink;
  turns.forEach((t, k) => {
    if (k === o.gapAt) sniffer.gap(t.dir, 100, t.ts);
    const step = o.cut && o.cut > 0 ? o.cut : t.bytes.length;
    for (let i = 0; i < t.bytes.length; i += step) {
      const piece = t.bytes.subarray(i, Math.min(t.bytes.length, i + step));
      const host = Buffer.concat([Buffer.from("junk"), piece, Buffer.from("junk")]);
      sniffer.data(t.dir, host, 4, 4 + piece.length, t.ts);
      host.fill(0xee);
    }
  });
  if (o.close !== false) sniffer.close("fin", (turns.at(-1)?.ts ?? 0) + 1);
  return { observations, anomalies, sink, sniffer, copied: counters.bytesCopied };
}

const T0 = 1_700_000_000_000_000;
const app = (dir: Direction, text: string, ts: number): Turn => ({ dir, bytes: Buffer.from(text), ts });
const appTurns: Turn[] = [
  app(0, "hello from the client, ".repeat(40), T0 + 10),
  app(1, "and back from the server", T0 + 20),
  app(0, "x".repeat(40_000), T0 + 30), // three records of 16 KiB
];

test("a NULL-cipher session: suite, version, and the plaintext without record headers or MACs, at every cut", (t) => {
  const cert = certificateDer("rsa:2048");
  const turns = nullSession(appTurns, { certificate: cert });
  const want0 = Buffer.concat([appTurns[0]!.bytes, appTurns[2]!.bytes]);
  const want1 = appTurns[1]!.bytes;
  for (const cut of [0, 1, 2, 3, 4, 5, 6, 7, 31, 32, 33, 1000, 1460]) {
    const r = run(turns, { cut });
    t.true(r.sink.text(0).equals(want0), `cut ${cut}`);
    t.true(r.sink.text(1).equals(want1), `cut ${cut}`);
    t.is(r.anomalies.total, 0, JSON.stringify(r.anomalies.records()));
    t.is(r.observations.length, 1);
    const o = r.observations[0]!;
    t.is(o.version, "TLS 1.2");
    t.is(o.cipherSuite, "TLS_RSA_WITH_NULL_SHA256");
    t.is(o.cipherSuiteId, 0x003b);
    t.true(o.plaintext);
    t.false(o.handshakeFailure);
    t.is(o.certificate?.keyType, "rsa");
    t.is(o.certificate?.keyBits, 2048);
    t.is(o.certificate?.subject, "CN=pacs.test");
    // close_notify from both sides under the NULL cipher: after the handshake, not a failure.
    t.deepEqual(o.alerts, [
      { from: "client", level: "warning", description: "close_notify" },
      { from: "server", level: "warning", description: "close_notify" },
    ]);
    // The application data is never copied: only handshake bytes count.
    t.true(r.copied < 4000, `copied ${r.copied}`);
  }
});

test("the plaintext's receiver decides when the observation is emitted, and what it says", (t) => {
  const turns = nullSession(appTurns, { suite: TLS_RSA_WITH_NULL_SHA, mac: 20 });
  const observations: TlsObservation[] = [];
  const sniffer = new TlsSniffer(
    info,
    { observe: (ob: Observation) => observations.push(ob as TlsObservation) },
    { anomalies: new AnomalyCounter(), counters: { bytesCopied: 0 } },
  );
  let seen = 0;
  sniffer.plaintextSink = {
    plaintext: () => {
      if (++seen === 1) {
        t.is(observations.length, 0, "held until the plaintext is judged");
        sniffer.plaintextIdentified(true);
        t.is(observations.length, 1);
      }
    },
    plaintextGap: () => t.fail(),
  };
  for (const tn of turns) sniffer.data(tn.dir, tn.bytes, 0, tn.bytes.length, tn.ts);
  sniffer.close("fin", T0 + 100);
  t.is(observations.length, 1);
  t.true(observations[0]!.plaintextDicom);
  t.is(observations[0]!.cipherSuite, "TLS_RSA_WITH_NULL_SHA");
});

test("without a plaintext receiver a NULL session is reported when the handshake completes", (t) => {
  const r = run(nullSession(appTurns), { sink: false, close: false });
  t.is(r.observations.length, 1);
  t.false(r.observations[0]!.plaintextDicom);
  t.false(r.sniffer.done, "the record stream is still followed");
});

test("a gap in a NULL record stream stops that direction's plaintext, with an anomaly and a gap marker", (t) => {
  const turns = nullSession(appTurns);
  const gapAt = turns.findIndex((x) => x.ts === appTurns[2]!.ts);
  const r = run(turns, { gapAt, cut: 500 });
  t.true(r.sink.text(0).equals(appTurns[0]!.bytes), "nothing after the gap");
  t.true(r.sink.text(1).equals(appTurns[1]!.bytes), "the other direction goes on");
  t.deepEqual(r.sink.gaps, [[0, 100]]);
  t.deepEqual(
    r.anomalies.records().map((a) => a.code),
    ["tls.plaintext-gap"],
  );
  t.is(r.observations.length, 1);
});

test("under the NULL cipher: a record shorter than its MAC, a renegotiation, a bad record header stop the direction", (t) => {
  const base = nullSession(appTurns.slice(0, 2));
  const closeAt = base.length - 2;
  for (const [bad, code] of [
    [record(CT_APPLICATION_DATA, Buffer.alloc(10)), "tls.record-shorter-than-mac"],
    [nullRecord(CT_CHANGE_CIPHER_SPEC, Buffer.from([1]), 32), "tls.renegotiation"],
    [Buffer.from([99, 3, 3, 0, 40]), "tls.invalid-record"],
  ] as const) {
    const turns = [
      ...base.slice(0, closeAt),
      { dir: 0 as const, bytes: bad, ts: T0 + 25 },
      ...base.slice(closeAt),
    ];
    turns.splice(closeAt + 1, 0, {
      dir: 0,
      bytes: nullRecord(CT_APPLICATION_DATA, Buffer.from("lost"), 32),
      ts: T0 + 26,
    });
    const r = run(turns);
    t.deepEqual(
      r.anomalies.records().map((a) => a.code),
      [code],
    );
    t.is(r.sink.text(0).toString(), appTurns[0]!.bytes.toString(), code);
    t.deepEqual(r.sink.gaps, [[0, 0]], code);
  }
});

test("NULL cipher with compression: reported as plaintext, not decoded, with an anomaly", (t) => {
  const turns = nullSession(appTurns.slice(0, 1));
  turns[1] = {
    ...turns[1]!,
    bytes: record(CT_HANDSHAKE, Buffer.concat([serverHello({ compression: 1 }), serverHelloDone()])),
  };
  const r = run(turns);
  t.is(r.sink.text(0).length, 0);
  t.true(r.observations[0]!.plaintext);
  t.true(r.anomalies.records().some((a) => a.code === "tls.compressed-plaintext"));
  t.true(r.sniffer.done);
});

test("an encrypted TLS 1.2 session: done after both ChangeCipherSpecs, nothing handed on", (t) => {
  const cert = certificateDer("ec:prime256v1");
  const turns: Turn[] = [
    { dir: 0, bytes: record(CT_HANDSHAKE, clientHello({ suites: [0xc02f] })), ts: T0 },
    {
      dir: 1,
      bytes: record(
        CT_HANDSHAKE,
        Buffer.concat([
          serverHello({ suite: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 }),
          certificateMsg([cert]),
          serverHelloDone(),
        ]),
      ),
      ts: T0 + 1,
    },
    { dir: 0, bytes: Buffer.concat([ccs(), record(CT_HANDSHAKE, Buffer.alloc(40, 0x99))]), ts: T0 + 2 },
    { dir: 1, bytes: Buffer.concat([ccs(), record(CT_HANDSHAKE, Buffer.alloc(40, 0x99))]), ts: T0 + 3 },
    { dir: 0, bytes: record(CT_APPLICATION_DATA, Buffer.alloc(100, 0x98)), ts: T0 + 4 },
  ];
  for (const cut of [0, 1, 5]) {
    const r = run(turns, { cut, close: false });
    t.true(r.sniffer.done);
    t.is(r.observations.length, 1);
    const o = r.observations[0]!;
    t.is(o.cipherSuite, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    t.false(o.plaintext);
    t.is(o.certificate?.keyType, "ec");
    t.is(o.certificate?.keyBits, 256);
    t.is(o.certificate?.keyCurve, "prime256v1");
    t.deepEqual(o.alerts, []);
    t.is(r.sink.text(0).length + r.sink.text(1).length, 0);
  }
});

test("TLS 1.3: version from supported_versions, HelloRetryRequest skipped, dummy ChangeCipherSpec ignored", (t) => {
  const sh13 = (random?: Buffer): Buffer =>
    record(
      CT_HANDSHAKE,
      serverHello({ suite: TLS_AES_128_GCM_SHA256, supportedVersion: 0x0304, ...(random ? { random } : {}) }),
    );
  const turns: Turn[] = [
    { dir: 0, bytes: record(CT_HANDSHAKE, clientHello({ suites: [0x1301] }), 0x0301), ts: T0 },
    { dir: 1, bytes: Buffer.concat([sh13(HRR_RANDOM), ccs()]), ts: T0 + 1 },
    {
      dir: 0,
      bytes: Buffer.concat([ccs(), record(CT_HANDSHAKE, clientHello({ suites: [0x1301] }))]),
      ts: T0 + 2,
    },
    {
      dir: 1,
      bytes: Buffer.concat([sh13(), record(CT_APPLICATION_DATA, Buffer.alloc(300, 0x42))]),
      ts: T0 + 3,
    },
    { dir: 0, bytes: record(CT_APPLICATION_DATA, Buffer.alloc(60, 0x43)), ts: T0 + 4 },
  ];
  for (const cut of [0, 3]) {
    const r = run(turns, { cut, close: false });
    t.true(r.sniffer.done);
    t.is(r.observations.length, 1);
    const o = r.observations[0]!;
    t.is(o.version, "TLS 1.3");
    t.is(o.cipherSuite, "TLS_AES_128_GCM_SHA256");
    t.is(o.certificate, null);
    t.false(o.handshakeFailure);
    t.is(r.anomalies.total, 0);
  }
});

test("alerts in clear: a server refusing the ClientHello is a handshake failure, reported without a ServerHello", (t) => {
  const turns: Turn[] = [
    { dir: 0, bytes: record(CT_HANDSHAKE, clientHello({ suites: [0x0005] }), 0x0301), ts: T0 },
    { dir: 1, bytes: record(CT_ALERT, alert(2, 40)), ts: T0 + 1 },
  ];
  for (const cut of [0, 1]) {
    const r = run(turns, { cut, close: false });
    t.true(r.sniffer.done);
    t.is(r.observations.length, 1);
    const o = r.observations[0]!;
    t.is(o.version, null);
    t.is(o.cipherSuite, null);
    t.true(o.handshakeFailure);
    t.deepEqual(o.alerts, [{ from: "server", level: "fatal", description: "handshake_failure" }]);
  }
});

test("alerts in clear: the client rejecting the certificate (TLS 1.2), and TLS 1.3's implicit fatal level", (t) => {
  const cert = certificateDer("rsa:2048", { expired: true });
  const hello = { dir: 0 as const, bytes: record(CT_HANDSHAKE, clientHello({ suites: [0xc02f] })), ts: T0 };
  const r = run(
    [
      hello,
      {
        dir: 1,
        bytes: record(
          CT_HANDSHAKE,
          Buffer.concat([serverHello({ suite: 0xc02f }), certificateMsg([cert]), serverHelloDone()]),
        ),
        ts: T0 + 1,
      },
      // Two alerts in one record, as TLS <= 1.2 allows: a warning then the fatal one.
      { dir: 0, bytes: record(CT_ALERT, Buffer.concat([alert(1, 46), alert(2, 45)])), ts: T0 + 2 },
    ],
    { close: false },
  );
  const o = r.observations[0]!;
  t.true(o.handshakeFailure);
  t.deepEqual(o.alerts, [
    { from: "client", level: "warning", description: "certificate_unknown" },
    { from: "client", level: "fatal", description: "certificate_expired" },
  ]);
  t.is(o.certificate?.notAfter, "2021-01-01T00:00:00.000000Z");
  const r13 = run(
    [
      hello,
      {
        dir: 1,
        bytes: record(CT_HANDSHAKE, serverHello({ suite: 0x1301, supportedVersion: 0x0304 })),
        ts: T0 + 1,
      },
      { dir: 0, bytes: record(CT_ALERT, alert(1, 47)), ts: T0 + 2 },
    ],
    { close: false },
  );
  t.true(r13.observations[0]!.handshakeFailure, "illegal_parameter is fatal in TLS 1.3 whatever its level");
  t.is(r13.observations[0]!.version, "TLS 1.3");
});

test("a warning alert before the handshake completes is listed, not a failure", (t) => {
  const r = run([
    { dir: 0, bytes: record(CT_HANDSHAKE, clientHello()), ts: T0 },
    { dir: 1, bytes: record(CT_HANDSHAKE, serverHello({ suite: 0xc02f })), ts: T0 + 1 },
    { dir: 0, bytes: record(CT_ALERT, alert(1, 90)), ts: T0 + 2 },
  ]);
  t.false(r.observations[0]!.handshakeFailure);
  t.is(r.observations[0]!.alerts?.[0]?.description, "user_canceled");
});

test("handshake messages split over records and records split anywhere give the same observation", (t) => {
  const cert = certificateDer("rsa:1024");
  const flight = Buffer.concat([serverHello({ suite: 0xc02f }), certificateMsg([cert]), serverHelloDone()]);
  const records: Buffer[] = [];
  for (let p = 0; p < flight.length; p += 100)
    records.push(record(CT_HANDSHAKE, flight.subarray(p, p + 100)));
  const turns: Turn[] = [
    { dir: 0, bytes: record(CT_HANDSHAKE, clientHello()), ts: T0 },
    { dir: 1, bytes: Buffer.concat(records), ts: T0 + 1 },
    { dir: 0, bytes: ccs(), ts: T0 + 2 },
    { dir: 1, bytes: ccs(), ts: T0 + 3 },
  ];
  for (const cut of [1, 2, 3, 4, 5, 6, 99, 100, 101]) {
    const r = run(turns, { cut, close: false });
    t.true(r.sniffer.done, `cut ${cut}`);
    t.is(r.observations[0]?.certificate?.keyBits, 1024, `cut ${cut}`);
  }
});

test("random and mutated NULL sessions never throw, hand on at most the records' content, hold at most the cap", (t) => {
  const flat = nullSession(appTurns.slice(0, 2), { certificate: certificateDer("rsa:2048") });
  const total = flat.reduce((n, x) => n + x.bytes.length, 0);
  fc.assert(
    fc.property(
      fc.nat(flat.length - 1),
      fc.nat(4000),
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.integer({ min: 1, max: 700 }),
      fc.boolean(),
      (k, at, noise, cut, gap) => {
        const turns = flat.map((x) => ({ ...x, bytes: Buffer.from(x.bytes) }));
        const victim = turns[k]!.bytes;
        Buffer.from(noise).copy(victim, Math.min(at, victim.length - 1));
        const r = run(turns, { cut, ...(gap ? { gapAt: k } : {}) });
        const out = r.sink.text(0).length + r.sink.text(1).length;
        return out <= total && r.observations.length <= 1 && r.copied <= 2 * 64 * 1024;
      },
    ),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.uint8Array({ maxLength: 200 })), {
        maxLength: 20,
      }),
      (chunks) => {
        const turns = chunks.map(([d, b], i) => ({ dir: d as Direction, bytes: Buffer.from(b), ts: T0 + i }));
        // Make most of them start like TLS, so the random bytes reach the record layer.
        if (turns[0] && turns[0].bytes.length > 3) turns[0].bytes.set([22, 3, 3]);
        run(turns, { cut: 3 });
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test("the first bytes decide: TLS is recognised by its record header, other protocols at once", (t) => {
  const tlsStart = run([{ dir: 0, bytes: Buffer.from([22, 3, 1, 0, 5]), ts: T0 }], { close: false });
  t.true(tlsStart.sniffer.isTls);
  t.false(tlsStart.sniffer.done);
  const partial = run([{ dir: 0, bytes: Buffer.from([22, 3]), ts: T0 }], { close: false });
  t.false(partial.sniffer.isTls);
  t.false(partial.sniffer.done, "two bytes decide nothing");
  const dicom = run([{ dir: 0, bytes: Buffer.from([1, 0, 0]), ts: T0 }], { close: false });
  t.false(dicom.sniffer.isTls);
  t.true(dicom.sniffer.done);
  const midStream = run([{ dir: 0, bytes: record(CT_APPLICATION_DATA, Buffer.alloc(8)), ts: T0 }], {
    close: false,
  });
  t.true(midStream.sniffer.isTls);
  t.true(midStream.sniffer.done);
  t.deepEqual(midStream.observations, []);
});
