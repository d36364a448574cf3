// The DOM side: the drawing pad, the result panel, the selectors, the status line and the banner.
// No TF.js and no model logic here.

import { dot } from './strokes.js';

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

// Fetch drawing.json: the canvas size, stroke width and reading pen's share, shared with the Streamlit app.
export async function loadDrawingSettings() {
  const response = await fetch('drawing.json');
  if (!response.ok) throw new Error(`Could not fetch drawing.json: HTTP ${response.status}.`);
  const { canvas_size: canvasSize, stroke_width: strokeWidth, reading_stroke_share: readingStrokeShare } =
    await response.json();
  // the checks of pipeline/strokes.py's check_pad_settings
  const number = (value) => typeof value === 'number' && Number.isFinite(value);
  if (!(Number.isInteger(canvasSize) && canvasSize >= 28 && number(strokeWidth) && strokeWidth >= 1 &&
        strokeWidth <= canvasSize && number(readingStrokeShare) && readingStrokeShare > 0 && readingStrokeShare < 1)) {
    throw new Error('drawing.json needs a whole canvas_size of at least 28 px, a stroke_width of 1 px up to it ' +
      `and a reading_stroke_share between 0 and 1; got ${canvasSize}, ${strokeWidth} and ${readingStrokeShare}.`);
  }
  return { canvasSize, strokeWidth, readingStrokeShare };
}

// Run `action` when `button` is pressed. A finger or pen acts when it lifts (pointerup), not on the
// click that follows: right after a touch elsewhere (the stroke just drawn on the pad) Chromium's
// double-tap detection sometimes withholds that click, and Clear then left the drawing on the pad.
// The click of a tap already handled is skipped; a mouse and the keyboard act on click as usual.
export function onPress(button, action) {
  let handledAt = -Infinity;
  button.addEventListener('pointerup', (event) => {
    if (event.pointerType === 'mouse' || event.button !== 0) return;
    handledAt = event.timeStamp;
    action();
  });
  button.addEventListener('click', (event) => {
    if (event.timeStamp - handledAt < 1000) return;   // the same tap's click, when it does come
    action();
  });
}

// A square canvas to draw on with mouse, finger or pen: white ink on black, `strokeWidth` canvas
// pixels wide on a `canvasSize` square (drawing.json).
// `onChange(strokeEnded)` is called after every change; the canvas's data-version counts changes
// (tests compare it with the prediction's data-version to know the result is up to date).
// The points the pen went through are kept, stroke by stroke, for reading (strokes.js).
export function createDrawingPad(canvas, onChange, { canvasSize, strokeWidth }) {
  canvas.width = canvasSize;
  canvas.height = canvasSize;
  canvas.dataset.strokeWidth = String(strokeWidth);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  let last = null;        // last point of the stroke in progress
  let paths = [];         // every stroke's points, in canvas pixels
  let empty = true;
  let version = 0;

  function changed(strokeEnded) {
    version += 1;
    canvas.dataset.version = String(version);
    onChange(strokeEnded);
  }

  function paintBlack() {
    context.fillStyle = '#000';
    context.fillRect(0, 0, canvas.width, canvas.height);
    paths = [];
    empty = true;
  }

  function clear() {
    paintBlack();
    changed(true);
  }

  // Pointer position in canvas pixels, whatever size CSS shows the canvas at.
  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) * (canvas.width / rect.width),
      y: (event.clientY - rect.top) * (canvas.height / rect.height),
    };
  }

  function line(from, to) {
    context.strokeStyle = '#fff';
    context.lineWidth = strokeWidth;
    context.lineCap = 'round';
    context.lineJoin = 'round';
    if (from.x === to.x && from.y === to.y) {
      dot(context, from, strokeWidth);   // a tap: Chromium paints no zero-length line, even round-capped
    } else {
      context.beginPath();
      context.moveTo(from.x, from.y);
      context.lineTo(to.x, to.y);
      context.stroke();
    }
    empty = false;
  }

  canvas.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    canvas.setPointerCapture(event.pointerId);   // keep the stroke when the pointer leaves
    last = point(event);
    paths.push([last]);
    line(last, last);
    changed(false);
    event.preventDefault();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!last) return;
    // Coalesced events keep fast pen and touch strokes smooth.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const next = point(e);
      line(last, next);
      paths[paths.length - 1].push(next);
      last = next;
    }
    changed(false);
  });
  const end = () => {
    if (!last) return;
    last = null;
    changed(true);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);

  paintBlack();   // version 0: blank, matching the prediction's initial data-version="0"
  canvas.dataset.version = '0';
  return {
    clear,
    isEmpty: () => empty,
    version: () => version,
    strokes: () => paths,
  };
}

// One row "label, bar, percent" per class (ten for a digit model), rebuilt when the number of
// classes changes, updated in place otherwise. Past MAX_BARS classes the most probable are shown.
export const MAX_BARS = 10;

