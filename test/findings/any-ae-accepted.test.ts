/**
 * dicom.any-ae-accepted (rules/any-ae-accepted.ts): SCPs that accept called AE titles that are not their
 * own, or calling AE titles the policy does not give the caller. The probe value case: probe-ae-accepted.test.ts.
 */
import test from "ava";
import { validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { assoc, at, dimse, ep, msg, STUDY_ROOT_MOVE } from "../inventory/build.js";
import { Harness, pacs, modern, ordinaryDay, modalitiesStore } from "./harness.js";

test("dicom.any-ae-accepted: foreign called AE against policy, many called AEs without policy", (t) => {
  const config = validateConfig({
    sensor: { id: "s", site: "x" },
    policy: { knownAeTitles: { "10.1.0.10": ["PACS"], "10.1.0.5": ["CT01"] } },
  });
  const h = new Harness(config);
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), { calling: "CT01", called: "PACS", ...modern }));
  t.deepEqual(h.rule("dicom.any-ae-accepted"), []);
  // A foreign title that is not a probe value (ANY-SCP is raised high, as a probe: probe-ae-accepted.test.ts).
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
