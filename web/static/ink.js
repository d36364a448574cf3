// Find the ink: the JS twin of pipeline/ink.py (what each step does and why is written there).
//
// Whole numbers wherever a result is compared, and the same float operations in the same order
// elsewhere, so that tests/preprocess.test.mjs can hold the two to exactly the same mask. Images are
// row-major typed arrays with their width and height; masks are Uint8Array of 0/1.

import { dropRuledLines } from './lines.js';
import { beyondDisc, inkBox, strokeWidth, withinDisc } from './pen.js';

export const WORK_SIDE = 512;           // WORK_SIDE
export const BACKGROUND_WINDOW = 0.25;  // BACKGROUND_WINDOW
export const NOISE_SIGMAS = 3.0;        // NOISE_SIGMAS
export const LOW_FLOOR = 8;             // LOW_FLOOR
export const NEAR = 2;                  // NEAR, NEAR_SMALL, SMALL_SIDE
export const NEAR_SMALL = 4;
export const SMALL_SIDE = 64;
export const DESK_CORE = 3;             // DESK_CORE
export const DESK_FRINGE = 3;           // DESK_FRINGE
export const FRAME_SPAN = 0.7;          // FRAME_SPAN
export const FRAME_DEPTH = 0.15;        // FRAME_DEPTH
export const MIN_SHARE = 0.1;           // MIN_SHARE, PIECE_SHARE, DIGIT_GAP, SPECKS, SPECK_SHARE, SCRIBBLE, SMALLEST
export const PIECE_SHARE = 0.02;
export const DIGIT_GAP = 0.03;
export const SPECKS = 20;
export const SPECK_SHARE = 0.3;
export const SCRIBBLE = 4.2;
export const LOOPS = 2;                 // LOOPS, LOOP_SIDE
export const LOOP_SIDE = 0.1;
export const CROSSINGS = [3, 4];        // CROSSINGS ([rows, columns]), CROSSED
export const CROSSED = 0.3;
export const SMALLEST = 0.06;

const BLANK = 'The image is blank: there is no digit to read.';
const SPECKS_ONLY = 'That is not one digit: the image holds only specks (blank or noisy paper).';
const TOO_SMALL = 'That is not one digit: the marks are too small to read (a speck, or a digit drawn tiny: draw it larger).';

// Raised (like BlankImageError in Python) when there is no ink: nothing to predict.
export class BlankImageError extends Error {
  constructor() {
    super(BLANK);
    this.name = 'BlankImageError';
  }
}

// Raised (like NotOneDigitError in Python) for several marks side by side, or only specks.
export class NotOneDigitError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NotOneDigitError';
  }
}

// Twin of to_levels: float 0..1 -> grey levels 0..255, rounded half up.
export function toLevels(gray) {
  const levels = new Int32Array(gray.length);
  for (let i = 0; i < gray.length; i++) levels[i] = Math.floor(gray[i] * 255 + 0.5);
  return levels;
}

// Twin of shrink: block means over the largest whole factor that keeps the longer side at least
// WORK_SIDE; returns {levels, width, height}.
export function shrink(levels, width, height) {
  const factor = Math.max(1, Math.floor(Math.max(width, height) / WORK_SIDE));
  const outWidth = Math.floor(width / factor), outHeight = Math.floor(height / factor);
  if (factor === 1 || outWidth === 0 || outHeight === 0) return { levels, width, height };
  const area = factor * factor;
  const out = new Int32Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (y * factor + dy) * width + x * factor;
        for (let dx = 0; dx < factor; dx++) sum += levels[row + dx];
      }
      out[y * outWidth + x] = Math.floor((sum * 2 + area) / (2 * area));
    }
  }
  return { levels: out, width: outWidth, height: outHeight };
}

// Twin of window_size: odd, at least 3; the whole of a small image.
export function windowSize(width, height) {
  const side = Math.max(width, height) <= SMALL_SIDE ? Math.max(width, height)
    : Math.trunc(Math.min(width, height) * BACKGROUND_WINDOW);
  return Math.max(3, side | 1);
}

