// web/static/resize.js in Node, without a browser: each picture of tests/fixtures/resize-cases.json
// (written by `python -m tests.resize_cases` from pipeline/image_input.py) must come out as the values
// numpy gives: the resize and the scaling value for value, the colour-to-grey step (a float32 matrix
// product in numpy, whose order of additions BLAS chooses) within 1e-4 on 0..255.
//
//     node --test tests/resize.test.mjs        (tests/test_web_own_model.py runs it too)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';

import { inputProblems, prepareImage, recipeOf } from '../web/static/resize.js';

const cases = JSON.parse(readFileSync(new URL('./fixtures/resize-cases.json', import.meta.url)));
const unpack = (text) => new Uint8Array(inflateSync(Buffer.from(text, 'base64')));
const float32s = (text) => {
  const bytes = unpack(text);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
};
const TOLERANCE = 1e-4;   // on 0..255; the scaled values are compared within the same, scaled

test('the fixture covers grey and colour models, upscaling and downscaling', () => {
  assert.ok(cases.length >= 6);
  assert.ok(cases.some((c) => c.channels !== 1 && c.input.image.channels === 1));
  assert.ok(cases.some((c) => c.channels === 1 && c.input.image.channels === 3));
  assert.ok(cases.some((c) => c.height < c.input.image.height));
  assert.ok(cases.some((c) => c.height > c.input.image.height));
});

// Indices where `js` and `python` differ by more than `tolerance` (exactly, when it is 0).
function differing(js, python, tolerance) {
  const out = [];
  js.forEach((value, i) => {
    if (tolerance === 0 ? !Object.is(value, python[i]) : !(Math.abs(value - python[i]) <= tolerance)) out.push(i);
  });
  return out;
}

for (const { name, width, height, channels, pixels, input, resized_float32_le: resized, float32_le: expected }
  of cases) {
  test(`same values as pipeline/image_input.py: ${name}`, () => {
    const data = unpack(pixels);
    const prepared = prepareImage({ width, height, channels, data }, input);
    assert.deepEqual(prepared.shape, [1, ...input.shape.slice(1)]);
    assert.ok(prepared.data instanceof Float32Array);
    // colour to grey is a matrix product in numpy: its additions may be ordered (or fused) otherwise
    const exact = !(channels !== 1 && input.image.channels === 1);
    for (const [what, js, python, tolerance] of [
      ['resized 0..255', prepared.pixels, float32s(resized), exact ? 0 : TOLERANCE],
      ['scaled', prepared.data, float32s(expected),
        exact ? 0 : TOLERANCE * (input.range[1] - input.range[0]) / 255 + 1e-7],
    ]) {
      assert.equal(js.length, python.length, what);
      const bad = differing(js, python, tolerance);
      assert.deepEqual(bad, [], `${what}: values differ at ${bad.slice(0, 5)}: ` +
        `JS ${bad.slice(0, 5).map((i) => js[i])}, Python ${bad.slice(0, 5).map((i) => python[i])}`);
    }
  });
}

test('the same picture as a canvas gives it (RGBA, alpha dropped) reads as its RGB', () => {
  const data = Uint8Array.from([...Array(18).keys()].map((i) => i * 14));
  const rgb = { width: 3, height: 2, channels: 3, data };
  const rgba = { width: 3, height: 2, data: new Uint8ClampedArray(24) };
  for (let i = 0; i < 6; i++) rgba.data.set([...rgb.data.slice(3 * i, 3 * i + 3), i * 40], 4 * i);
  const input = { shape: [null, 4, 4, 3], range: [0, 1], image: { height: 4, width: 4, channels: 3 },
    recipe: 'resize' };
  assert.deepEqual(prepareImage(rgba, input).data, prepareImage(rgb, input).data);
});

test('the recipe and the input record are read as the manifest has them', () => {
  assert.equal(recipeOf({ shape: [null, 28, 28] }), 'mnist');   // the digit models
  assert.equal(recipeOf({ recipe: 'resize' }), 'resize');
  const good = { shape: [null, 784], range: [0, 1], image: { height: 28, width: 28, channels: 1 } };
  assert.deepEqual(inputProblems(good), []);
  assert.equal(inputProblems({ ...good, shape: [null, 785] }).length, 1);
  assert.equal(inputProblems({ ...good, range: [1, 0] }).length, 1);
  assert.equal(inputProblems({ ...good, image: { height: 28, width: 28, channels: 2 } }).length, 1);
  assert.throws(() => prepareImage({ width: 2, height: 2, data: new Uint8ClampedArray(16) },
    { ...good, range: null }), /manifest cannot be used/);
  assert.throws(() => prepareImage({ width: 4, height: 4, data: new Uint8ClampedArray(10) }, good),
    /Expected 4x4 pixels/);
});
