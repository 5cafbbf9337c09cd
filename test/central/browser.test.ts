/**
 * The central console in a real browser (issue 12): Debian's chromium, driven headless by playwright-core
 * (nothing downloaded: the system browser), against the real HTTP server over a real store that holds
 * three sensors' records as the ingest writes them (helpers.ts startCentral: samples/imaging-room.pcap
 * analysed now, and the lab's query/retrieve and store captures; the last sensor offline).
 *
 * An analyst logs in, finds a device by its AE title, sees its drift, opens one of its findings,
 * acknowledges it (the store records who), exports the inventory as CSV (the downloaded file is read) and
 * logs out (the session is gone). An analyst opens a site's plan, sees its five steps and downloads its
 * nftables file. A viewer sees no action on a finding, and the API refuses the action it
 * could forge (403, nothing changes). An admin creates an API token, sees it once, and revokes it. Every
 * page must load without a Content-Security-Policy violation or a script error.
 *
 * Screenshots of the main pages at 1366x768 (a laptop) go to artifacts/screenshots/, the CI artefacts the
 * README names. It needs `npm run build` (dist/web is the compiled app) and Debian's chromium at
 * /usr/bin/chromium (CHROMIUM=path to use another): without the browser the tests are skipped under a title
 * that says so, and fail in CI (test/helpers/requires.ts).
 */
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { loadReport } from "../../agent/central/store.js";
import type { DeviceRecord } from "../../agent/report/types.js";
import { PASSWORD, startCentral, type Central } from "./helpers.js";
import { analyzeCapture } from "./seed.js";
import { requires } from "../helpers/requires.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const test = requires(`file:${CHROMIUM}`);
const SHOTS = "artifacts/screenshots";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let central: Central;
let browser: Browser;
const ARCHIVE = "mac-daaa73ebfd57-10.77.0.20";

test.before(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  if (!existsSync("dist/web/main.js"))
    throw new Error("dist/web/main.js is missing: run npm run build first");
  central = await startCentral({ webRoots: ["web/static", "dist/web"] });
  // Drift: the imaging room's sensor publishes a second revision of its archive with a new AE title and a
  // new listening port, as when someone adds a DICOM TLS service to it.
  const archive = analyzeCapture("samples/imaging-room.pcap").devices.find((d) => d.id === ARCHIVE)!;
  const changed: DeviceRecord = {
    ...archive,
    aeTitles: [...archive.aeTitles, "ARCHIVE_TLS"],
    listeningPorts: [...archive.listeningPorts, 2762],
  };
  loadReport(
    central.store,
    { devices: [changed], findings: [] },
    { site: "st-marys", sensor: "ct-room-1", revision: 2, version: null },
  );
  mkdirSync(SHOTS, { recursive: true });
  // One browser (playwright gives it a fresh temporary profile, removed at close); each test gets its own
  // context, so no cookie passes from one user to the next.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});

test.after.always(async () => {
  await browser?.close();
  await central?.close();
});

/** A fresh browser context (a laptop's screen); `problems` collects script errors and CSP violations. */
async function browse(): Promise<{
  ctx: BrowserContext;
  page: Page;
  problems: string[];
  close: () => Promise<void>;
}> {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    // The app asks GET /api/v1/session first; before login that is the expected 401.
    if (m.type() === "error" && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return {
    ctx,
    page,
    problems,
    close: () => ctx.close(),
  };
}

/** Logs in as the user of that role (helpers.ts makes one user per role, named after it). */
async function logIn(page: Page, role: keyof typeof PASSWORD): Promise<void> {
  await page.goto(`${central.base}/`);
  await page.locator("#login-name").waitFor();
  await page.fill("#login-name", role);
  await page.fill("#login-password", PASSWORD[role]);
  await page.press("#login-password", "Enter");
  await page.locator(".kpis").waitFor();
}

/** Waits until the list shows `n` rows (a search answered); the CSP forbids waitForFunction's eval. */
async function rows(page: Page, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await page.locator("table.grid tbody tr").count()) !== n) {
    if (Date.now() > deadline) throw new Error(`the list never showed ${n} rows`);
    await page.waitForTimeout(50);
  }
}

