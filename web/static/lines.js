// Ruled and squared paper: the JS twin of pipeline/ruled_lines.py (what each step does and why is
// written there). Whole numbers wherever a result is compared, so that the same pixels are dropped.
// Masks are row-major Uint8Array of 0/1 with their width and height.

import { withinDisc } from './pen.js';

export const MAX_SLOPE = 0.18;       // MAX_SLOPE
export const COARSE = 4;             // COARSE
export const LINE_SPAN = 0.6;        // LINE_SPAN
export const LINE_EDGE = 4;          // LINE_EDGE
export const LINE_THICKNESS = 0.03;  // LINE_THICKNESS
export const LINE_ROOM = 0.25;       // LINE_ROOM
export const LINES = 4;              // LINES
export const SPACING = 0.1;          // SPACING
export const STROKE_ON_LINE = 2;     // STROKE_ON_LINE

// Twin of rounded_shift: round(step x / width), halves up (exact: whole numbers far below 2^53, and a
// quotient that is not whole lies at least 1 / (2 width) from one).
const roundedShift = (x, step, width) => Math.floor((2 * step * x + width) / (2 * width));

// Twin of runs_down: for each set pixel, the length of the unbroken run down its column it is in.
function runsDown(mask, width) {
  const above = new Int32Array(mask.length), below = new Int32Array(mask.length);
  for (let i = 0; i < mask.length; i++) if (mask[i]) above[i] = (i >= width ? above[i - width] : 0) + 1;
  for (let i = mask.length - 1; i >= 0; i--) if (mask[i]) below[i] = (i + width < mask.length ? below[i + width] : 0) + 1;
  const runs = new Int32Array(mask.length);
  for (let i = 0; i < mask.length; i++) if (mask[i]) runs[i] = above[i] + below[i] - 1;
  return runs;
}

// Twin of evenly_spaced: [which centres lie at the page's spacing from another, which of others do
// from one of those].
function evenlySpaced(centres, others) {
  const gaps = centres.slice(1).map((c, i) => c - centres[i]);
  if (gaps.length === 0) return [centres.map(() => false), others.map(() => false)];
  const support = gaps.map((gap) => gaps.filter((g) => Math.abs(g - gap) <= SPACING * gap).length);
  const spacing = gaps[support.indexOf(Math.max(...support))];
  const atSpacing = (centre, lines) =>
    lines.some((line) => line !== centre && Math.abs(Math.abs(line - centre) - spacing) <= SPACING * spacing);
  const lines = centres.map((c) => atSpacing(c, centres));
  const kept = centres.filter((c, i) => lines[i]);
  return [lines, others.map((c) => atSpacing(c, kept))];
}

// Twin of page_lines: the pixels of the page's near-horizontal lines, a digital line more on each side.
function pageLines(mask, width, height) {
  const found = new Uint8Array(mask.length);
  const xs = [], ys = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) { ys.push(Math.floor(i / width)); xs.push(i % width); }
  const steps = Math.floor(MAX_SLOPE * width);
  const size = height + 2 * steps;   // every offset y - shift + steps lies in 0..size - 1
  const countsAt = (step) => {
    const counts = new Int32Array(size);
    for (let k = 0; k < xs.length; k++) counts[ys[k] - roundedShift(xs[k], step, width) + steps]++;
    return counts;
  };
  const best = (first, last, by) => {   // the first of equal scores
    let bestStep = first, bestScore = -1;
    for (let step = first; step <= last; step += by) {
      let score = 0;   // whole numbers below 2^53: exact
      for (const c of countsAt(step)) score += c * c;
      if (score > bestScore) { bestScore = score; bestStep = step; }
    }
    return bestStep;
  };
  const coarse = best(-steps, steps, COARSE);
  const step = best(Math.max(-steps, coarse - COARSE + 1), Math.min(steps, coarse + COARSE - 1), 1);
  const counts = countsAt(step);
  // how many columns each line crosses inside the image
  const change = new Int32Array(size + 1);
  for (let x = 0; x < width; x++) {
    const entry = steps - roundedShift(x, step, width);
    change[entry]++;
    change[entry + height]--;
  }
  const room = new Int32Array(size);
  for (let o = 0, inside = 0; o < size; o++) { inside += change[o]; room[o] = inside; }
  const edge = (o) => LINE_EDGE * counts[o] >= LINE_SPAN * room[o] && room[o] > 0;
  const crossing = [], corners = [];
  for (let start = 0; start < size; start++) {
    if (!edge(start) || (start > 0 && edge(start - 1))) continue;
    let stop = start, full = false, mostRoom = 0;
    while (stop < size && edge(stop)) {
      full ||= counts[stop] >= LINE_SPAN * room[stop];
      mostRoom = Math.max(mostRoom, room[stop]);
      stop++;
    }
    if (stop - start > LINE_THICKNESS * height || !full) continue;
    (mostRoom >= LINE_ROOM * width ? crossing : corners).push([start, stop]);
  }
  const [lines, pieces] = evenlySpaced(crossing.map(([a, b]) => a + b), corners.map(([a, b]) => a + b));
  if (lines.filter(Boolean).length < LINES) return found;
  const page = new Uint8Array(size);
  crossing.concat(corners).forEach(([start, stop], i) => {
    if (lines.concat(pieces)[i]) page.fill(1, Math.max(start - 1, 0), stop + 1);
  });
  for (let k = 0; k < xs.length; k++) {
    found[ys[k] * width + xs[k]] = page[ys[k] - roundedShift(xs[k], step, width) + steps];
  }
  return found;
}

