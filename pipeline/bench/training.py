"""Training speed: the pipeline against the article's plain program, what each speed-up gives,
and the CNN's time to its target accuracy."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.bench.stats import run_process, summary

CNN_TARGET = 0.995


def article_against_plain_program(repeats: int) -> dict:
    """Whole process against whole process, alternating which goes first.

    Both train the article's model on all 60,000 images (scaled to 0..1), 20 epochs, batch 32,
    SGD 0.01, and both include Python start-up, imports and data loading in their time.
    """
    from pipeline.evaluate import mnist_test_set
    from pipeline.formats import keras_format

    images, labels = mnist_test_set()
    pipeline_s, plain_s, pipeline_acc, plain_acc = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for i in range(repeats):
            out = Path(tmp) / f"run{i}"
            sides = [("pipeline", ["-m", "pipeline", "train", "--model", "article",
                                   "--validation-fraction", "0", "--out", str(out)]),
                     ("plain", ["-m", "tools.article_program"])]
            for name, args in (sides if i % 2 == 0 else sides[::-1]):
                seconds, stdout = run_process(args)
                print(f"  {name:<8} run {i + 1}/{repeats}: {seconds:.1f} s", flush=True)
                if name == "pipeline":
                    pipeline_s.append(seconds)
                    model = keras_format.load(out / "article" / "model.keras")
                    pipeline_acc.append(float(np.mean(
                        np.asarray(model(images)).argmax(axis=1) == labels)))
                else:
                    plain_s.append(seconds)
                    plain_acc.append(float(re.search(r"test accuracy ([0-9.]+)", stdout).group(1)))
    ratios = [p / q for p, q in zip(plain_s, pipeline_s)]
    return {"pipeline_seconds": summary(pipeline_s), "plain_seconds": summary(plain_s),
            "speedup": float(np.median(plain_s) / np.median(pipeline_s)),
            "speedup_per_pair": [round(r, 2) for r in ratios],
            "pipeline_accuracy": pipeline_acc, "plain_accuracy": plain_acc}


def speedup_ablation(epochs: int = 3) -> dict:
    """Seconds per epoch of the article's model under each training setting, in one process."""
    from pipeline.compiled_fit import fit_compiled
    from pipeline.data import load_mnist, one_hot, scale_pixels
    from pipeline.models import NUM_CLASSES, build_article
    from pipeline.tf_setup import import_tensorflow
    from pipeline.train import make_dataset, steps_per_execution

    tf = import_tensorflow()
    import keras

    (x, y), _ = load_mnist()
    x, y = scale_pixels(x), one_hot(y, NUM_CLASSES)
    steps = int(np.ceil(len(x) / 32))

    def with_fit(data, spe, jit):
        model = build_article()
        model.compile(optimizer=keras.optimizers.SGD(), loss="categorical_crossentropy",
                      metrics=["accuracy"], steps_per_execution=spe, jit_compile=jit)
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)  # compile, warm up
        started = time.perf_counter()
        model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False)
        return (time.perf_counter() - started) / epochs

    def compiled():
        model = build_article()
        loss = keras.losses.CategoricalCrossentropy()
        fit_compiled(tf, keras, model, keras.optimizers.SGD(), loss, (x, y), (x[:0], y[:0]), 1, 32, 0, 0)
        started = time.perf_counter()
        fit_compiled(tf, keras, model, keras.optimizers.SGD(), loss, (x, y), (x[:0], y[:0]),
                     epochs, 32, 0, 0)
        return (time.perf_counter() - started) / epochs

    arrays = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).repeat().batch(32)
    pipelined = make_dataset(tf, x, y, 32, 0, False, training=True)
    spe = steps_per_execution(steps)
    rows = {
        "fit, one step per call (the article's program)": lambda: with_fit(arrays, 1, False),
        "+ tf.data prefetch": lambda: with_fit(pipelined, 1, False),
        f"+ steps_per_execution={spe}": lambda: with_fit(pipelined, spe, False),
        "+ XLA (jit_compile)": lambda: with_fit(pipelined, spe, True),
        "whole epoch in one XLA program (the pipeline)": compiled,
    }
    results = {}
    for name, measure in rows.items():
        results[name] = measure()
        print(f"  {name}: {results[name]:.3f} s/epoch", flush=True)
    return {"epochs_timed": epochs, "seconds_per_epoch": results}


def cnn_time_to_target(epochs: int | None = None) -> dict:
    """Train the CNN with its recipe; after each epoch, note the training time so far (evaluation
    excluded) and the test accuracy."""
    from pipeline.evaluate import mnist_test_set
    from pipeline.tf_setup import import_tensorflow
    from pipeline.train import train

    import_tensorflow()
    import keras

    images, labels = mnist_test_set()

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows, self.paused = [], 0.0

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            elapsed = time.perf_counter() - self.started - self.paused
            pause = time.perf_counter()
            probabilities = np.asarray(self.model.predict(images, batch_size=1000, verbose=0))
            accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
            self.rows.append({"epoch": epoch + 1, "seconds": round(elapsed, 1), "test_accuracy": accuracy})
            print(f"  cnn epoch {epoch + 1}: {elapsed:.0f} s, test accuracy {accuracy:.4f}", flush=True)
            self.paused += time.perf_counter() - pause

    clock = EpochClock()
    with tempfile.TemporaryDirectory(prefix="bench-cnn-") as tmp:
        result = train("cnn", out_dir=tmp, epochs=epochs, callbacks=[clock], verbose=0)
    reached = next((row for row in clock.rows if row["test_accuracy"] >= CNN_TARGET), None)
    return {"device": result.device, "target": CNN_TARGET, "epochs": clock.rows,
            "seconds_to_target": reached["seconds"] if reached else None,
            "epoch_reaching_target": reached["epoch"] if reached else None,
            "total_seconds": clock.rows[-1]["seconds"]}
