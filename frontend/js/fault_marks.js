/**
 * Faults drawn on the topology: where messages stop, and why.
 *
 * The class should *see* a fault act on traffic, not read about it in a
 * list. So, on top of what topology.js draws:
 *
 *  - a **wall** across a link where a partition, a one-way rule or a cut
 *    stops messages. Each direction of a link has its own lane (dots keep to
 *    the right of their direction of travel), and the wall stands in the lane
 *    it blocks: a one-way partition shows a wall in one lane only;
 *  - a **badge** on a link with injected faults: `+200 ms ±50`, `loss 30%`,
 *    `dup 10%`, `reorder 5%`. Its dots are slow because its frames are: a
 *    delayed message is a slow dot on a badged link;
 *  - a **red ×** where a message stopped: on the lane from the node that
 *    dropped it towards where it was going, with a count when several did,
 *    for every drop a fault caused (`partition`, `link_down`, `loss`...,
 *    and `hold_full` when a hold queue overflowed);
 *  - a **ring** around each node in the colour of its partition group.
 *
 * Cost under load: a lossy link can drop hundreds of frames a second. Marks
 * are keyed by lane (at most one × per direction of a link, its count
 * growing), so the DOM holds at most two per link however much is dropped,
 * and they are redrawn a few times a second at most.
 */
import { lab, subscribe } from "./state.js";
import { blocked, partitionGroups } from "./faults_state.js";
import { nodePosition, nodeRadius, slowMotion } from "./instructor.js";

const d3 = window.d3;

// Drop reasons a fault causes; other drops (no route, TTL) are routing's
// story and keep only topology.js's red node ring.
export const FAULT_DROP_REASONS = new Set(["partition", "link_down", "loss", "hold_full"]);
// How long a × stays after the last drop it counts (× the animation's slow motion).
const DROP_MARK_MS = 2000;
// Lanes marked at once; beyond it the oldest mark goes (50 nodes, 1,225 links).
const MAX_DROP_MARKS = 200;
// × marks are redrawn at most this often.
const MARKS_REDRAW_MS = 250;
// Dots travel this far to the right of the line (topology.js LANE_OFFSET).
const LANE_OFFSET = 7;
// Where on its lane a wall stands and a × is drawn (0 = sender, 1 = receiver).
const WALL_AT = 0.62;
const DROP_AT = 0.34;

function laneGeometry(a, b) {
  const length = Math.hypot(b.x - a.x, b.y - a.y) || 1;
  const nx = -(b.y - a.y) / length; // unit normal to the right of a→b
  const ny = (b.x - a.x) / length;
  return { length, nx, ny, at: (t) => ({ x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t }) };
}

function percent(value) {
  return `${Math.round(value * 1000) / 10}%`;
}

/** The badge text of a link fault: `+200 ms ±50 · loss 30% · dup 10% · reorder 5%`. */
export function linkFaultText(f) {
  const parts = [];
  if (f.up === false) parts.push("cut");
  if (f.delay_ms) parts.push(`+${f.delay_ms} ms${f.jitter_ms ? ` ±${f.jitter_ms}` : ""}`);
  else if (f.jitter_ms) parts.push(`±${f.jitter_ms} ms`);
  if (f.loss) parts.push(`loss ${percent(f.loss)}`);
  if (f.duplicate) parts.push(`dup ${percent(f.duplicate)}`);
  if (f.reorder) parts.push(`reorder ${percent(f.reorder)}`);
  return parts.join(" · ");
}

