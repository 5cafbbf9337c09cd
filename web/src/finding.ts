/**
 * `#/findings/{pk}` — one finding: what the sensor saw (evidence), what to do (remediation and the step it
 * points to), where (device, peer, sensor), and its history: every transition the sensors and the staleness
 * rule made and every action of the team, with who and when. Analysts and admins act on it here:
 * acknowledge, assign, accept the risk (a reason and an expiry within a year) or reopen; viewers see no
 * action (the server refuses them anyway, 403).
 */
import { h, replace, type Child } from "./dom.js";
import { api, ApiError, stepLabel, type FindingDetail, type FindingEvent, type Session } from "./api.js";
import { href } from "./router.js";
import { WHY } from "./why.js";
import { age, date, num, timeEl } from "./format.js";
import { deviceLabel } from "./findings.js";
import {
  errorBox,
  fields,
  loading,
  pageHeader,
  section,
  severityBadge,
  smallTable,
  stateBadge,
} from "./ui.js";

/** Evidence as the sensor wrote it, laid out: objects as label/value rows, lists as chips or rows. */
export function evidenceView(v: unknown, depth = 0): Child {
  if (v === null || v === undefined) return h("span", { class: "muted" }, "—");
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") return num(v);
  if (typeof v === "string")
    return /^\d{4}-\d\d-\d\dT/.test(v) ? timeEl(v) : h("span", { class: "ev-text" }, v);
  if (Array.isArray(v)) {
    if (v.length === 0) return h("span", { class: "muted" }, "none");
    if (v.every((x) => typeof x !== "object" || x === null)) {
      return h(
        "ul",
        { class: "ev-list" },
        v.slice(0, 200).map((x) => h("li", { class: "mono" }, String(x))),
        v.length > 200 ? h("li", { class: "muted" }, `… ${v.length - 200} more`) : null,
      );
    }
    const objects = v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x));
    const keys = objects ? [...new Set(v.flatMap((x) => Object.keys(x as object)))] : [];
    if (objects && keys.length <= 8) {
      // Records of one shape (CVEs, flows with counts): a table reads faster than nested lists.
      return h(
        "div",
        { class: "table-wrap ev-table" },
        smallTable(
          keys.map((k) => humanKey(k)),
          v
            .slice(0, 200)
            .map((x) => keys.map((k) => evidenceView((x as Record<string, unknown>)[k], depth + 1))),
          [],
          null,
        ),
        v.length > 200 ? h("p", { class: "muted small" }, `… ${v.length - 200} more`) : null,
      );
    }
    return h(
      "ol",
      { class: "ev-objects" },
      v.slice(0, 100).map((x) => h("li", null, evidenceView(x, depth + 1))),
    );
  }
  if (depth > 4) return h("code", null, JSON.stringify(v));
  const dl = h("dl", { class: "fields ev" });
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    dl.append(h("dt", null, humanKey(k)), h("dd", null, evidenceView(val, depth + 1)));
  }
  return dl;
}

/** "userIdentityType" → "user identity type". */
function humanKey(k: string): string {
  return k
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .replace(/[_-]/g, " ")
    .toLowerCase();
}

const EVENT_LABEL: Record<string, string> = {
  opened: "opened by the sensor",
  resolved: "resolved",
  reopened: "reopened (seen again)",
  acknowledged: "acknowledged",
  assigned: "assigned",
  "risk-accepted": "risk accepted",
  "risk-expired": "risk acceptance expired",
  reopen: "reopened by the team",
};

function eventDetail(e: FindingEvent): Child {
  let d: unknown = e.detail;
  if (typeof d === "string") {
    try {
      d = JSON.parse(d);
    } catch {
      return e.detail as string;
    }
  }
  if (d === null || typeof d !== "object") return null;
  const parts: Child[] = [];
  const rec = d as Record<string, unknown>;
  if (rec.reason === "not-seen") parts.push("not seen by the sensor for too long");
  else if (typeof rec.reason === "string") parts.push(h("q", null, rec.reason));
  if (typeof rec.assignee === "string") parts.push(`to ${rec.assignee}`);
  if (typeof rec.expires === "string") parts.push(`until ${date(rec.expires)}`);
  if (typeof rec.revision === "number") parts.push(h("span", { class: "muted" }, `revision ${rec.revision}`));
  return parts.length ? parts.flatMap((p, i) => (i ? [" · ", p] : [p])) : null;
}

