/**
 * The topology view: nodes on a circle, the links between them, and every
 * message hop drawn as a dot travelling along its link.
 *
 * Why a dot's flight takes the time it does: a hop is animated only once both
 * of its halves are known, the `MsgSent` at the sender and the matching
 * `MsgReceived` at the receiver (joined once for the page by live_hops.js,
 * which the timeline shares), and the animation lasts the real receive
 * t_ms − send t_ms. On loopback that is under a millisecond, so it is
 * floored at MIN_DOT_MS to stay visible; the "slow motion" setting then
 * stretches it further. A link made slow by an injected delay therefore
 * really looks slow.
 *
 * Why dots are sampled but messages are not: a busy cluster sends thousands
 * of messages per second, far more than anyone can follow or a frame can draw.
 * At most MAX_DOTS_IN_FLIGHT dots are drawn (MAX_DOTS_PER_LINK per link), on
 * a canvas layer (dots.js) repainted at most DOT_FRAMES_PER_S_MAX times a
 * second, fewer when the layer is crowded (no per-event DOM work); every hop
 * is still counted, and the link widths show the full traffic.
 *
 * Why the animation loop stops: a requestAnimationFrame loop that runs while
 * nothing moves still wakes the page 60 times a second, and in headless
 * Chromium without a GPU that cost a large share of a core taken from the
 * cluster being watched. The loop runs only while dots fly or a drop flash
 * shows, on the page's frame clock (frame_clock.js), which sleeps between
 * frames and lets the timeline repaint in the same ones; slow housekeeping
 * (link widths) runs on a once-a-second timer instead.
 */
import { lab, subscribe, publish, rttsOf, formatRtt } from "./state.js";
import { createDotLayer } from "./dots.js";
import { onLiveHop, onLiveHopLost } from "./live_hops.js";
import { clockCounts, createPainter } from "./frame_clock.js";
import { attrs, setText, texts } from "./dom_write.js";
import { KIND_COLOURS, KIND_TEXT } from "./kinds.js";

const d3 = window.d3;

// Drawing limits. More dots than this is a grey blur on a projector and
// starts to cost frames; everything beyond it is counted, not drawn.
export const MAX_DOTS_IN_FLIGHT = 400;
// ...and at most this many per link (both directions): three nodes' three
// links with 400 dots were solid bars, not dots, and every dot costs each frame.
export const MAX_DOTS_PER_LINK = 40;
// Loopback flights take well under 1 ms; below this a dot is invisible.
export const MIN_DOT_MS = 350;
// A hop slowed by a huge injected delay still leaves the screen eventually.
export const MAX_DOT_MS = 20_000;
// Dots are launched from a budget that refills evenly over time, so under
// heavy load the drawn sample is spread out instead of arriving in waves
// whenever the in-flight cap frees up. A burst may use this many at once.
const DOT_BURST = 40;
// The legend says "1 dot ≈ N messages" from this ratio of hops to dots drawn.
const SAMPLE_NOTE_FROM = 1.5;
// How long a node's red ring shows after it dropped a message.
const DROP_FLASH_MS = 600;
// Dots are repainted at most this often. 24 frames a second still reads as
// motion, and each repaint of a large canvas costs real CPU where there is no
// GPU (measured: ~0.4 of a core at 60 fps in headless Chromium), CPU taken
// from the node processes the page is watching.
const DOT_FRAMES_PER_S_MAX = 24;
// A crowded layer is repainted less often, down to this: when hundreds of dots
// fly no single one can be followed anyway, the stream still moves at its real
// pace, and a busy cluster is exactly when the page's CPU is most missed
// (Raft benchmark, 64 clients: 12 instead of 24 frames a second saved the
// browser 0.06-0.1 of a core).
const DOT_FRAMES_PER_S_BUSY = 12;
// Shares of the layer's capacity (dotCapacity) from which the frame rate
// falls, and at which it is lowest.
const DOTS_CALM_SHARE = 0.15;
const DOTS_CROWDED_SHARE = 0.6;
// Link widths show traffic over this window, and are redrawn this often.
const LINK_RATE_WINDOW_MS = 1000;

