/**
 * The chaos toggle: start a seeded random fault schedule, watch it unfold.
 *
 * Why a seed in the page: the nemesis (cluster/core/nemesis.py) is a pure
 * function of its seed, so a run that did something surprising can be
 * replayed exactly — here, or with `clusterlab chaos --seed N`. The list
 * shows the whole schedule at once, ticking off each fault as the backend
 * sends it (the timeline marks the same `ChaosAction` events). Stopping, or
 * the end of the schedule, heals everything.
 */
import { subscribe } from "./state.js";
import { escapeHtml, notify, postAsInstructor } from "./instructor.js";
import { createExplainer } from "./explain.js";

const POLL_MS = 1000; // while a run is on: the list ticks at this pace
const DEFAULT_DURATION_S = 60;

const EXPLAIN = `
  <p><b>Chaos</b> breaks the cluster at random, like Jepsen's nemesis: it kills and
  restarts nodes, pauses them, partitions the network and slows or loses frames on links,
  each fault undone a few seconds later, and heals everything at the end.</p>
  <p>The schedule is drawn from the <b>seed</b>: the same seed gives the same faults at the
  same moments, so a run that broke something can be replayed. At most a minority of nodes is
  down at once, so a correct cluster keeps serving most of the time. Slow motion stretches
  the schedule.</p>`;

export function createChaosPanel({ panelContainer, insertBefore, noticeElement }) {
  const section = document.createElement("section");
  section.className = "chaos-panel";
  section.dataset.testid = "chaos-panel";
  section.innerHTML = `
    <h2>Chaos <span class="chaos-state" data-testid="chaos-state" data-on="false">off</span></h2>
    <div class="chaos-controls" data-needs-token>
      <label>seed <input type="number" min="0" step="1" value="1" data-testid="chaos-seed"></label>
      <label>for <input type="number" min="5" step="5" value="${DEFAULT_DURATION_S}" data-testid="chaos-duration"> s</label>
      <button type="button" data-testid="chaos-toggle">Start chaos</button>
    </div>
    <ol class="chaos-schedule" data-testid="chaos-schedule"></ol>`;
  panelContainer.insertBefore(section, insertBefore ?? null);
  section.querySelector("h2").after(createExplainer(EXPLAIN, "explain-chaos"));

  const toggle = section.querySelector("[data-testid=chaos-toggle]");
  const stateEl = section.querySelector("[data-testid=chaos-state]");
  const list = section.querySelector("[data-testid=chaos-schedule]");
  let on = false;
  let timer = null;

  function render(state) {
    on = Boolean(state.on);
    stateEl.dataset.on = String(on);
    stateEl.textContent = on ? `seed ${state.seed}: ${state.done} of ${state.schedule.length}` :
      state.seed === null || state.seed === undefined ? "off" : `off (last: seed ${state.seed})`;
    toggle.textContent = on ? "Stop chaos" : "Start chaos";
    const started = state.started_ms ?? 0;
    list.innerHTML = (state.schedule ?? [])
      .map((e) => {
        const at = started ? ((e.t_ms - started) / 1000).toFixed(1) : e.at_s.toFixed(1);
        const result = e.done ? (e.ok ? "✓" : `✗ ${escapeHtml(e.error ?? "")}`) : "";
        return `<li data-done="${e.done}" data-undo="${e.undo}"><span class="chaos-at">${at} s</span> ` +
          `${escapeHtml(e.text)} <span class="chaos-result">${result}</span></li>`;
      })
      .join("");
    clearTimeout(timer);
    if (on) timer = setTimeout(refresh, POLL_MS);
  }

  async function refresh() {
    try {
      render(await (await fetch("/api/chaos", { cache: "no-store" })).json());
    } catch {
      // retried on the next chaos event or reconnect
    }
  }

  toggle.addEventListener("click", async () => {
    const body = on ? { on: false } : {
      on: true,
      seed: Number(section.querySelector("[data-testid=chaos-seed]").value),
      duration_s: Number(section.querySelector("[data-testid=chaos-duration]").value),
    };
    const answer = await postAsInstructor("/api/chaos", body);
    if (!answer.ok) {
      notify(noticeElement, `Chaos: ${answer.body.error ?? answer.status}`, true);
      return;
    }
    notify(noticeElement, on ? "Chaos stopped: healing everything." : `Chaos started (seed ${body.seed}).`);
    render(answer.body);
  });

  subscribe("events", (events) => {
    if (events.some((e) => e.type?.startsWith("Chaos"))) refresh();
  });
  subscribe("connection", (connection) => {
    if (connection === "connected") refresh();
  });
  refresh();
}
