/**
 * The strategy comparison: for modulo, consistent hashing and rendezvous,
 * how many keys would move if one node joined or left, and how evenly the
 * chunks are spread — as bars, measured on the cluster's real chunk keys.
 *
 * Why measured and not quoted: "consistent hashing moves K/N keys" is a claim;
 * here the backend places the cluster's actual chunk names with each
 * strategy (cluster/core/placement/compare.py) and counts. With fewer than
 * 50 chunks it uses 1,000 sample keys instead and the chart says so, since
 * percentages of a dozen keys are mostly noise.
 *
 * Why not live: a comparison places every key several times per strategy
 * (rendezvous hashes it once per node), so it is fetched when the set of
 * chunks or members changed and at most every COMPARE_REFRESH_MIN_MS, or on
 * the Recompute button.
 */
import { lab, subscribe } from "./state.js";
import { files } from "./files_data.js";
import { createExplainer } from "./explain.js";

const d3 = window.d3;

// Automatic recomputation at most this often: the backend's CPU is shared
// with the node processes being watched.
const COMPARE_REFRESH_MIN_MS = 10_000;
const WIDTH = 600;
const HEIGHT = 250;
const MARGIN = { top: 32, right: 8, bottom: 30, left: 40 };
const GAP = 40; // between the two charts
const STRATEGY_ORDER = ["modulo", "consistent", "rendezvous"];
const MOVE_COLOURS = { join: "#1f5fbf", leave: "#8fb8f0" };
const BALANCE_COLOUR = "#e07b00";

const EXPLANATION = `
  <p>Left: the share of chunk keys whose replica set would change if one node
  <b>joined</b> (dark) or one node <b>left</b> (light). Modulo puts N in the
  formula <code>hash mod N</code>, so changing N moves nearly everything;
  consistent hashing and rendezvous move only about RF/N — the keys the new node
  takes, or the departed node had.</p>
  <p>Right: balance, the fullest node's chunk count divided by the mean
  (1.0 = perfectly even; the fullest node fills up first), with the standard
  deviation written on the bar. Consistent hashing with few virtual nodes is
  uneven; try 1 virtual node, then 128, on the ring above.</p>
  <p>Every number is computed by placing the cluster's real chunk names with
  each strategy, not from a formula.</p>`;

