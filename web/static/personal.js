// Teach the page your handwriting. Examples stay on this device (IndexedDB) and adapt the model here:
// the gated nearest-prototype blend of pipeline/personalize.py, in plain JS over the model's
// adaptation kit (manifest `adaptation`: a TF.js graph giving normalised features + probabilities,
// the MNIST replay features and the method's constants). Same constants, same shifts, same formula.
//
// Test hooks: data-testid teach-0 … teach-9, examples (its first number is the count), forget,
// export-examples, import-examples, personalised (shown when an answer comes from the taught model),
// personal-error; window.__teachMs holds the last teaching step's time, window.__lastProbabilities
// the probabilities shown last.

import { loadModel, dispose } from './model.js';
import { byTestId, onPress } from './ui.js';

const tf = globalThis.tf;
const DB_NAME = 'mnist-everywhere-personal';
const STORE = 'examples';
const FORMAT = 'mnist-everywhere-examples';
const MAX_EXAMPLES = 500;   // as pipeline/examples_file.py
const SIZE = 28;

const state = { kit: null, model: null, manifestSha: null, method: null, replay: null, dim: 0,
  examples: [], features: [], labels: [], prototypes: null, hooks: null };
let panel = null;

function el(tag, attributes = {}, text = '') {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

// --- the panel, built once inside <section data-testid="teach"> ---

function buildPanel(root) {
  const buttons = el('p', { class: 'teach-buttons' }, 'Not right? This is a … ');
  for (let digit = 0; digit < 10; digit += 1) {
    const button = el('button', { type: 'button', 'data-testid': `teach-${digit}` }, String(digit));
    onPress(button, () => teach(digit));   // tapped right after drawing, as Clear is
    buttons.append(button);
  }
  const forget = el('button', { type: 'button', 'data-testid': 'forget' }, 'Forget');
  forget.addEventListener('click', () => forgetAll());
  const exportButton = el('button', { type: 'button', 'data-testid': 'export-examples' }, 'Export');
  exportButton.addEventListener('click', () => exportExamples());
  const importInput = el('input', { type: 'file', accept: 'application/json,.json',
    'data-testid': 'import-examples' });
  importInput.addEventListener('change', () => importExamples(importInput));
  const importLabel = el('label', {}, 'Import ');
  importLabel.append(importInput);
  const row = el('p', { class: 'teach-actions' });
  row.append(el('span', { 'data-testid': 'examples' }, '0 examples taught'), ' ', forget, ' ',
    exportButton, ' ', importLabel);
  root.replaceChildren(buttons, row,
    el('p', { class: 'privacy' }, 'Your examples are kept in this browser only: they never leave the device.'),
    el('p', { 'data-testid': 'personalised', hidden: '' }),
    el('p', { class: 'error-message', 'data-testid': 'personal-error', role: 'alert', hidden: '' }));
}

function showProblem(message) {
  const box = byTestId('personal-error');
  box.textContent = message || '';
  box.hidden = !message;
}

function showCount() {
  const n = state.examples.length;
  byTestId('examples').textContent = `${n} example${n === 1 ? '' : 's'} taught`;
}

// --- IndexedDB: one record per example, keyed by the model and its manifest's sha256 ---

let database = null;   // one connection for the page's life

function openDb() {
  database = database || new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  database.catch(() => { database = null; });   // try again next time
  return database;
}

async function withStore(mode, action) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    let result;
    transaction.oncomplete = () => resolve(result?.result ?? result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error || new Error('the write was aborted'));
    try {
      result = action(transaction.objectStore(STORE));
    } catch (error) {   // e.g. a full quota: nothing of this transaction is kept
      reject(error);
      transaction.abort();
    }
  });
}

async function storedExamples() {
  const all = await withStore('readonly', (store) => store.getAll());
  return all.filter((r) => r.model === state.model && r.manifestSha === state.manifestSha)
    .map((r) => ({ label: r.label, image: Float32Array.from(r.image) }));
}