// Above this many links (a full mesh of 12 nodes has 66) lines are drawn thin
// and faint, or fifty nodes' 1,225 links become one dark disc.
const DENSE_LINKS = 60;

const VIEW_W = 1000;
const VIEW_H = 800;
const LAYOUT_RADIUS = 300;
// Both directions of a link share one line; each travels on its own side.
const LANE_OFFSET = 7;
// A dot's radius and outline reach this far beyond its lane (dots.js).
const DOT_MARGIN = 10;

// Colour-blind-safe colours for the message kinds we know (kinds.js); new
// kinds (routing, files...) take the next colour of d3's Tableau palette.
const KNOWN_KIND_COLOURS = KIND_COLOURS;
export const NODE_STATES = ["up", "starting", "paused", "down"];

/** Natural order, so n2 comes before n10. */
function byNodeId(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

function circleLayout(ids) {
  const positions = new Map();
  const cx = VIEW_W / 2;
  const cy = VIEW_H / 2;
  ids.forEach((id, i) => {
    if (ids.length === 1) {
      positions.set(id, { x: cx, y: cy });
      return;
    }
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / ids.length; // n1 at the top
    positions.set(id, {
      x: cx + LAYOUT_RADIUS * Math.cos(angle),
      y: cy + LAYOUT_RADIUS * Math.sin(angle),
    });
  });
  return positions;
}

/** Big circles for a 5-node lecture demo, smaller ones when 50 share the ring. */
function nodeRadiusFor(count) {
  const spacing = (2 * Math.PI * LAYOUT_RADIUS) / Math.max(count, 1);
  return Math.max(14, Math.min(54, spacing * 0.32));
}

/** One key per undirected link; plain `<` because it runs per message (localeCompare is slow). */
function linkKey(a, b) {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

export function createTopology({ linksElement, dotsElement, nodesElement, legendElement }) {
  const linkLayer = d3.select(linksElement).append("g").attr("class", "links");
  const nodeLayer = d3.select(nodesElement).append("g").attr("class", "nodes");
  const dots = createDotLayer(dotsElement, {
    viewWidth: VIEW_W,
    viewHeight: VIEW_H,
  });

  let positions = new Map();
  let nodeRadius = 40;
  let dotCapacity = MAX_DOTS_IN_FLIGHT; // fewer for a few links (MAX_DOTS_PER_LINK)
  let dense = false;
  let slowMotion = 1;

  // Counters for the status bar, tests and the benchmark.
  const counts = {
    hopsJoined: 0,
    dotsDrawn: 0,
    dotsSampledOut: 0,
    hopsUnmatched: 0,
    dotsInFlight: 0,
    frames: 0, // animation frames drawn: a page that cannot keep up draws few
    framePeriodMs: Math.round(1000 / DOT_FRAMES_PER_S_MAX), // the dots' current pace (crowding slows it)
    msgsReceived: 0, // every MsgReceived (hop delivered), drawn or not
    msgsDropped: 0, // every MsgDropped
  };
  lab.topology = counts;
  lab.frameClock = clockCounts; // the page's frames, whoever paints in them

  const kindColours = new Map(Object.entries(KNOWN_KIND_COLOURS));
  const spareColours = d3.schemeTableau10.filter(
    (c) => !Object.values(KNOWN_KIND_COLOURS).includes(c),
  );
  const kindsSeen = new Set();
  let legendDirty = true;

  function colourOf(kind) {
    if (!kindColours.has(kind)) {
      kindColours.set(kind, spareColours[kindColours.size % spareColours.length]);
    }
    if (!kindsSeen.has(kind)) {
      kindsSeen.add(kind);
      legendDirty = true;
    }
    return kindColours.get(kind);
  }

  // Refill rate: enough to keep the layer full of MIN_DOT_MS flights, no more.
  let dotBudget = DOT_BURST;
  let budgetAtMs = performance.now();
  function refillBudget(nowMs) {
    const perMs = dotCapacity / (MIN_DOT_MS * slowMotion);
    dotBudget = Math.min(DOT_BURST, dotBudget + (nowMs - budgetAtMs) * perMs);
    budgetAtMs = nowMs;
  }

  function launchDot(from, to, flightMs, kind, nowMs) {
    // the legend lists every kind seen, drawn or not
    if (!kindsSeen.has(kind)) colourOf(kind);
    refillBudget(nowMs);
    // most hops of a busy cluster are counted here, before any other work
    if (dots.inFlight >= dotCapacity || dotBudget < 1) {
      counts.dotsSampledOut++;
      return;
    }
    const a = positions.get(from);
    const b = positions.get(to);
    if (!a || !b) return;
    const fill = colourOf(kind);
    dotBudget -= 1;
    const length = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    // Offset to the right of the direction of travel: A→B and B→A use two lanes.
    const ox = (-(b.y - a.y) / length) * LANE_OFFSET;
    const oy = ((b.x - a.x) / length) * LANE_OFFSET;
    const visibleMs = Math.min(MAX_DOT_MS, Math.max(MIN_DOT_MS, flightMs));
    dots.launch(a.x + ox, a.y + oy, b.x + ox, b.y + oy, nowMs, visibleMs * slowMotion, fill);
    counts.dotsDrawn++;
  }

  // ---- a dot for each hop, joined once for the page (live_hops.js) ----
  onLiveHop((sent, received, nowMs) => {
    counts.hopsJoined++;
    launchDot(sent.node, received.node, received.t_ms - sent.t_ms, sent.kind, nowMs);
  });
  onLiveHopLost(() => counts.hopsUnmatched++);

  // ---- traffic per link and drop flashes ----
  let linkCounts = new Map();
  let linkRates = new Map();
  let linkWindowStartMs = performance.now();
  const dropFlashUntil = new Map(); // node -> performance.now() deadline

  function onEvents(events) {
    const nowMs = performance.now();
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      switch (e.type) {
        case "MsgReceived": {
          counts.msgsReceived++;
          const key = linkKey(e.frm, e.node);
          linkCounts.set(key, (linkCounts.get(key) ?? 0) + 1);
          break;
        }
        case "MsgDropped":
          counts.msgsDropped++;
          dropFlashUntil.set(e.node, nowMs + DROP_FLASH_MS);
          break;
        default:
          break;
      }
    }
  }

  /** Dots fly between node centres (on a lane beside the link): shrink their canvas to that. */
  function fitDotsToNodes() {
    if (positions.size === 0) return;
    const xs = [...positions.values()].map((p) => p.x);
    const ys = [...positions.values()].map((p) => p.y);
    const margin = LANE_OFFSET + DOT_MARGIN;
    dots.setBounds(
      Math.min(...xs) - margin, Math.min(...ys) - margin,
      Math.max(...xs) + margin, Math.max(...ys) + margin,
    );
  }

  // ---- nodes and links, re-joined only when the view changes ----
  function renderView(view) {
    const ids = view.nodes.map((n) => n.id).sort(byNodeId);
    const layoutChanged =
      ids.length !== positions.size || ids.some((id) => !positions.has(id));
    if (layoutChanged) {
      positions = circleLayout(ids);
      nodeRadius = nodeRadiusFor(ids.length);
      dots.forgetAll(); // dots of the old layout would fly to stale places
      fitDotsToNodes();
    }
    const stateOf = new Map(view.nodes.map((n) => [n.id, n.state]));
    const links = (view.links ?? []).filter((l) => positions.has(l.a) && positions.has(l.b));
    const perLinks = MAX_DOTS_PER_LINK * links.length;
    dotCapacity = Math.max(MAX_DOTS_PER_LINK, Math.min(MAX_DOTS_IN_FLIGHT, perLinks));
    if (dense !== links.length > DENSE_LINKS) {
      dense = links.length > DENSE_LINKS;
      d3.select(linksElement).classed("dense", dense);
      dots.setRadius(dense ? 4 : 7);
    }

    linkLayer
      .selectAll("line.link")
      .data(links, (l) => linkKey(l.a, l.b))
      .join((enter) =>
        enter
          .append("line")
          .attr("class", "link")
          .attr("stroke-width", dense ? 1 : 4)
          .call((line) => line.append("title")),
      )
      // the view comes every second, mostly unchanged: write only what changed (dom_write.js)
      .call(attrs, "data-link", (l) => linkKey(l.a, l.b))
      .call(attrs, "x1", (l) => positions.get(l.a).x)
      .call(attrs, "y1", (l) => positions.get(l.a).y)
      .call(attrs, "x2", (l) => positions.get(l.b).x)
      .call(attrs, "y2", (l) => positions.get(l.b).y)
      .classed("link-cut", (l) => !l.up)
      .classed(
        "link-idle",
        (l) => l.up && (stateOf.get(l.a) !== "up" || stateOf.get(l.b) !== "up"),
      );

    const showStateText = ids.length <= 12; // with many nodes colour alone must do
    const nodes = nodeLayer
      .selectAll("g.node")
      .data(view.nodes, (n) => n.id)
      .join((enter) => {
        const g = enter.append("g").attr("class", "node");
        g.append("circle").attr("class", "halo");
        g.append("circle").attr("class", "body");
        g.append("text").attr("class", "node-id");
        g.append("text").attr("class", "node-state");
        g.append("title");
        g.on("click", (_event, n) => publish("select", n.id));
        return g;
      })
      .call(attrs, "data-node", (n) => n.id)
      .call(attrs, "data-state", (n) => n.state)
      .call(attrs, "data-testid", (n) => `node-${n.id}`)
      .call(attrs, "transform", (n) => {
        const p = positions.get(n.id);
        return `translate(${p.x},${p.y})`;
      });
    nodes.select("circle.halo").call(attrs, "r", nodeRadius + 9);
    nodes.select("circle.body").call(attrs, "r", nodeRadius);
    nodes
      .select("text.node-id")
      .call(attrs, "font-size", Math.max(13, nodeRadius * 0.62))
      .call(attrs, "dy", "0.35em")
      .call(texts, (n) => n.id);
    nodes
      .select("text.node-state")
      .call(attrs, "font-size", Math.max(12, nodeRadius * 0.42))
      .call(attrs, "y", nodeRadius + Math.max(18, nodeRadius * 0.5))
      .call(texts, (n) => (showStateText ? n.state : ""));
    nodes.select("title").call(texts, (n) => {
      const rtts = Object.entries(rttsOf(n))
        .sort(([a], [b]) => byNodeId(a, b))
        .map(([peer, ms]) => `\nRTT to ${peer}: ${formatRtt(ms)} ms`);
      return `${n.id} · ${n.state} · pid ${n.pid ?? "—"}${rtts.join("")}`;
    });
  }

  function renderLinkRates(nowMs) {
    if (nowMs - linkWindowStartMs < LINK_RATE_WINDOW_MS) return;
    const seconds = (nowMs - linkWindowStartMs) / 1000;
    if (linkCounts.size === 0 && linkRates.size === 0) {
      linkWindowStartMs = nowMs; // idle before and after: the drawing is already right
      return;
    }
    linkRates = new Map([...linkCounts].map(([k, n]) => [k, n / seconds]));
    linkCounts = new Map();
    linkWindowStartMs = nowMs;
    linkLayer
      .selectAll("line.link")
      .call(attrs, "stroke-width", (l) => {
        const rate = linkRates.get(linkKey(l.a, l.b)) ?? 0;
        const width = dense ? 1 + 0.5 * Math.log10(1 + rate) : 4 + 3 * Math.log10(1 + rate);
        return width.toFixed(1); // steady traffic then keeps the same width: no write
      })
      .select("title")
      .call(texts, (l) => {
        const rate = linkRates.get(linkKey(l.a, l.b)) ?? 0;
        return `${l.a} — ${l.b}: ${l.up ? "up" : "down"}, ${Math.round(rate)} msgs/s`;
      });
  }

  // "1 dot ≈ N messages" while dots are a sample: a student counting dots
  // must know that one stands for many. Its own element, so that a new kind
  // (which rewrites the legend) keeps it, and written only when N changes.
  const sampleNote = document.createElement("span");
  sampleNote.className = "legend-sample";
  sampleNote.dataset.testid = "dots-sample-note";
  sampleNote.hidden = true;
  let hopsAtLastNote = 0;
  let dotsAtLastNote = 0;

  function renderSampleNote() {
    const hops = counts.hopsJoined - hopsAtLastNote;
    const drawn = counts.dotsDrawn - dotsAtLastNote;
    hopsAtLastNote = counts.hopsJoined;
    dotsAtLastNote = counts.dotsDrawn;
    // Two significant digits at most: the ratio drifts, the note should not flicker.
    const ratio = drawn > 0 ? Number((hops / drawn).toPrecision(2)) : 0;
    const sampled = ratio >= SAMPLE_NOTE_FROM;
    sampleNote.hidden = !sampled;
    if (sampled) setText(sampleNote, `1 dot ≈ ${ratio} messages`);
  }

  function renderLegend() {
    legendDirty = false;
    const states = NODE_STATES.map(
      (s) => `<span class="legend-item"><svg width="22" height="22"><circle class="legend-node" data-state="${s}" cx="11" cy="11" r="9"/></svg>${s}</span>`,
    );
    // The title is the kind's meaning and canonical text form (kinds.js).
    const kinds = [...kindsSeen].sort().map(
      (k) => `<span class="legend-item" data-kind="${k}" title="${(KIND_TEXT[k] ?? k).replace(/"/g, "&quot;")}"><svg width="16" height="16"><circle cx="8" cy="8" r="6" fill="${kindColours.get(k)}"/></svg>${k}</span>`,
    );
    legendElement.innerHTML =
      `<span class="legend-title">nodes</span>${states.join("")}` +
      `<span class="legend-item"><svg width="34" height="12"><line class="link link-cut" x1="2" y1="6" x2="32" y2="6"/></svg>link down</span>` +
      (kinds.length ? `<span class="legend-title">messages</span>${kinds.join("")}` : "");
    legendElement.append(sampleNote);
  }

  function renderDropFlashes(nowMs) {
    if (dropFlashUntil.size === 0) return;
    nodeLayer.selectAll("g.node").classed("dropping", (n) => (dropFlashUntil.get(n.id) ?? 0) > nowMs);
    for (const [node, until] of dropFlashUntil) if (until <= nowMs) dropFlashUntil.delete(node);
  }

  let drawnSinceIdle = false; // the canvas still shows dots: one more (clearing) draw is due

  // Dots are painted by the page's frame clock, which lets the timeline
  // repaint in the same frames (frame_clock.js).
  const painter = createPainter(frame, dotFramePeriodMs);

  /** 24 frames a second for a few dots, falling evenly to 12 for a crowded layer. */
  function dotFramePeriodMs() {
    const crowding =
      (dots.inFlight / dotCapacity - DOTS_CALM_SHARE) / (DOTS_CROWDED_SHARE - DOTS_CALM_SHARE);
    const busy = Math.min(1, Math.max(0, crowding));
    return 1000 / (DOT_FRAMES_PER_S_MAX - busy * (DOT_FRAMES_PER_S_MAX - DOT_FRAMES_PER_S_BUSY));
  }

  /** Ask for the next dots frame if anything moves (the clock sleeps until it is due). */
  function wake() {
    if (dots.inFlight === 0 && dropFlashUntil.size === 0 && !drawnSinceIdle) return;
    painter.request();
  }

  function frame(nowMs) {
    counts.frames++;
    dots.draw(nowMs);
    counts.dotsInFlight = dots.inFlight;
    counts.framePeriodMs = Math.round(dotFramePeriodMs());
    drawnSinceIdle = dots.inFlight > 0;
    renderDropFlashes(nowMs);
    wake();
  }

  function housekeeping() {
    renderLinkRates(performance.now());
    renderSampleNote();
  }

  subscribe("view", renderView);
  subscribe("events", (events) => {
    onEvents(events);
    if (legendDirty) renderLegend(); // a new kind: at most once per kind, not per frame
    if (dots.inFlight > 0) drawnSinceIdle = true;
    wake();
  });
  subscribe("select", (nodeId) => {
    nodeLayer.selectAll("g.node").classed("selected", (n) => n.id === nodeId);
  });
  if (lab.view) renderView(lab.view);
  renderLegend();
  setInterval(housekeeping, LINK_RATE_WINDOW_MS);

  return {
    /** Stretch every dot's flight by `factor` (1 = real pace, floored at MIN_DOT_MS). */
    setSlowMotion(factor) {
      slowMotion = Math.max(1, Number(factor) || 1);
    },
  };
}