// np.median of whole numbers in 0..top, by counting: the middle value, or the mean of the two middle ones.
function medianOf(values, top = 255) {
  const counts = new Float64Array(top + 1);
  for (let i = 0; i < values.length; i++) counts[values[i]]++;
  const nth = (k) => {   // the k-th smallest (0-based)
    let seen = 0;
    for (let v = 0; v <= top; v++) { seen += counts[v]; if (seen > k) return v; }
    return top;
  };
  const middle = values.length >> 1;
  return values.length % 2 ? nth(middle) : (nth(middle - 1) + nth(middle)) / 2;
}

// Min (pickMax false) or max over a window of `size` (odd) centred on each pixel, along rows or
// columns, the window cut at the image's edge (what scipy's mode="nearest" gives a min or max): a
// sliding-window deque of positions, O(1) a pixel.
function slidingExtreme(values, width, height, size, alongRows, pickMax) {
  const out = new Int32Array(values.length);
  const half = size >> 1;
  const lines = alongRows ? height : width, length = alongRows ? width : height;
  const step = alongRows ? 1 : width;
  const queue = new Int32Array(length);
  for (let line = 0; line < lines; line++) {
    const base = alongRows ? line * width : line;
    let head = 0, tail = 0, next = 0;
    for (let i = 0; i < length; i++) {
      const last = Math.min(i + half, length - 1);
      for (; next <= last; next++) {
        const v = values[base + next * step];
        while (tail > head && (pickMax ? v >= values[base + queue[tail - 1] * step]
                                       : v <= values[base + queue[tail - 1] * step])) tail--;
        queue[tail++] = next;
      }
      while (queue[head] < i - half) head++;
      out[base + i * step] = values[base + queue[head] * step];
    }
  }
  return out;
}

// Twin of dark_ink: the darkest level further below the median than the brightest lies above it.
function darkInk(levels) {
  const middle = medianOf(levels);
  let lowest = 255, highest = 0;
  for (let i = 0; i < levels.length; i++) {
    lowest = Math.min(lowest, levels[i]);
    highest = Math.max(highest, levels[i]);
  }
  return middle - lowest > highest - middle;
}

// Twin of remove_background: ink made bright, minus the grey opening over windowSize.
export function removeBackground(levels, width, height) {
  const bright = darkInk(levels) ? levels.map((v) => 255 - v) : levels;
  const size = windowSize(width, height);
  let background = slidingExtreme(bright, width, height, size, true, false);
  background = slidingExtreme(background, width, height, size, false, false);
  background = slidingExtreme(background, width, height, size, true, true);
  background = slidingExtreme(background, width, height, size, false, true);
  return bright.map((v, i) => v - background[i]);
}

// Twin of noisy: most horizontal neighbours differ, in an image larger than SMALL_SIDE.
export function noisy(levels, width, height) {
  if (width < 2 || Math.max(width, height) <= SMALL_SIDE) return false;
  const differences = new Int32Array((width - 1) * height);
  let k = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width - 1; x++) differences[k++] = Math.abs(levels[y * width + x + 1] - levels[y * width + x]);
  }
  differences.sort();
  return differences[differences.length >> 1] > 0;
}

// Twin of smooth: 3x3 box mean, edges repeated, rounded half up.
export function smooth(levels, width, height) {
  const out = new Int32Array(levels.length);
  const at = (x, y) => levels[Math.min(Math.max(y, 0), height - 1) * width + Math.min(Math.max(x, 0), width - 1)];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let total = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) total += at(x + dx, y + dy);
      out[y * width + x] = Math.floor((total * 2 + 9) / 18);
    }
  }
  return out;
}

// Twin of otsu_threshold.
export function otsuThreshold(values) {
  const counts = new Float64Array(256);
  for (const v of values) counts[v]++;
  let total = 0, weightedTotal = 0;
  for (let t = 0; t < 256; t++) { total += counts[t]; weightedTotal += counts[t] * t; }
  let best = 0, bestScore = -1, below = 0, belowWeighted = 0;
  for (let t = 1; t < 256; t++) {
    below += counts[t - 1];
    belowWeighted += (t - 1) * counts[t - 1];
    const above = total - below;
    if (below === 0 || above === 0) continue;
    const difference = belowWeighted / below - (weightedTotal - belowWeighted) / above;
    const score = below * above * difference * difference;
    if (score > bestScore) { best = t; bestScore = score; }
  }
  return best;
}

