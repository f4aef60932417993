// ap dashboard: the operator's resources by phase, kept live by the server's event stream.
// Every value from the cluster is put on the page as text (textContent), never as HTML.
"use strict";

const token = document.querySelector('meta[name="autopilot-token"]').content;
const state = {
  project: null,
  namespace: null,
  resources: new Map(),
  selected: null,
  detail: null,
  detailFor: null,
  detailRequest: 0,
};

// --- building the page ---------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Ages as kubectl prints them: 45s, 3m12s, 25m, 5h, 2d.
function age(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 10800) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function ago(iso) {
  return el("time", { class: "ago", datetime: iso || "", title: iso || "" }, iso ? age(iso) : "");
}

setInterval(() => {
  for (const t of document.querySelectorAll("time.ago[datetime]")) {
    const iso = t.getAttribute("datetime");
    if (iso) t.textContent = age(iso);
  }
}, 5000);

// The board's columns: resources without status yet, the declared phases in order, then any
// phase the project does not declare (a renamed phase, an older operator).
function columns() {
  const all = [...state.resources.values()];
  const declared = state.project.phases.map((p) => p.name);
  const cols = [];
  if (all.some((r) => r.phase === null)) {
    cols.push({ key: "", label: "No status yet", note: "not reconciled yet" });
  }
  for (const p of state.project.phases) {
    cols.push({ key: p.name, label: p.name, final: p.final, initial: p.initial, note: p.description });
  }
  for (const r of all) {
    if (r.phase !== null && !declared.includes(r.phase) && !cols.some((c) => c.key === r.phase)) {
      cols.push({ key: r.phase, label: r.phase, note: "not declared in autopilot.yaml" });
    }
  }
  return cols;
}

function badges(r) {
  const gateWaiting = r.gates.filter((g) => g.state === "waiting");
  return [
    r.paused ? el("span", { class: "badge paused", title: r.pausedBy ? `paused by ${r.pausedBy}` : "paused" }, "Paused") : null,
    r.abort ? el("span", { class: "badge abort", title: `abort requested by ${r.abort}` }, "Abort requested") : null,
    ...gateWaiting.map((g) => el("span", { class: "badge gate", title: "waiting for approval" }, `Gate ${g.name}`)),
  ];
}

function card(r) {
  const cols = state.project.columns
    .map((c, i) => ({ c, value: r.columns[i] }))
    .filter(({ c }) => c.priority === 0);
  const showNamespace = state.namespace === null;
  return el(
    "article",
    {
      class: `card health-${r.health}${r.key === state.selected ? " selected" : ""}`,
      "data-resource": r.key,
      "data-phase": r.phase ?? "",
      tabindex: "0",
      onclick: () => select(r.key),
      onkeydown: (e) => { if (e.key === "Enter") select(r.key); },
    },
    el("div", { class: "card-head" },
      el("span", { class: "name" }, r.name),
      showNamespace ? el("span", { class: "ns" }, r.namespace) : null,
      ago(r.created)),
    el("div", { class: "badges" }, badges(r)),
    cols.length
      ? el("dl", { class: "columns" }, cols.map(({ c, value }) => [
          el("dt", { title: c.description || "" }, c.name),
          el("dd", {}, value === "" ? "—" : value),
        ]))
      : null,
    el("div", { class: `condition health-${r.health}` }, r.condition),
    r.message ? el("div", { class: "message", title: r.message }, r.message) : null,
  );
}

function render() {
  if (!state.project) return;
  const board = document.getElementById("board");
  const byPhase = new Map();
  for (const r of state.resources.values()) {
    const k = r.phase ?? "";
    if (!byPhase.has(k)) byPhase.set(k, []);
    byPhase.get(k).push(r);
  }
  board.replaceChildren(
    ...columns().map((col) => {
      const rs = (byPhase.get(col.key) || []).sort((a, b) => a.key.localeCompare(b.key));
      return el(
        "section",
        { class: `phase-col${col.final ? " final" : ""}${rs.length ? "" : " empty"}`, "data-phase": col.key },
        el("h2", { title: col.note || "" },
          el("span", { class: "phase-name" }, col.label),
          col.initial ? el("span", { class: "marker" }, "initial") : null,
          col.final ? el("span", { class: "marker" }, "final") : null,
          el("span", { class: "count" }, String(rs.length))),
        rs.map(card),
      );
    }),
  );
  const n = state.resources.size;
  document.getElementById("counts").textContent = `${n} ${n === 1 ? "resource" : "resources"}`;
  renderDetail();
}

// --- one resource --------------------------------------------------------------------------

