/**
 * The one module that talks to the backend's Socket.IO stream and owns what
 * the page knows about the cluster.
 *
 * Why one owner: every view (topology, node table, status bar) must show the
 * same picture, and none of them should open its own connection or keep its
 * own copy of the cluster view. Views subscribe to topics here and render
 * from `lab`; they never touch the socket.
 *
 * Why the counters live on `window.clusterlab`: the browser tests and the
 * telemetry benchmark read them to measure what really reached the page
 * (events counted here, latency = Date.now() − event.t_ms, which is
 * meaningful because every process of a run shares this machine's clock).
 */
import { io } from "/vendor/socket.io-client/dist/socket.io.esm.min.js";

// The last N per-event latencies, for the status bar's p99 and for tests.
// 16384 covers about a second at the 20,000 events/s the dashboard is built for.
export const LATENCY_RING_SIZE = 16384;

// A cumulative 1 ms-bucket histogram of event-to-page latency; everything
// slower than this lands in the last bucket (a 10 s lag is already "broken").
export const LATENCY_HISTOGRAM_MAX_MS = 10_000;

// Socket.IO reconnects on its own; cap the wait so a restarted run.py is
// picked up within a few seconds during a lecture.
const RECONNECT_DELAY_MAX_MS = 3000;

/** Everything the page knows; also `window.clusterlab` for tests and benchmarks. */
export const lab = {
  socket: null,
  connection: "connecting", // connecting | connected | disconnected
  transport: null, // engine.io transport name, "websocket" when healthy
  view: null, // the latest `view` message (same shape as GET /api/cluster)
  stats: null, // the latest `stats` message from the hub
  rttMs: {}, // node -> peer -> latest LinkRtt, fresher than the view's copy
  counters: {}, // node -> latest Counters event's counters
  eventsReceived: 0,
  batchesReceived: 0,
  eventHandlingMs: 0, // main-thread time spent on events: is the page the bottleneck?
  latencies: new Float64Array(LATENCY_RING_SIZE),
  latencyWrites: 0, // total ever written; index = latencyWrites % LATENCY_RING_SIZE
  latencyHistogram: new Uint32Array(LATENCY_HISTOGRAM_MAX_MS + 1),
  transportName() {
    return this.socket?.io?.engine?.transport?.name ?? null;
  },
};
window.clusterlab = lab;

const listeners = new Map(); // topic -> Set of callbacks

/** Call `fn(payload)` on every `topic` message; returns an unsubscribe function. */
export function subscribe(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}

export function publish(topic, payload) {
  for (const fn of listeners.get(topic) ?? []) {
    try {
      fn(payload);
    } catch (err) {
      // One broken view must not stop the others from rendering.
      console.error(`clusterlab: a "${topic}" subscriber failed`, err);
    }
  }
}

/** Replace one node in the view (e.g. from a fault's REST reply) and tell the views. */
export function updateNode(node) {
  if (!lab.view || !node?.id) return;
  const nodes = lab.view.nodes.map((n) => (n.id === node.id ? { ...n, ...node } : n));
  lab.view = { ...lab.view, nodes };
  publish("view", lab.view);
}

/** Latest RTTs of `node`: LinkRtt events override the view's snapshot. */
export function rttsOf(node) {
  return { ...(node.rtt_ms ?? {}), ...(lab.rttMs[node.id] ?? {}) };
}

/** Latest counters of `node`: a Counters event overrides the view's snapshot. */
export function countersOf(node) {
  return lab.counters[node.id] ?? node.counters ?? {};
}

export function formatRtt(ms) {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(0);
}

function recordLatencies(events, nowMs) {
  const ring = lab.latencies;
  const histogram = lab.latencyHistogram;
  for (let i = 0; i < events.length; i++) {
    const latencyMs = nowMs - events[i].t_ms;
    ring[lab.latencyWrites % LATENCY_RING_SIZE] = latencyMs;
    lab.latencyWrites++;
    const bucket = latencyMs <= 0 ? 0 : Math.min(LATENCY_HISTOGRAM_MAX_MS, Math.floor(latencyMs));
    histogram[bucket]++;
  }
}

