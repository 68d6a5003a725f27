#!/usr/bin/env node
// run.mjs [FILTER...] - the admin panel (static/admin/, served by nginx at
// /admin/) in a real browser: Debian's Chromium (/usr/bin/chromium, from
// tests/deps.sh) driven by playwright-core (tests/browser/package.json,
// installed by tests/deps.sh with `npm ci`), against a running stack
// (API_URL and the rest of STATE/env: tests/run.sh runs it after the HTTP
// tests; alone: tests/stack.sh env .run/test node tests/browser/run.mjs).
//
// Each test makes its own users and data through the API (or psql and
// `honeydue-worker jobs` for what no endpoint makes), in a fresh browser
// context, and passes in any order. On every page opened, any Content
// Security Policy violation, console error, uncaught exception or request
// to another origin fails the test (a test names the HTTP errors it
// expects, whose "Failed to load resource" console lines are then
// allowed). Prints "ok NAME (S s)" or "FAIL NAME" with the error, and ends
// with "browser: N passed, M failed"; exits 1 if anything failed. A FILTER
// keeps the tests whose name contains it. The dashboard's time to
// interactive is printed, not asserted (a timing assertion would flake).
// A failed test leaves a screenshot in $HD_STATE/log/browser/.

import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  console.error(`run.mjs: playwright-core is not installed (${e.code || e.message}): ` +
    "tests/deps.sh installs it (npm ci in tests/browser)");
  process.exit(2);
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const API = process.env.API_URL;
if (!API) {
  console.error("run.mjs: API_URL is not set (run it with the stack's environment: tests/stack.sh env STATE ...)");
  process.exit(2);
}
const ORIGIN = new URL(API).origin;
const PANEL = `${ORIGIN}/admin/`;
const TOKEN_KEY = "honeydue.admin.token";
const NOT_ADMIN = "This account is not an administrator.";
const TEST_TIMEOUT_MS = Number(process.env.HD_BROWSER_TEST_TIMEOUT_MS || 90000);
const CHROMIUM = process.env.HD_CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.HD_STATE ? path.join(process.env.HD_STATE, "log", "browser") : null;

// ---- helpers: the API, psql, the job CLI -----------------------------------

class AssertionError extends Error {}

function assert(cond, msg) {
  if (!cond) throw new AssertionError(typeof msg === "function" ? msg() : msg || "assertion failed");
}

function eq(got, want, what) {
  assert(JSON.stringify(got) === JSON.stringify(want),
    () => `${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

const RUN = `${(Date.now() % 46656000).toString(36)}${(process.pid % 1296).toString(36)}`;
let counter = 0;
// A name no other call returns (a valid username): prefix_run_n.
function unique(prefix) {
  counter += 1;
  return `${prefix}_${RUN}_${counter}`.toLowerCase();
}

// request(method, path, {token, body}) -> {status, json, headers}
async function request(method, p, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Token ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(ORIGIN + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: r.status, json, text, headers: r.headers };
}

async function registerUser(prefix = "bu", extra = {}) {
  const username = unique(prefix);
  const password = `pw-${username}-secret`;
  const r = await request("POST", "/api/auth/register/",
    { body: { username, email: `${username}@example.com`, password, ...extra } });
  assert(r.status === 201, () => `register ${username}: ${r.status} ${r.text}`);
  return { user: r.json.user, token: r.json.token, password };
}

function psql(sql) {
  return execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", process.env.DB_HOST || "127.0.0.1",
    "-p", process.env.DB_PORT, "-U", process.env.DB_USER || "postgres", "-d", process.env.DB_NAME || "honeydue",
    "-At", "-c", sql], { encoding: "utf8", timeout: 60000 }).replace(/\n$/, "");
}

// A staff account, made so in the database before its first token is used
// (a resolved token caches the staff flag), as the HTTP tests do.
async function makeStaff(prefix = "staff") {
  const s = await registerUser(prefix);
  psql(`UPDATE auth_user SET is_staff = true WHERE id = ${Number(s.user.id)}`);
  s.user.is_staff = true;
  return s;
}

function jobs(...args) {
  return execFileSync(path.join(process.env.HD_BIN, "honeydue-worker"), ["jobs", ...args],
    { encoding: "utf8", timeout: 30000 });
}

function deadJobs() {
  return jobs("dead", "10000").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function jobStats() {
  return JSON.parse(jobs("stats"));
}

async function waitFor(fn, { timeout = 15000, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new AssertionError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A job that dies at once (noop's "fatal"), and its id in the dead list.
async function deadJob(tag) {
  jobs("enqueue", "noop", JSON.stringify({ tag, fatal: `never ${tag}` }));
  const j = await waitFor(() => deadJobs().find((d) => d.payload && d.payload.tag === tag),
    { what: `job ${tag} in the dead list` });
  return j;
}

// ---- the browser -------------------------------------------------------------

let browser;

// open(t, opts) -> page, in a new context, with every page watched for
// CSP violations, console errors, uncaught exceptions and requests to
// another origin (t.problems); opts.viewport, opts.token (put in
// sessionStorage before any script of the page runs).
async function open(t, opts = {}) {
  const context = await browser.newContext({
    viewport: opts.viewport || { width: 1280, height: 900 },
    baseURL: ORIGIN,
  });
  t.contexts.push(context);
  await context.exposeBinding("__hdViolation", (_src, v) => {
    t.problems.push(`CSP violation: ${v.directive} blocked ${v.blocked || "inline"} (${v.sample || ""}) at ${v.source}`);
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__hdViolation({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample,
        source: `${e.sourceFile}:${e.lineNumber}` });
    });
  });
  if (opts.token) {
    await context.addInitScript(([k, v]) => {
      if (!sessionStorage.getItem("hd.test.seeded")) {
        sessionStorage.setItem(k, v);
        sessionStorage.setItem("hd.test.seeded", "1");
      }
    }, [TOKEN_KEY, opts.token]);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    const status = /the server responded with a status of (\d+)/.exec(text);
    if (status && t.allowed.has(Number(status[1]))) return;
    t.problems.push(`console error: ${text}`);
  });
  page.on("pageerror", (e) => t.problems.push(`uncaught exception: ${e.message}`));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith("data:") && new URL(u).origin !== ORIGIN) t.problems.push(`request to another origin: ${u}`);
  });
  t.pages.push(page);
  return page;
}

async function h1(page) {
  return (await page.locator("main h1").textContent()).trim();
}

async function waitH1(page, text) {
  await page.locator("main h1", { hasText: text }).waitFor({ timeout: 10000 });
  const all = await page.locator("h1").count();
  eq(all, 1, "h1 elements on the page");
}

async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return { tag: el.tagName.toLowerCase(), text: (el.textContent || "").trim().slice(0, 120), id: el.id,
      route: el.dataset ? el.dataset.route || "" : "", action: el.dataset ? el.dataset.action || "" : "" };
  });
}

async function storedToken(page) {
  return page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY);
}

async function signIn(page, username, password) {
  await page.goto(`${PANEL}#/login`);
  await waitH1(page, "Sign in");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await waitH1(page, "Dashboard");
}

// The status line's text once it says something matching RE.
async function statusSays(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById("status").textContent),
    re.source, { timeout: 10000 });
  return page.locator("#status").textContent();
}

