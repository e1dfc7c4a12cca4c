/**
 * What the timeline draws, kept in a form that is cheap to query by time.
 *
 * A space-time diagram needs each message hop as ONE arrow, from its send to
 * its receive. Telemetry gives the two halves separately (MsgSent at the
 * sender, MsgReceived at the receiver, in different batches that may arrive
 * in either order), so the store joins them on `src#seq` plus the hop's two
 * ends, the same key the topology uses for its dots. The send carries the
 * message's canonical text (`n1→n3 AppendEntries t3 i7..9 c6`), shown on hover.
 *
 * Why buckets: at thousands of messages a second the store holds hundreds of
 * thousands of hops, and a frame must find the few thousand inside its time
 * window without scanning them all. Hops are filed by send time in
 * BUCKET_MS buckets; a window touches only its own buckets (plus the short
 * list of long flights, which start before the window they end in).
 *
 * Everything is bounded: past MAX_HOPS the oldest bucket is forgotten and
 * counted (`evicted`); a send whose receive never came is, after
 * LOST_AFTER_MS of event time, kept as a "lost" stub (dropped by a fault, or
 * its receive's telemetry was dropped).
 */

// About 25 MB of small objects: minutes of a quiet cluster, seconds of a busy one.
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
const MAX_TEXTS = 50_000;

// Nodes that are not nodes: records the backend itself adds (a lesson step,
// a chaos fault). They are drawn across every lane, not as a lane of their own.
export const CLUSTER_WIDE = new Set(["", "hub", "backend"]);

function hopKey(src, seq, from, to) {
  return `${src}#${seq}|${from}>${to}`;
}

// Trims in steps of a quarter of ``max``: one splice per max/4 pushes. A splice
// per push shifts the whole array on every event once it is full, and when the
// page falls behind (many sends without their receives become "lost") that
// cost grows with the backlog and the page falls further behind.
function capArray(array, max) {
  if (array.length > max + (max >> 2)) array.splice(0, array.length - max);
}

export function createTimelineStore() {
  const buckets = new Map(); // bucket index -> [hop], each hop {s, r, a, b, kind, text, id, dst}
  const pending = new Map(); // hop key -> {event, isSend}; insertion order = arrival order
  const texts = new Map(); // "src#seq" -> text, for drops and stubs
  let longHops = [];
  let lost = []; // {t, a, b, kind, text, id}
  let drops = []; // {t, node, id, kind, reason, dst, text}
  let marks = []; // {t, node, kind, text}
  const roles = new Map(); // node -> [{t, role, term}] (changes only)
  const states = new Map(); // node -> [{t, state}]
  const nodes = new Set();
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

  function seeNode(node) {
    if (typeof node === "string" && !CLUSTER_WIDE.has(node)) nodes.add(node);
  }

  function rememberText(id, text) {
    if (!text) return;
    texts.set(id, text);
    if (texts.size > MAX_TEXTS) texts.delete(texts.keys().next().value);
  }

  function addHop(send, receive) {
    const hop = {
      s: send.t_ms,
      r: receive.t_ms,
      a: send.node,
      b: receive.node,
      kind: send.kind,
      text: send.text || texts.get(`${send.src}#${send.seq}`) || `${send.src}→${send.dst} ${send.kind}`,
      id: `${send.src}#${send.seq}`,
      size: send.size_bytes,
    };
    const index = Math.floor(hop.s / BUCKET_MS);
    let bucket = buckets.get(index);
    if (!bucket) {
      bucket = [];
      buckets.set(index, bucket);
    }
    bucket.push(hop);
    store.hopCount++;
    if (hop.r - hop.s > BUCKET_MS) {
      longHops.push(hop);
      capArray(longHops, MAX_LONG_HOPS);
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
    store.hopCount -= gone.length;
    store.evicted += gone.length;
  }

  function halfHop(event, isSend) {
    const key = isSend
      ? hopKey(event.src, event.seq, event.node, event.to)
      : hopKey(event.src, event.seq, event.frm, event.node);
    const other = pending.get(key);
    if (other === undefined || other.isSend === isSend) {
      pending.set(key, { event, isSend });
      if (pending.size > MAX_PENDING) expire(pending.keys().next().value);
      return;
    }
    pending.delete(key);
    if (isSend) addHop(event, other.event);
    else addHop(other.event, event);
  }

  function expire(key) {
    const half = pending.get(key);
    pending.delete(key);
    if (half?.isSend) {
      const e = half.event;
      lost.push({ t: e.t_ms, a: e.node, b: e.to, kind: e.kind, text: e.text, id: `${e.src}#${e.seq}` });
      capArray(lost, MAX_MARKS);
    }
  }

  function expireOld() {
    const cutoff = store.tMax - LOST_AFTER_MS;
    for (const [key, half] of pending) {
      if (half.event.t_ms >= cutoff) break; // roughly arrival order: the rest are younger
      expire(key);
    }
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
      const at = list.findIndex((x) => x.t > entry.t);
      list.splice(at, 0, entry);
    } else {
      list.push(entry);
    }
    capArray(list, MAX_CHANGES_PER_NODE);
  }

  function ingestOne(e) {
    if (typeof e?.t_ms !== "number") return;
    seeTime(e.t_ms);
    switch (e.type) {
      case "MsgSent":
        seeNode(e.node);
        rememberText(`${e.src}#${e.seq}`, e.text);
        halfHop(e, true);
        break;
      case "MsgReceived":
        seeNode(e.node);
        halfHop(e, false);
        break;
      case "MsgDropped":
        seeNode(e.node);
        drops.push({
          t: e.t_ms, node: e.node, id: `${e.src}#${e.seq}`, kind: e.kind,
          reason: e.reason, dst: e.dst, src: e.src,
        });
        capArray(drops, MAX_MARKS);
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
        marks.push({ t: e.t_ms, node: CLUSTER_WIDE.has(e.node) ? "" : e.node, kind: e.kind, text: e.text });
        capArray(marks, MAX_MARKS);
        break;
      default:
        // an event the backend published (a lesson step, a chaos fault): a mark across the lanes
        if (CLUSTER_WIDE.has(e.node)) {
          const text = e.text ?? e.narration ?? e.title ?? e.action ?? "";
          marks.push({ t: e.t_ms, node: "", kind: e.type, text: String(text) });
          capArray(marks, MAX_MARKS);
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

  /** Every hop with some part inside [t0, t1], in no particular order. */
  store.hopsIn = function hopsIn(t0, t1) {
    const out = [];
    const first = Math.floor(t0 / BUCKET_MS) - 1;
    const last = Math.floor(t1 / BUCKET_MS);
    for (let index = first; index <= last; index++) {
      const bucket = buckets.get(index);
      if (!bucket) continue;
      for (let i = 0; i < bucket.length; i++) {
        const h = bucket[i];
        if (h.r >= t0 && h.s <= t1) out.push(h);
      }
    }
    for (const h of longHops) {
      // long flights that started before the buckets we looked at
      if (Math.floor(h.s / BUCKET_MS) < first && h.r >= t0 && h.s <= t1) out.push(h);
    }
    return out;
  };

  const inWindow = (list, t0, t1) => list.filter((x) => x.t >= t0 && x.t <= t1);
  store.dropsIn = (t0, t1) =>
    inWindow(drops, t0, t1).map((d) => ({ ...d, text: texts.get(d.id) }));
  store.lostIn = (t0, t1) => inWindow(lost, t0, t1);
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
    pending: pending.size,
    drops: drops.length,
    lost: lost.length,
    marks: marks.length,
  });

  return store;
}
