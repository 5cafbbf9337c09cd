/**
 * dicom.scanner's identity table and matching (rules/scanner-identity.ts, data/scanners.json).
 */
import test from "ava";
import { DCM4CHE_5 } from "../inventory/build.js";
import { scannerTable } from "../../agent/findings/rules/tables.js";
import { recogniseScanner } from "../../agent/findings/rules/scanner-identity.js";
import { NMAP_362, NMAP_NSE } from "./harness.js";

test("the scanner table: every entry has a key, a tool, a source, and something to match", (t) => {
  const table = scannerTable();
  t.true(table.length >= 3);
  for (const e of table) {
    t.truthy(e.key && e.tool && e.name, e.name);
    t.regex(e.source, /https:\/\//, e.name);
    const matches =
      (e.implementationClassUids?.length ?? 0) +
      (e.implementationClassUidRoots?.length ?? 0) +
      (e.implementationVersionNames?.length ?? 0) +
      (e.implementationVersionNamePrefixes?.length ?? 0) +
      (e.callingAETitles?.length ?? 0);
    t.true(matches > 0, e.name);
    for (const c of e.corroboratedBy) t.true(c === "reserved-header" || c === "silent-association");
  }
});

test("identity: NMAP_NSE or its UID alone is nmap; DCMTK 3.6.2 as ECHOSCU needs corroboration", (t) => {
  const none = new Set<never>();
  t.is(recogniseScanner(NMAP_NSE, "ECHOSCU", none)?.entry.key, "nmap");
  t.is(recogniseScanner({ ...NMAP_NSE, implementationVersionName: null }, "X", none)?.entry.key, "nmap");
  t.is(recogniseScanner({ ...NMAP_NSE, implementationClassUid: "1.2.3" }, "X", none)?.entry.key, "nmap");
  t.is(recogniseScanner(NMAP_362, "ECHOSCU", none), null, "DCMTK's own echoscu announces the same");
  t.is(recogniseScanner(NMAP_362, "ECHOSCU", new Set(["silent-association"] as const))?.entry.key, "nmap");
  t.is(recogniseScanner(NMAP_362, "ECHOSCU", new Set(["reserved-header"] as const))?.entry.key, "nmap");
  t.is(recogniseScanner(NMAP_362, "CT01", new Set(["silent-association"] as const)), null);
  t.is(recogniseScanner(DCM4CHE_5, "ECHOSCU", new Set(["silent-association"] as const)), null);
  const scapy = { implementationClassUid: null, implementationVersionName: null, maxPduLength: 16384 };
  t.is(recogniseScanner(scapy, "SCAPY_SCU", none)?.entry.key, "scapy");
  t.is(recogniseScanner(DCM4CHE_5, "SCAPY_SCU", none), null, "a UID sent: a real toolkit named so");
});
