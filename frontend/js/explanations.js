/**
 * "What am I looking at?" for every panel that was built before the
 * explainer existed: topology, nodes, Raft, key-value store, routing.
 *
 * Why here and not inside each view module: the words are course material,
 * read and corrected together (they should agree with docs/dashboard.md),
 * while the view modules are about drawing. New panels call
 * `createExplainer(html, testid)` from explain.js themselves, next to their
 * own title; this module only reaches into panels by their stable selectors,
 * after they were created, and skips any that is not on the page.
 */
import { createExplainer } from "./explain.js";

export const EXPLANATIONS = {
  topology: {
    anchor: ".topology-panel",
    title: "Topology",
    html:
      "<p>Each circle is a real node process, coloured by its state (the word under it says the " +
      "same). Each line is a configured link, drawn thicker the more messages cross it.</p>" +
      "<p>Each dot is one real message hop, drawn once both its send and its receive were " +
      "reported, and flying as long as the frame really took (at least 350 ms, or you could not " +
      "see it). A red ring means that node just dropped a message.</p>",
  },
  nodes: {
    anchor: ".side-panel > h2",
    html:
      "<p>One row per node process: its state (from the launcher and from the node's own " +
      "telemetry), its operating-system pid, and the median round-trip time of real heartbeats to " +
      "its neighbours. Click a row or a circle for everything known about that node.</p>" +
      "<p>The fault buttons appear only for the instructor; everyone else watches.</p>",
  },
  raft: {
    anchor: '[data-testid="raft-panel"] > h2',
    html:
      "<p>One row per node, as that node itself reports it: role, term, vote, election timer (the " +
      "bar) and the end of its log, one box per entry, coloured by term, solid once committed.</p>" +
      "<p>Entries with the same index sit in the same column, so a follower that lags or an entry " +
      "a new leader overwrites shows at a glance. When two rows disagree, the nodes disagree: " +
      "nothing here comes from a model of Raft.</p>",
  },
  kv: {
    anchor: '[data-testid="raft-panel"] > h3',
    html:
      "<p>A write goes to the leader and returns once a majority stored it durably; the list " +
      "below follows the request from node to node. A linearizable read asks the leader for a " +
      "read index first, so it is never stale; a stale read answers at once from the chosen " +
      "node's own copy, which may be behind.</p>" +
      "<p>Writes need the instructor token; anyone may read.</p>",
  },
  routing: {
    anchor: '[data-testid="routing-panel"] > h2',
    html:
      "<p>Every node computes its own forwarding table from what it has heard: the whole map and " +
      "Dijkstra (link-state), or its neighbours' distances (distance-vector). Show route follows " +
      "those tables hop by hop; Trace sends a real probe along them (instructor).</p>" +
      "<p>The matrix is the backend's global answer (Floyd-Warshall) for comparison: a cell where " +
      "a node's table disagrees is what \"not converged yet\" looks like.</p>",
  },
};

/** Add each explainer after its panel's title; call once, after the views exist. */
export function addExplanations(root = document) {
  for (const [name, { anchor, title, html }] of Object.entries(EXPLANATIONS)) {
    const target = root.querySelector(anchor);
    if (!target || root.querySelector(`[data-testid="explain-${name}"]`)) continue;
    const explainer = createExplainer(html, `explain-${name}`);
    if (title) {
      // a panel without a heading of its own (the topology) gets one
      const head = document.createElement("div");
      head.className = "panel-head";
      const h2 = document.createElement("h2");
      h2.textContent = title;
      head.append(h2, explainer);
      target.prepend(head);
    } else {
      target.after(explainer);
    }
  }
}