function storageMessage(error) {
  return error?.name === 'QuotaExceededError'
    ? "This browser's storage is full, so the examples were not saved; free some space and teach again."
    : `The examples could not be saved in this browser (${error?.message || error}).`;
}

// --- the blend (pipeline/personalize.py: blend) ---

function dot(a, aOffset, b, bOffset, length) {
  let sum = 0;
  for (let i = 0; i < length; i += 1) sum += a[aOffset + i] * b[bOffset + i];
  return sum;
}

function shiftedCopies(images) {
  const shifts = state.method.shifts;
  const out = new Float32Array(images.length * shifts.length * SIZE * SIZE);
  shifts.forEach(([rows, cols], s) => {
    images.forEach((image, n) => {
      const base = (s * images.length + n) * SIZE * SIZE;
      for (let r = 0; r < SIZE; r += 1) {
        const from = r - rows;
        if (from < 0 || from >= SIZE) continue;
        for (let c = 0; c < SIZE; c += 1) {
          const fromC = c - cols;
          if (fromC >= 0 && fromC < SIZE) out[base + r * SIZE + c] = image[from * SIZE + fromC];
        }
      }
    });
  });
  return out;
}

// Kit outputs for `count` images: [count, dim + 10] as one Float32Array.
async function kitOutputs(pixels, count) {
  const output = tf.tidy(() => {
    const result = state.kit.graph.predict(tf.tensor(pixels, [count, SIZE, SIZE], 'float32'));
    return result instanceof tf.Tensor ? result : Object.values(result)[0];
  });
  const data = await output.data();
  output.dispose();
  return data;
}

// Features of the new examples' shifts are appended (a teaching step costs the same at the 1st example
// and the 300th); prototypes are means, so the order does not matter.
async function addFeatures(added) {
  const n = added.length;
  if (!n) return;
  const copies = state.method.shifts.length * n;
  const outputs = await kitOutputs(shiftedCopies(added.map((e) => e.image)), copies);
  const width = state.dim + 10;
  for (let i = 0; i < copies; i += 1) {
    state.features.push(outputs.slice(i * width, i * width + state.dim));
    state.labels.push(added[i % n].label);
  }
  const prototypes = Array.from({ length: 10 }, () => null);
  state.features.forEach((f, i) => {
    const digit = state.labels[i];
    prototypes[digit] = prototypes[digit] || new Float32Array(state.dim);
    for (let j = 0; j < state.dim; j += 1) prototypes[digit][j] += f[j];
  });
  for (const p of prototypes) {
    if (!p) continue;
    const norm = Math.sqrt(Math.max(dot(p, 0, p, 0, state.dim), 1e-12));
    for (let j = 0; j < state.dim; j += 1) p[j] /= norm;
  }
  state.prototypes = prototypes;
}

async function refit() {
  state.features = [];
  state.labels = [];
  state.prototypes = null;
  await addFeatures(state.examples);
}

// The published probabilities of `input` -> the personal ones (unchanged when nothing is taught).
export async function adjust(input, probabilities) {
  if (!state.kit || !state.examples.length || !input) {
    byTestId('personalised')?.setAttribute('hidden', '');
    window.__lastProbabilities = probabilities;
    return probabilities;
  }
  const { temperature, gate_sharpness: sharpness, gate_margin: margin } = state.method;
  const q = (await kitOutputs(input, 1)).slice(0, state.dim);
  const logits = state.prototypes.map((p) => (p ? dot(q, 0, p, 0, state.dim) / temperature : -1e4));
  const top = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - top));
  const total = exps.reduce((a, b) => a + b, 0);
  let nearestExample = -Infinity;
  for (const f of state.features) nearestExample = Math.max(nearestExample, dot(q, 0, f, 0, state.dim));
  let nearestReplay = -Infinity;
  for (let r = 0; r < state.replay.length / state.dim; r += 1) {
    nearestReplay = Math.max(nearestReplay, dot(q, 0, state.replay, r * state.dim, state.dim));
  }
  const gate = 1 / (1 + Math.exp(-sharpness * (nearestExample - nearestReplay - margin)));
  const blended = probabilities.map((p, d) => gate * (exps[d] / total) + (1 - gate) * p);
  const shown = byTestId('personalised');
  shown.textContent = gate >= 0.5
    ? `Personalised: read with your ${state.examples.length} example${state.examples.length === 1 ? '' : 's'}.`
    : `Published model's answer (your examples do not look like this drawing).`;
  shown.dataset.gate = gate.toFixed(4);
  shown.hidden = false;
  window.__lastProbabilities = blended;
  return blended;
}

