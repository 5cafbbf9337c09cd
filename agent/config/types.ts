/**
 * The configuration file of DESIGN.md §3, after validation and defaults. Every key but `sensor` has a
 * default; unknown keys are errors (see config.ts).
 */
import type { Operation } from "../baseline/types.js";
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
     * The baseline (issue 13): traffic of the first `days` (capture time, from the first packet the sensor
     * saw) is learned; later departures from it are findings (rules/baseline.ts). 0: nothing is learned, only
     * an imported baseline counts.
     */
    learning: {
      days: number;
      /**
       * A storm guard: more than `count` departures of one rule (distinct new peers, services or operations)
       * within `minutes` fold into one finding with a count and a capped list (a PACS migration, a new
       * modality fleet), until `minutes` pass without one. Default 5 in 60 minutes.
       */
      burst: { count: number; minutes: number };
      /**
       * Planned changes (maintenance, a migration): departures whose capture time falls in [from, to) are
       * learned into the baseline instead of raised, with the reason; the site approved them in advance.
       */
      quietPeriods: QuietPeriod[];
    };
    /**
     * Per DICOM service (a device's address, port and called AE title; null: any title), the peers allowed to
     * use it and what for: the allowlists of the plan (issue 13). An approved baseline adds its own
     * (baseline/policy.ts). A peer or operation listed here is no baseline departure.
     */
    services: PolicyService[];
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
  /** `dicomtap plan` (issue 13). */
  plan: PlanSection;
}

/** The `plan` section: what the plan's firewall (step 1, exposure) leaves open on purpose. */
export interface PlanSection {
  /**
   * Outside peers (a CIDR) that keep their access to an internal server (and one port, or every port when
   * null), each with the reason a reviewer reads in the plan.
   */
  exceptions: { peer: string; server: string; port: number | null; reason: string }[];
}

/** A planned change window of policy.learning.quietPeriods. */
export interface QuietPeriod {
  /** ISO 8601 times, capture time; `to` is excluded. */
  from: string;
  to: string;
  reason: string;
}

/** One service of policy.services. */
export interface PolicyService {
  ip: string;
  port: number;
  /** The called AE title; null: the entry holds for any title on that port. */
  aeTitle: string | null;
  peers: PolicyPeer[];
}

export interface PolicyPeer {
  ip: string;
  /** The calling AE title; null: any title from that address. */
  aeTitle: string | null;
  /** The operations allowed (baseline/types.ts OPERATIONS); empty: any. */
  operations: Operation[];
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
