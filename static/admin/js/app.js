// app.js - the admin panel's entry point: the hash router (#/, #/users,
// #/users/<id>, #/residences, #/residences/<id>, #/jobs, #/system, #/audit,
// #/login), who is signed in, sign-out, and what every navigation does for
// keyboard and screen-reader users (the new page's <h1> gets the focus, the
// title names the page, the current link carries aria-current).
import { api, onForbidden, onUnauthorized, token } from "./api.js";
import { h } from "./dom.js";
import { announce, heading } from "./ui.js";
import * as login from "./pages/login.js";
import * as dashboard from "./pages/dashboard.js";
import * as users from "./pages/users.js";
import * as user from "./pages/user.js";
import * as residences from "./pages/residences.js";
import * as residence from "./pages/residence.js";
import * as jobs from "./pages/jobs.js";
import * as system from "./pages/system.js";
import * as audit from "./pages/audit.js";

const notFound = {
  title: "Not found",
  render(main) {
    main.append(heading("Page not found"),
      h("p", "There is no such page in the admin panel. ", h("a", { href: "#/" }, "Go to the dashboard"), "."));
  },
};

// One table of routes: the hash's path, the page module, the nav entry it
// belongs to, and whether it is open without signing in.
const ROUTES = [
  { re: /^\/login$/, page: login, nav: null, open: true },
  { re: /^\/$/, page: dashboard, nav: "dashboard" },
  { re: /^\/users$/, page: users, nav: "users" },
  { re: /^\/users\/([1-9][0-9]{0,17})$/, page: user, nav: "users" },
  { re: /^\/residences$/, page: residences, nav: "residences" },
  { re: /^\/residences\/([1-9][0-9]{0,17})$/, page: residence, nav: "residences" },
  { re: /^\/jobs$/, page: jobs, nav: "jobs" },
  { re: /^\/system$/, page: system, nav: "system" },
  { re: /^\/audit$/, page: audit, nav: "audit" },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const account = document.getElementById("account");
const accountName = document.getElementById("account-name");

let me = null; // the signed-in user ({id, username, ...}) once known
let meLoad = null; // the pending GET /api/auth/me/
let current = null; // {route, path, controller, page (what render returned)}
let notice = ""; // shown once on the sign-in page
let afterLogin = ""; // the hash to return to after signing in

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const i = raw.indexOf("?");
  const path = i < 0 ? raw : raw.slice(0, i);
  return { path: path || "/", query: new URLSearchParams(i < 0 ? "" : raw.slice(i + 1)) };
}

function setSignedIn(on) {
  nav.hidden = !on;
  account.hidden = !on;
  if (!on) accountName.textContent = "";
}

function showMe(u) {
  me = u;
  accountName.textContent = "";
  accountName.append("Signed in as ", h("strong", u.username));
}

// Who the token belongs to; a token that is no longer staff's is dropped.
function loadMe() {
  if (!meLoad) {
    meLoad = api("GET", "/api/auth/me/").then((u) => {
      if (!u.is_staff) {
        forbidden();
        return null;
      }
      showMe(u);
      return u;
    }).catch(() => null).finally(() => {
      meLoad = null;
    });
  }
  return meLoad;
}

function toLogin(message, next) {
  notice = message || "";
  if (next !== undefined) afterLogin = next;
  me = null;
  setSignedIn(false);
  // Already there (a second call refused at once): drawn again with the
  // notice, and the hashchange still to come is then of no effect.
  if (location.hash === "#/login") route(false, true);
  else location.hash = "#/login";
}

// A token the API refuses (expired, revoked, the account deactivated).
onUnauthorized(() => {
  const { path } = parseHash();
  toLogin("Your session has ended. Sign in again.", path === "/login" ? "" : location.hash);
});

// A staff flag taken away while signed in: the token is of no use here.
function forbidden() {
  const tok = token.get();
  token.clear();
  if (tok) api("POST", "/api/auth/logout/", { tokenValue: tok }).catch(() => {});
  toLogin(login.NOT_ADMIN);
}
onForbidden(forbidden);

async function signOut() {
  const tok = token.get();
  token.clear();
  let revoked = true;
  if (tok) {
    try {
      await api("POST", "/api/auth/logout/", { tokenValue: tok });
    } catch (e) {
      revoked = e.status === 401; // already gone is as good
    }
  }
  afterLogin = "";
  toLogin(revoked ? "You have signed out." :
    "You are signed out here, but the server could not be told: the session ends when it expires.");
}

function signedIn(u) {
  showMe(u);
  setSignedIn(true);
  const next = afterLogin && afterLogin !== "#/login" ? afterLogin : "#/";
  afterLogin = "";
  announce(`Signed in as ${u.username}.`);
  if (location.hash === next) route(false, true);
  else location.hash = next;
}

function markNav(name) {
  for (const a of nav.querySelectorAll("a[data-route]")) {
    if (a.dataset.route === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function setTitle(text) {
  document.title = `${text} · honeyDue admin`;
}

// route(initial, force): draw the page the hash names. A change of the
// query alone (a search, the next page) on a page that can update itself
// keeps the page and the focus; anything else is a new page whose heading
// gets the focus (not on the first load: the browser's own start stays
// put). The page already drawn for this very hash is not drawn again
// unless forced.
function route(initial, force = false) {
  if (!force && current && current.hash === location.hash) return;
  let { path, query } = parseHash();
  const signed = Boolean(token.get());
  let r = ROUTES.find((x) => x.re.test(path));
  if (r && !r.open && !signed) {
    afterLogin = location.hash;
    history.replaceState(null, "", "#/login");
    ({ path, query } = parseHash());
    r = ROUTES[0];
  } else if (r === ROUTES[0] && signed) {
    history.replaceState(null, "", "#/");
    ({ path, query } = parseHash());
    r = ROUTES[1];
  }
  const page = r ? r.page : notFound;
  const params = r ? path.match(r.re).slice(1) : [];

  if (current && current.path === path && current.page && current.page.update) {
    current.hash = location.hash;
    current.page.update(query);
    return;
  }
  if (current) current.controller.abort();
  const controller = new AbortController();
  setSignedIn(signed);
  if (signed && !me) loadMe();
  markNav(r ? r.nav : null);
  setTitle(typeof page.title === "function" ? page.title(params) : page.title);
  main.replaceChildren();
  const ctx = {
    params,
    query,
    signal: controller.signal,
    me: () => me || loadMe(),
    notice,
    signedIn,
    setTitle,
    // go({q: "x", page: 2}): the same page with this query (history entry).
    go(q) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
      const s = qs.toString();
      location.hash = `#${path}${s ? `?${s}` : ""}`;
    },
  };
  notice = "";
  current = { path, hash: location.hash, controller, page: null };
  current.page = page.render(main, ctx) || null;
  if (!initial) {
    const h1 = main.querySelector("h1");
    if (h1) h1.focus();
  }
}

document.getElementById("skip").addEventListener("click", (ev) => {
  // Not a change of the hash: the hash is the route.
  ev.preventDefault();
  const target = main.querySelector("h1") || main;
  target.focus();
  target.scrollIntoView();
});
document.getElementById("signout").addEventListener("click", signOut);
window.addEventListener("hashchange", () => route(false));
route(true);
