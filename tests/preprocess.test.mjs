// web/static/preprocess.js in Node, without a browser: each synthetic drawing of
// tests/fixtures/preprocess-cases.json (written by `python -m tests.preprocess_cases` from
// pipeline/preprocess.py) must come out as exactly the same Float32 values.
//
//     node --test tests/        (make test runs it)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';

import { BlankImageError, NotOneDigitError, preprocess, preprocessOrNull } from '../web/static/preprocess.js';

const cases = JSON.parse(readFileSync(new URL('./fixtures/preprocess-cases.json', import.meta.url)));
const unpack = (text) => new Uint8Array(inflateSync(Buffer.from(text, 'base64')));

test('the fixture has drawings and a blank one', () => {
  assert.ok(cases.filter((c) => c.float32_le !== null).length >= 5);
  assert.ok(cases.some((c) => c.float32_le === null));
});

// A grey fixture (channels 1) as the RGBA a canvas would give.
function toImageData({ width, height, channels, pixels }) {
  const bytes = unpack(pixels);
  if (channels === 4) return { width, height, data: new Uint8ClampedArray(bytes) };
  const data = new Uint8ClampedArray(width * height * 4);
  bytes.forEach((v, i) => data.set([v, v, v, 255], 4 * i));
  return { width, height, data };
}

for (const { name, float32_le: expected, refusal, reason, ...image } of cases) {
  test(`same values as pipeline/preprocess.py: ${name}`, () => {
    const imageData = toImageData(image);
    if (refusal === 'BlankImageError') {
      assert.throws(() => preprocess(imageData), (e) => e instanceof BlankImageError && e.message === reason);
      assert.equal(preprocessOrNull(imageData), null);
      return;
    }
    if (refusal === 'NotOneDigitError') {   // refused in one sentence, not taken for an empty pad
      assert.throws(() => preprocess(imageData), (e) => e instanceof NotOneDigitError && e.message === reason);
      assert.throws(() => preprocessOrNull(imageData), /^NotOneDigitError: That is not one digit: /);
      return;
    }
    const bytes = unpack(expected);
    const python = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    const js = preprocess(imageData);
    assert.ok(js instanceof Float32Array);
    assert.equal(js.length, 28 * 28);
    const differing = [];
    js.forEach((value, i) => { if (!Object.is(value, python[i])) differing.push(i); });
    assert.deepEqual(differing, [], `pixels differ at ${differing.slice(0, 5)}: ` +
      `JS ${differing.slice(0, 5).map((i) => js[i])}, Python ${differing.slice(0, 5).map((i) => python[i])}`);
  });
}

test('a wrongly sized pixel buffer is refused', () => {
  assert.throws(() => preprocess({ width: 4, height: 4, data: new Uint8ClampedArray(10) }), /Expected 4x4 RGBA/);
});
