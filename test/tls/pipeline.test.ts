/**
 * DICOM over a NULL-cipher TLS connection through the whole pipeline, driven by frames: the association is
 * decoded from the records' plaintext and equals the one the same conversation gives in clear, whatever the
 * TCP segmentation and the record sizes; a gap stops the plaintext of its direction; an encrypted session
 * shows no DICOM; the bytes of a TLS stream never reach the DICOM decoder as such.
 */
import test from "ava";
import fc from "fast-check";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import type { Observation, TlsObservation } from "../../agent/observations/types.js";
import type { AssociationRecord } from "../../agent/report/types.js";
import { T0, storeConversation, type Turn } from "../dicom/ul/conversation.js";
import { sessionFrames, type Frame } from "../pipeline/session.js";
import * as b from "../dicom/ul/builders.js";
import {
  CT_APPLICATION_DATA,
  CT_HANDSHAKE,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
  TLS_RSA_WITH_NULL_SHA,
  ccs,
  certificateDer,
  certificateMsg,
  clientHello,
  nullSession,
  record,
  serverHello,
  serverHelloDone,
} from "./builders.js";

interface Result {
  pipeline: Pipeline;
  observations: Observation[];
}

function run(frames: Frame[]): Result {
  const observations: Observation[] = [];
  const pipeline = new Pipeline({ observations: { observe: (o) => observations.push(o) } });
  for (const f of frames)
    pipeline.packet(f.data, 0, f.data.length, f.tsMicros, LINKTYPE_ETHERNET, f.data.length);
  pipeline.finish();
  return { pipeline, observations };
}

const tlsOf = (r: Result): TlsObservation[] =>
  r.observations.filter((o): o is TlsObservation => o.kind === "tls");

/** Records without times and with their messages, for comparing a TLS run with a cleartext one. */
function strip(records: AssociationRecord[]): unknown {
  return records.map(({ start: _s, end: _e, client: _c, server: _v, ...rest }) => rest);
}

const clear = run(sessionFrames(storeConversation(), { dport: 2762 }));
const cert = certificateDer("rsa:2048");

test("DICOM over TLS with a NULL cipher is decoded like DICOM in clear, and reported as such", (t) => {
  const r = run(sessionFrames(nullSession(storeConversation(), { certificate: cert }), { dport: 2762 }));
  const got = r.pipeline.associations();
  t.is(got.length, 1);
  t.deepEqual(strip(got), strip(clear.pipeline.associations()));
  t.deepEqual(
    got[0]!.messages.map((m) => m.command),
    ["C-ECHO-RQ", "C-ECHO-RSP", "C-STORE-RQ", "C-STORE-RSP"],
  );
  t.true(got[0]!.released);
  const tls = tlsOf(r);
  t.is(tls.length, 1);
  t.is(tls[0]!.cipherSuite, "TLS_RSA_WITH_NULL_SHA256");
  t.true(tls[0]!.plaintext);
  t.true(tls[0]!.plaintextDicom);
  // The TLS observation comes as soon as the plaintext is recognised, before the association ends.
  t.true(r.observations.indexOf(tls[0]!) < r.observations.findIndex((o) => o.kind === "association"));
  const s = r.pipeline.stats();
  t.is(s.dicomFlows, 1);
  t.is(s.associations, 1);
  t.is(s.dimseMessages, 4);
  t.deepEqual(r.pipeline.anomalyCounter.records(), []);
});

test("any TCP segmentation and any record size give the same association", (t) => {
  const expected = strip(clear.pipeline.associations());
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 1460 }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 16384 }),
      fc.constantFrom([32, 0x003b], [20, TLS_RSA_WITH_NULL_SHA], [16, 0x0001]),
      (sizes, recordSize, [mac, suite]) => {
        let k = 0;
        const turns = nullSession(storeConversation(), { recordSize, mac, suite });
        const r = run(sessionFrames(turns, { dport: 2762, segmentSize: () => sizes[k++ % sizes.length]! }));
        t.deepEqual(strip(r.pipeline.associations()), expected);
        return r.pipeline.associations().length === 1 && tlsOf(r)[0]?.plaintextDicom === true;
      },
    ),
    { numRuns: 60 },
  );
});

