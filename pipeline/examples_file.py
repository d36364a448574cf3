"""The examples file: the digits a person taught, as the page exports them and `personalize` reads them.

Format (JSON, UTF-8), documented in docs/personalisation.md:
    {
      "format": "mnist-everywhere-examples",
      "version": 1,
      "model": "cnn",                       # the published model they were taught on
      "manifest_sha256": "<64 hex>",         # sha256 of that model's manifest.json
      "examples": [{"label": 3, "image": [[28 numbers 0..1] x 28 rows]}, ...]
    }
Each image is the 28x28 input the model saw (white ink on black, MNIST-preprocessed, 0..1); an image
whose border is mostly light (median above 0.5: dark ink on light paper, the wrong polarity) is refused.
Everything is checked before anything is used; any problem is refused in one sentence. Only the
standard library and numpy here: the page's import path and the app never need TensorFlow for it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError

FORMAT = "mnist-everywhere-examples"
VERSION = 1
MAX_EXAMPLES = 500
MAX_BYTES = 8 * 1024 * 1024  # 500 examples of 784 numbers with six digits each fit easily
SIZE = 28
KEYS = {"format", "version", "model", "manifest_sha256", "examples"}


def examples_document(images: np.ndarray, labels, model: str, manifest_sha256: str) -> dict:
    """The JSON document for `images` (float [N, 28, 28] in 0..1) and their `labels`."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "manifest_sha256": manifest_sha256,
        "examples": [
            {"label": int(label), "image": np.round(image, 6).tolist()}
            for image, label in zip(np.asarray(images, dtype=np.float64), labels)
        ],
    }


def border_median(image: np.ndarray) -> float:
    """Median of a 28x28 image's outermost rows and columns (corners counted twice, as personal.js does):
    0 for MNIST-preprocessed white-on-black digits, which sit in a 20x20 box."""
    return float(np.median(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])))


def parse_examples(
    data: bytes, model: str, manifest_sha256: str, name: str = "The examples file"
) -> tuple[np.ndarray, np.ndarray]:
    """Bytes of an examples file -> (float32 [N, 28, 28], int64 [N]); PipelineError if anything is off."""
    if len(data) > MAX_BYTES:
        raise PipelineError(
            f"{name} is larger than {MAX_BYTES // 2**20} MiB; an examples file holds "
            f"at most {MAX_EXAMPLES} examples."
        )
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=lambda c: float("nan"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PipelineError(f"{name} is not valid JSON ({exc.__class__.__name__}).") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PipelineError(f'{name} is not an examples file: it needs "format": "{FORMAT}".')
    unknown = sorted(set(document) - KEYS)
    if unknown:
        raise PipelineError(f"{name} has unknown keys: {', '.join(map(str, unknown))}.")
    if document.get("version") != VERSION:
        raise PipelineError(f"{name} has version {document.get('version')!r}; only {VERSION} is read.")
    if document.get("model") != model:
        raise PipelineError(f"{name} was taught on model {document.get('model')!r}, not '{model}'.")
    if document.get("manifest_sha256") != manifest_sha256:
        raise PipelineError(
            f"{name} was taught on another export of '{model}' (manifest sha256 "
            f"{str(document.get('manifest_sha256'))[:12]}…, the published one is "
            f"{manifest_sha256[:12]}…); teach the published model again."
        )
    examples = document.get("examples")
    if not isinstance(examples, list) or not examples:
        raise PipelineError(f'{name} holds no examples: "examples" must be a non-empty list.')
    if len(examples) > MAX_EXAMPLES:
        raise PipelineError(f"{name} holds {len(examples)} examples, more than the {MAX_EXAMPLES} allowed.")
    images = np.zeros((len(examples), SIZE, SIZE), dtype=np.float32)
    labels = np.zeros(len(examples), dtype=np.int64)
    for index, example in enumerate(examples):
        where = f"{name}, example {index + 1}"
        if not isinstance(example, dict) or set(example) != {"label", "image"}:
            raise PipelineError(f'{where}: each example must be {{"label": 0-9, "image": 28x28}}.')
        label = example["label"]
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
            raise PipelineError(f"{where}: the label must be a whole number from 0 to 9, not {label!r}.")
        image = example["image"]
        if (
            not isinstance(image, list)
            or len(image) != SIZE
            or not all(isinstance(row, list) and len(row) == SIZE for row in image)
        ):
            raise PipelineError(f"{where}: the image must be 28 rows of 28 numbers.")
        for row in image:
            for value in row:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise PipelineError(f"{where}: the image holds {value!r}, not a number.")
                if not math.isfinite(value) or not 0 <= value <= 1:
                    raise PipelineError(f"{where}: the image holds {value}, outside 0..1.")
        images[index] = np.array(image, dtype=np.float32)
        labels[index] = label
        if border_median(images[index]) > 0.5:
            raise PipelineError(
                f"{where}: the image is dark ink on a light background; examples are white ink on black "
                "(0 = background), as the page and the app export them."
            )
    if not images.reshape(len(images), -1).max(axis=1).all():
        blank = int(np.flatnonzero(images.reshape(len(images), -1).max(axis=1) == 0)[0]) + 1
        raise PipelineError(f"{name}, example {blank}: the image is blank.")
    return images, labels


def read_examples(path: str | Path, model: str, manifest_sha256: str) -> tuple[np.ndarray, np.ndarray, str]:
    """parse_examples on a file; also returns the file's sha256 (the manifest records it)."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(
            f"Examples file {path} does not exist."
            if not path.exists()
            else f"{path} is not a file; give an examples JSON file."
        )
    if path.stat().st_size > MAX_BYTES:
        raise PipelineError(f"Examples file {path} is larger than {MAX_BYTES // 2**20} MiB.")
    data = path.read_bytes()
    images, labels = parse_examples(data, model, manifest_sha256, name=f"Examples file {path}")
    return images, labels, hashlib.sha256(data).hexdigest()
