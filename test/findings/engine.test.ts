import test from "ava";
import { defaultConfig, validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import { guardObservation } from "../../agent/observations/guard.js";
import type { DimseObservation, Observation } from "../../agent/observations/types.js";
import {
  anomaly,
  assoc,
  at,
  connection,
  DCM4CHE_5,
  dimse,
  ep,
  msg,
  pc,
  STUDY_ROOT_FIND,
  STUDY_ROOT_MOVE,
  tlsObs,
  VERIFICATION,
} from "../inventory/build.js";
import { Harness } from "./harness.js";
import { isoFromMicros } from "../../agent/util/time.js";

const pacs = (): ReturnType<typeof ep> => ep("10.1.0.10", 104);
const modern = { requestor: DCM4CHE_5, acceptor: DCM4CHE_5 };

/** Stores, queries and retrieves between known AE titles on internal addresses (the ordinary day). */
function ordinaryDay(h: Harness): void {
  const ct = ep("10.1.0.5", 50001);
  const ws = ep("10.1.0.30", 50002);
  const wsScp = ep("10.1.0.30", 11112);
  const p = pacs();
  h.feed(connection(ct, p, "syn-ack", at(0)));
  for (let i = 0; i < 20; i++) {
    const c = ep("10.1.0.5", 51000 + i);
    h.feed(
      dimse(c, p, 0, msg("C-STORE-RQ", { sopClassUid: "1.2.840.10008.5.1.4.1.1.2" }), {
        calling: "CT01",
        called: "PACS",
        ts: at(i),
      }),
    );
    h.feed(dimse(c, p, 1, msg("C-STORE-RSP", { status: 0 }), { calling: "CT01", called: "PACS", ts: at(i) }));
    h.feed(assoc(c, p, { calling: "CT01", called: "PACS", ts: at(i), ...modern }));
  }
  h.feed(
    dimse(ws, p, 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND }), {
      calling: "WS1",
      called: "PACS",
      ts: at(30),
    }),
  );
  for (let i = 0; i < 5; i++)
    h.feed(
      dimse(ws, p, 1, msg("C-FIND-RSP", { status: 0xff00, messageIdBeingRespondedTo: 1 }), {
        calling: "WS1",
        called: "PACS",
        ts: at(30),
      }),
    );
  h.feed(
    dimse(ws, p, 1, msg("C-FIND-RSP", { status: 0, messageIdBeingRespondedTo: 1 }), {
      calling: "WS1",
      called: "PACS",
      ts: at(30),
    }),
  );
  h.feed(
    dimse(ws, p, 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "WS1" }), {
      calling: "WS1",
      called: "PACS",
      ts: at(31),
    }),
  );
  const sub = ep("10.1.0.10", 50100);
  h.feed(assoc(sub, wsScp, { calling: "PACS", called: "WS1", ts: at(32), ...modern }));
  h.feed(
    assoc(ws, p, {
      calling: "WS1",
      called: "PACS",
      ts: at(33),
      pcs: [pc(1, STUDY_ROOT_FIND), pc(3, STUDY_ROOT_MOVE)],
      ...modern,
    }),
  );
}

test("ordinary clinical traffic raises nothing above low", (t) => {
  const h = new Harness();
  ordinaryDay(h);
  t.deepEqual(h.above("low"), []);
  const rules = new Set(h.finish().map((f) => f.rule));
  t.true(rules.has("dicom.cleartext"), "cleartext internal is reported, as low");
  t.true(rules.has("inventory.new-device"));
  t.is(h.rule("dicom.cleartext").find((f) => f.device === "ip-10.1.0.10")?.severity, "low");
});

test("ordinary traffic with a full policy raises nothing above low either", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: {
      knownAeTitles: { "10.1.0.5": ["CT01"], "10.1.0.10": ["PACS"], "10.1.0.30": ["WS1"] },
      allowedPeers: ["10.1.0.0/24"],
    },
  });
  const h = new Harness(config);
  ordinaryDay(h);
  t.deepEqual(h.above("low"), []);
});

test("findings have stable ids, counts, evidence and remediation", (t) => {
  const a = new Harness();
  ordinaryDay(a);
  const b = new Harness();
  ordinaryDay(b);
  const fa = a.finish();
  t.deepEqual(
    fa.map((f) => f.id),
    b.finish().map((f) => f.id),
  );
  const clear = fa.find((f) => f.rule === "dicom.cleartext" && f.peer?.startsWith("ip-10.1.0.5"))!;
  t.regex(clear.id, /^f-[0-9a-f]{16}$/);
  t.is(clear.count, 20, "one finding per pair, counted");
  const ev = clear.evidence as { flows: string[]; aeTitles: string[]; counts: Record<string, number> };
  t.is(ev.flows.length, 10, "flows are capped");
  t.deepEqual(ev.aeTitles, ["CT01", "PACS"]);
  t.is(ev.counts.associations, 20);
  t.regex(clear.remediation, /TLS/);
  t.is(clear.firstSeen, isoFromMicros(at(0)));
  t.is(clear.lastSeen, isoFromMicros(at(19)));
  // Three pairs (CT→PACS, WS→PACS, PACS→WS for the move): each announced once; repeats are not news.
  t.is(a.changes.filter(([r]) => r === "dicom.cleartext").length, 3);
});

test("dicom.cleartext and dicom.external-peer: higher for external peers, none for internal", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("203.0.113.7", 50001), pacs(), { calling: "REMOTE", ...modern }));
  const ext = h.rule("dicom.external-peer");
  t.is(ext.length, 1);
  t.is(ext[0]!.severity, "high");
  t.is(ext[0]!.device, "ip-10.1.0.10");
  t.is(ext[0]!.peer, "ip-203.0.113.7");
  t.is(h.rule("dicom.cleartext")[0]!.severity, "high");
  h.feed(assoc(ep("10.1.0.20", 50001), ep("198.51.100.9", 104), { ...modern }));
  t.is(h.rule("dicom.external-peer").find((f) => f.key === "outbound")?.severity, "medium");
  const n = new Harness();
  n.feed(assoc(ep("10.1.0.20", 50001), pacs(), modern));
  t.deepEqual(n.rule("dicom.external-peer"), []);
});

