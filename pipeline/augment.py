"""Training-time augmentation for digits drawn with a mouse or a finger, as a tf.data batch map.

Each image gets a random affine warp (rotation, scaling, shear, shift) and, one time in three each,
a thicker or thinner stroke. Randomness is stateless, keyed on (seed, batch number), so a run is
repeatable. Nothing here is part of the exported model.
"""

from __future__ import annotations

import math

from pipeline.tf_setup import import_tensorflow

MAX_ROTATION_DEGREES = 12.0
SCALE_RANGE = (0.85, 1.1)
MAX_SHEAR = 0.15
MAX_SHIFT_PIXELS = 2.5


def affine_transforms(tf, seed, batch: int, size: int):
    """Projective transforms (8 numbers each) mapping output pixels to input pixels."""
    uniform = lambda lo, hi, salt: tf.random.stateless_uniform(  # noqa: E731
        [batch], seed=tf.stack([seed[0], seed[1] * 8 + salt]), minval=lo, maxval=hi)
    angle = uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES, 1) * (math.pi / 180)
    scale = uniform(*SCALE_RANGE, 2)
    shear = uniform(-MAX_SHEAR, MAX_SHEAR, 3)
    shift_x = uniform(-MAX_SHIFT_PIXELS, MAX_SHIFT_PIXELS, 4)
    shift_y = uniform(-MAX_SHIFT_PIXELS, MAX_SHIFT_PIXELS, 5)
    # inverse map: input = A^-1 (output - centre - shift) + centre, A = scale * rotation * shear
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1 = cos, sin + cos * shear
    b0, b1 = -sin, cos - sin * shear
    centre = (size - 1) / 2.0
    ox, oy = centre + shift_x, centre + shift_y
    a2 = centre - a0 * ox - a1 * oy
    b2 = centre - b0 * ox - b1 * oy
    zeros = tf.zeros([batch])
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def augment_batch(images, labels, seed):
    """images: float32 [B, 28, 28] in 0..1; seed: int64 [2] (run seed, batch number)."""
    tf = import_tensorflow()
    batch, size = tf.shape(images)[0], images.shape[1]
    stacked = images[..., None]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=stacked, transforms=affine_transforms(tf, seed, batch, size),
        output_shape=tf.constant([size, size]), fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")
    thicker = tf.nn.max_pool2d(warped, ksize=2, strides=1, padding="SAME")
    thinner = -tf.nn.max_pool2d(-warped, ksize=2, strides=1, padding="SAME")
    choice = tf.random.stateless_uniform([batch, 1, 1, 1], seed=tf.stack([seed[0], seed[1] * 8 + 6]))
    stroked = tf.where(choice < 1 / 3, thicker, tf.where(choice < 2 / 3, thinner, warped))
    return tf.clip_by_value(stroked[..., 0], 0.0, 1.0), labels