test("on any port: DICOM found in a NULL cipher's plaintext is DICOM over TLS", (t) => {
  const r = run(sessionFrames(nullSession(storeConversation()), { dport: 8443 }));
  t.is(r.pipeline.associations().length, 1);
  t.true(tlsOf(r)[0]!.plaintextDicom);
});

test("something else than DICOM under a NULL cipher: plaintext, not DICOM, nothing invented", (t) => {
  const http: Turn[] = [
    { dir: 0, bytes: Buffer.from("GET / HTTP/1.1\r\nHost: pacs\r\n\r\n"), ts: 1_700_000_000_000_000 },
    { dir: 1, bytes: Buffer.from("HTTP/1.1 200 OK\r\n\r\n" + "x".repeat(70_000)), ts: 1_700_000_000_001_000 },
  ];
  const r = run(sessionFrames(nullSession(http), { dport: 2762 }));
  t.is(r.pipeline.associations().length, 0);
  const tls = tlsOf(r);
  t.is(tls.length, 1);
  t.true(tls[0]!.plaintext);
  t.false(tls[0]!.plaintextDicom);
});

test("a capture gap inside the NULL record stream: the association keeps what came before, with the gap", (t) => {
  const frames = sessionFrames(nullSession(storeConversation()), { dport: 2762, segmentSize: () => 200 });
  // Drop the client's first data segment of the C-STORE turn (a gap the reassembler reports).
  const victim = frames.findIndex(
    (f) => f.tsMicros >= T0 + 4000 && f.data.length > 54 && f.data.readUInt16BE(34) !== 2762,
  );
  t.true(victim > 0);
  const r = run(frames.filter((_, i) => i !== victim));
  const a = r.pipeline.associations();
  t.is(a.length, 1, "no association invented after the gap");
  t.true(a[0]!.captureGaps.count >= 1);
  t.true(a[0]!.messages.some((m) => m.command === "C-ECHO-RQ"));
  t.true(r.pipeline.anomalyCounter.records().some((x) => x.code === "tls.plaintext-gap"));
});

test("an encrypted session on a DICOM port: the TLS observation, no DICOM, no 'not DICOM' anomaly", (t) => {
  const turns: Turn[] = [
    { dir: 0, bytes: record(CT_HANDSHAKE, clientHello({ suites: [0xc02f] })), ts: 1_700_000_000_000_000 },
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
      ts: 1_700_000_000_000_001,
    },
    {
      dir: 0,
      bytes: Buffer.concat([ccs(), record(CT_HANDSHAKE, Buffer.alloc(40))]),
      ts: 1_700_000_000_000_002,
    },
    {
      dir: 1,
      bytes: Buffer.concat([ccs(), record(CT_HANDSHAKE, Buffer.alloc(40))]),
      ts: 1_700_000_000_000_003,
    },
    // Encrypted bytes that happen to look like an A-ASSOCIATE-RQ must not be decoded.
    { dir: 0, bytes: record(CT_APPLICATION_DATA, b.associateRq()), ts: 1_700_000_000_000_004 },
  ];
  const r = run(sessionFrames(turns, { dport: 104 }));
  t.is(r.pipeline.associations().length, 0);
  t.is(r.pipeline.stats().dicomFlows, 0);
  t.deepEqual(r.pipeline.anomalyCounter.records(), []);
  t.is(tlsOf(r)[0]?.cipherSuite, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
});

test("plain DICOM cut into 1-byte segments still reaches the DICOM decoder (bytes held while undecided)", (t) => {
  const r = run(sessionFrames(storeConversation(), { dport: 2762, segmentSize: () => 1 }));
  t.deepEqual(strip(r.pipeline.associations()), strip(clear.pipeline.associations()));
  t.deepEqual(tlsOf(r), []);
});
