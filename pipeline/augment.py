"""Training-time augmentation for digits drawn with a mouse or a finger, in numpy.

Each image gets a random affine warp (rotation, scaling, shear, shift) and, one time in three each,
a thicker or thinner stroke. The random draws are numpy's, keyed on (seed, epoch, batch) by the
caller, so a run is repeatable whatever order batches are made in. The pixels are moved by numpy
(any Keras backend, no TensorFlow) or, under TensorFlow, by its C++ image ops inside tf.data;
a test holds the two to the same output. Nothing here is part of the exported model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.errors import PipelineError


@dataclass(frozen=True)
class Augmentation:
    """The ranges each image's random warp is drawn from (uniformly)."""

    max_rotation_degrees: float = 12.0
    scale_range: tuple[float, float] = (0.85, 1.1)
    max_shear: float = 0.15
    max_shift_pixels: float = 2.5
    stroke_change: float = 2 / 3  # share of warped images drawn thicker or thinner (half each)
    share: float = 1.0  # share of images augmented; the others are used as they are

    def __post_init__(self):
        low, high = self.scale_range
        if not 0 < low <= high:
            raise PipelineError(f"Augmentation scale range {self.scale_range} must be 0 < low <= high.")
        for name in ("max_rotation_degrees", "max_shear", "max_shift_pixels"):
            if getattr(self, name) < 0:
                raise PipelineError(f"Augmentation {name} must not be negative.")
        for name in ("stroke_change", "share"):
            if not 0 <= getattr(self, name) <= 1:
                raise PipelineError(f"Augmentation {name} must be between 0 and 1.")

    def as_dict(self) -> dict:
        return {**asdict(self), "scale_range": list(self.scale_range)}


KEEP, THICKER, THINNER = 0, 1, 2  # what happens to each image's stroke


def draw(rng: np.random.Generator, count: int, ranges: Augmentation, size: int = 28):
    """Random warps for `count` images: projective transforms (8 numbers each, TensorFlow's
    convention: output pixel -> input pixel) and a stroke change (KEEP, THICKER or THINNER)."""
    angle = rng.uniform(-ranges.max_rotation_degrees, ranges.max_rotation_degrees, count) * (math.pi / 180)
    scale = rng.uniform(*ranges.scale_range, count)
    shear = rng.uniform(-ranges.max_shear, ranges.max_shear, count)
    shift_x, shift_y = rng.uniform(-ranges.max_shift_pixels, ranges.max_shift_pixels, (2, count))
    # inverse map: input = A^-1 (output - centre - shift) + centre, A = scale * rotation * shear
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    a0, a1 = cos, sin + cos * shear
    b0, b1 = -sin, cos - sin * shear
    centre = (size - 1) / 2.0
    ox, oy = centre + shift_x, centre + shift_y
    a2 = centre - a0 * ox - a1 * oy
    b2 = centre - b0 * ox - b1 * oy
    zeros = np.zeros(count)
    transforms = np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1).astype(np.float32)
    choice = rng.uniform(size=count)
    strokes = np.where(
        choice < ranges.stroke_change / 2, THICKER, np.where(choice < ranges.stroke_change, THINNER, KEEP)
    ).astype(np.int32)
    if ranges.share < 1:  # the rest keep their pixels: the identity map, the stroke as it is
        kept = rng.uniform(size=count) >= ranges.share
        transforms[kept] = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32)
        strokes[kept] = KEEP
    return transforms, strokes


def warp(images: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Bilinear sampling with black outside the image, as TensorFlow's ImageProjectiveTransformV3
    does it: a one-pixel black border catches every coordinate that falls off the edge."""
    count, size = images.shape[0], images.shape[1]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    t = transforms[:, :, None, None]
    source_x = t[:, 0] * xs + t[:, 1] * ys + t[:, 2]
    source_y = t[:, 3] * xs + t[:, 4] * ys + t[:, 5]
    padded = np.zeros((count, size + 2, size + 2), np.float32)
    padded[:, 1:-1, 1:-1] = images
    width = size + 2
    x = np.clip(source_x + 1, 0, size + 1, dtype=np.float32)
    y = np.clip(source_y + 1, 0, size + 1, dtype=np.float32)
    x0, y0 = np.minimum(np.floor(x), size), np.minimum(np.floor(y), size)
    wx, wy = x - x0, y - y0
    base = (
        (np.arange(count, dtype=np.int32) * width * width)[:, None, None]
        + y0.astype(np.int32) * width
        + x0.astype(np.int32)
    )
    flat = padded.reshape(-1)
    top = flat[base] * (1 - wx) + flat[base + 1] * wx
    bottom = flat[base + width] * (1 - wx) + flat[base + width + 1] * wx
    return top * (1 - wy) + bottom * wy


def thicker(images: np.ndarray) -> np.ndarray:
    """2x2 max filter (each pixel and its right, lower and lower-right neighbours), as
    TensorFlow's max_pool2d(ksize=2, strides=1, padding="SAME")."""
    out = images.copy()
    out[:, :, :-1] = np.maximum(out[:, :, :-1], images[:, :, 1:])
    shifted = out.copy()
    out[:, :-1, :] = np.maximum(out[:, :-1, :], shifted[:, 1:, :])
    return out


def thinner(images: np.ndarray) -> np.ndarray:
    """2x2 min filter, the mirror of `thicker` (pixels off the edge are ignored)."""
    return -thicker(-images)


def apply(images: np.ndarray, transforms: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """The drawn warps applied in numpy (any backend): float32 [B, 28, 28] in 0..1."""
    warped = warp(images.astype(np.float32, copy=False), transforms)
    for kind, change in ((THICKER, thicker), (THINNER, thinner)):
        chosen = strokes == kind
        if chosen.any():
            warped[chosen] = change(warped[chosen])
    return np.clip(warped, 0.0, 1.0, out=warped)


def apply_tf(tf, images, transforms, strokes):
    """The same warps with TensorFlow's image ops: C++, in tf.data's threads, far faster than numpy."""
    size = images.shape[1]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images[..., None],
        transforms=transforms,
        output_shape=tf.constant([size, size]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    made_thicker = tf.nn.max_pool2d(warped, ksize=2, strides=1, padding="SAME")
    made_thinner = -tf.nn.max_pool2d(-warped, ksize=2, strides=1, padding="SAME")
    kind = strokes[:, None, None, None]
    stroked = tf.where(kind == THICKER, made_thicker, tf.where(kind == THINNER, made_thinner, warped))
    return tf.clip_by_value(stroked[..., 0], 0.0, 1.0)


def augment(images: np.ndarray, rng: np.random.Generator, ranges: Augmentation = Augmentation()) -> np.ndarray:
    """images: float32 [B, 28, 28] in 0..1 -> a randomly warped, restroked copy in 0..1."""
    return apply(images, *draw(rng, len(images), ranges, images.shape[1]))
