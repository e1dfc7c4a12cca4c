/**
 * Joins the two halves of each message hop: the MsgSent its sender reported
 * and the MsgReceived its receiver reported, which reach the page in either
 * order, usually tens of milliseconds apart, in different batches.
 *
 * Why numbers for keys: this runs for every traffic event, 20,000 a second
 * on a busy cluster. A hop is named by its message (`src#seq`) and its two
 * ends; building that as a string for every event, and hashing it, was a
 * large part of the page's per-event cost and of its garbage. The message
 * alone, as the number seq × MAX_SOURCES + the source's index, names the
 * hop in almost every case: a direct message has one hop. The rare second
 * hop of a forwarded message that is in flight at the same time as its first
 * goes to a small map keyed by the full string, as does everything from more
 * than MAX_SOURCES sources.
 *
 * Halves wait in two generations (generations.js): one that waits too long
 * (its other half was dropped, by a fault or as telemetry the hub shed) is
 * handed to `onForget` when its generation goes, after between one and two
 * `rotate()` periods or `maxPending / 2` newer halves.
 */
import { createGenerations } from "./generations.js";

// Distinct message sources given a number; beyond this, the slow path. The
// dashboard draws clusters of up to 50 nodes.
const MAX_SOURCES = 64;

function fromOf(half) {
  return half.type === "MsgSent" ? half.node : half.frm;
}

function toOf(half) {
  return half.type === "MsgSent" ? half.to : half.node;
}

function stringKey(event) {
  return `${event.src}#${event.seq}|${fromOf(event)}>${toOf(event)}`;
}

/** `onHop(send, receive)` for each joined hop; `onForget(half)` for each half that never matched. */
export function createHopJoin({ maxPending, onHop, onForget = null }) {
  const sourceIndex = new Map(); // src -> 0..MAX_SOURCES-1
  const pending = createGenerations(maxPending, onForget && ((_key, half) => onForget(half)));
  // The slow path: hop key string -> half. Bounded like `pending`, rotated with it.
  const spill = createGenerations(maxPending, onForget && ((_key, half) => onForget(half)));

  function numberKey(event) {
    let index = sourceIndex.get(event.src);
    if (index === undefined) {
      if (sourceIndex.size >= MAX_SOURCES || !Number.isInteger(event.seq)) return null;
      index = sourceIndex.size;
      sourceIndex.set(event.src, index);
    }
    return event.seq * MAX_SOURCES + index;
  }

  function matches(a, b) {
    return a.type !== b.type && fromOf(a) === fromOf(b) && toOf(a) === toOf(b);
  }

  function joined(half, other) {
    if (half.type === "MsgSent") onHop(half, other);
    else onHop(other, half);
  }

  function addSlow(half) {
    const key = stringKey(half);
    const other = spill.get(key);
    if (other !== undefined && other.type !== half.type) {
      spill.delete(key);
      joined(half, other);
    } else {
      spill.set(key, half);
    }
  }

  return {
    /** A MsgSent or a MsgReceived. */
    add(half) {
      const key = numberKey(half);
      if (key === null) {
        addSlow(half);
        return;
      }
      const other = pending.get(key);
      if (other === undefined) {
        // its other half may have been filed on the slow path (a second hop in flight)
        if (spill.size > 0 && spill.get(stringKey(half)) !== undefined) addSlow(half);
        else pending.set(key, half);
      } else if (matches(half, other)) {
        pending.delete(key);
        joined(half, other);
      } else if (other.type === half.type && fromOf(other) === fromOf(half) && toOf(other) === toOf(half)) {
        pending.set(key, half); // the same half again (a duplicated frame): the newer one waits
      } else {
        addSlow(half); // another hop of the same message
      }
    },
    get size() {
      return pending.size + spill.size;
    },
    /** Start a new generation: halves older than the previous one are forgotten. */
    rotate() {
      pending.rotate();
      spill.rotate();
    },
  };
}
