/**
 * Right-click menus on the topology: a node's faults and a link's faults.
 *
 * Why a context menu: during a lecture the instructor's eyes (and the class's)
 * are on the picture of the cluster, not on a table at the side. Right-click
 * the node you are talking about and kill, restart, wipe, pause or resume
 * it; right-click a link and cut or restore it, slow it down, make it lose,
 * duplicate or reorder frames. Every item is one `POST /api/faults` with the
 * instructor token, the same call the CLI and the lessons make; the backend
 * applies it to real processes and real frames (docs/faults.md).
 *
 * Without the token there is no menu: a student's right-click gets the
 * browser's own menu, and nothing on the page can change the cluster.
 *
 * A link request states the link's whole fault (cluster/core/faults.py): a
 * field left out is reset. So "Cut" sends the link's current delay, loss...
 * along with `up: false`, and "Clear" sends none of them.
 */
import { lab, subscribe, updateNode } from "./state.js";
import { linkFault, setFaults } from "./faults_state.js";
import { escapeHtml, instructorToken, notify, postAsInstructor } from "./instructor.js";

// Which node fault makes sense in which state; the backend decides in the end.
export const NODE_FAULTS = [
  { action: "kill", label: "Kill", hint: "SIGKILL: gone at once", allowed: ["up", "starting", "paused"] },
  { action: "restart", label: "Restart", hint: "same data directory and ports", allowed: ["up", "down", "paused", "starting"] },
  { action: "wipe", label: "Wipe & restart", hint: "empty data directory: it rejoins and catches up", allowed: ["up", "down", "paused", "starting"] },
  { action: "pause", label: "Pause", hint: "SIGSTOP: the long GC pause", allowed: ["up"] },
  { action: "resume", label: "Resume", hint: "SIGCONT", allowed: ["paused"] },
];

// The link settings the menu edits: [field, label, unit, scale to the API's value].
const LINK_FIELDS = [
  ["delay_ms", "delay", "ms", 1],
  ["jitter_ms", "jitter", "ms", 1],
  ["loss", "loss", "%", 0.01],
  ["duplicate", "duplicate", "%", 0.01],
  ["reorder", "reorder", "%", 0.01],
];

function parseLinkKey(key) {
  const [a, b] = String(key ?? "").split("|");
  return a && b ? { a, b } : null;
}

