/**
 * Issue 10: every anomaly carries its connection from where it was detected. Byte-built IPv6 frames go
 * through the whole pipeline; the anomalies its decoders find (Upper Layer, DIMSE, TCP) come out with the
 * flow spelled by util/flow.ts (IPv6 in brackets) and the client and server endpoints beside it, which
 * split the same way parseFlow splits the flow string. A frame that decodes to no flow gives null ones.
 */
import test from "ava";
import { LINKTYPE_ETHERNET } from "../../agent/capture/types.js";
import type { AnomalyObservation, Observation } from "../../agent/observations/types.js";
import { Pipeline } from "../../agent/pipeline/pipeline.js";
import { formatFlow, parseFlow } from "../../agent/util/flow.js";
import { ACK, PSH, RST, SYN, ethernetIpv6Tcp } from "../capture/builders.js";
import * as b from "../dicom/ul/builders.js";

const CLIENT = { ip: "fd77::10", port: 40123 };
const SERVER = { ip: "fd77::20", port: 104 };
const T0 = 1_700_000_000_000_000;

function frames(): Buffer[] {
  let cseq = 1000;
  let sseq = 5000;
  const out: Buffer[] = [];
  const c2s = (flags: number, payload: Buffer = Buffer.alloc(0), seq = cseq): void => {
    out.push(
      ethernetIpv6Tcp({
        src: CLIENT.ip,
        dst: SERVER.ip,
        sport: CLIENT.port,
        dport: SERVER.port,
        seq,
        ack: sseq,
        flags,
        payload,
      }),
    );
    if (seq === cseq) cseq = (cseq + payload.length + (flags & SYN ? 1 : 0)) >>> 0;
  };
  const s2c = (flags: number, payload: Buffer = Buffer.alloc(0)): void => {
    out.push(
      ethernetIpv6Tcp({
        src: SERVER.ip,
        dst: CLIENT.ip,
        sport: SERVER.port,
        dport: CLIENT.port,
        seq: sseq,
        ack: cseq,
        flags,
        payload,
        srcMac: "02:00:00:00:00:02",
        dstMac: "02:00:00:00:00:01",
      }),
    );
    sseq = (sseq + payload.length + (flags & SYN ? 1 : 0)) >>> 0;
  };
  c2s(SYN);
  s2c(SYN | ACK);
  c2s(ACK);
  // An A-ASSOCIATE-RQ whose AE-title field is padded with NULs (ul.ae-title-nul-padded), accepted.
  const rq = b.associateRq();
  rq.fill(0, 10 + 16 - 4, 10 + 16); // the last bytes of the called AE title's spaces become NULs
  c2s(ACK | PSH, rq);
  s2c(ACK | PSH, b.associateAc());
  // A data set PDV with no command before it (dimse.data-without-command).
  c2s(ACK | PSH, b.pdataTf([b.pdv(1, false, true, Buffer.alloc(4))]));
  // A RST far outside the client's window (tcp.rst-out-of-window).
  c2s(RST, Buffer.alloc(0), (cseq + 0x40000000) >>> 0);
  return out;
}

test("anomalies from the decoders carry the IPv6 flow, bracketed, and its client and server endpoints", (t) => {
  const seen: Observation[] = [];
  const p = new Pipeline({ observations: { observe: (o) => void seen.push(o) } });
  frames().forEach((f, i) => p.packet(f, 0, f.length, T0 + i, LINKTYPE_ETHERNET, f.length));
  // A frame cut inside its IPv6 header: a file-level anomaly, no flow.
  const cut = frames()[0]!.subarray(0, 30);
  p.packet(cut, 0, cut.length, T0 + 100, LINKTYPE_ETHERNET, cut.length);
  p.finish();

  const rows = p.anomalyCounter.records();
  const codes = rows.map((r) => r.code);
  for (const c of ["ul.ae-title-nul-padded", "dimse.data-without-command", "tcp.rst-out-of-window"] as const)
    t.true(codes.includes(c), `${c} in ${JSON.stringify(codes)}`);

  const flow = "[fd77::10]:40123-[fd77::20]:104";
  t.is(formatFlow(CLIENT, SERVER), flow);
  for (const r of rows) {
    if (r.code === "decode.truncated-ipv6") {
      t.is(r.flow, "");
      t.is(r.client, null);
      t.is(r.server, null);
      continue;
    }
    t.is(r.flow, flow, r.code);
    t.deepEqual(r.client, CLIENT, r.code);
    t.deepEqual(r.server, SERVER, r.code);
    // The endpoints are those the flow string names: nothing needs to parse it back.
    t.deepEqual(parseFlow(r.flow), { client: r.client!, server: r.server! }, r.code);
  }
  t.true(codes.includes("decode.truncated-ipv6"));
  // Plain data in the report: no MACs, nothing of the ConnectionInfo beyond ip and port.
  t.deepEqual(JSON.parse(JSON.stringify(rows.find((r) => r.code === "tcp.rst-out-of-window"))), {
    code: "tcp.rst-out-of-window",
    flow,
    layer: "reassembly",
    detail: rows.find((r) => r.code === "tcp.rst-out-of-window")!.detail,
    count: 1,
    client: CLIENT,
    server: SERVER,
  });

  // Observations carry the same flow spelling.
  const observed = seen.filter((o): o is AnomalyObservation => o.kind === "anomaly");
  t.true(observed.some((o) => o.code === "dimse.data-without-command" && o.flow === flow));
});
