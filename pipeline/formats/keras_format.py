"""Keras's native `.keras` file (weights + architecture, no Python code), run by Keras itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.formats import median_latency_ms
from pipeline.tf_setup import import_tensorflow

NAME = "keras"
VARIANTS = ("float32",)
RUNTIME = "Keras"
MULTI_FILE = False  # the artifact is one file


def export(source, variant: str, out_dir: Path) -> Path:
    target = out_dir / "model.keras"
    shutil.copyfile(source.keras_path, target)
    return target


def load(path: Path, variant: str = "float32"):
    """Load a .keras file with safe_mode on: a file that would run arbitrary code is refused."""
    import_tensorflow()
    import keras

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"No trained model at {path}: run `python -m pipeline train` first.")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        if "safe_mode" in str(exc):  # Keras would suggest turning safe mode off: never do that
            raise PipelineError(f"{path} contains Python code (a Lambda layer or similar), which is "
                                "never loaded: only models built from Keras's own layers are.") from exc
        raise PipelineError(f"{path} is not a loadable Keras model ({type(exc).__name__}: {exc}).") from exc


def predict(model, images: np.ndarray) -> np.ndarray:
    if len(images) <= 64:  # a direct call skips predict()'s per-call setup: apps send one image
        return np.asarray(model(images, training=False))
    return np.asarray(model.predict(images, batch_size=1000, verbose=0))


def latency_ms(model, image: np.ndarray) -> float:
    batch = image[None]
    return median_latency_ms(lambda: model(batch, training=False))  # call, not predict(): no per-call setup
