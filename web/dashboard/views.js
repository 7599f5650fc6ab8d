// Renders each view from data with DOM calls only (text, never HTML from data).
import { sparkline } from "./charts.js";

const $ = (id) => document.getElementById(id);

export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("data-")) node.setAttribute(k, String(v));
    else if (k === "class") node.className = v;
    else node[k] = v;
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** Fills a table: header cells, then one row per item ([cells]). */
export function table(id, headers, rows, empty = "none") {
  const t = $(id);
  t.replaceChildren(
    h(
      "tr",
      {},
      headers.map((x) => h("th", {}, x)),
    ),
  );
  if (rows.length === 0) {
    t.append(h("tr", {}, h("td", { colSpan: headers.length, class: "muted" }, empty)));
    return;
  }
  for (const cells of rows)
    t.append(
      h(
        "tr",
        {},
        cells.map((c) => h("td", {}, c)),
      ),
    );
}

/** An action button; the click is handled by the page through `data-action`. */
export function action(label, name, args, confirmText) {
  return h(
    "button",
    {
      type: "button",
      "data-action": name,
      "data-args": JSON.stringify(args),
      "data-confirm": confirmText,
    },
    label,
  );
}

const fmt = (v, unit) => {
  if (v === null || v === undefined) return "—";
  if (unit === "ms" && v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v}${unit === "%" ? "%" : ` ${unit}`}`;
};
const bytes = (n) => (n ? `${(n / 2 ** 20).toFixed(0)} MiB` : "—");
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "—");

function targetText(t) {
  if (t.max !== undefined) return `target < ${fmt(t.max, t.unit)}`;
  if (t.min !== undefined) return `target > ${fmt(t.min, t.unit)}`;
  return "no target";
}

function healthy(t, v) {
  if (v === null || v === undefined) return "";
  // As the alerts judge: above a max, or below a min, is out of target.
  if (t.max !== undefined) return v <= t.max ? "ok" : "bad";
  if (t.min !== undefined) return v >= t.min ? "ok" : "bad";
  return "";
}

/** The KPI cards: value now against the target, and the last hour as a sparkline. */
export function renderKpis(snapshot, history) {
  const box = $("kpis");
  $("kpi-at").textContent = `at ${time(snapshot.at)}`;
  for (const t of snapshot.kpis.targets) {
    let card = box.querySelector(`[data-kpi="${t.key}"]`);
    if (!card) {
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      card = h(
        "div",
        { class: "card", "data-kpi": t.key },
        h("div", { class: "label" }, t.label),
        h("div", { class: "value" }),
        h("div", { class: "target" }, targetText(t)),
      );
      card.append(svg);
      box.append(card);
    }
    const value = snapshot.kpis.values[t.key];
    card.className = `card ${healthy(t, value)}`;
    card.querySelector(".value").textContent = fmt(value, t.unit);
    const points = history.map((s) => ({ at: s.at, value: s.values[t.key] }));
    sparkline(card.querySelector("svg"), points, t.max ?? t.min, "#0969da");
  }
}

export function renderOverview(snapshot) {
  const firing = snapshot.alerts.firing;
  $("overview-alerts").replaceChildren(
    ...(firing.length
      ? firing.map((a) => h("li", { class: "firing" }, `${a.alert}: ${a.summary}`))
      : [h("li", {}, "No alert is firing.")]),
  );
  const g = snapshot.guard;
  const rows = [];
  if (!g) rows.push(["guard", "off"]);
  else {
    rows.push(["level", g.level]);
    rows.push([
      "memory",
      g.memory ? `${g.memory.percent}% of ${bytes(g.memory.limit_bytes)}` : "—",
    ]);
    rows.push(["CPU", g.cpu_percent === null ? "—" : `${g.cpu_percent}%`]);
    const steps = Object.entries(g.degradation ?? {});
    rows.push([
      "degradation",
      steps.length
        ? steps.map(([m, d]) => `${m}: step ${d.step} (${d.name})`).join(", ")
        : "no ladder",
    ]);
  }
  $("guard").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

export function renderModels(snapshot) {
  table(
    "models-table",
    ["model", "state", "slots busy/total", "queue", "load", "actions"],
    snapshot.models.map((m) => [
      m.name,
      m.unloaded ? "unloaded" : m.ready ? "ready" : "loading",
      `${m.slots.busy}/${m.slots.total}`,
      `${m.queue.waiting}/${m.queue.limit}`,
      fmt(m.loadMs, "ms"),
      h(
        "span",
        {},
        action(
          "Unload",
          "unload",
          { model: m.name },
          `Unload ${m.name}? Its workers stop until it is loaded again.`,
        ),
        " ",
        action("Reload", "reload", { model: m.name }, `Load ${m.name} now?`),
      ),
    ]),
  );
  table(
    "replicas-table",
    ["model", "replica", "state", "pid", "slots", "memory (RSS)", "restarts", "last error"],
    snapshot.models.flatMap((m) =>
      m.replicas.map((r) => [
        m.name,
        r.id,
        r.state,
        r.pid ?? "—",
        `${r.busySlots}/${r.slots}`,
        bytes(r.rssBytes),
        r.restarts,
        r.lastError ?? "",
      ]),
    ),
  );
  const serving = new Map(
    snapshot.registry.serving.map((s) => [`${s.name}:${s.version}`, s.model]),
  );
  table(
    "registry-table",
    ["name", "version", "aliases", "serving as", "created", "actions"],
    snapshot.registry.versions.map((v) => [
      v.name,
      v.version,
      v.aliases.join(", "),
      serving.get(`${v.name}:${v.version}`) ?? "",
      v.createdAt,
      h(
        "span",
        {},
        action(
          "Promote",
          "promote",
          { name: v.name, version: v.version },
          `Promote ${v.name}:${v.version} to latest?`,
        ),
        " ",
        action(
          "Roll back",
          "rollback",
          { name: v.name },
          `Roll ${v.name} back to its previous version?`,
        ),
      ),
    ]),
    "no model in the registry",
  );
}

export function renderAlerts(snapshot) {
  const a = snapshot.alerts;
  table(
    "alerts-firing",
    ["alert", "since", "value", "threshold", "summary"],
    a.firing.map((x) => [
      h("span", { class: "firing" }, x.alert),
      x.since,
      x.value ?? "—",
      x.threshold ?? "—",
      x.summary,
    ]),
    "nothing is firing",
  );
  table(
    "alerts-all",
    ["alert", "state", "value", "threshold"],
    a.all.map((x) => [
      x.alert,
      x.firing ? h("span", { class: "firing" }, "firing") : "ok",
      x.value ?? "—",
      x.threshold ?? "—",
    ]),
    "alerts are off",
  );
  table(
    "alerts-recent",
    ["alert", "state", "started", "ended", "summary"],
    a.recent.map((e) => [e.alert, e.state, e.startsAt, e.endsAt ?? "", e.summary]),
    "no event since the start",
  );
}

export function renderUsage(result) {
  const pages = Math.max(1, Math.ceil(result.total / result.size));
  $("usage-page").textContent = `page ${result.page} of ${pages} (${result.total} keys)`;
  $("usage-prev").disabled = result.page <= 1;
  $("usage-next").disabled = result.page >= pages;
  table(
    "usage-table",
    ["key", "name", "role", "requests", "errors", "prompt tokens", "completion tokens"],
    result.data.map((u) => [
      u.keyId,
      u.name ?? "",
      u.role ?? "",
      u.requests,
      u.errors,
      u.promptTokens,
      u.completionTokens,
    ]),
    "no usage in this window",
  );
}

export function renderAudit(entries, append) {
  const rows = entries.map((e) => [
    e.seq,
    new Date(e.ts).toISOString(),
    e.actor,
    e.action,
    e.target ?? "",
    JSON.stringify(e.details),
  ]);
  if (!append)
    table("audit-table", ["#", "time", "actor", "action", "target", "details"], rows, "empty");
  else
    for (const cells of rows)
      $("audit-table").append(
        h(
          "tr",
          {},
          cells.map((c) => h("td", {}, c)),
        ),
      );
}

export function renderBans(bans) {
  table(
    "bans-table",
    ["address", "reason", "by", "until", "actions"],
    bans.map((b) => [
      b.ip,
      b.reason,
      b.source,
      b.expiresAt ? new Date(b.expiresAt).toISOString() : "never",
      action("Lift", "lift", { ip: b.ip }, `Lift the ban on ${b.ip}?`),
    ]),
    "no ban in force",
  );
}

export function renderKeys(keys) {
  table(
    "keys-table",
    ["id", "name", "role", "state", "last used", "actions"],
    keys.map((k) => [
      k.id,
      k.name,
      k.role,
      k.revokedAt ? "revoked" : "active",
      k.lastUsedAt ? new Date(k.lastUsedAt).toISOString() : "never",
      k.revokedAt
        ? ""
        : action(
            "Revoke",
            "revoke",
            { id: k.id },
            `Revoke key ${k.name} (${k.id})? It stops working at once.`,
          ),
    ]),
  );
}
