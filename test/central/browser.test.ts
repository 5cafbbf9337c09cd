/**
 * The central console in a real browser (issue 12): Debian's chromium, driven headless by playwright-core
 * (nothing downloaded: the system browser), against the real HTTP server (agent/central/http/server.ts)
 * over a store seeded with the devices and findings of `dicomtap analyze` on samples/imaging-room.pcap.
 *
 * An analyst logs in, finds a device by its AE title, opens one of its findings, acknowledges it (the store
 * records who), exports the inventory as CSV (the downloaded file is read) and logs out (the session is
 * gone). A viewer sees no action on a finding, and the API refuses the action it could forge (403, nothing
 * changes). Every page must load without a Content-Security-Policy violation or a script error.
 *
 * Screenshots of the main pages at 1366x768 (a laptop) go to artifacts/screenshots/, the CI artefacts the
 * README names. It needs `npm run build` (dist/web is the compiled app) and /usr/bin/chromium
 * (CHROMIUM=path to use another); without the browser it fails and says so.
 */
import test from "ava";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCentralDb, type Db } from "../../agent/central/http/db.js";
import { CentralHttp } from "../../agent/central/http/server.js";
import { addUser } from "../../agent/central/auth.js";
import { analyzeCapture, seedReport } from "./web-seed.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = "artifacts/screenshots";
const PASSWORD = "correct horse battery staple";
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

let dir = "";
let db: Db;
let http: CentralHttp;
let base = "";
let browser: Browser;

