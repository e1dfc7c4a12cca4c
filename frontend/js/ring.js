/**
 * The ring view: the hash space drawn as a circle, where each node's tokens
 * sit and where each chunk of each file landed — and, for the instructor,
 * the strategy / hash / RF / virtual-node settings that decide it.
 *
 * Consistent hashing is the one strategy that really is a ring: hash values
 * 0 … 2^32−1 run clockwise from the top, every node is put there `vnodes`
 * times (ticks in the node's colour; the coloured band is the arcs each node
 * owns), and a chunk (a dot at hash(sha256)) belongs to the first token
 * clockwise, its other replicas to the next distinct nodes. Modulo and
 * rendezvous have no ring; for them the circle is cut into one equal sector
 * per node and each dot sits in its primary's sector, which is the honest
 * picture: "which node got it" is all those strategies define.
 *
 * Cost: the ring (band and ticks) is rebuilt only when the placement
 * settings or the members change — one <path> per node however many tokens
 * there are; dots are joined by key when the files model refreshes (at most
 * once a second), and hovering uses one delegated listener, not one per dot.
 * Positions and replicas come from the backend (GET /api/placement and each
 * file's placement); the page computes no hash itself, so it shows what the
 * cluster actually does.
 */
import { lab, subscribe } from "./state.js";
import { files, chunkState, replicasOf, requestRefresh, wantedCopies } from "./files_data.js";
import { createExplainer } from "./explain.js";

const d3 = window.d3;

const TOKEN_KEY = "clusterlab.instructorToken"; // the key controls.js stores it under
const VIEW_SIZE = 440;
const RING_RADIUS = 160;
const BAND_INNER = 136;
const BAND_OUTER = 158;
const TICK_INNER = 150;
const TICK_OUTER = 164;
const DOT_RADIUS_AT = 174;
// Ticks drawn one by one up to this many tokens (50 nodes × 400 vnodes);
// beyond, the band is drawn from ANGLE_BINS sectors and ticks are left out.
const MAX_TOKENS_DRAWN = 20_000;
const ANGLE_BINS = 1440;
// Chunk dots drawn; more are counted in the summary. Thousands of overlapping
// dots say nothing more than hundreds, and each is an SVG element.
export const MAX_RING_DOTS = 3000;
const SHA_PREFIX_CHARS = 16;
const MAX_VNODES = 1000; // cluster/core/placement/consistent.py
const STRATEGIES = ["consistent", "rendezvous", "modulo"];
const HASHES = ["sha256", "md5", "sha1", "modhash"];

const CAPTIONS = {
  consistent:
    "Each node owns the arcs ending at its ticks (virtual nodes); a chunk's dot sits at hash(sha256) " +
    "and is stored on the first node clockwise, its other replicas on the next distinct nodes.",
  modulo:
    "Modulo has no ring: the circle is cut into N equal buckets, one per node, and each chunk sits in the " +
    "bucket hash mod N of its primary — change N and nearly every chunk changes bucket.",
  rendezvous:
    "Rendezvous has no ring: every node scores each chunk with hash(node ‖ sha256) and the RF highest win; " +
    "the circle is cut into one sector per node only to group the chunks by primary.",
};