// 8-connected components of mask (4-connected when diagonal is false): {labels (Int32Array, 0 =
// background), count}, labelled in raster order of their first pixel, as scipy.ndimage.label does.
export function label(mask, width, height, diagonal = true) {
  const labels = new Int32Array(width * height);
  const stack = [];
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    labels[start] = ++count;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop(), y = Math.floor(i / width), x = i % width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const ny = y + dy, nx = x + dx, j = ny * width + nx;
          if (!diagonal && dy !== 0 && dx !== 0) continue;
          if (ny < 0 || ny >= height || nx < 0 || nx >= width || !mask[j] || labels[j]) continue;
          labels[j] = count;
          stack.push(j);
        }
      }
    }
  }
  return { labels, count };
}

// Twin of upper_threshold: Otsu's threshold among the values at or above low, at least low.
function upperThreshold(strength, low) {
  const above = strength.filter((v) => v >= low);
  if (above.length === 0) throw new BlankImageError();
  return Math.max(otsuThreshold(above), low);
}

// Twin of components: {labels, count, boxes ([left, right, top, bottom) per label, 1..count), frame
// (per label: touches the image's edge and spans FRAME_SPAN of it), areas (per label)}.
export function components(mask, width, height) {
  const { labels, count } = label(mask, width, height);
  const areas = new Float64Array(count + 1);
  const boxes = Array.from({ length: count + 1 }, () => [Infinity, -Infinity, Infinity, -Infinity]);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!l) continue;
    areas[l]++;
    const box = boxes[l], y = Math.floor(i / width), x = i % width;
    box[0] = Math.min(box[0], x); box[1] = Math.max(box[1], x + 1);
    box[2] = Math.min(box[2], y); box[3] = Math.max(box[3], y + 1);
  }
  const depth = new Float64Array(count + 1);   // how far in from the image's edge each piece reaches
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    const y = Math.floor(i / width), x = i % width;
    depth[labels[i]] = Math.max(depth[labels[i]], Math.min(y, height - 1 - y, x, width - 1 - x));
  }
  const frame = new Uint8Array(count + 1);
  for (let l = 1; l <= count; l++) {
    const [left, right, top, bottom] = boxes[l];
    const touches = top === 0 || left === 0 || bottom === height || right === width;
    const spans = right - left >= FRAME_SPAN * width || bottom - top >= FRAME_SPAN * height;
    frame[l] = touches && spans && depth[l] <= FRAME_DEPTH * Math.min(width, height) ? 1 : 0;
  }
  return { labels, count, boxes, frame, areas };
}

// Twin of digit_sized: the set pixels span a box at least SMALLEST of the image's shorter side.
function digitSized(mask, width, height) {
  const box = inkBox(mask, width, height);
  return box !== null && Math.max(box.height, box.width) >= SMALLEST * Math.min(width, height);
}

// Twin of desk_pixels: the wide frames grown back over what is above low, unless that is all.
function deskPixels(strength, width, height, low) {
  const ink = new Uint8Array(strength.length);
  for (let i = 0; i < strength.length; i++) ink[i] = strength[i] >= low ? 1 : 0;
  const core = beyondDisc(ink, width, height, DESK_CORE * DESK_CORE);
  const { labels, frame } = components(core, width, height);
  if (!frame.includes(1, 1)) return null;
  const reach = DESK_CORE + DESK_FRINGE;
  const frames = new Uint8Array(strength.length);
  for (let i = 0; i < strength.length; i++) frames[i] = frame[labels[i]] && labels[i] ? 1 : 0;
  const nearFrame = withinDisc(frames, width, height, reach * reach);
  const desk = new Uint8Array(strength.length), rest = new Uint8Array(strength.length);
  for (let i = 0; i < strength.length; i++) {
    desk[i] = strength[i] >= low && nearFrame[i] ? 1 : 0;
    rest[i] = strength[i] >= low && !desk[i] ? 1 : 0;
  }
  return digitSized(rest, width, height) ? desk : null;
}

