// The dashboard page: sign-in, the views (one per hash: #overview, #models …), one live feed
// for the whole page, and the actions, each confirmed and sent with the CSRF token.
import * as api from "./api.js";
import * as views from "./views.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["overview", "models", "alerts", "usage", "audit", "bans", "keys"];

const state = {
  snapshot: null,
  history: [],
  historyMs: 3_600_000,
  usage: { window: "hour", page: 1 },
  auditOldest: null,
  stopLive: null,
};

function toast(message, isError = false) {
  const t = $("toast");
  t.textContent = message;
  t.className = isError ? "error" : "";
  t.hidden = false;
}

function failed(err) {
  toast(err.code ? `${err.status} ${err.code}: ${err.message}` : String(err.message ?? err), true);
}

function currentView() {
  const name = location.hash.replace("#", "");
  return VIEWS.includes(name) ? name : "overview";
}

/** Renders the view shown now; views that are not on the live feed are read when opened. */
async function show(loadPaged = true) {
  const name = currentView();
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("current", a.getAttribute("href") === `#${name}`);
  }
  const s = state.snapshot;
  if (s && name === "overview") {
    views.renderKpis(s, state.history);
    views.renderOverview(s);
  }
  if (s && name === "models") views.renderModels(s);
  if (s && name === "alerts") views.renderAlerts(s);
  if (!loadPaged) return;
  try {
    if (name === "usage") await loadUsage();
    if (name === "audit") await loadAudit(false);
    if (name === "bans") views.renderBans((await api.get("/admin/bans")).data);
    if (name === "keys") views.renderKeys((await api.get("/admin/keys")).data);
  } catch (err) {
    failed(err);
  }
}

async function loadUsage() {
  const { window, page } = state.usage;
  views.renderUsage(await api.get(`/dashboard/api/usage?window=${window}&page=${page}&size=20`));
}

async function loadAudit(older) {
  const before = older && state.auditOldest ? `&before=${state.auditOldest}` : "";
  const entries = (await api.get(`/dashboard/api/audit?limit=50${before}`)).data;
  if (entries.length) state.auditOldest = entries[entries.length - 1].seq;
  views.renderAudit(entries, older);
  $("audit-older").disabled = entries.length < 50;
}

function startLive() {
  state.stopLive = api.live({
    onHistory: (samples) => {
      state.history = samples;
    },
    onSnapshot: (snapshot) => {
      state.snapshot = snapshot;
      const last = state.history[state.history.length - 1];
      if (!last || last.at !== snapshot.at) {
        state.history.push({ at: snapshot.at, values: snapshot.kpis.values });
      }
      while (state.history.length && state.history[0].at < snapshot.at - state.historyMs) {
        state.history.shift();
      }
      void show(false);
    },
    onState: (up) => {
      $("live").hidden = !up;
    },
  });
}

const ACTIONS = {
  unload: ({ model }) => api.post(`/admin/serving/${encodeURIComponent(model)}/unload`),
  reload: ({ model }) => api.post(`/admin/serving/${encodeURIComponent(model)}/reload`),
  promote: ({ name, version }) =>
    api.post(`/admin/models/${encodeURIComponent(name)}/promote`, { version }),
  rollback: ({ name }) => api.post(`/admin/models/${encodeURIComponent(name)}/rollback`),
  revoke: ({ id }) => api.post(`/admin/keys/${encodeURIComponent(id)}/revoke`),
  lift: ({ ip }) => api.del(`/admin/bans/${encodeURIComponent(ip)}`),
};

async function onAction(button) {
  const name = button.dataset.action;
  const args = JSON.parse(button.dataset.args);
  if (!window.confirm(button.dataset.confirm)) return;
  try {
    await ACTIONS[name](args);
    toast(`${name}: done`);
    await show();
  } catch (err) {
    failed(err);
  }
}

function signedIn(s) {
  api.setCsrfToken(s.csrfToken);
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${s.name} (${s.role})`;
  startLive();
  void show();
}

function signedOut() {
  state.stopLive?.();
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("live").hidden = true;
  $("who").textContent = "";
  for (const v of VIEWS) $(`view-${v}`).hidden = true;
  $("login").hidden = false;
}

async function main() {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    try {
      const s = await api.login($("login-key").value);
      $("login-key").value = "";
      signedIn(s);
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  });
  $("logout").addEventListener("click", async () => {
    try {
      await api.logout();
    } finally {
      signedOut();
    }
  });
  document.body.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) void onAction(button);
  });
  window.addEventListener("hashchange", () => void show());
  $("usage-window").addEventListener("change", (e) => {
    state.usage = { window: e.target.value, page: 1 };
    void loadUsage().catch(failed);
  });
  $("usage-prev").addEventListener("click", () => {
    state.usage.page = Math.max(1, state.usage.page - 1);
    void loadUsage().catch(failed);
  });
  $("usage-next").addEventListener("click", () => {
    state.usage.page++;
    void loadUsage().catch(failed);
  });
  $("audit-older").addEventListener("click", () => void loadAudit(true).catch(failed));
  $("audit-verify").addEventListener("click", async () => {
    try {
      const r = await api.get("/admin/audit/verify");
      $("audit-verified").textContent = r.ok
        ? `intact: ${r.entries} entries`
        : `BROKEN at entry ${r.firstBad?.seq ?? "?"}: ${r.firstBad?.reason ?? ""}`;
      $("audit-verified").className = r.ok ? "" : "error";
    } catch (err) {
      failed(err);
    }
  });
  const s = await api.session();
  if (s.authenticated) signedIn(s);
  else signedOut();
}

void main();