test("dicom.external-peer: a rejected attempt from outside is medium; allowedPeers flags internal strangers", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("203.0.113.7", 50001), pacs(), { outcome: "rejected" }));
  t.is(h.rule("dicom.external-peer")[0]!.severity, "medium");
  t.deepEqual(h.rule("dicom.cleartext"), [], "no cleartext finding for a rejected association");
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { allowedPeers: ["10.1.0.0/24"] },
  });
  const a = new Harness(config);
  a.feed(assoc(ep("10.2.0.5", 50001), pacs(), modern));
  a.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  const f = a.rule("dicom.external-peer");
  t.is(f.length, 1);
  t.is(f[0]!.key, "not-allowed");
  t.is(f[0]!.peer, "ip-10.2.0.5");
});

test("dicom.any-ae-accepted: foreign called AE against policy, many called AEs without policy", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.10": ["PACS"], "10.1.0.5": ["CT01"] } },
  });
  const h = new Harness(config);
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), { calling: "CT01", called: "PACS", ...modern }));
  t.deepEqual(h.rule("dicom.any-ae-accepted"), []);
  // A foreign title that is not a probe value (ANY-SCP is raised high, as a probe: probe-ae.test.ts).
  h.feed(assoc(ep("10.1.0.5", 50002), pacs(), { calling: "CT01", called: "OLD_PACS", ...modern }));
  // A described host (10.1.0.5 is CT01) calling with a title the policy does not give it.
  h.feed(assoc(ep("10.1.0.5", 50003), pacs(), { calling: "STRANGER", called: "PACS", ...modern }));
  const keys = h
    .rule("dicom.any-ae-accepted")
    .map((f) => f.key)
    .sort();
  t.deepEqual(keys, ["called", "calling"]);
  t.true(h.rule("dicom.any-ae-accepted").every((f) => f.severity === "medium"));
  t.like(h.rule("dicom.any-ae-accepted").find((f) => f.key === "calling")!.evidence, {
    aeTitles: ["STRANGER"],
    lastUnknownCaller: { aeTitle: "STRANGER", ip: "10.1.0.5", reason: "not-listed-for-address" },
  });
  // An undescribed host using CT01's title: the SCP checks titles, not addresses (impersonation).
  h.feed(assoc(ep("10.1.0.66", 50004), pacs(), { calling: "CT01", called: "PACS", ...modern }));
  t.like(h.rule("dicom.any-ae-accepted").find((f) => f.key === "calling")!.evidence, {
    aeTitles: ["STRANGER", "CT01"],
    lastUnknownCaller: { aeTitle: "CT01", ip: "10.1.0.66", reason: "listed-for-another-address" },
  });

  const n = new Harness();
  n.feed(assoc(ep("10.1.0.5", 50001), pacs(), { called: "PACS", ...modern }));
  n.feed(assoc(ep("10.1.0.5", 50002), pacs(), { called: "PACS_ARCHIVE", ...modern }));
  t.deepEqual(n.rule("dicom.any-ae-accepted"), [], "two AE titles on one PACS are normal");
  n.feed(assoc(ep("10.1.0.5", 50003), pacs(), { called: "WHATEVER", ...modern }));
  t.is(n.rule("dicom.any-ae-accepted").length, 1);
  t.is(n.rule("dicom.any-ae-accepted")[0]!.severity, "low", "without a policy for the server: low");
  n.feed(assoc(ep("10.1.0.5", 50004), pacs(), { called: "REJECTED", outcome: "rejected" }));
  t.is(n.rule("dicom.any-ae-accepted")[0]!.count, 1, "rejected associations do not count");
  const ports = new Harness();
  for (const [port, ae] of [
    [104, "ARCHIVE"],
    [11112, "STORE_BE"],
    [4242, "ORTHANC"],
  ] as const)
    ports.feed(assoc(ep("10.1.0.5", 50100 + port), ep("10.1.0.10", port), { called: ae, ...modern }));
  t.deepEqual(ports.rule("dicom.any-ae-accepted"), [], "one AE per port on one host is normal");
});

test("dicom.ae-scan: a burst of rejects, or many called AEs on one server", (t) => {
  const h = new Harness();
  for (let i = 0; i < 9; i++)
    h.feed(
      assoc(ep("10.1.0.66", 50000 + i), pacs(), { called: `GUESS${i}`, outcome: "rejected", ts: at(i) }),
    );
  t.is(
    h.rule("dicom.ae-scan").filter((f) => f.key === "rejects").length,
    0,
    "9 rejects are under the threshold of 10",
  );
  t.is(
    h.rule("dicom.ae-scan").filter((f) => f.key === "called-aes").length,
    1,
    "9 distinct called AEs are over 5",
  );
  h.feed(assoc(ep("10.1.0.66", 50010), pacs(), { called: "GUESS9", outcome: "rejected", ts: at(10) }));
  const rej = h.rule("dicom.ae-scan").find((f) => f.key === "rejects")!;
  t.is(rej.severity, "high");
  t.is(rej.device, "ip-10.1.0.66");

  const slow = new Harness();
  for (let i = 0; i < 12; i++)
    slow.feed(
      assoc(ep("10.1.0.66", 50000 + i), pacs(), { called: "PACS", outcome: "rejected", ts: at(i * 60) }),
    );
  t.deepEqual(slow.rule("dicom.ae-scan"), [], "rejects spread beyond the window are not a burst");
  const many = new Harness();
  for (let i = 0; i < 6; i++)
    many.feed(
      assoc(ep("10.1.0.30", 50000 + i), ep(`10.1.0.${100 + i}`, 104), { called: `PACS${i}`, ...modern }),
    );
  t.deepEqual(many.rule("dicom.ae-scan"), [], "one called AE on each of many servers is not a scan");
  const multi = new Harness();
  for (let i = 0; i < 8; i++)
    multi.feed(assoc(ep("10.1.0.30", 50000 + i), ep("10.1.0.10", 104 + i), { called: `AE${i}`, ...modern }));
  t.deepEqual(
    multi.rule("dicom.ae-scan"),
    [],
    "accepted associations to many AEs of one host are not a scan",
  );
});

