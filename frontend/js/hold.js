/**
 * The hold panel: hold every message, then deliver them one at a time.
 *
 * As in DSLabs' visual debugger, but on the real cluster: with "Hold
 * messages" on, each node keeps the protocol messages it sends in its own
 * queue, and Raft's clock stops (cluster/node/hold.py says why). The panel
 * lists every held message, oldest first, in its canonical text form
 * (`n1→n2 AppendEntries t3 i7..7 c6`); *Deliver* sends exactly that one,
 * *Release all* sends everything held. The class then watches one dot
 * travel, sees what the receiver does with it (its reply appears in the
 * list), and the instructor asks "which one next?".
 *
 * Held messages are also parked on the topology: a small dot in the
 * sender's lane towards the receiver, with a count when several wait on the
 * same lane, so the picture shows where the messages are stuck.
 *
 * The list comes from the view (`view.hold`, from the nodes' own
 * HeldMessages reports via backend/held.py), so every viewer sees the same
 * queue; only the buttons need the instructor token.
 */
import { lab, subscribe } from "./state.js";
import { KIND_COLOURS } from "./kinds.js";
import { escapeHtml, instructorToken, nodePosition, notify, postAsInstructor } from "./instructor.js";
import { createExplainer } from "./explain.js";
import { setText } from "./dom_write.js";

const d3 = window.d3;

// "Waiting" ages tick at this pace while something is held.
const AGE_REFRESH_MS = 1000;
// Where a parked message sits on its lane (0 = sender, 1 = receiver).
const PARKED_AT = 0.2;
const LANE_OFFSET = 7; // topology.js: dots keep this far right of the line

const EXPLAIN = `
  <p>With <b>Hold messages</b> on, every node keeps the messages its protocols send (Raft,
  KV forwarding…) in a queue instead of sending them, and Raft's clock stands still: no
  timeout fires, no heartbeat is made. The cluster changes only when you deliver a message
  or a client sends a request. Heartbeats and routing messages are not held: links stay up.</p>
  <p>Each row is one held message, oldest first: who holds it, where it goes and its
  one-line form. <b>Deliver</b> sends exactly that one, now, as if it had just been sent;
  its reply then shows up held at the receiver. Delivering a later message before an
  earlier one reorders them, which Raft must (and does) tolerate. Parked dots on the
  topology show where the messages wait. Turning hold off releases everything.</p>
  <p>A queue holds at most its limit (100); a message beyond it is dropped and marked
  with a red ×, never silently.</p>`;

function ago(sinceMs) {
  const s = Math.max(0, (Date.now() - sinceMs) / 1000);
  return s < 60 ? `${Math.floor(s)} s` : `${Math.floor(s / 60)} min`;
}

