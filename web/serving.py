"""What the Streamlit app does that is not UI: where the models are, what can be chosen, loading and
classifying. Plain functions, testable without a browser or the Streamlit runtime.

Only numpy, Pillow and LiteRT are imported on the LiteRT path (ONNX Runtime on the ONNX path);
TensorFlow is imported (by the Keras format module) only when the Keras runtime is chosen. The
runtimes and variants on offer come from the format modules, through pipeline.runtime.RUNTIMES.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import signing
from pipeline.errors import PipelineError
from pipeline.files import resolve_inside
from pipeline.formats import format_module
from pipeline.manifest import FILE_NAME as MANIFEST
from pipeline.manifest import FIX, uses_mnist_recipe
from pipeline.runtime import RUNTIMES, Classifier, Prediction

SHOWN_SIZE = 140  # what the model saw is shown about this large, in whole pixels (28x28: 5x)


@dataclass(frozen=True)
class RuntimeOption:
    """One choice in the runtime menu: an artifact of the manifest and the runtime that runs it."""

    label: str  # "Keras", "LiteRT int8", ...
    runtime: str  # pipeline.runtime.RUNTIMES key
    variant: str
    accuracy: float | None
    bytes: int


def runtime_options(manifest: dict) -> list[RuntimeOption]:
    """What the manifest offers that the app can run, in FORMATS order (Keras, LiteRT, ONNX Runtime),
    each runtime's variants in export order."""
    options = []
    for runtime, (format_name, variants) in RUNTIMES.items():
        name = format_module(format_name).SERVING_LABEL
        for variant in variants:
            for artifact in manifest["artifacts"]:
                if artifact["format"] == format_name and artifact["variant"] == variant:
                    label = name if len(variants) == 1 else f"{name} {variant}"
                    accuracy = artifact["verification"].get("accuracy")
                    options.append(RuntimeOption(label, runtime, variant, accuracy, artifact["bytes"]))
                    break
    if not options:
        raise PipelineError(
            f"Model '{manifest['model']}' has no artifact that the app can run ({', '.join(RUNTIMES)}); {FIX}."
        )
    return options


def default_option(options: list[RuntimeOption]) -> int:
    """LiteRT float32 when there is one: exact, fast, and it needs no TensorFlow."""
    labels = [option.label for option in options]
    return labels.index("LiteRT float32") if "LiteRT float32" in labels else 0


def plots(model_dir: Path, manifest: dict) -> list[tuple[str, Path]]:
    """The model card's plots that exist, as (title, path); paths may not leave the model folder."""
    found = []
    for name, relative in (manifest.get("plots") or {}).items():
        try:
            path = resolve_inside(model_dir, relative)
        except PipelineError:
            continue
        if path.is_file():
            found.append((name.replace("_", " ").capitalize(), path))
    return found


def fingerprint(model_dir: Path) -> tuple:
    """Changes when a model is republished or re-signed, so a cached Classifier is not served stale
    (and a changed signature is verified again)."""
    stats = []
    for name in (MANIFEST, signing.SIGNATURE):
        try:
            stat = (Path(model_dir) / name).stat()
            stats.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        except OSError:
            stats.append(None)
    return tuple(stats) if stats[0] else ()


def public_key_setting() -> str | None:
    """$MNIST_PUBLIC_KEY: the public key the app verifies every model folder with, if any."""
    return os.environ.get(signing.PUBLIC_KEY_ENV) or None


def load_classifier(
    model_dir: str | Path, runtime: str, variant: str, public_key: str | None = None
) -> Classifier:
    """A Classifier with every file checked against the manifest, and the folder's signature
    verified first when a public key is given (PipelineError if not usable)."""
    return Classifier(model_dir, runtime=runtime, variant=variant, public_key=public_key)


@dataclass
class Result:
    prediction: Prediction
    milliseconds: float  # preprocessing + inference, as `python -m pipeline predict` does them


def classify(classifier: Classifier, image) -> Result:
    """Prepare the image as the model's manifest says (MNIST's recipe for the digit models: BlankImageError
    if there is no ink; resize and scaling for a model of one's own) and predict."""
    started = time.perf_counter()
    prediction = classifier.classify(image)
    return Result(prediction, (time.perf_counter() - started) * 1000)


def enlarge(image: np.ndarray, size: int = SHOWN_SIZE) -> np.ndarray:
    """An [H, W] or [H, W, 3] image in 0..1 scaled up by whole pixels (to about `size` on its longer
    side), so the browser does not blur it."""
    factor = max(1, size // max(image.shape[:2]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1).clip(0, 1)


def input_size(classifier: Classifier) -> tuple[int, int]:
    """(height, width) of the image the model sees: 28x28 for the digit models."""
    if classifier.mnist_recipe:
        return 28, 28
    record = classifier.manifest["input"]["image"]
    return record["height"], record["width"]


def model_view(classifier: Classifier, seen: np.ndarray) -> np.ndarray:
    """What the model saw (Prediction.image, in the model's range and input shape, a flat [H*W] too) as
    an enlarged picture in 0..1: [H, W] grey or [H, W, 3] colour."""
    if classifier.mnist_recipe:
        return enlarge(seen)
    channels = classifier.manifest["input"]["image"]["channels"]
    low, high = classifier.value_range
    pixels = (np.asarray(seen, np.float32).reshape(*input_size(classifier), channels) - low) / (high - low)
    return enlarge(pixels[..., 0] if channels == 1 else pixels)


def labels_hint(labels: list[str], most: int = 12) -> str:
    """ "the model tells apart blue, green, red", for the upload's label; a long list is cut short."""
    shown = ", ".join(labels[:most])
    return f"the model tells apart {shown}" + (f" and {len(labels) - most} more" if len(labels) > most else "")


def accuracy_note(manifest: dict) -> str:
    """What the sidebar's accuracy figures were measured on."""
    if uses_mnist_recipe(manifest):
        return "Accuracy on the MNIST test set, measured in each runtime when the model was exported."
    images = (manifest.get("data") or {}).get("verification", {}).get("images")
    held_out = f"{images} held-out labelled images" if isinstance(images, int) else "held-out labelled images"
    return f"Accuracy on {held_out}, measured in each runtime when the model was exported."


def left_out(manifest: dict) -> list[str]:
    """The formats or variants an export left out, with the reason (a model of one's own: `left_out`)."""
    lines = []
    for entry in manifest.get("left_out") or []:
        if isinstance(entry, dict):
            what = entry.get("id") or " ".join(str(entry[k]) for k in ("format", "variant") if entry.get(k))
            reason = entry.get("reason")
            lines.append(f"{what or '?'}: {reason}" if reason else str(what or "?"))
        elif isinstance(entry, str):
            lines.append(entry)
    return lines


def mnist_test_set() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 10,000 test images and labels (local cache, checksummed; see pipeline.data)."""
    from pipeline.data import load_mnist

    _, (images, labels) = load_mnist()
    return images, labels
