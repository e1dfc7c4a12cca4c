/**
 * The status bar: is the page connected (and over which transport), how busy
 * the cluster is, how late events reach the page, and what telemetry was
 * dropped on the way.
 *
 * Why show drops so prominently: nodes drop telemetry rather than slow down
 * when the hub or the page cannot keep up (the cluster's own work comes
 * first). A picture with holes in it must say so, or students would read a
 * missing message as a lost one.
 *
 * The same goes for a read-only viewer's stream: the backend sends viewers
 * every state event but only a sample of the message events (issue #6), so
 * the "stream" field says "showing 1 in N". Which stream this page gets is
 * decided by the token, so this module also tells the server when the page
 * holds one (the `instructor` socket event, answered with the page's role);
 * the backend checks it exactly as it checks a REST request.
 */
import { lab, subscribe, LATENCY_RING_SIZE } from "./state.js";
import { instructorToken } from "./instructor.js";
import { setAttr, setText } from "./dom_write.js";

// Repainting once a second is readable; faster numbers just flicker.
const REFRESH_MS = 1000;
// The p99 lag is computed over at most this many of the latest events.
const LAG_SAMPLE_MAX = 4096;

const FIELDS = [
  ["connection", "connection"],
  ["msgs", "msgs/s"],
  ["events-hub", "events/s at hub"],
  ["events-page", "events/s in page"],
  ["lag", "event lag p99"],
  ["dropped", "telemetry dropped"],
  ["dots", "dots in flight"],
  ["stream", "stream"],
  ["time-scale", "time scale"],
];

// One formatter for every number: toLocaleString() builds a new one per call,
// which profiled at several ms a second of the page's main thread here.
const NUMBER = new Intl.NumberFormat();

function format(n) {
  return Number.isFinite(n) ? NUMBER.format(Math.round(n)) : "—";
}

/** p99 of the latencies recorded since `sinceWrites`, newest first, bounded. */
function lagP99Ms(sinceWrites) {
  const fresh = Math.min(lab.latencyWrites - sinceWrites, LAG_SAMPLE_MAX, LATENCY_RING_SIZE);
  if (fresh <= 0) return NaN;
  const sample = new Float64Array(fresh);
  for (let i = 0; i < fresh; i++) {
    sample[i] = lab.latencies[(lab.latencyWrites - 1 - i) % LATENCY_RING_SIZE];
  }
  sample.sort();
  return sample[Math.min(fresh - 1, Math.floor(fresh * 0.99))];
}

export function createStatusbar(element) {
  const cells = {};
  element.innerHTML = "";
  for (const [key, label] of FIELDS) {
    const item = document.createElement("span");
    item.className = `status-item status-${key}`;
    const name = document.createElement("span");
    name.className = "status-label";
    name.textContent = label;
    const value = document.createElement("span");
    value.className = "status-value";
    value.dataset.testid = `status-${key}`;
    value.textContent = "—";
    item.append(name, value);
    element.append(item);
    cells[key] = value;
  }

  let lastEvents = lab.eventsReceived;
  let lastWrites = lab.latencyWrites;
  let lastMs = performance.now();
  lab.eventsPerSecondInPage = 0;

  function renderConnection() {
    const transport = lab.transportName();
    // Written only when changed (dom_write.js): this runs every second and on
    // every view, and each real text change costs the page a relayout.
    setText(
      cells.connection,
      lab.connection === "connected" ? `connected · ${transport ?? "?"}` : lab.connection,
    );
    setAttr(cells.connection, "data-connection", lab.connection);
    setAttr(cells.connection, "data-transport", transport ?? "");
  }

  function renderStats() {
    const stats = lab.stats;
    setText(cells.msgs, format(stats?.msgs_per_s));
    setText(cells["events-hub"], format(stats?.events_per_s));
    const perNode = stats?.telemetry_dropped ?? {};
    const nodesDropped = Object.values(perNode).reduce((a, b) => a + b, 0);
    const hubDropped = stats?.hub_dropped ?? 0;
    setText(cells.dropped, stats ? `nodes ${format(nodesDropped)} · hub ${format(hubDropped)}` : "—");
    setAttr(
      cells.dropped,
      "title",
      Object.entries(perNode)
        .map(([node, n]) => `${node}: ${NUMBER.format(n)}`)
        .join("\n"),
    );
    cells.dropped.classList.toggle("warn", nodesDropped + hubDropped > 0);
    setText(cells["time-scale"], lab.view ? `${lab.view.time_scale}×` : "—");
  }

  let role = null; // "instructor" | "viewer", as the server answered
  let announced = false; // this connection was told a token

  /** Tell the server whether this page holds the token: the full stream, or the viewers'. */
  function announceToken() {
    const token = instructorToken();
    // A connection starts as a viewer: only a change needs saying, and saying
    // less leaves no two announcements to be handled out of order.
    if (!lab.socket || (!token && !announced)) return;
    announced = Boolean(token);
    lab.socket.emit("instructor", token ?? "", (reply) => {
      role = reply?.instructor ? "instructor" : "viewer";
      renderStream();
    });
  }

  function renderStream() {
    const cell = cells.stream;
    const stream = lab.stats?.viewer_stream;
    setAttr(cell, "data-role", role ?? "");
    if (!role || !stream) {
      setText(cell, role ?? "—");
      return;
    }
    const kept = stream.traffic_kept_per_s;
    const leftOut = stream.traffic_left_out_per_s;
    const oneIn = format((kept + leftOut) / Math.max(kept, 1));
    if (role === "instructor") {
      setText(cell, `full · ${format(stream.viewers)} viewers`);
      setAttr(cell, "title", leftOut > 0 ? `view-only pages are shown 1 in ${oneIn} messages` : "");
    } else {
      setText(cell, leftOut > 0 ? `showing 1 in ${oneIn} messages` : "every message");
      setAttr(
        cell,
        "title",
        "View-only pages get every state change but at most " +
          `${format(stream.traffic_cap_per_s)} message events/s: dots and link widths ` +
          "show that sample; msgs/s counts every message.",
      );
    }
  }

  function tick() {
    const nowMs = performance.now();
    const seconds = (nowMs - lastMs) / 1000;
    lab.eventsPerSecondInPage = (lab.eventsReceived - lastEvents) / seconds;
    setText(cells["events-page"], format(lab.eventsPerSecondInPage));
    const lag = lagP99Ms(lastWrites);
    setText(cells.lag, Number.isFinite(lag) ? `${format(lag)} ms` : "—");
    cells.lag.classList.toggle("warn", lag > 250);
    const topology = lab.topology;
    setText(
      cells.dots,
      topology ? `${topology.dotsInFlight} (sampled out ${format(topology.dotsSampledOut)})` : "—",
    );
    lastEvents = lab.eventsReceived;
    lastWrites = lab.latencyWrites;
    lastMs = nowMs;
    renderConnection();
    renderStats();
  }

  subscribe("connection", renderConnection);
  subscribe("connection", (connection) => {
    if (connection !== "connected") return;
    role = "viewer"; // every connection starts as one
    announced = false;
    announceToken();
    renderStream();
  });
  subscribe("auth", announceToken); // unlocked, or locked again
  subscribe("stats", renderStats);
  subscribe("stats", renderStream);
  subscribe("view", renderStats);
  setInterval(tick, REFRESH_MS);
  renderConnection();
}
