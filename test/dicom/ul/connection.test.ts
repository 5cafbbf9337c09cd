import test from "ava";
import fc from "fast-check";
import { associationRecord } from "../../../agent/report/association.js";
import * as b from "./builders.js";
import { connectionInfo, Harness, SERVER } from "./harness.js";
import { replay, storeConversation, T0, totalLength, STORE_INSTANCE, type Turn } from "./conversation.js";

/** Everything a run produces, in a form to compare across chunkings. */
function outcome(h: Harness): string {
  return JSON.stringify({
    observations: h.observations,
    anomalies: h.anomalies.records(),
    stats: h.stats,
    resets: h.consumers.map((c) => c.resets),
  });
}

test("a whole C-ECHO/C-STORE association becomes one record with its messages", (t) => {
  const h = new Harness();
  replay(h, storeConversation());
  t.deepEqual(h.codes(), []);
  t.deepEqual(h.stats, { dicomFlows: 1, associations: 1, dimseMessages: 4 });
  const assocs = h.associations();
  t.is(assocs.length, 1);
  const a = assocs[0]!;
  t.false(a.midStream);
  const r = a.record;
  t.is(r.client, "10.0.0.5:50123");
  t.is(r.server, "10.0.0.9:104");
  t.is(r.callingAE, "CT_SCANNER");
  t.is(r.calledAE, "PACS");
  t.is(r.applicationContext, b.APPLICATION_CONTEXT);
  t.deepEqual(r.requestor, {
    implementationClassUid: "1.2.3.4.5.6",
    implementationVersionName: "SCANNER_1",
    maxPduLength: 16384,
  });
  t.deepEqual(r.acceptor, {
    implementationClassUid: "1.2.40.0.13.1.1",
    implementationVersionName: "PACS_2",
    maxPduLength: 32768,
  });
  t.deepEqual(r.userIdentity, { type: 1, username: "tech1", passcodePresent: false });
  t.deepEqual(r.presentationContexts, [
    {
      id: 1,
      abstractSyntax: b.VERIFICATION,
      transferSyntaxes: [b.IMPLICIT_VR_LE],
      result: "acceptance",
      transferSyntax: b.IMPLICIT_VR_LE,
    },
    {
      id: 3,
      abstractSyntax: b.CT_IMAGE_STORAGE,
      transferSyntaxes: [b.EXPLICIT_VR_LE, b.IMPLICIT_VR_LE],
      result: "acceptance",
      transferSyntax: b.EXPLICIT_VR_LE,
    },
    {
      id: 5,
      abstractSyntax: "1.2.840.10008.5.1.4.1.1.4",
      transferSyntaxes: [b.IMPLICIT_VR_LE],
      result: "abstract-syntax-not-supported",
      transferSyntax: null,
    },
  ]);
  t.is(r.outcome, "accepted");
  t.true(r.released);
  t.is(r.reject, null);
  t.is(r.abort, null);
  t.deepEqual(
    r.messages.map((m) => [m.command, m.messageId ?? m.messageIdBeingRespondedTo]),
    [
      ["C-ECHO-RQ", 1],
      ["C-ECHO-RSP", 1],
      ["C-STORE-RQ", 2],
      ["C-STORE-RSP", 2],
    ],
  );
  t.is(r.messages[2]!.sopInstanceUid, STORE_INSTANCE);
  // The parser keeps capture microseconds; the report layer spells them (report/association.ts).
  t.is(r.startMicros, T0);
  t.like(associationRecord(a), {
    client: "10.0.0.5:50123",
    server: "10.0.0.9:104",
    start: "2023-11-14T22:13:20.000000Z",
    end: "2023-11-14T22:13:20.007000Z",
  });
  // The DIMSE layer saw the negotiated transfer syntaxes through the lookup.
  t.deepEqual(
    h.consumers.flatMap((c) => c.transferSyntaxesSeen),
    [b.IMPLICIT_VR_LE, b.EXPLICIT_VR_LE, b.IMPLICIT_VR_LE, b.EXPLICIT_VR_LE],
  );
  const dimse = h.observations.filter((o) => o.kind === "dimse");
  t.deepEqual(
    dimse.map((o) =>
      o.kind === "dimse" ? [o.message.command, o.direction, o.callingAE, o.client.port] : [],
    ),
    [
      ["C-ECHO-RQ", 0, "CT_SCANNER", 50123],
      ["C-ECHO-RSP", 1, "CT_SCANNER", 50123],
      ["C-STORE-RQ", 0, "CT_SCANNER", 50123],
      ["C-STORE-RSP", 1, "CT_SCANNER", 50123],
    ],
  );
});