// Nothing the scripts built shows a JavaScript value as text.
async function noStrayValues(page, what) {
  const text = await page.locator("body").innerText();
  const m = /\b(?:null|undefined|NaN|Invalid Date)\b|\[object \w+\]/.exec(text);
  assert(!m, () => `${what}: the page shows "${m[0]}": ...${text.slice(Math.max(0, m.index - 60), m.index + 60)}...`);
}

async function noHorizontalScroll(page, what) {
  const [sw, vw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert(sw <= vw, `${what}: the page scrolls sideways at ${vw} px (scrollWidth ${sw})`);
}

// ---- the tests ------------------------------------------------------------------

const tests = [];
function test(name, fn) {
  tests.push({ name, fn });
}

function walk(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

test("served files have no inline script or style and load nothing from elsewhere", async () => {
  const dir = path.join(REPO, "static", "admin");
  const files = walk(dir).map((f) => `/admin/${path.relative(dir, f).split(path.sep).join("/")}`);
  assert(files.includes("/admin/index.html") && files.some((f) => f.endsWith(".js")), "no panel files found");
  const bad = [];
  for (const f of files) {
    const r = await fetch(ORIGIN + f);
    const body = await r.text();
    eq(body, readFileSync(path.join(dir, f.slice("/admin/".length)), "utf8"), `${f} as served`);
    const type = r.headers.get("content-type") || "";
    const csp = r.headers.get("content-security-policy") || "";
    if (r.status !== 200) bad.push(`${f}: HTTP ${r.status}`);
    if (!/script-src 'self';/.test(csp) || /unsafe-/.test(csp)) bad.push(`${f}: CSP ${csp}`);
    if (f.endsWith(".html")) {
      if (!type.startsWith("text/html")) bad.push(`${f}: ${type}`);
      for (const m of body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
        if (!/\bsrc="\/admin\//.test(m[1]) || m[2].trim()) bad.push(`${f}: inline script ${m[0].slice(0, 80)}`);
      }
      if (/<style\b/i.test(body)) bad.push(`${f}: a <style> element`);
      if (/\sstyle\s*=/i.test(body)) bad.push(`${f}: a style attribute`);
      if (/\son[a-z]+\s*=/i.test(body)) bad.push(`${f}: an inline event handler`);
      if (/javascript:/i.test(body)) bad.push(`${f}: a javascript: URL`);
      for (const m of body.matchAll(/\b(?:href|src)="([^"]*)"/g)) {
        if (!(m[1].startsWith("/admin/") || m[1].startsWith("#"))) bad.push(`${f}: ${m[1]} is not the panel's own`);
      }
    } else if (f.endsWith(".js")) {
      if (!type.startsWith("application/javascript")) bad.push(`${f}: ${type}`);
      const code = body.replace(/^\s*\/\/.*$/gm, "");
      for (const [re, what] of [[/\beval\s*\(/, "eval"], [/\bnew\s+Function\s*\(/, "new Function"],
        [/\.(?:inner|outer)HTML\b/, "innerHTML/outerHTML"], [/insertAdjacentHTML/, "insertAdjacentHTML"],
        [/document\.write/, "document.write"], [/setAttribute\(\s*["']style["']/, "a style attribute"],
        [/\.style\s*(?:\.|=|\[)/, "inline style through .style"], [/setTimeout\(\s*["'`]/, "setTimeout with a string"]]) {
        if (re.test(code)) bad.push(`${f}: ${what}`);
      }
      for (const m of code.matchAll(/\bhttps?:\/\/[^\s"'`)]+/g)) {
        if (m[0] !== "http://www.w3.org/2000/svg") bad.push(`${f}: names ${m[0]}`);
      }
    } else if (f.endsWith(".css")) {
      if (!type.startsWith("text/css")) bad.push(`${f}: ${type}`);
      if (/@import|url\(\s*["']?(?:https?:)?\/\//i.test(body)) bad.push(`${f}: loads from elsewhere`);
    }
  }
  assert(bad.length === 0, () => `the panel's files break its CSP rules:\n  ${bad.join("\n  ")}`);
});

test("the CSP is in force and a violation is noticed", async (t) => {
  // The watch that fails every other test on a violation must see one:
  // an inline script and a style attribute, refused by the policy.
  const page = await open(t);
  await page.goto(PANEL);
  await waitH1(page, "Sign in");
  const ran = await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__hdInline = 1;";
    document.body.append(s);
    document.body.setAttribute("style", "background: red");
    return window.__hdInline === 1;
  });
  assert(!ran, "an inline script ran: the panel's CSP is not in force");
  await waitFor(() => t.problems.filter((p) => p.startsWith("CSP violation")).length >= 2,
    { timeout: 5000, what: "two CSP violation events" });
  const seen = t.problems.join("\n");
  assert(/script-src/.test(seen) && /style-src/.test(seen), seen);
  t.problems.length = 0; // expected here; any other is a failure
});

test("a staff account signs in; the token is kept in sessionStorage", async (t) => {
  const s = await makeStaff();
  const page = await open(t);
  await page.goto(PANEL); // not signed in: the sign-in page, whatever the route
  await waitH1(page, "Sign in");
  eq(page.url(), `${PANEL}#/login`, "the URL");
  assert(await page.locator("#nav").isHidden(), "the navigation shows before signing in");
  await signIn(page, s.user.username, s.password);
  eq(page.url(), `${PANEL}#/`, "the URL after signing in");
  const tok = await storedToken(page);
  assert(/^[0-9a-f]{40}$/.test(tok || ""), `sessionStorage["${TOKEN_KEY}"] is ${tok}`);
  eq((await focused(page)).tag, "h1", "the focused element after signing in");
  assert(await page.locator("#nav").isVisible(), "no navigation after signing in");
  assert((await page.locator("#account-name").textContent()).includes(s.user.username), "the account name");
  eq(await page.locator('#nav a[aria-current="page"]').textContent(), "Dashboard", "the current nav entry");
  eq((await request("GET", "/api/auth/me/", { token: tok })).status, 200, "GET /api/auth/me/ with the panel's token");
  assert(await page.evaluate(() => localStorage.length === 0), "something was put in localStorage");
});

test("a wrong password is refused on the page", async (t) => {
  t.allow(401);
  const s = await makeStaff();
  const page = await open(t);
  await page.goto(PANEL);
  await page.getByLabel("Username").fill(s.user.username);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#login-error", { hasText: "Wrong username or password." }).waitFor();
  eq(await storedToken(page), null, "the stored token");
  eq(await h1(page), "Sign in", "the page");
});

test("a non-staff account is refused and its new token revoked", async (t) => {
  const u = await registerUser("plain");
  const page = await open(t);
  await page.goto(PANEL);
  await page.getByLabel("Username").fill(u.user.username);
  await page.getByLabel("Password").fill(u.password);
  const login = page.waitForResponse((r) => r.url().endsWith("/api/auth/login/"));
  const logout = page.waitForResponse((r) => r.url().endsWith("/api/auth/logout/"));
  await page.getByRole("button", { name: "Sign in" }).click();
  const tok = (await (await login).json()).token;
  assert(/^[0-9a-f]{40}$/.test(tok || ""), "the login gave no token");
  eq((await logout).status(), 204, "POST /api/auth/logout/ with the new token");
  await page.locator("#login-error", { hasText: NOT_ADMIN }).waitFor();
  eq(await storedToken(page), null, "the stored token");
  eq(await h1(page), "Sign in", "the page");
  eq((await request("GET", "/api/auth/me/", { token: tok })).status, 401, "the refused account's token afterwards");
  eq((await request("GET", "/api/auth/me/", { token: u.token })).status, 200, "the account's other token");
});

test("sign out revokes the token and returns to sign-in", async (t) => {
  const s = await makeStaff();
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  const tok = await storedToken(page);
  const out = page.waitForResponse((r) => r.url().endsWith("/api/auth/logout/"));
  await page.getByRole("button", { name: "Sign out" }).click();
  eq((await out).status(), 204, "POST /api/auth/logout/");
  await waitH1(page, "Sign in");
  await page.locator("#login-notice", { hasText: "You have signed out." }).waitFor();
  eq(await storedToken(page), null, "the stored token");
  assert(await page.locator("#nav").isHidden(), "the navigation still shows");
  eq((await request("GET", "/api/auth/me/", { token: tok })).status, 401, "the token after signing out");
  // Back is not a way in: the routes need a token.
  await page.goBack();
  await waitH1(page, "Sign in");
});

test("a revoked token returns to sign-in, and signing in goes back", async (t) => {
  t.allow(401);
  const s = await makeStaff();
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  const tok = await storedToken(page);
  eq((await request("POST", "/api/auth/logout/", { token: tok })).status, 204, "revoking the token");
  await page.locator("#nav").getByRole("link", { name: "Users" }).click();
  await waitH1(page, "Sign in");
  await page.locator("#login-notice", { hasText: "Your session has ended" }).waitFor();
  eq(await storedToken(page), null, "the stored token");
  await page.getByLabel("Username").fill(s.user.username);
  await page.getByLabel("Password").fill(s.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await waitH1(page, "Users");
  eq(new URL(page.url()).hash, "#/users", "where signing in again leads");
});

test("an unknown (expired) token in storage returns to sign-in", async (t) => {
  t.allow(401);
  const page = await open(t, { token: "0".repeat(40) });
  await page.goto(`${PANEL}#/jobs`);
  await waitH1(page, "Sign in");
  await page.locator("#login-notice", { hasText: "Your session has ended" }).waitFor();
  eq(await storedToken(page), null, "the stored token");
  await noStrayValues(page, "the sign-in page");
});

test("the dashboard shows the stack's totals and daily charts", async (t) => {
  const s = await makeStaff();
  await registerUser("dash");
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  await page.locator(".facts.tiles dd").first().waitFor();
  const stats = (await request("GET", "/api/admin/stats/", { token: s.token })).json;
  const tiles = Object.fromEntries(await page.locator(".facts.tiles > div").evaluateAll((divs) =>
    divs.map((d) => [d.querySelector("dt").textContent, d.querySelector("dd").textContent])));
  const n = (v) => new Intl.NumberFormat().format(v);
  eq([tiles.Users, tiles.Staff, tiles.Residences, tiles.Tasks],
    [n(stats.users), n(stats.staff_users), n(stats.residences), n(stats.tasks)], "the totals shown");
  // The charts: 30 bars each, and the hidden tables hold the API's numbers.
  const series = await request("GET", "/api/admin/stats/series/?days=30", { token: s.token });
  eq(series.status, 200, "GET /api/admin/stats/series/?days=30");
  await page.locator("figure svg.chart").first().waitFor();
  eq(await page.locator("figure").count(), 2, "charts");
  eq(await page.locator("figure").nth(0).locator("rect.bar").count(), 30, "bars of the sign-ups chart");
  const label = await page.locator("figure svg.chart").first().getAttribute("aria-label");
  assert(/^Sign-ups per day: .* over 30 days/.test(label || ""), `the chart's label: ${label}`);
  const cells = await page.locator("figure").nth(0).locator("table tbody td").allTextContents();
  eq(cells, series.json.series.map((d) => n(d.signups)), "the sign-ups chart's table");
  const active = await page.locator("figure").nth(1).locator("table tbody td").allTextContents();
  eq(active, series.json.series.map((d) => n(d.active)), "the active users chart's table");
  assert(series.json.series[29].signups >= 2 && series.json.series[29].active >= 1,
    "today's sign-ups and active users do not count this test's accounts");
  // 90 days, through the radio button; the hash keeps it.
  await page.getByLabel("Last 90 days").check();
  await waitFor(async () => (await page.locator("figure").nth(0).locator("rect.bar").count()) === 90,
    { what: "90 bars" });
  eq(new URL(page.url()).hash, "#/?days=90", "the hash");
  await statusSays(page, /last 90 days/);
  // No inline style anywhere in what the scripts built.
  eq(await page.locator("[style]").count(), 0, "elements with a style attribute");
});

test("the dashboard's time to interactive (measured, not asserted)", async (t) => {
  const s = await makeStaff();
  const cold = [];
  const warm = [];
  for (let i = 0; i < 3; i += 1) {
    const page = await open(t, { token: s.token });
    for (const list of [cold, warm]) {
      if (list === cold) await page.goto(PANEL);
      else await page.reload();
      await page.waitForFunction(() => performance.getEntriesByName("hd-dashboard-ready").length > 0,
        null, { timeout: 15000 });
      list.push(await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        return {
          ready: performance.getEntriesByName("hd-dashboard-ready")[0].startTime,
          dcl: nav.domContentLoadedEventEnd,
        };
      }));
    }
    await waitH1(page, "Dashboard");
  }
  const med = (xs) => xs.map((x) => x.ready).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (xs) => xs.map((x) => `${Math.round(x.ready)}`).join(", ");
  t.note(`dashboard interactive (totals and charts drawn, from navigation start): ` +
    `first load median ${Math.round(med(cold))} ms [${fmt(cold)}], ` +
    `reload (revalidated, 304s) median ${Math.round(med(warm))} ms [${fmt(warm)}]; ` +
    `DOMContentLoaded ${Math.round(cold[0].dcl)} ms on the first`);
  assert(cold.every((x) => x.ready > 0), "no time measured");
});

test("users: search, filters, ordering and pages", async (t) => {
  const s = await makeStaff();
  const tag = unique("uq");
  const made = [];
  for (let i = 0; i < 23; i += 1) made.push(await registerUser(`${tag}_${String(i).padStart(2, "0")}`));
  const off = made[5];
  eq((await request("PATCH", `/api/admin/users/${off.user.id}/`, { token: s.token, body: { is_active: false } })).status,
    200, "deactivating one");
  psql(`UPDATE auth_user SET is_staff = true WHERE id = ${Number(made[7].user.id)}`);
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  await page.locator("#nav").getByRole("link", { name: "Users" }).click();
  await waitH1(page, "Users");
  await page.getByLabel("Search").fill(tag);
  await page.getByLabel("Search").press("Enter");
  await page.locator(".count", { hasText: "23 users found." }).waitFor();
  eq(await page.locator("table.data tbody tr").count(), 20, "rows on page 1");
  eq(await page.getByLabel("Search").evaluate((el) => el === document.activeElement), true,
    "the focus stays in the search box");
  await statusSays(page, /23 users found/);
  await page.getByRole("button", { name: "Next page" }).click();
  await page.locator(".pager-where", { hasText: "Page 2 of 2" }).waitFor();
  eq(await page.locator("table.data tbody tr").count(), 3, "rows on page 2");
  assert(new URL(page.url()).hash.includes("page=2"), "the hash has no page=2");
  eq((await focused(page)).text, "23 users found.", "the focus after the page changed");
  // Back: page 1 again.
  await page.goBack();
  await page.locator(".pager-where", { hasText: "Page 1 of 2" }).waitFor();
  // Ordering: username, Z to A.
  await page.getByLabel("Order").selectOption("-username");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator(".pager-where", { hasText: "Page 1 of 2" }).waitFor();
  await waitFor(async () => (await page.locator("table.data tbody tr th a").first().textContent()) ===
    made[22].user.username, { what: "the last username first" });
  // Deactivated only.
  await page.getByLabel("Order").selectOption("");
  await page.getByLabel("Account").selectOption("false");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator(".count", { hasText: "1 user found." }).waitFor();
  eq(await page.locator("table.data tbody tr th a").allTextContents(), [off.user.username], "deactivated users");
  eq(await page.locator("table.data tbody tr").first().locator("td").nth(2).textContent(), "Deactivated",
    "the Account column");
  // Staff only (GET /api/admin/users/?is_staff=true).
  await page.getByLabel("Account").selectOption("");
  await page.getByLabel("Role").selectOption("true");
  await page.getByRole("button", { name: "Search" }).click();
  // "1 user found." is what the deactivated filter showed too: wait for
  // the row itself to change, not for the count.
  await waitFor(async () => JSON.stringify(await page.locator("table.data tbody tr th a").allTextContents()) ===
    JSON.stringify([made[7].user.username]), { what: "staff users among them (the is_staff filter)" });
  await page.locator(".count", { hasText: "1 user found." }).waitFor();
  // Clear: everything again.
  await page.getByRole("button", { name: "Clear" }).click();
  await waitFor(async () => new URL(page.url()).hash === "#/users", { what: "the cleared hash" });
  eq(await page.getByLabel("Search").inputValue(), "", "the search box after Clear");
});

test("a user's page: residences, devices, last seen", async (t) => {
  const s = await makeStaff();
  const u = await registerUser("ud", { first_name: "Ada", last_name: "Lovelace" });
  const home = unique("Home");
  const res = await request("POST", "/api/residences/", { token: u.token, body: { name: home, city: "Lyon" } });
  eq(res.status, 201, "creating a residence");
  const dev = await request("POST", "/api/devices/", { token: u.token,
    body: { platform: "android", token: `fcm_${unique("d")}_${"x".repeat(20)}` } });
  eq(dev.status, 201, "registering a device");
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  await page.goto(`${PANEL}#/users/${u.user.id}`);
  await waitH1(page, u.user.username);
  const facts = Object.fromEntries(await page.locator("section", { hasText: "Account" }).locator(".facts > div")
    .evaluateAll((ds) => ds.map((d) => [d.querySelector("dt").textContent, d.querySelector("dd").textContent])));
  eq(facts.Name, "Ada Lovelace", "the name");
  eq(facts.Email, `${u.user.username}@example.com`, "the email");
  assert(facts["Last seen"] && facts["Last seen"] !== "—", `last seen: ${facts["Last seen"]}`);
  const devices = page.locator("section", { has: page.locator("h2", { hasText: "Devices" }) });
  eq(await devices.locator("tbody tr").count(), 1, "devices listed");
  eq(await devices.locator("tbody tr th").textContent(), "Android", "the device's platform");
  eq(await devices.locator("tbody tr td").nth(3).textContent(), "—", "its last push (none yet)");
  const residences = page.locator("section", { has: page.locator("h2", { hasText: "Residences" }) });
  await residences.locator("table").waitFor({ timeout: 3000 }).catch(() => {});
  eq(await residences.locator("tbody tr th").allTextContents(), [home], "the user's residences (GET .../users/{id}/ residences)");
  eq(await residences.locator("tbody tr td").first().textContent(), "Owner", "their role");
});

test("deactivating a user in the panel stops their token; the audit log shows it", async (t) => {
  const s = await makeStaff();
  const u = await registerUser("deact");
  eq((await request("GET", "/api/auth/me/", { token: u.token })).status, 200, "the user's token before");
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  await page.goto(`${PANEL}#/users/${u.user.id}`);
  await waitH1(page, u.user.username);
  // Cancel first: nothing happens.
  await page.getByRole("button", { name: "Deactivate" }).click();
  const dialog = page.locator("dialog#confirm");
  await dialog.waitFor();
  assert(await dialog.evaluate((d) => d.open), "the dialog is not open");
  eq((await focused(page)).id, "confirm-cancel", "the focus in the dialog");
  assert((await dialog.textContent()).includes(u.user.username), "the dialog does not name the user");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  eq((await focused(page)).action, "deactivate", "the focus after Cancel");
  eq((await request("GET", "/api/auth/me/", { token: u.token })).status, 200, "the user's token after Cancel");
  // Now for real.
  await page.getByRole("button", { name: "Deactivate" }).click();
  await dialog.getByRole("button", { name: "Deactivate" }).click();
  await statusSays(page, /is deactivated/);
  await page.getByRole("button", { name: "Reactivate" }).waitFor();
  eq((await request("GET", "/api/auth/me/", { token: u.token })).status, 401, "the user's token after deactivation");
  const detail = await request("GET", `/api/admin/users/${u.user.id}/`, { token: s.token });
  eq(detail.json.is_active, false, "is_active through the API");
  // Grant staff, through the dialog too.
  await page.getByRole("button", { name: "Grant staff" }).click();
  await dialog.getByRole("button", { name: "Grant staff" }).click();
  await statusSays(page, /is now staff/);
  eq((await request("GET", `/api/admin/users/${u.user.id}/`, { token: s.token })).json.is_staff, true,
    "is_staff through the API");
  // The audit log: both actions, by this admin, on this user.
  await page.locator("#nav").getByRole("link", { name: "Audit log" }).click();
  await waitH1(page, "Audit log");
  await page.getByLabel("Target type").selectOption("user");
  await page.getByLabel("Target id").fill(String(u.user.id));
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator(".count", { hasText: "2 entries found." }).waitFor();
  const rows = await page.locator("table.data tbody tr").evaluateAll((trs) => trs.map((tr) =>
    [...tr.children].map((c) => c.textContent)));
  eq(rows.map((r) => r[2]), ["user.grant_staff", "user.deactivate"], "the actions, newest first");
  for (const r of rows) {
    eq(r[1], s.user.username, "the actor");
    assert(r[3].includes(u.user.username), `the target: ${r[3]}`);
  }
});

test("residences: search, a residence's members and task counts", async (t) => {
  const s = await makeStaff();
  const owner = await registerUser("rown");
  const member = await registerUser("rmem");
  const name = unique("Cabin");
  const res = await request("POST", "/api/residences/", { token: owner.token,
    body: { name, city: "Bergen", country: "Norway", time_zone: "Europe/Oslo" } });
  eq(res.status, 201, "creating the residence");
  const code = await request("POST", `/api/residences/${res.json.id}/share-code/`, { token: owner.token });
  eq(code.status, 201, "a share code");
  eq((await request("POST", "/api/residences/join/", { token: member.token, body: { code: code.json.code } })).status,
    200, "joining");
  for (const title of ["Gutters", "Chimney", "Boiler"]) {
    eq((await request("POST", "/api/tasks/", { token: owner.token, body: { residence_id: res.json.id, title } })).status,
      201, "creating a task");
  }
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  await page.locator("#nav").getByRole("link", { name: "Residences" }).click();
  await waitH1(page, "Residences");
  await page.getByLabel("Search").fill(name);
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator(".count", { hasText: "1 residence found." }).waitFor();
  const row = await page.locator("table.data tbody tr").first().evaluate((tr) => [...tr.children].map((c) => c.textContent));
  eq(row.slice(0, 5), [name, "Bergen, Norway", owner.user.username, "2", "3"], "the residence's row");
  await page.getByRole("link", { name }).click();
  await waitH1(page, name);
  const members = page.locator("section", { has: page.locator("h2", { hasText: "Members" }) });
  await members.locator("table").waitFor({ timeout: 5000 });
  eq(await members.locator("tbody tr th").allTextContents(), [owner.user.username, member.user.username],
    "the members");
  eq(await members.locator("tbody tr td:nth-child(3)").allTextContents(), ["Owner", "Member"], "their roles");
  const tasks = Object.fromEntries(await page.locator("section", { has: page.locator("h2", { hasText: "Tasks" }) })
    .locator(".facts > div").evaluateAll((ds) => ds.map((d) => [d.querySelector("dt").textContent,
      d.querySelector("dd").textContent])));
  eq([tasks["All tasks"], tasks.Completed], ["3", "0"], "the task counts");
});

test("jobs: the dead list, a dead job retried and another discarded in the panel", async (t) => {
  const s = await makeStaff();
  const retryTag = unique("bretry");
  const discardTag = unique("bdiscard");
  const toRetry = await deadJob(retryTag);
  const toDiscard = await deadJob(discardTag);
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  await page.locator("#nav").getByRole("link", { name: "Jobs" }).click();
  await waitH1(page, "Jobs");
  const row = page.locator("tr", { has: page.locator(`button[data-job="${toRetry.id}"]`) });
  await row.waitFor({ timeout: 10000 });
  const cells = await row.evaluate((tr) => [...tr.children].map((c) => c.textContent));
  eq(cells.slice(0, 4), [toRetry.id, "noop", toRetry.queue, "1 of 3"], "the dead job's row");
  eq(cells[5], `never ${retryTag}`, "its last error");
  assert(!(await page.locator("main").textContent()).includes(`"tag"`), "a payload is shown");
  const died = jobStats()["dead:noop"] || 0;
  // Retry this one.
  await row.getByRole("button", { name: `Retry job ${toRetry.id}` }).click();
  const dialog = page.locator("dialog#confirm");
  assert((await dialog.textContent()).includes(toRetry.id), "the dialog does not name the job");
  await dialog.getByRole("button", { name: "Retry" }).click();
  await statusSays(page, /Retried 1 job/);
  // It ran again (and, fatal again, died again).
  await waitFor(() => (jobStats()["dead:noop"] || 0) >= died + 1, { what: "the retried job to run again" });
  // Discard the other.
  const other = page.locator("tr", { has: page.locator(`button[data-job="${toDiscard.id}"]`) });
  await other.getByRole("button", { name: `Discard job ${toDiscard.id}` }).click();
  await dialog.getByRole("button", { name: "Discard" }).click();
  await statusSays(page, /Discarded 1 job/);
  await waitFor(() => !deadJobs().some((d) => d.id === toDiscard.id), { what: "the discarded job gone" });
  await page.locator(`button[data-job="${toDiscard.id}"]`).waitFor({ state: "detached" });
  // The audit log has both.
  await page.goto(`${PANEL}#/audit?target_type=job&actor=${s.user.id}`);
  await waitH1(page, "Audit log");
  await page.locator(".count", { hasText: "2 entries found." }).waitFor();
  const actions = await page.locator("table.data tbody tr td:nth-child(3)").allTextContents();
  eq(actions, ["job.discard", "job.retry"], "the audit log's actions");
});

test("system: readiness and the pool's workers", async (t) => {
  const s = await makeStaff();
  const page = await open(t);
  await signIn(page, s.user.username, s.password);
  await page.locator("#nav").getByRole("link", { name: "System" }).click();
  await waitH1(page, "System");
  await page.locator(".big-state", { hasText: "Ready" }).waitFor();
  const internal = (await request("GET", "/api/internal/status/")).json;
  const pids = await page.locator("section", { has: page.locator("h2", { hasText: "Workers" }) })
    .locator("tbody tr th").allTextContents();
  eq(pids.sort(), internal.workers.map((w) => String(w.pid)).sort(), "the workers' pids");
  const ready = (await request("GET", "/api/ready/")).json;
  const facts = await page.locator("section", { has: page.locator("h2", { hasText: "Readiness" }) })
    .locator(".facts dd").allTextContents();
  eq(facts, [ready.postgres, ready.redis, String(ready.schema_version)], "the readiness facts");
});

test("keyboard only: skip link, sign-in, every page, a dialog", async (t) => {
  const s = await makeStaff();
  const u = await registerUser("kbd");
  const page = await open(t);
  await page.goto(PANEL);
  await waitH1(page, "Sign in");
  // The skip link comes first and shows when focused.
  await page.keyboard.press("Tab");
  eq((await focused(page)).text, "Skip to content", "the first Tab stop");
  const box = await page.locator("#skip").boundingBox();
  assert(box && box.y >= 0, "the focused skip link is off screen");
  await page.keyboard.press("Enter");
  eq((await focused(page)).tag, "h1", "the focus after the skip link");
  eq(new URL(page.url()).hash, "#/login", "the hash after the skip link");
  // Sign in by typing.
  await page.keyboard.press("Tab");
  eq((await focused(page)).tag, "input", "the Tab stop after the heading");
  await page.keyboard.type(s.user.username);
  await page.keyboard.press("Tab");
  await page.keyboard.type(s.password);
  await page.keyboard.press("Enter");
  await waitH1(page, "Dashboard");
  // Every page from the navigation, going back to it with Shift+Tab.
  for (const [route, heading] of [["users", "Users"], ["residences", "Residences"], ["jobs", "Jobs"],
    ["system", "System"], ["audit", "Audit log"], ["dashboard", "Dashboard"]]) {
    let f;
    for (let i = 0; i < 15; i += 1) {
      await page.keyboard.press("Shift+Tab");
      f = await focused(page);
      if (f.route === route) break;
    }
    eq(f.route, route, `reaching the ${heading} link with Shift+Tab`);
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(ring !== "none", `no visible focus on the ${heading} link`);
    await page.keyboard.press("Enter");
    await waitH1(page, heading);
    const now = await focused(page);
    eq([now.tag, now.text], ["h1", heading], `the focus on the ${heading} page`);
    eq(await page.title(), `${heading} · honeyDue admin`, "the document's title");
  }
  // A user's page from the users list, and its dialog, by keyboard.
  await page.goto(`${PANEL}#/users?q=${u.user.username}`);
  await waitH1(page, "Users");
  await page.locator(".count", { hasText: "1 user found." }).waitFor();
  let f;
  for (let i = 0; i < 25; i += 1) {
    await page.keyboard.press("Tab");
    f = await focused(page);
    if (f.tag === "a" && f.text === u.user.username) break;
  }
  eq(f.text, u.user.username, "reaching the user's link with Tab");
  await page.keyboard.press("Enter");
  await waitH1(page, u.user.username);
  for (let i = 0; i < 10; i += 1) {
    await page.keyboard.press("Tab");
    f = await focused(page);
    if (f.action === "deactivate") break;
  }
  eq(f.action, "deactivate", "reaching Deactivate with Tab");
  await page.keyboard.press("Enter");
  await page.locator("dialog#confirm[open]").waitFor();
  eq((await focused(page)).id, "confirm-cancel", "the focus in the dialog");
  await page.keyboard.press("Escape");
  await page.locator("dialog#confirm").waitFor({ state: "hidden" });
  eq((await focused(page)).action, "deactivate", "the focus after Escape");
  eq((await request("GET", "/api/auth/me/", { token: u.token })).status, 200, "the user after Escape");
});

test("at 375 px wide no page scrolls sideways; wide tables scroll in their box", async (t) => {
  const s = await makeStaff();
  const u = await registerUser("narrow");
  const r = await request("POST", "/api/residences/", { token: u.token, body: { name: unique("Narrow home") } });
  eq(r.status, 201, "a residence");
  await deadJob(unique("narrow"));
  const page = await open(t, { viewport: { width: 375, height: 812 } });
  await signIn(page, s.user.username, s.password);
  await noHorizontalScroll(page, "the dashboard");
  for (const [hash, heading, ready] of [
    ["#/users", "Users", "table.data"], [`#/users/${u.user.id}`, u.user.username, ".facts"],
    ["#/residences", "Residences", "table.data"], [`#/residences/${r.json.id}`, null, ".facts"],
    ["#/jobs", "Jobs", "table.data"], ["#/system", "System", "table.data"], ["#/audit", "Audit log", ".count"],
    ["#/", "Dashboard", "svg.chart"]]) {
    await page.goto(PANEL + hash);
    try {
      if (heading) await waitH1(page, heading);
      await page.locator(ready).first().waitFor({ timeout: 10000 });
    } catch (e) {
      throw new AssertionError(`${hash} did not show ${ready}: ${e.message.split("\n")[0]}`);
    }
    await noHorizontalScroll(page, hash);
    await noStrayValues(page, hash);
  }
  await page.goto(`${PANEL}#/users`);
  await page.locator("table.data").waitFor();
  const [inner, outer] = await page.locator(".table-wrap").first().evaluate((w) => [w.scrollWidth, w.clientWidth]);
  assert(inner > outer, `the users table fits in ${outer} px: nothing shows a wide table scrolls in its box`);
  await noHorizontalScroll(page, "#/users");
  // The menu and the sign-out button are all on screen.
  for (const a of await page.locator("#nav a, #signout").all()) {
    const b = await a.boundingBox();
    assert(b && b.x >= 0 && b.x + b.width <= 375, `${await a.textContent()} is off screen at 375 px`);
  }
});

// ---- the runner -------------------------------------------------------------------

function withTimeout(p, ms) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new AssertionError(`test took longer than ${ms / 1000} s`)), ms);
  })]).finally(() => clearTimeout(timer));
}

async function main() {
  const filters = process.argv.slice(2);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // No network but loopback here: nothing in the background that would
    // reach out (and be refused, or stall) while the tests run.
    args: ["--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--no-first-run", "--disable-quic", "--disable-gpu", "--disable-extensions"],
  });
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of tests) {
    if (filters.length && !filters.some((f) => name.includes(f))) continue;
    const t = {
      problems: [], allowed: new Set(), contexts: [], pages: [], notes: [],
      allow(...statuses) { statuses.forEach((s) => this.allowed.add(s)); },
      note(text) { this.notes.push(text); },
    };
    const start = performance.now();
    let error = null;
    try {
      await withTimeout(fn(t), TEST_TIMEOUT_MS);
      // Late violations and errors of the pages count too.
      await new Promise((r) => setTimeout(r, 100));
      if (t.problems.length) throw new AssertionError(`the page reported:\n  ${t.problems.join("\n  ")}`);
    } catch (e) {
      error = e;
    }
    if (error && SHOTS && t.pages.length) {
      try {
        mkdirSync(SHOTS, { recursive: true });
        const file = path.join(SHOTS, `${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 80)}.png`);
        await t.pages[t.pages.length - 1].screenshot({ path: file, fullPage: true, timeout: 5000 });
        error.message += `\n  (screenshot: ${file})`;
      } catch {
        /* the page is gone */
      }
    }
    for (const c of t.contexts) await c.close().catch(() => {});
    const secs = ((performance.now() - start) / 1000).toFixed(2);
    for (const n of t.notes) console.log(`  ${n}`);
    if (error) {
      failed += 1;
      console.log(`FAIL ${name} (${secs} s)\n  ${(error instanceof AssertionError ? error.message : error.stack)
        .split("\n").join("\n  ")}`);
    } else {
      passed += 1;
      console.log(`ok ${name} (${secs} s)`);
    }
  }
  await browser.close();
  console.log(`browser: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`run.mjs: ${e.stack || e}`);
  process.exit(1);
});