// Twin of thickness: the lower middle of the runs across the band's pixels.
function thickness(across, band) {
  const values = [];
  for (let i = 0; i < band.length; i++) if (band[i]) values.push(across[i]);
  values.sort((a, b) => a - b);
  return values.length ? values[(values.length - 1) >> 1] : 0;
}

// The width x height row-major array turned into its height x width transpose.
function transpose(values, width, height) {
  const turned = new values.constructor(values.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) turned[x * height + y] = values[y * width + x];
  return turned;
}

// Twin of drop_ruled_lines: the mask without the page's ruled rows and squared columns, but for
// where a stroke lies on them or crosses them.
export function dropRuledLines(mask, width, height) {
  const rows = pageLines(mask, width, height);
  const columns = transpose(pageLines(transpose(mask, width, height), height, width), height, width);
  const n = mask.length;
  const notColumns = new Uint8Array(n), notRows = new Uint8Array(n);
  const rowBand = new Uint8Array(n), columnBand = new Uint8Array(n);
  let anyPage = false;
  for (let i = 0; i < n; i++) {
    anyPage ||= Boolean(rows[i] || columns[i]);
    notColumns[i] = mask[i] && !columns[i] ? 1 : 0;
    notRows[i] = mask[i] && !rows[i] ? 1 : 0;
    rowBand[i] = rows[i] && !columns[i] ? 1 : 0;
    columnBand[i] = columns[i] && !rows[i] ? 1 : 0;
  }
  if (!anyPage) return mask;
  const acrossRows = runsDown(notColumns, width);
  const acrossColumns = transpose(runsDown(transpose(notRows, width, height), height), height, width);
  const rowThickness = thickness(acrossRows, rowBand);
  const columnThickness = thickness(acrossColumns, columnBand);
  const strokes = new Uint8Array(n);
  let anyStroke = false;
  for (let i = 0; i < n; i++) {
    const onLine = (rows[i] && acrossRows[i] >= rowThickness + STROKE_ON_LINE) ||
                   (columns[i] && acrossColumns[i] >= columnThickness + STROKE_ON_LINE);
    strokes[i] = (mask[i] && !rows[i] && !columns[i]) || onLine ? 1 : 0;
    anyStroke ||= Boolean(strokes[i]);
  }
  if (!anyStroke) return strokes;
  const reach = Math.floor(Math.max(rowThickness, columnThickness) / 2) + 1;
  const near = withinDisc(strokes, width, height, reach * reach);
  const kept = new Uint8Array(n);
  for (let i = 0; i < n; i++) kept[i] = strokes[i] || ((rows[i] || columns[i]) && near[i]) ? 1 : 0;
  return kept;
}
