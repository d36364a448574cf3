"""Load a published model for serving: signature, manifest, integrity check, one predictor per runtime.

Used by `predict`, the Streamlit app and the benchmarks. The LiteRT path imports only numpy and
LiteRT, the ONNX path only numpy and ONNX Runtime; TensorFlow is imported only for the Keras runtime.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import signing
from pipeline.errors import PipelineError
from pipeline.files import inside_folder, sha256_bytes, sha256_file
from pipeline.formats import format_module, serving_runtimes
from pipeline.preprocess import preprocess

SCHEMA_VERSION = 1
MODELS_ENV = "MNIST_MODELS_DIR"   # serve another export folder than the repository's


def default_models_dir() -> Path:
    """$MNIST_MODELS_DIR, or the repository's exported_models/, whatever the working directory."""
    from pipeline import REPO_ROOT

    return Path(os.environ.get(MODELS_ENV) or REPO_ROOT / "exported_models")
FIX = "run `make run` (or `python -m pipeline run`) to rebuild it"
# runtime name -> (format, variants it can run), from the format modules: keras, litert, onnx
RUNTIMES = {runtime: (module.NAME, module.VARIANTS) for runtime, module in serving_runtimes().items()}
VARIANTS = tuple(dict.fromkeys(v for _, variants in RUNTIMES.values() for v in variants))


def load_manifest(model_dir: str | Path) -> dict:
    """Read and sanity-check `model_dir/manifest.json`; a clear PipelineError if it is unusable."""
    path = Path(model_dir) / "manifest.json"
    if not Path(model_dir).is_dir():
        raise PipelineError(f"Model folder {model_dir} does not exist; {FIX}.")
    if not path.is_file():
        raise PipelineError(f"{path} is missing; {FIX}.")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path} is damaged (not valid JSON: {exc}); {FIX}.") from exc
    problems = manifest_problems(manifest)
    if problems:
        raise PipelineError(f"{path} is not a valid manifest ({problems[0]}); {FIX}.")
    return manifest


def manifest_problems(manifest) -> list[str]:
    """What is wrong with a manifest's structure; an empty list if nothing."""
    if not isinstance(manifest, dict):
        return ["it is not a JSON object"]
    problems = []
    if manifest.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    for key, kind in (("model", str), ("artifacts", list), ("input", dict), ("output", dict),
                      ("labels", str), ("evaluation", dict)):
        if not isinstance(manifest.get(key), kind):
            problems.append(f"'{key}' is missing or not a {kind.__name__}")
    if isinstance(manifest.get("labels"), str) and not inside_folder(manifest["labels"]):
        problems.append(f"'labels' names {manifest['labels']!r}, outside the model folder")
    if not isinstance(manifest.get("labels_sha256"), str):
        problems.append("'labels_sha256' is missing or not a string")
    shape = manifest["output"].get("shape") if isinstance(manifest.get("output"), dict) else None
    if not (isinstance(shape, list) and shape and isinstance(shape[-1], int) and shape[-1] > 0):
        problems.append("'output' has no valid 'shape' (a list ending in the number of classes)")
    for index, artifact in enumerate(manifest.get("artifacts") or []):
        for key, kind in (("id", str), ("format", str), ("variant", str), ("path", str),
                          ("bytes", int), ("sha256", str), ("files", list), ("verification", dict)):
            if not isinstance(artifact, dict) or not isinstance(artifact.get(key), kind):
                problems.append(f"artifact {index} has no valid '{key}'")
                break
        else:
            for file in artifact["files"]:
                if not (isinstance(file, dict) and isinstance(file.get("path"), str)
                        and isinstance(file.get("sha256"), str) and inside_folder(file["path"])):
                    problems.append(f"artifact {artifact['id']} lists an invalid file entry")
                    break
            else:  # the entry file is opened by the runtime: it must be one of the checked files
                if artifact["path"] not in [file["path"] for file in artifact["files"]]:
                    problems.append(f"artifact {artifact['id']}'s path {artifact['path']!r} is not "
                                    "among its listed files")
    return problems


def read_index(root: str | Path) -> tuple[list[str], str]:
    """The published models' names and the default one, from `root/index.json`."""
    path = Path(root) / "index.json"
    if not path.is_file():
        raise PipelineError(f"{path} is missing: no models have been published; {FIX}.")
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path} is damaged ({exc}); {FIX}.") from exc
    names = index.get("models") if isinstance(index, dict) else None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise PipelineError(f"{path} lists no models; {FIX}.")
    for name in names:  # names become folder names: nothing that leaves `root`
        if name in ("", ".", "..") or Path(name).name != name:
            raise PipelineError(f"{path} lists an invalid model name {name!r}; {FIX}.")
    default = index.get("default")
    return names, default if default in names else names[0]


