/**
 * The files model: the cluster's files, where each chunk lives and how healthy
 * each copy is, kept fresh for the Files panel, the ring and the comparison
 * chart (which only draw it).
 *
 * Where it comes from: REST, not events. GET /api/files lists the files;
 * GET /api/files/<name>/placement gives every chunk's replicas, a health per
 * replica (ok / missing / down) and the chunk's position on the ring;
 * GET /api/placement gives the strategy, the members and the ring's tokens.
 * Telemetry only says *that* something changed: FileChanged (the leader
 * applied a put, a delete, a replica change or new placement settings),
 * ChunkStored / ChunkRemoved (a node wrote or dropped a chunk), or a node
 * going up or down in the view.
 *
 * Why a debounced refetch and never a request per event: uploading a 256 MiB
 * file stores 768 chunk copies in seconds, and repair after a node dies can
 * move hundreds. Events only mark what is stale (one file, or everything);
 * one refresh at most every REFRESH_MIN_INTERVAL_MS then fetches just the
 * stale files, so the page costs the backend a few requests a second while
 * chunks move and nothing when they do not.
 *
 * Repair as it happens: a ChunkStored whose reason is "repair" or
 * "rebalance" makes that chunk blink for BLINK_MS everywhere it is drawn,
 * before the refetch even lands; the under-replicated count comes from the
 * replicas' health in the latest placement.
 */
import { lab, publish, subscribe } from "./state.js";

// A burst of events settles for this long before the refetch starts.
const REFRESH_DEBOUNCE_MS = 250;
// At most one refresh per this while chunks keep moving.
const REFRESH_MIN_INTERVAL_MS = 1000;
// Placement (the per-chunk detail) is fetched for the newest files only; a
// lecture has a handful of files, and hundreds would bury the ring anyway.
export const MAX_FILES_PLACED = 64;
// Parallel placement requests: enough to hide latency, few enough that the
// backend's gateway threads stay free for uploads.
const PLACEMENT_FETCH_CONCURRENCY = 4;
// How long a re-replicated chunk blinks, and how many can blink at once (a
// rebalance of thousands of chunks reads as "everything moves" long before).
export const BLINK_MS = 2000;
const MAX_BLINKING = 2048;
// Blinks start and stop on this beat (a CSS animation does the blinking).
const BLINK_TICK_MS = 250;
// After a failed refresh (backend restarting, no leader yet) wait this long:
// retrying every second would only add load to a cluster that is struggling.
const ERROR_RETRY_MS = 5000;

/** Everything the file views draw from; also `window.clusterlab.files` for tests. */
export const files = {
  loaded: false, // true after the first successful refresh
  list: [], // GET /api/files entries, newest first
  settings: null, // GET /api/placement: strategy, hash, rf, vnodes, version, members, down, tokens
  placements: new Map(), // file name -> GET /api/files/<name>/placement
  chunksTotal: 0, // chunks of the placed files (a deduplicated chunk counts once per file)
  underReplicated: 0, // chunks with fewer healthy copies than the replication factor
  blinking: new Set(), // sha256 of chunks being re-replicated right now
  error: null, // the last refresh's error, for the panel to show
  counts: { refreshes: 0, placementFetches: 0, chunkEvents: 0, fileEvents: 0, repairsSeen: 0 },
};

const blinkUntil = new Map(); // sha256 -> performance.now() deadline
let shaIndex = new Map(); // sha256 -> Set of file names holding it
let staleAll = true;
const staleNames = new Set();
let timer = null;
let running = false;
let lastRefreshMs = -Infinity;
let errorBackoffMs = 0;
let blinkTimer = null;
let lastNodesKey = "";

/** Ask for a refresh soon: of some files (names), or of everything. */
export function requestRefresh({ names = [], all = false } = {}) {
  if (all) staleAll = true;
  for (const name of names) staleNames.add(name);
  schedule();
}

