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

// Twin of evenly_spaced: which centres bound a gap within SPACING of a gap beside it.
function evenlySpaced(centres) {
  const gaps = centres.slice(1).map((c, i) => c - centres[i]);
  const lines = centres.map(() => false);
  gaps.forEach((gap, i) => {
    const beside = gaps.slice(Math.max(i - 1, 0), i).concat(gaps.slice(i + 1, i + 2));
    if (beside.some((other) => Math.abs(other - gap) <= SPACING * gap)) lines[i] = lines[i + 1] = true;
  });
  return lines;
}

// Twin of page_lines: mask's pixels on the page's near-horizontal lines, a digital line more on each
// side, the lines looked for in `search` (a part of mask; all of it if null).
function pageLines(mask, width, height, search = null) {
  const found = new Uint8Array(mask.length);
  const xs = [], ys = [];
  const looked = search ?? mask;
  for (let i = 0; i < looked.length; i++) if (looked[i]) { ys.push(Math.floor(i / width)); xs.push(i % width); }
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
  let counts = countsAt(step);
  // how many columns each line crosses inside the image
  const change = new Int32Array(size + 1);
  for (let x = 0; x < width; x++) {
    const entry = steps - roundedShift(x, step, width);
    change[entry]++;
    change[entry + height]--;
  }
  const room = new Int32Array(size);
  for (let o = 0, inside = 0; o < size; o++) { inside += change[o]; room[o] = inside; }
  // what any line holds: the (upper) median count per width among the lines crossing half the image
  const perWidth = [];
  for (let o = 0; o < size; o++) {
    if (room[o] >= Math.floor(width / 2)) perWidth.push(Math.floor(counts[o] * width / Math.max(room[o], 1)));
  }
  perWidth.sort((a, b) => a - b);
  const floor = perWidth.length ? perWidth[perWidth.length >> 1] : 0;
  counts = counts.map((c, o) => c - Math.floor(floor * room[o] / width));
  const edge = (o) => LINE_EDGE * counts[o] >= LINE_SPAN * room[o] && room[o] > 0;
  const runs = [], crossing = [];
  for (let start = 0; start < size; start++) {
    if (!edge(start) || (start > 0 && edge(start - 1))) continue;
    let stop = start, full = false, mostRoom = 0;
    while (stop < size && edge(stop)) {
      full ||= counts[stop] >= LINE_SPAN * room[stop];
      mostRoom = Math.max(mostRoom, room[stop]);
      stop++;
    }
    if (stop - start > LINE_THICKNESS * height || !full) continue;
    runs.push([start, stop]);
    crossing.push(mostRoom >= LINE_ROOM * width);
  }
  const lines = evenlySpaced(runs.map(([a, b]) => a + b));
  if (lines.filter((line, i) => line && crossing[i]).length < LINES) return found;
  const page = new Uint8Array(size);
  runs.forEach(([start, stop], i) => { if (lines[i]) page.fill(1, Math.max(start - 1, 0), stop + 1); });
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      const y = Math.floor(i / width), x = i % width;
      found[i] = page[y - roundedShift(x, step, width) + steps];
    }
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
  const n = mask.length;
  // each kind looked for without the other: the rows, the columns without them, the rows again
  const firstRows = pageLines(mask, width, height);
  const withoutRows = new Uint8Array(n);
  for (let i = 0; i < n; i++) withoutRows[i] = mask[i] && !firstRows[i] ? 1 : 0;
  const columns = transpose(pageLines(transpose(mask, width, height), height, width,
                                      transpose(withoutRows, width, height)), height, width);
  const withoutColumns = new Uint8Array(n);
  let anyColumn = false;
  for (let i = 0; i < n; i++) {
    withoutColumns[i] = mask[i] && !columns[i] ? 1 : 0;
    anyColumn ||= Boolean(columns[i]);
  }
  // without columns the search is the first one again: not made twice
  const rows = anyColumn ? pageLines(mask, width, height, withoutColumns) : firstRows;
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