test("dicom.scanner: nmap dicom-ping by the reserved byte; plain echoscu is not a scanner", (t) => {
  const nmapReq = {
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.2",
    implementationVersionName: "OFFIS_DCMTK_362",
    maxPduLength: 16384,
  };
  const h = new Harness();
  const c = ep("10.1.0.66", 40001);
  h.feed(anomaly(c, pacs(), "ul.nonzero-reserved-header"));
  h.feed(
    assoc(c, pacs(), {
      calling: "ECHOSCU",
      called: "ANY-SCP",
      outcome: "rejected",
      requestor: nmapReq,
      pcs: [pc(1, VERIFICATION, null)],
    }),
  );
  const s = h.rule("dicom.scanner");
  t.is(s.length, 1);
  t.regex(s[0]!.title, /nmap dicom-ping/);
  t.is(s[0]!.severity, "medium");
  t.deepEqual(
    h.rule("dicom.vulnerable-implementation"),
    [],
    "nmap's borrowed DCMTK identity is not a vulnerable stack",
  );

  const e = new Harness();
  const c2 = ep("10.1.0.67", 40002);
  e.feed(
    assoc(c2, pacs(), {
      calling: "ECHOSCU",
      called: "ANY-SCP",
      pcs: [pc(1, VERIFICATION)],
      requestor: nmapReq,
    }),
  );
  t.deepEqual(e.rule("dicom.scanner"), []);
});

test("dicom.scanner: dicom-brute re-raises the nmap finding as high with the number of AEs tried", (t) => {
  const nmapReq = {
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.2",
    implementationVersionName: "OFFIS_DCMTK_362",
    maxPduLength: 16384,
  };
  const h = new Harness();
  for (const [i, called] of ["ANY-SCP", "PACS", "ORTHANC", "STORESCP"].entries()) {
    const c = ep("10.1.0.66", 41000 + i);
    h.feed(anomaly(c, pacs(), "ul.nonzero-reserved-header", "ul", at(i)));
    h.feed(
      assoc(c, pacs(), {
        calling: "ECHOSCU",
        called,
        outcome: i === 3 ? "accepted" : "rejected",
        requestor: nmapReq,
        pcs: [pc(1, VERIFICATION, null)],
        ts: at(i),
      }),
    );
  }
  const s = h.rule("dicom.scanner");
  t.is(s.length, 1);
  t.is(s[0]!.severity, "high");
  t.regex(s[0]!.title, /dicom-brute.*4 called AE/);
  t.is(s[0]!.count, 4);
  const announced = h.changes.filter(([r]) => r === "dicom.scanner").map(([, c, sev]) => `${c}:${sev}`);
  t.deepEqual(
    announced.slice(0, 2),
    ["new:medium", "changed:high"],
    "re-raised when it turns out to be brute force",
  );
});

test("dicom.scanner: C-ECHO sweep across hosts", (t) => {
  const h = new Harness();
  for (let i = 0; i < 5; i++)
    h.feed(
      assoc(ep("10.1.0.66", 42000 + i), ep(`10.1.0.${100 + i}`, 104), {
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...modern,
      }),
    );
  const s = h.rule("dicom.scanner");
  t.is(s.length, 1);
  t.is(s[0]!.key, "echo-sweep");
  const n = new Harness();
  for (let i = 0; i < 10; i++)
    n.feed(
      assoc(ep("10.1.0.66", 42000 + i), ep("10.1.0.100", 104), {
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...modern,
      }),
    );
  t.deepEqual(n.rule("dicom.scanner"), [], "repeated echoes to one host (monitoring) are not a sweep");
});

test("dicom.cleartext-credentials: passcodes are high, usernames alone nothing", (t) => {
  const h = new Harness();
  h.feed(
    assoc(ep("10.1.0.5", 50001), pacs(), {
      userIdentity: { type: 2, username: "tech", passcodePresent: true },
      ...modern,
    }),
  );
  const f = h.rule("dicom.cleartext-credentials");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "high");
  t.false(JSON.stringify(f[0]).includes("tech"), "the username stays out of the finding");
  const n = new Harness();
  n.feed(
    assoc(ep("10.1.0.5", 50001), pacs(), {
      userIdentity: { type: 1, username: "tech", passcodePresent: false },
      ...modern,
    }),
  );
  t.deepEqual(n.rule("dicom.cleartext-credentials"), []);
});

test("dicom.bulk-query: one query with many matches, or many queries", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { thresholds: { bulkQueryMatches: 50, bulkQueryFinds: 5 } },
  });
  const h = new Harness(config);
  const ws = ep("10.1.0.30", 50002);
  h.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND })));
  for (let i = 0; i < 49; i++)
    h.feed(dimse(ws, pacs(), 1, msg("C-FIND-RSP", { status: 0xff00, messageIdBeingRespondedTo: 1 })));
  t.deepEqual(h.rule("dicom.bulk-query"), []);
  h.feed(dimse(ws, pacs(), 1, msg("C-FIND-RSP", { status: 0xff00, messageIdBeingRespondedTo: 1 })));
  t.is(h.rule("dicom.bulk-query")[0]?.key, "matches");
  for (let i = 0; i < 4; i++)
    h.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND, messageId: i + 2 })));
  t.is(h.rule("dicom.bulk-query").find((f) => f.key === "volume")?.severity, "medium");
  const mwl = new Harness(config);
  for (let i = 0; i < 20; i++)
    mwl.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: "1.2.840.10008.5.1.4.31" })));
  t.deepEqual(mwl.rule("dicom.bulk-query"), [], "worklist queries are routine for modalities");
});

