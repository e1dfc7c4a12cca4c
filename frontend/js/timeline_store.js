/**
 * What the timeline draws, kept in a form that is cheap to query by time.
 *
 * A space-time diagram needs each message hop as ONE arrow, from its send to
 * its receive. Telemetry gives the two halves separately (MsgSent at the
 * sender, MsgReceived at the receiver, in different batches that may arrive
 * in either order), so they are joined on `src#seq` plus the hop's two ends
 * (hop_join.js): by the store itself for a recorded history, once for the
 * whole page for the live stream (live_hops.js, shared with the topology's
 * dots). The send carries the message's canonical text
 * (`n1→n3 AppendEntries t3 i7..9 c6`), shown on hover.
 *
 * Why buckets: at thousands of messages a second the store holds hundreds of
 * thousands of hops, and a frame must find the few thousand inside its time
 * window without scanning them all. Hops are filed by send time in
 * BUCKET_MS buckets; a window touches only its own buckets (plus the short
 * list of long flights, which start before the window they end in).
 *
 * Why ingest copies nothing: the live page feeds every telemetry event
 * through here, 20,000 a second on a busy cluster, and most arrows are never
 * drawn (at most MAX_ARROWS_DRAWN per frame) or hovered. A hop keeps the
 * send event itself and reads its id, text and size only when asked.
 *
 * Everything is bounded: past MAX_HOPS the oldest bucket is forgotten and
 * counted (`evicted`); a send whose receive never came is, after
 * LOST_AFTER_MS to twice that of event time, kept as a "lost" stub (dropped
 * by a fault, or its receive's telemetry was dropped).
 *
 * Why a change watermark: the live timeline scrolls the pixels it already
 * painted and paints only the newest strip. That is right only while nothing
 * arrives that belongs to the part already painted (a hop whose receive came
 * late, a drop, a role change), so the store remembers the earliest time
 * touched by anything added or forgotten since the timeline last asked
 * (`takeEarliestChangeMs`).
 */
import { createHopJoin } from "./hop_join.js";

// About 50 MB (measured in Node: a small hop object plus the send event it
// keeps): minutes of a quiet cluster, seconds of a busy one.
export const MAX_HOPS = 200_000;
export const BUCKET_MS = 1000;
// Half-hops waiting for their other half (telemetry of two nodes arrives
// tens of ms apart; a hop slowed by an injected delay waits longer).
const MAX_PENDING = 20_000;
// A send without a receive for this long (event time) is shown as lost. Long
// enough for a 50× slow-motion link with a second of injected delay.
export const LOST_AFTER_MS = 60_000;
// The other kinds of marks, each capped: far fewer than hops in any lesson.
const MAX_LONG_HOPS = 5_000;
const MAX_MARKS = 20_000;
const MAX_CHANGES_PER_NODE = 5_000;
// A dropped message's text is looked for among the hops it made before it
// was dropped: a forwarded message is dropped within a few buckets of its sends.
const TEXT_SEARCH_BUCKETS = 3;
const at = (x) => x.t;

// Nodes that are not nodes: records the backend itself adds (a lesson step,
// a chaos fault). They are drawn across every lane, not as a lane of their own.
export const CLUSTER_WIDE = new Set(["", "hub", "backend"]);

/** One message hop: the send event itself, and when and where it arrived. */
class Hop {
  constructor(send, receive, n) {
    this.s = send.t_ms;
    this.r = receive.t_ms;
    this.b = receive.node;
    this.send = send;
    this.n = n; // joined n-th: a sample that stays the same as the window moves
  }

  get a() {
    return this.send.node;
  }

  get kind() {
    return this.send.kind;
  }

  get id() {
    return `${this.send.src}#${this.send.seq}`;
  }

  get text() {
    const send = this.send;
    return send.text || `${send.src}→${send.dst} ${send.kind}`;
  }

  get size() {
    return this.send.size_bytes;
  }
}

