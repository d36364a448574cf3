"""Load a published model for serving: signature, manifest, integrity check, one predictor per runtime.

Used by `predict`, the Streamlit app and the benchmarks. The LiteRT path imports only numpy and
LiteRT, the ONNX path only numpy and ONNX Runtime; TensorFlow is imported only for the Keras runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import signing
from pipeline.blend import Method
from pipeline.errors import PipelineError
from pipeline.formats import format_module, serving_runtimes
from pipeline.manifest import FILE_NAME as MANIFEST
from pipeline.manifest import (
    FIX,
    adaptation_kit_files,
    check_files,
    find_artifact,
    load_manifest,
    read_labels,
    uses_mnist_recipe,
)
from pipeline.preprocess import preprocess, read_image

MODELS_ENV = "MNIST_MODELS_DIR"  # serve another export folder than the repository's


def default_models_dir() -> Path:
    """$MNIST_MODELS_DIR, or the repository's exported_models/, whatever the working directory."""
    from pipeline import REPO_ROOT

    return Path(os.environ.get(MODELS_ENV) or REPO_ROOT / "exported_models")


# runtime name -> (format, variants it can run), from the format modules: keras, litert, onnx
RUNTIMES = {runtime: (module.NAME, module.VARIANTS) for runtime, module in serving_runtimes().items()}
VARIANTS = tuple(dict.fromkeys(v for _, variants in RUNTIMES.values() for v in variants))


@dataclass
class Prediction:
    digit: int  # the index of the most probable class (for the digit models, the digit)
    label: str  # its name in labels.txt
    probabilities: np.ndarray  # [classes]
    image: np.ndarray  # the input the model saw: 28x28 for the digit models, else [*input shape]

    @property
    def index(self) -> int:
        return self.digit


def pixels_0_255(image: np.ndarray) -> np.ndarray:
    """An image array as float32 pixels 0..255: uint8 as is, 16-bit by its high byte (as the export read
    it: image_input.eight_bit), floats in 0..1 times 255 (PipelineError for floats outside 0..1, NaN, or
    anything not a real-valued array)."""
    from pipeline.image_input import eight_bit

    image = np.asarray(image)
    if image.dtype == np.uint16:
        return eight_bit(image)
    if image.dtype == bool or np.issubdtype(image.dtype, np.integer):
        if image.size and (image.min() < 0 or image.max() > 255):
            raise PipelineError(f"Expected integer pixels 0..255, got {image.min()}..{image.max()}.")
        return image.astype(np.float32)
    if not np.issubdtype(image.dtype, np.floating):
        raise PipelineError(f"Expected an image of real numbers, got {image.dtype}.")
    if not np.all(np.isfinite(image)) or (image.size and (image.min() < 0 or image.max() > 1)):
        raise PipelineError("Expected float pixels in 0..1 (no NaN); divide 8-bit pixels by 255.")
    return image.astype(np.float32) * 255.0


