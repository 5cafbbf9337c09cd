/**
 * dicom.scanner by identity (data/scanners.json) and by behaviour (silent associations, refusal bursts,
 * the reserved header bytes), on observations built byte-for-byte as the pipeline reports them
 * (rules/scanner.ts).
 */
import test from "ava";
import { anomaly, assoc, at, DCM4CHE_5, ep, pc, VERIFICATION } from "../inventory/build.js";
import { Harness, NMAP_362, NMAP_NSE, patch, refused, silent, withPolicy, pacs } from "./harness.js";

const scp = (): ReturnType<typeof ep> => ep("10.1.0.20", 11112);
const echo = [pc(1, VERIFICATION)];
const scanner = (h: Harness): string[] => h.rule("dicom.scanner").map((f) => `${f.key}:${f.severity}`);

test("identity: nmap's NSE identity is dicom.scanner even when refused, and its borrowed one is not", (t) => {
  const h = new Harness();
  h.feed(
    refused(
      assoc(ep("10.1.0.66", 40001), scp(), {
        calling: "ECHOSCU",
        called: "ANY-SCP",
        requestor: NMAP_NSE,
        pcs: echo,
      }),
      7,
    ),
  );
  t.deepEqual(scanner(h), ["nmap:medium"]);
  t.like(h.rule("dicom.scanner")[0]!.evidence, {
    tool: "nmap dicom-ping",
    implementationVersionName: "NMAP_NSE",
    reasons: [
      "implementation class UID 2.25.205477355541376756296906656564391676347",
      "implementation version name NMAP_NSE",
    ],
  });
  t.deepEqual(h.rule("dicom.vulnerable-implementation"), []);
  // The same request with DCMTK 3.6.2's identity, refused, is what DCMTK 3.6.2's echoscu sends: nothing.
  const d = new Harness();
  d.feed(
    refused(
      assoc(ep("10.1.0.67", 40002), scp(), {
        calling: "ECHOSCU",
        called: "ANY-SCP",
        requestor: NMAP_362,
        pcs: echo,
      }),
      7,
    ),
  );
  t.deepEqual(scanner(d), []);
});

test("behaviour: nmap's library with zeroed reserved bytes (its forks) is known by the silent association", (t) => {
  const h = new Harness();
  const c = ep("10.1.0.66", 40010);
  h.feed(silent(assoc(c, scp(), { calling: "ECHOSCU", called: "ANY-SCP", requestor: NMAP_362, pcs: echo })));
  t.deepEqual(scanner(h), ["nmap:medium"]);
  const ev = h.rule("dicom.scanner")[0]!.evidence as { reasons: string[]; identity: string };
  t.true(ev.reasons.includes("accepted, then left without a message, release or abort"));
  t.regex(ev.identity, /forks/);
  // The scanner's borrowed identity is not a device's: no cleartext, no vulnerable implementation.
  t.deepEqual(h.rule("dicom.vulnerable-implementation"), []);
  t.deepEqual(h.rule("dicom.cleartext"), []);
  // The SCP accepted the probe value: that is its own finding.
  t.deepEqual(
    h.rule("dicom.any-ae-accepted").map((f) => `${f.key}:${f.severity}`),
    ["probe:high"],
  );
});

test("behaviour: DCMTK's echoscu that echoes and releases is no scanner", (t) => {
  const h = new Harness();
  h.feed(
    assoc(ep("10.1.0.5", 40020), scp(), {
      calling: "ECHOSCU",
      called: "STORESCP",
      requestor: NMAP_362,
      pcs: echo,
    }),
  );
  t.deepEqual(scanner(h), []);
  t.is(h.rule("dicom.vulnerable-implementation").length, 2, "a real DCMTK 3.6.2 (and the SCP's 3.6.7)");
});

test("behaviour: a silent association alone is low, to several services or on a probe value medium", (t) => {
  const h = new Harness();
  const c = (p: number): ReturnType<typeof ep> => ep("10.1.0.70", p);
  h.feed(silent(assoc(c(40030), scp(), { calling: "PROBE", called: "STORESCP", pcs: echo, ts: at(0) })));
  t.deepEqual(scanner(h), ["silent-association:low"]);
  t.like(h.rule("dicom.scanner")[0]!.evidence, {
    lastSilent: {
      server: "10.1.0.20:11112",
      callingAE: "PROBE",
      calledAE: "STORESCP",
      ended: { reason: "fin" },
    },
    distinctServicesInWindow: 1,
  });
  // The same service again (a monitor checking that association works): still low.
  h.feed(
    silent(assoc(c(40031), scp(), { calling: "PROBE", called: "STORESCP", pcs: echo, ts: at(30) }), "rst"),
  );
  t.deepEqual(scanner(h), ["silent-association:low"]);
  // Another service within the window: probing.
  h.feed(
    silent(
      assoc(c(40032), ep("10.1.0.22", 104), { calling: "PROBE", called: "ARCHIVE", pcs: echo, ts: at(40) }),
      "idle",
    ),
  );
  t.deepEqual(scanner(h), ["silent-association:medium"]);
  t.deepEqual(h.announced("dicom.scanner"), ["new:low", "changed:medium"]);
  const p = new Harness();
  p.feed(silent(assoc(ep("10.1.0.71", 40040), scp(), { calling: "PROBE", called: "ANY-SCP", pcs: echo })));
  t.deepEqual(scanner(p), ["silent-association:medium"]);
  t.regex(p.rule("dicom.scanner")[0]!.title, /probe value/);
});

