// Find the ink: the JS twin of pipeline/ink.py (what each step does and why is written there).
//
// Whole numbers wherever a result is compared, and the same float operations in the same order
// elsewhere, so that tests/preprocess.test.mjs can hold the two to exactly the same mask. Images are
// row-major typed arrays with their width and height; masks are Uint8Array of 0/1.

export const WORK_SIDE = 512;           // WORK_SIDE
export const BACKGROUND_WINDOW = 0.25;  // BACKGROUND_WINDOW
export const NOISE_SIGMAS = 4.0;        // NOISE_SIGMAS
export const LOW_FLOOR = 8;             // LOW_FLOOR
export const LINE_SPAN = 0.75;          // LINE_SPAN
export const MIN_SHARE = 0.1;           // MIN_SHARE, DIGIT_GAP, SPECKS, SPECK_SHARE
export const DIGIT_GAP = 0.25;
export const SPECKS = 20;
export const SPECK_SHARE = 0.3;

const BLANK = 'The image is blank: there is no digit to read.';

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
  return Int32Array.from(gray, (v) => Math.floor(v * 255 + 0.5));
}

// Twin of shrink: block means over the smallest whole factor that brings the longer side to at most
// WORK_SIDE; returns {levels, width, height, factor}.
export function shrink(levels, width, height) {
  const factor = Math.ceil(Math.max(width, height) / WORK_SIDE);
  const outWidth = Math.floor(width / factor), outHeight = Math.floor(height / factor);
  if (factor === 1 || outWidth === 0 || outHeight === 0) return { levels, width, height, factor: 1 };
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
  return { levels: out, width: outWidth, height: outHeight, factor };
}

// Twin of window_size: odd, at least 3.
export function windowSize(width, height) {
  return Math.max(3, Math.trunc(Math.min(width, height) * BACKGROUND_WINDOW) | 1);
}

function medianOf(values) {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Min or max over a window of `size` (odd) centred on each pixel, along rows (step 1) or columns
// (step width), the window cut at the image's edge (what scipy's mode="nearest" gives a min or max).
function slidingExtreme(values, width, height, size, alongRows, pick) {
  const out = new Int32Array(values.length);
  const half = size >> 1;
  const lines = alongRows ? height : width, length = alongRows ? width : height;
  const index = alongRows ? (line, i) => line * width + i : (line, i) => i * width + line;
  const queue = new Int32Array(length);  // positions whose values are monotonic: a sliding-window deque
  for (let line = 0; line < lines; line++) {
    let head = 0, tail = 0, next = 0;
    for (let i = 0; i < length; i++) {
      for (; next <= Math.min(i + half, length - 1); next++) {
        const v = values[index(line, next)];
        while (tail > head && pick(v, values[index(line, queue[tail - 1])])) tail--;
        queue[tail++] = next;
      }
      while (queue[head] < i - half) head++;
      out[index(line, i)] = values[index(line, queue[head])];
    }
  }
  return out;
}

// Twin of remove_background: ink made bright, minus the grey opening over windowSize.
export function removeBackground(levels, width, height) {
  const bright = medianOf(levels) > 127.5 ? levels.map((v) => 255 - v) : levels;
  const size = windowSize(width, height);
  const lower = (a, b) => a <= b, higher = (a, b) => a >= b;
  let background = slidingExtreme(bright, width, height, size, true, lower);
  background = slidingExtreme(background, width, height, size, false, lower);
  background = slidingExtreme(background, width, height, size, true, higher);
  background = slidingExtreme(background, width, height, size, false, higher);
  return bright.map((v, i) => v - background[i]);
}

// Twin of noise_level.
export function noiseLevel(levels, width, height) {
  if (width < 2) return 0;
  const differences = new Int32Array((width - 1) * height);
  let k = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width - 1; x++) differences[k++] = Math.abs(levels[y * width + x + 1] - levels[y * width + x]);
  }
  differences.sort();
  return differences[differences.length >> 1] / 0.9539;
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

// 8-connected components of mask: {labels (Int32Array, 0 = background), count}, labelled in raster
// order of their first pixel, as scipy.ndimage.label does.
export function label(mask, width, height) {
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
          if (ny < 0 || ny >= height || nx < 0 || nx >= width || !mask[j] || labels[j]) continue;
          labels[j] = count;
          stack.push(j);
        }
      }
    }
  }
  return { labels, count };
}

