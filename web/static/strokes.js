// The pad's strokes, redrawn for reading with a pen in proportion to the drawing: the JS twin of
// pipeline/strokes.py (what it does and why is written there). A digit drawn small with the pad's
// pen is a blob; the same paths drawn with a pen a tenth of the ink's box read as drawn large.

// Twin of reading_pen: the pen (px, at most padPen, at least 1) that makes the redrawn ink's box,
// the pen included, `share` pen. strokes: arrays of {x, y} canvas pixels, held within the `size` px
// canvas when given (the pad captures a stroke that leaves it); the settings are checked when ui.js
// loads them.
export function readingPen(strokes, padPen, share, size = undefined) {
  const within = (v) => (size === undefined ? v : Math.min(Math.max(v, 0), size));
  let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
  for (const stroke of strokes) {
    for (const point of stroke) {
      if (!Number.isFinite(point.x) || !Number.isFinite(point.y)) continue;   // as Python, the finite points' box
      const x = within(point.x), y = within(point.y);
      left = Math.min(left, x); right = Math.max(right, x);
      top = Math.min(top, y); bottom = Math.max(bottom, y);
    }
  }
  if (left === Infinity) throw new Error('There are no strokes to redraw.');
  const side = Math.max(right - left, bottom - top);
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