export function createFaultMarks({ linksElement, nodesElement }) {
  // Walls, badges and rings sit with the links (under the dots and nodes);
  // the × marks above everything, where the eye follows the dots.
  const under = d3.select(linksElement).append("g").attr("class", "fault-marks-under");
  const ringLayer = under.append("g").attr("class", "partition-rings");
  const wallLayer = under.append("g").attr("class", "fault-walls");
  const badgeLayer = under.append("g").attr("class", "fault-badges");
  const dropLayer = d3.select(nodesElement).append("g").attr("class", "drop-marks");

  const counts = { wallsDrawn: 0, dropMarks: 0, faultDrops: 0 };
  lab.faultMarks = counts;

  const position = (id) => nodePosition(nodesElement, id);

  function renderFaults() {
    const faults = lab.faults ?? [];
    const links = (lab.view?.links ?? []).filter((l) => position(l.a) && position(l.b));

    // Walls: one per blocked direction of a link.
    const walls = [];
    for (const l of links) {
      for (const [src, dst] of [[l.a, l.b], [l.b, l.a]]) {
        const why = blocked(faults, src, dst);
        if (why) walls.push({ key: `${src}>${dst}`, src, dst, kind: why.kind });
      }
    }
    counts.wallsDrawn = walls.length;
    wallLayer
      .selectAll("line.fault-wall")
      .data(walls, (w) => w.key)
      .join((enter) => enter.append("line").attr("class", "fault-wall").call((s) => s.append("title")))
      .attr("data-wall", (w) => w.key)
      .attr("data-kind", (w) => w.kind)
      .each(function (w) {
        const a = position(w.src);
        const b = position(w.dst);
        const lane = laneGeometry(a, b);
        const p = lane.at(WALL_AT);
        // Across the sender's lane only: from the line out past the dots.
        d3.select(this)
          .attr("x1", p.x - lane.nx * 2)
          .attr("y1", p.y - lane.ny * 2)
          .attr("x2", p.x + lane.nx * LANE_OFFSET * 3)
          .attr("y2", p.y + lane.ny * LANE_OFFSET * 3)
          .select("title")
          .text(`${w.src} → ${w.dst}: stopped (${w.kind})`);
      });

    // Badges: one per link with an injected delay, loss, duplication or reordering.
    const badges = [];
    for (const f of faults) {
      if (f.kind !== "link") continue;
      const text = linkFaultText({ ...f, up: true }); // a cut shows as its walls
      if (!text || !position(f.a) || !position(f.b)) continue;
      badges.push({ key: `${f.a}>${f.b}`, a: f.a, b: f.b, text: f.oneway ? `${f.a}→${f.b} ${text}` : text });
    }
    badgeLayer
      .selectAll("text.fault-badge")
      .data(badges, (x) => x.key)
      .join("text")
      .attr("class", "fault-badge")
      .attr("data-badge", (x) => x.key)
      .each(function (x) {
        const lane = laneGeometry(position(x.a), position(x.b));
        const p = lane.at(0.5);
        d3.select(this).attr("x", p.x).attr("y", p.y + 26).text(x.text);
      });

    // Rings: the partition's groups (the editor draws its own while editing).
    const groups = partitionGroups(faults);
    const radius = nodeRadius(nodesElement) + 15;
    const ringed = [];
    if (groups) {
      for (const n of lab.view?.nodes ?? []) {
        const at = position(n.id);
        const index = groups.findIndex((g) => g.includes(n.id));
        if (at) ringed.push({ id: n.id, at, group: index < 0 ? "rest" : String(index % 3) });
      }
    }
    ringLayer
      .selectAll("circle.group-ring")
      .data(ringed, (r) => r.id)
      .join("circle")
      .attr("class", "group-ring")
      .attr("data-node", (r) => r.id)
      .attr("data-group", (r) => r.group)
      .attr("cx", (r) => r.at.x)
      .attr("cy", (r) => r.at.y)
      .attr("r", radius);
  }

  // ---- × where a message stopped ----
  const marks = new Map(); // "node>towards" -> {node, towards, count, reason, untilMs}
  let redrawTimer = null;

  /** Where a dropped message was heading next: the neighbour on its way to dst. */
  function towards(node, dst) {
    const links = lab.view?.links ?? [];
    if (links.some((l) => (l.a === node && l.b === dst) || (l.b === node && l.a === dst))) return dst;
    return lab.routing?.routes?.nodes?.[node]?.table?.[dst]?.next_hop ?? dst;
  }

  function onEvents(events) {
    const nowMs = performance.now();
    let added = false;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.type !== "MsgDropped" || !FAULT_DROP_REASONS.has(e.reason)) continue;
      counts.faultDrops++;
      const hop = e.to ?? towards(e.node, e.dst);
      const key = `${e.node}>${hop}`;
      const mark = marks.get(key) ?? { node: e.node, towards: hop, count: 0 };
      mark.count++;
      mark.reason = e.reason;
      mark.kind = e.kind;
      mark.untilMs = nowMs + DROP_MARK_MS * slowMotion();
      marks.delete(key); // re-insert: Map order is then "least recently dropped first"
      marks.set(key, mark);
      if (marks.size > MAX_DROP_MARKS) marks.delete(marks.keys().next().value);
      added = true;
    }
    if (added) scheduleRedraw();
  }

  function scheduleRedraw() {
    if (redrawTimer) return;
    redrawTimer = setTimeout(redrawDrops, MARKS_REDRAW_MS);
  }

  function redrawDrops() {
    redrawTimer = null;
    const nowMs = performance.now();
    for (const [key, mark] of marks) if (mark.untilMs <= nowMs) marks.delete(key);
    const shown = [];
    for (const [key, mark] of marks) {
      const a = position(mark.node);
      const b = mark.towards === mark.node ? null : position(mark.towards);
      if (!a) continue;
      let p = { x: a.x, y: a.y - nodeRadius(nodesElement) - 22 }; // nowhere to go: above the node
      if (b) {
        const lane = laneGeometry(a, b);
        const on = lane.at(DROP_AT);
        p = { x: on.x + lane.nx * LANE_OFFSET, y: on.y + lane.ny * LANE_OFFSET };
      }
      shown.push({ key, ...mark, p });
    }
    counts.dropMarks = shown.length;
    dropLayer
      .selectAll("g.drop-mark")
      .data(shown, (m) => m.key)
      .join((enter) => {
        const g = enter.append("g").attr("class", "drop-mark");
        g.append("text").attr("class", "drop-x").text("×");
        g.append("text").attr("class", "drop-count").attr("dx", 11).attr("dy", -10);
        g.append("title");
        return g;
      })
      .attr("data-drop", (m) => m.key)
      .attr("data-reason", (m) => m.reason)
      .attr("transform", (m) => `translate(${m.p.x},${m.p.y})`)
      .call((g) => g.select("text.drop-count").text((m) => (m.count > 1 ? m.count : "")))
      .call((g) =>
        g
          .select("title")
          .text((m) => `${m.node} → ${m.towards}: ${m.count} dropped (${m.reason}), last a ${m.kind}`),
      );
    if (marks.size > 0) {
      redrawTimer = setTimeout(redrawDrops, MARKS_REDRAW_MS);
    }
  }

  subscribe("faults", renderFaults);
  subscribe("view", () => {
    renderFaults();
    if (marks.size) scheduleRedraw(); // the layout may have moved
  });
  subscribe("events", onEvents);
}
