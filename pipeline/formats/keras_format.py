"""Keras's native `.keras` file (weights + architecture, no Python code), run by Keras itself."""

from __future__ import annotations

import shutil
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pipeline.formats import in_batches, median_latency_ms
from pipeline.tf_setup import import_tensorflow

NAME = "keras"
VARIANTS = ("float32",)
RUNTIME = "Keras"
MULTI_FILE = False  # the artifact is one file
SERVING_RUNTIME = "keras"
SERVING_LABEL = "Keras"
IN_BROWSER = False


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
            raise PipelineError(
                f"{path} contains Python code (a Lambda layer or similar), which is "
                "never loaded: only models built from Keras's own layers are."
            ) from exc
        raise PipelineError(f"{path} is not a loadable Keras model ({type(exc).__name__}: {exc}).") from exc


# model -> its forward pass as one traced graph
_compiled: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_compiled_lock = threading.Lock()


def compiled_call(model):
    """The model's inference traced once as a tf.function (any batch size): an eager call runs op
    by op in Python, ~90 ms for the CNN against ~5 ms traced, and apps send one image at a time."""
    with _compiled_lock:
        if model not in _compiled:
            from pipeline.tf_setup import import_tensorflow

            tf = import_tensorflow()
            _compiled[model] = tf.function(
                lambda images: model(images, training=False),
                input_signature=[tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)],
                reduce_retracing=True,
            )
        return _compiled[model]


def predict(model, images: np.ndarray) -> np.ndarray:
    call = compiled_call(model)  # not predict(): its per-call setup costs more than one image
    images = np.asarray(images, np.float32)
    return in_batches(lambda batch: call(batch).numpy(), images)


def latency_ms(model, image: np.ndarray) -> float:
    batch = image[None].astype(np.float32)
    call = compiled_call(model)
    return median_latency_ms(lambda: call(batch).numpy())  # what the apps get for one image
