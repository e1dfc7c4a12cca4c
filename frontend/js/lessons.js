/**
 * The narration panel: pick a lesson, then step through it with the class.
 *
 * Why in the dashboard: a lesson is taught on the projected page. The panel
 * shows what the backend's runner is doing (backend/lessons/runner.py): the
 * current step's title and narration — with `{leader}` already replaced by
 * the node that leads in this run — the actions it performed and what each
 * answered, what it waited for, and a ✓ or ✗ for every check with what was
 * actually seen. Start, Next, Play and Reset need the instructor token; a
 * student without it watches the same narration, pushed to every page as a
 * Socket.IO `lesson` message (state.js forwards it as a topic).
 */
import { subscribe } from "./state.js";
import { escapeHtml, notify, postAsInstructor } from "./instructor.js";
import { createExplainer } from "./explain.js";

const EXPLAIN = `
  <p>A <b>lesson</b> is a ready-made experiment (a file in <code>scenarios/</code>). Each step
  says what is about to happen, then performs its action on the real cluster — kill the
  leader, partition the network, write a key — waits for what should follow (a new leader,
  a follower caught up) and checks what the class should have seen.</p>
  <p>✓ means the cluster did what the narration says; ✗ shows what was seen instead.
  <b>Next</b> runs one step, <b>Play</b> the rest, <b>Reset</b> heals every fault and puts the
  topology, time scale and placement back. The same lesson runs from a terminal:
  <code>clusterlab lesson NAME</code>.</p>`;

const STATUS_TEXT = {
  idle: "no lesson loaded",
  ready: "ready",
  running: "running a step…",
  playing: "playing…",
  resetting: "resetting the cluster…",
  done: "finished",
};

function mark(ok) {
  if (ok === null || ok === undefined) return `<span class="lesson-mark pending">…</span>`;
  return ok ? `<span class="lesson-mark ok">✓</span>` : `<span class="lesson-mark bad">✗</span>`;
}

function waitLine(label, wait) {
  if (!wait) return "";
  const took = wait.ok === null ? `(at most ${wait.timeout_s} s)…`
    : wait.ok ? `: ${wait.elapsed_s} s` : `: gave up after ${wait.elapsed_s} s`;
  return `<li class="lesson-wait">${mark(wait.ok)} ${label} ${escapeHtml(wait.text)}${took}` +
    (wait.detail ? ` <span class="muted">— ${escapeHtml(wait.detail)}</span>` : "") + `</li>`;
}

function stepDetails(step) {
  const rows = [waitLine("first waited for", step.before)];
  for (const action of step.actions) {
    const answer = action.ok === null ? "" : action.ok ? " — ok" : ` — refused: ${escapeHtml(action.error ?? "")}`;
    const expected = action.ok === null || action.expect === "any" || action.ok === (action.expect !== "fail");
    rows.push(`<li class="lesson-action" data-testid="lesson-action">${mark(action.ok === null ? null : expected)} ` +
      `${escapeHtml(action.text)}${answer}</li>`);
  }
  rows.push(waitLine("waited for", step.wait));
  for (const check of step.checks) {
    rows.push(`<li class="lesson-check" data-testid="lesson-check" data-ok="${check.ok}">${mark(check.ok)} ` +
      `${escapeHtml(check.message)} <span class="muted">— ${escapeHtml(check.detail)}</span></li>`);
  }
  if (step.state === "failed" && step.error) {
    rows.push(`<li class="lesson-error">${mark(false)} ${escapeHtml(step.error)}</li>`);
  }
  return rows.join("");
}

