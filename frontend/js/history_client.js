/**
 * The page's side of the recorded history (backend/history_api.py): fetch it
 * as JSON lines, upload a saved one for replay, return to live.
 *
 * Why the page asks the backend instead of using only what it received: the
 * page sees a *sample* of a busy cluster (the hub sheds traffic it cannot
 * deliver in time, and a page opened late saw nothing of the past), while
 * the hub recorded everything. Scrubbing back shows the hub's record.
 */

const TOKEN_KEY = "clusterlab.instructorToken"; // the key controls.js stores it under
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** GET /api/history as parsed events; `params` e.g. {since_ms, until_ms} (strings). */
export async function fetchHistory(params = {}) {
  const query = new URLSearchParams({ format: "jsonl", ...params });
  const response = await fetch(`/api/history?${query}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
  const text = await response.text();
  const events = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    if (end > start) events.push(JSON.parse(text.slice(start, end)));
    start = end + 1;
  }
  return {
    events,
    mode: response.headers.get("X-History-Mode"),
    dropped: Number(response.headers.get("X-History-Dropped") ?? 0),
  };
}

async function answer(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

/** POST a saved JSON-lines file for replay (instructor token). */
export async function importHistory(file) {
  const response = await fetch(`/api/history/import?name=${encodeURIComponent(file.name)}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-ndjson", Authorization: `Bearer ${token()}` },
    body: file,
  });
  return answer(response);
}

/** Leave replay mode (instructor token). */
export async function backToLive() {
  const response = await fetch("/api/history/import", {
    method: "DELETE",
    headers: { Authorization: `Bearer ${token()}` },
  });
  return answer(response);
}