export function createProbabilityBars(container) {
  let rows = [];

  function build(count) {
    rows = [];
    container.replaceChildren();
    for (let i = 0; i < count; i++) {
      const row = document.createElement('div');
      row.className = 'bar-row';
      const label = document.createElement('span');
      label.className = 'bar-label';
      const track = document.createElement('span');
      track.className = 'bar-track';
      const fill = document.createElement('span');
      fill.className = 'bar-fill';
      track.append(fill);
      const value = document.createElement('span');
      value.className = 'bar-value';
      row.append(label, track, value);
      container.append(row);
      rows.push({ row, label, fill, value });
    }
  }

  // probabilities: number[K] or null (no answer); labels: string[K], or the digits 0..9 when absent.
  return function show(probabilities, labels) {
    const names = labels ?? Array.from({ length: probabilities?.length ?? 10 }, (_, i) => String(i));
    const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    let order = names.map((_, i) => i);
    if (order.length > MAX_BARS) {
      order = probabilities ? order.sort((a, b) => probabilities[b] - probabilities[a]).slice(0, MAX_BARS) : [];
    }
    if (rows.length !== order.length) build(order.length);
    // labels as wide as the longest ("7", "digit-5", "green"); CSSOM writes are allowed by the CSP
    const longest = Math.max(1, ...order.map((i) => names[i].length));
    container.style.setProperty('--label-width', `${longest + 0.5}ch`);
    container.dataset.classes = String(names.length);
    rows.forEach((r, at) => {
      const i = order[at];
      const p = probabilities ? probabilities[i] : 0;
      r.label.textContent = names[i];
      r.row.dataset.label = names[i];
      // CSSOM writes are allowed by a strict style-src; only inline style attributes are not.
      r.fill.style.width = `${(p * 100).toFixed(1)}%`;
      r.value.textContent = probabilities ? `${(p * 100).toFixed(1)} %` : '';
      r.row.classList.toggle('best', i === best);
    });
  };
}

// The 28x28 input the model saw, on a 28x28 canvas that CSS scales up with sharp pixels.
export function showInput(canvas, input) {
  canvas.width = 28;
  canvas.height = 28;
  const context = canvas.getContext('2d');
  const image = context.createImageData(28, 28);
  for (let i = 0; i < 28 * 28; i++) {
    const v = input ? Math.round(input[i] * 255) : 0;
    image.data.set([v, v, v, 255], i * 4);
  }
  context.putImageData(image, 0, 0);
}

// A model of one's own: the picture it saw, resized (resize.js's `pixels`: 0..255 [height, width,
// channels], channels 1 or 3), at its own size; null paints it black.
export function showPicture(canvas, pixels, { height, width, channels }) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const at = i * channels;
    const rgb = !pixels ? [0, 0, 0] : channels === 3 ? [pixels[at], pixels[at + 1], pixels[at + 2]]
      : [pixels[at], pixels[at], pixels[at]];
    image.data.set([...rgb.map(Math.round), 255], i * 4);
  }
  context.putImageData(image, 0, 0);
}

function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return 'size unknown';
  return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(2)} MB`;
}

function formatAccuracy(accuracy) {
  return Number.isFinite(accuracy) ? `${(accuracy * 100).toFixed(2)} %` : 'accuracy unknown';
}

// One option per TF.js artifact: "cnn · uint8 — 99.12 % · 34.8 kB".
export function fillModelSelect(select, entries, selectedKey) {
  select.replaceChildren(...entries.map((entry) => {
    const { verification = {}, bytes } = entry.artifact;
    const option = document.createElement('option');
    option.value = entry.key;
    option.textContent = `${entry.model} · ${entry.variant} — ` +
      `${formatAccuracy(verification.accuracy)} · ${formatBytes(bytes)}`;
    return option;
  }));
  select.value = selectedKey;
}

export function describeEntry(entry) {
  const { verification = {}, bytes } = entry.artifact;
  const where = verification.runtime ? ` in ${verification.runtime}` : '';
  const images = verification.images ? ` on ${verification.images} test images` : '';
  return `${entry.model} ${entry.variant}: ${formatAccuracy(verification.accuracy)} accuracy` +
    `${where}${images}, ${formatBytes(bytes)} to download.`;
}

// data-state is "loading", "ready" or "error"; the text says the same for people.
// data-ms: when it was set, in milliseconds since the page's navigation started (for benchmarks).
export function setStatus(state, text) {
  const status = byTestId('status');
  status.dataset.state = state;
  status.dataset.ms = performance.now().toFixed(0);
  status.textContent = text;
}

// The error banner: a message and a Retry button that calls `retry` (hidden when null).
export function showError(message, retry = null) {
  const banner = byTestId('error');
  banner.querySelector('.error-message').textContent = message;
  const button = byTestId('retry');
  button.hidden = !retry;
  button.onclick = retry;
  banner.hidden = false;
}

export function hideError() {
  byTestId('error').hidden = true;
}

export { byTestId };
