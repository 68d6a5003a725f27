// chart.js - a bar chart of one value per day, drawn as inline SVG with DOM
// APIs (no library, no style attributes: colours and type come from
// classes in admin.css). The SVG is one image to assistive technology,
// labelled with a one-line summary; the numbers themselves are in a
// visually hidden table beside it, the chart's text alternative. The SVG
// is drawn at its box's real width (and again when that changes), so its
// labels keep their size on a phone.
import { h, s, uid } from "./dom.js";
import { day, num } from "./format.js";

const HEIGHT = 180;
const PAD = { top: 12, right: 8, bottom: 26, left: 36 };

// niceMax(v): the axis's top: 1, 2, 5 or 10 times a power of ten, at least v.
function niceMax(v) {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function draw(svg, points, width, unit) {
  const w = Math.max(240, Math.floor(width));
  const plotW = w - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const step = plotW / Math.max(1, points.length);
  const barW = Math.max(1, step * 0.75);
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  svg.setAttribute("viewBox", `0 0 ${w} ${HEIGHT}`);
  svg.setAttribute("width", w);
  svg.setAttribute("height", HEIGHT);
  const nodes = [];
  for (const t of [0, max / 2, max]) {
    nodes.push(s("line", { class: t === 0 ? "axis" : "grid", x1: PAD.left, x2: w - PAD.right, y1: y(t), y2: y(t) }));
    nodes.push(s("text", { class: "tick", x: PAD.left - 6, y: y(t) + 4, "text-anchor": "end" }, num(t)));
  }
  points.forEach((p, i) => {
    const x = PAD.left + i * step + (step - barW) / 2;
    const top = y(p.value);
    nodes.push(s("rect", { class: "bar", x: x.toFixed(2), y: top.toFixed(2), width: barW.toFixed(2),
      height: Math.max(0, PAD.top + plotH - top).toFixed(2) },
    s("title", `${day(p.date)}: ${num(p.value)} ${unit}`)));
  });
  // The first, middle and last dates under the bars.
  const marks = points.length > 2 ? [0, Math.floor((points.length - 1) / 2), points.length - 1] : points.map((_, i) => i);
  marks.forEach((i, n) => {
    const x = PAD.left + i * step + step / 2;
    const anchor = n === 0 && marks.length > 1 ? "start" : n === marks.length - 1 && marks.length > 1 ? "end" : "middle";
    nodes.push(s("text", { class: "tick", x: anchor === "start" ? PAD.left : anchor === "end" ? w - PAD.right : x,
      y: HEIGHT - 8, "text-anchor": anchor }, day(points[i].date)));
  });
  svg.replaceChildren(...nodes);
}

// barChart({title, unit, points: [{date, value}]}) -> a <figure>.
export function barChart({ title, unit, points }) {
  const capId = uid("chart");
  const total = points.reduce((a, p) => a + p.value, 0);
  const peak = points.reduce((best, p) => (p.value > best.value ? p : best), points[0] || { value: 0 });
  const summary = points.length
    ? `${title}: ${num(total)} ${unit} over ${points.length} days, from ${day(points[0].date)} to ` +
      `${day(points[points.length - 1].date)}` +
      (peak.value > 0 ? `; the most, ${num(peak.value)}, on ${day(peak.date)}.` : "; none.")
    : `${title}: no data.`;
  const svg = s("svg", { class: "chart", role: "img", "aria-label": summary, focusable: "false" });
  const fig = h("figure", { class: "chart-figure", "aria-labelledby": capId },
    h("figcaption", { id: capId }, title, " ", h("span", { class: "chart-total" }, `(${num(total)} in all)`)),
    h("div", { class: "chart-box" }, svg),
    h("table", { class: "sr-only" },
      h("caption", `${title}, per day`),
      h("thead", h("tr", h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, unit))),
      h("tbody", points.map((p) => h("tr", h("th", { scope: "row" }, day(p.date)), h("td", num(p.value)))))));
  let drawnAt = 0;
  const redraw = (width) => {
    if (Math.abs(width - drawnAt) < 2) return;
    drawnAt = width;
    draw(svg, points, width, unit);
  };
  // Drawn at once at a guess, then at the box's real width.
  redraw(640);
  new ResizeObserver((entries) => {
    for (const e of entries) redraw(e.contentRect.width);
  }).observe(fig.querySelector(".chart-box"));
  return fig;
}
