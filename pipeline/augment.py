"""Training-time augmentation for digits as people give them, in numpy.

Each image gets a random affine warp (rotation, scaling, shear, shift) and, one time in three each,
a thicker or thinner stroke. A recipe may also ask for a thick pen (a max filter over a disc, a real
pen's round tip, the digit shrunk by the same pixels so its box stays near MNIST's size, as the
reading recipe would fit it: within 3 px up to a 10 px pen) and for low resolution (each 4x4 block
averaged, 16 grey levels, bilinear back up: a small scan or scikit-learn's 8x8 `digits` blown up).
The random draws are numpy's, keyed on (seed, epoch, batch) by the caller, so a run is repeatable
whatever order batches are made in. The pixels are moved by numpy (any Keras backend, no TensorFlow)
or, under TensorFlow, by its C++ image ops inside tf.data; a test holds the two to the same output.
Nothing here is part of the exported model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from pipeline.errors import PipelineError
from pipeline.preprocess import BOX  # MNIST's digits are fitted into BOX x BOX of the 28x28 field

# Each image's pen: the width of the max filter its strokes get (KEEP: 1, the stroke as it is), or THINNER
# (a 2x2 min filter). Thick pens go up to a recipe's thickest_pen: THICKEST_PEN by default, strokes about
# 6.7 px wide in the 20 px box (measured on MNIST digits); the served recipe's 10 reaches the pad's 22 px
# pen on a digit drawn 40-50 px tall (pipeline/bench/cnn_ablation.md).
KEEP, THICKER, THINNER = 1, 2, -2
THICKEST_PEN = 6
WIDEST_PEN = 12  # px: at 12 the digit is shrunk to 0.65 of its size to make room for the pen


@dataclass(frozen=True)
class Augmentation:
    """The ranges each image's random warp is drawn from (uniformly)."""

    max_rotation_degrees: float = 12.0
    scale_range: tuple[float, float] = (0.85, 1.1)
    max_shear: float = 0.15
    max_shift_pixels: float = 2.5
    stroke_change: float = 2 / 3  # share of warped images drawn thicker or thinner (half each)
    thick_pen: float = 0.0  # a share: of warped images drawn with a thick pen instead (3..thickest_pen px)
    thickest_pen: int = THICKEST_PEN  # a width: px across, in the 28x28 field
    low_resolution: float = 0.0  # share of warped images seen at a quarter of their resolution
    share: float = 1.0  # share of images augmented; the others are used as they are

    def __post_init__(self):
        low, high = self.scale_range
        if not 0 < low <= high:
            raise PipelineError(f"Augmentation scale range {self.scale_range} must be 0 < low <= high.")
        for name in ("max_rotation_degrees", "max_shear", "max_shift_pixels"):
            if getattr(self, name) < 0:
                raise PipelineError(f"Augmentation {name} must not be negative.")
        if not THICKER < self.thickest_pen <= WIDEST_PEN:
            raise PipelineError(f"Augmentation thickest_pen must be {THICKER + 1} to {WIDEST_PEN} px.")
        for name in ("stroke_change", "thick_pen", "low_resolution", "share"):
            if not 0 <= getattr(self, name) <= 1:
                raise PipelineError(f"Augmentation {name} must be between 0 and 1.")

    def as_dict(self) -> dict:
        return {**asdict(self), "scale_range": list(self.scale_range)}


LOW_RESOLUTION_BLOCK = 4  # 28x28 -> 7x7, about scikit-learn's 8x8 digits
GREY_LEVELS = 16


class Warps(NamedTuple):
    """One batch's random draws: transforms float32 [B, 8] (TensorFlow's projective convention:
    output pixel -> input pixel), pens int32 [B] (see KEEP), low_resolution bool [B]."""

    transforms: np.ndarray
    pens: np.ndarray
    low_resolution: np.ndarray


def draw(rng: np.random.Generator, count: int, ranges: Augmentation, size: int = 28) -> Warps:
    """Random warps for `count` images. The draws of the first recipes come first, in
    their order, so a recipe without thick pens or low resolution gives the batches it always gave."""
    angle = rng.uniform(-ranges.max_rotation_degrees, ranges.max_rotation_degrees, count) * (math.pi / 180)
    scale = rng.uniform(*ranges.scale_range, count)
    shear = rng.uniform(-ranges.max_shear, ranges.max_shear, count)
    shift_x, shift_y = rng.uniform(-ranges.max_shift_pixels, ranges.max_shift_pixels, (2, count))
    choice = rng.uniform(size=count)
    pens = np.where(
        choice < ranges.stroke_change / 2, THICKER, np.where(choice < ranges.stroke_change, THINNER, KEEP)
    ).astype(np.int32)
    kept = rng.uniform(size=count) >= ranges.share if ranges.share < 1 else np.zeros(count, bool)
    thick = rng.uniform(size=count) < ranges.thick_pen
    pens = np.where(thick, rng.integers(THICKER + 1, ranges.thickest_pen + 1, count), pens).astype(np.int32)
    # the pen widens the box by pen - 1 pixels; shrinking by BOX / (BOX + pen - 1) makes up for most of it
    # (measured, round pens: a median box of 20 px up to 5 px, 21-22 up to 9, 23 for 10, where the reading
    # recipe fits every digit into 20; (BOX - pen + 1) / BOX keeps 20 but read MNIST worse: cnn_ablation.md)
    scale = np.where(thick, scale * BOX / (BOX + pens - 1), scale)
    low_resolution = rng.uniform(size=count) < ranges.low_resolution
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
    # the rest keep their pixels: the identity map, the stroke as it is, full resolution
    transforms[kept] = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32)
    pens[kept] = KEEP
    low_resolution[kept] = False
    return Warps(transforms, pens, low_resolution)


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


