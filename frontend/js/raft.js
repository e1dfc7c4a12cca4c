/**
 * The Raft view, in the spirit of RaftScope, but of the real cluster: one row
 * per node with its role, term, vote, election timer and the tail of its log,
 * a crown on the leader in the topology, a small key-value panel whose
 * requests can be followed from node to node, and (for the instructor)
 * buttons that add and remove members.
 *
 * Where the numbers come from: every node reports itself (RaftState,
 * LogAppended, SnapshotSaved, ClientRequest, ClientReply telemetry; see
 * docs/telemetry.md). Nothing here is computed from a model of Raft: if two
 * rows disagree, the nodes disagree. A page that connects late asks
 * GET /api/raft once for what it missed (the backend keeps every node's
 * latest state and log tail), and events take over from there.
 *
 * Why logs line up by index: entries with the same index sit in the same
 * column on every row, as in RaftScope, so a follower that lags, a log that
 * a new leader overwrites (Log Matching, §5.3) or a commit index that moves
 * (§5.4.2) is seen at a glance. Colour is the entry's term; a solid box is
 * committed (as far as that node knows), a pale dashed one is not yet.
 *
 * Why the election timer moves although a node reports it at most ten times
 * a second: between reports the bar is advanced at the cluster's tick rate
 * (tick_ms × time scale), so it grows as the real timer does and snaps back
 * when the next report says it was reset.
 *
 * Cost at thousands of events a second: events only update plain objects
 * (a switch on the type, nothing else for other events). The DOM is touched
 * only on a timer, a few times a second: rows are rewritten at most
 * RENDER_MIN_MS apart and only when something changed, and timer bars move
 * TIMER_UPDATES_PER_S times a second, one transform each, written only when it
 * differs. No requestAnimationFrame loop of its own: a page repainting 60
 * times a second in headless Chromium cost the Raft benchmark 18% of its
 * throughput; the updates ride on the page's frame clock (frame_clock.js), in
 * frames that other panels paint anyway.
 */
import { lab, subscribe } from "./state.js";
import { attrs, setAttr, setHtml, setText, texts } from "./dom_write.js";
import { createPainter } from "./frame_clock.js";

const d3 = window.d3;

