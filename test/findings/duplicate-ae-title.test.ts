/** dicom.duplicate-ae-title (rules/duplicate-ae-title.ts, data/default-ae-titles.json). */
import test from "ava";
import { defaultAeTable } from "../../agent/findings/rules/tables.js";
import { assoc, at, DCM4CHE_5, ep } from "../inventory/build.js";
import { Harness, refused, withPolicy } from "./harness.js";

const modern = { requestor: DCM4CHE_5, acceptor: DCM4CHE_5 };
const pacs = (): ReturnType<typeof ep> => ep("10.1.0.10", 104);
const dup = (h: Harness): string[] => h.rule("dicom.duplicate-ae-title").map((f) => `${f.key}:${f.severity}`);

test("the default-title table names a toolkit and a source for each title", (t) => {
  for (const d of defaultAeTable().values()) {
    t.truthy(d.toolkit, d.aeTitle);
    t.true(d.role === "calling" || d.role === "called", d.aeTitle);
    t.regex(d.source, /https:\/\//, d.aeTitle);
  }
  for (const ae of ["ECHOSCU", "STORESCU", "FINDSCU", "STORESCP", "ORTHANC"])
    t.true(defaultAeTable().has(ae), ae);
});

test("one calling AE title from two client addresses is medium, with the addresses and roles", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), { calling: "CT01", called: "PACS", ts: at(1), ...modern }));
  h.feed(assoc(ep("10.1.0.5", 50002), pacs(), { calling: "CT01", called: "PACS", ts: at(2), ...modern }));
  t.deepEqual(dup(h), [], "one address, many associations");
  h.feed(assoc(ep("10.1.0.66", 50003), pacs(), { calling: "CT01", called: "PACS", ts: at(3), ...modern }));
  t.deepEqual(dup(h), ["CT01:medium"]);
  const f = h.rule("dicom.duplicate-ae-title")[0]!;
  t.is(f.device, null, "one finding per AE title, not per device");
  t.regex(f.title, /AE title "CT01" is used by 2 hosts \(10\.1\.0\.5, 10\.1\.0\.66\)/);
  t.regex(f.remediation, /allow each title only from its own address/);
  t.like(f.evidence, {
    aeTitle: "CT01",
    roles: ["calling"],
    hosts: 2,
    addressCount: 2,
    addresses: [
      {
        ip: "10.1.0.5",
        roles: ["calling"],
        expected: false,
        firstSeen: "2026-11-25T08:00:01.000000Z",
        lastSeen: "2026-11-25T08:00:02.000000Z",
      },
      { ip: "10.1.0.66", roles: ["calling"], expected: false, firstSeen: "2026-11-25T08:00:03.000000Z" },
    ],
  });
  // A rejected request still shows the title in use.
  h.feed(refused(assoc(ep("10.1.0.67", 50004), pacs(), { calling: "CT01", called: "PACS", ts: at(4) }), 3));
  t.is((h.rule("dicom.duplicate-ae-title")[0]!.evidence as { hosts: number }).hosts, 3);
  t.deepEqual(
    h.announced("dicom.duplicate-ae-title"),
    ["new:medium", "changed:medium"],
    "a new address is news",
  );
  h.feed(assoc(ep("10.1.0.5", 50005), pacs(), { calling: "CT01", called: "PACS", ts: at(5), ...modern }));
  t.is(h.announced("dicom.duplicate-ae-title").length, 2, "another use from a listed address is not");
});

