// vigil dashboard. It reads the agent's HTTP API from the page's own origin
// and writes every value it shows with textContent, never as HTML: member
// names, tags, event payloads and hook output come from the cluster and
// are not trusted. The API token, when the user gives one, stays in this
// tab's sessionStorage and goes only in the Authorization header of the
// requests that need it (GET /v1/hooks).
"use strict";

(function () {
  const TOKEN_KEY = "vigil-api-token";
  const MAX_EVENTS = 200;
  const MAX_RUNS = 100;
  const POLL_MS = 5000;
  // vigil's own bookkeeping tags, left out of the tag column as the CLI does.
  const INTERNAL_TAGS = new Set(["boot", "health_seq", "epoch"]);
  // Every event type the agent emits; EventSource delivers a named event
  // only to a listener for that name.
  const EVENT_TYPES = ["member-join", "member-leave", "member-failed", "member-update", "member-reap",
    "user", "check", "health", "damped", "brake"];

  const $ = (id) => document.getElementById(id);

  // el builds an element; strings among kids become text nodes.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null) continue;
      e.appendChild(typeof kid === "string" || typeof kid === "number" ? document.createTextNode(String(kid)) : kid);
    }
    return e;
  }

  function cssName(s) {
    return String(s).toLowerCase().replace(/[^a-z0-9-]/g, "-");
  }

  function badge(text) {
    return el("span", { class: "badge badge-" + cssName(text) }, text);
  }

  function fillBody(table, rows, empty) {
    const tbody = $(table).tBodies[0];
    const cols = $(table).tHead.rows[0].cells.length;
    tbody.replaceChildren(...(rows.length ? rows : [el("tr", null, el("td", { colspan: cols, class: "muted" }, empty))]));
  }

  function time(t) {
    if (!t) return "";
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toLocaleString();
  }

  function tagList(tags) {
    const keys = Object.keys(tags || {}).filter((k) => !INTERNAL_TAGS.has(k)).sort();
    return keys.map((k) => el("span", { class: "tag" }, k + "=" + tags[k]));
  }

  // --- the API -------------------------------------------------------------

  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let config = { token_required: true };

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function get(path, withToken) {
    const headers = { Accept: "application/json" };
    if (withToken && token) headers.Authorization = "Bearer " + token;
    const res = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      throw new APIError(res.status, (body && body.error) || res.status + " " + res.statusText);
    }
    return body;
  }

  // --- panels --------------------------------------------------------------

  let selfName = "";

  async function loadSelf() {
    const self = await get("/v1/self");
    selfName = self.name;
    $("agent-name").textContent = self.name;
    const facts = [self.addr + ":" + self.port, "profile " + self.profile, "vigil " + self.version];
    if (self.service) facts.push("service " + self.service + " (" + (self.health || "unknown") + ")");
    if (self.maintenance_reason) facts.push("maintenance: " + self.maintenance_reason);
    $("agent-facts").textContent = facts.join(" · ");
    document.title = "vigil · " + self.name;
  }

  async function loadMembers() {
    const [members, rtts] = await Promise.all([get("/v1/members"), get("/v1/rtt")]);
    const rtt = new Map(rtts.map((r) => [r.node, r.rtt_ms]));
    const rows = members.map((m) => {
      const ms = rtt.get(m.name);
      return el("tr", { "data-member": m.name, "data-status": m.status },
        el("td", null, m.name, m.name === selfName ? el("span", { class: "muted" }, " (this agent)") : null),
        el("td", null, el("code", null, m.addr + ":" + m.port)),
        el("td", null, badge(m.status)),
        el("td", null, m.tags && m.tags.health ? badge(m.tags.health) : "–"),
        el("td", { class: "num" }, ms === undefined ? "–" : ms.toFixed(2) + " ms"),
        el("td", null, tagList(m.tags)));
    });
    fillBody("members", rows, "No members.");
    const alive = members.filter((m) => m.status === "alive").length;
    $("members-count").textContent = "(" + alive + " alive of " + members.length + ")";

    const services = [...new Set(members.map((m) => (m.tags || {}).service).filter(Boolean))].sort();
    await loadServices(services);
  }

  async function loadServices(names) {
    const box = $("services");
    if (!names.length) {
      box.replaceChildren(el("p", { class: "muted" }, "No member offers a service."));
      return;
    }
    const all = await Promise.all(names.map((n) => get("/v1/health/service/" + encodeURIComponent(n))));
    box.replaceChildren(...names.map((name, i) => {
      const instances = all[i];
      // The API's health already folds in the member's status: critical
      // for a failed member, left for one that left on purpose.
      const count = (h) => instances.filter((x) => x.health === h).length;
      const summary = count("passing") + " passing, " + count("critical") + " critical" +
        (count("warning") ? ", " + count("warning") + " warning" : "") +
        (count("maintenance") ? ", " + count("maintenance") + " in maintenance" : "") +
        (count("left") ? ", " + count("left") + " left" : "");
      const rows = instances.map((x) => el("tr", { "data-node": x.node, "data-health": x.health },
        el("td", null, x.node),
        el("td", null, el("code", null, x.addr + ":" + x.port)),
        el("td", null, badge(x.health)),
        el("td", null, badge(x.status)),
        el("td", null, tagList(x.tags))));
      return el("div", { class: "service", "data-service": name },
        el("h3", null, name, " ", el("span", { class: "muted" }, summary)),
        el("table", null,
          el("thead", null, el("tr", null, ["Instance", "Address", "Health", "Member", "Tags"].map((h) => el("th", null, h)))),
          el("tbody", null, rows)));
    }));
  }

  async function loadChecks() {
    const checks = await get("/v1/checks");
    fillBody("checks", checks.map((c) => el("tr", { "data-check": c.id },
      el("td", null, c.id, c.notes ? el("div", { class: "muted" }, c.notes) : null),
      el("td", null, c.kind),
      el("td", null, badge(c.status)),
      el("td", null, time(c.last_run)),
      el("td", null, el("pre", null, c.output || "")))), "This agent runs no checks.");
  }

  async function loadFailover() {
    const st = await get("/v1/failover");
    $("failover-brake").replaceChildren(st.brake
      ? el("span", null, badge("engaged"), " since " + time(st.brake_since) + ": failover hooks are held until `vigil failover release`")
      : badge("none"));
    $("failover-quorum").replaceChildren(badge(st.quorum ? "yes" : "no"),
      st.quorum ? " this agent sees a strict majority alive" : " this agent does not see a strict majority alive");
    const damped = Object.entries(st.damped || {}).sort();
    $("failover-damped").replaceChildren(...(damped.length
      ? damped.map(([m, until], i) => el("span", { "data-damped": m }, (i ? ", " : "") + m + " until " + time(until)))
      : [el("span", { class: "muted" }, "none")]));
    fillBody("failover-pending", (st.pending || []).map((p) => el("tr", null,
      el("td", null, p.hook),
      el("td", null, el("code", null, p.key)),
      el("td", null, badge(p.state)),
      el("td", null, p.runner || ""),
      el("td", null, p.reason || ""),
      el("td", { class: "num" }, p.fence ? String(p.fence) : ""))), "No failover under way.");
  }

  function hooksNote(text) {
    const note = $("hooks-note");
    note.textContent = text;
    note.hidden = !text;
  }

  async function loadHooks() {
    if (config.token_required && !token) {
      hooksNote("Hook runs need the API token: hook output may hold secrets. Paste the agent's token above " +
        "(its http_token, or the token it made in data_dir/http-token); it is kept in this tab only.");
      fillBody("hooks", [], "Hidden: needs the API token.");
      return;
    }
    let runs;
    try {
      runs = await get("/v1/hooks", true);
    } catch (e) {
      if (e instanceof APIError && e.status === 401) {
        hooksNote("The agent refused the token: " + e.message + ". Paste the right one above.");
        fillBody("hooks", [], "Hidden: needs the API token.");
        return;
      }
      throw e;
    }
    hooksNote("");
    fillBody("hooks", runs.slice(-MAX_RUNS).reverse().map((r) => el("tr", { "data-hook": r.hook, "data-outcome": r.outcome },
      el("td", null, time(r.start)),
      el("td", null, r.hook),
      el("td", null, r.event, el("span", { class: "muted" }, " #" + r.event_id)),
      el("td", null, r.member || ""),
      el("td", null, badge(r.outcome), r.exit_code ? " exit " + r.exit_code : "", r.signal ? " " + r.signal : ""),
      el("td", { class: "num" }, r.duration_ms.toFixed(1) + " ms"),
      el("td", null, el("pre", null, [r.error, r.reason, r.output].filter(Boolean).join("\n"))))), "No hook has run yet.");
  }

  // --- events, live --------------------------------------------------------

  let lastEventID = 0;

  function eventDetail(ev) {
    const names = (ev.members || []).map((m) => m.name + (m.status ? " (" + m.status + ")" : "")).join(", ");
    switch (ev.event) {
      case "user":
        return ev.user_event ? ev.user_event.name + (ev.user_event.payload ? " payload=" + JSON.stringify(ev.user_event.payload) : "") : "";
      case "check":
        return ev.check ? ev.check.id + ": " + ev.check.previous + " → " + ev.check.status + (ev.check.output ? " — " + ev.check.output : "") : "";
      case "health":
        return (names ? names + ": " : "") + (ev.health ? ev.health.service + " " + ev.health.previous + " → " + ev.health.status : "");
      default:
        return names + (ev.key ? " key " + ev.key : "");
    }
  }

  function eventRow(ev) {
    return el("tr", { "data-event-id": ev.id, "data-event": ev.event },
      el("td", { class: "num" }, String(ev.id)),
      el("td", null, time(ev.time)),
      el("td", null, ev.event),
      el("td", null, eventDetail(ev)));
  }

  function addEvents(list) {
    const tbody = $("events").tBodies[0];
    if (tbody.rows.length === 1 && !tbody.rows[0].dataset.eventId) tbody.replaceChildren();
    for (const ev of list) {
      if (ev.id <= lastEventID) continue;
      lastEventID = ev.id;
      tbody.insertBefore(eventRow(ev), tbody.firstChild);
    }
    while (tbody.rows.length > MAX_EVENTS) tbody.deleteRow(-1);
    if (!tbody.rows.length) fillBody("events", [], "No events yet.");
  }

  function setStreamState(state, text) {
    const p = $("stream-state");
    p.dataset.state = state;
    p.className = "state state-" + state;
    p.textContent = text;
  }

  async function startStream() {
    const kept = await get("/v1/events");
    addEvents(kept.slice(-MAX_EVENTS));
    // The stream authenticates nothing: it is a read that needs no token.
    // EventSource resends the last id it saw (Last-Event-ID) when it
    // reconnects, so nothing the agent still keeps is missed.
    const es = new EventSource("/v1/events/stream?since=" + lastEventID);
    es.onopen = () => setStreamState("live", "live: events arrive as they happen");
    es.onerror = () => setStreamState("reconnecting", "event stream lost: reconnecting…");
    const onEvent = (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch (e) {
        return;
      }
      addEvents([ev]);
      scheduleRefresh();
    };
    for (const t of EVENT_TYPES) es.addEventListener(t, onEvent);
  }

  // --- refreshing ----------------------------------------------------------

  function showError(text) {
    const p = $("error");
    p.textContent = text;
    p.hidden = !text;
  }

  let refreshTimer = null;
  let refreshing = false;
  let again = false;

  function scheduleRefresh() {
    if (refreshTimer === null) refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
  }

  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      await loadSelf();
      await Promise.all([loadMembers(), loadChecks(), loadFailover(), loadHooks()]);
      showError("");
    } catch (e) {
      showError("Could not read the agent: " + e.message);
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        scheduleRefresh();
      }
    }
  }

  // --- the token -----------------------------------------------------------

  function showTokenState() {
    $("token-state").textContent = token
      ? "a token is set for this tab"
      : config.token_required ? "read-only: hook runs need the token" : "this agent's API needs no token";
  }

  function useToken() {
    token = $("token-input").value.trim();
    $("token-input").value = "";
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    refresh();
  }

  function forgetToken() {
    token = "";
    $("token-input").value = "";
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    refresh();
  }

  async function start() {
    $("token-use").addEventListener("click", useToken);
    $("token-forget").addEventListener("click", forgetToken);
    $("token-input").addEventListener("keydown", (e) => {
      if (e.key === "Enter") useToken();
    });
    try {
      config = await get("config.json");
    } catch (e) {
      showError("Could not read the dashboard's configuration: " + e.message);
    }
    showTokenState();
    await refresh();
    setInterval(refresh, POLL_MS);
    const stream = async () => {
      try {
        await startStream();
      } catch (e) {
        setStreamState("reconnecting", "no event stream (" + e.message + "): retrying…");
        setTimeout(stream, POLL_MS);
      }
    };
    await stream();
  }

  start().catch((e) => showError("The dashboard failed to start: " + e.message));
})();
