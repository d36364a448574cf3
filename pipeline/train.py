"""Train one registry model on MNIST and write `<out>/<model>/model.keras` with its history."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data import load_mnist, one_hot, scale_pixels
from pipeline.errors import PipelineError
from pipeline.models import NUM_CLASSES, get_recipe
from pipeline.plots import PLOTS
from pipeline.tf_setup import describe_device, import_tensorflow

VALIDATION_FRACTION = 0.1
STRATEGIES = ("default", "mirrored", "multi-worker")
MAX_STEPS_PER_EXECUTION = 250  # batches per call into the compiled graph: same maths, less overhead


def steps_per_execution(steps_per_epoch: int) -> int:
    """The largest divisor of the epoch's steps up to the cap: Keras overruns an epoch otherwise."""
    return max(d for d in range(1, min(MAX_STEPS_PER_EXECUTION, steps_per_epoch) + 1)
               if steps_per_epoch % d == 0)


@dataclass
class TrainResult:
    model_path: Path
    history: dict
    seconds: float
    device: str
    wrote: bool = True   # False on multi-worker workers other than the chief


def split_validation(x, y, seed: int, fraction: float = VALIDATION_FRACTION):
    """Hold a seeded random `fraction` of the training set out for validation."""
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) - int(round(len(x) * fraction))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def make_dataset(tf, images, labels, batch_size, seed, augment, training):
    """float32 images in 0..1 and one-hot labels; shuffled, augmented and repeated when training."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if not training:
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=False)
    if augment:
        from pipeline.augment import augment_batch

        dataset = dataset.enumerate().map(
            lambda step, batch: augment_batch(batch[0], batch[1], tf.stack([tf.constant(seed, tf.int64), step])),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def split_cpu(tf, count: int) -> None:
    """Show the CPU as `count` logical devices: mirrored training tried out without GPUs (tests)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(tf, name: str):
    """tf.distribute does the work: one device, all local GPUs (or CPUs), or workers in TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise PipelineError("--strategy multi-worker needs TF_CONFIG naming the cluster and this "
                                "worker's task; see the README's multi-host section.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise PipelineError(f"Unknown strategy '{name}'; choose one of: {', '.join(STRATEGIES)}.")


def is_chief(strategy) -> bool:
    """Only one worker writes the model: the chief, or worker 0 when the cluster names no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def keras_fit(tf, keras, recipe, strategy: str, distribution, train_set, validation_set,
              epochs: int, seed: int, verbose: int, callbacks=()):
    """Keras's own fit(), under a tf.distribute strategy; returns (Keras 3 model, history dict)."""
    steps_per_epoch = int(np.ceil(len(train_set[0]) / recipe.batch_size))
    train_data = make_dataset(tf, *train_set, recipe.batch_size, seed, recipe.augment, training=True)
    val_data = make_dataset(tf, *validation_set, 1000, seed, False, training=False)
    if strategy != "default":
        # in-memory data cannot be split by file: each worker takes every n-th batch instead
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_data, val_data = train_data.with_options(options), val_data.with_options(options)

    # Keras 3's fit() does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585):
    # multi-worker training uses tf_keras (Keras 2, same layers), then hands the weights to Keras 3.
    engine = keras
    if strategy == "multi-worker":
        import tf_keras as engine
    with distribution.scope():
        model = recipe.build(engine)
        model.compile(
            optimizer=recipe.optimizer(steps_per_epoch * epochs, engine),
            loss=engine.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
            metrics=["accuracy"],
            # Keras 3's multi-step loop fails under tf.distribute ("must feed a value for
            # placeholder"); distributed runs take one step per call, without XLA
            steps_per_execution=steps_per_execution(steps_per_epoch) if strategy == "default" else 1,
            jit_compile=recipe.jit_compile and strategy == "default",
        )
    history = model.fit(train_data, validation_data=val_data if len(validation_set[0]) else None,
                        epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False,
                        callbacks=list(callbacks), verbose=verbose).history
    if engine is not keras:
        trained, model = model, recipe.build()
        model.set_weights(trained.get_weights())
    return model, history


