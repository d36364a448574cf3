"""GPU figures: the same models and recipes trained and run on an accelerator with Keras 3.

    KERAS_BACKEND=jax python -m tools.gpu_benchmark --data mnist.npz --out benchmarks-gpu.json

Made for a lent GPU machine whose image has JAX with CUDA but no TensorFlow (TensorFlow with CUDA
is 600 MB of wheels; JAX was there). So it uses Keras 3 on JAX, plain `fit` on arrays: the same
architectures (pipeline/models.py), optimizers, losses, batch sizes and epochs as the pipeline,
but without the tf.data augmentation, which needs TensorFlow. It measures speed, not the published
models. `python -m pipeline bench` renders benchmarks-gpu.json into BENCHMARKS.md
(pipeline/bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from pipeline.bench.report import gpu_section
from pipeline.data import check_arrays, one_hot, scale_pixels


def load(path: str):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    check_arrays(arrays, path)  # the pinned hashes: exactly MNIST
    return arrays


def train_and_time(name: str, arrays: dict, mixed_precision: bool = False, epochs: int | None = None) -> dict:
    import keras

    from pipeline.models import NUM_CLASSES, get_recipe
    from pipeline.train import split_validation

    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    keras.utils.set_random_seed(0)
    recipe = get_recipe(name)
    epochs = epochs or recipe.epochs
    (x_fit, y_fit), (x_val, y_val) = split_validation(arrays["x_train"], arrays["y_train"], 0)
    steps = int(np.ceil(len(x_fit) / recipe.batch_size)) * epochs
    model = recipe.build()
    model.compile(
        optimizer=recipe.optimizer(steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=1,
    )

    class EpochTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times, self.started = [], time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.started)

    clock = EpochTimes()
    started = time.perf_counter()
    model.fit(
        scale_pixels(x_fit),
        one_hot(y_fit, NUM_CLASSES),
        batch_size=recipe.batch_size,
        epochs=epochs,
        validation_data=(scale_pixels(x_val), one_hot(y_val, NUM_CLASSES)),
        callbacks=[clock],
        verbose=2,
    )
    seconds = time.perf_counter() - started
    probabilities = np.asarray(model.predict(scale_pixels(arrays["x_test"]), batch_size=1000, verbose=0))
    accuracy = float(np.mean(probabilities.argmax(axis=1) == arrays["y_test"]))
    epoch_seconds = np.diff([0.0, *clock.times])
    figures = {
        "model": name,
        "mixed_precision": mixed_precision,
        "epochs": epochs,
        "batch_size": recipe.batch_size,
        "train_seconds": round(seconds, 2),
        "first_epoch_seconds": round(float(epoch_seconds[0]), 2),
        "later_epoch_seconds": round(float(np.median(epoch_seconds[1:])), 3) if epochs > 1 else None,
        "test_accuracy": accuracy,
        "augmentation": False,
    }
    figures.update(inference(model, scale_pixels(arrays["x_test"][:1000])))
    print(json.dumps(figures), flush=True)
    keras.mixed_precision.set_global_policy("float32")
    return figures


def inference(model, images: np.ndarray) -> dict:
    one = images[:1]
    for _ in range(10):
        np.asarray(model(one, training=False))
    times = []
    for _ in range(200):
        started = time.perf_counter()
        np.asarray(model(one, training=False))
        times.append((time.perf_counter() - started) * 1000)
    np.asarray(model(images, training=False))
    batch = []
    for _ in range(5):
        started = time.perf_counter()
        np.asarray(model(images, training=False))
        batch.append(time.perf_counter() - started)
    return {
        "latency_ms": float(np.median(times)),
        "latency_p99_ms": float(np.percentile(times, 99)),
        "throughput_per_s": len(images) / float(np.median(batch)),
    }


def device_name() -> str:
    import jax

    device = jax.devices()[0]
    return f"{device.platform.upper()}: {getattr(device, 'device_kind', str(device))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="MNIST npz (x_train, y_train, x_test, y_test)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args()
    import datetime
    import platform

    import keras

    arrays = load(args.data)
    runs = [
        train_and_time("article", arrays),
        train_and_time("cnn", arrays),
        train_and_time("cnn", arrays, mixed_precision=True),
    ]
    import jax

    figures = {
        "device": device_name(),
        "host": f"{os.cpu_count()} CPU cores, {platform.system()}",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "software": f"keras {keras.__version__}, jax {jax.__version__}, Python {platform.python_version()}",
        "runs": runs,
    }
    with open(args.out, "w") as handle:
        json.dump(figures, handle, indent=2)
    print(gpu_section(figures))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    main()
