/**
 * The node table and the instructor's fault buttons (kill / restart / pause /
 * resume), plus the one-time instructor token prompt that unlocks them.
 *
 * Why a token at all: the dashboard is projected and shared with a room of
 * students on the same network; anyone may watch, only the instructor may
 * break things. The token is typed once, checked with GET /api/auth/check,
 * and kept in sessionStorage (gone when the tab closes). It travels only in
 * an `Authorization: Bearer` header, never in a URL, where it would end up in
 * browser history, server logs and screenshots of the address bar.
 */
import { attrs, texts } from "./dom_write.js";
import { lab, subscribe, publish, updateNode, rttsOf, formatRtt } from "./state.js";

const d3 = window.d3;

const TOKEN_KEY = "clusterlab.instructorToken";
// The RTT column refreshes at this pace rather than on every LinkRtt event.
const RTT_REFRESH_MS = 1000;

// Which fault makes sense in which state; the backend decides in the end.
const ACTIONS = [
  { action: "kill", label: "kill", allowed: ["up", "starting", "paused"] },
  { action: "restart", label: "restart", allowed: ["up", "down", "paused", "starting"] },
  { action: "pause", label: "pause", allowed: ["up"] },
  { action: "resume", label: "resume", allowed: ["paused"] },
];

function byNodeId(a, b) {
  return a.id.localeCompare(b.id, undefined, { numeric: true });
}

/** One short cell for the table: the median RTT over all peers (the card lists each). */
function rttSummary(node) {
  const values = Object.values(rttsOf(node)).sort((a, b) => a - b);
  if (node.state === "down" || values.length === 0) return "—";
  const median = values[Math.floor(values.length / 2)];
  return `${formatRtt(median)} ms`;
}

export function createControls({ rowsElement, noticeElement, tokenForm, tokenInput, modeElement, forgetButton }) {
  let token = null;
  const busy = new Set(); // nodes with a fault request in flight

  function notice(text, isError = false) {
    noticeElement.textContent = text;
    noticeElement.classList.toggle("error", isError);
  }

  function setToken(newToken) {
    token = newToken;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    document.body.classList.toggle("instructor", Boolean(token));
    document.body.classList.toggle("view-only", !token);
    modeElement.textContent = token ? "Instructor" : "View-only";
    tokenForm.hidden = Boolean(token);
    forgetButton.hidden = !token;
    publish("auth", Boolean(token));
  }

  async function checkToken(candidate) {
    const response = await fetch("/api/auth/check", {
      headers: { Authorization: `Bearer ${candidate}` },
      cache: "no-store",
    });
    return response.ok;
  }

  async function unlock(candidate, { quiet = false } = {}) {
    try {
      if (await checkToken(candidate)) {
        setToken(candidate);
        if (!quiet) notice("Controls unlocked.");
        return;
      }
      setToken(null);
      notice(quiet ? "The saved token is no longer valid; view-only." : "Wrong token.", true);
    } catch (err) {
      notice(`Could not check the token: ${err.message}`, true);
    }
  }

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault(); // the token must never be submitted as a URL query
    const candidate = tokenInput.value.trim();
    tokenInput.value = "";
    if (candidate) unlock(candidate);
  });
  forgetButton.addEventListener("click", () => {
    setToken(null);
    notice("Locked: view-only.");
  });

  async function fault(action, nodeId) {
    if (!token) return;
    busy.add(nodeId);
    render();
    notice(`${action} ${nodeId}…`);
    try {
      const response = await fetch("/api/faults", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ action, node: nodeId }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 401) {
        setToken(null);
        notice("The token was refused; view-only. Enter it again.", true);
      } else if (!response.ok) {
        notice(`${action} ${nodeId} failed: ${body.error ?? response.status}`, true);
      } else {
        notice(`${action} ${nodeId}: ${body.node?.state ?? "done"}`);
        if (body.node) updateNode(body.node);
      }
    } catch (err) {
      notice(`${action} ${nodeId} failed: ${err.message}`, true);
    } finally {
      busy.delete(nodeId);
      render();
    }
  }

  function render() {
    const nodes = [...(lab.view?.nodes ?? [])].sort(byNodeId);
    const rows = d3
      .select(rowsElement)
      .selectAll("tr")
      .data(nodes, (n) => n.id)
      .join((enter) => {
        const tr = enter.append("tr");
        tr.append("td").attr("class", "cell-id");
        tr.append("td").attr("class", "cell-state").append("span").attr("class", "badge");
        tr.append("td").attr("class", "cell-pid");
        tr.append("td").attr("class", "cell-rtt");
        const actions = tr.append("td").attr("class", "node-actions");
        for (const { action, label } of ACTIONS) {
          actions
            .append("button")
            .attr("type", "button")
            .attr("data-action", action)
            .attr("class", `action action-${action}`)
            .text(label);
        }
        tr.on("click", (event, n) => {
          if (!event.target.closest("button")) publish("select", n.id);
        });
        return tr;
      })
      // the view comes every second, mostly unchanged: write only what changed (dom_write.js)
      .call(attrs, "data-row", (n) => n.id)
      .call(attrs, "data-state", (n) => n.state);

    rows.select(".cell-id").call(texts, (n) => n.id);
    rows
      .select(".badge")
      .call(attrs, "data-state", (n) => n.state)
      .call(texts, (n) => n.state);
    rows.select(".cell-pid").call(texts, (n) => (n.state === "down" ? "—" : (n.pid ?? "—")));
    rows.select(".cell-rtt").call(texts, rttSummary).call(attrs, "title", (n) => {
      const all = Object.entries(rttsOf(n)).map(([peer, ms]) => `${peer}: ${formatRtt(ms)} ms`);
      return all.join("\n");
    });
    rows.each(function (n) {
      d3.select(this)
        .selectAll("button[data-action]")
        .call(attrs, "data-node", n.id)
        .call(attrs, "data-testid", function () {
          return `${this.dataset.action}-${n.id}`;
        })
        .property("disabled", function () {
          const spec = ACTIONS.find((a) => a.action === this.dataset.action);
          return busy.has(n.id) || !spec.allowed.includes(n.state);
        })
        .on("click", function () {
          fault(this.dataset.action, n.id);
        });
    });
  }

  subscribe("view", render);
  // A reconnect may mean run.py was restarted with a new token: check ours again.
  subscribe("connection", (connection) => {
    if (connection === "connected" && token) unlock(token, { quiet: true });
  });
  setInterval(() => {
    d3.select(rowsElement).selectAll("tr").select(".cell-rtt").call(texts, rttSummary);
  }, RTT_REFRESH_MS);

  const saved = sessionStorage.getItem(TOKEN_KEY); // read before setToken clears it
  setToken(null);
  if (saved) unlock(saved, { quiet: true });
  render();
}
