// Clean device and finding records (no patient data) for store and publish tests.
import type { DeviceRecord, FindingRecord } from "../../agent/report/types.js";

export function finding(
  id: string,
  severity: FindingRecord["severity"] = "medium",
  count = 1,
): FindingRecord {
  return {
    id,
    rule: "dicom.cleartext",
    severity,
    device: "dev-1",
    peer: "10.1.2.4",
    title: "DICOM association without TLS",
    evidence: { flows: ["10.1.2.4:40000-10.1.2.3:104"] },
    remediation: "Enable DICOM TLS (port 2762) or carry the traffic in a VPN.",
    firstSeen: "2024-01-01T00:00:00.000Z",
    lastSeen: "2024-01-01T00:00:01.000Z",
    count,
  };
}

export function device(id: string, lastSeen = "2024-01-01T00:00:01.000Z"): DeviceRecord {
  return {
    id,
    ip: "10.1.2.3",
    mac: "00:11:22:33:44:55",
    aeTitles: ["PACS1"],
    roles: ["scp"],
    listeningPorts: [104],
    implementation: null,
    modality: null,
    manufacturer: "ACME",
    model: null,
    softwareVersions: [],
    stationName: null,
    sopClasses: [],
    firstSeen: "2024-01-01T00:00:00.000Z",
    lastSeen,
  };
}