def find_artifact(manifest: dict, format_name: str, variant: str) -> dict:
    for artifact in manifest["artifacts"]:
        if artifact["format"] == format_name and artifact["variant"] == variant:
            return artifact
    available = ", ".join(a["id"] for a in manifest["artifacts"])
    raise PipelineError(f"Model '{manifest['model']}' has no {format_name} {variant} artifact "
                        f"(it has: {available}).")


def check_files(model_dir: str | Path, artifact: dict) -> Path:
    """sha256 every file of `artifact` against the manifest; returns the entry file's path."""
    model_dir = Path(model_dir)
    for file in artifact["files"]:
        path = model_dir / file["path"]
        if not path.is_file():
            raise PipelineError(f"{path} is missing; {FIX}.")
        if sha256_file(path) != file["sha256"]:
            raise PipelineError(f"{path} is damaged: its sha256 does not match the manifest; {FIX}.")
    return model_dir / artifact["path"]


def read_labels(model_dir: str | Path, manifest: dict) -> list[str]:
    path = Path(model_dir) / manifest["labels"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PipelineError(f"{path} cannot be read ({exc.strerror}); {FIX}.") from exc
    if sha256_bytes(data) != manifest["labels_sha256"]:  # a flipped byte would mislabel answers
        raise PipelineError(f"{path} is damaged: its sha256 does not match the manifest; {FIX}.")
    try:
        labels = data.decode("utf-8").split()
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path} is damaged (not UTF-8 text); {FIX}.") from exc
    if len(labels) != manifest["output"].get("shape", [None, 10])[-1]:
        raise PipelineError(f"{path} has {len(labels)} labels, the model has "
                            f"{manifest['output']['shape'][-1]} outputs; {FIX}.")
    return labels


@dataclass
class Prediction:
    digit: int
    label: str
    probabilities: np.ndarray   # [10]
    image: np.ndarray           # the 28x28 input the model saw


class Classifier:
    """A published model in one runtime: `classify(any image)` or `predict(batch of 28x28)`.

    Safe to share between threads: the LiteRT interpreter is behind a lock, Keras models are
    thread-safe for inference.
    """

    def __init__(self, model_dir: str | Path, runtime: str = "litert", variant: str = "float32",
                 public_key: str | Path | None = None):
        """`public_key` (else $MNIST_PUBLIC_KEY): verify the folder's signature before any file of
        it is opened; without one, the folder is used unverified (the sha256 checks still run)."""
        if runtime not in RUNTIMES:
            raise PipelineError(f"Unknown runtime '{runtime}'; choose one of: {', '.join(RUNTIMES)}.")
        format_name, variants = RUNTIMES[runtime]
        if variant not in variants:
            raise PipelineError(f"The {runtime} runtime has no '{variant}' variant; "
                                f"choose one of: {', '.join(variants)}.")
        self.model_dir = Path(model_dir)
        key = signing.public_key(public_key)
        if key is not None:
            signing.verify_folder(self.model_dir, key)   # before anything below reads the folder
        self.signature = signing.status(self.model_dir, key)
        self.manifest = load_manifest(model_dir)
        self.labels = read_labels(model_dir, self.manifest)
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
        """float [N, 28, 28] in 0..1 (white ink on black, MNIST-preprocessed) -> [N, classes]."""
        try:
            images = np.asarray(images)
        except ValueError as exc:  # ragged nested lists
            raise PipelineError(f"Expected images of shape [N, 28, 28] ({exc}).") from exc
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise PipelineError(f"Expected images of shape [N, 28, 28], got {list(images.shape)}.")
        if not (images.dtype == bool or np.issubdtype(images.dtype, np.integer)
                or np.issubdtype(images.dtype, np.floating)):
            raise PipelineError(f"Expected images of real numbers, got {images.dtype}.")
        if len(images) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if not np.all(np.isfinite(images)):
            raise PipelineError("The images hold NaN or infinite values.")
        if images.min() < 0 or images.max() > 1:
            raise PipelineError(
                f"Expected values in 0..1 (white ink on black), got {images.min():g}..{images.max():g}; "
                "divide 8-bit pixels by 255, or use classify() to preprocess any image.")
        return self._module.predict(self._model, images.astype(np.float32))

    def classify(self, image) -> Prediction:
        """Preprocess any digit image the MNIST way and predict it (BlankImageError if blank)."""
        seen = preprocess(image)
        probabilities = self.predict(seen[None])[0]
        digit = int(np.argmax(probabilities))
        return Prediction(digit, self.labels[digit], probabilities, seen)