test("an SCP's title accepted on two server addresses is a duplicate; a refused one says nothing", (t) => {
  const h = new Harness();
  h.feed(
    assoc(ep("10.1.0.5", 50010), ep("10.1.0.20", 104), { calling: "CT01", called: "ARCHIVE", ...modern }),
  );
  h.feed(
    refused(assoc(ep("10.1.0.5", 50011), ep("10.1.0.21", 104), { calling: "CT01", called: "ARCHIVE" }), 7),
  );
  t.deepEqual(dup(h), []);
  h.feed(
    assoc(ep("10.1.0.5", 50012), ep("10.1.0.22", 104), { calling: "CT01", called: "ARCHIVE", ...modern }),
  );
  t.deepEqual(dup(h), ["ARCHIVE:medium"]);
  t.like(h.rule("dicom.duplicate-ae-title")[0]!.evidence, {
    roles: ["called"],
    addresses: [{ ip: "10.1.0.20", roles: ["called"] }, { ip: "10.1.0.22" }],
  });
});

test("titles accepted by an SCP that answers to anything, or probe values, are not its name", (t) => {
  const h = new Harness();
  // 10.1.0.20 accepted the probe ANY-SCP: whatever it is called afterwards proves nothing.
  h.feed(
    assoc(ep("10.1.0.66", 50020), ep("10.1.0.20", 104), { calling: "SCAN", called: "ANY-SCP", ...modern }),
  );
  h.feed(assoc(ep("10.1.0.5", 50021), ep("10.1.0.20", 104), { calling: "CT01", called: "PACS", ...modern }));
  h.feed(assoc(ep("10.1.0.5", 50022), ep("10.1.0.10", 104), { calling: "CT01", called: "PACS", ...modern }));
  h.feed(
    assoc(ep("10.1.0.67", 50023), ep("10.1.0.21", 104), { calling: "SCAN2", called: "ANY-SCP", ...modern }),
  );
  t.deepEqual(dup(h), []);
});

test("a toolkit's default title is low, with the reason; the policy can make a shared title expected", (t) => {
  const h = new Harness();
  h.feed(assoc(ep("10.1.0.5", 50030), pacs(), { calling: "ECHOSCU", ...modern }));
  h.feed(assoc(ep("10.1.0.6", 50031), pacs(), { calling: "ECHOSCU", ...modern }));
  t.deepEqual(dup(h), ["ECHOSCU:low"]);
  t.like(h.rule("dicom.duplicate-ae-title")[0]!.evidence, {
    reason: "default AE title of DCMTK echoscu (also nmap's dicom library)",
  });
  t.regex(h.rule("dicom.duplicate-ae-title")[0]!.title, /default AE title of DCMTK echoscu/);
  // A cluster the site describes: both nodes listed with the title.
  const cluster = withPolicy({ knownAeTitles: { "10.1.0.10": ["PACS"], "10.1.0.11": ["PACS"] } });
  const c = new Harness(cluster);
  c.feed(assoc(ep("10.1.0.5", 50040), ep("10.1.0.10", 104), { calling: "CT01", called: "PACS", ...modern }));
  c.feed(assoc(ep("10.1.0.5", 50041), ep("10.1.0.11", 104), { calling: "CT01", called: "PACS", ...modern }));
  t.deepEqual(dup(c), []);
  // A third address not listed is not expected.
  c.feed(assoc(ep("10.1.0.5", 50042), ep("10.1.0.12", 104), { calling: "CT01", called: "PACS", ...modern }));
  t.deepEqual(dup(c), ["PACS:medium"]);
  const ev = c.rule("dicom.duplicate-ae-title")[0]!.evidence as {
    addresses: { ip: string; expected: boolean }[];
  };
  t.deepEqual(
    ev.addresses.map((a) => `${a.ip}:${a.expected}`),
    ["10.1.0.10:true", "10.1.0.11:true", "10.1.0.12:false"],
  );
});

