// system.js - #/system: readiness (what /api/ready/ answers, and its
// status) and the FastCGI pool's scoreboard (what /api/internal/status/
// answers), both through GET /api/admin/system/.
import { api } from "../api.js";
import { h } from "../dom.js";
import { DASH, duration, kb, num, when } from "../format.js";
import { announce, badge, errorBox, facts, heading, loading, section, table } from "../ui.js";

export const title = "System";

function readiness(ready) {
  if (!ready) return h("p", DASH);
  const ok = ready.status_code === 200;
  const err = ready.error || null;
  return h("div", {},
    h("p", { class: "big-state" }, ok ? badge("Ready", "ok") : badge("Not ready", "bad"),
      ` (HTTP ${ready.status_code})`),
    err ? h("p", { role: "alert" }, `${err.code}: ${err.message}`) : null,
    facts([
      ["Postgres", ready.postgres || (err ? "unavailable" : DASH)],
      ["Redis", ready.redis === "degraded" ? badge("degraded (served from Postgres)", "warn") : ready.redis || DASH],
      ["Schema version", ready.schema_version !== undefined ? String(ready.schema_version) : DASH],
    ]));
}

function pool(p) {
  return h("div", {},
    facts([
      ["Workers", `${num(p.workers)} of ${num(p.workers_wanted)}`],
      ["Idle", num(p.idle)],
      ["Busy", num(p.busy)],
      ["Starting", num(p.starting)],
      ["Most busy at once", num(p.max_active)],
      ["Requests served", num(p.requests)],
      ["Workers restarted", num(p.restarts)],
      ["Killed for a slow request", num(p.killed_slow)],
      ["Recycled", num(p.recycled)],
      ["Connections waiting", num(p.listen_queue)],
    ], "facts tiles"),
    facts([
      ["Most connections waiting", num(p.max_listen_queue)],
      ["Accept queue limit", num(p.listen_queue_len)],
      ["Up for", duration(p.uptime_s)],
      ["Started", when(new Date(p.started_ms).toISOString())],
    ], "facts spaced"));
}

function workers(list) {
  return table({
    caption: "Workers", captionHidden: true, rows: list, empty: "No workers.",
    columns: [
      { label: "PID", cell: (w) => String(w.pid) },
      { label: "Generation", num: true, cell: (w) => num(w.generation) },
      { label: "State", cell: (w) => (w.state === "busy" ? badge("busy", "warn") : w.state) },
      { label: "Requests", num: true, cell: (w) => num(w.requests) },
      { label: "Memory", num: true, cell: (w) => kb(w.rss_kb) },
      { label: "Started", cell: (w) => when(new Date(w.started_ms).toISOString()) },
      { label: "Request", cell: (w) => (w.request
        ? h("span", {}, h("code", `${w.request.method} ${w.request.route}`), ` for ${num(w.request.busy_ms)} ms`)
        : DASH) },
    ],
  });
}

export function render(main, ctx) {
  const body = h("div", {}, loading("Loading the system's state"));
  const refresh = h("button", { type: "button", class: "button secondary" }, "Refresh");
  main.append(heading("System"), h("div", { class: "actions-row" }, refresh), body);

  const show = async () => {
    body.setAttribute("aria-busy", "true");
    try {
      const s = await api("GET", "/api/admin/system/", { signal: ctx.signal });
      const st = s.status || {};
      body.replaceChildren(
        section("Readiness", readiness(s.ready)),
        section("The pool", st.pool ? pool(st.pool) : h("p", DASH)),
        section(`Workers (${num((st.workers || []).length)})`, workers(st.workers || [])));
      return true;
    } catch (e) {
      if (e.name === "AbortError") return false;
      body.replaceChildren(errorBox(e, "Loading the system's state"));
      return false;
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  };
  refresh.addEventListener("click", async () => {
    if (await show()) announce("The system's state is up to date.");
  });
  show();
}