function select(key) {
  state.selected = key;
  state.detail = null;
  state.detailFor = null;
  render();
  loadDetail();
}

async function loadDetail() {
  const key = state.selected;
  if (!key) return;
  const request = ++state.detailRequest;
  const [ns, name] = key.split("/");
  try {
    const res = await fetch(`/api/resources/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
    const body = await res.json();
    if (request !== state.detailRequest) return;
    if (!res.ok) {
      toast(body.error || res.statusText, true);
      return;
    }
    state.detail = body;
    state.detailFor = key;
    renderDetail();
  } catch (e) {
    if (request === state.detailRequest) toast(`reading ${key}: ${e}`, true);
  }
}

function section(title, ...content) {
  return el("section", { class: "part", "data-part": title.toLowerCase().replace(/\s+/g, "-") },
    el("h3", {}, title), ...content);
}

// statusInfo as it is: objects as nested lists, lists of objects as tables.
function value(v, description) {
  if (v === null || v === undefined) return el("span", { class: "none" }, "—");
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
      const keys = [...new Set(v.flatMap((x) => Object.keys(x)))];
      return el("table", { class: "info-table" },
        el("thead", {}, el("tr", {}, keys.map((k) => el("th", {}, k)))),
        el("tbody", {}, v.map((x) => el("tr", {}, keys.map((k) => el("td", {}, value(x[k])))))));
    }
    return el("ul", { class: "info-list" }, v.map((x) => el("li", {}, value(x))));
  }
  if (typeof v === "object") {
    return el("dl", { class: "info" }, Object.entries(v).map(([k, x]) => [
      el("dt", { title: (description && description[k]) || "" }, k),
      el("dd", {}, value(x)),
    ]));
  }
  if (typeof v === "boolean") return el("span", { class: `bool ${v}` }, v ? "✔ true" : "✖ false");
  if (typeof v === "number") return el("span", { class: "num" }, String(v));
  return el("span", {}, String(v));
}

function actionButtons(r) {
  const p = state.project;
  const buttons = [];
  const button = (verb, label, title, gate) =>
    el("button", { type: "button", "data-verb": verb, "data-gate": gate, title, onclick: () => act(r.key, verb, gate, label) }, label);
  if (r.paused) buttons.push(button("resume", "Resume", "let it go on (ap resume)"));
  else buttons.push(button("pause", "Pause", "hold it where it is: no worker call until resumed (ap pause)"));
  buttons.push(button("retry", "Retry", "call its worker again now, forgetting its failures (ap retry)"));
  if (p.abortPhase && !r.final) buttons.push(button("abort", "Abort", `move it to phase ${p.abortPhase} (ap abort)`));
  if (r.gates.some((g) => g.state === "waiting")) {
    buttons.push(button("promote", "Promote", "open the gates on its current phase (ap promote)"));
  }
  for (const g of r.gates.filter((g) => g.state === "closed")) {
    buttons.push(button("approve", `Approve ${g.name}`, `open gate ${g.name} ahead of time (ap approve --gate ${g.name})`, g.name));
  }
  return el("div", { class: "actions" }, buttons);
}

function phaseSteps(r, timeline) {
  const visited = new Set(timeline.flatMap((t) => [t.from, t.to]));
  return el("ol", { class: "steps" }, state.project.phases.map((p) => {
    const current = p.name === r.phase;
    const cls = current ? "current" : visited.has(p.name) ? "visited" : "pending";
    return el("li", { class: `step ${cls}${p.final ? " final" : ""}`, "data-phase": p.name, title: p.description || "" }, p.name);
  }));
}

function renderDetail() {
  const aside = document.getElementById("detail");
  const r = state.selected && state.resources.get(state.selected);
  if (!r) {
    aside.hidden = true;
    aside.replaceChildren();
    return;
  }
  aside.hidden = false;
  const d = state.detailFor === r.key ? state.detail : null;
  const timeline = d ? d.timeline : [];
  const p = state.project;
  const infoDescriptions = p.statusInfo || {};
  aside.replaceChildren(
    el("div", { class: "detail-head" },
      el("h2", {}, r.name),
      el("span", { class: "ns" }, r.namespace),
      el("span", { class: `phase-badge health-${r.health}`, "data-phase": r.phase ?? "" }, r.phase ?? "no status yet"),
      el("button", { type: "button", class: "close", title: "close", onclick: () => { state.selected = null; render(); } }, "×")),
    el("div", { class: "badges" }, badges(r)),
    actionButtons(r),
    section("Phases",
      phaseSteps(r, timeline),
      timeline.length
        ? el("ol", { class: "timeline" }, timeline.slice().reverse().map((t) =>
            el("li", {}, ago(t.at), el("span", {}, `${t.from} → ${t.to}`))))
        : null),
    p.gates.length
      ? section("Gates", el("ul", { class: "gates" }, p.gates.map((g) => {
          const s = r.gates.find((x) => x.name === g.name) || {};
          return el("li", { class: `gate ${s.state}` },
            el("strong", {}, g.name), ` (${g.when} ${g.phase}): `,
            s.state === "approved" ? `approved${s.by ? ` by ${s.by}` : ""}` : s.state === "waiting" ? "waiting for approval" : "not approved",
            g.description ? el("div", { class: "note" }, g.description) : null);
        })))
      : null,
    section("Conditions",
      r.conditions.length
        ? el("table", { class: "conditions" },
            el("thead", {}, el("tr", {}, ["Type", "Status", "Reason", "Since", "Message"].map((h) => el("th", {}, h)))),
            el("tbody", {}, r.conditions.map((c) => el("tr", { class: `status-${c.status}` },
              el("td", {}, c.type), el("td", {}, c.status), el("td", {}, c.reason || ""),
              el("td", {}, ago(c.lastTransitionTime)), el("td", { class: "message-cell" }, c.message || "")))))
        : el("p", { class: "none" }, "none"),
      el("p", { class: "facts" }, `attempt ${r.attempt}, ${r.failures} consecutive failures, status synced: ${r.synced}`)),
    section("Status info", r.statusInfo && Object.keys(r.statusInfo).length ? value(r.statusInfo, infoDescriptions) : el("p", { class: "none" }, "none")),
    p.columns.length
      ? section("Columns", el("dl", { class: "info" }, p.columns.map((c, i) => [
          el("dt", { title: c.description || "" }, c.name), el("dd", {}, r.columns[i] || "—")])))
      : null,
    section("Owned objects", d
      ? (d.owned.length ? el("ul", {}, d.owned.map((o) => el("li", {}, `${o.kind}/${o.name}`))) : el("p", { class: "none" }, "none"))
      : el("p", { class: "none" }, "loading…")),
    section("Events", d
      ? (d.events.length
          ? el("ol", { class: "events" }, d.events.slice().reverse().map((e) =>
              el("li", { class: `event ${e.type}` },
                ago(e.at),
                el("span", { class: `badge ${e.type}` }, e.type),
                el("strong", {}, e.reason),
                e.count > 1 ? el("span", { class: "count" }, `×${e.count}`) : null,
                el("div", { class: "message-cell" }, e.message))))
          : el("p", { class: "none" }, "none"))
      : el("p", { class: "none" }, "loading…")),
  );
}

async function act(key, verb, gate, label) {
  if (verb === "abort" && !window.confirm(`Abort ${key}? It moves to phase ${state.project.abortPhase}.`)) return;
  const [ns, name] = key.split("/");
  try {
    const res = await fetch(`/api/resources/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${verb}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Autopilot-Token": token },
      body: gate ? JSON.stringify({ gate }) : "",
    });
    const body = await res.json().catch(() => ({ error: res.statusText }));
    toast(res.ok ? body.done : `${label}: ${body.error}`, !res.ok);
    if (res.ok && key === state.selected) loadDetail();
  } catch (e) {
    toast(`${label}: ${e}`, true);
  }
}

