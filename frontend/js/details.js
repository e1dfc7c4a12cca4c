/**
 * The details card of one node: everything the view knows about it, shown
 * when a node is clicked in the topology or in the node table.
 *
 * Why a card and not only tooltips: tooltips are tiny on a projector and
 * vanish when the mouse moves; a card stays readable from the back row while
 * the instructor talks about that node.
 */
import { lab, subscribe, publish, rttsOf, countersOf, formatRtt } from "./state.js";

// Fresh RTTs and counters arrive continuously; the card follows at this pace.
const DETAILS_REFRESH_MS = 1000;

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function row(label, value) {
  return `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`;
}

export function createDetails(element) {
  let selected = null;

  function render() {
    const node = lab.view?.nodes.find((n) => n.id === selected);
    if (!node) {
      element.hidden = true;
      return;
    }
    element.hidden = false;
    const rtts = Object.entries(rttsOf(node))
      .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
      .map(([peer, ms]) => row(`RTT to ${peer}`, `${formatRtt(ms)} ms`));
    const counters = Object.entries(countersOf(node))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => row(name, value.toLocaleString()));
    element.dataset.node = node.id;
    element.innerHTML =
      `<h2>${escapeHtml(node.id)} <span class="badge" data-state="${escapeHtml(node.state)}">${escapeHtml(node.state)}</span>` +
      `<button type="button" class="quiet close" aria-label="close">×</button></h2>` +
      `<dl>${row("pid", node.pid ?? "—")}${row("peer address", node.addr ?? "—")}` +
      `${row("client address", node.client_addr ?? "—")}${rtts.join("")}${counters.join("")}</dl>`;
    element.querySelector("button.close").addEventListener("click", () => publish("select", null));
  }

  subscribe("select", (nodeId) => {
    selected = nodeId;
    render();
  });
  subscribe("view", render);
  setInterval(() => {
    if (selected) render();
  }, DETAILS_REFRESH_MS);
}
