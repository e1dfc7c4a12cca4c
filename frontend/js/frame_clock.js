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
// becomes every second or third dots frame. When the fastest painter that is
// due paints less often (a crowded page slows the dots down), the window is
// half of its period instead, so the slower painters still ride along.
const MERGE_MS = 21;
// requestAnimationFrame fires on the display's beat, not exactly when asked:
// wake this much before a painter is due.
const FRAME_SLACK_MS = 4;

const waiting = new Set(); // painters that asked for a frame

/** For tests and benchmarks: frames the clock asked for, and those in which no painter was due. */
export const clockCounts = { frames: 0, emptyFrames: 0 };
let framePending = false;
let timer = null;
let timerDueMs = Infinity;

function frame() {
  // framePending stays true while the painters paint: one that asks again
  // from its paint must not schedule a frame for those still to paint in
  // this one (that made every third frame of a busy page an empty one).
  const nowMs = performance.now();
  // This frame is for the painters that are due; those due soon share it.
  let fastestDuePeriodMs = Infinity; // stays so if no painter is due: nothing to paint
  for (const painter of waiting) {
    // twice the slack: a timer may fire a millisecond early
    if (painter.dueMs - 2 * FRAME_SLACK_MS <= nowMs) {
      fastestDuePeriodMs = Math.min(fastestDuePeriodMs, painter.periodMs());
    }
  }
  const due = [];
  clockCounts.frames++;
  if (fastestDuePeriodMs === Infinity) clockCounts.emptyFrames++;
  if (fastestDuePeriodMs < Infinity) {
    const mergeMs = Math.max(MERGE_MS, fastestDuePeriodMs / 2);
    for (const painter of waiting) if (painter.dueMs - mergeMs <= nowMs) due.push(painter);
  }
  for (const painter of due) {
    waiting.delete(painter);
    painter.lastMs = nowMs;
    try {
      painter.paint(nowMs);
    } catch (err) {
      console.error("clusterlab: a painter failed", err); // the others still paint
    }
  }
  framePending = false;
  schedule();
}

function wakeForFrame() {
  clearTimeout(timer); // when called before its timer fired
  timer = null;
  timerDueMs = Infinity;
  framePending = true;
  requestAnimationFrame(frame);
}

function schedule() {
  if (framePending) return;
  let dueMs = Infinity;
  for (const painter of waiting) dueMs = Math.min(dueMs, painter.dueMs);
  // A timer set for a painter that has since painted in another one's frame
  // would wake the page for nothing: the timer follows the earliest due time.
  if (timer !== null && timerDueMs !== dueMs) {
    clearTimeout(timer);
    timer = null;
    timerDueMs = Infinity;
  }
  if (dueMs === Infinity) return;
  const waitMs = dueMs - performance.now() - FRAME_SLACK_MS;
  if (waitMs <= 0) {
    wakeForFrame();
  } else if (timer === null) {
    timerDueMs = dueMs;
    timer = setTimeout(wakeForFrame, waitMs);
  }
}

/**
 * A painter: `paint(nowMs)` runs in an animation frame at most once per
 * `periodMs()` (a function: a painter may slow itself down), after each
 * `request()`.
 *
 * Why the due time is fixed when the painter asks: a period that changes
 * while the clock sleeps (the dots slow down as more fly) would move the due
 * time after the clock had set its timer for it, and the clock would wake the
 * page for a frame in which no painter is due (traced: a third of all frames).
 */
export function createPainter(paint, periodMs) {
  const painter = {
    lastMs: -Infinity,
    dueMs: Infinity,
    periodMs,
    paint,
  };
  return {
    request() {
      if (!waiting.has(painter)) {
        painter.dueMs = painter.lastMs + periodMs();
        waiting.add(painter);
      }
      schedule();
    },
  };
}
