/**
 * The plan for people (issue 13): the five steps in Markdown, each saying what to do and why, for a
 * hospital security team and the biomedical engineers who apply it. The central console's plan page renders
 * this too. Strings from the wire (AE titles) are written as inline code with backticks and pipes escaped,
 * so a hostile AE title cannot start a table cell, a link or HTML.
 */
import type { Plan } from "./types.js";

/** Inline code that holds any text: control characters shown as \xNN, pipes escaped for tables. */
export function code(s: string | null): string {
  if (s === null) return "—";
  const clean = s.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  const ticks = clean.match(/`+/g)?.reduce((m, t) => Math.max(m, t.length), 0) ?? 0;
  const fence = "`".repeat(ticks + 1);
  const pad = clean.startsWith("`") || clean.endsWith("`") || clean === "" ? " " : "";
  return `${fence}${pad}${clean}${pad}${fence}`.replace(/\|/g, "\\|");
}

function when(first: string, last: string): string {
  const d = (s: string): string => s.replace("T", " ").replace(/\.\d+Z$/, "Z");
  return first === last ? d(first) : `${d(first)} – ${d(last)}`;
}

export function renderMarkdown(plan: Plan): string {
  const o: string[] = [];
  const site = plan.site ?? "this site";
  o.push(`# DICOM network plan: ${code(site)}`, "");
  o.push(
    `Made by dicomtap from ${plan.source.kind === "store" ? (plan.sensor === null ? "the sensors' baselines" : "the sensor's store") : "captured traffic"}` +
      (plan.source.files.length > 0 ? ` (${plan.source.files.map((f) => code(f)).join(", ")})` : "") +
      `, baseline ${plan.source.baselineStatus}, window ${plan.source.window.start ?? "—"} to ${plan.source.window.end ?? "—"}; generated ${plan.generatedAt}.`,
    "",
    `Internal networks: ${plan.internal.map((c) => code(c)).join(", ")}.`,
    "",
    "Everything below comes from traffic the sensors saw. A flow that did not happen in the window is not in it: " +
      "review each step, then run `dicomtap plan --check PLAN.json` on recent captures before applying " +
      "anything — it lists every connection and association the plan would block.",
    "",
  );
  if (plan.truncated.services + plan.truncated.peers + plan.truncated.devices > 0)
    o.push(
      `> **Incomplete baseline**: its limits turned away ${plan.truncated.services} service(s), ${plan.truncated.peers} peer(s) and ${plan.truncated.devices} device(s); the plan does not cover them.`,
      "",
    );

  // Step 1
  o.push("## 1. Block access from outside the internal networks", "");
  o.push(
    "DICOM has no authentication of its own: a server reachable from outside can be queried, fed or scanned by anyone who reaches it. " +
      "The firewall rules drop connections from sources outside the internal networks to every internal server below, " +
      "except the listed exceptions.",
    "",
  );
  if (plan.exposure.exposed.length === 0)
    o.push("No internal server was reached from outside in the window.", "");
  else {
    o.push(
      "| server | port | called AE | outside peer | calling AE | associations | seen | after the plan |",
      "|---|---|---|---|---|---|---|---|",
    );
    for (const e of plan.exposure.exposed)
      for (const p of e.peers)
        o.push(
          `| ${e.ip} | ${e.port} | ${e.aeTitles.map(code).join(", ") || "—"} | ${p.ip} | ${p.aeTitles.map(code).join(", ") || "—"} | ${p.associations} | ${when(p.firstSeen, p.lastSeen)} | ${p.excepted ? "allowed (exception)" : "**blocked**"} |`,
        );
    o.push("");
  }
  o.push(`Servers closed to outside sources: ${plan.exposure.protect.join(", ") || "none"}.`, "");
  if (plan.exceptions.length > 0) {
    o.push("Exceptions (config `plan.exceptions`):", "");
    for (const e of plan.exceptions)
      o.push(
        `- ${code(e.peer)} to ${e.server}${e.port !== null ? ` port ${e.port}` : " (every port)"}: ${code(e.reason)}`,
      );
    o.push("");
  }
  o.push(
    "An outside partner that needs access (teleradiology, a vendor's remote service) should come through a VPN; if it cannot, list it in `plan.exceptions` with the reason.",
    "",
  );

  // Step 2
  o.push("## 2. Close ports that are not used", "");
  o.push(
    "Every open port is something to attack. A port that only ever answered handshakes (scans, health checks) serves nobody; " +
      "104 and the other well-known DICOM ports on a device that serves DICOM elsewhere are left over from defaults; " +
      "a port the vendor does not document should be explained or closed. Close them on the device if you can; the firewall rules drop them meanwhile.",
    "",
  );
  if (plan.portsToClose.length === 0) o.push("No port to close.", "");
  else {
    o.push("| device | port | why |", "|---|---|---|");
    for (const c of plan.portsToClose) o.push(`| ${c.ip} | ${c.port} | ${c.reason}: ${c.detail} |`);
    o.push("");
  }

  // Steps 3 and 4
  o.push("## 3 and 4. Allow only the peers, AE titles and operations each DICOM service needs", "");
  o.push(
    "Most archives accept any calling AE title from any address. Configure each service to accept only the peers below " +
      "(address and calling AE title) and only the operations each used — who may store, who may query, who may retrieve and to where. " +
      "The firewall rules allow these addresses to the service port and drop every other source; the archive outputs " +
      "(`--orthanc`, `--dcmqrscp`) and the CSV (`--csv`) carry the AE titles and operations.",
    "",
  );
  if (plan.allowlists.length === 0) o.push("No DICOM service was learned.", "");
  for (const s of plan.allowlists) {
    o.push(
      `### ${s.ip} port ${s.port}, called AE ${s.aeTitle === null ? "unknown (DICOM TLS)" : code(s.aeTitle)}${s.product !== null ? ` (looks like ${s.product === "orthanc" ? "Orthanc" : "DCMTK"})` : ""}`,
      "",
    );
    o.push("| peer | calling AE | may | associations | seen |", "|---|---|---|---|---|");
    for (const p of s.peers) {
      const ops = p.operations
        .map((op) =>
          op === "C-MOVE" && p.moveDestinations.length > 0
            ? `C-MOVE to ${p.moveDestinations.map(code).join(", ")}`
            : op,
        )
        .join(", ");
      o.push(
        `| ${p.ip}${p.internal ? "" : " (outside)"} | ${code(p.aeTitle)} | ${ops || "associate only (nothing else seen)"} | ${p.associations} | ${when(p.firstSeen, p.lastSeen)} |`,
      );
    }
    const roles = (label: string, pred: (ops: readonly string[]) => boolean): string | null => {
      const who = s.peers.filter((p) => pred(p.operations)).map((p) => `${p.ip} ${code(p.aeTitle)}`);
      return who.length > 0 ? `${label}: ${who.join(", ")}` : null;
    };
    const r = [
      roles("store", (ops) => ops.includes("C-STORE")),
      roles("query", (ops) => ops.includes("C-FIND") || ops.includes("worklist")),
      roles("retrieve", (ops) => ops.includes("C-MOVE") || ops.includes("C-GET")),
    ].filter((x): x is string => x !== null);
    if (r.length > 1) o.push("", `Roles: ${r.join("; ")}.`);
    o.push("");
  }

  // Step 5
  o.push("## 5. Encrypt: move to DICOM TLS or a VPN", "");
  o.push(
    "DICOM in clear carries patient data and, where used, user names and passwords that anyone on the path can read. " +
      "Move these associations to DICOM TLS (PS3.15 Annex B; port 2762) or, where the device cannot, into a VPN — most urgent first: " +
      "peers outside the internal networks, then credentials in clear, then volume.",
    "",
  );
  if (plan.encryption.cleartext.length === 0) o.push("No cleartext association was seen.", "");
  else {
    o.push("| rank | peer | calling AE | server | port | called AE | why |", "|---|---|---|---|---|---|---|");
    for (const c of plan.encryption.cleartext)
      o.push(
        `| ${c.rank} | ${c.peer} | ${code(c.peerAeTitle)} | ${c.server} | ${c.port} | ${code(c.aeTitle)} | ${c.why} |`,
      );
    o.push("");
  }
  if (plan.encryption.tls.length > 0) {
    o.push("Already speaking DICOM TLS (the site can do it):", "");
    for (const t of plan.encryption.tls) o.push(`- ${t.ip} port ${t.port}: ${t.peers.join(", ")}`);
    o.push("");
  } else o.push("No DICOM TLS was seen in the window.", "");

  o.push("## Applying", "");
  o.push(
    "1. Review each step with the device owners; add exceptions to the config and make the plan again.",
    "2. `dicomtap plan --check PLAN.json CAPTURE...` on recent captures: nothing clinical should be listed as blocked.",
    "3. Load the nftables rules (`--nft`) with `nft -c -f` then `nft -f`, on the server or on the firewall in front of it; configure the archives (`--orthanc`, `--dcmqrscp`).",
    "4. Keep the sensor running: a new peer or operation after the change is a `baseline.*` finding.",
    "",
  );
  return o.join("\n");
}