test("hosts, not addresses: dual stack and an address change are one host; two at once behind a router are two", (t) => {
  const h = new Harness();
  const mac = "aa:bb:cc:00:00:05";
  const pacsMac = "aa:bb:cc:00:00:10";
  h.feed(assoc(ep("10.1.0.5", 50050, mac), ep("10.1.0.10", 104, pacsMac), { calling: "CT01", ...modern }));
  h.feed(assoc(ep("fd00::5", 50051, mac), ep("fd00::10", 104, pacsMac), { calling: "CT01", ...modern }));
  t.deepEqual(dup(h), []);
  // Two addresses in use at the same time behind one router MAC are two hosts.
  const r = new Harness();
  const router = "aa:bb:cc:00:00:01";
  r.feed(assoc(ep("10.2.0.5", 50052, router), pacs(), { calling: "CT01", ts: at(1), ...modern }));
  r.feed(assoc(ep("10.2.0.6", 50053, router), pacs(), { calling: "CT01", ts: at(2), ...modern }));
  r.feed(assoc(ep("10.2.0.5", 50054, router), pacs(), { calling: "CT01", ts: at(3), ...modern }));
  t.deepEqual(dup(r), ["CT01:medium"]);
  // One MAC that moved to a new address and never used the old one again: a DHCP renewal, one host.
  const moved = new Harness();
  const ws = "aa:bb:cc:00:00:30";
  moved.feed(assoc(ep("10.1.0.30", 50055, ws), pacs(), { calling: "WS1", ts: at(1), ...modern }));
  moved.feed(assoc(ep("10.1.0.30", 50056, ws), pacs(), { calling: "WS1", ts: at(2), ...modern }));
  moved.feed(assoc(ep("10.1.0.31", 50057, ws), pacs(), { calling: "WS1", ts: at(86400), ...modern }));
  t.deepEqual(dup(moved), []);
  // ... until the old address is used again while the new one is: two hosts.
  moved.feed(assoc(ep("10.1.0.30", 50058, ws), pacs(), { calling: "WS1", ts: at(86500), ...modern }));
  t.deepEqual(dup(moved), ["WS1:medium"]);
});

test("bounded: one title from 100 addresses lists 16 and counts the rest; announcements stop at the list's end", (t) => {
  const h = new Harness();
  for (let i = 0; i < 100; i++)
    h.feed(
      assoc(ep(`10.3.${Math.floor(i / 250)}.${(i % 250) + 1}`, 50100 + i), pacs(), {
        calling: "SHARED",
        ts: at(i),
        ...modern,
      }),
    );
  const f = h.rule("dicom.duplicate-ae-title")[0]!;
  const ev = f.evidence as { addresses: unknown[]; addressCount: number; usesFromAddressesNotListed: number };
  t.is(ev.addresses.length, 16);
  t.is(ev.usesFromAddressesNotListed, 84);
  t.is(ev.addressCount, 16);
  t.is(
    h.announced("dicom.duplicate-ae-title").length,
    15,
    "new at the second address, changed up to the 16th",
  );
  // Many different titles: one finding each, all within the engine's finding cap.
  const many = new Harness();
  for (let i = 0; i < 300; i++) {
    many.feed(assoc(ep("10.4.0.1", 51000 + i), pacs(), { calling: `T${i}`, ...modern }));
    many.feed(assoc(ep("10.4.0.2", 52000 + i), pacs(), { calling: `T${i}`, ...modern }));
  }
  t.is(many.rule("dicom.duplicate-ae-title").length, 300);
});

test("ordinary traffic: every node with its own title raises no duplicate", (t) => {
  const h = new Harness();
  for (let i = 0; i < 20; i++) {
    h.feed(
      assoc(ep(`10.1.0.${40 + i}`, 50200 + i), pacs(), {
        calling: `MOD${i}`,
        called: "PACS",
        ts: at(i),
        ...modern,
      }),
    );
    // The PACS's C-MOVE sub-associations back to each modality, from its own address, with its own title.
    h.feed(
      assoc(ep("10.1.0.10", 50300 + i), ep(`10.1.0.${40 + i}`, 11112), {
        calling: "PACS",
        called: `MOD${i}`,
        ts: at(i),
        ...modern,
      }),
    );
  }
  t.deepEqual(dup(h), []);
});