test("cutting the association stream at every offset gives the same records", (t) => {
  const turns = storeConversation();
  const ref = new Harness();
  replay(ref, turns);
  const expected = outcome(ref);
  const total = totalLength(turns);
  for (let k = 1; k < total; k++) {
    const h = new Harness();
    replay(h, turns, [k]);
    if (outcome(h) !== expected) {
      t.is(outcome(h), expected, `cut at ${k}`);
      return;
    }
  }
  t.pass();
});

test("random chunkings (down to single bytes) give the same records", (t) => {
  const turns = storeConversation();
  const ref = new Harness();
  replay(ref, turns);
  const expected = outcome(ref);
  const total = totalLength(turns);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: total - 1 }), { maxLength: 200 }), (cuts) => {
      const h = new Harness();
      replay(h, turns, cuts);
      return outcome(h) === expected;
    }),
    { numRuns: 300 },
  );
  // Every byte its own chunk.
  const h = new Harness();
  replay(
    h,
    turns,
    Array.from({ length: total - 1 }, (_, i) => i + 1),
  );
  t.is(outcome(h), expected);
});

test("bytes are copied only where PDUs straddle chunks", (t) => {
  const turns = storeConversation();
  const whole = new Harness();
  replay(whole, turns);
  t.is(whole.counters.bytesCopied, 0);
  const split = new Harness();
  replay(split, turns, [3]); // inside the RQ header: the RQ is collected, plus a few header bytes
  const rqLength = turns[0]!.bytes.length;
  t.true(split.counters.bytesCopied >= rqLength && split.counters.bytesCopied <= rqLength + 32);
});

test("several associations in turn on one connection; reject and abort end them", (t) => {
  const h = new Harness();
  const turns: Turn[] = [
    { dir: 0, bytes: b.associateRq({ callingAE: "A1" }), ts: T0 },
    { dir: 1, bytes: b.associateRj(1, 1, 7), ts: T0 + 1 },
    { dir: 0, bytes: b.associateRq({ callingAE: "A2" }), ts: T0 + 2 },
    { dir: 1, bytes: b.associateAc(), ts: T0 + 3 },
    { dir: 0, bytes: b.pdataTf([b.pdv(1, true, true, b.cEchoRq(7))]), ts: T0 + 4 },
    { dir: 1, bytes: b.abort(2, 0), ts: T0 + 5 },
    { dir: 0, bytes: b.associateRq({ callingAE: "A3" }), ts: T0 + 6 },
  ];
  replay(h, turns);
  const recs = h.associations().map((o) => o.record);
  t.deepEqual(
    recs.map((r) => [r.callingAE, r.outcome, r.reject, r.abort, r.released, r.messages.length]),
    [
      ["A1", "rejected", { result: 1, source: 1, reason: 7 }, null, false, 0],
      ["A2", "aborted", null, { source: 2, reason: 0 }, false, 1],
      ["A3", "incomplete", null, null, false, 0],
    ],
  );
  t.is(h.stats.associations, 3);
  t.is(h.stats.dicomFlows, 1);
  t.deepEqual(h.codes(), []);
});

test("an association still open at close is reported as ended by the transport (issue 9)", (t) => {
  const h = new Harness();
  replay(h, storeConversation().slice(0, 4), [], T0 + 99_000_000);
  const [a] = h.associations();
  // Accepted, then neither released nor aborted: the FIN ended it, which the record says.
  t.is(a!.record.outcome, "incomplete");
  t.deepEqual(a!.record.transportEnd, { reason: "fin", side: null });
  t.not(a!.record.acceptor, null);
  t.false(a!.record.released);
  t.is(associationRecord(a!).end, "2023-11-14T22:14:59.000000Z");
});