let toastTimer = null;
function toast(message, error) {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.className = `toast${error ? " error" : ""}`;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, error ? 10000 : 4000);
}

function showProblem(problem) {
  const p = document.getElementById("problem");
  p.hidden = !problem;
  p.textContent = problem || "";
}

function setLive(s) {
  const live = document.getElementById("live");
  live.dataset.state = s;
  live.textContent = s === "live" ? "live" : "reconnecting…";
}

// --- the live feed -------------------------------------------------------------------------

function connect() {
  const source = new EventSource("/api/events");
  source.onopen = () => setLive("live");
  source.onerror = () => setLive("reconnecting");
  source.addEventListener("snapshot", (e) => {
    const d = JSON.parse(e.data);
    state.project = d.project;
    state.namespace = d.namespace;
    state.resources = new Map(d.resources.map((r) => [r.key, r]));
    showProblem(d.problem);
    setLive("live");
    render();
    if (state.selected) loadDetail();
  });
  source.addEventListener("resource", (e) => {
    const r = JSON.parse(e.data);
    state.resources.set(r.key, r);
    render();
    if (r.key === state.selected) loadDetail();
  });
  source.addEventListener("deleted", (e) => {
    state.resources.delete(JSON.parse(e.data).key);
    render();
  });
  source.addEventListener("problem", (e) => showProblem(JSON.parse(e.data)));
}

connect();