// Twin of ink_mask: local hysteresis, the desk left out first.
export function inkMask(strength, width, height) {
  const split = otsuThreshold(strength);
  let paper = strength.filter((v) => v < split);   // Otsu's lower class: the paper
  if (paper.length === 0) paper = strength;
  const middle = medianOf(paper);
  // the median absolute deviation, by counting the doubled deviations (whole numbers: middle may be a half)
  const deviations = new Int32Array(paper.length);
  for (let i = 0; i < paper.length; i++) deviations[i] = Math.abs(2 * paper[i] - 2 * middle);
  const spread = 1.4826 * (medianOf(deviations, 511) / 2);
  const low = Math.max(middle + NOISE_SIGMAS * spread, LOW_FLOOR);
  const desk = deskPixels(strength, width, height, low);
  if (desk) strength = strength.map((v, i) => (desk[i] ? 0 : v));
  const high = upperThreshold(strength, low);
  const strong = new Uint8Array(strength.length);
  for (let i = 0; i < strength.length; i++) strong[i] = strength[i] >= high ? 1 : 0;
  const near = Math.max(width, height) <= SMALL_SIDE ? NEAR_SMALL : NEAR;
  const nearStrong = withinDisc(strong, width, height, near * near);
  const mask = new Uint8Array(strength.length);
  for (let i = 0; i < strength.length; i++) mask[i] = strength[i] >= low && nearStrong[i] ? 1 : 0;
  return mask;
}

// Twin of digit_mask: the one digit's pixels; throws NotOneDigitError or BlankImageError.
export function digitMask(mask, width, height) {
  const { labels, count, boxes, frame, areas } = components(mask, width, height);
  if (count === 0) throw new BlankImageError();
  const rest = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) rest[i] = labels[i] && !frame[labels[i]] ? 1 : 0;
  const dropFrames = digitSized(rest, width, height);   // a tight crop's 1 and a speck: keep both
  const keep = new Uint8Array(count + 1);
  let total = 0, largest = 0;
  for (let l = 1; l <= count; l++) {
    keep[l] = !dropFrames || !frame[l] ? 1 : 0;
    if (keep[l]) { total += areas[l]; largest = Math.max(largest, areas[l]); }
  }
  if (count > SPECKS && largest < SPECK_SHARE * total) throw new NotOneDigitError(SPECKS_ONLY);
  const spans = [];
  for (let l = 1; l <= count; l++) if (keep[l] && areas[l] >= MIN_SHARE * total) spans.push(boxes[l]);
  if (spans.length === 0) throw new NotOneDigitError(SPECKS_ONLY);   // many pieces, none standing out
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
  const top = Math.min(...spans.map((s) => s[2])), bottom = Math.max(...spans.map((s) => s[3]));
  let groups = 1, right = spans[0][1];
  for (const [left, stop] of spans.slice(1)) {
    if (left - right > DIGIT_GAP * (bottom - top)) groups++;
    right = Math.max(right, stop);
  }
  if (groups > 1) {
    throw new NotOneDigitError(`That is not one digit: the image holds ${groups} marks side by side; ` +
                               'give one digit at a time.');
  }
  const left = spans[0][0];
  const side = Math.max(bottom - top, right - left);
  if (side < SMALLEST * Math.min(width, height)) throw new NotOneDigitError(TOO_SMALL);   // a speck, a tap
  const inside = new Uint8Array(count + 1);
  for (let l = 1; l <= count; l++) {
    const box = boxes[l];
    inside[l] = keep[l] && areas[l] >= PIECE_SHARE * total &&
                box[2] >= top && box[3] <= bottom && box[0] >= left && box[1] <= right ? 1 : 0;
  }
  const digit = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) digit[i] = inside[labels[i]];
  if (scribbled(digit, width, height, side)) {
    throw new NotOneDigitError('That is not one digit: it has more strokes than a digit has (a scribble?).');
  }
  if (loops(digit, width, height) > LOOPS) {
    throw new NotOneDigitError('That is not one digit: it closes more loops than a digit has (a scribble?).');
  }
  if (crossed(digit, width, height)) {
    throw new NotOneDigitError("That is not one digit: its strokes zig-zag more than a digit's (a scribble?).");
  }
  return digit;
}