test("behaviour: not silent when the capture ended it, when it was evicted, released, aborted, all contexts refused, or with a gap", (t) => {
  const h = new Harness();
  const base = (port: number): ReturnType<typeof assoc> =>
    assoc(ep("10.1.0.72", port), scp(), { calling: "PROBE", called: "STORESCP", pcs: echo });
  h.feed(silent(base(40050), "end-of-capture"));
  h.feed(silent(base(40051), "evicted"));
  h.feed(base(40052)); // released
  h.feed(
    patch(silent(base(40053)), { outcome: "aborted", abort: { source: 0, reason: 0 }, transportEnd: null }),
  );
  h.feed(
    patch(silent(base(40054)), {
      presentationContexts: [pc(1, VERIFICATION, "abstract-syntax-not-supported")],
    }),
  );
  h.feed(patch(silent(base(40055)), { captureGaps: { count: 1, bytes: 200 } }));
  h.feed({ ...silent(base(40056)), midStream: true });
  h.finish();
  t.deepEqual(scanner(h), []);
});

test("behaviour: without transportEnd, silence is judged once the capture went on past it", (t) => {
  // Records from before transportEnd existed: an association reported at the capture's last timestamp was
  // closed by the end of the capture and proves nothing; one followed by anything later was closed by a peer.
  const h = new Harness();
  const a = silent(
    assoc(ep("10.1.0.73", 40060), scp(), { calling: "PROBE", called: "STORESCP", pcs: echo, ts: at(5) }),
    null,
  );
  h.feed(a);
  t.deepEqual(scanner(h), [], "not judged yet");
  h.feed(
    assoc(ep("10.1.0.5", 40061), ep("10.1.0.10", 104), {
      ts: at(6),
      requestor: DCM4CHE_5,
      acceptor: DCM4CHE_5,
    }),
  );
  t.deepEqual(scanner(h), ["silent-association:low"]);
  const end = new Harness();
  end.feed(
    silent(
      assoc(ep("10.1.0.73", 40062), scp(), { calling: "PROBE", called: "STORESCP", pcs: echo, ts: at(9) }),
      null,
    ),
  );
  end.finish(at(9));
  t.deepEqual(scanner(end), [], "closed at the capture's last timestamp: the end of the capture");
  const later = new Harness();
  later.feed(
    silent(
      assoc(ep("10.1.0.73", 40063), scp(), { calling: "PROBE", called: "STORESCP", pcs: echo, ts: at(9) }),
      null,
    ),
  );
  later.finish(at(9.5));
  t.deepEqual(scanner(later), ["silent-association:low"]);
  // A borrowed nmap identity waits the same way, and is nmap once confirmed.
  const n = new Harness();
  n.feed(
    silent(
      assoc(ep("10.1.0.66", 40064), scp(), {
        calling: "ECHOSCU",
        called: "ANY-SCP",
        requestor: NMAP_362,
        pcs: echo,
        ts: at(1),
      }),
      null,
    ),
  );
  n.finish(at(2));
  t.deepEqual(scanner(n), ["nmap:medium"]);
  t.deepEqual(n.rule("dicom.vulnerable-implementation"), []);
});

