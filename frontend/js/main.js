/**
 * Wires the dashboard together: the state module opens the socket, and each
 * view module is handed the part of the page it draws into.
 *
 * Why the views are created before the socket connects: the first `view`
 * message arrives right after the connection opens, and every view must
 * already be subscribed to catch it.
 */
import { connect, lab, subscribe } from "./state.js";
import { createTopology } from "./topology.js";
import { createControls } from "./controls.js";
import { createDetails } from "./details.js";
import { createStatusbar } from "./statusbar.js";
import { createRouting } from "./routing.js";
import { createRaft } from "./raft.js";

const byId = (id) => document.getElementById(id);

const topology = createTopology({
  linksElement: byId("topology-links"),
  dotsElement: byId("dots"),
  nodesElement: byId("topology"),
  legendElement: byId("legend"),
});
createControls({
  rowsElement: byId("node-rows"),
  noticeElement: byId("notice"),
  tokenForm: byId("token-form"),
  tokenInput: byId("token-input"),
  modeElement: byId("mode"),
  forgetButton: byId("token-forget"),
});
createDetails(byId("details"));
createRaft({
  panelContainer: document.querySelector(".side-panel"),
  insertAfter: byId("details"),
  nodesElement: byId("topology"),
  noticeElement: byId("notice"),
});
createStatusbar(byId("statusbar"));
createRouting({
  panelContainer: document.querySelector(".side-panel"),
  linksElement: byId("topology-links"),
  nodesElement: byId("topology"),
  noticeElement: byId("notice"),
});

const slowMotion = byId("slow-motion");
slowMotion.addEventListener("change", () => topology.setSlowMotion(slowMotion.value));

subscribe("view", (view) => {
  byId("run-id").textContent = view.run_id ? `run ${view.run_id}` : "";
});

connect();
lab.ready = true;
