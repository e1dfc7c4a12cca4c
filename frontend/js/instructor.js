/**
 * What every instructor control needs: the token, one way to POST with it,
 * one place to say what happened, and the stylesheet of the fault views.
 *
 * Why a module: the fault menu, the partition editor, the fault list and the
 * hold panel all send `POST` requests with the token that controls.js keeps
 * in sessionStorage, and all must react the same way to a refused token or
 * a 400 (show the backend's sentence, which says what was wrong). Written
 * once here, it cannot drift between them.
 */

const TOKEN_KEY = "clusterlab.instructorToken"; // the key controls.js stores it under

export function instructorToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Natural order, so n2 comes before n10. */
export function byNodeId(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

/** Show `text` in the page's notice line (red when `isError`). */
export function notify(noticeElement, text, isError = false) {
  if (!noticeElement) return;
  noticeElement.textContent = text;
  noticeElement.classList.toggle("error", isError);
}

/**
 * POST `body` as JSON with the instructor token. Resolves to
 * `{ok, status, body}` and never throws: a network failure is status 0.
 */
export async function postAsInstructor(path, body) {
  const token = instructorToken();
  if (!token) {
    return { ok: false, status: 401, body: { error: "unlock the instructor controls first" } };
  }
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    const parsed = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, body: parsed };
  } catch (err) {
    return { ok: false, status: 0, body: { error: err.message } };
  }
}

/** Load frontend/css/faults.css once (the fault views share it). */
export function injectFaultStyles() {
  if (document.querySelector("link[data-faults-css]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/css/faults.css";
  link.dataset.faultsCss = "";
  document.head.append(link);
}

/** Where topology.js drew node `id` (its group's translate), or null. */
export function nodePosition(nodesElement, id) {
  const g = nodesElement.querySelector(`g.node[data-node="${CSS.escape(id)}"]`);
  const match = g?.getAttribute("transform")?.match(/translate\(([-\d.]+),\s*([-\d.]+)\)/);
  return match ? { x: Number(match[1]), y: Number(match[2]) } : null;
}

/** The radius topology.js gave the node circles. */
export function nodeRadius(nodesElement) {
  return Number(nodesElement.querySelector("g.node circle.body")?.getAttribute("r")) || 30;
}

/** The animation's slow-motion factor (the top bar's select), for marks that fade. */
export function slowMotion() {
  return Math.max(1, Number(document.getElementById("slow-motion")?.value) || 1);
}
