"""GPU figures: the same models and recipes trained and run on an accelerator with Keras 3.

    KERAS_BACKEND=jax python -m pipeline.bench.gpu --data mnist.npz --out benchmarks-gpu.json

Made for a lent GPU machine whose image has JAX with CUDA but no TensorFlow (TensorFlow with CUDA
is 600 MB of wheels; JAX was there). So it uses Keras 3 on JAX, plain `fit` on arrays: the same
architectures (pipeline/models.py), optimizers, losses, batch sizes and epochs as the pipeline,
but without the tf.data augmentation, which needs TensorFlow. It measures speed, not the published
models. `markdown()` renders the figures for BENCHMARKS.md; it imports nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def load(path: str):
    from pipeline.data import check_arrays

    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    check_arrays(arrays, path)   # the pinned hashes: exactly MNIST
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
    scale = lambda x: x.astype(np.float32) / 255  # noqa: E731
    one_hot = lambda y: np.eye(NUM_CLASSES, dtype=np.float32)[y]  # noqa: E731
    steps = int(np.ceil(len(x_fit) / recipe.batch_size)) * epochs
    model = recipe.build()
    model.compile(optimizer=recipe.optimizer(steps),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"], steps_per_execution=1)

    class EpochTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times, self.started = [], time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.started)

    clock = EpochTimes()
    started = time.perf_counter()
    model.fit(scale(x_fit), one_hot(y_fit), batch_size=recipe.batch_size, epochs=epochs,
              validation_data=(scale(x_val), one_hot(y_val)), callbacks=[clock], verbose=2)
    seconds = time.perf_counter() - started
    probabilities = np.asarray(model.predict(scale(arrays["x_test"]), batch_size=1000, verbose=0))
    accuracy = float(np.mean(probabilities.argmax(axis=1) == arrays["y_test"]))
    epoch_seconds = np.diff([0.0, *clock.times])
    figures = {"model": name, "mixed_precision": mixed_precision, "epochs": epochs,
               "batch_size": recipe.batch_size, "train_seconds": round(seconds, 2),
               "first_epoch_seconds": round(float(epoch_seconds[0]), 2),
               "later_epoch_seconds": round(float(np.median(epoch_seconds[1:])), 3) if epochs > 1 else None,
               "test_accuracy": accuracy, "augmentation": False}
    figures.update(inference(model, scale(arrays["x_test"][:1000])))
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
    return {"latency_ms": float(np.median(times)), "latency_p99_ms": float(np.percentile(times, 99)),
            "throughput_per_s": len(images) / float(np.median(batch))}


def device_name() -> str:
    import jax

    device = jax.devices()[0]
    return f"{device.platform.upper()}: {getattr(device, 'device_kind', str(device))}"


def markdown(figures: dict) -> str:
    rows = ["| model | precision | epochs | batch | training time | later epochs | test accuracy | "
            "batch 1 p50 | batch 1000 |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in figures["runs"]:
        later = f"{r['later_epoch_seconds']:.2f} s" if r["later_epoch_seconds"] is not None else "–"
        rows.append(f"| {r['model']} | {'mixed float16' if r['mixed_precision'] else 'float32'} | "
                    f"{r['epochs']} | {r['batch_size']} | {r['train_seconds']:.1f} s | {later} | "
                    f"{r['test_accuracy']:.4f} | {r['latency_ms']:.2f} ms | {r['throughput_per_s']:,.0f}/s |")
    return (f"Measured on {figures['device']} ({figures['host']}), {figures['date']}, with "
            f"{figures['software']}: Keras 3 on JAX, because that machine has no TensorFlow. Same "
            "architectures, optimizers, batch sizes and epochs as the pipeline; plain `fit` on "
            "arrays and **no augmentation** (it is a tf.data stage), so the CNN's accuracy is not the "
            "published model's. Training time includes compilation (the first epoch).\n\n"
            + "\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="MNIST npz (x_train, y_train, x_test, y_test)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args()
    import datetime
    import platform

    import keras

    arrays = load(args.data)
    runs = [train_and_time("article", arrays), train_and_time("cnn", arrays),
            train_and_time("cnn", arrays, mixed_precision=True)]
    import jax

    figures = {"device": device_name(), "host": f"{os.cpu_count()} CPU cores, {platform.system()}",
               "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
               "software": f"keras {keras.__version__}, jax {jax.__version__}, "
                           f"Python {platform.python_version()}",
               "runs": runs}
    with open(args.out, "w") as handle:
        json.dump(figures, handle, indent=2)
    print(markdown(figures))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    main()