// Twin of ink_mask: hysteresis between low and high; returns {mask, high}.
export function inkMask(strength, width, height, noise) {
  const low = Math.max(NOISE_SIGMAS * noise, LOW_FLOOR);
  const high = Math.max(otsuThreshold(strength), low);
  const { labels, count } = label(strength.map((v) => (v >= low ? 1 : 0)), width, height);
  const strong = new Uint8Array(count + 1);
  strength.forEach((v, i) => { if (v >= high) strong[labels[i]] = 1; });
  strong[0] = 0;
  if (!strong.includes(1)) throw new BlankImageError();
  return { mask: Uint8Array.from(labels, (l) => strong[l]), high };
}

// Pixels of mask in a run of at least `length` along rows (alongRows) or columns.
function longRuns(mask, width, height, length, alongRows) {
  const runs = new Uint8Array(mask.length);
  const lines = alongRows ? height : width, size = alongRows ? width : height;
  const index = alongRows ? (line, i) => line * width + i : (line, i) => i * width + line;
  for (let line = 0; line < lines; line++) {
    let start = 0;
    for (let i = 0; i <= size; i++) {
      if (i < size && mask[index(line, i)]) continue;
      if (i - start >= length) for (let j = start; j < i; j++) runs[index(line, j)] = 1;
      start = i + 1;
    }
  }
  return runs;
}

// Twin of separate_lines: how many blocks of consecutive lines (rows or columns) hold a long run.
function separateLines(runs, width, height, alongRows) {
  let blocks = 0, previous = false;
  for (let line = 0; line < (alongRows ? height : width); line++) {
    let present = false;
    for (let i = 0; i < (alongRows ? width : height) && !present; i++) {
      present = runs[alongRows ? line * width + i : i * width + line] === 1;
    }
    if (present && !previous) blocks++;
    previous = present;
  }
  return blocks;
}

// Twin of remove_lines: long runs go when there are two or more lines of them.
export function removeLines(mask, width, height) {
  const rows = longRuns(mask, width, height, Math.max(2, Math.ceil(LINE_SPAN * width)), true);
  const cols = longRuns(mask, width, height, Math.max(2, Math.ceil(LINE_SPAN * height)), false);
  const dropRows = separateLines(rows, width, height, true) >= 2;
  const dropCols = separateLines(cols, width, height, false) >= 2;
  return mask.map((v, i) => (v && !(dropRows && rows[i]) && !(dropCols && cols[i]) ? 1 : 0));
}

// Twin of digit_mask: the one digit's pixels; throws NotOneDigitError or BlankImageError.
export function digitMask(mask, width, height) {
  const { labels, count } = label(mask, width, height);
  if (count === 0) throw new BlankImageError();
  const areas = new Float64Array(count + 1);
  const boxes = Array.from({ length: count + 1 }, () => [Infinity, -Infinity, Infinity, -Infinity]);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!l) continue;
    areas[l]++;
    const box = boxes[l], y = Math.floor(i / width), x = i % width;  // [left, right, top, bottom), like slices
    box[0] = Math.min(box[0], x); box[1] = Math.max(box[1], x + 1);
    box[2] = Math.min(box[2], y); box[3] = Math.max(box[3], y + 1);
  }
  const frame = new Uint8Array(count + 1);  // the desk around the sheet, a page edge: dropped if anything else is there
  for (let l = 1; l <= count; l++) {
    const [left, right, top, bottom] = boxes[l];
    const touches = top === 0 || left === 0 || bottom === height || right === width;
    frame[l] = touches && (right - left >= LINE_SPAN * width || bottom - top >= LINE_SPAN * height) ? 1 : 0;
  }
  const allFrame = frame.subarray(1).every((f) => f === 1);
  const keep = new Uint8Array(count + 1);
  let total = 0, largest = 0;
  for (let l = 1; l <= count; l++) {
    keep[l] = allFrame || !frame[l] ? 1 : 0;
    if (keep[l]) { total += areas[l]; largest = Math.max(largest, areas[l]); }
  }
  if (total === 0) throw new BlankImageError();
  if (count > SPECKS && largest < SPECK_SHARE * total) {
    throw new NotOneDigitError('That is not one digit: the image holds only specks (blank or noisy paper).');
  }
  const spans = [];
  for (let l = 1; l <= count; l++) if (keep[l] && areas[l] >= MIN_SHARE * total) spans.push(boxes[l]);
  if (spans.length === 0) {   // many pieces, none standing out
    throw new NotOneDigitError('That is not one digit: the image holds only specks (blank or noisy paper).');
  }
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
  const inside = new Uint8Array(count + 1);
  for (let l = 1; l <= count; l++) {
    const box = boxes[l];
    inside[l] = keep[l] && box[2] >= top && box[3] <= bottom && box[0] >= left && box[1] <= right ? 1 : 0;
  }
  return Uint8Array.from(labels, (l) => inside[l]);
}
