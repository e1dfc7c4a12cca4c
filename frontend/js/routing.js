/**
 * The routing view: where messages go, who decided, and whether everyone agrees.
 *
 * Routing in clusterlab is distributed: every node computes its own table.
 * This module shows that from four sides:
 *
 *  - pick a source and a destination: the path that the nodes' own tables
 *    give (GET /api/route) is highlighted on the topology, and "Trace" sends
 *    a real probe (POST /api/trace) that is animated hop by hop at the pace
 *    of its recorded per-hop times;
 *  - the routing table of the selected node, each entry checked against the
 *    global view;
 *  - the global view itself: Floyd-Warshall's matrix computed by the backend
 *    from the configured topology, with every cell where a node's own table
 *    disagrees highlighted (this is what "converging" looks like);
 *  - a converged indicator.
 *
 * It also adds small things to the topology drawn by topology.js, without
 * changing that module: a label on each link (cost, configured / measured
 * one-way latency) and, for the instructor, a click on a link to cut or
 * restore it (PATCH /api/topology/links/a/b with the token). They live in
 * their own SVG group above the links, found through the `data-link`
 * attributes topology.js puts on its lines.
 *
 * Why refetch /api/routes instead of folding RouteTable events in here: the
 * comparison with Floyd-Warshall needs the configured topology and every
 * node's state, which the backend already has; a throttled refetch after a
 * RouteTable event keeps one source of truth and costs a request or two a
 * second while tables change, nothing when they do not.
 */
import { attrs, setAttr, setText } from "./dom_write.js";
import { lab, subscribe } from "./state.js";

const d3 = window.d3;

const TOKEN_KEY = "clusterlab.instructorToken"; // the key controls.js stores it under
// Tables change in bursts while a network reconverges; one refetch per this.
const ROUTES_REFRESH_MIN_MS = 400;
// A hop of a loopback trace takes well under a millisecond; this is the
// shortest animation step an eye can follow.
const MIN_HOP_ANIMATION_MS = 450;
// Labels on more links than this overlap into noise; the tooltip still has them.
const MAX_LABELLED_LINKS = 30;
// Beyond this many nodes the matrix is unreadable on a projector; it is
// summarised instead (differences still listed).
const MAX_MATRIX_NODES = 16;

function linkKey(a, b) {
  return a < b ? `${a}|${b}` : `${b}|${a}`; // the same key topology.js uses
}

