// The pad's strokes, redrawn for reading with a pen in proportion to the drawing: the JS twin of
// pipeline/strokes.py (what it does and why is written there). A digit drawn small with the pad's
// pen is a blob; the same paths drawn with a pen a tenth of the ink's box read as drawn large.

// Twin of on_canvas: the ends of the parts of a stroke's segments on the size px canvas (Liang and
// Barsky's clipping; the same float operations in the same order as Python), a lone point if on it.
export function onCanvas(stroke, size) {
  const points = stroke.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (points.length === 1) {
    return points.filter((p) => p.x >= 0 && p.x <= size && p.y >= 0 && p.y <= size).map((p) => [p.x, p.y]);
  }
  const ends = [];
  for (let i = 1; i < points.length; i++) {
    const x0 = points[i - 1].x, y0 = points[i - 1].y;
    const dx = points[i].x - x0, dy = points[i].y - y0;
    let first = 0, last = 1;
    for (const [p, q] of [[-dx, x0], [dx, size - x0], [-dy, y0], [dy, size - y0]]) {
      if (p === 0) {
        if (q < 0) { first = 1; last = 0; }   // parallel to this edge and beyond it
      } else if (p < 0) {
        first = Math.max(first, q / p);
      } else {
        last = Math.min(last, q / p);
      }
    }
    if (first <= last) ends.push([x0 + first * dx, y0 + first * dy], [x0 + last * dx, y0 + last * dy]);
  }
  return ends;
}

// Twin of reading_pen: the pen (px, at most padPen, at least 1) that makes the redrawn ink's box,
// the pen included, `share` pen. strokes: arrays of {x, y} canvas pixels; with `size`, only what lies
// on the size px canvas counts (the pad captures a stroke that leaves it, but draws only what is on
// it); the settings are checked when ui.js loads them.
export function readingPen(strokes, padPen, share, size = undefined) {
  const finite = strokes.flat().filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (finite.length === 0) throw new Error('There are no strokes to redraw.');
  const points = size === undefined ? finite.map((p) => [p.x, p.y]) : strokes.flatMap((s) => onCanvas(s, size));
  let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
  for (const [x, y] of points) {
    left = Math.min(left, x); right = Math.max(right, x);
    top = Math.min(top, y); bottom = Math.max(bottom, y);
  }
  const side = points.length ? Math.max(right - left, bottom - top) : 0;
  return Math.min(padPen, Math.max(1, (share * side) / (1 - share)));
}

// Twin of redraw: the strokes drawn again, white on black with round caps and joins as the pad draws
// them, with readingPen: an ImageData of the pad's size (drawing.json's settings, as ui.js reads them).
export function redraw(strokes, { canvasSize, strokeWidth, readingStrokeShare }) {
  const canvas = document.createElement('canvas');
  canvas.width = canvasSize;
  canvas.height = canvasSize;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.fillStyle = '#000';
  context.fillRect(0, 0, canvasSize, canvasSize);
  context.strokeStyle = '#fff';
  context.lineWidth = readingPen(strokes, strokeWidth, readingStrokeShare, canvasSize);
  context.lineCap = 'round';
  context.lineJoin = 'round';
  for (const stroke of strokes) {
    context.beginPath();
    context.moveTo(stroke[0].x, stroke[0].y);
    for (const { x, y } of stroke) context.lineTo(x, y);
    context.stroke();
    dot(context, stroke[0], context.lineWidth);   // a tap: Chromium paints no zero-length line
  }
  return context.getImageData(0, 0, canvasSize, canvasSize);
}

// A white disc `width` across at `point` ({x, y}), as a round cap: how the pad draws a tap.
export function dot(context, point, width) {
  context.fillStyle = '#fff';
  context.beginPath();
  context.arc(point.x, point.y, width / 2, 0, 2 * Math.PI);
  context.fill();
}