test("user identity type 2: the passcode appears in no observation and no anomaly", (t) => {
  const secret = "S3cr3t-Passw0rd!";
  for (const variant of ["good", "truncated", "badtype"] as const) {
    const sub =
      variant === "good"
        ? b.userIdentityRqItem(2, true, "radiologist", secret)
        : variant === "badtype"
          ? b.userIdentityRqItem(9, true, secret, secret)
          : b.item(
              0x58,
              Buffer.concat([
                Buffer.from([2, 1, 0, 4]),
                Buffer.from("user"),
                Buffer.from([0, 40]),
                Buffer.from(secret),
              ]),
            );
    const h = new Harness();
    replay(h, [
      { dir: 0, bytes: b.associateRq({ userInformation: [b.maxLengthItem(0), sub] }), ts: T0 },
      {
        dir: 1,
        bytes: b.associateAc({ userInformation: [b.userIdentityAcItem(Buffer.from(secret))] }),
        ts: T0 + 1,
      },
    ]);
    const all = JSON.stringify(h.observations) + JSON.stringify(h.anomalies.records());
    t.false(all.includes(secret), variant);
    t.false(all.includes(Buffer.from(secret).toString("hex")), variant);
    const r = h.associations()[0]!.record;
    if (variant === "good")
      t.deepEqual(r.userIdentity, { type: 2, username: "radiologist", passcodePresent: true });
    // The declared secondary length runs past the sub-item: the layout is not trusted, no username kept.
    if (variant === "truncated")
      t.deepEqual(r.userIdentity, { type: 2, username: null, passcodePresent: true });
    if (variant === "badtype")
      t.deepEqual(r.userIdentity, { type: 9, username: null, passcodePresent: true });
  }
});

test("picked up mid-stream: P-DATA first makes a mid-stream association", (t) => {
  const h = new Harness(connectionInfo({ handshakeSeen: false }));
  const turns = storeConversation().slice(2);
  // Start in the middle of the echo PDU, as a capture that begins mid-segment would.
  turns[0] = { ...turns[0]!, bytes: turns[0]!.bytes.subarray(9) };
  replay(h, turns);
  const [a] = h.associations();
  t.true(a!.midStream);
  t.is(a!.record.callingAE, null);
  t.is(a!.record.outcome, "accepted");
  t.true(a!.record.released);
  // The echo request was cut; the response, the store and its response were seen.
  t.deepEqual(
    a!.record.messages.map((m) => m.command),
    ["C-ECHO-RSP", "C-STORE-RQ", "C-STORE-RSP"],
  );
  t.is(h.stats.associations, 1);
  t.is(h.stats.dicomFlows, 1);
  t.deepEqual(h.codes(), []);
});

test("mid-stream with the roles guessed wrong: the A-ASSOCIATE-RQ sender becomes the client", (t) => {
  // The reassembler guessed the higher port as client; here the requestor uses port 104 as source.
  const h = new Harness(connectionInfo({ handshakeSeen: false }));
  replay(h, [
    { dir: 1, bytes: b.associateRq({ callingAE: "MOD" }), ts: T0 },
    { dir: 0, bytes: b.associateAc(), ts: T0 + 1 },
    { dir: 1, bytes: b.pdataTf([b.pdv(1, true, true, b.cEchoRq(1))]), ts: T0 + 2 },
    { dir: 0, bytes: b.pdataTf([b.pdv(1, true, true, b.cEchoRsp(1))]), ts: T0 + 3 },
  ]);
  const [a] = h.associations();
  t.is(a!.record.client, "10.0.0.9:104");
  t.is(a!.record.server, "10.0.0.5:50123");
  t.deepEqual(a!.client, SERVER);
  const dimse = h.observations.flatMap((o) => (o.kind === "dimse" ? [[o.message.command, o.direction]] : []));
  t.deepEqual(dimse, [
    ["C-ECHO-RQ", 0],
    ["C-ECHO-RSP", 1],
  ]);
  t.deepEqual(h.codes(), []);
});

test("picked up between RQ and AC: the AC's echoed AE titles are used", (t) => {
  const h = new Harness(connectionInfo({ handshakeSeen: false }));
  replay(h, [{ dir: 1, bytes: b.associateAc({ callingAE: "CALLER", calledAE: "CALLED" }), ts: T0 }]);
  const [a] = h.associations();
  t.true(a!.midStream);
  t.is(a!.record.callingAE, "CALLER");
  t.deepEqual(a!.record.presentationContexts[0], {
    id: 1,
    abstractSyntax: null,
    transferSyntaxes: [],
    result: "acceptance",
    transferSyntax: b.IMPLICIT_VR_LE,
  });
});

