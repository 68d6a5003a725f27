// residence.js - #/residences/<id>: one residence (GET
// /api/admin/residences/{id}/), its members and its tasks by state.
import { api } from "../api.js";
import { h } from "../dom.js";
import { DASH, num, when } from "../format.js";
import { badge, errorBox, facts, heading, loading, section, table } from "../ui.js";
import { place } from "./residences.js";

export const title = (params) => `Residence ${params[0]}`;

export function render(main, ctx) {
  const id = ctx.params[0];
  const h1 = heading(`Residence ${id}`);
  const body = h("div", {}, loading("Loading the residence"));
  main.append(h1, h("p", { class: "crumbs" }, h("a", { href: "#/residences" }, "All residences")), body);

  (async () => {
    try {
      const r = await api("GET", `/api/admin/residences/${id}/`, { signal: ctx.signal });
      h1.textContent = r.name;
      ctx.setTitle(r.name);
      const t = r.task_counts || {};
      body.replaceChildren(
        section("Residence", facts([
          ["Name", r.name],
          ["Place", place(r)],
          ["Time zone", r.time_zone || DASH],
          ["Owner", r.owner ? h("a", { href: `#/users/${r.owner.id}` }, r.owner.username) : DASH],
          ["Created", when(r.created_at)],
          ["Residence id", String(r.id)],
        ])),
        section("Members", table({
          caption: `Members of ${r.name}`, captionHidden: true, rows: r.members || [], empty: "No members.",
          columns: [
            { label: "Username", cell: (m) => h("a", { href: `#/users/${m.id}` }, m.username) },
            { label: "Email", cell: (m) => m.email || DASH },
            { label: "Role", cell: (m) => (m.is_owner ? badge("Owner", "staff") : "Member") },
            { label: "Joined", cell: (m) => when(m.joined_at) },
          ],
        })),
        section("Tasks", facts([
          ["All tasks", num(t.total)],
          ["Open", num(t.open)],
          ["Overdue", num(t.overdue)],
          ["Completed", num(t.completed)],
          ["Archived", num(t.archived)],
          ["Cancelled", num(t.cancelled)],
        ], "facts tiles")));
    } catch (e) {
      if (e.name === "AbortError") return;
      body.replaceChildren(e.status === 404 ? h("p", { role: "alert" }, `There is no residence ${id}.`)
        : errorBox(e, "Loading the residence"));
    }
  })();
}
