// ui.js - the pieces every page is built from: the status line (aria-live),
// the confirmation <dialog>, headings, tables that scroll inside their own
// box on a narrow screen, definition lists, pagination and error messages.
import { h, uid } from "./dom.js";
import { num } from "./format.js";

// announce(text, kind): the status line, read out by screen readers.
// kind "error" styles it as a failure.
let statusTimer = 0;
export function announce(text, kind = "info") {
  const el = document.getElementById("status");
  clearTimeout(statusTimer);
  // Cleared first, so the same message twice is announced twice.
  el.textContent = "";
  el.className = `status ${kind}`;
  statusTimer = setTimeout(() => {
    el.textContent = text;
    statusTimer = setTimeout(() => {
      el.textContent = "";
      el.className = "status";
    }, 10000);
  }, 50);
}

// confirm({title, text, ok}) -> Promise<boolean>: the modal <dialog>;
// focus starts on Cancel (the safe choice), Escape cancels, and focus goes
// back where it was when it closes.
export function confirmAction({ title, text, ok = "Confirm" }) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = ok;
  const back = document.activeElement;
  dlg.returnValue = "";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue === "ok");
      if (back && back.isConnected) back.focus();
    }, { once: true });
    dlg.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

// The page's one <h1>; the router moves focus to it after navigation.
export function heading(text) {
  return h("h1", { class: "page-title", tabindex: "-1" }, text);
}

export function section(title, ...children) {
  const id = uid("sec");
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export function loading(what = "Loading") {
  return h("p", { class: "loading" }, `${what}…`);
}

// An error box for a failed load; role="alert" so it is read at once.
export function errorBox(err, what) {
  const msg = err && err.message ? err.message : String(err);
  return h("div", { class: "error-box", role: "alert" },
    h("p", h("strong", `${what} failed.`), " ", msg));
}

// table({caption, columns: [{label, cell(row), num?}], rows, empty}): a
// table in a box that scrolls sideways by itself on a narrow screen; the
// box is a labelled, focusable region so a keyboard can scroll it too.
export function table({ caption, columns, rows, empty = "Nothing to show.", captionHidden = false }) {
  if (!rows || rows.length === 0) return h("p", { class: "empty" }, empty);
  const capId = uid("cap");
  const t = h("table", { class: "data" },
    h("caption", { id: capId, class: captionHidden ? "sr-only" : null }, caption),
    h("thead", h("tr", columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    h("tbody", rows.map((r) => h("tr", columns.map((c, i) => {
      const v = c.cell(r);
      const attrs = { class: c.num ? "num" : null };
      return i === 0 && c.rowHeader !== false ? h("th", { scope: "row", ...attrs }, v) : h("td", attrs, v);
    })))));
  return h("div", { class: "table-wrap", role: "region", "aria-labelledby": capId, tabindex: "0" }, t);
}

// dl([[term, value], ...], cls): a definition list of facts.
export function facts(pairs, cls = "facts") {
  return h("dl", { class: cls }, pairs.map(([k, v]) => h("div", h("dt", k), h("dd", v))));
}

// pager({count, page, pageSize, next, previous, go(page)}): "Page 2 of 5"
// with Previous/Next buttons (disabled at the ends).
export function pager({ count, page, pageSize, next, previous, go, label }) {
  const pages = Math.max(1, Math.ceil(count / pageSize));
  return h("nav", { class: "pager", "aria-label": label || "Pages" },
    h("button", { type: "button", class: "button secondary", disabled: previous === null || previous === undefined,
      onclick: () => go(previous) }, "Previous page"),
    h("span", { class: "pager-where" }, `Page ${num(page)} of ${num(pages)} · ${num(count)} in all`),
    h("button", { type: "button", class: "button secondary", disabled: next === null || next === undefined,
      onclick: () => go(next) }, "Next page"));
}

// field(label, control): a labelled form control (label[for] wired up).
export function field(label, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  let hintEl = null;
  if (hint) {
    hintEl = h("span", { class: "hint", id: `${id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

// select(name, [[value, text], ...], current)
export function select(name, options, current) {
  return h("select", { name }, options.map(([v, t]) => h("option", { value: v, selected: String(current ?? "") === v }, t)));
}

// A badge for a yes/no state, readable without its colour.
export function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""}` }, text);
}