test("a gap inside a PDV keeps the framing; a gap over a PDU boundary resynchronises", (t) => {
  const h = new Harness();
  const rq = b.associateRq();
  const ac = b.associateAc();
  h.feed(0, rq, T0);
  h.feed(1, ac, T0 + 1);
  const big = b.pdataTf([b.pdv(1, false, true, Buffer.alloc(5000, 0x02))]);
  const echo = b.pdataTf([b.pdv(1, true, true, b.cEchoRq(4))]);
  // Gap inside the PDV value: framing is kept, no resync, the consumer is reset.
  h.conn.data(0, big, 0, 1000, T0 + 2);
  h.conn.gap(0, 2000, T0 + 2);
  h.conn.data(0, big, 3000, big.length, T0 + 2);
  h.feed(0, echo, T0 + 3);
  t.false(h.codes().includes("ul.resync"));
  t.deepEqual(h.consumers[0]!.resets, ["gap"]);
  // Gap past the end of a PDU: the framer scans for the next header.
  h.conn.data(0, big, 0, 1000, T0 + 4);
  h.conn.gap(0, big.length, T0 + 4); // loses the rest and 1000 bytes of whatever followed
  const tail = Buffer.concat([Buffer.alloc(1321, 0x02), echo]);
  h.conn.data(0, tail, 0, tail.length, T0 + 5);
  h.conn.close("fin", T0 + 6);
  t.true(h.codes().includes("ul.resync"));
  const row = h.anomalies.records().find((r) => r.code === "ul.resync")!;
  t.is(row.detail, "resynchronised on a PDU header after skipping 1321 bytes");
  const [a] = h.associations();
  t.deepEqual(
    a!.record.messages.map((m) => [m.command, m.messageId]),
    [
      ["C-ECHO-RQ", 4],
      ["C-ECHO-RQ", 4],
    ],
  );
});

test("a gap that swallows an A-ASSOCIATE-AC is reported and the framing kept", (t) => {
  const h = new Harness();
  const ac = b.associateAc();
  h.feed(0, b.associateRq(), T0);
  h.conn.data(1, ac, 0, 10, T0 + 1);
  h.conn.gap(1, ac.length - 10, T0 + 1);
  h.feed(1, b.pdataTf([b.pdv(1, true, true, b.cEchoRsp(1))]), T0 + 2);
  h.conn.close("fin", T0 + 3);
  t.deepEqual(h.codes(), ["ul.pdu-lost-in-gap"]);
  const [a] = h.associations();
  // P-DATA showed it was accepted; the FIN without a release ended it.
  t.is(a!.record.outcome, "incomplete");
  t.deepEqual(a!.record.transportEnd, { reason: "fin", side: null });
  t.is(a!.record.messages.length, 1);
});

const HTTP = Buffer.from("GET /wado?requestType=WADO HTTP/1.1\r\nHost: pacs\r\n\r\n");
const TLS_CLIENT_HELLO = Buffer.from(
  "160301020001000" +
    "1fc0303" +
    "5f".repeat(32) +
    "20" +
    "11".repeat(32) +
    "003e130213031301c02cc030009fcca9",
  "hex",
);
const SSH = Buffer.from("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");

test("HTTP, TLS and SSH on port 104 are not DICOM: no association, one anomaly", (t) => {
  for (const [name, bytes] of [
    ["http", HTTP],
    ["tls", TLS_CLIENT_HELLO],
    ["ssh", SSH],
  ] as const) {
    const h = new Harness();
    h.feed(0, bytes, T0);
    h.feed(1, Buffer.from("HTTP/1.1 200 OK\r\n\r\n"), T0);
    h.feed(0, b.associateRq(), T0); // even a real PDU later is ignored: the connection was judged
    h.conn.close("fin", T0);
    t.true(h.conn.isNotDicom, name);
    t.is(h.associations().length, 0, name);
    t.deepEqual(h.stats, { dicomFlows: 0, associations: 0, dimseMessages: 0 }, name);
    t.deepEqual(h.codes(), ["ul.not-dicom-on-dicom-port"], name);
  }
  // Elsewhere than a DICOM port: silence.
  const h = new Harness(connectionInfo({ server: { ip: "10.0.0.9", port: 8080, mac: null } }));
  h.feed(0, HTTP, T0);
  t.true(h.conn.isNotDicom);
  t.deepEqual(h.codes(), []);
});