function schedule() {
  if (timer || running) return; // a running refresh reschedules itself when it ends
  const sinceLastMs = performance.now() - lastRefreshMs;
  const waitMs = Math.max(REFRESH_DEBOUNCE_MS, REFRESH_MIN_INTERVAL_MS - sinceLastMs, errorBackoffMs - sinceLastMs);
  timer = setTimeout(() => {
    timer = null;
    refresh();
  }, waitMs);
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error ?? `${url}: HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// ---- shapes ----

/** The replicas of a chunk as [{node, health}], whatever way the backend spells health. */
export function replicasOf(chunk) {
  const replicas = chunk?.replicas ?? [];
  const health = chunk?.health;
  return replicas.map((replica, i) => {
    if (typeof replica === "object" && replica !== null) {
      return { node: replica.node, health: replica.health ?? "unknown" };
    }
    let h = "unknown";
    if (Array.isArray(health)) h = health[i] ?? "unknown";
    else if (health && typeof health === "object") h = health[replica] ?? "unknown";
    return { node: replica, health: h };
  });
}

/** Copies a chunk should have: RF capped by the member count (the backend's effective_rf). */
export function wantedCopies(settings = files.settings) {
  if (Number.isInteger(settings?.effective_rf) && settings.effective_rf > 0) return settings.effective_rf;
  const rf = settings?.rf ?? 3;
  const members = settings?.members?.length ?? rf;
  return Math.max(1, Math.min(rf, members || rf));
}

/** "ok" (RF healthy copies), "under" (fewer) or "lost" (none healthy). */
export function chunkState(chunk, wanted = wantedCopies()) {
  let ok = 0;
  for (const r of replicasOf(chunk)) if (r.health === "ok") ok++;
  if (ok === 0) return "lost";
  // The backend's verdict when it gave one (it knows the effective RF of that moment).
  if (typeof chunk.under_replicated === "boolean") return chunk.under_replicated ? "under" : "ok";
  return ok >= wanted ? "ok" : "under";
}

/** A file's health from its placement: "ok", "degraded", "lost" or "unknown". */
export function fileHealth(name) {
  const placement = files.placements.get(name);
  if (!placement?.chunks) return "unknown";
  const wanted = wantedCopies();
  let health = "ok";
  for (const chunk of placement.chunks) {
    const state = chunkState(chunk, wanted);
    if (state === "lost") return "lost";
    if (state === "under") health = "degraded";
  }
  return health;
}

function listOf(body) {
  const entries = Array.isArray(body) ? body : (body?.files ?? []);
  return [...entries].sort(
    (a, b) => (b.created_ms ?? 0) - (a.created_ms ?? 0) || String(a.name).localeCompare(String(b.name)),
  );
}

// ---- refreshing ----

async function fetchPlacements(names) {
  const queue = [...names];
  async function worker() {
    while (queue.length) {
      const name = queue.shift();
      try {
        files.counts.placementFetches++;
        files.placements.set(name, await getJson(`/api/files/${encodeURIComponent(name)}/placement?consistency=stale`));
      } catch (err) {
        if (err.status === 404) files.placements.delete(name); // deleted meanwhile
        else throw err;
      }
    }
  }
  const workers = [];
  for (let i = 0; i < Math.min(PLACEMENT_FETCH_CONCURRENCY, queue.length); i++) workers.push(worker());
  await Promise.all(workers);
}

function rebuildDerived() {
  const wanted = wantedCopies();
  shaIndex = new Map();
  let total = 0;
  let under = 0;
  for (const [name, placement] of files.placements) {
    for (const chunk of placement.chunks ?? []) {
      total++;
      if (chunkState(chunk, wanted) !== "ok") under++;
      let holders = shaIndex.get(chunk.sha256);
      if (!holders) shaIndex.set(chunk.sha256, (holders = new Set()));
      holders.add(name);
    }
  }
  files.chunksTotal = total;
  files.underReplicated = under;
}

async function refresh() {
  running = true;
  lastRefreshMs = performance.now();
  const all = staleAll;
  const names = new Set(staleNames);
  staleAll = false;
  staleNames.clear();
  try {
    const [listBody, settings] = await Promise.all([
      getJson("/api/files?consistency=stale"),
      all || !files.settings ? getJson("/api/placement") : null,
    ]);
    if (settings) files.settings = settings;
    files.list = listOf(listBody);
    const shown = files.list.slice(0, MAX_FILES_PLACED);
    const shownNames = new Set(shown.map((f) => f.name));
    for (const name of files.placements.keys()) if (!shownNames.has(name)) files.placements.delete(name);
    const toFetch = shown
      .filter((f) => all || names.has(f.name) || files.placements.get(f.name)?.version !== f.version)
      .map((f) => f.name);
    await fetchPlacements(toFetch);
    rebuildDerived();
    files.loaded = true;
    files.error = null;
    errorBackoffMs = 0;
    files.counts.refreshes++;
  } catch (err) {
    files.error = err.message;
    errorBackoffMs = ERROR_RETRY_MS;
    // Try again later: what was stale still is.
    if (all) staleAll = true;
    for (const name of names) staleNames.add(name);
  } finally {
    running = false;
    publish("files", files);
    if (staleAll || staleNames.size) schedule();
  }
}

// ---- telemetry: what became stale, and what blinks ----

function markChunk(sha256) {
  const holders = shaIndex.get(sha256);
  if (!holders) return false; // a chunk of an upload in flight: its FileChanged will follow
  for (const name of holders) staleNames.add(name);
  return true;
}

function onEvents(events) {
  let stale = false;
  const nowMs = performance.now();
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    switch (e.type) {
      case "FileChanged":
        files.counts.fileEvents++;
        if (e.op === "placement") staleAll = true; // new strategy or hash: every position moves
        else staleNames.add(e.name);
        stale = true;
        break;
      case "ChunkStored":
        files.counts.chunkEvents++;
        if (e.reason === "repair" || e.reason === "rebalance") {
          files.counts.repairsSeen++;
          if (blinkUntil.size < MAX_BLINKING || blinkUntil.has(e.sha256)) {
            blinkUntil.set(e.sha256, nowMs + BLINK_MS);
          }
        }
        stale = markChunk(e.sha256) || stale;
        break;
      case "ChunkRemoved":
        files.counts.chunkEvents++;
        stale = markChunk(e.sha256) || stale;
        break;
      default:
        break;
    }
  }
  if (stale) schedule();
  if (blinkUntil.size && !blinkTimer) blinkTimer = setInterval(blinkTick, BLINK_TICK_MS);
}

/** Start and stop blinks on a beat; the views only hear of it when the set changes. */
function blinkTick() {
  const nowMs = performance.now();
  for (const [sha, until] of blinkUntil) if (until <= nowMs) blinkUntil.delete(sha);
  const changed =
    blinkUntil.size !== files.blinking.size || [...blinkUntil.keys()].some((sha) => !files.blinking.has(sha));
  if (changed) {
    files.blinking = new Set(blinkUntil.keys());
    publish("files-blink", files.blinking);
  }
  if (!blinkUntil.size) {
    clearInterval(blinkTimer);
    blinkTimer = null;
  }
}

/** Health depends on which nodes are up: a node changing state (or joining) refreshes all. */
function onView(view) {
  const key = (view?.nodes ?? []).map((n) => `${n.id}:${n.state}`).join(",");
  if (key === lastNodesKey) return;
  lastNodesKey = key;
  requestRefresh({ all: true });
}

/** Start following the cluster's files (once, from main.js). */
export function startFiles() {
  lab.files = files;
  subscribe("events", onEvents);
  subscribe("view", onView);
  subscribe("connection", (connection) => {
    if (connection === "connected") requestRefresh({ all: true });
  });
  requestRefresh({ all: true });
}
