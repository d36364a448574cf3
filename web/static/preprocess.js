// MNIST's own preprocessing for a canvas drawing: the JS twin of pipeline/preprocess.py.
//
// Same steps, same order, same constants as the Python file; tests/preprocess.test.mjs (Node) and
// tests/test_web_page.py (Chromium) hold the two to exactly the same output. Change one, change the
// other. Pure functions, no DOM, no TF.js.
//
// Input: an ImageData-like {width, height, data: Uint8ClampedArray RGBA}, the 8-bit RGBA branch of
// the Python to_grayscale. Output: Float32Array(28 * 28), row-major, 0..1, white ink on black.

export const SIZE = 28;            // SIZE in preprocess.py: the model's input is SIZE x SIZE
export const BOX = 20;             // BOX: the digit is fitted in BOX x BOX
export const INK_THRESHOLD = 0.1;  // INK_THRESHOLD: after normalisation, values below are background
export const EPSILON = 1e-9;       // EPSILON: an exact half-pixel centre must not fall either way by float noise
export const MIN_SHARE = 0.1;      // MIN_SHARE, DIGIT_GAP, SPECKS, SPECK_SHARE: check_one_digit's constants
export const DIGIT_GAP = 0.25;
export const SPECKS = 20;
export const SPECK_SHARE = 0.3;

// Raised (like BlankImageError in Python) when there is no ink: nothing to predict.
export class BlankImageError extends Error {
  constructor() {
    super('The image is blank: there is no digit to read.');
    this.name = 'BlankImageError';
  }
}

// Raised (like NotOneDigitError in Python) for two or more marks side by side, or only specks.
export class NotOneDigitError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NotOneDigitError';
  }
}

// Twin of to_grayscale (8-bit RGBA case): luminance in 0..1; transparent pixels take the colour
// opposite to the ink (the most opaque pixels: alpha above half the image's largest, so faint ink
// drawn at 40 % opacity counts too). Returns a Float64Array (numpy works in float64 too).
export function toGrayscale({ width, height, data }) {
  const count = width * height;
  if (!(width >= 1 && height >= 1) || data.length !== count * 4) {
    throw new Error(`Expected ${width}x${height} RGBA pixels, got ${data.length} bytes.`);
  }
  const gray = new Float64Array(count);
  const alpha = new Float64Array(count);
  let minAlpha = 1, maxAlpha = 0;
  for (let i = 0; i < count; i++) {
    const r = data[4 * i] / 255, g = data[4 * i + 1] / 255, b = data[4 * i + 2] / 255;
    gray[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    alpha[i] = data[4 * i + 3] / 255;
    minAlpha = Math.min(minAlpha, alpha[i]);
    maxAlpha = Math.max(maxAlpha, alpha[i]);
  }
  if (minAlpha < 1) {
    let opaque = 0, sum = 0;
    for (let i = 0; i < count; i++) {
      if (alpha[i] > 0.5 * maxAlpha) { opaque++; sum += gray[i]; }
    }
    const inkIsLight = opaque > 0 && sum / opaque > 0.5;
    const background = inkIsLight ? 0 : 1;
    for (let i = 0; i < count; i++) gray[i] = gray[i] * alpha[i] + background * (1 - alpha[i]);
  }
  return gray;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Same order as np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]]).
function borderOf(gray, width, height) {
  const border = [];
  for (let x = 0; x < width; x++) border.push(gray[x]);
  for (let x = 0; x < width; x++) border.push(gray[(height - 1) * width + x]);
  for (let y = 0; y < height; y++) border.push(gray[y * width]);
  for (let y = 0; y < height; y++) border.push(gray[y * width + width - 1]);
  return border;
}

// Twin of normalise: background (median of the border) at 0, strongest ink at 1; a light border
// means dark ink on light paper, which is inverted. Throws BlankImageError when there is no ink.
export function normalise(gray, width, height) {
  let border = borderOf(gray, width, height);
  if (median(border) > 0.5) {
    gray = gray.map((v) => 1 - v);
    border = border.map((v) => 1 - v);
  }
  const background = median(border);
  let peak = -Infinity;
  for (const v of gray) peak = Math.max(peak, v);
  if (peak - background < INK_THRESHOLD) throw new BlankImageError();
  const ink = new Float64Array(gray.length);
  for (let i = 0; i < gray.length; i++) {
    const v = Math.min(Math.max((gray[i] - background) / (peak - background), 0), 1);
    ink[i] = v < INK_THRESHOLD ? 0 : v;
  }
  return ink;
}

// Twin of resample_weights: target x source area weights, output cell i averages the input it covers.
export function resampleWeights(source, target) {
  const scale = source / target;
  const weights = [];
  for (let i = 0; i < target; i++) {
    const row = new Float64Array(source);
    const start = i * scale, end = (i + 1) * scale;
    for (let j = Math.floor(start); j < Math.min(Math.ceil(end), source); j++) {
      row[j] = (Math.min(end, j + 1) - Math.max(start, j)) / scale;
    }
    weights.push(row);
  }
  return weights;
}

// Twin of resize_area: rows @ image @ cols.T, evaluated left to right as numpy does.
export function resizeArea(image, imageHeight, imageWidth, height, width) {
  const rowWeights = resampleWeights(imageHeight, height);
  const colWeights = resampleWeights(imageWidth, width);
  const tall = new Float64Array(height * imageWidth);  // rowWeights @ image
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < imageWidth; j++) {
      let sum = 0;
      for (let k = 0; k < imageHeight; k++) sum += rowWeights[i][k] * image[k * imageWidth + j];
      tall[i * imageWidth + j] = sum;
    }
  }
  const out = new Float64Array(height * width);        // tall @ colWeights.T
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      let sum = 0;
      for (let k = 0; k < imageWidth; k++) sum += tall[i * imageWidth + k] * colWeights[j][k];
      out[i * width + j] = sum;
    }
  }
  return out;
}

