"""Teach a published model a person's handwriting from a few examples, then publish it like any model.

The method, chosen by measurement (README "Teach it your handwriting" has the figures): a gated
nearest-prototype blend over the model's own features.
- Features: the CNN's `flatten` layer (the last convolutional block: 864 numbers), L2-normalised.
  The penultimate dense layer was measured too: its prototypes are as good but its gate is worse.
- Each taught example also counts as four one-pixel shifts of itself (cheap augmentation).
- Prototype of digit d = the normalised mean of its examples' features; the personal prediction is
  softmax(cosine similarity to each prototype / TEMPERATURE) over the digits that were taught.
- A gate decides whose answer counts: g = sigmoid(SHARPNESS * (nearest example similarity - nearest
  replay similarity - MARGIN)), where the replay set is REPLAY_PER_CLASS MNIST training digits per
  class. Output = g * personal + (1 - g) * published. A drawing nearer to the person's examples than
  to any MNIST digit follows the examples; everything else keeps the published model's answer.
This is all matrix products: the page does it in JS on the same features (web/static/personal.js),
and `personal_model` bakes it into a Keras model of standard layers, so every export format carries
it and is verified like the base model.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.models import NUM_CLASSES

FEATURE_LAYER = "flatten"
TEMPERATURE = 0.02
SHARPNESS = 30.0
MARGIN = 0.02
REPLAY_PER_CLASS = 30
REPLAY_SEED = 4321
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))   # (rows, columns), zero-filled
SUFFIX = "-personal"


@dataclass(frozen=True)
class Method:
    """The blend's constants. Every export records them (the manifest's `adaptation.method`); the
    page and the app teach with the ones the export records, not with this file's."""
    temperature: float = TEMPERATURE
    gate_sharpness: float = SHARPNESS
    gate_margin: float = MARGIN
    shifts: tuple[tuple[int, int], ...] = SHIFTS

    @classmethod
    def from_manifest(cls, section, where: str) -> Method:
        """The method a manifest records; `where` names the manifest in the error."""
        try:
            method = cls(float(section["temperature"]), float(section["gate_sharpness"]),
                         float(section["gate_margin"]), tuple((int(r), int(c)) for r, c in section["shifts"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PipelineError(f"{where} records no usable adaptation method ({type(exc).__name__}: "
                                f"{exc}); export the model again.") from None
        numbers = (method.temperature, method.gate_sharpness, method.gate_margin)
        if not all(math.isfinite(n) for n in numbers) or method.temperature <= 0 or not method.shifts:
            raise PipelineError(f"{where} records an adaptation method out of range ({numbers}, "
                                f"{len(method.shifts)} shifts); export the model again.")
        return method


@dataclass
class Adapter:
    """Everything the blend needs besides the published model; all rows L2-normalised."""
    prototypes: np.ndarray   # [10, D]; zero rows for digits never taught
    taught: np.ndarray       # [10] bool
    examples: np.ndarray     # [N * len(shifts), D] the taught examples and their shifts
    replay: np.ndarray       # [R, D] MNIST training digits
    constants: Method = Method()


def method_record(constants: Method = Method()) -> dict:
    """The blend's constants as the manifests record them (Method.from_manifest reads them back)."""
    return {"name": "gated nearest-prototype blend", "feature_layer": FEATURE_LAYER,
            "temperature": constants.temperature, "gate_sharpness": constants.gate_sharpness,
            "gate_margin": constants.gate_margin, "replay_per_class": REPLAY_PER_CLASS,
            "shifts": [list(shift) for shift in constants.shifts]}


def shifted_copies(images: np.ndarray, shifts=SHIFTS) -> np.ndarray:
    """[N, 28, 28] -> [N * len(shifts), 28, 28]: each shift of every image, shift-major, zero-filled."""
    copies = []
    for rows, cols in shifts:
        shifted = np.zeros_like(images)
        src_r = slice(max(0, -rows), images.shape[1] - max(0, rows))
        dst_r = slice(max(0, rows), images.shape[1] - max(0, -rows))
        src_c = slice(max(0, -cols), images.shape[2] - max(0, cols))
        dst_c = slice(max(0, cols), images.shape[2] - max(0, -cols))
        shifted[:, dst_r, dst_c] = images[:, src_r, src_c]
        copies.append(shifted)
    return np.concatenate(copies)


def normalise_rows(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    return features / np.sqrt(np.maximum((features ** 2).sum(axis=1, keepdims=True), 1e-12))


def fit_adapter(example_features: np.ndarray, labels: np.ndarray, replay_features: np.ndarray,
                constants: Method = Method()) -> Adapter:
    """example_features: normalised features of shifted_copies(images, constants.shifts), labels: the N labels."""
    labels = np.tile(np.asarray(labels), len(constants.shifts))
    prototypes = np.zeros((NUM_CLASSES, example_features.shape[1]), dtype=np.float32)
    taught = np.zeros(NUM_CLASSES, dtype=bool)
    for digit in range(NUM_CLASSES):
        if np.any(labels == digit):
            prototypes[digit] = example_features[labels == digit].mean(axis=0)
            taught[digit] = True
    prototypes[taught] = normalise_rows(prototypes[taught])
    return Adapter(prototypes, taught, example_features, replay_features, constants)


def blend(features: np.ndarray, published: np.ndarray, adapter: Adapter) -> np.ndarray:
    """Normalised features [M, D] and the published probabilities [M, 10] -> personal probabilities."""
    constants = adapter.constants
    logits = features @ adapter.prototypes.T / constants.temperature + np.where(adapter.taught, 0.0, -1e4)
    personal = np.exp(logits - logits.max(axis=1, keepdims=True))
    personal /= personal.sum(axis=1, keepdims=True)
    nearest_example = (features @ adapter.examples.T).max(axis=1)
    nearest_replay = (features @ adapter.replay.T).max(axis=1)
    closeness = nearest_example - nearest_replay - constants.gate_margin
    gate = 1 / (1 + np.exp(-constants.gate_sharpness * closeness))[:, None]
    return gate * personal + (1 - gate) * published


def feature_model(base):
    """The published model with two outputs: its features and its probabilities."""
    import keras

    return keras.Model(base.inputs, [base.get_layer(FEATURE_LAYER).output, base.outputs[0]],
                       name="published")


def features_and_probabilities(extractor, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features, probabilities = extractor.predict(np.asarray(images, np.float32), batch_size=500, verbose=0)
    return normalise_rows(features.reshape(len(images), -1)), np.asarray(probabilities)


def replay_images() -> tuple[np.ndarray, np.ndarray]:
    """REPLAY_PER_CLASS MNIST training digits per class, always the same ones."""
    from pipeline.data import load_mnist, scale_pixels

    (x_train, y_train), _ = load_mnist()
    rng = np.random.default_rng(REPLAY_SEED)
    pick = np.concatenate([rng.choice(np.flatnonzero(y_train == digit), REPLAY_PER_CLASS, replace=False)
                           for digit in range(NUM_CLASSES)])
    return scale_pixels(x_train[pick]), y_train[pick]


def personal_model(base, adapter: Adapter, name: str):
    """The blend as one Keras model of standard layers (no Lambda: it loads with safe_mode on)."""
    import keras
    from keras import layers

    def constant_dense(kernel: np.ndarray, bias: np.ndarray | None, layer_name: str, activation=None):
        layer = layers.Dense(kernel.shape[1], use_bias=bias is not None, activation=activation,
                             trainable=False, name=layer_name)
        layer.build((None, kernel.shape[0]))
        layer.set_weights([kernel.astype(np.float32)] + ([bias.astype(np.float32)] if bias is not None else []))
        return layer

    def nearest(features, bank: np.ndarray, layer_name: str):
        similarities = constant_dense(bank.T, None, f"{layer_name}_similarity")(features)
        column = layers.Reshape((len(bank), 1), name=f"{layer_name}_column")(similarities)
        return layers.GlobalMaxPooling1D(name=f"{layer_name}_nearest")(column)

    constants = adapter.constants
    image = keras.Input((28, 28), name="image")
    raw_features, published = feature_model(base)(image)
    features = layers.UnitNormalization(name="features")(layers.Flatten(name="features_flat")(raw_features))
    personal = constant_dense(adapter.prototypes.T / constants.temperature, np.where(adapter.taught, 0.0, -1e4),
                              "prototypes", activation="softmax")(features)
    closeness = layers.Subtract(name="closeness")([nearest(features, adapter.examples, "examples"),
                                                   nearest(features, adapter.replay, "replay")])
    gate = constant_dense(np.array([[constants.gate_sharpness]]),
                          np.array([-constants.gate_sharpness * constants.gate_margin]), "gate",
                          activation="sigmoid")(closeness)
    # the gate repeated over the ten classes, and its complement: Dense layers keep it Lambda-free
    gate10 = constant_dense(np.ones((1, NUM_CLASSES)), None, "gate_personal")(gate)
    rest10 = constant_dense(-np.ones((1, NUM_CLASSES)), np.ones(NUM_CLASSES), "gate_published")(gate)
    output = layers.Add(name="probabilities", dtype="float32")([
        layers.Multiply(name="personal_share")([gate10, personal]),
        layers.Multiply(name="published_share")([rest10, published])])
    return keras.Model(image, output, name=name.replace("-", "_"))


def held_out_accuracy(features: np.ndarray, published: np.ndarray, labels: np.ndarray,
                      replay: np.ndarray) -> dict:
    """Leave-one-out: each example is predicted by the blend fitted on all the others (and their shifts).

    features: normalised features of shifted_copies(images) (shift-major), published: the published
    model's probabilities of the unshifted images. Digits taught once cannot be held out honestly and
    are skipped. Returns the personal and the published accuracy on the same held-out examples.
    """
    count = len(labels)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    right = base_right = evaluated = 0
    for index in np.flatnonzero(counts[labels] >= 2):
        keep = np.setdiff1d(np.arange(count), [index])
        rows = np.concatenate([keep + shift * count for shift in range(len(SHIFTS))])
        adapter = fit_adapter(features[rows], labels[keep], replay)
        probabilities = blend(features[index:index + 1], published[index:index + 1], adapter)
        right += int(probabilities.argmax() == labels[index])
        base_right += int(published[index].argmax() == labels[index])
        evaluated += 1
    if not evaluated:
        return {"method": "leave-one-out", "examples": 0, "accuracy": None, "published_accuracy": None,
                "note": "every digit was taught once: nothing can be held out"}
    return {"method": "leave-one-out", "examples": evaluated, "accuracy": round(right / evaluated, 4),
            "published_accuracy": round(base_right / evaluated, 4)}


def adapt(base, images: np.ndarray, labels: np.ndarray, name: str):
    """(personal Keras model, its Adapter, the held-out figures) for `images` taught on `base`."""
    extractor = feature_model(base)
    copies = shifted_copies(np.asarray(images, np.float32))
    features, probabilities = features_and_probabilities(extractor, copies)
    replay, _ = features_and_probabilities(extractor, replay_images()[0])
    adapter = fit_adapter(features, labels, replay)
    held_out = held_out_accuracy(features, probabilities[:len(labels)], labels, replay)
    return personal_model(base, adapter, name), adapter, held_out


def personalize(examples_path: str | Path, model_name: str = "cnn", out_dir: str | Path = "exported_models",
                verbose: bool = True, signing_key: Path | None = None) -> dict:
    """Adapt out_dir/model_name on the examples file, then export → verify → publish out_dir/<model>-personal."""
    from pipeline.evaluate import evaluate
    from pipeline.examples_file import read_examples
    from pipeline.export import export
    from pipeline.files import sha256_file
    from pipeline.formats import keras_format
    from pipeline.runtime import load_manifest

    if model_name.endswith(SUFFIX):
        raise PipelineError(f"'{model_name}' is already personalised; teach the published base model.")
    base_dir = Path(out_dir) / model_name
    base_manifest = load_manifest(base_dir)
    manifest_sha = sha256_file(base_dir / "manifest.json")
    images, labels, examples_sha = read_examples(examples_path, model_name, manifest_sha)
    base = keras_format.load(base_dir / "model.keras")
    name = model_name + SUFFIX
    model, _, held_out = adapt(base, images, labels, name)
    if verbose and held_out["accuracy"] is not None:
        print(f"Held-out accuracy on your examples (leave-one-out, {held_out['examples']} examples): "
              f"published {held_out['published_accuracy']:.3f} → personal {held_out['accuracy']:.3f}")

    build = Path(tempfile.mkdtemp(prefix="personalize-"))
    try:
        (build / name).mkdir()
        model.save(build / name / "model.keras")
        report = evaluate(name, build_dir=build, verbose=False)
        personalisation = {
            "base_model": model_name, "base_manifest_sha256": manifest_sha,
            "base_test_accuracy": base_manifest["evaluation"]["test_accuracy"],
            "examples_sha256": examples_sha, "examples": int(len(labels)),
            "examples_per_digit": {str(d): int(n) for d, n in enumerate(np.bincount(labels, minlength=10))},
            "method": method_record(),
            "style_accuracy": held_out,
            "test_accuracy": report["accuracy"],
        }
        # the personal model was trained as the base was, plus the examples: the card says both
        (build / name / "history.json").write_text(json.dumps(base_manifest.get("training", {})) + "\n")
        description = (f"'{model_name}' taught {len(labels)} examples of one person's handwriting "
                       "(gated nearest-prototype blend over its features; see `personalisation`).")
        return export(name, build_dir=build, out_dir=out_dir, verbose=verbose, description=description,
                      extra={"personalisation": personalisation}, signing_key=signing_key)
    finally:
        shutil.rmtree(build, ignore_errors=True)
