/**
 * The active faults, as the page knows them, and what they mean per link.
 *
 * Several views need the same list: the fault list, the marks on the
 * topology (walls where a partition stops messages, badges on faulty links,
 * rings showing the groups), the link menu (to prefill a link's settings).
 * They subscribe to the "faults" topic; this module keeps `lab.faults`
 * current from every source that can say it:
 *
 *  - the `view`, when the backend puts `faults` in it (one source of truth,
 *    pushed to every browser, students included);
 *  - a Socket.IO `faults` message, if the backend sends one;
 *  - the reply of every POST /api/faults this page makes (`faults`), so the
 *    instructor sees the effect at once;
 *  - otherwise GET /api/faults, refetched (throttled) when the view changes.
 *
 * `blocked(src, dst)` answers with the same rules the nodes apply
 * (cluster/core/faults.py): a partition stops messages between groups (the
 * nodes in no group form one more), a one-way rule from F to T stops
 * messages from T to F, a link fault with `up` false stops its direction.
 */
import { lab, subscribe, publish } from "./state.js";

// GET /api/faults at most this often when the view does not carry the list.
const REFRESH_MIN_MS = 500;

/** One fault in a shape every view can use, whatever spelling the backend chose. */
function normalise(raw) {
  const f = { ...raw };
  if (f.kind === "link") {
    f.a = raw.a ?? raw.src;
    f.b = raw.b ?? raw.dst;
    f.oneway = Boolean(raw.oneway ?? (raw.src !== undefined && raw.a === undefined));
  }
  return f;
}

export function setFaults(list) {
  if (!Array.isArray(list)) return;
  lab.faults = list.map(normalise);
  publish("faults", lab.faults);
}

/** Does a partition, one-way rule or cut link stop messages from `src` to `dst`? */
export function blocked(faults, src, dst) {
  for (const f of faults ?? []) {
    if (f.kind === "partition" && Array.isArray(f.groups)) {
      const groupOf = (n) => f.groups.findIndex((g) => g.includes(n));
      if (groupOf(src) !== groupOf(dst)) return f;
    } else if (f.kind === "oneway") {
      if ((f.to ?? []).includes(src) && (f.from ?? []).includes(dst)) return f;
    } else if (f.kind === "link" && f.up === false) {
      if ((f.a === src && f.b === dst) || (!f.oneway && f.a === dst && f.b === src)) return f;
    }
  }
  return null;
}

/** The link fault on a–b (either direction), or null. */
export function linkFault(faults, a, b) {
  return (
    (faults ?? []).find(
      (f) => f.kind === "link" && ((f.a === a && f.b === b) || (f.a === b && f.b === a)),
    ) ?? null
  );
}

/** The active partition's groups, or null. */
export function partitionGroups(faults) {
  return (faults ?? []).find((f) => f.kind === "partition")?.groups ?? null;
}

export function startFaultsFeed() {
  lab.faults = [];
  let fromView = false;
  let timer = null;
  let fetchedMs = -Infinity;

  async function refresh() {
    timer = null;
    fetchedMs = performance.now();
    try {
      const response = await fetch("/api/faults", { cache: "no-store" });
      if (!response.ok) return;
      const body = await response.json();
      if (!fromView) setFaults(body.faults);
    } catch {
      // the next view change asks again
    }
  }

  function refreshSoon() {
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, REFRESH_MIN_MS - (performance.now() - fetchedMs)));
  }

  subscribe("view", (view) => {
    if (Array.isArray(view.faults)) {
      fromView = true;
      setFaults(view.faults);
    } else if (!fromView) {
      refreshSoon();
    }
  });

  let listening = false;
  subscribe("connection", () => {
    if (listening || !lab.socket) return;
    listening = true;
    lab.socket.on("faults", (message) => setFaults(message?.faults ?? message));
  });

  return { refreshSoon };
}