const TOKEN_KEY = "clusterlab.instructorToken"; // the key controls.js stores it under
// Boxes per log row: as many as stay readable from the back of a lecture hall
// in the side panel's width.
export const LOG_WINDOW_ENTRIES = 16;
// Entries remembered per node; older ones have scrolled out of the window.
const LOG_KEPT_ENTRIES = 64;
// Rows are redrawn at most this often (4/s reads as live; faster is flicker
// and CPU taken from the nodes); with many nodes, proportionally less often.
const RENDER_MIN_MS = 250;
// Timer bars are moved this many times a second: enough to see a timer grow
// and snap back, few enough that the page stays idle between updates.
const TIMER_UPDATES_PER_S = 4;
// A followed KV request shows at most this many steps, for at most this long.
const KV_TRACE_STEPS_MAX = 12;
// Candidate events kept while the entry node's own event may still be on its way.
const KV_TRACE_SEEN_MAX = 48;
const KV_TRACE_WINDOW_MS = 15_000;
// A node that received a client request glows this long in the topology.
const KV_FLASH_MS = 900;
// The default tick when /api/raft has not said yet (cluster/config.py).
const DEFAULT_TICK_MS = 10;
// Colours for terms, cycling: neighbouring terms must differ clearly.
const TERM_COLOURS = [
  "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1",
  "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac",
];
const ROLE_LABELS = {
  leader: "leader",
  candidate: "candidate",
  pre_candidate: "pre-candidate",
  follower: "follower",
};

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function byNodeId(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

function termColour(term) {
  return TERM_COLOURS[Math.abs(term) % TERM_COLOURS.length];
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function injectStyles() {
  if (document.querySelector("link[data-raft-css]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/css/raft.css";
  link.dataset.raftCss = "";
  document.head.append(link);
}

function buildPanel() {
  const section = document.createElement("section");
  section.className = "raft";
  section.dataset.testid = "raft-panel";
  section.innerHTML = `
    <h2>Raft
      <span class="raft-summary" data-testid="raft-leader">no leader</span>
      <span class="raft-fsync" data-testid="raft-fsync"></span>
      <button type="button" class="member-add" data-testid="members-add"
              title="start a new node process and add it as a voter (one server at a time)">Add node</button>
    </h2>
    <div class="raft-rows" data-testid="raft-rows"></div>
    <p class="raft-legend">box = log entry, colour = its term, number = term;
      <span class="entry committed sample"></span> committed
      <span class="entry sample"></span> not yet ·
      <span class="entry snap sample"></span> in snapshot ·
      bar = election timer (leader: quorum check)</p>
    <h3>Key-value store</h3>
    <form class="kv-form" autocomplete="off" data-testid="kv-form">
      <input name="key" data-testid="kv-key" placeholder="key" required maxlength="1024" spellcheck="false">
      <input name="value" data-testid="kv-value" placeholder="value" spellcheck="false">
      <select name="consistency" data-testid="kv-consistency"
              title="linearizable: ReadIndex through the leader (§6.4); stale: the node's own copy, at once">
        <option value="linearizable">linearizable</option>
        <option value="stale">stale</option>
      </select>
      <select name="node" data-testid="kv-node" title="which node takes the request">
        <option value="">via leader</option>
      </select>
      <button type="submit" data-testid="kv-put">Put</button>
      <button type="button" data-testid="kv-get">Get</button>
      <button type="button" data-testid="kv-delete">Delete</button>
    </form>
    <div class="kv-result" data-testid="kv-result"></div>
    <ol class="kv-trace" data-testid="kv-trace"></ol>`;
  return section;
}

export function createRaft({ panelContainer, insertAfter, nodesElement, noticeElement }) {
  injectStyles();
  const panel = buildPanel();
  if (insertAfter && insertAfter.parentNode === panelContainer) insertAfter.after(panel);
  else panelContainer.append(panel);
  const q = (selector) => panel.querySelector(selector);
  const rowsElement = q(".raft-rows");
  const leaderElement = q('[data-testid="raft-leader"]');
  const fsyncElement = q('[data-testid="raft-fsync"]');
  const addButton = q('[data-testid="members-add"]');
  const kvForm = q(".kv-form");
  const kvResult = q('[data-testid="kv-result"]');
  const kvTrace = q('[data-testid="kv-trace"]');
  const nodeSelect = q('[data-testid="kv-node"]');

  // node id -> {state: RaftState-like fields, receivedAtMs, log: Map(index -> entry)}
  const raft = new Map();
  let tickMs = DEFAULT_TICK_MS;
  let dirty = true;
  let lastRenderMs = 0;
  let memberBusy = false;
  const flashUntil = new Map(); // node -> performance.now() deadline
  let follow = null; // the KV request being followed: {op, key, sinceMs, requestId, steps, seen}

  // Counters for tests and benchmarks: what this view handled, and how often it drew.
  const counts = { raftStates: 0, logAppends: 0, renders: 0 };
  lab.raft = { nodes: raft, counts, leader: () => currentLeader() };

  function nodeRaft(id) {
    let entry = raft.get(id);
    if (!entry) {
      entry = { state: null, receivedAtMs: 0, log: new Map() };
      raft.set(id, entry);
    }
    return entry;
  }

  // ---- folding telemetry in ----

  function appendLog(entry, firstIndex, entries) {
    // Writing at firstIndex replaces everything from there on (§5.3).
    for (const index of entry.log.keys()) if (index >= firstIndex) entry.log.delete(index);
    for (const e of entries) if (Array.isArray(e) && Number.isInteger(e[0])) entry.log.set(e[0], e);
    if (entry.log.size > LOG_KEPT_ENTRIES) {
      const sorted = [...entry.log.keys()].sort((a, b) => a - b);
      for (const index of sorted.slice(0, sorted.length - LOG_KEPT_ENTRIES)) entry.log.delete(index);
    }
  }

  function onEvents(events) {
    const nowMs = performance.now();
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      switch (e.type) {
        case "RaftState": {
          const entry = nodeRaft(e.node);
          if (entry.state && entry.state.t_ms > e.t_ms) break; // older than what we have
          entry.state = e;
          entry.receivedAtMs = nowMs;
          counts.raftStates++;
          dirty = true;
          break;
        }
        case "LogAppended":
          appendLog(nodeRaft(e.node), e.first_index, e.entries);
          counts.logAppends++;
          dirty = true;
          break;
        case "SnapshotSaved": {
          const entry = nodeRaft(e.node);
          for (const index of entry.log.keys()) if (index <= e.index) entry.log.delete(index);
          if (entry.state) entry.state = { ...entry.state, snapshot_index: Math.max(entry.state.snapshot_index, e.index) };
          dirty = true;
          break;
        }
        case "NodeUp":
          raft.delete(e.node); // a new process life: it reports again from its disk
          dirty = true;
          break;
        case "ClientRequest":
          flashUntil.set(e.node, nowMs + KV_FLASH_MS);
          followStep(e);
          break;
        case "ClientReply":
          followStep(e);
          break;
        default:
          break;
      }
    }
  }

  /** Merge GET /api/raft: only where it is newer than what events already said. */
  async function loadSnapshot() {
    try {
      const response = await fetch("/api/raft", { cache: "no-store" });
      if (!response.ok) return;
      const body = await response.json();
      if (Number.isFinite(body.tick_ms)) tickMs = body.tick_ms;
      for (const [id, fields] of Object.entries(body.nodes ?? {})) {
        const entry = nodeRaft(id);
        if (fields.role !== null && (!entry.state || (entry.state.t_ms ?? 0) < (fields.t_ms ?? 0))) {
          entry.state = { ...fields, node: id, leader: fields.leader_hint };
          entry.receivedAtMs = performance.now();
        }
        for (const e of fields.log ?? []) if (!entry.log.has(e[0])) entry.log.set(e[0], e);
      }
      dirty = true;
    } catch (err) {
      console.warn("clusterlab: GET /api/raft failed", err);
    }
  }

  // ---- what the rows show ----

  function viewNodes() {
    return [...(lab.view?.nodes ?? [])].sort((a, b) => byNodeId(a.id, b.id));
  }

  /** The leader: the backend's choice when the view is fresh, else the highest-term up leader. */
  function currentLeader() {
    let best = null;
    for (const node of viewNodes()) {
      if (node.state !== "up") continue;
      const state = raft.get(node.id)?.state;
      if (state?.role === "leader" && (!best || state.term > best.term)) best = { id: node.id, term: state.term };
    }
    return best?.id ?? null;
  }

  function roleOf(node) {
    if (node.state === "down" || node.state === "starting") return node.state;
    // the view's copy (GET /api/cluster) until this node's own report arrives
    return raft.get(node.id)?.state?.role ?? node.role ?? "unknown";
  }

  function lastIndexOf(entry) {
    let last = entry?.state?.log_length ?? 0;
    if (entry) for (const index of entry.log.keys()) if (index > last) last = index;
    return last;
  }

  function logCells(node, lo, hi) {
    const entry = raft.get(node.id);
    const state = entry?.state;
    const last = lastIndexOf(entry);
    const commit = state?.commit_index ?? 0;
    const snapshot = state?.snapshot_index ?? 0;
    const cells = [];
    for (let index = lo; index <= hi; index++) {
      const known = entry?.log.get(index);
      const edge = index === commit ? " commit-edge" : "";
      if (index > last) {
        cells.push(`<span class="entry slot" data-index="${index}"></span>`);
      } else if (known) {
        const [, term, kind, text] = known;
        const committed = index <= commit ? " committed" : "";
        const title = `${index} · term ${term} · ${kind}${text ? ` · ${text}` : ""}${committed ? " · committed" : " · not committed yet"}`;
        cells.push(
          `<span class="entry kind-${escapeHtml(kind)}${committed}${edge}" data-index="${index}" data-term="${term}" ` +
            `style="--term:${termColour(term)}" title="${escapeHtml(title)}">${term}</span>`,
        );
      } else if (index <= snapshot) {
        cells.push(`<span class="entry snap${edge}" data-index="${index}" title="${index} · in the snapshot (log compacted, §7)"></span>`);
      } else {
        cells.push(`<span class="entry unseen${index <= commit ? " committed" : ""}${edge}" data-index="${index}" title="${index} · written before this page was watching">·</span>`);
      }
    }
    return cells.join("");
  }

  function renderRows(nowMs) {
    counts.renders++;
    const nodes = viewNodes();
    let hi = 0;
    for (const node of nodes) hi = Math.max(hi, lastIndexOf(raft.get(node.id)));
    const lo = Math.max(1, hi - LOG_WINDOW_ENTRIES + 1);
    hi = Math.max(hi, lo + LOG_WINDOW_ENTRIES - 1); // a young log still fills the row with slots
    const leader = currentLeader();

    const rows = d3
      .select(rowsElement)
      .selectAll("div.raft-row")
      .data(nodes, (n) => n.id)
      .join((enter) => {
        const row = enter.append("div").attr("class", "raft-row");
        const head = row.append("div").attr("class", "raft-head");
        head.append("span").attr("class", "raft-id");
        head.append("span").attr("class", "role-badge");
        head.append("span").attr("class", "raft-term");
        head.append("span").attr("class", "raft-vote");
        head
          .append("span")
          .attr("class", "raft-timer")
          .append("span")
          .attr("class", "raft-timer-fill");
        head
          .append("button")
          .attr("type", "button")
          .attr("class", "member-remove")
          .text("remove")
          // d3 hands the listener the row's datum at click time: bound once
          .on("click", (_event, n) => changeMembers("remove", n.id));
        const body = row.append("div").attr("class", "raft-body");
        body.append("div").attr("class", "raft-log");
        body.append("span").attr("class", "raft-commit");
        return row;
      })
      // Rows are redrawn a few times a second with mostly the same values:
      // every write below is skipped when it would change nothing (dom_write.js).
      .call(attrs, "data-node", (n) => n.id)
      .call(attrs, "data-testid", (n) => `raft-row-${n.id}`)
      .call(attrs, "data-role", roleOf)
      .classed("is-leader", (n) => n.id === leader);

    rows.select(".raft-id").call(texts, (n) => n.id);
    rows
      .select(".role-badge")
      .call(attrs, "data-role", roleOf)
      .call(texts, (n) => ROLE_LABELS[roleOf(n)] ?? roleOf(n));
    rows.select(".raft-term").call(texts, (n) => {
      const state = raft.get(n.id)?.state;
      return state ? `term ${state.term}` : "term —";
    });
    rows.select(".raft-vote").call(texts, (n) => {
      const vote = raft.get(n.id)?.state?.vote;
      return vote ? `voted ${vote}` : "no vote";
    });
    rows
      .select(".raft-timer")
      .call(attrs, "title", (n) => {
        const state = raft.get(n.id)?.state;
        if (!state) return "";
        const what = state.role === "leader" ? "check-quorum timer" : "election timer";
        return `${what}: ${state.election_elapsed_ticks} of ${state.election_timeout_ticks} ticks`;
      });
    rows.select(".raft-commit").each(function (n) {
      const state = raft.get(n.id)?.state;
      const snap = state?.snapshot_index ? `<br>snap ${state.snapshot_index}` : "";
      setHtml(this, state ? `commit ${state.commit_index}<br>applied ${state.last_applied}${snap}` : "");
    });
    rows
      .select(".member-remove")
      .call(attrs, "data-testid", (n) => `remove-${n.id}`)
      .property("disabled", () => memberBusy);
    rows.select(".raft-log").each(function (n) {
      setHtml(this, logCells(n, lo, hi));
    });

    const leaderState = leader ? raft.get(leader)?.state : null;
    setText(leaderElement, leader ? `leader ${leader} · term ${leaderState.term}` : "no leader");
    leaderElement.dataset.leader = leader ?? "";
    const modes = new Set(nodes.map((n) => raft.get(n.id)?.state?.fsync).filter(Boolean));
    setText(fsyncElement, modes.size ? `fsync ${[...modes].join("/")}` : "");
    fsyncElement.classList.toggle("warn", modes.has("off"));
    setAttr(fsyncElement, "title", modes.has("off")
      ? "fsync off: a node acknowledges before its log is on disk; a power cut could lose acknowledged writes (demo setting)"
      : "every vote and append is fsynced before it is acknowledged");
    addButton.disabled = memberBusy;

    decorateTopology(leader, nowMs);
    renderNodeChoices(nodes);
  }

  // ---- the leader's crown (and a glow for client requests) in the topology ----

  function decorateTopology(leader, nowMs) {
    d3.select(nodesElement)
      .selectAll("g.node")
      .each(function (n) {
        const g = d3.select(this);
        if (g.select("circle.leader-ring").empty()) {
          g.insert("circle", ":first-child").attr("class", "leader-ring");
          g.append("text").attr("class", "crown").attr("text-anchor", "middle").text("♛");
        }
        const r = Number(g.select("circle.body").attr("r")) || 30;
        setAttr(g.select("circle.leader-ring").node(), "r", r + 8);
        const crown = g.select("text.crown").node();
        setAttr(crown, "y", -r - 10);
        setAttr(crown, "font-size", Math.max(18, r * 0.8));
        setAttr(this, "data-role", roleOf(n));
        g.classed("leader", n.id === leader).classed("kv-active", (flashUntil.get(n.id) ?? 0) > nowMs);
      });
    for (const [node, until] of flashUntil) if (until <= nowMs) flashUntil.delete(node);
  }

  function renderNodeChoices(nodes) {
    const wanted = nodes.map((n) => n.id).join(",");
    if (nodeSelect.dataset.nodes === wanted) return;
    nodeSelect.dataset.nodes = wanted;
    const chosen = nodeSelect.value;
    nodeSelect.innerHTML =
      `<option value="">via leader</option>` +
      nodes.map((n) => `<option value="${escapeHtml(n.id)}">${escapeHtml(n.id)}</option>`).join("");
    if (nodes.some((n) => n.id === chosen)) nodeSelect.value = chosen;
  }

  // ---- timers, a few times a second ----

  function renderTimers(nowMs) {
    const scale = lab.view?.time_scale ?? 1;
    const tickScaledMs = Math.max(1, tickMs * scale);
    rowsElement.querySelectorAll("div.raft-row").forEach((row) => {
      const entry = raft.get(row.dataset.node);
      const state = entry?.state;
      const fill = row.querySelector(".raft-timer-fill");
      const viewNode = lab.view?.nodes.find((n) => n.id === row.dataset.node);
      if (!state || !state.election_timeout_ticks || !viewNode) {
        setTransform(fill, "scaleX(0)");
        return;
      }
      // A paused or dead process's timer does not run.
      const running = viewNode.state === "up";
      const elapsed = state.election_elapsed_ticks + (running ? (nowMs - entry.receivedAtMs) / tickScaledMs : 0);
      const fraction = Math.max(0, Math.min(1, elapsed / state.election_timeout_ticks));
      setTransform(fill, `scaleX(${fraction.toFixed(2)})`);
    });
  }

  /** Write a transform only when it changes: an equal write still costs a style pass. */
  function setTransform(element, transform) {
    if (element.dataset.transform === transform) return;
    element.dataset.transform = transform;
    element.style.transform = transform;
  }

  function update() {
    const nowMs = performance.now();
    // The frame clock may run this up to half a period early, to share a frame.
    const interval =
      RENDER_MIN_MS * Math.max(1, (lab.view?.nodes.length ?? 0) / 10) - 500 / TIMER_UPDATES_PER_S;
    if (dirty && nowMs - lastRenderMs >= interval) {
      dirty = false;
      lastRenderMs = nowMs;
      renderRows(nowMs);
    } else if (flashUntil.size && nowMs - lastRenderMs >= interval) {
      lastRenderMs = nowMs;
      decorateTopology(currentLeader(), nowMs);
    }
    renderTimers(nowMs);
  }

  // ---- the key-value panel ----

  function showResult(text, fields, isError = false) {
    kvResult.textContent = text;
    kvResult.classList.toggle("error", isError);
    for (const key of ["status", "index", "term", "node", "value"]) {
      const value = fields[key];
      if (value === undefined || value === null) delete kvResult.dataset[key];
      else kvResult.dataset[key] = String(value);
    }
  }

  function stepText(e) {
    if (e.type === "ClientRequest") {
      return e.via === "http" ? `${e.node} took the ${e.op} from the client` : `${e.node} got it, forwarded by ${e.via}`;
    }
    const where = e.index ? ` — committed at index ${e.index}, term ${e.term}` : "";
    const why = e.error ? ` (${e.error})` : "";
    return `${e.node} answered ${e.status}${where}${why} after ${e.latency_ms.toFixed(1)} ms`;
  }

  function followStep(e) {
    if (!follow || e.key !== follow.key || e.op !== follow.op || e.t_ms < follow.sinceMs) return;
    if (follow.seen.length >= KV_TRACE_SEEN_MAX || Date.now() - follow.sinceMs > KV_TRACE_WINDOW_MS) return;
    // Each node streams its own telemetry, so the leader's step may reach the
    // page before the entry node's: keep every candidate, then order by time.
    follow.seen.push(e);
    if (follow.requestId === null) {
      const entry = follow.seen.find((s) => s.type === "ClientRequest" && s.via === "http");
      if (!entry) return;
      follow.requestId = entry.request_id; // the entry node's trace id names every later step
    }
    const steps = follow.seen
      .filter((s) => s.request_id === follow.requestId)
      .sort((a, b) => a.t_ms - b.t_ms)
      .slice(0, KV_TRACE_STEPS_MAX);
    follow.steps = steps.map(stepText);
    kvTrace.replaceChildren(
      ...follow.steps.map((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        return li;
      }),
    );
  }

  async function kvRequest(op) {
    const key = kvForm.elements.key.value.trim();
    if (!key) {
      showResult("Type a key first.", {}, true);
      return;
    }
    const params = new URLSearchParams();
    const node = kvForm.elements.node.value;
    if (node) params.set("node", node);
    if (op === "get") params.set("consistency", kvForm.elements.consistency.value);
    const init = { method: { put: "PUT", get: "GET", delete: "DELETE" }[op], cache: "no-store" };
    // writes change the cluster: only the instructor may (reads are open to all)
    if (op !== "get" && token()) init.headers = { Authorization: `Bearer ${token()}` };
    if (op === "put") init.body = kvForm.elements.value.value;
    follow = { op, key, sinceMs: Date.now() - 50, requestId: null, steps: [], seen: [] };
    kvTrace.innerHTML = "";
    showResult(`${op} ${key}…`, { status: "pending" });
    const startedMs = performance.now();
    try {
      const query = params.toString();
      const response = await fetch(`/api/kv/${encodeURIComponent(key)}${query ? `?${query}` : ""}`, init);
      const body = await response.json().catch(() => ({}));
      const tookMs = Math.round(performance.now() - startedMs);
      if (!response.ok) {
        const why = body.error ?? response.statusText;
        showResult(`${op} ${key}: ${response.status} ${why}${body.node ? ` (at ${body.node})` : ""}`, { status: response.status, node: body.node }, response.status !== 404);
        return;
      }
      if (op === "get") {
        showResult(
          `${key} = "${body.value}" · ${body.consistency} read served by ${body.node} (${tookMs} ms)`,
          { status: 200, node: body.node, value: body.value },
        );
      } else {
        const what = op === "put" ? `${key} = "${body.value}"` : `${key} deleted`;
        showResult(
          `${what} · committed at index ${body.index}, term ${body.term} · via ${body.node} (${tookMs} ms)`,
          { status: 200, index: body.index, term: body.term, node: body.node },
        );
      }
    } catch (err) {
      showResult(`${op} ${key} failed: ${err.message}`, { status: "error" }, true);
    }
  }

  kvForm.addEventListener("submit", (event) => {
    event.preventDefault();
    kvRequest("put");
  });
  q('[data-testid="kv-get"]').addEventListener("click", () => kvRequest("get"));
  q('[data-testid="kv-delete"]').addEventListener("click", () => kvRequest("delete"));

  // ---- membership (instructor) ----

  function notice(text, isError = false) {
    if (!noticeElement) return;
    noticeElement.textContent = text;
    noticeElement.classList.toggle("error", isError);
  }

  async function changeMembers(action, nodeId) {
    const bearer = token();
    if (!bearer || memberBusy) return;
    memberBusy = true;
    dirty = true;
    const what = nodeId ? `${action} ${nodeId}` : `${action} a node`;
    notice(`${what}… (waits for the change to commit)`);
    try {
      const response = await fetch("/api/members", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${bearer}` },
        body: JSON.stringify(nodeId ? { action, node: nodeId } : { action }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        notice(`${what} failed: ${body.error ?? response.status}`, true);
      } else {
        notice(`${action} ${body.node}: committed at index ${body.index}; voters ${body.voters.join(", ")}`);
      }
    } catch (err) {
      notice(`${what} failed: ${err.message}`, true);
    } finally {
      memberBusy = false;
      dirty = true;
    }
  }
  addButton.addEventListener("click", () => changeMembers("add", null));

  subscribe("events", onEvents);
  subscribe("view", () => {
    dirty = true;
  });
  subscribe("connection", (connection) => {
    if (connection === "connected") loadSnapshot();
  });
  loadSnapshot();
  // On the page's frame clock rather than a timer of its own: the rows and
  // timer bars then change in the frames the dots and the timeline paint
  // anyway, instead of costing the page four more frames a second.
  const painter = createPainter(() => {
    update();
    painter.request();
  }, () => 1000 / TIMER_UPDATES_PER_S);
  painter.request();
}
