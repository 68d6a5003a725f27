// user.js - #/users/<id>: one user (GET /api/admin/users/{id}/) with their
// residences, push devices and counts, and the four changes an admin can
// make (PATCH /api/admin/users/{id}/), each after a confirmation dialog:
// deactivate (every token of theirs stops working at once) or reactivate,
// grant or revoke staff. Nobody changes their own account here (the API
// answers 409).
import { api } from "../api.js";
import { h } from "../dom.js";
import { DASH, num, when, yesNo } from "../format.js";
import { announce, badge, confirmAction, errorBox, facts, heading, loading, section, table } from "../ui.js";
import { fullName } from "./users.js";

export const title = (params) => `User ${params[0]}`;

const CHANGES = {
  deactivate: {
    body: { is_active: false }, label: "Deactivate", danger: true,
    text: (u) => `Deactivate ${u.username}? They are signed out on every device at once and cannot sign in ` +
      "until the account is reactivated.",
    done: (u) => `${u.username} is deactivated.`,
  },
  reactivate: {
    body: { is_active: true }, label: "Reactivate",
    text: (u) => `Reactivate ${u.username}? They can sign in again.`,
    done: (u) => `${u.username} is active again.`,
  },
  grant: {
    body: { is_staff: true }, label: "Grant staff", danger: true,
    text: (u) => `Make ${u.username} staff? They can then use this admin panel and every admin API.`,
    done: (u) => `${u.username} is now staff.`,
  },
  revoke: {
    body: { is_staff: false }, label: "Revoke staff",
    text: (u) => `Take staff away from ${u.username}? They lose the admin panel at once.`,
    done: (u) => `${u.username} is no longer staff.`,
  },
};

export function render(main, ctx) {
  const id = ctx.params[0];
  const h1 = heading(`User ${id}`);
  const body = h("div", {}, loading("Loading the user"));
  main.append(h1, h("p", { class: "crumbs" }, h("a", { href: "#/users" }, "All users")), body);

  const change = async (u, kind, button) => {
    const c = CHANGES[kind];
    const ok = await confirmAction({ title: `${c.label}?`, text: c.text(u), ok: c.label });
    if (!ok) return;
    button.disabled = true;
    try {
      await api("PATCH", `/api/admin/users/${u.id}/`, { body: c.body, signal: ctx.signal });
      announce(c.done(u));
      await show(true);
    } catch (e) {
      if (e.name === "AbortError") return;
      announce(`${c.label} failed: ${e.message}`, "error");
      button.disabled = false;
    }
  };

  const actions = (u, meId) => {
    const self = meId === u.id;
    const mk = (kind) => {
      const c = CHANGES[kind];
      const b = h("button", { type: "button", class: `button ${c.danger ? "danger" : "secondary"}`, disabled: self,
        "data-action": kind });
      b.textContent = c.label;
      b.addEventListener("click", () => change(u, kind, b));
      return b;
    };
    return h("div", { class: "actions-row" },
      mk(u.is_active ? "deactivate" : "reactivate"),
      mk(u.is_staff ? "revoke" : "grant"),
      self ? h("p", { class: "muted" }, "This is your own account: another administrator has to change it.") : null);
  };

  const residences = (u) => {
    if (!Array.isArray(u.residences)) {
      return h("p", { class: "muted" }, "This server does not list a user's residences yet.");
    }
    return table({
      caption: `Residences of ${u.username}`, captionHidden: true, rows: u.residences,
      empty: "Not a member of any residence.",
      columns: [
        { label: "Residence", cell: (r) => h("a", { href: `#/residences/${r.id}` }, r.name) },
        { label: "Role", cell: (r) => (r.role === "owner" ? "Owner" : "Member") },
        { label: "Members", num: true, cell: (r) => num(r.member_count) },
        { label: "Tasks", num: true, cell: (r) => num(r.task_count) },
      ],
    });
  };

  const devices = (u) => table({
    caption: `Push devices of ${u.username}`, captionHidden: true, rows: u.devices,
    empty: "No push devices registered.",
    columns: [
      { label: "Platform", cell: (d) => (d.platform === "ios" ? "iOS" : d.platform === "android" ? "Android" : d.platform) },
      { label: "Registered", cell: (d) => when(d.created_at) },
      { label: "Last seen", cell: (d) => when(d.last_seen_at) },
      { label: "Last push", cell: (d) => when(d.last_push_at) },
      { label: "Result", cell: (d) => d.last_push_result || DASH },
    ],
  });

  const show = async (refresh) => {
    try {
      const [u, me] = await Promise.all([
        api("GET", `/api/admin/users/${id}/`, { signal: ctx.signal }),
        ctx.me(),
      ]);
      h1.textContent = u.username;
      ctx.setTitle(u.username);
      const c = u.counts || {};
      body.replaceChildren(
        section("Actions", actions(u, me && me.id)),
        section("Account", facts([
          ["Username", u.username],
          ["Email", u.email || DASH],
          ["Name", fullName(u)],
          ["Account", u.is_active ? badge("Active", "ok") : badge("Deactivated", "bad")],
          ["Staff", u.is_staff ? badge("Staff", "staff") : "No"],
          ["Joined", when(u.date_joined)],
          ["Last sign-in", when(u.last_login)],
          ["Last seen", when(u.last_active)],
          ["User id", String(u.id)],
        ])),
        section("Residences", residences(u)),
        section("Devices", devices(u)),
        section("Counts", facts([
          ["Residences (member)", num(c.residences)],
          ["Residences owned", num(c.residences_owned)],
          ["Tasks in them", num(c.tasks)],
          ["Tasks created", num(c.tasks_created)],
          ["Completions", num(c.completions)],
          ["Signed-in sessions", num(c.tokens)],
          ["Push devices", num(c.devices)],
          ["Active", yesNo(u.is_active)],
        ])));
      if (refresh) {
        const b = body.querySelector("[data-action]");
        if (b && !b.disabled) b.focus();
      }
    } catch (e) {
      if (e.name === "AbortError") return;
      body.replaceChildren(e.status === 404 ? h("p", { role: "alert" }, `There is no user ${id}.`)
        : errorBox(e, "Loading the user"));
    }
  };
  show(false);
}
