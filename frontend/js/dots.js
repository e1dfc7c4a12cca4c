/**
 * The layer of moving message dots: a <canvas> between the links (an SVG
 * below it) and the nodes (an SVG above it).
 *
 * Why a canvas and not SVG circles: moving hundreds of SVG elements every
 * animation frame makes the browser restyle and repaint the whole drawing 60
 * times a second. Measured in headless Chromium on a 2-core machine, that
 * cost about 0.6 of a core, taken from the very node processes and hub the
 * page is watching. A canvas repaints only itself; the SVG (nodes, links,
 * labels, all clickable and testable) changes only when the cluster does.
 *
 * The canvas uses the SVGs' coordinates: its transform reproduces their
 * viewBox with preserveAspectRatio "xMidYMid meet", so a dot at (x, y) is
 * drawn exactly where the SVGs would draw it.
 */

export function createDotLayer(canvas, { viewWidth, viewHeight, maxInFlight }) {
  const ctx = canvas.getContext("2d");
  const flying = []; // {x0, y0, dx, dy, startMs, durationMs, fill}
  let radius = 7;
  let drewLastFrame = false;

  function fitToElement() {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    const scale = Math.min(width / viewWidth, height / viewHeight);
    const offsetX = (width - viewWidth * scale) / 2;
    const offsetY = (height - viewHeight * scale) / 2;
    ctx.setTransform(ratio * scale, 0, 0, ratio * scale, ratio * offsetX, ratio * offsetY);
    drewLastFrame = true; // resizing cleared the canvas; make sure the next frame redraws
  }
  new ResizeObserver(fitToElement).observe(canvas);
  fitToElement();

  function clearAll() {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.restore();
  }

  return {
    get inFlight() {
      return flying.length;
    },

    /** Room for one more dot? (The caller counts what it could not draw.) */
    hasRoom() {
      return flying.length < maxInFlight;
    },

    setRadius(r) {
      radius = r;
    },

    launch(x0, y0, x1, y1, startMs, durationMs, fill) {
      flying.push({ x0, y0, dx: x1 - x0, dy: y1 - y0, startMs, durationMs, fill });
    },

    forgetAll() {
      flying.length = 0;
    },

    /** Move every dot to where it is at `nowMs`; drop the ones that arrived. */
    draw(nowMs) {
      let kept = 0;
      for (let i = 0; i < flying.length; i++) {
        const dot = flying[i];
        if (nowMs - dot.startMs < dot.durationMs) flying[kept++] = dot;
      }
      flying.length = kept;
      if (kept === 0 && !drewLastFrame) return; // nothing moved: no repaint at all
      clearAll();
      drewLastFrame = kept > 0;
      // One path per colour: a few fill() calls per frame instead of hundreds.
      const byFill = new Map();
      for (let i = 0; i < kept; i++) {
        const dot = flying[i];
        if (!byFill.has(dot.fill)) byFill.set(dot.fill, []);
        byFill.get(dot.fill).push(dot);
      }
      ctx.lineWidth = radius / 4;
      ctx.strokeStyle = "#ffffff";
      for (const [fill, dots] of byFill) {
        ctx.beginPath();
        for (const dot of dots) {
          const progress = Math.max(0, (nowMs - dot.startMs) / dot.durationMs);
          const x = dot.x0 + dot.dx * progress;
          const y = dot.y0 + dot.dy * progress;
          ctx.moveTo(x + radius, y);
          ctx.arc(x, y, radius, 0, 2 * Math.PI);
        }
        ctx.fillStyle = fill;
        ctx.fill();
        ctx.stroke();
      }
    },
  };
}