export function createLessons({ panelContainer, insertBefore, noticeElement }) {
  const section = document.createElement("section");
  section.className = "lessons-panel";
  section.dataset.testid = "lessons-panel";
  section.innerHTML = `
    <h2>Lesson <span class="lesson-status" data-testid="lesson-status">no lesson loaded</span></h2>
    <div class="lesson-pick">
      <select data-testid="lesson-select" aria-label="Lesson"></select>
      <button type="button" data-testid="lesson-start" data-needs-token>Start</button>
    </div>
    <div class="lesson-current" hidden>
      <div class="lesson-title" data-testid="lesson-title"></div>
      <ol class="lesson-progress" data-testid="lesson-progress"></ol>
      <h3 class="lesson-step-title" data-testid="lesson-step-title"></h3>
      <p class="lesson-narration" data-testid="lesson-narration"></p>
      <ul class="lesson-results" data-testid="lesson-results"></ul>
      <div class="lesson-buttons" data-needs-token>
        <button type="button" data-testid="lesson-next">Next step</button>
        <button type="button" data-testid="lesson-play">Play</button>
        <button type="button" data-testid="lesson-reset">Reset</button>
      </div>
    </div>`;
  panelContainer.insertBefore(section, insertBefore ?? panelContainer.firstChild);
  section.querySelector("h2").after(createExplainer(EXPLAIN, "explain-lessons"));

  const select = section.querySelector("[data-testid=lesson-select]");
  const current = section.querySelector(".lesson-current");
  const statusEl = section.querySelector("[data-testid=lesson-status]");
  const buttons = {
    start: section.querySelector("[data-testid=lesson-start]"),
    next: section.querySelector("[data-testid=lesson-next]"),
    play: section.querySelector("[data-testid=lesson-play]"),
    reset: section.querySelector("[data-testid=lesson-reset]"),
  };
  let latest = { status: "idle", version: -1 };

  async function loadCatalogue() {
    try {
      const lessons = await (await fetch("/api/scenarios", { cache: "no-store" })).json();
      select.innerHTML = lessons
        .map((l) => `<option value="${escapeHtml(l.name)}"${l.error ? " disabled" : ""}>` +
          `${escapeHtml(l.title)}${l.error ? " (broken file)" : ` · ${l.steps} steps`}</option>`)
        .join("");
    } catch (err) {
      notify(noticeElement, `Could not list the lessons: ${err.message}`, true);
    }
  }

  async function refresh() {
    try {
      render(await (await fetch("/api/scenarios/current", { cache: "no-store" })).json());
    } catch {
      // the socket will bring the next state
    }
  }

  async function command(path, body, what) {
    const answer = await postAsInstructor(path, body);
    if (!answer.ok) {
      notify(noticeElement, `${what}: ${answer.body.error ?? answer.status}`, true);
      return;
    }
    render(answer.body);
  }

  buttons.start.addEventListener("click", () =>
    command(`/api/scenarios/${encodeURIComponent(select.value)}/run`, {}, "Start the lesson"));
  buttons.next.addEventListener("click", () => command("/api/scenarios/current/next", {}, "Next step"));
  buttons.play.addEventListener("click", () => command("/api/scenarios/current/play", {}, "Play"));
  buttons.reset.addEventListener("click", () => command("/api/scenarios/current/reset", {}, "Reset"));

  function render(state) {
    // Pushed states and command replies can cross; never go back to an older one.
    if (!state || (state.version ?? 0) < (latest.version ?? -1)) return;
    latest = state;
    const busy = ["running", "playing", "resetting"].includes(state.status);
    section.dataset.status = state.status;
    statusEl.textContent = STATUS_TEXT[state.status] ?? state.status;
    buttons.start.disabled = busy;
    current.hidden = !state.scenario;
    if (!state.scenario) return;
    if (select.value !== state.scenario && !busy) select.value = state.scenario;
    section.querySelector("[data-testid=lesson-title]").textContent = state.title;
    const progress = section.querySelector("[data-testid=lesson-progress]");
    progress.innerHTML = state.steps
      .map((s) => `<li data-state="${s.state}" title="${escapeHtml(s.title || `step ${s.number}`)}"></li>`)
      .join("");
    const step = state.steps.find((s) => s.number === state.step);
    section.querySelector("[data-testid=lesson-step-title]").textContent = step
      ? `Step ${step.number} of ${state.steps_total}${step.title ? ` — ${step.title}` : ""}`
      : "Before the first step";
    section.querySelector("[data-testid=lesson-narration]").textContent = step ? step.narration : state.summary;
    section.querySelector("[data-testid=lesson-results]").innerHTML = step ? stepDetails(step) : "";
    const over = state.step >= state.steps_total && state.status === "done";
    buttons.next.disabled = busy || over;
    buttons.play.disabled = busy || over;
    buttons.reset.disabled = state.status === "resetting";
    if (state.status === "done") {
      const passed = state.steps.filter((s) => s.state === "passed").length;
      statusEl.textContent = `finished: ${passed} of ${state.steps_total} steps passed`;
    }
  }

  subscribe("lesson", render);
  subscribe("connection", (connection) => {
    if (connection === "connected") refresh();
  });
  loadCatalogue();
  refresh();
}
