// The page's wiring: URL parameters, backend and model choice, and drawing -> preprocess -> predict.
//
// URL parameters: ?backend=wasm|webgl|cpu (default wasm) and ?model=<model>-<variant>
// (e.g. cnn-uint8, article-float32; a bare model name takes its first variant). Without ?model=,
// the index's default model on the variant its manifest recommends.
// Test hooks: data-testid canvas, clear, photo, photo-preview, prediction, status, input-28, error, retry, model,
// backend, offline (offline.js);
// window.__lastInput holds the Float32Array(784) the model last saw (null when nothing is drawn).

import { NotOneDigitError, preprocessOrNull } from './preprocess.js';
import { BACKENDS, useBackend, loadCatalog, findEntry, loadModel, dispose, predict } from './model.js';
import * as ui from './ui.js';
import { watchOffline } from './offline.js';
import { attachPhotoInput, showPhoto } from './photo.js';
import * as personal from './personal.js';

const THROTTLE_MS = 150;   // at most ~7 predictions a second while a stroke is in progress

const params = new URLSearchParams(location.search);
// photo: {imageData, name} of the picture being read, until the pad is drawn on or cleared
const state = { backend: null, catalog: null, model: null, loading: 0, offlineWatched: false, photo: null };

const canvas = ui.byTestId('canvas');
const prediction = ui.byTestId('prediction');
const hint = ui.byTestId('hint');
const DRAW_HINT = hint.textContent;   // shown again once a refusal's reason has gone
const timing = ui.byTestId('timing');
const photoPreview = ui.byTestId('photo-preview');
const inputCanvas = ui.byTestId('input-28');
const modelSelect = ui.byTestId('model');
const backendSelect = ui.byTestId('backend');
const showBars = ui.createProbabilityBars(ui.byTestId('probabilities'));
window.__lastInput = null;

// --- prediction: run after every stroke, throttled while drawing, never two at once ---

let running = false;
let again = false;
let timer = null;

async function updatePrediction() {
  clearTimeout(timer);
  timer = null;
  if (running) {
    again = true;
    return;
  }
  running = true;
  try {
    do {
      again = false;
      await predictOnce();
    } while (again);
  } finally {
    running = false;
  }
}

function onDrawingChange(strokeEnded) {
  state.photo = null;   // the pad is being used again
  photoPreview.hidden = true;
  if (strokeEnded) updatePrediction();
  else if (!timer) timer = setTimeout(updatePrediction, THROTTLE_MS);
}

async function predictOnce() {
  const version = canvas.dataset.version;
  const start = performance.now();
  let input = null, refusal = null;   // refusal: why the drawing is not one digit (two side by side, specks)
  try {
    const source = state.photo?.imageData ?? (pad.isEmpty() ? null : pad.imageData());
    input = source && preprocessOrNull(source);
  } catch (error) {
    if (!(error instanceof NotOneDigitError)) throw error;
    refusal = error.message;
  }
  const preprocessMs = performance.now() - start;
  window.__lastInput = input;
  ui.showInput(inputCanvas, input);
  const model = state.model;
  if (!input || !model) {
    prediction.textContent = '';
    hint.textContent = refusal ?? DRAW_HINT;
    hint.hidden = Boolean(input);
    if (state.photo && !input && !refusal) hint.textContent = `${state.photo.name}: there is no digit to read.`;
    showBars(null);
    timing.textContent = '';
  } else {
    hint.hidden = !state.photo;
    if (state.photo) hint.textContent = `Read from ${state.photo.name}; draw or Clear to go back to the pad.`;
    try {
      const published = await predict(model, input);
      const { ms } = published;
      const probabilities = await personal.adjust(input, published.probabilities);   // taught examples
      if (model !== state.model) return;   // the model changed meanwhile; a fresh run follows
      const best = probabilities.indexOf(Math.max(...probabilities));
      prediction.textContent = model.labels[best];
      showBars(probabilities, model.labels);
      timing.textContent = `${state.backend}: model ${ms.toFixed(1)} ms, ` +
        `preprocessing ${preprocessMs.toFixed(1)} ms`;
    } catch (error) {
      if (model !== state.model) return;   // disposed by a model switch mid-prediction
      prediction.textContent = '';
      ui.showError(`Prediction failed: ${error.message}`);
    }
  }
  prediction.dataset.version = version;
}