/** A section link of the top bar. */
function nav(page: Page, name: string) {
  return page.locator("nav.nav a", { hasText: name });
}

/** The pk of the imaging room's finding of `rule` on the device `id`. */
function findingPk(rule: string, id: string): number {
  const row = central.db
    .prepare(
      `SELECT f.pk FROM findings f JOIN sensors s ON s.pk = f.sensor_pk
       WHERE s.sensor = 'ct-room-1' AND f.rule = ? AND f.device_id = ?`,
    )
    .get(rule, id) as { pk: number };
  return row.pk;
}

function count(sql: string): number {
  return (central.db.prepare(sql).get() as { n: number }).n;
}

test.serial(
  "an analyst finds a device by AE title, acknowledges its finding, exports the inventory, logs out",
  async (t) => {
    const { page, problems, close } = await browse();
    try {
      await page.goto(`${central.base}/`);
      await page.locator("#login-name").waitFor();
      await page.screenshot({ path: `${SHOTS}/login.png` });

      // A wrong password is refused and said so.
      await page.fill("#login-name", "analyst");
      await page.fill("#login-password", "not the password at all");
      await page.press("#login-password", "Enter");
      await page.getByText("Wrong user name or password.").waitFor();

      await logIn(page, "analyst");
      t.is(await page.locator(".user-name").textContent(), "analyst");
      const open = count(
        "SELECT COUNT(*) AS n FROM findings WHERE lifecycle = 'open' AND acknowledged_at IS NULL",
      );
      t.is(await page.locator(".kpi-value").first().textContent(), String(open), "the open findings");
      t.is(await page.locator("table.grid tbody tr").count(), 3, "three sensors");
      await page.waitForTimeout(200);
      await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });
      // The findings chart's last day label is today, the UTC day of its last bar (the axis's end, tomorrow,
      // was labelled before).
      const dayLabels = (
        await page.locator(".panel", { hasText: "Findings over time" }).locator("text.axis").allTextContents()
      ).filter((l) => l.includes("/"));
      const today = new Date();
      t.is(dayLabels.at(0), `${today.getUTCMonth() + 1}/${today.getUTCDate()}`, dayLabels.join(" "));

      // Devices: the whole inventory, then `/` focuses the search and an AE title finds the device; two
      // sensors saw it (the imaging room and the lab's query/retrieve capture).
      await nav(page, "Devices").click();
      await rows(page, count("SELECT COUNT(*) AS n FROM devices"));
      await page.screenshot({ path: `${SHOTS}/devices.png` });
      await page.locator("body").press("/");
      t.true(await page.evaluate("document.activeElement?.matches('input[data-search]') === true"));
      await page.keyboard.type("ORTHANC");
      await rows(page, 2);
      t.regex(page.url(), /#\/devices\?q=ORTHANC$/, "the search is in the address");
      const row = page.locator("table.grid tbody tr", { hasText: "ct-room-1" });
      t.regex((await row.textContent()) ?? "", /10\.77\.0\.20.*ORTHANC/);

      // The row's link is reached with the keyboard and opened with Enter.
      await row.locator("a.row-link").focus();
      await page.keyboard.press("Enter");
      await page.locator("h2", { hasText: "Identity" }).waitFor();
      t.regex((await page.locator(".page-head h1").textContent()) ?? "", /10\.77\.0\.20.*ORTHANC/);
      // Its drift: the second revision's new AE title and port.
      const history = (await page.locator("section.panel", { hasText: "History" }).textContent()) ?? "";
      t.regex(history, /aeTitles\s*added\s*ARCHIVE_TLS/);
      t.regex(history, /listeningPorts\s*added\s*2762/);
      await page.waitForTimeout(100);
      await page.screenshot({ path: `${SHOTS}/device.png`, fullPage: true });

      // Its finding: the passcode sent in clear.
      await page.getByRole("link", { name: /user identity passcode was sent in clear/ }).click();
      await page.locator("h2", { hasText: "Evidence" }).waitFor();
      const pk = findingPk("dicom.cleartext-credentials", ARCHIVE);
      t.true(page.url().endsWith(`#/findings/${pk}`));
      t.is(await page.locator(".page-head .state").textContent(), "open");
      // Why it matters, beside what to do.
      t.regex((await page.locator("p.why").textContent()) ?? "", /Why it matters: .*reused/);
      await page.screenshot({ path: `${SHOTS}/finding.png`, fullPage: true });

      await page.locator("button[data-action=acknowledge]").click();
      await page.locator(".page-head .state-acknowledged").waitFor();
      t.regex((await page.locator(".timeline").textContent()) ?? "", /acknowledged by analyst/);
      const stored = central.db
        .prepare("SELECT acknowledged_by, acknowledged_at FROM findings WHERE pk = ?")
        .get(pk) as {
        acknowledged_by: string | null;
        acknowledged_at: string | null;
      };
      t.is(stored.acknowledged_by, "analyst");
      t.truthy(stored.acknowledged_at);

      // Assign it, then accept the risk with a reason (the expiry the form proposes: 90 days).
      await page.fill("input[name=assignee]", "pacs-team");
      await page.locator("button", { hasText: "Assign" }).click();
      await page.locator(".timeline", { hasText: "assigned" }).waitFor();
      await page.fill(
        "textarea[name=reason]",
        "Vendor update booked; the archive VLAN is isolated meanwhile",
      );
      await page.locator("button", { hasText: "Accept risk" }).click();
      await page.locator(".page-head .state-risk-accepted").waitFor();
      const risk = central.db
        .prepare("SELECT assignee, risk_accepted_by, risk_reason, risk_expires FROM findings WHERE pk = ?")
        .get(pk) as { assignee: string; risk_accepted_by: string; risk_reason: string; risk_expires: string };
      t.is(risk.assignee, "pacs-team");
      t.is(risk.risk_accepted_by, "analyst");
      t.regex(risk.risk_reason, /^Vendor update booked/);
      const days = (new Date(risk.risk_expires).getTime() - Date.now()) / 86400e3;
      t.true(days > 88 && days < 92, `expires in ${days} days`);
      await page.screenshot({ path: `${SHOTS}/finding-triaged.png`, fullPage: true });

      // The findings list: open by default, so the acknowledged one has left it.
      await nav(page, "Findings").click();
      await rows(page, open - 1);
      await page.screenshot({ path: `${SHOTS}/findings.png` });

      // Export the inventory as CSV from the devices page and read the file.
      await nav(page, "Devices").click();
      await page.locator("table.grid tbody tr").first().waitFor();
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.locator(".exports a", { hasText: "CSV" }).click(),
      ]);
      t.regex(download.suggestedFilename(), /^dicomtap-devices-.*\.csv$/);
      const csv = readFileSync((await download.path())!, "utf8");
      const lines = csv.trim().split(/\r\n/);
      t.is(lines.length, 1 + count("SELECT COUNT(*) AS n FROM devices"), "a header and every device");
      t.regex(lines[0]!, /^pk,site,sensor,id,ip,mac,class/);
      t.true(
        lines.some((l) => l.includes("ct-room-1") && l.includes("10.77.0.20") && l.includes("ARCHIVE_TLS")),
      );

      // Log out: back to the login page, and the session is gone on the server.
      await page.locator("#logout").click();
      await page.locator("#login-name").waitFor();
      t.is(await page.evaluate(async () => (await fetch("/api/v1/session")).status), 401);
      t.deepEqual(problems, []);
    } finally {
      await close();
    }
  },
);

