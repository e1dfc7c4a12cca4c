/**
 * The timeline: a space-time diagram of the real cluster, as in Lamport's
 * 1978 paper and in ShiViz. One horizontal lane per node, time flowing to
 * the right; every message hop is an arrow from the moment it left its
 * sender to the moment it reached its receiver. Drops are red crosses, sends
 * that never arrived end in a dashed stub, a node's Raft role shades its
 * lane (orange: leader, pink: candidate), a killed or paused process hatches
 * it, and whatever was done TO the cluster (a fault, a lesson step) is a
 * dashed line across every lane.
 *
 * Three modes:
 *  - live: the window's right edge is now; it scrolls by itself;
 *  - paused: the picture stops; the page fetches what the HUB recorded (the
 *    page itself only saw a sample of a busy cluster, and nothing from before
 *    it was opened), and the slider scrubs back through it; Play replays it
 *    at 1× or slower;
 *  - replay: the backend shows an imported history (POST /api/history/import
 *    or `python -m backend.replay FILE`); same controls, and a banner says it
 *    is not the live cluster. Without a cluster behind the page, playing a
 *    replay also feeds the other panels, so the topology and Raft views
 *    follow the playhead.
 *
 * Why a canvas with windowing: thousands of arrows as DOM or SVG elements
 * would make the page crawl. The store (timeline_store.js) finds the hops of
 * the visible window by time bucket, at most MAX_ARROWS_DRAWN are drawn (an
 * even sample beyond that, said on the status line), and the live view is
 * redrawn about ten times a second, in the frames the topology's dots paint
 * anyway (frame_clock.js), five when the window is crowded, less when a frame
 * is expensive, never while the panel is hidden. Hover finds the nearest
 * drawn arrow and shows the message's canonical text form, the one `text()`
 * gives in cluster/schema.
 *
 * Why a live frame paints only a strip: without a GPU every redraw of up to
 * MAX_ARROWS_DRAWN arrows is CPU taken from the cluster on the same machine.
 * Between two live frames the picture only moves left, so a frame copies the
 * painted pixels left and paints the thin strip of newest time (a few dozen
 * arrows). For the copy to be exact the window's end is rounded to a whole
 * device pixel, patterns start at their span's own start rather than at the
 * window's edge, and the sample is chosen per hop, not per window
 * (timeline_store.js). The whole window is painted again instead when the
 * picture is not live, on the first frame, when the window, the canvas, the
 * lanes, the sample's stride, the arrowheads or the line width changed, when
 * the picture moved by nothing or by a whole plot, or when the store got
 * something that belongs to the part already painted (a receive that came
 * later than LIVE_LAG_MS, a drop, a role change): rare on a healthy cluster.
 */
import { lab, subscribe, publish } from "./state.js";
import { KIND_COLOURS } from "./kinds.js";
import { createTimelineStore } from "./timeline_store.js";
import { onLiveHop, onLiveHopLost } from "./live_hops.js";
import { createPainter } from "./frame_clock.js";
import { fetchHistory, importHistory, backToLive, token } from "./history_client.js";
import { createExplainer } from "./explain.js";
import { setText } from "./dom_write.js";

const d3 = window.d3;

// Live redraws: ten a second reads as continuous; a frame that cost more than
// SLOW_FRAME_MS makes the next wait SLOW_LIVE_FRAME_MS (CPU is the cluster's).
const LIVE_FRAME_MS = 100;
const SLOW_FRAME_MS = 25;
const SLOW_LIVE_FRAME_MS = 300;
// A window crowded past MAX_ARROWHEADS arrows is a dense band whose detail no
// one reads while it scrolls: five redraws a second show it moving, and each
// redraw of thousands of arrows costs CPU the busy cluster needs (Raft
// benchmark, 64 clients: four instead of ten redraws a second saved the
// browser ~0.07 of a core).
const CROWDED_LIVE_FRAME_MS = 200;
// While live, the clock and the status line change on every redraw; ten
// changes a second cannot be read, and each one costs the page a layout.
const LIVE_TEXT_MS = 1000;
// The live window ends this far before now: a receive reaches the page a
// telemetry batch or two after its send, and half-drawn arrows would flicker.
const LIVE_LAG_MS = 300;
export const WINDOWS_MS = [1000, 5000, 20_000, 60_000];
const DEFAULT_WINDOW_MS = 5000;
export const SPEEDS = [1, 0.25, 0.1];
// More arrows than this in one window are a solid smear on a projector and
// cost frames; beyond it an even sample is drawn (and the status line says so).
export const MAX_ARROWS_DRAWN = 2500;
// Arrowheads only when arrows are few enough to tell apart.
const MAX_ARROWHEADS = 600;
const SLIDER_STEPS = 10_000;
// The recorded history is fetched in slices of this much time: a few
// thousand events each on a quiet cluster, a quick request and parse.
const SEGMENT_MS = 5000;
// The JSONL button exports as many events as an import accepts
// (backend/history_import.py MAX_IMPORT_EVENTS), so a saved file replays.
const EXPORT_EVENTS = 100_000;
const LABEL_W = 46;
const AXIS_H = 18;
const RIGHT_PAD = 10;
const HOVER_PX = 7;
// How far (CSS px) a thing's pixels reach beyond its moment: a strip also
// paints what lies this far outside it. An arrowhead or a line's width
// around a hop; a drop's cross, a lost stub's 10 px; a mark's line; the
// text of a role letter or an axis label, right of its moment.
const HOP_REACH_PX = 10;
const POINT_REACH_PX = 14;
const MARK_REACH_PX = 3;
const TEXT_REACH_PX = 80;
// The furthest left of its moment anything from the store paints: a late
// arrival later than this right of the painted edge leaves the painted pixels right.
const LATE_REACH_PX = Math.max(HOP_REACH_PX, POINT_REACH_PX, MARK_REACH_PX);
// checkScrolled(): a pixel may differ this much (of 255) in a channel. Skia
// anti-aliases a path with many arrows by another method than a path with a
// few, so a strip's edges and arrowheads can come out a shade lighter than the
// same arrows painted with the whole window.
const CHECK_TOLERANCE = 64;
const ROLE_FILL = {
  leader: "rgba(224, 123, 0, 0.24)",
  candidate: "rgba(194, 24, 139, 0.20)",
  pre_candidate: "rgba(106, 61, 154, 0.14)",
};
const ROLE_LETTER = { leader: "L", candidate: "C", pre_candidate: "P", follower: "F" };
const STATE_FILL = {
  down: "rgba(198, 40, 40, 0.28)",
  paused: "rgba(106, 76, 194, 0.28)",
  starting: "rgba(224, 168, 0, 0.22)",
};
const DROP_COLOUR = "#c62828";
const MARK_COLOUR = "#1f5fbf";