test("random bytes picked up mid-stream: no association, no anomaly flood, bounded scanning", (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3000 }),
      fc.integer({ min: 1, max: 500 }),
      (bytes, chunk) => {
        const h = new Harness(
          connectionInfo({ handshakeSeen: false, server: { ip: "10.0.0.9", port: 9000, mac: null } }),
        );
        const buf = Buffer.from(bytes);
        for (let p = 0; p < buf.length; p += chunk)
          h.conn.data(0, buf, p, Math.min(buf.length, p + chunk), T0);
        h.conn.close("idle", T0);
        // Random data may, rarely, look like a PDU; it must never yield more than a handful of anomalies.
        return h.anomalies.total <= 3 && h.counters.bytesCopied <= 2 * buf.length; // a byte is at most peeked and carried
      },
    ),
    { numRuns: 300 },
  );
  // 200 KiB of random TCP in both directions exhausts the detection budget and is ignored afterwards (on a
  // port that is not a DICOM port: there, mid-stream detection may scan a whole maximal P-DATA-TF).
  const h = new Harness(
    connectionInfo({ handshakeSeen: false, server: { ip: "10.0.0.9", port: 9000, mac: null } }),
  );
  const junk = Buffer.alloc(200 * 1024);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + (i >> 3)) & 0xff;
  junk.fill(0x41, 0, 10); // and never a PDU type at the start
  h.feed(0, junk, T0, [1000, 70000]);
  h.feed(1, junk, T0, [5000]);
  t.true(h.conn.isNotDicom);
  t.is(h.associations().length, 0);
});

test("mutated conversations with random cuts and gaps never throw and stay bounded", (t) => {
  const turns = storeConversation();
  const total = totalLength(turns);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(total - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 12,
      }),
      fc.uniqueArray(fc.integer({ min: 1, max: total - 1 }), { maxLength: 40 }),
      fc.option(fc.tuple(fc.nat(turns.length - 1), fc.integer({ min: 1, max: 400 }))),
      fc.boolean(),
      (mutations, cuts, gapAt, handshakeSeen) => {
        const mutated = turns.map((x) => ({ ...x, bytes: Buffer.from(x.bytes) }));
        for (const [at, v] of mutations) {
          let off = at;
          for (const m of mutated) {
            if (off < m.bytes.length) {
              m.bytes[off] = v;
              break;
            }
            off -= m.bytes.length;
          }
        }
        const h = new Harness(connectionInfo({ handshakeSeen }));
        if (gapAt !== null) h.conn.gap(mutated[gapAt[0]]!.dir, gapAt[1], T0);
        replay(h, mutated, cuts);
        // At most one association per PDU, one observation per message, a bounded number of anomalies.
        return h.stats.associations <= 20 && h.observations.length <= 100 && h.anomalies.total < 500;
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});

test("a new A-ASSOCIATE-RQ while one is open ends the first; messages beyond the cap are counted", (t) => {
  const h = new Harness();
  h.feed(0, b.associateRq({ callingAE: "FIRST" }), T0);
  h.feed(1, b.associateAc(), T0);
  const echo = b.pdataTf([b.pdv(1, true, true, b.cEchoRq(1))]);
  const n = 100_002;
  const many = Buffer.alloc(echo.length * n);
  for (let i = 0; i < n; i++) echo.copy(many, i * echo.length);
  h.feed(0, many, T0 + 1);
  h.feed(0, b.associateRq({ callingAE: "SECOND" }), T0 + 2);
  h.conn.close("rst", T0 + 3);
  const recs = h.associations().map((o) => o.record);
  t.deepEqual(
    recs.map((r) => [r.callingAE, r.outcome]),
    [
      ["FIRST", "accepted"],
      ["SECOND", "incomplete"],
    ],
  );
  t.is(recs[0]!.messages.length, 100_000);
  t.is(recs[0]!.messagesOmitted, 2);
  t.is(h.stats.dimseMessages, n);
  const capped = h.anomalies.records().find((r) => r.code === "ul.messages-capped")!;
  t.is(capped.detail, "2 DIMSE messages counted but not listed in the association (list caps)");
  t.true(h.codes().includes("ul.associate-rq-while-open"));
});

