/**
 * The partition editor: drag nodes into groups, apply, heal.
 *
 * A partition is easiest to think about as a picture: "these nodes on one
 * side, those on the other". So the instructor builds it as one. Every node
 * is a chip; drag it (or the node's circle on the topology) into group 1, 2
 * or 3. Nodes left in "no group" together form one more group, as the API
 * says (`POST /api/faults {"action": "partition", "groups": [...]}`). While
 * editing, a coloured ring around each node on the topology shows the group
 * it is about to join; once applied, the same rings show the groups in force
 * (fault_marks.js), so the class sees which side each node is on.
 *
 * Why pointer events and not HTML drag-and-drop: the topology's nodes are
 * SVG, which cannot be `draggable`, and touch screens (a tablet at the
 * lectern) send no drag events. A click on a chip also moves it to the next
 * group, for a keyboard or a shaky hand.
 */
import { lab, subscribe } from "./state.js";
import { partitionGroups, setFaults } from "./faults_state.js";
import { byNodeId, escapeHtml, nodePosition, nodeRadius, notify, postAsInstructor } from "./instructor.js";

const d3 = window.d3;

// The API takes any number of groups; on a projector three plus "the rest"
// is what a class can follow, and every lesson needs at most that.
export const PARTITION_GROUPS = 3;
// A press that moves less than this is a click, not a drag.
const DRAG_THRESHOLD_PX = 5;

