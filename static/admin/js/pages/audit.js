// audit.js - #/audit: the admin audit log (GET /api/admin/audit/), newest
// first: who did what to which user or job, from which address, with
// filters on the actor, the action and the target.
import { h } from "../dom.js";
import { DASH, when } from "../format.js";
import { listPage } from "../list.js";

export const title = "Audit log";

export const ACTIONS = [
  ["user.deactivate", "Deactivated a user"],
  ["user.reactivate", "Reactivated a user"],
  ["user.grant_staff", "Granted staff"],
  ["user.revoke_staff", "Revoked staff"],
  ["job.retry", "Retried a dead job"],
  ["job.discard", "Discarded a dead job"],
  ["jobs.retry_all", "Retried every dead job"],
  ["jobs.discard_all", "Discarded every dead job"],
];
const LABELS = Object.fromEntries(ACTIONS);

function target(e) {
  if (e.target_type === "user" && e.target_id) {
    const name = e.details && e.details.username;
    return h("a", { href: `#/users/${e.target_id}` }, name ? `${name} (user ${e.target_id})` : `user ${e.target_id}`);
  }
  if (e.target_type === "job") return h("span", {}, "job ", h("code", e.target_id || DASH));
  if (e.target_type === "jobs") return "all dead jobs";
  return [e.target_type, e.target_id].filter(Boolean).join(" ") || DASH;
}

function details(d) {
  const entries = Object.entries(d || {});
  if (!entries.length) return DASH;
  return h("ul", { class: "kv" }, entries.map(([k, v]) =>
    h("li", h("span", { class: "k" }, `${k}: `), typeof v === "string" ? v : JSON.stringify(v))));
}

export function render(main, ctx) {
  return listPage(main, ctx, {
    title: "Audit log",
    endpoint: "/api/admin/audit/",
    noun: "entry",
    nouns: "entries",
    caption: (page) => `Audit log, newest first, page ${page}`,
    filters: [
      { name: "actor", label: "Actor (user id)", kind: "number" },
      { name: "action", label: "Action", kind: "select", options: [["", "Any action"], ...ACTIONS.map(([a]) => [a, a])] },
      { name: "target_type", label: "Target type", kind: "select",
        options: [["", "Any target"], ["user", "A user"], ["job", "A job"], ["jobs", "All dead jobs"]] },
      { name: "target_id", label: "Target id", kind: "text" },
    ],
    columns: [
      { label: "When", cell: (e) => when(e.created_at) },
      { label: "Actor", cell: (e) => (e.actor ? h("a", { href: `#/users/${e.actor.id}` }, e.actor.username) : DASH) },
      { label: "Action", cell: (e) => h("span", { title: LABELS[e.action] || null }, h("code", e.action)) },
      { label: "Target", cell: target },
      { label: "Details", cell: (e) => details(e.details) },
      { label: "Address", cell: (e) => e.remote_addr || DASH },
    ],
  });
}