function historyView(events: FindingEvent[]): HTMLElement {
  const sorted = [...events].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  if (sorted.length === 0) return h("p", { class: "muted" }, "No event recorded.");
  return h(
    "ol",
    { class: "timeline" },
    sorted.map((e) =>
      h(
        "li",
        { class: `ev-${e.kind}` },
        h("span", { class: "tl-when" }, timeEl(e.at)),
        h(
          "span",
          { class: "tl-what" },
          h("strong", null, EVENT_LABEL[e.kind] ?? e.kind),
          e.actor
            ? [" by ", h("span", { class: "actor" }, e.actor)]
            : h("span", { class: "muted" }, " (automatic)"),
        ),
        h("span", { class: "tl-detail" }, eventDetail(e)),
      ),
    ),
  );
}

/** YYYY-MM-DD of today + n days, local. */
function dayPlus(n: number): string {
  const d = new Date();
  d.setDate(d.getDate() + n);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function actionsView(
  f: FindingDetail,
  session: Session,
  onDone: (f: FindingDetail | null) => void,
): HTMLElement {
  if (session.role === "viewer") {
    return section(
      "Actions",
      h(
        "p",
        { class: "muted small", "data-testid": "read-only" },
        "Read-only: your role (viewer) cannot act on findings. Ask an analyst.",
      ),
    );
  }
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const busy = (on: boolean): void => {
    for (const b of box.querySelectorAll("button")) (b as HTMLButtonElement).disabled = on;
  };
  async function act(
    body: { action: string; assignee?: string; reason?: string; expires?: string },
    done: string,
  ): Promise<void> {
    busy(true);
    replace(status);
    try {
      const res = await api.act(f.pk, body);
      replace(status, done);
      status.className = "form-status ok";
      onDone(res && typeof res === "object" && "pk" in res ? res : null);
    } catch (err) {
      status.className = "form-status bad";
      replace(status, err instanceof ApiError ? err.message : String(err));
      busy(false);
    }
  }

  const resolved = f.lifecycle === "resolved";
  const ack = h(
    "button",
    {
      type: "button",
      class: "button primary",
      "data-action": "acknowledge",
      disabled: f.acknowledgedAt !== null && f.acknowledgedAt !== undefined,
      title: "Mark as seen: someone is on it",
    },
    f.acknowledgedAt ? "Acknowledged" : "Acknowledge",
  );
  ack.addEventListener("click", () => void act({ action: "acknowledge" }, "Acknowledged."));

  const assignee = h("input", {
    type: "text",
    name: "assignee",
    placeholder: "user or team",
    "aria-label": "Assignee",
    value: f.assignee ?? "",
    required: true,
    maxlength: 100,
    autocomplete: "off",
  });
  const assignForm = h(
    "form",
    { class: "inline-form" },
    h("label", null, "Assign to ", assignee),
    h("button", { type: "submit", class: "button" }, "Assign"),
  );
  assignForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = assignee.value.trim();
    if (v) void act({ action: "assign", assignee: v }, `Assigned to ${v}.`);
  });

  const reason = h("textarea", {
    name: "reason",
    rows: 2,
    required: true,
    maxlength: 1000,
    placeholder:
      "Why the risk is accepted (e.g. vendor cannot patch; compensating control: VLAN 40 isolated)",
    "aria-label": "Reason",
  });
  const expires = h("input", {
    type: "date",
    name: "expires",
    required: true,
    min: dayPlus(1),
    max: dayPlus(365),
    value: dayPlus(90),
    "aria-label": "Expires",
  });
  const riskForm = h(
    "form",
    { class: "risk-form" },
    h("label", { class: "block" }, "Reason", reason),
    h(
      "div",
      { class: "row" },
      h("label", null, "Expires ", expires),
      h("button", { type: "submit", class: "button warn" }, "Accept risk"),
    ),
    h("p", { class: "muted small" }, "At most one year. When it expires the finding counts as open again."),
  );
  riskForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!riskForm.reportValidity()) return;
    // End of the chosen day, local time, as an ISO instant.
    const end = new Date(`${expires.value}T23:59:59`);
    void act(
      { action: "accept-risk", reason: reason.value.trim(), expires: end.toISOString() },
      "Risk accepted.",
    );
  });

  const reopen = h(
    "button",
    {
      type: "button",
      class: "button",
      "data-action": "reopen",
      title: "Clear the acknowledgement, assignment and risk acceptance",
    },
    "Reopen",
  );
  reopen.addEventListener("click", () => void act({ action: "reopen" }, "Reopened."));
  const triaged = f.state !== "open" || f.assignee;

  const box = section(
    "Actions",
    resolved
      ? h(
          "p",
          { class: "muted small" },
          "The sensor no longer sees this finding; the team can still record its triage.",
        )
      : null,
    h("div", { class: "actions" }, ack, triaged ? reopen : null),
    assignForm,
    f.riskAcceptance
      ? h(
          "p",
          { class: "small" },
          "Risk accepted until ",
          h("strong", null, date(f.riskAcceptance.expires)),
          "; accepting again replaces it.",
        )
      : null,
    riskForm,
    status,
  );
  return box;
}