test("dicom.unknown-move-destination: unknown AE flagged, seen or policy AEs not", (t) => {
  const h = new Harness();
  const ws = ep("10.1.0.30", 50002);
  h.feed(
    dimse(ws, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "EXFIL" }), {
      calling: "WS1",
    }),
  );
  h.feed(assoc(ws, pacs(), { calling: "WS1", pcs: [pc(1, STUDY_ROOT_MOVE)], ...modern }));
  const f = h.rule("dicom.unknown-move-destination");
  t.is(f.length, 1);
  t.is(f[0]!.key, "EXFIL");
  t.is(f[0]!.device, "ip-10.1.0.10");
  const n = new Harness();
  ordinaryDay(n);
  n.finish();
  t.deepEqual(n.rule("dicom.unknown-move-destination"), [], "WS1 answered the sub-association");
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.77": ["VIEWER"] } },
  });
  const p = new Harness(config);
  p.feed(
    dimse(ws, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "VIEWER" }), {
      calling: "WS1",
    }),
  );
  t.deepEqual(
    p.finish().filter((x) => x.rule === "dicom.unknown-move-destination"),
    [],
  );
});

test("dicom.vulnerable-implementation: DCMTK 3.6.7 named with CVEs; current dcm4che not", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50001), pacs()));
  const f = h.rule("dicom.vulnerable-implementation");
  t.deepEqual(
    f.map((x) => x.device).sort(),
    ["ip-10.1.0.10", "ip-10.1.0.5"],
    "requestor and acceptor: one per device",
  );
  const ev = f[0]!.evidence as { cves: { cve: string; source: string }[] };
  t.true(ev.cves.some((c) => c.cve === "CVE-2024-34508"));
  t.false(ev.cves.some((c) => c.cve === "CVE-2022-2119"));
  t.is(f[0]!.severity, "medium");
  const n = new Harness();
  n.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  t.deepEqual(n.rule("dicom.vulnerable-implementation"), []);
});

test("dicom.default-port: low on 104, medium when 104 listens but DICOM runs elsewhere", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  t.is(h.rule("dicom.default-port")[0]?.severity, "low");
  const w = new Harness();
  const scp = ep("10.1.0.11", 11112);
  w.feed(assoc(ep("10.1.0.5", 50001), scp, modern));
  t.deepEqual(w.rule("dicom.default-port"), []);
  w.feed(connection(ep("10.1.0.99", 40000), ep("10.1.0.11", 104)));
  t.deepEqual(w.rule("dicom.default-port"), [], "judged when settled, not at the handshake");
  w.finish();
  const f = w.rule("dicom.default-port");
  t.is(f[0]?.severity, "medium");
  t.regex(f[0]!.title, /open.*11112/);
  const approved = new Harness(
    validateConfig({ sensor: { id: "s", site: "x" }, policy: { approvedPorts: { "10.1.0.10": [104] } } }),
  );
  approved.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  t.deepEqual(approved.rule("dicom.default-port"), []);
});

test("net.risky-service: RDP/SMB on a DICOM device, before or after it shows DICOM; not on other hosts", (t) => {
  const h = new Harness();
  h.feed(connection(ep("10.1.0.99", 40000), ep("10.1.0.5", 3389)));
  t.deepEqual(h.rule("net.risky-service"), [], "not known as an imaging device yet");
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  h.feed(connection(ep("10.1.0.99", 40001), ep("10.1.0.10", 445)));
  h.feed(connection(ep("10.1.0.99", 40002), ep("10.1.0.10", 21), "rst"));
  const f = h.rule("net.risky-service");
  t.deepEqual(f.map((x) => `${x.device}:${x.key}:${x.severity}`).sort(), [
    "ip-10.1.0.10:445:high",
    "ip-10.1.0.5:3389:high",
  ]);
  const n = new Harness();
  n.feed(connection(ep("10.1.0.99", 40000), ep("10.1.0.200", 445)));
  t.deepEqual(
    n.finish().filter((x) => x.rule === "net.risky-service"),
    [],
  );
});

test("dicom.malformed from ul/dimse anomalies, not from other layers", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50001);
  h.feed(anomaly(c, pacs(), "ul.invalid-pdu-length"), anomaly(c, pacs(), "ul.invalid-pdu-length"));
  h.feed(anomaly(c, pacs(), "decode.bad-ip-checksum", "decode"));
  const f = h.rule("dicom.malformed");
  t.is(f.length, 1);
  t.is(f[0]!.count, 2);
  t.is(f[0]!.severity, "medium");
  t.is(f[0]!.device, "ip-10.1.0.10");
});

test("tls.weak: old versions, expired and self-signed certificates on DICOM ports", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50001);
  const good = {
    subject: "CN=pacs",
    issuer: "CN=Site CA",
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2027-01-01T00:00:00.000Z",
    selfSigned: false,
  };
  h.feed(tlsObs(c, ep("10.1.0.10", 2762), "TLS 1.2", good));
  h.feed(tlsObs(c, ep("10.1.0.11", 2762), "TLS 1.3", null));
  t.deepEqual(h.rule("tls.weak"), []);
  h.feed(tlsObs(c, ep("10.1.0.12", 2762), "TLS 1.0", good));
  h.feed(tlsObs(c, ep("10.1.0.13", 2762), "TLS 1.2", { ...good, notAfter: "2025-01-01T00:00:00.000Z" }));
  h.feed(tlsObs(c, ep("10.1.0.14", 2762), "TLS 1.2", { ...good, issuer: "CN=pacs", selfSigned: true }));
  h.feed(tlsObs(c, ep("10.1.0.15", 443), "TLS 1.0", good));
  const f = h
    .rule("tls.weak")
    .map((x) => `${x.device}:${x.severity}`)
    .sort();
  t.deepEqual(f, ["ip-10.1.0.12:medium", "ip-10.1.0.13:medium", "ip-10.1.0.14:low"]);
});

