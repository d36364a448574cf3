// MNIST's own preprocessing for a drawing or a photo: the JS twin of pipeline/preprocess.py (the ink
// found by ink.js, its pen set by pen.js).
//
// Same steps, same order, same constants as the Python file; tests/preprocess.test.mjs (Node) and
// tests/test_web_page.py (Chromium) hold the two to exactly the same output. Change one, change the
// other. Pure functions, no DOM, no TF.js.
//
// Input: an ImageData-like {width, height, data: Uint8ClampedArray RGBA}, the 8-bit RGBA branch of
// the Python to_grayscale. Output: Float32Array(28 * 28), row-major, 0..1, white ink on black.

import { BlankImageError, NotOneDigitError, findDigit } from './ink.js';
import { inkBox, normalisePen } from './pen.js';

export const SIZE = 28;            // SIZE in preprocess.py: the model's input is SIZE x SIZE
export const BOX = 20;             // BOX: the digit is fitted in BOX x BOX
export const EPSILON = 1e-9;       // EPSILON: an exact half-pixel centre must not fall either way by float noise

export { BlankImageError, NotOneDigitError };

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

// Twin of preprocess: any drawing or photo -> Float32Array(784) in 0..1, MNIST-style.
// Throws BlankImageError when there is no ink, NotOneDigitError when it is not one digit.
export function preprocess(imageData) {
  const { digit: found, shade, width, height } = findDigit(toGrayscale(imageData), imageData.width, imageData.height);
  const first = inkBox(found, width, height);
  const mask = normalisePen(found, width, height, BOX / Math.max(first.height, first.width));
  // the ink as found keeps its shades (anti-aliased edges); what the pen added is full ink
  const box = inkBox(mask, width, height);
  const crop = new Float64Array(box.height * box.width);
  for (let y = 0; y < box.height; y++) {
    for (let x = 0; x < box.width; x++) {
      const i = (box.top + y) * width + box.left + x;
      crop[y * box.width + x] = !mask[i] ? 0 : found[i] ? shade[i] : 1.0;
    }
  }
  const scale = BOX / Math.max(box.height, box.width);
  const boxHeight = Math.max(1, Math.min(BOX, Math.floor(box.height * scale + 0.5)));
  const boxWidth = Math.max(1, Math.min(BOX, Math.floor(box.width * scale + 0.5)));
  const digit = resizeArea(crop, box.height, box.width, boxHeight, boxWidth)
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
