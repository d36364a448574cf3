// Run a TF.js graph model in Node on raw float32 images, for the pipeline's verification step.
// usage: node tfjs_predict.mjs MODEL_JSON IMAGES_F32 COUNT OUT_F32 [LATENCY_REPEATS] [SHAPE]
// SHAPE: one input's shape, comma-separated (default 28,28: the digit models; e.g. 32,32,3 or 784).
// Writes the probabilities (float32 little-endian, COUNT x classes) to OUT_F32 and prints one JSON line;
// with LATENCY_REPEATS > 0 it also times batch-1 predictions and one batch of all COUNT images.
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

const [modelJson, imagesPath, countText, outPath, repeatsText = "0", shapeText = "28,28"] = process.argv.slice(2);
const count = Number(countText);
const repeats = Number(repeatsText);
const shape = shapeText.split(",").map(Number);
const size = shape.reduce((a, b) => a * b, 1);

// The browser fetches over HTTP; in Node the model's files are read from disk.
function fileHandler(modelPath) {
  return {
    async load() {
      const artifacts = JSON.parse(await readFile(modelPath, "utf8"));
      const folder = path.dirname(modelPath);
      const specs = [];
      const buffers = [];
      for (const group of artifacts.weightsManifest) {
        specs.push(...group.weights);
        for (const shard of group.paths) buffers.push(await readFile(path.join(folder, shard)));
      }
      const weightData = Buffer.concat(buffers);
      return {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        signature: artifacts.signature,
        userDefinedMetadata: artifacts.userDefinedMetadata,
        modelInitializer: artifacts.modelInitializer,
        weightSpecs: specs,
        weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
      };
    },
  };
}

const require = createRequire(import.meta.url);
const wasmDir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
setWasmPaths(wasmDir + path.sep);
await tf.setBackend("wasm");
await tf.ready();

const model = await tf.loadGraphModel(fileHandler(modelJson));
const raw = await readFile(imagesPath);
const images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
if (images.length !== count * size) throw new Error(`expected ${count} inputs of shape [${shape}]`);

const batchSize = 1000;
const outputs = [];
for (let start = 0; start < count; start += batchSize) {
  const end = Math.min(count, start + batchSize);
  const probabilities = tf.tidy(() =>
    model.predict(tf.tensor(images.subarray(start * size, end * size), [end - start, ...shape])));
  outputs.push(await probabilities.data());
  probabilities.dispose();
}
const joined = new Float32Array(outputs.reduce((n, part) => n + part.length, 0));
let offset = 0;
for (const part of outputs) { joined.set(part, offset); offset += part.length; }
await writeFile(outPath, Buffer.from(joined.buffer));

// Timing, when asked: batch-1 latency percentiles, and throughput on all the images at once.
let timing = {};
if (repeats > 0) {
  const one = tf.tensor(images.subarray(0, size), [1, ...shape]);
  const all = tf.tensor(images, [count, ...shape]);
  const time = (input) => {
    const started = performance.now();
    const result = model.predict(input);
    result.dataSync();
    result.dispose();
    return performance.now() - started;
  };
  for (let i = 0; i < 10; i += 1) time(one);
  const times = Array.from({ length: repeats }, () => time(one)).sort((a, b) => a - b);
  const quantile = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  time(all);
  const batchTimes = Array.from({ length: 5 }, () => time(all)).sort((a, b) => a - b);
  timing = { latency_ms: quantile(0.5), latency_p99_ms: quantile(0.99),
             throughput_per_s: count / (batchTimes[2] / 1000) };
  one.dispose();
  all.dispose();
}
console.log(JSON.stringify({ backend: tf.getBackend(), tfjs: tf.version.tfjs, count, ...timing }));
