"""The export formats, one module each with the same face, listed once in FORMATS.

A format module provides:
    NAME: str                       the manifest's `format`
    VARIANTS: tuple[str, ...]       the manifest's `variant`s, in export order
    RUNTIME: str                    what verification runs it in (for people)
    MULTI_FILE: bool                True if the entry file's whole folder is the artifact
    export(source, variant, out_dir) -> Path    writes the artifact under out_dir, returns its entry file
    load(path, variant) -> object               opens the artifact in its own runtime
    predict(loaded, images) -> np.ndarray       float32 [N, 28, 28] -> [N, 10] probabilities
    latency_ms(loaded, image) -> float          median time of one batch-1 prediction
`source` is an ExportSource. Adding ONNX or Core ML means one new module and one line in FORMATS.
Modules are imported on first use: TensorFlow stays out of code that needs only LiteRT.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# format -> module; order matters: tfjs converts from the SavedModel written before it
FORMATS = {
    "keras": "pipeline.formats.keras_format",
    "savedmodel": "pipeline.formats.savedmodel",
    "tfjs": "pipeline.formats.tfjs",
    "tflite": "pipeline.formats.tflite",
}



@dataclass
class ExportSource:
    """What an exporter may read: the trained Keras model and files written by earlier formats."""
    model: object               # keras.Model
    model_name: str
    keras_path: Path            # the trained .keras file
    saved_model_dir: Path | None = None   # set once the savedmodel format has been exported
    calibration_images: np.ndarray | None = None  # float32 [N, 28, 28] training images, for int8


def format_module(name: str):
    if name not in FORMATS:
        raise KeyError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[name])


def timed_calls(call, repeats: int, warmup: int = 5) -> list[float]:
    """Milliseconds of each of `repeats` calls of `call()`, after a warm-up."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def median_latency_ms(run_once, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of `run_once()`, in milliseconds, after a warm-up."""
    return float(np.median(timed_calls(run_once, repeats, warmup)))
