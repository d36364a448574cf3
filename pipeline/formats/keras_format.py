"""Keras's native `.keras` file (weights + architecture, no Python code), run by Keras itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from pipeline.formats import median_latency_ms

NAME = "keras"
VARIANTS = ("float32",)
RUNTIME = "Keras"
MULTI_FILE = False  # the artifact is one file


def export(source, variant: str, out_dir: Path) -> Path:
    target = out_dir / "model.keras"
    shutil.copyfile(source.keras_path, target)
    return target


def load(path: Path, variant: str = "float32"):
    from pipeline.evaluate import load_keras_model

    return load_keras_model(Path(path))


def predict(model, images: np.ndarray) -> np.ndarray:
    if len(images) <= 64:  # a direct call skips predict()'s per-call setup: apps send one image
        return np.asarray(model(images, training=False))
    return np.asarray(model.predict(images, batch_size=1000, verbose=0))


def latency_ms(model, image: np.ndarray) -> float:
    batch = image[None]
    return median_latency_ms(lambda: model(batch, training=False))  # call, not predict(): no per-call setup
