// The page's wiring: URL parameters, backend and model choice, and drawing -> preprocess -> predict.
// A digit model (no input recipe, or "mnist") reads the drawing pad or a photo (preprocess.js); any
// other image classifier (manifest input recipe "resize", pipeline/own_model.py) reads a picture,
// resized and scaled as its manifest says (resize.js): the page switches between the two.
//
// URL parameters: ?backend=wasm|webgl|cpu (default wasm) and ?model=<model>-<variant>
// (e.g. cnn-uint8, article-float32; a bare model name takes its first variant). Without ?model=,
// the index's default model on the variant its manifest recommends.
// Test hooks: data-testid canvas, clear, photo, photo-preview, prediction, status, input-28, error, retry, model,
// backend, offline (offline.js); for a model of one's own: pad and picture-panel (which one is shown),
// picture, picture-preview, picture-hint; the prediction's data-picture names the picture its answer
// is for, data-model the model that gave it.
// window.__lastInput holds the Float32Array the model last saw (784 values for a digit; null when
// nothing is drawn), window.__lastRead the ImageData it was made from (the pad's strokes redrawn, or
// the photo), window.__lastProbabilities the probabilities shown.

import { NotOneDigitError, preprocessOrNull } from './preprocess.js';
import { BACKENDS, useBackend, loadCatalog, findEntry, loadModel, dispose, predict } from './model.js';
import * as ui from './ui.js';
import { watchOffline } from './offline.js';
import { attachPhotoInput, readPicture, showPhoto } from './photo.js';
import { prepareImage } from './resize.js';
import { redraw } from './strokes.js';
import * as personal from './personal.js';

const THROTTLE_MS = 150;   // at most ~7 predictions a second while a stroke is in progress

const params = new URLSearchParams(location.search);
// photo: {imageData, name} of the picture being read, until the pad is drawn on or cleared
// picture: {imageData, name} a model of one's own reads (kept while such models are switched)
// mode: 'digit' (the pad) or 'picture' (a model of one's own), from the entry being loaded
const state = { backend: null, catalog: null, model: null, loading: 0, offlineWatched: false, photo: null,
  picture: null, mode: 'digit' };

const canvas = ui.byTestId('canvas');
const prediction = ui.byTestId('prediction');
const hint = ui.byTestId('hint');
const DRAW_HINT = hint.textContent;   // shown again once a refusal's reason has gone
const timing = ui.byTestId('timing');
const photoPreview = ui.byTestId('photo-preview');
const inputCanvas = ui.byTestId('input-28');
const inputCaption = ui.byTestId('input-caption');
const pictureHint = ui.byTestId('picture-hint');
const picturePreview = ui.byTestId('picture-preview');
// what the header, the caption and the title say in each mode
const TEXTS = {
  digit: { title: document.title, h1: ui.byTestId('title').textContent,
    subtitle: ui.byTestId('subtitle').textContent, caption: inputCaption.textContent },
  picture: { title: 'Image classifier in your browser', h1: 'Show it a picture',
    subtitle: 'The model reads it entirely in your browser: nothing is uploaded.' },
};
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
  if (state.mode === 'picture') return predictPicture();
  const version = canvas.dataset.version;
  const start = performance.now();
  let input = null, refusal = null;   // refusal: why the drawing is not one digit (two side by side, specks)
  let source = null;
  try {
    // the pad's strokes are read redrawn with a pen in proportion to the drawing (strokes.js)
    source = state.photo?.imageData ?? (pad.isEmpty() ? null : redraw(pad.strokes(), drawing));
    input = source && preprocessOrNull(source);
  } catch (error) {
    if (!(error instanceof NotOneDigitError)) throw error;
    refusal = error.message;
  }
  const preprocessMs = performance.now() - start;
  window.__lastRead = source;
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

// "32×32 RGB", "20×24 grey" (width × height): the image a model of one's own takes
const describeImage = ({ height, width, channels }) => `${width}×${height} ${channels === 3 ? 'RGB' : 'grey'}`;

// A model of one's own: the picture, resized and scaled as its manifest says, then its answer.
async function predictPicture() {
  const model = state.model;
  const picture = state.picture;
  window.__lastInput = null;
  window.__lastProbabilities = null;
  delete prediction.dataset.picture;
  delete prediction.dataset.model;
  prediction.textContent = '';
  timing.textContent = '';
  if (!model) {
    showBars(null, []);
    return;
  }
  const image = model.entry.input.image;
  if (!picture) {
    ui.showPicture(inputCanvas, null, image);
    showBars(null, model.labels);
    pictureHint.textContent = `Choose a picture or take one: the model reads it as ${describeImage(image)}.`;
    return;
  }
  const start = performance.now();
  let prepared;
  try {
    prepared = prepareImage(picture.imageData, model.entry.input);
  } catch (error) {
    ui.showError(`${picture.name} could not be prepared for the model: ${error.message}`);
    return;
  }
  const preprocessMs = performance.now() - start;
  window.__lastInput = prepared.data;
  ui.showPicture(inputCanvas, prepared.pixels, image);
  try {
    const { probabilities, ms } = await predict(model, prepared.data);
    if (model !== state.model || picture !== state.picture) return;   // a fresh run follows
    const best = probabilities.indexOf(Math.max(...probabilities));
    window.__lastProbabilities = probabilities;
    prediction.textContent = model.labels[best];
    prediction.classList.toggle('word', model.labels[best].length > 2);
    showBars(probabilities, model.labels);
    pictureHint.textContent = `Read ${picture.name} (${picture.imageData.width}×${picture.imageData.height}) ` +
      `as ${describeImage(image)}.`;
    timing.textContent = `${state.backend}: model ${ms.toFixed(1)} ms, resizing ${preprocessMs.toFixed(1)} ms`;
    prediction.dataset.model = model.entry.key;
    prediction.dataset.picture = picture.name;
  } catch (error) {
    if (model !== state.model) return;   // disposed by a model switch mid-prediction
    ui.showError(`Prediction failed: ${error.message}`);
  }
}

// Show the drawing pad (a digit model) or the picture panel (a model of one's own, `entry`).
function setMode(entry) {
  const mode = entry.recipe === 'resize' ? 'picture' : 'digit';
  const changed = mode !== state.mode;
  state.mode = mode;
  const texts = TEXTS[mode];
  ui.byTestId('pad').hidden = mode !== 'digit';
  ui.byTestId('picture-panel').hidden = mode !== 'picture';
  if (mode === 'picture') ui.byTestId('teach').hidden = true;   // teaching is for handwriting
  document.title = mode === 'digit' ? texts.title : `${entry.model}: ${texts.title}`;
  ui.byTestId('title').textContent = texts.h1;
  ui.byTestId('subtitle').textContent = texts.subtitle;
  inputCaption.textContent = mode === 'digit' ? texts.caption
    : `what the model sees (${describeImage(entry.input.image)})`;
  prediction.classList.remove('word');
  if (changed && mode === 'digit') {   // the digit path's own state, as it was
    delete prediction.dataset.picture;
    delete prediction.dataset.model;
    showBars(null);
    ui.showInput(inputCanvas, null);
  }
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
attachPhotoInput(ui.byTestId('picture'), (imageData, name) => {
  state.picture = { imageData, name };
  showPhoto(picturePreview, imageData);
  updatePrediction();
}, (message) => ui.showError(message), readPicture);

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
    setMode(entry);
    updatePrediction();   // the panel of this model's kind, empty while it loads
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
    if (state.mode === 'picture') ui.byTestId('teach').hidden = true;
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
