/**
 * The configuration file of DESIGN.md §3, after validation and defaults. Every key but `sensor` has a
 * default; unknown keys are errors (see config.ts).
 */
export interface Config {
  sensor: { id: string; site: string; room?: string | null };
  capture: {
    interface: string;
    filter: string;
    snaplen: number;
    /** Kernel capture buffer (TPACKET_V3 ring) in MiB. */
    bufferMiB: number;
    /** The capture child: "auto" takes the built helper, else tcpdump. */
    tool: "auto" | "dicomtap-capture" | "tcpdump";
  };
  networks: { internal: string[] };
  policy: {
    /** AE titles each device (by IP) is known to use. */
    knownAeTitles: Record<string, string[]>;
    /** CIDRs allowed to talk DICOM to the site's devices; empty means no allowlist. */
    allowedPeers: string[];
    /** Ports each device (by IP) is approved to listen on. */
    approvedPorts: Record<string, number[]>;
    /** Thresholds of the volume and scan rules. */
    thresholds: {
      aeScanRejects: number;
      aeScanDistinctCalledAEs: number;
      aeScanWindowSeconds: number;
      bulkQueryFinds: number;
      bulkQueryWindowSeconds: number;
      echoSweepHosts: number;
      echoSweepWindowSeconds: number;
      /** Matches (pending C-FIND responses) to one query at patient/study level that count as a bulk query. */
      bulkQueryMatches: number;
    };
  };
  store: { path: string; maxBytes: number };
  broker: { url: string; ca: string; cert: string; key: string } | null;
  health: { intervalSeconds: number };
}
