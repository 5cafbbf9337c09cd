import test from "ava";
import { compareVersions, recogniseToolkit, vulnerabilitiesOf } from "../../agent/inventory/toolkit.js";
import { toolkitTable, vulnerabilityTable } from "../../agent/inventory/tables.js";

const cases: [string | null, string | null, string | null, string | null][] = [
  // [class UID, version name, toolkit, version]
  ["1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", "DCMTK", "3.6.7"],
  ["1.2.276.0.7230010.3.0.3.6.2", "OFFIS_DCMTK_362", "DCMTK", "3.6.2"], // nmap's dicom library
  ["1.2.276.0.7230010.3.0.3.6.9", null, "DCMTK", "3.6.9"], // version from the UID alone
  ["1.2.276.0.7230010.3.0.3.6.7", "ORTHANC_1_12_4", "Orthanc", "1.12.4"],
  ["1.2.276.0.7230010.3.0.3.6.7", "HOROS", "Horos", null],
  ["1.2.40.0.13.1.3", "dcm4che-5.31.0", "dcm4che", "5.31.0"],
  ["1.2.40.0.13.1.1", "dcm4che-2.0", "dcm4che", "2.0"],
  ["1.3.6.1.4.1.30071.8", "fo-dicom 5.1.2", "fo-dicom", "5.1.2"],
  ["1.2.826.0.1.3680043.9.3811.2.0.0", "PYNETDICOM_200", "pynetdicom", "2.0.0"],
  ["1.2.826.0.1.3680043.9.3811.1.5.7", null, "pynetdicom", "1.5.7"],
  ["1.2.826.0.1.3680043.9.7133.1.1", "GODICOM_1_1", "go-netdicom", "1.1"], // the tapirx captures
  ["1.2.826.0.1.3680043.2.1143.107.104.103.115.3.0.10", "GDCM 3.0.10", "GDCM", "3.0.10"],
  ["1.2.826.0.1.3680043.2.135.1066.101", "1.5.0c/WIN32", "Conquest", null],
  ["1.3.6.1.4.1.25403.1.1.1", "Dicom 0.1", "ClearCanvas", null],
  ["1.2.276.0.72300100.1", null, null, null], // not under the DCMTK root: 7230010 != 72300100
  ["1.2.3.4", "ACME_PACS_9", null, null],
  [null, null, null, null],
];

for (const [uid, name, toolkit, version] of cases) {
  test(`toolkit of ${uid} / ${name}`, (t) => {
    const tk = recogniseToolkit(uid, name);
    t.is(tk?.name ?? null, toolkit);
    t.is(tk?.version ?? null, version);
    if (tk) t.true(tk.source.length > 10, "every recognised toolkit names its source");
  });
}

test("every table entry has a source, and patterns compile", (t) => {
  for (const e of toolkitTable()) {
    t.true(e.source.length > 10, e.name);
    for (const p of e.versionNamePatterns) t.notThrows(() => new RegExp(p));
  }
  for (const v of vulnerabilityTable()) {
    t.regex(v.cve, /^CVE-\d{4}-\d{4,}$/);
    t.true(v.source.length > 10, v.cve);
    t.true(v.lessThan !== undefined || v.lessThanOrEqual !== undefined, v.cve);
  }
});

test("version comparison is numeric per component", (t) => {
  t.true(compareVersions("3.6.10", "3.6.9") > 0);
  t.true(compareVersions("3.6.7", "3.6.7.0") === 0);
  t.true(compareVersions("3.6", "3.6.1") < 0);
});

function cves(name: string, version: string | null): string[] {
  return vulnerabilitiesOf({ name, version, source: "" })
    .map((v) => v.cve)
    .sort();
}

test("DCMTK versions map to the CVEs of their ranges", (t) => {
  t.deepEqual(cves("DCMTK", "3.6.6"), [
    "CVE-2022-2119",
    "CVE-2022-2120",
    "CVE-2022-2121",
    "CVE-2024-28130",
    "CVE-2024-34508",
    "CVE-2024-34509",
    "CVE-2024-47796",
    "CVE-2024-52333",
    "CVE-2026-35505",
    "CVE-2026-44628",
    "CVE-2026-50003",
    "CVE-2026-50254",
    "CVE-2026-52868",
    "CVE-2026-97059",
  ]);
  // The 2022 advisory (ICSMA-22-174-01) names versions before 3.6.7.
  t.deepEqual(cves("DCMTK", "3.6.7"), [
    "CVE-2024-28130",
    "CVE-2024-34508",
    "CVE-2024-34509",
    "CVE-2024-47796",
    "CVE-2024-52333",
    "CVE-2026-35505",
    "CVE-2026-44628",
    "CVE-2026-50003",
    "CVE-2026-50254",
    "CVE-2026-52868",
    "CVE-2026-97059",
  ]);
  // The 2026 advisory (ICSMA-26-181-01) names 3.7.0 and earlier; 3.7.1 fixes them.
  t.deepEqual(cves("DCMTK", "3.6.9"), [
    "CVE-2026-35505",
    "CVE-2026-44628",
    "CVE-2026-50003",
    "CVE-2026-50254",
    "CVE-2026-52868",
    "CVE-2026-97059",
  ]);
  t.deepEqual(cves("DCMTK", "3.7.0"), [
    "CVE-2026-10194",
    "CVE-2026-35505",
    "CVE-2026-44031",
    "CVE-2026-44628",
    "CVE-2026-50003",
    "CVE-2026-50254",
    "CVE-2026-52868",
    "CVE-2026-97059",
  ]);
  t.deepEqual(cves("DCMTK", "3.7.1"), []);
  t.deepEqual(cves("DCMTK", null), [], "no version, no claim");
  t.deepEqual(cves("dcm4che", "2.0"), []);
});