export function findingPage(root: HTMLElement, pk: string, session: Session): () => void {
  const controller = new AbortController();
  replace(root, pageHeader("Finding"), loading());

  function render(f: FindingDetail): void {
    const ra = f.riskAcceptance;
    replace(
      root,
      h(
        "nav",
        { class: "crumbs" },
        h("a", { href: "#/findings" }, "Findings"),
        " / ",
        h("span", { class: "mono" }, f.id),
      ),
      pageHeader(h("span", null, severityBadge(f.severity), " ", f.title), stateBadge(f.state)),
      h(
        "div",
        { class: "cols-main-side" },
        h(
          "div",
          null,
          section(
            "Remediation",
            WHY[f.rule] !== undefined &&
              h("p", { class: "why" }, h("strong", null, "Why it matters: "), WHY[f.rule]),
            h(
              "p",
              { class: "remediation" },
              f.remediation ?? "The sensor gave no remediation for this finding.",
            ),
            h(
              "p",
              { class: "muted small" },
              "Points to: ",
              h("a", { href: href("/findings", { step: f.step, state: "open" }) }, stepLabel(f.step)),
            ),
          ),
          section("Evidence", evidenceView(f.evidence)),
        ),
        h(
          "div",
          null,
          section(
            "Details",
            fields([
              [
                "Rule",
                h("a", { class: "mono", href: href("/findings", { rule: f.rule, state: "any" }) }, f.rule),
              ],
              ["Severity", severityBadge(f.severity)],
              [
                "State",
                [
                  stateBadge(f.state),
                  f.lifecycle === "resolved"
                    ? null
                    : h("span", { class: "muted small" }, " (the sensor still sees it)"),
                ],
              ],
              [
                "Device",
                f.device
                  ? f.devicePk !== null && f.devicePk !== undefined
                    ? h("a", { href: href(`/devices/${f.devicePk}`), class: "mono" }, deviceLabel(f.device))
                    : h("span", { class: "mono" }, deviceLabel(f.device))
                  : null,
              ],
              ["Peer", f.peer ? h("span", { class: "mono" }, deviceLabel(f.peer)) : null],
              ["Sensor", `${f.site} / ${f.sensor}`],
              ["First seen", timeEl(f.firstSeen)],
              ["Last seen", [timeEl(f.lastSeen), h("span", { class: "muted" }, ` (${age(f.lastSeen)})`)]],
              ["Count", num(f.count)],
              ["Acknowledged", f.acknowledgedBy ? [f.acknowledgedBy, " · ", timeEl(f.acknowledgedAt)] : null],
              ["Assignee", f.assignee],
              [
                "Risk accepted",
                ra
                  ? h(
                      "div",
                      null,
                      `by ${ra.by} until `,
                      h("strong", null, date(ra.expires)),
                      h("div", { class: "small" }, h("q", null, ra.reason)),
                    )
                  : null,
              ],
              ["Finding id", h("span", { class: "mono small" }, f.id)],
            ]),
          ),
          actionsView(f, session, (updated) => {
            if (updated && Array.isArray(updated.history)) render(updated);
            else void reload();
          }),
          section("History", historyView(f.history ?? [])),
        ),
      ),
    );
    document.title = `${f.title} · dicomtap central`;
  }

  async function reload(): Promise<void> {
    try {
      const f = await api.finding(pk, controller.signal);
      if (!controller.signal.aborted) render(f);
    } catch (err) {
      if (controller.signal.aborted) return;
      replace(
        root,
        h("nav", { class: "crumbs" }, h("a", { href: "#/findings" }, "Findings")),
        pageHeader("Finding"),
        errorBox(err),
      );
    }
  }
  void reload();
  return () => controller.abort();
}
