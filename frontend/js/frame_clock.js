/**
 * One clock for the page's animated canvases: the topology's moving dots
 * and the live timeline paint in the same animation frames.
 *
 * Why: a canvas that changes costs the page a whole frame, whatever else
 * did: style, paint, a commit to the compositor and a composite (traced in
 * headless Chromium: about 3 ms of the main thread, and more in the
 * compositor). Painting the dots 24 times a second and the timeline 10
 * times a second, each on its own timer, made 34 frames a second; painted
 * by one clock, a timeline repaint rides along with a dots frame, and the
 * page makes as many frames as its fastest painter needs.
 *
 * A painter asks for a frame with `request()`; the clock sleeps (a timer,
 * not a frame every 16 ms) until the earliest painter is due, then in one
 * requestAnimationFrame runs it and every other painter that would be due
 * within MERGE_MS. A painter that wants to go on asks again from its paint.
 */

// Run a painter up to this early to share a frame with another one: half a
// frame of the dots' 24 per second, so the timeline's tenth of a second
// becomes every second or third dots frame.
const MERGE_MS = 21;
// requestAnimationFrame fires on the display's beat, not exactly when asked:
// wake this much before a painter is due.
const FRAME_SLACK_MS = 4;

const waiting = new Set(); // painters that asked for a frame
let framePending = false;
let timer = null;
let timerDueMs = Infinity;

function frame() {
  framePending = false;
  const nowMs = performance.now();
  // This frame is for the painters that are due; those due soon share it.
  let anyDue = false;
  for (const painter of waiting) if (painter.dueMs() - FRAME_SLACK_MS <= nowMs) anyDue = true;
  const due = [];
  if (anyDue) for (const painter of waiting) if (painter.dueMs() - MERGE_MS <= nowMs) due.push(painter);
  for (const painter of due) {
    waiting.delete(painter);
    painter.lastMs = nowMs;
    try {
      painter.paint(nowMs);
    } catch (err) {
      console.error("clusterlab: a painter failed", err); // the others still paint
    }
  }
  schedule();
}

function wakeForFrame() {
  timer = null;
  timerDueMs = Infinity;
  framePending = true;
  requestAnimationFrame(frame);
}

function schedule() {
  if (framePending || waiting.size === 0) return;
  let dueMs = Infinity;
  for (const painter of waiting) dueMs = Math.min(dueMs, painter.dueMs());
  const waitMs = dueMs - performance.now() - FRAME_SLACK_MS;
  if (waitMs <= 0) {
    clearTimeout(timer);
    wakeForFrame();
  } else if (dueMs < timerDueMs) {
    clearTimeout(timer);
    timerDueMs = dueMs;
    timer = setTimeout(wakeForFrame, waitMs);
  }
}

/**
 * A painter: `paint(nowMs)` runs in an animation frame at most once per
 * `periodMs()` (a function: a painter may slow itself down), after each
 * `request()`.
 */
export function createPainter(paint, periodMs) {
  const painter = {
    lastMs: -Infinity,
    dueMs: () => painter.lastMs + periodMs(),
    paint,
  };
  return {
    request() {
      waiting.add(painter);
      schedule();
    },
  };
}
