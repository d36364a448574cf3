"""The export formats, one module each with the same face (`FormatModule`), listed once in FORMATS.

Adding a format (Core ML, ...) means one new module and one line in FORMATS: the export loop, the
verification table, `predict --runtime`, the app's runtime menu and the static site all read the
modules' declarations. Modules are imported on first use and import nothing heavy at module level:
TensorFlow stays out of code that needs only LiteRT or ONNX Runtime.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pipeline.errors import PipelineError

# format -> module; order matters: tfjs, tflite and onnx convert from the SavedModel written before them
FORMATS = {
    "keras": "pipeline.formats.keras_format",
    "savedmodel": "pipeline.formats.savedmodel",
    "tfjs": "pipeline.formats.tfjs",
    "tflite": "pipeline.formats.tflite",
    "onnx": "pipeline.formats.onnx",
}


@runtime_checkable
class FormatModule(Protocol):
    """What every module listed in FORMATS provides (a module is checked against it on import)."""

    NAME: str  # the manifest's `format`
    VARIANTS: tuple[str, ...]  # the manifest's `variant`s, in export order
    RUNTIME: str  # what verification runs it in, for people
    MULTI_FILE: bool  # True if the entry file's whole folder is the artifact
    SERVING_RUNTIME: str | None  # `predict --runtime` / the app's name for it; None: not served in Python
    SERVING_LABEL: str  # the app's menu label ("LiteRT", "ONNX Runtime", ...)
    IN_BROWSER: bool  # the static page ships it

    def export(self, source: ExportSource, variant: str, out_dir: Path) -> Path:
        """Write the artifact under out_dir; return its entry file."""

    def load(self, path: Path, variant: str) -> Any:
        """Open the artifact in its own runtime."""

    def predict(self, loaded: Any, images: np.ndarray) -> np.ndarray:
        """float32 [N, *input_shape] (MNIST's models: [N, 28, 28]) -> [N, classes] probabilities."""

    def latency_ms(self, loaded: Any, image: np.ndarray) -> float:
        """Median time of one batch-1 prediction."""


@dataclass(frozen=True)
class ExportSource:
    """What an exporter may read: the trained Keras model and the entry files of earlier formats.

    Frozen: the export loop hands each format a copy with what was written before it.
    """

    model: object  # keras.Model
    model_name: str
    keras_path: Path  # the trained .keras file
    description: str = ""  # what the model is, for formats that carry a description (TFLite)
    calibration_images: np.ndarray | None = None  # float32 [N, *input_shape] training images, for int8
    exported: dict[str, Path] = field(default_factory=dict)  # format -> entry file of its first variant
    input_shape: tuple[int, ...] = (28, 28)  # one input as the model takes it, without the batch axis
    labels: tuple[str, ...] = tuple(str(digit) for digit in range(10))  # output i is labels[i]
    contract: dict | None = None  # the manifest's `input` for a model of one's own; None: MNIST's

    @property
    def saved_model_dir(self) -> Path:
        if "savedmodel" not in self.exported:
            raise PipelineError("The SavedModel must be exported before the formats converted from it.")
        return self.exported["savedmodel"].parent


def format_module(name: str) -> FormatModule:
    if name not in FORMATS:
        raise PipelineError(f"Unknown format {name!r}; known: {', '.join(FORMATS)}.")
    module = importlib.import_module(FORMATS[name])
    if not isinstance(module, FormatModule):
        contract = [*FormatModule.__annotations__, "export", "load", "predict", "latency_ms"]
        missing = [member for member in contract if not hasattr(module, member)]
        raise PipelineError(
            f"{FORMATS[name]} does not provide the format contract (missing: {', '.join(sorted(missing))})."
        )
    return module


def serving_runtimes() -> dict[str, FormatModule]:
    """Runtime name -> the format module it serves, in FORMATS order (keras, litert, onnx today)."""
    modules = (format_module(name) for name in FORMATS)
    return {module.SERVING_RUNTIME: module for module in modules if module.SERVING_RUNTIME}


def browser_formats() -> list[str]:
    """The formats the static page ships."""
    return [name for name in FORMATS if format_module(name).IN_BROWSER]


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


def in_batches(predict_batch, images: np.ndarray, size: int = 1000) -> np.ndarray:
    """`predict_batch` over `images`, `size` at a time (bounded memory), the answers joined."""
    return np.concatenate([predict_batch(images[i : i + size]) for i in range(0, len(images), size)])


def median_latency_ms(run_once, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of `run_once()`, in milliseconds, after a warm-up."""
    return float(np.median(timed_calls(run_once, repeats, warmup)))


def predict_with(model, images: np.ndarray) -> np.ndarray:
    """A format's `predict` for a loaded model that has its own batch `predict` (LiteRT, ONNX)."""
    return in_batches(model.predict, images)


def latency_of(model, image: np.ndarray) -> float:
    """A format's `latency_ms` for such a model: one image per call, as the apps make them."""
    batch = image[None]
    return median_latency_ms(lambda: model.predict(batch), repeats=200)
