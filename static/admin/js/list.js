// list.js - a list page: a filter form, a table of one page of results and
// Previous/Next, all kept in the hash's query (#/users?q=ann&page=2), so
// back and forward, reloads and shared links show the same list. A new
// search keeps the focus where it is and announces the count.
import { api, query as qs } from "./api.js";
import { h } from "./dom.js";
import { num } from "./format.js";
import { announce, errorBox, field, heading, loading, pager, select, table } from "./ui.js";

// listPage(main, ctx, spec): spec = {
//   title, endpoint ("/api/admin/users/"), noun ("user"), nouns ("users"),
//   filters: [{name, label, kind: "search"|"text"|"number"|"select", options?, hint?}],
//   columns: as ui.table's, caption }
// Returns the page's {update(query)}.
export function listPage(main, ctx, spec) {
  const controls = spec.filters.map((f) => {
    let c;
    if (f.kind === "select") c = select(f.name, f.options, "");
    else {
      c = h("input", { name: f.name, type: f.kind === "number" ? "number" : f.kind === "search" ? "search" : "text",
        min: f.kind === "number" ? "1" : null, inputmode: f.kind === "number" ? "numeric" : null,
        autocomplete: "off", spellcheck: "false" });
    }
    return { f, c, wrap: field(f.label, c, f.hint) };
  });
  const form = h("form", { class: "filters", role: "search", "aria-label": `Filter ${spec.nouns}` },
    controls.map((x) => x.wrap),
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "button" }, "Search"),
      h("button", { type: "reset", class: "button secondary" }, "Clear")));
  const results = h("div", { class: "results", "aria-busy": "true" }, loading());
  let controller = null;
  let last = null; // the query last loaded

  const values = () => {
    const out = {};
    for (const { f, c } of controls) {
      const v = c.value.trim();
      if (v) out[f.name] = v;
    }
    return out;
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    ctx.go(values()); // page 1 of the new search
  });
  form.addEventListener("reset", (ev) => {
    ev.preventDefault();
    for (const { c } of controls) c.value = "";
    ctx.go({});
  });

  const load = async (query, say) => {
    for (const { f, c } of controls) c.value = query.get(f.name) || "";
    const params = {};
    for (const { f } of controls) params[f.name] = query.get(f.name) || "";
    const page = Math.max(1, Number(query.get("page")) || 1);
    params.page = page > 1 ? page : "";
    const key = qs(params);
    if (key === last && !say) return;
    last = key;
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    ctx.signal.addEventListener("abort", () => controller.abort(), { once: true });
    results.setAttribute("aria-busy", "true");
    try {
      const data = await api("GET", spec.endpoint + key, { signal });
      const pageSize = 20;
      const go = (p) => ctx.go({ ...Object.fromEntries(Object.entries(params).filter(([k]) => k !== "page")), page: p > 1 ? p : "" });
      const count = `${num(data.count)} ${data.count === 1 ? spec.noun : spec.nouns}`;
      // A page button pressed is about to go away with the old page: the
      // focus then goes to the top of the new one.
      const refocus = results.contains(document.activeElement);
      results.replaceChildren(...[
        h("p", { class: "count", tabindex: "-1" }, data.count === 0 ? `No ${spec.nouns} match.` : `${count} found.`),
        table({ caption: spec.caption(page), columns: spec.columns, rows: data.results, empty: "" }),
        data.count > pageSize || page > 1 ? pager({ count: data.count, page, pageSize, next: data.next,
          previous: data.previous, go, label: `Pages of ${spec.nouns}` }) : null,
      ].filter(Boolean));
      if (refocus) results.querySelector(".count").focus();
      if (say) announce(data.count === 0 ? `No ${spec.nouns} match.` : `${count} found; page ${page}.`);
    } catch (e) {
      if (e.name === "AbortError") return;
      last = null;
      results.replaceChildren(errorBox(e, `Loading the ${spec.nouns}`));
      if (say) announce(`Loading the ${spec.nouns} failed.`, "error");
    } finally {
      if (!signal.aborted) results.setAttribute("aria-busy", "false");
    }
  };

  main.append(heading(spec.title), form, results);
  load(ctx.query, false);
  return { update: (query) => load(query, true) };
}