test.before(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  if (!existsSync("dist/web/main.js"))
    throw new Error("dist/web/main.js is missing: run npm run build first");
  dir = mkdtempSync(join(tmpdir(), "dicomtap-web-"));
  const report = analyzeCapture("samples/imaging-room.pcap", join(dir, "room.json"));
  db = openCentralDb(join(dir, "central.db"));
  seedReport(db, { site: "st-marys", sensor: "ct-room-1" }, report, new Date());
  await addUser(db, "ana", "analyst", PASSWORD);
  await addUser(db, "vera", "viewer", PASSWORD);
  await addUser(db, "alma", "admin", PASSWORD);
  http = new CentralHttp({
    db,
    listen: { host: "127.0.0.1", port: 0 },
    tls: null,
    webRoots: ["web/static", "dist/web"],
  });
  await http.start();
  base = http.address().url;
  mkdirSync(SHOTS, { recursive: true });
  // One browser (playwright gives it a fresh temporary profile, removed at close); each test gets its own
  // context, so no cookie passes from one user to the next.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});

test.after.always(async () => {
  await browser?.close();
  await http?.stop();
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
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

async function logIn(page: Page, name: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator("#login-name").waitFor();
  await page.fill("#login-name", name);
  await page.fill("#login-password", PASSWORD);
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

function findingPk(rule: string, device: string): number {
  return (
    db.prepare("SELECT pk FROM findings WHERE rule = ? AND device_id LIKE ?").get(rule, `%-${device}`) as {
      pk: number;
    }
  ).pk;
}

test.serial(
  "an analyst finds a device by AE title, acknowledges its finding, exports the inventory, logs out",
  async (t) => {
    const { page, problems, close } = await browse();
    try {
      await page.goto(`${base}/`);
      await page.locator("#login-name").waitFor();
      await page.screenshot({ path: `${SHOTS}/login.png` });

      // A wrong password is refused and said so.
      await page.fill("#login-name", "ana");
      await page.fill("#login-password", "not the password at all");
      await page.press("#login-password", "Enter");
      await page.getByText("Wrong user name or password.").waitFor();

      await logIn(page, "ana");
      t.is(await page.locator(".user-name").textContent(), "ana");
      t.is(
        await page.locator(".kpi").first().locator(".kpi-value").textContent(),
        "15",
        "15 open findings in the capture",
      );
      await page.waitForTimeout(200);
      await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });

      // Devices: the whole inventory, then `/` focuses the search and an AE title finds its device.
      await nav(page, "Devices").click();
      await page.locator("table.grid tbody tr").first().waitFor();
      t.is(await page.locator("table.grid tbody tr").count(), 4);
      await page.screenshot({ path: `${SHOTS}/devices.png` });
      await page.locator("body").press("/");
      t.true(await page.evaluate("document.activeElement?.matches('input[data-search]') === true"));
      await page.keyboard.type("ORTHANC");
      await rows(page, 1);
      t.regex(page.url(), /#\/devices\?q=ORTHANC$/, "the search is in the address");
      const row = page.locator("table.grid tbody tr");
      t.regex((await row.textContent()) ?? "", /10\.77\.0\.20.*ORTHANC/);

      // The row's link is reached with the keyboard and opened with Enter.
      await row.locator("a.row-link").focus();
      await page.keyboard.press("Enter");
      await page.locator("h2", { hasText: "Identity" }).waitFor();
      t.regex((await page.locator(".page-head h1").textContent()) ?? "", /10\.77\.0\.20.*ORTHANC/);
      await page.waitForTimeout(100);
      await page.screenshot({ path: `${SHOTS}/device.png`, fullPage: true });

      // Its finding: the passcode sent in clear.
      await page.getByRole("link", { name: /user identity passcode was sent in clear/ }).click();
      await page.locator("h2", { hasText: "Evidence" }).waitFor();
      const pk = findingPk("dicom.cleartext-credentials", "10.77.0.20");
      t.true(page.url().endsWith(`#/findings/${pk}`));
      t.is(await page.locator(".page-head .state").textContent(), "open");
      await page.screenshot({ path: `${SHOTS}/finding.png`, fullPage: true });

      await page.locator("button[data-action=acknowledge]").click();
      await page.locator(".page-head .state-acknowledged").waitFor();
      t.regex((await page.locator(".timeline").textContent()) ?? "", /acknowledged by ana/);
      const stored = db
        .prepare("SELECT acknowledged_by, acknowledged_at FROM findings WHERE pk = ?")
        .get(pk) as {
        acknowledged_by: string | null;
        acknowledged_at: string | null;
      };
      t.is(stored.acknowledged_by, "ana");
      t.truthy(stored.acknowledged_at);
      await page.screenshot({ path: `${SHOTS}/finding-acknowledged.png`, fullPage: true });

      // The findings list (open by default: the acknowledged one has left it).
      await nav(page, "Findings").click();
      await page.locator("table.grid tbody tr").first().waitFor();
      t.is(await page.locator("table.grid tbody tr").count(), 14);
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
      t.is(lines.length, 5, "a header and the 4 devices");
      t.regex(lines[0]!, /^pk,site,sensor,id,ip,mac,class/);
      t.true(lines.some((l) => l.includes("10.77.0.20") && l.includes("ORTHANC")));

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

test.serial("a viewer sees no action on a finding and cannot acknowledge it", async (t) => {
  const { page, problems, close } = await browse();
  try {
    await logIn(page, "vera");
    t.is(await nav(page, "Admin").count(), 0, "no admin section for a viewer");
    const pk = findingPk("dicom.bulk-query", "10.77.0.10");
    await page.goto(`${base}/#/findings/${pk}`);
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
    const row = db.prepare("SELECT acknowledged_at FROM findings WHERE pk = ?").get(pk) as {
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

test.serial("an admin sees users and tokens", async (t) => {
  const { page, problems, close } = await browse();
  try {
    await logIn(page, "alma");
    await nav(page, "Admin").click();
    await page.locator("h2", { hasText: "Users" }).waitFor();
    const users = (await page.locator("table.grid").first().textContent()) ?? "";
    for (const name of ["alma", "ana", "vera"]) t.true(users.includes(name));
    await page.screenshot({ path: `${SHOTS}/admin.png` });
    t.deepEqual(problems, []);
  } finally {
    await close();
  }
});
