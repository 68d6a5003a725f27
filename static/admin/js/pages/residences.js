// residences.js - #/residences: search by name (GET /api/admin/residences/)
// and one page at a time.
import { h } from "../dom.js";
import { DASH, num, when } from "../format.js";
import { listPage } from "../list.js";

export const title = "Residences";

export function place(r) {
  return [r.city, r.country].filter(Boolean).join(", ") || DASH;
}

export function render(main, ctx) {
  return listPage(main, ctx, {
    title: "Residences",
    endpoint: "/api/admin/residences/",
    noun: "residence",
    nouns: "residences",
    caption: (page) => `Residences, page ${page}`,
    filters: [{ name: "q", label: "Search", kind: "search", hint: "Part of a residence's name." }],
    columns: [
      { label: "Name", cell: (r) => h("a", { href: `#/residences/${r.id}` }, r.name) },
      { label: "Place", cell: place },
      { label: "Owner", cell: (r) => (r.owner ? h("a", { href: `#/users/${r.owner.id}` }, r.owner.username) : DASH) },
      { label: "Members", num: true, cell: (r) => num(r.member_count) },
      { label: "Tasks", num: true, cell: (r) => num(r.task_count) },
      { label: "Time zone", cell: (r) => r.time_zone || DASH },
      { label: "Created", cell: (r) => when(r.created_at) },
    ],
  });
}
