/**
 * The Faults panel: every fault in force, in words, with the way to undo it.
 *
 * A broken cluster that *looks* healthy misleads: a partition leaves every
 * process running and every circle green. So the panel lists what the
 * backend says is active (`GET /api/faults`, or the view): partitions,
 * one-way rules, faulty links, paused and down nodes, each since when; the
 * instructor undoes one with its button (heal, restore, resume, restart).
 * The partition editor (partition.js) lives in the same panel, and the
 * topology shows the same faults as walls, badges and rings (fault_marks.js).
 *
 * Students see the list too: what is broken is part of the lesson. Only the
 * buttons need the token.
 */
import { lab, subscribe } from "./state.js";
import { setFaults } from "./faults_state.js";
import { linkFaultText } from "./fault_marks.js";
import { escapeHtml, notify, postAsInstructor } from "./instructor.js";
import { createPartition } from "./partition.js";
import { createExplainer } from "./explain.js";

// The list re-renders at most this often; "since" ages tick once a second.
const AGE_REFRESH_MS = 1000;

const EXPLAIN = `
  <p>Faults the instructor injected, applied to the real processes and the real frames
  they send: a <b>partition</b> drops every message between groups at the sender, a
  <b>one-way</b> rule only those in one direction, a <b>link</b> fault cuts, delays, loses,
  duplicates or reorders the frames on one link. On the topology a red wall stands in the
  lane of each blocked direction, a badge names a link's injected delay and loss, a ring
  shows each node's group, and a red × marks where messages were dropped.</p>
  <p>Instructor: right-click a node or a link for its faults; <i>Partition…</i> to drag
  nodes into groups.</p>`;

function ago(sinceMs) {
  if (!sinceMs) return "";
  const s = Math.max(0, (Date.now() - sinceMs) / 1000);
  return s < 60 ? `${Math.floor(s)} s` : `${Math.floor(s / 60)} min`;
}

/** A fault in words, and the request that undoes it (or null). */
export function describeFault(f) {
  const list = (nodes) => (nodes ?? []).map(escapeHtml).join(", ");
  switch (f.kind) {
    case "partition":
      return {
        text: `partition ${(f.groups ?? []).map((g) => `{${list(g)}}`).join(" | ")}`,
        undo: { label: "heal", body: { action: "heal", id: f.id } },
      };
    case "oneway":
      return {
        text: `one-way: ${list(f.from)} → ${list(f.to)} (${list(f.to)} cannot reach ${list(f.from)})`,
        undo: { label: "heal", body: { action: "heal", id: f.id } },
      };
    case "link": {
      const arrow = f.oneway ? "→" : "–";
      return {
        text: `link ${escapeHtml(f.a)}${arrow}${escapeHtml(f.b)}: ${escapeHtml(linkFaultText(f) || "no change")}`,
        undo: { label: "clear", body: { action: "heal", id: f.id } },
      };
    }
    case "paused":
      return { text: `${escapeHtml(f.node)} paused`, undo: { label: "resume", body: { action: "resume", node: f.node } } };
    case "down":
      return { text: `${escapeHtml(f.node)} down`, undo: { label: "restart", body: { action: "restart", node: f.node } } };
    default: {
      const { id, kind, since_ms: _since, ...rest } = f;
      return { text: `${escapeHtml(kind ?? id)} ${escapeHtml(JSON.stringify(rest))}`, undo: null };
    }
  }
}

export function createFaultsPanel({ panelContainer, insertBefore, linksElement, nodesElement, noticeElement }) {
  const section = document.createElement("section");
  section.className = "faults-panel";
  section.dataset.testid = "faults-panel";
  section.innerHTML =
    `<h2>Faults <span class="fault-count" data-testid="fault-count">none</span></h2>` +
    `<p class="muted instructor-only">Right-click a node or a link on the topology for its faults.</p>`;
  section.append(createExplainer(EXPLAIN, "explain-faults"));
  panelContainer.insertBefore(section, insertBefore ?? null);
  createPartition({ container: section, linksElement, nodesElement, noticeElement });
  const listElement = document.createElement("ul");
  listElement.className = "fault-list";
  listElement.dataset.testid = "fault-list";
  section.append(listElement);

  let shownKey = null;
  function render() {
    const faults = lab.faults ?? [];
    // Each view re-sends the list; rebuilding unchanged rows would only risk
    // swallowing a click that lands while its button is replaced.
    const key = JSON.stringify(faults);
    if (key === shownKey) return;
    shownKey = key;
    section.querySelector('[data-testid="fault-count"]').textContent = faults.length
      ? `${faults.length} active`
      : "none";
    section.querySelector('[data-testid="fault-count"]').dataset.count = String(faults.length);
    listElement.innerHTML = faults
      .map((f, i) => {
        const { text, undo } = describeFault(f);
        return (
          `<li data-fault="${escapeHtml(f.id ?? i)}" data-kind="${escapeHtml(f.kind)}">` +
          `<span class="fault-text">${text}</span> <span class="muted fault-age" data-since="${Number(f.since_ms) || 0}">${ago(f.since_ms)}</span>` +
          (undo
            ? ` <button type="button" class="instructor-only quiet" data-undo="${i}" ` +
              `data-testid="undo-${escapeHtml(f.id ?? i)}">${undo.label}</button>`
            : "") +
          `</li>`
        );
      })
      .join("");
    for (const button of listElement.querySelectorAll("button[data-undo]")) {
      const { undo } = describeFault(faults[Number(button.dataset.undo)]);
      button.addEventListener("click", async () => {
        button.disabled = true;
        const reply = await postAsInstructor("/api/faults", undo.body);
        if (!reply.ok) {
          notify(noticeElement, `${undo.label} failed: ${reply.body.error ?? reply.status}`, true);
          button.disabled = false;
          return;
        }
        if (Array.isArray(reply.body.faults)) setFaults(reply.body.faults);
        notify(noticeElement, `${undo.label}: done.`);
      });
    }
  }

  subscribe("faults", render);
  setInterval(() => {
    for (const age of listElement.querySelectorAll(".fault-age")) {
      age.textContent = ago(Number(age.dataset.since));
    }
  }, AGE_REFRESH_MS);
  render();
}
