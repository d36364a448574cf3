// Everything that touches TF.js: backends, the model list read from the manifests, loading an
// artifact (each file checked against its manifest entry) and predicting one input: a 28x28 digit
// (the digit models), or the manifest's input shape (a model of one's own, recipe "resize").

import { inputProblems, recipeOf } from './resize.js';

// TF.js's UMD bundles, loaded by index.html as classic scripts, define the global `tf` (the ES
// module build of the WASM backend imports Node modules, so a page cannot load it).
const tf = globalThis.tf;

export const BACKENDS = ['wasm', 'webgl', 'cpu'];

// Must happen before the WASM backend initialises; the .wasm files are ours, next to tf.min.js.
tf.wasm.setWasmPaths(new URL('vendor/', document.baseURI).href);
// The SIMD binary, never the threaded one: threads need a cross-origin-isolated page (COOP/COEP)
// and workers from blob: URLs, which the page's CSP refuses; on such a host TF.js would hang.
// Measured in BENCHMARKS.md: threads do not pay for one image at a time.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

// Switch TF.js to `name` ('wasm' | 'webgl' | 'cpu'); throws when the browser cannot run it.
export async function useBackend(name) {
  if (!BACKENDS.includes(name)) {
    throw new Error(`Unknown backend "${name}": use one of ${BACKENDS.join(', ')}.`);
  }
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    throw new Error(`The ${name} backend could not start: ${error.message}`);
  }
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`The ${name} backend is not available in this browser.`);
  }
  return name;
}

async function fetchOk(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Could not fetch ${what} (${error.message}).`);
  }
  if (!response.ok) throw new Error(`Could not fetch ${what}: HTTP ${response.status}.`);
  return response;
}

async function fetchJson(url, what) {
  const text = await (await fetchOk(url, what)).text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} is not valid JSON (${error.message}).`);
  }
}

// Read models/index.json and each listed manifest: one entry per TF.js artifact.
// A model whose manifest is missing or broken is reported in `problems`, the others stay usable.
export async function loadCatalog(base = new URL('models/', document.baseURI)) {
  const index = await fetchJson(new URL('index.json', base), 'the model list (models/index.json)');
  if (!Array.isArray(index.models) || index.models.length === 0) {
    throw new Error('models/index.json lists no models.');
  }
  const entries = [];
  const problems = [];
  for (const name of index.models) {
    const manifestUrl = new URL(`${name}/manifest.json`, base);
    try {
      const manifest = await fetchJson(manifestUrl, `the manifest of model "${name}"`);
      const artifacts = (manifest.artifacts || []).filter((a) => a.format === 'tfjs');
      if (artifacts.length === 0) throw new Error(`model "${name}" has no TF.js artifact.`);
      const recipe = recipeOf(manifest.input);
      if (recipe !== 'mnist' && recipe !== 'resize') {
        throw new Error(`model "${name}" prepares its input by the recipe "${recipe}", ` +
          'which this page does not know.');
      }
      const problems = recipe === 'resize' ? inputProblems(manifest.input) : [];
      if (problems.length) throw new Error(`model "${name}" cannot be used: ${problems.join(' ')}`);
      for (const artifact of artifacts) {
        entries.push({
          recommended: manifest.recommended?.tfjs === artifact.variant,
          key: `${name}-${artifact.variant}`,
          model: name,
          variant: artifact.variant,
          manifestUrl: manifestUrl.href,
          labelsPath: manifest.labels || 'labels.txt',
          labelsSha256: manifest.labels_sha256,
          classes: manifest.output?.shape?.at(-1) ?? 10,
          recipe,   // 'mnist': a digit model (preprocess.js); 'resize': any picture (resize.js)
          input: manifest.input,
          artifact,
        });
      }
    } catch (error) {
      problems.push(error.message);
    }
  }
  if (entries.length === 0) throw new Error(`No model could be read: ${problems.join(' ')}`);
  // Default: the index's default model on the variant its manifest recommends (the smallest that
  // met every tolerance), else its first artifact that passed verification.
  const ofDefault = entries.filter((e) => e.model === index.default);
  const passed = (e) => e.artifact.verification?.passed !== false;
  const fallback = ofDefault.find((e) => e.recommended && passed(e)) || ofDefault.find(passed) ||
    entries.find(passed) || entries[0];
  return { entries, defaultKey: fallback.key, problems };
}

