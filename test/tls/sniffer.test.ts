import test from "ava";
import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, connect as netConnect, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { TlsSniffer, MAX_HANDSHAKE } from "../../agent/tls/sniffer.js";
import { expiredCertificate } from "./builders.js";
import { AnomalyCounter } from "../../agent/util/anomaly.js";
import type { Observation, TlsObservation } from "../../agent/observations/types.js";
import type { ConnectionInfo } from "../../agent/reassembly/types.js";
import { defaultConfig } from "../../agent/config/config.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { FindingsEngine } from "../../agent/findings/engine.js";

// ---- certificates made with openssl in a temp dir ----

const dir = mkdtempSync(join(tmpdir(), "dicomtap-tls-"));
function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}
openssl(
  "req",
  "-x509",
  "-newkey",
  "rsa:2048",
  "-nodes",
  "-keyout",
  "ss.key",
  "-out",
  "ss.crt",
  "-days",
  "2",
  "-subj",
  "/CN=pacs.test/O=St Elsewhere",
);
openssl(
  "req",
  "-x509",
  "-newkey",
  "rsa:2048",
  "-nodes",
  "-keyout",
  "ca.key",
  "-out",
  "ca.crt",
  "-days",
  "2",
  "-subj",
  "/CN=Test CA",
);
openssl(
  "req",
  "-newkey",
  "rsa:2048",
  "-nodes",
  "-keyout",
  "leaf.key",
  "-out",
  "leaf.csr",
  "-subj",
  "/CN=leaf.test",
);
openssl(
  "x509",
  "-req",
  "-in",
  "leaf.csr",
  "-CA",
  "ca.crt",
  "-CAkey",
  "ca.key",
  "-CAcreateserial",
  "-days",
  "2",
  "-out",
  "leaf.crt",
);
expiredCertificate(dir, "old", "/CN=old.test");
const pem = (name: string): Buffer => readFileSync(join(dir, name));

// ---- a real handshake through a recording TCP relay ----

type Chunk = [0 | 1, Buffer];

