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
import { createTimeline } from "./timeline.js";
import { addExplanations } from "./explanations.js";
import { createFaultViews } from "./faults_ui.js";
import { startFiles } from "./files_data.js";
import { createFiles } from "./files.js";
import { createRing } from "./ring.js";
import { createPlacementChart } from "./placement_chart.js";
import { createLessons } from "./lessons.js";
import { createChaosPanel } from "./chaos_panel.js";

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
createFaultViews({
  panelContainer: document.querySelector(".side-panel"),
  linksElement: byId("topology-links"),
  nodesElement: byId("topology"),
  noticeElement: byId("notice"),
});
createRouting({
  panelContainer: document.querySelector(".side-panel"),
  linksElement: byId("topology-links"),
  nodesElement: byId("topology"),
  noticeElement: byId("notice"),
});

createFiles({
  panelContainer: document.querySelector(".side-panel"),
  dropTargets: [document.querySelector(".topology-stage")],
});
createRing({ panelContainer: document.querySelector(".side-panel") });
createPlacementChart({ panelContainer: document.querySelector(".side-panel") });
startFiles(); // after the file views subscribed, so they hear the first refresh

// The lesson's narration goes first in the side panel: it is what the class reads.
const sidePanel = document.querySelector(".side-panel");
createLessons({ panelContainer: sidePanel, insertBefore: sidePanel.firstChild, noticeElement: byId("notice") });
createChaosPanel({ panelContainer: sidePanel, noticeElement: byId("notice") });

createTimeline({ container: document.querySelector(".topology-panel"), noticeElement: byId("notice") });
addExplanations(); // after every view built its panel

const slowMotion = byId("slow-motion");
slowMotion.addEventListener("change", () => topology.setSlowMotion(slowMotion.value));

subscribe("view", (view) => {
  byId("run-id").textContent = view.run_id ? `run ${view.run_id}` : "";
});

connect();
lab.ready = true;
