/**
 * The plan's firewall as an nftables ruleset (nft(8)): one complete `table inet dicomtap`, IPv4 and IPv6,
 * that `nft -f` loads atomically and `nft -c -f` checks. The rules are firewall.ts's list, in its order; its
 * header comment says what is dropped and what is left accepted, and why.
 *
 * Two chains jump to one `decide` chain: `input` for rules loaded on the server itself, `forward` for a
 * firewall in front of the servers; the one that does not apply sees no matching traffic. Both have policy
 * accept: the table only drops what the plan names.
 *
 * Nothing from the wire reaches a rule: addresses and ports are validated before they are written (a plan
 * file is checked by validate.ts, but the renderer does not rely on it), and AE titles and reasons appear
 * only in `#` comments, reduced to a safe alphabet so no newline, quote, brace or semicolon can end the
 * comment and start a rule.
 */
import { isIP } from "node:net";
import { parseCidr } from "../config/cidr.js";
import { family, firewallModel } from "./firewall.js";
import type { Plan } from "./types.js";

/** Text for a `#` comment: printable ASCII of a safe alphabet, everything else as \xNN (never a newline). */
export function nftCommentText(s: string): string {
  let out = "";
  for (const ch of s) {
    if (/^[A-Za-z0-9 _.:/()+,=@*>-]$/.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out.slice(0, 400);
}

/** An address as nft reads it; throws on anything else (the caller's plan was not validated). */
function addr(ip: string): string {
  if (isIP(ip) === 0) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
  return ip;
}

function cidr(c: string): string {
  const p = parseCidr(c);
  if (typeof p === "string") throw new Error(`${JSON.stringify(c)} ${p}`);
  return p.prefix === (p.family === 4 ? 32 : 128) ? p.address : `${p.address}/${p.prefix}`;
}

function port(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`not a port: ${n}`);
  return String(n);
}

interface Element {
  text: string;
  comment: string | null;
}

function set(name: string, type: string, elements: Element[], interval = false): string[] {
  const lines = [`\tset ${name} {`, `\t\ttype ${type}`];
  if (interval) lines.push("\t\tflags interval", "\t\tauto-merge");
  if (elements.length > 0) {
    lines.push("\t\telements = {");
    for (const e of elements)
      lines.push(`\t\t\t${e.text},${e.comment !== null ? ` # ${nftCommentText(e.comment)}` : ""}`);
    lines.push("\t\t}");
  }
  lines.push("\t}");
  return lines;
}

export function renderNft(plan: Plan): string {
  const m = firewallModel(plan);
  const aeLabel = (ae: string | null): string => ae ?? "(TLS: AE title not seen)";
  // The AE titles and operations behind each allowed triple, for its comment.
  const allowNote = new Map<string, string[]>();
  for (const s of plan.allowlists)
    for (const p of s.peers) {
      const k = `${p.ip} ${s.ip} ${s.port}`;
      const list = allowNote.get(k) ?? [];
      list.push(
        `${aeLabel(p.aeTitle)} -> ${aeLabel(s.aeTitle)} (${p.operations.join(", ") || "association only"})`,
      );
      allowNote.set(k, list);
    }
  const closeNote = new Map(plan.portsToClose.map((c) => [`${c.ip} ${c.port}`, c.reason]));
  const serviceNote = new Map<string, string[]>();
  for (const s of plan.allowlists) {
    const k = `${s.ip} ${s.port}`;
    serviceNote.set(k, [...(serviceNote.get(k) ?? []), aeLabel(s.aeTitle)]);
  }

  const out: string[] = [
    "#!/usr/sbin/nft -f",
    // A site's plan in the central console is made of several sensors' baselines: no one sensor to name.
    `# dicomtap plan: site ${nftCommentText(plan.site ?? "-")}${plan.sensor !== null ? `, sensor ${nftCommentText(plan.sensor)}` : ""}, generated ${nftCommentText(plan.generatedAt)}`,
    `# baseline window ${nftCommentText(plan.source.window.start ?? "-")} .. ${nftCommentText(plan.source.window.end ?? "-")} (${plan.source.baselineStatus})`,
    "#",
    "# Review before loading; check the plan against recent captures first (dicomtap plan --check).",
    "# Load on the DICOM server itself (chain input) or on a Linux firewall in front of it (chain forward):",
    "#   nft -c -f FILE   (check)      nft -f FILE   (load, atomically; loading again replaces the table)",
    "# Remove with: nft delete table inet dicomtap",
    "#",
    "# New TCP connections, first match wins:",
    "#   established and related traffic: accepted (only new connections are judged)",
    "#   plan exceptions (config plan.exceptions): accepted",
    "#   step 1: sources outside the internal networks to an internal server: dropped",
    "#   step 2: ports to close: dropped",
    "#   steps 3-4: allowlisted peers to their DICOM service port: accepted; any other source: dropped",
    "#   everything else: accepted, so flows the baseline did not see are not broken",
    "# UDP and ICMP are not judged: the baseline is made of TCP connections.",
    "",
    "table inet dicomtap",
    "delete table inet dicomtap",
    "",
    "table inet dicomtap {",
  ];
  out.push(
    ...set(
      "internal_v4",
      "ipv4_addr",
      m.internal.v4.map((c) => ({ text: cidr(c), comment: null })),
      true,
    ),
    ...set(
      "internal_v6",
      "ipv6_addr",
      m.internal.v6.map((c) => ({ text: cidr(c), comment: null })),
      true,
    ),
  );
  for (const v of ["v4", "v6"] as const) {
    const t = v === "v4" ? "ipv4_addr" : "ipv6_addr";
    out.push(
      ...set(
        `protect_${v}`,
        t,
        m.protect[v].map((ip) => ({ text: addr(ip), comment: null })),
      ),
      ...set(
        `closed_${v}`,
        `${t} . inet_service`,
        m.closed[v].map(([ip, p]) => ({
          text: `${addr(ip)} . ${port(p)}`,
          comment: closeNote.get(`${ip} ${p}`) ?? null,
        })),
      ),
      ...set(
        `allow_${v}`,
        `${t} . ${t} . inet_service`,
        m.allow[v].map(([src, dst, p]) => ({
          text: `${addr(src)} . ${addr(dst)} . ${port(p)}`,
          comment: (allowNote.get(`${src} ${dst} ${p}`) ?? []).join(" / ") || null,
        })),
      ),
      ...set(
        `service_${v}`,
        `${t} . inet_service`,
        m.services[v].map(([ip, p]) => ({
          text: `${addr(ip)} . ${port(p)}`,
          comment: (serviceNote.get(`${ip} ${p}`) ?? []).join(", ") || null,
        })),
      ),
    );
  }

  out.push("", "\tchain decide {", "\t\tct state established,related accept");
  for (const e of m.exceptions) {
    const c = cidr(e.peer);
    const v = family(e.server);
    if (family(c.split("/")[0]!) !== v) {
      out.push(
        `\t\t# exception skipped: peer ${nftCommentText(e.peer)} and server ${nftCommentText(e.server)} are of different address families`,
      );
      continue;
    }
    const ipk = v === 4 ? "ip" : "ip6";
    out.push(`\t\t# exception: ${nftCommentText(e.reason)}`);
    out.push(
      `\t\tmeta l4proto tcp ${ipk} saddr ${c} ${ipk} daddr ${addr(e.server)}${e.port !== null ? ` tcp dport ${port(e.port)}` : ""} accept`,
    );
  }
  out.push(
    "\t\tmeta l4proto tcp ip daddr @protect_v4 ip saddr != @internal_v4 drop",
    "\t\tmeta l4proto tcp ip6 daddr @protect_v6 ip6 saddr != @internal_v6 drop",
    "\t\tip daddr . tcp dport @closed_v4 drop",
    "\t\tip6 daddr . tcp dport @closed_v6 drop",
    "\t\tip saddr . ip daddr . tcp dport @allow_v4 accept",
    "\t\tip6 saddr . ip6 daddr . tcp dport @allow_v6 accept",
    "\t\tip daddr . tcp dport @service_v4 drop",
    "\t\tip6 daddr . tcp dport @service_v6 drop",
    "\t}",
    "",
    "\tchain input {",
    "\t\ttype filter hook input priority filter; policy accept;",
    "\t\tjump decide",
    "\t}",
    "",
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter; policy accept;",
    "\t\tjump decide",
    "\t}",
    "}",
    "",
  );
  return out.join("\n");
}