export function createPartition({ container, linksElement, nodesElement, noticeElement }) {
  const section = document.createElement("div");
  section.className = "partition";
  section.dataset.testid = "partition";
  const zones = [["", "no group", "together they form one more group"]];
  for (let i = 0; i < PARTITION_GROUPS; i++) zones.push([String(i), `group ${i + 1}`, ""]);
  section.innerHTML =
    `<div class="partition-bar instructor-only">` +
    `<button type="button" data-testid="partition-edit">Partition…</button>` +
    `<button type="button" data-testid="heal" title="remove every partition and one-way rule">Heal</button>` +
    `<label class="heal-links"><input type="checkbox" data-testid="heal-links"> and link faults</label></div>` +
    `<div class="partition-editor" data-testid="partition-editor" hidden>` +
    `<p class="muted">Drag nodes (chips here, or circles on the topology) into groups, then apply.</p>` +
    `<div class="zones">` +
    zones
      .map(
        ([zone, title, hint]) =>
          `<div class="zone" data-zone="${zone}" data-testid="zone-${zone === "" ? "rest" : Number(zone) + 1}">` +
          `<h4>${title}${hint ? ` <small>(${hint})</small>` : ""}</h4><div class="chips"></div></div>`,
      )
      .join("") +
    `</div><div class="partition-actions">` +
    `<button type="button" data-testid="partition-apply">Apply partition</button>` +
    `<button type="button" class="quiet" data-testid="partition-cancel">Cancel</button></div></div>`;
  container.append(section);

  const editor = section.querySelector(".partition-editor");
  const notice = (text, isError) => notify(noticeElement, text, isError);
  const rings = d3.select(linksElement).append("g").attr("class", "partition-rings editing");

  let editing = false;
  let assignment = new Map(); // node -> "" | "0" | "1" | "2"

  function nodeIds() {
    return (lab.view?.nodes ?? []).map((n) => n.id).sort(byNodeId);
  }

  function startEditing() {
    editing = true;
    assignment = new Map(nodeIds().map((id) => [id, ""]));
    // Start from the partition in force, so a change is a small edit.
    (partitionGroups(lab.faults) ?? []).forEach((group, i) => {
      for (const id of group) if (assignment.has(id) && i < PARTITION_GROUPS) assignment.set(id, String(i));
    });
    editor.hidden = false;
    chipsKey = null;
    document.body.classList.add("partition-editing");
    render();
  }

  function stopEditing() {
    editing = false;
    editor.hidden = true;
    document.body.classList.remove("partition-editing");
    rings.selectAll("*").remove();
  }

  function move(nodeId, zone) {
    if (!assignment.has(nodeId)) return;
    assignment.set(nodeId, zone);
    render();
  }

  let chipsKey = null;
  function render() {
    if (!editing) return;
    for (const id of nodeIds()) if (!assignment.has(id)) assignment.set(id, "");
    renderChips();
    renderRings();
  }

  function renderChips() {
    // Views arrive several times a second: rebuilding unchanged chips would
    // pull a chip from under the pointer in the middle of a drag.
    const key = JSON.stringify([...assignment]);
    if (key === chipsKey) return;
    chipsKey = key;
    for (const zoneElement of section.querySelectorAll(".zone")) {
      const zone = zoneElement.dataset.zone;
      const ids = [...assignment].filter(([, z]) => z === zone).map(([id]) => id).sort(byNodeId);
      zoneElement.querySelector(".chips").innerHTML = ids
        .map(
          (id) =>
            `<span class="chip" data-node="${escapeHtml(id)}" data-testid="chip-${escapeHtml(id)}" ` +
            `tabindex="0" role="button" title="drag into a group, or click for the next group">${escapeHtml(id)}</span>`,
        )
        .join("");
    }
  }

  function renderRings() {
    const radius = nodeRadius(nodesElement) + 15;
    const placed = [...assignment].map(([id, zone]) => ({ id, zone, at: nodePosition(nodesElement, id) }));
    rings
      .selectAll("circle.group-ring")
      .data(placed.filter((p) => p.at), (p) => p.id)
      .join("circle")
      .attr("class", "group-ring")
      .attr("data-group", (p) => (p.zone === "" ? "rest" : p.zone))
      .attr("cx", (p) => p.at.x)
      .attr("cy", (p) => p.at.y)
      .attr("r", radius);
  }

  async function apply() {
    const groups = [];
    for (let i = 0; i < PARTITION_GROUPS; i++) {
      const ids = [...assignment].filter(([, z]) => z === String(i)).map(([id]) => id).sort(byNodeId);
      if (ids.length) groups.push(ids);
    }
    const rest = [...assignment].filter(([, z]) => z === "").length;
    if (groups.length + (rest ? 1 : 0) < 2) {
      notice("Put nodes into at least two groups (the nodes in no group count as one).", true);
      return;
    }
    notice("partitioning…");
    const reply = await postAsInstructor("/api/faults", { action: "partition", groups });
    if (!reply.ok) {
      notice(`partition failed: ${reply.body.error ?? reply.status}`, true);
      return;
    }
    if (Array.isArray(reply.body.faults)) setFaults(reply.body.faults);
    notice(`partitioned: ${groups.map((g) => g.join(" ")).join(" | ")}${rest ? " | the rest" : ""}`);
    stopEditing();
  }

  async function heal() {
    const links = section.querySelector('[data-testid="heal-links"]').checked;
    const reply = await postAsInstructor("/api/faults", { action: "heal", ...(links ? { links: true } : {}) });
    if (!reply.ok) {
      notice(`heal failed: ${reply.body.error ?? reply.status}`, true);
      return;
    }
    if (Array.isArray(reply.body.faults)) setFaults(reply.body.faults);
    notice(links ? "healed: no partition, no one-way rule, no link fault." : "healed: no partition, no one-way rule.");
  }

  // ---- dragging, from a chip or from a node on the topology ----
  let drag = null; // {nodeId, startX, startY, ghost}

  function beginPress(nodeId, event) {
    if (!editing || event.button !== 0) return;
    drag = { nodeId, startX: event.clientX, startY: event.clientY, ghost: null };
    event.preventDefault();
  }

  window.addEventListener("pointermove", (event) => {
    if (!drag) return;
    if (!drag.ghost) {
      if (Math.hypot(event.clientX - drag.startX, event.clientY - drag.startY) < DRAG_THRESHOLD_PX) return;
      drag.ghost = document.createElement("span");
      drag.ghost.className = "chip chip-ghost";
      drag.ghost.textContent = drag.nodeId;
      document.body.append(drag.ghost);
    }
    drag.ghost.style.left = `${event.clientX + 6}px`;
    drag.ghost.style.top = `${event.clientY + 6}px`;
    for (const zone of section.querySelectorAll(".zone")) zone.classList.remove("drop-target");
    zoneAt(event)?.classList.add("drop-target");
  });

  window.addEventListener("pointerup", (event) => {
    if (!drag) return;
    const { nodeId, ghost } = drag;
    drag = null;
    for (const zone of section.querySelectorAll(".zone")) zone.classList.remove("drop-target");
    if (!ghost) {
      // A click on a chip moves it on to the next group.
      if (event.target.closest?.(".chip[data-node]")) {
        const order = ["", ...Array.from({ length: PARTITION_GROUPS }, (_, i) => String(i))];
        move(nodeId, order[(order.indexOf(assignment.get(nodeId)) + 1) % order.length]);
      }
      return;
    }
    ghost.remove();
    const zone = zoneAt(event);
    if (zone) move(nodeId, zone.dataset.zone);
  });

  function zoneAt(event) {
    return document.elementFromPoint(event.clientX, event.clientY)?.closest?.(".partition .zone") ?? null;
  }

  section.addEventListener("pointerdown", (event) => {
    const chip = event.target.closest(".chip[data-node]");
    if (chip) beginPress(chip.dataset.node, event);
  });
  section.addEventListener("keydown", (event) => {
    const chip = event.target.closest(".chip[data-node]");
    const zone = { 0: "", 1: "0", 2: "1", 3: "2" }[event.key];
    if (chip && zone !== undefined) move(chip.dataset.node, zone); // keys 0-3 choose the group
  });
  nodesElement.addEventListener("pointerdown", (event) => {
    const g = event.target.closest("g.node[data-node]");
    if (g) beginPress(g.dataset.node, event);
  });

  section.querySelector('[data-testid="partition-edit"]').addEventListener("click", () => {
    if (editing) stopEditing();
    else startEditing();
  });
  section.querySelector('[data-testid="partition-cancel"]').addEventListener("click", stopEditing);
  section.querySelector('[data-testid="partition-apply"]').addEventListener("click", apply);
  section.querySelector('[data-testid="heal"]').addEventListener("click", heal);

  subscribe("view", render);
  subscribe("auth", (unlocked) => {
    if (!unlocked) stopEditing();
  });
  lab.partition = { get editing() { return editing; }, assignment: () => Object.fromEntries(assignment) };
}
