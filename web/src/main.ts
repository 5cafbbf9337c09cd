/**
 * The central console's web application (issue 12): a single page over `/api/v1/`, no framework, served by
 * the central itself under a strict Content-Security-Policy (scripts and styles from 'self' only, none
 * inline). This module holds the session, the top bar and the hash router, and the keyboard shortcuts:
 * `/` focuses the page's search box, `g` then `o`/`d`/`f`/`p`/`e`/`a` goes to Overview, Devices, Findings,
 * Plan, Exports, Admin, and `?` lists them.
 */
import { h, replace } from "./dom.js";
import { api, ApiError, setCsrf, setUnauthorizedHandler, type Session } from "./api.js";
import { currentRoute } from "./router.js";
import { overviewPage } from "./overview.js";
import { devicesPage } from "./devices.js";
import { devicePage } from "./device.js";
import { findingsPage } from "./findings.js";
import { findingPage } from "./finding.js";
import { exportsPage } from "./exports.js";
import { planPage, plansPage } from "./plan.js";
import { adminPage } from "./admin.js";
import { loginPage } from "./login.js";
import { errorBox, empty, pageHeader } from "./ui.js";

const app = document.getElementById("app")!;
let session: Session | null = null;
let stopPage: () => void = () => undefined;
const main = h("main", { id: "main", tabindex: "-1" });
const nav = h("nav", { class: "nav", "aria-label": "Sections" });
const userBox = h("div", { class: "user-box" });

const SECTIONS: { path: string; label: string; key: string; admin?: boolean }[] = [
  { path: "", label: "Overview", key: "o" },
  { path: "devices", label: "Devices", key: "d" },
  { path: "findings", label: "Findings", key: "f" },
  { path: "plan", label: "Plan", key: "p" },
  { path: "exports", label: "Exports", key: "e" },
  { path: "admin", label: "Admin", key: "a", admin: true },
];

function shell(s: Session): void {
  const logout = h("button", { type: "button", class: "button small ghost", id: "logout" }, "Log out");
  logout.addEventListener("click", () => {
    logout.disabled = true;
    api
      .logout()
      .catch(() => undefined)
      .finally(() => signedOut("You are logged out."));
  });
  replace(
    userBox,
    h("span", { class: "user-name", title: `Logged in as ${s.user}` }, s.user),
    h("span", { class: `tag role-${s.role}` }, s.role),
    logout,
  );
  replace(
    nav,
    SECTIONS.filter((x) => !x.admin || s.role === "admin").map((x) =>
      h("a", { href: `#/${x.path}`, "data-section": x.path, title: `${x.label} (g ${x.key})` }, x.label),
    ),
  );
  replace(
    app,
    h("a", { class: "skip", href: "#main" }, "Skip to content"),
    h(
      "header",
      { class: "topbar" },
      h(
        "a",
        { class: "brand", href: "#/" },
        h("img", { src: "/favicon.svg", alt: "", width: 20, height: 20 }),
        "dicomtap ",
        h("span", null, "central"),
      ),
      nav,
      userBox,
    ),
    main,
    h(
      "footer",
      { class: "footer muted small" },
      "Keys: / search · g o overview · g d devices · g f findings · g p plan · g e exports · ? help",
    ),
  );
  // The skip link must not change the route: focus the content instead.
  app.querySelector(".skip")?.addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
}

function route(): void {
  if (session === null) return;
  stopPage();
  stopPage = () => undefined;
  const { path, params } = currentRoute();
  const [first = "", second] = path;
  for (const a of nav.querySelectorAll("a")) {
    a.classList.toggle("active", a.dataset.section === first);
    if (a.dataset.section === first) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${SECTIONS.find((x) => x.path === first)?.label ?? "dicomtap"} · dicomtap central`;
  try {
    if (first === "") stopPage = overviewPage(main);
    else if (first === "devices" && second) stopPage = devicePage(main, second);
    else if (first === "devices") stopPage = devicesPage(main, params);
    else if (first === "findings" && second) stopPage = findingPage(main, second, session);
    else if (first === "findings") stopPage = findingsPage(main, params);
    else if (first === "plan" && second) stopPage = planPage(main, second);
    else if (first === "plan") stopPage = plansPage(main);
    else if (first === "exports") stopPage = exportsPage(main);
    else if (first === "admin" && session.role === "admin") stopPage = adminPage(main, session.user);
    else
      replace(
        main,
        pageHeader("Not found"),
        empty("There is no such page.", h("a", { href: "#/" }, "Back to the overview")),
      );
  } catch (err) {
    replace(main, errorBox(err));
  }
}

function signedIn(s: Session): void {
  session = s;
  setCsrf(s.csrfToken);
  shell(s);
  route();
  if (location.hash === "" || location.hash === "#/login") location.hash = "#/";
}

function signedOut(notice: string | null): void {
  stopPage();
  stopPage = () => undefined;
  session = null;
  setCsrf(null);
  document.title = "Log in · dicomtap central";
  stopPage = loginPage(app, signedIn, notice);
}

setUnauthorizedHandler(() => {
  if (session !== null) signedOut("Your session ended. Log in again.");
});

window.addEventListener("hashchange", route);

// Keyboard shortcuts, ignored while typing in a field.
let pendingG = 0;
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || session === null) return;
  const t = e.target as HTMLElement;
  if (t.closest("input, textarea, select, [contenteditable]")) return;
  if (e.key === "/") {
    const search = main.querySelector<HTMLInputElement>("[data-search]");
    if (search) {
      e.preventDefault();
      search.focus();
      search.select();
    }
    return;
  }
  if (e.key === "?") {
    showHelp();
    return;
  }
  if (e.key === "g") {
    pendingG = Date.now();
    return;
  }
  if (Date.now() - pendingG < 1500) {
    pendingG = 0;
    const target = SECTIONS.find((x) => x.key === e.key && (!x.admin || session?.role === "admin"));
    if (target) location.hash = `#/${target.path}`;
  }
});

function showHelp(): void {
  const close = h("button", { type: "button", class: "button small" }, "Close");
  const dlg = h(
    "dialog",
    { class: "help", "aria-label": "Keyboard shortcuts" },
    h("h2", null, "Keyboard"),
    h(
      "dl",
      { class: "fields" },
      [
        ["/", "focus the search box"],
        ["Tab / Enter", "move through rows and open one"],
        ["Esc (in search)", "clear the search"],
        ["g o", "overview"],
        ["g d", "devices"],
        ["g f", "findings"],
        ["g p", "plan"],
        ["g e", "exports"],
        ["g a", "admin (admins)"],
      ].map(([k, v]) => [h("dt", null, h("kbd", null, k!)), h("dd", null, v!)]),
    ),
    close,
  );
  close.addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  close.focus();
}

api
  .session()
  .then(signedIn)
  .catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 401) signedOut(null);
    else replace(app, h("div", { class: "login-wrap" }, errorBox(err)));
  });