test("inventory.new-device: one info finding per device, whichever order inventory and engine run", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern), assoc(ep("10.1.0.5", 50002), pacs(), modern));
  const f = h.rule("inventory.new-device");
  t.deepEqual(f.map((x) => x.device).sort(), ["ip-10.1.0.10", "ip-10.1.0.5"]);
  t.true(f.every((x) => x.severity === "info"));
  const config = defaultConfig();
  const inv = new Inventory(config);
  const eng = new FindingsEngine(config, inv);
  const o = assoc(ep("10.1.0.5", 50001), pacs(), modern);
  eng.observe(o);
  inv.observe(o);
  eng.finish(at(1));
  t.is(eng.findings().filter((x) => x.rule === "inventory.new-device").length, 2);
});

test("dicom.scanner: DCMTK's own presentation-context quirk is not nmap; the header-specific code is", (t) => {
  const echoscu367 = {
    implementationClassUid: "1.2.276.0.7230010.3.0.3.6.7",
    implementationVersionName: "OFFIS_DCMTK_367",
    maxPduLength: 16384,
  };
  const h = new Harness();
  const c = ep("10.1.0.67", 40100);
  // Other reserved fields (DCMTK fills one of the presentation context item) are not the fingerprint.
  h.feed(anomaly(c, pacs(), "ul.nonzero-reserved"));
  h.feed(
    assoc(c, pacs(), {
      calling: "ECHOSCU",
      called: "ANY-SCP",
      requestor: echoscu367,
      pcs: [pc(1, VERIFICATION)],
    }),
  );
  t.deepEqual(h.rule("dicom.scanner"), []);
  t.deepEqual(h.rule("dicom.malformed"), [], "a reserved field is not a malformed PDU");
  const c2 = ep("10.1.0.68", 40101);
  h.feed(anomaly(c2, pacs(), "ul.nonzero-reserved-header"));
  h.feed(
    assoc(c2, pacs(), {
      calling: "ECHOSCU",
      called: "ANY-SCP",
      requestor: echoscu367,
      pcs: [pc(1, VERIFICATION)],
    }),
  );
  t.is(h.rule("dicom.scanner").length, 1);
});

test("dicom.malformed waits for the flow's endpoints when the anomaly has none, so device ids carry MACs", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50123, "aa:bb:cc:00:00:05");
  const s = ep("10.1.0.10", 104, "aa:bb:cc:00:00:10");
  const a = anomaly(c, s, "ul.invalid-pdu-length");
  h.feed({ ...a, client: null, server: null });
  t.deepEqual(h.rule("dicom.malformed"), []);
  h.feed(assoc(c, s, modern));
  const f = h.rule("dicom.malformed");
  t.is(f.length, 1);
  t.is(f[0]!.device, "mac-aabbcc000010-10.1.0.10");
  t.is(f[0]!.peer, "mac-aabbcc000005-10.1.0.5");
  const late = new Harness();
  late.feed({ ...a, client: null, server: null });
  t.is(
    late.finish().filter((x) => x.rule === "dicom.malformed")[0]?.device,
    "ip-10.1.0.10",
    "resolved from the flow at finish()",
  );
});

const PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1";

test("dicom.bulk-query: universal matching at patient/study level; specific keys, lower levels and worklists not", (t) => {
  const ws = ep("10.1.0.30", 50002);
  const find = (sopClassUid: string, query: DimseObservation["query"], from = ws): DimseObservation => ({
    ...dimse(from, pacs(), 0, msg("C-FIND-RQ", { sopClassUid }), {
      calling: "WS1",
      called: "PACS",
      ts: at(5),
    }),
    query,
  });
  const h = new Harness();
  // findscu -S -k QueryRetrieveLevel=STUDY -k PatientID=... -k StudyInstanceUID: a specific key.
  h.feed(find(STUDY_ROOT_FIND, { level: "STUDY", keys: 2, matchingKeys: 1 }));
  h.feed(find(STUDY_ROOT_FIND, { level: "SERIES", keys: 2, matchingKeys: 0 }));
  h.feed(find(STUDY_ROOT_FIND, null));
  h.feed(find("1.2.840.10008.5.1.4.31", { level: null, keys: 6, matchingKeys: 0 }));
  h.feed(find("1.2.840.10008.5.1.4.31", { level: "PATIENT", keys: 6, matchingKeys: 0 }));
  t.deepEqual(h.rule("dicom.bulk-query"), []);
  h.feed(find(PATIENT_ROOT_FIND, { level: "PATIENT", keys: 2, matchingKeys: 0 }));
  const f = h.rule("dicom.bulk-query");
  t.is(f.length, 1);
  t.is(f[0]!.key, "universal");
  t.is(f[0]!.severity, "medium");
  t.regex(f[0]!.title, /universal matching at PATIENT level/);
  t.like(f[0]!.evidence, {
    queryRetrieveLevel: "PATIENT",
    keys: 2,
    matchingKeys: 0,
    callingAE: "WS1",
    calledAE: "PACS",
    aeTitles: ["WS1", "PACS"],
    counts: { universalQueries: 1 },
    firstSeen: "2026-11-25T08:00:05.000000Z",
  });
  t.is(f[0]!.device, h.inventory.idFor(ws));
  // From outside the internal networks it is high.
  const outside = ep("203.0.113.7", 40000);
  h.feed(find(STUDY_ROOT_FIND, { level: "study", keys: 0, matchingKeys: 0 }, outside));
  const ext = h.rule("dicom.bulk-query").find((x) => x.device === h.inventory.idFor(outside));
  t.is(ext?.severity, "high");
  t.like(ext?.evidence, { queryRetrieveLevel: "STUDY", external: true });
  // A bare observation (replayed from a record) carries no query and raises nothing new.
  const before = h.engine.findings().length;
  h.feed(dimse(ws, pacs(), 0, msg("C-FIND-RQ", { sopClassUid: PATIENT_ROOT_FIND, messageId: 9 })));
  t.is(h.engine.findings().length, before);
});