let drawing;
try {
  drawing = await ui.loadDrawingSettings();
} catch (error) {
  const message = `The drawing pad's settings could not be read: ${error.message}`;
  ui.setStatus('error', message);
  ui.showError(message);
  throw error;
}
const pad = ui.createDrawingPad(canvas, onDrawingChange, drawing);
ui.onPress(ui.byTestId('clear'), () => pad.clear());
attachPhotoInput(ui.byTestId('photo'), (imageData, name) => {
  pad.clear();   // the pad's old drawing is not what is being read
  state.photo = { imageData, name };
  showPhoto(photoPreview, imageData);
  updatePrediction();
}, (message) => ui.showError(message));

// --- backend and model: every (re)load goes through here; a newer load wins over an older one ---

function rememberInUrl() {
  const url = new URL(location.href);
  url.searchParams.set('backend', state.backend);
  if (modelSelect.value) url.searchParams.set('model', modelSelect.value);
  history.replaceState(null, '', url);
}

// `notes` are shown in the banner once the model is ready (things the user asked for but did not get).
async function load(backend, key, notes = []) {
  const ticket = ++state.loading;
  const stale = () => ticket !== state.loading;
  dispose(state.model);
  state.model = null;
  updatePrediction();   // clears the result while nothing is loaded
  ui.hideError();
  ui.setStatus('loading', `loading ${key || 'the model list'} on ${backend}…`);
  try {
    if (state.backend !== backend) {
      state.backend = await useBackend(backend);
      backendSelect.value = backend;
    }
    if (!state.catalog) {
      state.catalog = await loadCatalog();
      const wanted = findEntry(state.catalog, key);
      if (key && !wanted) notes.push(`There is no model "${key}"; showing the default instead.`);
      key = (wanted || findEntry(state.catalog, state.catalog.defaultKey)).key;
      ui.fillModelSelect(modelSelect, state.catalog.entries, key);
    }
    const entry = findEntry(state.catalog, key);
    modelSelect.value = entry.key;
    ui.setStatus('loading', `loading ${entry.key} on ${state.backend}…`);
    ui.byTestId('model-info').textContent = ui.describeEntry(entry);
    const model = await loadModel(entry);
    if (stale()) return dispose(model);
    state.model = model;
    backendSelect.value = state.backend;   // after a failed switch, show the one in use
    rememberInUrl();
    try {   // teaching is an extra: the published model works without it
      await personal.attach(entry, { clear: () => pad.clear(), changed: () => updatePrediction() });
    } catch (error) {
      notes.push(`Teaching is unavailable: ${error.message}`);
    }
    if (stale()) return;
    ui.setStatus('ready', `ready: ${entry.key} on ${state.backend}`);
    if (!state.offlineWatched) {
      state.offlineWatched = true;
      watchOffline(ui.byTestId('offline'));
    }
    notes.push(...state.catalog.problems);   // e.g. another model's broken manifest
    if (notes.length) ui.showError(notes.join(' '));
    updatePrediction();
  } catch (error) {
    if (stale()) return;
    const message = `Could not load ${key || 'the models'} on ${backend}: ${error.message}`;
    ui.setStatus('error', message);
    ui.showError(message, () => load(backend, key));
  }
}

backendSelect.replaceChildren(...BACKENDS.map((name) => new Option(name, name)));
backendSelect.addEventListener('change', () => load(backendSelect.value, modelSelect.value));
modelSelect.addEventListener('change', () => load(state.backend || backendSelect.value,
  modelSelect.value));

const requested = params.get('backend') || 'wasm';
const backend = BACKENDS.includes(requested) ? requested : 'wasm';
backendSelect.value = backend;
load(backend, params.get('model'), backend === requested ? [] :
  [`There is no backend "${requested}"; using wasm (choose from ${BACKENDS.join(', ')}).`]);
