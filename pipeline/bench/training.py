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
# The recipes cnn_recipes_side_by_side trains, by the names the report gives them (report.py compares
# the served recipe with the one it replaced by these names).
FIRST_RECIPE, MNIST_ONLY_RECIPE, SERVED_RECIPE = "first recipe", "MNIST-only recipe", "served recipe"


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
            sides = [
                (
                    "pipeline",
                    [
                        "-m",
                        "pipeline",
                        "train",
                        "--model",
                        "article",
                        "--validation-fraction",
                        "0",
                        "--out",
                        str(out),
                    ],
                ),
                ("plain", ["-m", "pipeline.bench.article_program"]),
            ]
            for name, args in sides if i % 2 == 0 else sides[::-1]:
                seconds, stdout = run_process(args)
                print(f"  {name:<8} run {i + 1}/{repeats}: {seconds:.1f} s", flush=True)
                if name == "pipeline":
                    pipeline_s.append(seconds)
                    model = keras_format.load(out / "article" / "model.keras")
                    pipeline_acc.append(float(np.mean(np.asarray(model(images)).argmax(axis=1) == labels)))
                else:
                    plain_s.append(seconds)
                    match = re.search(r"test accuracy ([0-9.]+)", stdout)
                    if match is None:
                        raise RuntimeError(f"the plain program printed no test accuracy:\n{stdout}")
                    plain_acc.append(float(match.group(1)))
    ratios = [p / q for p, q in zip(plain_s, pipeline_s)]
    return {
        "pipeline_seconds": summary(pipeline_s),
        "plain_seconds": summary(plain_s),
        "speedup": float(np.median(plain_s) / np.median(pipeline_s)),
        "speedup_per_pair": [round(r, 2) for r in ratios],
        "pipeline_accuracy": pipeline_acc,
        "plain_accuracy": plain_acc,
    }


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
        model.compile(
            optimizer=keras.optimizers.SGD(),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=spe,
            jit_compile=jit,
        )
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)  # compile, warm up
        started = time.perf_counter()
        model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False)
        return (time.perf_counter() - started) / epochs

    def compiled():
        model = build_article()
        loss = keras.losses.CategoricalCrossentropy()
        fit_compiled(tf, keras, model, keras.optimizers.SGD(), loss, (x, y), (x[:0], y[:0]), 1, 32, 0, 0)
        started = time.perf_counter()
        fit_compiled(tf, keras, model, keras.optimizers.SGD(), loss, (x, y), (x[:0], y[:0]), epochs, 32, 0, 0)
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


def cnn_recipes_side_by_side(recipes: dict | None = None, seed: int = 0) -> dict:
    """Train the CNN with each recipe (by default its first, the MNIST-only one it replaced and the
    served one), one epoch of each in turn (the order alternating), so all see the same machine load.
    After each epoch: training time so far (test scoring excluded) and test accuracy; then the time
    to CNN_TARGET and what each final model reads of the out-of-distribution sets (photos, pad
    sizes, 8x8 digits, elastic warps) through today's reading recipe."""
    from pipeline.batches import EpochBatches, tf_dataset
    from pipeline.bench.reading import out_of_distribution_sets, share_right
    from pipeline.data import load_mnist, one_hot, scale_pixels
    from pipeline.evaluate import mnist_test_set
    from pipeline.models import CNN, CNN_FIRST, CNN_MNIST, NUM_CLASSES
    from pipeline.tf_setup import describe_device, import_keras, import_tensorflow, native_output_silenced
    from pipeline.train import compiled_model, split_validation

    recipes = recipes or {FIRST_RECIPE: CNN_FIRST, MNIST_ONLY_RECIPE: CNN_MNIST, SERVED_RECIPE: CNN}
    tf = import_tensorflow()
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    (x_train, y_train), _ = load_mnist()
    test_images, test_labels = mnist_test_set()
    runs = {}
    for name, recipe in recipes.items():
        (x_fit, y_fit), _ = split_validation(x_train, y_train, seed, recipe.validation_fraction)
        batches = EpochBatches(
            scale_pixels(x_fit), one_hot(y_fit, NUM_CLASSES), recipe.batch_size, seed, recipe.augmentation
        )
        runs[name] = {
            "recipe": recipe,
            "batches": batches,
            "seconds": 0.0,
            "rows": [],
            "model": compiled_model(keras, recipe, batches.steps_per_epoch, recipe.epochs),
        }
    names = list(runs)
    for epoch in range(max(run["recipe"].epochs for run in runs.values())):
        for name in names if epoch % 2 == 0 else names[::-1]:
            run = runs[name]
            if epoch >= run["recipe"].epochs:
                continue
            steps = run["batches"].steps_per_epoch
            data = tf_dataset(tf, run["batches"], first_step=epoch * steps)
            started = time.perf_counter()
            with native_output_silenced():
                run["model"].fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
            run["seconds"] += time.perf_counter() - started
            probabilities = np.asarray(run["model"].predict(test_images, batch_size=1000, verbose=0))
            accuracy = float(np.mean(probabilities.argmax(axis=1) == test_labels))
            run["rows"].append(
                {"epoch": epoch + 1, "seconds": round(run["seconds"], 1), "test_accuracy": accuracy}
            )
            print(f"  {name} epoch {epoch + 1}: {run['seconds']:.0f} s, test accuracy {accuracy:.4f}", flush=True)
    sets = out_of_distribution_sets()
    results = {}
    for name, run in runs.items():
        model = run["model"]
        reached = next((row for row in run["rows"] if row["test_accuracy"] >= CNN_TARGET), None)
        results[name] = {
            "recipe": run["recipe"].as_dict(),
            "parameters": run["model"].count_params(),
            "epochs": run["rows"],
            "final_accuracy": run["rows"][-1]["test_accuracy"],
            "seconds_to_target": reached["seconds"] if reached else None,
            "epoch_reaching_target": reached["epoch"] if reached else None,
            "total_seconds": run["rows"][-1]["seconds"],
            "out_of_distribution": {
                set_name: share_right(np.asarray(model.predict(seen, batch_size=1000, verbose=0)), labels, refused)
                for set_name, (seen, labels, refused) in sets.items()
            },
        }
    return {"device": describe_device(), "target": CNN_TARGET, "recipes": results}
