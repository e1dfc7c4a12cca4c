/**
 * "What am I looking at?": a short explanation that any panel can carry,
 * folded away by default.
 *
 * Why folded: the dashboard is projected for a whole lecture; the panels must
 * stay compact for the instructor who knows them, while a student on a laptop
 * (or the instructor in week one) opens the note once and reads what the
 * colours, shapes and numbers mean. A native <details> element needs no
 * script to open and close, works with the keyboard, and is readable by
 * screen readers.
 *
 * Why its own module: every panel should explain itself the same way (issue 6
 * asks for it everywhere), so the look and the markup live here, once.
 */

let stylesInjected = false;

function injectStyles() {
  if (stylesInjected || document.querySelector("link[data-explain-css]")) return;
  stylesInjected = true;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/css/explain.css";
  link.dataset.explainCss = "";
  document.head.append(link);
}

/**
 * A folded "What am I looking at?" note. `html` is trusted markup written in
 * this code base (never text from the network); `testid` names it for tests.
 */
export function createExplainer(html, testid) {
  injectStyles();
  const details = document.createElement("details");
  details.className = "explain";
  if (testid) details.dataset.testid = testid;
  const summary = document.createElement("summary");
  summary.textContent = "What am I looking at?";
  const body = document.createElement("div");
  body.className = "explain-body";
  body.innerHTML = html;
  details.append(summary, body);
  return details;
}
