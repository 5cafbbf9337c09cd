/**
 * The configuration file of DESIGN.md §3, after validation and defaults. Every key but `sensor` has a
 * default; unknown keys are errors (see config.ts).
 */
import type { ModelProfile } from "../profiles/profiles.js";

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
    /**
     * The site's own device profiles (issue 13), in the row shape of data/model-profiles.json: tried before
     * the shipped table, first match wins (profiles/profiles.ts).
     */
    profiles: ModelProfile[];
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
  /** `dicomtap central` (issue 12); null when the file has no `central` section. */
  central: CentralSection | null;
}

/** The `central` section: the central console service's listener, TLS, store and retention. */
export interface CentralSection {
  /** HOST:PORT of the web application and API; without `tls` only a loopback host is accepted. */
  listen: { host: string; port: number };
  /** HTTPS certificate and key (PEM files, made by pki/make-central-cert); null: plain HTTP on loopback. */
  tls: { cert: string; key: string } | null;
  store: { path: string; maxBytes: number };
  retention: {
    /** Device history, finding transitions and actions older than this are deleted (never an open finding). */
    historyDays: number;
    /** Sensor health samples older than this are deleted. */
    healthDays: number;
    /** An open finding whose sensor sent no new revision for this long is resolved. */
    resolveAfterHours: number;
  };
  /**
   * MQTT 5 shared subscription group of the event streams (findings, health): several central instances
   * in one group share the work instead of each counting every event.
   */
  shareGroup: string;
  /** This instance's MQTT client id (persistent session); default `dicomtap-central-HOSTNAME`. */
  clientId: string;
}

/** What `dicomtap central` needs: its own section and the broker it follows (with the console certificate). */
export interface CentralConfig {
  central: CentralSection;
  broker: NonNullable<Config["broker"]>;
  networks: Config["networks"];
}