class Classifier:
    """A published model in one runtime: `classify(any image)` or `predict(batch of 28x28)`.

    Safe to share between threads: the LiteRT interpreter is behind a lock, Keras models are
    thread-safe for inference.
    """

    def __init__(
        self,
        model_dir: str | Path,
        runtime: str = "litert",
        variant: str = "float32",
        public_key: str | Path | None = None,
    ):
        """`public_key` (else $MNIST_PUBLIC_KEY): verify the folder's signature before any file of
        it is opened; without one, the folder is used unverified (the sha256 checks still run)."""
        if runtime not in RUNTIMES:
            raise PipelineError(f"Unknown runtime '{runtime}'; choose one of: {', '.join(RUNTIMES)}.")
        format_name, variants = RUNTIMES[runtime]
        if variant not in variants:
            raise PipelineError(
                f"The {runtime} runtime has no '{variant}' variant; choose one of: {', '.join(variants)}."
            )
        self.model_dir = Path(model_dir)
        key = signing.public_key(public_key)
        if key is not None:
            signing.verify_folder(self.model_dir, key)  # before anything below reads the folder
        self.signature = signing.status(self.model_dir, key)
        self.manifest = load_manifest(model_dir)
        self.labels = read_labels(model_dir, self.manifest)
        self.mnist_recipe = uses_mnist_recipe(self.manifest)
        self.input_shape = tuple(self.manifest["input"]["shape"][1:]) if not self.mnist_recipe else (28, 28)
        low, high = self.manifest["input"].get("range", [0, 1])
        self.value_range = (float(low), float(high))
        # what classify() decodes: a model of one's own also GIF and BMP, as its data was read
        self.image_formats = ("PNG", "JPEG") if self.mnist_recipe else ("PNG", "JPEG", "GIF", "BMP")
        self.artifact = find_artifact(self.manifest, format_name, variant)
        self.runtime, self.variant = runtime, variant
        path = check_files(model_dir, self.artifact)
        self._module = format_module(format_name)
        try:
            self._model = self._module.load(path, variant)
        except PipelineError:
            raise
        except Exception as exc:  # a file that matches its hash but will not load: say so plainly
            raise PipelineError(f"{path} could not be loaded by {runtime} ({exc}); {FIX}.") from exc

    def predict(self, images: np.ndarray) -> np.ndarray:
        """float [N, *input_shape] in the model's range -> [N, classes] probabilities. The digit models:
        [N, 28, 28] in 0..1, white ink on black, MNIST-preprocessed."""
        expected = f"[N, {', '.join(str(n) for n in self.input_shape)}]"
        try:
            images = np.asarray(images)
        except ValueError as exc:  # ragged nested lists
            raise PipelineError(f"Expected images of shape {expected} ({exc}).") from exc
        if images.shape[1:] != self.input_shape or images.ndim != len(self.input_shape) + 1:
            raise PipelineError(f"Expected images of shape {expected}, got {list(images.shape)}.")
        if not (
            images.dtype == bool
            or np.issubdtype(images.dtype, np.integer)
            or np.issubdtype(images.dtype, np.floating)
        ):
            raise PipelineError(f"Expected images of real numbers, got {images.dtype}.")
        if len(images) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if not np.all(np.isfinite(images)):
            raise PipelineError("The images hold NaN or infinite values.")
        low, high = self.value_range
        if images.min() < low or images.max() > high:
            hint = "divide 8-bit pixels by 255, or use classify() to preprocess any image"
            raise PipelineError(
                f"Expected values in {low:g}..{high:g}{' (white ink on black)' if self.mnist_recipe else ''}, "
                f"got {images.min():g}..{images.max():g}; "
                f"{hint if (low, high) == (0.0, 1.0) else 'use classify() to prepare any image'}."
            )
        return self._module.predict(self._model, images.astype(np.float32))

    def classify(self, image) -> Prediction:
        """Prepare any image as the model's manifest says and predict it: an array (HxW, HxWx1/3/4; uint8,
        16-bit, or floats in 0..1), or a PNG or JPEG as a path or bytes (pipeline.preprocess.read_image).
        The digit models: MNIST's recipe, for a drawing or a photo of paper (BlankImageError if blank,
        NotOneDigitError if it is not one digit). Any other model: resized and scaled as its manifest's
        `input` records (pipeline.image_input), as its data was when it was verified."""
        if isinstance(image, str | Path | bytes):
            image = read_image(image, self.image_formats)
        seen = preprocess(image) if self.mnist_recipe else self.prepare(image)
        probabilities = self.predict(seen[None])[0]
        digit = int(np.argmax(probabilities))
        return Prediction(digit, self.labels[digit], probabilities, seen)

    def prepare(self, image) -> np.ndarray:
        """A model of one's own: any image array -> float32 [*input_shape] in its range."""
        from pipeline import image_input

        record = self.manifest["input"]["image"]
        spec = image_input.ImageSpec(record["height"], record["width"], record["channels"])
        pixels = image_input.image_input(pixels_0_255(image), spec)
        return image_input.scale(pixels, self.value_range).reshape(self.input_shape)


@dataclass
class AdaptationKit:
    """A published model's adaptation kit in LiteRT: what the app teaches with (pipeline/adaptation.py
    wrote it, pipeline/blend.py's maths use it). Thread-safe like Classifier."""

    model: str  # the published model's name
    manifest_sha256: str  # the examples a person teaches are tied to this exact export
    litert: object  # pipeline.formats.tflite.LiteRTModel
    replay: np.ndarray  # [R, D] L2-normalised replay features
    constants: Method  # the blend's constants, as the manifest records them

    @classmethod
    def load(cls, model_dir: str | Path) -> AdaptationKit | None:
        """The kit of `model_dir`, every file checked against the manifest; None if the model has none.
        PipelineError if the manifest or a file of the kit is damaged."""
        from pipeline.files import sha256_file
        from pipeline.formats import tflite

        manifest = load_manifest(model_dir)
        kit = adaptation_kit_files(model_dir, manifest)
        if kit is None:
            return None
        replay = np.fromfile(kit.replay, dtype="<f4")
        if replay.size != kit.replay_shape[0] * kit.replay_shape[1]:
            raise PipelineError(
                f"{kit.replay} holds {replay.size} numbers, the manifest says {kit.replay_shape}; {FIX}."
            )
        try:
            litert = tflite.LiteRTModel(kit.litert, output=kit.output_name)
        except PipelineError:
            raise
        except Exception as exc:  # a file that matches its hash but will not load: say so plainly
            raise PipelineError(f"{kit.litert} could not be loaded by LiteRT ({exc}); {FIX}.") from exc
        manifest_sha256 = sha256_file(Path(model_dir) / MANIFEST)
        return cls(manifest["model"], manifest_sha256, litert, replay.reshape(kit.replay_shape), kit.method)

    def features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float [N, 28, 28] in 0..1 -> (normalised features [N, D], published probabilities [N, classes])."""
        from pipeline.formats import tflite

        output = tflite.predict(self.litert, np.asarray(images, np.float32))
        return output[:, : self.replay.shape[1]], output[:, self.replay.shape[1] :]
