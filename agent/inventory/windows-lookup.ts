/**
 * The Windows table (data/windows-builds.json through hosts/windows.ts) as os.ts asks it: the product of
 * an NT version and build as a client or a server edition, with its end of support and wormable CVEs.
 *
 * End of support is read conservatively, so that a device is called unsupported only when it is whatever
 * edition it runs: the latest of the release's ordinary end, its Enterprise/Education end, its paid
 * Extended Security Updates, its long-term (LTSB/LTSC, Embedded, POSReady) editions, and of the releases
 * that share its build by an enablement package (a Windows 10 22H2 host may announce 19041, the build of
 * 2004). The note says which date is which, for the finding's evidence.
 */
import {
  productName,
  windowsRelease,
  windowsTable,
  wormableVulnerability,
  type WindowsKind,
  type WindowsProduct as TableProduct,
} from "../hosts/windows.js";
import type { WindowsLookup, WindowsProduct, WormableCve } from "./os.js";

/** Every end-of-support date of a product, labelled. */
function ends(p: TableProduct): { label: string; date: string }[] {
  const out = [{ label: productName(p), date: p.endOfSupport }];
  if (p.enterpriseEndOfSupport)
    out.push({ label: `${productName(p)} Enterprise/Education`, date: p.enterpriseEndOfSupport });
  if (p.extendedSecurityUpdatesEnd)
    out.push({
      label: `${productName(p)} with Extended Security Updates`,
      date: p.extendedSecurityUpdatesEnd,
    });
  for (const e of p.longTermEditions) out.push({ label: e.name, date: e.endOfSupport });
  return out;
}

function cvesOf(p: TableProduct): WormableCve[] {
  const out: WormableCve[] = [];
  for (const id of p.wormable) {
    const v = wormableVulnerability(id);
    if (v) out.push({ id: v.id, name: v.name, condition: v.condition, source: v.source, cves: v.cves });
  }
  return out;
}

function answer(
  p: TableProduct,
  servicePack: string | null,
  sameBase: readonly TableProduct[],
): WindowsProduct {
  const all = [p, ...sameBase.filter((s) => s.kind === p.kind && s !== p)];
  const dates = all.flatMap(ends).sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  const latest = dates[dates.length - 1]!;
  const later = sameBase.filter((s) => s.kind === p.kind && s !== p).map((s) => s.release ?? s.name);
  return {
    name:
      productName(p) +
      (servicePack ? ` ${servicePack}` : "") +
      (later.length > 0 ? ` (or ${later.join(", ")} on the same build)` : ""),
    endOfSupport: latest.date,
    supportNote: dates.map((d) => `${d.label}: ${d.date}`).join("; "),
    cves: cvesOf(p),
  };
}

export const windowsLookup: WindowsLookup = {
  product(major, minor, build, server) {
    const kind: WindowsKind = server ? "server" : "client";
    if (build !== null) {
      const r = windowsRelease(major, minor, build);
      const p = r?.[kind] ?? null;
      return p === null ? null : answer(p, r!.servicePack, r!.sameBase);
    }
    // A version without a build (a browser announcement, a user agent): only where it names one product.
    const rows = windowsTable().releases.filter(
      (r) => r.kind === kind && r.major === major && r.minor === minor,
    );
    return rows.length === 1 ? answer(rows[0]!, null, []) : null;
  },
};
