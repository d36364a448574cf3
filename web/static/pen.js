// Any size, any pen: the JS twin of pipeline/pen.py (what it does and why is written there).

export const TARGET_WIDTH = 2.0;  // TARGET_WIDTH
export const TOLERANCE = 1.3;     // TOLERANCE

// Twin of stroke_width: 2 x area / (pixel edges between ink and paper, the image's edge included).
export function strokeWidth(mask, width, height) {
  let area = 0, edges = 0;
  const at = (x, y) => (x >= 0 && x < width && y >= 0 && y < height ? mask[y * width + x] : 0);
  for (let y = 0; y <= height; y++) {
    for (let x = 0; x <= width; x++) {
      const here = at(x, y);
      if (x < width && y < height) area += here;
      if (x < width && here !== at(x, y - 1)) edges++;   // the edge above (x, y)
      if (y < height && here !== at(x - 1, y)) edges++;  // the edge left of (x, y)
    }
  }
  return edges ? (2.0 * area) / edges : 0.0;
}

// One line of the squared distance transform of sampled function f (Felzenszwalb and Huttenlocher
// 2012): d[q] = min over p of (q - p)^2 + f[p]. Exact in whole numbers where f is.
function distanceLine(f, n, d, v, z) {
  let k = 0;
  v[0] = 0; z[0] = -Infinity; z[1] = Infinity;
  const meet = (q, p) => ((f[q] + q * q) - (f[p] + p * p)) / (2 * q - 2 * p);  // where two parabolas cross
  for (let q = 1; q < n; q++) {
    let s = meet(q, v[k]);
    while (s <= z[k]) s = meet(q, v[--k]);
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
  const out = Float64Array.from(mask, (m) => (m ? 0 : FAR));
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

// Twin of normalise_pen: dilate or erode mask so its strokes are TARGET_WIDTH wide once scaled by boxScale.
export function normalisePen(mask, width, height, boxScale) {
  const strokes = strokeWidth(mask, width, height);
  const wanted = TARGET_WIDTH / boxScale;
  if (strokes === 0.0 || (wanted / TOLERANCE <= strokes && strokes <= wanted * TOLERANCE)) return mask;
  const radius = (wanted - strokes) / 2;
  if (radius > 0) {
    const distances = squaredDistances(mask, width, height);
    return Uint8Array.from(distances, (d) => (d <= radius * radius ? 1 : 0));
  }
  // distances to the paper, the image's edge counting as paper: a 1-pixel frame of paper around it
  const paddedWidth = width + 2, padded = new Uint8Array(paddedWidth * (height + 2)).fill(1);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) padded[(y + 1) * paddedWidth + x + 1] = mask[y * width + x] ? 0 : 1;
  }
  const distances = squaredDistances(padded, paddedWidth, height + 2);
  const thinned = new Uint8Array(width * height);
  let any = false;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const keep = distances[(y + 1) * paddedWidth + x + 1] > radius * radius;
      thinned[y * width + x] = keep ? 1 : 0;
      any ||= keep;
    }
  }
  return any ? thinned : mask;
}