def disc(side: int) -> np.ndarray:
    """side x side bool: the pixels whose centres lie within the disc inscribed in the square (all of
    them for sides 2 and 3)."""
    centre = (side - 1) / 2
    ys, xs = np.mgrid[0:side, 0:side]
    return (ys - centre) ** 2 + (xs - centre) ** 2 <= (side / 2) ** 2


def max_filter(images: np.ndarray, side: int) -> np.ndarray:
    """[B, H, W] -> the maximum over each pixel's `disc(side)`, placed as TensorFlow's max_pool2d and
    dilation2d (strides 1, padding "SAME") place it: (side - 1) // 2 pixels before each pixel, the rest
    after; pixels off the edge are ignored."""
    before = (side - 1) // 2
    after = side - 1 - before
    padded = np.pad(images, ((0, 0), (before, after), (before, after)), constant_values=-np.inf)
    height, width = images.shape[1:]
    out = np.full_like(images, -np.inf)
    for dy, dx in zip(*np.nonzero(disc(side))):
        np.maximum(out, padded[:, dy : dy + height, dx : dx + width], out=out)
    return out


def low_resolution(images: np.ndarray) -> np.ndarray:
    """[B, H, W] in 0..1 (H, W multiples of LOW_RESOLUTION_BLOCK) -> each block averaged, rounded to
    GREY_LEVELS levels, and bilinear back to H x W (tf.image.resize's bilinear: image_input's twin)."""
    from pipeline.image_input import resize_bilinear

    count, height, width = images.shape
    block = LOW_RESOLUTION_BLOCK
    small = images.reshape(count, height // block, block, width // block, block).mean(axis=(2, 4))
    levels = quantise(small)
    return resize_bilinear(levels.transpose(1, 2, 0), height, width).transpose(2, 0, 1)


def quantise(values):
    """0..1 -> the nearest of GREY_LEVELS levels. The 1/1024 moves the ties between two levels off the
    means of whole blocks of 8-bit pixels (k/255, and 0 or 1), where numpy's and TensorFlow's sums,
    rounded differently, would fall either way; a warped image's arbitrary means can still tie."""
    top = GREY_LEVELS - 1
    return ((values * top + (0.5 + 1 / 1024)) // 1) / top


def apply(images: np.ndarray, transforms: np.ndarray, pens: np.ndarray, low: np.ndarray) -> np.ndarray:
    """The drawn warps applied in numpy (any backend): float32 [B, 28, 28] in 0..1."""
    warped = warp(images.astype(np.float32, copy=False), transforms)
    for pen in np.unique(pens):
        chosen = pens == pen
        if pen == THINNER:
            warped[chosen] = -max_filter(-warped[chosen], 2)
        elif pen != KEEP:
            warped[chosen] = max_filter(warped[chosen], int(pen))
    np.clip(warped, 0.0, 1.0, out=warped)
    if low.any():
        warped[low] = low_resolution(warped[low])
    return warped.astype(np.float32, copy=False)


def apply_tf(tf, images, transforms, pens, low, thickest_pen: int):
    """The same warps with TensorFlow's image ops: C++, in tf.data's threads, far faster than numpy.
    `thickest_pen`: the recipe's, the widest pen among `pens` (a wider one would be left as it is)."""
    size = images.shape[1]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images[..., None],
        transforms=transforms,
        output_shape=tf.constant([size, size]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    pen = pens[:, None, None, None]
    stroked = tf.where(pen == THINNER, -tf.nn.max_pool2d(-warped, ksize=2, strides=1, padding="SAME"), warped)
    stroked = tf.where(pen == THICKER, tf.nn.max_pool2d(warped, ksize=THICKER, strides=1, padding="SAME"), stroked)
    for side in range(THICKER + 1, thickest_pen + 1):
        # grey dilation by a disc, of the few images with this pen only: over the whole batch, eight
        # widths of it made the served recipe's epochs 1.3x slower on 2 cores
        chosen = tf.where(pens == side)  # [k, 1] indices into the batch
        footprint = np.where(disc(side), 0.0, -1e9).astype(np.float32)[:, :, None]
        ones = [1, 1, 1, 1]
        dilated = tf.nn.dilation2d(tf.gather_nd(warped, chosen), footprint, ones, "SAME", "NHWC", ones)
        stroked = tf.tensor_scatter_nd_update(stroked, chosen, dilated)
    stroked = tf.clip_by_value(stroked, 0.0, 1.0)
    block = LOW_RESOLUTION_BLOCK
    small = tf.nn.avg_pool2d(stroked, ksize=block, strides=block, padding="VALID")
    coarse = tf.image.resize(quantise(small), [size, size], method="bilinear")
    return tf.where(low[:, None, None, None], coarse, stroked)[..., 0]


def augment(images: np.ndarray, rng: np.random.Generator, ranges: Augmentation = Augmentation()) -> np.ndarray:
    """images: float32 [B, 28, 28] in 0..1 -> a randomly warped, restroked copy in 0..1."""
    return apply(images, *draw(rng, len(images), ranges, images.shape[1]))