export function createFaultMenu({ linksElement, nodesElement, noticeElement }) {
  const menu = document.createElement("div");
  menu.className = "fault-menu";
  menu.dataset.testid = "fault-menu";
  menu.setAttribute("role", "menu");
  menu.hidden = true;
  document.body.append(menu);

  const notice = (text, isError) => notify(noticeElement, text, isError);

  function close() {
    menu.hidden = true;
    menu.innerHTML = "";
    delete menu.dataset.target;
  }

  function openAt(clientX, clientY) {
    menu.hidden = false;
    // Keep the whole menu on screen, whichever corner was clicked.
    const { width, height } = menu.getBoundingClientRect();
    menu.style.left = `${Math.max(4, Math.min(clientX, window.innerWidth - width - 4))}px`;
    menu.style.top = `${Math.max(4, Math.min(clientY, window.innerHeight - height - 4))}px`;
    menu.querySelector("button:not(:disabled), input")?.focus();
  }

  async function send(body, what) {
    notice(`${what}…`);
    const reply = await postAsInstructor("/api/faults", body);
    if (!reply.ok) {
      notice(`${what} failed: ${reply.body.error ?? reply.status}`, true);
      return false;
    }
    if (Array.isArray(reply.body.faults)) setFaults(reply.body.faults);
    if (reply.body.node && typeof reply.body.node === "object") updateNode(reply.body.node);
    notice(`${what}: done.`);
    return true;
  }

  // ---- nodes ----
  function openNodeMenu(nodeId, clientX, clientY) {
    const node = lab.view?.nodes.find((n) => n.id === nodeId);
    const state = node?.state ?? "down";
    menu.dataset.target = nodeId;
    menu.innerHTML =
      `<h3>${escapeHtml(nodeId)} <span class="badge" data-state="${escapeHtml(state)}">${escapeHtml(state)}</span></h3>` +
      NODE_FAULTS.map(
        (f) =>
          `<button type="button" role="menuitem" data-testid="menu-${f.action}" data-action="${f.action}" ` +
          `title="${escapeHtml(f.hint)}" ${f.allowed.includes(state) ? "" : "disabled"}>${f.label}</button>`,
      ).join("");
    for (const button of menu.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => {
        close();
        send({ action: button.dataset.action, node: nodeId }, `${button.dataset.action} ${nodeId}`);
      });
    }
    openAt(clientX, clientY);
  }

  // ---- links ----
  function openLinkMenu(a, b, clientX, clientY) {
    const current = linkFault(lab.faults, a, b);
    if (current?.oneway && current.a === b) [a, b] = [b, a]; // show the faulted direction
    const down = current?.up === false;
    const value = (field, scale) => {
      const raw = Number(current?.[field] ?? 0);
      return Math.round((raw / scale) * 1000) / 1000;
    };
    menu.dataset.target = `${a}|${b}`;
    menu.innerHTML =
      `<h3>link ${escapeHtml(a)}–${escapeHtml(b)} ` +
      `<span class="badge" data-state="${down ? "down" : "up"}">${down ? "cut" : "up"}</span></h3>` +
      `<div class="menu-row">` +
      `<button type="button" role="menuitem" data-testid="menu-cut" ${down ? "disabled" : ""}>Cut</button>` +
      `<button type="button" role="menuitem" data-testid="menu-restore" ${down ? "" : "disabled"}>Restore</button>` +
      `<button type="button" role="menuitem" data-testid="menu-clear" class="quiet" ${current ? "" : "disabled"} ` +
      `title="remove every fault on this link">Clear</button></div>` +
      `<form class="menu-form" data-testid="menu-link-form" autocomplete="off">` +
      LINK_FIELDS.map(
        ([field, label, unit, scale]) =>
          `<label>${label} <input type="number" min="0" ${unit === "%" ? 'max="100"' : ""} step="any" ` +
          `name="${field}" data-testid="menu-${field}" value="${value(field, scale)}"><span>${unit}</span></label>`,
      ).join("") +
      `<label class="menu-oneway"><input type="checkbox" name="oneway" data-testid="menu-oneway" ` +
      `${current?.oneway ? "checked" : ""}> only ${escapeHtml(a)}→${escapeHtml(b)}</label>` +
      `<button type="submit" data-testid="menu-apply">Apply</button></form>`;

    const form = menu.querySelector("form");
    const settings = () => {
      const body = {};
      for (const [field, , , scale] of LINK_FIELDS) {
        const number = Number(form.elements[field].value) || 0;
        if (number) body[field] = Math.round(number * scale * 1e6) / 1e6;
      }
      return body;
    };
    const request = (extra) => ({
      action: "link",
      a,
      b,
      ...(form.elements.oneway.checked ? { oneway: true } : {}),
      ...extra,
    });
    menu.querySelector('[data-testid="menu-cut"]').addEventListener("click", () => {
      close();
      send(request({ ...settings(), up: false }), `cut ${a}–${b}`);
    });
    menu.querySelector('[data-testid="menu-restore"]').addEventListener("click", () => {
      close();
      send(request({ ...settings(), up: true }), `restore ${a}–${b}`);
    });
    menu.querySelector('[data-testid="menu-clear"]').addEventListener("click", () => {
      close();
      send(request({}), `clear ${a}–${b}`);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = request({ ...settings(), up: !down });
      close();
      send(body, `${a}–${b}`);
    });
    openAt(clientX, clientY);
  }

  // ---- opening and closing ----
  nodesElement.addEventListener("contextmenu", (event) => {
    const g = event.target.closest("g.node[data-node]");
    if (!g || !instructorToken()) return; // a student gets the browser's own menu
    event.preventDefault();
    openNodeMenu(g.dataset.node, event.clientX, event.clientY);
  });
  linksElement.addEventListener("contextmenu", (event) => {
    const link = parseLinkKey(event.target.closest("[data-link]")?.dataset.link);
    if (!link || !instructorToken()) return;
    event.preventDefault();
    openLinkMenu(link.a, link.b, event.clientX, event.clientY);
  });
  document.addEventListener("pointerdown", (event) => {
    if (!menu.hidden && !menu.contains(event.target)) close();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !menu.hidden) close();
  });
  window.addEventListener("resize", close);
  subscribe("auth", (unlocked) => {
    if (!unlocked) close();
  });

  return { openNodeMenu, openLinkMenu, close };
}
