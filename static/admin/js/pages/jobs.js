// jobs.js - #/jobs: honeydue-worker's queues (GET /api/admin/jobs/): how
// many jobs wait on each queue, the scheduled (retries and delayed jobs)
// and running ones, the dead list with each job's type, last error and
// attempts, and the outcome counters. Dead jobs can be retried or
// discarded, one or all, after a confirmation (POST
// /api/admin/jobs/dead/retry/ and .../discard/). Never a job's payload:
// the API does not give it.
import { api } from "../api.js";
import { h, srOnly, uid } from "../dom.js";
import { DASH, num, plural, when } from "../format.js";
import { announce, confirmAction, errorBox, facts, heading, loading, table } from "../ui.js";

export const title = "Jobs";

function sectionWithFocus(title, ...children) {
  const id = uid("sec");
  return h("section", { class: "panel", "aria-labelledby": id },
    h("h2", { id, tabindex: "-1" }, title), ...children);
}

function errorText(e) {
  return e ? h("code", { class: "wrap" }, e) : DASH;
}

export function render(main, ctx) {
  const body = h("div", {}, loading("Loading the queues"));
  const refresh = h("button", { type: "button", class: "button secondary" }, "Refresh");
  main.append(heading("Jobs"), h("div", { class: "actions-row" }, refresh), body);

  // act(op, target): op "retry" or "discard"; target a dead job, or "all"
  // with the count shown.
  const act = async (op, target, count) => {
    const all = target === "all";
    const what = all ? `all ${plural(count, "dead job")}` : `job ${target.id} (${target.type})`;
    const text = op === "retry"
      ? `Retry ${what}? ${all ? "They go" : "It goes"} back on ${all ? "their queues" : `the ${target.queue} queue`} ` +
        "and run again from the first attempt."
      : `Discard ${what}? ${all ? "They are" : "It is"} deleted for good and never run.`;
    const label = op === "retry" ? (all ? "Retry all" : "Retry") : (all ? "Discard all" : "Discard");
    if (!(await confirmAction({ title: `${label}?`, text, ok: label }))) return;
    try {
      const r = await api("POST", `/api/admin/jobs/dead/${op}/`, { body: all ? { all: true } : { id: target.id },
        signal: ctx.signal });
      const n = op === "retry" ? r.retried : r.discarded;
      announce(`${op === "retry" ? "Retried" : "Discarded"} ${plural(n, "job")}.`);
    } catch (e) {
      if (e.name === "AbortError") return;
      announce(e.status === 404 ? `Job ${target.id} is no longer in the dead list.` : `${label} failed: ${e.message}`,
        "error");
    }
    await show();
    const h2 = body.querySelector("[data-section=dead] h2");
    if (h2) h2.focus();
  };

  const dead = (j) => {
    const dl = j.dead_jobs || [];
    const sec = sectionWithFocus(`Dead jobs (${num(j.dead)})`,
      h("p", { class: "muted" }, "Jobs that failed every attempt, or failed in a way not worth retrying. Newest first",
        j.dead > dl.length ? `; the ${num(dl.length)} newest shown.` : "."),
      h("div", { class: "actions-row" },
        h("button", { type: "button", class: "button secondary", disabled: !j.dead,
          onclick: () => act("retry", "all", j.dead) }, "Retry all"),
        h("button", { type: "button", class: "button danger", disabled: !j.dead,
          onclick: () => act("discard", "all", j.dead) }, "Discard all")),
      table({
        caption: "Dead jobs", captionHidden: true, rows: dl, empty: "No dead jobs.",
        columns: [
          { label: "Job", cell: (d) => h("code", d.id) },
          { label: "Type", cell: (d) => d.type },
          { label: "Queue", cell: (d) => d.queue },
          { label: "Attempts", cell: (d) => `${num(d.attempt)} of ${num(d.max_attempts)}` },
          { label: "Failed", cell: (d) => when(d.failed_at) },
          { label: "Last error", cell: (d) => errorText(d.last_error) },
          { label: "Actions", rowHeader: false, cell: (d) => h("div", { class: "row-actions" },
            h("button", { type: "button", class: "button small secondary", "data-job": d.id, "data-op": "retry",
              onclick: () => act("retry", d) }, "Retry", srOnly(` job ${d.id}`)),
            h("button", { type: "button", class: "button small danger", "data-job": d.id, "data-op": "discard",
              onclick: () => act("discard", d) }, "Discard", srOnly(` job ${d.id}`))) },
        ],
      }));
    sec.dataset.section = "dead";
    return sec;
  };

  const show = async () => {
    body.setAttribute("aria-busy", "true");
    try {
      const j = await api("GET", "/api/admin/jobs/", { signal: ctx.signal });
      const q = j.queues || {};
      const counters = Object.entries(j.counters || {}).map(([k, v]) => {
        const i = k.indexOf(":");
        return { outcome: i < 0 ? k : k.slice(0, i), type: i < 0 ? "" : k.slice(i + 1), n: v };
      }).sort((a, b) => a.type.localeCompare(b.type) || a.outcome.localeCompare(b.outcome));
      body.replaceChildren(
        sectionWithFocus("Queues", facts([
          ["Waiting: critical", num(q.critical)],
          ["Waiting: default", num(q.default)],
          ["Waiting: low", num(q.low)],
          ["Scheduled", num(j.scheduled)],
          ["Running", num(j.running)],
          ["Dead", num(j.dead)],
        ], "facts tiles")),
        dead(j),
        sectionWithFocus(`Scheduled (${num(j.scheduled)})`,
          h("p", { class: "muted" }, "Retries waiting for their back-off, and jobs queued for later. Soonest first."),
          table({
            caption: "Scheduled jobs", captionHidden: true, rows: j.scheduled_jobs || [], empty: "Nothing scheduled.",
            columns: [
              { label: "Job", cell: (d) => h("code", d.id) },
              { label: "Type", cell: (d) => d.type },
              { label: "Queue", cell: (d) => d.queue },
              { label: "Attempt", cell: (d) => `${num(d.attempt)} of ${num(d.max_attempts)}` },
              { label: "Runs at", cell: (d) => when(d.run_at) },
              { label: "Last error", cell: (d) => errorText(d.last_error) },
            ],
          })),
        sectionWithFocus(`Running (${num(j.running)})`, table({
          caption: "Running jobs", captionHidden: true, rows: j.running_jobs || [], empty: "Nothing running.",
          columns: [
            { label: "Job", cell: (d) => h("code", d.id) },
            { label: "Type", cell: (d) => d.type },
            { label: "Queue", cell: (d) => d.queue },
            { label: "Attempt", cell: (d) => num(d.attempt) },
            { label: "Lease until", cell: (d) => when(d.lease_until) },
          ],
        })),
        sectionWithFocus("Outcomes since the counters started", table({
          caption: "Job outcomes by type", captionHidden: true, rows: counters, empty: "No jobs counted yet.",
          columns: [
            { label: "Type", cell: (c) => c.type || DASH },
            { label: "Outcome", cell: (c) => c.outcome },
            { label: "Jobs", num: true, cell: (c) => num(c.n) },
          ],
        })));
    } catch (e) {
      if (e.name === "AbortError") return;
      body.replaceChildren(errorBox(e, "Loading the queues"));
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  };

  refresh.addEventListener("click", async () => {
    await show();
    announce("The queues are up to date.");
  });
  show();
}
