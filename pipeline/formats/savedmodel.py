"""TensorFlow SavedModel with a named serving signature: image [N, *input_shape] -> probabilities
[N, classes] (MNIST's models: [N, 28, 28] -> [N, 10]).

TensorFlow Serving, TF.js's converter and TFLite's converter all start from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.formats import in_batches, median_latency_ms
from pipeline.tf_setup import import_tensorflow

NAME = "savedmodel"
VARIANTS = ("float32",)
RUNTIME = "TensorFlow"
MULTI_FILE = True  # the entry file's folder is the artifact
SERVING_RUNTIME = None  # served by TensorFlow Serving, not by this project's apps
SERVING_LABEL = "TensorFlow"
IN_BROWSER = False
SIGNATURE = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def export(source, variant: str, out_dir: Path) -> Path:
    tf = import_tensorflow()
    import keras

    target = out_dir / "saved_model"
    model = source.model
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE,
        fn=lambda image: {OUTPUT_NAME: model(image, training=False)},
        input_signature=[tf.TensorSpec([None, *source.input_shape], tf.float32, name=INPUT_NAME)],
    )
    archive.write_out(str(target), verbose=False)
    return target / "saved_model.pb"


def load(path: Path, variant: str = "float32"):
    tf = import_tensorflow()
    folder = Path(path).parent if Path(path).name == "saved_model.pb" else Path(path)
    return tf.saved_model.load(str(folder)).signatures[SIGNATURE]


def predict(signature, images: np.ndarray) -> np.ndarray:
    tf = import_tensorflow()
    return in_batches(lambda batch: signature(**{INPUT_NAME: tf.constant(batch)})[OUTPUT_NAME].numpy(), images)


def latency_ms(signature, image: np.ndarray) -> float:
    tf = import_tensorflow()
    batch = tf.constant(image[None])
    return median_latency_ms(lambda: signature(**{INPUT_NAME: batch}))