const EXPLANATION = `
  <p>The circle is the hash space. With <b>consistent hashing</b> each node
  appears on it many times (its <i>virtual nodes</i>, the ticks in its colour);
  the coloured band shows which node owns each arc. Every chunk is a dot at the
  hash of its name; it is stored on the node that owns that arc and on the next
  distinct nodes clockwise, RF in all. Dots are coloured by that first node
  (the primary); a dot with a red ring has fewer than RF healthy copies.</p>
  <p>Hover a dot for its sha256 and replicas. The legend compares each node's
  share of the ring with the chunks it really holds as primary: with few
  virtual nodes the shares are uneven; with 100 or more they even out.</p>
  <p>An instructor can change the strategy, the hash function, RF and the
  number of virtual nodes here. The cluster then rebalances: only chunks whose
  placement changed are copied (watch the topology), and the others stay put.
  Try modulo, then add a node, and compare with consistent hashing.</p>`;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function byNodeId(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

/** A point at `radius` and `angle` (radians, 0 at the top, clockwise: d3.arc's convention). */
function polar(radius, angle) {
  return [radius * Math.sin(angle), -radius * Math.cos(angle)];
}

function buildPanel() {
  const section = document.createElement("section");
  section.className = "ring-panel";
  section.dataset.testid = "ring-panel";
  section.innerHTML = `
    <h2>Placement ring <span class="ring-summary" data-testid="ring-summary"></span></h2>
    <p class="ring-caption" data-testid="ring-caption"></p>
    <div class="ring-stage">
      <svg class="ring" data-testid="ring" viewBox="${-VIEW_SIZE / 2} ${-VIEW_SIZE / 2} ${VIEW_SIZE} ${VIEW_SIZE}"
           role="img" aria-label="hash ring with node tokens and chunk positions">
        <g class="ring-band"></g><circle class="ring-line" r="${RING_RADIUS}"></circle>
        <g class="ring-ticks"></g><g class="ring-sectors"></g><g class="ring-dots"></g>
        <text class="ring-centre" text-anchor="middle"></text>
      </svg>
      <div class="ring-tooltip" data-testid="ring-tooltip" hidden></div>
    </div>
    <div class="ring-legend" data-testid="ring-legend"></div>
    <form class="placement-form" data-testid="placement-form" autocomplete="off">
      <label>strategy <select name="strategy" data-testid="placement-strategy">
        ${STRATEGIES.map((s) => `<option value="${s}">${s}</option>`).join("")}</select></label>
      <label>hash <select name="hash" data-testid="placement-hash">
        ${HASHES.map((h) => `<option value="${h}">${h === "modhash" ? "H(x) = f(x mod p) mod q" : h}</option>`).join("")}</select></label>
      <label>RF <input name="rf" type="number" min="1" step="1" data-testid="placement-rf"></label>
      <label>vnodes <input name="vnodes" type="number" min="1" max="${MAX_VNODES}" step="1" data-testid="placement-vnodes"></label>
      <button type="submit" name="apply" data-testid="placement-apply">Apply</button>
    </form>
    <p class="placement-result" role="status" data-testid="placement-result"></p>`;
  section.querySelector("h2").after(createExplainer(EXPLANATION, "explain-ring"));
  return section;
}

export function createRing({ panelContainer }) {
  const panel = buildPanel();
  panelContainer.append(panel);
  const q = (selector) => panel.querySelector(selector);
  const svg = d3.select(q("svg.ring"));
  const bandLayer = svg.select("g.ring-band");
  const tickLayer = svg.select("g.ring-ticks");
  const sectorLayer = svg.select("g.ring-sectors");
  const dotLayer = svg.select("g.ring-dots");
  const tooltip = q('[data-testid="ring-tooltip"]');
  const form = q(".placement-form");
  const result = q('[data-testid="placement-result"]');

  const counts = { ringBuilds: 0, dotRenders: 0, dotsDrawn: 0, dotsLeftOut: 0, ticksDrawn: 0 };
  lab.ring = counts;
  let ringKey = "";
  let formDirty = false;
  let formVersion = null;
  let colour = d3.scaleOrdinal(d3.schemeTableau10);

  function settings() {
    return files.settings ?? {};
  }

  function members() {
    const s = settings();
    const fromSettings = s.members ?? [];
    if (fromSettings.length) return fromSettings;
    return (lab.view?.nodes ?? []).map((n) => n.id).sort(byNodeId);
  }

  function tokensOf(s) {
    return s.tokens ?? s.ring ?? s.ring_tokens ?? [];
  }

  function downNodes() {
    const down = new Set(settings().down ?? []);
    for (const n of lab.view?.nodes ?? []) if (n.state === "down") down.add(n.id);
    return down;
  }

  // ---- the ring itself: band, ticks, sectors ----

  function buildConsistent(tokens) {
    const sorted = [...tokens].sort((a, b) => a.position - b.position);
    const arcs = []; // {node, start, end} in turns, merged when neighbours share an owner
    if (sorted.length <= MAX_TOKENS_DRAWN) {
      let previous = sorted[sorted.length - 1].position - 1; // the arc that wraps past the top
      for (const t of sorted) {
        const last = arcs[arcs.length - 1];
        if (last && last.node === t.node) last.end = t.position;
        else arcs.push({ node: t.node, start: previous, end: t.position });
        previous = t.position;
      }
    } else {
      const positions = sorted.map((t) => t.position);
      for (let bin = 0; bin < ANGLE_BINS; bin++) {
        const end = (bin + 1) / ANGLE_BINS;
        const owner = sorted[d3.bisectLeft(positions, end) % sorted.length].node;
        const last = arcs[arcs.length - 1];
        if (last && last.node === owner) last.end = end;
        else arcs.push({ node: owner, start: bin / ANGLE_BINS, end });
      }
    }
    const arc = d3.arc().innerRadius(BAND_INNER).outerRadius(BAND_OUTER);
    const bandPaths = new Map();
    const share = new Map();
    for (const a of arcs) {
      const d = arc({ startAngle: a.start * 2 * Math.PI, endAngle: a.end * 2 * Math.PI });
      bandPaths.set(a.node, (bandPaths.get(a.node) ?? "") + d);
      share.set(a.node, (share.get(a.node) ?? 0) + (a.end - a.start));
    }
    const tickPaths = new Map();
    if (sorted.length <= MAX_TOKENS_DRAWN) {
      for (const t of sorted) {
        const angle = t.position * 2 * Math.PI;
        const [x1, y1] = polar(TICK_INNER, angle);
        const [x2, y2] = polar(TICK_OUTER, angle);
        tickPaths.set(t.node, `${tickPaths.get(t.node) ?? ""}M${x1.toFixed(1)},${y1.toFixed(1)}L${x2.toFixed(1)},${y2.toFixed(1)}`);
      }
      counts.ticksDrawn = sorted.length;
    } else {
      counts.ticksDrawn = 0;
    }
    return { bandPaths, tickPaths, share };
  }

  function buildSectors(nodes) {
    const arc = d3.arc().innerRadius(BAND_INNER).outerRadius(BAND_OUTER).padAngle(0.01);
    const bandPaths = new Map();
    const share = new Map();
    nodes.forEach((node, i) => {
      bandPaths.set(node, arc({ startAngle: (i / nodes.length) * 2 * Math.PI, endAngle: ((i + 1) / nodes.length) * 2 * Math.PI }));
      share.set(node, 1 / nodes.length);
    });
    return { bandPaths, tickPaths: new Map(), share };
  }

  let shares = new Map();

  function renderRing() {
    const s = settings();
    const nodes = members();
    const tokens = tokensOf(s);
    const down = downNodes();
    const key = JSON.stringify([s.strategy, s.hash, s.vnodes, s.version, nodes, tokens.length, [...down]]);
    if (key === ringKey) return;
    ringKey = key;
    counts.ringBuilds++;
    colour = d3.scaleOrdinal(d3.schemeTableau10).domain([...nodes].sort(byNodeId));
    const strategy = s.strategy ?? "consistent";
    const built = strategy === "consistent" && tokens.length ? buildConsistent(tokens) : buildSectors(nodes);
    shares = built.share;
    const ordered = [...nodes].sort(byNodeId);

    bandLayer
      .selectAll("path")
      .data(ordered.filter((n) => built.bandPaths.has(n)), (n) => n)
      .join("path")
      .attr("data-node", (n) => n)
      .attr("d", (n) => built.bandPaths.get(n))
      .attr("fill", (n) => colour(n))
      .classed("down", (n) => down.has(n));
    tickLayer
      .selectAll("path")
      .data(ordered.filter((n) => built.tickPaths.has(n)), (n) => n)
      .join("path")
      .attr("class", "token")
      .attr("data-node", (n) => n)
      .attr("d", (n) => built.tickPaths.get(n))
      .attr("stroke", (n) => colour(n))
      .classed("down", (n) => down.has(n));
    const sectorLabels = strategy === "consistent" ? [] : nodes;
    sectorLayer
      .selectAll("text")
      .data(sectorLabels, (n) => n)
      .join("text")
      .attr("text-anchor", "middle")
      .attr("dominant-baseline", "middle")
      .attr("transform", (n, i) => {
        const [x, y] = polar(BAND_INNER - 22, ((i + 0.5) / nodes.length) * 2 * Math.PI);
        return `translate(${x.toFixed(1)},${y.toFixed(1)})`;
      })
      .attr("fill", (n) => colour(n))
      .text((n, i) => (strategy === "modulo" ? `${n} · ${i}` : n));

    svg
      .select("text.ring-centre")
      .selectAll("tspan")
      .data([
        strategy,
        `${s.hash ?? "sha256"} · RF ${s.rf ?? "?"}`,
        strategy === "consistent" ? `${s.vnodes ?? "?"} vnodes × ${nodes.length} nodes` : `${nodes.length} nodes`,
      ])
      .join("tspan")
      .attr("x", 0)
      .attr("dy", (_d, i) => (i === 0 ? "-0.6em" : "1.3em"))
      .attr("class", (_d, i) => (i === 0 ? "ring-centre-title" : ""))
      .text((d) => d);
    q('[data-testid="ring-caption"]').textContent = CAPTIONS[strategy] ?? "";
    panel.dataset.strategy = strategy;
  }

  // ---- chunk dots ----

  function dotAngle(chunk, strategy, nodeIndex, n) {
    const position = Number(chunk.position) || 0;
    if (strategy === "consistent" || n === 0) return position * 2 * Math.PI;
    const primary = replicasOf(chunk)[0]?.node;
    const sector = nodeIndex.get(primary);
    if (sector === undefined) return position * 2 * Math.PI;
    // spread over the middle of the primary's sector, by position, so dots do not pile up
    return ((sector + 0.08 + 0.84 * position) / n) * 2 * Math.PI;
  }

  function renderDots() {
    counts.dotRenders++;
    const s = settings();
    const strategy = s.strategy ?? "consistent";
    const nodes = members();
    const nodeIndex = new Map(nodes.map((n, i) => [n, i]));
    const wanted = wantedCopies();
    const dots = [];
    let total = 0;
    const primaries = new Map();
    for (const [name, placement] of files.placements) {
      (placement.chunks ?? []).forEach((chunk, i) => {
        total++;
        const primary = replicasOf(chunk)[0]?.node;
        primaries.set(primary, (primaries.get(primary) ?? 0) + 1);
        if (dots.length >= MAX_RING_DOTS) return;
        const index = chunk.index ?? i;
        const angle = dotAngle(chunk, strategy, nodeIndex, nodes.length);
        const [x, y] = polar(DOT_RADIUS_AT, angle);
        dots.push({ key: `${name}#${index}`, name, index, chunk, primary, x, y, state: chunkState(chunk, wanted) });
      });
    }
    counts.dotsDrawn = dots.length;
    counts.dotsLeftOut = total - dots.length;
    const blinking = files.blinking;
    dotLayer
      .selectAll("circle")
      .data(dots, (d) => d.key)
      .join((enter) => enter.append("circle").attr("class", "chunk").attr("r", 4.5))
      .attr("cx", (d) => d.x.toFixed(1))
      .attr("cy", (d) => d.y.toFixed(1))
      .attr("fill", (d) => (d.primary ? colour(d.primary) : "#999"))
      .attr("data-sha", (d) => d.chunk.sha256)
      .attr("data-state", (d) => d.state)
      .classed("blink", (d) => blinking.has(d.chunk.sha256));
    renderLegend(nodes, primaries, total);
    const left = counts.dotsLeftOut ? ` (${counts.dotsLeftOut} not drawn)` : "";
    q('[data-testid="ring-summary"]').textContent = `${total} chunk${total === 1 ? "" : "s"}${left}`;
  }

  function renderLegend(nodes, primaries, total) {
    const down = downNodes();
    const strategy = settings().strategy ?? "consistent";
    const items = [...nodes].sort(byNodeId).map((n) => {
      const ring = strategy === "consistent" ? `${((shares.get(n) ?? 0) * 100).toFixed(0)}% of ring · ` : "";
      const held = primaries.get(n) ?? 0;
      const pct = total ? ` (${((held / total) * 100).toFixed(0)}%)` : "";
      return { n, text: `${n}${down.has(n) ? " (down)" : ""}: ${ring}${held} primary${pct}` };
    });
    d3.select(q('[data-testid="ring-legend"]'))
      .selectAll("span.ring-legend-item")
      .data(items, (d) => d.n)
      .join((enter) => {
        const span = enter.append("span").attr("class", "ring-legend-item");
        span.append("i").attr("class", "swatch");
        span.append("span").attr("class", "label");
        return span;
      })
      .attr("data-node", (d) => d.n)
      .classed("down", (d) => down.has(d.n))
      .call((span) => span.select("i.swatch").style("background", (d) => colour(d.n)))
      .call((span) => span.select("span.label").text((d) => d.text));
  }

  // ---- hovering a chunk ----

  svg.select("g.ring-dots").on("pointerover", (event) => {
    const d = event.target.__data__;
    if (!d?.chunk) return;
    const replicas = replicasOf(d.chunk)
      .map((r, i) => `${r.node}${i === 0 ? " (primary)" : ""}: ${r.health}`)
      .join("\n");
    tooltip.textContent =
      `${d.name} · chunk ${d.index}\nsha256 ${String(d.chunk.sha256).slice(0, SHA_PREFIX_CHARS)}…\n` +
      `position ${Number(d.chunk.position ?? 0).toFixed(4)} of the ring\n${replicas}`;
    tooltip.dataset.sha = d.chunk.sha256;
    // Beside the pointer, on the side with room: the panel clips what sticks out.
    const stage = q(".ring-stage").getBoundingClientRect();
    const left = event.clientX - stage.left > stage.width / 2;
    const up = event.clientY - stage.top > stage.height / 2;
    tooltip.style.transform = `translate(${left ? "-100%" : "0"}, ${up ? "-100%" : "0"})`;
    tooltip.style.left = `${event.clientX - stage.left + (left ? -12 : 12)}px`;
    tooltip.style.top = `${event.clientY - stage.top + (up ? -12 : 12)}px`;
    tooltip.hidden = false;
  });
  svg.select("g.ring-dots").on("pointerout", () => {
    tooltip.hidden = true;
  });

  // ---- settings (instructor) ----

  function syncForm() {
    const s = settings();
    const editable = Boolean(token());
    for (const element of form.elements) element.disabled = !editable && element.tagName !== "BUTTON";
    form.elements.rf.max = String(Math.max(1, members().length));
    form.elements.vnodes.disabled = !editable || form.elements.strategy.value !== "consistent";
    if (formDirty || s.version === undefined || s.version === formVersion) return;
    formVersion = s.version;
    form.elements.strategy.value = s.strategy ?? "consistent";
    form.elements.hash.value = s.hash ?? "sha256";
    form.elements.rf.value = s.rf ?? 3;
    form.elements.vnodes.value = s.vnodes ?? 128;
    form.elements.vnodes.disabled = !editable || form.elements.strategy.value !== "consistent";
  }

  form.addEventListener("input", () => {
    formDirty = true;
    form.elements.vnodes.disabled = !token() || form.elements.strategy.value !== "consistent";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const bearer = token();
    if (!bearer) {
      result.textContent = "Unlock the instructor controls to change the placement.";
      return;
    }
    const s = settings();
    const wanted = {
      strategy: form.elements.strategy.value,
      hash: form.elements.hash.value,
      rf: Number(form.elements.rf.value),
      vnodes: Number(form.elements.vnodes.value),
    };
    const changes = {};
    for (const [k, v] of Object.entries(wanted)) if (v !== s[k]) changes[k] = v;
    if (!Object.keys(changes).length) {
      result.textContent = "Nothing changed.";
      return;
    }
    result.classList.remove("error");
    result.textContent = "Committing the new placement through Raft…";
    form.elements.apply.disabled = true;
    try {
      const response = await fetch("/api/placement", {
        method: "PUT",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${bearer}` },
        body: JSON.stringify(changes),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        result.classList.add("error");
        result.textContent = `Not changed: ${body.error ?? response.status}`;
        return;
      }
      formDirty = false;
      result.textContent =
        `Placement version ${body.version ?? "?"}: ${body.strategy ?? wanted.strategy} / ${body.hash ?? wanted.hash}, ` +
        `RF ${body.rf ?? wanted.rf}. Chunks whose replicas changed are being copied; the others stay.`;
      requestRefresh({ all: true });
    } catch (err) {
      result.classList.add("error");
      result.textContent = `Not changed: ${err.message}`;
    } finally {
      form.elements.apply.disabled = false;
    }
  });

  function render() {
    renderRing();
    renderDots();
    syncForm();
  }

  subscribe("files", render);
  subscribe("files-blink", (blinking) => {
    dotLayer.selectAll("circle").classed("blink", (d) => blinking.has(d.chunk.sha256));
  });
  subscribe("auth", syncForm);
  render();
}