function byNodeId(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ms(value) {
  if (value === null || value === undefined) return "—";
  return value < 10 ? value.toFixed(2) : value.toFixed(0);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function injectStyles() {
  if (document.querySelector("link[data-routing-css]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/css/routing.css";
  link.dataset.routingCss = "";
  document.head.append(link);
}

function buildPanel(container) {
  const section = document.createElement("section");
  section.className = "routing";
  section.dataset.testid = "routing-panel";
  section.innerHTML = `
    <h2>Routing <span class="converged" data-testid="routing-converged">…</span></h2>
    <p class="routing-algorithm" data-testid="routing-algorithm"></p>
    <form class="route-form" autocomplete="off">
      <label>from <select data-testid="route-src" name="src"></select></label>
      <label>to <select data-testid="route-dst" name="dst"></select></label>
      <button type="submit" data-testid="route-show">Show route</button>
      <button type="button" data-testid="route-trace">Trace</button>
      <button type="button" class="quiet" data-testid="route-clear">Clear</button>
    </form>
    <div class="route-result" data-testid="route-result"></div>
    <div class="link-card" data-testid="link-card" hidden></div>
    <h3>Table of <span class="table-node" data-testid="route-table-node">—</span></h3>
    <table class="route-table" data-testid="route-table">
      <thead><tr><th>to</th><th>next hop</th><th>cost</th><th title="what Floyd-Warshall says">expected</th></tr></thead>
      <tbody></tbody>
    </table>
    <details class="fw" data-testid="fw">
      <summary>Floyd-Warshall: the global view <span class="fw-diffs" data-testid="fw-diffs"></span></summary>
      <div class="fw-matrix" data-testid="fw-matrix"></div>
    </details>`;
  container.append(section);
  return section;
}

export function createRouting({ panelContainer, linksElement, nodesElement, noticeElement }) {
  injectStyles();
  const panel = buildPanel(panelContainer);
  const q = (selector) => panel.querySelector(selector);
  const srcSelect = q('[data-testid="route-src"]');
  const dstSelect = q('[data-testid="route-dst"]');
  const result = q('[data-testid="route-result"]');
  const linkCard = q('[data-testid="link-card"]');

  // Above topology.js's own group of lines, so labels and hit areas are on top.
  const overlay = d3.select(linksElement).append("g").attr("class", "routing-overlay");
  const pathLayer = overlay.append("g").attr("class", "path-layer");
  const labelLayer = overlay.append("g").attr("class", "link-labels");
  const probeDot = overlay.append("circle").attr("class", "probe-dot").attr("r", 11).attr("visibility", "hidden");

  const state = {
    routes: null, // latest GET /api/routes
    selected: null, // node whose table is shown
    path: null, // highlighted path (node ids)
    selectedLink: null, // {a, b} shown in the link card
  };
  lab.routing = state; // for the browser tests and curious students

  function notice(text, isError = false) {
    if (!noticeElement) return;
    noticeElement.textContent = text;
    noticeElement.classList.toggle("error", isError);
  }

  // ---- positions, read from what topology.js drew ----
  function nodePosition(id) {
    const g = nodesElement.querySelector(`g.node[data-node="${CSS.escape(id)}"]`);
    const match = g?.getAttribute("transform")?.match(/translate\(([-\d.]+),\s*([-\d.]+)\)/);
    return match ? { x: Number(match[1]), y: Number(match[2]) } : null;
  }

  // ---- link labels, hit areas, cut / restore ----
  function renderLinks(view) {
    // each node's position once per render, not four DOM queries per link
    const at = new Map((view.nodes ?? []).map((n) => [n.id, nodePosition(n.id)]));
    const links = (view.links ?? []).filter((l) => at.get(l.a) && at.get(l.b));
    const labelled = links.length <= MAX_LABELLED_LINKS;
    const groups = labelLayer
      .selectAll("g.link-label")
      .data(links, (l) => `${l.a}>${l.b}`)
      .join((enter) => {
        const g = enter.append("g").attr("class", "link-label");
        g.append("line").attr("class", "link-hit");
        g.append("text").attr("class", "link-text");
        g.append("title");
        g.on("click", (_event, l) => onLinkClick(l));
        return g;
      })
      // the view comes every second, mostly unchanged: write only what changed (dom_write.js)
      .call(attrs, "data-link", (l) => linkKey(l.a, l.b))
      .call(attrs, "data-testid", (l) => `link-${l.a}-${l.b}`)
      .call(attrs, "data-cut", (l) => String(Boolean(l.cut)));
    groups.each(function (l) {
      const a = at.get(l.a);
      const b = at.get(l.b);
      const hit = this.querySelector("line.link-hit");
      setAttr(hit, "x1", a.x);
      setAttr(hit, "y1", a.y);
      setAttr(hit, "x2", b.x);
      setAttr(hit, "y2", b.y);
      // A little off the line's middle, towards a, so two directed links do not collide.
      const t = l.directed ? 0.38 : 0.5;
      const label = this.querySelector("text.link-text");
      setAttr(label, "x", a.x + (b.x - a.x) * t);
      setAttr(label, "y", a.y + (b.y - a.y) * t - 8);
      setText(label, labelled ? linkLabel(l) : "");
      setText(this.querySelector("title"), linkTitle(l));
    });
  }

  function linkLabel(l) {
    if (l.cut) return "cut";
    // cost · configured | measured one-way latency (the tooltip spells it out)
    const configured = l.latency_ms ? `${ms(l.latency_ms)}` : "0";
    return `cost ${l.cost} · ${configured} | ${ms(l.latency_ms_measured)} ms`;
  }

  function linkTitle(l) {
    const arrow = l.directed ? "→" : "–";
    return (
      `${l.a}${arrow}${l.b}${l.cut ? " (cut)" : l.up ? "" : " (down)"}\n` +
      `cost ${l.cost}\nlatency configured ${ms(l.latency_ms)} ms, measured ${ms(l.latency_ms_measured)} ms (RTT/2)\n` +
      `jitter ${ms(l.jitter_ms)} ms, loss ${(l.loss * 100).toFixed(1)} %, bandwidth ${l.bandwidth_mbps} Mb/s` +
      (token() ? "\nclick: cut / restore" : "")
    );
  }

  async function patchLink(a, b, changes) {
    const t = token();
    if (!t) {
      notice("Unlock the instructor controls to change links.", true);
      return null;
    }
    const response = await fetch(`/api/topology/links/${encodeURIComponent(a)}/${encodeURIComponent(b)}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${t}` },
      body: JSON.stringify(changes),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      notice(`${a}–${b}: ${body.error ?? response.status}`, true);
      return null;
    }
    return body;
  }

  async function onLinkClick(l) {
    state.selectedLink = { a: l.a, b: l.b };
    renderLinkCard();
    if (!token()) return; // watching: the card shows the link, nothing changes
    const up = Boolean(l.cut);
    notice(`${up ? "restoring" : "cutting"} ${l.a}–${l.b}…`);
    if (await patchLink(l.a, l.b, { up })) notice(`${l.a}–${l.b} ${up ? "restored" : "cut"}.`);
  }

  function renderLinkCard() {
    const chosen = state.selectedLink;
    const l = chosen && (lab.view?.links ?? []).find((x) => x.a === chosen.a && x.b === chosen.b);
    if (!l) {
      linkCard.hidden = true;
      return;
    }
    linkCard.hidden = false;
    const editable = Boolean(token());
    const field = (name, value, step) =>
      `<label>${name}<input name="${name}" type="number" step="${step}" value="${value}" ${editable ? "" : "disabled"}></label>`;
    linkCard.innerHTML =
      `<h3>Link ${escapeHtml(l.a)}${l.directed ? "→" : "–"}${escapeHtml(l.b)} ` +
      `<span class="badge" data-state="${l.cut ? "down" : l.up ? "up" : "starting"}">${l.cut ? "cut" : l.up ? "up" : "down"}</span></h3>` +
      `<p>measured latency ${ms(l.latency_ms_measured)} ms (RTT/2), configured ${ms(l.latency_ms)} ms</p>` +
      `<form class="link-form">${field("cost", l.cost, 1)}${field("latency_ms", l.latency_ms, 1)}` +
      `${field("jitter_ms", l.jitter_ms, 1)}${field("loss", l.loss, 0.05)}${field("bandwidth_mbps", l.bandwidth_mbps, 1)}` +
      (editable
        ? `<button type="submit" data-testid="link-apply">Apply</button>` +
          `<button type="button" data-testid="link-toggle">${l.cut ? "Restore" : "Cut"}</button>`
        : "") +
      `</form>`;
    const form = linkCard.querySelector("form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const changes = {};
      for (const input of form.querySelectorAll("input")) {
        const value = Number(input.value);
        if (value !== l[input.name]) changes[input.name] = input.name === "cost" ? Math.round(value) : value;
      }
      if (Object.keys(changes).length === 0) return;
      if (await patchLink(l.a, l.b, changes)) notice(`${l.a}–${l.b} changed.`);
    });
    linkCard.querySelector('[data-testid="link-toggle"]')?.addEventListener("click", () => onLinkClick(l));
  }

  // ---- the path and the probe ----
  function highlight(path) {
    state.path = path;
    const hops = [];
    for (let i = 0; path && i + 1 < path.length; i++) hops.push([path[i], path[i + 1]]);
    pathLayer
      .selectAll("line.path-hop")
      .data(hops, (h) => `${h[0]}>${h[1]}`)
      .join("line")
      .attr("class", "path-hop")
      .attr("data-link", (h) => linkKey(h[0], h[1]))
      .attr("data-hop", (h) => `${h[0]}>${h[1]}`)
      .each(function (h) {
        const a = nodePosition(h[0]);
        const b = nodePosition(h[1]);
        if (!a || !b) return;
        d3.select(this).attr("x1", a.x).attr("y1", a.y).attr("x2", b.x).attr("y2", b.y);
      });
    d3.select(nodesElement)
      .selectAll("g.node")
      .classed("on-path", (n) => Boolean(path?.includes(n.id)));
  }

  async function showRoute() {
    const src = srcSelect.value;
    const dst = dstSelect.value;
    const response = await fetch(`/api/route?src=${encodeURIComponent(src)}&dst=${encodeURIComponent(dst)}`);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      result.textContent = body.error ?? `error ${response.status}`;
      return;
    }
    highlight(body.reached ? body.path : body.partial_path);
    const expected = body.floyd_warshall?.path;
    const agrees = JSON.stringify(expected) === JSON.stringify(body.path);
    result.innerHTML = body.reached
      ? `<b data-testid="route-path">${body.path.map(escapeHtml).join(" → ")}</b>, cost ${body.cost}` +
        ` <span class="muted">(${escapeHtml(body.algorithm)}, from each node's own table)</span>` +
        (agrees ? "" : `<br><span class="differs">Floyd-Warshall says ${expected ? expected.join(" → ") : "unreachable"}: still converging</span>`)
      : `<span class="differs" data-testid="route-path">no route: ${escapeHtml(body.reason)}</span>`;
  }

  async function trace() {
    const src = srcSelect.value;
    const dst = dstSelect.value;
    result.textContent = `tracing ${src} → ${dst}…`;
    const response = await fetch("/api/trace", {
      method: "POST",
      // a probe makes the cluster send messages: the instructor's token
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token()}` },
      body: JSON.stringify({ src, dst }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      result.textContent = body.error ?? `error ${response.status}`;
      return;
    }
    state.lastTrace = body;
    highlight(body.path);
    const rows = body.hops
      .map((h, i) => `<tr><td>${i}</td><td>${escapeHtml(h.node)}</td><td>${ms(h.hop_ms)}</td><td>${ms(h.since_start_ms)}</td></tr>`)
      .join("");
    result.innerHTML =
      `<b data-testid="trace-summary">${body.reached ? "reached" : `stopped: ${escapeHtml(body.reason)}`} in ${body.hop_count} hops, ${ms(body.total_ms)} ms</b>` +
      `<table class="trace-table" data-testid="trace-table"><thead><tr><th>#</th><th>node</th><th>hop ms</th><th>total ms</th></tr></thead><tbody>${rows}</tbody></table>`;
    animateProbe(body.hops);
  }

  function animateProbe(hops) {
    const slow = Math.max(1, Number(document.getElementById("slow-motion")?.value) || 1);
    const steps = [];
    for (let i = 0; i + 1 < hops.length; i++) {
      const a = nodePosition(hops[i].node);
      const b = nodePosition(hops[i + 1].node);
      if (a && b) steps.push({ a, b, durationMs: Math.max(MIN_HOP_ANIMATION_MS, hops[i + 1].hop_ms) * slow });
    }
    if (!steps.length) return;
    state.probeHopsAnimated = 0;
    let step = 0;
    let startMs = performance.now();
    probeDot.attr("visibility", "visible");
    function frame(nowMs) {
      const current = steps[step];
      const progress = Math.min(1, (nowMs - startMs) / current.durationMs);
      probeDot
        .attr("cx", current.a.x + (current.b.x - current.a.x) * progress)
        .attr("cy", current.a.y + (current.b.y - current.a.y) * progress);
      if (progress >= 1) {
        step++;
        state.probeHopsAnimated = step;
        startMs = nowMs;
        if (step >= steps.length) {
          probeDot.attr("visibility", "hidden");
          return;
        }
      }
      requestAnimationFrame(frame);
    }
    requestAnimationFrame(frame);
  }

  // ---- tables and the matrix ----
  function renderConverged(view) {
    const badge = q('[data-testid="routing-converged"]');
    const routing = view.routing;
    if (!routing) return;
    badge.dataset.converged = String(routing.converged);
    badge.textContent = routing.converged
      ? "converged"
      : `converging… ${routing.differences} difference${routing.differences === 1 ? "" : "s"}`;
    q('[data-testid="routing-algorithm"]').textContent =
      `${routing.algorithm}; ${view.topology?.directed ? "directed " : ""}${view.topology?.preset ?? ""} topology, ` +
      `${routing.reported} of ${view.nodes.length} nodes reported a table`;
  }

  function renderTable() {
    const routes = state.routes;
    const node = state.selected ?? srcSelect.value;
    q('[data-testid="route-table-node"]').textContent = node ?? "—";
    const tbody = q('[data-testid="route-table"] tbody');
    if (!routes || !node || !routes.nodes[node]) {
      tbody.innerHTML = "";
      return;
    }
    const own = routes.nodes[node].table ?? {};
    const fw = routes.floyd_warshall;
    const wrong = new Set(routes.differences.filter((d) => d.node === node).map((d) => d.dst));
    const dsts = [...new Set([...Object.keys(own), ...Object.keys(fw.next_hop[node] ?? {})])].sort(byNodeId);
    tbody.innerHTML = dsts
      .map((dst) => {
        const entry = own[dst];
        const hop = fw.next_hop[node]?.[dst];
        const cost = fw.dist[node]?.[dst];
        const expected = hop === undefined ? "—" : `${hop} / ${cost}`;
        return (
          `<tr data-dst="${escapeHtml(dst)}" class="${wrong.has(dst) ? "differs" : ""}">` +
          `<td>${escapeHtml(dst)}</td><td>${entry ? escapeHtml(entry.next_hop) : "—"}</td>` +
          `<td>${entry ? entry.cost : "—"}</td><td class="muted">${escapeHtml(expected)}</td></tr>`
        );
      })
      .join("");
  }

  function renderMatrix() {
    const routes = state.routes;
    const container = q('[data-testid="fw-matrix"]');
    if (!routes) return;
    const fw = routes.floyd_warshall;
    q('[data-testid="fw-diffs"]').textContent = routes.difference_count
      ? `· ${routes.difference_count} differ`
      : "· all tables agree";
    const nodes = [...fw.nodes].sort(byNodeId);
    if (nodes.length > MAX_MATRIX_NODES) {
      container.innerHTML = `<p class="muted">${nodes.length} nodes: too many to draw; ${routes.difference_count} table entries differ.</p>`;
      return;
    }
    const wrong = new Set(routes.differences.map((d) => `${d.node}>${d.dst}`));
    const head = `<tr><th>from \\ to</th>${nodes.map((n) => `<th>${escapeHtml(n)}</th>`).join("")}</tr>`;
    const body = nodes
      .map((i) => {
        const cells = nodes.map((j) => {
          const dist = fw.dist[i]?.[j];
          const hop = fw.next_hop[i]?.[j];
          const text = i === j ? "0" : dist === undefined ? "∞" : `${dist}<small>${escapeHtml(hop)}</small>`;
          const cls = wrong.has(`${i}>${j}`) ? "differs" : "";
          return `<td class="${cls}" data-cell="${escapeHtml(i)}>${escapeHtml(j)}">${text}</td>`;
        });
        return `<tr><th>${escapeHtml(i)}</th>${cells.join("")}</tr>`;
      })
      .join("");
    container.innerHTML = `<table class="matrix"><thead>${head}</thead><tbody>${body}</tbody></table>` +
      `<p class="muted">distance and first hop; red: the node's own table says otherwise.</p>`;
  }

  let routesTimer = null;
  let routesFetchedMs = 0;
  function refreshRoutes() {
    if (routesTimer) return;
    const waitMs = Math.max(0, ROUTES_REFRESH_MIN_MS - (performance.now() - routesFetchedMs));
    routesTimer = setTimeout(async () => {
      routesFetchedMs = performance.now();
      try {
        const response = await fetch("/api/routes", { cache: "no-store" });
        if (response.ok) {
          state.routes = await response.json();
          renderTable();
          renderMatrix();
        }
      } finally {
        routesTimer = null;
      }
    }, waitMs);
  }

  // ---- pickers ----
  function renderPickers(view) {
    const ids = view.nodes.map((n) => n.id).sort(byNodeId);
    for (const [select, fallback] of [[srcSelect, 0], [dstSelect, ids.length - 1]]) {
      const current = select.value;
      if ([...select.options].map((o) => o.value).join() !== ids.join()) {
        select.innerHTML = ids.map((id) => `<option value="${escapeHtml(id)}">${escapeHtml(id)}</option>`).join("");
        select.value = ids.includes(current) ? current : ids[fallback] ?? "";
      }
    }
  }

  panel.querySelector(".route-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showRoute();
  });
  q('[data-testid="route-trace"]').addEventListener("click", trace);
  q('[data-testid="route-clear"]').addEventListener("click", () => {
    highlight(null);
    result.textContent = "";
  });
  srcSelect.addEventListener("change", () => {
    if (!state.selected) renderTable();
  });

  let lastRoutingKey = "";
  subscribe("view", (view) => {
    renderPickers(view);
    renderLinks(view);
    renderConverged(view);
    if (state.path) highlight(state.path); // the layout may have moved
    if (state.selectedLink) renderLinkCard();
    const key = JSON.stringify([view.routing, view.nodes.map((n) => n.state)]);
    if (key !== lastRoutingKey) {
      lastRoutingKey = key;
      refreshRoutes();
    }
  });
  subscribe("events", (events) => {
    for (let i = 0; i < events.length; i++) {
      if (events[i].type === "RouteTable") {
        refreshRoutes();
        return;
      }
    }
  });
  subscribe("select", (nodeId) => {
    state.selected = nodeId;
    renderTable();
  });
  subscribe("auth", () => {
    if (state.selectedLink) renderLinkCard();
  });
  refreshRoutes();
}
