/**
 * Golden tests on third-party captures (../shared/captures/, see its README): TCP payloads are extracted
 * with tshark and fed to a DicomConnection per TCP connection, as the reassembler will.
 * None of these captures is complete at the TCP level, so connections are opened as picked up mid-stream.
 */
import { execFileSync } from "node:child_process";
import { connectionInfo, Harness } from "./harness.js";
import type { Endpoint } from "../../../agent/reassembly/types.js";
import { requires } from "../../helpers/requires.js";

const DIR = "../shared/captures/";

interface Segment {
  src: Endpoint;
  dst: Endpoint;
  payload: Buffer;
  ts: number;
}

function segments(file: string): Segment[] {
  const out = execFileSync(
    "tshark",
    [
      "-r",
      DIR + file,
      "-Y",
      "tcp.len > 0",
      "-T",
      "fields",
      "-e",
      "frame.time_epoch",
      "-e",
      "ip.src",
      "-e",
      "tcp.srcport",
      "-e",
      "ip.dst",
      "-e",
      "tcp.dstport",
      "-e",
      "tcp.payload",
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [ts, sip, sport, dip, dport, hex] = l.split("\t");
      return {
        src: { ip: sip!, port: Number(sport), mac: null },
        dst: { ip: dip!, port: Number(dport), mac: null },
        payload: Buffer.from(hex!.replace(/:/g, ""), "hex"),
        ts: Math.round(Number(ts) * 1e6),
      };
    });
}

/** Feed every TCP connection of a capture to its own Harness; the higher port is the guessed client. */
function run(file: string): Harness[] {
  const byKey = new Map<string, Harness>();
  for (const s of segments(file)) {
    const [client, server] = s.src.port > s.dst.port ? [s.src, s.dst] : [s.dst, s.src];
    const key = `${client.ip}:${client.port}-${server.ip}:${server.port}`;
    let h = byKey.get(key);
    if (!h) {
      h = new Harness(connectionInfo({ client, server, handshakeSeen: false, flow: key }));
      byKey.set(key, h);
    }
    h.conn.data(s.src === client ? 0 : 1, s.payload, 0, s.payload.length, s.ts);
  }
  for (const h of byKey.values()) h.conn.close("end-of-capture", 0);
  return [...byKey.values()];
}

// The third-party captures are in the shared directory beside the checkout (../shared/captures).
const ctest = requires("tshark", `file:${DIR}`);

ctest("nmap dicom-ping: ECHOSCU → ANY-SCP with DCMTK's UID, the reserved byte, and the reject", (t) => {
  const [h, ...rest] = run("nmap_dicom_ping_synthetic.pcap");
  t.is(rest.length, 0);
  const assocs = h!.associations();
  t.is(assocs.length, 1);
  const r = assocs[0]!.record;
  t.is(r.callingAE, "ECHOSCU");
  t.is(r.calledAE, "ANY-SCP");
  t.is(r.client, "127.0.0.1:50204");
  t.is(r.server, "127.0.0.1:11112");
  t.is(r.applicationContext, "1.2.840.10008.3.1.1.1");
  // OFFIS DCMTK's implementation class UID (root 1.2.276.0.7230010.3) and version name, as nmap copies them.
  t.deepEqual(r.requestor, {
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.2",
    implementationVersionName: "OFFIS_DCMTK_362",
    maxPduLength: r.requestor!.maxPduLength,
  });
  t.deepEqual(
    r.presentationContexts.map((pc) => [pc.id, pc.abstractSyntax]),
    [[1, "1.2.840.10008.1.1"]],
  );
  t.is(r.outcome, "rejected");
  t.deepEqual(r.reject, { result: 1, source: 1, reason: 7 });
  t.false(assocs[0]!.midStream);
  const reserved = h!.anomalies.records().find((a) => a.code === "ul.nonzero-reserved-header");
  t.truthy(reserved);
  t.regex(reserved!.detail, /offset 42/);
  t.is(reserved!.flow, "127.0.0.1:50204-127.0.0.1:11112");
  t.deepEqual(h!.codes(), ["ul.nonzero-reserved-header"]);
  t.deepEqual(h!.stats, { dicomFlows: 1, associations: 1, dimseMessages: 0 });
});

for (const [file, called, calling, contexts] of [
  ["tapirx_dicom_arq_1_find_testclient.pcap", "testserver", "testclient", 4],
  ["tapirx_dicom_arq_2_get_testclient.pcap", "testserver", "testclient", 123],
  ["tapirx_dicom_arq_3_find_bogus_local.pcap", "bogus_remote", "bogus_local", 4],
  ["tapirx_dicom_arq_4_get_bogus_local.pcap", "testserver", "testclient", 123],
] as const) {
  ctest(`tapirx ${file}: go-netdicom's AE titles and ${contexts} presentation contexts`, (t) => {
    const [h, ...rest] = run(file);
    t.is(rest.length, 0);
    const [a] = h!.associations();
    const r = a!.record;
    t.is(r.calledAE, called);
    t.is(r.callingAE, calling);
    t.is(r.presentationContexts.length, contexts);
    t.is(r.outcome, "incomplete"); // no answer in the capture
    t.is(r.server, "127.0.0.1:104");
    t.true(
      r.presentationContexts.every(
        (pc) => pc.abstractSyntax !== null && pc.transferSyntaxes.length > 0 && pc.result === null,
      ),
    );
    t.truthy(r.requestor?.implementationClassUid);
    // go-netdicom's test peers use lower-case AE titles: legal (PS3.5 VR AE), flagged since peers compare
    // AE titles exactly (issue 9), once for the calling and once for the called AE.
    t.deepEqual(
      h!.anomalies.records().map((x) => [x.code, x.count]),
      [["ul.ae-title-lower-case", 2]],
    );
    // Two segments (arq 2 and 4): the RQ straddles them and is collected once.
    if (contexts === 123) t.true(h!.counters.bytesCopied >= 16_332 + 177);
  });
}