/** Keep the freshest per-node numbers; the `view` is only re-sent when a state changes. */
function rememberLatest(events) {
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.type === "LinkRtt") (lab.rttMs[e.node] ??= {})[e.peer] = e.rtt_ms;
    else if (e.type === "Counters") lab.counters[e.node] = e.counters;
  }
}

/**
 * Traffic events (MsgSent, MsgReceived, MsgDropped: thousands a second)
 * arrive as rows, `[type, field...]`, with each type's field names once per
 * batch (`batch.rows`); every other event arrives as an object. Rows halve
 * the JSON the page parses and the hub encodes; the views get objects, the
 * same as before, built here in place.
 */
// Object literals for the traffic rows as they are today: V8 builds these
// several times faster than an object filled key by key from a name list
// (measured: 0.06 against 0.27 ms per 1,000 events). Each is used only when
// the batch names the fields exactly so; a row of any other shape still
// takes the generic path, so a schema change cannot swap fields here.
const ROW_BUILDERS = {
  MsgSent: [
    "node,t_ms,src,dst,seq,kind,to,size_bytes,text",
    (r) => ({
      type: r[0],
      node: r[1],
      t_ms: r[2],
      src: r[3],
      dst: r[4],
      seq: r[5],
      kind: r[6],
      to: r[7],
      size_bytes: r[8],
      text: r[9],
    }),
  ],
  MsgReceived: [
    "node,t_ms,src,dst,seq,kind,frm,size_bytes",
    (r) => ({
      type: r[0],
      node: r[1],
      t_ms: r[2],
      src: r[3],
      dst: r[4],
      seq: r[5],
      kind: r[6],
      frm: r[7],
      size_bytes: r[8],
    }),
  ],
  MsgDropped: [
    "node,t_ms,src,dst,seq,kind,reason",
    (r) => ({
      type: r[0],
      node: r[1],
      t_ms: r[2],
      src: r[3],
      dst: r[4],
      seq: r[5],
      kind: r[6],
      reason: r[7],
    }),
  ],
};

function rowBuilder(type, names) {
  const known = ROW_BUILDERS[type];
  if (known && known[0] === names.join(",")) return known[1];
  return (row) => {
    const event = { type: row[0] };
    for (let k = 0; k < names.length; k++) event[names[k]] = row[k + 1];
    return event;
  };
}

function expandRows(events, rowFields) {
  if (!rowFields) return events;
  const builders = {};
  for (const type in rowFields) builders[type] = rowBuilder(type, rowFields[type]);
  for (let i = 0; i < events.length; i++) {
    const row = events[i];
    if (!Array.isArray(row)) continue;
    const build = builders[row[0]];
    if (build) events[i] = build(row);
  }
  return events;
}

function setConnection(connection) {
  lab.connection = connection;
  lab.transport = lab.transportName();
  publish("connection", connection);
}

/** Open the Socket.IO connection; WebSocket only, because long-polling cannot keep up. */
export function connect() {
  const socket = io({ transports: ["websocket"], reconnectionDelayMax: RECONNECT_DELAY_MAX_MS });
  lab.socket = socket;

  socket.on("connect", () => setConnection("connected"));
  socket.on("disconnect", () => setConnection("disconnected"));
  socket.on("connect_error", () => setConnection("disconnected"));

  socket.on("view", (view) => {
    lab.view = view;
    // A new view carries fresh RTTs and counters; older event values would hide them.
    lab.rttMs = {};
    lab.counters = {};
    publish("view", view);
  });

  socket.on("events", (batch) => {
    const startedMs = performance.now();
    const events = expandRows(batch?.events ?? [], batch?.rows);
    lab.batchesReceived++;
    lab.eventsReceived += events.length;
    recordLatencies(events, Date.now());
    rememberLatest(events);
    publish("events", events);
    lab.eventHandlingMs += performance.now() - startedMs;
    // Flow control: the hub sends no more than a few batches ahead of what
    // the page has handled, so a busy page sees counted drops, not lag.
    socket.emit("events_ack", batch?.seq ?? 0);
  });

  // The lesson runner's state (backend/lessons_api.py), for the narration panel.
  socket.on("lesson", (state) => publish("lesson", state));

  socket.on("stats", (stats) => {
    lab.stats = stats;
    publish("stats", stats);
  });

  return socket;
}
