// Any size, any pen: the JS twin of pipeline/pen.py (what it does and why is written there).

export const TARGET_WIDTH = 2.0;  // TARGET_WIDTH
export const TOLERANCE = 1.3;  // TOLERANCE

// Twin of ink.py's ink_box: {top, left, height, width} of the smallest box holding the set pixels, or
// null. Here, in the module the others import, so that pen.js, ink.js and preprocess.js share it.
export function inkBox(mask, width, height) {
  let top = height, bottom = -1, left = width, right = -1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const y = Math.floor(i / width), x = i % width;
    top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
  }
  return bottom < 0 ? null : { top, left, height: bottom - top + 1, width: right - left + 1 };
}

// Twin of stroke_width: 2 x area / (pixel edges between ink and paper, the image's edge included).
export function strokeWidth(mask, width, height) {
  let area = 0, edges = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const here = mask[y * width + x] ? 1 : 0;
      area += here;
      if (here !== (y > 0 && mask[(y - 1) * width + x] ? 1 : 0)) edges++;   // the edge above
      if (here !== (x > 0 && mask[y * width + x - 1] ? 1 : 0)) edges++;     // the edge to the left
    }
    if (mask[y * width + width - 1]) edges++;                               // the right edge of the row
  }
  for (let x = 0; x < width; x++) if (mask[(height - 1) * width + x]) edges++;  // the bottom edge
  return edges ? (2.0 * area) / edges : 0.0;
}

// One line of the squared distance transform of sampled function f (Felzenszwalb and Huttenlocher
// 2012): d[q] = min over p of (q - p)^2 + f[p]. Exact in whole numbers where f is.
function distanceLine(f, n, d, v, z) {
  let k = 0;
  v[0] = 0; z[0] = -Infinity; z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    // where the parabola from q crosses the one from v[k]
    let p = v[k], s = ((f[q] + q * q) - (f[p] + p * p)) / (2 * q - 2 * p);
    while (s <= z[k]) { p = v[--k]; s = ((f[q] + q * q) - (f[p] + p * p)) / (2 * q - 2 * p); }
    k++; v[k] = q; z[k] = s; z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    d[q] = (q - v[k]) * (q - v[k]) + f[v[k]];
  }
}

// Twin of squared_distances: each pixel's squared Euclidean distance to the nearest set pixel of mask.
export function squaredDistances(mask, width, height) {
  const FAR = 1e20;
  const out = new Float64Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask[i] ? 0 : FAR;
  const n = Math.max(width, height);
  const f = new Float64Array(n), d = new Float64Array(n), v = new Int32Array(n), z = new Float64Array(n + 1);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) f[y] = out[y * width + x];
    distanceLine(f, height, d, v, z);
    for (let y = 0; y < height; y++) out[y * width + x] = d[y];
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) f[x] = out[y * width + x];
    distanceLine(f, width, d, v, z);
    for (let x = 0; x < width; x++) out[y * width + x] = d[x];
  }
  return out;
}

// The offsets (dx, dy) of a disc of squared radius r2, flat: [dx0, dy0, dx1, dy1, ...].
function discOffsets(r2) {
  const reach = Math.floor(Math.sqrt(r2)), offsets = [];
  for (let dy = -reach; dy <= reach; dy++) {
    for (let dx = -reach; dx <= reach; dx++) if (dx * dx + dy * dy <= r2) offsets.push(dx, dy);
  }
  return Int32Array.from(offsets);
}

// squaredDistances(mask) <= r2: a disc stamped around each set pixel. The same answer, faster for
// the small radii and sparse masks ink.js asks for.
export function withinDisc(mask, width, height, r2) {
  const offsets = discOffsets(r2);
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      for (let k = 0; k < offsets.length; k += 2) {
        const nx = x + offsets[k], ny = y + offsets[k + 1];
        if (nx >= 0 && nx < width && ny >= 0 && ny < height) out[ny * width + nx] = 1;
      }
    }
  }
  return out;
}

// squaredDistances(not mask) > r2: the set pixels with no unset pixel of the image within the disc.
export function beyondDisc(mask, width, height, r2) {
  const offsets = discOffsets(r2);
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      let inside = 1;
      for (let k = 0; k < offsets.length && inside; k += 2) {
        const nx = x + offsets[k], ny = y + offsets[k + 1];
        if (nx >= 0 && nx < width && ny >= 0 && ny < height && !mask[ny * width + nx]) inside = 0;
      }
      out[y * width + x] = inside;
    }
  }
  return out;
}

// Twin of normalise_pen: strokes thinner than TARGET_WIDTH / TOLERANCE (once scaled by boxScale)
// grow by a disc to TARGET_WIDTH; thicker ones stay as drawn.
export function normalisePen(mask, width, height, boxScale) {
  const strokes = strokeWidth(mask, width, height);
  const wanted = TARGET_WIDTH / boxScale;
  if (strokes === 0.0 || strokes >= wanted / TOLERANCE) return mask;
  const radius = (wanted - strokes) / 2;
  // Work on the mask's box and a margin around it: pixels further away are not reached.
  const ink = inkBox(mask, width, height);
  const margin = Math.ceil(radius) + 1;
  const top = Math.max(0, ink.top - margin), left = Math.max(0, ink.left - margin);
  const bottom = Math.min(height - 1, ink.top + ink.height - 1 + margin);
  const right = Math.min(width - 1, ink.left + ink.width - 1 + margin);
  const boxWidth = right - left + 1, boxHeight = bottom - top + 1;
  const box = new Uint8Array(boxWidth * boxHeight);
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) box[y * boxWidth + x] = mask[(top + y) * width + left + x];
  }
  const distances = squaredDistances(box, boxWidth, boxHeight);
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) {
      out[(top + y) * width + left + x] = distances[y * boxWidth + x] <= radius * radius ? 1 : 0;
    }
  }
  return out;
}