test.serial(
  "an analyst opens a site's plan: the baseline and its sensors, the five steps with counts, the nftables file downloaded",
  async (t) => {
    const { page, problems, close } = await browse();
    try {
      await logIn(page, "analyst");
      // Two sites: the Plan section lists them first.
      await nav(page, "Plan").click();
      await page.locator("h2", { hasText: "Sites" }).waitFor();
      t.deepEqual(await page.locator("table.grid tbody tr td:first-child").allTextContents(), [
        "county",
        "st-marys",
      ]);
      await page.getByRole("link", { name: "st-marys" }).click();
      await page.locator("h2", { hasText: "Baseline" }).waitFor();
      t.regex(page.url(), /#\/plan\/st-marys$/);
      const baseline = (await page.locator("section.panel", { hasText: "Baseline" }).textContent()) ?? "";
      t.regex(baseline, /Status\s*learning/, "one sensor still learns: the site's plan is provisional");
      t.regex(baseline, /2 of 2 contributed/);
      t.regex(baseline, /ct-room-1\s*learning/);
      t.regex(baseline, /lab-qr\s*learned/);
      // The five steps, numbered, each with its counts, as the API's plan has them.
      const plan = (await (await page.request.get(`${central.base}/api/v1/sites/st-marys/plan`)).json()) as {
        allowlists: Array<{ peers: unknown[] }>;
        portsToClose: unknown[];
        encryption: { cleartext: unknown[] };
        exposure: { exposed: unknown[] };
      };
      const titles = await page.locator("section.panel > h2 .step-title").allTextContents();
      t.is(titles.length, 4, titles.join(" | "));
      t.regex(
        titles[0]!,
        new RegExp(`^1Firewall external access${plan.exposure.exposed.length} exposed port`),
      );
      t.regex(titles[1]!, new RegExp(`^2Close unneeded ports${plan.portsToClose.length} port`));
      const peers = plan.allowlists.reduce((n, s) => n + s.peers.length, 0);
      t.regex(
        titles[2]!,
        new RegExp(`^3–4Allowlists.*${plan.allowlists.length} services${peers} allowed peers`),
      );
      t.regex(
        titles[3]!,
        new RegExp(`^5DICOM over TLS or a VPN${plan.encryption.cleartext.length} cleartext flow`),
      );
      // Per service: its peers with their AE titles and operations.
      const orthanc = page.locator(".service", { hasText: "10.77.0.20:4242" });
      t.regex((await orthanc.textContent()) ?? "", /ORTHANC.*10\.77\.0\.10.*MODALITY1.*C-STORE.*C-MOVE/);
      // The firewall rules, shown on demand (as text).
      await page.locator("details.rules summary").click();
      await page.locator("pre.nft", { hasText: "table inet dicomtap {" }).waitFor();
      await page.screenshot({ path: `${SHOTS}/plan.png`, fullPage: true });

      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.locator("a[data-format=nft]").click(),
      ]);
      t.regex(download.suggestedFilename(), /^dicomtap-st-marys-\d{4}-\d\d-\d\d-plan\.nft$/);
      const nft = readFileSync((await download.path())!, "utf8");
      t.regex(nft, /^#!\/usr\/sbin\/nft -f/);
      t.regex(nft, /^table inet dicomtap \{/m);
      t.regex(nft, /10\.77\.0\.20/);

      // The other site has no baseline yet: an empty plan that says so.
      await page.selectOption("#plan-site", "county");
      await page.locator(".page-head h1", { hasText: "county" }).waitFor();
      await page.getByText("No sensor of this site has published a baseline yet").waitFor();
      t.regex(
        (await page.locator("section.panel", { hasText: "Close unneeded ports" }).textContent()) ?? "",
        /0 ports.*Nothing to plan yet: no traffic in the baseline/,
      );
      await page.screenshot({ path: `${SHOTS}/plan-empty.png` });
      t.deepEqual(problems, []);
    } finally {
      await close();
    }
  },
);

test.serial("a viewer sees no action on a finding and cannot acknowledge it", async (t) => {
  const { page, problems, close } = await browse();
  try {
    await logIn(page, "viewer");
    t.is(await nav(page, "Admin").count(), 0, "no admin section for a viewer");
    const pk = findingPk("dicom.bulk-query", "mac-ca8d87f44b73-10.77.0.10");
    await page.goto(`${central.base}/#/findings/${pk}`);
    await page.locator("h2", { hasText: "Evidence" }).waitFor();
    t.is(await page.locator("button[data-action]").count(), 0);
    t.true(await page.locator("[data-testid=read-only]").isVisible());

    // Forged from the page with the session's own CSRF token: the server refuses the role.
    const status = await page.evaluate(async (findingPk) => {
      const s = (await (await fetch("/api/v1/session")).json()) as { csrfToken: string };
      const res = await fetch(`/api/v1/findings/${findingPk}/actions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrfToken },
        body: JSON.stringify({ action: "acknowledge" }),
      });
      return res.status;
    }, pk);
    t.is(status, 403);
    const row = central.db.prepare("SELECT acknowledged_at FROM findings WHERE pk = ?").get(pk) as {
      acknowledged_at: string | null;
    };
    t.is(row.acknowledged_at, null);
    // The browser logs the refused request; nothing else may go wrong.
    t.deepEqual(
      problems.filter((p) => !/status of 403/.test(p)),
      [],
    );
  } finally {
    await close();
  }
});

test.serial("an admin creates an API token that is shown once, revokes it, and removes a user", async (t) => {
  const { page, problems, close } = await browse();
  try {
    await logIn(page, "admin");
    await nav(page, "Admin").click();
    await page.locator("h2", { hasText: "Users" }).waitFor();
    const userList = (await page.locator("section.panel", { hasText: "Users" }).textContent()) ?? "";
    for (const name of ["admin", "analyst", "viewer"]) t.true(userList.includes(name));

    await page.fill('input[aria-label="New token\'s name"]', "asset-db-sync");
    await page.locator("button", { hasText: "Create token" }).click();
    const secret = (await page.locator(".token-value").textContent()) ?? "";
    t.regex(secret, /^dtc_[A-Za-z0-9_-]{20,}$/);
    const viaToken = await page.evaluate(
      async (tok) =>
        (
          await fetch("/api/v1/devices?limit=1", {
            credentials: "omit",
            headers: { Authorization: `Bearer ${tok}` },
          })
        ).status,
      secret,
    );
    t.is(viaToken, 200);

    page.once("dialog", (d) => void d.accept());
    await page.locator("tr", { hasText: "asset-db-sync" }).locator("button", { hasText: "Revoke" }).click();
    await page.locator("tr", { hasText: "asset-db-sync" }).getByText("revoked").waitFor();
    t.is(await page.locator(".token-value").count(), 0, "the secret is not shown again");

    // Removing a user (the viewer, whose test ran before this one); an admin cannot remove itself.
    const users = page.locator("section.panel", { hasText: "Users" });
    page.once("dialog", (d) => void d.accept());
    await users.locator("tr", { hasText: "viewer" }).first().locator("button", { hasText: "Remove" }).click();
    await users.locator("tbody tr").nth(1).waitFor();
    while ((await users.locator("tbody tr").count()) !== 2) await page.waitForTimeout(50);
    t.is(count("SELECT COUNT(*) AS n FROM users WHERE name = 'viewer'"), 0);
    t.is(await users.locator("tr", { hasText: "you" }).locator("button").count(), 0, "no Remove on oneself");
    // After the revocation: no token secret in the CI artefacts.
    await page.screenshot({ path: `${SHOTS}/admin.png` });
    const revoked = await page.evaluate(
      async (tok) =>
        (
          await fetch("/api/v1/devices?limit=1", {
            credentials: "omit",
            headers: { Authorization: `Bearer ${tok}` },
          })
        ).status,
      secret,
    );
    t.is(revoked, 401);
    t.deepEqual(
      problems.filter((p) => !/status of 401/.test(p)),
      [],
    );
  } finally {
    await close();
  }
});
