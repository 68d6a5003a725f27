// dom.js - building the page with DOM APIs only: no innerHTML (nothing the
// API returns is ever parsed as HTML), no style attributes (the CSP forbids
// them; looks come from classes in admin.css).

const SVG_NS = "http://www.w3.org/2000/svg";

// set(el, attrs): "class" and any attribute by name; a function under
// "onclick"/"onsubmit"/... becomes a listener; true is an empty boolean
// attribute, false/null/undefined leave the attribute out.
function set(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "style") throw new Error("dom: no style attributes (CSP); use a class");
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h("a", {href: "#/"}, "text", child, [more]) -> an HTML element. The
// second argument may be left out when it is not a plain object.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs && typeof attrs === "object" && !(attrs instanceof Node) && !Array.isArray(attrs)) {
    set(el, attrs);
  } else if (attrs !== undefined) {
    children.unshift(attrs);
  }
  return add(el, children);
}

// s("rect", {x: 1}) -> an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  set(el, attrs);
  return add(el, children);
}

// A text only screen readers read (context for a short visible label).
export function srOnly(text) {
  return h("span", { class: "sr-only" }, text);
}

let ids = 0;
// A fresh id for label/aria wiring.
export function uid(prefix = "hd") {
  ids += 1;
  return `${prefix}-${ids}`;
}