async function handshake(opts: {
  cert: string;
  key: string;
  min?: tls.SecureVersion;
  max?: tls.SecureVersion;
  ciphers?: string;
}): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  const server = tls.createServer(
    {
      cert: pem(opts.cert),
      key: pem(opts.key),
      minVersion: opts.min ?? "TLSv1",
      maxVersion: opts.max ?? "TLSv1.3",
      ...(opts.ciphers ? { ciphers: opts.ciphers } : {}),
    },
    (s) => {
      s.on("error", () => undefined);
      s.end();
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const sockets: Socket[] = [];
  const relay = createServer((down) => {
    const up = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
    sockets.push(down, up);
    down.on("data", (d) => {
      chunks.push([0, Buffer.from(d)]);
      up.write(d);
    });
    up.on("data", (d) => {
      chunks.push([1, Buffer.from(d)]);
      down.write(d);
    });
    down.on("end", () => up.end());
    up.on("end", () => down.end());
    down.on("error", () => undefined);
    up.on("error", () => undefined);
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  await new Promise<void>((resolve) => {
    const c = tls.connect({
      port: (relay.address() as AddressInfo).port,
      host: "127.0.0.1",
      rejectUnauthorized: false,
      minVersion: opts.min ?? "TLSv1",
      maxVersion: opts.max ?? "TLSv1.3",
      ...(opts.ciphers ? { ciphers: opts.ciphers } : {}),
    });
    c.on("secureConnect", () => c.end());
    c.on("error", () => resolve());
    c.on("close", () => resolve());
    c.resume();
  });
  for (const s of sockets) s.destroy();
  relay.close();
  server.close();
  return chunks;
}

const info: ConnectionInfo = {
  id: 1,
  client: { ip: "10.1.0.5", port: 50001, mac: null },
  server: { ip: "10.1.0.10", port: 2762, mac: null },
  handshakeSeen: true,
  flow: "10.1.0.5:50001-10.1.0.10:2762",
  startMicros: 0,
};

interface Run {
  observations: TlsObservation[];
  anomalies: AnomalyCounter;
  copied: number;
  doneAfter: number;
  sniffer: TlsSniffer;
}

/** Feeds the chunks, optionally re-cut into pieces of `cut` bytes, until the sniffer says done. */
function run(chunks: Chunk[], cut = 0, connInfo = info): Run {
  const observations: TlsObservation[] = [];
  const anomalies = new AnomalyCounter();
  const counters = { bytesCopied: 0 };
  const sniffer = new TlsSniffer(
    connInfo,
    { observe: (o: Observation) => observations.push(o as TlsObservation) },
    { anomalies, counters },
  );
  let fed = 0;
  let doneAfter = -1;
  const now = Date.now() * 1000;
  outer: for (const [d, b] of chunks) {
    const step = cut > 0 ? cut : b.length;
    for (let i = 0; i < b.length; i += step) {
      // Feed a view inside a bigger buffer, as the reassembler does.
      const big = Buffer.concat([Buffer.from("junk"), b, Buffer.from("junk")]);
      sniffer.data(d, big, 4 + i, 4 + Math.min(b.length, i + step), now + fed);
      fed++;
      if (sniffer.done) {
        doneAfter = fed;
        break outer;
      }
    }
  }
  if (!sniffer.done) sniffer.close("fin", now + fed);
  return { observations, anomalies, copied: counters.bytesCopied, doneAfter, sniffer };
}

test("TLS 1.2 with a self-signed certificate: version, subject, issuer, validity", async (t) => {
  const chunks = await handshake({ cert: "ss.crt", key: "ss.key", max: "TLSv1.2" });
  for (const cut of [0, 1, 7, 100]) {
    const r = run(chunks, cut);
    t.is(r.observations.length, 1, `cut ${cut}`);
    const o = r.observations[0]!;
    t.is(o.version, "TLS 1.2");
    t.deepEqual(o.client, info.client);
    t.deepEqual(o.server, info.server);
    t.is(o.certificate?.subject, "CN=pacs.test, O=St Elsewhere");
    t.is(o.certificate?.issuer, "CN=pacs.test, O=St Elsewhere");
    t.true(o.certificate!.selfSigned);
    t.true(Date.parse(o.certificate!.notAfter) > Date.now());
    t.true(r.sniffer.done);
    t.true(r.doneAfter > 0, "done before the stream ended");
    t.true(r.copied > 0 && r.copied <= MAX_HANDSHAKE);
    t.is(r.anomalies.total, 0);
  }
});

test("TLS 1.2 with a CA-signed certificate is not self-signed", async (t) => {
  const r = run(await handshake({ cert: "leaf.crt", key: "leaf.key", max: "TLSv1.2" }));
  t.is(r.observations[0]?.certificate?.issuer, "CN=Test CA");
  t.false(r.observations[0]!.certificate!.selfSigned);
});

test("an expired certificate is read with its dates", async (t) => {
  const r = run(await handshake({ cert: "old.pem", key: "old.key", max: "TLSv1.2" }));
  const c = r.observations[0]!.certificate!;
  t.is(c.notBefore, "2020-01-01T00:00:00.000000Z");
  t.is(c.notAfter, "2021-01-01T00:00:00.000000Z");
});

test("TLS 1.3 is recognised from supported_versions; the certificate is encrypted", async (t) => {
  const chunks = await handshake({ cert: "ss.crt", key: "ss.key", min: "TLSv1.3" });
  for (const cut of [0, 3]) {
    const r = run(chunks, cut);
    t.is(r.observations.length, 1);
    t.is(r.observations[0]!.version, "TLS 1.3");
    t.is(r.observations[0]!.certificate, null);
  }
});

test("TLS 1.0 when both sides allow it", async (t) => {
  const r = run(
    await handshake({
      cert: "ss.crt",
      key: "ss.key",
      min: "TLSv1",
      max: "TLSv1",
      ciphers: "DEFAULT@SECLEVEL=0",
    }),
  );
  t.is(r.observations[0]?.version, "TLS 1.0");
});

test("roles guessed wrong by the reassembler are corrected by who sent ClientHello", async (t) => {
  const chunks = await handshake({ cert: "ss.crt", key: "ss.key", max: "TLSv1.2" });
  const swapped: Chunk[] = chunks.map(([d, b]) => [d === 0 ? 1 : 0, b]);
  const r = run(swapped, 0, { ...info, client: info.server, server: info.client, handshakeSeen: false });
  t.deepEqual(r.observations[0]!.server, info.server);
});

test("not TLS: DICOM, HTTP and mid-stream application data stop at once without an observation", (t) => {
  const assocRq = Buffer.from(
    "01000000004400010000414e592d5343502020202020202020204543484f5343552020202020202020",
    "hex",
  );
  const http = Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const appData = Buffer.from([23, 3, 3, 0, 5, 1, 2, 3, 4, 5]);
  for (const bytes of [assocRq, http, appData]) {
    const r = run([[0, bytes]]);
    t.true(r.sniffer.done);
    t.is(r.doneAfter, 1);
    t.deepEqual(r.observations, []);
    t.is(r.copied, 0);
  }
});

test("random and mutated bytes never throw and copy at most the cap", async (t) => {
  const chunks = await handshake({ cert: "ss.crt", key: "ss.key", max: "TLSv1.2" });
  const flat = Buffer.concat(chunks.map(([, b]) => b));
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2000 }),
      fc.nat(flat.length),
      fc.integer({ min: 1, max: 64 }),
      (noise, at, cut) => {
        const mutated = Buffer.from(flat);
        Buffer.from(noise).copy(mutated, Math.min(at, mutated.length));
        const r = run(
          [
            [0, mutated.subarray(0, 300)],
            [1, mutated.subarray(300)],
          ],
          cut,
        );
        return r.copied <= 2 * MAX_HANDSHAKE && r.observations.length <= 1;
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test("an oversized handshake message is an anomaly, not a buffer", (t) => {
  // Handshake record announcing a 1 MiB ClientHello.
  const rec = Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0x10, 0x00, 0x00]);
  const r = run([[0, Buffer.concat([rec, Buffer.alloc(0x4000 - 4)])]]);
  t.true(r.sniffer.done);
  t.is(r.anomalies.records()[0]?.code, "tls.handshake-too-large");
});

test("handshakes feed tls.weak: self-signed low, expired medium, CA-signed current nothing", async (t) => {
  const config = defaultConfig();
  const inventory = new Inventory(config);
  const engine = new FindingsEngine(config, inventory);
  const feed = (r: Run, ip: string): void => {
    for (const o of r.observations) engine.observe({ ...o, server: { ...o.server, ip } });
  };
  feed(run(await handshake({ cert: "ss.crt", key: "ss.key", max: "TLSv1.2" })), "10.1.0.11");
  feed(run(await handshake({ cert: "old.pem", key: "old.key", max: "TLSv1.2" })), "10.1.0.12");
  feed(run(await handshake({ cert: "leaf.crt", key: "leaf.key", max: "TLSv1.2" })), "10.1.0.13");
  const weak = engine.findings().filter((f) => f.rule === "tls.weak");
  t.deepEqual(weak.map((f) => `${f.device}:${f.severity}`).sort(), [
    "ip-10.1.0.11:low",
    "ip-10.1.0.12:medium",
  ]);
  t.regex(weak.find((f) => f.device === "ip-10.1.0.12")!.title, /expired on 2021-01-01/);
});

test("partial handshakes held across many connections stay within the shared budget and give it back", (t) => {
  const counters = { bytesCopied: 0, collectBudget: 20_000 };
  const anomalies = new AnomalyCounter();
  const sniffers: TlsSniffer[] = [];
  // A ClientHello record header announcing a 16 KiB handshake, then only part of it: held, never complete.
  const hello = Buffer.alloc(5 + 4 + 3000);
  hello.set([22, 3, 1, 0x40, 0x00], 0);
  hello.set([1, 0, 0x3f, 0xfc], 5);
  for (let i = 0; i < 20; i++) {
    const s = new TlsSniffer(budgetInfo(i), { observe: () => {} }, { anomalies, counters });
    sniffers.push(s);
    s.data(0, hello, 0, hello.length, 1);
    t.true(counters.collectBudget >= 0);
  }
  t.true(anomalies.records().some((r) => r.code === "tls.budget-exhausted"));
  for (const s of sniffers) s.close("end-of-capture", 2);
  t.is(counters.collectBudget, 20_000);
});

function budgetInfo(i: number): ConnectionInfo {
  return {
    ...info,
    id: 100 + i,
    client: { ...info.client, port: 51000 + i },
    flow: `10.1.0.5:${51000 + i}-10.1.0.10:2762`,
  };
}