test("the observation guard keeps a query's counts and a level-shaped level only", (t) => {
  const o = {
    ...dimse(ep("10.1.0.30", 50002), pacs(), 0, msg("C-FIND-RQ", { sopClassUid: PATIENT_ROOT_FIND })),
    query: { level: "CANARY^QUERY", keys: 2, matchingKeys: 0, value: "CANARY^QUERY" },
  } as unknown as Observation;
  const clean = guardObservation(o);
  t.deepEqual(clean.kind === "dimse" ? clean.query : undefined, { level: null, keys: 2, matchingKeys: 0 });
  t.false(JSON.stringify(clean).includes("CANARY"));
  const ok = guardObservation({ ...o, query: { level: "STUDY", keys: 1, matchingKeys: 1 } } as Observation);
  t.deepEqual(ok.kind === "dimse" ? ok.query : undefined, { level: "STUDY", keys: 1, matchingKeys: 1 });
  const none = guardObservation(dimse(ep("10.1.0.30", 50002), pacs(), 0, msg("C-ECHO-RQ")));
  t.false(none.kind === "dimse" && "query" in none, "absent stays absent");
});

test("dicom.default-port: a PACS serving DICOM on 104 and 11112 is not told 104 is unused", (t) => {
  // The handshake on 104 comes before the first message of its association: judging "unused" at the
  // SYN-ACK raised a medium finding for every PACS that listens on both ports.
  const h = new Harness();
  const scp = ep("10.1.0.11", 11112);
  h.feed(assoc(ep("10.1.0.5", 50001), scp, { ts: at(0), ...modern }));
  const c = ep("10.1.0.6", 50002);
  const on104 = ep("10.1.0.11", 104);
  h.feed(connection(c, on104, "syn-ack", at(1)));
  // A live tick before the first message: too young to settle.
  h.engine.finish(at(1.1), 30e6);
  h.feed(
    dimse(c, on104, 0, msg("C-STORE-RQ", { sopClassUid: "1.2.840.10008.5.1.4.1.1.2" }), { ts: at(1.2) }),
  );
  h.feed(assoc(c, on104, { ts: at(2), ...modern }));
  const f = h.finish().filter((x) => x.rule === "dicom.default-port");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "low");
  t.regex(f[0]!.title, /default port 104/);
});

test("dicom.unknown-move-destination: a live tick does not judge a C-MOVE before its sub-association", (t) => {
  const h = new Harness();
  const ws = ep("10.1.0.30", 50002);
  h.feed(
    dimse(ws, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "WS1" }), {
      calling: "WS1",
      called: "PACS",
      ts: at(31),
    }),
  );
  h.engine.finish(at(31.25), 30e6);
  t.deepEqual(h.rule("dicom.unknown-move-destination"), [], "too young to judge");
  // The sub-association to WS1 shows its first message, then the C-MOVE's association ends.
  const sub = ep("10.1.0.10", 50100);
  const wsScp = ep("10.1.0.30", 11112);
  h.feed(
    dimse(sub, wsScp, 0, msg("C-STORE-RQ", { sopClassUid: "1.2.840.10008.5.1.4.1.1.2" }), {
      calling: "PACS",
      called: "WS1",
      ts: at(32),
    }),
  );
  h.engine.finish(at(40), 30e6);
  t.deepEqual(h.rule("dicom.unknown-move-destination"), []);
  h.engine.finish(at(100), 30e6);
  t.deepEqual(h.rule("dicom.unknown-move-destination"), [], "WS1 answered the sub-association");
});

test("the findings table is bounded: peer-chosen C-MOVE destinations cannot grow it without end", (t) => {
  const inventory = new Inventory(defaultConfig());
  const engine = new FindingsEngine(defaultConfig(), inventory, 64);
  let announced = 0;
  engine.onChange = (_f, change) => {
    if (change === "new") announced++;
  };
  const feed = (o: Observation): void => {
    inventory.observe(o);
    engine.observe(o);
  };
  // One high finding that must survive the flood of medium ones.
  feed(assoc(ep("203.0.113.9", 40000), pacs(), { ts: at(0), ...modern }));
  for (let i = 0; i < 500; i++) {
    const c = ep("10.1.0.30", 20000 + i);
    feed(
      dimse(c, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: `X${i}` }), {
        calling: "WS1",
        ts: at(1 + i),
      }),
    );
    feed(assoc(c, pacs(), { calling: "WS1", pcs: [pc(1, STUDY_ROOT_MOVE)], ts: at(1 + i), ...modern }));
  }
  const all = engine.findings();
  t.true(all.length <= 64, `${all.length} findings kept`);
  t.true(engine.evicted > 0);
  t.true(announced >= 500, "every finding was announced before it could be evicted");
  t.true(all.some((f) => f.rule === "dicom.external-peer" && f.severity === "high"));
});