test("behaviour: a burst of A-ASSOCIATE-RJ reason 7 is a called-AE brute force (besides dicom.ae-scan)", (t) => {
  const h = new Harness();
  const titles = ["PACS", "ARCHIVE", "DCM4CHEE", "CONQUEST", "PACS1", "SERVER"];
  titles.forEach((called, i) =>
    h.feed(
      refused(
        assoc(ep("10.1.0.80", 40100 + i), scp(), { calling: "CT_SCANNER", called, pcs: echo, ts: at(i) }),
        7,
      ),
    ),
  );
  t.deepEqual(scanner(h), ["called-ae-brute:high"]);
  const f = h.rule("dicom.scanner")[0]!;
  t.regex(f.title, /called-AE brute force/);
  t.like(f.evidence, {
    reason: "called-AE brute force",
    rejectReason: 7,
    distinctTitlesRefused: 6,
    targets: ["10.1.0.20:11112"],
    aeTitles: titles,
  });
  t.is(f.device, h.inventory.idFor(ep("10.1.0.80")));
  t.deepEqual(h.announced("dicom.scanner"), ["new:high"], "one announcement, however many titles follow");
  t.true(h.rule("dicom.ae-scan").some((x) => x.key === "called-aes"));
  // Four titles (under the ae-scan threshold of 5), or the same title again and again: no brute force.
  const few = new Harness();
  titles
    .slice(0, 4)
    .forEach((called, i) =>
      few.feed(refused(assoc(ep("10.1.0.81", 40200 + i), scp(), { called, ts: at(i) }), 7)),
    );
  for (let i = 0; i < 10; i++)
    few.feed(refused(assoc(ep("10.1.0.82", 40300 + i), scp(), { called: "OLDPACS", ts: at(i) }), 7));
  t.deepEqual(scanner(few), []);
  // Spread beyond the window: no burst.
  const slow = new Harness();
  titles.forEach((called, i) =>
    slow.feed(refused(assoc(ep("10.1.0.83", 40400 + i), scp(), { called, ts: at(i * 120) }), 7)),
  );
  t.deepEqual(scanner(slow), []);
  // Other reasons (1: no reason given; 2: application context) are not about titles.
  const other = new Harness();
  titles.forEach((called, i) =>
    other.feed(refused(assoc(ep("10.1.0.84", 40500 + i), scp(), { called, ts: at(i) }), 1)),
  );
  t.deepEqual(scanner(other), []);
});

test("behaviour: a burst of reason 3 is a calling-AE brute force; thresholds come from the config", (t) => {
  const h = new Harness(withPolicy({ thresholds: { aeScanDistinctCalledAEs: 3 } }));
  for (const [i, calling] of ["A1", "A2", "A3"].entries())
    h.feed(refused(assoc(ep("10.1.0.85", 40600 + i), scp(), { calling, called: "STORESCP", ts: at(i) }), 3));
  t.deepEqual(scanner(h), ["calling-ae-brute:high"]);
  t.like(h.rule("dicom.scanner")[0]!.evidence, { reason: "calling-AE brute force", rejectReason: 3 });
});

test("a recognised tool gets one finding: the refusals and the silence are reasons in its evidence", (t) => {
  const h = new Harness();
  const titles = ["ANY-SCP", "PACS", "ARCHIVE", "STORESCP", "DCM4CHEE", "CONQUEST"];
  titles.forEach((called, i) => {
    const c = ep("10.1.0.66", 41000 + i);
    h.feed(anomaly(c, scp(), "ul.nonzero-reserved-header", "ul", at(i)));
    h.feed(
      refused(assoc(c, scp(), { calling: "ECHOSCU", called, requestor: NMAP_362, pcs: echo, ts: at(i) }), 7),
    );
  });
  const c = ep("10.1.0.66", 41010);
  h.feed(anomaly(c, scp(), "ul.nonzero-reserved-header", "ul", at(7)));
  h.feed(
    silent(
      assoc(c, scp(), { calling: "ECHOSCU", called: "ORTHANC", requestor: NMAP_362, pcs: echo, ts: at(7) }),
    ),
  );
  t.deepEqual(scanner(h), ["nmap:high"]);
  const f = h.rule("dicom.scanner")[0]!;
  t.regex(f.title, /nmap dicom-brute .* \(7 called AE titles tried\)/);
  const ev = f.evidence as { reasons: string[]; calledAETitlesTried: number };
  t.is(ev.calledAETitlesTried, 7);
  t.true(ev.reasons.some((r) => r.startsWith("called-AE brute force")));
  t.true(ev.reasons.some((r) => r.startsWith("non-zero reserved bytes")));
  t.deepEqual(h.rule("dicom.duplicate-ae-title"), [], "a scanner's borrowed titles are not a node's");
});

test("ordinary traffic: a modality's silent-free day raises no dicom.scanner", (t) => {
  const h = new Harness(withPolicy({ knownAeTitles: { "10.1.0.20": ["STORESCP"] } }));
  for (let i = 0; i < 30; i++)
    h.feed(
      assoc(ep("10.1.0.5", 42000 + i), scp(), {
        calling: "CT01",
        called: "STORESCP",
        ts: at(i * 10),
        requestor: DCM4CHE_5,
        acceptor: DCM4CHE_5,
      }),
    );
  // An association aborted right after the AC (an SCU with nothing acceptable to send) is not silence.
  h.feed(
    patch(assoc(ep("10.1.0.5", 42100), scp(), { calling: "CT01", called: "STORESCP", ts: at(400) }), {
      outcome: "aborted",
      released: false,
      abort: { source: 0, reason: 0 },
    }),
  );
  h.finish();
  t.deepEqual(scanner(h), []);
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
