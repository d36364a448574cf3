"""The model registry: each entry is an architecture plus the training recipe that goes with it.

Every model takes the same input, float32 [batch, 28, 28] with values 0..1 (white ink on black,
MNIST-preprocessed), and returns float32 [batch, 10] probabilities. One contract means one
preprocessing and one set of loaders for every app and runtime. The output layer is float32 even
under mixed precision, so the contract holds for a model trained with --mixed-precision too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.errors import PipelineError

INPUT_SHAPE = (28, 28)
NUM_CLASSES = 10


def labels_text() -> str:
    """labels.txt: one label a line, output i is digit i (published beside and inside the .tflite)."""
    return "".join(f"{digit}\n" for digit in range(NUM_CLASSES))


@dataclass(frozen=True)
class Recipe:
    build: Callable[..., object]          # (keras module) -> an uncompiled model
    optimizer: Callable[..., object]      # (steps in the whole run, keras module) -> optimizer
    epochs: int
    batch_size: int
    augment: bool
    description: str
    label_smoothing: float = 0.0
    jit_compile: bool = True   # XLA speeds the tiny article model 4x but slows CPU convolutions 4x
    compiled_loop: bool = False  # whole epochs in one XLA program (compiled_fit.py) instead of fit()


def keras_module(module=None):
    """Keras 3 unless told otherwise: multi-worker training passes tf_keras (see train.py)."""
    if module is not None:
        return module
    import keras

    return keras


def build_article(keras=None):
    """The seed article's softmax regression: Dense(10, input_dim=784) + softmax, 7,850 parameters.

    The article flattens the images with numpy before the model; Flatten does the same inside it, so
    every model shares one input contract. It adds no parameters.
    """
    keras = keras_module(keras)
    layers = keras.layers

    return keras.Sequential([
        keras.Input(INPUT_SHAPE, name="image"),
        layers.Flatten(name="flatten"),
        layers.Dense(units=NUM_CLASSES, name="dense"),
        layers.Activation("softmax", name="probabilities", dtype="float32"),
    ], name="article")


def build_cnn(keras=None):
    """A small VGG-style CNN: three conv blocks with batch norm, 2 cores train it in minutes."""
    keras = keras_module(keras)
    layers = keras.layers

    def block(x, filters, kernel, name):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Reshape((*INPUT_SHAPE, 1), name="channel")(inputs)
    x = block(x, 32, 3, "block1")
    x = layers.MaxPooling2D(name="pool1")(x)
    x = block(x, 64, 3, "block2")
    x = layers.MaxPooling2D(name="pool2")(x)
    x = block(x, 128, 3, "block3")
    x = layers.MaxPooling2D(name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout1")(x)
    x = layers.Dense(128, use_bias=False, name="dense")(x)
    x = layers.BatchNormalization(name="dense_bn")(x)
    x = layers.ReLU(name="dense_relu")(x)
    x = layers.Dropout(0.3, name="dropout2")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")


def article_optimizer(total_steps: int, keras=None):
    keras = keras_module(keras)
    return keras.optimizers.SGD()  # Keras's default learning rate, 0.01, as the article has it


def cnn_optimizer(total_steps: int, keras=None):
    keras = keras_module(keras)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=1e-4, decay_steps=max(1, total_steps - total_steps // 10),
        warmup_target=3e-3, warmup_steps=total_steps // 10, alpha=0.01)
    return keras.optimizers.Adam(learning_rate=schedule)


MODELS = {
    "article": Recipe(
        build=build_article, optimizer=article_optimizer, epochs=20, batch_size=32, augment=False,
        compiled_loop=True,
        description="The seed article's softmax regression (Dense(10) + softmax), SGD, 20 epochs, "
                    "batch 32."),
    "cnn": Recipe(
        build=build_cnn, optimizer=cnn_optimizer, epochs=12, batch_size=128, augment=True,
        label_smoothing=0.05, jit_compile=False,
        description="A small CNN with batch norm, trained with Adam and augmentation (shifts, "
                    "rotations, scaling, thicker and thinner strokes) for digits drawn by hand."),
}


def get_recipe(name: str) -> Recipe:
    if name not in MODELS:
        raise PipelineError(f"Unknown model '{name}'; choose one of: {', '.join(MODELS)}.")
    return MODELS[name]
