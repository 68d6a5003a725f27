// login.js - #/login: sign in with a staff account's username and password
// (POST /api/auth/login/). The token is kept only for a staff account; any
// other account's fresh token is revoked at once (POST /api/auth/logout/
// with it) and the page says so.
import { api, ApiError, token } from "../api.js";
import { h } from "../dom.js";
import { heading, field } from "../ui.js";

export const NOT_ADMIN = "This account is not an administrator.";

export const title = "Sign in";

export function render(main, ctx) {
  const error = h("div", { class: "form-error", id: "login-error", role: "alert" });
  const user = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "none",
    spellcheck: "false" });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "button" }, "Sign in");
  const form = h("form", { class: "login", novalidate: true, "aria-describedby": "login-error" },
    field("Username", user), field("Password", pass), error, submit);

  const fail = (msg, focus) => {
    error.textContent = msg;
    focus.setAttribute("aria-invalid", "true");
    focus.focus();
  };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    user.removeAttribute("aria-invalid");
    pass.removeAttribute("aria-invalid");
    if (!user.value.trim()) return fail("Enter your username.", user);
    if (!pass.value) return fail("Enter your password.", pass);
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      const r = await api("POST", "/api/auth/login/", {
        auth: false, body: { username: user.value.trim(), password: pass.value },
      });
      if (!r || !r.user || r.user.is_staff !== true) {
        // Not staff: this token must not outlive the attempt.
        try {
          await api("POST", "/api/auth/logout/", { tokenValue: r && r.token });
        } catch {
          /* it still is not kept anywhere */
        }
        pass.value = "";
        fail(NOT_ADMIN, user);
        return;
      }
      token.set(r.token);
      ctx.signedIn(r.user);
    } catch (e) {
      pass.value = "";
      if (e instanceof ApiError && e.status === 401) fail("Wrong username or password.", user);
      else if (e instanceof ApiError && e.status === 429) {
        fail(`Too many attempts. Try again in ${e.retryAfter || "a few"} seconds.`, user);
      } else fail(e.message || "Signing in failed.", user);
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });

  main.append(heading("Sign in"), h("p", { class: "lead" }, "The honeyDue admin panel, for staff accounts."));
  if (ctx.notice) main.append(h("p", { class: "notice", id: "login-notice" }, ctx.notice));
  main.append(form);
}
