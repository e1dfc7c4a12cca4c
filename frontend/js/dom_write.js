/**
 * DOM writes that happen only when they change something.
 *
 * Why: panels re-render from the cluster view every second and some on a
 * timer, mostly to the values they already show. The browser does not check
 * that: setting an SVG attribute or an element's text to what it already is
 * still invalidates it, and the next frame lays out and repaints it. Traced
 * on a busy dashboard, such no-op writes (log rows rebuilt with the same
 * HTML, link labels and node circles re-set to the same numbers) were most
 * of the page's layout work, main-thread time the telemetry stream needed.
 */

/** Set `element`'s text, unless it already is `text`. */
export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

/** Set attribute `name`, unless it already has `value`. */
export function setAttr(element, name, value) {
  const text = String(value);
  if (element.getAttribute(name) !== text) element.setAttribute(name, text);
}

// The HTML each element was last given: reading innerHTML back would
// serialise it, and the browser's serialisation differs from what we wrote.
const htmlWritten = new WeakMap();

/** Replace `element`'s content with `html`, unless that is what it was last given. */
export function setHtml(element, html) {
  if (htmlWritten.get(element) === html) return;
  htmlWritten.set(element, html);
  element.innerHTML = html;
}

/** d3: `selection.call(attrs, "x", (d) => ...)`, writing only what changed. */
export function attrs(selection, name, valueOf) {
  selection.each(function (d, i) {
    setAttr(this, name, typeof valueOf === "function" ? valueOf.call(this, d, i) : valueOf);
  });
}

/** d3: `selection.call(texts, (d) => ...)`, writing only what changed. */
export function texts(selection, textOf) {
  selection.each(function (d, i) {
    setText(this, typeof textOf === "function" ? textOf.call(this, d, i) : textOf);
  });
}
