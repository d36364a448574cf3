"""Train one registry model on MNIST and write `<out>/<model>/model.keras` with its history."""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.batches import EpochBatches, keras_dataset, tf_dataset
from pipeline.data import load_mnist, one_hot, scale_pixels
from pipeline.errors import PipelineError
from pipeline.files import write_json_atomic
from pipeline.models import NUM_CLASSES, Recipe, get_recipe
from pipeline.plots import PLOTS
from pipeline.tf_setup import describe_device, import_keras, import_tensorflow, native_output_silenced

STRATEGIES = ("default", "mirrored", "multi-worker")
MAX_STEPS_PER_EXECUTION = 250  # batches per call into the compiled graph: same maths, less overhead


def steps_per_execution(steps_per_epoch: int) -> int:
    """The largest divisor of the epoch's steps up to the cap: Keras overruns an epoch otherwise."""
    return max(d for d in range(1, min(MAX_STEPS_PER_EXECUTION, steps_per_epoch) + 1) if steps_per_epoch % d == 0)


@dataclass
class TrainResult:
    model_path: Path
    history: dict
    seconds: float
    device: str
    wrote: bool = True  # False on multi-worker workers other than the chief


def split_validation(x, y, seed: int, fraction: float):
    """Hold a seeded random `fraction` of the training set out for validation."""
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) - int(round(len(x) * fraction))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def make_dataset(tf, images, labels, batch_size, seed, augmentation, training):
    """float32 images in 0..1 and one-hot labels; shuffled, augmented and repeated when training."""
    if not training:
        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return tf_dataset(tf, EpochBatches(images, labels, batch_size, seed, augmentation))


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
            raise PipelineError(
                "--strategy multi-worker needs TF_CONFIG naming the cluster and this "
                "worker's task; see docs/training-on-gpus.md."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise PipelineError(f"Unknown strategy '{name}'; choose one of: {', '.join(STRATEGIES)}.")


def is_chief(strategy) -> bool:
    """Only one worker writes the model: the chief, or worker 0 when the cluster names no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def compiled_model(engine, recipe, steps_per_epoch: int, epochs: int, strategy: str = "default"):
    """The recipe's model, compiled for fit() with its optimizer, schedule and loss."""
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
    return model


def keras_fit(
    tf,
    keras,
    recipe,
    strategy: str,
    distribution,
    train_set: tuple[np.ndarray, np.ndarray],
    validation_set: tuple[np.ndarray, np.ndarray],
    epochs: int,
    seed: int,
    verbose: int,
    callbacks=(),
):
    """Keras's own fit(), under a tf.distribute strategy; returns (Keras 3 model, history dict)."""
    steps_per_epoch = EpochBatches(*train_set, recipe.batch_size, seed).steps_per_epoch
    train_data = make_dataset(tf, *train_set, recipe.batch_size, seed, recipe.augmentation, training=True)
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
        import tf_keras

        engine = tf_keras
    with distribution.scope():
        model = compiled_model(engine, recipe, steps_per_epoch, epochs, strategy)
    history = model.fit(
        train_data,
        validation_data=val_data if len(validation_set[0]) else None,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,
        callbacks=list(callbacks),
        verbose=verbose,
    ).history
    if engine is not keras:
        trained, model = model, recipe.build()
        model.set_weights(trained.get_weights())
    return model, history


def progress_verbosity() -> int:
    """Keras's live progress bar on a terminal; one plain line per epoch in a log file or a pipe."""
    return 1 if sys.stdout.isatty() else 2


def set_seed(keras, seed: int) -> None:
    """keras.utils.set_random_seed, without importing TensorFlow under another backend (it seeds
    TensorFlow whenever TensorFlow is installed)."""
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    from keras.src.backend.common import global_state

    random.seed(seed)
    np.random.seed(seed)
    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute("global_seed_generator", None)


def describe_jax_device() -> str:
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"CPU ({os.cpu_count()} cores, JAX)"
    count = len(jax.devices())
    return f"GPU: {device.device_kind} (JAX)" + (f" (+{count - 1} more)" if count > 1 else "")


def jax_fit(
    keras,
    recipe,
    train_set: tuple[np.ndarray, np.ndarray],
    validation_set: tuple[np.ndarray, np.ndarray],
    seed: int,
    verbose: int,
    callbacks=(),
):
    """Keras's fit() under the JAX backend: numpy batches through a PyDataset, no TensorFlow."""
    batches = EpochBatches(*train_set, recipe.batch_size, seed, recipe.augmentation)
    model = recipe.build()
    model.compile(
        optimizer=recipe.optimizer(batches.steps_per_epoch * recipe.epochs),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    history = model.fit(
        keras_dataset(keras, batches, recipe.epochs),
        validation_data=validation_set if len(validation_set[0]) else None,
        validation_batch_size=1000,
        epochs=recipe.epochs,
        callbacks=list(callbacks),
        verbose=verbose,
    ).history
    return model, history


def fit_with_backend(
    tf,
    keras,
    backend,
    model_name,
    recipe,
    strategy,
    distribution,
    train_set,
    validation_set,
    seed,
    verbose,
    callbacks,
):
    """The training itself, timed: JAX's fit, the compiled whole-epoch loop, or fit under tf.distribute."""
    started = time.perf_counter()
    if backend == "jax":
        model, history = jax_fit(keras, recipe, train_set, validation_set, seed, verbose, callbacks)
    elif recipe.compiled_loop and strategy == "default":
        from pipeline.compiled_fit import fit_compiled

        if callbacks:
            raise PipelineError(f"'{model_name}' trains with a compiled loop, which takes no Keras callbacks.")
        model = recipe.build()
        steps = EpochBatches(*train_set, recipe.batch_size, seed).steps_per_epoch * recipe.epochs
        history = fit_compiled(
            tf,
            keras,
            model,
            recipe.optimizer(steps),
            keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
            train_set,
            validation_set,
            recipe.epochs,
            recipe.batch_size,
            seed,
            verbose,
        )
    else:
        model, history = keras_fit(
            tf,
            keras,
            recipe,
            strategy,
            distribution,
            train_set,
            validation_set,
            recipe.epochs,
            seed,
            verbose,
            callbacks,
        )
    return model, history, time.perf_counter() - started


def train(
    model_name: str,
    out_dir: str | Path = "build",
    epochs: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    train_subset: int | None = None,
    strategy: str = "default",
    cpu_devices: int = 1,
    mixed_precision: bool = False,
    validation_fraction: float | None = None,
    callbacks=(),
    verbose: int | None = None,
    recipe: Recipe | None = None,
) -> TrainResult:
    """Train `model_name` with its recipe (or with `recipe`, the benchmark's older one).

    `epochs` and `validation_fraction` override the recipe's (0 trains on every image, as the
    article's program does); `train_subset` keeps only the first N training images (quick runs,
    tests); `strategy` picks a tf.distribute strategy; `cpu_devices` > 1 splits the CPU into
    logical devices for it; `mixed_precision` computes in float16 on GPUs (the output stays
    float32); `callbacks` are Keras callbacks for fit() (the benchmark times epochs with one).
    `verbose` None: a live bar on a terminal, one line per epoch otherwise; 0: silent.
    Under KERAS_BACKEND=jax the training imports no TensorFlow (single device, no strategies).
    """
    recipe = (recipe or get_recipe(model_name)).with_overrides(
        epochs=epochs, validation_fraction=validation_fraction
    )
    verbose = progress_verbosity() if verbose is None else verbose
    keras = import_keras()
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise PipelineError(f"Training runs under KERAS_BACKEND=tensorflow or jax, not '{backend}'.")
    if backend == "jax" and (strategy != "default" or cpu_devices > 1):
        raise PipelineError(
            "tf.distribute strategies need TensorFlow: under KERAS_BACKEND=jax, "
            "train on one device (the default strategy)."
        )
    tf = None
    if backend == "tensorflow":
        tf = import_tensorflow()
        if cpu_devices > 1:
            split_cpu(tf, cpu_devices)
        distribution = make_strategy(tf, strategy)
        device = describe_device()
        if distribution.num_replicas_in_sync > 1:
            device += f", {strategy} over {distribution.num_replicas_in_sync} replicas"
        set_seed(keras, seed)
        if not tf.config.list_physical_devices("GPU"):
            tf.config.experimental.enable_op_determinism()  # same seed, same weights on CPU
    else:
        device, distribution = describe_jax_device(), None
        set_seed(keras, seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")

    (x_train, y_train), _ = load_mnist(data_dir)
    if train_subset is not None:
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    (x_fit, y_fit), (x_val, y_val) = split_validation(x_train, y_train, seed, recipe.validation_fraction)
    train_set = scale_pixels(x_fit), one_hot(y_fit, NUM_CLASSES)
    validation_set = scale_pixels(x_val), one_hot(y_val, NUM_CLASSES)
    if verbose:
        print(
            f"Training '{model_name}' on {device}: {len(x_fit)} images "
            f"({len(x_val)} held out for validation), {recipe.epochs} epochs, batch "
            f"{recipe.batch_size}, seed {seed}.",
            flush=True,
        )

    with native_output_silenced():
        model, history, seconds = fit_with_backend(
            tf,
            keras,
            backend,
            model_name,
            recipe,
            strategy,
            distribution,
            train_set,
            validation_set,
            seed,
            verbose,
            callbacks,
        )

    target = Path(out_dir) / model_name
    model_path = target / "model.keras"
    if distribution is not None and not is_chief(distribution):  # the others trained the same weights
        return TrainResult(model_path, history, seconds, device, wrote=False)
    target.mkdir(parents=True, exist_ok=True)
    for stale in ("evaluation.json", *PLOTS.values()):  # they described the previous model
        (target / stale).unlink(missing_ok=True)
    tmp_path = target / "model.tmp.keras"
    model.save(tmp_path)
    tmp_path.replace(model_path)
    record = {
        "model": model_name,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "seed": seed,
        "train_images": len(x_fit),
        "validation_images": len(x_val),
        "device": device,
        "backend": backend,
        "train_seconds": round(seconds, 2),
        "strategy": strategy,
        "mixed_precision": mixed_precision,
        "recipe": recipe.as_dict(),
        "history": {key: [float(v) for v in values] for key, values in history.items()},
    }
    write_json_atomic(target / "history.json", record)
    return TrainResult(model_path, record["history"], seconds, device)
