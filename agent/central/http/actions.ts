/**
 * The team's actions on a finding (issue 12, Findings): acknowledge, assign, accept the risk with a reason
 * and an expiry, reopen. Each is one transaction that updates the finding's triage columns and appends a
 * `finding_events` row with who and when, so the finding page shows every action and an auditor can ask
 * what was accepted last quarter. The sensor's lifecycle (open/resolved) is the ingest's, except that
 * `reopen` puts a resolved finding back to open: a person who reopens it says it is not done.
 */
import type { Db } from "./db.js";
import { BadRequest, bodyObject, bodyString, hasControl } from "./params.js";
import { isoFromDate } from "../../util/time.js";

export const ACTIONS = ["acknowledge", "assign", "accept-risk", "reopen"] as const;
export type ActionName = (typeof ACTIONS)[number];

/** The longest a risk may be accepted for before someone must look again. */
export const MAX_RISK_ACCEPTANCE_MS = 366 * 86_400_000;

export interface FindingAction {
  action: ActionName;
  assignee?: string | null;
  reason?: string;
  expires?: string;
}

/** Checks a POST /findings/{pk}/actions body; every refusal names the field. */
export function parseAction(body: unknown, now: Date): FindingAction {
  const o = bodyObject(body, ["action", "assignee", "reason", "expires"]);
  const action = bodyString(o, "action", { required: true, max: 32 })!;
  if (!(ACTIONS as readonly string[]).includes(action))
    throw new BadRequest("bad-body", `action must be one of ${ACTIONS.join(", ")}`);
  const only = (allowed: string[]): void => {
    for (const k of Object.keys(o))
      if (k !== "action" && !allowed.includes(k))
        throw new BadRequest("bad-body", `${k} does not apply to ${action}`);
  };
  switch (action as ActionName) {
    case "acknowledge":
    case "reopen":
      only(["reason"]);
      return { action: action as ActionName, ...optionalReason(o) };
    case "assign": {
      only(["assignee", "reason"]);
      // null unassigns; a name is free text of the team's choosing (a person, a ticket queue).
      if (o.assignee === null) return { action: "assign", assignee: null, ...optionalReason(o) };
      const assignee = bodyString(o, "assignee", { required: true, max: 64 })!.trim();
      if (assignee === "" || hasControl(assignee))
        throw new BadRequest("bad-body", "assignee must be a printable name, or null to unassign");
      return { action: "assign", assignee, ...optionalReason(o) };
    }
    case "accept-risk": {
      only(["reason", "expires"]);
      const reason = bodyString(o, "reason", { required: true, max: 1000 })!.trim();
      if (reason === "") throw new BadRequest("bad-body", "reason must say why the risk is accepted");
      const text = bodyString(o, "expires", { required: true, max: 40 })!;
      // A date (end of that day, UTC) or a full ISO 8601 time with a zone.
      const m = /^\d{4}-\d{2}-\d{2}$/.test(text)
        ? new Date(`${text}T23:59:59.999Z`)
        : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)
          ? new Date(text)
          : null;
      // A day that does not exist (2027-02-30) is refused, not rolled over to the next month by Date.
      if (m === null || Number.isNaN(m.getTime()) || !realDay(text.slice(0, 10)))
        throw new BadRequest(
          "bad-body",
          "expires must be a date (YYYY-MM-DD) or an ISO 8601 time with a zone",
        );
      if (m.getTime() <= now.getTime()) throw new BadRequest("bad-body", "expires must be in the future");
      if (m.getTime() > now.getTime() + MAX_RISK_ACCEPTANCE_MS)
        throw new BadRequest("bad-body", "expires must be at most one year ahead");
      return { action: "accept-risk", reason, expires: isoFromDate(m) };
    }
  }
}

/** True when YYYY-MM-DD names a day of the calendar (not 2027-02-30, which Date rolls over). */
function realDay(ymd: string): boolean {
  const [y, m, d] = ymd.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10) === ymd;
}

function optionalReason(o: Record<string, unknown>): { reason?: string } {
  const r = bodyString(o, "reason", { required: false, max: 1000 });
  return r === undefined || r.trim() === "" ? {} : { reason: r.trim() };
}

/** Applies an action by `actor`; false when no finding has that pk. */
export function applyAction(db: Db, pk: number, a: FindingAction, actor: string, now: Date): boolean {
  const at = isoFromDate(now);
  return db.transaction((): boolean => {
    const row = db.prepare("SELECT lifecycle FROM findings WHERE pk = ?").get(pk) as
      { lifecycle: string } | undefined;
    if (row === undefined) return false;
    let kind: string;
    let detail: Record<string, unknown> = {};
    switch (a.action) {
      case "acknowledge":
        db.prepare("UPDATE findings SET acknowledged_by = ?, acknowledged_at = ? WHERE pk = ?").run(
          actor,
          at,
          pk,
        );
        kind = "acknowledged";
        break;
      case "assign":
        db.prepare("UPDATE findings SET assignee = ? WHERE pk = ?").run(a.assignee ?? null, pk);
        kind = "assigned";
        detail = { assignee: a.assignee ?? null };
        break;
      case "accept-risk":
        db.prepare(
          "UPDATE findings SET risk_accepted_by = ?, risk_reason = ?, risk_expires = ? WHERE pk = ?",
        ).run(actor, a.reason!, a.expires!, pk);
        kind = "risk-accepted";
        detail = { reason: a.reason, expires: a.expires };
        break;
      case "reopen":
        // Back to untriaged: acknowledgement and risk acceptance cleared (their events stay), the
        // assignee kept (the person still owns it), and a resolved finding open again. Its staleness
        // clock (received_at) restarts: else the next sweep would resolve it again within a minute.
        db.prepare(
          `UPDATE findings SET acknowledged_by = NULL, acknowledged_at = NULL, risk_accepted_by = NULL, risk_reason = NULL,
           risk_expires = NULL, lifecycle = 'open', lifecycle_at = CASE WHEN lifecycle = 'open' THEN lifecycle_at ELSE ? END,
           received_at = CASE WHEN lifecycle = 'open' THEN received_at ELSE ? END
           WHERE pk = ?`,
        ).run(at, at, pk);
        kind = "reopen";
        if (row.lifecycle !== "open") detail = { from: row.lifecycle };
        break;
    }
    if (a.reason !== undefined && a.action !== "accept-risk") detail.reason = a.reason;
    db.prepare("INSERT INTO finding_events (finding_pk, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)").run(
      pk,
      at,
      kind,
      actor,
      Object.keys(detail).length === 0 ? null : JSON.stringify(detail),
    );
    return true;
  })();
}
