/**
 * Every message hop of the live stream, joined once for the whole page.
 *
 * Why once: the topology draws a dot per hop and the timeline an arrow per
 * hop, and both need the same join of each MsgSent with its MsgReceived
 * (hop_join.js). Joining in each view doubled the page's per-event cost at
 * 20,000 events a second. Views register here and are called as each hop
 * completes, in the same task as the batch that completed it.
 *
 * A half that never finds its other half (the message was dropped, or the
 * hub shed its telemetry) is forgotten after one to two HALF_TTL_MS, or
 * sooner once MAX_PENDING_HALVES newer halves wait: the timeline draws a
 * forgotten send as a dashed "lost" stub.
 */
import { subscribe } from "./state.js";
import { createHopJoin } from "./hop_join.js";

// Telemetry of a hop's two ends arrives tens of ms apart; at 10,000 msgs/s
// this is about two seconds of halves.
export const MAX_PENDING_HALVES = 20_000;
// Long enough for a 50× slow-motion link with a second of injected delay.
export const HALF_TTL_MS = 60_000;

const hopListeners = [];
const lostListeners = [];
let batchNowMs = performance.now(); // read once per batch, not once per hop

const join = createHopJoin({
  maxPending: MAX_PENDING_HALVES,
  onHop(send, receive) {
    for (const fn of hopListeners) fn(send, receive, batchNowMs);
  },
  onForget(half) {
    for (const fn of lostListeners) fn(half);
  },
});
let rotatedAtMs = performance.now();

/** Call `fn(send, receive, nowMs)` for every hop joined from now on (nowMs: performance.now()). */
export function onLiveHop(fn) {
  hopListeners.push(fn);
}

/** Call `fn(half)` for every half forgotten unmatched (a MsgSent or a MsgReceived). */
export function onLiveHopLost(fn) {
  lostListeners.push(fn);
}

/** Halves waiting for their other half, for tests and the status line. */
export function pendingHalves() {
  return join.size;
}

subscribe("events", (events) => {
  batchNowMs = performance.now();
  if (batchNowMs - rotatedAtMs >= HALF_TTL_MS) {
    join.rotate();
    rotatedAtMs = batchNowMs;
  }
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.type === "MsgSent" || e.type === "MsgReceived") join.add(e);
  }
});