def train(model_name: str, out_dir: str | Path = "build", epochs: int | None = None, seed: int = 0,
          data_dir: str | Path | None = None, train_subset: int | None = None,
          strategy: str = "default", cpu_devices: int = 1, mixed_precision: bool = False,
          validation_fraction: float = VALIDATION_FRACTION, callbacks=(),
          verbose: int = 1) -> TrainResult:
    """Train `model_name` with its recipe.

    `train_subset` keeps only the first N training images (quick runs, tests); `strategy` picks a
    tf.distribute strategy; `cpu_devices` > 1 splits the CPU into logical devices for it;
    `mixed_precision` computes in float16 on GPUs (the output stays float32);
    `validation_fraction` 0 trains on every image (as the article's program does); `callbacks`
    are Keras callbacks for fit() (the benchmark times epochs with one).
    """
    recipe = get_recipe(model_name)
    epochs = recipe.epochs if epochs is None else epochs
    tf = import_tensorflow()
    import keras

    if cpu_devices > 1:
        split_cpu(tf, cpu_devices)
    distribution = make_strategy(tf, strategy)
    device = describe_device()
    if distribution.num_replicas_in_sync > 1:
        device += f", {strategy} over {distribution.num_replicas_in_sync} replicas"
    keras.utils.set_random_seed(seed)
    if not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()  # same seed, same weights on CPU
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")

    (x_train, y_train), _ = load_mnist(data_dir)
    if train_subset is not None:
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    (x_fit, y_fit), (x_val, y_val) = split_validation(x_train, y_train, seed, validation_fraction)
    train_set = scale_pixels(x_fit), one_hot(y_fit, NUM_CLASSES)
    validation_set = scale_pixels(x_val), one_hot(y_val, NUM_CLASSES)
    if verbose:
        print(f"Training '{model_name}' on {device}: {len(x_fit)} images "
              f"({len(x_val)} held out for validation), {epochs} epochs, batch {recipe.batch_size}, "
              f"seed {seed}.", flush=True)

    started = time.perf_counter()
    if recipe.compiled_loop and strategy == "default":
        from pipeline.compiled_fit import fit_compiled

        if callbacks:
            raise PipelineError(f"'{model_name}' trains with a compiled loop, which takes no Keras callbacks.")

        model = recipe.build()
        steps = int(np.ceil(len(x_fit) / recipe.batch_size)) * epochs
        history = fit_compiled(
            tf, keras, model, recipe.optimizer(steps),
            keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
            train_set, validation_set, epochs, recipe.batch_size, seed, verbose)
    else:
        model, history = keras_fit(tf, keras, recipe, strategy, distribution, train_set,
                                   validation_set, epochs, seed, verbose, callbacks)
    seconds = time.perf_counter() - started

    target = Path(out_dir) / model_name
    model_path = target / "model.keras"
    if not is_chief(distribution):  # the other workers trained the same weights; one writes them
        return TrainResult(model_path, history, seconds, device, wrote=False)
    target.mkdir(parents=True, exist_ok=True)
    for stale in ("evaluation.json", *PLOTS.values()):   # they described the previous model
        (target / stale).unlink(missing_ok=True)
    tmp_path = target / "model.tmp.keras"
    model.save(tmp_path)
    tmp_path.replace(model_path)
    record = {
        "model": model_name, "epochs": epochs, "batch_size": recipe.batch_size, "seed": seed,
        "train_images": len(x_fit), "validation_images": len(x_val), "device": device,
        "train_seconds": round(seconds, 2), "strategy": strategy,
        "mixed_precision": mixed_precision,
        "history": {key: [float(v) for v in values] for key, values in history.items()},
    }
    (target / "history.json").write_text(json.dumps(record, indent=2) + "\n")
    return TrainResult(model_path, record["history"], seconds, device)
