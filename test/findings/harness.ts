/** A findings engine with its inventory, fed observations as the pipeline would, for the rule tests. */
import { defaultConfig, validateConfig } from "../../agent/config/config.js";
import type { Config } from "../../agent/config/types.js";
import { Inventory } from "../../agent/inventory/inventory.js";
import { FindingsEngine } from "../../agent/findings/engine.js";
import type { AssociationObservation, Observation } from "../../agent/observations/types.js";
import type { FindingRecord } from "../../agent/report/types.js";
import {
  assoc,
  at,
  connection,
  DCM4CHE_5,
  dimse,
  ep,
  msg,
  pc,
  STUDY_ROOT_FIND,
  STUDY_ROOT_MOVE,
} from "../inventory/build.js";

const RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export class Harness {
  readonly inventory: Inventory;
  readonly engine: FindingsEngine;
  /** [rule, "new" | "changed", severity] per announcement. */
  readonly changes: [string, string, string][] = [];
  constructor(config: Config = defaultConfig()) {
    this.inventory = new Inventory(config);
    this.engine = new FindingsEngine(config, this.inventory);
    this.engine.onChange = (f, change) => this.changes.push([f.rule, change, f.severity]);
  }
  feed(...obs: Observation[]): this {
    for (const o of obs) {
      this.inventory.observe(o);
      this.engine.observe(o);
    }
    return this;
  }
  finish(ts = at(10_000)): FindingRecord[] {
    this.engine.finish(ts);
    return this.engine.findings();
  }
  rule(rule: string): FindingRecord[] {
    return this.engine.findings().filter((f) => f.rule === rule);
  }
  /** The findings, once settled, above `severity` (but those of the rules in `except`). */
  above(severity: keyof typeof RANK, except: string[] = []): FindingRecord[] {
    return this.finish().filter((f) => RANK[f.severity] > RANK[severity] && !except.includes(f.rule));
  }
  announced(rule: string): string[] {
    return this.changes.filter(([r]) => r === rule).map(([, c, s]) => `${c}:${s}`);
  }
}

/** A config with a policy (sensor named, as validateConfig requires). */
export function withPolicy(policy: Record<string, unknown>): Config {
  return validateConfig({ sensor: { id: "s", site: "x" }, policy });
}

/** The association with some record fields replaced (reject reason, release, how it ended, ...). */
export function patch(o: AssociationObservation, p: Record<string, unknown>): AssociationObservation {
  return { ...o, record: { ...o.record, ...p } as AssociationObservation["record"] };
}

/**
 * Accepted and then ended by the transport with nothing sent: what nmap's dicom-ping leaves behind.
 * `reason` null leaves transportEnd out (records made before it existed).
 */
export function silent(
  o: AssociationObservation,
  reason: "fin" | "rst" | "idle" | "end-of-capture" | "evicted" | null = "fin",
): AssociationObservation {
  return patch(o, {
    outcome: reason === null ? "accepted" : "incomplete",
    released: false,
    messages: [],
    ...(reason === null ? {} : { transportEnd: { reason, side: "requestor" } }),
  });
}

/** Rejected by the service-user (source 1) with a PS3.8 §9.3.4 reason (7: called AE, 3: calling AE). */
export function refused(o: AssociationObservation, reason: number): AssociationObservation {
  return patch(o, { outcome: "rejected", reject: { result: 1, source: 1, reason }, acceptor: null });
}

// ---- traffic shared by the rule tests ----

export const pacs = (): ReturnType<typeof ep> => ep("10.1.0.10", 104);

export const modern = { requestor: DCM4CHE_5, acceptor: DCM4CHE_5 };

/** Stores, queries and retrieves between known AE titles on internal addresses (the ordinary day). */
export function ordinaryDay(h: Harness): void {
  const ct = ep("10.1.0.5", 50001);
  const ws = ep("10.1.0.30", 50002);
  const wsScp = ep("10.1.0.30", 11112);
  const p = pacs();
  h.feed(connection(ct, p, "syn-ack", at(0)));
  for (let i = 0; i < 20; i++) {
    const c = ep("10.1.0.5", 51000 + i);
    h.feed(
      dimse(c, p, 0, msg("C-STORE-RQ", { sopClassUid: "1.2.840.10008.5.1.4.1.1.2" }), {
        calling: "CT01",
        called: "PACS",
        ts: at(i),
      }),
    );
    h.feed(dimse(c, p, 1, msg("C-STORE-RSP", { status: 0 }), { calling: "CT01", called: "PACS", ts: at(i) }));
    h.feed(assoc(c, p, { calling: "CT01", called: "PACS", ts: at(i), ...modern }));
  }
  h.feed(
    dimse(ws, p, 0, msg("C-FIND-RQ", { sopClassUid: STUDY_ROOT_FIND }), {
      calling: "WS1",
      called: "PACS",
      ts: at(30),
    }),
  );
  for (let i = 0; i < 5; i++)
    h.feed(
      dimse(ws, p, 1, msg("C-FIND-RSP", { status: 0xff00, messageIdBeingRespondedTo: 1 }), {
        calling: "WS1",
        called: "PACS",
        ts: at(30),
      }),
    );
  h.feed(
    dimse(ws, p, 1, msg("C-FIND-RSP", { status: 0, messageIdBeingRespondedTo: 1 }), {
      calling: "WS1",
      called: "PACS",
      ts: at(30),
    }),
  );
  h.feed(
    dimse(ws, p, 0, msg("C-MOVE-RQ", { sopClassUid: STUDY_ROOT_MOVE, moveDestination: "WS1" }), {
      calling: "WS1",
      called: "PACS",
      ts: at(31),
    }),
  );
  const sub = ep("10.1.0.10", 50100);
  h.feed(assoc(sub, wsScp, { calling: "PACS", called: "WS1", ts: at(32), ...modern }));
  h.feed(
    assoc(ws, p, {
      calling: "WS1",
      called: "PACS",
      ts: at(33),
      pcs: [pc(1, STUDY_ROOT_FIND), pc(3, STUDY_ROOT_MOVE)],
      ...modern,
    }),
  );
}

/** 20 modalities, each with its own AE title, storing to the PACS; returns them as [ip, AE title]. */
export function modalitiesStore(h: Harness, server = pacs(), called = "PACS"): [string, string][] {
  const mods: [string, string][] = [];
  for (let i = 0; i < 20; i++) {
    const ip = `10.1.0.${40 + i}`;
    const ae = `MOD${i}`;
    mods.push([ip, ae]);
    h.feed(assoc(ep(ip, 50000 + i), server, { calling: ae, called, ts: at(i), ...modern }));
  }
  return mods;
}

/** The identities nmap's DICOM scripts announce: DCMTK 3.6.2's, borrowed, and the NSE library's own. */
export const NMAP_362 = {
  implementationClassUid: "1.2.276.0.7230010.3.0.3.6.2",
  implementationVersionName: "OFFIS_DCMTK_362",
  maxPduLength: 16384,
};
export const NMAP_NSE = {
  implementationClassUid: "2.25.205477355541376756296906656564391676347",
  implementationVersionName: "NMAP_NSE",
  maxPduLength: 16384,
};