function num(value, fallback = 0) {
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

/** One movement (join or leave) as a fraction of the keys, whatever the backend calls it. */
function fractionMoved(movement) {
  if (movement === null || movement === undefined) return 0;
  if (typeof movement === "number") return movement;
  if (movement.fraction_moved !== undefined) return num(movement.fraction_moved);
  const total = num(movement.keys_total);
  return total ? num(movement.keys_moved) / total : 0;
}

/** The backend's reports as [{name, join, leave, maxOverMean, stddev}] in a fixed order. */
export function reportsOf(body) {
  let raw = body?.strategies ?? body?.reports ?? [];
  if (!Array.isArray(raw)) raw = Object.entries(raw).map(([name, r]) => ({ name, ...r }));
  const reports = raw.map((r) => ({
    name: r.name ?? r.strategy,
    join: fractionMoved(r.join ?? r.moved_on_join),
    leave: fractionMoved(r.leave ?? r.moved_on_leave),
    maxOverMean: num(r.balance?.max_over_mean ?? r.max_over_mean),
    stddev: num(r.balance?.stddev ?? r.stddev),
    mean: num(r.balance?.mean ?? r.mean),
  }));
  const rank = (name) => {
    const i = STRATEGY_ORDER.indexOf(name);
    return i < 0 ? STRATEGY_ORDER.length : i;
  };
  return reports.sort((a, b) => rank(a.name) - rank(b.name));
}

function buildPanel() {
  const section = document.createElement("section");
  section.className = "compare-panel";
  section.dataset.testid = "compare-panel";
  section.innerHTML = `
    <h2>Strategies compared
      <button type="button" class="quiet compare-refresh" data-testid="compare-refresh">Recompute</button></h2>
    <p class="compare-caption" data-testid="compare-caption">Measured on the cluster's chunk keys: how much moves when a node joins or leaves, and how even the load is.</p>
    <svg class="compare-chart" data-testid="compare-chart" hidden viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img"
         aria-label="keys moved and balance per placement strategy"></svg>
    <p class="compare-note muted" data-testid="compare-note"></p>`;
  section.querySelector("h2").after(createExplainer(EXPLANATION, "explain-compare"));
  return section;
}

export function createPlacementChart({ panelContainer }) {
  const panel = buildPanel();
  panelContainer.append(panel);
  const q = (selector) => panel.querySelector(selector);
  const svg = d3.select(q("svg.compare-chart"));
  const note = q('[data-testid="compare-note"]');

  const state = { body: null, reports: [], fetches: 0, renders: 0, error: null };
  lab.compare = state;
  let lastKey = "";
  let lastFetchMs = -Infinity;
  let timer = null;
  let inFlight = false;

  async function load() {
    if (inFlight) return;
    inFlight = true;
    lastFetchMs = performance.now();
    state.fetches++;
    note.textContent = "computing…";
    try {
      const response = await fetch("/api/placement/compare", { cache: "no-store" });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
      state.body = body;
      state.reports = reportsOf(body);
      state.error = null;
      render();
    } catch (err) {
      state.error = err.message;
      note.textContent = `Could not compare: ${err.message}`;
    } finally {
      inFlight = false;
    }
  }

  /** Recompute when the chunks or members changed, throttled. */
  let drawnStrategy = null;

  function maybeReload() {
    const s = files.settings ?? {};
    if (state.reports.length && s.strategy !== drawnStrategy) render(); // the current one is in bold
    const key = JSON.stringify([files.chunksTotal, files.list.length, s.members, s.rf, s.hash, s.vnodes]);
    if (key === lastKey && state.body) return;
    lastKey = key;
    if (timer) return;
    const waitMs = Math.max(0, COMPARE_REFRESH_MIN_MS - (performance.now() - lastFetchMs));
    timer = setTimeout(() => {
      timer = null;
      load();
    }, waitMs);
  }

  function axisLabel(group, text, x) {
    group
      .selectAll("text.chart-title")
      .data([text])
      .join("text")
      .attr("class", "chart-title")
      .attr("x", x)
      .attr("y", -12)
      .text((d) => d);
  }

  function render() {
    state.renders++;
    const reports = state.reports;
    q("svg.compare-chart").toggleAttribute("hidden", reports.length === 0); // SVG has no .hidden
    const current = files.settings?.strategy;
    drawnStrategy = current;
    const innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
    const chartW = (WIDTH - MARGIN.left - MARGIN.right - GAP) / 2;
    const names = reports.map((r) => r.name);
    const x = d3.scaleBand().domain(names).range([0, chartW]).padding(0.25);

    // ---- keys moved on join / leave ----
    const moved = svg
      .selectAll("g.moved")
      .data([0])
      .join("g")
      .attr("class", "moved")
      .attr("transform", `translate(${MARGIN.left},${MARGIN.top})`);
    const yMoved = d3.scaleLinear().domain([0, 1]).range([innerH, 0]);
    axisLabel(moved, "keys moved", 0);
    moved
      .selectAll("g.legend")
      .data(["join", "leave"])
      .join((enter) => {
        const g = enter.append("g").attr("class", "legend");
        g.append("rect").attr("width", 10).attr("height", 10).attr("y", -9);
        g.append("text").attr("x", 14);
        return g;
      })
      .attr("transform", (_d, i) => `translate(${104 + i * 96},-16)`)
      .call((g) => g.select("rect").attr("fill", (d) => MOVE_COLOURS[d]))
      .call((g) => g.select("text").text((d) => (d === "join" ? "a node joins" : "a node leaves")));
    moved
      .selectAll("g.y-axis")
      .data([0])
      .join("g")
      .attr("class", "y-axis")
      .call(d3.axisLeft(yMoved).ticks(4).tickFormat(d3.format(".0%")));
    const sub = d3.scaleBand().domain(["join", "leave"]).range([0, x.bandwidth()]).padding(0.08);
    const bars = reports.flatMap((r) => ["join", "leave"].map((kind) => ({ name: r.name, kind, value: r[kind] })));
    moved
      .selectAll("rect.bar")
      .data(bars, (d) => `${d.name}/${d.kind}`)
      .join("rect")
      .attr("class", "bar")
      .attr("data-strategy", (d) => d.name)
      .attr("data-kind", (d) => d.kind)
      .attr("data-value", (d) => d.value.toFixed(4))
      .attr("x", (d) => x(d.name) + sub(d.kind))
      .attr("width", sub.bandwidth())
      .attr("y", (d) => yMoved(d.value))
      .attr("height", (d) => innerH - yMoved(d.value))
      .attr("fill", (d) => MOVE_COLOURS[d.kind])
      .selectAll("title")
      .data((d) => [d])
      .join("title")
      .text((d) => `${d.name}: ${(d.value * 100).toFixed(1)}% of the keys move when a node ${d.kind === "join" ? "joins" : "leaves"}`);
    moved
      .selectAll("text.value")
      .data(bars, (d) => `${d.name}/${d.kind}`)
      .join("text")
      .attr("class", "value")
      .attr("x", (d) => x(d.name) + sub(d.kind) + sub.bandwidth() / 2)
      .attr("y", (d) => yMoved(d.value) - 3)
      .text((d) => `${Math.round(d.value * 100)}`);
    labelStrategies(moved, x, innerH, current);

    // ---- balance: max / mean ----
    const balance = svg
      .selectAll("g.balance")
      .data([0])
      .join("g")
      .attr("class", "balance")
      .attr("transform", `translate(${MARGIN.left + chartW + GAP},${MARGIN.top})`);
    const top = Math.max(1.5, d3.max(reports, (r) => r.maxOverMean) ?? 1) * 1.1;
    const yBalance = d3.scaleLinear().domain([0, top]).range([innerH, 0]);
    axisLabel(balance, "max / mean (1 = even)", 0);
    balance
      .selectAll("g.y-axis")
      .data([0])
      .join("g")
      .attr("class", "y-axis")
      .call(d3.axisLeft(yBalance).ticks(4));
    balance
      .selectAll("line.ideal")
      .data([1])
      .join("line")
      .attr("class", "ideal")
      .attr("x1", 0)
      .attr("x2", chartW)
      .attr("y1", (d) => yBalance(d))
      .attr("y2", (d) => yBalance(d));
    balance
      .selectAll("rect.bar")
      .data(reports, (r) => r.name)
      .join("rect")
      .attr("class", "bar")
      .attr("data-strategy", (r) => r.name)
      .attr("data-kind", "balance")
      .attr("data-value", (r) => r.maxOverMean.toFixed(4))
      .attr("x", (r) => x(r.name))
      .attr("width", x.bandwidth())
      .attr("y", (r) => yBalance(r.maxOverMean))
      .attr("height", (r) => innerH - yBalance(r.maxOverMean))
      .attr("fill", BALANCE_COLOUR)
      .selectAll("title")
      .data((r) => [r])
      .join("title")
      .text((r) => `${r.name}: fullest node ${r.maxOverMean.toFixed(2)}× the mean of ${r.mean.toFixed(1)} chunks, σ ${r.stddev.toFixed(1)}`);
    balance
      .selectAll("text.value")
      .data(reports, (r) => r.name)
      .join("text")
      .attr("class", "value")
      .attr("x", (r) => x(r.name) + x.bandwidth() / 2)
      .attr("y", (r) => yBalance(r.maxOverMean) - 3)
      .text((r) => r.maxOverMean.toFixed(2));
    balance
      .selectAll("text.sigma")
      .data(reports, (r) => r.name)
      .join("text")
      .attr("class", "sigma")
      .attr("x", (r) => x(r.name) + x.bandwidth() / 2)
      .attr("y", (r) => yBalance(r.maxOverMean) + 14)
      .text((r) => `σ ${r.stddev.toFixed(1)}`);
    labelStrategies(balance, x, innerH, current);

    const body = state.body ?? {};
    const keys = body.keys_total ?? body.keys ?? body.key_count;
    const sample = body.sample ?? body.sampled ?? body.sample_keys;
    const parts = [];
    if (keys !== undefined) parts.push(`${keys} ${sample ? "sample keys (fewer than 50 chunks stored)" : "real chunk keys"}`);
    else if (sample) parts.push("sample keys (fewer than 50 chunks stored)");
    if (body.rf !== undefined) parts.push(`RF ${body.rf}`);
    if (body.joining || body.leaving) parts.push(`join: ${body.joining ?? "a new node"}, leave: ${body.leaving ?? "one node"}`);
    note.textContent = parts.join(" · ");
    panel.dataset.sample = String(Boolean(sample));
  }

  function labelStrategies(group, x, innerH, current) {
    group
      .selectAll("text.strategy")
      .data(x.domain(), (d) => d)
      .join("text")
      .attr("class", "strategy")
      .classed("current", (d) => d === current)
      .attr("x", (d) => x(d) + x.bandwidth() / 2)
      .attr("y", innerH + 18)
      .text((d) => d);
  }

  q('[data-testid="compare-refresh"]').addEventListener("click", load);
  subscribe("files", maybeReload);
}