// Trims in steps of a quarter of ``max``: one splice per max/4 pushes. A splice
// per push shifts the whole array on every event once it is full, and when the
// page falls behind (many sends without their receives become "lost") that
// cost grows with the backlog and the page falls further behind.
// Returns what it trimmed (or null): forgetting something is a change too.
function capArray(array, max) {
  return array.length > max + (max >> 2) ? array.splice(0, array.length - max) : null;
}

/** [earliest, latest] of `when(x)` over a list that is mostly, not strictly, in time order. */
function timeSpan(list, when) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of list) {
    lo = Math.min(lo, when(x));
    hi = Math.max(hi, when(x));
  }
  return [lo, hi];
}

/**
 * A store for a timeline. `joinHops: false` for the live page, whose hops
 * are joined once for every view (live_hops.js) and handed in with
 * `addHop` and `addLost`; a recorded history joins its own.
 */
export function createTimelineStore({ joinHops = true } = {}) {
  const buckets = new Map(); // bucket index -> [Hop], in the order they were joined
  const join = joinHops
    ? createHopJoin({ maxPending: MAX_PENDING, onHop: addHop, onForget: lost })
    : null;
  let joinSinceMs = -Infinity; // event time when the join's young generation began
  let longHops = [];
  let losts = []; // {t, a, b, kind, text, id}: sends that never arrived
  let drops = []; // {t, node, id, kind, reason, dst, src, seq}
  let marks = []; // {t, node, kind, text}
  const roles = new Map(); // node -> [{t, role, term}] (changes only)
  const states = new Map(); // node -> [{t, state}]
  const nodes = new Set();
  let hopsJoined = 0;
  // the change watermark: the earliest time touched since the timeline last
  // asked, by anything that reaches `changeFloorMs` or later (older things
  // are off its screen: a send expired as lost a minute after it was made)
  let changedFromMs = Infinity;
  let changeFloorMs = -Infinity;
  const store = {
    hopCount: 0,
    evicted: 0,
    tMin: Infinity,
    tMax: -Infinity,
    raw: null, // when kept (a replay), every event in time order, for playback
  };

  function seeTime(t) {
    if (t < store.tMin) store.tMin = t;
    if (t > store.tMax) store.tMax = t;
  }

  /** Something touching [fromMs, toMs] was added or forgotten. */
  function changed(fromMs, toMs) {
    if (fromMs < changedFromMs && toMs >= changeFloorMs) changedFromMs = fromMs;
  }

  function forgot(list, from, to) {
    if (!list) return;
    const [lo] = timeSpan(list, from);
    const [, hi] = timeSpan(list, to);
    changed(lo, hi);
  }

  /** Keep `item` (a moment: lost, drop, mark) in `list`, at most MAX_MARKS of them. */
  function pushMoment(list, item) {
    list.push(item);
    changed(item.t, item.t);
    forgot(capArray(list, MAX_MARKS), at, at);
  }

  function seeNode(node) {
    if (typeof node === "string" && !CLUSTER_WIDE.has(node)) nodes.add(node);
  }

  let lastIndex = NaN; // the bucket the previous hop went into: usually this one's too
  let lastBucket = null;

  function addHop(send, receive) {
    const hop = new Hop(send, receive, hopsJoined++);
    changed(hop.s, hop.r);
    const index = Math.floor(hop.s / BUCKET_MS);
    if (index !== lastIndex) {
      lastBucket = buckets.get(index);
      if (!lastBucket) {
        lastBucket = [];
        buckets.set(index, lastBucket);
      }
      lastIndex = index;
    }
    lastBucket.push(hop);
    store.hopCount++;
    if (hop.r - hop.s > BUCKET_MS) {
      longHops.push(hop);
      forgot(capArray(longHops, MAX_LONG_HOPS), (h) => h.s, (h) => h.r);
    }
    while (store.hopCount > MAX_HOPS) evictOldestBucket();
  }

  function evictOldestBucket() {
    if (buckets.size === 0) {
      store.hopCount = 0; // cannot happen: every counted hop is in a bucket
      return;
    }
    let oldest = Infinity;
    for (const index of buckets.keys()) if (index < oldest) oldest = index;
    const gone = buckets.get(oldest);
    buckets.delete(oldest);
    if (oldest === lastIndex) lastIndex = NaN;
    store.hopCount -= gone.length;
    store.evicted += gone.length;
    // a bucket's hops left in it; all but the long ones (still listed) arrived within the next
    changed(oldest * BUCKET_MS, (oldest + 2) * BUCKET_MS);
  }

  /** A half that never met its other half: a send becomes a "lost" stub. */
  function lost(e) {
    if (e.type !== "MsgSent") return;
    pushMoment(losts, { t: e.t_ms, a: e.node, b: e.to, kind: e.kind, text: e.text, id: `${e.src}#${e.seq}` });
  }

  /** Halves older than LOST_AFTER_MS go with their generation (sends become stubs). */
  function expireOld() {
    if (!join || store.tMax - joinSinceMs < LOST_AFTER_MS) return;
    join.rotate();
    joinSinceMs = store.tMax;
  }

  function change(map, node, entry, same) {
    let list = map.get(node);
    if (!list) {
      list = [];
      map.set(node, list);
    }
    const last = list[list.length - 1];
    if (last && same(last, entry)) return;
    // events of one node arrive in order; a rare older one is inserted in place
    if (last && entry.t < last.t) {
      const i = list.findIndex((x) => x.t > entry.t);
      list.splice(i, 0, entry);
      changed(entry.t, list[i + 1].t);
    } else {
      list.push(entry);
      changed(entry.t, Infinity);
    }
    const gone = capArray(list, MAX_CHANGES_PER_NODE);
    if (gone) changed(gone[0].t, list[0].t);
  }

  function ingestOne(e) {
    if (typeof e?.t_ms !== "number") return;
    seeTime(e.t_ms);
    switch (e.type) {
      case "MsgSent":
      case "MsgReceived":
        if (!nodes.has(e.node)) seeNode(e.node); // the common case: a known node, one lookup
        if (join) join.add(e);
        break;
      case "MsgDropped":
        seeNode(e.node);
        pushMoment(drops, {
          t: e.t_ms, node: e.node, id: `${e.src}#${e.seq}`, kind: e.kind,
          reason: e.reason, dst: e.dst, src: e.src, seq: e.seq,
        });
        break;
      case "RaftState":
        seeNode(e.node);
        change(roles, e.node, { t: e.t_ms, role: e.role, term: e.term },
          (a, b) => a.role === b.role && a.term === b.term);
        break;
      case "NodeState":
        seeNode(e.node);
        change(states, e.node, { t: e.t_ms, state: e.state }, (a, b) => a.state === b.state);
        break;
      case "NodeUp":
        seeNode(e.node);
        break;
      case "Mark":
        pushMoment(marks, { t: e.t_ms, node: CLUSTER_WIDE.has(e.node) ? "" : e.node, kind: e.kind, text: e.text });
        break;
      default:
        // an event the backend published (a lesson step, a chaos fault): a mark across the lanes
        if (CLUSTER_WIDE.has(e.node)) {
          const text = e.text ?? e.narration ?? e.title ?? e.action ?? "";
          pushMoment(marks, { t: e.t_ms, node: "", kind: e.type, text: String(text) });
        }
    }
  }

  /** Add a batch of events (live or fetched), in the order they arrived. */
  store.ingest = function ingest(events) {
    for (let i = 0; i < events.length; i++) ingestOne(events[i]);
    expireOld();
  };

  /** Keep these events too, in time order (a replay), so playback can hand
   * them to the other panels. */
  store.addRaw = function addRaw(events) {
    const more = events.filter((e) => typeof e?.t_ms === "number");
    store.raw = (store.raw ?? []).concat(more).sort((x, y) => x.t_ms - y.t_ms);
  };

  store.nodes = () => [...nodes];
  store.addNode = seeNode;
  store.addHop = addHop;
  store.addLost = lost;

  /** The buckets that may hold hops touching [t0, t1]: [hops, wholly inside]. */
  function bucketsIn(t0, t1) {
    // a hop filed under the bucket before t0 may still be in flight at t0
    const first = Math.floor(t0 / BUCKET_MS) - 1;
    const last = Math.floor(t1 / BUCKET_MS);
    const lists = [];
    for (let index = first; index <= last; index++) {
      const bucket = buckets.get(index);
      if (!bucket) continue;
      lists.push([bucket, index * BUCKET_MS >= t0 && (index + 1) * BUCKET_MS <= t1]);
    }
    // long flights that started before the buckets we looked at
    lists.push([longHops.filter((h) => Math.floor(h.s / BUCKET_MS) < first), false]);
    return lists;
  }

  /**
   * How many hops touch [t0, t1]. Why no scan of every hop: a busy window
   * holds tens of thousands of them. A bucket wholly inside the window counts
   * by its length; only the buckets at the window's edges are scanned.
   */
  store.countHopsIn = function countHopsIn(t0, t1) {
    let inWindow = 0;
    for (const [list, inside] of bucketsIn(t0, t1)) {
      if (inside) inWindow += list.length;
      else for (let i = 0; i < list.length; i++) if (list[i].r >= t0 && list[i].s <= t1) inWindow++;
    }
    return inWindow;
  };

  /**
   * The hops touching [t0, t1] that a sample of 1 in `stride` keeps: every
   * stride-th hop in the order they were joined, which is close to time
   * order, so evenly spread. Why by join order and not by place in the
   * window: the live timeline paints a window in strips as it moves, and a
   * hop must be in or out of the sample whichever strip asks.
   */
  store.hopsIn = function hopsIn(t0, t1, stride = 1) {
    const hops = [];
    for (const [list] of bucketsIn(t0, t1)) {
      for (let i = 0; i < list.length; i++) {
        const h = list[i];
        if (h.n % stride === 0 && h.r >= t0 && h.s <= t1) hops.push(h);
      }
    }
    return hops;
  };

  /**
   * The earliest time touched by anything added or forgotten since the last
   * call (Infinity if nothing), among things that reach `floorMs` or later;
   * `floorMs` applies from this call on.
   */
  store.takeEarliestChangeMs = function takeEarliestChangeMs(floorMs = -Infinity) {
    const t = changedFromMs;
    changedFromMs = Infinity;
    changeFloorMs = floorMs;
    return t;
  };

  /** The text of message `src#seq` from a hop it made up to a few buckets before `t` (or null). */
  store.textOf = function textOf(src, seq, t) {
    const last = Math.floor(t / BUCKET_MS);
    for (let index = last; index >= last - TEXT_SEARCH_BUCKETS; index--) {
      const bucket = buckets.get(index) ?? [];
      for (let i = bucket.length - 1; i >= 0; i--) {
        const send = bucket[i].send;
        if (send.seq === seq && send.src === src) return bucket[i].text;
      }
    }
    return null;
  };

  const inWindow = (list, t0, t1) => list.filter((x) => x.t >= t0 && x.t <= t1);
  store.dropsIn = (t0, t1) => inWindow(drops, t0, t1);
  store.lostIn = (t0, t1) => inWindow(losts, t0, t1);
  store.marksIn = (t0, t1) => inWindow(marks, t0, t1);

  /** [{from, to, value}] spans of `map`'s per-node changes overlapping [t0, t1]. */
  function spans(map, node, t0, t1, key) {
    const list = map.get(node) ?? [];
    const out = [];
    for (let i = 0; i < list.length; i++) {
      const from = list[i].t;
      const to = i + 1 < list.length ? list[i + 1].t : Infinity;
      if (to < t0 || from > t1) continue;
      out.push({ from, to, value: list[i][key], entry: list[i] });
    }
    return out;
  }
  store.roleSpans = (node, t0, t1) => spans(roles, node, t0, t1, "role");
  store.stateSpans = (node, t0, t1) => spans(states, node, t0, t1, "state");

  store.counts = () => ({
    hops: store.hopCount,
    evicted: store.evicted,
    pending: join ? join.size : 0,
    drops: drops.length,
    lost: losts.length,
    marks: marks.length,
  });

  return store;
}
