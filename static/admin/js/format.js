// format.js - how values from the API are shown: dates in the browser's
// locale and time zone (the machine-readable value kept in <time>), counts
// with grouping, missing values as a dash.
import { h } from "./dom.js";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
const number = new Intl.NumberFormat();

export const DASH = "—";

// A <time> for an ISO 8601 timestamp (or unix seconds when a number).
export function when(value) {
  if (value === null || value === undefined || value === "") return DASH;
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return h("time", { datetime: d.toISOString() }, dateTime.format(d));
}

// A calendar date "YYYY-MM-DD" (UTC), as the stats series gives them.
export function day(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? iso : dateOnly.format(d);
}

export function num(n) {
  return typeof n === "number" ? number.format(n) : DASH;
}

export function yesNo(b) {
  return b ? "Yes" : "No";
}

// "1 job", "3 jobs".
export function plural(n, one, many = `${one}s`) {
  return `${num(n)} ${n === 1 ? one : many}`;
}

// Bytes from kilobytes, for a worker's RSS.
export function kb(n) {
  if (typeof n !== "number") return DASH;
  return n >= 10240 ? `${number.format(Math.round(n / 1024))} MiB` : `${number.format(n)} KiB`;
}

export function duration(seconds) {
  if (typeof seconds !== "number") return DASH;
  const d = Math.floor(seconds / 86400);
  const hh = Math.floor((seconds % 86400) / 3600);
  const mm = Math.floor((seconds % 3600) / 60);
  const ss = seconds % 60;
  if (d) return `${d} d ${hh} h`;
  if (hh) return `${hh} h ${mm} min`;
  if (mm) return `${mm} min ${ss} s`;
  return `${ss} s`;
}
