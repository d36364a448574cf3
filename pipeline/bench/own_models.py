"""Five Keras image classifiers this project did not design, each with a labelled data set, for the tests
and the benchmark of `python -m pipeline export --keras-model` (pipeline/own_model.py).

- mnist_convnet: keras.io's "Simple MNIST convnet" (examples/vision/mnist_convnet.py), its architecture
  as published; data a folder of class folders "0".."9" of MNIST PNGs at 36x36 (resized on loading).
- mobilenet: keras.applications.MobileNetV3Small(weights=None) at 32x32 RGB, 3 classes; data a folder of
  colour images (a disc or square of the class's colour on a noisy background, 40x40 and 48x32).
- rescaling: a small CNN whose first layer is Rescaling(1/255), so it takes 0..255; data an .npz of uint8.
- logits: a CNN ending in Dense(10) without softmax; data a folder of MNIST PNGs (class folders d0..d9).
- article: the seed article's softmax regression on a flat [784]; data an .npz of flat uint8 rows.

`build_all(folder)` trains each briefly (seeded, CPU: about a minute in all on 2 cores) and writes
folder/NAME.keras and folder/NAME-data (a folder or .npz); `python -m pipeline.bench.own_models FOLDER` does the
same from the shell. MNIST comes from the project's cached copy (pipeline.data.load_mnist).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRAIN_IMAGES = 2000
COLOURS = {"blue": (40, 70, 220), "green": (40, 190, 60), "red": (220, 40, 40)}


@dataclass(frozen=True)
class OwnModel:
    name: str
    keras: Path
    data: Path  # a folder of class folders, or an .npz
    labels: tuple[str, ...]
    sample: Path  # one image file of class `sample_label`, for predict, the app and the page
    sample_label: str


def mnist_digits(count: int, offset: int = 0):
    from pipeline.data import load_mnist

    (x, y), _ = load_mnist()
    return x[offset : offset + count], y[offset : offset + count]


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray, names: list[str], size=None) -> Path:
    from PIL import Image

    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        picture = Image.fromarray(image)
        (picture.resize(size, Image.Resampling.BILINEAR) if size else picture).save(
            root / names[label] / f"{i:04d}.png"
        )
    return root


def colour_images(count: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, list[tuple[int, int]]]:
    """`count` RGB uint8 pictures (40x40 or 48x32): a disc or a square of one of COLOURS on grey noise."""
    rng = np.random.default_rng(seed)
    names = sorted(COLOURS)
    images, labels, sizes = [], [], []
    for i in range(count):
        height, width = (40, 40) if i % 2 else (32, 48)
        label = int(rng.integers(len(names)))
        picture = rng.normal(128, 25, (height, width, 3))
        rows, cols = np.mgrid[:height, :width]
        cy, cx, radius = (
            rng.uniform(0.35, 0.65) * height,
            rng.uniform(0.35, 0.65) * width,
            rng.uniform(0.2, 0.35) * height,
        )
        shape = (
            (rows - cy) ** 2 + (cols - cx) ** 2 < radius**2
            if i % 3
            else (abs(rows - cy) < radius) & (abs(cols - cx) < radius)
        )
        picture[shape] = np.array(COLOURS[names[label]]) + rng.normal(0, 12, (int(shape.sum()), 3))
        images.append(np.clip(picture, 0, 255).astype(np.uint8))
        labels.append(label)
        sizes.append((height, width))
    return images, np.array(labels), sizes


def small_cnn(keras, inputs, head: list):
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation=head[0])(x) if head else x)


def train(model, x, y, epochs: int, logits: bool = False) -> None:
    import keras

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
    model.compile(optimizer=keras.optimizers.Adam(1e-3 if epochs > 3 else 3e-3), loss=loss, metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)


def build_mnist_convnet(folder: Path, keras) -> OwnModel:
    # keras.io/examples/vision/mnist_convnet: the model as published
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    x, y = mnist_digits(TRAIN_IMAGES)
    train(model, x[..., None] / 255.0, y, epochs=2)
    model.save(folder / "mnist_convnet.keras")
    test_x, test_y = mnist_digits(300, offset=TRAIN_IMAGES)
    data = write_folder(folder / "mnist_convnet-data", test_x, test_y, [str(d) for d in range(10)], size=(36, 36))
    sample = sorted((data / str(test_y[0])).iterdir())[0]
    return OwnModel(
        "mnist_convnet",
        folder / "mnist_convnet.keras",
        data,
        tuple(str(d) for d in range(10)),
        sample,
        str(test_y[0]),
    )


def build_mobilenet(folder: Path, keras) -> OwnModel:
    from PIL import Image

    model = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, classes=len(COLOURS), include_top=True, dropout_rate=0.0
    )
    for layer in model.layers:  # its BatchNormalization momentum 0.999 would barely move in a brief training
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    images, labels, _ = colour_images(480, seed=1)
    x = np.stack(
        [np.asarray(Image.fromarray(image).resize((32, 32), Image.Resampling.BILINEAR)) for image in images]
    )
    train(model, x.astype(np.float32), labels, epochs=8)
    model.save(folder / "mobilenet.keras")
    names = sorted(COLOURS)
    test_images, test_labels, _ = colour_images(150, seed=2)
    data = folder / "mobilenet-data"
    for name in names:
        (data / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(test_images, test_labels)):
        Image.fromarray(image).save(data / names[label] / f"{i:04d}.png")
    sample = sorted((data / names[test_labels[0]]).iterdir())[0]
    return OwnModel("mobilenet", folder / "mobilenet.keras", data, tuple(names), sample, names[test_labels[0]])


def build_rescaling(folder: Path, keras) -> OwnModel:
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    x_train, y_train = mnist_digits(TRAIN_IMAGES)
    train(model, x_train[..., None].astype(np.float32), y_train, epochs=2)
    model.save(folder / "rescaling.keras")
    test_x, test_y = mnist_digits(300, offset=TRAIN_IMAGES)
    names = [f"digit-{d}" for d in range(10)]
    np.savez(folder / "rescaling-data.npz", x=test_x, y=test_y, labels=np.array(names))
    return OwnModel(
        "rescaling",
        folder / "rescaling.keras",
        folder / "rescaling-data.npz",
        tuple(names),
        sample_png(folder, "rescaling", test_x[0]),
        names[test_y[0]],
    )


def build_logits(folder: Path, keras) -> OwnModel:
    inputs = keras.Input(shape=(28, 28, 1))
    model = small_cnn(keras, inputs, [None])
    x_train, y_train = mnist_digits(TRAIN_IMAGES)
    train(model, x_train[..., None] / 255.0, y_train, epochs=2, logits=True)
    model.save(folder / "logits.keras")
    test_x, test_y = mnist_digits(300, offset=TRAIN_IMAGES)
    names = [f"d{d}" for d in range(10)]
    data = write_folder(folder / "logits-data", test_x, test_y, names)
    sample = sorted((data / names[test_y[0]]).iterdir())[0]
    return OwnModel("logits", folder / "logits.keras", data, tuple(names), sample, names[test_y[0]])


def build_article(folder: Path, keras) -> OwnModel:
    # the seed article: y = softmax(W x + b) on the flattened 784 pixels
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])
    x_train, y_train = mnist_digits(TRAIN_IMAGES)
    train(model, x_train.reshape(-1, 784) / 255.0, y_train, epochs=5)
    model.save(folder / "article.keras")
    test_x, test_y = mnist_digits(300, offset=TRAIN_IMAGES)
    np.savez(folder / "article-data.npz", x=test_x.reshape(-1, 784), y=test_y)
    names = tuple(str(d) for d in range(10))
    return OwnModel(
        "article",
        folder / "article.keras",
        folder / "article-data.npz",
        names,
        sample_png(folder, "article", test_x[0]),
        names[test_y[0]],
    )


def sample_png(folder: Path, name: str, image: np.ndarray) -> Path:
    from PIL import Image

    path = folder / f"{name}-sample.png"
    Image.fromarray(image).save(path)
    return path


BUILDERS = {
    "mnist_convnet": build_mnist_convnet,
    "mobilenet": build_mobilenet,
    "rescaling": build_rescaling,
    "logits": build_logits,
    "article": build_article,
}


def build_all(folder: Path, names=tuple(BUILDERS)) -> dict[str, OwnModel]:
    from pipeline.tf_setup import import_tensorflow

    import_tensorflow()
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    built = {}
    for name in names:
        keras.utils.set_random_seed(0)
        built[name] = BUILDERS[name](folder, keras)
    records = {
        name: {**vars(m), "keras": str(m.keras), "data": str(m.data), "sample": str(m.sample)}
        for name, m in built.items()
    }
    (folder / "models.json").write_text(json.dumps(records, indent=2))
    return built


def described(folder: Path, name: str) -> OwnModel:
    """The OwnModel `build_all` made in `folder` (from its models.json), without training again."""
    record = json.loads((folder / "models.json").read_text())[name]
    return OwnModel(
        name,
        Path(record["keras"]),
        Path(record["data"]),
        tuple(record["labels"]),
        Path(record["sample"]),
        record["sample_label"],
    )


if __name__ == "__main__":
    for model in build_all(Path(sys.argv[1])).values():
        print(model)
