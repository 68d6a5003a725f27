// dashboard.js - #/ (?days=30|90): the totals (GET /api/admin/stats/) and
// charts of sign-ups and active users per day over the last 30 or 90 days
// (GET /api/admin/stats/series/?days=N). When both have loaded the first
// time, the performance mark "hd-dashboard-ready" is set: the browser test
// reads it as the time to an interactive dashboard.
import { api } from "../api.js";
import { h } from "../dom.js";
import { barChart } from "../chart.js";
import { num, when } from "../format.js";
import { announce, errorBox, facts, heading, loading, section } from "../ui.js";

export const title = "Dashboard";

const RANGES = [30, 90];

function days(query) {
  const d = Number(query.get("days"));
  return RANGES.includes(d) ? d : 30;
}

function totals(stats) {
  return h("div", {},
    facts([
      ["Users", num(stats.users)],
      ["Active accounts", num(stats.active_users)],
      ["Staff", num(stats.staff_users)],
      ["Seen in the last 7 days", num(stats.seen_last_7_days)],
      ["Seen in the last 30 days", num(stats.seen_last_30_days)],
      ["Residences", num(stats.residences)],
      ["Tasks", num(stats.tasks)],
      ["Completions", num(stats.completions)],
    ], "facts tiles"),
    h("p", { class: "muted" }, "As of ", when(stats.generated_at), "."));
}

function charts(series) {
  const rows = series.series || [];
  return h("div", { class: "charts" },
    barChart({ title: "Sign-ups per day", unit: "sign-ups", points: rows.map((r) => ({ date: r.date, value: r.signups })) }),
    barChart({ title: "Active users per day", unit: "active users",
      points: rows.map((r) => ({ date: r.date, value: r.active })) }));
}

let marked = false;

export function render(main, ctx) {
  const { signal } = ctx;
  const totalsBox = h("div", {}, loading("Loading the totals"));
  const chartsBox = h("div", { class: "charts-box" }, loading("Loading the charts"));
  let shown = days(ctx.query);
  const seriesCache = new Map();

  const radios = RANGES.map((n) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "days", value: String(n), checked: n === shown,
      onchange: () => ctx.go({ days: n === 30 ? "" : n }) }),
    ` Last ${n} days`));
  const range = h("fieldset", { class: "range" }, h("legend", "Period"), radios);

  const loadSeries = (n) => {
    if (!seriesCache.has(n)) {
      const p = api("GET", `/api/admin/stats/series/?days=${n}`, { signal });
      p.catch(() => seriesCache.delete(n));
      seriesCache.set(n, p);
    }
    return seriesCache.get(n);
  };

  const showSeries = async (n, say) => {
    chartsBox.setAttribute("aria-busy", "true");
    try {
      const series = await loadSeries(n);
      if (signal.aborted || n !== shown) return;
      chartsBox.replaceChildren(charts(series));
      if (say) announce(`Showing the last ${n} days.`);
    } catch (e) {
      if (e.name === "AbortError") return;
      chartsBox.replaceChildren(errorBox(e, "Loading the daily figures"));
    } finally {
      chartsBox.setAttribute("aria-busy", "false");
    }
  };

  const showTotals = async () => {
    try {
      const stats = await api("GET", "/api/admin/stats/", { signal });
      totalsBox.replaceChildren(totals(stats));
    } catch (e) {
      if (e.name === "AbortError") return;
      totalsBox.replaceChildren(errorBox(e, "Loading the totals"));
    }
  };

  main.append(heading("Dashboard"),
    section("Totals", totalsBox),
    section("Activity", h("p", { class: "muted" }, "Per day, in UTC."), range, chartsBox));

  Promise.allSettled([showTotals(), showSeries(shown, false)]).then(() => {
    if (!marked && !signal.aborted) {
      marked = true;
      performance.mark("hd-dashboard-ready");
    }
  });

  return {
    update(query) {
      const n = days(query);
      for (const r of range.querySelectorAll("input")) r.checked = Number(r.value) === n;
      if (n === shown) return;
      shown = n;
      showSeries(n, true);
      // The other range is likely next: fetch it now.
      for (const other of RANGES) if (other !== n) loadSeries(other).catch(() => {});
    },
  };
}