// Twin of centre_in_field: paste into SIZE x SIZE with the centre of mass at the centre, moved by
// whole pixels: floor(SIZE / 2 - centre + 0.5 + EPSILON), clamped so the digit stays inside.
export function centreInField(digit, height, width) {
  // Row and column sums first, then the weighted sums, in numpy's order.
  const rowSums = new Float64Array(height), colSums = new Float64Array(width);
  let total = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = digit[y * width + x];
      rowSums[y] += v;
      colSums[x] += v;
      total += v;
    }
  }
  let rowMoment = 0, colMoment = 0;
  for (let y = 0; y < height; y++) rowMoment += rowSums[y] * y;
  for (let x = 0; x < width; x++) colMoment += colSums[x] * x;
  const top = Math.min(Math.max(Math.floor(SIZE / 2 - rowMoment / total + 0.5 + EPSILON), 0), SIZE - height);
  const left = Math.min(Math.max(Math.floor(SIZE / 2 - colMoment / total + 0.5 + EPSILON), 0), SIZE - width);
  const field = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) field[(top + y) * SIZE + left + x] = digit[y * width + x];
  }
  return field;
}

// Twin of check_one_digit: throws NotOneDigitError unless the ink holds one digit. Components are
// 8-connected (as scipy.ndimage.label with a 3x3 structure), labelled in raster order of their first
// pixel; their masses and boxes are summed in raster order, as numpy's bincount does.
export function checkOneDigit(ink, width, height) {
  const labels = new Int32Array(width * height);
  const stack = [];
  let count = 0;
  for (let start = 0; start < ink.length; start++) {
    if (ink[start] <= 0 || labels[start]) continue;
    labels[start] = ++count;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop(), y = Math.floor(i / width), x = i % width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const ny = y + dy, nx = x + dx, j = ny * width + nx;
          if (ny < 0 || ny >= height || nx < 0 || nx >= width || ink[j] <= 0 || labels[j]) continue;
          labels[j] = count;
          stack.push(j);
        }
      }
    }
  }
  const mass = new Float64Array(count + 1);
  const boxes = Array.from({ length: count + 1 }, () => [Infinity, -Infinity, Infinity, -Infinity]);
  for (let i = 0; i < ink.length; i++) {
    const label = labels[i];
    if (!label) continue;
    mass[label] += ink[i];
    const box = boxes[label], y = Math.floor(i / width), x = i % width;
    box[0] = Math.min(box[0], x); box[1] = Math.max(box[1], x + 1);
    box[2] = Math.min(box[2], y); box[3] = Math.max(box[3], y + 1);
  }
  let total = 0, largest = 0;
  for (let label = 1; label <= count; label++) { total += mass[label]; largest = Math.max(largest, mass[label]); }
  const spans = [];
  for (let label = 1; label <= count; label++) if (mass[label] >= MIN_SHARE * total) spans.push(boxes[label]);
  if (spans.length === 0 || (count > SPECKS && largest < SPECK_SHARE * total)) {   // no stroke stands out
    throw new NotOneDigitError('That is not one digit: the image holds only specks (blank or noisy paper).');
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
  const height_ = Math.max(...spans.map((s) => s[3])) - Math.min(...spans.map((s) => s[2]));
  let groups = 1, right = spans[0][1];
  for (const [left, stop] of spans.slice(1)) {
    if (left - right > DIGIT_GAP * height_) groups++;
    right = Math.max(right, stop);
  }
  if (groups > 1) {
    throw new NotOneDigitError(`That is not one digit: the image holds ${groups} marks side by side; ` +
                               'give one digit at a time.');
  }
}

// Twin of preprocess: any drawing -> Float32Array(784) in 0..1, MNIST-style.
// Throws BlankImageError on a blank drawing, NotOneDigitError when it is not one digit.
export function preprocess(imageData) {
  const { width, height } = imageData;
  const ink = normalise(toGrayscale(imageData), width, height);
  checkOneDigit(ink, width, height);
  // Crop to the ink: first and last rows and columns holding any.
  let top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > 0) {
        top = Math.min(top, y); bottom = Math.max(bottom, y);
        left = Math.min(left, x); right = Math.max(right, x);
      }
    }
  }
  const cropHeight = bottom - top + 1, cropWidth = right - left + 1;
  const crop = new Float64Array(cropHeight * cropWidth);
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) crop[y * cropWidth + x] = ink[(top + y) * width + left + x];
  }
  const scale = BOX / Math.max(cropHeight, cropWidth);
  const boxHeight = Math.max(1, Math.min(BOX, Math.floor(cropHeight * scale + 0.5)));
  const boxWidth = Math.max(1, Math.min(BOX, Math.floor(cropWidth * scale + 0.5)));
  const digit = resizeArea(crop, cropHeight, cropWidth, boxHeight, boxWidth)
    .map((v) => Math.min(Math.max(v, 0), 1));
  return centreInField(digit, boxHeight, boxWidth);
}

// Convenience for the page: null instead of an exception when there is nothing drawn.
export function preprocessOrNull(imageData) {
  try {
    return preprocess(imageData);
  } catch (error) {
    if (error instanceof BlankImageError) return null;
    throw error;
  }
}
