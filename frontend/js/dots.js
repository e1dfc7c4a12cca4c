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
 *
 * Why the canvas covers only the box the dots can reach (`setBounds`), not
 * the whole stage: without a GPU every frame clears, rasterises, copies and
 * composites each pixel of the canvas, so its cost grows with its area.
 * Three nodes on a 1600×900 screen need about an eighth of the stage.
 */

export function createDotLayer(canvas, { viewWidth, viewHeight }) {
  const ctx = canvas.getContext("2d");
  const flying = []; // {x0, y0, dx, dy, startMs, durationMs, fill}
  let radius = 7;
  let drewLastFrame = false;
  // The part of the view (its coordinates) that dots can reach; all of it until told.
  let bounds = { x0: 0, y0: 0, x1: viewWidth, y1: viewHeight };
  const stage = canvas.parentElement;

  function fitToElement() {
    const ratio = window.devicePixelRatio || 1;
    const width = stage.clientWidth;
    const height = stage.clientHeight;
    const scale = Math.min(width / viewWidth, height / viewHeight);
    const offsetX = (width - viewWidth * scale) / 2;
    const offsetY = (height - viewHeight * scale) / 2;
    // Whole CSS pixels around the bounds, inside the stage.
    const left = Math.max(0, Math.floor(offsetX + bounds.x0 * scale));
    const top = Math.max(0, Math.floor(offsetY + bounds.y0 * scale));
    const right = Math.min(width, Math.ceil(offsetX + bounds.x1 * scale));
    const bottom = Math.min(height, Math.ceil(offsetY + bounds.y1 * scale));
    const cssWidth = Math.max(1, right - left);
    const cssHeight = Math.max(1, bottom - top);
    canvas.style.left = `${left}px`;
    canvas.style.top = `${top}px`;
    canvas.style.width = `${cssWidth}px`;
    canvas.style.height = `${cssHeight}px`;
    canvas.width = Math.max(1, Math.round(cssWidth * ratio));
    canvas.height = Math.max(1, Math.round(cssHeight * ratio));
    ctx.setTransform(
      ratio * scale, 0, 0, ratio * scale, ratio * (offsetX - left), ratio * (offsetY - top),
    );
    drewLastFrame = true; // resizing cleared the canvas; make sure the next frame redraws
  }
  new ResizeObserver(fitToElement).observe(stage);
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

    setRadius(r) {
      radius = r;
    },

    /** Dots will fly only inside this box of view coordinates: the canvas shrinks to it. */
    setBounds(x0, y0, x1, y1) {
      if (x0 === bounds.x0 && y0 === bounds.y0 && x1 === bounds.x1 && y1 === bounds.y1) return;
      bounds = { x0, y0, x1, y1 };
      fitToElement();
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