test("dicom.ae-scan: a modality retrying one rejected request is low, not a high scan", (t) => {
  const h = new Harness();
  for (let i = 0; i < 10; i++)
    h.feed(
      assoc(ep("10.1.0.5", 50000 + i), pacs(), {
        calling: "CT01",
        called: "OLDPACS",
        outcome: "rejected",
        ts: at(i * 25),
      }),
    );
  const f = h.rule("dicom.ae-scan");
  t.deepEqual(
    f.map((x) => `${x.key}:${x.severity}`),
    ["rejects:low"],
  );
  t.regex(f[0]!.title, /same request/);
  // A different request joins the burst: now it looks like guessing.
  h.feed(
    assoc(ep("10.1.0.5", 50020), pacs(), {
      calling: "CT01",
      called: "OTHER",
      outcome: "rejected",
      ts: at(251),
    }),
  );
  t.is(h.rule("dicom.ae-scan").find((x) => x.key === "rejects")!.severity, "high");
  t.true(h.changes.some(([r, c, s]) => r === "dicom.ae-scan" && c === "changed" && s === "high"));
});

test("dicom.scanner: a PACS verifying its known nodes is low; a sweep with refusals is high", (t) => {
  const h = new Harness();
  for (let i = 0; i < 6; i++)
    h.feed(
      assoc(ep("10.1.0.10", 42000 + i), ep(`10.1.0.${100 + i}`, 104), {
        calling: "PACS",
        called: `NODE${i}`,
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...modern,
      }),
    );
  t.deepEqual(
    h.rule("dicom.scanner").map((x) => `${x.key}:${x.severity}`),
    ["echo-sweep:low"],
  );
  const s = new Harness();
  for (let i = 0; i < 5; i++)
    s.feed(
      assoc(ep("10.1.0.66", 42000 + i), ep(`10.1.0.${100 + i}`, 104), {
        called: "ANY-SCP",
        pcs: [pc(1, VERIFICATION)],
        ts: at(i),
        ...(i === 2 ? { outcome: "rejected" as const } : modern),
      }),
    );
  t.deepEqual(
    s.rule("dicom.scanner").map((x) => `${x.key}:${x.severity}`),
    ["echo-sweep:high"],
  );
});

test("a live tick does not call DICOM TLS on port 11112 'not DICOM' before its handshake is read", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.5", 50123);
  const s = ep("10.1.0.10", 11112);
  const a = anomaly(c, s, "ul.not-dicom-on-dicom-port", "ul", at(5));
  h.feed({ ...a, client: null, server: null });
  h.engine.finish(at(5.1), 30e6);
  h.feed(tlsObs(c, s, "TLS 1.3", null, at(5.2)));
  t.deepEqual(
    h.finish().filter((x) => x.rule === "dicom.malformed"),
    [],
  );
});

test("a milder instance between worse ones does not re-announce a finding", (t) => {
  const h = new Harness();
  const sweep = (base: number, refusedAt: number | null): void => {
    for (let i = 0; i < 5; i++)
      h.feed(
        assoc(ep("10.1.0.66", 42000 + base + i), ep(`10.1.0.${100 + i}`, 104), {
          called: "ANY-SCP",
          pcs: [pc(1, VERIFICATION)],
          ts: at(base + i),
          ...(i === refusedAt ? { outcome: "rejected" as const } : modern),
        }),
      );
  };
  sweep(0, 2);
  // Later sweeps with every association accepted, then refused again: nothing new to announce.
  sweep(1000, null);
  sweep(2000, 1);
  sweep(3000, null);
  const events = h.changes.filter(([rule]) => rule === "dicom.scanner");
  t.deepEqual(events, [["dicom.scanner", "new", "high"]]);
});

test("a capture timestamp out of Date's range does not throw from inventory or findings", (t) => {
  // A pcapng EPB may carry any 64-bit timestamp; 2^64 microseconds is far beyond what Date can show.
  const h = new Harness();
  const huge = 2 ** 64;
  const a = assoc(ep("203.0.113.5", 40000), pacs(), modern);
  t.notThrows(() => {
    h.feed({ ...a, tsMicros: huge });
    h.feed(connection(ep("10.1.0.5", 40001), ep("10.1.0.10", 3389), "syn-ack", huge));
    h.finish();
    h.inventory.devices();
  });
  t.true(h.engine.findings().length > 0);
});

/** 20 modalities, each with its own AE title, storing to the PACS; returns them as [ip, AE title]. */
function modalitiesStore(h: Harness, server = pacs(), called = "PACS"): [string, string][] {
  const mods: [string, string][] = [];
  for (let i = 0; i < 20; i++) {
    const ip = `10.1.0.${40 + i}`;
    const ae = `MOD${i}`;
    mods.push([ip, ae]);
    h.feed(assoc(ep(ip, 50000 + i), server, { calling: ae, called, ts: at(i), ...modern }));
  }
  return mods;
}

test("dicom.any-ae-accepted: a site that lists only its PACS's own AE title is not told every caller is unknown", (t) => {
  // The reviewer's case: any entry in knownAeTitles made every unlisted caller a medium on the server.
  const onlyPacs = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.10": ["PACS"] } },
  });
  const h = new Harness(onlyPacs);
  ordinaryDay(h);
  modalitiesStore(h);
  t.deepEqual(h.rule("dicom.any-ae-accepted"), []);
  t.deepEqual(h.above("low"), []);
  t.deepEqual(
    h.changes.filter(([r]) => r === "dicom.any-ae-accepted"),
    [],
  );
  t.deepEqual(h.rule("dicom.unknown-move-destination"), [], "WS1's retrieve to itself is not unknown");
  // A C-MOVE to a third AE title the policy does not list still is.
  const ws = ep("10.1.0.30", 50300);
  h.feed(
    dimse(ws, pacs(), 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "ELSEWHERE" }), {
      calling: "WS1",
      called: "PACS",
      ts: at(40),
    }),
  );
  h.feed(assoc(ws, pacs(), { calling: "WS1", called: "PACS", ts: at(41), ...modern }));
  t.deepEqual(
    h.rule("dicom.unknown-move-destination").map((f) => `${f.key}:${f.severity}`),
    ["ELSEWHERE:medium"],
  );
  // A server the policy does not describe is not judged by callers, even when other hosts are listed.
  const onlyCt = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.5": ["CT01"] } },
  });
  const o = new Harness(onlyCt);
  modalitiesStore(o);
  o.feed(assoc(ep("10.1.0.5", 50100), pacs(), { calling: "CT01", called: "PACS", ...modern }));
  t.deepEqual(o.rule("dicom.any-ae-accepted"), []);
  // Once the PACS has an entry, a described caller off its titles is judged there, and only there.
  const both = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.10": ["PACS"], "10.1.0.5": ["CT01"] } },
  });
  const b = new Harness(both);
  modalitiesStore(b);
  b.feed(assoc(ep("10.1.0.5", 50100), pacs(), { calling: "CT01", called: "PACS", ...modern }));
  t.deepEqual(b.rule("dicom.any-ae-accepted"), []);
  b.feed(assoc(ep("10.1.0.5", 50101), ep("10.1.0.11", 104), { calling: "SERVICE", ...modern }));
  t.deepEqual(b.rule("dicom.any-ae-accepted"), [], "10.1.0.11 has no entry");
  b.feed(assoc(ep("10.1.0.5", 50102), pacs(), { calling: "SERVICE", called: "PACS", ...modern }));
  t.deepEqual(
    b.rule("dicom.any-ae-accepted").map((f) => `${f.device}:${f.key}:${f.severity}`),
    ["ip-10.1.0.10:calling:medium"],
  );
});