test("picked up inside a P-DATA-TF longer than the detection budget: the requestor side recovers once the acceptor proves DICOM", (t) => {
  const server = { ip: "10.0.0.9", port: 5104, mac: null };
  const h = new Harness(connectionInfo({ handshakeSeen: false, server }));
  // Port 5104 is no DICOM port, so detection has its small budget. The capture starts 100 kB before the end of a big data PDU (peers that negotiated a large or unlimited
  // maximum PDU length), then more 256 KiB data PDUs: no PDU header within the first DETECT_SCAN_BUDGET bytes.
  const pd = b.pdataTf([b.pdv(1, false, false, Buffer.alloc(256 * 1024, 0x33))]);
  const store = b.pdataTf([b.pdv(1, true, true, b.cStoreRq(7, b.CT_IMAGE_STORAGE, "1.2.3.7"))]);
  h.feed(0, Buffer.concat([Buffer.alloc(100_000, 0x55), pd, pd]), T0, [1460, 40_000, 90_000, 150_000]);
  h.feed(1, b.pdataTf([b.pdv(1, true, true, b.cStoreRsp(6, b.CT_IMAGE_STORAGE, "1.2.3.6"))]), T0);
  h.feed(0, Buffer.concat([pd, store]), T0, [1460, 9000]);
  h.conn.close("fin", T0 + 1);
  t.true(h.conn.isDicom);
  const messages = h
    .associations()
    .flatMap((a) =>
      a.record.messages.map((m) => `${m.command} ${m.messageId ?? m.messageIdBeingRespondedTo}`),
    );
  t.deepEqual(messages, ["C-STORE-RSP 6", "C-STORE-RQ 7"]);
  t.deepEqual(h.codes(), ["ul.resync"]);
});

test("a gap that ends exactly where a PDV ends keeps the next PDV items of the same P-DATA-TF", (t) => {
  const h = new Harness();
  h.feed(0, b.associateRq(), T0);
  h.feed(1, b.associateAc(), T0);
  const p = b.pdataTf([b.pdv(1, false, false, Buffer.alloc(1000, 0x41)), b.pdv(1, true, true, b.cEchoRq(9))]);
  h.conn.data(0, p, 0, 112, T0);
  h.conn.gap(0, 900, T0);
  h.conn.data(0, p, 1012, p.length, T0);
  h.conn.close("fin", T0 + 1);
  t.deepEqual(
    h.associations().flatMap((a) => a.record.messages.map((m) => m.command)),
    ["C-ECHO-RQ"],
  );
});

test("picked up mid-stream on port 104 inside a big P-DATA-TF: the requestor side is decoded on its own", (t) => {
  const h = new Harness(connectionInfo({ handshakeSeen: false }));
  const pd = b.pdataTf([b.pdv(1, false, false, Buffer.alloc(256 * 1024, 0x33))]);
  const store = b.pdataTf([b.pdv(1, true, true, b.cStoreRq(7, b.CT_IMAGE_STORAGE, "1.2.3.7"))]);
  h.feed(0, Buffer.concat([Buffer.alloc(100_000, 0x55), pd, store]), T0, [1460, 40_000, 90_000, 150_000]);
  h.conn.close("fin", T0 + 1);
  t.true(h.conn.isDicom);
  t.deepEqual(
    h.associations().flatMap((a) => a.record.messages.map((m) => m.command)),
    ["C-STORE-RQ"],
  );
});

test("a P-DATA-TF above the receiver's Maximum Length (PS3.8 D.1.1) is reported once per direction", (t) => {
  const h = new Harness();
  h.feed(0, b.associateRq(), T0); // both sides announce 16384 (builders' default)
  h.feed(1, b.associateAc({ userInformation: [b.maxLengthItem(0)] }), T0); // the acceptor: no limit
  const sized = (pduLength: number): Buffer =>
    b.pdataTf([b.pdv(1, false, false, Buffer.alloc(pduLength - 6))]);
  h.feed(0, Buffer.concat([sized(100_000), sized(100_000)]), T0); // to the acceptor: no limit, fine
  h.feed(1, sized(16384), T0); // to the requestor: exactly its maximum, fine
  t.deepEqual(
    h.codes().filter((c) => c === "ul.pdu-exceeds-max-length"),
    [],
  );
  h.feed(1, Buffer.concat([sized(16386), sized(20000)]), T0);
  const rows = h.anomalies.records().filter((r) => r.code === "ul.pdu-exceeds-max-length");
  t.deepEqual(
    rows.map((r) => [r.count, r.detail]),
    [[1, "P-DATA-TF of 16386 bytes where the receiver announced a maximum of 16384"]],
  );
});