const EXPLANATION =
  "<p>Time runs to the right; each lane is one node process. Every arrow is one real message " +
  "hop, from the moment it left its sender to the moment it reached its receiver; hover it to " +
  "read the message. A red × is a message dropped (a fault, no route, a full queue), a dashed " +
  "stub one that never arrived.</p>" +
  "<p>Shading shows a node's Raft role (orange: leader, pink: candidate); red or purple " +
  "hatching a killed or paused process; a blue dashed line something done to the cluster. " +
  "Pause to stop the picture and scrub back through everything the backend recorded; Play " +
  "replays it at real pace or slower. Two events with no chain of arrows between them are " +
  "concurrent, whatever their x position says (docs/timeline.md).</p>";

function byNodeId(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

function clockText(t, withMs) {
  const d = new Date(t);
  const hms = d.toTimeString().slice(0, 8);
  return withMs ? `${hms}.${String(d.getMilliseconds()).padStart(3, "0")}` : hms;
}

function niceStep(spanMs) {
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000];
  return steps.find((s) => spanMs / s <= 8) ?? 120_000;
}

function flightText(ms) {
  // Each end is timed by its own process: on loopback the receiver can read
  // its clock a hair before the sender has read its own after the write.
  if (ms < 0.05) return "under 0.05 ms";
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`;
}

function kindColour(kind) {
  if (KIND_COLOURS[kind]) return KIND_COLOURS[kind];
  let hash = 0;
  for (const c of kind ?? "") hash = (hash * 31 + c.charCodeAt(0)) | 0;
  return d3.schemeTableau10[Math.abs(hash) % 10];
}

function injectStyles() {
  if (document.querySelector("link[data-timeline-css]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/css/timeline.css";
  link.dataset.timelineCss = "";
  document.head.append(link);
}

function buildPanel() {
  const section = document.createElement("section");
  section.className = "timeline";
  section.dataset.testid = "timeline";
  section.innerHTML = `
    <div class="timeline-bar">
      <h2>Timeline</h2>
      <button type="button" data-testid="timeline-pause" title="stop the picture; scrub back through what the backend recorded">Pause</button>
      <button type="button" data-testid="timeline-play" title="replay from here">Play</button>
      <select data-testid="timeline-speed" title="replay speed">
        ${SPEEDS.map((s) => `<option value="${s}">${s}×</option>`).join("")}
      </select>
      <select data-testid="timeline-window" title="how much time the diagram spans">
        ${WINDOWS_MS.map((w) => `<option value="${w}"${w === DEFAULT_WINDOW_MS ? " selected" : ""}>${w / 1000} s</option>`).join("")}
      </select>
      <input type="range" class="timeline-slider" data-testid="timeline-slider"
             min="0" max="${SLIDER_STEPS}" value="${SLIDER_STEPS}" title="scrub through the recorded history">
      <span class="timeline-clock" data-testid="timeline-clock"><span class="timeline-text"></span></span>
      <span class="timeline-files">
        <a data-testid="timeline-export-jsonl" href="/api/history?format=jsonl&amp;download=1&amp;limit=${EXPORT_EVENTS}"
           title="the recorded history as JSON lines (the newest ${EXPORT_EVENTS.toLocaleString()} events: what Import takes back)">JSONL</a>
        <a data-testid="timeline-export-shiviz" href="/api/history?format=shiviz&amp;download=1"
           title="the time span shown, with vector clocks, for ShiViz">ShiViz</a>
        <label class="timeline-import" data-needs-token title="replay a saved JSON-lines history">Import…
          <input type="file" data-testid="timeline-import" accept=".jsonl,.ndjson,application/x-ndjson" hidden>
        </label>
        <button type="button" class="quiet" data-needs-token data-testid="timeline-back-to-live" hidden>Back to live</button>
      </span>
      <button type="button" class="quiet timeline-collapse" data-testid="timeline-collapse" title="hide or show the diagram">Hide</button>
    </div>
    <div class="timeline-banner" data-testid="timeline-banner" hidden></div>
    <div class="timeline-stage">
      <canvas data-testid="timeline-canvas" role="img"
              aria-label="Space-time diagram: one lane per node, an arrow per message"></canvas>
      <div class="timeline-tip" data-testid="timeline-tip" hidden></div>
    </div>
    <p class="timeline-status" data-testid="timeline-status"><span class="timeline-text"></span></p>`;
  return section;
}

export function createTimeline({ container, noticeElement }) {
  injectStyles();
  const panel = buildPanel();
  container.append(panel);
  const q = (selector) => panel.querySelector(selector);
  q(".timeline-bar h2").after(createExplainer(EXPLANATION, "explain-timeline"));
  const canvas = q("canvas");
  const stage = q(".timeline-stage");
  const tip = q(".timeline-tip");
  const slider = q('[data-testid="timeline-slider"]');
  const pauseButton = q('[data-testid="timeline-pause"]');
  const playButton = q('[data-testid="timeline-play"]');
  const speedSelect = q('[data-testid="timeline-speed"]');
  const windowSelect = q('[data-testid="timeline-window"]');
  // the text goes in an inner box that Chromium can lay out on its own (timeline.css)
  const clock = q('[data-testid="timeline-clock"] .timeline-text');
  const banner = q('[data-testid="timeline-banner"]');
  const statusLine = q('[data-testid="timeline-status"] .timeline-text');
  const importInput = q('[data-testid="timeline-import"]');
  const liveAgain = q('[data-testid="timeline-back-to-live"]');
  const ctx = canvas.getContext("2d");

  // live hops are joined once for the page (live_hops.js) and handed in
  const liveStore = createTimelineStore({ joinHops: false });
  let store = liveStore;
  let mode = "live"; // live | paused | replay
  let windowMs = DEFAULT_WINDOW_MS;
  let endMs = Date.now();
  let playing = false;
  let lastPlayTs = 0;
  let replayKey = null; // which imported history is loaded
  let replaying = false; // the backend is in replay mode
  let publishingReplay = false; // our own publish: not live events
  let loading = false;
  let recorded = null; // paused or replay: the recorded history, loaded in segments
  let collapsed = false;
  let visible = true;
  let cssW = 0;
  let cssH = 0;
  let dpr = 1;
  let lastFrame = { lanes: [], inWindow: 0, stride: 1, t0: 0, t1: 0 };
  let geometry = null; // the last frame's times, scale and lanes
  let shownCache = null; // what it shows where, once hover or a test asked: shown()
  let painted = null; // what the canvas holds, if a live frame may scroll it: {n1, t1, key}
  let frameCostMs = 0;
  let draws = 0;
  let fullDraws = 0;
  let stripDraws = 0;
  let stripsSinceFull = 0;
  let checkPending = false; // the tests' checkScrolled()
  let lastCheck = null;
  let textShownMs = -Infinity; // when the clock and status line were last written
  let textMode = null; // and in which mode

  function notice(text, isError = false) {
    if (!noticeElement) return;
    noticeElement.textContent = text;
    noticeElement.classList.toggle("error", isError);
  }

  // ---- data in ----

  subscribe("events", (events) => {
    if (publishingReplay) return; // our own playback, already in the replay store
    liveStore.ingest(events);
  });
  onLiveHop((send, receive) => {
    if (!publishingReplay) liveStore.addHop(send, receive);
  });
  onLiveHopLost((half) => {
    if (!publishingReplay) liveStore.addLost(half);
  });
  subscribe("view", (view) => {
    for (const n of view.nodes ?? []) liveStore.addNode(n.id);
    const history = view.history;
    if (history?.mode === "replay" && history.replay) {
      const key = `${history.replay.name}@${history.replay.imported_ms}`;
      replaying = true;
      if (key !== replayKey) loadReplay(key);
    } else if (replaying) {
      replaying = false;
      replayKey = null;
      goLive();
    }
    renderControls();
  });

  // ---- the recorded history, loaded in segments around what is shown ----
  //
  // A lecture's history is hundreds of thousands of events: fetching it all
  // at once would freeze the page for seconds. Instead the window on screen
  // asks for the SEGMENT_MS slices it covers (GET /api/history?since_ms=
  // &until_ms=), one request at a time, and keeps what it got.

  function recordedHistory(lo, hi, keepRaw) {
    const rec = {
      store: createTimelineStore(), lo, hi, keepRaw,
      loaded: new Set(), wanted: [], busy: false, failed: false,
    };
    // a paused live history shows every lane the page knows; a replay only its own
    if (!keepRaw) for (const node of liveStore.nodes()) rec.store.addNode(node);
    return rec;
  }

  function ensureLoaded(from, to) {
    const rec = recorded;
    if (!rec || rec.failed) return; // after an error, Live or a new pause tries again
    const first = Math.floor(Math.max(from, rec.lo - SEGMENT_MS) / SEGMENT_MS);
    const last = Math.floor(Math.min(to, rec.hi) / SEGMENT_MS);
    rec.wanted = [];
    for (let seg = first; seg <= last; seg++) if (!rec.loaded.has(seg)) rec.wanted.push(seg);
    if (rec.wanted.length && !rec.busy) pump(rec);
  }

  async function pump(rec) {
    rec.busy = true;
    loading = true;
    renderStatus();
    while (recorded === rec && rec.wanted.length) {
      const seg = rec.wanted.shift();
      if (rec.loaded.has(seg)) continue;
      try {
        const { events } = await fetchHistory({
          since_ms: String(seg * SEGMENT_MS),
          until_ms: String((seg + 1) * SEGMENT_MS),
        });
        if (recorded !== rec) break;
        rec.store.ingest(events);
        if (rec.keepRaw) rec.store.addRaw(events);
        rec.loaded.add(seg);
      } catch (err) {
        notice(`The recorded history did not load: ${err.message}`, true);
        rec.failed = true;
        break;
      }
      draw(); // may ask for more segments
    }
    rec.busy = false;
    if (recorded === rec) {
      loading = false;
      renderControls();
      draw();
    }
  }

  function loadReplay(key) {
    replayKey = key;
    playing = false;
    const r = lab.view?.history?.replay ?? {};
    const lo = r.from_ms ?? Date.now() - windowMs;
    const hi = Math.max(r.to_ms ?? lo, lo + 1);
    recorded = recordedHistory(lo, hi, true);
    store = recorded.store;
    mode = "replay";
    endMs = Math.min(hi, lo + windowMs);
    renderControls();
    draw();
  }

  function pause() {
    if (mode !== "live") return;
    mode = "paused";
    endMs = Date.now() - LIVE_LAG_MS;
    // the hub's record, complete, instead of the sample this page received
    const from = lab.view?.history?.from_ms ?? endMs - windowMs;
    recorded = recordedHistory(Math.min(from, endMs - windowMs), endMs, false);
    store = recorded.store;
    renderControls();
    draw();
  }

  function goLive() {
    mode = "live";
    playing = false;
    recorded = null;
    loading = false;
    store = liveStore;
    renderControls();
    draw();
  }

  // ---- controls ----

  pauseButton.addEventListener("click", () => (mode === "live" ? pause() : goLive()));
  playButton.addEventListener("click", () => {
    if (playing) {
      playing = false;
    } else {
      if (mode === "live") {
        pause();
        endMs -= windowMs; // replay the window just shown
      }
      const [lo, hi] = range();
      if (endMs >= hi) endMs = Math.min(hi, lo + windowMs); // at the end: from the start
      playing = true;
      lastPlayTs = performance.now();
      requestAnimationFrame(playStep);
    }
    renderControls();
  });
  speedSelect.addEventListener("change", () => {
    lastPlayTs = performance.now();
  });
  windowSelect.addEventListener("change", () => {
    windowMs = Number(windowSelect.value) || DEFAULT_WINDOW_MS;
    draw();
  });
  slider.addEventListener("input", () => {
    if (mode === "live") pause();
    const [lo, hi] = range();
    endMs = lo + ((hi - lo) * Number(slider.value)) / SLIDER_STEPS;
    draw();
  });
  q('[data-testid="timeline-collapse"]').addEventListener("click", (event) => {
    collapsed = !collapsed;
    panel.classList.toggle("collapsed", collapsed);
    event.target.textContent = collapsed ? "Show" : "Hide";
    if (!collapsed) draw();
  });
  importInput.addEventListener("change", async () => {
    const file = importInput.files?.[0];
    importInput.value = "";
    if (!file || !token()) return;
    notice(`Importing ${file.name}…`);
    try {
      const body = await importHistory(file);
      notice(`Replaying ${file.name}: ${body.replay.events.toLocaleString()} events.`);
    } catch (err) {
      notice(`Import failed: ${err.message}`, true);
    }
  });
  // ShiViz draws a few thousand events well, not a lecture's worth: export the span on screen.
  const shivizLink = q('[data-testid="timeline-export-shiviz"]');
  shivizLink.addEventListener("click", () => {
    const span = new URLSearchParams({
      format: "shiviz",
      download: "1",
      since_ms: String(Math.floor(lastFrame.t0)),
      until_ms: String(Math.ceil(lastFrame.t1)),
    });
    shivizLink.href = `/api/history?${span}`;
  });
  liveAgain.addEventListener("click", async () => {
    try {
      await backToLive();
      notice("Back to the live cluster.");
    } catch (err) {
      notice(`Could not leave the replay: ${err.message}`, true);
    }
  });

  function playStep(ts) {
    if (!playing) return;
    const speed = Number(speedSelect.value) || 1;
    const before = endMs;
    const hi = range()[1];
    endMs = Math.min(hi, endMs + (ts - lastPlayTs) * speed);
    lastPlayTs = ts;
    feedOtherPanels(before, endMs);
    if (endMs >= hi) playing = false;
    draw();
    renderControls();
    if (playing) requestAnimationFrame(playStep);
  }

  /** A replay without a cluster: the other panels follow the playhead. */
  function feedOtherPanels(fromMs, toMs) {
    if (mode !== "replay" || !lab.view?.history?.standalone || !store.raw) return;
    const raw = store.raw;
    let lo = 0;
    let hi = raw.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (raw[mid].t_ms <= fromMs) lo = mid + 1;
      else hi = mid;
    }
    const batch = [];
    for (let i = lo; i < raw.length && raw[i].t_ms <= toMs; i++) batch.push(raw[i]);
    if (batch.length === 0) return;
    publishingReplay = true;
    try {
      publish("events", batch);
    } finally {
      publishingReplay = false;
    }
  }

  /** The span the slider covers: the whole recording, loaded or not. */
  function range() {
    if (recorded) return [recorded.lo, Math.max(recorded.hi, recorded.lo + 1)];
    const lo = Number.isFinite(store.tMin) ? store.tMin : Date.now() - windowMs;
    const hi = Number.isFinite(store.tMax) ? store.tMax : Date.now();
    return [lo, Math.max(hi, lo + 1)];
  }

  function renderControls() {
    pauseButton.textContent = mode === "live" ? "Pause" : "Live";
    pauseButton.disabled = mode === "replay";
    pauseButton.dataset.mode = mode;
    playButton.textContent = playing ? "Stop" : "Play";
    liveAgain.hidden = !replaying;
    panel.dataset.mode = mode;
    banner.hidden = !replaying;
    if (replaying) {
      const r = lab.view?.history?.replay;
      const where = lab.view?.history?.standalone ? "no cluster is running" : "the live cluster keeps running underneath";
      banner.textContent = `REPLAY of ${r?.name ?? "a saved history"} (${(r?.events ?? 0).toLocaleString()} events): ` +
        `this is a recording, not the live cluster; ${where}.`;
    }
    if (mode !== "live") {
      const [lo, hi] = range();
      slider.value = String(Math.round(((endMs - lo) / (hi - lo)) * SLIDER_STEPS));
    } else {
      slider.value = String(SLIDER_STEPS);
    }
  }

  // ---- drawing ----
  //
  // A live frame scrolls what is already painted and paints only the strip
  // that time uncovered (the top of this file says why and when not); every
  // other frame paints the whole window. Both go through paint(), so a strip
  // holds exactly what a whole redraw would put there.

  function resize() {
    const rect = stage.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    cssW = Math.max(0, Math.floor(rect.width));
    cssH = Math.max(0, Math.floor(rect.height));
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    canvas.style.width = `${cssW}px`;
    canvas.style.height = `${cssH}px`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    painted = null; // a resized canvas is blank
  }

  // The lanes change when a node comes or goes, not per frame: sorted (with
  // localeCompare, slow) only when the set of names changed.
  let lanesKey = "";
  let lanesSorted = [];
  function laneNodes() {
    const nodes = new Set(store.nodes());
    if (mode !== "replay") for (const n of lab.view?.nodes ?? []) nodes.add(n.id);
    const key = [...nodes].join("\n");
    if (key !== lanesKey) {
      lanesKey = key;
      lanesSorted = [...nodes].sort(byNodeId);
    }
    return lanesSorted;
  }

  const plotWidth = () => Math.max(1, cssW - LABEL_W - RIGHT_PAD);

  /**
   * The live window's end, on a whole device pixel: [its pixel number, its
   * time]. Then a moment is drawn at the same place within a pixel in every
   * frame, and the picture moves by whole pixels, which a copy can do.
   */
  function liveEnd() {
    const msPerPx = windowMs / (plotWidth() * dpr);
    const n = Math.floor((Date.now() - LIVE_LAG_MS) / msPerPx);
    return [n, n * msPerPx];
  }

  // A new stride redraws the whole window: keep the one in use while it draws
  // between three quarters of the limit and the limit, so traffic that wobbles
  // around a threshold does not redraw every frame.
  function strideFor(inWindow, current) {
    const arrows = inWindow / current;
    if (current > 1 && arrows <= MAX_ARROWS_DRAWN && arrows >= 0.75 * MAX_ARROWS_DRAWN) return current;
    return Math.max(1, Math.ceil(inWindow / MAX_ARROWS_DRAWN));
  }

  /** Where everything goes in a frame whose window ends at t1. */
  function frameGeometry(t1, lanes, stride, arrows) {
    const t0 = t1 - windowMs;
    const plotW = plotWidth();
    const laneIndex = new Map(lanes.map((n, i) => [n, i]));
    const laneH = lanes.length ? (cssH - AXIS_H) / lanes.length : 0;
    const heads = arrows <= MAX_ARROWHEADS;
    const lineWidth = arrows > 1000 ? 1 : 1.6;
    return {
      t0, t1, lanes, laneIndex, laneH, stride, heads, lineWidth,
      msPerCssPx: windowMs / plotW,
      // the plot's ends on whole device pixels, where a copy can cut
      left: Math.ceil(LABEL_W * dpr) / dpr,
      right: Math.floor((LABEL_W + plotW) * dpr) / dpr,
      x: (t) => LABEL_W + ((t - t0) / windowMs) * plotW,
      t: (px) => t0 + ((px - LABEL_W) / plotW) * windowMs,
      y: (node) => AXIS_H + laneH * (laneIndex.get(node) + 0.5),
      // a scrolled picture is right only if all of this is as it was
      key: `${windowMs} ${cssW}x${cssH}@${dpr} ${canvas.width}x${canvas.height} ${lanes.join()} ${stride} ${heads} ${lineWidth}`,
    };
  }

  /** Everything that shows in x ∈ [xa, xb] (CSS px, on whole device pixels). */
  function paint(g, xa, xb) {
    const ca = Math.max(xa, g.left);
    const cb = Math.min(xb, g.right);
    clipped(ca, cb, () => {
      paintLanes(g, ca, cb);
      paintMarks(g, ca, cb);
      paintHops(g, ca, cb);
      paintLostAndDrops(g, ca, cb);
    });
    // the time axis: its labels may run into the pad right of the plot
    clipped(ca, xb, () => paintAxis(g, ca, xb));
  }

  /** Run `paintIn` with everything outside x ∈ [xa, xb] left as it is. */
  function clipped(xa, xb, paintIn) {
    if (xb <= xa) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(xa, 0, xb - xa, cssH);
    ctx.clip();
    paintIn();
    ctx.restore();
  }

  /** Lane shading (Raft roles, then process states on top), lane lines, role letters. */
  function paintLanes(g, ca, cb) {
    const { lanes, laneIndex, laneH, x, y } = g;
    const ta = g.t(ca);
    const tb = g.t(cb);
    for (const node of lanes) {
      const top = AXIS_H + laneH * laneIndex.get(node);
      for (const span of store.roleSpans(node, ta, tb)) {
        const fill = ROLE_FILL[span.value];
        const xa = Math.max(ca, x(span.from));
        const xb = Math.min(cb, x(span.to));
        if (!fill || xb <= xa) continue;
        ctx.fillStyle = fill;
        ctx.fillRect(xa, top + 1, xb - xa, laneH - 2);
      }
      for (const span of store.stateSpans(node, ta, tb)) {
        const fill = STATE_FILL[span.value];
        const sx = x(span.from);
        const xa = Math.max(ca, sx);
        const xb = Math.min(cb, x(span.to));
        if (!fill || xb <= xa) continue;
        ctx.fillStyle = fill;
        ctx.fillRect(xa, top + 1, xb - xa, laneH - 2);
        // the hatch starts at the span's own start, not at the window's edge,
        // so it moves with the span; only its lines inside [xa, xb] are drawn
        ctx.save();
        ctx.beginPath();
        ctx.rect(xa, top + 1, xb - xa, laneH - 2);
        ctx.clip();
        ctx.strokeStyle = fill;
        ctx.lineWidth = 1;
        ctx.beginPath();
        for (let i = Math.max(0, Math.floor((xa - sx) / 8)); sx - laneH + 8 * i <= xb; i++) {
          const hx = sx - laneH + 8 * i;
          ctx.moveTo(hx, top + laneH - 1);
          ctx.lineTo(hx + laneH, top + 1);
        }
        ctx.stroke();
        ctx.restore();
      }
    }

    ctx.strokeStyle = "#c9ccd1";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const node of lanes) {
      const ly = Math.round(y(node)) + 0.5;
      ctx.moveTo(ca, ly);
      ctx.lineTo(cb, ly);
    }
    ctx.stroke();

    // role changes: a letter and the term where they happen
    if (laneH < 12) return;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "alphabetic";
    ctx.fillStyle = "#4a5058";
    const from = g.t(ca - TEXT_REACH_PX);
    for (const node of lanes) {
      for (const span of store.roleSpans(node, from, tb)) {
        if (span.from < from) continue;
        ctx.fillText(`${ROLE_LETTER[span.value] ?? "?"} t${span.entry.term}`, x(span.from) + 2, y(node) - 3);
      }
    }
  }

  /** Things done to the cluster: a dashed line across the lanes (or one lane). */
  function paintMarks(g, ca, cb) {
    const { laneIndex, laneH, x, y } = g;
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = MARK_COLOUR;
    ctx.lineWidth = 1.5;
    for (const mark of store.marksIn(g.t(ca - MARK_REACH_PX), g.t(cb + MARK_REACH_PX))) {
      const mx = x(mark.t);
      ctx.beginPath();
      if (mark.node && laneIndex.has(mark.node)) {
        ctx.moveTo(mx, y(mark.node) - laneH / 2);
        ctx.lineTo(mx, y(mark.node) + laneH / 2);
      } else {
        ctx.moveTo(mx, AXIS_H);
        ctx.lineTo(mx, cssH);
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  /** Message hops: the frame's sample of them, one path per colour. */
  function paintHops(g, ca, cb) {
    const { laneIndex, x, y } = g;
    const byColour = new Map();
    for (const h of store.hopsIn(g.t(ca - HOP_REACH_PX), g.t(cb + HOP_REACH_PX), g.stride)) {
      if (!laneIndex.has(h.a) || !laneIndex.has(h.b)) continue;
      const colour = kindColour(h.kind);
      const list = byColour.get(colour);
      if (list) list.push(h);
      else byColour.set(colour, [h]);
    }
    ctx.lineWidth = g.lineWidth;
    // colours in a fixed order: where two cross, the same one is on top in every strip
    for (const colour of [...byColour.keys()].sort()) {
      ctx.strokeStyle = colour;
      ctx.beginPath();
      for (const h of byColour.get(colour)) {
        const x1 = x(h.s);
        const y1 = y(h.a);
        const x2 = x(h.r);
        const y2 = y(h.b);
        ctx.moveTo(x1, y1);
        ctx.lineTo(x2, y2);
        if (g.heads) {
          const angle = Math.atan2(y2 - y1, x2 - x1);
          for (const turn of [-0.45, 0.45]) {
            ctx.moveTo(x2, y2);
            ctx.lineTo(x2 - 7 * Math.cos(angle + turn), y2 - 7 * Math.sin(angle + turn));
          }
        }
      }
      ctx.stroke();
    }
  }

  /** Sends that never arrived (a dashed stub), and drops (a red cross). */
  function paintLostAndDrops(g, ca, cb) {
    const { laneIndex, laneH, x, y } = g;
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = "#6b6b6b";
    ctx.lineWidth = g.lineWidth;
    ctx.beginPath();
    for (const l of store.lostIn(g.t(ca - POINT_REACH_PX), g.t(cb + POINT_REACH_PX))) {
      if (!laneIndex.has(l.a)) continue;
      const lx = x(l.t);
      const ly = y(l.a);
      const toward = laneIndex.has(l.b) ? Math.sign(y(l.b) - ly) : 1;
      ctx.moveTo(lx, ly);
      ctx.lineTo(lx + 10, ly + toward * Math.min(laneH * 0.6, 14));
    }
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.strokeStyle = DROP_COLOUR;
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (const d of store.dropsIn(g.t(ca - POINT_REACH_PX), g.t(cb + POINT_REACH_PX))) {
      if (!laneIndex.has(d.node)) continue;
      const dx = x(d.t);
      const dy = y(d.node);
      ctx.moveTo(dx - 4, dy - 4);
      ctx.lineTo(dx + 4, dy + 4);
      ctx.moveTo(dx + 4, dy - 4);
      ctx.lineTo(dx - 4, dy + 4);
    }
    ctx.stroke();
  }

  /** The time axis: a tick and a clock time every niceStep, up to the window's end. */
  function paintAxis(g, xa, xb) {
    const step = niceStep(windowMs);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "alphabetic";
    ctx.fillStyle = "#4a5058";
    ctx.strokeStyle = "#c9ccd1";
    ctx.lineWidth = 1;
    ctx.beginPath();
    const last = Math.min(g.t1, g.t(xb));
    for (let i = Math.ceil(g.t(xa - TEXT_REACH_PX) / step); i * step <= last; i++) {
      const tx = g.x(i * step);
      ctx.moveTo(tx, AXIS_H - 4);
      ctx.lineTo(tx, AXIS_H);
      ctx.fillText(clockText(i * step, step < 1000), tx + 2, AXIS_H - 6);
    }
    ctx.stroke();
  }

  /** The lane labels, left of the plot: painted with the whole picture only. */
  function paintLabels(g) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, g.left, cssH);
    ctx.clip();
    ctx.fillStyle = "#111418";
    ctx.font = `700 ${g.laneH >= 16 ? 13 : 10}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    if (g.laneH >= 8) for (const node of g.lanes) ctx.fillText(node, 4, g.y(node));
    ctx.restore();
  }

  function paintAll(g) {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.restore();
    paintLabels(g);
    paint(g, g.left, cssW);
  }

  /** Move the picture left by k device pixels and paint the strip that uncovers. */
  function paintScrolled(g, k) {
    const left = Math.round(g.left * dpr);
    const right = Math.round(g.right * dpr);
    const w = canvas.width;
    const h = canvas.height;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.beginPath();
    ctx.rect(left, 0, w - k - left, h);
    ctx.clip();
    ctx.globalCompositeOperation = "copy"; // the copied pixels replace the old ones
    ctx.drawImage(canvas, left + k, 0, w - k - left, h, left, 0, w - k - left, h);
    ctx.restore();
    // the pad right of the plot moved into it, and the copy left the last k columns
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(right - k, 0, w - right + k, h);
    ctx.restore();
    paint(g, (right - k) / dpr, cssW);
  }

  function draw() {
    if (collapsed || !visible) return;
    const started = performance.now();
    if (cssW === 0) resize();
    const live = mode === "live";
    const [n1, t1] = live ? liveEnd() : [NaN, endMs];
    const t0 = t1 - windowMs;
    // arrows that end in the window may start a little before it
    if (recorded) ensureLoaded(t0 - SEGMENT_MS, t1);
    const lanes = laneNodes();
    const inWindow = store.countHopsIn(t0, t1);
    const stride = strideFor(inWindow, lastFrame.stride);
    const g = frameGeometry(t1, lanes, stride, inWindow / stride);
    let scroll = false;
    if (live) {
      // the earliest thing added since the last frame, among those that reach this window
      const changedMs = store.takeEarliestChangeMs(g.t(g.left - TEXT_REACH_PX));
      const k = painted ? n1 - painted.n1 : 0;
      scroll = painted?.key === g.key && k > 0 && k < Math.round((g.right - g.left) * dpr) &&
        changedMs >= painted.t1 + LATE_REACH_PX * g.msPerCssPx;
      if (scroll) paintScrolled(g, k);
      painted = { n1, t1, key: g.key };
    } else {
      painted = null;
    }
    if (scroll) {
      stripDraws++;
      stripsSinceFull++;
    } else {
      paintAll(g);
      fullDraws++;
      stripsSinceFull = 0;
    }
    geometry = g;
    shownCache = null;
    lastFrame = { lanes, inWindow, stride, t0, t1 };
    draws++;
    frameCostMs = performance.now() - started;
    if (scroll && checkPending) checkScrolled(g);
    if (mode !== "live" || textMode !== mode || started - textShownMs >= LIVE_TEXT_MS) {
      textShownMs = started;
      textMode = mode;
      // live: whole seconds, once a second; paused or replaying: to the millisecond
      setText(clock, mode === "live" ? `${clockText(t1, false)} (live)` : clockText(t1, true));
      renderStatus();
    }
  }

  /**
   * For the tests: does the scrolled picture equal the same frame painted
   * whole? Colours are compared premultiplied by their alpha (a pixel at 2 %
   * coverage says little about its colour).
   */
  function checkScrolled(g) {
    checkPending = false;
    const w = canvas.width;
    const h = canvas.height;
    const scrolled = ctx.getImageData(0, 0, w, h).data;
    paintAll(g);
    const fresh = ctx.getImageData(0, 0, w, h).data;
    let differing = 0;
    let maxDiff = 0;
    for (let i = 0; i < fresh.length; i += 4) {
      const a = scrolled[i + 3];
      const b = fresh[i + 3];
      let d = Math.abs(a - b);
      for (let c = i; c < i + 3; c++) d = Math.max(d, Math.abs(scrolled[c] * a - fresh[c] * b) / 255);
      if (d > CHECK_TOLERANCE) differing++;
      if (d > maxDiff) maxDiff = Math.round(d);
    }
    lastCheck = { pixels: w * h, differing, maxDiff, stripsSinceFull };
    stripsSinceFull = 0; // the canvas now holds the whole redraw
  }

  /** What the last frame shows and where, for hover and the tests: worked out when asked. */
  function shown() {
    if (shownCache) return shownCache;
    const found = { arrows: [], points: [], marks: [] };
    const g = geometry;
    if (g) {
      const { t0, t1, laneIndex, x, y } = g;
      for (const mark of store.marksIn(t0, t1)) found.marks.push({ x: x(mark.t), mark });
      for (const h of store.hopsIn(t0, t1, g.stride)) {
        if (!laneIndex.has(h.a) || !laneIndex.has(h.b)) continue;
        found.arrows.push({ x1: x(h.s), y1: y(h.a), x2: x(h.r), y2: y(h.b), hop: h });
      }
      for (const l of store.lostIn(t0, t1)) {
        if (!laneIndex.has(l.a)) continue;
        const ly = y(l.a);
        const toward = laneIndex.has(l.b) ? Math.sign(y(l.b) - ly) : 1;
        found.points.push({ x: x(l.t) + 5, y: ly + toward * 5, what: "lost", item: l });
      }
      for (const d of store.dropsIn(t0, t1)) {
        if (laneIndex.has(d.node)) found.points.push({ x: x(d.t), y: y(d.node), what: "drop", item: d });
      }
    }
    shownCache = found;
    return found;
  }

  function renderStatus() {
    const c = store.counts();
    const sample = lastFrame.stride > 1 ? ` (drawing 1 in ${lastFrame.stride})` : "";
    const history = lab.view?.history;
    let hub = "";
    if (history?.replay) {
      hub = ` · the recording has ${history.replay.events.toLocaleString()} events`;
    } else if (history) {
      hub = ` · backend keeps ${history.events.toLocaleString()} of at most ${history.limit.toLocaleString()} events` +
        (history.dropped ? `, ${history.dropped.toLocaleString()} older ones dropped` : "");
    }
    const what = mode === "live" ? "live" : mode === "paused" ? "paused: the recorded history" : "replay";
    setText(statusLine,
      `${what}${loading ? " (loading…)" : ""} · ${lastFrame.inWindow.toLocaleString()} messages in view${sample}` +
      ` · ${c.hops.toLocaleString()} kept here${c.evicted ? `, ${c.evicted.toLocaleString()} forgotten` : ""}${hub}`);
  }

  // ---- hover ----

  function nearest(px, py) {
    const { arrows, points, marks } = shown();
    let best = null;
    let bestD = HOVER_PX;
    for (const s of arrows) {
      const dx = s.x2 - s.x1;
      const dy = s.y2 - s.y1;
      const len2 = dx * dx + dy * dy || 1;
      const k = Math.max(0, Math.min(1, ((px - s.x1) * dx + (py - s.y1) * dy) / len2));
      const d = Math.hypot(px - (s.x1 + k * dx), py - (s.y1 + k * dy));
      if (d < bestD) {
        bestD = d;
        best = { what: "hop", item: s.hop };
      }
    }
    for (const p of points) {
      const d = Math.hypot(px - p.x, py - p.y);
      if (d < bestD) {
        bestD = d;
        best = p;
      }
    }
    if (!best) {
      for (const m of marks) {
        if (Math.abs(px - m.x) < 4) return { what: "mark", item: m.mark };
      }
    }
    return best;
  }

  function describe(found) {
    const it = found.item;
    if (found.what === "hop") {
      return `${it.text}\nhop ${it.a} → ${it.b} · ${it.id}${it.size ? ` · ${it.size} B` : ""}\n` +
        `sent ${clockText(it.s, true)} · flight ${flightText(it.r - it.s)}`;
    }
    if (found.what === "drop") {
      // looked up on hover only: the hop that carried the message before it was dropped
      const text = store.textOf(it.src, it.seq, it.t) ?? `${it.src}→${it.dst} ${it.kind}`;
      return `dropped at ${it.node}: ${it.reason}\n${text} · ${it.id}\n${clockText(it.t, true)}`;
    }
    if (found.what === "lost") {
      return `${it.text ?? it.kind}\nsent ${it.a} → ${it.b}; no receive seen (dropped by a fault, or its telemetry was)\n${clockText(it.t, true)}`;
    }
    return `${it.kind}${it.node ? ` (${it.node})` : ""}: ${it.text}\n${clockText(it.t, true)}`;
  }

  let hoverQueued = null;
  canvas.addEventListener("mousemove", (event) => {
    const rect = canvas.getBoundingClientRect();
    hoverQueued = { x: event.clientX - rect.left, y: event.clientY - rect.top };
    requestAnimationFrame(() => {
      if (!hoverQueued) return;
      const { x, y } = hoverQueued;
      hoverQueued = null;
      const found = nearest(x, y);
      if (!found) {
        tip.hidden = true;
        return;
      }
      tip.textContent = describe(found);
      tip.hidden = false;
      tip.style.left = `${Math.min(x + 14, cssW - tip.offsetWidth - 4)}px`;
      tip.style.top = `${y + 14 > cssH - tip.offsetHeight ? y - tip.offsetHeight - 8 : y + 14}px`;
    });
  });
  canvas.addEventListener("mouseleave", () => {
    hoverQueued = null;
    tip.hidden = true;
  });

  // ---- the live loop: only while live, visible and worth it ----

  new ResizeObserver(() => {
    resize();
    draw();
  }).observe(stage);
  new IntersectionObserver((entries) => {
    visible = entries.some((e) => e.isIntersecting);
  }).observe(panel);

  // Live redraws ride on the page's frame clock, in the frames the dots paint
  // anyway (frame_clock.js); with nothing to draw, a plain timer checks back.
  const livePainter = createPainter(
    () => {
      if (mode === "live") draw();
      liveTick();
    },
    () => {
      if (frameCostMs > SLOW_FRAME_MS) return SLOW_LIVE_FRAME_MS;
      return lastFrame.inWindow > MAX_ARROWHEADS ? CROWDED_LIVE_FRAME_MS : LIVE_FRAME_MS;
    },
  );
  function liveTick() {
    if (mode === "live" && visible && !collapsed && !document.hidden) livePainter.request();
    else setTimeout(liveTick, LIVE_FRAME_MS);
  }
  liveTick();
  subscribe("auth", renderControls);
  renderControls();

  // for the browser tests: what the last frame showed, and where
  lab.timeline = {
    state() {
      const arrows = shown().arrows;
      return {
        mode,
        playing,
        loading,
        lanes: lastFrame.lanes,
        windowStartMs: lastFrame.t0,
        windowEndMs: lastFrame.t1,
        recordedFromMs: range()[0],
        arrowsInWindow: lastFrame.inWindow,
        arrowsDrawn: arrows.length,
        drawnIds: arrows.slice(0, 200).map((s) => `${s.hop.id}|${s.hop.a}>${s.hop.b}`),
        draws,
        fullDraws, // live frames painted whole, and every paused or replay frame
        stripDraws, // live frames that scrolled the picture and painted a strip
        check: lastCheck,
        frameCostMs,
        counts: store.counts(),
      };
    },
    /** Page coordinates of the middle of the i-th drawn arrow (to hover it). */
    arrowPoint(i = 0) {
      const s = shown().arrows[i];
      if (!s) return null;
      const rect = canvas.getBoundingClientRect();
      return { x: rect.left + (s.x1 + s.x2) / 2, y: rect.top + (s.y1 + s.y2) / 2, text: s.hop.text };
    },
    /** After the next scrolled frame, compare it with the same frame painted whole (`state().check`). */
    checkScrolled() {
      checkPending = true;
      lastCheck = null;
    },
  };
}
