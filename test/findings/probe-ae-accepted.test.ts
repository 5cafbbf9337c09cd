/**
 * dicom.any-ae-accepted on the wire's evidence: an SCP accepting a probe called AE title (ANY-SCP) accepts
 * any called AE title (rules/probe-ae-accepted.ts, data/probe-ae-titles.json).
 */
import test from "ava";
import { probeCalledAE, probeTable } from "../../agent/findings/rules/tables.js";
import { assoc, at, DCM4CHE_5, ep, pc, VERIFICATION } from "../inventory/build.js";
import { Harness, refused, withPolicy } from "./harness.js";

const scp = (): ReturnType<typeof ep> => ep("10.1.0.20", 11112);
const modern = { requestor: DCM4CHE_5, acceptor: DCM4CHE_5 };
const any = (h: Harness): string[] => h.rule("dicom.any-ae-accepted").map((f) => `${f.key}:${f.severity}`);

test("the probe table has ANY-SCP with its sources; matching ignores case and padding", (t) => {
  t.true(probeTable().has("ANY-SCP"));
  for (const p of probeTable().values()) {
    t.regex(p.source, /https:\/\//);
    t.true(p.usedBy.length > 0);
  }
  t.is(probeCalledAE(" any-scp ")?.aeTitle, "ANY-SCP");
  t.is(probeCalledAE("ANY-SCP2"), null);
  t.is(probeCalledAE(null), null);
});

test("an SCP accepting the probe ANY-SCP is high, with the probe as evidence, once per SCP", (t) => {
  const h = new Harness();
  h.feed(
    assoc(ep("10.1.0.66", 40001), scp(), {
      calling: "ECHOSCU",
      called: "ANY-SCP",
      ts: at(1),
      pcs: [pc(1, VERIFICATION)],
      ...modern,
    }),
  );
  t.deepEqual(any(h), ["probe:high"]);
  const f = h.rule("dicom.any-ae-accepted")[0]!;
  t.is(f.device, h.inventory.idFor(scp()));
  t.regex(
    f.title,
    /accepted an association addressed to "ANY-SCP", a probe value: it accepts any called AE title/,
  );
  t.regex(f.remediation, /allowlist/);
  t.like(f.evidence, {
    probe: {
      calledAE: "ANY-SCP",
      callingAE: "ECHOSCU",
      peer: "10.1.0.66:40001",
      service: "10.1.0.20:11112",
      time: "2026-11-25T08:00:01.000000Z",
    },
    ports: [11112],
    configuredAETitles: null,
    aeTitles: ["ANY-SCP"],
    counts: { probesAccepted: 1 },
  });
  t.true((f.evidence as { probeUsedBy: string[] }).probeUsedBy.some((u) => u.includes("nmap")));
  // Again from another prober and on another port: counted, the first probe kept, no new announcement.
  h.feed(
    assoc(ep("10.1.0.67", 40002), ep("10.1.0.20", 104), {
      calling: "SCAN",
      called: "any-scp",
      ts: at(2),
      ...modern,
    }),
  );
  const g = h.rule("dicom.any-ae-accepted")[0]!;
  t.is(g.count, 2);
  t.like(g.evidence, {
    probe: { peer: "10.1.0.66:40001" },
    lastProbe: { peer: "10.1.0.67:40002", calledAE: "any-scp" },
    ports: [11112, 104],
  });
  t.deepEqual(h.announced("dicom.any-ae-accepted"), ["new:high"]);
});

test("no probe finding when the SCP refused it, or when ANY-SCP is the SCP's own title", (t) => {
  const h = new Harness();
  h.feed(refused(assoc(ep("10.1.0.66", 40010), scp(), { calling: "ECHOSCU", called: "ANY-SCP" }), 7));
  t.deepEqual(any(h), [], "Orthanc's answer: the called AE title is checked");
  // Configured as its own title in the policy (DCMTK's storescp used to be deployed as ANY-SCP).
  const own = new Harness(withPolicy({ knownAeTitles: { "10.1.0.20": ["ANY-SCP"] } }));
  own.feed(assoc(ep("10.1.0.66", 40011), scp(), { calling: "ECHOSCU", called: "ANY-SCP", ...modern }));
  t.deepEqual(any(own), []);
  // Or the SCP's address calls others with that title: it is its own name.
  const seen = new Harness();
  seen.feed(
    assoc(ep("10.1.0.20", 40012), ep("10.1.0.30", 11112), { calling: "ANY-SCP", called: "WS1", ...modern }),
  );
  seen.feed(assoc(ep("10.1.0.66", 40013), scp(), { calling: "ECHOSCU", called: "ANY-SCP", ...modern }));
  t.deepEqual(any(seen), []);
});

test("with a policy for the SCP the probe is reported once, as the probe (high), not also as a foreign title", (t) => {
  const h = new Harness(withPolicy({ knownAeTitles: { "10.1.0.20": ["STORESCP"] } }));
  h.feed(assoc(ep("10.1.0.66", 40020), scp(), { calling: "ECHOSCU", called: "ANY-SCP", ...modern }));
  t.deepEqual(any(h), ["probe:high"]);
  t.like(h.rule("dicom.any-ae-accepted")[0]!.evidence, { configuredAETitles: ["STORESCP"] });
  h.feed(assoc(ep("10.1.0.66", 40021), scp(), { calling: "ECHOSCU", called: "OLD_PACS", ...modern }));
  t.deepEqual(any(h).sort(), ["called:medium", "probe:high"]);
});

test("the probe joins the count of called titles an SCP port accepted (three make the low finding)", (t) => {
  const h = new Harness();
  for (const [i, called] of ["ARCHIVE", "ANY-SCP", "WHATEVER"].entries())
    h.feed(assoc(ep("10.1.0.30", 40030 + i), scp(), { calling: "WS1", called, ts: at(i), ...modern }));
  t.deepEqual(any(h).sort(), ["called:low", "probe:high"]);
});
