/**
 * `#/admin` (admins only) — users and API tokens. A user's password is set here or on the host (`dicomtap
 * central user add`); a new token is shown once, in full, and never again (the store keeps its SHA-256).
 * Revoking a token takes effect on its next request.
 */
import { h, replace } from "./dom.js";
import { api, ApiError, itemsOf, type Role, type Token, type User } from "./api.js";
import { errorBox, loading, pageHeader, section, smallTable } from "./ui.js";
import { age, timeEl } from "./format.js";

const ROLES: Role[] = ["viewer", "analyst", "admin"];

function roleSelect(): HTMLSelectElement {
  const sel = h(
    "select",
    { "aria-label": "Role" },
    ROLES.map((r) => h("option", { value: r }, r)),
  );
  sel.value = "viewer";
  return sel;
}

function usersSection(users: User[], reload: () => void, self: string): HTMLElement {
  const removeButton = (u: User): HTMLElement => {
    const b = h(
      "button",
      { type: "button", class: "button small danger", title: `Remove ${u.name}` },
      "Remove",
    );
    b.addEventListener("click", () => {
      if (!window.confirm(`Remove the user “${u.name}”? Their sessions end now.`)) return;
      api
        .removeUser(u.pk)
        .then(() => reload())
        .catch((err: unknown) => {
          status.className = "form-status bad";
          replace(status, err instanceof ApiError ? err.message : String(err));
        });
    });
    return b;
  };
  const name = h("input", {
    type: "text",
    placeholder: "name",
    "aria-label": "New user's name",
    required: true,
    autocomplete: "off",
    maxlength: 64,
  });
  const password = h("input", {
    type: "password",
    placeholder: "password (12+ characters)",
    "aria-label": "New user's password",
    required: true,
    minlength: 12,
    autocomplete: "new-password",
  });
  const role = roleSelect();
  const status = h("span", { class: "form-status", role: "status" });
  const form = h(
    "form",
    { class: "inline-form" },
    name,
    role,
    password,
    h("button", { type: "submit", class: "button" }, "Add user"),
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    api
      .addUser(name.value.trim(), role.value as Role, password.value)
      .then(() => reload())
      .catch((err: unknown) => {
        status.className = "form-status bad";
        replace(status, err instanceof ApiError ? err.message : String(err));
      });
  });
  return section(
    "Users",
    smallTable(
      ["Name", "Role", "Created", "State", ""],
      users.map((u) => [
        u.name,
        h("span", { class: `tag role-${u.role}` }, u.role),
        timeEl(u.createdAt),
        u.disabledAt ? h("span", { class: "muted" }, "disabled") : "active",
        u.name === self ? h("span", { class: "muted small" }, "you") : removeButton(u),
      ]),
      [],
      null,
    ),
    form,
  );
}

function tokensSection(
  tokens: Token[],
  reload: (newToken?: string) => void,
  newToken: string | undefined,
): HTMLElement {
  const name = h("input", {
    type: "text",
    placeholder: "what it is for, e.g. asset-db-sync",
    "aria-label": "New token's name",
    required: true,
    autocomplete: "off",
    maxlength: 64,
    class: "wide",
  });
  const role = roleSelect();
  const status = h("div", { class: "form-status", role: "status" });
  const form = h(
    "form",
    { class: "inline-form" },
    name,
    role,
    h("button", { type: "submit", class: "button" }, "Create token"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    api
      .addToken(name.value.trim(), role.value as Role)
      .then((res) => reload(res.token))
      .catch((err: unknown) => {
        status.className = "form-status bad";
        replace(status, err instanceof ApiError ? err.message : String(err));
      });
  });
  return section(
    "API tokens",
    tokens.length === 0
      ? h(
          "p",
          { class: "muted small" },
          "No token yet. Scripts use one in ",
          h("code", null, "Authorization: Bearer TOKEN"),
          ".",
        )
      : h(
          "table",
          { class: "grid compact" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Name", "Role", "Created", "Last used", "", ""].map((x) => h("th", { scope: "col" }, x)),
            ),
          ),
          h(
            "tbody",
            null,
            tokens.map((t) => {
              const revoke = t.revokedAt
                ? h("span", { class: "muted" }, "revoked ", timeEl(t.revokedAt))
                : h(
                    "button",
                    { type: "button", class: "button small danger", title: `Revoke ${t.name}` },
                    "Revoke",
                  );
              if (revoke instanceof HTMLButtonElement) {
                revoke.addEventListener("click", () => {
                  if (!window.confirm(`Revoke the token “${t.name}”? Scripts using it stop working.`)) return;
                  api
                    .revokeToken(t.pk)
                    .then(() => reload())
                    .catch((err: unknown) => window.alert(String(err)));
                });
              }
              return h(
                "tr",
                { class: t.revokedAt ? "row-resolved" : null },
                h("td", null, t.name),
                h("td", null, h("span", { class: `tag role-${t.role}` }, t.role)),
                h("td", null, timeEl(t.createdAt)),
                h("td", null, t.lastUsedAt ? age(t.lastUsedAt) : h("span", { class: "muted" }, "never")),
                h("td", null, revoke),
              );
            }),
          ),
        ),
    newToken
      ? h(
          "div",
          { class: "token-once", role: "status" },
          h("p", null, h("strong", null, "Copy this token now: it is not shown again.")),
          h("code", { class: "token-value" }, newToken),
        )
      : null,
    form,
    status,
  );
}

export function adminPage(root: HTMLElement, self: string): () => void {
  const controller = new AbortController();
  replace(root, pageHeader("Admin"), loading());
  const load = (newToken?: string): void => {
    Promise.all([api.users(controller.signal), api.tokens(controller.signal)])
      .then(([u, t]) => {
        if (controller.signal.aborted) return;
        replace(
          root,
          pageHeader("Admin"),
          h(
            "div",
            { class: "cols-2" },
            usersSection(itemsOf<User>(u), load, self),
            tokensSection(itemsOf<Token>(t), load, newToken),
          ),
        );
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) replace(root, pageHeader("Admin"), errorBox(err));
      });
  };
  load();
  return () => controller.abort();
}
