"""Training batches in numpy: a seeded shuffle per epoch and, when the recipe asks, augmentation.

One source of batches for both Keras backends: TensorFlow reads it through tf.data (the warps
drawn here, applied by TensorFlow's image ops in parallel), JAX through a `keras.utils.PyDataset`
(warps applied in numpy), which needs no TensorFlow. Batch `step` of the whole run is a pure
function of (seed, step), so the order in which workers make batches does not change the run.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.augment import Augmentation, apply, apply_tf, draw


class EpochBatches:
    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        seed: int,
        augmentation: Augmentation | None = None,
    ):
        """images: float32 [N, 28, 28] in 0..1; labels: float32 one-hot [N, 10]."""
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.augmentation = batch_size, seed, augmentation
        self.steps_per_epoch = math.ceil(len(images) / batch_size)
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, its permutation): one epoch's order is reused

    def order(self, epoch: int) -> np.ndarray:
        cached = self._order
        if cached is None or cached[0] != epoch:
            cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(len(self.images)))
            self._order = cached
        return cached[1]

    def unwarped(self, step: int):
        """Batch number `step` counted from the start of the run (epochs follow one another), as
        (images, labels, warps): the warps (augment.Warps) drawn but not yet applied, or None."""
        epoch, index = divmod(int(step), self.steps_per_epoch)
        picked = self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        ranges = self.augmentation
        warps = (
            draw(np.random.default_rng([self.seed, epoch, index]), len(picked), ranges)
            if ranges is not None
            else None
        )
        return self.images[picked], self.labels[picked], warps

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch number `step`, augmented in numpy when the recipe asks."""
        images, labels, warps = self.unwarped(step)
        if warps is not None:
            images = apply(images, *warps)
        return images, labels


def tf_dataset(tf, batches: EpochBatches, first_step: int = 0):
    """An endless tf.data stream of `batches` from batch `first_step` on, made in parallel, in order."""
    size = batches.images.shape[1:]
    classes = batches.labels.shape[1]
    augmented = batches.augmentation is not None

    def unwarped(step):
        images, labels, warps = batches.unwarped(step)
        return (images, labels, *warps) if augmented else (images, labels)

    def make(step):
        types = (tf.float32, tf.float32) + ((tf.float32, tf.int32, tf.bool) if augmented else ())
        parts = tf.numpy_function(unwarped, [step], types, stateful=False)
        images = parts[0]
        if augmented:
            images = apply_tf(
                tf,
                tf.ensure_shape(images, [None, *size]),
                tf.ensure_shape(parts[2], [None, 8]),
                tf.ensure_shape(parts[3], [None]),
                tf.ensure_shape(parts[4], [None]),
                batches.augmentation.thickest_pen,
            )
        return tf.ensure_shape(images, [None, *size]), tf.ensure_shape(parts[1], [None, classes])

    return (
        tf.data.Dataset.range(first_step, 2**62)
        .map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def keras_dataset(keras, batches: EpochBatches, epochs: int):
    """The same batches as a `keras.utils.PyDataset` (any backend, no TensorFlow): one long epoch
    per training epoch, made by two worker threads."""

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=2, use_multiprocessing=False, max_queue_size=8)
            self.epoch = 0

        def __len__(self):
            return batches.steps_per_epoch

        def __getitem__(self, index):
            return batches.batch(self.epoch * batches.steps_per_epoch + index)

        def on_epoch_end(self):
            self.epoch += 1

    return Batches()