test("dicom.any-ae-accepted: an archive serving several AE titles on one port is low until the site lists them", (t) => {
  // dcm4chee-arc's default AEs share one port; an archive is not "accepting anything" for that.
  const titles = ["DCM4CHEE", "DCM4CHEE_ADMIN", "DCM4CHEE_TRASH", "IOCM_REGULAR_USE", "IOCM_EXPIRED"];
  const arc = ep("10.1.0.20", 11112);
  const feedAll = (h: Harness): void => {
    titles.forEach((called, i) =>
      h.feed(assoc(ep("10.1.0.30", 51000 + i), arc, { calling: "WS1", called, ts: at(i), ...modern })),
    );
  };
  const h = new Harness();
  feedAll(h);
  const f = h.rule("dicom.any-ae-accepted");
  t.deepEqual(
    f.map((x) => `${x.key}:${x.severity}`),
    ["called:low"],
  );
  t.like(f[0]!.evidence, { distinctCalledAETitles: 5, aeTitles: titles });
  t.deepEqual(h.above("low"), []);
  t.deepEqual(
    h.changes.filter(([r]) => r === "dicom.any-ae-accepted"),
    [["dicom.any-ae-accepted", "new", "low"]],
    "announced once: a fourth and fifth title are not news",
  );
  // An SCP that answers to any title, tried with 40: the first 32 are listed and the rest counted once each.
  const any = new Harness();
  for (let i = 0; i < 40; i++)
    for (let round = 0; round < 2; round++)
      any.feed(assoc(ep("10.1.0.30", 52000 + i * 2 + round), arc, { called: `T${i}`, ts: at(i), ...modern }));
  const a = any.rule("dicom.any-ae-accepted")[0]!;
  t.like(a.evidence, { distinctCalledAETitles: 40, aeTitlesNotListed: 16 });
  t.is((a.evidence as { aeTitles: string[] }).aeTitles.length, 32);
  // With the archive's titles listed, nothing; with one missing, that one is foreign (medium).
  const listed = (list: string[]): Config =>
    validateConfig({ sensor: { id: "s", site: "x" }, policy: { knownAeTitles: { "10.1.0.20": list } } });
  const ok = new Harness(listed(titles));
  feedAll(ok);
  t.deepEqual(ok.rule("dicom.any-ae-accepted"), []);
  const partial = new Harness(listed(titles.slice(0, 4)));
  feedAll(partial);
  t.deepEqual(
    partial
      .rule("dicom.any-ae-accepted")
      .map(
        (x) =>
          `${x.key}:${x.severity}:${x.evidence ? (x.evidence as { aeTitles: string[] }).aeTitles.join() : ""}`,
      ),
    ["called:medium:IOCM_EXPIRED"],
  );
});

test("AE titles in evidence freeze at the cap: an AE brute force does not re-announce a finding for each title", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.10": ["PACS"] } },
  });
  const h = new Harness(config);
  // An SCP that accepts any called AE title, tried with 100 of them.
  for (let i = 0; i < 100; i++)
    h.feed(
      assoc(ep("10.1.0.66", 40000 + i), pacs(), {
        calling: "SCAN",
        called: `GUESS${i}`,
        ts: at(i),
        ...modern,
      }),
    );
  const f = h.rule("dicom.any-ae-accepted").find((x) => x.key === "called")!;
  const ev = f.evidence as { aeTitles: string[]; aeTitlesNotListed?: number };
  t.is(f.count, 100);
  t.deepEqual(
    ev.aeTitles,
    Array.from({ length: 32 }, (_, i) => `GUESS${i}`),
    "the first 32 are kept, not the latest",
  );
  t.is(ev.aeTitlesNotListed, 68);
  const announced = h.changes.filter(([r]) => r === "dicom.any-ae-accepted");
  t.is(announced.length, 32, "new, then one change per title until the list is full; none after");
  t.deepEqual(announced[0], ["dicom.any-ae-accepted", "new", "medium"]);
  // A title already listed neither re-announces nor counts as not listed.
  h.feed(
    assoc(ep("10.1.0.66", 41000), pacs(), { calling: "SCAN", called: "GUESS3", ts: at(200), ...modern }),
  );
  t.is(h.changes.filter(([r]) => r === "dicom.any-ae-accepted").length, 32);
  const again = h.rule("dicom.any-ae-accepted").find((x) => x.key === "called")!;
  t.is((again.evidence as { aeTitlesNotListed?: number }).aeTitlesNotListed, 68);
  t.is(again.count, 101);
});
