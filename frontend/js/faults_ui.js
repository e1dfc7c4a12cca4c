/**
 * Wires the fault views (issue 6) into the page with one call from main.js:
 * the active-fault feed, the hold panel, the Faults panel with its partition
 * editor, the marks on the topology and the right-click menus.
 *
 * Why one entry point: main.js is shared by every view of the dashboard;
 * the fault views need each other's order (the feed before the marks, the
 * hold panel above the fault list), which is decided here, once.
 */
import { startFaultsFeed } from "./faults_state.js";
import { createHoldPanel } from "./hold.js";
import { createFaultsPanel } from "./faultlist.js";
import { createFaultMarks } from "./fault_marks.js";
import { createFaultMenu } from "./faultmenu.js";
import { injectFaultStyles } from "./instructor.js";

export function createFaultViews({ panelContainer, linksElement, nodesElement, noticeElement }) {
  injectFaultStyles();
  startFaultsFeed();
  createHoldPanel({ panelContainer, nodesElement, noticeElement });
  createFaultsPanel({ panelContainer, linksElement, nodesElement, noticeElement });
  createFaultMarks({ linksElement, nodesElement });
  createFaultMenu({ linksElement, nodesElement, noticeElement });
}
