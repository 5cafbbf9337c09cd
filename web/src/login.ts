/**
 * The login page: a name and a password against `POST /api/v1/session`. The server sets the session cookie
 * (HttpOnly, SameSite=Strict) and answers with the CSRF token the app sends with every change. Too many
 * failures answer 429 with Retry-After, shown as such rather than as a wrong password.
 */
import { h, replace } from "./dom.js";
import { api, ApiError, type Session } from "./api.js";

export function loginPage(
  root: HTMLElement,
  onLogin: (s: Session) => void,
  notice: string | null,
): () => void {
  const name = h("input", {
    type: "text",
    name: "username",
    id: "login-name",
    autocomplete: "username",
    required: true,
    autocapitalize: "off",
    spellcheck: "false",
  });
  const password = h("input", {
    type: "password",
    name: "password",
    id: "login-password",
    autocomplete: "current-password",
    required: true,
  });
  const status = h("p", { class: "form-status", role: "alert" }, notice ?? "");
  const submit = h("button", { type: "submit", class: "button primary wide" }, "Log in");
  const form = h(
    "form",
    { class: "login-card", "aria-labelledby": "login-title" },
    h(
      "div",
      { class: "login-brand" },
      h("img", { src: "/favicon.svg", alt: "", width: 28, height: 28 }),
      h("span", null, "dicomtap central"),
    ),
    h("h1", { id: "login-title" }, "Log in"),
    h("label", { for: "login-name" }, "User name"),
    name,
    h("label", { for: "login-password" }, "Password"),
    password,
    status,
    submit,
    h(
      "p",
      { class: "muted small" },
      "Accounts are created on the central's host: ",
      h("code", null, "dicomtap central user add NAME --role viewer|analyst|admin"),
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit.disabled = true;
    status.className = "form-status";
    replace(status, "Logging in…");
    api
      .login(name.value.trim(), password.value)
      .then((s) => onLogin(s))
      .catch((err: unknown) => {
        submit.disabled = false;
        status.className = "form-status bad";
        password.value = "";
        if (err instanceof ApiError && err.status === 401) replace(status, "Wrong user name or password.");
        else if (err instanceof ApiError && err.status === 429)
          replace(status, "Too many failed attempts. Wait a minute and try again.");
        else if (err instanceof ApiError) replace(status, err.message);
        else replace(status, "The central service cannot be reached.");
        password.focus();
      });
  });
  replace(root, h("div", { class: "login-wrap" }, form));
  name.focus();
  return () => undefined;
}
