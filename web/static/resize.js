// A model of one's own (manifest input recipe "resize", pipeline/own_model.py): any picture as the
// model takes it. The twin of pipeline/image_input.py's image_input and scale: alpha dropped, colour to
// grey by ITU-R 601 luma (0.299, 0.587, 0.114) for a 1-channel model or grey repeated for a 3-channel
// one, resized with tf.image.resize's default (bilinear, half-pixel centres, no antialiasing, aspect
// ratio not kept), then scaled linearly from 0..255 to the model's range. Every step rounds to
// float32 where numpy does, so the values are numpy's (tests/resize.test.mjs holds them to it).
// No DOM, no TF.js: it runs in Node as well.

const f = Math.fround;
const LUMA = [f(0.299), f(0.587), f(0.114)];

// The digit models have no `recipe` (MNIST's own recipe, preprocess.js); a model of one's own "resize".
export function recipeOf(input) {
  return input?.recipe ?? 'mnist';
}

// What is wrong with a "resize" manifest's `input` (one sentence each; [] when it is usable), as
// pipeline/manifest.py's input_problems checks it.
export function inputProblems(input) {
  const problems = [];
  const { height, width, channels } = input?.image ?? {};
  const sizes = [height, width, channels];
  if (!sizes.every((n) => Number.isInteger(n) && n > 0) || ![1, 3].includes(channels)) {
    problems.push('its input.image must give a height, a width and 1 or 3 channels.');
  }
  const range = input?.range;
  if (!Array.isArray(range) || range.length !== 2 || !range.every(Number.isFinite) || !(range[0] < range[1])) {
    problems.push('its input.range must be [low, high] with low < high.');
  }
  const shape = input?.shape;
  if (!Array.isArray(shape) || shape.length < 2 || !shape.slice(1).every((n) => Number.isInteger(n) && n > 0)) {
    problems.push('its input.shape must be [null, ...] with fixed sizes.');
  } else if (problems.length === 0 && shape.slice(1).reduce((a, b) => a * b, 1) !== height * width * channels) {
    problems.push(`its input.shape ${JSON.stringify(shape)} does not hold a ${height}x${width}x${channels} ` +
      'image.');
  }
  return problems;
}

// {data, width, height, channels?} (channels 4 by default: a canvas's RGBA; 1 grey; 3 RGB), 0..255
// -> Float32Array [height, width, wanted] 0..255, converted as image_input converts channels.
export function toChannels({ data, width, height, channels = 4 }, wanted) {
  if (![1, 3, 4].includes(channels)) throw new Error(`An image has 1, 3 or 4 channels, not ${channels}.`);
  if (!(width >= 1 && height >= 1) || data.length !== width * height * channels) {
    throw new Error(`Expected ${width}x${height} pixels of ${channels} channels, got ${data.length} values.`);
  }
  const count = width * height;
  const out = new Float32Array(count * wanted);
  for (let i = 0; i < count; i++) {
    const at = i * channels;
    if (channels === 1) {   // grey: repeated for a colour model (np.repeat), as is for a grey one
      for (let c = 0; c < wanted; c++) out[i * wanted + c] = data[at];
    } else if (wanted === 3) {   // the alpha channel is dropped
      out[i * 3] = data[at];
      out[i * 3 + 1] = data[at + 1];
      out[i * 3 + 2] = data[at + 2];
    } else {   // pixels @ [0.299, 0.587, 0.114] in float32
      out[i] = f(f(f(data[at] * LUMA[0]) + f(data[at + 1] * LUMA[1])) + f(data[at + 2] * LUMA[2]));
    }
  }
  return out;
}

// Source rows (or columns) and weights of resize_bilinear: where = (i + 0.5) * in / out - 0.5 in
// float64 as numpy computes it, its floor and ceiling clamped into the image, the fraction in float32.
function weights(sizeIn, sizeOut) {
  const low = new Int32Array(sizeOut);
  const high = new Int32Array(sizeOut);
  const fraction = new Float32Array(sizeOut);
  const ratio = sizeIn / sizeOut;
  for (let i = 0; i < sizeOut; i++) {
    const where = (i + 0.5) * ratio - 0.5;
    const below = Math.floor(where);
    low[i] = Math.min(Math.max(below, 0), sizeIn - 1);
    high[i] = Math.min(Math.max(Math.ceil(where), 0), sizeIn - 1);
    fraction[i] = where - below;
  }
  return { low, high, fraction };
}

// Float32Array [h, w, c] -> Float32Array [height, width, c]: resize_bilinear, value for value.
export function resizeBilinear(pixels, h, w, c, height, width) {
  if (h === height && w === width) return Float32Array.from(pixels);
  const rows = weights(h, height);
  const cols = weights(w, width);
  const out = new Float32Array(height * width * c);
  const at = (y, x, k) => pixels[(y * w + x) * c + k];
  for (let y = 0; y < height; y++) {
    const top = rows.low[y], bottom = rows.high[y], dy = rows.fraction[y];
    for (let x = 0; x < width; x++) {
      const left = cols.low[x], right = cols.high[x], dx = cols.fraction[x];
      for (let k = 0; k < c; k++) {
        const topLeft = at(top, left, k), bottomLeft = at(bottom, left, k);
        const upper = f(topLeft + f(f(at(top, right, k) - topLeft) * dx));
        const lower = f(bottomLeft + f(f(at(bottom, right, k) - bottomLeft) * dx));
        out[(y * width + x) * c + k] = f(upper + f(f(lower - upper) * dy));
      }
    }
  }
  return out;
}

// Pixels 0..255 -> the model's range [low, high] in float32: p * float32((high - low) / 255) + low.
export function scale(pixels, [low, high]) {
  const factor = f((high - low) / 255);
  const offset = f(low);
  return pixels.map((p) => f(f(p * factor) + offset));
}

// An ImageData-like picture -> what the model takes: {data: Float32Array in the model's range,
// shape: [1, ...input.shape without its batch axis], pixels: the resized 0..255 picture [H, W, C],
// image: {height, width, channels}}. `input` is the manifest's `input` (recipe "resize").
export function prepareImage(imageData, input) {
  const problems = inputProblems(input);
  if (problems.length) throw new Error(`The model's manifest cannot be used: ${problems.join(' ')}`);
  const { height, width, channels } = input.image;
  const pixels = resizeBilinear(toChannels(imageData, channels), imageData.height, imageData.width,
    channels, height, width);
  return { data: scale(pixels, input.range), shape: [1, ...input.shape.slice(1)], pixels,
    image: { height, width, channels } };
}