export function createHoldPanel({ panelContainer, insertBefore, nodesElement, noticeElement }) {
  const section = document.createElement("section");
  section.className = "hold-panel";
  section.dataset.testid = "hold-panel";
  section.innerHTML =
    `<h2>Hold delivery <span class="hold-state" data-testid="hold-state" data-on="false">off</span></h2>` +
    `<div class="hold-controls instructor-only">` +
    `<button type="button" data-testid="hold-toggle">Hold messages</button>` +
    `<button type="button" data-testid="hold-release-all" disabled>Release all</button></div>` +
    `<p class="hold-summary muted" data-testid="hold-summary"></p>` +
    `<p class="hold-overflow" data-testid="hold-overflow" hidden></p>` +
    `<table class="held" data-testid="held-table" hidden><thead><tr><th>at</th><th>to</th>` +
    `<th>message</th><th>waiting</th><th class="instructor-only"></th></tr></thead><tbody></tbody></table>`;
  section.append(createExplainer(EXPLAIN, "explain-hold"));
  panelContainer.insertBefore(section, insertBefore ?? null);

  const q = (selector) => section.querySelector(selector);
  const toggle = q('[data-testid="hold-toggle"]');
  const releaseAll = q('[data-testid="hold-release-all"]');
  const tbody = q("tbody");
  const notice = (text, isError) => notify(noticeElement, text, isError);
  const parked = d3.select(nodesElement).append("g").attr("class", "held-parked");
  const state = { on: false, messages: [], total: 0, busy: new Set() };
  lab.hold = state;

  async function deliver(node, id) {
    const key = `${node}#${id}`;
    if (state.busy.has(key)) return;
    state.busy.add(key);
    render();
    const reply = await postAsInstructor("/api/held/deliver", { node, id });
    state.busy.delete(key);
    if (!reply.ok) notice(`deliver ${key} failed: ${reply.body.error ?? reply.status}`, true);
    else notice(`delivered ${key}.`);
    render();
  }

  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    const on = !state.on;
    const reply = await postAsInstructor("/api/hold", { on });
    toggle.disabled = false;
    if (!reply.ok) {
      notice(`hold failed: ${reply.body.error ?? reply.status}`, true);
      return;
    }
    state.on = on; // the view confirms it a moment later
    notice(on ? "Holding: every node keeps its messages; Raft's clock stands still." : "Hold off: everything held was released.");
    render();
  });
  releaseAll.addEventListener("click", async () => {
    releaseAll.disabled = true;
    const reply = await postAsInstructor("/api/held/deliver", { all: true });
    if (!reply.ok) notice(`release failed: ${reply.body.error ?? reply.status}`, true);
    else notice(`released everything held at ${reply.body.released?.join(", ") || "no node"}.`);
    render();
  });

  function renderParked() {
    const lanes = new Map(); // "node>dst" -> {node, dst, count, type, oldest id}
    for (const m of state.messages) {
      const key = `${m.node}>${m.dst}`;
      const lane = lanes.get(key) ?? { key, node: m.node, dst: m.dst, count: 0, type: m.type, id: m.id };
      lane.count++;
      lanes.set(key, lane);
    }
    const shown = [];
    for (const lane of lanes.values()) {
      const a = nodePosition(nodesElement, lane.node);
      const b = nodePosition(nodesElement, lane.dst);
      if (!a || !b) continue;
      const length = Math.hypot(b.x - a.x, b.y - a.y) || 1;
      const x = a.x + (b.x - a.x) * PARKED_AT - ((b.y - a.y) / length) * LANE_OFFSET;
      const y = a.y + (b.y - a.y) * PARKED_AT + ((b.x - a.x) / length) * LANE_OFFSET;
      shown.push({ ...lane, x, y });
    }
    parked
      .selectAll("g.parked")
      .data(shown, (p) => p.key)
      .join((enter) => {
        const g = enter.append("g").attr("class", "parked");
        g.append("circle").attr("r", 9);
        g.append("text").attr("class", "parked-count").attr("dx", 12).attr("dy", -8);
        g.append("title");
        g.on("click", (_event, p) => {
          if (instructorToken()) deliver(p.node, p.id); // the oldest on this lane
        });
        return g;
      })
      .attr("data-parked", (p) => p.key)
      .attr("transform", (p) => `translate(${p.x},${p.y})`)
      .call((g) => g.select("circle").attr("fill", (p) => KIND_COLOURS[p.type] ?? "#6b6b6b"))
      .call((g) => g.select("text").text((p) => (p.count > 1 ? p.count : "")))
      .call((g) =>
        g.select("title").text((p) => `${p.count} held at ${p.node} for ${p.dst}` + (instructorToken() ? "; click: deliver the oldest" : "")),
      );
  }

  function render() {
    const token = Boolean(instructorToken());
    const badge = q('[data-testid="hold-state"]');
    // the view comes every second, mostly unchanged: write only what changed (dom_write.js)
    setText(badge, state.on ? "on" : "off");
    badge.dataset.on = String(state.on);
    setText(toggle, state.on ? "Stop holding (release all)" : "Hold messages");
    toggle.classList.toggle("active", state.on);
    releaseAll.disabled = state.messages.length === 0;
    setText(q('[data-testid="hold-summary"]'), state.on
      ? `${state.total} message${state.total === 1 ? "" : "s"} held${state.total > state.messages.length ? ` (first ${state.messages.length} shown)` : ""}; Raft's clock is stopped.`
      : "Messages flow normally.");
    const full = Object.entries(state.nodes ?? {}).filter(([, n]) => n.overflow > 0);
    const overflow = q('[data-testid="hold-overflow"]');
    overflow.hidden = full.length === 0;
    setText(overflow, full
      .map(([node, n]) => `${node}'s queue (${n.limit}) was full: ${n.overflow} message${n.overflow === 1 ? "" : "s"} dropped`)
      .join("; "));
    q('[data-testid="held-table"]').hidden = state.messages.length === 0;
    renderRows(token);
    renderParked();
  }

  let rowsKey = null;
  function renderRows(token) {
    // Views arrive often; rebuilding unchanged rows would only risk
    // swallowing a click that lands while its button is replaced.
    const key = JSON.stringify([token, [...state.busy], state.messages.map((m) => [m.node, m.id])]);
    if (key === rowsKey) return;
    rowsKey = key;
    tbody.innerHTML = state.messages
      .map((m) => {
        const key = `${m.node}#${m.id}`;
        const id = `${escapeHtml(m.node)}-${escapeHtml(m.id)}`;
        return (
          `<tr data-testid="held-${id}" data-node="${escapeHtml(m.node)}" data-id="${escapeHtml(m.id)}" data-dst="${escapeHtml(m.dst)}" data-type="${escapeHtml(m.type)}">` +
          `<td class="held-at">${escapeHtml(m.node)}</td><td>${escapeHtml(m.dst)}</td>` +
          `<td class="held-text"><span class="kind-dot" style="background:${KIND_COLOURS[m.type] ?? "#6b6b6b"}"></span>${escapeHtml(m.text)}</td>` +
          `<td class="held-age" data-since="${Number(m.since_ms) || 0}">${ago(m.since_ms)}</td>` +
          `<td class="instructor-only"><button type="button" data-testid="deliver-${id}" ` +
          `${token && !state.busy.has(key) ? "" : "disabled"}>Deliver</button></td></tr>`
        );
      })
      .join("");
    for (const row of tbody.querySelectorAll("tr[data-node]")) {
      row.querySelector("button").addEventListener("click", () => deliver(row.dataset.node, Number(row.dataset.id)));
    }
  }

  subscribe("view", (view) => {
    const hold = view.hold ?? { on: false, messages: [], total: 0, nodes: {} };
    state.on = Boolean(hold.on);
    state.messages = hold.messages ?? [];
    state.total = hold.total ?? state.messages.length;
    state.nodes = hold.nodes ?? {};
    render();
  });
  subscribe("auth", render);
  setInterval(() => {
    for (const age of tbody.querySelectorAll(".held-age")) age.textContent = ago(Number(age.dataset.since));
  }, AGE_REFRESH_MS);
  render();
}
