"""The personalisation blend: a gated nearest-prototype blend over a published model's features.

The maths that `personalize` (the command), the adaptation kit (pipeline/adaptation.py), the app
(web/personal.py) and the benchmark share; the page does the same in JS (web/static/personal.js).
The method, chosen by measurement (docs/personalisation.md has the figures):
- Features: the CNN's `flatten` layer (the last convolutional block: 864 numbers), L2-normalised.
  The penultimate dense layer was measured too: its prototypes are as good but its gate is worse.
- Each taught example also counts as four one-pixel shifts of itself (cheap augmentation).
- Prototype of digit d = the normalised mean of its examples' features; the personal prediction is
  softmax(cosine similarity to each prototype / TEMPERATURE) over the digits that were taught.
- A gate decides whose answer counts: g = sigmoid(SHARPNESS * (nearest example similarity - nearest
  replay similarity - MARGIN)), where the replay set is REPLAY_PER_CLASS MNIST training digits per
  class. Output = g * personal + (1 - g) * published. A drawing nearer to the person's examples than
  to any MNIST digit follows the examples; everything else keeps the published model's answer.
  MARGIN is a cosine similarity, so it belongs to the base model's feature space: with the served cnn
  trained with round thick pens, 0.04 keeps the trade-off 0.02 gave the earlier one (3 Eastern Arabic
  examples per digit, 5 teaching draws, 500 new drawings each: style 0.943 vs 0.944, standard digits
  0.956 vs 0.954, MNIST 0.980 vs 0.980); at 0.02 the new base lost 0.4 points more of MNIST.
This is all matrix products, and `personal_model` bakes it into a Keras model of standard layers, so
every export format carries it and is verified like the base model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.models import NUM_CLASSES

FEATURE_LAYER = "flatten"
TEMPERATURE = 0.02
SHARPNESS = 30.0
MARGIN = 0.04  # chosen for the served cnn (above)
REPLAY_PER_CLASS = 30
REPLAY_SEED = 4321
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # (rows, columns), zero-filled
SUFFIX = "-personal"  # a personalised model's name: its base's name + SUFFIX


@dataclass(frozen=True)
class Method:
    """The blend's constants. Every export records them (the manifest's `adaptation.method`, written and
    read by pipeline/manifest.py); the page and the app teach with the ones the export records, not
    with this file's defaults."""

    temperature: float = TEMPERATURE
    gate_sharpness: float = SHARPNESS
    gate_margin: float = MARGIN
    shifts: tuple[tuple[int, int], ...] = SHIFTS


@dataclass
class Adapter:
    """Everything the blend needs besides the published model; all rows L2-normalised."""

    prototypes: np.ndarray  # [10, D]; zero rows for digits never taught
    taught: np.ndarray  # [10] bool
    examples: np.ndarray  # [N * len(shifts), D] the taught examples and their shifts
    replay: np.ndarray  # [R, D] MNIST training digits
    constants: Method = Method()


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
    return features / np.sqrt(np.maximum((features**2).sum(axis=1, keepdims=True), 1e-12))


def fit_adapter(
    example_features: np.ndarray, labels: np.ndarray, replay_features: np.ndarray, constants: Method = Method()
) -> Adapter:
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

    return keras.Model(base.inputs, [base.get_layer(FEATURE_LAYER).output, base.outputs[0]], name="published")


def features_and_probabilities(extractor, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features, probabilities = extractor.predict(np.asarray(images, np.float32), batch_size=500, verbose=0)
    return normalise_rows(features.reshape(len(images), -1)), np.asarray(probabilities)


def replay_images() -> tuple[np.ndarray, np.ndarray]:
    """REPLAY_PER_CLASS MNIST training digits per class, always the same ones."""
    from pipeline.data import load_mnist, scale_pixels

    (x_train, y_train), _ = load_mnist()
    rng = np.random.default_rng(REPLAY_SEED)
    pick = np.concatenate(
        [
            rng.choice(np.flatnonzero(y_train == digit), REPLAY_PER_CLASS, replace=False)
            for digit in range(NUM_CLASSES)
        ]
    )
    return scale_pixels(x_train[pick]), y_train[pick]


def personal_model(base, adapter: Adapter, name: str):
    """The blend as one Keras model of standard layers (no Lambda: it loads with safe_mode on)."""
    import keras
    from keras import layers

    def constant_dense(kernel: np.ndarray, bias: np.ndarray | None, layer_name: str, activation=None):
        layer = layers.Dense(
            kernel.shape[1], use_bias=bias is not None, activation=activation, trainable=False, name=layer_name
        )
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
    personal = constant_dense(
        adapter.prototypes.T / constants.temperature,
        np.where(adapter.taught, 0.0, -1e4),
        "prototypes",
        activation="softmax",
    )(features)
    closeness = layers.Subtract(name="closeness")(
        [nearest(features, adapter.examples, "examples"), nearest(features, adapter.replay, "replay")]
    )
    gate = constant_dense(
        np.array([[constants.gate_sharpness]]),
        np.array([-constants.gate_sharpness * constants.gate_margin]),
        "gate",
        activation="sigmoid",
    )(closeness)
    # the gate repeated over the ten classes, and its complement: Dense layers keep it Lambda-free
    gate10 = constant_dense(np.ones((1, NUM_CLASSES)), None, "gate_personal")(gate)
    rest10 = constant_dense(-np.ones((1, NUM_CLASSES)), np.ones(NUM_CLASSES), "gate_published")(gate)
    output = layers.Add(name="probabilities", dtype="float32")(
        [
            layers.Multiply(name="personal_share")([gate10, personal]),
            layers.Multiply(name="published_share")([rest10, published]),
        ]
    )
    return keras.Model(image, output, name=name.replace("-", "_"))


def held_out_accuracy(
    features: np.ndarray,
    published: np.ndarray,
    labels: np.ndarray,
    replay: np.ndarray,
    constants: Method = Method(),
) -> dict:
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
        rows = np.concatenate([keep + shift * count for shift in range(len(constants.shifts))])
        adapter = fit_adapter(features[rows], labels[keep], replay, constants)
        probabilities = blend(features[index : index + 1], published[index : index + 1], adapter)
        right += int(probabilities.argmax() == labels[index])
        base_right += int(published[index].argmax() == labels[index])
        evaluated += 1
    if not evaluated:
        return {
            "method": "leave-one-out",
            "examples": 0,
            "accuracy": None,
            "published_accuracy": None,
            "note": "every digit was taught once: nothing can be held out",
        }
    return {
        "method": "leave-one-out",
        "examples": evaluated,
        "accuracy": round(right / evaluated, 4),
        "published_accuracy": round(base_right / evaluated, 4),
    }
