// Ruled and squared paper: the JS twin of pipeline/ruled_lines.py (what each step does and why is
// written there). Whole numbers wherever a result is compared, so that the same pixels are dropped.
// Masks are row-major Uint8Array of 0/1 with their width and height.

import { withinDisc } from './pen.js';

export const MAX_SLOPE = 0.18;       // MAX_SLOPE
export const LINE_SPAN = 0.6;        // LINE_SPAN
export const LINE_EDGE = 4;          // LINE_EDGE
export const LINE_THICKNESS = 0.03;  // LINE_THICKNESS
export const LINES = 3;              // LINES
export const LINE_ROOM = 0.25;       // LINE_ROOM

// Twin of rounded_shift: round(step x / width), halves up (exact: whole numbers far below 2^53, and a
// quotient that is not whole lies at least 1 / (2 width) from one).
const roundedShift = (x, step, width) => Math.floor((2 * step * x + width) / (2 * width));

// Twin of page_lines: {lines (the pixels of the page's near-horizontal lines), widest}.
function pageLines(mask, width, height) {
  const lines = new Uint8Array(mask.length);
  const xs = [], ys = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) { ys.push(Math.floor(i / width)); xs.push(i % width); }
  const steps = Math.floor(MAX_SLOPE * width);
  const size = height + 2 * steps;   // every offset y - shift + steps lies in 0..size - 1
  let bestScore = -1, bestStep = 0, counts = new Int32Array(size);
  for (let step = -steps; step <= steps; step++) {
    const lineCounts = new Int32Array(size);
    for (let k = 0; k < xs.length; k++) lineCounts[ys[k] - roundedShift(xs[k], step, width) + steps]++;
    let score = 0;   // whole numbers below 2^53: exact
    for (const c of lineCounts) score += c * c;
    if (score > bestScore) { bestScore = score; bestStep = step; counts = lineCounts; }
  }
  // how many columns each line crosses inside the image
  const change = new Int32Array(size + 1);
  for (let x = 0; x < width; x++) {
    const entry = steps - roundedShift(x, bestStep, width);
    change[entry]++;
    change[entry + height]--;
  }
  const room = new Int32Array(size);
  for (let o = 0, inside = 0; o < size; o++) { inside += change[o]; room[o] = inside; }
  const edge = (o) => LINE_EDGE * counts[o] >= LINE_SPAN * room[o] && room[o] >= LINE_ROOM * width;
  const page = new Uint8Array(size);
  let found = 0, widest = 0;
  for (let start = 0; start < size; start++) {
    if (!edge(start) || (start > 0 && edge(start - 1))) continue;
    let stop = start, full = false;
    while (stop < size && edge(stop)) { full ||= counts[stop] >= LINE_SPAN * room[stop]; stop++; }
    if (stop - start <= LINE_THICKNESS * height && full) {
      page.fill(1, Math.max(start - 1, 0), stop + 1);   // and the digital line on each side
      found++;
      widest = Math.max(widest, stop - start + 2);
    }
  }
  if (found < LINES) return { lines, widest: 0 };
  for (let k = 0; k < xs.length; k++) {
    lines[ys[k] * width + xs[k]] = page[ys[k] - roundedShift(xs[k], bestStep, width) + steps];
  }
  return { lines, widest };
}

// The width x height row-major mask turned into its height x width transpose.
function transpose(mask, width, height) {
  const turned = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) turned[x * height + y] = mask[y * width + x];
  return turned;
}

// Twin of drop_ruled_lines: the mask without the page's ruled rows and squared columns, but for
// where a stroke crosses or touches them.
export function dropRuledLines(mask, width, height) {
  const rows = pageLines(mask, width, height);
  const turned = pageLines(transpose(mask, width, height), height, width);
  const columns = transpose(turned.lines, height, width);
  const strokes = new Uint8Array(mask.length);
  let anyPage = false, anyStroke = false;
  for (let i = 0; i < mask.length; i++) {
    const page = rows.lines[i] || columns[i];
    strokes[i] = mask[i] && !page ? 1 : 0;
    anyPage ||= Boolean(page);
    anyStroke ||= Boolean(strokes[i]);
  }
  if (!anyPage || !anyStroke) return strokes;
  const reach = Math.floor(Math.max(rows.widest, turned.widest) / 2) + 1;
  const near = withinDisc(strokes, width, height, reach * reach);
  const kept = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) kept[i] = strokes[i] || ((rows.lines[i] || columns[i]) && near[i]) ? 1 : 0;
  return kept;
}