// Twin of scribbled.
function scribbled(digit, width, height, side) {
  let area = 0;
  for (const v of digit) area += v;
  return area / strokeWidth(digit, width, height) > SCRIBBLE * side;
}

// Twin of loops: how many loops the digit's strokes close (holes of paper at least as many pixels as
// the square of the widest of the stroke width, 1 px and LOOP_SIDE of the box's longer side).
export function loops(digit, width, height) {
  const box = inkBox(digit, width, height);
  if (box === null) return 0;
  const { top, left, width: cropWidth, height: cropHeight } = box;
  const crop = new Uint8Array(cropWidth * cropHeight);
  const paper = new Uint8Array((cropWidth + 2) * (cropHeight + 2)).fill(1);   // padded with paper
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) {
      crop[y * cropWidth + x] = digit[(top + y) * width + left + x];
      paper[(y + 1) * (cropWidth + 2) + x + 1] = crop[y * cropWidth + x] ? 0 : 1;
    }
  }
  const { labels, count } = label(paper, cropWidth + 2, cropHeight + 2, false);   // 1 is the paper outside
  const areas = new Float64Array(count + 1);
  for (const l of labels) areas[l]++;
  const least = Math.max(strokeWidth(crop, cropWidth, cropHeight), 1, LOOP_SIDE * Math.max(cropWidth, cropHeight));
  let holes = 0;
  for (let l = 2; l <= count; l++) if (areas[l] >= least * least) holes++;
  return holes;
}

// Twin of crossings: how many runs of ink each row and each column of the ink's box crosses, as
// {rows, columns} (Int32Array; both empty for an empty mask).
export function crossings(digit, width, height) {
  const box = inkBox(digit, width, height);
  if (box === null) return { rows: new Int32Array(0), columns: new Int32Array(0) };
  const { top, left, width: boxWidth, height: boxHeight } = box;
  const rows = new Int32Array(boxHeight), columns = new Int32Array(boxWidth);
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) {
      const i = (top + y) * width + left + x;
      if (!digit[i]) continue;
      if (x === 0 || !digit[i - 1]) rows[y]++;        // a run starts in this row
      if (y === 0 || !digit[i - width]) columns[x]++; // and in this column
    }
  }
  return { rows, columns };
}

// Twin of crossed: more than CROSSED of the box's rows (columns) cross more than CROSSINGS runs of ink.
function crossed(digit, width, height) {
  const { rows, columns } = crossings(digit, width, height);
  if (rows.length === 0) return false;
  const share = (counts, limit) => counts.reduce((n, c) => n + (c > limit ? 1 : 0), 0) / counts.length;
  return share(rows, CROSSINGS[0]) > CROSSED || share(columns, CROSSINGS[1]) > CROSSED;
}

// Twin of find_digit: gray (Float64Array, toGrayscale's) -> {digit (Uint8Array), shade (Float64Array),
// width, height} at the working resolution.
export function findDigit(gray, imageWidth, imageHeight) {
  let { levels, width, height } = shrink(toLevels(gray), imageWidth, imageHeight);
  if (noisy(levels, width, height)) levels = smooth(levels, width, height);
  const strength = removeBackground(levels, width, height);
  const digit = digitMask(dropRuledLines(inkMask(strength, width, height), width, height), width, height);
  let strongest = -Infinity;
  digit.forEach((d, i) => { if (d) strongest = Math.max(strongest, strength[i]); });
  const shade = new Float64Array(strength.length);
  for (let i = 0; i < strength.length; i++) shade[i] = strength[i] / strongest;
  return { digit, shade, width, height };
}