// Find the entry for "?model=": "cnn-uint8" exactly, or just "cnn" for its first variant.
export function findEntry(catalog, key) {
  if (!key) return null;
  return catalog.entries.find((e) => e.key === key) ||
         catalog.entries.find((e) => e.model === key) || null;
}

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// Fetch one artifact file (path relative to the manifest) and check it against the manifest, so a
// truncated or stale file is refused with its name instead of a cryptic tensor-shape error.
async function fetchArtifactFile(entry, path) {
  const buffer = await (await fetchOk(new URL(path, entry.manifestUrl), path)).arrayBuffer();
  const spec = (entry.artifact.files || []).find((f) => f.path === path);
  if (!spec) throw new Error(`${path} is not listed in the manifest.`);
  if (buffer.byteLength !== spec.bytes) {
    throw new Error(`${path} is damaged: ${buffer.byteLength} bytes, the manifest says ${spec.bytes}.`);
  }
  // crypto.subtle exists only in secure contexts (https, localhost); elsewhere the size check stays.
  if (globalThis.crypto?.subtle && spec.sha256 && (await sha256Hex(buffer)) !== spec.sha256) {
    throw new Error(`${path} is damaged: its sha256 does not match the manifest.`);
  }
  return buffer;
}

function concatenate(buffers) {
  const out = new Uint8Array(buffers.reduce((sum, b) => sum + b.byteLength, 0));
  let offset = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out.buffer;
}

// Load a catalog entry on the current backend: {graph, labels, entry}. Call `dispose` when done.
export async function loadModel(entry) {
  const modelPath = entry.artifact.path;
  const folder = modelPath.slice(0, modelPath.lastIndexOf('/') + 1);
  const modelJsonBytes = await fetchArtifactFile(entry, modelPath);
  let modelJson;
  try {
    modelJson = JSON.parse(new TextDecoder().decode(modelJsonBytes));
  } catch (error) {
    throw new Error(`${modelPath} is not valid JSON (${error.message}).`);
  }
  const { weightsManifest = [], ...rest } = modelJson;
  const weightSpecs = [];
  const shards = [];
  for (const group of weightsManifest) {
    for (const shard of group.paths) shards.push(await fetchArtifactFile(entry, folder + shard));
    weightSpecs.push(...group.weights);
  }
  const labelsBytes = await (await fetchOk(new URL(entry.labelsPath, entry.manifestUrl),
    entry.labelsPath)).arrayBuffer();
  // a flipped byte in labels.txt would mislabel every answer: it is hashed like the weights
  if (globalThis.crypto?.subtle && entry.labelsSha256 &&
      (await sha256Hex(labelsBytes)) !== entry.labelsSha256) {
    throw new Error(`${entry.labelsPath} is damaged: its sha256 does not match the manifest.`);
  }
  const labels = new TextDecoder().decode(labelsBytes).split('\n').map((l) => l.trim())
    .filter((l) => l !== '');
  if (labels.length !== entry.classes) {
    throw new Error(`${entry.labelsPath} has ${labels.length} labels, the model has ${entry.classes} outputs.`);
  }
  let graph;
  try {
    graph = await tf.loadGraphModel(tf.io.fromMemory({ ...rest, weightSpecs,
      weightData: concatenate(shards) }));
  } catch (error) {
    throw new Error(`${modelPath} could not be loaded by TF.js (${error.message}).`);
  }
  const model = { graph, labels, entry, shape: inputShape(entry) };
  try {   // warm-up: shaders, kernels, off the user's clock
    await predict(model, new Float32Array(model.shape.reduce((a, b) => a * b, 1)));
  } catch (error) {
    dispose(model);
    throw new Error(`${modelPath} loaded but cannot run on ${tf.getBackend()} (${error.message}).`);
  }
  return model;
}

export function dispose(model) {
  model?.graph.dispose();
}

// The tensor shape of one input: [1, 28, 28] for a digit model, else [1, ...the manifest's input
// shape without its batch axis] (e.g. [1, 32, 32, 3], or [1, 784] for a flat one).
export function inputShape(entry) {
  return entry.recipe === 'resize' ? [1, ...entry.input.shape.slice(1)] : [1, 28, 28];
}

// One input (a digit model: Float32Array(784), 0..1; a model of one's own: its input shape, in its
// range) -> {probabilities: number[classes], ms}.
export async function predict(model, input) {
  const start = performance.now();
  const output = tf.tidy(() => {
    const result = model.graph.predict(tf.tensor(input, model.shape ?? [1, 28, 28], 'float32'));
    // The contract is one output; take the first if a converter ever returns a list or a map.
    if (result instanceof tf.Tensor) return result;
    return Array.isArray(result) ? result[0] : Object.values(result)[0];
  });
  const probabilities = Array.from(await output.data());
  output.dispose();
  return { probabilities, ms: performance.now() - start };
}
