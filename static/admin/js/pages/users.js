// users.js - #/users: search (username, email, names), filters on active
// and staff, an ordering, and one page of GET /api/admin/users/ at a time.
import { h } from "../dom.js";
import { DASH, when } from "../format.js";
import { listPage } from "../list.js";
import { badge } from "../ui.js";

export const title = "Users";

export function fullName(u) {
  return [u.first_name, u.last_name].filter(Boolean).join(" ") || DASH;
}

export function render(main, ctx) {
  return listPage(main, ctx, {
    title: "Users",
    endpoint: "/api/admin/users/",
    noun: "user",
    nouns: "users",
    caption: (page) => `Users, page ${page}`,
    filters: [
      { name: "q", label: "Search", kind: "search", hint: "Part of a username, email address or name." },
      { name: "is_active", label: "Account", kind: "select",
        options: [["", "Active or not"], ["true", "Active"], ["false", "Deactivated"]] },
      { name: "is_staff", label: "Role", kind: "select",
        options: [["", "Staff or not"], ["true", "Staff"], ["false", "Not staff"]] },
      { name: "ordering", label: "Order", kind: "select",
        options: [["", "Oldest account first"], ["-date_joined", "Newest account first"],
          ["username", "Username, A to Z"], ["-username", "Username, Z to A"], ["email", "Email, A to Z"],
          ["-last_login", "Most recent sign-in first"], ["last_login", "Least recent sign-in first"]] },
    ],
    columns: [
      { label: "Username", cell: (u) => h("a", { href: `#/users/${u.id}` }, u.username) },
      { label: "Email", cell: (u) => u.email || DASH },
      { label: "Name", cell: fullName },
      { label: "Account", cell: (u) => (u.is_active ? badge("Active", "ok") : badge("Deactivated", "bad")) },
      { label: "Staff", cell: (u) => (u.is_staff ? badge("Staff", "staff") : "No") },
      { label: "Joined", cell: (u) => when(u.date_joined) },
      { label: "Last active", cell: (u) => when(u.last_active) },
    ],
  });
}