// --- teaching, forgetting, export and import ---

async function teach(digit) {
  const input = window.__lastInput;
  if (!input) {
    showProblem('Draw a digit first, then say which one it is.');
    return;
  }
  if (!state.kit) return;
  if (state.examples.length >= MAX_EXAMPLES) {
    showProblem(`You have taught ${MAX_EXAMPLES} examples, the most kept; forget them to start again.`);
    return;
  }
  const started = performance.now();
  const example = { label: digit, image: Float32Array.from(input) };
  try {
    await withStore('readwrite', (store) => store.add({ model: state.model, manifestSha: state.manifestSha,
      label: digit, image: Array.from(example.image) }));
  } catch (error) {
    showProblem(storageMessage(error));
    return;
  }
  state.examples.push(example);
  await addFeatures([example]);
  window.__teachMs = performance.now() - started;
  showProblem('');
  showCount();
  state.hooks.clear();
}

async function forgetAll() {
  try {
    await withStore('readwrite', (store) => store.clear());
  } catch (error) {
    showProblem(`The stored examples could not be removed (${error?.message || error}).`);
    return;
  }
  state.examples = [];
  await refit();
  showProblem('');
  showCount();
  state.hooks.changed();
}

function exportExamples() {
  const document_ = { format: FORMAT, version: 1, model: state.model, manifest_sha256: state.manifestSha,
    examples: state.examples.map((e) => ({ label: e.label, image: Array.from({ length: SIZE },
      (_, r) => Array.from(e.image.subarray(r * SIZE, (r + 1) * SIZE), (v) => Math.round(v * 1e6) / 1e6)) })) };
  const url = URL.createObjectURL(new Blob([JSON.stringify(document_)], { type: 'application/json' }));
  const link = el('a', { href: url, download: `${state.model}-examples.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// The checks of pipeline/examples_file.py: the whole file first, one sentence for the first problem.
// Twin of examples_file.border_median: the median of the outermost rows and columns (corners twice),
// 0 for white-on-black MNIST-style inputs; above 0.5 the image has the wrong polarity.
function borderMedian(image) {
  const last = SIZE - 1;
  const ring = [...image[0], ...image[last], ...image.map((row) => row[0]), ...image.map((row) => row[last])]
    .sort((a, b) => a - b);
  const middle = ring.length / 2;   // an even count (4 x 28): the mean of the two middle values, as numpy
  return (ring[middle - 1] + ring[middle]) / 2;
}

function parseExamples(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error('The file is not valid JSON.');
  }
  if (!doc || typeof doc !== 'object' || doc.format !== FORMAT) {
    throw new Error(`The file is not an examples file: it needs "format": "${FORMAT}".`);
  }
  if (doc.version !== 1) throw new Error(`The file has version ${doc.version}; only 1 is read.`);
  if (doc.model !== state.model) throw new Error(`The file was taught on model "${doc.model}", not "${state.model}".`);
  if (doc.manifest_sha256 !== state.manifestSha) {
    throw new Error(`The file was taught on another export of "${state.model}"; teach the published model again.`);
  }
  if (!Array.isArray(doc.examples) || doc.examples.length === 0) throw new Error('The file holds no examples.');
  if (doc.examples.length + state.examples.length > MAX_EXAMPLES) {
    throw new Error(`With the file there would be more than the ${MAX_EXAMPLES} examples allowed.`);
  }
  return doc.examples.map((example, index) => {
    const where = `Example ${index + 1}`;
    const { label, image } = example || {};
    if (!Number.isInteger(label) || label < 0 || label > 9) {
      throw new Error(`${where}: the label must be a whole number from 0 to 9.`);
    }
    if (!Array.isArray(image) || image.length !== SIZE ||
        !image.every((row) => Array.isArray(row) && row.length === SIZE)) {
      throw new Error(`${where}: the image must be 28 rows of 28 numbers.`);
    }
    const pixels = Float32Array.from(image.flat());
    if (!image.flat().every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1)) {
      throw new Error(`${where}: the image must hold numbers from 0 to 1.`);
    }
    if (!pixels.some((v) => v > 0)) throw new Error(`${where}: the image is blank.`);
    if (borderMedian(image) > 0.5) {
      throw new Error(`${where}: the image is dark ink on a light background; examples are white ink ` +
                      'on black (0 = background), as the page exports them.');
    }
    return { label, image: pixels };
  });
}

async function importExamples(input) {
  const file = input.files?.[0];
  input.value = '';
  if (!file) return;
  let examples;
  try {
    if (file.size > 8 * 1024 * 1024) throw new Error('The file is larger than 8 MiB.');
    examples = parseExamples(await file.text());
  } catch (error) {
    showProblem(`${error.message} Nothing was imported.`);
    return;
  }
  try {
    await withStore('readwrite', (store) => {
      for (const e of examples) {
        store.add({ model: state.model, manifestSha: state.manifestSha, label: e.label, image: Array.from(e.image) });
      }
      return store;
    });
  } catch (error) {
    showProblem(storageMessage(error));
    return;
  }
  state.examples.push(...examples);
  await addFeatures(examples);
  showProblem('');
  showCount();
  state.hooks.changed();
}

// --- attaching to the loaded model ---

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// The blend's constants as the export records them, checked as the app checks them
// (pipeline/personalize.py: Method.from_manifest): finite numbers, a positive temperature, shifts.
function usableMethod(method) {
  const numbers = [method?.temperature, method?.gate_sharpness, method?.gate_margin];
  const shifts = method?.shifts;
  return numbers.every(Number.isFinite) && method.temperature > 0 && Array.isArray(shifts) &&
    shifts.length > 0 && shifts.every((s) => Array.isArray(s) && s.length === 2 && s.every(Number.isInteger));
}

// Called after every model load. hooks: {clear(): clear the canvas, changed(): predict again}.
export async function attach(entry, hooks) {
  panel = panel || byTestId('teach');
  if (!panel) return;
  dispose(state.kit);
  Object.assign(state, { kit: null, examples: [], features: [], labels: [], prototypes: null, hooks });
  const manifestBytes = await (await fetch(entry.manifestUrl)).arrayBuffer();
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  const adaptation = manifest.adaptation;
  const kitArtifact = adaptation?.artifacts?.find((a) => a.format === 'tfjs');
  if (!kitArtifact || !globalThis.crypto?.subtle || !window.indexedDB) {
    panel.hidden = true;   // a personalised model, or a browser without what teaching needs
    return;
  }
  if (!usableMethod(adaptation.method)) {
    panel.hidden = true;
    throw new Error('the manifest records no usable adaptation method; export the model again.');
  }
  if (!panel.childElementCount) buildPanel(panel);
  panel.hidden = false;
  state.model = entry.model;
  state.manifestSha = await sha256Hex(manifestBytes);
  state.method = adaptation.method;
  const replayUrl = new URL(adaptation.replay.path, entry.manifestUrl);
  const replayBytes = await (await fetch(replayUrl)).arrayBuffer();
  if (replayBytes.byteLength !== adaptation.replay.bytes ||
      (await sha256Hex(replayBytes)) !== adaptation.replay.sha256) {
    throw new Error(`${adaptation.replay.path} is damaged: it does not match the manifest.`);
  }
  state.replay = new Float32Array(replayBytes);
  state.dim = adaptation.replay.shape[1];
  state.kit = await loadModel({ ...entry, artifact: kitArtifact, key: `${entry.model}-adaptation` });
  try {
    state.examples = await storedExamples();
  } catch (error) {
    showProblem(`The stored examples could not be read (${error?.message || error}).`);
  }
  await refit();
  showCount();
  hooks.changed();
}
